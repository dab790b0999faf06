//! Which writer a record came from: the replica id that keeps the hash chains of several gateway
//! processes apart in one shared audit table.

use crate::{Error, Result};

/// The longest replica id accepted (a Kubernetes pod name is at most 253 characters).
pub const MAX_REPLICA_LEN: usize = 253;

/// The environment variable read when the configuration names no replica.
pub const REPLICA_ENV: &str = "MCPTK_REPLICA";

/// The id of one writer of the audit: each replica keeps its own chain, keyed by this id in the
/// database. Non-empty, at most [`MAX_REPLICA_LEN`] characters, printable and without spaces.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Replica(String);

impl Replica {
    /// Checks `id`.
    pub fn new(id: impl Into<String>) -> Result<Replica> {
        let id = id.into();
        let bad = |why: String| Err(Error::Replica { reason: why });
        if id.is_empty() {
            return bad("it is empty".into());
        }
        if id.chars().count() > MAX_REPLICA_LEN {
            return bad(format!("it is longer than {MAX_REPLICA_LEN} characters"));
        }
        if let Some(c) = id.chars().find(|c| c.is_control() || c.is_whitespace()) {
            return bad(format!("it holds {c:?}: only printable characters without spaces are allowed"));
        }
        Ok(Replica(id))
    }

    /// The id from the configuration if given, else from `MCPTK_REPLICA`, else the host name
    /// (in Kubernetes, the pod's name): the same process restarted keeps its id.
    pub fn resolve(configured: Option<&str>) -> Result<Replica> {
        Self::resolve_with(configured, std::env::var(REPLICA_ENV).ok().as_deref())
    }

    fn resolve_with(configured: Option<&str>, env: Option<&str>) -> Result<Replica> {
        let (id, from) = match (configured, env) {
            (Some(id), _) => (id.to_owned(), "audit.replica"),
            (None, Some(id)) => (id.to_owned(), REPLICA_ENV),
            (None, None) => (host_name(), "the host name"),
        };
        Replica::new(id).map_err(|e| match e {
            Error::Replica { reason } => Error::Replica { reason: format!("{reason} (from {from})") },
            other => other,
        })
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// This machine's name (`uname -n`).
fn host_name() -> String {
    rustix::system::uname().nodename().to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_wins_then_the_environment_then_the_host_name() {
        assert_eq!(Replica::resolve_with(Some("gw-a"), Some("gw-b")).expect("valid").as_str(), "gw-a");
        assert_eq!(Replica::resolve_with(None, Some("gw-b")).expect("valid").as_str(), "gw-b");
        let host = Replica::resolve_with(None, None).expect("the host name is a valid id");
        assert_eq!(host.as_str(), host_name());
        assert!(!host.as_str().is_empty());
    }

    #[test]
    fn bad_ids_are_refused_saying_why_and_where_from() {
        let reason = |configured: &str| match Replica::resolve_with(Some(configured), None) {
            Err(e) => e.to_string(),
            Ok(r) => panic!("{r} was accepted"),
        };
        assert!(reason("").contains("it is empty (from audit.replica)"), "{}", reason(""));
        assert!(reason(&"x".repeat(254)).contains("longer than 253"), "too long");
        assert!(reason("gw\na").contains("'\\n'"), "{}", reason("gw\na"));
        assert!(reason("gw a").contains("without spaces"), "{}", reason("gw a"));
        let env = Replica::resolve_with(None, Some("\u{7}")).expect_err("a bell is not printable").to_string();
        assert!(env.contains("(from MCPTK_REPLICA)"), "{env}");
        assert!(Replica::new("x".repeat(253)).is_ok() && Replica::new("gw-0.ns_1:é").is_ok());
    }
}
