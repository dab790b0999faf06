//! Project automation: `cargo xtask <command>`.
//!
//! - `setup`: install the real MCP peers the tests talk to (Python SDKs in virtual environments
//!   under `.tools/`, npm servers under `tests/node/node_modules`). Idempotent.
//! - `test`: `setup`, then every test of the workspace.
//! - `ci`: formatting and lint checks, then `test`. This is what CI runs.
//! - `bench`: the stdio round-trip benchmark.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Python environments: folder under `.tools/` and the requirements file that pins it.
const PYTHON_ENVS: &[(&str, &str)] =
    &[("py-mcp2", "tests/requirements-mcp2.txt"), ("py-mcp1", "tests/requirements-mcp1.txt")];

fn main() -> Result<()> {
    let task = std::env::args().nth(1).unwrap_or_default();
    let root = project_root();
    std::env::set_current_dir(&root)?;
    match task.as_str() {
        "setup" => setup(&root),
        "test" => {
            setup(&root)?;
            test()
        }
        "ci" => {
            run(Command::new("cargo").args(["fmt", "--all", "--check"]))?;
            run(Command::new("cargo").args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--all-features",
                "--locked",
                "--",
                "-D",
                "warnings",
            ]))?;
            setup(&root)?;
            test()
        }
        "bench" => {
            setup(&root)?;
            for (package, bench) in
                [("mcp-core", "stdio_roundtrip"), ("mcp-fs", "read_text_file"), ("mcp-audit", "pipeline")]
            {
                run(Command::new("cargo").args(["bench", "--all-features", "-p", package, "--bench", bench]))?;
            }
            Ok(())
        }
        _ => {
            eprintln!("usage: cargo xtask <setup|test|ci|bench>");
            bail!("unknown task {task:?}")
        }
    }
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

fn setup(root: &Path) -> Result<()> {
    let tools = root.join(".tools");
    std::fs::create_dir_all(&tools)?;
    for (name, requirements) in PYTHON_ENVS {
        let venv = tools.join(name);
        let wanted =
            std::fs::read_to_string(root.join(requirements)).with_context(|| format!("reading {requirements}"))?;
        let stamp = venv.join("installed-requirements.txt");
        if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
            continue;
        }
        eprintln!("xtask: creating Python environment {}", venv.display());
        run(Command::new(python()).args(["-m", "venv", "--clear"]).arg(&venv))?;
        let pip = venv.join("bin/pip");
        run(Command::new(&pip)
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(root.join(requirements)))?;
        std::fs::write(&stamp, wanted)?;
    }

    let node = root.join("tests/node");
    let lock =
        std::fs::read_to_string(node.join("package-lock.json")).context("reading tests/node/package-lock.json")?;
    let stamp = node.join("node_modules/.installed-lock.json");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(lock.as_str()) {
        eprintln!("xtask: installing npm test servers into tests/node/node_modules");
        run(Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]).current_dir(&node))?;
        std::fs::write(&stamp, lock)?;
    }
    Ok(())
}

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

fn test() -> Result<()> {
    let nextest = Command::new("cargo").args(["nextest", "--version"]).output().is_ok_and(|o| o.status.success());
    if nextest {
        run(Command::new("cargo").args([
            "nextest",
            "run",
            "--workspace",
            "--all-features",
            "--locked",
            "--no-fail-fast",
        ]))?;
        run(Command::new("cargo").args(["test", "--workspace", "--all-features", "--locked", "--doc"]))
    } else {
        run(Command::new("cargo").args(["test", "--workspace", "--all-features", "--locked", "--no-fail-fast"]))
    }
}

fn run(command: &mut Command) -> Result<()> {
    eprintln!("xtask: {command:?}");
    let status = command.status().with_context(|| format!("cannot run {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed: {status}");
    }
    Ok(())
}
