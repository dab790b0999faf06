//! The release binary's code layout. A start of `mcptk` runs about 1,400 of its functions, about
//! 1.5 MB of code spread over its 38 MB of text; the kernel maps file pages 64 KiB at a time
//! around each fault, so a start left to the default layout faults ~160 times in the text and
//! keeps ~9 MB of it resident. Placed together (lld's `--symbol-ordering-file`), the same start
//! touches a couple of MB.
//!
//! - [`build_release`]: the release `mcptk` as `dist` and `bench` build it (through
//!   [`build_for_dist`]), with the functions listed in [`LIST`] first in its text, on Linux when
//!   the linker takes the list (lld, Rust's default linker on x86_64 Linux since 1.90); a plain
//!   release build otherwise. Only these two get the layout: `cargo build --release`, `cargo
//!   install` and the container image built from source do not. Switching between this build and
//!   a plain one builds the `mcptk` crate (and its LTO link) again, not its dependencies;
//!   `target/release/mcptk` is the last built.
//! - `cargo xtask startup-symbols`: regenerates [`LIST`] by running the starts the benchmark
//!   measures (`mcptk serve builtin`, the default gateway: `initialize`, `tools/list`) under
//!   callgrind and listing every function of the binary they ran; then the functions that calls
//!   run beyond those (`tools/call` of `serve builtin`'s echo over stdio and over HTTP, and of
//!   the default gateway's filesystem tools), so that a request's code sits together too.
//! - Symbol names drift: code changes renumber closures and generic instances, and the hashes in
//!   mangled names change with the compiler and each crate's version. A stale entry only leaves
//!   its function where it was; `bench` reports how many of the list the binary has, and `dist`
//!   and `bench` list the functions again (under callgrind) before they pack or measure a binary
//!   that has fewer than [`FRESH`] of them.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::bench::stdio::{Peer, Session};

/// The functions a start runs, then those its calls run, by their symbol names (grouped, in
/// callgrind's dump order).
pub const LIST: &str = "crates/mcptk/startup-symbols.txt";

/// The share of the listed names a binary must have for `dist` to ship it without listing the
/// functions again. A list made from the binary's own code matches all of them; a few missing
/// cost much: after a change to `main.rs` a binary had 94% of them (the missing ones the
/// command's big async functions among them) and its idle gateway held 1.6 MiB more code
/// (2026-12-05, `bench --only memory`: 9.6 MiB against 8.0).
pub const FRESH: f64 = 0.99;

/// How the release binary was laid out: the list's entries and how many of them it has.
pub struct Layout {
    pub listed: usize,
    pub found: usize,
}

impl Layout {
    fn fresh(&self) -> bool {
        self.found as f64 >= FRESH * self.listed as f64
    }
}

/// Builds the release `mcptk` (in `target/release`) with the startup functions placed together
/// when it can; `None` when it was built without the list (no list, not Linux, or a linker that
/// takes none).
pub fn build_release(root: &Path, target_dir: &Path) -> Result<Option<Layout>> {
    let list = root.join(LIST);
    let build = ["--release", "--locked", "-p", "mcptk-cli", "--bin", "mcptk"];
    let work = target_dir.join("layout");
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let unusable = if !cfg!(target_os = "linux") {
        Some("the layout is made for ELF binaries on Linux".to_owned())
    } else if !list.exists() {
        Some(format!("{LIST} is missing"))
    } else {
        linker_orders_symbols(&work).err()
    };
    if let Some(why) = unusable {
        eprintln!("xtask: building mcptk without a startup layout: {why}");
        crate::run(Command::new("cargo").arg("build").args(build).current_dir(root))?;
        return Ok(None);
    }
    let text = std::fs::read_to_string(&list).with_context(|| format!("reading {} (UTF-8 text)", list.display()))?;
    let copy = digest_named_copy(&work, &text)?;
    crate::run(Command::new("cargo").arg("rustc").args(build).arg("--").args(link_args(&copy)).current_dir(root))?;
    let names = listed(&text);
    let symbols = symbols(&target_dir.join("release/mcptk"))?;
    let layout = Layout { listed: names.len(), found: names.iter().filter(|n| symbols.contains(**n)).count() };
    eprintln!("xtask: startup layout: {} of the {} functions listed are in the binary", layout.found, layout.listed);
    Ok(Some(layout))
}

