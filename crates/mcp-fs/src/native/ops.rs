//! The operations behind the native tools. Blocking code over cap-std directory handles; the
//! tools run it on the blocking thread pool.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use cap_std::fs::{Dir, OpenOptions};
use serde::Serialize;

use super::confine::{Located, Roots, rel};
use crate::{Error, Result};

/// Limits of the native backend.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The largest file read whole (text, media, multiple files, edits): 10 MiB by default.
    pub max_read_bytes: u64,
    /// The most entries a tree or search returns: 10,000 by default.
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_read_bytes: 10 * 1024 * 1024, max_entries: 10_000 }
    }
}

/// The state the tools share: the roots and the limits.
#[derive(Debug)]
pub struct Fs {
    pub(crate) roots: Roots,
    pub(crate) limits: Limits,
}

fn io(path: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| {
        // cap-std reports an attempt to leave the directory handle as permission denied with no
        // OS error code behind it; a real EACCES from the kernel carries its errno.
        if source.kind() == std::io::ErrorKind::PermissionDenied && source.raw_os_error().is_none() {
            Error::denied(path, "it resolves outside the allowed directories (through a symlink or `..`)")
        } else {
            Error::Io { path: path.to_owned(), source }
        }
    }
}

impl Fs {
    /// The operations over `dirs` without a server around them, for the fuzz targets.
    #[cfg(feature = "fuzzing")]
    #[doc(hidden)]
    pub fn open<P: AsRef<Path>>(dirs: impl IntoIterator<Item = P>, limits: Limits) -> Result<Fs> {
        Ok(Fs { roots: Roots::open(dirs)?, limits })
    }

    fn locate(&self, path: &str) -> Result<(Located, &Dir)> {
        let located = self.roots.locate(path)?;
        let dir = &self.roots.get(located.root).dir;
        Ok((located, dir))
    }

    /// Where a write goes, refused inside a git directory (any component `.git`, in any case, as
    /// git itself refuses it in what it checks out): its configuration and hooks name programs
    /// that git runs, for whoever runs git there next.
    /// The path is checked as given and as it resolves: a directory inside the roots that is a
    /// symlink to a `.git` directory (which git checks out and clones like any symlink) leads
    /// there as surely as the name does, and a git directory of another name (a bare `proj.git`
    /// that worktrees use, one made with `--separate-git-dir`) is one by its content. The
    /// writes themselves check again the directory handle they write through
    /// ([`Fs::parent_for_writing`]).
    fn locate_for_writing(&self, path: &str) -> Result<(Located, &Dir)> {
        let (located, dir) = self.locate(path)?;
        let root = &self.roots.get(located.root).path;
        if names_git_dir(&located.relative) || resolves_into_git_dir(dir, root, &located.relative) {
            return Err(in_git_dir(path));
        }
        Ok((located, dir))
    }

