//! Gives the kernel back the pages of the binary that a server's start read, once it has started.
//!
//! A process holds every page of its binary it has touched, and the kernel maps them 64 KiB at a
//! time around each fault. A start touches much that no call runs again: the loader's relocation
//! table (`.rela.dyn`, about 1.6 MB in a release build: the loader reads it once before `main`
//! to rewrite the pointers in the binary's data), the code and constants of argument parsing,
//! configuration and set-up. A server drops, once, every page of the binary's read-only private
//! mappings (code, constants, the table) with `madvise(MADV_DONTNEED)`: what its calls run is
//! mapped again from the page cache at the next fault, with the same bytes, and the rest stays
//! out of its resident memory. Pages the loader wrote (the relocated data, private copies made
//! read-only afterwards) are never dropped: their bytes are not the file's.
//!
//! Everything is checked before the first page goes: the loader's segments that are not
//! writable, by the binary's program headers (read from `/proc/self/exe`) placed where the kernel
//! says it loaded them (`AT_PHDR`); of them, what `/proc/self/maps` shows read-only and private
//! from this very file; and each of their pages by `/proc/self/pagemap` (a page that is a private
//! copy splits the range around it; the page of this code, just run, must read as the file's, or
//! pagemap tells nothing). When anything does not hold, nothing is dropped and the reason is
//! logged at debug level (a `madvise` that fails, which none should, stops the rest). Reading
//! the same bytes from the file again is what the kernel does anyway when memory runs short and
//! it reclaims clean pages of a running program; a binary cannot be rewritten in place while it
//! runs (`ETXTBSY`, on local file systems), and one replaced by a rename keeps its old file for
//! the processes running it.

use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt as _;

/// What [`release`] gave back.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Released {
    /// Bytes of address space dropped (resident or not).
    pub bytes: usize,
    /// The ranges they were dropped in (one `madvise` each).
    pub ranges: usize,
    /// Pages kept because they are private copies.
    pub private: usize,
}

/// Drops the pages of the binary's read-only private mappings that are not private copies.
pub fn release() -> Result<Released, String> {
    let path = std::fs::read_link("/proc/self/exe").map_err(|e| format!("cannot read /proc/self/exe: {e}"))?;
    let exe = File::open("/proc/self/exe").map_err(|e| format!("cannot open /proc/self/exe: {e}"))?;
    let auxv = read_proc("/proc/self/auxv")?;
    let page = page_size(&auxv)?;
    let maps = String::from_utf8_lossy(&read_proc("/proc/self/maps")?).into_owned();
    // The loader's own read-only segments, and of them only what maps shows read-only and
    // private from this file: nothing else that maps the file (a backtrace reading its debug
    // information, say) is touched, whatever happens to it meanwhile.
    let segments = read_only_segments(&exe, auxv_entry(&auxv, AT_PHDR)?, page)?;
    let mut mappings = Vec::new();
    for mapped in read_only_mappings(&maps, &path.to_string_lossy()) {
        for segment in &segments {
            let both = mapped.start.max(segment.start)..mapped.end.min(segment.end);
            if !both.is_empty() {
                mappings.push(both);
            }
        }
    }
    let pagemap = File::open("/proc/self/pagemap").map_err(|e| format!("cannot open /proc/self/pagemap: {e}"))?;
    let entries_of = |range: &Range<usize>| pagemap_entries(&pagemap, range, page);
    // The page of this very code, just run, must read as the file's and lie in a segment taken:
    // else pagemap tells nothing (an emulated /proc reads as zeros) and nothing is dropped.
    let here = release as fn() -> Result<Released, String> as usize / page * page;
    let ours = mappings.iter().any(|m| m.contains(&here));
    let known = entries_of(&(here..here + page))?
        .first()
        .is_some_and(|e| e & (PRESENT | FILE_OR_SHARED) == PRESENT | FILE_OR_SHARED);
    if !ours || !known {
        return Err("the binary's code does not show as its file's pages in /proc/self/pagemap".to_owned());
    }
    // Everything is checked before the first page goes.
    let mut released = Released::default();
    let mut runs = Vec::new();
    for mapping in &mappings {
        let entries = entries_of(mapping)?;
        released.private += entries.iter().filter(|e| private_copy(**e)).count();
        runs.extend(droppable(&entries, mapping.start, page));
    }
    for run in runs {
        // SAFETY: `run` is whole pages of one of the loader's read-only segments of the binary,
        // mapped read-only and private from the binary's own file (checked in /proc/self/maps
        // just above), none of which is a private copy (checked page by page in
        // /proc/self/pagemap; nothing in this process writes a read-only mapping). For such
        // pages MADV_DONTNEED only unmaps them: a later access maps the same bytes from the file
        // again, so no code running and no reference into the constants sees a change. (A
        // debugger's breakpoint written between the check and here would be lost; the process's
        // memory is not at stake.)
        #[allow(unsafe_code)]
        let done = unsafe { libc::madvise(run.start as *mut libc::c_void, run.end - run.start, libc::MADV_DONTNEED) };
        if done != 0 {
            return Err(format!(
                "madvise, after {} bytes given back: {}",
                released.bytes,
                std::io::Error::last_os_error()
            ));
        }
        released.bytes += run.end - run.start;
        released.ranges += 1;
    }
    Ok(released)
}

