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
#[derive(Clone)]
pub struct Redactor {
    literals: Vec<String>,
}

/// Says how many secrets it knows, never which.
impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor").field("secrets", &self.literals.len()).finish()
    }
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
    // HTTP basic credentials, as an `Authorization` header or value gives them (the word alone
    // is ordinary English: "basic authentication").
    r#"(?i)(\bauthorization["']?\s*[:=]\s*["']?)basic\s+[A-Za-z0-9+/]{8,}={0,2}"#,
    // The password of a URL's user info (`postgres://admin:pw@db`): the rest of the URL stays.
    // (Up to the last `@` of the authority: a password may hold one.)
    r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@?#]*:)[^\s/?#]+(?P<end>@)",
    // A secret-named string in JSON text (a config file a tool read): `"clientSecret": "..."`.
    // The key is checked again as [`secret_key`] checks one (`nextPageToken` is not a secret).
    r#"(?i)("(?P<key>[A-Za-z0-9_-]*(?:password|passwd|secret|token|api[_-]?key|private[_-]?key|access[_-]?key))"\s*:\s*")(?:[^"\\]|\\.){4,}(?P<end>")"#,
    // The same in environment-file and properties style: `DB_PASSWORD=...`, `export GITHUB_TOKEN=...`,
    // `password=...`, `spring.datasource.password = ...`. (Indented or as a list item too, as in a
    // compose file; a quoted value whole.)
    r#"(?im)^([ \t]*(?:-[ \t]*)?(?:export[ \t]+)?[A-Z0-9_.-]*(?:PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|APIKEY|PRIVATE_KEY|ACCESS_KEY)[ \t]*=[ \t]*)(?:"[^"\n]*"|'[^'\n]*'|\S+)"#,
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

/// Words before `token` that make it a paging token (`nextPageToken`, `syncToken`).
const PAGING: &[&str] = &["page", "next", "sync", "continuation", "cursor", "pagination"];

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
                // Keep a captured prefix (group 1, like `aws_secret_access_key=`) and suffix
                // (`end`: a URL's `@`, a JSON string's closing quote) and mask what is between.
                let replaced = pattern.replace_all(&out, |c: &regex::Captures<'_>| {
                    if c.name("key").is_some_and(|key| !secret_key(key.as_str())) {
                        return c[0].to_owned();
                    }
                    let prefix = c.get(1).map_or("", |m| m.as_str());
                    let end = c.name("end").map_or("", |m| m.as_str());
                    format!("{prefix}{MASK}{end}")
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

/// Whether a name (an environment variable, header, option or query parameter) says its value
/// is a credential: one of its words is `token`, `secret`, `password`, `key`, ... (`PATH` and
/// `KEYBOARD` are not). The one rule for such names: `mcptk import` turns a value so named into
/// a `${VAR}` reference, and the gateway masks what such a reference expands to. (Keys in JSON a
/// tool returns follow the narrower [`secret_key`], since `key` and `session` name ordinary data
/// there.)
pub fn secret_name(name: &str) -> bool {
    const WORDS: &[&str] = &[
        "token",
        "secret",
        "password",
        "passwd",
        "pwd",
        "pass",
        "key",
        "apikey",
        "auth",
        "authorization",
        "credential",
        "credentials",
        "pat",
        "cookie",
        "session",
        "bearer",
        "private",
        "signature",
        "sig",
    ];
    let mut words = Vec::new();
    let mut word = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() {
            words.push(std::mem::take(&mut word));
            previous_lower = false;
            continue;
        }
        // camelCase splits too: `apiKey` is `api` `key`.
        if c.is_ascii_uppercase() && previous_lower {
            words.push(std::mem::take(&mut word));
        }
        previous_lower = c.is_ascii_lowercase();
        word.push(c.to_ascii_lowercase());
    }
    words.push(word);
    words.iter().any(|w| WORDS.contains(&w.as_str()))
}

/// A key named like a secret: its last words are one of [`SECRET_KEYS`], words being parted by
/// `_`, `-` or a change of case (`GITHUB_TOKEN`, `accessToken`, `x-api-key`, `APIKey`), in any
/// case; `tokenizer` and `password_hint` are not.
fn secret_key(key: &str) -> bool {
    let words = words(key);
    // Tokens that page through results are no secrets, and a model needs them to page on.
    if let [.., before, last] = words.as_slice()
        && last == "token"
        && PAGING.contains(&before.as_str())
    {
        return false;
    }
    SECRET_KEYS.iter().any(|k| {
        let wanted: Vec<&str> = k.split('_').collect();
        words.len() >= wanted.len() && words[words.len() - wanted.len()..].iter().zip(&wanted).all(|(w, k)| w == k)
    })
}

