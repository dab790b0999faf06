//! The end of a text read as it streams in (a container's or a pod's log), in memory bounded by
//! how much of it is kept, however long the stream.

/// Keeps the last `max` bytes of a byte stream and counts what came before them.
///
/// Between pushes it holds at most twice `max`: it cuts only once it holds more than twice the
/// bound, so that each cut moves at least the bound's worth out and a stream of any length is
/// read in linear time.
#[derive(Debug)]
pub struct Tail {
    max: usize,
    kept: Vec<u8>,
    left_out: u64,
    lines_left_out: u64,
    /// Whether the last byte left out ended a line (`kept` then starts a whole line).
    at_line_start: bool,
}

/// What a [`Tail`] kept of its stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct End {
    /// At most `max` bytes: from the start of a whole line when anything was left out, unless
    /// the last line alone is longer than the bound (then its end, from a whole UTF-8 character).
    pub bytes: Vec<u8>,
    /// How many bytes came before `bytes`.
    pub left_out: u64,
    /// How many newlines those held: the lines left out whole.
    pub lines_left_out: u64,
    /// Whether `bytes` starts within a line whose start was left out (a line longer than the
    /// bound).
    pub mid_line: bool,
}

impl Tail {
    /// A tail that keeps the last `max` bytes.
    pub fn new(max: usize) -> Self {
        Tail { max, kept: Vec::new(), left_out: 0, lines_left_out: 0, at_line_start: true }
    }

    /// Reads `bytes`, the next piece of the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.kept.extend_from_slice(bytes);
        if self.kept.len() > 2 * self.max {
            self.cut(self.kept.len() - self.max);
        }
    }

    /// Bytes read so far, left out or kept.
    pub fn seen(&self) -> u64 {
        self.left_out + self.kept.len() as u64
    }

    /// Bytes held now (at most twice the bound).
    pub fn held(&self) -> usize {
        self.kept.len()
    }

    fn cut(&mut self, n: usize) {
        let n = n.min(self.kept.len());
        if n == 0 {
            return;
        }
        self.lines_left_out += memchr::memchr_iter(b'\n', &self.kept[..n]).count() as u64;
        self.at_line_start = self.kept[n - 1] == b'\n';
        self.left_out += n as u64;
        self.kept.drain(..n);
    }

    /// The end of the stream: its last `max` bytes, from a whole line when anything was left out.
    pub fn finish(mut self) -> End {
        if self.kept.len() > self.max {
            self.cut(self.kept.len() - self.max);
        }
        let mut mid_line = false;
        if self.left_out > 0 && !self.at_line_start {
            match memchr::memchr(b'\n', &self.kept) {
                Some(newline) => self.cut(newline + 1),
                None => {
                    // One line longer than the bound: its end, from a whole character.
                    mid_line = true;
                    let partial = self.kept.iter().take_while(|b| (0x80..0xC0).contains(*b)).count();
                    self.cut(partial);
                }
            }
        }
        End { bytes: self.kept, left_out: self.left_out, lines_left_out: self.lines_left_out, mid_line }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end_of(pieces: &[&[u8]], max: usize) -> End {
        let mut tail = Tail::new(max);
        for piece in pieces {
            tail.push(piece);
            assert!(tail.held() <= 2 * max, "held {} bytes", tail.held());
        }
        tail.finish()
    }

    #[test]
    fn a_short_stream_is_kept_whole() {
        let end = end_of(&[b"one\ntw", b"o\n"], 100);
        assert_eq!(end, End { bytes: b"one\ntwo\n".to_vec(), left_out: 0, lines_left_out: 0, mid_line: false });
        assert_eq!(end_of(&[], 10).bytes, b"");
    }

    #[test]
    fn a_long_stream_keeps_its_end_from_a_whole_line_and_counts_what_went() {
        let text: String = (0..1000).map(|n| format!("line {n:04}\n")).collect();
        // Cut into pieces of every size from 1 to 40 bytes: the same end each time.
        for size in 1..=40 {
            let pieces: Vec<&[u8]> = text.as_bytes().chunks(size).collect();
            let end = end_of(&pieces, 100);
            // Ten-byte lines: the last 100 bytes are ten whole lines.
            assert_eq!(String::from_utf8(end.bytes.clone()).expect("utf-8"), text[text.len() - 100..]);
            assert_eq!((end.left_out, end.lines_left_out, end.mid_line), (9900, 990, false), "pieces of {size}");
        }
        // A bound that falls within a line: the part of it kept goes too.
        let end = end_of(&[text.as_bytes()], 95);
        assert_eq!(end.bytes.len(), 90);
        assert_eq!((end.left_out, end.lines_left_out), (9910, 991));
    }

    #[test]
    fn one_line_longer_than_the_bound_keeps_its_end_from_a_whole_character() {
        let text = format!("first\n{}", "é".repeat(1000));
        let end = end_of(&[text.as_bytes()], 101);
        assert!(end.mid_line);
        assert_eq!(end.bytes.len(), 100, "a cut character is left out whole");
        assert!(String::from_utf8(end.bytes).is_ok());
        assert_eq!((end.left_out, end.lines_left_out), (text.len() as u64 - 100, 1));
    }
}
