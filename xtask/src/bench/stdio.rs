//! A client for servers over stdio that does as little as a client can: pre-built request lines
//! written straight to the pipe, answers read line by line and checked for a `result`. Every
//! server (ours, rmcp's, the pipe floor) is measured by the same client, so the client's own cost
//! is the same on every row.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The handshake era's opening request, which every peer answers.
const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"mcptk-bench","version":"1"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

/// How to start one server.
#[derive(Clone, Debug)]
pub struct Peer {
    pub label: &'static str,
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Working directory (the default gateway keeps its audit log under it).
    pub dir: Option<std::path::PathBuf>,
    /// The tool the calls go to (`echo`, or `builtin__echo` through a gateway).
    pub tool: &'static str,
}

impl Peer {
    pub fn new(label: &'static str, program: impl AsRef<Path>, args: &[&str]) -> Self {
        Peer {
            label,
            program: program.as_ref().display().to_string(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            env: Vec::new(),
            dir: None,
            tool: "echo",
        }
    }

    pub fn tool(mut self, tool: &'static str) -> Self {
        self.tool = tool;
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn dir(mut self, dir: &Path) -> Self {
        self.dir = Some(dir.to_owned());
        self
    }
}

/// One running server and the pipes to it.
pub struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    line: Vec<u8>,
    next_id: u64,
    tool: &'static str,
    label: &'static str,
}

impl Session {
    /// Starts `peer` and completes the handshake; also returns the time from spawn to the
    /// `initialize` answer.
    pub fn start(peer: &Peer) -> Result<(Session, Duration)> {
        let mut command = Command::new(&peer.program);
        command.args(&peer.args).env_remove("MCPTK_KEEP_START_PAGES").envs(peer.env.iter().cloned());
        if let Some(dir) = &peer.dir {
            command.current_dir(dir);
        }
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null());
        let started = Instant::now();
        let mut child = command.spawn().with_context(|| format!("cannot start {} ({})", peer.label, peer.program))?;
        let mut stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::with_capacity(1 << 16, child.stdout.take().expect("piped"));
        stdin.write_all(INITIALIZE.as_bytes())?;
        stdin.write_all(b"\n")?;
        stdin.flush()?;
        let mut session = Session {
            child,
            stdin: Some(stdin),
            stdout,
            line: Vec::with_capacity(1 << 12),
            next_id: 1,
            tool: peer.tool,
            label: peer.label,
        };
        session.answer()?;
        let startup = started.elapsed();
        session.send(INITIALIZED.as_bytes())?;
        Ok((session, startup))
    }

    fn stdin(&mut self) -> &mut ChildStdin {
        self.stdin.as_mut().expect("stdin is back after every pipelined run")
    }

    fn send(&mut self, line: &[u8]) -> Result<()> {
        let stdin = self.stdin();
        stdin.write_all(line)?;
        stdin.write_all(b"\n")?;
        stdin.flush()?;
        Ok(())
    }

    /// Reads the next answer (skipping the server's own notifications and requests) and checks it
    /// is a result; returns its length in bytes.
    fn answer(&mut self) -> Result<usize> {
        loop {
            self.line.clear();
            let n = self.stdout.read_until(b'\n', &mut self.line)?;
            if n == 0 {
                bail!("{} closed its output", self.label);
            }
            let text =
                std::str::from_utf8(&self.line).with_context(|| format!("{} wrote invalid UTF-8", self.label))?;
            if text.contains("\"method\"") {
                continue;
            }
            if !text.contains("\"result\"") || text.contains("\"isError\":true") {
                let shown: String = text.chars().take(300).collect();
                bail!("{} answered with an error: {shown}", self.label);
            }
            return Ok(n);
        }
    }

