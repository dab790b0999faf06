//! Newline-delimited framing with a size limit that never buffers an oversized line.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// Default limit for one message: 16 MiB, enough for large tool results.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// One unit read off the wire.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A complete line, without its terminator (`\n` or `\r\n`).
    Line(Vec<u8>),
    /// A line longer than the limit; its bytes were skipped, not kept, but for its two ends.
    Oversized {
        /// How many bytes the line had (at least the limit).
        len: usize,
        /// Its first [`KEPT_END`] bytes and its last ones: where a message's `id` usually is, so
        /// that the refusal can answer the request it refuses.
        head: Vec<u8>,
        tail: Vec<u8>,
    },
}

/// How many bytes of each end of an oversized line are kept.
pub const KEPT_END: usize = 1024;

/// An oversized line being skipped.
#[derive(Debug)]
struct Skipping {
    len: usize,
    head: Vec<u8>,
    tail: Vec<u8>,
}

impl Skipping {
    /// Starts skipping at the bytes read so far of the line.
    fn new(start: &[u8]) -> Self {
        let mut skipping = Skipping { len: 0, head: Vec::new(), tail: Vec::new() };
        skipping.skip(start);
        skipping
    }

    fn skip(&mut self, bytes: &[u8]) {
        self.len += bytes.len();
        let wanted = KEPT_END.saturating_sub(self.head.len()).min(bytes.len());
        self.head.extend_from_slice(&bytes[..wanted]);
        if bytes.len() >= KEPT_END {
            self.tail.clear();
            self.tail.extend_from_slice(&bytes[bytes.len() - KEPT_END..]);
        } else {
            let keep = (KEPT_END - bytes.len()).min(self.tail.len());
            self.tail.drain(..self.tail.len() - keep);
            self.tail.extend_from_slice(bytes);
        }
    }

    fn frame(self) -> Frame {
        Frame::Oversized { len: self.len, head: self.head, tail: self.tail }
    }
}

/// Reads newline-delimited frames from a buffered reader.
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    max: usize,
    buf: Vec<u8>,
    /// The oversized line being skipped, if one is.
    skipping: Option<Skipping>,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    /// A reader that rejects lines of more than `max` bytes.
    pub fn new(inner: R, max: usize) -> Self {
        Self { inner, max, buf: Vec::new(), skipping: None }
    }

    /// The next frame, or `None` at end of input.
    ///
    /// A final line without a newline is still returned. An oversized line is consumed up to its
    /// newline while holding at most one read buffer of it in memory (and its two ends).
    pub async fn next(&mut self) -> std::io::Result<Option<Frame>> {
        loop {
            let available = self.inner.fill_buf().await?;
            if available.is_empty() {
                if let Some(skipping) = self.skipping.take() {
                    return Ok(Some(skipping.frame()));
                }
                if self.buf.is_empty() {
                    return Ok(None);
                }
                let line = std::mem::take(&mut self.buf);
                // A final `\r` is framing here too, but counted in an oversized line's length.
                if line.len() - usize::from(line.last() == Some(&b'\r')) > self.max {
                    return Ok(Some(Skipping::new(&line).frame()));
                }
                return Ok(Some(Frame::Line(trim_cr(line))));
            }
            match memchr::memchr(b'\n', available) {
                Some(i) => {
                    // A CRLF line ending is framing, not message: its `\r` does not count.
                    let cr = if i > 0 { available[i - 1] == b'\r' } else { self.buf.last() == Some(&b'\r') };
                    let frame = if let Some(mut skipping) = self.skipping.take() {
                        skipping.skip(&available[..i]);
                        skipping.frame()
                    } else if self.buf.len() + i > self.max + usize::from(cr) {
                        let mut skipping = Skipping::new(&self.buf);
                        skipping.skip(&available[..i]);
                        self.buf = Vec::new();
                        skipping.frame()
                    } else {
                        self.buf.extend_from_slice(&available[..i]);
                        Frame::Line(trim_cr(std::mem::take(&mut self.buf)))
                    };
                    self.inner.consume(i + 1);
                    return Ok(Some(frame));
                }
                None => {
                    let n = available.len();
                    if let Some(skipping) = self.skipping.as_mut() {
                        skipping.skip(available);
                    } else if self.buf.len() + n > self.max + 1 {
                        // One byte over may still be the `\r` of a CRLF ending, checked above.
                        let mut skipping = Skipping::new(&self.buf);
                        skipping.skip(available);
                        self.skipping = Some(skipping);
                        self.buf = Vec::new();
                    } else {
                        self.buf.extend_from_slice(available);
                    }
                    self.inner.consume(n);
                }
            }
        }
    }
}

