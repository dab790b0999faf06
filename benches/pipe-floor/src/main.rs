//! The floor of the stdio benchmarks: for each newline-delimited input line, one fixed answer
//! line with the bytes an `echo` `tools/call` answer has (the first line, `initialize`, gets an
//! initialize-shaped answer; a line without `"id"`, a notification, gets none). No JSON is
//! parsed, so this is as fast as a pipe can carry the same traffic. Output is flushed only when
//! no more input is buffered, so pipelined input is answered in batched writes.
//!
//! `--http ADDR` is the floor of the HTTP benchmarks: each connection on a thread of its own,
//! blocking reads and writes (no event loop between the socket and the answer), and for each
//! request (its head up to the blank line, then `Content-Length` bytes of body) one fixed
//! response with the status line, headers and body of `mcptk serve builtin --http`'s answer to
//! the benchmark's echo call. No HTTP or JSON is parsed beyond finding where a request ends.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;

/// The answer to the first line (`initialize`).
const INITIALIZE_ANSWER: &[u8] = br#"{"jsonrpc":"2.0","id":0,"result":{"capabilities":{"tools":{"listChanged":true}},"protocolVersion":"2025-11-25","serverInfo":{"name":"pipe-floor","version":"0.1.0"}}}"#;
/// The answer to every later request: `mcptk serve builtin`'s answer to an echo of "hello".
const CALL_ANSWER: &[u8] = br#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"text":"hello","type":"text"}]}}"#;

/// The response to every HTTP request: the bytes `mcptk serve builtin --http` answers the echo
/// call of `benches/wrk/echo.lua` with (its `date` header's value is fixed here).
const HTTP_ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 184\r\ndate: Wed, 02 Dec 2026 01:00:00 GMT\r\n\r\n{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"_meta\":{\"io.modelcontextprotocol/serverInfo\":{\"name\":\"mcptk\",\"version\":\"0.1.0\"}},\"content\":[{\"text\":\"hello\",\"type\":\"text\"}],\"resultType\":\"complete\"}}";

/// The largest request head and body taken.
const HTTP_REQUEST_LIMIT: usize = 64 * 1024;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, address] = args.as_slice()
        && flag == "--http"
    {
        return serve_http(address);
    }
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

fn serve_http(address: &str) -> std::io::Result<()> {
    let listener = TcpListener::bind(address)?;
    for stream in listener.incoming() {
        let stream = stream?;
        std::thread::spawn(move || {
            if let Err(e) = http_connection(stream) {
                eprintln!("pipe-floor: a connection failed: {e}");
            }
        });
    }
    Ok(())
}

/// Answers every complete request in what was read with one write, then reads again.
fn http_connection(mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buffer = vec![0u8; HTTP_REQUEST_LIMIT];
    let mut held = 0;
    let mut out = Vec::with_capacity(HTTP_ANSWER.len() * 16);
    loop {
        let mut used = 0;
        while let Some(len) = request_len(&buffer[used..held]) {
            used += len;
            out.extend_from_slice(HTTP_ANSWER);
        }
        if !out.is_empty() {
            stream.write_all(&out)?;
            out.clear();
        }
        buffer.copy_within(used..held, 0);
        held -= used;
        if held == buffer.len() {
            return Err(std::io::Error::other("a request larger than 64 KiB"));
        }
        match stream.read(&mut buffer[held..])? {
            0 => return Ok(()),
            n => held += n,
        }
    }
}

/// The length of the request at the start of `bytes` (head and body), once all of it is there.
fn request_len(bytes: &[u8]) -> Option<usize> {
    let head = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let body = bytes[..head]
        .split(|b| *b == b'\n')
        .filter_map(|line| {
            let (name, value) = line.split_at(line.iter().position(|b| *b == b':')?);
            name.eq_ignore_ascii_case(b"content-length")
                .then(|| std::str::from_utf8(&value[1..]).ok()?.trim().parse::<usize>().ok())?
        })
        .next()
        .unwrap_or(0);
    (bytes.len() >= head + body).then_some(head + body)
}
