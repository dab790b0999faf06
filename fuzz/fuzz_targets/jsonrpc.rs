//! Newline framing and JSON-RPC decoding of arbitrary bytes.
//!
//! - The framing yields exactly what splitting the input on `\n` gives (a trailing `\r` dropped,
//!   a final unterminated line kept), with every line over the limit (not counting a trailing
//!   `\r`) reported as oversized, with its length and its first and last `KEPT_END` bytes, and
//!   never returned, whatever the read buffer's size.
//! - Decoding never panics; a refusal is -32700 exactly when the line is not JSON, else -32600.
//! - A decoded message encodes to one line that decodes to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_core::protocol::{Message, codes};
use mcp_core::transport::framing::{Frame, KEPT_END, LineReader};

/// What the framing must produce: the input split on `\n`, by an independent, obvious method.
fn reference(input: &[u8], max: usize) -> Vec<Frame> {
    let mut pieces: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    // After a final newline (or for empty input) the last piece is empty and is no line.
    if pieces.last().is_some_and(|p| p.is_empty()) {
        pieces.pop();
    }
    pieces
        .into_iter()
        .map(|piece| {
            // A CRLF ending's `\r` is framing: it does not count against the limit.
            let line = piece.strip_suffix(b"\r").unwrap_or(piece);
            if line.len() <= max {
                return Frame::Line(line.to_vec());
            }
            // An oversized line keeps its two ends, its `\r` counted.
            let head = piece[..piece.len().min(KEPT_END)].to_vec();
            let tail = piece[piece.len().saturating_sub(KEPT_END)..].to_vec();
            Frame::Oversized { len: piece.len(), head, tail }
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&config, input)) = data.split_first() else { return };
    // The limit and the read buffer vary, so oversized lines span reads of every size.
    let max = [1, 8, 64, 4096][usize::from(config & 3)];
    let capacity = [1, 3, 16, 8192][usize::from((config >> 2) & 3)];
    let frames = mcptk_fuzz::runtime().block_on(async {
        let mut lines = LineReader::new(tokio::io::BufReader::with_capacity(capacity, input), max);
        let mut frames = Vec::new();
        while let Some(frame) = lines.next().await.expect("in-memory reads do not fail") {
            frames.push(frame);
        }
        frames
    });
    assert_eq!(frames, reference(input, max), "framing of {input:?} with limit {max}");

    // Decoding, of each line and of the whole input (longer than the framing's limit).
    let lines = frames.iter().filter_map(|f| match f {
        Frame::Line(line) => Some(line.as_slice()),
        Frame::Oversized { .. } => None,
    });
    for line in lines.chain(std::iter::once(input)) {
        match Message::parse(line) {
            Ok(message) => {
                let bytes = message.to_bytes();
                assert!(!bytes.contains(&b'\n'), "an encoded message is one line: {bytes:?}");
                let again =
                    Message::parse(&bytes).unwrap_or_else(|r| panic!("re-encoded {message:?} is refused: {r:?}"));
                assert_eq!(again, message, "round trip of {}", String::from_utf8_lossy(line));
                assert_eq!(again.to_bytes(), bytes, "encoding is stable");
            }
            Err(rejected) => {
                let json = serde_json::from_slice::<serde_json::Value>(line).is_ok();
                let expected = if json { codes::INVALID_REQUEST } else { codes::PARSE_ERROR };
                assert_eq!(rejected.error.code, expected, "refusal of {}", String::from_utf8_lossy(line));
            }
        }
    }
});
