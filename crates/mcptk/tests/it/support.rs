//! Where the test peers live, and helpers to start them.

use std::path::PathBuf;
use std::process::Command;

use mcp_core::config::StdioServer;
use serde_json::{Value, json};

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A file installed by `cargo xtask setup`; panics with how to install it when missing.
pub fn installed(relative: &str) -> PathBuf {
    let path = root().join(relative);
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask setup` (or `cargo xtask test`) to install the test peers",
        path.display()
    );
    path
}

/// Python with the `mcp` 2.x SDK and `openai-agents`.
pub fn python_mcp2() -> PathBuf {
    installed(".tools/py-mcp2/bin/python")
}

/// Python with the `mcp` 1.x SDK.
pub fn python_mcp1() -> PathBuf {
    installed(".tools/py-mcp1/bin/python")
}

/// The `mcptk` binary under test.
pub fn mcptk() -> String {
    env!("CARGO_BIN_EXE_mcptk").to_owned()
}

/// npm's reference server with every protocol feature.
pub fn everything() -> StdioServer {
    let bin = installed("tests/node/node_modules/.bin/mcp-server-everything");
    StdioServer::new(bin.display().to_string(), ["stdio"])
}

/// A Python `mcp` 2.x server speaking `2026-07-28`.
pub fn python_modern_server() -> StdioServer {
    let script = root().join("tests/python/server_modern.py");
    StdioServer::new(python_mcp2().display().to_string(), [script.display().to_string()])
}

/// Runs a Python client script against `mcptk serve builtin` and parses the JSON it prints.
pub fn run_python_client(python: PathBuf, script: &str) -> serde_json::Value {
    run_python_client_of(python, script, &["serve", "builtin"])
}

/// Runs a Python client script against `mcptk` with `args` and parses the JSON it prints.
pub fn run_python_client_of(python: PathBuf, script: &str, args: &[&str]) -> serde_json::Value {
    let output = Command::new(python)
        .arg(root().join("tests/python").join(script))
        .arg(mcptk())
        .args(args)
        .output()
        .expect("python starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{script} failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}", output.status);
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{script} printed no JSON ({e}):\n{stdout}\n{stderr}"))
}

/// The text of the file every scratch directory holds.
pub const HELLO: &str = "hello from mcptk\n";

/// A directory for one `mcptk serve` under test: it runs there with `HOME` pointing there too, so
/// nothing is read from or written to the real home. Holds `hello.txt` and the SQLite database
/// `shop.db` (table `items`: tea 2.5, cake 4.0).
pub struct Scratch {
    _dir: tempfile::TempDir,
    /// The directory, canonical (the filesystem server reports canonical paths).
    pub path: PathBuf,
}

impl Scratch {
    pub fn new() -> Scratch {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().canonicalize().expect("canonical temp dir");
        std::fs::write(path.join("hello.txt"), HELLO).expect("writes hello.txt");
        let url = format!("sqlite:{}", path.join("shop.db").display());
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        runtime.block_on(async {
            let options: sqlx::sqlite::SqliteConnectOptions = url.parse().expect("sqlite url");
            let pool = sqlx::SqlitePool::connect_with(options.create_if_missing(true)).await.expect("creates shop.db");
            sqlx::raw_sql(
                "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL NOT NULL);
                 INSERT INTO items (id, name, price) VALUES (1, 'tea', 2.5), (2, 'cake', 4.0);",
            )
            .execute(&pool)
            .await
            .expect("fills shop.db");
            pool.close().await;
        });
        Scratch { _dir: dir, path }
    }

    /// A path inside, as a string.
    pub fn join(&self, relative: &str) -> String {
        self.path.join(relative).display().to_string()
    }

    /// `command` set up to run here: working directory, `HOME`, and no gateway config from the
    /// environment (the default gateway must run on its embedded defaults).
    pub fn confine<'c>(&self, command: &'c mut Command) -> &'c mut Command {
        command
            .current_dir(&self.path)
            .env("HOME", &self.path)
            .env_remove("MCPTK_CONFIG")
            .env_remove("MCPTK_LOG")
            .env_remove("MCPTK_KEEP_START_PAGES")
            // The allocator's options as built (`.cargo/config.toml`), whatever the shell says.
            .env_remove("MIMALLOC_ARENA_EAGER_COMMIT")
            .env_remove("MIMALLOC_ARENA_RESERVE")
    }
}

/// A tool call the interop tests make, and what its result must hold.
#[derive(Clone)]
pub struct PlannedCall {
    pub tool: &'static str,
    pub arguments: Value,
    /// Text the result's text content must contain.
    pub text: String,
    /// Members the structured content must have, with these values (others may be present).
    pub structured: Option<Value>,
}

impl PlannedCall {
    fn new(tool: &'static str, arguments: Value, text: impl Into<String>) -> PlannedCall {
        PlannedCall { tool, arguments, text: text.into(), structured: None }
    }

    fn structured(mut self, members: Value) -> PlannedCall {
        self.structured = Some(members);
        self
    }

    /// Checks one call's result as a client reported it: its text and structured content.
    /// `Err` says what differs.
    pub fn check(&self, is_error: bool, text: &str, structured: &Value) -> Result<(), String> {
        let tool = self.tool;
        if is_error {
            return Err(format!("{tool}: an error result: {text}"));
        }
        if !text.contains(&self.text) {
            return Err(format!("{tool}: the text {text:?} does not contain {:?}", self.text));
        }
        if let Some(Value::Object(members)) = &self.structured {
            for (key, want) in members {
                if structured.get(key) != Some(want) {
                    return Err(format!("{tool}: structured content {structured} has no `{key}`: {want}"));
                }
            }
        }
        Ok(())
    }
}

/// One way users run `mcptk serve`, with the tools it must list and the calls the interop tests
/// make (one at least of each native server it serves).
pub struct Served {
    pub name: &'static str,
    /// Arguments after `mcptk`.
    pub args: Vec<String>,
    /// Variables `mcptk` runs with (clients pass them on through `env`, as users' configs do).
    pub env: Vec<(String, String)>,
    /// Names it must list (among others).
    pub lists: Vec<&'static str>,
    pub calls: Vec<PlannedCall>,
}

impl Served {
    /// Every way of serving the interop tests cover, by name.
    pub const NAMES: [&'static str; 8] = ["gateway", "builtin", "fs", "shell", "sql", "perplexity", "docker", "k8s"];

    /// `name` (one of [`Served::NAMES`]) serving from `scratch`.
    pub fn new(name: &str, scratch: &Scratch) -> Served {
        let hello = scratch.join("hello.txt");
        let strings = |args: &[&str]| args.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let cat = || json!({"command": ["cat", "hello.txt"]});
        let shell_result = json!({"exitCode": 0, "stdout": HELLO});
        match name {
            // The default gateway on its embedded defaults: fs rooted here, read-only shell.
            "gateway" => Served {
                name: "gateway",
                env: Vec::new(),
                args: strings(&["serve"]),
                lists: vec![
                    "gateway__check_access",
                    "gateway__log_event",
                    "fs__read_text_file",
                    "fs__list_allowed_directories",
                    "shell__shell_execute",
                    "shell__execute",
                ],
                calls: vec![
                    PlannedCall::new("fs__read_text_file", json!({"path": hello}), HELLO.trim_end()),
                    PlannedCall::new("shell__shell_execute", cat(), HELLO.trim_end()).structured(shell_result),
                    PlannedCall::new(
                        "gateway__check_access",
                        json!({"resource": "fs__read_text_file", "action": "call"}),
                        "allowed",
                    )
                    .structured(json!({"allowed": true, "rule": "default"})),
                    PlannedCall::new(
                        "gateway__log_event",
                        json!({"action": "interop.check"}),
                        "recorded as audit record",
                    ),
                ],
            },
            "builtin" => Served {
                name: "builtin",
                env: Vec::new(),
                args: strings(&["serve", "builtin"]),
                lists: vec!["echo", "add", "slow"],
                calls: vec![
                    PlannedCall::new("echo", json!({"text": "héllo, interop"}), "héllo, interop"),
                    PlannedCall::new("add", json!({"a": 2, "b": 40}), "42").structured(json!({"sum": 42})),
                ],
            },
            "fs" => Served {
                name: "fs",
                env: Vec::new(),
                args: vec!["serve".into(), "fs".into(), scratch.path.display().to_string()],
                lists: vec!["read_text_file", "list_directory", "list_allowed_directories", "write_file"],
                calls: vec![
                    PlannedCall::new("read_text_file", json!({"path": hello}), HELLO.trim_end()),
                    PlannedCall::new("list_directory", json!({"path": scratch.join("")}), "[FILE] hello.txt"),
                ],
            },
            "shell" => Served {
                name: "shell",
                env: Vec::new(),
                args: vec![
                    "serve".into(),
                    "shell".into(),
                    "--allow".into(),
                    "ls,cat".into(),
                    "--root".into(),
                    scratch.path.display().to_string(),
                ],
                lists: vec!["shell_execute", "execute"],
                calls: vec![
                    PlannedCall::new("shell_execute", cat(), HELLO.trim_end()).structured(shell_result),
                    PlannedCall::new("execute", json!({"command": "ls"}), "shop.db"),
                ],
            },
            "sql" => Served {
                name: "sql",
                env: Vec::new(),
                args: vec!["serve".into(), "sql".into(), format!("sqlite:{}", scratch.join("shop.db"))],
                lists: vec!["read_query", "query", "list_tables", "describe_table"],
                calls: vec![
                    PlannedCall::new(
                        "read_query",
                        json!({"query": "SELECT name, price FROM items ORDER BY id"}),
                        "tea",
                    ),
                    PlannedCall::new("list_tables", json!({}), "items")
                        .structured(json!({"rows": [["main", "items", "table"]]})),
                ],
            },
            // Perplexity's tools over a loopback stand-in for its Search API (no live API here).
            "perplexity" => Served {
                name: "perplexity",
                env: vec![
                    ("PERPLEXITY_API_KEY".into(), PERPLEXITY_TEST_KEY.into()),
                    ("PERPLEXITY_BASE_URL".into(), search_api_stand_in()),
                ],
                args: strings(&["serve", "perplexity"]),
                lists: vec!["perplexity_ask", "perplexity_reason", "perplexity_research", "perplexity_search"],
                calls: vec![PlannedCall::new(
                    "perplexity_search",
                    json!({"query": "emma austen", "max_results": 1}),
                    "https://en.example/emma",
                )],
            },
            // The container engine of tests/services.sh (Podman's Docker-compatible API).
            "docker" => Served {
                name: "docker",
                env: vec![("DOCKER_HOST".into(), test_engine())],
                args: strings(&["serve", "docker"]),
                lists: vec!["list_containers", "list_images", "run_container", "create-container", "list-containers"],
                calls: vec![PlannedCall::new("list_images", json!({}), "mcptk-busybox")],
            },
            // The FAKE Kubernetes API server of mcp-k8s's tests (no real one can run here; those
            // tests check it against the real Go server), through a kubeconfig in the scratch.
            "k8s" => {
                let kubeconfig = scratch.join("kubeconfig");
                std::fs::write(&kubeconfig, fake_cluster()).expect("writes the kubeconfig");
                Served {
                    name: "k8s",
                    env: Vec::new(),
                    args: vec!["serve".into(), "k8s".into(), "--kubeconfig".into(), kubeconfig],
                    lists: vec!["pods_list", "pods_get", "pods_log", "resources_get", "namespaces_list"],
                    calls: vec![
                        PlannedCall::new("pods_get", json!({"namespace": "default", "name": "web-1"}), "name: web-1"),
                        PlannedCall::new("pods_log", json!({"namespace": "team-a", "name": "api-1"}), "api ready"),
                    ],
                }
            }
            other => panic!("no served configuration named {other}"),
        }
    }

    /// The command line a client starts: `mcptk` and [`Served::args`], behind `env` with the
    /// variables when there are any (clients start servers with a minimal environment of their own).
    pub fn command_line(&self) -> Vec<String> {
        let mut line = Vec::new();
        if !self.env.is_empty() {
            line.push("env".to_owned());
            line.extend(self.env.iter().map(|(k, v)| format!("{k}={v}")));
        }
        line.push(mcptk());
        line.extend(self.args.iter().cloned());
        line
    }

    /// The plan handed to a client script: `{"calls": [{"name", "arguments"}]}`.
    pub fn plan(&self) -> Value {
        let calls: Vec<Value> = self.calls.iter().map(|c| json!({"name": c.tool, "arguments": c.arguments})).collect();
        json!({ "calls": calls })
    }
}

/// A fake Kubernetes API server, alive for the rest of the test process (on a thread of its own,
/// with its own runtime), and the kubeconfig that reaches it.
fn fake_cluster() -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build();
        let runtime = runtime.expect("a runtime for the fake API server");
        runtime.block_on(async move {
            let api = crate::k8s::fake::FakeApi::start("k8s-interop-token").await;
            let _ = tx.send(api.kubeconfig(false));
            std::future::pending::<()>().await;
        });
    });
    rx.recv().expect("the fake API server starts")
}

/// The container engine the tests use (`MCPTK_TEST_DOCKER_HOST`, set by `cargo xtask test`).
fn test_engine() -> String {
    std::env::var("MCPTK_TEST_DOCKER_HOST").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| {
        panic!("MCPTK_TEST_DOCKER_HOST is not set: `cargo xtask services` starts the engine and prints it")
    })
}

/// The key `mcptk serve perplexity` runs with in the interop tests (not a real key).
const PERPLEXITY_TEST_KEY: &str = "pplx-interop-test-key";

/// A loopback stand-in for Perplexity's Search API, alive for the rest of the test process:
/// `POST /search` with the test key answers one result whatever was asked; another path is 404,
/// another key 401 (so a server that calls the wrong endpoint or drops the key fails the call).
/// Returns its base URL.
fn search_api_stand_in() -> String {
    use std::io::{BufRead as _, Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("its address"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = std::io::BufReader::new(&stream);
                let (mut line, mut length, mut authorized) = (String::new(), 0usize, false);
                let _ = reader.read_line(&mut line);
                let searched = line.starts_with("POST /search ");
                line.clear();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    if let Some((name, value)) = line.split_once(':') {
                        if name.eq_ignore_ascii_case("content-length") {
                            length = value.trim().parse().unwrap_or(0);
                        } else if name.eq_ignore_ascii_case("authorization") {
                            authorized = value.trim() == format!("Bearer {PERPLEXITY_TEST_KEY}");
                        }
                    }
                    line.clear();
                }
                let mut body = vec![0; length.min(1 << 20)];
                let _ = reader.read_exact(&mut body);
                let (status, answer) = match (searched, authorized) {
                    (false, _) => ("404 Not Found", json!({"error": {"message": "no such endpoint"}})),
                    (true, false) => ("401 Unauthorized", json!({"error": {"message": "bad key"}})),
                    (true, true) => (
                        "200 OK",
                        json!({"id": "s1", "results": [{"title": "Emma (novel)",
                        "url": "https://en.example/emma", "snippet": "A novel by Jane Austen, published in 1815.",
                        "date": "1815-12-23"}]}),
                    ),
                };
                let answer = answer.to_string();
                let _ = write!(
                    &stream,
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            });
        }
    });
    url
}

/// The revisions of the `initialize` handshake era that `mcptk serve` speaks, oldest first.
pub const HANDSHAKE_REVISIONS: [&str; 3] = ["2025-03-26", "2025-06-18", "2025-11-25"];
/// The stateless revision: `server/discover`, and `_meta` on every request.
pub const MODERN_REVISION: &str = "2026-07-28";

/// `mcptk` driven over stdio with raw JSON-RPC lines in one protocol revision, as a client of
/// that revision would: nothing of our own client in between.
pub struct Wire {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
    next_id: u64,
    revision: &'static str,
}

impl Wire {
    /// Starts `mcptk` with `served`'s arguments in `scratch` and opens the session in
    /// `revision`: `initialize` then `notifications/initialized`, or `server/discover` in
    /// the modern era. Returns the wire and the answer to the opening request.
    pub fn open(served: &Served, scratch: &Scratch, revision: &'static str) -> (Wire, Value) {
        use std::io::BufRead as _;
        use std::process::Stdio;

        let mut command = Command::new(mcptk());
        // The served variables after the confinement, which clears what a shell may have set.
        scratch
            .confine(command.args(&served.args))
            .envs(served.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut child = command.spawn().expect("mcptk starts");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut wire = Wire { child, stdin, lines, next_id: 0, revision };
        let opened = if revision == MODERN_REVISION {
            wire.request("server/discover", json!({}))
        } else {
            let opened = wire.request(
                "initialize",
                json!({
                    "protocolVersion": revision,
                    "capabilities": {},
                    "clientInfo": {"name": "mcptk-wire-tests", "version": "1.0.0"},
                }),
            );
            wire.notify("notifications/initialized");
            opened
        };
        let opened = opened.unwrap_or_else(|e| panic!("{} in {revision}: the session did not open: {e}", served.name));
        (wire, opened)
    }

    /// The process id of the `mcptk` it drives.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a request and waits for its answer: the result, or the JSON-RPC error object.
    /// In the modern era the request carries the revision, client info and capabilities in
    /// `_meta`. Notifications that arrive meanwhile are skipped; requests from the server are
    /// refused with -32601 (this client declares no capabilities).
    pub fn request(&mut self, method: &str, mut params: Value) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        if self.revision == MODERN_REVISION {
            params["_meta"] = json!({
                "io.modelcontextprotocol/protocolVersion": MODERN_REVISION,
                "io.modelcontextprotocol/clientInfo": {"name": "mcptk-wire-tests", "version": "1.0.0"},
                "io.modelcontextprotocol/clientCapabilities": {},
            });
        }
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let line = self
                .lines
                .recv_timeout(std::time::Duration::from_secs(60))
                .unwrap_or_else(|e| panic!("no answer to {method} in {}: {e}", self.revision));
            let message: Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON on stdout ({e}): {line}"));
            if message.get("method").is_some() {
                if let Some(request_id) = message.get("id") {
                    let refusal = json!({"code": -32601, "message": "this client serves no requests"});
                    self.send(&json!({"jsonrpc": "2.0", "id": request_id, "error": refusal}));
                }
                continue;
            }
            if message["id"] != json!(id) {
                panic!("an answer to an unknown request while waiting for {method} (id {id}): {line}");
            }
            return match (message.get("result"), message.get("error")) {
                (Some(result), None) => Ok(result.clone()),
                (None, Some(error)) => Err(error.clone()),
                _ => panic!("neither a result nor an error: {line}"),
            };
        }
    }

    /// Every page of a list method: the results, in order.
    pub fn pages(&mut self, method: &str) -> Vec<Value> {
        let mut pages = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let params = match &cursor {
                Some(c) => json!({"cursor": c}),
                None => json!({}),
            };
            let page = self.request(method, params).unwrap_or_else(|e| panic!("{method} in {}: {e}", self.revision));
            cursor = page.get("nextCursor").and_then(Value::as_str).map(str::to_owned);
            pages.push(page);
            if cursor.is_none() {
                return pages;
            }
            assert!(pages.len() < 100, "{method} in {}: more than 100 pages", self.revision);
        }
    }

    fn notify(&mut self, method: &str) {
        self.send(&json!({"jsonrpc": "2.0", "method": method}));
    }

    fn send(&mut self, message: &Value) {
        use std::io::Write as _;
        writeln!(self.stdin, "{message}").and_then(|()| self.stdin.flush()).expect("mcptk reads its stdin");
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `command` to its end, within `limit`: its exit status (`None` when it was killed for
/// running longer), stdout and stderr.
pub fn run_within(
    command: &mut Command,
    limit: std::time::Duration,
) -> (Option<std::process::ExitStatus>, String, String) {
    run_fed(command, std::process::Stdio::null(), limit)
}

/// [`run_within`] with `input` as the command's stdin.
pub fn run_fed(
    command: &mut Command,
    input: std::process::Stdio,
    limit: std::time::Duration,
) -> (Option<std::process::ExitStatus>, String, String) {
    use std::io::Read as _;
    use std::process::Stdio;

    let mut child = command
        .stdin(input)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let status = wait_within(&mut child, limit);
    (status, stdout.join().unwrap_or_default(), stderr.join().unwrap_or_default())
}

/// Waits for `child` to end within `limit`: its exit status, or `None` when it was killed for
/// running longer.
pub fn wait_within(child: &mut std::process::Child, limit: std::time::Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        match child.try_wait().expect("waits for the child") {
            Some(status) => return Some(status),
            None if std::time::Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            None => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
}
