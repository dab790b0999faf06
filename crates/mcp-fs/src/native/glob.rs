//! Glob patterns as the reference server reads them: `*` stays within one path component, `**`
//! crosses them, dot-files match; a plain exclude name (no `*`) matches at any depth.

use std::path::Path;

use globset::{Glob, GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};

use crate::Error;

fn build(pattern: &str) -> Result<Glob, Error> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|e| Error::InvalidArgument(format!("invalid glob pattern `{pattern}`: {e}")))
}

/// A search pattern.
pub(crate) fn pattern(pattern: &str) -> Result<GlobMatcher, Error> {
    Ok(build(pattern)?.compile_matcher())
}

/// Exclusion patterns.
#[derive(Debug)]
pub(crate) struct Excludes(GlobSet);

impl Excludes {
    /// For `directory_tree`: a pattern without `*` also matches that name at any depth and
    /// everything beneath it.
    pub(crate) fn new(patterns: &[String]) -> Result<Self, Error> {
        let mut set = GlobSetBuilder::new();
        for p in patterns {
            set.add(build(p)?);
            if !p.contains('*') {
                set.add(build(&format!("**/{p}"))?);
                set.add(build(&format!("**/{p}/**"))?);
            }
        }
        set.build().map(Excludes).map_err(|e| Error::InvalidArgument(e.to_string()))
    }

    /// For `search_files`: the patterns as written.
    pub(crate) fn plain(patterns: &[String]) -> Result<Self, Error> {
        let mut set = GlobSetBuilder::new();
        for p in patterns {
            set.add(build(p)?);
        }
        set.build().map(Excludes).map_err(|e| Error::InvalidArgument(e.to_string()))
    }

    pub(crate) fn matches(&self, relative: &Path) -> bool {
        self.0.is_match(relative)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_stays_in_one_component_and_double_star_crosses() {
        let check = |pat: &str, path: &str, expect: bool| {
            assert_eq!(pattern(pat).expect("valid").is_match(path), expect, "{pat} vs {path}");
        };
        check("*.txt", "a.txt", true);
        check("*.txt", "dir/a.txt", false);
        check("**/*.txt", "dir/sub/a.txt", true);
        check("**/*.txt", "a.txt", true);
        check("*", ".hidden", true);
        let ex = Excludes::new(&["node_modules".into()]).expect("valid");
        assert!(ex.matches(Path::new("node_modules")));
        assert!(ex.matches(Path::new("a/node_modules/x.js")));
        assert!(!ex.matches(Path::new("a/node_modules_old")));
    }
}
