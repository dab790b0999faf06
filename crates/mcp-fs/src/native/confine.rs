//! Confinement by capability: every path is opened beneath a directory handle of an allowed root
//! (cap-std, `openat2(RESOLVE_BENEATH)` where the kernel has it), so `..`, absolute symlinks and
//! symlinks that climb out are refused by the kernel at the moment of use, not by a string check
//! done earlier.

use std::path::{Component, Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;

use crate::Error;

/// One allowed directory: its handle and the spellings of its path that clients may use.
#[derive(Debug)]
pub(crate) struct Root {
    /// The canonical path (symlinks resolved), shown to clients.
    pub path: PathBuf,
    /// The path as given on the command line, when it differs (e.g. through a symlink).
    alias: Option<PathBuf>,
    pub dir: Dir,
}

/// The allowed directories.
#[derive(Debug)]
pub struct Roots {
    roots: Vec<Root>,
}

/// A requested path, located beneath one root.
#[derive(Debug, Clone)]
pub(crate) struct Located {
    /// Index of the root.
    pub root: usize,
    /// The path relative to the root, free of `.` and `..`; empty for the root itself.
    pub relative: PathBuf,
}

impl Roots {
    /// Opens each directory. Fails if one does not exist or is not a directory.
    pub fn open<P: AsRef<Path>>(dirs: impl IntoIterator<Item = P>) -> Result<Roots, Error> {
        let mut roots = Vec::new();
        for dir in dirs {
            let given = dir.as_ref();
            let path =
                given.canonicalize().map_err(|source| Error::Io { path: given.display().to_string(), source })?;
            if !path.is_dir() {
                return Err(Error::InvalidArgument(format!("`{}` is not a directory", given.display())));
            }
            let handle = Dir::open_ambient_dir(&path, ambient_authority())
                .map_err(|source| Error::Io { path: path.display().to_string(), source })?;
            let alias = (given != path && given.is_absolute()).then(|| given.to_path_buf());
            roots.push(Root { path, alias, dir: handle });
        }
        if roots.is_empty() {
            return Err(Error::InvalidArgument("at least one allowed directory is needed".into()));
        }
        Ok(Roots { roots })
    }

    /// The canonical paths of the roots.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.roots.iter().map(|r| r.path.as_path())
    }

    pub(crate) fn get(&self, index: usize) -> &Root {
        &self.roots[index]
    }

    /// Finds the root a requested path lies beneath, comparing whole path components (so
    /// `/data/allowed_secret` is not beneath `/data/allowed`) and resolving `.` and `..` lexically
    /// first (an absolute `/data/allowed/sub/../a.txt` or `/data/allowed/../allowed/a.txt` is
    /// `/data/allowed/a.txt`; one that ends up outside every root climbs out and is refused).
    /// Symlinks are not followed here: the kernel refuses escaping ones when the path is opened.
    pub(crate) fn locate(&self, requested: &str) -> Result<Located, Error> {
        if requested.is_empty() {
            return Err(Error::InvalidArgument("the path is empty".into()));
        }
        if requested.contains('\0') {
            return Err(Error::denied(requested, "the path contains a NUL byte"));
        }
        let expanded = expand_home(requested);
        let path = Path::new(&expanded);
        if path.is_absolute() {
            // Refused below, a path that starts in a root climbs out of it; any other is outside.
            let starts_inside = self
                .roots
                .iter()
                .any(|root| std::iter::once(&root.path).chain(root.alias.as_ref()).any(|base| path.starts_with(base)));
            let path = normalize_absolute(path);
            // The longest matching root wins, so nested roots behave as expected.
            let mut best: Option<(usize, PathBuf, usize)> = None;
            for (i, root) in self.roots.iter().enumerate() {
                for base in std::iter::once(&root.path).chain(root.alias.as_ref()) {
                    if let Ok(rest) = path.strip_prefix(base) {
                        let depth = base.components().count();
                        if best.as_ref().is_none_or(|(_, _, d)| depth > *d) {
                            best = Some((i, rest.to_path_buf(), depth));
                        }
                    }
                }
            }
            let Some((root, rest, _)) = best else {
                if starts_inside {
                    return Err(self.escapes(requested));
                }
                return Err(Error::denied(
                    requested,
                    &format!("it is outside the allowed directories ({})", self.list()),
                ));
            };
            Ok(Located { root, relative: normalize(&rest).ok_or_else(|| self.escapes(requested))? })
        } else {
            let relative = normalize(path).ok_or_else(|| self.escapes(requested))?;
            Ok(Located { root: 0, relative })
        }
    }

    /// The absolute path of a located path, for messages and results.
    pub(crate) fn display(&self, located: &Located) -> PathBuf {
        let root = &self.roots[located.root].path;
        if located.relative.as_os_str().is_empty() { root.clone() } else { root.join(&located.relative) }
    }

    fn escapes(&self, requested: &str) -> Error {
        Error::denied(requested, &format!("it climbs out of the allowed directories ({})", self.list()))
    }

    fn list(&self) -> String {
        self.roots.iter().map(|r| r.path.display().to_string()).collect::<Vec<_>>().join(", ")
    }
}

/// Resolves `.` and `..` without touching the filesystem; `None` if `..` climbs above the start.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Resolves `.` and `..` of an absolute path without touching the filesystem; `..` at `/`
/// stays at `/`, as the kernel has it.
fn normalize_absolute(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn expand_home(path: &str) -> String {
    match (path.strip_prefix('~'), std::env::var("HOME")) {
        (Some(rest), Ok(home)) if rest.is_empty() || rest.starts_with('/') => {
            format!("{home}{rest}")
        }
        _ => path.to_owned(),
    }
}

/// The path to hand to cap-std for a relative location (`.` for the root itself).
pub(crate) fn rel(relative: &Path) -> &Path {
    if relative.as_os_str().is_empty() { Path::new(".") } else { relative }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_resolves_dots_and_refuses_climbing_out() {
        let check = |input: &str, expect: Option<&str>| {
            assert_eq!(normalize(Path::new(input)), expect.map(PathBuf::from), "{input}");
        };
        check("a/b", Some("a/b"));
        check("./a/./b/", Some("a/b"));
        check("a/../b", Some("b"));
        check("a/..", Some(""));
        check("..", None);
        check("a/../../b", None);
    }

    #[test]
    fn normalize_absolute_resolves_dots_and_stops_at_the_top() {
        let check = |input: &str, expect: &str| {
            assert_eq!(normalize_absolute(Path::new(input)), PathBuf::from(expect), "{input}");
        };
        check("/data/allowed/sub/../a.txt", "/data/allowed/a.txt");
        check("/data/allowed/../allowed/./a.txt", "/data/allowed/a.txt");
        check("/data/allowed/..", "/data");
        check("/../../etc/passwd", "/etc/passwd");
        check("/", "/");
    }
}
