//! Secret redaction: values of configured environment variables and common token shapes.

use std::borrow::Cow;

use regex::{Regex, RegexSet};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What replaces a secret.
const MASK: &str = "[REDACTED]";

/// The `redaction` section of the gateway configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionConfig {
    /// Environment variables whose values are secrets (in addition to those the gateway knows:
    /// every value referenced from `env` and `headers` in `mcp_config.json`).
    #[serde(default)]
    pub env: Vec<String>,
    /// Also redact secrets in results returned to clients (default true).
    #[serde(default)]
    pub skip_results: bool,
}

/// Masks secrets in text and JSON.
#[derive(Debug, Clone)]
pub struct Redactor {
    literals: Vec<String>,
}

/// [`PATTERNS`] compiled, once per process and only when text is first redacted (compiling them
/// is most of a gateway's start-up work otherwise), with the same patterns as one automaton:
/// text none of them matches (nearly all text) is passed over in one scan instead of one per
/// pattern.
static COMPILED: std::sync::LazyLock<(Vec<Regex>, RegexSet)> = std::sync::LazyLock::new(|| {
    let patterns: Vec<Regex> = PATTERNS.iter().filter_map(|p| Regex::new(p).ok()).collect();
    let any_pattern = RegexSet::new(patterns.iter().map(Regex::as_str)).unwrap_or_else(|_| RegexSet::empty());
    (patterns, any_pattern)
});

/// Shapes of well-known credentials.
const PATTERNS: &[&str] = &[
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY-----",
    r"\bgh[pousr]_[A-Za-z0-9]{30,}\b",
    r"\bgithub_pat_[A-Za-z0-9_]{20,}\b",
    r"\bsk-(?:proj-|svcacct-|admin-|ant-)?[A-Za-z0-9_-]{20,}",
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
    r"(?i)(aws_secret_access_key\s*[=:]\s*)[A-Za-z0-9/+=]{40}",
    r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}",
    r"\bxox[abprs]-[A-Za-z0-9-]{10,}",
    r"\bAIza[0-9A-Za-z_-]{35}\b",
    r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
];

/// JSON keys whose values are secrets whatever they look like.
const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "private_key",
    "access_key",
    "client_secret",
];

impl Default for Redactor {
    fn default() -> Self {
        Self::new(Vec::<String>::new())
    }
}

impl Redactor {
    /// Redacts the given secret values (short ones, under 6 characters, are ignored: masking them
    /// would mangle ordinary text) and the well-known credential shapes.
    pub fn new(secrets: impl IntoIterator<Item = impl Into<String>>) -> Self {
        let mut literals: Vec<String> =
            secrets.into_iter().map(Into::into).filter(|s| s.chars().count() >= 6).collect();
        // Longest first, so a secret containing another is masked whole.
        literals.sort_by_key(|s| std::cmp::Reverse(s.len()));
        literals.dedup();
        Self { literals }
    }

    /// The values of the named environment variables that are set, as secrets.
    pub fn from_env(names: &[String]) -> Self {
        Self::new(names.iter().filter_map(|n| std::env::var(n).ok()))
    }

    /// Adds more secret values.
    pub fn with_secrets(mut self, secrets: impl IntoIterator<Item = impl Into<String>>) -> Self {
        let more = Self::new(secrets);
        self.literals.extend(more.literals);
        self.literals.sort_by_key(|s| std::cmp::Reverse(s.len()));
        self.literals.dedup();
        self
    }

    /// The text with every secret masked.
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for literal in &self.literals {
            if out.contains(literal.as_str()) {
                out = Cow::Owned(out.replace(literal.as_str(), MASK));
            }
        }
        let (patterns, any_pattern) = &*COMPILED;
        if !any_pattern.is_match(&out) {
            return out;
        }
        for pattern in patterns {
            if pattern.is_match(&out) {
                // Keep a captured prefix (like `aws_secret_access_key=`) and mask the rest.
                let replaced = pattern.replace_all(&out, |c: &regex::Captures<'_>| match c.get(1) {
                    Some(prefix) => format!("{}{MASK}", prefix.as_str()),
                    None => MASK.to_owned(),
                });
                out = Cow::Owned(replaced.into_owned());
            }
        }
        out
    }

    /// Masks secrets in every string of a JSON value, and whole values under secret-named keys.
    pub fn json(&self, value: &mut Value) {
        match value {
            Value::String(s) => {
                if let Cow::Owned(masked) = self.text(s) {
                    *s = masked;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.json(v)),
            Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    if secret_key(key) && !v.is_null() {
                        *v = Value::String(MASK.into());
                    } else {
                        self.json(v);
                    }
                }
            }
            _ => {}
        }
    }
}

/// A key named like a secret: one of [`SECRET_KEYS`], alone or after `_`, in any ASCII case.
fn secret_key(key: &str) -> bool {
    let key = key.as_bytes();
    SECRET_KEYS.iter().any(|k| {
        let k = k.as_bytes();
        match key.len().checked_sub(k.len()) {
            Some(0) => key.eq_ignore_ascii_case(k),
            Some(start) => key[start - 1] == b'_' && key[start..].eq_ignore_ascii_case(k),
            None => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_of_every_kind_are_masked() {
        let r = Redactor::new(["hunter2-secret-value"]);
        let check = |input: &str, expect: &str| assert_eq!(r.text(input), expect, "{input}");
        check("password is hunter2-secret-value!", "password is [REDACTED]!");
        check("token ghp_abcdefghijklmnopqrstuvwxyz0123456789", "token [REDACTED]");
        check("github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "[REDACTED]");
        check("key=sk-proj-abcdefghijklmnopqrstuvwxyz123456", "key=[REDACTED]");
        check("AKIAIOSFODNN7EXAMPLE in use", "[REDACTED] in use");
        check("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws_secret_access_key = [REDACTED]");
        check("Authorization: Bearer abc.def-ghi_jkl", "Authorization: [REDACTED]");
        check("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----", "[REDACTED]");
        check("nothing secret here, sk-short", "nothing secret here, sk-short");
    }

    #[test]
    fn json_strings_and_secret_keys_are_masked() {
        let r = Redactor::new(["hunter2-secret-value"]);
        let mut v = serde_json::json!({"path": "/x", "note": "uses hunter2-secret-value", "api_key": "anything", "nested": [{"github_token": 42}]});
        r.json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"path": "/x", "note": "uses [REDACTED]", "api_key": "[REDACTED]", "nested": [{"github_token": "[REDACTED]"}]})
        );
    }

    #[test]
    fn secret_keys_are_found_in_any_case_alone_or_after_an_underscore() {
        for key in ["password", "API_KEY", "Github_Token", "my_client_secret", "x_Authorization"] {
            assert!(secret_key(key), "{key}");
        }
        for key in ["tokenizer", "passwords", "mytoken", "password_hint", "", "_", "key"] {
            assert!(!secret_key(key), "{key}");
        }
    }
}
