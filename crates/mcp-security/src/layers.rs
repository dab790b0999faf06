//! The security layers of the pipeline, and the seed's `check_access` tool.

use std::sync::Arc;

use mcp_core::pipeline::{CallError, CallFuture, Next, Stage, ToolCall};
use mcp_core::protocol::{CallToolResult, Content, Tool};
use mcp_core::{ToolContext, ToolError};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::{PinMode, Pins, Policy, RateLimits, Redactor, Refusal, Subject};

/// Decides every call by the [`Policy`] (and refuses tools whose pinned definition changed).
#[derive(Clone, Debug)]
pub struct AuthorizeLayer {
    policy: Arc<Policy>,
    pins: Option<Arc<Pins>>,
}

impl AuthorizeLayer {
    /// Authorization by `policy`, with pin checks when `pins` is given.
    pub fn new(policy: Arc<Policy>, pins: Option<Arc<Pins>>) -> Self {
        Self { policy, pins }
    }
}

mcp_core::stage_layer!(AuthorizeLayer);

impl Stage for AuthorizeLayer {
    fn call<S: Next>(&self, inner: &mut S, call: ToolCall) -> CallFuture {
        if let Some(pins) = &self.pins
            && pins.is_flagged(&call.server, &call.tool)
        {
            match pins.mode() {
                PinMode::Refuse => {
                    let reason = format!(
                        "the definition of `{}` changed since it was pinned in {}; an operator must approve it (`mcptk pin update`)",
                        call.exposed,
                        pins.location()
                    );
                    return Box::pin(async move { Err(CallError::Denied { rule: "tool-pinning".into(), reason }) });
                }
                PinMode::Warn => {
                    tracing::warn!(tool = %call.exposed, "calling a tool whose definition changed since it was pinned");
                }
            }
        }
        let subject = Subject {
            principal: &call.principal,
            server: &call.server,
            tool: &call.tool,
            exposed: &call.exposed,
            definition: &call.definition,
            arguments: Some(&call.arguments),
        };
        match self.policy.allows(&subject) {
            Ok(rule) => {
                tracing::debug!(rule, tool = %call.exposed, "allowed");
                // The call's span (the pipeline's `mcp.tool_call`) carries the decision too.
                let span = tracing::Span::current();
                span.record("mcptk.policy.decision", "allow");
                span.record("mcptk.policy.rule", rule);
            }
            Err(refusal) => {
                let denied = CallError::Denied { rule: refusal.rule, reason: refusal.reason };
                return Box::pin(std::future::ready(Err(denied)));
            }
        }
        Box::pin(inner.call(call))
    }
}

/// Refuses calls over a [`RateLimits`] limit with a message naming the limit and the wait.
#[derive(Clone, Debug)]
pub struct RateLimitLayer {
    limits: RateLimits,
}

impl RateLimitLayer {
    /// Limits calls by `limits`.
    pub fn new(limits: RateLimits) -> Self {
        Self { limits }
    }
}

mcp_core::stage_layer!(RateLimitLayer);

impl Stage for RateLimitLayer {
    fn call<S: Next>(&self, inner: &mut S, call: ToolCall) -> CallFuture {
        // In-process limits decide before the call goes on, with no future of their own.
        if !self.limits.is_shared() {
            if let Err(message) = self.limits.check(&call.principal, &call.exposed) {
                return Box::pin(std::future::ready(Err(CallError::RateLimited(message))));
            }
            return Box::pin(inner.call(call));
        }
        if !self.limits.applies(&call.principal, &call.exposed) {
            return Box::pin(inner.call(call));
        }
        // The shared store answers asynchronously: the service made ready goes with the call.
        let ready = std::mem::replace(inner, inner.clone());
        let limits = self.limits.clone();
        Box::pin(async move {
            let mut ready = ready;
            match limits.check_shared(&call.principal, &call.exposed).await {
                Ok(()) => ready.call(call).await,
                Err(Refusal::Exceeded(message)) => Err(CallError::RateLimited(message)),
                Err(Refusal::StoreUnreachable(message)) => Err(CallError::Unavailable(message)),
            }
        })
    }
}

/// Masks secrets in results and error messages on their way back to the caller.
#[derive(Clone)]
pub struct RedactLayer {
    redactor: Arc<Redactor>,
    /// The redactor as a call's context takes it, made once rather than per call; set when
    /// results are masked.
    mask: Option<mcp_core::tool::MaskFn>,
}

impl std::fmt::Debug for RedactLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedactLayer").field("redactor", &self.redactor).field("results", &self.mask.is_some()).finish()
    }
}

impl RedactLayer {
    /// Masks errors always, and results (with what a call says while it runs: its progress and
    /// log messages) when `results` is true.
    pub fn new(redactor: Arc<Redactor>, results: bool) -> Self {
        let masking = redactor.clone();
        let mask: Option<mcp_core::tool::MaskFn> =
            results.then(|| Arc::new(move |value: &mut serde_json::Value| masking.json(value)) as _);
        Self { redactor, mask }
    }