/// The pagemap entries of the pages of `range` (whole pages), one per page.
fn pagemap_entries(pagemap: &File, range: &Range<usize>, page: usize) -> Result<Vec<u64>, String> {
    let mut entries = vec![0; (range.end - range.start) / page * 8];
    pagemap
        .read_exact_at(&mut entries, (range.start / page * 8) as u64)
        .map_err(|e| format!("reading /proc/self/pagemap: {e}"))?;
    Ok(entries.chunks_exact(8).map(|e| u64_at(e, 0)).collect())
}

const AT_PHDR: u64 = 3;
const AT_PAGESZ: u64 = 6;
const PT_LOAD: u32 = 1;
const PT_PHDR: u32 = 6;
const PF_W: u32 = 2;

/// The whole pages of the loader's segments of the binary that are not writable, by address:
/// from its program headers (read from the file), placed by where the kernel says it loaded
/// them (`AT_PHDR`, the headers' address).
fn read_only_segments(exe: &File, headers_at: u64, page: usize) -> Result<Vec<Range<usize>>, String> {
    let read = |at: u64, len: usize| -> Result<Vec<u8>, String> {
        let mut buf = vec![0; len];
        exe.read_exact_at(&mut buf, at).map_err(|e| format!("reading the binary's headers: {e}"))?;
        Ok(buf)
    };
    let header = read(0, 64)?;
    if &header[..4] != b"\x7fELF" || header[4] != 2 || header[5] != 1 {
        return Err("not a 64-bit little-endian ELF file".to_owned());
    }
    let (phoff, entsize, count) =
        (u64_at(&header, 0x20), usize::from(u16_at(&header, 0x36)), usize::from(u16_at(&header, 0x38)));
    if entsize < 56 || count == 0 || count > 256 {
        return Err("the binary has no usable program headers".to_owned());
    }
    let table = read(phoff, entsize * count)?;
    let headers: Vec<&[u8]> = table.chunks_exact(entsize).collect();
    let (kind, flags, offset, vaddr, filesz, memsz) = (
        |h: &[u8]| u32_at(h, 0),
        |h: &[u8]| u32_at(h, 4),
        |h: &[u8]| u64_at(h, 8),
        |h: &[u8]| u64_at(h, 16),
        |h: &[u8]| u64_at(h, 32),
        |h: &[u8]| u64_at(h, 40),
    );
    // Where the headers are in the program's addresses: their own entry, or the segment whose
    // bytes hold them.
    let headers_vaddr = headers.iter().find(|h| kind(h) == PT_PHDR).map(|h| vaddr(h)).or_else(|| {
        headers
            .iter()
            .find(|h| kind(h) == PT_LOAD && offset(h) <= phoff && phoff < offset(h).saturating_add(filesz(h)))
            .map(|h| vaddr(h) + (phoff - offset(h)))
    });
    let headers_vaddr = headers_vaddr.ok_or("the binary's program headers are in none of its segments")?;
    let bias = headers_at.wrapping_sub(headers_vaddr);
    let segments = headers.iter().filter(|h| kind(h) == PT_LOAD && flags(h) & PF_W == 0).filter_map(|h| {
        let start = usize::try_from(bias.wrapping_add(vaddr(h))).ok()?;
        let end = start.checked_add(usize::try_from(memsz(h)).ok()?)?;
        // Whole pages only, inside the segment.
        let pages = start.next_multiple_of(page)..end / page * page;
        (!pages.is_empty()).then_some(pages)
    });
    Ok(segments.collect())
}