/// [`build_release`] for `dist` and `bench`: when the binary has fewer than [`FRESH`] of the
/// listed functions, lists them again from it (rewriting [`LIST`], to be committed) and builds
/// again, so that neither ships nor measures a binary whose layout has drifted away. A list that
/// cannot be made (no valgrind to be had) leaves the binary as built, saying so.
pub fn build_for_dist(root: &Path, target_dir: &Path) -> Result<Option<Layout>> {
    let Some(layout) = build_release(root, target_dir)? else { return Ok(None) };
    if layout.fresh() {
        return Ok(Some(layout));
    }
    eprintln!("xtask: the startup list is stale; listing the functions a start runs again");
    match regenerate_from_built(root, target_dir) {
        Ok(()) => build_release(root, target_dir),
        Err(e) => {
            eprintln!("xtask: the startup list could not be made again, keeping the binary as built: {e:#}");
            Ok(Some(layout))
        }
    }
}

/// The list under a name that carries its digest in `work`, so that a new list links again
/// (cargo sees new arguments); written whole before it takes that name. Older copies go.
fn digest_named_copy(work: &Path, text: &str) -> Result<PathBuf> {
    let digest = crate::release::sha256_hex(text.as_bytes());
    let name = format!("startup-symbols-{}.txt", &digest[..16]);
    let copy = work.join(&name);
    if !copy.exists() {
        let partial = work.join(format!("{name}.partial"));
        std::fs::write(&partial, text).with_context(|| format!("writing {}", partial.display()))?;
        std::fs::rename(&partial, &copy).with_context(|| format!("renaming {}", partial.display()))?;
    }
    for entry in std::fs::read_dir(work)?.flatten() {
        let other = entry.file_name().to_string_lossy().into_owned();
        if other.starts_with("startup-symbols-") && other != name {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(copy)
}

/// The arguments that give the linker `list` (`-Xlinker`, so that no character of the path
/// is taken for a separator).
fn link_args(list: &Path) -> Vec<String> {
    let to_linker =
        |arg: String| ["-C".to_owned(), "link-arg=-Xlinker".to_owned(), "-C".to_owned(), format!("link-arg={arg}")];
    let mut args = Vec::new();
    args.extend(to_linker(format!("--symbol-ordering-file={}", list.display())));
    // Entries the binary no longer has (renamed by a change) are expected, not news.
    args.extend(to_linker("--no-warn-symbol-ordering".to_owned()));
    args
}

fn rustc() -> std::ffi::OsString {
    std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into())
}

/// `Ok` when the linker rustc uses takes a symbol ordering file (lld does, GNU ld refuses the
/// option), found by linking an empty program with one and the `RUSTFLAGS` of this build;
/// otherwise why not.
fn linker_orders_symbols(work: &Path) -> Result<(), String> {
    let probe = work.join("probe.rs");
    let list = work.join("probe-symbols.txt");
    let written = std::fs::write(&probe, "fn main() {}\n").and_then(|()| std::fs::write(&list, "main\n"));
    written.map_err(|e| format!("cannot write the linker probe in {}: {e}", work.display()))?;
    let flags = std::env::var("RUSTFLAGS").unwrap_or_default();
    let output = Command::new(rustc())
        .arg(&probe)
        .arg("-o")
        .arg(work.join("probe"))
        .args(flags.split_whitespace())
        .args(link_args(&list))
        .output()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let why = stderr.lines().map(str::trim).filter(|l| !l.is_empty()).find(|l| l.contains("error")).unwrap_or("");
    Err(format!("the linker takes no symbol ordering file ({})", why.chars().take(200).collect::<String>()))
}

/// The names a list holds (lld skips the `#` lines too).
fn listed(text: &str) -> Vec<&str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect()
}

