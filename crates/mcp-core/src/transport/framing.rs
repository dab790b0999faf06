//! Newline-delimited framing with a size limit that never buffers an oversized line.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// Default limit for one message: 16 MiB, enough for large tool results.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// One unit read off the wire.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A complete line, without its terminator (`\n` or `\r\n`).
    Line(Vec<u8>),
    /// A line longer than the limit; its bytes were skipped, not kept.
    Oversized {
        /// How many bytes the line had (at least the limit).
        len: usize,
    },
}

/// Reads newline-delimited frames from a buffered reader.
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    max: usize,
    buf: Vec<u8>,
    /// Length of the oversized line being skipped, if one is.
    skipping: Option<usize>,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    /// A reader that rejects lines of more than `max` bytes.
    pub fn new(inner: R, max: usize) -> Self {
        Self { inner, max, buf: Vec::new(), skipping: None }
    }

    /// The next frame, or `None` at end of input.
    ///
    /// A final line without a newline is still returned. An oversized line is consumed up to its
    /// newline while holding at most one read buffer of it in memory.
    pub async fn next(&mut self) -> std::io::Result<Option<Frame>> {
        loop {
            let available = self.inner.fill_buf().await?;
            if available.is_empty() {
                if let Some(len) = self.skipping.take() {
                    return Ok(Some(Frame::Oversized { len }));
                }
                if self.buf.is_empty() {
                    return Ok(None);
                }
                let len = self.buf.len();
                let line = trim_cr(std::mem::take(&mut self.buf));
                if line.len() > self.max {
                    return Ok(Some(Frame::Oversized { len }));
                }
                return Ok(Some(Frame::Line(line)));
            }
            match memchr::memchr(b'\n', available) {
                Some(i) => {
                    // A CRLF line ending is framing, not message: its `\r` does not count.
                    let cr = if i > 0 { available[i - 1] == b'\r' } else { self.buf.last() == Some(&b'\r') };
                    let frame = if let Some(len) = self.skipping.take() {
                        Frame::Oversized { len: len + i }
                    } else if self.buf.len() + i > self.max + usize::from(cr) {
                        let len = self.buf.len() + i;
                        self.buf.clear();
                        Frame::Oversized { len }
                    } else {
                        self.buf.extend_from_slice(&available[..i]);
                        Frame::Line(trim_cr(std::mem::take(&mut self.buf)))
                    };
                    self.inner.consume(i + 1);
                    return Ok(Some(frame));
                }
                None => {
                    let n = available.len();
                    if let Some(len) = self.skipping.as_mut() {
                        *len += n;
                    } else if self.buf.len() + n > self.max + 1 {
                        // One byte over may still be the `\r` of a CRLF ending, checked above.
                        self.skipping = Some(self.buf.len() + n);
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
        assert_eq!(got, vec![Frame::Oversized { len: 16 }, Frame::Line(b"ok".to_vec()), Frame::Oversized { len: 13 }]);
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
                .chain([
                    Frame::Line(b"12345678".to_vec()),
                    Frame::Oversized { len: 9 },
                    Frame::Line(b"12345678".to_vec()),
                ])
                .collect();
            assert_eq!(got, expected, "{prefix:?}");
        }
        assert_eq!(frames(b"123456789", 8).await, vec![Frame::Oversized { len: 9 }]);
    }
}
