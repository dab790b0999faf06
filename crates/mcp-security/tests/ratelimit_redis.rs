//! Rate limits shared by replicas through a real Redis (`MCPTK_TEST_REDIS_URL`, started by
//! `tests/services.sh`; tests that stop a Redis start a private `redis-server` of their own).
//! Each "replica" is a `RateLimits` of its own, as each gateway process has; every test uses a
//! key prefix of its own so that tests running at once never share a budget.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mcp_security::{RateLimit, RateLimitStoreConfig, RateLimits, Refusal, WhenUnavailable};

#[path = "../../../tests/support/services.rs"]
mod services;

/// The shared Redis, or `None` (with the reason printed) outside CI when it is not set up.
fn redis_url() -> Option<String> {
    services::service("MCPTK_TEST_REDIS_URL", "Redis")
}

fn prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("mcptk-test:{test}:{}:{nanos}:", std::process::id())
}

fn limits(config: serde_json::Value) -> Vec<RateLimit> {
    serde_json::from_value(config).expect("limits")
}

fn store(url: &str, prefix: &str, when: WhenUnavailable) -> RateLimitStoreConfig {
    let mut config = RateLimitStoreConfig::new(url);
    config.prefix = prefix.to_owned();
    config.when_unavailable = when;
    // Generous: on a loaded test machine a first connection can take longer than the default
    // 100 ms, and these tests are about the budgets, not the timeout.
    config.timeout_ms = 2000;
    config
}

/// `n` replicas with the same limits, sharing `config`'s store.
fn replicas(n: usize, limits: &[RateLimit], config: &RateLimitStoreConfig) -> Vec<RateLimits> {
    (0..n).map(|_| RateLimits::new(limits.to_vec()).expect("limits").with_store(config).expect("store")).collect()
}