/// The names of the functions defined in `binary`'s symbol table.
fn symbols(binary: &Path) -> Result<HashSet<String>> {
    let output = Command::new("nm")
        .args(["--defined-only", "--format=posix"])
        .arg(binary)
        .output()
        .context("cannot run nm (binutils)")?;
    if !output.status.success() {
        bail!("nm {} failed: {}", binary.display(), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let name = fields.next()?;
            let kind = fields.next()?;
            matches!(kind, "t" | "T" | "w" | "W").then(|| name.to_owned())
        })
        .collect())
}

/// `cargo xtask startup-symbols`: builds the release binary, runs the measured starts and then
/// calls under callgrind and writes [`LIST`].
pub fn regenerate(root: &Path, target_dir: &Path) -> Result<()> {
    // The names do not depend on the layout: the binary as `build_release` makes it will do.
    build_release(root, target_dir)?;
    regenerate_from_built(root, target_dir)
}

/// [`regenerate`] from the binary in `target/release` as it is.
fn regenerate_from_built(root: &Path, target_dir: &Path) -> Result<()> {
    crate::install_if_missing("valgrind", "valgrind")?;
    // valgrind names the binary by its path with symbolic links resolved.
    let binary = target_dir.join("release/mcptk");
    let binary = std::fs::canonicalize(&binary).with_context(|| format!("no binary at {}", binary.display()))?;
    let work = TempDir::new()?;
    let home = work.0.join("default-gateway");
    std::fs::create_dir_all(&home)?;
    std::fs::write(home.join("notes.txt"), "one\ntwo\nthree\n")?;
    // The starts first, then what calls run on top of them: the echo tool over stdio (and over
    // HTTP, below), then the default gateway's filesystem tools through its whole pipeline
    // (policy, rate limit, schema validation, audit). The start's functions stay together at
    // the front, the request paths' follow.
    let runs: [Run<'_>; 4] = [
        ("mcptk serve builtin", &["serve", "builtin"], None, &[]),
        ("default gateway (mcptk serve)", &["serve"], Some(&home), &[]),
        (
            "calls into mcptk serve builtin",
            &["serve", "builtin"],
            None,
            &[r#"{"name":"echo","arguments":{"text":"hello"}}"#],
        ),
        (
            "calls into the default gateway",
            &["serve"],
            Some(&home),
            &[
                r#"{"name":"fs__list_allowed_directories","arguments":{}}"#,
                r#"{"name":"fs__list_directory","arguments":{"path":"."}}"#,
                r#"{"name":"fs__read_text_file","arguments":{"path":"notes.txt","head":2}}"#,
                r#"{"name":"fs__get_file_info","arguments":{"path":"notes.txt"}}"#,
                r#"{"name":"fs__search_files","arguments":{"path":".","pattern":"*.txt"}}"#,
            ],
        ),
    ];
    let symbols = symbols(&binary)?;
    let mut seen = HashSet::new();
    let mut names = Vec::new();
    let mut keep = |profile: &str| {
        for name in ran(profile, &binary) {
            if symbols.contains(name) && seen.insert(name.to_owned()) {
                names.push(name.to_owned());
            }
        }
    };
    for (n, (label, args, dir, calls)) in runs.into_iter().enumerate() {
        let out = work.0.join(format!("callgrind-{n}.out"));
        let log = work.0.join(format!("valgrind-{n}.log"));
        let mut peer = Peer::new(label, "valgrind", &[]);
        peer.args = under_callgrind(&binary, &out, &log, args);
        if let Some(dir) = dir {
            peer = peer.dir(dir);
        }
        let profiled = Session::start(&peer).and_then(|(mut session, _)| {
            session.request("tools/list", "{}")?;
            for _ in 0..CALLS {
                for call in calls {
                    let answer = session.request("tools/call", call)?;
                    if answer.contains(r#""isError":true"#) || !answer.contains(r#""result""#) {
                        bail!("{label}: {call} failed: {answer}");
                    }
                }
            }
            // Closing stdin ends the server; callgrind then writes its profile, slowly.
            session.stop_within(Duration::from_secs(120));
            std::fs::read_to_string(&out).with_context(|| format!("callgrind wrote no profile ({})", out.display()))
        });
        keep(&profiled.with_context(|| format!("profiling {label} under callgrind{}", tail(&log)))?);
    }
    let out = work.0.join("callgrind-http.out");
    let log = work.0.join("valgrind-http.log");
    let profiled = http_calls(root, &binary, &out, &log);
    keep(&profiled.with_context(|| format!("profiling calls over HTTP under callgrind{}", tail(&log)))?);
    if names.len() < 100 {
        bail!(
            "only {} functions of {} ran in the profiled starts: is it the binary built?",
            names.len(),
            binary.display()
        );
    }
    let mut text = String::from(
        "# The functions a start of `mcptk` runs (`serve builtin` and the default gateway: initialize,\n\
         # tools/list), grouped in callgrind's order, then those its calls run (`tools/call` of echo\n\
         # over stdio and HTTP, of the gateway's fs tools): `cargo xtask dist` places them together.\n\
         # Written by `cargo xtask startup-symbols` (and by `dist` and `bench` when few are left in the binary).\n",
    );
    for name in &names {
        text.push_str(name);
        text.push('\n');
    }
    let list = root.join(LIST);
    std::fs::write(&list, text).with_context(|| format!("writing {}", list.display()))?;
    eprintln!("xtask: {} functions written to {}", names.len(), list.display());
    Ok(())
}

/// A profiled run: its label, `mcptk`'s arguments, its working folder, and the `tools/call`
/// parameters it sends (none: only the start).
type Run<'a> = (&'static str, &'a [&'a str], Option<&'a Path>, &'a [&'static str]);

/// How many times each profiled run of calls makes its `tools/call`s.
const CALLS: usize = 50;

/// valgrind's arguments that run `binary` with `args` under callgrind, its profile to `out`.
fn under_callgrind(binary: &Path, out: &Path, log: &Path, args: &[&str]) -> Vec<String> {
    let mut valgrind = vec![
        "--tool=callgrind".to_owned(),
        "--demangle=no".into(),
        "--compress-strings=no".into(),
        format!("--callgrind-out-file={}", out.display()),
        format!("--log-file={}", log.display()),
        binary.display().to_string(),
    ];
    valgrind.extend(args.iter().map(|a| (*a).to_owned()));
    valgrind
}

/// `mcptk serve builtin --http` under callgrind, loaded for a second by `wrk` (the bench's
/// checked load: every answer is the echo), then stopped with SIGTERM (a drain, after which
/// callgrind writes the profile); the profile.
fn http_calls(root: &Path, binary: &Path, out: &Path, log: &Path) -> Result<String> {
    crate::install_if_missing("wrk", "wrk")?;
    let address = format!("127.0.0.1:{}", crate::bench::free_port()?);
    let mut server = Command::new("valgrind")
        .args(under_callgrind(binary, out, log, &["serve", "builtin", "--http", &address]))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("cannot run valgrind")?;
    let loaded = (|| {
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(&address).is_err() {
            if started.elapsed() > Duration::from_secs(60) || server.try_wait()?.is_some() {
                bail!("mcptk does not listen on {address} under callgrind");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        crate::bench::http::Target::new(root, &address).check()
    })();
    let _ = Command::new("kill").arg("-TERM").arg(server.id().to_string()).status();
    let started = std::time::Instant::now();
    while server.try_wait()?.is_none() {
        if started.elapsed() > Duration::from_secs(120) {
            let _ = server.kill();
            let _ = server.wait();
            bail!("mcptk did not stop within 120 s of SIGTERM under callgrind");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    loaded?;
    std::fs::read_to_string(out).with_context(|| format!("callgrind wrote no profile ({})", out.display()))
}

/// The last lines of valgrind's log, for an error.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    if lines.is_empty() {
        return String::new();
    }
    format!(" (valgrind said: {})", lines[lines.len().saturating_sub(5)..].join(" / "))
}

/// The functions of `binary` that ran, as a callgrind profile (uncompressed names) lists them.
fn ran<'a>(profile: &'a str, binary: &Path) -> Vec<&'a str> {
    let binary = binary.display().to_string();
    let mut object = "";
    let mut names = Vec::new();
    for line in profile.lines() {
        if let Some(ob) = line.strip_prefix("ob=") {
            object = ob.trim();
        } else if let Some(name) = line.strip_prefix("fn=")
            && object == binary
        {
            names.push(name.trim());
        }
    }
    names
}

/// A folder of its own under the system's temporary folder, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let dir = std::env::temp_dir().join(format!("mcptk-layout-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_names_the_functions_of_the_binary_that_ran() {
        let profile = "version: 1\ncmd: /t/mcptk serve\nob=/usr/lib/libc.so.6\nfn=malloc\n0 5\n\
                       ob=/t/mcptk\nfn=main\n0 3\ncfn=_ZN3foo3barE\ncalls=1 0\n0 9\nfn=_ZN3foo3barE\n0 9\n\
                       ob=/usr/lib/libc.so.6\nfn=free\n0 2\n";
        assert_eq!(ran(profile, Path::new("/t/mcptk")), ["main", "_ZN3foo3barE"]);
    }

    /// The link arguments place functions in the listed order, either way round, with a comment
    /// line and a name the program lacks in the list: what `build_release` relies on. Run where
    /// Rust links with lld by default (x86_64 Linux, Rust 1.90 and later), as CI does.
    #[test]
    fn the_linker_places_functions_in_the_listed_order() {
        let version = Command::new(rustc()).arg("-vV").output().expect("rustc runs");
        let version = String::from_utf8_lossy(&version.stdout).into_owned();
        let minor = version
            .lines()
            .find_map(|l| l.strip_prefix("release: 1."))
            .and_then(|rest| rest.split('.').next()?.parse::<u32>().ok())
            .expect("rustc names its release");
        if !version.contains("host: x86_64-unknown-linux-gnu") || minor < 90 {
            return;
        }
        let work = TempDir::new().expect("a folder");
        linker_orders_symbols(&work.0).expect("rustc's linker takes a symbol ordering file");
        let program = work.0.join("two.rs");
        std::fs::write(
            &program,
            "#[unsafe(no_mangle)] #[inline(never)] pub extern \"C\" fn alpha_fn() -> u32 { 1 }\n\
             #[unsafe(no_mangle)] #[inline(never)] pub extern \"C\" fn zeta_fn() -> u32 { 2 }\n\
             fn main() { std::process::exit((alpha_fn() + zeta_fn()) as i32 - 3) }\n",
        )
        .expect("writes");
        for order in [["alpha_fn", "zeta_fn"], ["zeta_fn", "alpha_fn"]] {
            let list = work.0.join(format!("{}.txt", order[0]));
            std::fs::write(&list, format!("# first\n{}\nno_such_fn\n{}\n", order[0], order[1])).expect("writes");
            let binary = work.0.join(format!("two-{}", order[0]));
            let status = Command::new(rustc())
                .arg(&program)
                .arg("-o")
                .arg(&binary)
                .args(link_args(&list))
                .status()
                .expect("rustc runs");
            assert!(status.success(), "links with {order:?}");
            let nm = Command::new("nm").arg("-n").arg(&binary).output().expect("nm runs");
            let text = String::from_utf8_lossy(&nm.stdout);
            let at = |name: &str| text.lines().position(|l| l.ends_with(&format!(" {name}"))).expect(name);
            assert!(at(order[0]) < at(order[1]), "{order:?} not in order:\n{text}");
        }
    }

    #[test]
    fn a_list_skips_comments_and_blank_lines_as_lld_does() {
        assert_eq!(listed("# header\n\n_ZN1a1bE\n  main  \n#x\n"), ["_ZN1a1bE", "main"]);
    }

    #[test]
    fn a_new_list_gets_a_new_name_and_the_old_copy_goes() {
        let work = TempDir::new().expect("a folder");
        let first = digest_named_copy(&work.0, "a\n").expect("copies");
        assert_eq!(digest_named_copy(&work.0, "a\n").expect("copies"), first, "the same list, the same name");
        let second = digest_named_copy(&work.0, "b\n").expect("copies");
        assert_ne!(second, first);
        assert_eq!(std::fs::read_to_string(&second).expect("reads"), "b\n");
        assert!(!first.exists(), "the older copy is removed");
    }

    #[test]
    fn a_binary_with_too_few_of_the_listed_functions_is_stale() {
        assert!(Layout { listed: 1000, found: 990 }.fresh());
        assert!(!Layout { listed: 1000, found: 989 }.fresh());
    }
}
