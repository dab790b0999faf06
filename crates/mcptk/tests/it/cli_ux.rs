//! The command line as a person meets it: `init`, `import` and `install` with the files Claude
//! Desktop, Cursor and VS Code really write; `--json` on every command that prints data; exit
//! statuses as documented; no colour for pipes or with `NO_COLOR`; completions and the man page.
//! Every test runs the `mcptk` binary as a process.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::support::mcptk;

/// `config check --servers` starts the servers and checks the policy against the tools they
/// list: a mistyped tool name leaves a deny rule refusing nothing, which the file alone cannot
/// show; each finding is said once, with the tool most likely meant, and is a problem (status
/// 3), as is a server that does not start.
#[test]
fn config_check_with_servers_finds_a_deny_rule_that_names_no_tool() {
    let dir = Dir::new();
    let root = dir.path.display().to_string();
    let with_rules = |rules: Value| {
        json!({"native": {"fs": {"roots": [root]}}, "audit": {"path": "a.jsonl"},
               "policy": {"default": "allow", "rules": rules}})
        .to_string()
    };
    let typo = json!([{"name": "no-writes", "effect": "deny", "tools": ["fs__wirte_file"]}]);
    dir.file("gateway.json", &with_rules(typo));
    let out = dir.run(&["config", "check", "--config", "gateway.json"]);
    assert_eq!(code(&out), 0, "the file alone is fine: {}", text(&out));

    let out = dir.run(&["config", "check", "--config", "gateway.json", "--servers"]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let said = "error: policy rule `no-writes`: the `tools` entry `fs__wirte_file` matches no tool of the servers it \
                concerns (did you mean `fs__write_file`?)";
    assert!(stderr.contains(said), "{stderr}");
    assert_eq!(stderr.matches("fs__wirte_file").count(), 1, "said once, not logged again: {stderr}");
    let out = dir.run(&["config", "check", "--config", "gateway.json", "--servers", "--json"]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    let report = json_of(&out);
    assert_eq!(report["ok"], false, "{report}");
    assert!(report["problems"][0].as_str().is_some_and(|p| p.contains("fs__wirte_file")), "{report}");

    let fixed = json!([{"name": "no-writes", "effect": "deny", "tools": ["fs__write_file"]}]);
    dir.file("gateway.json", &with_rules(fixed));
    let out = dir.run(&["config", "check", "--config", "gateway.json", "--servers", "--json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let report = json_of(&out);
    assert_eq!(report["problems"], json!([]), "{report}");
    // The caller is not listed the tool the rule denies.
    assert!(report["tools_listed"].as_u64().is_some_and(|n| n > 10), "{report}");

    // A server that does not start is a problem too, named with why.
    let config = json!({"mcpServers": {"broken": {"command": "sh", "args": ["-c", "exit 3"]}},
                        "readiness": {"optional": ["broken"]}, "audit": {"path": "a.jsonl"}});
    dir.file("down.json", &config.to_string());
    let out = dir.run(&["config", "check", "--config", "down.json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let out = dir.run(&["config", "check", "--config", "down.json", "--servers"]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error: server `broken`") && stderr.contains("exit status: 3"), "{stderr}");
}

/// A scratch folder for one test, with `HOME` pointed into it and no gateway config from the
/// environment.
struct Dir {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Dir {
    fn new() -> Dir {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().canonicalize().expect("canonical");
        Dir { _dir: dir, path }
    }

    fn file(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.path.join(relative);
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("mkdir");
        std::fs::write(&path, text).expect("writes");
        path
    }

    /// `mcptk ARGS` run here.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(mcptk());
        command
            .args(args)
            .current_dir(&self.path)
            .env("HOME", &self.path)
            .env_remove("MCPTK_CONFIG")
            .env_remove("MCPTK_LOG")
            .env_remove("NO_COLOR");
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("mcptk runs")
    }
}

fn text(out: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", text(out)))
}

/// A secret as people paste them into client files (the shape of a GitHub token).
const GITHUB_TOKEN: &str = "ghp_Zk3Vq8Lr2Wx5Nc7Ty1Hb4Md6Pf9Sg0Ju2Ea5";
/// An API key of the kind Brave's search server takes.
const BRAVE_KEY: &str = "BSAq1w2e3r4t5y6u7i8o9p0aZsXdCfVg";

/// Claude Desktop's file as people have it: other settings beside `mcpServers`, tokens written in
/// `env`, and one server that really runs here (`mcptk serve builtin`, with a key of its own).
fn claude_desktop_config() -> Value {
    json!({
        "globalShortcut": "Ctrl+Space",
        "mcpServers": {
            "github": {
                "command": "npx",
                "args": ["-y", "@modelcontextprotocol/server-github"],
                "env": { "GITHUB_PERSONAL_ACCESS_TOKEN": GITHUB_TOKEN }
            },
            "brave-search": {
                "command": "npx",
                "args": ["-y", "@modelcontextprotocol/server-brave-search"],
                "env": { "BRAVE_API_KEY": BRAVE_KEY, "LOG_LEVEL": "info" }
            },
            "demo": {
                "command": mcptk(),
                "args": ["serve", "builtin"],
                "env": { "DEMO_API_KEY": "demo-Key-0123456789abcdefXYZ" }
            }
        }
    })
}

/// A folder in `native.fs.roots` that is not there is a configuration problem: `config check`
/// lists it (without the hint about variables, which it is not about), and `serve` and `tools`
/// refuse to start with status 3, naming the file and the setting, each cause said once. `serve`
/// exited 1 with the path and its error twice, and `config check` passed the file.
#[test]
fn a_missing_root_folder_is_a_configuration_problem_named_before_anything_starts() {
    let dir = Dir::new();
    dir.file(
        "gateway.json",
        r#"{"native": {"fs": {"roots": ["gone"]}}, "mcpServers": {"echo": {"command": "cat", "args": ["-u"]}}}"#,
    );
    let out = dir.run(&["config", "check", "--config", "gateway.json"]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    let shown = text(&out);
    assert!(shown.contains("error: native.fs.roots: `") && shown.contains("gone`: No such file"), "{shown}");
    assert!(shown.contains("server `echo`: ok (cat -u)") && !shown.contains("hint:"), "{shown}");
    for command in [&["serve", "--config", "gateway.json"][..], &["tools", "--config", "gateway.json"]] {
        let out = dir.command(command).stdin(std::process::Stdio::null()).output().expect("runs");
        assert_eq!(code(&out), 3, "{command:?}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("error: in `gateway.json`: native.fs.roots: `"), "{command:?}: {stderr}");
        assert_eq!(stderr.matches("No such file").count(), 1, "{command:?}: {stderr}");
    }
    // A gateway configuration that is not there is one too, for `install` as for the others.
    let out = dir.run(&["install", "claude", "--config", "nothere.json"]);
    assert_eq!(code(&out), 3, "{}", text(&out));
}

/// `config check` finds what stops the gateway at its start outside `mcpServers` too (a `${VAR}`
/// of `native.*` or `audit.sql` not set, a shell program not found), on stderr with status 3;
/// and `tools`, refusing the same file, ends with 3 too. They passed the check, and the start
/// then failed with status 1. A server whose command is not found is warned about.
#[test]
fn config_check_finds_what_stops_a_start_in_every_section() {
    let dir = Dir::new();
    for (file, expected) in [
        (
            r#"{"native": {"sql": {"pg": {"url": "postgres://u:${MCPTK_TEST_UNSET_PW}@127.0.0.1:1/db"}}}}"#,
            "environment variable `MCPTK_TEST_UNSET_PW` is not set (referenced in native.sql.pg.url)",
        ),
        (r#"{"audit": {"sql": "${MCPTK_TEST_UNSET_URL}"}}"#, "(referenced in audit.sql)"),
        (
            r#"{"native": {"shell": {"allow": ["mcptk-no-such-program"], "roots": ["."]}}}"#,
            "native.shell: invalid shell configuration: allowed command `mcptk-no-such-program` was not found",
        ),
    ] {
        dir.file("gateway.json", file);
        let out = dir.run(&["config", "check", "--config", "gateway.json"]);
        assert_eq!(code(&out), 3, "{file}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("error: ") && stderr.contains(expected), "{file}: {stderr}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("error:"), "errors go to stderr: {}", text(&out));
    }
    // A server's command not found stops that server only: a warning, and the check passes.
    dir.file(
        "gateway.json",
        r#"{"mcpServers": {"ghost": {"command": "/no/such/binary"}, "echo": {"command": "cat"}}}"#,
    );
    let out = dir.run(&["config", "check", "--config", "gateway.json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("warning: server `ghost`: the command `/no/such/binary` is not found"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("server `echo`: ok (cat)"), "{}", text(&out));
    dir.file("gateway.json", r#"{"native": {"sql": {"pg": {"url": "postgres://u:${MCPTK_TEST_UNSET_PW}@h/db"}}}}"#);
    let out = dir.command(&["tools", "--config", "gateway.json"]).output().expect("runs");
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("hint: set `MCPTK_TEST_UNSET_PW`"), "{}", text(&out));
}

#[test]
fn init_writes_a_commented_config_that_the_gateway_loads_and_never_overwrites_it_unasked() {
    let dir = Dir::new();
    let out = dir.run(&["init"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let path = dir.path.join("gateway.json");
    let written = std::fs::read_to_string(&path).expect("gateway.json");
    assert!(written.contains("// ") && written.contains("mcptk config check --config gateway.json"), "{written}");

    // The real loader reads it, comments and all; paths are relative to the file.
    let config = mcp_gateway::GatewayConfig::load(&path).expect("loads");
    assert_eq!(config.native.fs.as_ref().map(|fs| fs.roots.clone()), Some(vec![dir.path.join(".")]));
    assert_eq!(config.policy.as_ref().map(|p| p.rules.len()), Some(4));
    let out = dir.run(&["config", "check", "--config", "gateway.json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    // The variables its comments name are not taken for settings that need them.
    let out = dir.run(&["install", "claude", "--config", "gateway.json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("refers to"), "{}", text(&out));
    // And it serves: the native servers it names, through the gateway.
    let out = dir.run(&["tools", "--json", "--config", "gateway.json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let listing = json_of(&out);
    assert_eq!(listing.as_object().expect("by server").keys().collect::<Vec<_>>(), ["fs", "gateway", "shell"]);

    // A second init refuses (usage error, file unchanged) until --force.
    std::fs::write(&path, "{}").expect("edits");
    let out = dir.run(&["init"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists: pass --force"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&path).expect("reads"), "{}");
    let out = dir.run(&["init", "--force", "--json", "conf/other.json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(json_of(&out)["path"], "conf/other.json");
    mcp_gateway::GatewayConfig::load(&dir.path.join("conf/other.json")).expect("loads too");

    // A symlink is never written through: a dangling one counts as existing, and --force
    // replaces the link itself, not the file it points to.
    let elsewhere = dir.path.join("elsewhere.txt");
    std::os::unix::fs::symlink(&elsewhere, dir.path.join("dangling.json")).expect("symlink");
    let out = dir.run(&["init", "dangling.json"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(!elsewhere.exists(), "init wrote through a dangling symlink");
    std::fs::write(&elsewhere, "keep me").expect("writes");
    let out = dir.run(&["init", "--force", "dangling.json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&elsewhere).expect("reads"), "keep me", "the link's target was overwritten");
    let link = std::fs::symlink_metadata(dir.path.join("dangling.json")).expect("exists");
    assert!(link.is_file(), "the link was replaced by the configuration");
    let out = dir.run(&["init", "my config.json"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("--config 'my config.json'"), "{}", text(&out));
}

#[test]
fn import_of_claude_desktops_config_refers_to_its_secrets_and_the_result_runs() {
    let dir = Dir::new();
    let client = dir.file(
        "claude_desktop_config.json",
        &serde_json::to_string_pretty(&claude_desktop_config()).expect("as the test set it up"),
    );
    let out = dir.run(&["import", client.to_str().expect("utf-8"), "-o", "gateway.json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let shown = text(&out);
    let written = std::fs::read_to_string(dir.path.join("gateway.json")).expect("written");
    for secret in [GITHUB_TOKEN, BRAVE_KEY, "demo-Key-0123456789abcdefXYZ"] {
        assert!(!written.contains(secret) && !shown.contains(secret), "a secret was copied:\n{written}\n{shown}");
    }
    let config: Value = serde_json::from_str(&written).expect("JSON");
    let servers = &config["mcpServers"];
    assert_eq!(servers["github"]["env"]["GITHUB_PERSONAL_ACCESS_TOKEN"], "${GITHUB_PERSONAL_ACCESS_TOKEN}");
    assert_eq!(servers["brave-search"]["env"]["BRAVE_API_KEY"], "${BRAVE_API_KEY}");
    assert_eq!(servers["brave-search"]["env"]["LOG_LEVEL"], "info", "what is no secret stays as written");
    assert_eq!(servers["github"]["args"], json!(["-y", "@modelcontextprotocol/server-github"]));
    assert!(shown.contains("`GITHUB_PERSONAL_ACCESS_TOKEN` in the environment of `mcptk serve`"), "{shown}");

    // It loads; resolving it needs the variables, and says which one is missing.
    mcp_gateway::GatewayConfig::load(&dir.path.join("gateway.json")).expect("loads");
    let out = dir.run(&["config", "check", "--config", "gateway.json"]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(text(&out).contains("environment variable `BRAVE_API_KEY` is not set"), "{}", text(&out));
    let with_variables = |args: &[&str]| {
        dir.command(args)
            .env("GITHUB_PERSONAL_ACCESS_TOKEN", GITHUB_TOKEN)
            .env("BRAVE_API_KEY", BRAVE_KEY)
            .env("DEMO_API_KEY", "demo-Key-0123456789abcdefXYZ")
            .output()
            .expect("runs")
    };
    let out = with_variables(&["config", "check", "--config", "gateway.json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(!text(&out).contains(GITHUB_TOKEN), "{}", text(&out));

    // The server that runs here answers through the imported configuration (the npx ones are
    // disabled for this: they would fetch packages).
    let mut runnable = config.clone();
    runnable["mcpServers"]["github"]["disabled"] = json!(true);
    runnable["mcpServers"]["brave-search"]["disabled"] = json!(true);
    std::fs::write(dir.path.join("runnable.json"), runnable.to_string()).expect("writes");
    let out = with_variables(&["call", "demo", "add", "--args", r#"{"a": 2, "b": 3}"#, "--config", "runnable.json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(json_of(&out)["structuredContent"]["sum"], 5);
}

/// Cursor's `mcp.json` in a project: a remote server by `url` with a bearer token, Cursor's
/// `${env:..}` and `${workspaceFolder}`. The remote server is a real `mcptk serve builtin --http`
/// that demands the token: the imported configuration reaches it with the token given only as a
/// variable.
#[test]
fn import_of_cursors_config_keeps_url_servers_and_their_tokens_as_variables() {
    let dir = Dir::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
    let token = "sk-cursor-remote-0123456789abcdef";
    let remote = Command::new(mcptk())
        .args(["serve", "builtin", "--http", &format!("127.0.0.1:{port}")])
        .env("MCPTK_HTTP_TOKEN", token)
        .current_dir(&dir.path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starts");
    let _remote = KillOnDrop(remote);
    let client = dir.file(
        "project/.cursor/mcp.json",
        &serde_json::to_string_pretty(&json!({
            "mcpServers": {
                "remote": {
                    "url": format!("http://127.0.0.1:{port}/mcp"),
                    "headers": { "Authorization": format!("Bearer {token}") }
                },
                "notes": {
                    "command": "npx",
                    "args": ["-y", "@modelcontextprotocol/server-filesystem", "${workspaceFolder}/notes"],
                    "env": { "NOTES_HOME": "${env:NOTES_HOME}" }
                }
            }
        }))
        .expect("as the test set it up"),
    );
    let out = dir.run(&["import", client.to_str().expect("utf-8"), "--json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(!text(&out).contains(token), "{}", text(&out));
    let report = json_of(&out);
    assert_eq!(report["client"], "cursor");
    let servers = &report["config"]["mcpServers"];
    assert_eq!(servers["remote"]["url"], format!("http://127.0.0.1:{port}/mcp"));
    assert_eq!(servers["remote"]["headers"]["Authorization"], "Bearer ${REMOTE_TOKEN}");
    let project = dir.path.join("project").display().to_string();
    assert_eq!(servers["notes"]["args"][2], format!("{project}/notes"));
    assert_eq!(servers["notes"]["env"]["NOTES_HOME"], "${NOTES_HOME}");
    let variables: Vec<&str> =
        report["variables"].as_array().expect("variables").iter().filter_map(|v| v["name"].as_str()).collect();
    assert_eq!(variables, ["NOTES_HOME", "REMOTE_TOKEN"]);

    let mut config = report["config"].clone();
    config["mcpServers"]["notes"]["disabled"] = json!(true);
    std::fs::write(dir.path.join("gateway.json"), config.to_string()).expect("writes");
    mcp_gateway::GatewayConfig::load(&dir.path.join("gateway.json")).expect("loads");
    let call = |token: &str| {
        dir.command(&["call", "remote", "echo", "--args", r#"{"text": "via cursor"}"#, "--config", "gateway.json"])
            .env("REMOTE_TOKEN", token)
            .output()
            .expect("runs")
    };
    let mut out = call(token);
    for _ in 0..50 {
        if code(&out) == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        out = call(token);
    }
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(json_of(&out)["content"][0]["text"].as_str().unwrap_or_default().contains("via cursor"), "{}", text(&out));
    let refused = call("not-the-token");
    assert_ne!(code(&refused), 0, "{}", text(&refused));
}

/// A child process killed when the test ends, passed or not.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// VS Code's `.vscode/mcp.json`: comments and trailing commas, `servers` with `type`, an
/// `inputs` prompt that only VS Code can answer.
#[test]
fn import_of_vscodes_config_says_what_it_cannot_resolve() {
    let dir = Dir::new();
    let client = dir.file(
        "app/.vscode/mcp.json",
        r#"{
  // Workspace MCP servers
  "inputs": [
    { "type": "promptString", "id": "perplexity-key", "description": "Perplexity API Key", "password": true }
  ],
  "servers": {
    "perplexity": {
      "type": "stdio",
      "command": "npx",
      "args": ["-y", "@perplexity-ai/mcp-server"],
      "env": { "PERPLEXITY_API_KEY": "${input:perplexity-key}" },
    },
    "github": {
      "type": "http",
      "url": "https://api.githubcopilot.com/mcp/",
      "headers": { "Authorization": "Bearer ${env:GITHUB_TOKEN}" }
    },
    "legacy": { "type": "sse", "url": "http://localhost:3001/sse" },
    "fetch": { "type": "stdio", "command": "uvx", "args": ["mcp-server-fetch"], "envFile": "${workspaceFolder}/.env" },
  },
}
"#,
    );
    let out = dir.run(&["import", client.to_str().expect("utf-8"), "-o", "gateway.json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("VS Code asks for `${input:perplexity-key}`") && stderr.contains("mcptk cannot ask"),
        "{stderr}"
    );
    assert!(stderr.contains("`PERPLEXITY_API_KEY` in the environment of `mcptk serve`"), "{stderr}");
    assert!(stderr.contains("its `envFile`") && stderr.contains("older HTTP+SSE transport"), "{stderr}");
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path.join("gateway.json")).expect("as the test set it up"))
            .expect("as the test set it up");
    let servers = &config["mcpServers"];
    assert_eq!(servers["perplexity"]["env"]["PERPLEXITY_API_KEY"], "${PERPLEXITY_API_KEY}");
    assert_eq!(servers["github"]["headers"]["Authorization"], "Bearer ${GITHUB_TOKEN}");
    assert_eq!(servers["legacy"]["url"], "http://localhost:3001/sse");
    assert!(servers["fetch"].get("envFile").is_none() && servers["perplexity"].get("type").is_none(), "{config}");
    mcp_gateway::GatewayConfig::load(&dir.path.join("gateway.json")).expect("loads");
    let out = dir
        .command(&["config", "check", "--config", "gateway.json"])
        .env("PERPLEXITY_API_KEY", "pplx-0123456789abcdef")
        .env("GITHUB_TOKEN", GITHUB_TOKEN)
        .output()
        .expect("runs");
    assert_eq!(code(&out), 0, "{}", text(&out));

    // Not a client's file: a configuration error that says what was expected.
    let other = dir.file("package.json", r#"{"name": "app", "version": "1.0.0"}"#);
    let out = dir.run(&["import", other.to_str().expect("utf-8")]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(text(&out).contains("keep servers under `mcpServers`"), "{}", text(&out));
    let out = dir.run(&["import", "nowhere.json"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
}

#[test]
fn install_prints_then_writes_with_a_backup_and_the_client_then_starts_the_gateway() {
    let dir = Dir::new();
    let mut original = claude_desktop_config();
    original["mcpServers"]["kept"] = json!({ "command": "uvx", "args": ["mcp-server-time"] });
    let original_text = serde_json::to_string_pretty(&original).expect("as the test set it up");
    let client = dir.file("Claude/claude_desktop_config.json", &original_text);
    let client_arg = client.to_str().expect("utf-8");
    // The gateway serves what was imported, less `kept`, with the npx servers switched off.
    let out = dir.run(&["import", client_arg, "--json"]);
    let mut config = json_of(&out)["config"].clone();
    let servers = config["mcpServers"].as_object_mut().expect("servers");
    servers.remove("kept");
    servers.get_mut("github").expect("github")["disabled"] = json!(true);
    servers.get_mut("brave-search").expect("brave")["disabled"] = json!(true);
    dir.file("gateway/gateway.json", &config.to_string());

    let install = ["install", "claude", "--config", "gateway/gateway.json", "--config-path", client_arg];
    let out = dir.run(&install);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(&client).expect("as the test set it up"),
        original_text,
        "printing changes nothing"
    );
    assert!(!text(&out).contains(GITHUB_TOKEN) && !text(&out).contains(BRAVE_KEY), "{}", text(&out));
    let preview = json_of(&out);
    assert_eq!(preview["mcpServers"]["mcptk"]["env"]["GITHUB_PERSONAL_ACCESS_TOKEN"], "***");
    assert!(text(&out).contains("behind the gateway now:"), "{}", text(&out));

    let out = dir.run(&[&install[..], &["--write", "--json"][..]].concat());
    assert_eq!(code(&out), 0, "{}", text(&out));
    let report = json_of(&out);
    assert!(!text(&out).contains(GITHUB_TOKEN), "{}", text(&out));
    assert_eq!(report["moved"], json!(["brave-search", "demo", "github"]));
    assert_eq!(report["kept"], json!(["kept"]));
    let backup = PathBuf::from(report["backup"].as_str().expect("a backup"));
    let name = backup.file_name().expect("as the test set it up").to_string_lossy().into_owned();
    assert!(name.starts_with("claude_desktop_config.json.") && name.ends_with("Z.bak"), "{name}");
    assert_eq!(
        std::fs::read_to_string(&backup).expect("as the test set it up"),
        original_text,
        "the backup is the old file"
    );
    // Written again at once with nothing to change: the file is left as it is, no backup added.
    let installed = std::fs::read_to_string(&client).expect("written");
    let same = dir.run(&[&install[..], &["--write", "--json"][..]].concat());
    assert_eq!(code(&same), 0, "{}", text(&same));
    let report = json_of(&same);
    assert_eq!(
        (&report["unchanged"], &report["written"], &report["backup"]),
        (&json!(true), &json!(false), &Value::Null)
    );
    assert_eq!(std::fs::read_to_string(&client).expect("kept"), installed);
    let same = dir.run(&[&install[..], &["--write"][..]].concat());
    assert!(text(&same).contains("nothing to change"), "{}", text(&same));
    let backups = |dir: &Dir| {
        let files = std::fs::read_dir(dir.path.join("Claude")).expect("as the test set it up").filter_map(Result::ok);
        files.filter(|e| e.file_name().to_string_lossy().ends_with(".bak")).count()
    };
    assert_eq!(backups(&dir), 1);
    // Changed by hand in the same second and written again: a second backup beside the first,
    // which still holds the original.
    let mut edited: Value = serde_json::from_str(&installed).expect("parses");
    edited["mcpServers"]["mcptk"]["args"] = json!(["serve"]);
    let edited = serde_json::to_string_pretty(&edited).expect("as the test set it up");
    std::fs::write(&client, &edited).expect("as the test set it up");
    let rewritten = dir.run(&[&install[..], &["--write", "--json"][..]].concat());
    assert_eq!(code(&rewritten), 0, "{}", text(&rewritten));
    let second = PathBuf::from(json_of(&rewritten)["backup"].as_str().expect("a backup"));
    assert_ne!(second, backup);
    assert_eq!(std::fs::read_to_string(&second).expect("kept"), edited);
    assert_eq!(std::fs::read_to_string(&backup).expect("kept"), original_text, "the first backup is kept");
    assert_eq!(backups(&dir), 2);

    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&client).expect("as the test set it up")).expect("parses");
    assert_eq!(written["globalShortcut"], "Ctrl+Space", "the rest of the file stays");
    let servers = written["mcpServers"].as_object().expect("servers");
    assert_eq!(servers.keys().collect::<Vec<_>>(), ["kept", "mcptk"]);
    let entry = &servers["mcptk"];
    let gateway = dir.path.join("gateway/gateway.json").display().to_string();
    assert_eq!(entry["command"], mcptk());
    assert_eq!(entry["args"], json!(["serve", "--config", gateway]));
    assert_eq!(entry["env"]["GITHUB_PERSONAL_ACCESS_TOKEN"], GITHUB_TOKEN, "the client keeps the secret it held");

    // What Claude Desktop would now start: the gateway, with the demo server behind it.
    let env = entry["env"].as_object().expect("env");
    let mut server = mcp_core::config::StdioServer::new(
        entry["command"].as_str().expect("as the test set it up"),
        entry["args"]
            .as_array()
            .expect("as the test set it up")
            .iter()
            .map(|a| a.as_str().expect("as the test set it up").to_owned()),
    );
    server.env = env.iter().map(|(k, v)| (k.clone(), v.as_str().expect("as the test set it up").to_owned())).collect();
    server.cwd = Some(dir.path.clone());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let names = runtime.block_on(async {
        let client = mcp_core::Client::spawn("claude", &server, Default::default()).await.expect("mcptk starts");
        let tools = client.list_tools().await.expect("lists");
        let _ = client.close().await;
        tools.into_iter().map(|t| t.name).collect::<Vec<_>>()
    });
    assert!(names.contains(&"demo__echo".to_owned()), "{names:?}");

    // Installing again keeps what the entry passes on.
    let out = dir.run(&[&install[..], &["--write"][..]].concat());
    assert_eq!(code(&out), 0, "{}", text(&out));
    let again: Value = serde_json::from_str(&std::fs::read_to_string(&client).expect("as the test set it up"))
        .expect("as the test set it up");
    assert_eq!(again["mcpServers"]["mcptk"]["env"]["DEMO_API_KEY"], "demo-Key-0123456789abcdefXYZ");
}

#[test]
fn install_for_vscode_passes_its_inputs_on_to_the_gateway() {
    let dir = Dir::new();
    let client = dir.file(
        ".vscode/mcp.json",
        r#"{
  "inputs": [{ "type": "promptString", "id": "pplx", "description": "Perplexity key", "password": true }],
  // The team's servers.
  "servers": {
    "perplexity": { "type": "stdio", "command": "npx", "args": ["-y", "@perplexity-ai/mcp-server"],
                    "env": { "PERPLEXITY_API_KEY": "${input:pplx}" } }
  }
}"#,
    );
    let out = dir.run(&["import", ".vscode/mcp.json", "-o", "gateway.json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let out =
        dir.run(&["install", "vscode", "--config", "gateway.json", "--config-path", ".vscode/mcp.json", "--write"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("the comments of the old file are not in the new one; the backup keeps them"),
        "{}",
        text(&out)
    );
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&client).expect("as the test set it up")).expect("parses");
    let entry = &written["servers"]["mcptk"];
    assert_eq!(entry["type"], "stdio");
    assert_eq!(entry["env"]["PERPLEXITY_API_KEY"], "${input:pplx}");
    assert_eq!(written["inputs"][0]["id"], "pplx");
    assert!(written["servers"].get("perplexity").is_none(), "{written}");
    let backups = std::fs::read_dir(dir.path.join(".vscode")).expect("as the test set it up").filter_map(Result::ok);
    assert_eq!(backups.filter(|e| e.file_name().to_string_lossy().ends_with(".bak")).count(), 1);
}

#[test]
fn completions_for_every_shell_and_bash_accepts_its_script() {
    let dir = Dir::new();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = dir.run(&["completions", shell]);
        assert_eq!(code(&out), 0, "{shell}: {}", text(&out));
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains("mcptk") && script.contains("install") && script.contains("--config"), "{shell}");
    }
    let out = dir.run(&["completions", "bash", "--out", "completions"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let script = dir.path.join("completions/mcptk.bash");
    let checked = Command::new("bash").arg("-n").arg(&script).output().expect("bash runs");
    assert!(checked.status.success(), "bash -n: {}", String::from_utf8_lossy(&checked.stderr));
    let out = dir.run(&["completions", "tcsh"]);
    assert_eq!(code(&out), 2, "an unknown shell is a usage error: {}", text(&out));
}

#[test]
fn the_man_page_renders_with_the_commands_and_exit_statuses() {
    let dir = Dir::new();
    let out = dir.run(&["man"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let roff = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(roff.contains(".TH mcptk 1") && roff.contains("install") && roff.contains("Exit status"), "{roff}");
    let out = dir.run(&["man", "--out", "man"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    for page in ["mcptk.1", "mcptk-serve.1", "mcptk-install.1", "mcptk-audit-verify.1"] {
        assert!(dir.path.join("man").join(page).exists(), "{page}");
    }
    // Rendered by man itself where it is installed (Debian's `man-db`).
    if Command::new("man").arg("--version").output().is_ok_and(|o| o.status.success()) {
        let page = dir.path.join("man/mcptk.1");
        let out = Command::new("man")
            .arg("-l")
            .arg(&page)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .expect("as the test set it up");
        let shown = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && shown.contains("MCP toolkit") && shown.contains("130"), "{}", text(&out));
    }
}

/// Every command that prints data prints JSON with `--json` (`call` always does).
#[test]
fn json_output_of_every_data_command_parses() {
    let dir = Dir::new();
    let config = json!({
        "mcpServers": { "self": { "command": mcptk(), "args": ["serve", "builtin"] } },
        "pinning": { "lock_file": "pins.json" },
        "audit": { "path": "audit.jsonl" }
    });
    dir.file("gateway.json", &config.to_string());
    let with = |extra: &[&'static str]| [extra, &["--config", "gateway.json"][..]].concat();
    let commands: Vec<Vec<&str>> = vec![
        with(&["tools", "--json"]),
        with(&["call", "self", "add", "--args", r#"{"a": 1, "b": 2}"#]),
        with(&["config", "check", "--json"]),
        with(&["pin", "update", "--json"]),
        vec!["audit", "tail", "--json", "--log", "audit.jsonl"],
        vec!["audit", "verify", "--json", "--log", "audit.jsonl"],
        vec!["audit", "bench", "--json", "--records", "5", "--log", "bench.jsonl"],
        vec!["init", "--json", "new.json"],
    ];
    for args in &commands {
        let out = dir.run(args);
        assert_eq!(code(&out), 0, "{args:?}: {}", text(&out));
        let value = json_of(&out);
        assert!(value.is_object() || value.is_array(), "{args:?}: {value}");
    }
    let out = dir.run(&["audit", "export", "--json", "--log", "audit.jsonl"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let exported = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(exported.lines().count() >= 1, "{}", text(&out));
    assert!(exported.lines().all(|l| serde_json::from_str::<Value>(l).is_ok()), "{exported}");
    let tail = json_of(&dir.run(&["audit", "tail", "--json", "--log", "audit.jsonl"]));
    assert!(tail.as_array().expect("records").iter().any(|r| r["tool"] == "add"), "{tail}");
    let client = dir.file("claude.json", &claude_desktop_config().to_string());
    let out = dir.run(&["import", client.to_str().expect("as the test set it up"), "--json"]);
    assert!(json_of(&out)["variables"].as_array().is_some_and(|v| v.len() == 3), "{}", text(&out));
    let out = dir.run(&["install", "claude", "--config", "gateway.json", "--config-path", "claude.json", "--json"]);
    assert_eq!(json_of(&out)["written"], false, "{}", text(&out));
}

/// The exit statuses `mcptk --help` lists.
#[test]
fn exit_statuses_are_as_documented() {
    let dir = Dir::new();
    let help = dir.run(&["--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    for line in
        ["0    success", "2    usage", "3    configuration", "4    a tool answered with an error", "5    the audit log"]
    {
        assert!(help.contains(line), "{line}: {help}");
    }
    let config = json!({ "mcpServers": { "self": { "command": mcptk(), "args": ["serve", "builtin"] } }, "audit": { "path": "audit.jsonl" } });
    dir.file("gateway.json", &config.to_string());
    let status = |args: &[&str]| code(&dir.run(args));
    assert_eq!(status(&["call", "self", "echo", "--args", r#"{"text": "hi"}"#, "--config", "gateway.json"]), 0);
    assert_eq!(status(&["tools", "--no-such-option"]), 2);
    assert_eq!(status(&["call", "nowhere", "x", "--config", "gateway.json"]), 2);
    assert_eq!(status(&["call", "self", "echo", "--args", "[1]", "--config", "gateway.json"]), 2);
    assert_eq!(status(&["audit", "verify", "--log", "no-such.jsonl"]), 2);
    assert_eq!(status(&["call", "self", "add", "--args", r#"{"a": 1}"#, "--config", "gateway.json"]), 4);
    dir.file(
        "bad.json",
        "{ \"mcpServers\": { \"x\": { \"command\": \"true\", \"env\": { \"T\": \"${MCPTK_TEST_UNSET_9}\" } } } }",
    );
    assert_eq!(status(&["tools", "--config", "bad.json"]), 3);
    assert_eq!(status(&["config", "check", "--config", "bad.json"]), 3);
    dir.file("broken.json", "{ \"native\": { \"fs\": { \"rots\": [\".\"] } } }");
    assert_eq!(status(&["tools", "--config", "broken.json"]), 3);
    assert_eq!(status(&["tools", "--config", "absent.json"]), 3);

    // An edited record: the audit log does not verify.
    let log = dir.path.join("audit.jsonl");
    assert_eq!(status(&["audit", "verify", "--log", "audit.jsonl"]), 0);
    let edited = std::fs::read_to_string(&log).expect("as the test set it up").replacen("\"echo\"", "\"ecko\"", 1);
    std::fs::write(&log, edited).expect("as the test set it up");
    assert_eq!(status(&["audit", "verify", "--log", "audit.jsonl"]), 5);
}

/// Messages name the file, the field, the server or the variable, and what to do.
#[test]
fn errors_name_what_is_wrong_and_what_to_do() {
    let dir = Dir::new();
    dir.file("broken.json", "{\n  \"native\": {\n    \"fs\": { \"rots\": [\".\"] }\n  }\n}\n");
    let out = dir.run(&["tools", "--config", "broken.json"]);
    let shown = String::from_utf8_lossy(&out.stderr);
    assert!(
        shown.contains("invalid gateway config `broken.json` at line 3")
            && shown.contains("(in `native.fs.rots`)")
            && shown.contains("unknown field `rots`, expected `roots` or `client_roots`"),
        "{shown}"
    );
    let out = dir.run(&["tools", "--config", "absent.json"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("create it with `mcptk init absent.json`"), "{}", text(&out));
    dir.file("gh.json", r#"{"mcpServers": {"gh": {"command": "npx", "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "${MCPTK_TEST_UNSET_GH}"}}}}"#);
    let out = dir.run(&["call", "gh", "get_me", "--config", "gh.json"]);
    let shown = String::from_utf8_lossy(&out.stderr);
    assert!(
        shown.contains("in `gh.json`: server `gh`: environment variable `MCPTK_TEST_UNSET_GH` is not set"),
        "{shown}"
    );
    assert!(shown.contains("hint: set `MCPTK_TEST_UNSET_GH` in the environment"), "{shown}");
    dir.file("nopin.json", r#"{"audit": {"path": "a.jsonl"}}"#);
    let out = dir.run(&["pin", "update", "--config", "nopin.json"]);
    assert_eq!(code(&out), 3);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains(r#"add `"pinning": {"lock_file": "mcptk.lock.json"}` to `nopin.json`"#),
        "{}",
        text(&out)
    );
    let out = dir.run(&["audit", "tail", "--log", "missing.jsonl"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("give its path with --log"), "{}", text(&out));
    // A flag of one native server given to the gateway is refused, saying where its setting is.
    let out = dir.run(&["serve", "--call-timeout", "5"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`timeouts.default_secs`"), "{}", text(&out));
    // A timeout of 0 would end every call at once: refused where it is given, and named.
    for args in [&["call", "builtin", "echo", "--timeout", "0"][..], &["serve", "fs", "--call-timeout", "0"][..]] {
        let out = dir.run(args);
        assert_eq!(code(&out), 2, "{args:?}: {}", text(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains("0 is not in 1.."), "{args:?}: {}", text(&out));
    }
    dir.file("zero.json", r#"{"timeouts": {"default_secs": 0}}"#);
    let out = dir.run(&["config", "check", "--config", "zero.json"]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("timeouts.default_secs must be at least 1"),
        "{}",
        text(&out)
    );
    // An empty MCPTK_CONFIG is named, not run as no configuration at all (nor as a missing flag).
    for args in [&["tools"][..], &["serve"][..], &["config", "check"][..]] {
        let out = dir.command(args).env("MCPTK_CONFIG", "").output().expect("mcptk runs");
        assert_eq!(code(&out), 2, "{args:?}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).starts_with("error: MCPTK_CONFIG is set but empty"),
            "{}",
            text(&out)
        );
    }
    // `config check` names every unset variable of a server, a misspelt transport and a second one.
    let servers = json!({ "mcpServers": {
        "typo": { "comand": "npx", "args": ["-y", "@modelcontextprotocol/server-github"] },
        "both": { "command": "npx", "url": "https://mcp.example.com/mcp" },
        "vars": { "command": "npx", "env": { "A": "${MCPTK_TEST_UNSET_A}", "B": "${MCPTK_TEST_UNSET_B}" } },
        "scheme": { "url": "htp://user:hunter2@mcp.example.com/mcp?key=sk-in-query" }
    } });
    dir.file("servers.json", &servers.to_string());
    let out = dir.run(&["config", "check", "--config", "servers.json"]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "server `typo`: needs either `command` (stdio) or `url` (HTTP); `comand` is no field of an entry: did you mean `command`?",
        "server `both`: has both `command` (stdio) and `url` (HTTP); keep the one meant",
        "`MCPTK_TEST_UNSET_A` is not set (referenced in env.A); nor are `MCPTK_TEST_UNSET_B` (referenced in env.B)",
        "server `scheme`: `url` must be an http:// or https:// URL with a host: `htp://mcp.example.com/mcp?key=***` \
         has the scheme `htp`",
    ] {
        assert!(shown.contains(expected), "{expected}\n{}", text(&out));
    }
    assert!(!text(&out).contains("hunter2") && !text(&out).contains("sk-in-query"), "{}", text(&out));
    // A mistyped server in a deny rule or a timeout would never apply: `config check` refuses it.
    for (typo, expected) in [
        (
            json!({"policy": {"rules": [{"name": "deny-typo", "effect": "deny", "servers": ["nromal"]}], "default": "allow"}}),
            "policy rule `deny-typo`: the `servers` entry `nromal` matches no server (configured: gateway, normal); did you mean `normal`?",
        ),
        (
            json!({"timeouts": {"servers": {"nromal": 5}}}),
            "timeouts.servers: no server named `nromal` (configured: gateway, normal); did you mean `normal`?",
        ),
    ] {
        let mut config = json!({"mcpServers": {"normal": {"command": "true"}}});
        config.as_object_mut().expect("object").extend(typo.as_object().expect("object").clone());
        dir.file("typo.json", &config.to_string());
        let out = dir.run(&["config", "check", "--config", "typo.json"]);
        assert_eq!(code(&out), 3, "{}", text(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains(expected), "{expected}\n{}", text(&out));
    }
}

/// Runs `mcptk ARGS` on a pseudo-terminal (util-linux `script`), as a person would, and returns
/// what the terminal showed.
fn on_terminal(dir: &Dir, args: &[&str], no_color: bool) -> String {
    let quoted: Vec<String> = std::iter::once(mcptk())
        .chain(args.iter().map(|a| (*a).to_owned()))
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect();
    let mut command = Command::new("script");
    command
        .args(["-qec", &quoted.join(" "), "/dev/null"])
        .current_dir(&dir.path)
        .env_remove("NO_COLOR")
        .env("HOME", &dir.path);
    if no_color {
        command.env("NO_COLOR", "1");
    }
    let out = command.output().expect("script (util-linux) runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn colour_and_progress_only_on_a_terminal_and_never_with_no_color() {
    let dir = Dir::new();
    let config = json!({ "mcpServers": {
        "one": { "command": mcptk(), "args": ["serve", "builtin"] },
        "two": { "command": mcptk(), "args": ["serve", "builtin"] },
        "gh": { "command": "true", "env": { "T": "${MCPTK_TEST_UNSET_COLOUR}" }, "disabled": true }
    }, "audit": { "path": "audit.jsonl" } });
    dir.file("gateway.json", &config.to_string());
    dir.file("bad.json", r#"{"mcpServers": {"gh": {"command": "true", "env": {"T": "${MCPTK_TEST_UNSET_COLOUR}"}}}}"#);

    // On a terminal: colour, a bar while servers start, and one for the call's progress.
    let shown = on_terminal(&dir, &["config", "check", "--config", "bad.json"], false);
    assert!(shown.contains("\x1b[31merror:\x1b[0m"), "{shown:?}");
    let args = ["call", "one", "slow", "--args", r#"{"steps": 3, "delay_ms": 300}"#, "--config", "gateway.json"];
    let shown = on_terminal(&dir, &args, false);
    assert!(shown.contains("starting servers [") && shown.contains("one/slow"), "{shown:?}");
    assert!(shown.contains("step 2 of 3") && shown.contains("finished 3 steps"), "{shown:?}");
    // `mcptk serve` too, while its servers start (then it serves until `timeout` stops it).
    let serve = format!("timeout -s TERM 3 '{}' serve --config gateway.json --http 127.0.0.1:0", mcptk());
    let out = Command::new("script")
        .args(["-qec", &serve, "/dev/null"])
        .current_dir(&dir.path)
        .env_remove("NO_COLOR")
        .env("HOME", &dir.path)
        .output()
        .expect("script (util-linux) runs");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("starting servers ["), "{shown:?}");

    // NO_COLOR: the same, with not one escape sequence.
    for args in [&["config", "check", "--config", "bad.json"][..], &args[..]] {
        let shown = on_terminal(&dir, args, true);
        assert!(!shown.contains('\x1b'), "{shown:?}");
        assert!(shown.contains("error:") || shown.contains("step 2 of 3"), "{shown:?}");
    }
    // A pipe: no colour, no bar; progress lines only when asked for.
    let out = dir.run(&args);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(!out.stderr.contains(&0x1b) && !out.stdout.contains(&0x1b), "{}", text(&out));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("step 2 of 3"), "{}", text(&out));
    let out = dir.run(&[&args[..], &["--progress"][..]].concat());
    assert!(String::from_utf8_lossy(&out.stderr).contains("progress 2/3 step 2 of 3"), "{}", text(&out));
    let out = dir.run(&["config", "check", "--config", "bad.json"]);
    assert!(!out.stderr.contains(&0x1b) && String::from_utf8_lossy(&out.stderr).contains("error:"), "{}", text(&out));
}

/// Where the clients keep their files is documented per system; `--config-path` overrides it.
#[test]
fn install_finds_the_clients_file_in_the_home_folder() {
    let dir = Dir::new();
    dir.file("gateway.json", "{}");
    let out = dir.command(&["install", "cursor", "--config", "gateway.json", "--write"]).output().expect("runs");
    assert_eq!(code(&out), 0, "{}", text(&out));
    let written: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path.join(".cursor/mcp.json")).expect("as the test set it up"),
    )
    .expect("as the test set it up");
    assert_eq!(written["mcpServers"]["mcptk"]["args"][2], dir.path.join("gateway.json").display().to_string());
    // A new client file may hold secrets: its owner's only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path.join(".cursor/mcp.json")).expect("written").permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
    if std::env::consts::OS == "linux" {
        let out = dir
            .command(&["install", "claude", "--config", "gateway.json", "--json"])
            .env_remove("XDG_CONFIG_HOME")
            .output()
            .expect("as the test set it up");
        let expected: &Path = &dir.path.join(".config/Claude/claude_desktop_config.json");
        assert_eq!(json_of(&out)["path"], expected.display().to_string(), "{}", text(&out));
    }
}

/// `config check` shows each server as written: a secret a variable puts into its arguments is
/// not printed, in text or JSON.
#[test]
fn config_check_never_prints_what_variables_expand_to() {
    let dir = Dir::new();
    dir.file(
        "gateway.json",
        r#"{"mcpServers": {"x": {"command": "true", "args": ["--token", "${ARG_SECRET}", "--mode=${ARG_MODE}"], "env": {"K": "${ARG_SECRET}"}}}}"#,
    );
    for args in [
        &["config", "check", "--config", "gateway.json"][..],
        &["config", "check", "--json", "--config", "gateway.json"],
    ] {
        let out =
            dir.command(args).env("ARG_SECRET", "tok-Secret-98765").env("ARG_MODE", "fast").output().expect("runs");
        assert_eq!(code(&out), 0, "{}", text(&out));
        assert!(!text(&out).contains("tok-Secret-98765"), "{}", text(&out));
        assert!(text(&out).contains("${ARG_SECRET}"), "the entry as written is shown: {}", text(&out));
    }
}

/// A line of the log that is not a record is named on stderr by `tail` and `export`, which
/// still give every record around it and then exit as for a log that does not verify; a copy
/// without its head file verifies with a note that its end cannot be checked.
#[test]
fn audit_tail_and_export_name_lines_that_are_not_records() {
    let dir = Dir::new();
    let config = json!({ "mcpServers": { "self": { "command": mcptk(), "args": ["serve", "builtin"] } }, "audit": { "path": "audit.jsonl" } });
    dir.file("gateway.json", &config.to_string());
    for text in ["one", "two", "three"] {
        let args = format!(r#"{{"text": "{text}"}}"#);
        assert_eq!(code(&dir.run(&["call", "self", "echo", "--args", &args, "--config", "gateway.json"])), 0);
    }
    let out = dir.run(&["audit", "export", "--log", "audit.jsonl"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    std::fs::write(dir.path.join("copy.jsonl"), &out.stdout).expect("writes");
    let verified = dir.run(&["audit", "verify", "--log", "copy.jsonl"]);
    assert_eq!(code(&verified), 0, "{}", text(&verified));
    assert!(String::from_utf8_lossy(&verified.stdout).contains("cannot be detected"), "{}", text(&verified));

    let log = dir.path.join("audit.jsonl");
    let mut lines: Vec<String> = std::fs::read_to_string(&log).expect("reads").lines().map(str::to_owned).collect();
    let total = lines.len();
    assert!(total >= 3, "{lines:?}");
    lines[1] = "{\"not\": \"a record\"".to_owned();
    std::fs::write(&log, lines.join("\n") + "\n").expect("writes");
    for args in [&["audit", "export", "--log", "audit.jsonl"][..], &["audit", "tail", "--json", "--log", "audit.jsonl"]]
    {
        let out = dir.run(args);
        assert_eq!(code(&out), 5, "{args:?}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("line 2"), "{args:?}: {stderr}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("three") && stdout.contains("one"), "the records around it are given: {stdout}");
    }
}

/// A deny rule on `path` for the fs server does not see the fs tools that take their paths under
/// other names: the gateway names them when it starts (their calls get through that rule), and
/// says nothing of a rule that sees every tool it names.
#[test]
fn a_deny_rule_that_cannot_see_some_of_its_tools_is_named_with_them() {
    let dir = Dir::new();
    let root = dir.path.display().to_string();
    let config = json!({"native": {"fs": {"roots": [root]}}, "policy": {"default": "allow", "rules": [
        {"name": "no-etc", "effect": "deny", "servers": ["fs"], "arguments": {"path": {"path": "/etc/**"}}},
        {"name": "no-secrets", "effect": "deny", "tools": ["fs__read_text_file"], "arguments": {"path": {"glob": "*secret*"}}}
    ]}});
    dir.file("gateway.json", &config.to_string());
    let out = dir.run(&["tools", "--config", "gateway.json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // `list_allowed_directories` takes no arguments: there is nothing for the rule to see.
    let named = "the policy's deny rule `no-etc` constrains `path`, which `fs__read_multiple_files` and \
                 `fs__move_file` do not declare: it refuses none of their calls made with the arguments they take";
    assert!(stderr.contains(named), "{stderr}");
    assert_eq!(stderr.matches("constrains `path`").count(), 1, "one warning per rule: {stderr}");
    assert!(!stderr.contains("no-secrets"), "{stderr}");
}
