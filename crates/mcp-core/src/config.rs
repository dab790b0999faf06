//! `mcp_config.json`: the server list shared with Claude Desktop, Cursor and other MCP hosts.
//!
//! ```json
//! { "mcpServers": {
//!     "github": { "command": "npx", "args": ["-y", "@modelcontextprotocol/server-github"],
//!                 "env": { "GITHUB_PERSONAL_ACCESS_TOKEN": "${GITHUB_TOKEN}" } },
//!     "remote": { "url": "https://mcp.example.com/mcp", "headers": { "Authorization": "Bearer ${TOKEN}" } } } }
//! ```
//!
//! Secrets stay out of the file: `${VAR}` (or `${VAR:-default}`) in `command`, `args`, `env`,
//! `cwd`, `url` and `headers` expands from the environment when a server is resolved. A missing
//! variable is an error that names the variable and the field, never a value. What the variables
//! of an HTTP entry expanded to is kept with it ([`HttpServer::secrets`]), so that every message
//! about that server can mask them ([`Scrubber`]); URLs are shown through [`display_url`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Configuration errors. Messages never include the value of a variable or a header.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config `{path}`: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid configuration JSON.
    #[error("invalid config `{path}` at line {line}, column {column}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What was wrong, with quoted values removed.
        message: String,
    },
    /// A `${VAR}` reference names a variable that is not set (the first such; `others` are the
    /// rest of the entry's, so that one run names every variable to set).
    #[error("server `{server}`: environment variable `{var}` is not set (referenced in {field}){}", nor(.others))]
    MissingVar {
        /// The server.
        server: String,
        /// The variable.
        var: String,
        /// Where it was referenced, e.g. `env.GITHUB_PERSONAL_ACCESS_TOKEN`.
        field: String,
        /// The entry's other unset variables, each with where it was referenced.
        others: Vec<(String, String)>,
    },
    /// A `${` without its closing brace, or an empty or invalid variable name.
    #[error("server `{server}`: malformed variable reference in {field}")]
    BadReference {
        /// The server.
        server: String,
        /// Where.
        field: String,
    },
    /// The entry has neither `command` nor `url`.
    #[error("server `{server}`: needs either `command` (stdio) or `url` (HTTP){}", misspelt(.unknown))]
    NoTransport {
        /// The server.
        server: String,
        /// Keys of the entry that no client reads as either (e.g. `comand`), to name a likely typo.
        unknown: Vec<String>,
    },
    /// The entry has both `command` and `url`: which one is meant cannot be told.
    #[error("server `{server}`: has both `command` (stdio) and `url` (HTTP); keep the one meant")]
    BothTransports {
        /// The server.
        server: String,
    },
    /// The entry's `url` (as its variables expanded) is no `http://` or `https://` URL with a
    /// host: no client could ever reach it.
    #[error("server `{server}`: `url` must be an http:// or https:// URL with a host: `{shown}` {why}")]
    BadUrl {
        /// The server.
        server: String,
        /// The URL as it may be shown ([`display_url`], expanded secrets masked).
        shown: String,
        /// What is wrong with it, e.g. `has the scheme \`htp\``.
        why: String,
    },
    /// No server of that name is configured.
    #[error("no server named `{name}` in the config (configured: {known})")]
    UnknownServer {
        /// The name asked for.
        name: String,
        /// The names configured, comma-separated.
        known: String,
    },
}

/// `, nor are `B` (referenced in env.B), …` for the other unset variables of an entry.
fn nor(others: &[(String, String)]) -> String {
    let mut out = String::new();
    for (i, (var, field)) in others.iter().enumerate() {
        out.push_str(if i == 0 { "; nor are " } else { ", " });
        out.push_str(&format!("`{var}` (referenced in {field})"));
    }
    out
}

/// `; `comand` is no such field: did you mean `command`?` when a key of the entry is one or two
/// edits from `command` or `url`.
fn misspelt(unknown: &[String]) -> String {
    for key in unknown {
        for meant in ["command", "url"] {
            if key != meant && edits(&key.to_ascii_lowercase(), meant) <= if meant == "url" { 1 } else { 2 } {
                return format!("; `{key}` is no field of an entry: did you mean `{meant}`?");
            }
        }
    }
    String::new()
}

