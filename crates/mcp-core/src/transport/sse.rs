//! Server-sent events (`text/event-stream`, as the HTML standard parses it), for every SSE stream
//! the HTTP client reads. The stream is taken as bytes: lines end at LF, CRLF or CR (a CRLF split
//! across two reads is still one line end); `data:` lines gather as bytes and become text only
//! once their event is complete, so a character split across reads arrives whole. Each event is
//! capped: a larger one is skipped without being buffered, and the stream goes on.

use std::time::Duration;

/// One complete event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    /// Its type (`event:`), `message` when it names none.
    pub kind: String,
    /// Its `data:` lines joined with LF, decoded as UTF-8 (invalid bytes as U+FFFD).
    pub data: String,
}

/// What a chunk of the stream completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Item {
    /// An event.
    Event(Event),
    /// An event larger than the limit, skipped.
    TooLarge,
}

/// Room for a field name and its colon beyond the limit on a line still being read.
const FIELD_ROOM: usize = 16;
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The parser of one stream; feed it the body's chunks in order.
#[derive(Debug)]
pub(crate) struct Parser {
    /// The most bytes of data one event may carry.
    limit: usize,
    /// The line being read (kept unless the event is too large).
    line: Vec<u8>,
    /// Bytes of the line being read, kept or not: 0 means it is (so far) empty.
    line_len: usize,
    /// The last byte read was a CR: an LF right after it ends no second line.
    after_cr: bool,
    /// No line has ended yet (a byte order mark may start the stream).
    first_line: bool,
    /// The event's data, each line followed by LF.
    data: Vec<u8>,
    /// The event's type.
    kind: Option<String>,
    /// The event being read went over the limit: the rest of it is skipped.
    too_large: bool,
    /// The last event id buffer, and the last event id of the stream (set when an event ends).
    id_buffer: Option<String>,
    last_id: Option<String>,
    /// The server's reconnection advice.
    retry: Option<Duration>,
}

