//! Hostile paths, each a line of data: every one is refused with a clear error, nothing outside
//! the allowed directory is read or changed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mcp_core::protocol::JsonObject;
use serde_json::Value;

use crate::support::{SECRET, Scratch};

/// (tool, arguments with {root} and {base} placeholders, words the refusal must contain, {root}
/// replaced there too)
const CASES: &[(&str, &str, &str)] = &[
    ("read_text_file", r#"{"path": "{root}/../outside/secret.txt"}"#, "access denied"),
    ("read_text_file", r#"{"path": "../outside/secret.txt"}"#, "access denied"),
    ("read_text_file", r#"{"path": "inner/../../outside/secret.txt"}"#, "access denied"),
    ("read_text_file", r#"{"path": "{base}/allowed_secret/secret.txt"}"#, "outside the allowed directories"),
    ("read_text_file", r#"{"path": "{base}/allowed/../allowed_secret/secret.txt"}"#, "access denied"),
    ("read_text_file", r#"{"path": "{root}/link_out/secret.txt"}"#, "access denied"),
    ("read_text_file", r#"{"path": "relative_link_out/secret.txt"}"#, "access denied"),
    ("read_text_file", r#"{"path": "{root}/file_link"}"#, "access denied"),
    ("read_text_file", r#"{"path": "{root}/file_link", "head": 1}"#, "access denied"),
    ("read_text_file", r#"{"path": "{root}/file_link", "tail": 1}"#, "access denied"),
    ("read_text_file", r#"{"path": "/etc/passwd"}"#, "outside the allowed directories"),
    ("read_text_file", r#"{"path": "{root}/inner/ok.txt\u0000.png"}"#, "NUL byte"),
    ("read_file", r#"{"path": "{root}/link_out/secret.txt"}"#, "access denied"),
    ("read_media_file", r#"{"path": "{root}/file_link"}"#, "access denied"),
    ("write_file", r#"{"path": "{root}/link_out/new.txt", "content": "x"}"#, "access denied"),
    ("write_file", r#"{"path": "{root}/file_link", "content": "overwritten"}"#, "symbolic link"),
    ("write_file", r#"{"path": "{base}/outside/secret.txt", "content": "overwritten"}"#, "access denied"),
    ("write_file", r#"{"path": "{root}/../allowed_secret/new.txt", "content": "x"}"#, "access denied"),
    ("edit_file", r#"{"path": "{root}/file_link", "edits": [{"oldText": "TOP", "newText": "x"}]}"#, "access denied"),
    (
        "edit_file",
        r#"{"path": "{root}/link_out/secret.txt", "edits": [{"oldText": "TOP", "newText": "x"}]}"#,
        "access denied",
    ),
    ("create_directory", r#"{"path": "{root}/link_out/newdir"}"#, "access denied"),
    ("create_directory", r#"{"path": "{base}/outside/newdir"}"#, "access denied"),
    ("list_directory", r#"{"path": "{root}/link_out"}"#, "access denied"),
    ("list_directory", r#"{"path": "{root}/.."}"#, "access denied"),
    ("list_directory_with_sizes", r#"{"path": "{base}/allowed_secret"}"#, "access denied"),
    ("directory_tree", r#"{"path": "{root}/relative_link_out"}"#, "access denied"),
    ("directory_tree", r#"{"path": "{base}"}"#, "access denied"),
    ("move_file", r#"{"source": "{base}/outside/secret.txt", "destination": "{root}/stolen.txt"}"#, "access denied"),
    // A refusal names the side that is wrong.
    (
        "move_file",
        r#"{"source": "{root}/inner/ok.txt", "destination": "{root}/link_out/planted.txt"}"#,
        "access denied: `{root}/link_out/planted.txt`: it resolves outside",
    ),
    (
        "move_file",
        r#"{"source": "{root}/link_out/secret.txt", "destination": "{root}/stolen.txt"}"#,
        "access denied: `{root}/link_out/secret.txt`: it resolves outside",
    ),
    (
        "move_file",
        r#"{"source": "{root}/inner/ok.txt", "destination": "{root}/relative_link_out/sub/planted.txt"}"#,
        "access denied: `{root}/relative_link_out/sub/planted.txt`",
    ),
    ("move_file", r#"{"source": "{root}/inner/ok.txt", "destination": "{base}/outside/planted.txt"}"#, "access denied"),
    ("search_files", r#"{"path": "{root}/link_out", "pattern": "*"}"#, "access denied"),
    ("search_files", r#"{"path": "{root}/..", "pattern": "**/*"}"#, "access denied"),
    ("get_file_info", r#"{"path": "{root}/link_out/secret.txt"}"#, "access denied"),
    ("get_file_info", r#"{"path": "{base}/allowed_secret"}"#, "access denied"),
    // git's own directory: its configuration and hooks name programs git runs.
    ("write_file", r#"{"path": "{root}/.git/hooks/pre-commit", "content": "id"}"#, "`.git` directory"),
    ("write_file", r#"{"path": "inner/repo/.GIT/config", "content": "[core]\n"}"#, "`.git` directory"),
    ("create_directory", r#"{"path": "{root}/sub/.git/hooks"}"#, "`.git` directory"),
    ("edit_file", r#"{"path": "{root}/.git/config", "edits": [{"oldText": "a", "newText": "b"}]}"#, "`.git` directory"),
    ("move_file", r#"{"source": "{root}/inner/ok.txt", "destination": "{root}/.git/config"}"#, "`.git` directory"),
];

fn arguments(template: &str, scratch: &Scratch) -> JsonObject {
    let text = template
        .replace("{root}", &scratch.root.display().to_string())
        .replace("{base}", &scratch.base.display().to_string());
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => map,
        other => panic!("bad case {template}: {other:?}"),
    }
}

#[tokio::test]
async fn every_hostile_path_is_refused_and_nothing_outside_changes() {
    let scratch = Scratch::new();
    let tools = scratch.tools();
    let before = scratch.outside_snapshot();
    let mut failures = Vec::new();
    for (tool, template, expected) in CASES {
        let result = tools.call(tool, arguments(template, &scratch), mcp_core::ToolContext::detached()).await;
        let text = result.text_content();
        let expected = expected.replace("{root}", &scratch.root.display().to_string());
        if !result.is_error() || !text.contains(&expected) || text.contains(SECRET) {
            failures.push(format!("{tool} {template}: is_error={} text={text:?}", result.is_error()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} hostile cases were not refused:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
    assert_eq!(scratch.outside_snapshot(), before, "something outside the root changed");
    assert!(scratch.root.join("file_link").is_symlink(), "the symlink itself must be left alone");
    assert!(!scratch.root.join("stolen.txt").exists());
    assert!(!scratch.root.join(".git").exists() && !scratch.root.join("sub").exists(), "a git directory was written");
}

#[tokio::test]
async fn reading_many_files_reports_refusals_inline_without_leaking() {
    let scratch = Scratch::new();
    let tools = scratch.tools();
    let args = arguments(
        r#"{"paths": ["{root}/inner/ok.txt", "{root}/link_out/secret.txt", "{base}/allowed_secret/secret.txt"]}"#,
        &scratch,
    );
    let result = tools.call("read_multiple_files", args, mcp_core::ToolContext::detached()).await;
    let text = result.text_content();
    assert!(text.contains("fine"), "{text}");
    assert_eq!(text.matches("access denied").count(), 2, "{text}");
    assert!(!text.contains(SECRET), "{text}");
}

#[tokio::test]
async fn trees_and_searches_list_symlinks_but_never_descend_into_them() {
    let scratch = Scratch::new();
    let tools = scratch.tools();
    let cx = mcp_core::ToolContext::detached;
    let tree = tools.call("directory_tree", arguments(r#"{"path": "{root}"}"#, &scratch), cx()).await;
    assert!(!tree.is_error(), "{}", tree.text_content());
    assert!(
        tree.text_content().contains("link_out") && !tree.text_content().contains("secret.txt"),
        "{}",
        tree.text_content()
    );
    let found =
        tools.call("search_files", arguments(r#"{"path": "{root}", "pattern": "**/*secret*"}"#, &scratch), cx()).await;
    assert_eq!(found.text_content(), "No matches found");
    // A symlink that stays inside is followed like the reference server does.
    let inside = tools.call("read_text_file", arguments(r#"{"path": "{root}/inside_link"}"#, &scratch), cx()).await;
    assert_eq!(inside.text_content(), "fine\n");
}

#[tokio::test]
async fn a_symlink_swapped_in_while_reading_never_leaks_the_outside() {
    // A directory inside the root is replaced by a symlink to the outside, over and over, while
    // reads go on: confinement is checked by the kernel at each open, so no read may ever see
    // the outside file.
    let scratch = Scratch::new();
    let tools = scratch.tools();
    let flip = scratch.root.join("flip");
    std::fs::create_dir(&flip).expect("mkdir");
    std::fs::write(flip.join("secret.txt"), "inside").expect("write");
    let stop = Arc::new(AtomicBool::new(false));
    let flipper = {
        let (stop, flip, outside) = (stop.clone(), flip.clone(), scratch.base.join("outside"));
        let staged = scratch.root.join("flip_real");
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let _ = std::fs::rename(&flip, &staged);
                let _ = std::os::unix::fs::symlink(&outside, &flip);
                let _ = std::fs::remove_file(&flip);
                let _ = std::fs::rename(&staged, &flip);
            }
        })
    };
    let args = arguments(r#"{"path": "{root}/flip/secret.txt"}"#, &scratch);
    let mut inside_reads = 0;
    for _ in 0..2000 {
        let result = tools.call("read_text_file", args.clone(), mcp_core::ToolContext::detached()).await;
        let text = result.text_content();
        assert!(!text.contains(SECRET), "the outside file leaked: {text}");
        if !result.is_error() {
            inside_reads += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    flipper.join().expect("flipper thread");
    assert!(inside_reads > 0, "the race never let a legitimate read through; the test proved nothing");
}

/// git checks out and clones a symlink to `.git` like any other (`meta -> .git`): a write through
/// it would put configuration there (`diff.external`, an alias starting with `!`) that the next
/// `git diff` or `git st` runs. Every write that resolves into the git directory is refused, and
/// the repository's configuration stays as it was.
#[tokio::test]
async fn writes_through_a_symlink_into_a_git_directory_are_refused() {
    let scratch = Scratch::new();
    let tools = scratch.tools();
    let repo = scratch.root.join("repo");
    std::fs::create_dir_all(repo.join(".git/hooks")).expect("mkdir");
    std::fs::write(repo.join(".git/config"), "[core]\n\tbare = false\n").expect("write");
    std::os::unix::fs::symlink(".git", repo.join("meta")).expect("symlink to .git");
    std::os::unix::fs::symlink(".git/hooks", repo.join("hooks")).expect("symlink into .git");
    std::os::unix::fs::symlink("repo/meta", scratch.root.join("chain")).expect("symlink to the symlink");
    let cases = [
        ("write_file", r#"{"path": "{root}/repo/meta/config", "content": "[alias]\n\tst = !id\n"}"#),
        ("write_file", r#"{"path": "repo/hooks/pre-commit", "content": "id"}"#),
        ("write_file", r#"{"path": "{root}/chain/hooks/post-checkout", "content": "id"}"#),
        ("edit_file", r#"{"path": "{root}/repo/meta/config", "edits": [{"oldText": "bare", "newText": "x"}]}"#),
        (
            "edit_file",
            r#"{"path": "{root}/repo/meta/config", "edits": [{"oldText": "bare", "newText": "x"}], "dryRun": true}"#,
        ),
        ("create_directory", r#"{"path": "{root}/repo/meta/info/more"}"#),
        ("move_file", r#"{"source": "{root}/inner/ok.txt", "destination": "{root}/repo/hooks/pre-push"}"#),
        ("move_file", r#"{"source": "{root}/repo/meta/config", "destination": "{root}/inner/config"}"#),
    ];
    for (tool, template) in cases {
        let result = tools.call(tool, arguments(template, &scratch), mcp_core::ToolContext::detached()).await;
        assert!(
            result.is_error() && result.text_content().contains("`.git` directory"),
            "{tool} {template}: {}",
            result.text_content()
        );
    }
    assert_eq!(std::fs::read_to_string(repo.join(".git/config")).expect("kept"), "[core]\n\tbare = false\n");
    assert_eq!(std::fs::read_dir(repo.join(".git/hooks")).expect("there").count(), 0, "no hook was written");
    assert!(!repo.join(".git/info").exists());
    assert!(scratch.root.join("inner/ok.txt").exists());
    // Reading through the symlink stays allowed, as does writing beside it.
    let read = tools
        .call(
            "read_text_file",
            arguments(r#"{"path": "{root}/repo/meta/config"}"#, &scratch),
            mcp_core::ToolContext::detached(),
        )
        .await;
    assert!(!read.is_error(), "{}", read.text_content());
    let beside = tools
        .call(
            "write_file",
            arguments(r#"{"path": "{root}/repo/notes.txt", "content": "ok"}"#, &scratch),
            mcp_core::ToolContext::detached(),
        )
        .await;
    assert!(!beside.is_error(), "{}", beside.text_content());
}

/// A git directory need not be called `.git`: a bare `proj.git` whose worktrees (`main/`, with a
/// `.git` file naming `proj.git/worktrees/main`) git runs in, or one made with
/// `--separate-git-dir`. It is known by git's own layout (`HEAD` beside `objects/` and `refs/`,
/// or beside `commondir` in a worktree's), and nothing is written in it; a directory that only
/// holds a file called `HEAD` is no git directory.
#[tokio::test]
async fn a_git_directory_of_another_name_is_known_by_its_layout() {
    let scratch = Scratch::new();
    let tools = scratch.tools();
    let bare = scratch.root.join("proj.git");
    for dir in ["objects", "refs/heads", "hooks", "worktrees/main"] {
        std::fs::create_dir_all(bare.join(dir)).expect("mkdir");
    }
    std::fs::write(bare.join("HEAD"), "ref: refs/heads/main\n").expect("write");
    std::fs::write(bare.join("config"), "[core]\n\tbare = true\n").expect("write");
    std::fs::write(bare.join("worktrees/main/HEAD"), "ref: refs/heads/main\n").expect("write");
    std::fs::write(bare.join("worktrees/main/commondir"), "../..\n").expect("write");
    std::fs::create_dir(scratch.root.join("main")).expect("mkdir");
    std::fs::write(scratch.root.join("main/.git"), format!("gitdir: {}\n", bare.join("worktrees/main").display()))
        .expect("write");
    for (tool, template) in [
        ("write_file", r#"{"path": "{root}/proj.git/config", "content": "[alias]\n\tst = !id\n"}"#),
        ("write_file", r#"{"path": "{root}/proj.git/hooks/post-checkout", "content": "id"}"#),
        ("write_file", r#"{"path": "{root}/proj.git/worktrees/main/config.worktree", "content": "[diff]\n"}"#),
        ("edit_file", r#"{"path": "{root}/proj.git/config", "edits": [{"oldText": "bare", "newText": "x"}]}"#),
        ("create_directory", r#"{"path": "{root}/proj.git/info"}"#),
        ("move_file", r#"{"source": "{root}/inner/ok.txt", "destination": "{root}/proj.git/hooks/pre-push"}"#),
    ] {
        let result = tools.call(tool, arguments(template, &scratch), mcp_core::ToolContext::detached()).await;
        assert!(
            result.is_error() && result.text_content().contains("`.git` directory"),
            "{tool} {template}: {}",
            result.text_content()
        );
    }
    assert_eq!(std::fs::read_to_string(bare.join("config")).expect("kept"), "[core]\n\tbare = true\n");
    assert_eq!(std::fs::read_dir(bare.join("hooks")).expect("there").count(), 0);
    assert!(!bare.join("worktrees/main/config.worktree").exists() && !bare.join("info").exists());
    // The worktree itself is written as any directory is, and a lone `HEAD` makes no git directory.
    std::fs::create_dir(scratch.root.join("notes")).expect("mkdir");
    for template in [
        r#"{"path": "{root}/main/src.txt", "content": "ok"}"#,
        r#"{"path": "{root}/notes/HEAD", "content": "the newest note"}"#,
        r#"{"path": "{root}/notes/more.txt", "content": "ok"}"#,
    ] {
        let result = tools.call("write_file", arguments(template, &scratch), mcp_core::ToolContext::detached()).await;
        assert!(!result.is_error(), "{template}: {}", result.text_content());
    }
}

/// Reading a FIFO would block in `open` until a writer came, holding a blocking thread for good
/// (a timeout answers the client but cannot stop the thread); a FIFO, like any file that is not
/// regular, is refused at once, by every tool that reads.
#[tokio::test]
async fn a_fifo_is_refused_at_once_by_every_tool_that_reads() {
    let scratch = Scratch::new();
    let tools = scratch.tools();
    let status = std::process::Command::new("mkfifo").arg(scratch.root.join("pipe")).status().expect("mkfifo runs");
    assert!(status.success());
    let cases = [
        ("read_text_file", r#"{"path": "{root}/pipe"}"#),
        ("read_text_file", r#"{"path": "{root}/pipe", "head": 1}"#),
        ("read_text_file", r#"{"path": "{root}/pipe", "tail": 1}"#),
        ("read_media_file", r#"{"path": "{root}/pipe"}"#),
        ("read_multiple_files", r#"{"paths": ["{root}/pipe", "{root}/inner/ok.txt"]}"#),
        ("edit_file", r#"{"path": "{root}/pipe", "edits": [{"oldText": "a", "newText": "b"}]}"#),
    ];
    for (tool, template) in cases {
        let call = tools.call(tool, arguments(template, &scratch), mcp_core::ToolContext::detached());
        let result = tokio::time::timeout(std::time::Duration::from_secs(20), call)
            .await
            .unwrap_or_else(|_| panic!("{tool} {template} waited on the FIFO"));
        let text = result.text_content();
        assert!(text.contains("is not a regular file (a FIFO, socket or device)"), "{tool} {template}: {text}");
        if tool == "read_multiple_files" {
            assert!(text.contains("fine"), "the other file is still read: {text}");
        } else {
            assert!(result.is_error(), "{tool}: {text}");
        }
    }
    let dir = tools
        .call("read_text_file", arguments(r#"{"path": "{root}/inner"}"#, &scratch), mcp_core::ToolContext::detached())
        .await;
    assert!(dir.is_error() && dir.text_content().contains("is a directory"), "{}", dir.text_content());
}

/// A client can nest directories as deep as it likes (`create_directory`, `move_file`). A walk
/// one frame and one open directory per level ran out of stack about a thousand levels down and
/// took the whole server with it; past 256 levels it now stops with an error naming the depth,
/// and the server goes on.
#[tokio::test]
async fn a_tree_nested_deeper_than_the_walks_go_is_refused_and_the_server_goes_on() {
    let scratch = Scratch::new();
    let tools = scratch.tools();
    let cx = mcp_core::ToolContext::detached;
    let deep = scratch.root.join("deep");
    std::fs::create_dir_all(deep.join(std::iter::repeat_n("d", 1500).collect::<Vec<_>>().join("/")))
        .expect("a deep tree");
    let shallow = scratch.root.join("shallow");
    std::fs::create_dir_all(shallow.join(std::iter::repeat_n("d", 200).collect::<Vec<_>>().join("/")))
        .expect("a tree of 200 levels");
    for (tool, template) in [
        ("directory_tree", r#"{"path": "{root}/deep"}"#),
        ("search_files", r#"{"path": "{root}/deep", "pattern": "**/x"}"#),
    ] {
        let result = tools.call(tool, arguments(template, &scratch), cx()).await;
        assert!(
            result.is_error() && result.text_content().contains("more than 256 levels deep"),
            "{tool}: {}",
            result.text_content()
        );
    }
    let tree = tools.call("directory_tree", arguments(r#"{"path": "{root}/shallow"}"#, &scratch), cx()).await;
    assert!(!tree.is_error(), "200 levels are walked: {}", &tree.text_content()[..200]);
    assert_eq!(tree.text_content().matches("\"directory\"").count(), 200);
    let found =
        tools.call("search_files", arguments(r#"{"path": "{root}/shallow", "pattern": "**/d"}"#, &scratch), cx()).await;
    assert_eq!(found.text_content().lines().count(), 200, "{}", &found.text_content()[..200]);
}