/// The one of `known` that `name` most likely misspells (one or two edits away, the nearest
/// first), for a "did you mean" in an error.
pub fn nearest<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let name = name.to_ascii_lowercase();
    known
        .into_iter()
        .map(|k| (edits(&name, &k.to_ascii_lowercase()), k))
        .filter(|(d, _)| (1..=2).contains(d))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// The Levenshtein distance between two short ASCII-ish strings.
fn edits(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The whole file: servers by name, as written (variables not yet expanded).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct McpConfig {
    /// The servers.
    #[serde(rename = "mcpServers", default)]
    pub servers: BTreeMap<String, ServerEntry>,
}

/// One server as written in the file.
#[derive(Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerEntry {
    /// Program to run (stdio servers).
    #[serde(default)]
    pub command: Option<String>,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Extra environment variables for it.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Endpoint (HTTP servers).
    #[serde(default)]
    pub url: Option<String>,
    /// Extra HTTP headers, e.g. authorization.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// OAuth for an HTTP server that asks for it: `{}` for dynamic registration, or a
    /// pre-registered client (`client_id`, `client_secret` as `${VAR}`), `scopes`,
    /// `client_metadata_url`, `redirect_port`.
    #[serde(default)]
    pub oauth: Option<OAuthEntry>,
    /// Skipped when true.
    #[serde(default)]
    pub disabled: bool,
    /// The keys this entry has that mcptk does not read (other clients' own, such as `type`,
    /// `timeout` or `alwaysAllow`, or a typo), values unread: named when the entry has no
    /// transport.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde::de::IgnoredAny>,
}

/// The `oauth` block of an HTTP server entry.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthEntry {
    /// A pre-registered client id.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Its secret, best as `${VAR}`.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Scopes to ask for when the server names none.
    #[serde(default)]
    pub scopes: Option<String>,
    /// A Client ID Metadata Document URL, used where the authorization server supports it.
    #[serde(default)]
    pub client_metadata_url: Option<String>,
    /// The loopback port the browser is sent back to (default: any free one).
    #[serde(default)]
    pub redirect_port: Option<u16>,
}

impl fmt::Debug for OAuthEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthEntry")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "<redacted>"))
            .field("scopes", &self.scopes)
            .field("redirect_port", &self.redirect_port)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ServerEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerEntry")
            .field("command", &self.command)
            .field("args", &self.args)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("cwd", &self.cwd)
            .field("url", &self.url.as_deref().map(display_url))
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("disabled", &self.disabled)
            .finish()
    }
}

/// A server with every variable expanded, ready to connect to.
#[derive(Clone)]
pub enum ServerConfig {
    /// A child process speaking over stdin/stdout.
    Stdio(StdioServer),
    /// A Streamable HTTP endpoint.
    Http(HttpServer),
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stdio(s) => s.fmt(f),
            Self::Http(h) => h.fmt(f),
        }
    }
}

/// A child-process server.
#[derive(Clone)]
pub struct StdioServer {
    /// Program.
    pub command: String,
    /// Arguments.
    pub args: Vec<String>,
    /// Extra environment (values are secrets: never logged).
    pub env: BTreeMap<String, String>,
    /// Working directory.
    pub cwd: Option<PathBuf>,
}

impl fmt::Debug for StdioServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Arguments are counted, not shown: variables expanded into them may be secrets.
        f.debug_struct("StdioServer")
            .field("command", &self.command)
            .field("args", &format_args!("[{} arguments]", self.args.len()))
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("cwd", &self.cwd)
            .finish()
    }
}

impl StdioServer {
    /// A program with arguments and no extra environment.
    pub fn new(command: impl Into<String>, args: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            command: command.into(),
            args: args.into_iter().map(Into::into).collect(),
            env: BTreeMap::new(),
            cwd: None,
        }
    }
}

/// An HTTP server.
#[derive(Clone, Default)]
pub struct HttpServer {
    /// Endpoint.
    pub url: String,
    /// Extra headers (values are secrets: never logged).
    pub headers: BTreeMap<String, String>,
    /// OAuth settings (secrets expanded), when the entry has an `oauth` block.
    pub oauth: Option<OAuthEntry>,
    /// What the entry's `${VAR}` references expanded to (in `url`, `headers`, `oauth`): masked
    /// as `***` in every message about this server. Filled by [`ServerEntry::resolve`].
    pub secrets: Vec<String>,
}

