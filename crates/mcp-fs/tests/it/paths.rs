//! Legitimate paths the confinement must not refuse (names up to `NAME_MAX`, `..` that stays
//! inside the root), and a dry run refused exactly as the edit it previews.

use mcp_core::ToolContext;
use mcp_core::protocol::JsonObject;
use serde_json::{Value, json};

use crate::support::Scratch;

fn args(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

/// Names of 250 and 255 bytes are valid on Linux (`NAME_MAX`): writing and editing them must
/// not fail because of the temporary file the atomic write goes through, which must not be left
/// behind either.
#[tokio::test]
async fn files_with_names_up_to_name_max_are_written_and_edited() {
    let scratch = Scratch::new();
    let tools = scratch.tools();
    for len in [250, 255] {
        let name = format!("{}.txt", "n".repeat(len - 4));
        assert_eq!(name.len(), len);
        let path = scratch.root.join("inner").join(&name).display().to_string();
        let written = tools
            .call("write_file", args(json!({"path": path, "content": "one\ntwo\n"})), ToolContext::detached())
            .await;
        assert!(!written.is_error(), "write of a {len}-byte name: {}", written.text_content());
        let edits = json!([{"oldText": "two", "newText": "TWO"}]);
        let edited =
            tools.call("edit_file", args(json!({"path": path, "edits": edits})), ToolContext::detached()).await;
        assert!(!edited.is_error(), "edit of a {len}-byte name: {}", edited.text_content());
        assert_eq!(std::fs::read_to_string(scratch.root.join("inner").join(&name)).expect("written"), "one\nTWO\n");
    }
    let mut left: Vec<String> = std::fs::read_dir(scratch.root.join("inner"))
        .expect("readable")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left.len(), 3, "only ok.txt and the two files, no temporary file left: {left:?}");
}

/// A symlink inside the root may be read but not written (the write would replace the link):
/// the dry run of an edit is refused with the same words as the edit, and changes nothing.
#[tokio::test]
async fn a_dry_run_is_refused_exactly_as_the_edit_it_previews() {
    let scratch = Scratch::new();
    let tools = scratch.tools();
    let path = scratch.root.join("inside_link").display().to_string();
    let edits = json!([{"oldText": "fine", "newText": "changed"}]);
    let dry = tools
        .call("edit_file", args(json!({"path": path, "edits": edits, "dryRun": true})), ToolContext::detached())
        .await;
    let real = tools.call("edit_file", args(json!({"path": path, "edits": edits})), ToolContext::detached()).await;
    assert!(real.is_error(), "the edit through a symlink is refused: {}", real.text_content());
    assert!(real.text_content().contains("symbolic link"), "{}", real.text_content());
    assert!(dry.is_error(), "the dry run promised an edit that is refused: {}", dry.text_content());
    assert_eq!(dry.text_content(), real.text_content(), "the same refusal");
    assert!(scratch.root.join("inside_link").is_symlink());
    assert_eq!(std::fs::read_to_string(scratch.root.join("inner/ok.txt")).expect("there"), "fine\n");
}

