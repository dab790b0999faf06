//! mcp-fs path confinement against a real directory tree with symlinks that point outside.
//!
//! The tree, made again for every run: `base/root` is the allowed directory, `base/outside`
//! holds `OUTSIDE-MARK.txt` (4099 bytes starting `MARK`), and inside the root are
//! `escape -> ../outside`, `abs -> /…/base/outside`, `sub/up -> ../..`, `dangling ->
//! ../outside/new.txt`, plus links that stay inside. `base/alias` is a symlink to the root, and
//! some runs open the root through it. `HOME` is the outside directory, so `~` leads out too.
//!
//! Arbitrary reads, listings, writes, edits, renames and directory creations with arbitrary
//! paths (relative, absolute, `..`, `~`, through the links), written as text lines (`read
//! escape/OUTSIDE-MARK.txt`, `@ROOT@` and the like standing for the tree's absolute paths) or
//! built from the input's bytes. Then:
//! - no operation that succeeds returns anything of the outside tree (its marker, its file's
//!   size), and a file read shows a path inside the root that also resolves inside it;
//! - nothing outside the root was created, changed or removed.
#![no_main]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use mcp_fs::native::{Fs, Limits};

const MARK: &str = "MARK";
const SECRET_SIZE: usize = 4099;

struct Base {
    _dir: tempfile::TempDir,
    base: PathBuf,
    root: PathBuf,
    outside: PathBuf,
    alias: PathBuf,
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let base = dir.path().canonicalize().expect("the temporary directory exists");
        let outside = base.join("outside");
        // SAFETY: set once, before any other thread of this process exists.
        unsafe { std::env::set_var("HOME", &outside) };
        Base { root: base.join("root"), alias: base.join("alias"), outside, base, _dir: dir }
    })
}

fn build(b: &Base) {
    for dir in [&b.root, &b.outside] {
        if dir.exists() {
            std::fs::remove_dir_all(dir).expect("the last run's tree can be removed");
        }
    }
    let _ = std::fs::remove_file(&b.alias);
    let secret = format!("{MARK}{}", "-".repeat(SECRET_SIZE - MARK.len() - 8)) + "OUTSIDE\n";
    assert_eq!(secret.len(), SECRET_SIZE);
    std::fs::create_dir_all(b.outside.join("dir")).expect("mkdir");
    std::fs::write(b.outside.join("OUTSIDE-MARK.txt"), &secret).expect("write");
    std::fs::write(b.outside.join("dir/MARK-deeper.txt"), &secret).expect("write");
    std::fs::create_dir_all(b.root.join("sub/deep")).expect("mkdir");
    std::fs::write(b.root.join("inside.txt"), "inside\n").expect("write");
    std::fs::write(b.root.join("sub/deeper.txt"), "deeper\nline two\n").expect("write");
    let links: &[(&str, PathBuf)] = &[
        ("escape", PathBuf::from("../outside")),
        ("abs", b.outside.clone()),
        ("sub/up", PathBuf::from("../..")),
        ("dangling", PathBuf::from("../outside/new.txt")),
        ("abs-file", b.outside.join("OUTSIDE-MARK.txt")),
        ("link.txt", PathBuf::from("inside.txt")),
        ("sub/back", PathBuf::from("..")),
        ("loop", PathBuf::from("loop")),
    ];
    for (name, target) in links {
        std::os::unix::fs::symlink(target, b.root.join(name)).expect("symlink");
    }
    std::os::unix::fs::symlink(&b.root, &b.alias).expect("symlink");
}

/// Everything below `dir`: names, file contents and link targets.
fn snapshot(dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).expect("an entry just listed");
        let what = if meta.file_type().is_symlink() {
            format!("link {:?}", std::fs::read_link(&path).ok())
        } else if meta.is_dir() {
            snapshot(&path, out);
            "dir".to_owned()
        } else {
            format!("file {:?}", std::fs::read(&path).ok())
        };
        out.insert(path, what);
    }
}

/// The names of the tree and the placeholders of its absolute paths, paths are made of.
const PARTS: &[&str] = &[
    "..",
    ".",
    "",
    "escape",
    "abs",
    "abs-file",
    "sub",
    "up",
    "back",
    "deep",
    "dangling",
    "link.txt",
    "loop",
    "inside.txt",
    "deeper.txt",
    "OUTSIDE-MARK.txt",
    "dir",
    "outside",
    "root",
    "alias",
    "new.txt",
    "~",
    "\0",
    "@ROOT@",
    "@BASE@",
    "@ALIAS@",
    "@OUTSIDE@",
];

/// A path built from [`PARTS`], or raw text.
fn path(u: &mut Unstructured<'_>) -> Result<String> {
    if u.ratio(1, 8)? {
        return u.arbitrary();
    }
    let mut s = String::new();
    if u.ratio(1, 4)? {
        s.push('/');
    }
    for i in 0..u.int_in_range(1..=5)? {
        if i > 0 {
            s.push_str(if u.ratio(1, 10)? { "//" } else { "/" });
        }
        s.push_str(u.choose(PARTS)?);
    }
    if u.ratio(1, 10)? {
        s.push('/');
    }
    Ok(s)
}