impl Parser {
    /// A parser for events of at most `limit` bytes of data.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            line: Vec::new(),
            line_len: 0,
            after_cr: false,
            first_line: true,
            data: Vec::new(),
            kind: None,
            too_large: false,
            id_buffer: None,
            last_id: None,
            retry: None,
        }
    }

    /// Reads one chunk; returns the events it completed, in order.
    pub fn feed(&mut self, mut chunk: &[u8]) -> Vec<Item> {
        let mut out = Vec::new();
        while let Some((&first, rest)) = chunk.split_first() {
            if std::mem::take(&mut self.after_cr) && first == b'\n' {
                chunk = rest;
                continue;
            }
            match chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(end) => {
                    self.extend_line(&chunk[..end]);
                    self.after_cr = chunk[end] == b'\r';
                    chunk = &chunk[end + 1..];
                    self.end_line(&mut out);
                }
                None => {
                    self.extend_line(chunk);
                    chunk = &[];
                }
            }
        }
        out
    }

    /// The id of the last complete event that had one (for `Last-Event-ID`).
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_id.as_deref().filter(|id| !id.is_empty())
    }

    /// The reconnection delay the server asked for.
    pub fn retry(&self) -> Option<Duration> {
        self.retry
    }

    fn extend_line(&mut self, bytes: &[u8]) {
        self.line_len += bytes.len();
        if self.too_large {
            return;
        }
        self.line.extend_from_slice(bytes);
        if self.data.len() + self.line.len() > self.limit.saturating_add(FIELD_ROOM) {
            self.skip_event();
        }
    }

    /// Drops what the event gathered; the rest of it is skipped up to its blank line.
    fn skip_event(&mut self) {
        self.too_large = true;
        self.line = Vec::new();
        self.data = Vec::new();
        self.kind = None;
    }

    fn end_line(&mut self, out: &mut Vec<Item>) {
        let line = std::mem::take(&mut self.line);
        let line_len = std::mem::take(&mut self.line_len);
        let first = std::mem::take(&mut self.first_line);
        if self.too_large {
            if line_len == 0 {
                self.too_large = false;
                out.push(Item::TooLarge);
            }
            return;
        }
        let line = if first { line.strip_prefix(BOM).unwrap_or(&line) } else { &line[..] };
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(0) => return, // a comment
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match field {
            b"data" => {
                // The data once its final LF is dropped: at most `limit` bytes.
                if self.data.len() + value.len() > self.limit {
                    self.skip_event();
                } else {
                    self.data.extend_from_slice(value);
                    self.data.push(b'\n');
                }
            }
            b"event" => self.kind = Some(String::from_utf8_lossy(value).into_owned()),
            b"id" if !value.contains(&0) => self.id_buffer = Some(String::from_utf8_lossy(value).into_owned()),
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                self.retry = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok()).map(Duration::from_millis);
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<Item>) {
        self.last_id.clone_from(&self.id_buffer);
        let kind = self.kind.take();
        let mut data = std::mem::take(&mut self.data);
        if data.is_empty() {
            return;
        }
        data.pop();
        let data = String::from_utf8(data).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        out.push(Item::Event(Event { kind: kind.unwrap_or_else(|| "message".to_owned()), data }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(data: &str) -> Item {
        Item::Event(Event { kind: "message".into(), data: data.into() })
    }

    fn all(limit: usize, chunks: &[&[u8]]) -> (Vec<Item>, Option<String>, Option<Duration>) {
        let mut parser = Parser::new(limit);
        let items = chunks.iter().flat_map(|c| parser.feed(c)).collect();
        (items, parser.last_event_id().map(str::to_owned), parser.retry())
    }

    /// Every way of cutting `stream` in two and in three reads gives what one read gives.
    fn same_at_every_split(stream: &[u8], limit: usize) -> Vec<Item> {
        let whole = all(limit, &[stream]);
        for i in 0..=stream.len() {
            let (a, b) = stream.split_at(i);
            assert_eq!(all(limit, &[a, b]), whole, "split at {i}");
            for j in i..=stream.len() {
                let (b, c) = stream[i..].split_at(j - i);
                assert_eq!(all(limit, &[a, b, c]), whole, "split at {i} and {j}");
            }
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(all(limit, &bytes), whole, "one byte at a time");
        whole.0
    }

    #[test]
    fn characters_split_across_reads_arrive_whole() {
        let stream = "id: 7\r\nevent: message\ndata: {\"text\":\"é 日本 🎉\"}\rdata: second é\r\n: a comment, é\n\n\
                      data: 日本\r\n\r\n"
            .as_bytes();
        let items = same_at_every_split(stream, 1024);
        assert_eq!(items, [event("{\"text\":\"é 日本 🎉\"}\nsecond é"), event("日本")]);
        assert_eq!(all(1024, &[stream]).1.as_deref(), Some("7"));
    }

    #[test]
    fn line_ends_are_lf_crlf_or_cr() {
        for stream in ["data: a\n\ndata: b\n\n", "data: a\r\n\r\ndata: b\r\n\r\n", "data: a\r\rdata: b\r\r"] {
            assert_eq!(same_at_every_split(stream.as_bytes(), 64), [event("a"), event("b")], "{stream:?}");
        }
        // A CR ending one read and an LF starting the next are one line end, not a blank line.
        assert_eq!(all(64, &[b"data: a\r", b"\ndata: b\r", b"\n\r\n"]).0, [event("a\nb")]);
    }

    #[test]
    fn fields_follow_the_standard() {
        let stream = b"\xEF\xBB\xBFdata:no space\ndata:  two spaces\ndata\nevent: endpoint\nunknown: x\n\n\
                       id: 1\nretry: 2500\ndata: x\n\n\
                       id: 2\0\nretry: soon\ndata: y\n\n\
                       : keep-alive\n\n\
                       id: 3\n\n\
                       event: lonely\n\n\
                       data: never finished";
        let (items, last_id, retry) = all(1024, &[stream]);
        assert_eq!(
            items,
            [
                Item::Event(Event { kind: "endpoint".into(), data: "no space\n two spaces\n".into() }),
                event("x"),
                event("y"),
            ]
        );
        // An id with NUL is ignored; an event with only an id still sets it; the retry that is
        // not a number is ignored.
        assert_eq!((last_id.as_deref(), retry), (Some("3"), Some(Duration::from_millis(2500))));
        assert_eq!(all(64, &[b"id: 4\ndata: z\n\nid:\n\n"]).1, None, "an empty id resets it");
        assert_eq!(all(64, &[b"data: \xFF\n\n"]).0, [event("\u{FFFD}")]);
    }

    #[test]
    fn an_event_over_the_limit_is_skipped_and_the_stream_goes_on() {
        let limit = 16;
        let fits = "x".repeat(16);
        let over = "y".repeat(17);
        let stream = format!("data: {fits}\n\ndata: {over}\nid: 9\n\ndata: 12345678\ndata: 1234567\n\ndata: ok\n\n");
        assert_eq!(
            same_at_every_split(stream.as_bytes(), limit),
            [event(&fits), Item::TooLarge, event("12345678\n1234567"), event("ok")]
        );
        // Two lines that together go over it.
        let (items, last_id, _) = all(limit, &[b"data: 12345678\ndata: 12345678\n\ndata: ok\n\n"]);
        assert_eq!((items, last_id), (vec![Item::TooLarge, event("ok")], None));

        // A line that never ends is not kept.
        let mut parser = Parser::new(limit);
        assert!(parser.feed(b"data: ").is_empty());
        for _ in 0..1000 {
            assert!(parser.feed(&[b'z'; 1024]).is_empty());
            assert!(parser.line.len() + parser.data.len() <= limit + FIELD_ROOM);
        }
        assert_eq!(parser.feed(b"\n\ndata: after\n\n"), [Item::TooLarge, event("after")]);
    }
}