    /// The directory a file is written into, opened once, and the file's name in it. The git
    /// check is made on what that handle is (the path the kernel resolved it to) and the write
    /// goes through the same handle, so a directory swapped for a symlink between the check and
    /// the write (two moves racing the write) changes nothing.
    fn parent_for_writing(&self, dir: &Dir, relative: &Path, shown: &str) -> Result<(Dir, PathBuf)> {
        let name = relative
            .file_name()
            .ok_or_else(|| Error::InvalidArgument(format!("`{shown}` names a directory, not a file")))?;
        let parent = match relative.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(parent) => dir.open_dir(parent).map_err(io(shown))?,
            None => dir.try_clone().map_err(io(shown))?,
        };
        if handle_path(&parent).is_some_and(|real| inside_git_dir(&real)) {
            return Err(in_git_dir(shown));
        }
        Ok((parent, PathBuf::from(name)))
    }

    /// Opens a file to read: only a regular file. The open never waits (a FIFO with no writer
    /// would hold it, and the thread running it, forever), and a FIFO, socket or device is
    /// refused by name, as is a directory.
    fn open_regular(&self, path: &str) -> Result<cap_std::fs::File> {
        use cap_std::fs::OpenOptionsExt as _;
        let (located, dir) = self.locate(path)?;
        let mut options = OpenOptions::new();
        options.read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
        let file = dir.open_with(rel(&located.relative), &options).map_err(io(path))?;
        let kind = file.metadata().map_err(io(path))?.file_type();
        if !kind.is_file() {
            let what = if kind.is_dir() { "a directory" } else { "not a regular file (a FIFO, socket or device)" };
            return Err(Error::InvalidArgument(format!("`{path}` is {what}; only regular files are read")));
        }
        Ok(file)
    }

    /// The file at `path`, whole, at most `limit` bytes.
    fn read_capped(&self, path: &str, limit: u64) -> Result<Vec<u8>> {
        let file = self.open_regular(path)?;
        let size = file.metadata().map_err(io(path))?.len();
        if size > limit {
            return Err(Error::TooLarge { path: path.to_owned(), size, limit });
        }
        let mut bytes = Vec::with_capacity(size as usize);
        // The size may grow while we read; never read past the limit.
        file.take(limit + 1).read_to_end(&mut bytes).map_err(io(path))?;
        if bytes.len() as u64 > limit {
            return Err(Error::TooLarge { path: path.to_owned(), size: bytes.len() as u64, limit });
        }
        Ok(bytes)
    }

    fn read_string(&self, path: &str) -> Result<String> {
        self.read_string_within(path, self.limits.max_read_bytes)
    }

    fn read_string_within(&self, path: &str, limit: u64) -> Result<String> {
        let bytes = self.read_capped(path, limit)?;
        String::from_utf8(bytes)
            .map_err(|_| Error::InvalidArgument(format!("`{path}` is not UTF-8 text; use read_media_file")))
    }

    /// `read_text_file` / `read_file`: whole, first `head` or last `tail` lines.
    pub fn read_text(&self, path: &str, head: Option<usize>, tail: Option<usize>) -> Result<String> {
        match (head, tail) {
            (Some(_), Some(_)) => Err(Error::InvalidArgument("give `head` or `tail`, not both".into())),
            (Some(n), None) => self.head(path, n),
            (None, Some(n)) => self.tail(path, n),
            // Like the reference server, a whole read returns the text exactly as stored.
            (None, None) => self.read_string(path),
        }
    }

    fn head(&self, path: &str, lines: usize) -> Result<String> {
        let file = self.open_regular(path)?;
        let mut reader = BufReader::new(file.take(self.limits.max_read_bytes));
        let mut out = Vec::new();
        let mut line = String::new();
        while out.len() < lines {
            line.clear();
            if reader.read_line(&mut line).map_err(io(path))? == 0 {
                break;
            }
            // A CR before the LF stays, as the reference server keeps it (`tail` drops it, as
            // that server's does).
            out.push(line.strip_suffix('\n').unwrap_or(&line).to_owned());
        }
        Ok(out.join("\n"))
    }

    fn tail(&self, path: &str, lines: usize) -> Result<String> {
        let mut file = self.open_regular(path)?;
        let size = file.metadata().map_err(io(path))?.len();
        // Read backwards in chunks until enough newlines are seen (or the limit is reached).
        const CHUNK: u64 = 8192;
        let mut position = size;
        let mut buffer: Vec<u8> = Vec::new();
        while position > 0 && buffer.iter().filter(|&&b| b == b'\n').count() <= lines {
            if buffer.len() as u64 >= self.limits.max_read_bytes {
                break;
            }
            let step = CHUNK.min(position);
            position -= step;
            file.seek(SeekFrom::Start(position)).map_err(io(path))?;
            let mut chunk = vec![0; step as usize];
            file.read_exact(&mut chunk).map_err(io(path))?;
            chunk.extend_from_slice(&buffer);
            buffer = chunk;
        }
        let text = String::from_utf8_lossy(&buffer).replace("\r\n", "\n");
        let all: Vec<&str> = text.split('\n').collect();
        let start = all.len().saturating_sub(lines);
        Ok(all[start..].join("\n"))
    }

    /// `read_media_file`: base64 data and a MIME type from the extension.
    pub fn read_media(&self, path: &str) -> Result<(String, String, PathBuf)> {
        let bytes = self.read_capped(path, self.limits.max_read_bytes)?;
        let located = self.roots.locate(path)?;
        let mime = mime_for(&located.relative).to_owned();
        Ok((base64::engine::general_purpose::STANDARD.encode(bytes), mime, self.roots.display(&located)))
    }

    /// `read_multiple_files`: each file with its path, failures inline. Together the files
    /// return at most `max_read_bytes`, as one file does: one that would pass it is not read,
    /// and says so in its place (a request naming one large file many times would otherwise
    /// hold each copy in memory at once).
    pub fn read_multiple(&self, paths: &[String]) -> String {
        let mut left = self.limits.max_read_bytes;
        let parts: Vec<String> = paths
            .iter()
            .map(|p| match self.read_string_within(p, left) {
                Ok(content) => {
                    left -= content.len() as u64;
                    format!("{p}:\n{content}\n")
                }
                Err(Error::TooLarge { size, .. }) if left < self.limits.max_read_bytes => format!(
                    "{p}: Error - not read: its {size} bytes would take the files of this call past {} bytes; \
                     read it on its own",
                    self.limits.max_read_bytes
                ),
                Err(e) => format!("{p}: Error - {e}"),
            })
            .collect();
        parts.join("\n---\n")
    }

    /// `write_file`: atomic (temporary file and rename), never following a symlink out.
    pub fn write(&self, path: &str, content: &str) -> Result<String> {
        let (located, dir) = self.locate_for_writing(path)?;
        let (parent, name) = self.parent_for_writing(dir, &located.relative, path)?;
        atomic_write(&parent, &name, content.as_bytes(), path)?;
        Ok(format!("Successfully wrote to {path}"))
    }

    /// `edit_file`: apply edits in order; return a unified diff; write unless `dry_run`.
    pub fn edit(&self, path: &str, edits: &[(String, String)], dry_run: bool) -> Result<String> {
        let (located, dir) = self.locate_for_writing(path)?;
        // A dry run is refused exactly as the edit would be, so its diff never promises a write
        // that cannot happen.
        let (parent, name) = self.parent_for_writing(dir, &located.relative, path)?;
        writable_target(&parent, &name, path)?;
        let original = self.read_string(path)?.replace("\r\n", "\n");
        let mut modified = original.clone();
        for (old, new) in edits {
            modified = apply_edit(&modified, &old.replace("\r\n", "\n"), &new.replace("\r\n", "\n"))
                .ok_or_else(|| Error::InvalidArgument(format!("could not find a match for edit:\n{old}")))?;
        }
        let display = self.roots.display(&located).display().to_string();
        let diff = super::diff::unified(&original, &modified, &display);
        let fence = "`".repeat((3..).find(|n| !diff.contains(&"`".repeat(*n))).unwrap_or(3));
        if !dry_run {
            atomic_write(&parent, &name, modified.as_bytes(), path)?;
        }
        Ok(format!("{fence}diff\n{diff}{fence}\n\n"))
    }

    /// `create_directory`: with parents; fine if it exists.
    pub fn create_dir(&self, path: &str) -> Result<String> {
        let (located, dir) = self.locate_for_writing(path)?;
        dir.create_dir_all(rel(&located.relative)).map_err(io(path))?;
        Ok(format!("Successfully created directory {path}"))
    }

    fn entries(&self, path: &str) -> Result<Vec<(String, bool, u64)>> {
        let (located, dir) = self.locate(path)?;
        let mut out = Vec::new();
        for entry in dir.read_dir(rel(&located.relative)).map_err(io(path))? {
            let entry = entry.map_err(io(path))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            out.push((name, is_dir, size));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// `list_directory`: `[DIR] name` / `[FILE] name` lines, sorted by name.
    pub fn list(&self, path: &str) -> Result<String> {
        let lines: Vec<String> = self
            .entries(path)?
            .into_iter()
            .map(|(name, is_dir, _)| format!("{} {name}", if is_dir { "[DIR]" } else { "[FILE]" }))
            .collect();
        Ok(lines.join("\n"))
    }

    /// `list_directory_with_sizes`: sized lines sorted by name or size, then totals.
    pub fn list_with_sizes(&self, path: &str, by_size: bool) -> Result<String> {
        let mut entries = self.entries(path)?;
        if by_size {
            entries.sort_by_key(|e| std::cmp::Reverse(e.2));
        }
        let mut lines: Vec<String> = entries
            .iter()
            .map(|(name, is_dir, size)| {
                let size = if *is_dir { String::new() } else { format!("{:>10}", format_size(*size)) };
                format!("{} {name:<30} {size}", if *is_dir { "[DIR]" } else { "[FILE]" })
            })
            .collect();
        let files = entries.iter().filter(|e| !e.1).count();
        let dirs = entries.len() - files;
        let total: u64 = entries.iter().filter(|e| !e.1).map(|e| e.2).sum();
        lines.push(String::new());
        lines.push(format!("Total: {files} files, {dirs} directories"));
        lines.push(format!("Combined size: {}", format_size(total)));
        Ok(lines.join("\n"))
    }

    /// `directory_tree`: nested JSON, 2-space indented, without excluded entries.
    pub fn tree(&self, path: &str, exclude: &[String]) -> Result<String> {
        let (located, dir) = self.locate(path)?;
        let exclude = super::glob::Excludes::new(exclude)?;
        let mut budget = self.limits.max_entries;
        let root = dir.open_dir(rel(&located.relative)).map_err(io(path))?;
        let tree = build_tree(&root, Path::new(""), &exclude, &mut budget, path, 0)?;
        serde_json::to_string_pretty(&tree).map_err(|e| Error::InvalidArgument(e.to_string()))
    }

    /// `move_file`: refuses to replace an existing destination.
    pub fn rename(&self, source: &str, destination: &str) -> Result<String> {
        let (from, from_dir) = self.locate_for_writing(source)?;
        let (to, to_dir) = self.locate_for_writing(destination)?;
        if to_dir.symlink_metadata(rel(&to.relative)).is_ok() {
            return Err(Error::InvalidArgument(format!("destination already exists: {destination}")));
        }
        for (located, path) in [(&from, source), (&to, destination)] {
            if located.relative.as_os_str().is_empty() {
                return Err(Error::denied(path, "an allowed directory itself cannot be moved or replaced"));
            }
        }
        // Each side checked on its own first, so that a refusal names the path that is wrong:
        // the source must exist where it is, the destination's directory must exist inside the
        // allowed directories (not through a symlink that leads out).
        from_dir.symlink_metadata(rel(&from.relative)).map_err(io(source))?;
        // The destination's directory, opened and checked once, is where the file goes.
        let (to_parent, to_name) = self.parent_for_writing(to_dir, &to.relative, destination)?;
        from_dir.rename(&from.relative, &to_parent, &to_name).map_err(io(source))?;
        Ok(format!("Successfully moved {source} to {destination}"))
    }

    /// `search_files`: glob match on paths relative to `path`; full paths, one per line.
    pub fn search(&self, path: &str, pattern: &str, exclude: &[String]) -> Result<String> {
        let (located, dir) = self.locate(path)?;
        let matcher = super::glob::pattern(pattern)?;
        let exclude = super::glob::Excludes::plain(exclude)?;
        let base = self.roots.display(&located);
        let start = dir.open_dir(rel(&located.relative)).map_err(io(path))?;
        let mut found = Vec::new();
        let mut walk = Walk {
            pattern: &matcher,
            exclude: &exclude,
            found: &mut found,
            limit: self.limits.max_entries,
            shown: path,
        };
        walk.search(&start, Path::new(""), 0)?;
        if found.is_empty() {
            return Ok("No matches found".into());
        }
        Ok(found.iter().map(|r| base.join(r).display().to_string()).collect::<Vec<_>>().join("\n"))
    }

    /// `get_file_info`: size, times, kind and permissions, one `key: value` per line.
    pub fn info(&self, path: &str) -> Result<String> {
        let (located, dir) = self.locate(path)?;
        let meta = dir.metadata(rel(&located.relative)).map_err(io(path))?;
        let time = |t: std::io::Result<cap_std::time::SystemTime>| {
            t.ok().map(|t| rfc3339(t.into_std())).unwrap_or_else(|| "unknown".into())
        };
        let permissions = {
            use cap_std::fs::PermissionsExt;
            format!("{:03o}", meta.permissions().mode() & 0o777)
        };
        Ok([
            format!("size: {}", meta.len()),
            format!("created: {}", time(meta.created())),
            format!("modified: {}", time(meta.modified())),
            format!("accessed: {}", time(meta.accessed())),
            format!("isDirectory: {}", meta.is_dir()),
            format!("isFile: {}", meta.is_file()),
            format!("permissions: {permissions}"),
        ]
        .join("\n"))
    }

    /// `list_allowed_directories`.
    pub fn allowed(&self) -> String {
        let dirs: Vec<String> = self.roots.paths().map(|p| p.display().to_string()).collect();
        format!("Allowed directories:\n{}", dirs.join("\n"))
    }
}

/// What a write may replace: `relative` names a file, not a directory or a symbolic link.
/// Returns the permissions of the file there, if there is one. The checks both a write and a dry
/// run make.
fn writable_target(dir: &Dir, relative: &Path, shown: &str) -> Result<Option<cap_std::fs::Permissions>> {
    if relative.file_name().is_none() {
        return Err(Error::InvalidArgument(format!("`{shown}` names a directory, not a file")));
    }
    let existing = dir.symlink_metadata(relative).ok();
    if existing.as_ref().is_some_and(|m| m.file_type().is_symlink()) {
        return Err(Error::denied(shown, "it is a symbolic link; write to the file it names instead"));
    }
    Ok(existing.filter(|m| m.is_file()).map(|m| m.permissions()))
}

/// The name of a temporary file for an atomic write: short and of a fixed length whatever the
/// target's name (which may already take all of `NAME_MAX`, 255 bytes), random so that writers
/// do not collide.
fn temp_name() -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    // `RandomState` is seeded from the OS's randomness; the counter keeps names within this
    // process apart even if two seeds met.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    format!(".mcptk-{:016x}.tmp", hasher.finish())
}

