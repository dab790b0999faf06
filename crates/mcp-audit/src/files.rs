//! The files of a log on disk: the live file, the sealed segments and the manifest that chains
//! them; refusing anything that is not a regular file; and finding a file's last record by
//! reading backwards from its end, so that opening a log costs the same however long it is.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::record::{GENESIS, hash_without_hash_field};
use crate::{Error, Result};

/// Where a log's files are, all named after the live file (say `audit.jsonl`): sealed segments
/// `audit.jsonl.000001`, `audit.jsonl.000002`, ...; the manifest `audit.jsonl.manifest`; the
/// advisory head `audit.jsonl.head`; the lock `audit.jsonl.lock` that one writer holds.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub live: PathBuf,
}

impl Layout {
    pub fn new(path: &Path) -> Layout {
        Layout { live: path.to_path_buf() }
    }

    fn sibling(&self, suffix: &str) -> PathBuf {
        let mut name = self.live.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    }

    /// The sealed segment `number` (from 1).
    pub fn segment(&self, number: u64) -> PathBuf {
        self.sibling(&format!(".{number:06}"))
    }

    /// The file name of segment `number`, as the manifest records it.
    pub fn segment_name(&self, number: u64) -> String {
        self.segment(number).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }

    pub fn manifest(&self) -> PathBuf {
        self.sibling(".manifest")
    }

    pub fn head(&self) -> PathBuf {
        self.sibling(".head")
    }

    pub fn lock(&self) -> PathBuf {
        self.sibling(".lock")
    }

    /// The directory that holds every file of the log.
    pub fn dir(&self) -> &Path {
        self.live.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
    }

    /// True when there is any log here (a live file or a manifest).
    pub fn exists(&self) -> bool {
        self.live.exists() || self.manifest().exists()
    }
}

/// How long opening waits for the lock held by a log of this process that is closing (its
/// writer thread finishing its last batch) before deciding another writer holds it.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Takes the log's lock (an exclusive advisory lock on its `.lock` file, released when the
/// returned file is closed, or by the kernel when the process ends however it ends). Two writers
/// on one log would fork its chain, so a second is refused with [`Error::InUse`].
pub(crate) fn lock(layout: &Layout) -> Result<File> {
    // Named after the file the path resolves to, so that two names for one log share a lock.
    let live = std::fs::canonicalize(&layout.live).unwrap_or_else(|_| layout.live.clone());
    let path = Layout::new(&live).lock();
    check_regular(&path)?;
    let file = OpenOptions::new().create(true).write(true).truncate(false).open(&path).map_err(io_error(&path))?;
    check_opened(&file, &path)?;
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::InUse { path: layout.live.display().to_string() });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io_error(&path)(e)),
        }
    }
}

/// The error for an I/O failure on `path`.
pub(crate) fn io_error(path: &Path) -> impl Fn(io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.display().to_string(), source }
}

/// What a path is, in words, when it is not a regular file.
fn not_regular(file_type: std::fs::FileType) -> Option<&'static str> {
    if file_type.is_file() {
        None
    } else if file_type.is_dir() {
        Some("a directory")
    } else if file_type.is_char_device() {
        Some("a character device")
    } else if file_type.is_block_device() {
        Some("a block device")
    } else if file_type.is_fifo() {
        Some("a FIFO")
    } else if file_type.is_socket() {
        Some("a socket")
    } else {
        Some("not a regular file")
    }
}

/// Refuses `path` if it exists and is (through any symlinks) anything but a regular file: a
/// device would swallow records or feed reads without end, a FIFO would block.
pub(crate) fn check_regular(path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(metadata) => check_type(path, &metadata),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error(path)(e)),
    }
}

fn check_type(path: &Path, metadata: &std::fs::Metadata) -> Result<()> {
    match not_regular(metadata.file_type()) {
        None => Ok(()),
        Some(kind) => Err(Error::NotRegular { path: path.display().to_string(), kind }),
    }
}

/// Checks what was opened, since the path may have changed between the check and the open.
pub(crate) fn check_opened(file: &File, path: &Path) -> Result<()> {
    check_type(path, &file.metadata().map_err(io_error(path))?)
}

/// Opens an existing regular file for reading.
pub(crate) fn open_read(path: &Path) -> Result<File> {
    check_regular(path)?;
    let file = File::open(path).map_err(io_error(path))?;
    check_opened(&file, path)?;
    Ok(file)
}

