//! The `mcptk` command line: `tools` and `call` against configured servers.

use std::process::Command;

use crate::support::mcptk;

/// A configuration in a folder of its own: the gateway keeps its audit log beside it, and a log has
/// one writer at a time, so tests running at once must not share one.
fn config_file(name: &str, json: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mcptk-cli-{}-{name}-config", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let path = dir.join("gateway.json");
    std::fs::write(&path, json).expect("writes config");
    path
}

fn self_config(name: &str) -> std::path::PathBuf {
    let json = serde_json::json!({"mcpServers": {
        "self": {"command": mcptk(), "args": ["serve", "builtin", "--page-size", "1"]},
    }});
    config_file(name, &json.to_string())
}

/// A fresh working directory (the gateway keeps its audit log under it).
fn workdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mcptk-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir.canonicalize().expect("canonical")
}

#[test]
fn tools_lists_configured_servers_following_pagination() {
    let config = self_config("tools");
    let out = Command::new(mcptk())
        .args(["tools", "--json", "--config"])
        .arg(&config)
        .current_dir(workdir("tools"))
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listing: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON listing");
    let names = |server: &str| -> Vec<String> {
        listing[server]
            .as_array()
            .expect("tool list")
            .iter()
            .map(|t| t["name"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    // The served copy is paged one tool at a time; all three must still be listed.
    assert_eq!(names("self"), ["echo", "add", "slow"]);
    assert_eq!(names("gateway"), ["check_access", "log_event"]);
    assert!(listing.get("builtin").is_none(), "only what `mcptk serve` serves: {listing}");
    let _ = std::fs::remove_dir_all(config.parent().expect("its folder"));
}

#[test]
fn without_a_config_tools_and_call_see_what_serve_serves_through_its_pipeline() {
    let dir = workdir("embedded");
    std::fs::write(dir.join("note.txt"), "from the embedded gateway\n").expect("write");
    let out = Command::new(mcptk()).args(["tools", "--json"]).current_dir(&dir).env_remove("MCPTK_CONFIG").output();
    let out = out.expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listing: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON listing");
    let servers: Vec<&String> = listing.as_object().expect("by server").keys().collect();
    assert_eq!(servers, ["fs", "gateway", "shell"]);
    assert!(listing["fs"].as_array().expect("fs tools").iter().any(|t| t["name"] == "read_text_file"));

    let out = Command::new(mcptk())
        .args(["call", "fs", "read_text_file", "--args", r#"{"path": "note.txt"}"#])
        .current_dir(&dir)
        .env_remove("MCPTK_CONFIG")
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON result");
    assert_eq!(result["content"][0]["text"], "from the embedded gateway\n");
    // The call went through the gateway's pipeline: it is in the audit log, as the local principal.
    let log = std::fs::read_to_string(dir.join(".mcptk/audit.jsonl")).expect("audit log");
    let records: Vec<serde_json::Value> =
        log.lines().map(|line| serde_json::from_str(line).expect("a JSON record")).collect();
    assert!(
        records.iter().any(|r| r["server"] == "fs" && r["tool"] == "read_text_file" && r["principal"] == "stdio"),
        "{log}"
    );

    // `builtin`, named, is reachable too; an unknown server is named in the error.
    let out = Command::new(mcptk())
        .args(["call", "builtin", "add", "--args", r#"{"a": 2, "b": 40}"#])
        .current_dir(&dir)
        .output()
        .expect("runs");
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON result");
    assert_eq!(result["structuredContent"]["sum"], 42);
    let out = Command::new(mcptk()).args(["call", "nowhere", "x"]).current_dir(&dir).output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no server named `nowhere`"));
    // `tools` names the servers there are, and `builtin`, which is always reachable by name.
    let out = Command::new(mcptk()).args(["tools", "--server", "nowhere"]).current_dir(&dir).output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("no server named `nowhere` (servers: ") && said.contains("`builtin` adds"), "{said}");
    // So is an unknown tool (a usage error too), and a server that is not running is said so.
    let out = Command::new(mcptk()).args(["call", "builtin", "nothing"]).current_dir(&dir).output().expect("runs");
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no tool `nothing`"));
    std::fs::write(dir.join("down.json"), r#"{"mcpServers": {"down": {"command": "false"}}}"#).expect("writes");
    let out = Command::new(mcptk())
        .args(["call", "down", "anything", "--config", "down.json"])
        .current_dir(&dir)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: the server `down` is not running: ") && stderr.contains("exit status: 1"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn call_prints_the_result_and_shows_progress() {
    let config = self_config("call");
    let out = Command::new(mcptk())
        .args(["call", "self", "slow", "--args", r#"{"steps": 2, "delay_ms": 5}"#, "--progress", "--config"])
        .arg(&config)
        .current_dir(workdir("call"))
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON result");
    assert_eq!(result["content"][0]["text"], "finished 2 steps");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("progress 1/2 step 1 of 2") && stderr.contains("progress 2/2 step 2 of 2"), "{stderr}");

    // A tool error is printed and reported through the exit status (4, as documented).
    let out = Command::new(mcptk())
        .args(["call", "self", "add", "--args", r#"{"a": 1}"#, "--config"])
        .arg(&config)
        .current_dir(workdir("call"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(4));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON result");
    assert_eq!(result["isError"], true);
    let _ = std::fs::remove_dir_all(config.parent().expect("its folder"));
}

#[test]
fn a_missing_variable_is_reported_by_name() {
    let config = config_file(
        "missing-var",
        r#"{"mcpServers": {"gh": {"command": "true", "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "${MCPTK_TEST_NO_SUCH_TOKEN}"}}}}"#,
    );
    let out = Command::new(mcptk())
        .args(["call", "gh", "x", "--config"])
        .arg(&config)
        .current_dir(workdir("missing-var"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("environment variable `MCPTK_TEST_NO_SUCH_TOKEN` is not set (referenced in env.GITHUB_PERSONAL_ACCESS_TOKEN)"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(config.parent().expect("its folder"));
}

#[test]
fn serve_fs_and_serve_shell_are_drop_in_servers() {
    let dir = std::env::temp_dir().join(format!("mcptk-cli-native-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let dir = dir.canonicalize().expect("canonical");
    std::fs::write(dir.join("note.txt"), "one\ntwo\nthree\n").expect("write");
    let json = serde_json::json!({"mcpServers": {
        "fs": {"command": mcptk(), "args": ["serve", "fs", dir.display().to_string()]},
        "sh": {"command": mcptk(), "args": ["serve", "shell", "--allow", "wc,ls", "--root", dir.display().to_string()]},
    }});
    let config = config_file("native", &json.to_string());
    let call = |server: &str, tool: &str, args: serde_json::Value| {
        let out = Command::new(mcptk())
            .args(["call", server, tool, "--args", &args.to_string(), "--config"])
            .arg(&config)
            .current_dir(&dir)
            .output()
            .expect("runs");
        let result: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        (out.status.code(), result)
    };
    let path = dir.join("note.txt").display().to_string();
    let (code, result) = call("fs", "read_text_file", serde_json::json!({"path": path, "tail": 2}));
    assert_eq!((code, result["structuredContent"]["content"].as_str()), (Some(0), Some("three\n")));
    let (code, result) = call("fs", "read_text_file", serde_json::json!({"path": "/etc/hostname"}));
    assert_eq!(code, Some(4));
    assert!(result["content"][0]["text"].as_str().unwrap_or("").contains("access denied"), "{result}");

    let (code, result) = call("sh", "shell_execute", serde_json::json!({"command": ["wc", "-l", "note.txt"]}));
    assert_eq!(code, Some(0), "{result}");
    assert_eq!(result["structuredContent"]["stdout"].as_str().map(str::trim), Some("3 note.txt"));
    let (code, result) = call("sh", "execute", serde_json::json!({"command": "ls; rm -rf /"}));
    assert_eq!(code, Some(4));
    assert!(result["content"][0]["text"].as_str().unwrap_or("").contains("`;`"), "{result}");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(config.parent().expect("its folder"));
}

#[tokio::test]
async fn serve_sql_is_a_read_only_drop_in_server() {
    let dir = tempfile::tempdir().expect("temp");
    let url = format!("sqlite:{}", dir.path().join("shop.db").display());
    let options: sqlx::sqlite::SqliteConnectOptions = url.parse().expect("url");
    let pool = sqlx::SqlitePool::connect_with(options.create_if_missing(true)).await.expect("sqlite");
    sqlx::raw_sql(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL DEFAULT 0);
         INSERT INTO items (id, name, price) VALUES (1, 'tea', 2.5), (2, 'cake', 4.0);",
    )
    .execute(&pool)
    .await
    .expect("setup");

    let server = mcp_core::config::StdioServer::new(mcptk(), ["serve", "sql", url.as_str(), "--max-rows", "1"]);
    let client = mcp_core::Client::spawn("sql", &server, mcp_core::ClientOptions::default()).await.expect("starts");
    let args = |v: serde_json::Value| v.as_object().cloned().unwrap_or_default();
    let names: Vec<String> = client.list_tools().await.expect("tools").into_iter().map(|t| t.name).collect();
    for expected in ["read_query", "query", "list_tables", "describe_table", "show_schema"] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }

    let tables = client.call_tool("list_tables", Default::default()).await.expect("result");
    assert_eq!(
        tables.structured_content.as_ref().map(|v| v["rows"].clone()),
        Some(serde_json::json!([["main", "items", "table"]]))
    );
    let described =
        client.call_tool("describe_table", args(serde_json::json!({"table_name": "items"}))).await.expect("result");
    let rows = described.structured_content.expect("structured")["rows"].clone();
    assert_eq!(rows[0], serde_json::json!(["id", "INTEGER", 1, null, 1]), "{rows}");

    let read = client
        .call_tool(
            "read_query",
            args(
                serde_json::json!({"query": "SELECT name, price FROM items WHERE id >= ? ORDER BY id", "params": [1]}),
            ),
        )
        .await
        .expect("result");
    let read = read.structured_content.expect("structured");
    assert_eq!(read["rows"], serde_json::json!([["tea", 2.5]]));
    assert_eq!(read["truncated"], "more than 1 rows; only the first 1 are shown");

    for (sql, says) in [
        ("COMMIT; DELETE FROM items", "stacked"),
        ("DELETE FROM items", "DELETE is not a read statement"),
        ("SELECT load_extension('/tmp/x.so')", "load_extension"),
    ] {
        let refused = client.call_tool("query", args(serde_json::json!({"sql": sql}))).await.expect("result");
        assert!(refused.is_error() && refused.text_content().contains(says), "{sql}: {}", refused.text_content());
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM items").fetch_one(&pool).await.expect("count");
    assert_eq!(count, 2, "nothing was deleted");
}

#[tokio::test]
async fn serve_sql_generates_checked_queries_through_a_chat_endpoint() {
    // A local stand-in for an OpenAI-compatible endpoint (no live model here).
    let fake =
        mcp_openai::fake::FakeModel::start([mcp_openai::fake::Reply::text("```sql\nSELECT count(*) FROM items\n```")])
            .await
            .expect("fake model");
    let base = fake.base_url.clone();

    let dir = tempfile::tempdir().expect("temp");
    let url = format!("sqlite:{}", dir.path().join("g.db").display());
    let options: sqlx::sqlite::SqliteConnectOptions = url.parse().expect("url");
    let pool = sqlx::SqlitePool::connect_with(options.create_if_missing(true)).await.expect("sqlite");
    sqlx::raw_sql("CREATE TABLE items (id INTEGER PRIMARY KEY)").execute(&pool).await.expect("setup");

    let mut server = mcp_core::config::StdioServer::new(
        mcptk(),
        ["serve", "sql", url.as_str(), "--generate-model", "fake", "--generate-base-url", base.as_str()],
    );
    server.env.insert("OPENAI_API_KEY".into(), "sk-test-cli".into());
    let client = mcp_core::Client::spawn("sql", &server, mcp_core::ClientOptions::default()).await.expect("starts");
    let args = serde_json::json!({"description": "how many items?"}).as_object().cloned().unwrap_or_default();
    let result = client.call_tool("generate_query", args).await.expect("result");
    assert!(!result.is_error(), "{}", result.text_content());
    let generated = result.structured_content.expect("structured");
    assert_eq!(generated["sql"], "SELECT count(*) FROM items");
    assert!(generated["plan"]["rows"].as_array().is_some_and(|r| !r.is_empty()), "{generated}");
}

#[derive(Debug)]
struct OneRoot(String);

#[async_trait::async_trait]
impl mcp_core::InputHandler for OneRoot {
    async fn roots(&self) -> Result<serde_json::Value, mcp_core::protocol::ErrorObject> {
        Ok(serde_json::json!({"roots": [{"uri": format!("file://{}", self.0), "name": "project"}]}))
    }
}

#[tokio::test]
async fn serve_fs_takes_its_directories_from_the_clients_roots() {
    fs_from_roots(mcp_core::EraPreference::Handshake).await;
}

/// In the stateless era there are no server-to-client requests: the server answers the first
/// call with an input-required result asking for `roots/list`, and the client calls again with
/// its roots.
#[tokio::test]
async fn serve_fs_takes_its_directories_from_the_clients_roots_in_the_stateless_era() {
    fs_from_roots(mcp_core::EraPreference::Modern).await;
}

async fn fs_from_roots(era: mcp_core::EraPreference) {
    let dir = tempfile::tempdir().expect("temp");
    let root = dir.path().canonicalize().expect("canonical");
    std::fs::write(root.join("inside.txt"), "from the client's root\n").expect("write");
    let options = mcp_core::ClientOptions {
        era,
        capabilities: mcp_core::protocol::ClientCapabilities::default().with_roots(),
        input: Some(std::sync::Arc::new(OneRoot(root.display().to_string()))),
        ..Default::default()
    };
    let server = mcp_core::config::StdioServer::new(mcptk(), ["serve", "fs"]);
    let client = mcp_core::Client::spawn("fs", &server, options).await.expect("starts without directories");
    let args = |v: serde_json::Value| v.as_object().cloned().unwrap_or_default();
    let allowed = client.call_tool("list_allowed_directories", Default::default()).await.expect("result");
    assert_eq!(allowed.text_content(), format!("Allowed directories:\n{}", root.display()));
    let read = client
        .call_tool("read_text_file", args(serde_json::json!({"path": root.join("inside.txt")})))
        .await
        .expect("result");
    assert_eq!(read.text_content(), "from the client's root\n");
    let outside =
        client.call_tool("read_text_file", args(serde_json::json!({"path": "/etc/hostname"}))).await.expect("result");
    assert!(outside.is_error());

    // A client without roots gets a clear error from a server started without directories.
    let options = mcp_core::ClientOptions { era, ..Default::default() };
    let plain = mcp_core::Client::spawn("fs", &server, options).await.expect("starts");
    let refused = plain.call_tool("list_allowed_directories", Default::default()).await.expect("result");
    assert!(
        refused.is_error() && refused.text_content().contains("no allowed directories"),
        "{}",
        refused.text_content()
    );
}

#[derive(Debug)]
struct DeclaredRoots(Vec<std::path::PathBuf>);

#[async_trait::async_trait]
impl mcp_core::InputHandler for DeclaredRoots {
    async fn roots(&self) -> Result<serde_json::Value, mcp_core::protocol::ErrorObject> {
        let roots: Vec<serde_json::Value> =
            self.0.iter().map(|p| serde_json::json!({"uri": format!("file://{}", p.display())})).collect();
        Ok(serde_json::json!({ "roots": roots }))
    }
}

/// Starts `args` as a stdio server for a client that declares `roots`, and returns what the
/// server then allows (`list_allowed_directories`, one path per line) and the client.
async fn allowed_with_roots(
    era: mcp_core::EraPreference,
    args: &[&str],
    cwd: &std::path::Path,
    roots: &[std::path::PathBuf],
) -> (Vec<String>, mcp_core::Client) {
    // The handshake era asks with a request; the stateless era with an input-required result.
    let options = mcp_core::ClientOptions {
        era,
        capabilities: mcp_core::protocol::ClientCapabilities::default().with_roots(),
        input: Some(std::sync::Arc::new(DeclaredRoots(roots.to_vec()))),
        ..Default::default()
    };
    let mut server = mcp_core::config::StdioServer::new(mcptk(), args.iter().copied());
    server.cwd = Some(cwd.to_path_buf());
    let client = mcp_core::Client::spawn("fs", &server, options).await.expect("starts");
    let tool = if args.len() == 1 { "fs__list_allowed_directories" } else { "list_allowed_directories" };
    let listed = client.call_tool(tool, Default::default()).await.expect("result");
    let text = listed.text_content();
    let lines = text.lines().skip_while(|l| !l.starts_with('/')).map(str::to_owned).collect();
    (lines, client)
}

#[tokio::test]
async fn a_clients_roots_never_widen_the_configured_directories() {
    roots_never_widen(mcp_core::EraPreference::Handshake).await;
}

#[tokio::test]
async fn a_clients_roots_never_widen_the_configured_directories_in_the_stateless_era() {
    roots_never_widen(mcp_core::EraPreference::Modern).await;
}

async fn roots_never_widen(era: mcp_core::EraPreference) {
    let dir = tempfile::tempdir().expect("temp");
    let base = dir.path().canonicalize().expect("canonical");
    let allowed = base.join("allowed");
    let sub = allowed.join("sub");
    std::fs::create_dir_all(&sub).expect("mkdir");
    std::fs::create_dir_all(base.join("elsewhere")).expect("mkdir");
    std::fs::write(allowed.join("top.txt"), "top\n").expect("write");
    let shown = |p: &std::path::Path| vec![p.display().to_string()];
    let root = std::path::PathBuf::from("/");
    let allowed_arg = allowed.display().to_string();

    // Without --client-roots, declared roots are ignored, "/" included.
    let (listed, _) = allowed_with_roots(era, &["serve", "fs", &allowed_arg], &base, std::slice::from_ref(&root)).await;
    assert_eq!(listed, shown(&allowed));
    // With it, "/" narrows to the configured directory, and a deeper root narrows further.
    let narrowing = ["serve", "fs", &allowed_arg, "--client-roots"];
    let (listed, _) = allowed_with_roots(era, &narrowing, &base, std::slice::from_ref(&root)).await;
    assert_eq!(listed, shown(&allowed));
    let (listed, client) = allowed_with_roots(era, &narrowing, &base, std::slice::from_ref(&sub)).await;
    assert_eq!(listed, shown(&sub));
    let args = serde_json::json!({"path": allowed.join("top.txt")}).as_object().cloned().unwrap_or_default();
    let outside_sub = client.call_tool("read_text_file", args).await.expect("result");
    assert!(outside_sub.is_error(), "{}", outside_sub.text_content());
    // A root that overlaps nothing allows nothing, and says so.
    let (_, client) = allowed_with_roots(era, &narrowing, &base, &[base.join("elsewhere")]).await;
    let refused = client.call_tool("list_allowed_directories", Default::default()).await.expect("result");
    assert!(refused.is_error() && refused.text_content().contains("lie outside the allowed directories"));

    // The default gateway (rooted at its working directory) ignores a client's "/" too.
    let (listed, _) = allowed_with_roots(era, &["serve"], &allowed, &[root]).await;
    assert_eq!(listed, shown(&allowed));
}

#[path = "../../../../tests/support/databases.rs"]
mod databases;

/// `mcptk audit verify --database` checks every replica's chain in a real PostgreSQL (a schema of
/// its own): exit 0 on a good table, 1 naming the replica and record on a tampered one, and the
/// password in the URL is never shown.
#[tokio::test]
async fn audit_verify_checks_every_replica_chain_in_the_database() {
    use mcp_audit::{AuditLog, AuditOptions, NewRecord, Replica, SqlSink};
    let base = databases::postgres_url().expect("always some");
    let password = base
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('@').next())
        .and_then(|credentials| credentials.split(':').nth(1))
        .expect("a URL with a password")
        .to_owned();
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(&base).await.expect("connects");
    let schema = "mcptk_cli_audit_verify";
    for sql in [format!("DROP SCHEMA IF EXISTS {schema} CASCADE"), format!("CREATE SCHEMA {schema}")] {
        sqlx::query(&sql).execute(&admin).await.expect("a fresh schema");
    }
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
    let dir = workdir("audit-verify-database");
    for id in ["gw-a", "gw-b"] {
        let path = dir.join(format!("{id}.jsonl"));
        let sink = SqlSink::connect(&url, &Replica::new(id).expect("valid")).await.expect("connects");
        let (mirror, drain) = sink.start(&path).await.expect("starts");
        let log =
            AuditLog::open(&path, AuditOptions { mirror: Some(mirror), ..AuditOptions::default() }).expect("opens");
        for n in 0..4 {
            let body = NewRecord {
                kind: "tool_call".into(),
                principal: id.into(),
                trace_id: format!("t{n}"),
                ..NewRecord::default()
            };
            log.append(body).await.expect("appends");
        }
        assert!(drain.drain(std::time::Duration::from_secs(10)).await, "mirrored");
    }
    let shown = |out: &std::process::Output| {
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!text.contains(&password), "the password was shown: {text}");
        text
    };

    // The URL from the environment, as `${VAR}`, keeps it off the command line.
    let out = Command::new(mcptk())
        .args(["audit", "verify", "--database", "${MCPTK_TEST_AUDIT_DATABASE}"])
        .env("MCPTK_TEST_AUDIT_DATABASE", &url)
        .output()
        .expect("runs");
    let text = shown(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("ok: replica `gw-a`: 4 records") && text.contains("ok: replica `gw-b`: 4 records"), "{text}");

    let edit = "UPDATE mcp_audit SET line = REPLACE(line, '\"t2\"', '\"t9\"') WHERE replica = 'gw-b' AND seq = 3";
    let pool = sqlx::AnyPool::connect(&url).await.expect("connects");
    sqlx::query(edit).execute(&pool).await.expect("tampers");
    let out = Command::new(mcptk()).args(["audit", "verify", "--database", &url]).output().expect("runs");
    let text = shown(&out);
    assert_eq!(out.status.code(), Some(5), "{text}");
    assert!(text.contains("ok: replica `gw-a`: 4 records"), "{text}");
    assert!(text.contains("bad: replica `gw-b`, record 3: its line's hash does not match its content"), "{text}");
    assert!(text.contains("the 2 records of replica `gw-b` before it verify"), "{text}");

    // A refused connection names the database by its scheme only.
    let wrong = url.replacen(&format!(":{password}@"), ":not-the-Secret-42@", 1);
    let out = Command::new(mcptk()).args(["audit", "verify", "--database", &wrong]).output().expect("runs");
    let text = shown(&out);
    assert!(
        !out.status.success() && !text.contains("not-the-Secret-42") && text.contains("postgres audit database"),
        "{text}"
    );
    // A database that cannot be reached is said so in its driver's words (a pool's retries ended
    // in "pool timed out" after 30 s), with status 1.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = closed.local_addr().expect("address").port();
    drop(closed);
    let nowhere = format!("postgres://mcptk:{password}@127.0.0.1:{port}/nothing");
    let out = Command::new(mcptk()).args(["audit", "verify", "--database", &nowhere]).output().expect("runs");
    let text = shown(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("postgres audit database") && text.contains("refused"), "{text}");
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(&admin).await.expect("drops");
}