/// Writes through a temporary file in the same directory and renames it over the target, so a
/// reader never sees half a file and a symlink at the target is replaced, not followed.
fn atomic_write(dir: &Dir, relative: &Path, bytes: &[u8], shown: &str) -> Result<()> {
    let existing_mode = writable_target(dir, relative, shown)?;
    let parent = relative.parent().unwrap_or(Path::new(""));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    // A name taken (by a leftover of a crashed write, say) is drawn again.
    let mut attempts = 0;
    let (temp, mut file) = loop {
        let temp = parent.join(temp_name());
        match dir.open_with(&temp, &options) {
            Ok(file) => break (temp, file),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempts < 8 => attempts += 1,
            Err(e) => return Err(io(shown)(e)),
        }
    };
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(source) = written {
        let _ = dir.remove_file(&temp);
        return Err(Error::Io { path: shown.to_owned(), source });
    }
    if let Some(permissions) = existing_mode {
        let _ = file.set_permissions(permissions);
    }
    drop(file);
    if let Err(e) = dir.rename(&temp, dir, relative) {
        let _ = dir.remove_file(&temp);
        return Err(io(shown)(e));
    }
    Ok(())
}

/// Replaces the first exact occurrence of `old`; failing that, the first run of lines equal to
/// `old`'s lines up to surrounding whitespace, keeping the original indentation.
fn apply_edit(content: &str, old: &str, new: &str) -> Option<String> {
    if let Some(at) = content.find(old) {
        let mut out = String::with_capacity(content.len() + new.len());
        out.push_str(&content[..at]);
        out.push_str(new);
        out.push_str(&content[at + old.len()..]);
        return Some(out);
    }
    let old_lines: Vec<&str> = old.split('\n').collect();
    let lines: Vec<&str> = content.split('\n').collect();
    if old_lines.len() > lines.len() {
        return None;
    }
    let indent = |s: &str| s.len() - s.trim_start().len();
    for i in 0..=lines.len() - old_lines.len() {
        let window = &lines[i..i + old_lines.len()];
        if window.iter().zip(&old_lines).all(|(a, b)| a.trim() == b.trim()) {
            let base = &lines[i][..indent(lines[i])];
            let replacement: Vec<String> = new
                .split('\n')
                .enumerate()
                .map(|(j, line)| {
                    if j == 0 {
                        return format!("{base}{}", line.trim_start());
                    }
                    let old_indent = old_lines.get(j).map(|l| indent(l)).unwrap_or(0);
                    let new_indent = indent(line);
                    if old_indent > 0 && new_indent > 0 {
                        format!("{base}{}{}", " ".repeat(new_indent.saturating_sub(old_indent)), line.trim_start())
                    } else {
                        line.to_owned()
                    }
                })
                .collect();
            let mut out: Vec<String> = lines[..i].iter().map(|s| (*s).to_owned()).collect();
            out.extend(replacement);
            out.extend(lines[i + old_lines.len()..].iter().map(|s| (*s).to_owned()));
            return Some(out.join("\n"));
        }
    }
    None
}

