//! Handshake-era session ids that carry their own state, sealed with an AEAD key every replica
//! shares: a replica that never saw a session opens its id and serves it, so replicas behind a
//! load balancer need no session store.
//!
//! An id is `s1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`: ChaCha20-Poly1305 under the
//! key, the key id (the first 4 bytes of the key's SHA-256, in hex) as associated data, so an id
//! is only opened with the key that sealed it. The sealed state is what `initialize` agreed
//! (revision, client, its capabilities), the principal that opened it and when. A session's
//! resource subscriptions, log level and replay history stay with the replica that holds them.
//!
//! Keys come from `MCPTK_SESSION_KEY` (32 bytes, base64 or hex) and, during a rotation,
//! `MCPTK_SESSION_KEYS_PREVIOUS` (the same, comma-separated): new ids are sealed with the current
//! key, ids sealed with a previous one are still opened until it is dropped from the list.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::protocol::{ClientCapabilities, Implementation};

/// The environment variable with the current key.
pub const KEY_ENV: &str = "MCPTK_SESSION_KEY";
/// The environment variable with previous keys still accepted (comma-separated).
pub const PREVIOUS_KEYS_ENV: &str = "MCPTK_SESSION_KEYS_PREVIOUS";

pub(super) const PREFIX: &str = "s1.";
/// Sealed state larger than this is not put in a header: such a session stays on its replica.
const MAX_SEALED_BYTES: usize = 4096;

/// Why keys could not be read. Never shows a key.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {reason}")]
pub struct KeyError {
    variable: &'static str,
    reason: String,
}

/// The keys that seal and open session ids.
pub struct SessionKeys {
    current: Key,
    previous: Vec<Key>,
}

struct Key {
    id: String,
    key: LessSafeKey,
}

impl fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionKeys")
            .field("current", &self.current.id)
            .field("previous", &self.previous.iter().map(|k| &k.id).collect::<Vec<_>>())
            .finish()
    }
}

/// What a sealed id holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SealedSession {
    /// The principal that opened the session.
    #[serde(rename = "p")]
    pub principal: String,
    /// The revision `initialize` agreed on.
    #[serde(rename = "v")]
    pub version: String,
    #[serde(rename = "c")]
    pub client: Implementation,
    #[serde(rename = "k")]
    pub capabilities: ClientCapabilities,
    /// When it was opened, in seconds since the Unix epoch.
    #[serde(rename = "t")]
    pub issued: u64,
}

/// Why a sealed id was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Not a sealed id at all (a replica-local one).
    NotSealed,
    /// Sealed with a key this replica does not have (rotated out, or another deployment's).
    UnknownKey,
    /// Forged, truncated or altered.
    Invalid,
    /// Older than the lifetime.
    Expired,
}

impl SessionKeys {
    /// The current key and the previous ones, as given (32 bytes each, base64 or hex).
    pub fn new(current: &str, previous: &[&str]) -> Result<Self, KeyError> {
        let current = Key::parse(current).map_err(|reason| KeyError { variable: KEY_ENV, reason })?;
        let previous = previous
            .iter()
            .filter(|k| !k.trim().is_empty())
            .map(|k| Key::parse(k).map_err(|reason| KeyError { variable: PREVIOUS_KEYS_ENV, reason }))
            .collect::<Result<_, _>>()?;
        Ok(Self { current, previous })
    }

    /// Keys from `MCPTK_SESSION_KEY` and `MCPTK_SESSION_KEYS_PREVIOUS`; `None` when the first is
    /// unset (sessions then live on the replica that opened them).
    pub fn from_env() -> Result<Option<Self>, KeyError> {
        let Some(current) = std::env::var(KEY_ENV).ok().filter(|v| !v.trim().is_empty()) else {
            if std::env::var(PREVIOUS_KEYS_ENV).is_ok_and(|v| !v.trim().is_empty()) {
                return Err(KeyError {
                    variable: KEY_ENV,
                    reason: format!("is unset while {PREVIOUS_KEYS_ENV} is set; set the current key too"),
                });
            }
            return Ok(None);
        };
        let previous = std::env::var(PREVIOUS_KEYS_ENV).unwrap_or_default();
        let previous: Vec<&str> = previous.split(',').map(str::trim).collect();
        Self::new(&current, &previous).map(Some)
    }