/// An absolute path with `..` is resolved before it is located: one that ends inside the root
/// is allowed (read, written, listed), one that climbs out is refused as before.
#[tokio::test]
async fn absolute_paths_with_dot_dot_that_stay_inside_the_root_are_allowed() {
    let scratch = Scratch::new();
    let tools = scratch.tools();
    let root = scratch.root.display().to_string();
    let cx = ToolContext::detached;
    for spelling in [
        format!("{root}/inner/../inner/ok.txt"),
        format!("{root}/inner/./../inner/ok.txt"),
        format!("{root}/../allowed/inner/ok.txt"),
        format!("{root}/inner/../../allowed/inner/../inner/ok.txt"),
    ] {
        let read = tools.call("read_text_file", args(json!({"path": spelling})), cx()).await;
        assert_eq!((read.is_error(), read.text_content()), (false, "fine\n".to_owned()), "{spelling}");
    }
    let target = format!("{root}/inner/../a.txt");
    let written = tools.call("write_file", args(json!({"path": target, "content": "x"})), cx()).await;
    assert!(!written.is_error(), "{}", written.text_content());
    assert_eq!(std::fs::read_to_string(scratch.root.join("a.txt")).expect("written"), "x");
    let listed = tools.call("list_directory", args(json!({"path": format!("{root}/inner/..")})), cx()).await;
    assert!(!listed.is_error() && listed.text_content().contains("[FILE] a.txt"), "{}", listed.text_content());

    // Through the spelling of the root given at start (a symlink to it), too.
    let alias = scratch.base.join("alias");
    std::os::unix::fs::symlink(&scratch.root, &alias).expect("symlink");
    let tools =
        mcp_fs::native::FsServer::open([&alias], mcp_fs::native::Limits::default()).expect("opens").registry().tools;
    let spelling = format!("{}/inner/../inner/ok.txt", alias.display());
    let read = tools.call("read_text_file", args(json!({"path": spelling})), cx()).await;
    assert_eq!((read.is_error(), read.text_content()), (false, "fine\n".to_owned()), "{spelling}");

    // Climbing out is refused, and says so.
    for spelling in [
        format!("{root}/.."),
        format!("{root}/inner/../../outside/secret.txt"),
        format!("{root}/../allowed_secret/secret.txt"),
    ] {
        let read = tools.call("read_text_file", args(json!({"path": spelling})), cx()).await;
        assert!(read.is_error(), "{spelling}: {}", read.text_content());
        assert!(read.text_content().contains("climbs out of the allowed directories"), "{}", read.text_content());
    }
}

/// `read_multiple_files` returns at most `max_read_bytes` in all, as one file may be: the same
/// large file named many times would otherwise be held in memory once per name. A file that
/// would pass the budget is not read, and says why in its place; the others are.
#[tokio::test]
async fn reading_many_files_returns_at_most_one_files_budget_in_all() {
    let scratch = Scratch::new();
    std::fs::write(scratch.root.join("big.txt"), "b".repeat(600)).expect("write");
    let limits = mcp_fs::native::Limits { max_read_bytes: 1000, ..Default::default() };
    let tools = mcp_fs::native::FsServer::open([&scratch.root], limits).expect("opens").registry().tools;
    let big = scratch.root.join("big.txt").display().to_string();
    let ok = scratch.root.join("inner/ok.txt").display().to_string();
    let result =
        tools.call("read_multiple_files", args(json!({"paths": [big, big, ok, big]})), ToolContext::detached()).await;
    let text = result.text_content();
    assert_eq!(text.matches(&"b".repeat(600)).count(), 1, "{text}");
    assert_eq!(
        text.matches("not read: its 600 bytes would take the files of this call past 1000 bytes").count(),
        2,
        "{text}"
    );
    assert!(text.contains("fine"), "a small file still fits: {text}");
}

/// As the reference server does (and as the tool's description now says): a whole read and
/// `head` return line ends as stored, `tail` returns CRLF as LF.
#[tokio::test]
async fn line_ends_are_kept_by_a_whole_read_and_head_and_turned_into_lf_by_tail() {
    let scratch = Scratch::new();
    let tools = scratch.tools();
    std::fs::write(scratch.root.join("dos.txt"), "one\r\ntwo\r\nthree\r\n").expect("write");
    let path = scratch.root.join("dos.txt").display().to_string();
    let read = |extra: Value| {
        let mut arguments = args(json!({"path": path}));
        arguments.extend(args(extra));
        let tools = tools.clone();
        async move { tools.call("read_text_file", arguments, ToolContext::detached()).await.text_content() }
    };
    assert_eq!(read(json!({"head": 2})).await, "one\r\ntwo\r");
    assert_eq!(read(json!({"tail": 2})).await, "three\n");
    assert_eq!(read(json!({})).await, "one\r\ntwo\r\nthree\r\n");
}
