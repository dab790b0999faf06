//! Gives the kernel back the pages of the binary's relocation table once a server has started.
//!
//! `mcptk` is a position-independent executable: before `main`, the loader reads its relocation
//! table (`.rela.dyn`, about 1.6 MB in a release build) to rewrite the pointers in its data, and
//! nothing reads the table again. Its pages stay mapped and count in the process's resident
//! memory for as long as it runs: most of what an idle gateway holds beyond the bound in
//! docs/benchmarks.md. A server drops them once, with `madvise(MADV_DONTNEED)`, when they are
//! clean pages of a read-only private mapping of the binary: should anything read them again,
//! the kernel maps them again from the file, with the same bytes.
//!
//! Everything is checked before the one `madvise`: the table is found by the binary's section
//! headers (read from `/proc/self/exe`), its mapping by `/proc/self/maps` (read-only, private,
//! of this very file), and each of its pages by `/proc/self/pagemap` (none a private copy). Only
//! whole pages inside the table go. When anything does not hold (another platform, a binary
//! without section headers, a file replaced since the start), nothing is dropped and the reason
//! is logged at debug level.

use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt as _;

/// The section the loader reads the relocations from (`SHT_RELA` in a 64-bit ELF file).
const TABLE: &str = ".rela.dyn";
const SHT_RELA: u32 = 4;
/// The most of the section header table and of its names that is read.
const MAX_HEADERS: u64 = 1 << 20;

/// Drops the resident pages of the relocation table; what was released, by address.
pub fn release() -> Result<Range<usize>, String> {
    let exe = File::open("/proc/self/exe").map_err(|e| format!("cannot open /proc/self/exe: {e}"))?;
    let path = std::fs::read_link("/proc/self/exe").map_err(|e| format!("cannot read /proc/self/exe: {e}"))?;
    let section = section(&exe, TABLE)?;
    let maps = String::from_utf8_lossy(&read_proc("/proc/self/maps")?).into_owned();
    let table = mapped(&maps, &path.to_string_lossy(), &section)?;
    let page = page_size()?;
    let pages = table.start.next_multiple_of(page)..table.end / page * page;
    if pages.is_empty() {
        return Err(format!("{TABLE} holds no whole page"));
    }
    no_private_copies(&pages, page)?;
    // SAFETY: `pages` is whole pages inside the binary's relocation table, which the kernel maps
    // read-only and private from the file, and none of which is a private copy (checked just
    // above; nothing in this process makes a read-only mapping writable). For such pages
    // MADV_DONTNEED only unmaps them: a later read maps the same bytes from the file again. No
    // Rust value lives in the table, so no reference sees a change.
    #[allow(unsafe_code)]
    let done = unsafe { libc::madvise(pages.start as *mut libc::c_void, pages.end - pages.start, libc::MADV_DONTNEED) };
    if done != 0 {
        return Err(format!("madvise: {}", std::io::Error::last_os_error()));
    }
    Ok(pages)
}

/// Where `name` lies in the file: its offset and length, from the ELF section headers.
fn section(file: &File, name: &str) -> Result<Range<u64>, String> {
    let read = |at: u64, len: u64| -> Result<Vec<u8>, String> {
        let mut buf = vec![0; len as usize];
        file.read_exact_at(&mut buf, at).map_err(|e| format!("reading the binary's headers: {e}"))?;
        Ok(buf)
    };
    let header = read(0, 64)?;
    if &header[..4] != b"\x7fELF" || header[4] != 2 || header[5] != 1 {
        return Err("not a 64-bit little-endian ELF file".to_owned());
    }
    let (shoff, entsize, count, names) = (
        u64_at(&header, 0x28),
        u64::from(u16_at(&header, 0x3a)),
        u64::from(u16_at(&header, 0x3c)),
        u16_at(&header, 0x3e),
    );
    if count == 0 || entsize < 64 || entsize * count > MAX_HEADERS {
        return Err("the binary has no usable section headers".to_owned());
    }
    let headers = read(shoff, entsize * count)?;
    let entry = |i: usize| headers.get(i * entsize as usize..).and_then(|h| h.get(..64));
    let strings = entry(usize::from(names)).ok_or("the binary's section names are not among its sections")?;
    if u64_at(strings, 32) > MAX_HEADERS {
        return Err("the section names are too long".to_owned());
    }
    let strings = read(u64_at(strings, 24), u64_at(strings, 32))?;
    let found = (0..count as usize).filter_map(entry).find(|h| {
        let at = u32_at(h, 0) as usize;
        u32_at(h, 4) == SHT_RELA
            && strings.get(at..).is_some_and(|s| s.split(|b| *b == 0).next() == Some(name.as_bytes()))
    });
    let found = found.ok_or_else(|| format!("the binary has no {name} section"))?;
    let (offset, size) = (u64_at(found, 24), u64_at(found, 32));
    offset
        .checked_add(size)
        .map(|end| offset..end)
        .ok_or_else(|| format!("the binary's {name} section ends past any file"))
}

