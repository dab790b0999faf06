//! Real commands: output, exit status, stdin, caps, environment, timeouts that kill the whole
//! process group, and output streamed as progress through a real MCP connection.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mcp_core::protocol::{Implementation, JsonObject};
use mcp_core::{CallEvent, Client, ClientOptions, Server, ToolContext};
use mcp_shell::native::{ShellConfig, ShellServer};
use mcp_shell::{ExecOutput, Shell};
use serde_json::{Value, json};

use crate::support::Sandbox;

fn args(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => panic!("arguments must be an object"),
    }
}

#[tokio::test]
async fn commands_run_with_their_output_exit_status_and_stdin() {
    let sandbox = Sandbox::new();
    let shell = Shell::new(sandbox.tools(&["ls", "cat", "false", "wc"], &[]));
    let listing = shell.shell_execute(&["ls"], None, None, None).await.expect("runs");
    assert!(listing.success());
    assert!(listing.stdout.contains("hello.txt") && listing.stdout.contains("sub"), "{listing:?}");

    let sub = shell.execute("ls -a", Some("sub")).await.expect("runs");
    assert_eq!(sub.stdout, ".\n..\n");

    let failed = shell.shell_execute(&["false"], None, None, None).await.expect("a result");
    assert_eq!(failed.exit_code, Some(1));
    assert!(!failed.success());

    let counted = shell.shell_execute(&["wc", "-l"], Some("a\nb\nc\n"), None, None).await.expect("runs");
    assert_eq!(counted.stdout.trim(), "3");

    let quoted = shell.execute("cat 'hello.txt'", None).await.expect("runs");
    assert_eq!(quoted.stdout, "hello\n");
    let missing = shell.execute("cat \"no such file\"", None).await.expect("runs");
    assert!(missing.stderr.contains("no such file"), "{missing:?}");
}

#[tokio::test]
async fn paths_inside_the_roots_and_plain_words_pass_the_confinement() {
    let sandbox = Sandbox::new();
    let shell = Shell::new(sandbox.tools(&["cat", "grep", "ls", "sed", "head"], &[]));
    let root = sandbox.root.display().to_string();
    let absolute = format!("{root}/hello.txt");
    for argv in [
        vec!["cat", absolute.as_str()],
        vec!["cat", "sub/../hello.txt"],
        vec!["grep", "-r", "hello", "."],
        vec!["grep", "--regexp=hel*o", "hello.txt"],
        vec!["head", "-c", "5", "/dev/zero"],
        vec!["ls", root.as_str()],
    ] {
        let output = shell.shell_execute(&argv, None, None, None).await.expect("runs");
        assert!(output.success(), "{argv:?}: {output:?}");
    }
    // A program that only reads may name what does not exist: sed addresses, patterns and
    // delimiters that begin with `/`.
    let shell_reads = Shell::new(sandbox.tools(&["sed", "grep", "cut"], &[]));
    let deleted = shell_reads.shell_execute(&["sed", "/^h/d", "hello.txt"], None, None, None).await.expect("runs");
    assert!(deleted.success() && deleted.stdout.is_empty(), "{deleted:?}");
    let ranged =
        shell_reads.shell_execute(&["sed", "-n", "/hel/,/x/p", "hello.txt"], None, None, None).await.expect("runs");
    assert_eq!(ranged.stdout, "hello\n", "{ranged:?}");
    let missing = shell_reads.shell_execute(&["grep", "/api/v1", "hello.txt"], None, None, None).await.expect("runs");
    assert_eq!(missing.exit_code, Some(1), "no match, not refused: {missing:?}");
    let cut = shell_reads.shell_execute(&["cut", "-d/", "-f1"], Some("a/b\n"), None, None).await.expect("runs");
    assert_eq!(cut.stdout, "a\n", "{cut:?}");
    // sed runs sandboxed, which leaves ordinary scripts alone.
    let edited =
        shell.shell_execute(&["sed", "-n", "s/hello/bye/p", "hello.txt"], None, None, None).await.expect("runs");
    assert_eq!(edited.stdout, "bye\n", "{edited:?}");
    let edited = shell.execute("sed -e 's/h/H/' -e 's/o$/0/' hello.txt", None).await.expect("runs");
    assert_eq!(edited.stdout, "Hell0\n", "{edited:?}");
}