/// The words of an identifier, lowercased: parted by `_`, `-` and changes of case (`APIKey` is
/// `api`, `key`).
fn words(key: &str) -> Vec<String> {
    let chars: Vec<char> = key.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c == '_' || c == '-' {
            words.push(std::mem::take(&mut word));
            continue;
        }
        let previous = i.checked_sub(1).map(|p| chars[p]);
        let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
        let starts = c.is_uppercase()
            && previous.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit() || p.is_uppercase() && next_lower);
        if starts {
            words.push(std::mem::take(&mut word));
        }
        word.extend(c.to_lowercase());
    }
    words.push(word);
    words.retain(|w| !w.is_empty());
    words
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
        check("Authorization: Basic dXNlcjpwYXNzd29yZA==", "Authorization: [REDACTED]");
        check(r#""authorization": "Basic dXNlcjpwYXNzd29yZA==""#, r#""authorization": "[REDACTED]""#);
        check(
            "Basic authentication is supported; a basic understanding",
            "Basic authentication is supported; a basic understanding",
        );
        check("postgres://admin:Sup3rS3cretPw@db:5432/app", "postgres://admin:[REDACTED]@db:5432/app");
        check("postgres://admin:p@ssw0rd@db/app", "postgres://admin:[REDACTED]@db/app");
        check("see https://example.com/a:b@c", "see https://example.com/a:b@c");
        check("https://example.com:8443?email=bob@example.com", "https://example.com:8443?email=bob@example.com");
        check(r#"{"password": "ab\"cdefgh"}"#, r#"{"password": "[REDACTED]"}"#);
        check(
            r#"{"nextPageToken": "CAUQAA", "syncToken": "abcdef"}"#,
            r#"{"nextPageToken": "CAUQAA", "syncToken": "abcdef"}"#,
        );
        check("DB_PASSWORD=\nDB_HOST=localhost", "DB_PASSWORD=\nDB_HOST=localhost");
        check("password=hunter2hunter2\nuser=admin", "password=[REDACTED]\nuser=admin");
        check("spring.datasource.password = s3cr3t-value", "spring.datasource.password = [REDACTED]");
        check("max_tokens=100", "max_tokens=100");
        check("DB_PASSWORD=\"correct horse battery\"", "DB_PASSWORD=[REDACTED]");
        check("  - DB_PASSWORD=hunter22pw", "  - DB_PASSWORD=[REDACTED]");
        check(
            r#"{"user": "ann", "password": "hunter22pw", "accessToken": "abcd1234"}"#,
            r#"{"user": "ann", "password": "[REDACTED]", "accessToken": "[REDACTED]"}"#,
        );
        check(r#"{"token_count": 12, "tokenizer": "bpe"}"#, r#"{"token_count": 12, "tokenizer": "bpe"}"#);
        check(
            "DB_PASSWORD=hunter22pw\nexport GITHUB_TOKEN=abcdefgh # the bot's\nDEBUG=1",
            "DB_PASSWORD=[REDACTED]\nexport GITHUB_TOKEN=[REDACTED] # the bot's\nDEBUG=1",
        );
        assert_eq!(format!("{r:?}"), "Redactor { secrets: 1 }");
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
    fn secret_names_are_told_by_their_words() {
        for name in
            ["GITHUB_PERSONAL_ACCESS_TOKEN", "BRAVE_API_KEY", "apiKey", "x-api-key", "Authorization", "DB_PASSWORD"]
        {
            assert!(secret_name(name), "{name}");
        }
        for name in ["PATH", "KEYBOARD_LAYOUT", "DEBUG", "ALLOWED_DIRS", "NODE_ENV", "HOME"] {
            assert!(!secret_name(name), "{name}");
        }
        // Names `mcptk import` turns into references are masked when they are expanded.
        for name in ["CUSTOM_KEY", "DB_PASS", "GITHUB_PAT", "MY_KEY", "authToken", "SESSION_COOKIE"] {
            assert!(secret_name(name), "{name}");
        }
    }

    #[test]
    fn secret_keys_are_found_in_any_case_alone_or_after_an_underscore() {
        for key in ["password", "API_KEY", "Github_Token", "my_client_secret", "x_Authorization"] {
            assert!(secret_key(key), "{key}");
        }
        for key in ["accessToken", "clientSecret", "x-api-key", "APIKey", "apiKey", "PrivateKey", "refresh-token"] {
            assert!(secret_key(key), "{key}");
        }
        for key in [
            "tokenizer",
            "passwords",
            "mytoken",
            "password_hint",
            "",
            "_",
            "key",
            "tokenCount",
            "secretary",
            "nextPageToken",
            "page_token",
            "syncToken",
        ] {
            assert!(!secret_key(key), "{key}");
        }
    }
}
