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
