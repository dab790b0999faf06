//! `pods_exec` running real commands, and progress. The API server is the FAKE of `fake.rs`,
//! whose `exec` stands in for a kubelet: it runs the command on this machine as an argv (no
//! shell), in a scratch directory per pod, with a timeout and capped output, and streams it on
//! the websocket channels client-go and kube-rs speak. The real Go server (client-go) and our
//! native server are pointed at the same fake and must answer the same.

use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use mcp_core::{CallEvent, Client};
use mcp_k8s::native::{K8sConfig, MAX_EXEC_OUTPUT};
use serde_json::{Value, json};

use crate::support::{Cluster, TOKEN, call, go, go_server_bin, native};

/// `tool` with `arguments` through both backends: the answers must be the same (text and error
/// flag) and never show the token. The common answer.
async fn agree(go: &Client, native: &Client, tool: &str, arguments: Value) -> (String, bool) {
    let theirs = call(go, tool, arguments.clone()).await;
    let ours = call(native, tool, arguments.clone()).await;
    let (t, o) = ((theirs.text_content(), theirs.is_error()), (ours.text_content(), ours.is_error()));
    assert_eq!(o, t, "{tool} {arguments}: native (left) and Go (right) differ");
    assert!(!o.0.contains(TOKEN), "{tool} {arguments} showed the token: {}", o.0);
    o
}

fn exec(pod: &str, command: &[&str]) -> Value {
    json!({"name": pod, "command": command})
}

