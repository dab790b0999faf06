//! Where the tests find their database servers: a URL from the environment, which
//! `cargo xtask test` (the README's test command) sets after installing and starting PostgreSQL
//! and MariaDB. A missing one fails the test that needs it, saying how to provide it: a suite
//! never passes by skipping. Included by the test files that need it (`#[path]`), so it is
//! written once.

/// PostgreSQL: `MCPTK_TEST_POSTGRES_URL`. Always `Some`; the `Option` keeps callers simple.
#[allow(dead_code)]
pub fn postgres_url() -> Option<String> {
    Some(url_from("MCPTK_TEST_POSTGRES_URL", "PostgreSQL"))
}

/// MySQL or MariaDB: `MCPTK_TEST_MYSQL_URL`. Always `Some`; the `Option` keeps callers simple.
#[allow(dead_code)]
pub fn mysql_url() -> Option<String> {
    Some(url_from("MCPTK_TEST_MYSQL_URL", "MySQL/MariaDB"))
}

fn url_from(var: &str, what: &str) -> String {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "{var} is not set: this test runs against a real {what} server. `cargo xtask test` installs and \
             starts one and sets it; or point {var} at your own"
        ),
    }
}
