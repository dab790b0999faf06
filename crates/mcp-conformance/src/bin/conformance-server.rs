//! The fixture server of the official MCP conformance suite (`@modelcontextprotocol/conformance`):
//! the tools, resources and prompts its server scenarios expect, served over Streamable HTTP with
//! nothing but mcp-core's public API.
//!
//! Usage: `conformance-server [ADDR]` (default `127.0.0.1:3001`); the endpoint is `/mcp`.

use std::time::Duration;

use async_trait::async_trait;
use mcp_core::protocol::{
    CallToolResult, Content, GetPromptResult, Implementation, InputRequest, JsonObject, LoggingLevel, Prompt,
    PromptArgument, PromptMessage, Resource, ResourceContents, ResourceTemplate, Role,
};
use mcp_core::registry::{PromptProvider, ResourceProvider, TextResource, prompt};
use mcp_core::{Registry, Server, ToolContext, ToolError, tool};
use serde_json::{Value, json};

/// A 1x1 red PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
/// A tiny WAV header (silence).
const WAV: &str = "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA=";

fn object(value: Value) -> JsonObject {
    value.as_object().cloned().unwrap_or_default()
}

fn no_arguments() -> JsonObject {
    object(json!({"type": "object", "properties": {}}))
}

fn text_resource(uri: &str, text: &str) -> ResourceContents {
    ResourceContents::text(uri, Some("text/plain".into()), text)
}

