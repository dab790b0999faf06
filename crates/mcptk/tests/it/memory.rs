//! What an idle `mcptk serve` holds. Every client starts a server of its own and leaves it idle
//! most of the time, so a few MiB held per process add up. The binary's allocator (mimalloc) is
//! built by `.cargo/config.toml` to commit memory as it is used; committing its first arena up
//! front instead would hold about 7 MiB more from the first allocation on.

#![cfg(target_os = "linux")]

use serde_json::json;

use crate::support::{Scratch, Served, Wire};

/// The anonymous memory (heap, stacks, written pages) a process holds, in KiB.
fn anonymous_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process's status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no RssAnon line in {status}"))
}

#[test]
fn idle_servers_hold_little_anonymous_memory() {
    let scratch = Scratch::new();
    for name in ["gateway", "builtin"] {
        let served = Served::new(name, &scratch);
        let (mut wire, _) = Wire::open(&served, &scratch, "2025-06-18");
        let listed = wire.request("tools/list", json!({})).expect("lists its tools");
        assert!(listed["tools"].as_array().is_some_and(|t| !t.is_empty()), "{listed}");
        // About 5.5 MiB in a debug build (2-3 MiB in release); 12 with an arena committed up front.
        let held = anonymous_kib(wire.pid());
        assert!(held < 8 * 1024, "idle `mcptk {}` holds {held} KiB of anonymous memory", served.args.join(" "));
    }
}