/// Calls spread round-robin over `replicas` for `period`; the calls allowed and the time taken.
async fn hammer(replicas: &[RateLimits], period: Duration) -> (u32, Duration) {
    let (start, mut allowed, mut i) = (Instant::now(), 0, 0);
    while start.elapsed() < period {
        match replicas[i % replicas.len()].check_shared("alice", "fs__read").await {
            Ok(()) => allowed += 1,
            Err(Refusal::Exceeded(_)) => {}
            Err(other) => panic!("the store failed: {other}"),
        }
        i += 1;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    (allowed, start.elapsed())
}

#[tokio::test]
async fn three_replicas_share_one_gcra_budget_where_local_limits_allow_three_times_it() {
    let Some(url) = redis_url() else { return };
    // 600 a minute: one call per 100 ms, and a burst of 5.
    let limits = limits(serde_json::json!([{"name": "api", "per_minute": 600, "burst": 5}]));
    let shared = replicas(3, &limits, &store(&url, &prefix("gcra"), WhenUnavailable::Refuse));
    let (allowed, elapsed) = hammer(&shared, Duration::from_millis(1500)).await;
    // GCRA's bound: the burst, plus one call per interval elapsed (and one for where the
    // interval boundaries fall); it is exact, so the budget is also used up to within one call.
    let intervals = (elapsed.as_millis() / 100) as u32;
    assert!(allowed <= 5 + intervals + 1, "{allowed} calls allowed in {elapsed:?}: over the shared bound");
    assert!(allowed + 1 >= 5 + intervals.saturating_sub(1), "{allowed} calls allowed in {elapsed:?}: under the budget");

    // The same three replicas without the store each allow the whole budget.
    let local: Vec<RateLimits> = (0..3).map(|_| RateLimits::new(limits.clone()).expect("limits")).collect();
    let (local_allowed, local_elapsed) = hammer(&local, Duration::from_millis(1500)).await;
    let local_intervals = (local_elapsed.as_millis() / 100) as u32;
    assert!(
        local_allowed >= 3 * (5 + local_intervals.saturating_sub(1)),
        "in-process limits allowed {local_allowed} in {local_elapsed:?}: expected three budgets"
    );
    assert!(local_allowed > 2 * (5 + intervals + 1), "sharing made no difference: {local_allowed} vs {allowed}");
}

#[tokio::test]
async fn principals_and_tools_keep_their_own_budgets_across_replicas() {
    let Some(url) = redis_url() else { return };
    let config = store(&url, &prefix("separation"), WhenUnavailable::Refuse);
    let per_tool = limits(serde_json::json!([{"name": "slow", "per_minute": 1, "burst": 2, "tools": ["fs__*"]}]));
    let r = replicas(3, &per_tool, &config);
    assert_eq!(r[0].check_shared("alice", "fs__read").await, Ok(()));
    assert_eq!(r[1].check_shared("alice", "fs__read").await, Ok(()));
    let Err(Refusal::Exceeded(refusal)) = r[2].check_shared("alice", "fs__read").await else {
        panic!("the third call on a third replica must be over the shared burst of 2")
    };
    assert!(
        refusal.starts_with("rate limit `slow` exceeded for `alice` on `fs__read` (1 calls per minute); retry in"),
        "{refusal}"
    );
    let wait: f64 =
        refusal.rsplit("retry in ").next().and_then(|s| s.trim_end_matches('s').parse().ok()).expect("wait");
    assert!((1.0..=60.0).contains(&wait), "one call a minute, two taken: {refusal}");
    assert_eq!(r[2].check_shared("alice", "fs__write").await, Ok(()), "another tool");
    assert_eq!(r[0].check_shared("bob", "fs__read").await, Ok(()), "another principal");
    assert_eq!(r[1].check_shared("alice", "sh__run").await, Ok(()), "a tool the limit does not name");

    let config = store(&url, &prefix("together"), WhenUnavailable::Refuse);
    let together = limits(serde_json::json!([{"name": "all", "per_minute": 1, "burst": 2, "per_tool": false}]));
    let r = replicas(3, &together, &config);
    assert_eq!(r[0].check_shared("alice", "a").await, Ok(()));
    assert_eq!(r[1].check_shared("alice", "b").await, Ok(()));
    assert!(r[2].check_shared("alice", "c").await.is_err(), "every tool draws on one budget, on every replica");
    assert_eq!(r[2].check_shared("bob", "a").await, Ok(()));
}

#[tokio::test]
async fn a_call_one_shared_limit_refuses_costs_the_others_nothing() {
    let Some(url) = redis_url() else { return };
    let config = store(&url, &prefix("all-or-none"), WhenUnavailable::Refuse);
    let both = limits(serde_json::json!([
        {"name": "roomy", "per_minute": 1, "burst": 3, "per_tool": false},
        {"name": "tight", "per_minute": 1, "burst": 2, "tools": ["slow"]},
    ]));
    let r = replicas(2, &both, &config);
    assert_eq!(r[0].check_shared("alice", "slow").await, Ok(()));
    assert_eq!(r[1].check_shared("alice", "slow").await, Ok(()));
    for i in 0..5 {
        let Err(Refusal::Exceeded(refusal)) = r[i % 2].check_shared("alice", "slow").await else {
            panic!("over `tight`")
        };
        assert!(refusal.starts_with("rate limit `tight` exceeded"), "{refusal}");
    }
    assert_eq!(r[1].check_shared("alice", "fast").await, Ok(()), "`roomy` lost nothing to the refused calls");
    let Err(Refusal::Exceeded(refusal)) = r[0].check_shared("alice", "fast").await else { panic!("`roomy` is spent") };
    assert!(refusal.starts_with("rate limit `roomy` exceeded"), "{refusal}");
}

#[tokio::test]
async fn keys_carry_the_prefix_and_expire() {
    let Some(url) = redis_url() else { return };
    let prefix = prefix("keys");
    let r = replicas(
        1,
        &limits(serde_json::json!([{"name": "k", "per_minute": 60, "burst": 3}])),
        &store(&url, &prefix, WhenUnavailable::Refuse),
    );
    assert_eq!(r[0].check_shared("a:b", "t%1").await, Ok(()));
    let client = redis::Client::open(url.as_str()).expect("url");
    let mut connection = client.get_multiplexed_async_connection().await.expect("connects");
    let keys: Vec<String> =
        redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut connection).await.expect("keys");
    assert_eq!(keys, vec![format!("{prefix}k:a%3Ab:t%251")], "names escaped, so that no two budgets share a key");
    let ttl: i64 = redis::cmd("PTTL").arg(&keys[0]).query_async(&mut connection).await.expect("pttl");
    assert!((1..=1_100).contains(&ttl), "a key lives until its TAT has passed (one interval of 1 s): {ttl} ms");
}

