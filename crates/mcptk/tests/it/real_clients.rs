//! Real MCP clients against `mcptk serve` over stdio: the default gateway and each native
//! server, listed and called by the official TypeScript SDK 1.x (what Claude Desktop, Cursor
//! and VS Code embed), the MCP Inspector CLI, the Python `mcp` SDK 2.x (auto, legacy and pinned
//! modern modes) and 1.x, and `openai-agents`. Each client lists every tool (the SDKs check the
//! result against their own schemas, so one bad definition hides the whole server) and calls
//! the planned tools; the test compares what the client saw with what the server lists on the
//! wire and with each call's expected text and structured content.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Scratch, Served, Wire, installed, mcptk, python_mcp1, python_mcp2, root, run_within};

/// How long one client run may take.
const LIMIT: Duration = Duration::from_secs(120);

/// A real client, and how it connects.
#[derive(Clone, Copy, Debug)]
enum RealClient {
    /// `@modelcontextprotocol/sdk` 1.x: `Client` + `StdioClientTransport` (`tests/node/ts_client.mjs`).
    TypeScript,
    /// `@modelcontextprotocol/inspector-cli`, one process per method.
    Inspector,
    /// Python `mcp` 2.x, `Client(mode="auto")`: probes `server/discover`.
    PythonAuto,
    /// Python `mcp` 2.x, `Client(mode="legacy")`: the `initialize` handshake only.
    PythonLegacy,
    /// Python `mcp` 2.x, `Client(mode="2026-07-28")`: modern requests without discovering first.
    PythonModern,
    /// Python `mcp` 1.x `ClientSession`.
    Python1,
    /// `openai-agents`' `MCPServerStdio` (on `mcp` 2.x).
    Agents,
}

impl RealClient {
    /// The revision the client settles on with `mcptk`, where it reports one.
    fn revision(self) -> Option<&'static str> {
        match self {
            RealClient::Inspector => None,
            RealClient::TypeScript | RealClient::PythonLegacy | RealClient::Python1 => Some("2025-11-25"),
            RealClient::PythonAuto | RealClient::PythonModern | RealClient::Agents => Some("2026-07-28"),
        }
    }

    /// Whether the client learns the server's name (a pinned modern client never asks).
    fn reports_server_name(self) -> bool {
        !matches!(self, RealClient::Inspector | RealClient::PythonModern)
    }

    /// Runs the client on `served`'s plan; returns what it reports, in the shape the client
    /// scripts print: `{"protocol_version", "server_name", "tools", "calls", "errors"}`.
    fn run(self, served: &Served, scratch: &Scratch) -> Value {
        let plan = served.plan().to_string();
        let mut command = match self {
            RealClient::Inspector => return inspector(served, scratch),
            RealClient::TypeScript => {
                let mut c = Command::new("node");
                c.arg(installed("tests/node/ts_client.mjs")).arg(&plan);
                installed("tests/node/node_modules/@modelcontextprotocol/sdk/package.json");
                c
            }
            RealClient::Python1 => python(python_mcp1(), "mcp1", &plan),
            RealClient::PythonAuto => python(python_mcp2(), "mcp2-auto", &plan),
            RealClient::PythonLegacy => python(python_mcp2(), "mcp2-legacy", &plan),
            RealClient::PythonModern => python(python_mcp2(), "mcp2-2026-07-28", &plan),
            RealClient::Agents => python(python_mcp2(), "agents", &plan),
        };
        command.args(served.command_line());
        scratch.confine(&mut command);
        let (status, stdout, stderr) = run_within(&mut command, LIMIT);
        let report = serde_json::from_str::<Value>(stdout.trim()).ok().filter(|_| status.is_some_and(|s| s.success()));
        report.unwrap_or_else(|| {
            panic!("{self:?} on {} failed ({status:?}):\nstdout:\n{stdout}\nstderr:\n{stderr}", served.name)
        })
    }
}

fn python(python: PathBuf, client: &str, plan: &str) -> Command {
    let mut command = Command::new(python);
    command.arg(root().join("tests/python/run_plan.py")).args([client, plan]);
    command
}

