//! Tool names namespaced by server: collision-free, at most 64 characters of `[A-Za-z0-9_-]`
//! (what OpenAI function names accept), and mapped back exactly.

use std::collections::HashMap;

/// The longest exposed name.
pub const MAX_NAME: usize = 64;

/// The separator between server and tool.
pub const SEPARATOR: &str = "__";

/// A two-way map between exposed names and (server, tool) pairs.
#[derive(Debug, Clone, Default)]
pub struct NameMap {
    forward: HashMap<(String, String), String>,
    back: HashMap<String, (String, String)>,
}

impl NameMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The exposed name of `tool` on `server`, assigning one on first use. Names are stable for
    /// the same pair, whatever order pairs are added in, except when two pairs collide after
    /// sanitizing; then the later one gets a distinguishing suffix.
    pub fn expose(&mut self, server: &str, tool: &str) -> String {
        let wanted = format!("{server}{SEPARATOR}{tool}");
        self.assign(server, tool, wanted)
    }

    /// Like [`NameMap::expose`] without the server prefix: for a tool set of one server, whose
    /// names only need to be made valid (and are kept as they are when they already are).
    pub fn expose_bare(&mut self, server: &str, tool: &str) -> String {
        self.assign(server, tool, tool.to_owned())
    }

    fn assign(&mut self, server: &str, tool: &str, wanted: String) -> String {
        let key = (server.to_owned(), tool.to_owned());
        if let Some(name) = self.forward.get(&key) {
            return name.clone();
        }
        let plain = sanitize(&wanted);
        let fits = !plain.is_empty() && plain.len() <= MAX_NAME && plain == wanted;
        let mut name = if fits { plain.clone() } else { hashed(&plain, server, tool, 0) };
        let mut attempt = 1;
        while self.back.contains_key(&name) {
            name = hashed(&plain, server, tool, attempt);
            attempt += 1;
        }
        self.forward.insert(key.clone(), name.clone());
        self.back.insert(name.clone(), key);
        name
    }

    /// The (server, tool) behind an exposed name.
    pub fn resolve(&self, exposed: &str) -> Option<(&str, &str)> {
        self.back.get(exposed).map(|(s, t)| (s.as_str(), t.as_str()))
    }
}

/// Replaces every character outside `[A-Za-z0-9_-]` with `_`.
pub fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect()
}

/// The one of `servers` an exposed name is of, by its prefix: the server's name, or its name
/// sanitized as exposed names are, then [`SEPARATOR`]. The longest that fits, since a server's
/// own name may hold the separator.
pub fn server_of<'a>(exposed: &str, servers: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let of = |prefix: &str| exposed.strip_prefix(prefix).is_some_and(|rest| rest.starts_with(SEPARATOR));
    servers.into_iter().filter(|s| of(s) || of(&sanitize(s))).max_by_key(|s| s.len())
}

/// A name cut to fit, with 8 hex digits of a hash of the original pair (and attempt) appended,
/// so sanitized or truncated names stay distinct: `plain` for `tool` of `server`, the `attempt`th
/// time a name was needed for it. Stable across runs and platforms.
pub fn hashed(plain: &str, server: &str, tool: &str, attempt: u32) -> String {
    // FNV-1a: stable across runs and platforms, unlike the std hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in server.bytes().chain([0]).chain(tool.bytes()).chain(attempt.to_le_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let suffix = format!("_{:08x}", hash as u32);
    let room = MAX_NAME - suffix.len();
    let cut: String = plain.chars().take(room).collect();
    format!("{cut}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(name: &str) -> bool {
        !name.is_empty()
            && name.len() <= MAX_NAME
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }

    #[test]
    fn names_are_valid_distinct_and_reversible() {
        let mut map = NameMap::new();
        let long = "x".repeat(80);
        let pairs = [
            ("fs", "read_text_file"),
            ("github", "create_issue"),
            ("my.server", "tool"),
            ("my_server", "tool"),
            ("k8s", "pods/list"),
            ("k8s", "pods_list"),
            ("srv", long.as_str()),
            ("srv", &format!("{long}y")),
        ];
        let mut seen = std::collections::HashSet::new();
        for (server, tool) in pairs {
            let name = map.expose(server, tool);
            assert!(valid(&name), "{name}");
            assert!(seen.insert(name.clone()), "collision on {name}");
            assert_eq!(map.resolve(&name), Some((server, tool)));
            assert_eq!(map.expose(server, tool), name, "stable");
        }
        assert_eq!(map.expose("fs", "read_text_file"), "fs__read_text_file");
    }

    #[test]
    fn bare_names_are_kept_when_valid_and_made_valid_otherwise() {
        let mut map = NameMap::new();
        assert_eq!(map.expose_bare("k8s", "pods_list"), "pods_list");
        let slash = map.expose_bare("k8s", "pods/list");
        assert!(valid(&slash) && slash != "pods_list", "{slash}");
        let empty = map.expose_bare("k8s", "");
        assert!(valid(&empty), "{empty:?}");
        assert_eq!(map.resolve(&slash), Some(("k8s", "pods/list")));
        assert_eq!(map.resolve("pods_list"), Some(("k8s", "pods_list")));
    }
}
