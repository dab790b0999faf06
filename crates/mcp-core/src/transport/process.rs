//! Servers run as child processes speaking MCP over their stdin and stdout.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{Notify, watch};

use super::connection::CloseReason;
use crate::client::Masking;
use crate::config::StdioServer;
use crate::error::{Error, Result};

/// How many stderr lines are kept to explain an exit.
const STDERR_TAIL_LINES: usize = 20;

/// The longest stderr line kept; the rest of a longer one is dropped (and marked).
const STDERR_LINE_BYTES: usize = 4096;

/// Variables passed through from our environment to every server, as other MCP hosts do; anything
/// else the server needs must be named in its `env`, so secrets are never handed out by accident.
const INHERITED_ENV: &[&str] = &[
    "HOME",
    "LOGNAME",
    "PATH",
    "SHELL",
    "TERM",
    "USER",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "TZ",
    "SYSTEMROOT",
    "APPDATA",
    "USERPROFILE",
];

/// A started server process with its pipes.
pub(crate) struct Spawned {
    pub stdin: ChildStdin,
    pub stdout: ChildStdout,
    pub close_reason: CloseReason,
    pub process: ServerProcess,
}

/// A server's process. It leads a process group of its own, so that what it starts (`npx` starts
/// `node`, a wrapper script its server) ends with it: one task owns the child, reaps it, and then
/// kills whatever is left in the group. That also closes the pipes a leftover held open, which
/// would otherwise hide the server's exit (no end of its stdout) until a call timed out.
/// Dropping it kills the process and its group.
pub(crate) struct ServerProcess {
    exited: watch::Receiver<Option<String>>,
    kill: Arc<Notify>,
}

impl ServerProcess {
    fn start(child: Child) -> Self {
        let (exit_tx, exited) = watch::channel(None);
        let kill = Arc::new(Notify::new());
        tokio::spawn(reap(child, kill.clone(), exit_tx));
        Self { exited, kill }
    }

    /// The exit status as text, once the process has exited; `None` if it is still running
    /// after `within`.
    pub async fn exited_within(&self, within: Duration) -> Option<String> {
        exit_status(self.exited.clone(), within).await
    }

    /// Kills the process and everything in its group; returns at once.
    pub fn kill(&self) {
        self.kill.notify_one();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn exit_status(mut exited: watch::Receiver<Option<String>>, within: Duration) -> Option<String> {
    let status = tokio::time::timeout(within, exited.wait_for(Option::is_some)).await;
    match status {
        Ok(Ok(status)) => status.clone(),
        // The reaping task is gone without a status: the runtime is shutting down.
        Ok(Err(_)) => Some("exit status unknown (no longer watched)".to_owned()),
        Err(_) => None,
    }
}

/// Owns `child` until it exits: kills it and its group when asked (or when dropped with the
/// runtime), and once it has exited kills what it left in its group, then says how it ended.
async fn reap(mut child: Child, kill: Arc<Notify>, exited: watch::Sender<Option<String>>) {
    let mut group = Group::of(&child);
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            () = kill.notified() => {
                group.kill();
                let _ = child.start_kill();
            }
        }
    };
    // The leader is reaped. Its id stays taken while any process of its group lives, so this
    // reaches only them; with none left, the id could be handed out again, but it would take a
    // new process making itself a group leader in this very moment to be hit.
    group.kill();
    group.disarm();
    let status = match status {
        Ok(status) => status.to_string(),
        Err(e) => format!("exit status unknown ({e})"),
    };
    let _ = exited.send(Some(status));
}

/// The process groups of the servers running now: what [`kill_all`] kills.
static RUNNING: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Kills every server process group still running, at once: for an exit that runs no
/// destructors (`std::process::exit`), which would leave them behind (they are in groups of
/// their own, so a terminal's Ctrl-C does not reach them).
pub fn kill_all() {
    let running = std::mem::take(&mut *RUNNING.lock().unwrap_or_else(PoisonError::into_inner));
    for id in running {
        Group(Some(id)).kill();
    }
}

/// A child's process group, killed when dropped unless disarmed.
struct Group(Option<u32>);

impl Group {
    fn of(child: &Child) -> Self {
        if let Some(id) = child.id() {
            RUNNING.lock().unwrap_or_else(PoisonError::into_inner).push(id);
        }
        Self(child.id())
    }