fn registry() -> Registry {
    let mut r = Registry::new();
    let simple = |name: &str, description: &str, result: CallToolResult| {
        tool(name, description, move |_: JsonObject, _cx: ToolContext| {
            let result = result.clone();
            async move { Ok::<_, ToolError>(result) }
        })
        .input_schema(no_arguments())
    };
    r.tool(simple(
        "test_simple_text",
        "Returns simple text",
        CallToolResult::text("This is a simple text response for testing."),
    ));
    r.tool(simple(
        "test_image_content",
        "Returns an image",
        CallToolResult::new(vec![Content::image(PNG, "image/png")]),
    ));
    r.tool(simple("test_audio_content", "Returns audio", CallToolResult::new(vec![Content::audio(WAV, "audio/wav")])));
    let embedded =
        Content::resource(text_resource("test://embedded-resource", "This is an embedded resource content."));
    r.tool(simple(
        "test_embedded_resource",
        "Returns an embedded resource",
        CallToolResult::new(vec![embedded.clone()]),
    ));
    r.tool(simple(
        "test_multiple_content_types",
        "Returns text, an image and a resource",
        CallToolResult::new(vec![
            Content::text("Multiple content types test:"),
            Content::image(PNG, "image/png"),
            embedded,
        ]),
    ));
    r.tool(simple(
        "test_error_handling",
        "Always fails",
        CallToolResult::error("This tool intentionally returns an error for testing"),
    ));
    r.tool(
        tool(
            "test_tool_with_logging",
            "Logs three messages while it runs",
            |_: JsonObject, cx: ToolContext| async move {
                for (i, message) in
                    ["Tool execution started", "Tool processing data", "Tool execution completed"].iter().enumerate()
                {
                    if i > 0 {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    cx.log(LoggingLevel::Info, Some("conformance"), json!(message)).await;
                }
                Ok::<_, ToolError>(String::from("Tool with logging executed successfully"))
            },
        )
        .input_schema(no_arguments()),
    );
    r.tool(
        tool(
            "test_logging_tool",
            "Logs one message (only to callers that asked for logs)",
            |_: JsonObject, cx: ToolContext| async move {
                cx.log(LoggingLevel::Info, Some("conformance"), json!("a log message from test_logging_tool")).await;
                Ok::<_, ToolError>(String::from("logged"))
            },
        )
        .input_schema(no_arguments()),
    );
    r.tool(
        tool(
            "test_tool_with_progress",
            "Reports progress 0, 50 and 100 of 100",
            |_: JsonObject, cx: ToolContext| async move {
                for (i, step) in [0.0, 50.0, 100.0].into_iter().enumerate() {
                    if i > 0 {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    cx.progress(step, Some(100.0), None).await;
                }
                Ok::<_, ToolError>(String::from("Tool with progress executed successfully"))
            },
        )
        .input_schema(no_arguments()),
    );
    r.tool(
        tool("json_schema_2020_12_tool", "Tool with JSON Schema 2020-12 features", |_: JsonObject, _cx: ToolContext| async move {
            Ok::<_, ToolError>(String::from("ok"))
        })
        .input_schema(object(json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "$defs": {"address": {"$anchor": "addressDef", "type": "object", "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}},
            "properties": {
                "name": {"type": "string"},
                "address": {"$ref": "#/$defs/address"},
                "contactMethod": {"type": "string", "enum": ["phone", "email"]},
                "phone": {"type": "string"},
                "email": {"type": "string"}
            },
            "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
            "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
            "then": {"required": ["phone"]},
            "else": {"required": ["email"]},
            "additionalProperties": false
        }))),
    );

    // Requests to the client (the handshake era; the client must declare the capability).
    const ASK: Duration = Duration::from_secs(30);
    r.tool(
        tool("test_sampling", "Asks the client's model to answer a prompt", |a: JsonObject, cx: ToolContext| async move {
            let prompt = a.get("prompt").and_then(Value::as_str).unwrap_or_default().to_owned();
            let params = object(json!({"messages": [{"role": "user", "content": {"type": "text", "text": prompt}}], "maxTokens": 100}));
            let answer = cx.request_client("sampling/createMessage", params, ASK).await?;
            let text = answer["content"]["text"].as_str().unwrap_or_default().to_owned();
            Ok::<_, ToolError>(format!("LLM response: {text}"))
        })
        .input_schema(object(json!({"type": "object", "properties": {"prompt": {"type": "string"}}, "required": ["prompt"]}))),
    );
    r.tool(
        tool(
            "test_elicitation",
            "Asks the user for a username and email",
            |a: JsonObject, cx: ToolContext| async move {
                let message = a.get("message").and_then(Value::as_str).unwrap_or_default().to_owned();
                let schema = json!({"type": "object", "properties": {
                "username": {"type": "string", "description": "User's response"},
                "email": {"type": "string", "description": "User's email address"}
            }, "required": ["username", "email"]});
                let answer = cx
                    .request_client(
                        "elicitation/create",
                        object(json!({"message": message, "requestedSchema": schema})),
                        ASK,
                    )
                    .await?;
                Ok::<_, ToolError>(format!("User response: action={}, content={}", answer["action"], answer["content"]))
            },
        )
        .input_schema(object(
            json!({"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}),
        )),
    );
    r.tool(
        tool(
            "test_elicitation_sep1034_defaults",
            "Elicits values that all have defaults",
            |_: JsonObject, cx: ToolContext| async move {
                let schema = json!({"type": "object", "properties": {
                    "name": {"type": "string", "default": "John Doe"},
                    "age": {"type": "integer", "default": 30},
                    "score": {"type": "number", "default": 95.5},
                    "status": {"type": "string", "enum": ["active", "inactive", "pending"], "default": "active"},
                    "verified": {"type": "boolean", "default": true}
                }});
                let params = object(json!({"message": "Please review your details", "requestedSchema": schema}));
                let answer = cx.request_client("elicitation/create", params, ASK).await?;
                Ok::<_, ToolError>(format!(
                    "Elicitation completed: action={}, content={}",
                    answer["action"], answer["content"]
                ))
            },
        )
        .input_schema(no_arguments()),
    );
    r.tool(
        tool("test_elicitation_sep1330_enums", "Elicits a choice from every kind of enum", |_: JsonObject, cx: ToolContext| async move {
            let schema = json!({"type": "object", "properties": {
                "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
                "titledSingle": {"type": "string", "oneOf": [
                    {"const": "value1", "title": "First Option"}, {"const": "value2", "title": "Second Option"}, {"const": "value3", "title": "Third Option"}]},
                "legacyEnum": {"type": "string", "enum": ["opt1", "opt2", "opt3"], "enumNames": ["Option One", "Option Two", "Option Three"]},
                "untitledMulti": {"type": "array", "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
                "titledMulti": {"type": "array", "items": {"anyOf": [
                    {"const": "value1", "title": "First Choice"}, {"const": "value2", "title": "Second Choice"}, {"const": "value3", "title": "Third Choice"}]}}
            }});
            let params = object(json!({"message": "Pick some options", "requestedSchema": schema}));
            let answer = cx.request_client("elicitation/create", params, ASK).await?;
            Ok::<_, ToolError>(format!("Elicitation completed: action={}, content={}", answer["action"], answer["content"]))
        })
        .input_schema(no_arguments()),
    );

    // Input-required results (the stateless era): ask, then finish once the answers come back.
    let mrtr = |name: &str,
                requests: fn() -> Vec<(&'static str, &'static str, Value)>,
                finish: fn(&JsonObject) -> String,
                stateful: bool| {
        tool(
            name,
            "Needs input from the client before it can finish",
            move |_: JsonObject, cx: ToolContext| async move {
                if stateful && let Some(token) = cx.request_state() {
                    cx.open_state(token)?;
                }
                let answers = cx.input_responses().cloned().unwrap_or_default();
                // An answer that is not an object is no answer: ask again.
                let missing: Vec<_> = requests()
                    .into_iter()
                    .filter(|(key, _, _)| !answers.get(*key).is_some_and(Value::is_object))
                    .collect();
                if missing.is_empty() {
                    let text = finish(&answers);
                    return Ok::<_, ToolError>(if stateful && cx.request_state().is_some() {
                        format!("{text} (state-ok)")
                    } else {
                        text
                    });
                }
                let asks = missing
                    .into_iter()
                    .map(|(key, method, params)| {
                        (key.to_owned(), InputRequest { method: method.into(), params: params.as_object().cloned() })
                    })
                    .collect();
                let state = stateful.then(|| cx.seal_state("round-1"));
                Err(ToolError::input_required(asks, state))
            },
        )
        .input_schema(no_arguments())
    };
    fn ask_name() -> Vec<(&'static str, &'static str, Value)> {
        vec![(
            "user_name",
            "elicitation/create",
            json!({"message": "What is your name?", "requestedSchema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}}),
        )]
    }
    fn ask_capital() -> Vec<(&'static str, &'static str, Value)> {
        vec![(
            "capital_question",
            "sampling/createMessage",
            json!({"messages": [{"role": "user", "content": {"type": "text", "text": "What is the capital of France?"}}], "maxTokens": 100}),
        )]
    }
    fn ask_roots() -> Vec<(&'static str, &'static str, Value)> {
        vec![("client_roots", "roots/list", json!({}))]
    }
    fn ask_confirm() -> Vec<(&'static str, &'static str, Value)> {
        vec![(
            "confirm",
            "elicitation/create",
            json!({"message": "Please confirm", "requestedSchema": {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}}),
        )]
    }
    fn ask_all() -> Vec<(&'static str, &'static str, Value)> {
        let mut all = ask_name();
        all.push(("greeting", "sampling/createMessage", json!({"messages": [{"role": "user", "content": {"type": "text", "text": "Generate a greeting"}}], "maxTokens": 50})));
        all.extend(ask_roots());
        all
    }
    r.tool(mrtr(
        "test_input_required_result_elicitation",
        ask_name,
        |a| format!("Hello, {}!", a["user_name"]["content"]["name"].as_str().unwrap_or("stranger")),
        false,
    ));
    r.tool(mrtr(
        "test_input_required_result_sampling",
        ask_capital,
        |a| format!("The model said: {}", a["capital_question"]["content"]["text"].as_str().unwrap_or("")),
        false,
    ));
    r.tool(mrtr(
        "test_input_required_result_list_roots",
        ask_roots,
        |a| format!("Roots: {}", a["client_roots"]["roots"]),
        false,
    ));
    r.tool(mrtr("test_input_required_result_request_state", ask_confirm, |_| "Confirmed".into(), true));
    // What a tool that needs the user says mid-call in the stateless era: an input-required result
    // on the request's own stream, never a request of its own.
    r.tool(mrtr(
        "test_streaming_elicitation",
        ask_name,
        |a| format!("Hello, {}!", a["user_name"]["content"]["name"].as_str().unwrap_or("stranger")),
        false,
    ));
    tasks_fixtures(&mut r);
    // An argument mirrored into a header (`x-mcp-header`): the transport checks the two agree.
    r.tool(
        tool("test_custom_header_tool", "Echoes a region that is also sent as Mcp-Param-Region", |a: JsonObject, _cx: ToolContext| async move {
            Ok::<_, ToolError>(format!("region: {}", a.get("region").and_then(Value::as_str).unwrap_or("")))
        })
        .input_schema(
            json!({"type": "object", "properties": {"region": {"type": "string", "x-mcp-header": "Region"}}, "required": ["region"]})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        ),
    );
    r.tool(
        tool(
            "test_trigger_tool_change",
            "Adds or removes a tool, so listeners get notifications/tools/list_changed",
            move |_: JsonObject, _cx: ToolContext| async move {
                let server = SERVER.get().ok_or_else(|| ToolError::msg("the server is not running yet"))?;
                let mut tools = (*server.tools()).clone();
                let added = if tools.get(DYNAMIC_TOOL).is_some() {
                    tools = tools.iter().filter(|t| t.name() != DYNAMIC_TOOL).fold(
                        mcp_core::ToolSet::new(),
                        |mut set, t| {
                            set.add_arc(t.clone());
                            set
                        },
                    );
                    false
                } else {
                    tools.add(simple(DYNAMIC_TOOL, "Appears and disappears", CallToolResult::text("dynamic")));
                    true
                };
                server.replace_tools(tools);
                Ok::<_, ToolError>(if added { "added a tool" } else { "removed a tool" }.to_owned())
            },
        )
        .input_schema(no_arguments()),
    );
    r.tool(mrtr("test_input_required_result_multiple_inputs", ask_all, |a| format!("Got {} answers", a.len()), true));
    r.tool(mrtr("test_input_required_result_tampered_state", ask_confirm, |_| "Confirmed".into(), true));
    r.tool(
        tool("test_input_required_result_multi_round", "Asks twice before it finishes", |_: JsonObject, cx: ToolContext| async move {
            let round = match cx.request_state() {
                Some(token) => cx.open_state(token)?,
                None => "round-0".into(),
            };
            let answers = cx.input_responses().cloned().unwrap_or_default();
            let ask = |key: &str, message: &str, field: &str| -> Result<String, ToolError> {
                let params = json!({"message": message, "requestedSchema": {"type": "object", "properties": {field: {"type": "string"}}, "required": [field]}});
                let request = InputRequest { method: "elicitation/create".into(), params: params.as_object().cloned() };
                Err(ToolError::input_required([(key.to_owned(), request)].into_iter().collect(), Some(cx.seal_state(if key == "step1" { "round-1" } else { "round-2" }))))
            };
            match (round.as_str(), answers.contains_key("step1"), answers.contains_key("step2")) {
                ("round-1", true, _) => ask("step2", "Step 2: What is your favorite color?", "color"),
                ("round-2", _, true) => Ok(format!("Done after two rounds: color {}", answers["step2"]["content"]["color"])),
                _ => ask("step1", "Step 1: What is your name?", "name"),
            }
        })
        .input_schema(no_arguments()),
    );
    r.tool(
        tool(
            "test_missing_capability",
            "Needs the client's sampling capability",
            |_: JsonObject, cx: ToolContext| async move {
                if cx.client_capabilities().is_none_or(|c| c.sampling.is_none()) {
                    return Err(ToolError::missing_capability("sampling"));
                }
                let params = object(
                    json!({"messages": [{"role": "user", "content": {"type": "text", "text": "Hi"}}], "maxTokens": 10}),
                );
                let answer = cx.request_client("sampling/createMessage", params, ASK).await?;
                Ok::<_, ToolError>(format!("sampled: {}", answer["content"]["text"]))
            },
        )
        .input_schema(no_arguments()),
    );
    r.tool(
        tool("test_input_required_result_capabilities", "Asks only for what the client can answer", |_: JsonObject, cx: ToolContext| async move {
            if cx.input_responses().is_some() {
                return Ok::<_, ToolError>(String::from("Thanks"));
            }
            let caps = cx.client_capabilities().cloned().unwrap_or_default();
            let mut asks = std::collections::BTreeMap::new();
            if caps.elicitation.is_some() {
                asks.insert("name".to_owned(), InputRequest { method: "elicitation/create".into(), params: json!({"message": "Name?", "requestedSchema": {"type": "object", "properties": {"name": {"type": "string"}}}}).as_object().cloned() });
            }
            if caps.sampling.is_some() {
                asks.insert("sample".to_owned(), InputRequest { method: "sampling/createMessage".into(), params: json!({"messages": [{"role": "user", "content": {"type": "text", "text": "Hi"}}], "maxTokens": 10}).as_object().cloned() });
            }
            if caps.roots.is_some() {
                asks.insert("roots".to_owned(), InputRequest { method: "roots/list".into(), params: Some(JsonObject::new()) });
            }
            if asks.is_empty() {
                return Ok(String::from("Nothing to ask: the client declared no capabilities"));
            }
            Err(ToolError::input_required(asks, None))
        })
        .input_schema(no_arguments()),
    );

    r.resource(TextResource::new(
        "test://static-text",
        "static-text",
        "text/plain",
        "This is the content of the static text resource.",
    ));
    r.resource(Fixtures);

    let message = |text: String| PromptMessage::new(Role::User, Content::text(text));
    let definition = |name: &str, arguments: Vec<PromptArgument>| {
        Prompt::new(name, arguments).with_description(format!("The {name} prompt"))
    };
    let result = GetPromptResult::new;
    r.prompt(prompt(definition("test_simple_prompt", vec![]), move |_| async move {
        Ok(result(vec![message("This is a simple prompt for testing.".into())]))
    }));
    let argument = |name: &str| PromptArgument::new(name, true).with_description(format!("{name} argument"));
    r.prompt(prompt(
        definition("test_prompt_with_arguments", vec![argument("arg1"), argument("arg2")]),
        move |args| async move {
            let (a, b) = (args.get("arg1").cloned().unwrap_or_default(), args.get("arg2").cloned().unwrap_or_default());
            Ok(result(vec![message(format!("Prompt with arguments: arg1='{a}', arg2='{b}'"))]))
        },
    ));
    r.prompt(prompt(
        definition("test_prompt_with_embedded_resource", vec![argument("resourceUri")]),
        move |args| async move {
            let uri = args.get("resourceUri").cloned().unwrap_or_else(|| "test://example-resource".into());
            let resource = Content::resource(text_resource(&uri, "Embedded resource content for testing."));
            Ok(result(vec![
                PromptMessage::new(Role::User, resource),
                message("Please process the embedded resource above.".into()),
            ]))
        },
    ));
    r.prompt(ContextPrompt(definition("test_input_required_result_prompt", vec![])));
    r.prompt(prompt(definition("test_prompt_with_image", vec![]), move |_| async move {
        Ok(result(vec![
            PromptMessage::new(Role::User, Content::image(PNG, "image/png")),
            message("Please analyze the image above.".into()),
        ]))
    }));
    r
}

/// A prompt that asks the client for context before it renders (input-required, `2026-07-28`).
struct ContextPrompt(Prompt);

#[async_trait]
impl PromptProvider for ContextPrompt {
    fn definition(&self) -> &Prompt {
        &self.0
    }

    async fn get(&self, _arguments: std::collections::BTreeMap<String, String>) -> Result<GetPromptResult, ToolError> {
        Err(ToolError::msg("this prompt needs context from the client, which only the stateless era can ask for"))
    }

    async fn get_with(
        &self,
        _arguments: std::collections::BTreeMap<String, String>,
        cx: &ToolContext,
    ) -> Result<GetPromptResult, ToolError> {
        let answer = cx.input_responses().and_then(|a| a.get("user_context")).filter(|a| a.is_object());
        let Some(answer) = answer else {
            let params = json!({"message": "What context should the prompt use?", "requestedSchema": {"type": "object", "properties": {"context": {"type": "string"}}, "required": ["context"]}});
            let request = InputRequest { method: "elicitation/create".into(), params: params.as_object().cloned() };
            return Err(ToolError::input_required([("user_context".to_owned(), request)].into_iter().collect(), None));
        };
        let context = answer["content"]["context"].as_str().unwrap_or("none").to_owned();
        Ok(GetPromptResult::new(vec![PromptMessage::new(
            Role::User,
            Content::text(format!("Use this context: {context}")),
        )]))
    }
}

/// The binary resource and the template `test://template/{id}/data`.
struct Fixtures;

#[async_trait]
impl ResourceProvider for Fixtures {
    fn resources(&self) -> Vec<Resource> {
        vec![
            Resource::new("test://static-binary", "static-binary")
                .with_description("A tiny PNG")
                .with_mime_type("image/png"),
        ]
    }

    fn templates(&self) -> Vec<ResourceTemplate> {
        vec![
            ResourceTemplate::new("test://template/{id}/data", "template")
                .with_description("Data by id")
                .with_mime_type("application/json"),
        ]
    }

    async fn read(&self, uri: &str) -> Option<Result<Vec<ResourceContents>, ToolError>> {
        if uri == "test://static-binary" {
            return Some(Ok(vec![ResourceContents::blob(uri, Some("image/png".into()), PNG)]));
        }
        let id = uri.strip_prefix("test://template/")?.strip_suffix("/data")?;
        let text = json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")}).to_string();
        Some(Ok(vec![ResourceContents::text(uri, Some("application/json".into()), text)]))
    }
}

/// A tool definition's `execution`, declaring how it runs as a task.
fn task_support(level: &str) -> JsonObject {
    json!({"taskSupport": level}).as_object().cloned().unwrap_or_default()
}

fn schema(value: Value) -> JsonObject {
    value.as_object().cloned().unwrap_or_default()
}

/// An `elicitation/create` request asking one yes/no or text question.
fn ask(message: &str, field: &str, kind: &str) -> InputRequest {
    InputRequest {
        method: "elicitation/create".into(),
        params: json!({"message": message, "requestedSchema": {"type": "object", "properties": {field: {"type": kind}}, "required": [field]}})
            .as_object()
            .cloned(),
    }
}

/// The tools the tasks extension's scenarios call (SEP-2663).
fn tasks_fixtures(r: &mut Registry) {
    let mut greet =
        tool("greet", "Greets someone, at once (never a task)", |a: JsonObject, _cx: ToolContext| async move {
            Ok::<_, ToolError>(format!("Hello, {}!", a.get("name").and_then(Value::as_str).unwrap_or("World")))
        })
        .input_schema(schema(json!({"type": "object", "properties": {"name": {"type": "string"}}})));
    greet = greet.execution(task_support("forbidden"));
    r.tool(greet);
    r.tool(
        tool(
            "slow_compute",
            "Sleeps for `seconds`, then answers; runs as a task",
            |a: JsonObject, cx: ToolContext| async move {
                let seconds = a.get("seconds").and_then(Value::as_f64).unwrap_or(1.0).max(0.0);
                // Always waits at least once, so the call becomes a task.
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs_f64(seconds).max(Duration::from_millis(1))) => {}
                    () = cx.cancelled().cancelled() => return Ok::<_, ToolError>("cancelled".to_owned()),
                }
                Ok(format!("Computed after {seconds} seconds"))
            },
        )
        .input_schema(schema(json!({"type": "object", "properties": {"seconds": {"type": "number"}}})))
        .execution(task_support("optional")),
    );
    r.tool(
        tool(
            "failing_job",
            "Fails as a tool after about a second; task required",
            |_: JsonObject, _cx: ToolContext| async move {
                tokio::time::sleep(Duration::from_millis(800)).await;
                Err::<String, _>(ToolError::msg("the job failed: the input was rejected"))
            },
        )
        .input_schema(no_arguments())
        .execution(task_support("required")),
    );
    r.tool(
        tool("protocol_error_job", "Crashes (panics) inside its task", |_: JsonObject, _cx: ToolContext| async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if std::env::var_os("MCPTK_NEVER_SET_THIS").is_none() {
                panic!("protocol_error_job crashed on purpose");
            }
            Ok::<_, ToolError>(String::new())
        })
        .input_schema(no_arguments())
        .execution(task_support("optional")),
    );
    r.tool(
        tool(
            "confirm_delete",
            "Asks for confirmation, then deletes; runs as a task",
            |_: JsonObject, cx: ToolContext| async move {
                tokio::task::yield_now().await;
                match cx.input_responses().and_then(|a| a.get("confirm")) {
                    None => Err(ToolError::input_required(
                        [("confirm".to_owned(), ask("Delete everything?", "confirmed", "boolean"))].into(),
                        None,
                    )),
                    Some(answer) => {
                        let yes = answer["content"]["confirmed"].as_bool().unwrap_or(false);
                        Ok::<_, ToolError>(if yes { "Deleted".to_owned() } else { "Kept".to_owned() })
                    }
                }
            },
        )
        .input_schema(no_arguments())
        .execution(task_support("optional")),
    );
    r.tool(
        tool(
            "multi_input",
            "Asks two questions at once; runs as a task",
            |_: JsonObject, cx: ToolContext| async move {
                tokio::task::yield_now().await;
                let answers = cx.input_responses().cloned().unwrap_or_default();
                if answers.contains_key("first") && answers.contains_key("second") {
                    return Ok::<_, ToolError>(format!("Got {} answers", answers.len()));
                }
                let asks = [
                    ("first".to_owned(), ask("First question?", "answer", "string")),
                    ("second".to_owned(), ask("Second question?", "answer", "string")),
                ];
                Err(ToolError::input_required(asks.into(), None))
            },
        )
        .input_schema(no_arguments())
        .execution(task_support("optional")),
    );
    r.tool(
        tool(
            "test_tool_with_task",
            "Asks a name at once, then works on it as a task",
            |_: JsonObject, cx: ToolContext| async move {
                let Some(name) = cx
                    .input_responses()
                    .and_then(|a| a.get("user_name"))
                    .map(|a| a["content"]["name"].as_str().unwrap_or("stranger").to_owned())
                else {
                    return Err(ToolError::input_required(
                        [("user_name".to_owned(), ask("What is your name?", "name", "string"))].into(),
                        Some(cx.seal_state("asked")),
                    ));
                };
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok::<_, ToolError>(format!("Hello, {name}! Your task is done."))
            },
        )
        .input_schema(no_arguments())
        .execution(task_support("required")),
    );
}

/// The running server, for the tool that changes the tool list.
static SERVER: std::sync::OnceLock<Server> = std::sync::OnceLock::new();

/// Suggestions for the arguments of `test_prompt_with_arguments`: the known values that start
/// with what was typed.
fn complete(params: &mcp_core::protocol::CompleteParams) -> mcp_core::protocol::Completion {
    const KNOWN: &[&str] = &["test", "testing", "test_value", "other"];
    let values: Vec<String> = match &params.reference {
        mcp_core::protocol::CompletionReference::Prompt { name } if name == "test_prompt_with_arguments" => {
            KNOWN.iter().filter(|v| v.starts_with(params.argument.value.as_str())).map(|v| (*v).to_owned()).collect()
        }
        _ => Vec::new(),
    };
    mcp_core::protocol::Completion::new(values)
}

/// The tool `test_trigger_tool_change` adds and removes.
const DYNAMIC_TOOL: &str = "test_dynamic_tool";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:3001".into()).parse()?;
    let server =
        Server::builder(Implementation::new("mcptk-conformance-server", env!("CARGO_PKG_VERSION")), registry())
            .instructions("The conformance fixture server of mcptk.")
            .completions(std::sync::Arc::new(|params, _| Box::pin(std::future::ready(Ok(complete(&params))))))
            .resource_updates(true)
            .build();
    let _ = SERVER.set(server.clone());
    let options = mcp_core::transport::http::HttpOptions::default();
    mcp_core::transport::http::serve(server, addr, options, None).await?;
    Ok(())
}