impl fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpServer")
            .field("url", &self.scrubber().url(&self.url))
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("oauth", &self.oauth)
            .finish_non_exhaustive()
    }
}

impl HttpServer {
    /// An endpoint with no extra headers, OAuth or secrets.
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), ..Self::default() }
    }

    /// The scrubber for messages about this server: its expanded secrets masked.
    pub fn scrubber(&self) -> Scrubber {
        Scrubber::new(self.secrets.iter().cloned())
    }
}

impl McpConfig {
    /// Reads and parses a file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Self::parse(&text, path)
    }

    /// Parses configuration text; `path` is only used in errors.
    pub fn parse(text: &str, path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        serde_json::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.as_ref().to_owned(),
            line: e.line(),
            column: e.column(),
            message: json_error_message(&e),
        })
    }

    /// The names of the servers that are not disabled.
    pub fn enabled(&self) -> impl Iterator<Item = (&str, &ServerEntry)> {
        self.servers.iter().filter(|(_, e)| !e.disabled).map(|(n, e)| (n.as_str(), e))
    }

    /// Resolves one server by name with variables from the process environment.
    pub fn server(&self, name: &str) -> Result<ServerConfig, ConfigError> {
        let entry = self.servers.get(name).ok_or_else(|| ConfigError::UnknownServer {
            name: name.to_owned(),
            known: self.servers.keys().cloned().collect::<Vec<_>>().join(", "),
        })?;
        entry.resolve(name, &|var| std::env::var(var).ok())
    }
}

impl ServerEntry {
    /// Expands every `${VAR}` with `lookup` and decides the transport.
    pub fn resolve(&self, server: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<ServerConfig, ConfigError> {
        if self.command.is_some() && self.url.is_some() {
            return Err(ConfigError::BothTransports { server: server.to_owned() });
        }
        let mut missing = self.fields().flat_map(|(field, value)| {
            references(value).filter_map(move |r| match r {
                Ok((name, None)) if lookup(name).is_none() => Some((name.to_owned(), field.clone())),
                _ => None,
            })
        });
        if let Some((var, field)) = missing.next() {
            let others = missing.collect();
            return Err(ConfigError::MissingVar { server: server.to_owned(), var, field, others });
        }
        let expand = |value: &str, field: String| expand(value, lookup, server, field);
        if let Some(command) = &self.command {
            let command = expand(command, "command".into())?;
            let args =
                self.args.iter().enumerate().map(|(i, a)| expand(a, format!("args[{i}]"))).collect::<Result<_, _>>()?;
            let env = self
                .env
                .iter()
                .map(|(k, v)| Ok((k.clone(), expand(v, format!("env.{k}"))?)))
                .collect::<Result<_, ConfigError>>()?;
            let cwd = self.cwd.as_deref().map(|c| expand(c, "cwd".into())).transpose()?.map(PathBuf::from);
            Ok(ServerConfig::Stdio(StdioServer { command, args, env, cwd }))
        } else if let Some(url) = &self.url {
            self.resolve_http(server, url, lookup).map(ServerConfig::Http)
        } else {
            Err(ConfigError::NoTransport { server: server.to_owned(), unknown: self.other.keys().cloned().collect() })
        }
    }

    /// Every field `${VAR}` expands in, named as errors name it, with its value as written.
    fn fields(&self) -> impl Iterator<Item = (String, &str)> {
        fn one<'a>(name: &str, value: &'a Option<String>) -> Option<(String, &'a str)> {
            value.as_deref().map(|v| (name.to_owned(), v))
        }
        let oauth = self.oauth.as_ref();
        one("command", &self.command)
            .into_iter()
            .chain(self.args.iter().enumerate().map(|(i, a)| (format!("args[{i}]"), a.as_str())))
            .chain(self.env.iter().map(|(k, v)| (format!("env.{k}"), v.as_str())))
            .chain(one("cwd", &self.cwd))
            .chain(one("url", &self.url))
            .chain(self.headers.iter().map(|(k, v)| (format!("headers.{k}"), v.as_str())))
            .chain(oauth.and_then(|o| one("oauth.client_id", &o.client_id)))
            .chain(oauth.and_then(|o| one("oauth.client_secret", &o.client_secret)))
    }