/// The read-only private mappings (`r--p`, `r-xp`) of the file `path` in `maps`
/// (`/proc/self/maps`'s text), by address.
fn read_only_mappings(maps: &str, path: &str) -> Vec<Range<usize>> {
    let mut found = Vec::new();
    for line in maps.lines() {
        // `start-end perms offset device inode`, then the path (padded with spaces, and which
        // may hold spaces itself).
        let mut fields = line.splitn(6, ' ');
        let (Some(span), Some(perms)) = (fields.next(), fields.next()) else { continue };
        if fields.nth(3).map(str::trim_start) != Some(path) || !matches!(perms, "r--p" | "r-xp") {
            continue;
        }
        let Some((start, end)) = span.split_once('-') else { continue };
        if let (Ok(start), Ok(end)) = (usize::from_str_radix(start, 16), usize::from_str_radix(end, 16))
            && start < end
        {
            found.push(start..end);
        }
    }
    found
}

const PRESENT: u64 = 1 << 63;
const SWAPPED: u64 = 1 << 62;
const FILE_OR_SHARED: u64 = 1 << 61;

/// Whether a pagemap entry is a private copy (a page written since it was mapped: present or
/// swapped out, and not the file's), which dropping would undo.
fn private_copy(entry: u64) -> bool {
    entry & (PRESENT | SWAPPED) != 0 && entry & FILE_OR_SHARED == 0
}

/// The runs of pages of a mapping at `start` (one pagemap entry per page) that hold no private
/// copy, by address.
fn droppable(entries: &[u64], start: usize, page: usize) -> Vec<Range<usize>> {
    let mut runs = Vec::new();
    let mut from = None;
    for (i, entry) in entries.iter().enumerate() {
        match (private_copy(*entry), from) {
            (false, None) => from = Some(i),
            (true, Some(f)) => {
                runs.push(start + f * page..start + i * page);
                from = None;
            }
            _ => {}
        }
    }
    if let Some(f) = from {
        runs.push(start + f * page..start + entries.len() * page);
    }
    runs
}

/// The page size, from the auxiliary vector the kernel gave the process (`AT_PAGESZ`).
fn page_size(auxv: &[u8]) -> Result<usize, String> {
    usize::try_from(auxv_entry(auxv, AT_PAGESZ)?)
        .ok()
        .filter(|size| size.is_power_of_two())
        .ok_or_else(|| "the page size is not known".to_owned())
}

/// An entry of the auxiliary vector (`/proc/self/auxv`: pairs of type and value).
fn auxv_entry(auxv: &[u8], kind: u64) -> Result<u64, String> {
    auxv.chunks_exact(16)
        .find(|pair| u64_at(pair, 0) == kind)
        .map(|pair| u64_at(pair, 8))
        .ok_or_else(|| format!("the auxiliary vector has no entry {kind}"))
}