/// The addresses of the file range `section` of `path` in `maps` (`/proc/self/maps`'s text),
/// when one read-only private mapping of the file holds all of it.
fn mapped(maps: &str, path: &str, section: &Range<u64>) -> Result<Range<usize>, String> {
    for line in maps.lines() {
        // `start-end perms offset device inode`, then the path (padded with spaces, and which
        // may hold spaces itself).
        let mut fields = line.splitn(6, ' ');
        let (Some(span), Some(perms), Some(offset)) = (fields.next(), fields.next(), fields.next()) else { continue };
        if fields.nth(2).map(str::trim_start) != Some(path) {
            continue;
        }
        let Some((start, end)) = span.split_once('-') else { continue };
        let (Ok(start), Ok(end), Ok(offset)) =
            (usize::from_str_radix(start, 16), usize::from_str_radix(end, 16), u64::from_str_radix(offset, 16))
        else {
            continue;
        };
        let holds =
            start < end && offset <= section.start && section.end <= offset.saturating_add((end - start) as u64);
        if holds {
            // Read-only (`r--p`, or `r-xp` where a linker puts the table with the code) and private.
            if !(perms.starts_with('r') && perms.get(1..2) == Some("-") && perms.ends_with('p')) {
                return Err(format!("{TABLE} is mapped `{perms}`, not read-only and private"));
            }
            let at = start + (section.start - offset) as usize;
            return Ok(at..at + (section.end - section.start) as usize);
        }
    }
    Err(format!("no mapping of `{path}` holds {TABLE}"))
}

/// The page size, from the auxiliary vector the kernel gave the process (`AT_PAGESZ`).
fn page_size() -> Result<usize, String> {
    const AT_PAGESZ: u64 = 6;
    let auxv = read_proc("/proc/self/auxv")?;
    auxv.chunks_exact(16)
        .find(|pair| u64_at(pair, 0) == AT_PAGESZ)
        .map(|pair| u64_at(pair, 8) as usize)
        .filter(|size| size.is_power_of_two())
        .ok_or_else(|| "the page size is not known".to_owned())
}