/// The placeholders replaced by the tree's absolute paths.
fn expand(path: &str, b: &Base) -> String {
    let text = |p: &Path| p.display().to_string();
    path.replace("@ROOT@", &text(&b.root))
        .replace("@BASE@", &text(&b.base))
        .replace("@ALIAS@", &text(&b.alias))
        .replace("@OUTSIDE@", &text(&b.outside))
        .replace("\\0", "\0")
}

const OPS: &[&str] = &[
    "read", "head", "tail", "media", "multi", "info", "list", "sizes", "tree", "search", "write", "mkdir", "rename",
    "edit", "preview",
];

/// What one run does: open the root (through the alias or not), then operations on paths.
struct Plan {
    alias: bool,
    ops: Vec<(&'static str, String, String)>,
}

/// A plan written as text, one operation a line (`read ../x`, `rename a b`), `via alias` first
/// to open the root through its alias: the seeds and regressions are written so.
fn plan_text(data: &[u8]) -> Option<Plan> {
    let text = std::str::from_utf8(data).ok()?;
    let mut plan = Plan { alias: false, ops: Vec::new() };
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if line == "via alias" {
            plan.alias = true;
            continue;
        }
        let mut parts = line.splitn(3, ' ');
        let op = parts.next()?;
        let op = OPS.iter().find(|o| **o == op)?;
        plan.ops.push((op, parts.next().unwrap_or("").to_owned(), parts.next().unwrap_or("").to_owned()));
    }
    Some(plan)
}

fn plan_arbitrary(u: &mut Unstructured<'_>) -> Result<Plan> {
    let mut plan = Plan { alias: u.arbitrary()?, ops: Vec::new() };
    for _ in 0..u.int_in_range(1..=6)? {
        plan.ops.push((*u.choose(OPS)?, path(u)?, path(u)?));
    }
    Ok(plan)
}

fn run(plan: &Plan, b: &Base) {
    build(b);
    let mut before = BTreeMap::new();
    snapshot(&b.outside, &mut before);
    let opened = if plan.alias { &b.alias } else { &b.root };
    let fs = Fs::open([opened], Limits { max_read_bytes: 1 << 20, max_entries: 100 }).expect("the root opens");
    for (op, p, other) in &plan.ops {
        let (p, other) = (expand(p, b), expand(other, b));
        // Writes never name the marker, so only the outside tree ever holds it.
        let writable = !p.contains(MARK) && !other.contains(MARK);
        let output = match *op {
            "read" => fs.read_text(&p, None, None),
            "head" => fs.read_text(&p, Some(2), None),
            "tail" => fs.read_text(&p, None, Some(2)),
            "media" => fs.read_media(&p).map(|(data, mime, shown)| {
                assert!(shown.starts_with(&b.root), "{p:?} was read as {shown:?}, outside the root");
                let resolved = shown.canonicalize().expect("a file just read exists");
                assert!(resolved.starts_with(&b.root), "{p:?} was read from {resolved:?}, outside the root");
                assert!(!data.starts_with("TUFSS"), "{p:?} read the outside file");
                format!("{mime} {}", shown.display())
            }),
            "multi" => {
                // Failures are reported inline, naming the path as asked: keep the files read.
                let all = fs.read_multiple(&[p.clone(), other.clone()]);
                Ok(all.split("\n---\n").filter(|part| !part.contains(": Error - ")).collect::<Vec<_>>().join("\n"))
            }
            "info" => fs.info(&p).inspect(|info| {
                assert!(!info.contains(&format!("size: {SECRET_SIZE}\n")), "{p:?} reached the outside file");
            }),
            "list" => fs.list(&p),
            "sizes" => fs.list_with_sizes(&p, true),
            "tree" => fs.tree(&p, &[]),
            "search" => fs.search(&p, "**/*", &[]),
            "write" if writable => fs.write(&p, "written"),
            "mkdir" if writable => fs.create_dir(&p),
            "rename" if writable => fs.rename(&p, &other),
            "edit" if writable => fs.edit(&p, &[("inside".into(), "in".into())], false),
            "preview" => fs.edit(&p, &[("inside".into(), "in".into())], true),
            _ => continue,
        };
        // What succeeded holds nothing of the outside tree (the paths asked for are echoed back).
        if let Ok(text) = output {
            let (long, short) = if p.len() >= other.len() { (&p, &other) } else { (&other, &p) };
            let rest = text.replace(long.as_str(), "").replace(short.as_str(), "");
            assert!(!rest.contains(MARK), "{op} {p:?} {other:?} reached the outside tree: {text}");
        }
    }
    let mut after = BTreeMap::new();
    snapshot(&b.outside, &mut after);
    assert_eq!(before, after, "the outside tree changed");
    let mut names: Vec<_> = std::fs::read_dir(&b.base).expect("base").flatten().map(|e| e.file_name()).collect();
    names.sort();
    assert_eq!(names, ["alias", "outside", "root"], "something was created beside the root");
}

fuzz_target!(|data: &[u8]| {
    if let Some(plan) = mcptk_fuzz::input(data, plan_text, plan_arbitrary) {
        run(&plan, base());
    }
});
