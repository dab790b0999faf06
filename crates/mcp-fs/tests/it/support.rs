//! A scratch tree with an allowed root, a sibling whose name extends it, an outside directory,
//! and symlinks that point out.

use std::path::{Path, PathBuf};

use mcp_core::ToolSet;
use mcp_fs::native::{FsServer, Limits};

pub struct Scratch {
    _dir: tempfile::TempDir,
    pub base: PathBuf,
    pub root: PathBuf,
}

pub const SECRET: &str = "TOP-SECRET-CONTENT";

impl Scratch {
    pub fn new() -> Scratch {
        let dir = tempfile::tempdir().expect("temp dir");
        let base = dir.path().canonicalize().expect("canonical temp dir");
        let root = base.join("allowed");
        for d in ["allowed/inner", "allowed_secret", "outside"] {
            std::fs::create_dir_all(base.join(d)).expect("mkdir");
        }
        std::fs::write(base.join("allowed/inner/ok.txt"), "fine\n").expect("write");
        std::fs::write(base.join("allowed_secret/secret.txt"), SECRET).expect("write");
        std::fs::write(base.join("outside/secret.txt"), SECRET).expect("write");
        std::os::unix::fs::symlink(base.join("outside"), root.join("link_out")).expect("dir symlink");
        std::os::unix::fs::symlink("../outside", root.join("relative_link_out")).expect("relative dir symlink");
        std::os::unix::fs::symlink(base.join("outside/secret.txt"), root.join("file_link")).expect("file symlink");
        std::os::unix::fs::symlink("inner/ok.txt", root.join("inside_link")).expect("inside symlink");
        Scratch { _dir: dir, base, root }
    }

    pub fn tools(&self) -> ToolSet {
        FsServer::open([&self.root], Limits::default()).expect("opens").registry().tools
    }

    /// Every file outside the root with its content, to prove nothing there changed.
    pub fn outside_snapshot(&self) -> Vec<(PathBuf, String)> {
        let mut out = Vec::new();
        for d in ["allowed_secret", "outside"] {
            snapshot(&self.base.join(d), &mut out);
        }
        out.sort();
        out
    }
}

fn snapshot(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
    for entry in std::fs::read_dir(dir).expect("readable") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            snapshot(&path, out);
        } else {
            out.push((path.clone(), std::fs::read_to_string(&path).unwrap_or_default()));
        }
    }
}
