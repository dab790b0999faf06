//! The cost of one rate-limit check: in-process (`RateLimits::check`, what every call pays when
//! no shared store is configured) beside the shared store (`check_shared` against the Redis of
//! `MCPTK_TEST_REDIS_URL`: one `EVALSHA` round trip over loopback). Run with
//! `cargo bench -p mcptk-security --bench ratelimit --features redis`; prints `BENCH` lines for
//! `cargo xtask bench`. Without `MCPTK_TEST_REDIS_URL` the Redis line is skipped with the reason.

use std::hint::black_box;
use std::time::Instant;

use mcp_security::{RateLimit, RateLimitStoreConfig, RateLimits, WhenUnavailable};

const LOCAL_CALLS: u32 = 2_000_000;
const REDIS_CALLS: u32 = 5_000;

/// A limit every call stays under, so that each check takes the whole path and is allowed: the
/// highest rate, with a burst that holds every call of the run.
fn limits() -> Vec<RateLimit> {
    let burst = LOCAL_CALLS + REDIS_CALLS + 2;
    serde_json::from_value(serde_json::json!([{"name": "bench", "per_minute": 60_000_000u32, "burst": burst}]))
        .expect("limits")
}

fn main() {
    let local = RateLimits::new(limits()).expect("limits");
    local.check("alice", "fs__read").expect("allowed");
    let started = Instant::now();
    for _ in 0..LOCAL_CALLS {
        black_box(local.check(black_box("alice"), black_box("fs__read"))).expect("allowed");
    }
    let local_ns = started.elapsed().as_nanos() as f64 / f64::from(LOCAL_CALLS);
    println!("in-process check: {local_ns:.1} ns per call");
    println!("BENCH ratelimit.local.check {local_ns:.1} ns");

    let Some(url) = std::env::var("MCPTK_TEST_REDIS_URL").ok().filter(|u| !u.is_empty()) else {
        println!("shared check: skipped, MCPTK_TEST_REDIS_URL is not set (tests/services.sh starts Redis)");
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let mut config = RateLimitStoreConfig::new(url);
        config.prefix = format!("mcptk-bench:{}:", std::process::id());
        config.when_unavailable = WhenUnavailable::Refuse;
        config.timeout_ms = 1_000;
        let shared = RateLimits::new(limits()).expect("limits").with_store(&config).expect("store");
        shared.check_shared("alice", "fs__read").await.expect("allowed (is Redis up?)");
        let started = Instant::now();
        for _ in 0..REDIS_CALLS {
            shared.check_shared("alice", "fs__read").await.expect("allowed");
        }
        let redis_us = started.elapsed().as_secs_f64() * 1e6 / f64::from(REDIS_CALLS);
        println!(
            "shared check (Redis, loopback): {redis_us:.1} us per call, {:.0}x the in-process check",
            redis_us * 1e3 / local_ns
        );
        println!("BENCH ratelimit.redis.check {redis_us:.1} us");
    });
}
