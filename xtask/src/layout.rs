//! The release binary's code layout. A start of `mcptk` runs about 1,500 of its functions, about
//! 1.5 MB of code spread over its 38 MB of text; the kernel maps file pages 64 KiB at a time
//! around each fault, so a start left to the default layout faults ~160 times in the text and
//! keeps ~9 MB of it resident. Placed together (lld's `--symbol-ordering-file`), the same start
//! touches a couple of MB.
//!
//! - [`build_release`]: the release `mcptk` as shipped (`dist` and `bench` build it so), with the
//!   functions listed in [`LIST`] first in its text, when the linker takes the list (lld, the
//!   default linker of Rust on x86_64 Linux since 1.90); a plain release build otherwise.
//! - `cargo xtask startup-symbols`: regenerates [`LIST`] by running the starts the benchmark
//!   measures (`mcptk serve builtin`, the default gateway: `initialize`, `tools/list`) under
//!   callgrind and listing every function of the binary they ran. Symbol names shift as the code
//!   changes (closures renumbered, generic instances, LTO's local suffixes): a stale entry only
//!   leaves its function where it was, and `bench` reports how many of the list the binary has.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::bench::stdio::{Peer, Session};

/// The functions a start runs, by their symbol names, in the order they first ran.
pub const LIST: &str = "crates/mcptk/startup-symbols.txt";

/// How the release binary was laid out: the list's entries and how many of them it has.
pub struct Layout {
    pub listed: usize,
    pub found: usize,
}

/// Builds the release `mcptk` (in `target/release`) with the startup functions placed together
/// when the linker can; `None` when it was built without the list (no list, or a linker that
/// does not take one).
pub fn build_release(root: &Path, target_dir: &Path) -> Result<Option<Layout>> {
    let list = root.join(LIST);
    let build = ["--release", "--locked", "-p", "mcptk-cli", "--bin", "mcptk"];
    let work = target_dir.join("layout");
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    if !list.exists() || !linker_orders_symbols(&work)? {
        eprintln!("xtask: building mcptk without a startup layout (no list, or the linker is not lld)");
        crate::run(Command::new("cargo").arg("build").args(build).current_dir(root))?;
        return Ok(None);
    }
    // The list is passed under a name that carries its digest, so that a new list relinks.
    let text = std::fs::read(&list).with_context(|| format!("reading {}", list.display()))?;
    let digest = crate::release::sha256_hex(&text);
    let copy = work.join(format!("startup-symbols-{}.txt", &digest[..16]));
    if !copy.exists() {
        std::fs::write(&copy, &text).with_context(|| format!("writing {}", copy.display()))?;
    }
    crate::run(Command::new("cargo").arg("rustc").args(build).arg("--").args(link_args(&copy)).current_dir(root))?;
    let names = listed(&text);
    let symbols = symbols(&target_dir.join("release/mcptk"))?;
    let found = names.iter().filter(|n| symbols.contains(**n)).count();
    Ok(Some(Layout { listed: names.len(), found }))
}

fn link_args(list: &Path) -> [String; 4] {
    [
        "-C".into(),
        format!("link-arg=-Wl,--symbol-ordering-file={}", list.display()),
        "-C".into(),
        // Entries the binary no longer has (renamed by a change) are expected, not news.
        "link-arg=-Wl,--no-warn-symbol-ordering".into(),
    ]
}

/// Whether the linker rustc uses takes a symbol ordering file: lld does, GNU ld refuses the
/// option. Found by linking an empty program with one.
fn linker_orders_symbols(work: &Path) -> Result<bool> {
    let probe = work.join("probe.rs");
    let list = work.join("probe-symbols.txt");
    std::fs::write(&probe, "fn main() {}\n").with_context(|| format!("writing {}", probe.display()))?;
    std::fs::write(&list, "main\n").with_context(|| format!("writing {}", list.display()))?;
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(rustc)
        .arg(&probe)
        .arg("-o")
        .arg(work.join("probe"))
        .args(link_args(&list))
        .output()
        .context("cannot run rustc")?;
    Ok(output.status.success())
}

