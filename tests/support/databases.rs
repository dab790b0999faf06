//! Where the tests find their database servers: a URL from the environment, or a skip that says
//! so; CI sets the URLs and the `MCPTK_REQUIRE_*` variables that make a missing one a failure.
//! Included by the test files that need it (`#[path]`), so it is written once.

/// PostgreSQL: `MCPTK_TEST_POSTGRES_URL`, required when `MCPTK_REQUIRE_POSTGRES` is set.
#[allow(dead_code)]
pub fn postgres_url() -> Option<String> {
    url_from("MCPTK_TEST_POSTGRES_URL", "MCPTK_REQUIRE_POSTGRES", "PostgreSQL")
}

/// MySQL or MariaDB: `MCPTK_TEST_MYSQL_URL`, required when `MCPTK_REQUIRE_MYSQL` is set.
#[allow(dead_code)]
pub fn mysql_url() -> Option<String> {
    url_from("MCPTK_TEST_MYSQL_URL", "MCPTK_REQUIRE_MYSQL", "MySQL/MariaDB")
}

fn url_from(var: &str, require: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(std::env::var(require).is_err(), "{require} is set but {var} is not");
            eprintln!("skipped {what}: set {var} to run against it");
            None
        }
    }
}