    /// A `tools/call` of the session's tool with `text`, as one line into `out`.
    fn call_line(&mut self, out: &mut Vec<u8>, tool: &str, text: &str) {
        let id = self.next_id;
        self.next_id += 1;
        write!(
            out,
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{{"text":"{text}"}}}}}}"#
        )
        .expect("writes to a Vec");
        out.push(b'\n');
    }

    /// One call to `tool` with an empty-ish argument, answered; returns the answer's length.
    pub fn call(&mut self, tool: &str, text: &str) -> Result<usize> {
        let mut line = Vec::with_capacity(256);
        self.call_line(&mut line, tool, text);
        let stdin = self.stdin();
        stdin.write_all(&line)?;
        stdin.flush()?;
        self.answer()
    }

    /// A request line of any method, answered; returns the answer's text.
    pub fn request(&mut self, method: &str, params: &str) -> Result<String> {
        let id = self.next_id;
        self.next_id += 1;
        let line = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{params}}}"#);
        self.send(line.as_bytes())?;
        self.answer()?;
        Ok(String::from_utf8_lossy(&self.line).into_owned())
    }

    /// Calls one at a time for `duration`; calls per second.
    pub fn sequential(&mut self, duration: Duration) -> Result<f64> {
        let tool = self.tool;
        let mut line = Vec::with_capacity(256);
        let started = Instant::now();
        let mut calls = 0u64;
        while started.elapsed() < duration {
            for _ in 0..64 {
                line.clear();
                self.call_line(&mut line, tool, "hello");
                let stdin = self.stdin();
                stdin.write_all(&line)?;
                stdin.flush()?;
                self.answer()?;
            }
            calls += 64;
        }
        Ok(calls as f64 / started.elapsed().as_secs_f64())
    }

    /// `calls` calls with at most `window` unanswered at any time; calls per second. A writer
    /// thread sends as many requests as there are free slots in one write; this thread reads.
    pub fn pipelined(&mut self, calls: u64, window: usize) -> Result<f64> {
        let (credit, credits) = mpsc::sync_channel::<()>(window);
        let mut stdin = self.stdin.take().expect("stdin");
        let tool = self.tool;
        let first_id = self.next_id;
        self.next_id += calls;
        let writer = std::thread::spawn(move || -> std::io::Result<ChildStdin> {
            let mut free = window;
            let mut sent = 0u64;
            let mut batch = Vec::with_capacity(window * 160);
            while sent < calls {
                if free == 0 {
                    if credits.recv().is_err() {
                        break;
                    }
                    free += 1;
                }
                while credits.try_recv().is_ok() {
                    free += 1;
                }
                batch.clear();
                while free > 0 && sent < calls {
                    let id = first_id + sent;
                    write!(
                        batch,
                        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{{"text":"hello"}}}}}}"#
                    )?;
                    batch.push(b'\n');
                    sent += 1;
                    free -= 1;
                }
                stdin.write_all(&batch)?;
            }
            stdin.flush()?;
            Ok(stdin)
        });
        let started = Instant::now();
        let mut outcome = Ok(());
        for _ in 0..calls {
            if let Err(e) = self.answer() {
                outcome = Err(e);
                break;
            }
            let _ = credit.send(());
        }
        let elapsed = started.elapsed();
        drop(credit);
        let stdin = writer.join().map_err(|_| anyhow::anyhow!("the writer thread panicked"))?;
        outcome?;
        self.stdin = Some(stdin.with_context(|| format!("writing to {}", self.label))?);
        Ok(calls as f64 / elapsed.as_secs_f64())
    }

    /// Resident memory of the server process.
    pub fn memory(&self) -> Result<Memory> {
        memory(self.child.id())
    }

    /// All resident memory of the server process (`VmRSS`), in bytes.
    pub fn rss(&self) -> Result<f64> {
        Ok(self.memory()?.rss)
    }

    /// Closes the server's input and waits for it to exit (killing it after 5 s).
    pub fn stop(self) {
        self.stop_within(Duration::from_secs(5));
    }

    /// Closes the server's input and waits for it to end, killing it after `limit`.
    pub fn stop_within(mut self, limit: Duration) {
        drop(self.stdin.take());
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A process's resident memory, in bytes: all of it (`VmRSS`), and its anonymous part
/// (`RssAnon`: heap and stacks, without the pages of the binary and libraries it maps).
#[derive(Clone, Copy, Debug)]
pub struct Memory {
    pub rss: f64,
    pub anon: f64,
}

pub fn memory(pid: u32) -> Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> Result<f64> {
        let kib = status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .with_context(|| format!("no {name} in /proc/{pid}/status"))?;
        Ok(kib * 1024.0)
    };
    Ok(Memory { rss: field("VmRSS:")?, anon: field("RssAnon:")? })
}