    /// The id for `session`, or `None` when its state is too large for a header.
    pub(crate) fn seal(&self, session: &SealedSession) -> Option<String> {
        let plain = serde_json::to_vec(session).ok()?;
        if plain.len() > MAX_SEALED_BYTES {
            return None;
        }
        let nonce = crate::random_bytes::<NONCE_LEN>();
        let mut sealed = plain;
        self.current
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(self.current.id.as_bytes()),
                &mut sealed,
            )
            .ok()?;
        let mut bytes = Vec::with_capacity(NONCE_LEN + sealed.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        Some(format!("{PREFIX}{}.{}", self.current.id, URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// The state `id` holds, if one of our keys sealed it and it is younger than `lifetime`.
    pub(crate) fn open(&self, id: &str, lifetime: Duration) -> Result<SealedSession, Refused> {
        let rest = id.strip_prefix(PREFIX).ok_or(Refused::NotSealed)?;
        let (key_id, body) = rest.split_once('.').ok_or(Refused::Invalid)?;
        let key =
            std::iter::once(&self.current).chain(&self.previous).find(|k| k.id == key_id).ok_or(Refused::UnknownKey)?;
        let mut bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| Refused::Invalid)?;
        if bytes.len() < NONCE_LEN {
            return Err(Refused::Invalid);
        }
        let mut sealed = bytes.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&bytes).map_err(|_| Refused::Invalid)?;
        let plain =
            key.key.open_in_place(nonce, Aad::from(key.id.as_bytes()), &mut sealed).map_err(|_| Refused::Invalid)?;
        let session: SealedSession = serde_json::from_slice(plain).map_err(|_| Refused::Invalid)?;
        if now_secs().saturating_sub(session.issued) > lifetime.as_secs() {
            return Err(Refused::Expired);
        }
        Ok(session)
    }
}

impl Key {
    fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32).map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16)).collect::<Result<Vec<u8>, _>>().ok()
        } else {
            STANDARD.decode(text).or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('='))).ok()
        };
        let bytes = bytes.ok_or("is neither base64 nor 64 hex digits")?;
        if bytes.len() != 32 {
            return Err(format!(
                "holds {} bytes; a session key is 32 bytes (e.g. `openssl rand -base64 32`)",
                bytes.len()
            ));
        }
        let digest = sha2::Sha256::digest(&bytes);
        let id = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        let key = UnboundKey::new(&CHACHA20_POLY1305, &bytes).map_err(|_| "is not a usable key".to_owned())?;
        Ok(Self { id, key: LessSafeKey::new(key) })
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // base64 of 32 bytes
    const KEY_B: &str = "3031323334353637383961626364656630313233343536373839616263646566"; // the same in hex
    const KEY_C: &str = "Y2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2M=";

    /// The same session each time it is called, issued once: compared with a session opened
    /// again, an `issued` read anew would differ whenever a second boundary fell in between.
    fn session() -> SealedSession {
        static ISSUED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
        SealedSession {
            principal: "alice".into(),
            version: "2025-11-25".into(),
            client: Implementation::new("inspector", "1.0"),
            capabilities: ClientCapabilities::default(),
            issued: *ISSUED.get_or_init(now_secs),
        }
    }

    #[test]
    fn a_sealed_id_opens_to_the_same_state_on_any_replica_with_the_key() {
        let (a, b) = (SessionKeys::new(KEY_A, &[]).expect("works"), SessionKeys::new(KEY_B, &[]).expect("works"));
        let id = a.seal(&session()).expect("works");
        assert!(id.starts_with("s1.") && id.bytes().all(|c| c.is_ascii_graphic()), "{id}");
        assert!(!id.contains("alice"), "the state is encrypted: {id}");
        assert_eq!(b.open(&id, Duration::from_secs(60)).expect("works"), session());
        // Two ids of the same state differ (fresh nonce).
        assert_ne!(a.seal(&session()).expect("works"), id);
    }

    #[test]
    fn altered_foreign_expired_and_local_ids_are_refused() {
        let keys = SessionKeys::new(KEY_A, &[]).expect("works");
        let id = keys.seal(&session()).expect("works");
        let mut altered = id.clone().into_bytes();
        let last = altered.len() - 3;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).expect("works");
        assert_eq!(keys.open(&altered, Duration::from_secs(60)), Err(Refused::Invalid));
        assert_eq!(keys.open(&id[..id.len() - 10], Duration::from_secs(60)), Err(Refused::Invalid));
        let other = SessionKeys::new(KEY_C, &[]).expect("works");
        assert_eq!(other.open(&id, Duration::from_secs(60)), Err(Refused::UnknownKey));
        // The key id is authenticated: moving the body under another key's id fails.
        let moved = format!("s1.{}.{}", other.current.id, id.rsplit('.').next().expect("works"));
        assert_eq!(other.open(&moved, Duration::from_secs(60)), Err(Refused::Invalid));
        let mut old = session();
        old.issued -= 120;
        let old = keys.seal(&old).expect("works");
        assert_eq!(keys.open(&old, Duration::from_secs(60)), Err(Refused::Expired));
        assert_eq!(keys.open(&crate::random_id(), Duration::from_secs(60)), Err(Refused::NotSealed));
    }

    #[test]
    fn a_rotation_keeps_opening_ids_of_the_previous_key_until_it_is_dropped() {
        let old = SessionKeys::new(KEY_C, &[]).expect("works");
        let id = old.seal(&session()).expect("works");
        let rotated = SessionKeys::new(KEY_A, &[KEY_C]).expect("works");
        assert_eq!(rotated.open(&id, Duration::from_secs(60)).expect("works"), session());
        assert!(rotated.seal(&session()).expect("works").starts_with(&format!("s1.{}.", rotated.current.id)));
        let done = SessionKeys::new(KEY_A, &[]).expect("works");
        assert_eq!(done.open(&id, Duration::from_secs(60)), Err(Refused::UnknownKey));
    }

    #[test]
    fn a_bad_key_is_named_without_showing_it() {
        let e = SessionKeys::new("c2hvcnQ=", &[]).expect_err("refused").to_string();
        assert!(e.contains(KEY_ENV) && e.contains("5 bytes") && !e.contains("c2hvcnQ"), "{e}");
        let e = SessionKeys::new(KEY_A, &["not a key!"]).expect_err("refused").to_string();
        assert!(e.contains(PREVIOUS_KEYS_ENV) && !e.contains("not a key"), "{e}");
        assert!(!format!("{:?}", SessionKeys::new(KEY_A, &[]).expect("works")).contains(KEY_A));
    }
}
