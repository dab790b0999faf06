//! The same operations through the typed wrappers against npm's reference filesystem server
//! and against the native backend, in two identical scratch directories: the results agree.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::path::{Path, PathBuf};

use mcp_core::config::StdioServer;
use mcp_core::{CallTool, Client, ClientOptions};
use mcp_fs::native::{FsServer, Limits};
use mcp_fs::{EditOperation, Filesystem, TreeEntry};

fn npm_server_bin() -> PathBuf {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/node/node_modules/.bin/mcp-server-filesystem");
    assert!(bin.exists(), "{} is missing: run `cargo xtask setup`", bin.display());
    bin
}

/// A tiny PNG (1x1, transparent).
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x60, 0x00, 0x02, 0x00, 0x00, 0x05, 0x00, 0x01, 0xe9, 0xfa, 0xdc, 0xd8, 0x00,
    0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// Runs every operation on one backend and returns what came back, with the root replaced by
/// `<ROOT>` so the two runs can be compared.
async fn run<C: CallTool>(fs: &Filesystem<C>, root: &Path) -> Vec<(String, String)> {
    let r = root.display().to_string();
    let p = |rel: &str| format!("{r}/{rel}");
    let mut log: Vec<(String, String)> = Vec::new();
    let mut record = |step: &str, value: &dyn Debug| {
        log.push((step.to_owned(), format!("{value:?}").replace(&r, "<ROOT>")));
    };
    // Outcomes: Ok values in full; errors only as "error" (messages are worded differently).
    fn outcome<T: Debug, E>(r: &Result<T, E>) -> String {
        match r {
            Ok(v) => format!("ok {v:?}"),
            Err(_) => "error".into(),
        }
    }

    record("write", &outcome(&fs.write_file(&p("a.txt"), "line1\r\nline2\nline3\n").await));
    record("read", &outcome(&fs.read_file(&p("a.txt")).await));
    record("head", &outcome(&fs.read_text_file(&p("a.txt"), Some(2), None).await));
    record("tail", &outcome(&fs.read_text_file(&p("a.txt"), None, Some(2)).await));
    record("deprecated read_file", &outcome(&fs.read_file_deprecated(&p("a.txt")).await));
    let edits = [EditOperation { old_text: "line2".into(), new_text: "LINE-2".into() }];
    record("edit dry run", &outcome(&fs.edit_file(&p("a.txt"), &edits, true).await));
    record("after dry run", &outcome(&fs.read_file(&p("a.txt")).await));
    record("edit", &outcome(&fs.edit_file(&p("a.txt"), &edits, false).await));
    let fuzzy = [EditOperation { old_text: "  line3  ".into(), new_text: "line-3".into() }];
    record("whitespace-tolerant edit", &outcome(&fs.edit_file(&p("a.txt"), &fuzzy, false).await));
    let missing = [EditOperation { old_text: "absent".into(), new_text: "x".into() }];
    record("edit without match", &outcome(&fs.edit_file(&p("a.txt"), &missing, false).await));
    record("after edits", &outcome(&fs.read_file(&p("a.txt")).await));
    record("mkdir", &outcome(&fs.create_directory(&p("sub/deeper")).await));
    record("mkdir again", &outcome(&fs.create_directory(&p("sub/deeper")).await));
    record("write md", &outcome(&fs.write_file(&p("sub/b.md"), "# B\n").await));
    record("write md deep", &outcome(&fs.write_file(&p("sub/deeper/c.md"), &"c".repeat(2048)).await));
    let listing: BTreeSet<_> =
        fs.list_directory(&r).await.expect("list_directory").into_iter().map(|e| (e.name, e.is_dir)).collect();
    record("list", &listing);
    record("sizes by name", &outcome(&fs.list_directory_with_sizes(&p("sub/deeper"), false).await));
    // These must succeed on both backends: a failure on both would otherwise compare equal.
    let tree = fs.directory_tree(&r, &[]).await.expect("directory_tree");
    record("tree", &sorted_tree(tree));
    let tree = fs.directory_tree(&r, &["deeper"]).await.expect("directory_tree with exclusions");
    record("tree excluding", &sorted_tree(tree));
    let found: BTreeSet<String> =
        fs.search_files(&r, "**/*.md", &[]).await.expect("search_files").into_iter().collect();
    record("search", &found);
    record("search nothing", &outcome(&fs.search_files(&r, "*.nothing", &[]).await));
    record("move", &outcome(&fs.move_file(&p("a.txt"), &p("sub/a2.txt")).await));
    record("move onto existing", &outcome(&fs.move_file(&p("sub/b.md"), &p("sub/a2.txt")).await));
    let info =
        fs.get_file_info(&p("sub/a2.txt")).await.ok().map(|i| (i.size, i.is_file, i.is_directory, i.permissions));
    record("info", &info);
    record("read many", &outcome(&fs.read_multiple_files(&[&p("sub/a2.txt"), &p("sub/b.md")]).await));
    record("read missing", &outcome(&fs.read_file(&p("nope.txt")).await));
    record("read outside", &outcome(&fs.read_file("/etc/hostname").await));
    std::fs::write(root.join("dot.png"), PNG).expect("write png");
    record("media", &outcome(&fs.read_media_file(&p("dot.png")).await));
    record("allowed", &outcome(&fs.list_allowed_directories().await));
    // The files on disk must end up the same too.
    record("disk", &std::fs::read_to_string(root.join("sub/a2.txt")).ok());
    log
}