/// Where `binary`'s relocation table (`.rela.dyn`) lies in the file, as `readelf` reads its
/// section headers: offset and length.
fn relocation_table(binary: &str) -> (u64, u64) {
    let out = std::process::Command::new("readelf").args(["-SW", binary]).output().expect("readelf (binutils) runs");
    assert!(out.status.success(), "readelf: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.contains(" .rela.dyn ")).unwrap_or_else(|| panic!("no .rela.dyn in\n{text}"));
    // `[Nr] Name Type Address Off Size ...`
    let fields: Vec<&str> = line.split(']').nth(1).expect("a section line").split_whitespace().collect();
    let hex = |s: &str| u64::from_str_radix(s, 16).unwrap_or_else(|e| panic!("{s} in `{line}`: {e}"));
    (hex(fields[3]), hex(fields[4]))
}

/// How many of the whole pages of the file range `offset..offset + len` of `binary` process
/// `pid` has resident, and how many there are.
fn resident_pages(pid: u32, binary: &str, (offset, len): (u64, u64)) -> (usize, usize) {
    let page = page_size();
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("the process's maps");
    let (start, at) = maps
        .lines()
        .find_map(|line| {
            // `start-end perms offset device inode`, then the path (after padding).
            let fields: Vec<&str> = line.splitn(6, ' ').collect();
            if fields.len() != 6 || fields[5].trim_start() != binary {
                return None;
            }
            let (start, end) = fields[0].split_once('-')?;
            let (start, end) = (u64::from_str_radix(start, 16).ok()?, u64::from_str_radix(end, 16).ok()?);
            let from = u64::from_str_radix(fields[2], 16).ok()?;
            (from <= offset && offset + len <= from + (end - start)).then_some((start, from))
        })
        .unwrap_or_else(|| panic!("no mapping of {binary} holds {offset:#x}+{len:#x} in\n{maps}"));
    let first = (start + offset - at).div_ceil(page);
    let last = (start + offset - at + len) / page;
    let present = pagemap_entries(pid, first..last).into_iter().filter(|e| e & (1 << 63) != 0).count();
    (present, (last - first) as usize)
}

/// The pagemap entries of process `pid`'s pages `pages` (page numbers).
fn pagemap_entries(pid: u32, pages: std::ops::Range<u64>) -> Vec<u64> {
    use std::os::unix::fs::FileExt as _;
    let pagemap = std::fs::File::open(format!("/proc/{pid}/pagemap")).expect("the process's pagemap");
    let mut entries = vec![0; ((pages.end - pages.start) * 8) as usize];
    pagemap.read_exact_at(&mut entries, pages.start * 8).expect("pagemap entries");
    entries.chunks_exact(8).map(|e| u64::from_le_bytes(e.try_into().expect("8 bytes"))).collect()
}

/// The page size, as `getconf` tells it.
fn page_size() -> u64 {
    let out = std::process::Command::new("getconf").arg("PAGESIZE").output().expect("getconf runs");
    String::from_utf8_lossy(&out.stdout).trim().parse().expect("a page size")
}

/// How many pages of `binary`'s read-only private mappings (code, constants, the relocation
/// table) process `pid` has resident as the file's own pages.
fn binary_resident(pid: u32, binary: &str) -> usize {
    let page = page_size();
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("the process's maps");
    let mut resident = 0;
    for line in maps.lines() {
        let fields: Vec<&str> = line.splitn(6, ' ').collect();
        if fields.len() != 6 || fields[5].trim_start() != binary || !matches!(fields[1], "r--p" | "r-xp") {
            continue;
        }
        let (start, end) = fields[0].split_once('-').expect("a span");
        let (start, end) = (u64::from_str_radix(start, 16).expect("hex"), u64::from_str_radix(end, 16).expect("hex"));
        let entries = pagemap_entries(pid, start / page..end / page);
        resident += entries.into_iter().filter(|e| e & (1 << 63) != 0 && e & (1 << 61) != 0).count();
    }
    resident
}

/// A server gives back the pages of its binary that only its start needed, the loader's
/// relocation table among them (1.6 MiB of a release build's resident memory), and runs on: what
/// its calls need is mapped again, the rest stays out.
#[test]
fn servers_give_back_the_pages_only_their_start_needed() {
    let scratch = Scratch::new();
    let binary = crate::support::mcptk();
    let table = relocation_table(&binary);
    let mut held = Vec::new();
    for (name, keep) in [("gateway", false), ("builtin", false), ("builtin", true)] {
        let mut served = Served::new(name, &scratch);
        if keep {
            served.env.push(("MCPTK_KEEP_START_PAGES".into(), "1".into()));
        }
        let shown = format!("`mcptk {}`{}", served.args.join(" "), if keep { " keeping them" } else { "" });
        let (mut wire, _) = Wire::open(&served, &scratch, "2025-06-18");
        let listed = wire.request("tools/list", json!({})).expect("lists its tools");
        // It does so a moment after its start: the table, read only by the loader, shows it.
        let waited = std::time::Instant::now();
        let (resident, pages) = loop {
            let (resident, pages) = resident_pages(wire.pid(), &binary, table);
            let settled = if keep { waited.elapsed().as_millis() > 200 } else { resident <= 2 * 16 };
            if settled || waited.elapsed() > std::time::Duration::from_secs(10) {
                break (resident, pages);
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        assert!(pages > 64, "a table of {pages} whole pages");
        if keep {
            assert_eq!(resident, pages, "{shown}: the loader did read the table, and this is how it shows");
        } else {
            // The kernel maps up to 16 pages around a first read of the data beside the table.
            assert!(resident <= 2 * 16, "{shown} keeps {resident} of the table's {pages} pages");
        }
        // It serves on, code and data intact.
        assert_eq!(wire.request("tools/list", json!({})).expect("lists its tools again"), listed);
        for call in &served.calls {
            let result = wire.request("tools/call", json!({"name": call.tool, "arguments": call.arguments}));
            let result = result.unwrap_or_else(|e| panic!("{shown}: {}: {e}", call.tool));
            assert!(result.to_string().contains(&call.text), "{shown}: {}: {result}", call.tool);
        }
        // Beside the table: the code and constants.
        let table_held = resident_pages(wire.pid(), &binary, table).0;
        held.push((shown, binary_resident(wire.pid(), &binary) - table_held));
    }
    // The same server after the same list and calls holds less of its binary's code and
    // constants than when it keeps them all: what only its start ran is out (giving back the
    // table alone would leave these equal).
    let [_, (dropped, given_back), (kept, keeping)] = &held[..] else { unreachable!() };
    assert!(
        given_back * 10 < keeping * 9,
        "beside the relocation table, {dropped} holds {given_back} pages of its binary, {kept} {keeping}"
    );
}