    /// How what servers say besides results (log messages that belong to no call) is to be
    /// masked: as results are, so not at all when results are not.
    pub fn mask(&self) -> Option<mcp_core::tool::MaskFn> {
        self.mask.clone()
    }
}

mcp_core::stage_layer!(RedactLayer);

impl Stage for RedactLayer {
    fn call<S: Next>(&self, inner: &mut S, mut call: ToolCall) -> CallFuture {
        if let Some(mask) = &self.mask {
            // What the call says while it runs (progress, log messages) is masked as its result is.
            call.context = call.context.with_mask(mask.clone());
        }
        let future = inner.call(call);
        let (redactor, results) = (self.redactor.clone(), self.mask.is_some());
        Box::pin(async move {
            match future.await {
                Ok(mut result) => {
                    if results || result.is_error() {
                        mask_result(&redactor, &mut result);
                    }
                    Ok(result)
                }
                Err(CallError::Upstream(message)) => Err(CallError::Upstream(redactor.text(&message).into_owned())),
                Err(CallError::Unavailable(message)) => {
                    Err(CallError::Unavailable(redactor.text(&message).into_owned()))
                }
                // What a tool asks the client (elicitation text, sampling prompts) is its output too.
                Err(CallError::InputRequired(mut input)) => {
                    for request in input.input_requests.iter_mut().flat_map(|r| r.values_mut()) {
                        if let Some(params) = request.params.take() {
                            let mut value = serde_json::Value::Object(params);
                            redactor.json(&mut value);
                            request.params = value.as_object().cloned();
                        }
                    }
                    Err(CallError::InputRequired(input))
                }
                Err(other) => Err(other),
            }
        })
    }
}

fn mask_result(redactor: &Redactor, result: &mut CallToolResult) {
    for block in &mut result.content {
        match block {
            Content::Text(t) => {
                if let std::borrow::Cow::Owned(masked) = redactor.text(&t.text) {
                    t.text = masked;
                }
            }
            Content::Resource(r) => {
                if let Some(text) = r.resource.text.as_mut()
                    && let std::borrow::Cow::Owned(masked) = redactor.text(text)
                {
                    *text = masked;
                }
            }
            _ => {}
        }
    }
    if let Some(structured) = result.structured_content.as_mut() {
        redactor.json(structured);
    }
}

/// Finds a tool by the name a caller sees: its server and upstream definition.
pub type Resolver = Arc<dyn Fn(&str) -> Option<(String, Tool)> + Send + Sync>;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CheckAccessArgs {
    /// The tool to ask about, by the name you see it under.
    resource: String,
    /// `call` (may I call it?) or `list` (would it be listed to me?).
    action: String,
    /// For `call`: the arguments you would call it with, checked against the rules that
    /// constrain arguments. Without them, such a rule is judged as for a call that gives none.
    #[serde(default)]
    arguments: Option<mcp_core::protocol::JsonObject>,
}

/// The seed's `check_access(resource, action)`: asks the policy, without calling anything.
pub fn check_access_tool(policy: Arc<Policy>, resolve: Resolver) -> impl mcp_core::Tool {
    mcp_core::tool(
        "check_access",
        "Asks the gateway's access policy whether you may `call` (or would be `list`ed) a tool, by the name you see it under. Answers with the decision and the rule that made it; calls nothing.",
        move |a: CheckAccessArgs, cx: ToolContext| {
            let (policy, resolve) = (policy.clone(), resolve.clone());
            async move {
                let principal = cx.principal().unwrap_or("anonymous").to_owned();
                let Some((server, definition)) = resolve(&a.resource) else {
                    return Err(ToolError::msg(format!("no tool named `{}`", a.resource)));
                };
                let decision = match a.action.as_str() {
                    "call" => policy.decide(&Subject {
                        principal: &principal,
                        server: &server,
                        tool: &definition.name,
                        exposed: &a.resource,
                        definition: &definition,
                        arguments: a.arguments.as_ref(),
                    }),
                    "list" if a.arguments.is_some() => {
                        return Err(ToolError::msg(
                            "`arguments` go with `action: call`: a listing does not depend on them",
                        ));
                    }
                    "list" => {
                        let allowed = policy.visible(&principal, &server, &a.resource, &definition);
                        crate::Decision {
                            allowed,
                            rule: "listing".into(),
                            reason: format!(
                                "`{}` is {} to `{principal}`",
                                a.resource,
                                if allowed { "listed" } else { "hidden" }
                            ),
                        }
                    }
                    other => return Err(ToolError::msg(format!("`action` must be `call` or `list`, not `{other}`"))),
                };
                Ok(mcp_core::Json(decision))
            }
        },
    )
}