fn sorted_tree(mut entries: Vec<TreeEntry>) -> Vec<TreeEntry> {
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    for e in &mut entries {
        if let Some(children) = e.children.take() {
            e.children = Some(sorted_tree(children));
        }
    }
    entries
}

#[tokio::test]
async fn wrappers_get_the_same_results_from_the_npm_server_and_the_native_backend() {
    let npm_dir = tempfile::tempdir().expect("temp");
    let native_dir = tempfile::tempdir().expect("temp");
    // Both roots get the same final path component so listings mention the same names.
    let npm_root = npm_dir.path().canonicalize().expect("canonical").join("root");
    let native_root = native_dir.path().canonicalize().expect("canonical").join("root");
    std::fs::create_dir(&npm_root).expect("mkdir");
    std::fs::create_dir(&native_root).expect("mkdir");

    let server = StdioServer::new(npm_server_bin().display().to_string(), [npm_root.display().to_string()]);
    let npm =
        Filesystem::new(Client::spawn("npm-fs", &server, ClientOptions::default()).await.expect("npm server starts"));
    let native = Filesystem::new(FsServer::open([&native_root], Limits::default()).expect("opens").registry().tools);

    let from_npm = run(&npm, &npm_root).await;
    let from_native = run(&native, &native_root).await;
    let differences: Vec<String> = from_npm
        .iter()
        .zip(&from_native)
        .filter(|(a, b)| a != b)
        .map(|((step, a), (_, b))| format!("{step}:\n  npm:    {a}\n  native: {b}"))
        .collect();
    assert!(differences.is_empty(), "{} steps differ:\n{}", differences.len(), differences.join("\n"));
    assert_eq!(from_npm.len(), from_native.len());
}

#[tokio::test]
async fn the_native_tools_list_the_reference_servers_names_and_argument_names() {
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/reference-tools.json"))
            .expect("reference list"),
    )
    .expect("json");
    let dir = tempfile::tempdir().expect("temp");
    let tools = FsServer::open([dir.path()], Limits::default()).expect("opens").registry().tools;
    for expected in reference.as_array().expect("array") {
        let name = expected["name"].as_str().expect("name");
        let ours = tools.get(name).unwrap_or_else(|| panic!("tool {name} missing")).definition();
        let keys = |schema: &serde_json::Value| -> BTreeSet<String> {
            schema["properties"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
        };
        let our_schema = serde_json::Value::Object(ours.input_schema.clone());
        assert_eq!(keys(&our_schema), keys(&expected["inputSchema"]), "{name}: argument names");
        assert_eq!(our_schema["required"], expected["inputSchema"]["required"], "{name}: required arguments");
        // Whether unknown arguments are refused, as the reference does.
        assert_eq!(
            our_schema["additionalProperties"], expected["inputSchema"]["additionalProperties"],
            "{name}: additionalProperties"
        );
        for (arg, spec) in expected["inputSchema"]["properties"].as_object().into_iter().flatten() {
            assert_eq!(our_schema["properties"][arg]["type"], spec["type"], "{name}.{arg}: type");
        }
        let annotations = serde_json::to_value(&ours.annotations).expect("json");
        assert_eq!(annotations["readOnlyHint"], expected["annotations"]["readOnlyHint"], "{name}: readOnlyHint");
    }
    assert_eq!(tools.len(), reference.as_array().map_or(0, Vec::len));
}