/// A `redis-server` of this test's own, on a free port, with a password, no persistence.
struct PrivateRedis {
    port: u16,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

impl PrivateRedis {
    fn start(port: Option<u16>, password: &str) -> PrivateRedis {
        let port = port.unwrap_or_else(|| {
            TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port()
        });
        let dir = tempfile::tempdir().expect("dir");
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"])
            .args(["--requirepass", password, "--dir"])
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian's redis-server, installed by tests/services.sh)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        PrivateRedis { port, child: Some(child), _dir: dir }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn an_outage_falls_back_or_refuses_as_configured_and_sharing_resumes_after_it() {
    if redis_url().is_none() {
        return;
    }
    let password = "s3cret-redis-pw";
    let mut server = PrivateRedis::start(None, password);
    let url = format!("redis://:{password}@127.0.0.1:{}/0", server.port);
    let limit = limits(serde_json::json!([{"name": "slow", "per_minute": 1, "burst": 2}]));
    let local = replicas(3, &limit, &store(&url, &prefix("outage-local"), WhenUnavailable::Local));
    let refuse = replicas(1, &limit, &store(&url, &prefix("outage-refuse"), WhenUnavailable::Refuse));
    assert!(!format!("{:?}", local[0]).contains(password));

    // Up: one budget of 2 for the three replicas.
    assert_eq!(local[0].check_shared("alice", "t").await, Ok(()));
    assert_eq!(local[1].check_shared("alice", "t").await, Ok(()));
    assert!(matches!(local[2].check_shared("alice", "t").await, Err(Refusal::Exceeded(_))));
    assert_eq!(refuse[0].check_shared("alice", "t").await, Ok(()));

    server.stop();
    // Down, `local`: every replica enforces the limit on its own (the stated tolerance).
    for replica in &local {
        let started = Instant::now();
        assert_eq!(replica.check_shared("alice", "t").await, Ok(()));
        assert_eq!(replica.check_shared("alice", "t").await, Ok(()));
        let Err(Refusal::Exceeded(m)) = replica.check_shared("alice", "t").await else {
            panic!("the local fallback must keep limiting")
        };
        assert!(m.starts_with("rate limit `slow` exceeded for `alice` on `t`"), "{m}");
        assert!(started.elapsed() < Duration::from_secs(2), "never waits long on the store");
    }
    // Down, `refuse`: refused, naming the store and not its password.
    let Err(Refusal::StoreUnreachable(m)) = refuse[0].check_shared("alice", "t").await else {
        panic!("`refuse` must refuse while the store is down")
    };
    let shown = format!("redis://127.0.0.1:{}/0", server.port);
    assert!(m.contains("shared rate-limit store") && m.contains(&shown) && m.contains("`slow`"), "{m}");
    assert!(!m.contains(password), "{m}");
    assert!(refuse[0].check_shared("bob", "another-tool").await.is_err(), "every call a limit applies to");

    // Back (empty: no persistence): the budget is shared again once the replicas reconnect.
    let _server = PrivateRedis::start(Some(server.port), password);
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut round = 0;
    loop {
        round += 1;
        let principal = format!("carol{round}");
        let a = local[0].check_shared(&principal, "t").await;
        let b = local[1].check_shared(&principal, "t").await;
        let c = local[2].check_shared(&principal, "t").await;
        if a.is_ok() && b.is_ok() && matches!(c, Err(Refusal::Exceeded(_))) {
            break;
        }
        assert!(Instant::now() < deadline, "the shared limit did not hold again after the store came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(refuse[0].check_shared("dave", "t").await, Ok(()), "`refuse` takes calls again");
}

#[tokio::test]
async fn a_wrong_password_is_never_shown() {
    if redis_url().is_none() {
        return;
    }
    let server = PrivateRedis::start(None, "the-right-pw");
    let url = format!("redis://:not-the-pw-4711@127.0.0.1:{}/0", server.port);
    let r = replicas(
        1,
        &limits(serde_json::json!([{"name": "x", "per_minute": 60}])),
        &store(&url, &prefix("password"), WhenUnavailable::Refuse),
    );
    let Err(Refusal::StoreUnreachable(m)) = r[0].check_shared("alice", "t").await else {
        panic!("a store that refuses our password is unavailable")
    };
    assert!(!m.contains("not-the-pw-4711") && m.contains("is unreachable"), "{m}");
    assert!(!format!("{:?}", r[0]).contains("not-the-pw-4711"));
}

#[tokio::test]
async fn a_store_that_never_answers_does_not_hold_calls() {
    if redis_url().is_none() {
        return;
    }
    // Accepts connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("redis://127.0.0.1:{}/0", silent.local_addr().expect("addr").port());
    let limit = limits(serde_json::json!([{"name": "x", "per_minute": 60, "burst": 1}]));
    let mut config = store(&url, &prefix("silent"), WhenUnavailable::Local);
    config.timeout_ms = 100;
    let r = replicas(1, &limit, &config);
    let started = Instant::now();
    assert_eq!(r[0].check_shared("alice", "t").await, Ok(()), "the local fallback allows the first call");
    assert!(matches!(r[0].check_shared("alice", "t").await, Err(Refusal::Exceeded(_))), "and limits the next");
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
}