/// The exec requests the fake upgraded: (offered, chosen) subprotocols.
fn negotiated(cluster: &Cluster) -> Vec<(String, String)> {
    cluster
        .fake
        .seen()
        .into_iter()
        .filter(|s| s.method == "EXEC" && !s.protocols.0.is_empty())
        .map(|s| s.protocols)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_runs_the_command_and_both_backends_agree() {
    let Some(bin) = go_server_bin() else { return };
    let cluster = Cluster::start(false).await;
    let (go_client, native_client) = (go(&cluster, &bin, &[]).await, native(cluster.config()).await);
    let (go_client, native_client) = (&*go_client, &*native_client);

    let failed = "failed to exec in pod web-1 in namespace : ";
    let mixed = exec("web-1", &["sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(
        agree(go_client, native_client, "pods_exec", mixed).await,
        (format!("{failed}command terminated with exit code 3"), true)
    );
    let both = exec("web-1", &["sh", "-c", "echo out; echo err >&2"]);
    assert_eq!(agree(go_client, native_client, "pods_exec", both).await, ("out\n".into(), false));
    let stderr = exec("web-1", &["sh", "-c", "echo err >&2"]);
    assert_eq!(agree(go_client, native_client, "pods_exec", stderr).await, ("err\n".into(), false));
    let quiet = exec("web-1", &["true"]);
    assert_eq!(
        agree(go_client, native_client, "pods_exec", quiet).await,
        ("The executed command in pod web-1 in namespace  has not produced any output".into(), false)
    );

    // The environment is the container's, nothing of this process's (no token, no HOME of ours).
    let dir = cluster.fake.scratch_dir("default", "web-1");
    let env = agree(go_client, native_client, "pods_exec", exec("web-1", &["env"])).await;
    assert_eq!(
        env,
        (
            format!(
                "HOME={}\nHOSTNAME=web-1\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
                dir.display()
            ),
            false
        )
    );
    let pwd = agree(go_client, native_client, "pods_exec", exec("web-1", &["pwd"])).await;
    let real_dir = std::fs::canonicalize(&dir).expect("the scratch directory exists");
    assert_eq!(pwd, (format!("{}\n", real_dir.display()), false));

    // Arguments with spaces, quotes and shell syntax arrive intact, one argument each: nothing
    // in between runs a shell.
    let awkward = [
        "two words",
        "it's \"quoted\"",
        "$(touch injected)",
        "; touch injected2",
        "`id`",
        "*",
        "a+b x=1&y=2 100%",
        "héllo ✓",
        "",
    ];
    let mut command = vec!["printf", "[%s]\\n"];
    command.extend(awkward);
    let printed = agree(go_client, native_client, "pods_exec", exec("web-1", &command)).await;
    let expected: String = awkward.iter().map(|a| format!("[{a}]\n")).collect();
    assert_eq!(printed, (expected, false));
    for file in ["injected", "injected2"] {
        assert!(!dir.join(file).exists(), "{file} was created: a shell ran");
    }

    // A command in the pod's scratch directory sees what earlier ones left, as in a container.
    let (_, error) = agree(go_client, native_client, "pods_exec", exec("web-1", &["touch", "made-here"])).await;
    assert!(!error && dir.join("made-here").exists());
    let other = json!({"name": "api-1", "namespace": "team-a", "container": "sidecar", "command": ["sh", "-c", "echo $HOSTNAME; ls"]});
    assert_eq!(agree(go_client, native_client, "pods_exec", other).await, ("api-1\n".into(), false));

    // Failures, worded as client-go words them.
    let nope = json!({"name": "web-1", "container": "nope", "command": ["true"]});
    assert_eq!(
        agree(go_client, native_client, "pods_exec", nope).await,
        (format!("{failed}unable to upgrade connection: container nope is not valid for pod web-1"), true)
    );
    let (missing, error) = agree(go_client, native_client, "pods_exec", exec("web-1", &["no-such-program"])).await;
    assert!(
        error
            && missing.starts_with(&format!("{failed}Internal error occurred: "))
            && missing.contains("exec: \"no-such-program\": executable file not found in $PATH"),
        "{missing}"
    );
    let code = agree(go_client, native_client, "pods_exec", exec("web-1", &["sh", "-c", "exit 42"])).await;
    assert_eq!(code, (format!("{failed}command terminated with exit code 42"), true));

    // client-go offers v5 only; kube-rs offers v5, then v4. The fake chose v5 for both, as the
    // API server does.
    let protocols = negotiated(&cluster);
    assert!(protocols.len() >= 20, "{protocols:?}");
    let mut offers: Vec<&str> = protocols.iter().map(|(offered, _)| offered.as_str()).collect();
    offers.sort();
    offers.dedup();
    assert_eq!(offers, ["v5.channel.k8s.io", "v5.channel.k8s.io, v4.channel.k8s.io"]);
    assert!(protocols.iter().all(|(_, chosen)| chosen == "v5.channel.k8s.io"), "{protocols:?}");
    assert_eq!(cluster.fake.running_execs(), 0);
}

/// With an API server that speaks only `v4.channel.k8s.io`, ours still works and answers what
/// the Go server answers over v5. (client-go takes websockets only with v5: against a v4-only
/// server it falls back to SPDY, which this fake does not speak.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_works_over_the_v4_protocol_too() {
    let Some(bin) = go_server_bin() else { return };
    let cluster = Cluster::start(false).await;
    let (go_client, native_client) = (go(&cluster, &bin, &[]).await, native(cluster.config()).await);
    let calls = [
        exec("web-1", &["sh", "-c", "echo out; echo err >&2"]),
        exec("web-1", &["sh", "-c", "echo err >&2; exit 7"]),
        exec("web-1", &["printf", "%s|", "a b", "c\"d"]),
    ];
    let mut theirs = vec![];
    for arguments in &calls {
        let result = call(&go_client, "pods_exec", arguments.clone()).await;
        theirs.push((result.text_content(), result.is_error()));
    }
    assert_eq!(theirs[0], ("out\n".to_owned(), false));
    cluster.fake.set_exec_protocols(&["v4.channel.k8s.io"]);
    for (arguments, theirs) in calls.iter().zip(&theirs) {
        let ours = call(&native_client, "pods_exec", arguments.clone()).await;
        assert_eq!(&(ours.text_content(), ours.is_error()), theirs, "{arguments}");
    }
    let chosen: Vec<String> = negotiated(&cluster).into_iter().map(|(_, chosen)| chosen).collect();
    assert_eq!(chosen, ["v5.channel.k8s.io"; 3].into_iter().chain(["v4.channel.k8s.io"; 3]).collect::<Vec<_>>());
    let fallback = call(&go_client, "pods_exec", calls[0].clone()).await;
    assert!(fallback.is_error() && fallback.text_content().contains("unable to upgrade connection"));
}

/// A command that runs past the fake's timeout is killed with its children (exit code 137, as a
/// runtime reports SIGKILL), and both backends report it alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_past_the_timeout_is_killed_and_reported() {
    let Some(bin) = go_server_bin() else { return };
    let cluster = Cluster::start(false).await;
    cluster.fake.set_exec_timeout(Duration::from_secs(1));
    let (go_client, native_client) = (go(&cluster, &bin, &[]).await, native(cluster.config()).await);
    let started = Instant::now();
    let slow = exec("web-1", &["sh", "-c", "echo started; sleep 2; touch late"]);
    let answer = agree(&go_client, &native_client, "pods_exec", slow).await;
    assert_eq!(
        answer,
        ("failed to exec in pod web-1 in namespace : command terminated with exit code 137".into(), true)
    );
    assert!(started.elapsed() < Duration::from_millis(3500), "took {:?}", started.elapsed());
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(!cluster.fake.scratch_dir("default", "web-1").join("late").exists(), "the command ran on");
    assert_eq!(cluster.fake.running_execs(), 0);
}