/// Opens (or creates) a regular file for appending, and reading its end. With `dsync`, each write
/// returns only once it is durable (`O_DSYNC`: as a write followed by `fdatasync`, in one call).
pub(crate) fn open_append(path: &Path, create: bool, dsync: bool) -> Result<File> {
    check_regular(path)?;
    let file = append_options(dsync).read(true).create(create).open(path).map_err(io_error(path))?;
    check_opened(&file, path)?;
    Ok(file)
}

/// Options to append to a file, with `O_DSYNC` when `dsync`.
pub(crate) fn append_options(dsync: bool) -> OpenOptions {
    let mut options = OpenOptions::new();
    options.append(true);
    if dsync {
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, dsync_flag());
    }
    options
}

fn dsync_flag() -> i32 {
    i32::try_from(rustix::fs::OFlags::DSYNC.bits()).unwrap_or_default()
}

/// Opens (or creates) the advisory head file for writing in place.
pub(crate) fn open_head(layout: &Layout) -> Result<File> {
    let path = layout.head();
    check_regular(&path)?;
    let file = OpenOptions::new().write(true).create(true).truncate(false).open(&path).map_err(io_error(&path))?;
    check_opened(&file, &path)?;
    Ok(file)
}

/// Makes renames and new files in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A file's identity: device and inode.
pub(crate) type Identity = (u64, u64);

pub(crate) fn identity(metadata: &std::fs::Metadata) -> Identity {
    (metadata.dev(), metadata.ino())
}

/// Whether `path` still names the file with `identity`. A record written into a file that was
/// removed, renamed away or replaced is not durable where anyone will look for it.
pub(crate) fn still_at(path: &Path, identity: Identity) -> std::result::Result<(), String> {
    match std::fs::metadata(path) {
        Ok(m) if self::identity(&m) == identity => Ok(()),
        Ok(_) => Err("the path now names a different file (the log was replaced or moved while open)".into()),
        Err(e) => Err(format!("the file was removed while open ({e})")),
    }
}

// -------------------------------------------------------------------------------------------
// Reading backwards
// -------------------------------------------------------------------------------------------

/// The first read from the end; each further read doubles what is held, so a long last line
/// costs time linear in its length.
const FIRST_READ: usize = 8 * 1024;

/// A file read backwards from `len`, holding the bytes from `start` to `len`.
struct Backwards<'a> {
    file: &'a File,
    buf: Vec<u8>,
    start: u64,
    read: u64,
}

impl<'a> Backwards<'a> {
    fn new(file: &'a File, len: u64) -> Self {
        Backwards { file, buf: Vec::new(), start: len, read: 0 }
    }

    /// Reads further back; false at the start of the file.
    fn grow(&mut self) -> io::Result<bool> {
        if self.start == 0 {
            return Ok(false);
        }
        let n = self.start.min(FIRST_READ.max(self.buf.len()) as u64);
        let at = self.start - n;
        let mut chunk = vec![0; n as usize];
        self.file.read_exact_at(&mut chunk, at)?;
        chunk.extend_from_slice(&self.buf);
        self.buf = chunk;
        self.start = at;
        self.read += n;
        Ok(true)
    }

    /// The offset of the last newline before `end`.
    fn newline_before(&mut self, end: u64) -> io::Result<Option<u64>> {
        let mut searched_from = end;
        loop {
            let held = &self.buf[..(searched_from - self.start) as usize];
            if let Some(i) = held.iter().rposition(|&b| b == b'\n') {
                return Ok(Some(self.start + i as u64));
            }
            searched_from = self.start;
            if !self.grow()? {
                return Ok(None);
            }
        }
    }

    /// The line that ends with the newline at `newline`: its start and its text.
    fn line_ending_at(&mut self, newline: u64) -> io::Result<(u64, &[u8])> {
        let start = self.newline_before(newline)?.map_or(0, |p| p + 1);
        Ok((start, &self.buf[(start - self.start) as usize..(newline - self.start) as usize]))
    }
}

/// The end of a file as found by [`last_valid`].
#[derive(Debug)]
pub(crate) struct Tail<T> {
    /// The last value, if the file holds any.
    pub value: Option<T>,
    /// Where the file should end: just after that value's line. What follows is a torn write.
    pub valid_len: u64,
    /// Bytes read to find it.
    pub read: u64,
}