/// The MCP Inspector CLI: `tools/list`, then one `tools/call` per planned call, each its own
/// process, gathered into the report shape of the client scripts.
fn inspector(served: &Served, scratch: &Scratch) -> Value {
    let bin = installed("tests/node/node_modules/.bin/mcp-inspector-cli");
    // inspector-cli 1.0.3 looks for its own package.json at `../package.json` from the working
    // directory, so it runs from its build folder; the server is started in the scratch
    // directory by `env --chdir`, which the inspector has no option for.
    let workdir = installed("tests/node/node_modules/@modelcontextprotocol/inspector-cli/build");
    let run = |method_args: &[String]| -> Result<Value, String> {
        let mut command = Command::new(&bin);
        command
            .arg("--cli")
            .arg("env")
            .arg(format!("--chdir={}", scratch.path.display()))
            .args(served.env.iter().map(|(k, v)| format!("{k}={v}")))
            .arg(mcptk())
            .args(&served.args)
            .args(method_args);
        scratch.confine(&mut command).current_dir(&workdir);
        let (status, stdout, stderr) = run_within(&mut command, LIMIT);
        match status {
            Some(s) if s.success() => serde_json::from_str(&stdout).map_err(|e| format!("no JSON ({e}): {stdout}")),
            Some(s) => {
                // Past the deprecation notice it prints first.
                let said = stderr.split_once("receives security fixes only.").map_or(stderr.as_str(), |(_, r)| r);
                Err(format!("{s}: {}", said.trim()))
            }
            None => Err(format!("still running after {LIMIT:?}: {}", stderr.trim())),
        }
    };
    let mut report = json!({"protocol_version": null, "server_name": null, "tools": null, "calls": [], "errors": []});
    match run(&["--method".into(), "tools/list".into()]) {
        Ok(listed) => {
            let names: Vec<Value> =
                listed["tools"].as_array().into_iter().flatten().map(|t| t["name"].clone()).collect();
            report["tools"] = Value::Array(names);
        }
        Err(e) => push(&mut report["errors"], json!(format!("tools/list: {e}"))),
    }
    for call in &served.calls {
        let mut method_args = vec!["--method".into(), "tools/call".into(), "--tool-name".into(), call.tool.into()];
        for (key, value) in call.arguments.as_object().into_iter().flatten() {
            method_args.push("--tool-arg".into());
            method_args.push(format!("{key}={}", inspector_value(value)));
        }
        match run(&method_args) {
            Ok(result) => {
                let text: Vec<&str> =
                    result["content"].as_array().into_iter().flatten().filter_map(|c| c["text"].as_str()).collect();
                push(
                    &mut report["calls"],
                    json!({
                        "name": call.tool,
                        "is_error": result["isError"] == true,
                        "text": text.join("\n"),
                        "structured": result.get("structuredContent").cloned().unwrap_or(Value::Null),
                    }),
                );
            }
            Err(e) => push(&mut report["errors"], json!(format!("tools/call {}: {e}", call.tool))),
        }
    }
    report
}

/// A `--tool-arg` value: the inspector parses it as JSON when it can, else keeps the string.
fn inspector_value(value: &Value) -> String {
    match value {
        Value::String(s) => {
            assert!(serde_json::from_str::<Value>(s).is_err(), "the inspector would not pass {s:?} as a string");
            s.clone()
        }
        other => other.to_string(),
    }
}

fn push(list: &mut Value, item: Value) {
    if let Some(items) = list.as_array_mut() {
        items.push(item);
    }
}

/// `error` with the tools it points at by index named: validation errors say `tools.14.outputSchema`
/// (pydantic) or `"path": ["tools", 14, ...]` (zod), and `listed` is in the server's order.
fn name_tools(error: &str, listed: &[&str]) -> String {
    let mut named = Vec::new();
    for (at, _) in error.match_indices("tools") {
        let rest = error[at + "tools".len()..]
            .trim_start_matches(|c: char| c == '.' || c == '"' || c == ',' || c.is_whitespace());
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Some(name) = digits.parse::<usize>().ok().and_then(|i| listed.get(i)) {
            let note = format!("tools[{digits}] is `{name}`");
            if !named.contains(&note) {
                named.push(note);
            }
        }
    }
    if named.is_empty() { error.to_owned() } else { format!("{error}\n  ({})", named.join(", ")) }
}

/// The server's name in its `initialize` / `server/discover` answer.
fn server_name(served: &str) -> &'static str {
    match served {
        "gateway" | "builtin" => "mcptk",
        "fs" => "mcptk-fs",
        "shell" => "mcptk-shell",
        "sql" => "mcptk-sql",
        "perplexity" => "mcptk-perplexity",
        "docker" => "mcptk-docker",
        "k8s" => "mcptk-k8s",
        other => panic!("no served configuration named {other}"),
    }
}