/// The names a list holds (lld skips the `#` lines too).
fn listed(text: &[u8]) -> Vec<&str> {
    std::str::from_utf8(text)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
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

/// `cargo xtask startup-symbols`: runs the measured starts under callgrind and writes [`LIST`].
pub fn regenerate(root: &Path, target_dir: &Path) -> Result<()> {
    if Command::new("valgrind").arg("--version").output().is_err() {
        eprintln!("xtask startup-symbols: installing valgrind");
        crate::run(
            Command::new("apt-get").args(["install", "-y", "-q", "valgrind"]).env("DEBIAN_FRONTEND", "noninteractive"),
        )?;
    }
    // The names do not depend on the layout: the binary as built by `build_release` will do.
    build_release(root, target_dir)?;
    let binary = target_dir.join("release/mcptk");
    let work = tempfile_dir()?;
    let home = work.join("default-gateway");
    std::fs::create_dir_all(&home)?;
    let starts: [(&'static str, &[&str], Option<&Path>); 2] = [
        ("mcptk serve builtin", &["serve", "builtin"], None),
        ("default gateway (mcptk serve)", &["serve"], Some(&home)),
    ];
    let symbols = symbols(&binary)?;
    let mut seen = HashSet::new();
    let mut names = Vec::new();
    for (n, (label, args, dir)) in starts.into_iter().enumerate() {
        let out = work.join(format!("callgrind-{n}.out"));
        let mut valgrind = vec![
            "--tool=callgrind".to_owned(),
            "--demangle=no".into(),
            "--compress-strings=no".into(),
            format!("--callgrind-out-file={}", out.display()),
            binary.display().to_string(),
        ];
        valgrind.extend(args.iter().map(|a| (*a).to_owned()));
        let mut peer = Peer::new(label, "valgrind", &[]);
        peer.args = valgrind;
        if let Some(dir) = dir {
            peer = peer.dir(dir);
        }
        let (mut session, _) = Session::start(&peer)?;
        session.request("tools/list", "{}")?;
        session.stop();
        let profile = std::fs::read_to_string(&out)
            .with_context(|| format!("callgrind wrote no profile of {label} ({})", out.display()))?;
        for name in ran(&profile, &binary) {
            if symbols.contains(name) && seen.insert(name.to_owned()) {
                names.push(name.to_owned());
            }
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    if names.len() < 100 {
        bail!(
            "only {} functions of {} ran in the profiled starts: is it the binary built?",
            names.len(),
            binary.display()
        );
    }
    let mut text = String::from(
        "# The functions a start of `mcptk` runs (`serve builtin` and the default gateway: initialize,\n\
         # tools/list), in the order they first ran: the release build places them together.\n\
         # Written by `cargo xtask startup-symbols`; regenerate it when `cargo xtask bench` finds few.\n",
    );
    for name in &names {
        text.push_str(name);
        text.push('\n');
    }
    let list = root.join(LIST);
    std::fs::write(&list, text).with_context(|| format!("writing {}", list.display()))?;
    eprintln!("xtask startup-symbols: {} functions written to {}", names.len(), list.display());
    Ok(())
}

/// The functions of `binary` that ran, in the order a callgrind profile (uncompressed names)
/// first names them.
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

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("mcptk-startup-symbols-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_names_the_functions_of_the_binary_in_the_order_they_first_ran() {
        let profile = "version: 1\ncmd: /t/mcptk serve\nob=/usr/lib/libc.so.6\nfn=malloc\n0 5\n\
                       ob=/t/mcptk\nfn=main\n0 3\ncfn=_ZN3foo3barE\ncalls=1 0\n0 9\nfn=_ZN3foo3barE\n0 9\n\
                       ob=/usr/lib/libc.so.6\nfn=free\n0 2\n";
        assert_eq!(ran(profile, Path::new("/t/mcptk")), ["main", "_ZN3foo3barE"]);
    }

    /// The link arguments place functions in the listed order, either way round, with a comment
    /// line and a name the program lacks in the list: what `build_release` relies on.
    #[test]
    fn the_linker_places_functions_in_the_listed_order() {
        let host = std::process::Command::new("rustc").arg("-vV").output().expect("rustc runs");
        if !String::from_utf8_lossy(&host.stdout).contains("host: x86_64-unknown-linux-gnu") {
            return; // Rust links with lld by default only there.
        }
        let work = tempfile_dir().expect("a folder");
        assert!(linker_orders_symbols(&work).expect("probes"), "rustc's linker takes no symbol ordering file");
        let program = work.join("two.rs");
        std::fs::write(
            &program,
            "#[unsafe(no_mangle)] #[inline(never)] pub extern \"C\" fn alpha_fn() -> u32 { 1 }\n\
             #[unsafe(no_mangle)] #[inline(never)] pub extern \"C\" fn zeta_fn() -> u32 { 2 }\n\
             fn main() { std::process::exit((alpha_fn() + zeta_fn()) as i32 - 3) }\n",
        )
        .expect("writes");
        for order in [["alpha_fn", "zeta_fn"], ["zeta_fn", "alpha_fn"]] {
            let list = work.join(format!("{}.txt", order[0]));
            std::fs::write(&list, format!("# first\n{}\nno_such_fn\n{}\n", order[0], order[1])).expect("writes");
            let binary = work.join(format!("two-{}", order[0]));
            let status = Command::new("rustc")
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
        let _ = std::fs::remove_dir_all(&work);
    }

    #[test]
    fn a_list_skips_comments_and_blank_lines_as_lld_does() {
        assert_eq!(listed(b"# header\n\n_ZN1a1bE\n  main  \n#x\n"), ["_ZN1a1bE", "main"]);
    }
}
