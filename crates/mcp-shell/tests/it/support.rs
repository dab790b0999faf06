use std::path::PathBuf;

use mcp_core::ToolSet;
use mcp_shell::native::{ShellConfig, ShellServer};

pub struct Sandbox {
    _dir: tempfile::TempDir,
    pub base: PathBuf,
    pub root: PathBuf,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().expect("temp dir");
        let base = dir.path().canonicalize().expect("canonical");
        let root = base.join("work");
        std::fs::create_dir_all(root.join("sub")).expect("mkdir");
        std::fs::create_dir_all(base.join("work_secret")).expect("mkdir");
        std::fs::create_dir_all(base.join("outside")).expect("mkdir");
        std::fs::write(root.join("hello.txt"), "hello\n").expect("write");
        std::os::unix::fs::symlink(base.join("outside"), root.join("link_out")).expect("symlink");
        Sandbox { _dir: dir, base, root }
    }

    pub fn config(&self, allow: &[&str], interpreters: &[&str]) -> ShellConfig {
        ShellConfig {
            allow: allow.iter().map(|s| (*s).to_owned()).collect(),
            allow_interpreters: interpreters.iter().map(|s| (*s).to_owned()).collect(),
            roots: vec![self.root.clone()],
            ..ShellConfig::default()
        }
    }

    pub fn tools(&self, allow: &[&str], interpreters: &[&str]) -> ToolSet {
        ShellServer::new(self.config(allow, interpreters)).expect("valid config").registry().tools
    }
}
