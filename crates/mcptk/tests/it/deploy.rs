//! `deploy/Dockerfile`, built and run with Podman (`tests/services.sh` starts its API service:
//! `MCPTK_TEST_DOCKER_HOST`) without any registry: the runtime base is imported from a tarball of
//! exactly what the binary needs (its `ldd` libraries, the loader, a passwd entry for its user),
//! passed as the `RUNTIME_IMAGE` build argument, and the `prebuilt` target takes the `mcptk` under
//! test from the context. The image must then run as its non-root user and serve the gateway over
//! HTTP, both as a plain `podman run` and locked down the way the Kubernetes manifests run it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http::free_port;
use crate::support::{mcptk, root};

/// The uid and gid the image runs as (`USER` in the Dockerfile).
const USER: u32 = 65532;

/// Podman's API address, or `None` (the reason printed) outside CI when it was not started.
fn engine() -> Option<String> {
    crate::services::service("MCPTK_TEST_DOCKER_HOST", "Podman")
}

/// The `podman` command line, talking to the service at `url`; removes what it made when dropped.
struct Podman {
    url: String,
    images: Vec<String>,
    containers: Vec<String>,
}

impl Podman {
    fn command(&self) -> Command {
        let mut command = Command::new("podman");
        command.arg("--url").arg(&self.url);
        command
    }

    fn output(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("podman runs")
    }

    /// Runs `podman ARGS`, which must succeed; returns its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "podman {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        for container in &self.containers {
            let _ = self.command().args(["rm", "--force", container]).output();
        }
        for image in self.images.iter().rev() {
            let _ = self.command().args(["rmi", "--force", image]).output();
        }
    }
}

fn unique(what: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("mcptk-it-{what}-{}-{}", std::process::id(), nanos % 1_000_000_000)
}

/// A root filesystem holding only what `binary` needs to start: the libraries `ldd` names and
/// the loader (copied to the paths `ldd` prints, links resolved), a passwd and group entry for
/// the image's user, and `/tmp`. Returns it as a tarball.
fn runtime_base(binary: &str, dir: &Path) -> PathBuf {
    let rootfs = dir.join("rootfs");
    let out = Command::new("ldd").arg(binary).output().expect("ldd runs");
    assert!(out.status.success(), "ldd {binary}: {}", String::from_utf8_lossy(&out.stderr));
    let listing = String::from_utf8_lossy(&out.stdout);
    let mut copied = 0;
    for path in listing.split_whitespace().filter(|word| word.starts_with('/')) {
        let inside = rootfs.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(inside.parent().expect("a parent")).expect("mkdir");
        std::fs::copy(path, &inside).unwrap_or_else(|e| panic!("copying {path}: {e}"));
        copied += 1;
    }
    assert!(copied >= 2, "ldd names the libraries and the loader: {listing}");
    for empty in ["tmp", "var/lib", "srv", "etc"] {
        std::fs::create_dir_all(rootfs.join(empty)).expect("mkdir");
    }
    let users =
        format!("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{USER}:{USER}:nonroot:/home/nonroot:/sbin/nologin\n");
    std::fs::write(rootfs.join("etc/passwd"), users).expect("passwd");
    std::fs::write(rootfs.join("etc/group"), format!("root:x:0:\nnonroot:x:{USER}:\n")).expect("group");
    // /tmp is world-writable with the sticky bit, as in any base image.
    std::fs::set_permissions(rootfs.join("tmp"), std::os::unix::fs::PermissionsExt::from_mode(0o1777)).expect("chmod");
    let tarball = dir.join("base.tar");
    let status = Command::new("tar")
        .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tarball)
        .arg(".")
        .status()
        .expect("tar runs");
    assert!(status.success(), "tar failed");
    tarball
}

/// The build context of the `prebuilt` target: the Dockerfile, the files it copies from the
/// repository, and the binary under test (stripped when `strip` is there: the image is smaller
/// and builds faster).
fn context(dir: &Path) -> PathBuf {
    let context = dir.join("context");
    let repo = root();
    for file in
        ["deploy/Dockerfile", "deploy/k8s/base/gateway.json", "deploy/image/state/README", "deploy/image/data/README"]
    {
        let to = context.join(file);
        std::fs::create_dir_all(to.parent().expect("a parent")).expect("mkdir");
        std::fs::copy(repo.join(file), &to).unwrap_or_else(|e| panic!("copying {file}: {e}"));
    }
    let binary = context.join("mcptk");
    let stripped = Command::new("strip").arg("-o").arg(&binary).arg(mcptk()).status().is_ok_and(|s| s.success());
    if !stripped {
        std::fs::copy(mcptk(), &binary).expect("copying the binary");
    }
    context
}

