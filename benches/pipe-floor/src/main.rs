//! The floor of the stdio benchmarks: for each newline-delimited input line, one fixed answer
//! line with the bytes an `echo` `tools/call` answer has (the first line, `initialize`, gets an
//! initialize-shaped answer; a line without `"id"`, a notification, gets none). No JSON is
//! parsed, so this is as fast as a pipe can carry the same traffic. Output is flushed only when
//! no more input is buffered, so pipelined input is answered in batched writes.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::fd::AsFd;

/// The answer to the first line (`initialize`).
const INITIALIZE_ANSWER: &[u8] = br#"{"jsonrpc":"2.0","id":0,"result":{"capabilities":{"tools":{"listChanged":true}},"protocolVersion":"2025-11-25","serverInfo":{"name":"pipe-floor","version":"0.1.0"}}}"#;
/// The answer to every later request: `mcptk serve builtin`'s answer to an echo of "hello".
const CALL_ANSWER: &[u8] = br#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"text":"hello","type":"text"}]}}"#;

fn main() -> std::io::Result<()> {
    // The raw descriptors, so that only these buffers stand between the pipe and the loop (the
    // standard handles add their own, and stdout's flushes at every newline).
    let mut input = BufReader::with_capacity(64 * 1024, File::from(std::io::stdin().as_fd().try_clone_to_owned()?));
    let mut output = BufWriter::with_capacity(64 * 1024, File::from(std::io::stdout().as_fd().try_clone_to_owned()?));
    let mut line = Vec::with_capacity(4096);
    let mut answered = 0u64;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if is_request(&line) {
            output.write_all(if answered == 0 { INITIALIZE_ANSWER } else { CALL_ANSWER })?;
            output.write_all(b"\n")?;
            answered += 1;
        }
        if input.buffer().is_empty() {
            output.flush()?;
        }
    }
    output.flush()
}

/// A request has an id; a notification has none. A byte search, not a parse.
fn is_request(line: &[u8]) -> bool {
    line.windows(4).any(|w| w == br#""id""#)
}