/// Ours keeps at most `MAX_EXEC_OUTPUT` bytes and says so; a command that writes without end
/// is cut off there at once (the stream is closed, and the fake kills the command), where the
/// Go server would read on until the API server ends it.
#[tokio::test]
async fn large_output_is_capped() {
    let cluster = Cluster::start(false).await;
    let client = native(cluster.config()).await;
    let note = format!(
        "\n[output truncated at {MAX_EXEC_OUTPUT} bytes: the stream was closed and the command's exit status not read]\n"
    );
    let big = call(&client, "pods_exec", exec("web-1", &["sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' x"])).await;
    let text = big.text_content();
    assert!(!big.is_error(), "{}", &text[..text.len().min(300)]);
    assert_eq!(text.len(), MAX_EXEC_OUTPUT + note.len());
    assert!(text.starts_with("xxxxxxxx") && text.ends_with(&note));
    let started = Instant::now();
    let endless = call(&client, "pods_exec", exec("web-1", &["yes", "0123456789"])).await;
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert!(endless.text_content().starts_with("0123456789\n0123456789\n") && endless.text_content().ends_with(&note));
    let deadline = Instant::now() + Duration::from_secs(3);
    while cluster.fake.running_execs() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(cluster.fake.running_execs(), 0, "the command still runs after the stream was closed");
}

/// What a call reported as progress, and its result's text.
async fn streamed(client: &Client, tool: &str, arguments: Value) -> (Vec<(f64, Option<f64>, String)>, String) {
    let arguments = arguments.as_object().cloned().expect("an object");
    let mut stream = client.call_tool_stream(tool, arguments);
    let (mut progress, mut text) = (vec![], String::new());
    while let Some(event) = stream.next().await {
        match event.expect("the call completes") {
            CallEvent::Progress(p) => {
                let total = p.total.and_then(|t| t.as_f64());
                progress.push((p.progress.as_f64().unwrap_or(f64::NAN), total, p.message.unwrap_or_default()));
            }
            CallEvent::Result(result) => text = result.text_content(),
            _ => {}
        }
    }
    (progress, text)
}

/// `pods_exec` reports the output as it arrives, as progress notifications through a client
/// that sent a progress token.
#[tokio::test]
async fn exec_output_streams_as_progress() {
    let cluster = Cluster::start(false).await;
    let client = native(cluster.config()).await;
    let command = exec("web-1", &["sh", "-c", "echo one; sleep 0.4; echo two >&2; sleep 0.4; echo three"]);
    let (progress, text) = streamed(&client, "pods_exec", command).await;
    assert_eq!(text, "one\nthree\n");
    let messages: Vec<&str> = progress.iter().map(|(_, _, m)| m.as_str()).collect();
    assert_eq!(messages, ["one\n", "stderr: two\n", "three\n"]);
    let counts: Vec<f64> = progress.iter().map(|(p, _, _)| *p).collect();
    assert_eq!(counts, [4.0, 8.0, 14.0], "bytes so far");
}

/// `resources_create_or_update` of a manifest with several documents reports each one applied.
#[tokio::test]
async fn multi_document_apply_reports_one_progress_per_document() {
    let cluster = Cluster::start(false).await;
    let client = native(cluster.config()).await;
    let manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: two\n  namespace: team-a\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: fresh\n";
    let (progress, text) = streamed(&client, "resources_create_or_update", json!({"resource": manifest})).await;
    assert!(text.starts_with("# The following resources (YAML) have been created or updated successfully"), "{text}");
    assert_eq!(
        progress,
        [
            (1.0, Some(3.0), "applied ConfigMap default/one (1/3)".to_owned()),
            (2.0, Some(3.0), "applied ConfigMap team-a/two (2/3)".to_owned()),
            (3.0, Some(3.0), "applied Namespace fresh (3/3)".to_owned()),
        ]
    );
    let dry = json!({"resource": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: trial\n", "dryRun": true});
    let (progress, _) = streamed(&client, "resources_create_or_update", dry).await;
    assert_eq!(progress, [(1.0, Some(1.0), "validated (dry run) ConfigMap default/trial (1/1)".to_owned())]);
    assert!(cluster.fake.object("v1", "configmaps", "default", "trial").is_none());
}

/// `pods_exec` is destructive (as the Go server annotates it): `--read-only` and
/// `--disable-destructive` refuse it when called by name, in both backends, and the API server
/// sees no exec.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_is_refused_at_call_time_by_read_only_and_disable_destructive() {
    let Some(bin) = go_server_bin() else { return };
    let cluster = Cluster::start(false).await;
    let arguments = exec("web-1", &["touch", "refused"]);
    for (flag, config) in [
        ("--read-only", K8sConfig { read_only: true, ..cluster.config() }),
        ("--disable-destructive", K8sConfig { disable_destructive: true, ..cluster.config() }),
    ] {
        // Not served at all: the call is refused as a call of an unknown tool.
        let ours = call(&*native(config).await, "pods_exec", arguments.clone()).await;
        assert!(ours.is_error() && ours.text_content().contains("pods_exec"), "{flag}: {}", ours.text_content());
        let theirs = call(&*go(&cluster, &bin, &[flag]).await, "pods_exec", arguments.clone()).await;
        assert!(theirs.is_error(), "{flag}: the Go server ran it: {}", theirs.text_content());
    }
    assert!(cluster.fake.seen().iter().all(|s| s.method != "EXEC"), "an exec reached the API server");
    assert!(!cluster.fake.scratch_dir("default", "web-1").join("refused").exists());
}