#[derive(Serialize)]
struct Node {
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    children: Option<Vec<Node>>,
}

fn sorted_entries(dir: &Dir, shown: &str) -> Result<Vec<(String, bool)>> {
    let mut out = Vec::new();
    for entry in dir.entries().map_err(io(shown))? {
        let entry = entry.map_err(io(shown))?;
        // Symlinks are listed but never descended into.
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        out.push((entry.file_name().to_string_lossy().into_owned(), is_dir));
    }
    out.sort();
    Ok(out)
}

/// The deepest a tree or search descends below the directory it starts from. Each level is a
/// frame of the walk and an open directory, and a client can nest directories as deep as it
/// likes; real trees stay far above it.
const MAX_DEPTH: usize = 256;

fn too_deep(shown: &str, relative: &Path) -> Error {
    Error::InvalidArgument(format!(
        "`{shown}` nests directories more than {MAX_DEPTH} levels deep (at `{}`); start from a subdirectory",
        relative.display()
    ))
}

fn build_tree(
    dir: &Dir,
    prefix: &Path,
    exclude: &super::glob::Excludes,
    budget: &mut usize,
    shown: &str,
    depth: usize,
) -> Result<Vec<Node>> {
    let mut nodes = Vec::new();
    for (name, is_dir) in sorted_entries(dir, shown)? {
        let relative = prefix.join(&name);
        if exclude.matches(&relative) {
            continue;
        }
        if *budget == 0 {
            return Err(Error::InvalidArgument(format!(
                "the tree of `{shown}` has too many entries; exclude some or pick a subdirectory"
            )));
        }
        *budget -= 1;
        let children = if is_dir {
            if depth == MAX_DEPTH {
                return Err(too_deep(shown, &relative));
            }
            let sub = dir.open_dir(&name).map_err(io(shown))?;
            Some(build_tree(&sub, &relative, exclude, budget, shown, depth + 1)?)
        } else {
            None
        };
        nodes.push(Node { name, kind: if is_dir { "directory" } else { "file" }, children });
    }
    Ok(nodes)
}