/// Runs `client` against `served` and checks what it saw.
fn check(client: RealClient, served_name: &str) {
    let scratch = Scratch::new();
    let served = Served::new(served_name, &scratch);
    // What the server lists, read off the wire: the client must see exactly these.
    let listed: Vec<Value> = {
        let (mut wire, _) = Wire::open(&served, &scratch, "2025-11-25");
        wire.pages("tools/list").iter().flat_map(|p| p["tools"].as_array().cloned().unwrap_or_default()).collect()
    };
    let listed: Vec<&str> = listed.iter().filter_map(|t| t["name"].as_str()).collect();
    for wanted in &served.lists {
        assert!(listed.contains(wanted), "`mcptk {served_name}` does not list `{wanted}`: {listed:?}");
    }

    let seen = client.run(&served, &scratch);
    let mut problems: Vec<String> = seen["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| name_tools(e.as_str().unwrap_or("?"), &listed))
        .collect();
    if seen["tools"] != json!(listed) {
        problems.push(format!("tools/list: saw {}, the server lists {listed:?}", seen["tools"]));
    }
    if let Some(revision) = client.revision()
        && seen["protocol_version"] != revision
    {
        problems.push(format!("settled on revision {}, expected {revision}", seen["protocol_version"]));
    }
    if client.reports_server_name() && seen["server_name"] != server_name(served_name) {
        problems.push(format!("server name {}, expected {}", seen["server_name"], server_name(served_name)));
    }
    let calls = seen["calls"].as_array().cloned().unwrap_or_default();
    for planned in &served.calls {
        match calls.iter().find(|c| c["name"] == planned.tool) {
            Some(call) => {
                let text = call["text"].as_str().unwrap_or_default();
                if let Err(e) = planned.check(call["is_error"] == true, text, &call["structured"]) {
                    problems.push(format!("tools/call {e}"));
                }
            }
            None if problems.iter().any(|p| p.contains(&format!("tools/call {}:", planned.tool))) => {}
            None => problems.push(format!("tools/call {}: no result reported", planned.tool)),
        }
    }
    assert!(
        problems.is_empty(),
        "{client:?} against `mcptk {}` ({} problems):\n  {}\nthe client reported: {seen}",
        served.args.join(" "),
        problems.len(),
        problems.join("\n  ")
    );
}

/// One test per served configuration for one client, and their list.
macro_rules! per_served {
    ($client:expr => $($served:ident),*) => {
        pub const SERVED: &[&str] = &[$(stringify!($served)),*];
        $(
            #[test]
            fn $served() {
                super::check($client, stringify!($served));
            }
        )*
    };
}

macro_rules! clients {
    ($($module:ident: $client:ident),* $(,)?) => {
        /// The clients with tests here, to compare with the list of every client.
        const COVERED: &[&str] = &[$(stringify!($client)),*];
        /// The configurations each client is tested against.
        const SERVED_BY_CLIENT: &[&[&str]] = &[$($module::SERVED),*];
        $(
            mod $module {
                per_served!(super::RealClient::$client => gateway, builtin, fs, shell, sql, perplexity, docker, k8s);
            }
        )*
    };
}

clients!(
    typescript_sdk_1: TypeScript,
    inspector_cli: Inspector,
    python_mcp2_auto: PythonAuto,
    python_mcp2_legacy: PythonLegacy,
    python_mcp2_modern: PythonModern,
    python_mcp1: Python1,
    openai_agents: Agents,
);

#[test]
fn every_client_meets_every_served_configuration() {
    let all = [
        RealClient::TypeScript,
        RealClient::Inspector,
        RealClient::PythonAuto,
        RealClient::PythonLegacy,
        RealClient::PythonModern,
        RealClient::Python1,
        RealClient::Agents,
    ];
    // A match with no wildcard: a new client fails to compile here until it is listed.
    let named: Vec<String> = all
        .iter()
        .map(|c| match c {
            RealClient::TypeScript
            | RealClient::Inspector
            | RealClient::PythonAuto
            | RealClient::PythonLegacy
            | RealClient::PythonModern
            | RealClient::Python1
            | RealClient::Agents => format!("{c:?}"),
        })
        .collect();
    assert_eq!(COVERED, named);
    for served in SERVED_BY_CLIENT {
        assert_eq!(*served, crate::support::Served::NAMES);
    }
}

#[test]
fn validation_errors_name_the_tool_they_point_at() {
    let listed = ["fs__read_text_file", "gateway__check_access"];
    let pydantic = "tools/list: ValidationError: 1 validation error for ListToolsResult\ntools.1.outputSchema.type";
    assert!(name_tools(pydantic, &listed).ends_with("(tools[1] is `gateway__check_access`)"));
    let zod = "tools/list: [{\"path\": [\n  \"tools\",\n  0,\n  \"outputSchema\"]}]";
    assert!(name_tools(zod, &listed).ends_with("(tools[0] is `fs__read_text_file`)"));
    assert_eq!(name_tools("tools/call echo: refused", &listed), "tools/call echo: refused");
}