/// git never runs what a repository's own configuration names: a nested repository whose
/// configuration a caller wrote (through another tool) sets an fsmonitor, and `git status`
/// there does not run it.
#[tokio::test]
async fn git_runs_no_program_a_repositorys_configuration_names() {
    let sandbox = Sandbox::new();
    let repo = sandbox.root.join("nested");
    let init = std::process::Command::new("git").args(["init", "-q"]).arg(&repo).status().expect("git runs");
    assert!(init.success());
    let marker = sandbox.base.join("outside/FSMONITOR_RAN");
    let config = repo.join(".git/config");
    let mut text = std::fs::read_to_string(&config).expect("reads");
    text.push_str(&format!("[core]\n\tfsmonitor = touch {}\n[alias]\n", marker.display()));
    std::fs::write(&config, text).expect("writes");
    std::fs::write(repo.join(".git/hooks/post-index-change"), format!("#!/bin/sh\ntouch {}\n", marker.display()))
        .expect("writes");
    let shell = Shell::new(sandbox.tools(&["git"], &[]));
    let status = shell.shell_execute(&["git", "-C", "nested", "status"], None, None, None).await.expect("runs");
    assert!(status.success(), "{status:?}");
    let added = shell.shell_execute(&["git", "-C", "nested", "add", "-A"], None, None, None).await.expect("runs");
    assert!(added.success(), "{added:?}");
    assert!(!marker.exists(), "git ran a program the repository's configuration named");
}

#[tokio::test]
async fn a_read_only_allowlist_is_announced_and_any_other_is_not() {
    let sandbox = Sandbox::new();
    for (allow, read_only) in [(&["ls", "cat", "grep"][..], true), (&["ls", "touch"][..], false)] {
        let tools = sandbox.tools(allow, &[]);
        for tool in tools.iter() {
            let hints = tool.definition().annotations.clone().expect("annotated");
            assert_eq!(hints.read_only_hint, Some(read_only), "{allow:?}");
            assert_eq!(hints.destructive_hint, Some(!read_only), "{allow:?}");
        }
    }
}

#[tokio::test]
async fn output_is_capped_and_the_cut_is_marked() {
    let sandbox = Sandbox::new();
    let config = ShellConfig { max_output_bytes: 1000, ..sandbox.config(&["head"], &[]) };
    let tools = ShellServer::new(config).expect("valid").registry().tools;
    let result = tools
        .call("shell_execute", args(json!({"command": ["head", "-c", "100000", "/dev/zero"]})), ToolContext::detached())
        .await;
    let output: ExecOutput =
        serde_json::from_value(result.structured_content.clone().expect("structured")).expect("shape");
    assert_eq!(output.stdout.len(), 1000);
    assert!(output.stdout_truncated && output.success(), "{output:?}");
    assert!(result.text_content().contains("[stdout truncated]"));
}

#[tokio::test]
async fn the_environment_is_reduced_to_the_allowlist() {
    // Only allowlisted variables may reach the command, whatever this process has set.
    let sandbox = Sandbox::new();
    let shell = Shell::new(sandbox.tools(&["printenv"], &[]));
    let env = shell.shell_execute(&["printenv"], None, None, None).await.expect("runs");
    assert!(env.stdout.contains("PATH="), "{env:?}");
    for line in env.stdout.lines() {
        let name = line.split('=').next().unwrap_or_default();
        assert!(ShellConfig::default().env_allow.iter().any(|a| a == name), "unexpected variable {name}");
    }
}

#[tokio::test]
async fn a_timeout_kills_the_whole_process_group() {
    let sandbox = Sandbox::new();
    let shell = Shell::new(sandbox.tools(&["ls"], &["sh"]));
    let started = Instant::now();
    // The shell starts a grandchild that would outlive it, prints its pid, and waits.
    let output =
        shell.shell_execute(&["sh", "-c", "sleep 73.21 & echo $!; wait"], None, None, Some(1)).await.expect("a result");
    assert!(output.timed_out, "{output:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    // What it printed before the timeout is kept.
    assert!(output.stdout.trim().parse::<u32>().is_ok(), "the pid printed before the timeout is kept: {output:?}");
    // Had only the shell been killed, its `sleep 73.21` would live on, re-parented to init.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let survivors = std::fs::read_dir("/proc")
        .expect("procfs")
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path().join("cmdline")).ok())
        .filter(|cmd| cmd.replace('\0', " ").trim() == "sleep 73.21")
        .count();
    assert_eq!(survivors, 0, "a process started by the timed-out command survived");
}