    /// The HTTP transport's settings, with what every variable expanded to kept as secrets.
    fn resolve_http(
        &self,
        server: &str,
        url: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<HttpServer, ConfigError> {
        let mut secrets = Vec::new();
        let mut expand = |value: &str, field: String| expand_into(value, lookup, server, field, &mut secrets);
        let url = expand(url, "url".into())?;
        let mut headers = BTreeMap::new();
        for (k, v) in &self.headers {
            headers.insert(k.clone(), expand(v, format!("headers.{k}"))?);
        }
        let mut oauth = self.oauth.clone();
        if let Some(o) = &mut oauth {
            o.client_id = o.client_id.take().map(|v| expand(&v, "oauth.client_id".into())).transpose()?;
            o.client_secret = o.client_secret.take().map(|v| expand(&v, "oauth.client_secret".into())).transpose()?;
        }
        secrets.sort();
        secrets.dedup();
        if let Err(why) = check_http_url(&url) {
            // A scheme or port may be what a variable expanded to, as much as a host.
            let scrubber = Scrubber::new(secrets.iter().cloned());
            let (shown, why) = (scrubber.url(&url), scrubber.text(&why));
            return Err(ConfigError::BadUrl { server: server.to_owned(), shown, why });
        }
        Ok(HttpServer { url, headers, oauth, secrets })
    }
}

/// Whether `url` can be reached over HTTP: an `http` or `https` scheme, a host, a port (if any)
/// that is a number; else what is wrong, in words that quote only the scheme or the port.
fn check_http_url(url: &str) -> Result<(), String> {
    let url = url.trim();
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err("is not an absolute URL (no `scheme://`)".to_owned());
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(if scheme.is_empty() {
            "has no scheme".to_owned()
        } else if scheme.len() <= 16 && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) {
            format!("has the scheme `{scheme}`")
        } else {
            "has no valid scheme".to_owned()
        });
    }
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let (host, port) = match host_port.strip_prefix('[') {
        // An IPv6 address: `[::1]:8080`.
        Some(v6) => match v6.split_once(']') {
            Some((host, after)) => (host, after.strip_prefix(':')),
            None => return Err("has an IPv6 host without its closing `]`".to_owned()),
        },
        None => match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    if host.trim().is_empty() {
        return Err("has no host".to_owned());
    }
    if let Some(port) = port.filter(|p| !p.is_empty())
        && port.parse::<u16>().is_err()
    {
        return Err(if port.len() <= 8 && port.chars().all(|c| c.is_ascii_digit()) {
            format!("has the port `{port}`, past 65535")
        } else {
            "has a port that is not a number".to_owned()
        });
    }
    Ok(())
}

/// Expands `${VAR}` and `${VAR:-default}` in `value`.
pub fn expand(
    value: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    server: &str,
    field: String,
) -> Result<String, ConfigError> {
    expand_into(value, lookup, server, field, &mut Vec::new())
}