/// Waits for `GET /healthz` to answer 200 on `port`, then asks `/readyz`: both as a kubelet
/// asks, with no bearer token and the pod's address as the Host. On a timeout, shows the log.
async fn healthy(podman: &Podman, container: &str, port: u16) {
    let probe = |path: &str| {
        reqwest::Client::new().get(format!("http://127.0.0.1:{port}{path}")).header("host", "10.244.1.17:8080").send()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = probe("/healthz").await {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            assert_eq!((status.as_u16(), body.trim()), (200, "ok"), "/healthz");
            break;
        }
        if Instant::now() > deadline {
            let logs = podman.output(&["logs", container]);
            panic!("{container} did not serve /healthz: {}", String::from_utf8_lossy(&logs.stderr));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Serving from the start, it is ready once its servers have started.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = probe("/readyz").await.expect("/readyz answers");
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if body.trim() != "not ready: the servers are starting" || Instant::now() > deadline {
            assert_eq!((status.as_u16(), body.trim()), (200, "ok"), "/readyz");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A session key for the test (64 hex digits, i.e. 32 bytes); not secret, only distinct.
fn session_key() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{nanos:032x}{:032x}", u128::from(std::process::id()))
}

/// One JSON-RPC request of the stateless era to `/mcp`, answered as JSON.
async fn rpc(port: u16, token: &str, method: &str, params: Value) -> Value {
    let mut params = params;
    params["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2026-07-28");
    params["_meta"]["io.modelcontextprotocol/clientCapabilities"] = json!({});
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let mut request = crate::http::post_json(&format!("http://127.0.0.1:{port}/mcp"), &body)
        .bearer_auth(token)
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(name) = params["name"].as_str() {
        request = request.header("mcp-name", name);
    }
    let response = request.send().await.expect("answers");
    assert_eq!(response.status(), 200, "{method}");
    response.json().await.expect("a JSON answer")
}

/// The uid and gid the container's main process runs as, read from /proc on this host.
fn process_ids(podman: &Podman, container: &str) -> (String, String) {
    let pid = podman.ok(&["inspect", "--format", "{{.State.Pid}}", container]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).expect("the process's status");
    let field = |name: &str| {
        let line = status.lines().find(|l| l.starts_with(name)).expect("a status line");
        line.split_whitespace().skip(1).collect::<Vec<_>>().join(" ")
    };
    (field("Uid:"), field("Gid:"))
}

#[tokio::test]
async fn the_image_builds_from_a_prebuilt_binary_and_serves_the_gateway_as_a_non_root_user() {
    let Some(url) = engine() else { return };
    mcp_core::transport::install_crypto_provider();
    let mut podman = Podman { url, images: Vec::new(), containers: Vec::new() };
    let scratch = tempfile::tempdir().expect("a temporary directory");

    // A base made here, and the image built on it from the binary under test: no registry.
    let base = format!("localhost/{}:test", unique("deploy-base"));
    let tarball = runtime_base(&mcptk(), scratch.path());
    podman.ok(&["import", &tarball.display().to_string(), &base]);
    podman.images.push(base.clone());
    let image = format!("localhost/{}:test", unique("deploy"));
    let context = context(scratch.path());
    let dockerfile = context.join("deploy/Dockerfile").display().to_string();
    let base_arg = format!("RUNTIME_IMAGE={base}");
    podman.images.push(image.clone());
    let context_arg = context.display().to_string();
    let build = ["build", "--layers=false", "--pull=never", "--target", "prebuilt", "--build-arg", &base_arg];
    podman
        .ok(&[&build[..], &["--build-arg", "MCPTK_BINARY=mcptk", "-t", &image, "-f", &dockerfile, &context_arg]]
            .concat());

    // What the image declares.
    let inspected: Value =
        serde_json::from_str(&podman.ok(&["image", "inspect", "--format", "json", &image])).expect("json");
    let config = &inspected[0]["Config"];
    assert_eq!(config["User"], format!("{USER}:{USER}"));
    assert!(config["ExposedPorts"].get("8080/tcp").is_some(), "port 8080 is exposed: {config}");
    assert_eq!(config["Entrypoint"], json!(["/usr/local/bin/mcptk"]));
    let cmd: Vec<String> = serde_json::from_value(config["Cmd"].clone()).expect("a command");
    assert_eq!(cmd, ["serve", "--config", "/etc/mcptk/gateway.json", "--http", "0.0.0.0:8080"]);

    // The entrypoint is the binary under test.
    let version = podman.ok(&["run", "--rm", "--network", "host", &image, "--version"]);
    assert_eq!(version.trim(), format!("mcptk {}", env!("CARGO_PKG_VERSION")));

    // Served twice: as `podman run` gives it (the image's own state directory), then locked down
    // like the Kubernetes pod (read-only root, no capabilities, no privilege escalation, the
    // state on a scratch volume). The default command, on a free loopback port of this host.
    // (The state volume stands in for the pod's emptyDir: a directory anyone may write to, as
    // the pod's fsGroup makes it for the gateway's user.)
    let token = unique("token");
    let key = format!("MCPTK_SESSION_KEY={}", session_key());
    let state = scratch.path().join("state");
    std::fs::create_dir(&state).expect("mkdir");
    std::fs::set_permissions(&state, std::os::unix::fs::PermissionsExt::from_mode(0o777)).expect("chmod");
    let volume = format!("--volume={}:/var/lib/mcptk", state.display());
    let lockdown = ["--read-only", "--cap-drop=ALL", "--security-opt=no-new-privileges", &volume];
    for (how, extra) in [("plain", &[][..]), ("locked down", &lockdown[..])] {
        let port = free_port();
        let name = unique("deploy-run");
        let mut args = cmd.clone();
        let http = args.iter().position(|a| a == "--http").expect("--http") + 1;
        args[http] = format!("127.0.0.1:{port}");
        let tokens = format!("MCPTK_HTTP_TOKENS=deploy-test={token}");
        let mut run = vec!["run", "--detach", "--name", &name, "--network", "host", "--env", &tokens, "--env", &key];
        run.extend_from_slice(extra);
        run.push(&image);
        run.extend(args.iter().map(String::as_str));
        podman.containers.push(name.clone());
        podman.ok(&run);

        healthy(&podman, &name, port).await;
        let (uid, gid) = process_ids(&podman, &name);
        assert_eq!(uid, format!("{USER} {USER} {USER} {USER}"), "{how}: the gateway runs as uid {USER}");
        assert_eq!(gid, format!("{USER} {USER} {USER} {USER}"), "{how}: and gid {USER}");

        let listed = rpc(port, &token, "tools/list", json!({})).await;
        let names: Vec<&str> =
            listed["result"]["tools"].as_array().expect("tools").iter().filter_map(|t| t["name"].as_str()).collect();
        for expected in ["builtin__add", "fs__read_text_file", "fs__list_directory", "gateway__check_access"] {
            assert!(names.contains(&expected), "{how}: {expected} is served: {names:?}");
        }
        assert!(!names.contains(&"fs__write_file"), "{how}: the example policy hides writing tools: {names:?}");
        // A call goes through the whole pipeline, its audit record made durable on the state
        // directory, before it is answered.
        let added =
            rpc(port, &token, "tools/call", json!({"name": "builtin__add", "arguments": {"a": 2, "b": 40}})).await;
        assert_eq!(added["result"]["structuredContent"]["sum"], 42, "{how}: {added}");
        if how == "locked down" {
            let log = std::fs::read_to_string(state.join("audit/audit.jsonl")).expect("the audit log on the volume");
            let audited = log.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).any(|r| {
                r["principal"] == "deploy-test"
                    && r["server"] == "builtin"
                    && r["tool"] == "add"
                    && r["outcome"] == "ok"
            });
            assert!(audited, "{how}: the call is audited on the state volume: {log}");
        }
        // SIGTERM (what Kubernetes sends after the preStop sleep) reaches the gateway as PID 1
        // and ends it cleanly, long before the stop timeout would kill it.
        let stopping = Instant::now();
        podman.ok(&["stop", "--time", "60", &name]);
        assert!(stopping.elapsed() < Duration::from_secs(30), "{how}: stopped by SIGTERM, not killed");
        let code = podman.ok(&["inspect", "--format", "{{.State.ExitCode}}", &name]);
        assert_eq!(code.trim(), "0", "{how}: exits 0 on SIGTERM");
        podman.ok(&["rm", "--force", &name]);
    }
}

/// The example overlay's Secret holds placeholders (`overlays/example/secrets.env`): a gateway
/// given them must refuse to start rather than run with a session key anyone can read.
#[test]
fn the_example_secret_placeholders_keep_the_gateway_from_starting() {
    let file = root().join("deploy/k8s/overlays/example/secrets.env");
    let text = std::fs::read_to_string(&file).expect("secrets.env");
    let env: Vec<(&str, &str)> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split_once('=').expect("KEY=VALUE"))
        .collect();
    let keys: Vec<&str> = env.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, ["MCPTK_SESSION_KEY", "MCPTK_HTTP_TOKENS"]);
    assert!(env.iter().all(|(_, v)| v.contains("REPLACE_ME")), "every value is a marked placeholder");

    let scratch = tempfile::tempdir().expect("a temporary directory");
    let addr = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(mcptk())
        .args(["serve", "builtin", "--http", &addr])
        .current_dir(scratch.path())
        .env_remove("MCPTK_HTTP_TOKEN")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("waits") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the gateway started with the placeholder session key");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr).expect("reads");
    assert!(!status.success(), "refused: {stderr}");
    assert!(stderr.contains("MCPTK_SESSION_KEY"), "the error names the variable: {stderr}");
    assert!(!stderr.contains("REPLACE_ME"), "the error does not repeat the value: {stderr}");

    // With a real key, the placeholder token is refused too, without showing it.
    let tokens = env.iter().find(|(k, _)| *k == "MCPTK_HTTP_TOKENS").expect("tokens").1;
    let out = Command::new(mcptk())
        .args(["serve", "builtin", "--http", &addr])
        .current_dir(scratch.path())
        .env_remove("MCPTK_HTTP_TOKEN")
        .env("MCPTK_SESSION_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
        .env("MCPTK_HTTP_TOKENS", tokens)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "refused: {stderr}");
    assert!(stderr.contains("MCPTK_HTTP_TOKENS") && stderr.contains("placeholder"), "{stderr}");
    let token = tokens.split_once('=').expect("principal=token").1;
    assert!(!stderr.contains(token), "the error does not show the token: {stderr}");
}