fn trim_cr(mut line: Vec<u8>) -> Vec<u8> {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An oversized frame of `len` bytes, with the ends `input` gives it.
    fn oversized(input: &[u8]) -> Frame {
        let head = input[..input.len().min(KEPT_END)].to_vec();
        let tail = input[input.len().saturating_sub(KEPT_END)..].to_vec();
        Frame::Oversized { len: input.len(), head, tail }
    }

    async fn frames(input: &[u8], max: usize) -> Vec<Frame> {
        // A tiny buffer forces oversized lines to span many reads.
        let reader = tokio::io::BufReader::with_capacity(4, input);
        let mut lines = LineReader::new(reader, max);
        let mut out = Vec::new();
        while let Some(f) = lines.next().await.expect("in-memory reads do not fail") {
            out.push(f);
        }
        out
    }

    #[tokio::test]
    async fn splits_lines_and_keeps_last_unterminated_line() {
        let got = frames(b"a\r\nbc\n\nlast", 10).await;
        assert_eq!(
            got,
            vec![
                Frame::Line(b"a".to_vec()),
                Frame::Line(b"bc".to_vec()),
                Frame::Line(Vec::new()),
                Frame::Line(b"last".to_vec())
            ]
        );
    }

    #[tokio::test]
    async fn oversized_line_is_skipped_and_reading_resumes() {
        let got = frames(b"0123456789ABCDEF\nok\n0123456789ABC", 8).await;
        assert_eq!(got, vec![oversized(b"0123456789ABCDEF"), Frame::Line(b"ok".to_vec()), oversized(b"0123456789ABC")]);
    }

    #[tokio::test]
    async fn a_line_of_exactly_the_limit_passes() {
        let got = frames(b"12345678\n", 8).await;
        assert_eq!(got, vec![Frame::Line(b"12345678".to_vec())]);
    }

    #[tokio::test]
    async fn a_crlf_ending_does_not_count_against_the_limit() {
        // At every split of the line across reads (the buffer holds 4 bytes).
        for prefix in ["", "a\n", "ab\n", "abc\n"] {
            let input = format!("{prefix}12345678\r\n123456789\n12345678\r");
            let got = frames(input.as_bytes(), 8).await;
            let expected_prefix = prefix.strip_suffix('\n').map(|p| Frame::Line(p.as_bytes().to_vec()));
            let expected: Vec<Frame> = expected_prefix
                .into_iter()
                .chain([Frame::Line(b"12345678".to_vec()), oversized(b"123456789"), Frame::Line(b"12345678".to_vec())])
                .collect();
            assert_eq!(got, expected, "{prefix:?}");
        }
        assert_eq!(frames(b"123456789", 8).await, vec![oversized(b"123456789")]);
        assert_eq!(frames(b"123456789\r", 8).await, vec![oversized(b"123456789\r")]);
        assert_eq!(frames(b"12345678\r", 8).await, vec![Frame::Line(b"12345678".to_vec())]);
    }

    #[tokio::test]
    async fn an_oversized_line_keeps_its_two_ends_however_it_is_read() {
        let line: Vec<u8> = (0..5000u32).map(|i| b'a' + (i % 26) as u8).collect();
        for max in [10, 1500, 4999] {
            let mut input = line.clone();
            input.extend_from_slice(b"\r\nnext\n");
            let got = frames(&input, max).await;
            let mut with_cr = line.clone();
            with_cr.push(b'\r');
            assert_eq!(got, vec![oversized(&with_cr), Frame::Line(b"next".to_vec())], "max {max}");
        }
    }
}