    fn kill(&self) {
        #[cfg(unix)]
        if let Some(pid) = self.0.and_then(|id| rustix::process::Pid::from_raw(id as i32))
            && !pid.is_init()
        {
            // ESRCH (the group is already empty) is the common case and not an error.
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }

    fn disarm(&mut self) {
        if let Some(id) = self.0.take() {
            RUNNING.lock().unwrap_or_else(PoisonError::into_inner).retain(|&running| running != id);
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
        self.disarm();
    }
}

/// Starts `server` as a child process; what it says on stderr goes through `masking`: a server
/// that prints a secret must not get it into our logs or into the error that explains its exit.
pub(crate) fn spawn(name: &str, server: &StdioServer, masking: Masking) -> Result<Spawned> {
    let mut command = Command::new(&server.command);
    command
        .args(&server.args)
        .env_clear()
        .envs(INHERITED_ENV.iter().filter_map(|k| std::env::var_os(k).map(|v| (*k, v))))
        .envs(&server.env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // A group of its own (see `ServerProcess`).
    #[cfg(unix)]
    command.process_group(0);
    if let Some(cwd) = &server.cwd {
        command.current_dir(cwd);
    }
    let mut child = command.spawn().map_err(|source| Error::Spawn {
        server: name.to_owned(),
        command: server.command.clone(),
        source,
    })?;
    let stdin = child.stdin.take().ok_or_else(|| missing_pipe(name, &server.command))?;
    let stdout = child.stdout.take().ok_or_else(|| missing_pipe(name, &server.command))?;
    let stderr = child.stderr.take().ok_or_else(|| missing_pipe(name, &server.command))?;

    let tail = Arc::new(Mutex::new(VecDeque::with_capacity(STDERR_TAIL_LINES)));
    let stderr_task = {
        let tail = tail.clone();
        let name = name.to_owned();
        tokio::spawn(async move {
            let mut lines = StderrLines::new(stderr);
            // Read to the end: a closed pipe would kill a server that writes to it.
            while let Some(line) = lines.next().await {
                let line = masking.text(line);
                tracing::debug!(server = %name, "stderr: {line}");
                let mut tail = tail.lock().unwrap_or_else(PoisonError::into_inner);
                if tail.len() == STDERR_TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        })
    };

    let process = ServerProcess::start(child);
    let close_reason: CloseReason = {
        let exited = process.exited.clone();
        Box::pin(async move {
            // stdout closed: the process is exiting or has exited. Give it a moment, then read
            // whatever it said last on stderr.
            let status = exit_status(exited, Duration::from_secs(2))
                .await
                .unwrap_or_else(|| "closed its stdout but is still running".to_owned());
            let _ = tokio::time::timeout(Duration::from_millis(500), stderr_task).await;
            let tail = tail.lock().unwrap_or_else(PoisonError::into_inner);
            if tail.is_empty() {
                format!("process {status}")
            } else {
                let lines: Vec<&str> = tail.iter().map(String::as_str).collect();
                format!("process {status}; last stderr lines:\n{}", lines.join("\n"))
            }
        })
    };
    Ok(Spawned { stdin, stdout, close_reason, process })
}

/// Lines of a child's stderr: split on `\n`, each at most [`STDERR_LINE_BYTES`] (the rest of a
/// longer line is dropped and the cut marked), bytes that are not UTF-8 shown as U+FFFD.
struct StderrLines<R> {
    reader: R,
    line: Vec<u8>,
    cut: bool,
    pending: VecDeque<String>,
    done: bool,
}

impl<R: AsyncRead + Unpin> StderrLines<R> {
    fn new(reader: R) -> Self {
        Self { reader, line: Vec::new(), cut: false, pending: VecDeque::new(), done: false }
    }

    fn finish_line(&mut self) {
        let mut text = String::from_utf8_lossy(&self.line).trim_end_matches('\r').to_owned();
        if self.cut {
            text.push_str(" [line cut]");
        }
        self.pending.push_back(text);
        self.line.clear();
        self.cut = false;
    }

    /// The next line, or `None` at the end of the stream (or when reading fails).
    async fn next(&mut self) -> Option<String> {
        let mut chunk = [0u8; 8192];
        loop {
            if let Some(line) = self.pending.pop_front() {
                return Some(line);
            }
            if self.done {
                return None;
            }
            match self.reader.read(&mut chunk).await {
                Ok(0) | Err(_) => {
                    self.done = true;
                    if !self.line.is_empty() || self.cut {
                        self.finish_line();
                    }
                }
                Ok(n) => {
                    for &byte in &chunk[..n] {
                        if byte == b'\n' {
                            self.finish_line();
                        } else if self.line.len() < STDERR_LINE_BYTES {
                            self.line.push(byte);
                        } else {
                            self.cut = true;
                        }
                    }
                }
            }
        }
    }
}

fn missing_pipe(name: &str, command: &str) -> Error {
    Error::Spawn {
        server: name.to_owned(),
        command: command.to_owned(),
        source: std::io::Error::other("child pipe not available"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn all(input: &[u8]) -> Vec<String> {
        let mut lines = StderrLines::new(input);
        let mut out = Vec::new();
        while let Some(line) = lines.next().await {
            out.push(line);
        }
        out
    }

    #[tokio::test]
    async fn stderr_lines_survive_bad_bytes_long_lines_and_a_missing_last_newline() {
        let mut input = b"first\r\nbad \xff\xfe bytes\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 3 * STDERR_LINE_BYTES));
        input.extend(b"\nlast without newline");
        let lines = all(&input).await;
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert_eq!(lines[0], "first");
        assert_eq!(lines[1], "bad \u{fffd}\u{fffd} bytes");
        assert_eq!(lines[2].len(), STDERR_LINE_BYTES + " [line cut]".len());
        assert!(lines[2].ends_with(" [line cut]"));
        assert_eq!(lines[3], "last without newline");
    }
}