/// [`expand`], adding to `expanded` every value a variable of the environment expanded to (a
/// `:-default` is written in the file, so it is no secret).
fn expand_into(
    value: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    server: &str,
    field: String,
    expanded: &mut Vec<String>,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some((name, default, end)) = reference(after) else {
            return Err(ConfigError::BadReference { server: server.to_owned(), field });
        };
        match (lookup(name), default) {
            (Some(v), _) => {
                out.push_str(&v);
                if !v.is_empty() {
                    expanded.push(v);
                }
            }
            (None, Some(d)) => out.push_str(d),
            (None, None) => {
                return Err(ConfigError::MissingVar {
                    server: server.to_owned(),
                    var: name.to_owned(),
                    field,
                    others: Vec::new(),
                });
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The reference at the start of `after` (what follows a `${`): its name, its `:-default` and
/// where its `}` is; `None` when it is malformed.
fn reference(after: &str) -> Option<(&str, Option<&str>, usize)> {
    let end = after.find('}')?;
    let reference = &after[..end];
    let (name, default) = match reference.split_once(":-") {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    let valid = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then_some((name, default, end))
}

/// Every `${…}` reference in `value`, in order: its name and default, or `Err` for a malformed
/// one (after which the rest of the value is not read).
fn references(value: &str) -> impl Iterator<Item = Result<(&str, Option<&str>), ()>> {
    let mut rest = Some(value);
    std::iter::from_fn(move || {
        let start = rest?.find("${")?;
        let after = &rest?[start + 2..];
        match reference(after) {
            Some((name, default, end)) => {
                rest = Some(&after[end + 1..]);
                Some(Ok((name, default)))
            }
            None => {
                rest = None;
                Some(Err(()))
            }
        }
    })
}

/// A JSON parser's message as it may be shown about a file that may hold secrets, without
/// serde_json's own " at line L column C" (the caller says where). A syntax error (or a text that
/// ends early) keeps its message: serde_json's quote only its own punctuation (``expected `,` or
/// `}` ``), never the input. Any other error may quote a value (`invalid type: string "..."`):
/// its quoted spans become `<value>`.
pub fn json_error_message(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match error.classify() {
        Category::Syntax | Category::Eof => without_position(error.to_string()),
        Category::Data | Category::Io => without_quoted_values(&error.to_string()),
    }
}

/// `message` without serde_json's own " at line L column C".
fn without_position(message: String) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message,
    }
}

/// Removes `"..."` and `` `...` `` spans from a parser message: they may quote a secret.
fn without_quoted_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quote: Option<char> = None;
    for c in message.chars() {
        match quote {
            Some(q) if c == q => {
                out.push_str("<value>");
                quote = None;
            }
            Some(_) => {}
            None if c == '"' || c == '`' => quote = Some(c),
            None => out.push(c),
        }
    }
    without_position(out)
}

/// A URL as it may be shown: without user info or fragment, each query value as `***`
/// (`https://user:pw@host/mcp?key=k1` → `https://host/mcp?key=***`). A secret elsewhere in it (the
/// path, the host) is for a [`Scrubber`], which knows the values.
pub fn display_url(url: &str) -> String {
    let url = url.trim();
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, after) = rest.split_at(authority_end);
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let after = after.split('#').next().unwrap_or_default();
    let mut out = format!("{scheme}{host}");
    match after.split_once('?') {
        None => out.push_str(after),
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            let masked: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) => format!("{key}=***"),
                    None if pair.is_empty() => String::new(),
                    None => "***".to_owned(),
                })
                .collect();
            out.push_str(&masked.join("&"));
        }
    }
    out
}

/// The user and password written in a URL's authority (`redis://user:pw@host`), percent-decoded:
/// the values a [`Scrubber`] masks wherever the URL's use is reported.
pub fn url_credentials(url: &str) -> Vec<String> {
    let rest = url.trim().split_once("://").map_or(url, |(_, rest)| rest);
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let Some((userinfo, _)) = authority.rsplit_once('@') else { return Vec::new() };
    let mut out: Vec<String> = userinfo.split(':').filter(|p| !p.is_empty()).map(percent_decode).collect();
    out.dedup();
    out
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = text.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Masks known secret values in text: every occurrence of one, as written or as it appears
/// percent-encoded, form-encoded or escaped in JSON, becomes `***`. The one place messages about
/// an HTTP server go through before they are shown, logged or returned.
#[derive(Clone, Default)]
pub struct Scrubber {
    /// The forms to mask, longest first (a secret containing another is masked whole).
    forms: Vec<String>,
}

impl fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scrubber").field("forms", &self.forms.len()).finish()
    }
}

impl Scrubber {
    /// A scrubber for these values (empty ones are ignored).
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut forms = Vec::new();
        for secret in secrets.into_iter().filter(|s| !s.is_empty()) {
            let json = serde_json::to_string(&secret).unwrap_or_default();
            let json = json.trim_matches('"').to_owned();
            let encoded = percent_encode(&secret, false);
            let form = percent_encode(&secret, true);
            forms.extend([secret, json, encoded, form]);
        }
        forms.retain(|f| !f.is_empty());
        forms.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        forms.dedup();
        Self { forms }
    }

    /// Adds more values to mask (e.g. OAuth credentials given in code).
    pub fn with(mut self, secrets: impl IntoIterator<Item = String>) -> Self {
        let more = Self::new(secrets);
        self.forms.extend(more.forms);
        self.forms.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        self.forms.dedup();
        self
    }

    /// `text` with every secret replaced by `***`.
    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for form in &self.forms {
            if out.contains(form.as_str()) {
                out = out.replace(form.as_str(), "***");
            }
        }
        out
    }

    /// A URL as it may be shown: [`display_url`], then the secrets masked.
    pub fn url(&self, url: &str) -> String {
        self.text(&display_url(url))
    }
}