/// Finds the last line of `file` (of length `len`) that parses as a `T`, reading backwards.
///
/// Only the end may be torn, as a crash in the middle of a write leaves it: bytes after the last
/// newline, and a last complete line that is not a `T`. If the line before that is not a `T`
/// either, the damage is not a torn write and the answer is `Err` with the damaged line's offset.
pub(crate) fn last_valid<T: DeserializeOwned>(file: &File, len: u64) -> io::Result<Result<Tail<T>, u64>> {
    let mut back = Backwards::new(file, len);
    let Some(last) = back.newline_before(len)? else {
        // No complete line at all: everything is torn.
        return Ok(Ok(Tail { value: None, valid_len: 0, read: back.read }));
    };
    let (start, line) = back.line_ending_at(last)?;
    if let Ok(value) = serde_json::from_slice(line) {
        return Ok(Ok(Tail { value: Some(value), valid_len: last + 1, read: back.read }));
    }
    if start == 0 {
        return Ok(Ok(Tail { value: None, valid_len: 0, read: back.read }));
    }
    let (before, line) = back.line_ending_at(start - 1)?;
    match serde_json::from_slice(line) {
        Ok(value) => Ok(Ok(Tail { value: Some(value), valid_len: start, read: back.read })),
        Err(_) => Ok(Err(before)),
    }
}

// -------------------------------------------------------------------------------------------
// The manifest
// -------------------------------------------------------------------------------------------

/// One sealed segment, as the manifest records it. Entries are chained like records: each holds
/// the hash of the entry before, so a removed, reordered or edited entry breaks the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// 1, 2, 3, ...: the segment's number.
    pub number: u64,
    /// The segment's file name, in the log's directory.
    pub file: String,
    /// Its first record's sequence number.
    pub first_seq: u64,
    /// Its last record's sequence number.
    pub last_seq: u64,
    /// Its last record's hash.
    pub last_hash: String,
    /// The hash of the entry before (or [`GENESIS`]).
    pub prev: String,
    /// SHA-256 over this entry without `hash`.
    pub hash: String,
}

impl Entry {
    /// The entry for a segment sealed after `before`.
    pub fn seal(layout: &Layout, before: Option<&Entry>, last_seq: u64, last_hash: String) -> Entry {
        let number = before.map_or(1, |e| e.number + 1);
        let mut entry = Entry {
            number,
            file: layout.segment_name(number),
            first_seq: before.map_or(1, |e| e.last_seq + 1),
            last_seq,
            last_hash,
            prev: before.map_or_else(|| GENESIS.to_owned(), |e| e.hash.clone()),
            hash: String::new(),
        };
        entry.hash = entry.compute_hash();
        entry
    }

    pub fn compute_hash(&self) -> String {
        hash_without_hash_field(self)
    }
}

/// Appends `entry` to the manifest and makes it durable.
pub(crate) fn append_entry(layout: &Layout, entry: &Entry) -> io::Result<()> {
    let path = layout.manifest();
    let created = !path.exists();
    let mut file = OpenOptions::new().append(true).create(true).open(&path)?;
    let mut line = serde_json::to_vec(entry).map_err(io::Error::other)?;
    line.push(b'\n');
    file.write_all(&line)?;
    file.sync_all()?;
    if created {
        sync_dir(layout.dir())?;
    }
    Ok(())
}

/// The manifest's entries as written, each with its 1-based line number; a torn last line (a
/// crash while appending, never relied on) is left out. Unreadable lines come back as `Err` with
/// the parser's message.
pub(crate) fn read_manifest(layout: &Layout) -> Result<Vec<(usize, std::result::Result<Entry, String>)>> {
    let path = layout.manifest();
    if !path.exists() {
        return Ok(Vec::new());
    }
    let mut text = Vec::new();
    io::Read::read_to_end(&mut open_read(&path)?, &mut text).map_err(io_error(&path))?;
    let complete = text.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    Ok(text[..complete]
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .enumerate()
        .map(|(i, line)| (i + 1, serde_json::from_slice(line).map_err(|e| e.to_string())))
        .collect())
}

/// The files of a log in chain order: the sealed segments the manifest lists, one sealed but not
/// yet listed (a crash between sealing it and listing it), then the live file.
#[derive(Debug)]
pub(crate) struct Part {
    pub path: PathBuf,
    /// The manifest's entry, for a listed segment.
    pub entry: Option<Entry>,
}

pub(crate) fn parts(layout: &Layout) -> Result<Vec<Part>> {
    let mut parts = Vec::new();
    let mut next = 1;
    for (_, entry) in read_manifest(layout)? {
        let Ok(entry) = entry else { continue };
        next = entry.number + 1;
        parts.push(Part { path: layout.dir().join(&entry.file), entry: Some(entry) });
    }
    let unlisted = layout.segment(next);
    if unlisted.exists() {
        parts.push(Part { path: unlisted, entry: None });
    }
    if layout.live.exists() {
        parts.push(Part { path: layout.live.clone(), entry: None });
    }
    Ok(parts)
}