/// A `search_files` walk and what it found.
struct Walk<'a> {
    pattern: &'a globset::GlobMatcher,
    exclude: &'a super::glob::Excludes,
    found: &'a mut Vec<PathBuf>,
    limit: usize,
    shown: &'a str,
}

impl Walk<'_> {
    fn search(&mut self, dir: &Dir, prefix: &Path, depth: usize) -> Result<()> {
        for (name, is_dir) in sorted_entries(dir, self.shown)? {
            let relative = prefix.join(&name);
            if self.exclude.matches(&relative) {
                continue;
            }
            if self.pattern.is_match(&relative) {
                if self.found.len() == self.limit {
                    return Err(Error::InvalidArgument(format!(
                        "more than {} matches; narrow the pattern",
                        self.limit
                    )));
                }
                self.found.push(relative.clone());
            }
            if is_dir {
                if depth == MAX_DEPTH {
                    return Err(too_deep(self.shown, &relative));
                }
                let sub = dir.open_dir(&name).map_err(io(self.shown))?;
                self.search(&sub, &relative, depth + 1)?;
            }
        }
        Ok(())
    }
}

/// Whether a path names a `.git` directory or something in one (in any case, as git itself
/// refuses such paths in what it checks out).
fn names_git_dir(path: &Path) -> bool {
    path.components().any(|c| c.as_os_str().eq_ignore_ascii_case(".git"))
}