#[tokio::test]
async fn output_streams_as_progress_over_mcp() {
    let sandbox = Sandbox::new();
    let registry = ShellServer::new(sandbox.config(&["ls"], &["sh"])).expect("valid").registry();
    let server = Server::builder(Implementation::new("shell", "1"), registry).build();
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let (r, w) = tokio::io::split(server_io);
    tokio::spawn(async move { server.serve(r, w).await });
    let (r, w) = tokio::io::split(client_io);
    let client = Client::connect("shell", r, w, ClientOptions::default()).await.expect("connects");

    let mut stream = client.call_tool_stream(
        "shell_execute",
        args(json!({"command": ["sh", "-c", "echo first; sleep 0.3; echo second"]})),
    );
    let mut chunks = Vec::new();
    let mut result = None;
    while let Some(event) = stream.next().await {
        match event.expect("no protocol error") {
            CallEvent::Progress(p) => chunks.push(p.message.unwrap_or_default()),
            CallEvent::Result(r) => result = Some(r),
            _ => {}
        }
    }
    assert_eq!(chunks, ["first\n", "second\n"], "each chunk arrives as it is written");
    let result = result.expect("a result");
    assert!(!result.is_error());
    assert!(result.text_content().contains("exit status: 0"));
}

/// Everyday options that share a letter or a prefix with a refused one run: a one-letter
/// option is refused only where it is dangerous (`git clone -u`, not `git add -u`), a long one
/// not when it is an option of its own (`--text`, `--checkpoint`), and reading a `.git`
/// directory stays allowed.
#[tokio::test]
async fn everyday_options_that_resemble_refused_ones_run() {
    let sandbox = Sandbox::new();
    let repo = sandbox.root.join("repo");
    let git = |args: &[&str]| {
        let status = std::process::Command::new("git").arg("-C").arg(&repo).args(args).status().expect("git runs");
        assert!(status.success(), "git {args:?}");
    };
    std::fs::create_dir_all(&repo).expect("mkdir");
    git(&["init", "-q"]);
    std::fs::write(repo.join("a.txt"), "one\n").expect("writes");
    git(&["add", "a.txt"]);
    git(&["-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "one"]);
    std::fs::write(repo.join("a.txt"), "one\ntwo\n").expect("writes");
    let shell = Shell::new(sandbox.tools(&["git", "tar", "cat"], &[]));
    for argv in [
        &["git", "-C", "repo", "status", "-uno"][..],
        &["git", "-C", "repo", "grep", "-c", "one"],
        &["git", "-C", "repo", "log", "-c", "--oneline"],
        &["git", "-C", "repo", "diff", "--text"],
        &["git", "-C", "repo", "ls-files", "-o"],
        &["git", "-C", "repo", "add", "-u"],
        &["tar", "-cf", "a.tar", "--checkpoint=100", "hello.txt"],
        &["tar", "-tf", "a.tar"],
        &["cat", "repo/.git/HEAD"],
    ] {
        let output = shell.shell_execute(argv, None, None, None).await.expect("runs");
        assert!(output.success(), "{argv:?}: {output:?}");
    }
    let staged = std::process::Command::new("git").arg("-C").arg(&repo).args(["diff", "--cached", "--stat"]).output();
    assert!(String::from_utf8_lossy(&staged.expect("git runs").stdout).contains("a.txt"), "`git add -u` staged a.txt");
}

/// An archive whose members lead out through a symlink inside the roots, or write a
/// repository's configuration, is never extracted: the refusal says why, and nothing is
/// written.
#[tokio::test]
async fn archives_are_not_extracted_where_their_member_names_lead() {
    let sandbox = Sandbox::new();
    let staging = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(staging.path().join("link_out")).expect("mkdir");
    std::fs::write(staging.path().join("link_out/escaped.txt"), "x").expect("writes");
    let archive = staging.path().join("evil.tar");
    let made = std::process::Command::new("tar")
        .arg("-cf")
        .arg(&archive)
        .arg("-C")
        .arg(staging.path())
        .arg("link_out/escaped.txt")
        .status()
        .expect("tar runs");
    assert!(made.success());
    std::fs::copy(&archive, sandbox.root.join("evil.tar")).expect("copies");
    let shell = Shell::new(sandbox.tools(&["tar"], &[]));
    for argv in [&["tar", "-xf", "evil.tar"][..], &["tar", "xvf", "evil.tar"], &["tar", "--extract", "--file=evil.tar"]]
    {
        let refused = shell.shell_execute(argv, None, None, None).await.expect_err("refused");
        let text = refused.to_string();
        assert!(text.contains("an archive's member names"), "{argv:?}: {text}");
    }
    assert!(!sandbox.base.join("outside/escaped.txt").exists(), "a member was written through the symlink");
}