/// Percent-encoding of everything but RFC 3986's unreserved characters; `form` encodes a space as
/// `+` (`application/x-www-form-urlencoded`).
fn percent_encode(value: &str, form: bool) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(char::from(b)),
            b' ' if form => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(var: &str) -> Option<String> {
        match var {
            "TOKEN" => Some("s3cr3t".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn check(input: &str, expect: Result<&str, &str>) {
        let got = expand(input, &env, "gh", "env.X".into()).map_err(|e| e.to_string());
        assert_eq!(got.as_deref().map_err(String::as_str), expect, "input {input:?}");
    }

    #[test]
    fn expansion() {
        check("plain", Ok("plain"));
        check("Bearer ${TOKEN}", Ok("Bearer s3cr3t"));
        check("${TOKEN}${TOKEN}", Ok("s3cr3ts3cr3t"));
        check("${EMPTY}x", Ok("x"));
        check("${NOPE:-fallback}", Ok("fallback"));
        check("${TOKEN:-fallback}", Ok("s3cr3t"));
        check("$TOKEN and $", Ok("$TOKEN and $"));
        check("${NOPE}", Err("server `gh`: environment variable `NOPE` is not set (referenced in env.X)"));
        check("${TOKEN", Err("server `gh`: malformed variable reference in env.X"));
        check("${}", Err("server `gh`: malformed variable reference in env.X"));
        check("${A-B}", Err("server `gh`: malformed variable reference in env.X"));
    }

    #[test]
    fn parse_errors_do_not_quote_values() {
        let text = r#"{"mcpServers": {"x": {"command": "a", "args": "ghp_secretsecret"}}}"#;
        let err = McpConfig::parse(text, "cfg.json").expect_err("args must be an array").to_string();
        assert!(!err.contains("ghp_secretsecret"), "{err}");
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn a_url_no_http_client_can_reach_is_a_config_error_that_masks_its_secrets() {
        let entry = |url: &str| ServerEntry { url: Some(url.to_owned()), ..ServerEntry::default() };
        let err = |url: &str| entry(url).resolve("a", &env).expect_err(url).to_string();
        let must = "server `a`: `url` must be an http:// or https:// URL with a host:";
        assert_eq!(err("htp://x"), format!("{must} `htp://x` has the scheme `htp`"));
        assert_eq!(
            err("ftp://files.example.com/mcp"),
            format!("{must} `ftp://files.example.com/mcp` has the scheme `ftp`")
        );
        assert_eq!(
            err("mcp.example.com/mcp"),
            format!("{must} `mcp.example.com/mcp` is not an absolute URL (no `scheme://`)")
        );
        assert_eq!(err("https:///mcp"), format!("{must} `https:///mcp` has no host"));
        assert_eq!(err("http://:8080/mcp"), format!("{must} `http://:8080/mcp` has no host"));
        assert_eq!(
            err("http://[::1/mcp"),
            format!("{must} `http://[::1/mcp` has an IPv6 host without its closing `]`")
        );
        assert_eq!(err("http://x:99999/mcp"), format!("{must} `http://x:99999/mcp` has the port `99999`, past 65535"));
        // Expanded from a variable, shown without credentials, query values or what it expanded to.
        let shown = err("htp://user:pw@${TOKEN}.example.com/mcp?key=k1");
        assert_eq!(shown, format!("{must} `htp://***.example.com/mcp?key=***` has the scheme `htp`"));
        let shown = err("${TOKEN}://mcp.example.com/mcp");
        assert_eq!(shown, format!("{must} `***://mcp.example.com/mcp` has the scheme `***`"));
        for good in
            ["http://127.0.0.1:8080/mcp", "HTTPS://mcp.example.com", "http://[::1]:3000/mcp", "https://u:p@h/m?x=1"]
        {
            assert!(entry(good).resolve("a", &env).is_ok(), "{good}");
        }
    }

    #[test]
    fn syntax_errors_keep_the_punctuation_they_expected() {
        let missing_comma = r#"{"mcpServers": {"x": {"command": "ghp_secretsecret" "args": []}}}"#;
        let err = McpConfig::parse(missing_comma, "cfg.json").expect_err("a comma is missing").to_string();
        assert_eq!(err, "invalid config `cfg.json` at line 1, column 53: expected `,` or `}`");
        let err = McpConfig::parse(r#"{"mcpServers": {"x": {"args": ["a" "b"]}}}"#, "cfg.json").expect_err("list");
        assert!(err.to_string().ends_with("expected `,` or `]`"), "{err}");
        let err = McpConfig::parse(r#"{"mcpServers": {"x": {"command": "ghp_secretsecret"#, "c.json").expect_err("cut");
        assert!(err.to_string().ends_with(": EOF while parsing a string"), "{err}");
        assert!(!err.to_string().contains("ghp_secretsecret"), "{err}");
    }

    #[test]
    fn oauth_blocks_expand_their_secrets_and_never_show_them() {
        let config: McpConfig = serde_json::from_str(
            r#"{"mcpServers": {"remote": {"url": "https://mcp.example.com/mcp",
                "oauth": {"client_id": "mcptk", "client_secret": "${TOKEN}", "scopes": "read", "redirect_port": 8976}}}}"#,
        )
        .expect("parses");
        let ServerConfig::Http(server) = config.servers["remote"].resolve("remote", &env).expect("resolves") else {
            panic!("an HTTP server")
        };
        let oauth = server.oauth.clone().expect("oauth");
        assert_eq!(oauth.client_secret.as_deref(), env("TOKEN").as_deref());
        assert_eq!((oauth.client_id.as_deref(), oauth.redirect_port), (Some("mcptk"), Some(8976)));
        let shown = format!("{server:?}");
        assert!(!shown.contains(&env("TOKEN").unwrap_or_default()) && shown.contains("redacted"), "{shown}");
        let bad =
            serde_json::from_str::<McpConfig>(r#"{"mcpServers": {"r": {"url": "u", "oauth": {"clientId": "x"}}}}"#);
        assert!(bad.is_err(), "unknown oauth keys are refused");
    }

    #[test]
    fn debug_output_hides_env_and_header_values() {
        let text = r#"{"mcpServers": {"x": {"command": "a", "env": {"K": "v4lue"}}, "y": {"url": "http://h", "headers": {"Authorization": "Bearer t0ken"}}}}"#;
        let cfg = McpConfig::parse(text, "cfg.json").expect("valid");
        let shown = format!("{cfg:?} {:?} {:?}", cfg.server("x"), cfg.server("y"));
        assert!(!shown.contains("v4lue") && !shown.contains("t0ken"), "{shown}");
        assert!(shown.contains("Authorization"), "{shown}");
    }

    #[test]
    fn entry_without_transport_and_unknown_server_are_named() {
        let cfg = McpConfig::parse(r#"{"mcpServers": {"x": {"args": []}}}"#, "c").expect("valid");
        assert_eq!(
            cfg.server("x").expect_err("no transport").to_string(),
            "server `x`: needs either `command` (stdio) or `url` (HTTP)"
        );
        assert_eq!(
            cfg.server("y").expect_err("unknown").to_string(),
            "no server named `y` in the config (configured: x)"
        );
    }

    #[test]
    fn every_unset_variable_of_an_entry_is_named_at_once() {
        let cfg = McpConfig::parse(
            r#"{"mcpServers": {"x": {"command": "${NOPE_A}", "args": ["-t", "${TOKEN}${NOPE_B:-b}${NOPE_C}"],
                "env": {"K": "${NOPE_D}"}}, "y": {"url": "${NOPE_E}", "headers": {"A": "${NOPE_F}"}}}}"#,
            "c",
        )
        .expect("valid");
        let x = cfg.servers["x"].resolve("x", &env).expect_err("unset").to_string();
        assert_eq!(
            x,
            "server `x`: environment variable `NOPE_A` is not set (referenced in command); nor are `NOPE_C` \
             (referenced in args[1]), `NOPE_D` (referenced in env.K)"
        );
        let y = cfg.servers["y"].resolve("y", &env).expect_err("unset").to_string();
        assert!(
            y.ends_with("`NOPE_E` is not set (referenced in url); nor are `NOPE_F` (referenced in headers.A)"),
            "{y}"
        );
        // With every variable set, a malformed reference is named as such.
        let bad = McpConfig::parse(r#"{"mcpServers": {"z": {"command": "${TOKEN}", "args": ["${A-B}"]}}}"#, "c")
            .expect("valid");
        assert_eq!(
            bad.servers["z"].resolve("z", &env).expect_err("malformed").to_string(),
            "server `z`: malformed variable reference in args[0]"
        );
    }

    #[test]
    fn an_entry_with_a_misspelt_or_a_second_transport_says_so() {
        let cfg = McpConfig::parse(
            r#"{"mcpServers": {"a": {"comand": "npx", "type": "stdio"}, "b": {"URL": "http://h/mcp"},
                "c": {"command": "npx", "url": "http://h/mcp"}, "d": {"type": "stdio", "timeout": 5}}}"#,
            "c",
        )
        .expect("valid");
        let err = |name: &str| cfg.server(name).expect_err("refused").to_string();
        assert_eq!(
            err("a"),
            "server `a`: needs either `command` (stdio) or `url` (HTTP); `comand` is no field of an entry: did you \
             mean `command`?"
        );
        assert!(err("b").ends_with("`URL` is no field of an entry: did you mean `url`?"), "{}", err("b"));
        assert_eq!(err("c"), "server `c`: has both `command` (stdio) and `url` (HTTP); keep the one meant");
        assert_eq!(err("d"), "server `d`: needs either `command` (stdio) or `url` (HTTP)", "other clients' keys");
        assert_eq!((edits("comand", "command"), edits("", "url"), edits("timeout", "url")), (1, 3, 7));
    }

    #[test]
    fn urls_are_shown_without_user_info_query_values_or_fragment() {
        for (url, shown) in [
            ("https://user:pw@mcp.example.com/mcp?key=k1&x=2#frag", "https://mcp.example.com/mcp?key=***&x=***"),
            ("http://127.0.0.1:8080/mcp", "http://127.0.0.1:8080/mcp"),
            ("https://tok@host?flag&a=", "https://host?***&a=***"),
            ("https://host/p@th/sse?", "https://host/p@th/sse?"),
            ("not a url ?secret", "not a url ?***"),
        ] {
            assert_eq!(display_url(url), shown, "{url}");
        }
    }

    #[test]
    fn http_entries_keep_what_their_variables_expanded_to_and_never_show_it() {
        let lookup = |var: &str| match var {
            "TOKEN" => Some("t0k3n".to_owned()),
            "KEY" => Some("k e/y".to_owned()),
            "TENANT" => Some("acme-42".to_owned()),
            "SECRET" => Some("cl13nt".to_owned()),
            _ => None,
        };
        let config: McpConfig = serde_json::from_str(
            r#"{"mcpServers": {"remote": {
                "url": "https://user:${TOKEN}@127.0.0.1:${PORT:-8443}/t/${TENANT}/mcp?key=${KEY}",
                "headers": {"X-Api-Key": "${KEY}"},
                "oauth": {"client_id": "mcptk", "client_secret": "${SECRET}"}}}}"#,
        )
        .expect("parses");
        let ServerConfig::Http(server) = config.servers["remote"].resolve("remote", &lookup).expect("resolves") else {
            panic!("an HTTP server")
        };
        assert_eq!(server.url, "https://user:t0k3n@127.0.0.1:8443/t/acme-42/mcp?key=k e/y");
        assert_eq!(server.secrets, ["acme-42", "cl13nt", "k e/y", "t0k3n"], "a `:-default` is no secret");
        let shown = format!("{server:?} {:?}", config.servers["remote"]);
        for secret in ["t0k3n", "k e/y", "acme-42", "cl13nt"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("https://127.0.0.1:8443/t/***/mcp?key=***"), "{shown}");

        // As written, percent-encoded, form-encoded, escaped in JSON: all masked.
        let scrub = server.scrubber();
        let echoed = "no route for /t/acme-42/mcp?key=k%20e%2Fy (key k+e%2Fy): k e/y";
        assert_eq!(scrub.text(echoed), "no route for /t/***/mcp?key=*** (key ***): ***");
        let quoted = Scrubber::new([r#"a"b\c"#.to_owned()]);
        assert_eq!(quoted.text(r#"{"error": "bad a\"b\\c"}"#), r#"{"error": "bad ***"}"#);
        assert_eq!(Scrubber::new([String::new()]).text("nothing to mask"), "nothing to mask");
    }
}