/// Whether the deepest directory of `relative` that exists (its parent, or further up for a
/// path still to be made) resolves, through symlinks, into a git directory; `root` is the
/// canonical path `dir` was opened at. A directory that resolves outside the roots is left to
/// the write itself to refuse.
fn resolves_into_git_dir(dir: &Dir, root: &Path, relative: &Path) -> bool {
    let mut ancestor = relative.parent();
    while let Some(at) = ancestor {
        let real = if at.as_os_str().is_empty() { Ok(PathBuf::new()) } else { dir.canonicalize(at) };
        match real {
            Ok(real) => return inside_git_dir(&root.join(real)),
            Err(_) => ancestor = at.parent(),
        }
    }
    false
}

/// Whether `real` (an absolute path with symlinks resolved) is a git directory or inside one:
/// by name (`.git`), or by git's own layout in it or above it (`HEAD` beside `objects/` and
/// `refs/`; a worktree's `HEAD` beside `commondir`), whatever the directory is called.
fn inside_git_dir(real: &Path) -> bool {
    let is_git_dir = |dir: &Path| {
        dir.join("HEAD").is_file()
            && ((dir.join("objects").is_dir() && dir.join("refs").is_dir()) || dir.join("commondir").is_file())
    };
    names_git_dir(real) || real.ancestors().any(is_git_dir)
}