/// Refuses when a page of `pages` is a private copy (written to since it was mapped), which
/// dropping would undo: `/proc/self/pagemap` marks each page that is present or swapped out, and
/// each that maps a file.
fn no_private_copies(pages: &Range<usize>, page: usize) -> Result<(), String> {
    const PRESENT: u64 = 1 << 63;
    const SWAPPED: u64 = 1 << 62;
    const FILE_OR_SHARED: u64 = 1 << 61;
    let pagemap = File::open("/proc/self/pagemap").map_err(|e| format!("cannot open /proc/self/pagemap: {e}"))?;
    let count = (pages.end - pages.start) / page;
    let mut entries = vec![0; count * 8];
    pagemap
        .read_exact_at(&mut entries, (pages.start / page * 8) as u64)
        .map_err(|e| format!("reading /proc/self/pagemap: {e}"))?;
    match entries
        .chunks_exact(8)
        .map(|e| u64_at(e, 0))
        .position(|e| e & (PRESENT | SWAPPED) != 0 && e & FILE_OR_SHARED == 0)
    {
        Some(i) => Err(format!("page {i} of {TABLE} is a private copy")),
        None => Ok(()),
    }
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

    /// An ELF header, then `count` section headers whose names are in section `names`: the
    /// names' section, then `.rela.dyn` at `rela` (offset, size).
    fn elf_with(count: u16, names: u16, rela: (u64, u64)) -> Vec<u8> {
        let mut elf = vec![0u8; 64 + 64 * usize::from(count) + 16];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[0x28..0x30].copy_from_slice(&64u64.to_le_bytes());
        elf[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        elf[0x3c..0x3e].copy_from_slice(&count.to_le_bytes());
        elf[0x3e..0x40].copy_from_slice(&names.to_le_bytes());
        let strings = (64 + 64 * u64::from(count), 16u64);
        let header = |elf: &mut Vec<u8>, i: usize, name: u32, kind: u32, (offset, size): (u64, u64)| {
            let h = &mut elf[64 + 64 * i..][..64];
            h[..4].copy_from_slice(&name.to_le_bytes());
            h[4..8].copy_from_slice(&kind.to_le_bytes());
            h[24..32].copy_from_slice(&offset.to_le_bytes());
            h[32..40].copy_from_slice(&size.to_le_bytes());
        };
        header(&mut elf, 0, 0, 3, strings);
        header(&mut elf, 1, 1, SHT_RELA, rela);
        let at = strings.0 as usize;
        elf[at..at + 11].copy_from_slice(b"\0.rela.dyn\0");
        elf
    }

    #[test]
    fn odd_section_headers_are_refused_not_trusted() {
        let found = |elf: &[u8]| {
            let file = tempfile::tempfile().expect("a file");
            file.write_all_at(elf, 0).expect("written");
            section(&file, TABLE)
        };
        assert_eq!(found(&elf_with(2, 0, (0x2000, 0x3000))), Ok(0x2000..0x5000));
        // Names in a section that is not there, a table past any file, a file cut short.
        assert!(found(&elf_with(2, 9, (0x2000, 0x3000))).is_err());
        assert!(found(&elf_with(2, 0xffff, (0x2000, 0x3000))).is_err());
        assert!(found(&elf_with(2, 0, (u64::MAX - 4, 0x3000))).is_err());
        assert!(found(&elf_with(2, 0, (0x2000, 0x3000))[..100]).is_err());
        assert!(found(b"#!/bin/sh\n").is_err());
    }

    #[test]
    fn the_tables_pages_are_dropped_and_the_process_runs_on() {
        let pages = release().expect("the test binary's table released");
        assert!(!pages.is_empty());
        // None of them is resident now.
        let page = page_size().expect("a page size");
        let pagemap = File::open("/proc/self/pagemap").expect("pagemap");
        let mut entries = vec![0; (pages.end - pages.start) / page * 8];
        pagemap.read_exact_at(&mut entries, (pages.start / page * 8) as u64).expect("pagemap read");
        let resident = entries.chunks_exact(8).filter(|e| u64_at(e, 0) & (1 << 63) != 0).count();
        // Other threads' first reads of the data beside the table may map its end pages again
        // (the kernel maps up to 16 pages around a fault): at most one such window at each end.
        assert!(resident <= 2 * 16, "{resident} of the table's {} pages are still resident", entries.len() / 8);
        // Formatting, panics caught, dynamic calls: the relocated data the table described still works.
        let caught = std::panic::catch_unwind(|| panic!("still {}", "here"));
        assert!(caught.is_err());
        assert_eq!(format!("{:?}", Some(1.5)), "Some(1.5)");
    }

    #[test]
    fn only_a_read_only_private_mapping_of_the_file_itself_is_taken() {
        let maps = "\
55d0a0000000-55d0a0200000 r--p 00000000 fd:01 42 /usr/bin/mcptk
55d0a0200000-55d0a0400000 r-xp 00200000 fd:01 42 /usr/bin/mcptk
55d0a0400000-55d0a0410000 rw-p 00400000 fd:01 42 /usr/bin/mcptk
7f0000000000-7f0000100000 r--p 00000000 fd:01 43 /usr/lib/libc.so.6
";
        assert_eq!(mapped(maps, "/usr/bin/mcptk", &(0x1000..0x3000)), Ok(0x55d0a0001000..0x55d0a0003000));
        assert!(mapped(maps, "/usr/bin/mcptk", &(0x400100..0x400200)).expect_err("refused").contains("`rw-p`"));
        // With the code (a linker that maps the table read and execute): taken.
        assert_eq!(mapped(maps, "/usr/bin/mcptk", &(0x200000..0x201000)), Ok(0x55d0a0200000..0x55d0a0201000));
        // Across two mappings, or in another file: nothing.
        assert!(mapped(maps, "/usr/bin/mcptk", &(0x1ff000..0x201000)).is_err());
        assert!(mapped(maps, "/usr/lib/libc.so.6", &(0x200000..0x201000)).is_err());
        assert!(mapped(maps, "/usr/bin/mcp", &(0x1000..0x3000)).is_err());
        // A path with spaces, and a binary replaced since the start (the kernel names it so in
        // both /proc/self/exe and the maps, and the headers are read from the mapped file).
        let replaced = maps.replace("/usr/bin/mcptk", "/opt/my tools/mcptk (deleted)");
        assert_eq!(
            mapped(&replaced, "/opt/my tools/mcptk (deleted)", &(0x1000..0x3000)),
            Ok(0x55d0a0001000..0x55d0a0003000)
        );
    }
}
