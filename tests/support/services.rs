//! What a test does when a service or program that `cargo xtask test` provides is missing: outside
//! CI it skips, printing why and how to provide it; in CI (`CI=true`) it fails, so that a CI run
//! never passes by skipping. Included by the test crates that need it (`#[path]`), so it is written
//! once.

/// Skips (outside CI) or fails (in CI) for `reason`; the `None` is for the caller to return.
#[allow(dead_code)]
pub fn unavailable<T>(reason: &str) -> Option<T> {
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{reason}");
    eprintln!("skipped: {reason}");
    None
}

/// The value of `variable`, which `tests/services.sh` (`cargo xtask services`) sets when it starts
/// `what`; `None` through [`unavailable`] when it is unset or empty.
#[allow(dead_code)]
pub fn service(variable: &str, what: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(value) if !value.is_empty() => Some(value),
        _ => {
            unavailable(&format!("{variable} is not set: run tests/services.sh (cargo xtask services) to start {what}"))
        }
    }
}