/// The path the kernel resolved an open directory to (`/proc/self/fd`), or `None` where that
/// cannot be read; then the check by path made before ([`Fs::locate_for_writing`]) stands alone.
fn handle_path(dir: &Dir) -> Option<PathBuf> {
    use std::os::fd::{AsFd as _, AsRawFd as _};
    std::fs::read_link(format!("/proc/self/fd/{}", dir.as_fd().as_raw_fd())).ok()
}

fn in_git_dir(shown: &str) -> Error {
    Error::denied(shown, "it is inside a `.git` directory, whose configuration and hooks name programs git runs")
}

/// Sizes as the reference server prints them: bytes below 1 KiB, else two decimals.
pub(crate) fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    if bytes == 0 {
        return "0 B".into();
    }
    let exponent = ((bytes as f64).ln() / 1024f64.ln()).floor() as usize;
    if exponent == 0 {
        return format!("{bytes} B");
    }
    let unit = exponent.min(UNITS.len() - 1);
    format!("{:.2} {}", bytes as f64 / 1024f64.powi(unit as i32), UNITS[unit])
}

fn mime_for(path: &Path) -> &'static str {
    let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "bmp" => "image/bmp",
        "svg" => "image/svg+xml",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "ogg" => "audio/ogg",
        "flac" => "audio/flac",
        "m4a" => "audio/mp4",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

fn rfc3339(time: std::time::SystemTime) -> String {
    mcp_core::rfc3339(time, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_formatted_like_the_reference_server() {
        for (bytes, expect) in
            [(0, "0 B"), (1, "1 B"), (1023, "1023 B"), (1024, "1.00 KB"), (1536, "1.50 KB"), (5 << 20, "5.00 MB")]
        {
            assert_eq!(format_size(bytes), expect);
        }
    }

    #[test]
    fn edits_match_exactly_then_by_trimmed_lines_keeping_indentation() {
        let check = |content: &str, old: &str, new: &str, expect: Option<&str>| {
            assert_eq!(apply_edit(content, old, new).as_deref(), expect, "{content:?} {old:?}");
        };
        check("a\nb\nc\n", "b", "B", Some("a\nB\nc\n"));
        check("x x x", "x", "y", Some("y x x"));
        check("fn f() {\n    let a = 1;\n}\n", "let a = 1;", "let a = 2;", Some("fn f() {\n    let a = 2;\n}\n"));
        check(
            "    if x {\n        y();\n    }\n",
            "if x {\n  y();\n}",
            "if z {\n  w();\n}",
            Some("    if z {\n    w();\n}\n"),
        );
        check("abc", "zzz", "y", None);
    }

    #[test]
    fn times_are_rfc3339() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_764_182_400);
        assert_eq!(rfc3339(t), "2025-11-26T18:40:00Z");
        assert_eq!(rfc3339(std::time::UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }
}
