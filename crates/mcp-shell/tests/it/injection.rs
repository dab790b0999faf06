//! Injection attempts, each a line of data: all refused with a clear error, nothing run.

use mcp_core::ToolContext;
use mcp_core::protocol::JsonObject;
use serde_json::Value;

use crate::support::Sandbox;

/// (tool, arguments with {root}/{base}/{marker} placeholders, words the refusal must contain)
const CASES: &[(&str, &str, &str)] = &[
    ("shell_execute", r#"{"command": ["touch", "{marker}; id"]}"#, "`;`"),
    ("shell_execute", r#"{"command": ["touch", "a", "&&", "touch", "{marker}"]}"#, "`&&`"),
    ("shell_execute", r#"{"command": ["echo", "x", "|", "touch", "{marker}"]}"#, "`|`"),
    ("shell_execute", r#"{"command": ["echo", "`touch {marker}`"]}"#, "backtick"),
    ("shell_execute", r#"{"command": ["echo", "$(touch {marker})"]}"#, "`$(`"),
    ("shell_execute", r#"{"command": ["echo", "a\ntouch {marker}"]}"#, "newline"),
    ("shell_execute", r#"{"command": ["echo", "x", ">", "{marker}"]}"#, "redirection"),
    ("shell_execute", r#"{"command": ["touch"], "directory": "{base}/outside"}"#, "outside the allowed directories"),
    (
        "shell_execute",
        r#"{"command": ["touch", "x"], "directory": "{base}/work_secret"}"#,
        "outside the allowed directories",
    ),
    (
        "shell_execute",
        r#"{"command": ["touch", "x"], "directory": "{root}/link_out"}"#,
        "outside the allowed directories",
    ),
    ("shell_execute", r#"{"command": ["touch", "x"], "directory": "{root}/.."}"#, "outside the allowed directories"),
    ("shell_execute", r#"{"command": ["touch", "x"], "directory": "-rf"}"#, "begins with `-`"),
    ("shell_execute", r#"{"command": ["/usr/bin/touch", "{marker}"]}"#, "path-qualified"),
    ("shell_execute", r#"{"command": ["./touch", "{marker}"]}"#, "path-qualified"),
    ("shell_execute", r#"{"command": ["'touch'", "{marker}"]}"#, "quoting"),
    ("shell_execute", r#"{"command": ["\"touch\"", "{marker}"]}"#, "quoting"),
    ("shell_execute", r#"{"command": ["touch {marker}"]}"#, "path-qualified"),
    ("shell_execute", r#"{"command": ["touch x"]}"#, "quoting or shell syntax"),
    ("shell_execute", r#"{"command": ["sh", "-c", "touch {marker}"]}"#, "not an allowed command"),
    ("shell_execute", r#"{"command": ["bash", "-c", "touch {marker}"]}"#, "not an allowed command"),
    ("shell_execute", r#"{"command": ["rm", "-rf", "{root}"]}"#, "not an allowed command"),
    ("shell_execute", r#"{"command": ["-touch"]}"#, "begins with `-`"),
    ("shell_execute", r#"{"command": []}"#, "empty"),
    ("shell_execute", r#"{"command": ["git", "diff", "--output={marker}"]}"#, "option `--output`"),
    ("shell_execute", r#"{"command": ["git", "diff", "--output", "{marker}"]}"#, "option `--output`"),
    ("shell_execute", r#"{"command": ["git", "-c", "core.pager=touch {marker}", "log"]}"#, "option `-c`"),
    ("shell_execute", r#"{"command": ["git", "fetch", "--upload-pack=touch {marker}"]}"#, "option `--upload-pack`"),
    ("shell_execute", r#"{"command": ["find", ".", "-exec", "touch", "{marker}", ";"]}"#, "option `-exec`"),
    ("shell_execute", r#"{"command": ["find", ".", "-execdir", "touch", "{marker}", "+"]}"#, "option `-execdir`"),
    ("shell_execute", r#"{"command": ["find", ".", "-delete"]}"#, "option `-delete`"),
    ("shell_execute", r#"{"command": ["find", ".", "-fprint", "{marker}"]}"#, "option `-fprint`"),
    ("execute", r#"{"command": "touch a; touch {marker}"}"#, "`;`"),
    ("execute", r#"{"command": "touch a && touch {marker}"}"#, "`&`"),
    ("execute", r#"{"command": "echo x | touch {marker}"}"#, "`|`"),
    ("execute", r#"{"command": "echo $(touch {marker})"}"#, "`$`"),
    ("execute", r#"{"command": "echo `touch {marker}`"}"#, "```"),
    ("execute", r#"{"command": "echo x > {marker}"}"#, "`>`"),
    ("execute", r#"{"command": "touch a\ntouch {marker}"}"#, "needs a shell"),
    ("execute", r#"{"command": "'/usr/bin/touch' {marker}"}"#, "path-qualified"),
    ("execute", r#"{"command": "git diff --output={marker}"}"#, "option `--output`"),
    ("execute", r#"{"command": "touch x", "cwd": "{base}/outside"}"#, "outside the allowed directories"),
    ("execute", r#"{"command": "touch x", "cwd": "--help"}"#, "begins with `-`"),
    // Refused options in clusters, GNU abbreviations and after `--`.
    ("shell_execute", r#"{"command": ["sort", "-uo", "{marker}", "hello.txt"]}"#, "option `-o` of `sort`"),
    ("shell_execute", r#"{"command": ["sort", "-o{marker}", "hello.txt"]}"#, "option `-o` of `sort`"),
    ("shell_execute", r#"{"command": ["sort", "--outp={marker}", "hello.txt"]}"#, "option `--output` of `sort`"),
    ("shell_execute", r#"{"command": ["sort", "--out", "{marker}", "hello.txt"]}"#, "option `--output` of `sort`"),
    ("shell_execute", r#"{"command": ["sed", "-ni", "p", "hello.txt"]}"#, "option `-i` of `sed`"),
    ("shell_execute", r#"{"command": ["sed", "--in-pl", "s/h/H/", "hello.txt"]}"#, "option `--in-place` of `sed`"),
    ("shell_execute", r#"{"command": ["find", "--", ".", "-exec", "touch", "{marker}", "+"]}"#, "option `-exec`"),
    ("shell_execute", r#"{"command": ["tar", "cIf", "touch {marker}", "a.tar", "hello.txt"]}"#, "option `-I` of `tar`"),
    ("shell_execute", r#"{"command": ["git", "rebase", "-x", "touch {marker}"]}"#, "option `-x` of `git`"),
    // Script commands that run programs or write files: refused by sed's sandbox.
    ("shell_execute", r#"{"command": ["sed", "1e touch {marker}", "hello.txt"]}"#, "sandbox"),
    ("shell_execute", r#"{"command": ["sed", "-n", "w {marker}", "hello.txt"]}"#, "sandbox"),
    ("shell_execute", r#"{"command": ["sed", "s,hello,touch {marker},e", "hello.txt"]}"#, "sandbox"),
    ("execute", r#"{"command": "sed 'r /etc/passwd' hello.txt"}"#, "sandbox"),
    // Subcommands that set what later commands run.
    ("shell_execute", r#"{"command": ["git", "config", "alias.x", "!touch {marker}"]}"#, "`git config` is refused"),
    (
        "shell_execute",
        r#"{"command": ["git", "-C", ".", "config", "core.fsmonitor", "touch {marker}"]}"#,
        "`git config` is refused",
    ),
    ("execute", r#"{"command": "git submodule foreach 'touch {marker}'"}"#, "`git submodule` is refused"),
    // Paths outside the roots, however they are spelled.
    ("shell_execute", r#"{"command": ["cat", "/etc/passwd"]}"#, "outside the allowed directories"),
    ("shell_execute", r#"{"command": ["head", "-c", "100", "/proc/self/environ"]}"#, "outside the allowed directories"),
    ("shell_execute", r#"{"command": ["cat", "../../../../../../etc/passwd"]}"#, "outside the allowed directories"),
    ("shell_execute", r#"{"command": ["ls", "link_out"]}"#, "outside the allowed directories"),
    ("shell_execute", r#"{"command": ["ls", "{root}/link_out/"]}"#, "outside the allowed directories"),
    ("shell_execute", r#"{"command": ["ls", "sub/../../work_secret"]}"#, "outside the allowed directories"),
    ("shell_execute", r#"{"command": ["touch", "../outside/new"]}"#, "outside the allowed directories"),
    ("shell_execute", r#"{"command": ["grep", "-r", "root", "/etc"]}"#, "outside the allowed directories"),
    ("shell_execute", r#"{"command": ["grep", "--file=/etc/passwd", "hello.txt"]}"#, "names `/etc/passwd`"),
    ("shell_execute", r#"{"command": ["grep", "-f/etc/passwd", "hello.txt"]}"#, "names `/etc/passwd`"),
    ("shell_execute", r#"{"command": ["git", "-C", "/etc", "status"]}"#, "outside the allowed directories"),
    ("shell_execute", r#"{"command": ["git", "--git-dir={base}/outside", "log"]}"#, "option `--git-dir`"),
    ("shell_execute", r#"{"command": ["find", "/", "-name", "shadow"]}"#, "outside the allowed directories"),
    ("execute", r#"{"command": "cat /etc/passwd"}"#, "outside the allowed directories"),
    // Writing through a symlink that leads out, to a name that does not exist yet.
    ("shell_execute", r#"{"command": ["touch", "link_out/PWNED"]}"#, "outside the allowed directories"),
    ("shell_execute", r#"{"command": ["touch", "{root}/link_out/PWNED"]}"#, "outside the allowed directories"),
    // `-C` moves are checked one after another, and names read from stdin are refused.
    (
        "shell_execute",
        r#"{"command": ["git", "-C", "..", "-C", "..", "status"], "directory": "sub"}"#,
        "outside the allowed directories",
    ),
    (
        "shell_execute",
        r#"{"command": ["tar", "-cf", "-", "-C", "..", "-C", "..", "outside"], "directory": "sub"}"#,
        "outside the allowed directories",
    ),
    (
        "shell_execute",
        r#"{"command": ["tar", "-cf", "-", "-T", "-"], "stdin": "/etc/passwd\n"}"#,
        "option `-T` of `tar`",
    ),
    ("shell_execute", r#"{"command": ["find", "-files0-from", "-"], "stdin": "/etc"}"#, "option `-files0-from`"),
    ("shell_execute", r#"{"command": ["grep", "-nf/etc/passwd", "hello.txt"]}"#, "names `/etc/passwd`"),
    ("shell_execute", r#"{"command": ["grep", "-nf../../../../etc/passwd", "hello.txt"]}"#, "outside the allowed"),
    // git: credentials and repositories of the caller's making.
    ("shell_execute", r#"{"command": ["git", "credential-store", "get"]}"#, "`git credential-store` is refused"),
    ("shell_execute", r#"{"command": ["git", "--git-dir=sub", "status"]}"#, "option `--git-dir`"),
    ("shell_execute", r#"{"command": ["git", "init", "--template=sub", "x"]}"#, "option `--template`"),
    // Walking through a symlink inside the roots to what lies outside them.
    ("shell_execute", r#"{"command": ["grep", "-Rn", "x", "."]}"#, "option `-R` of `grep`"),
    ("shell_execute", r#"{"command": ["grep", "--dereference-rec", "x", "."]}"#, "option `--dereference-recursive`"),
    ("shell_execute", r#"{"command": ["ls", "-lLR"]}"#, "option `-L` of `ls`"),
    ("shell_execute", r#"{"command": ["find", "-L", ".", "-name", "x"]}"#, "option `-L` of `find`"),
    ("shell_execute", r#"{"command": ["find", ".", "-follow"]}"#, "option `-follow` of `find`"),
    ("execute", r#"{"command": "ls hello.txt ../../work_secret", "cwd": "sub"}"#, "outside the allowed directories"),
    ("shell_execute", r#"{"command": ["tar", "-chf", "-", "."]}"#, "option `-h` of `tar`"),
    ("shell_execute", r#"{"command": ["tar", "--dereference", "-cf", "-", "."]}"#, "option `--dereference` of `tar`"),
    ("shell_execute", r#"{"command": ["cp", "-rL", "sub", "sub2"]}"#, "option `-L` of `cp`"),
    // Extracting writes what an archive's member names say (`-P`: absolute; through a symlink
    // inside the roots; a `.git/config`), unchecked: refused however it is spelled.
    ("shell_execute", r#"{"command": ["tar", "xf", "-"], "stdin": ""}"#, "option `-x` of `tar`"),
    ("shell_execute", r#"{"command": ["tar", "-xPf", "-"], "stdin": ""}"#, "option `-x` of `tar`"),
    ("shell_execute", r#"{"command": ["tar", "--extr", "-f", "a.tar"]}"#, "option `--extract` of `tar`"),
    ("shell_execute", r#"{"command": ["tar", "--get", "-f", "a.tar"]}"#, "option `--get` of `tar`"),
    ("shell_execute", r#"{"command": ["tar", "-df", "a.tar"]}"#, "option `-d` of `tar`"),
    ("shell_execute", r#"{"command": ["tar", "-cPf", "a.tar", "hello.txt"]}"#, "option `-P` of `tar`"),
    // A cluster is named by its first refused letter, not one inside its value.
    ("shell_execute", r#"{"command": ["git", "-ccore.pager=touch {marker}", "log"]}"#, "option `-c` of `git`"),
    ("shell_execute", r#"{"command": ["git", "clone", "-c", "core.fsmonitor=x", "a", "b"]}"#, "option `-c` of `git`"),
    ("shell_execute", r#"{"command": ["git", "clone", "--config", "core.fsmonitor=x", "a", "b"]}"#, "`--config-env`"),
    ("shell_execute", r#"{"command": ["git", "clone", "-u", "touch {marker}", "a", "b"]}"#, "option `-u` of `git`"),
    ("shell_execute", r#"{"command": ["git", "grep", "-Otouch", "hello"]}"#, "option `-O` of `git`"),
    ("shell_execute", r#"{"command": ["git", "format-patch", "-o", "sub", "HEAD~1"]}"#, "option `-o` of `git`"),
    // Nothing but reading may name a `.git` directory (or file), in any case.
    ("shell_execute", r#"{"command": ["touch", ".git/config"]}"#, "inside a `.git` directory"),
    ("shell_execute", r#"{"command": ["touch", "sub/.GIT"]}"#, "inside a `.git` directory"),
    ("shell_execute", r#"{"command": ["cp", "hello.txt", "{root}/sub/.git/hooks/pre-commit"]}"#, "inside a `.git`"),
    ("shell_execute", r#"{"command": ["tar", "-C", "sub/.git", "-cf", "-", "."]}"#, "inside a `.git` directory"),
    ("shell_execute", r#"{"command": ["git", "init", "--separate-git-dir=gd", "repo"]}"#, "`--separate-git-dir`"),
    ("shell_execute", r#"{"command": ["git", "format-patch", "--output-dir=sub", "HEAD~1"]}"#, "`--output-directory`"),
    // tar opens its archive from where it started, whatever `-C` says: checked from both.
    (
        "shell_execute",
        r#"{"command": ["tar", "-C", "sub", "-cf", "../outside/x.tar", "hello.txt"]}"#,
        "outside the allowed directories",
    ),
    // After git's subcommand `-C` is the subcommand's option: what follows is no directory.
    (
        "shell_execute",
        r#"{"command": ["git", "diff", "--no-index", "-C", "sub/x", "../outside/secret"]}"#,
        "outside the allowed directories",
    ),
];

fn arguments(template: &str, sandbox: &Sandbox, marker: &str) -> JsonObject {
    let text = template
        .replace("{root}", &sandbox.root.display().to_string())
        .replace("{base}", &sandbox.base.display().to_string())
        .replace("{marker}", marker);
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => map,
        other => panic!("bad case {template}: {other:?}"),
    }
}

#[tokio::test]
async fn every_injection_attempt_is_refused_and_nothing_runs() {
    let sandbox = Sandbox::new();
    let tools =
        sandbox.tools(&["touch", "echo", "git", "find", "ls", "sort", "sed", "tar", "cat", "head", "grep", "cp"], &[]);
    let marker = sandbox.base.join("outside/PWNED").display().to_string();
    let mut failures = Vec::new();
    for (tool, template, expected) in CASES {
        let result = tools.call(tool, arguments(template, &sandbox, &marker), ToolContext::detached()).await;
        let text = result.text_content();
        if !result.is_error() || !text.contains(expected) {
            failures.push(format!("{tool} {template}: is_error={} text={text:?}", result.is_error()));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases not refused:\n{}", failures.len(), CASES.len(), failures.join("\n"));
    assert!(!std::path::Path::new(&marker).exists(), "an injected command ran");
    for dir in ["outside", "work_secret"] {
        assert_eq!(std::fs::read_dir(sandbox.base.join(dir)).expect("readable").count(), 0, "{dir} changed");
    }
}

#[test]
fn interpreters_need_to_be_allowed_by_name_and_missing_programs_fail_at_start() {
    let sandbox = Sandbox::new();
    let err = mcp_shell::native::ShellServer::new(sandbox.config(&["ls", "bash"], &[])).expect_err("bash refused");
    assert!(err.to_string().contains("`bash` is a shell or interpreter"), "{err}");
    let err = mcp_shell::native::ShellServer::new(sandbox.config(&["no-such-program-xyz"], &[])).expect_err("missing");
    assert!(err.to_string().contains("`no-such-program-xyz` was not found in PATH"), "{err}");
    let err = mcp_shell::native::ShellServer::new(sandbox.config(&["/bin/ls"], &[])).expect_err("path-qualified");
    assert!(err.to_string().contains("path-qualified"), "{err}");
    mcp_shell::native::ShellServer::new(sandbox.config(&["ls"], &["sh"])).expect("sh allowed by name");
    // Archive extractors and `patch` write where their input says: allowed only as interpreters.
    for writer in mcp_shell::native::UNCHECKED_WRITERS {
        let err = mcp_shell::native::ShellServer::new(sandbox.config(&["ls", writer], &[])).expect_err(writer);
        assert!(err.to_string().contains(&format!("`{writer}` writes the paths its input names")), "{err}");
        assert!(err.to_string().contains(&format!("--allow-interpreter {writer}")), "{err}");
    }
    mcp_shell::native::ShellServer::new(sandbox.config(&["ls"], &["patch"])).expect("patch allowed by name");
}

/// ripgrep 14's `--hostname-bin CMD` runs CMD (for hyperlinks). Debian's ripgrep is 13, which
/// lacks the option, so an `rg` of this test's own stands in, found first on the search path: it
/// would leave a marker if it ran at all. The refusal is the policy's, before anything runs.
#[tokio::test]
async fn ripgreps_hostname_bin_is_refused_before_anything_runs() {
    use std::os::unix::fs::PermissionsExt as _;
    let sandbox = Sandbox::new();
    let bin = sandbox.base.join("bin");
    std::fs::create_dir(&bin).expect("mkdir");
    let marker = sandbox.base.join("outside/RAN");
    std::fs::write(bin.join("rg"), format!("#!/bin/sh\ntouch '{}'\n", marker.display())).expect("write");
    std::fs::set_permissions(bin.join("rg"), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut config = sandbox.config(&["rg"], &[]);
    config.search_path = Some(format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default()));
    let tools = mcp_shell::native::ShellServer::new(config).expect("valid").registry().tools;
    for command in [r#"["rg", "--hostname-bin=touch", "x", "."]"#, r#"["rg", "-n", "--hostname-bin", "touch", "x"]"#] {
        let args = arguments(&format!(r#"{{"command": {command}}}"#), &sandbox, "");
        let result = tools.call("shell_execute", args, ToolContext::detached()).await;
        assert!(
            result.is_error() && result.text_content().contains("option `--hostname-bin`"),
            "{command}: {}",
            result.text_content()
        );
    }
    assert!(!marker.exists(), "rg ran");
    let allowed = tools
        .call("shell_execute", arguments(r#"{"command": ["rg", "x"]}"#, &sandbox, ""), ToolContext::detached())
        .await;
    assert!(!allowed.is_error(), "{}", allowed.text_content());
    assert!(marker.exists(), "the stand-in runs when nothing is refused");
}