/// A file of `/proc` whole, read in a few calls (its size is not known beforehand).
fn read_proc(path: &str) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let mut bytes = Vec::with_capacity(16 << 10);
    File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(|e| format!("cannot read {path}: {e}"))?;
    Ok(bytes)
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or_default())
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pages of this process's binary that are private copies, by address.
    fn private_copies() -> Vec<usize> {
        let path = std::fs::read_link("/proc/self/exe").expect("exe");
        let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
        let page = page_size(&read_proc("/proc/self/auxv").expect("auxv")).expect("a page size");
        let pagemap = File::open("/proc/self/pagemap").expect("pagemap");
        let mut copies = Vec::new();
        for mapping in read_only_mappings(&maps, &path.to_string_lossy()) {
            let entries = pagemap_entries(&pagemap, &mapping, page).expect("pagemap read");
            let at = |i: usize| mapping.start + i * page;
            copies.extend(entries.iter().enumerate().filter(|(_, e)| private_copy(**e)).map(|(i, _)| at(i)));
        }
        copies
    }

    #[test]
    fn the_binarys_clean_pages_are_dropped_its_written_ones_kept_and_the_process_runs_on() {
        let before = private_copies();
        let released = release().expect("the test binary's pages released");
        // Code and constants: megabytes, in a few ranges split around the relocated data.
        assert!(released.bytes > 1 << 20, "{released:?}");
        assert!(released.ranges >= 1 && released.private <= before.len(), "{released:?}, {} copies", before.len());
        // The loader's relocated data is written: kept, every page of it, as it was.
        assert!(!before.is_empty(), "a position-independent binary has relocated data");
        assert_eq!(private_copies(), before);
        // Formatting, panics caught, dynamic calls: code and data mapped again work on.
        let caught = std::panic::catch_unwind(|| panic!("still {}", "here"));
        assert!(caught.is_err());
        assert_eq!(format!("{:?}", Some(1.5)), "Some(1.5)");
        let shown: Box<dyn std::fmt::Display> = Box::new(42);
        assert_eq!(shown.to_string(), "42");
    }

    #[test]
    fn private_copies_split_the_runs_that_are_dropped() {
        let (file, copy, absent) = (PRESENT | FILE_OR_SHARED, PRESENT, 0);
        let swapped_copy = SWAPPED;
        assert_eq!(droppable(&[file, absent, file], 0x1000, 0x1000), vec![0x1000..0x4000]);
        assert_eq!(
            droppable(&[copy, file, copy, absent, swapped_copy], 0, 0x1000),
            vec![0x1000..0x2000, 0x3000..0x4000]
        );
        assert_eq!(droppable(&[copy, copy], 0, 0x1000), Vec::<Range<usize>>::new());
        assert_eq!(droppable(&[], 0, 0x1000), Vec::<Range<usize>>::new());
    }

    #[test]
    fn only_read_only_private_mappings_of_the_file_itself_are_taken() {
        let maps = "\
55d0a0000000-55d0a0200000 r--p 00000000 fd:01 42 /usr/bin/mcptk
55d0a0200000-55d0a0400000 r-xp 00200000 fd:01 42 /usr/bin/mcptk
55d0a0400000-55d0a0410000 r--p 00400000 fd:01 42 /usr/bin/mcptk
55d0a0410000-55d0a0420000 rw-p 00410000 fd:01 42 /usr/bin/mcptk
55d0a0420000-55d0a0430000 r--s 00000000 fd:01 42 /usr/bin/mcptk
7f0000000000-7f0000100000 r--p 00000000 fd:01 43 /usr/lib/libc.so.6
7f0000100000-7f0000200000 r--p 00000000 fd:01 44 /usr/bin/mcptk-other
";
        assert_eq!(
            read_only_mappings(maps, "/usr/bin/mcptk"),
            vec![0x55d0a0000000..0x55d0a0200000, 0x55d0a0200000..0x55d0a0400000, 0x55d0a0400000..0x55d0a0410000]
        );
        assert!(read_only_mappings(maps, "/usr/bin/mcp").is_empty());
        // A path with spaces, and a binary replaced since the start (the kernel names it so in
        // both /proc/self/exe and the maps).
        let replaced = maps.replace("/usr/bin/mcptk\n", "/opt/my tools/mcptk (deleted)\n");
        assert_eq!(read_only_mappings(&replaced, "/opt/my tools/mcptk (deleted)").len(), 3);
    }
}
