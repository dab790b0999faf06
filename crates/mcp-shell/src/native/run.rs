//! Running one checked command: its own process group, capped output streamed as progress, a
//! timeout (and cancellation) that kills the whole group.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use super::policy::Policy;
use crate::{Error, ExecOutput, Result};

/// How much output one progress notification carries at most.
const PROGRESS_CHUNK: usize = 4096;

/// Where output goes while the command runs.
pub(crate) trait OutputSink: Send + Sync {
    /// A chunk of stdout (`is_stderr` false) or stderr, and the bytes seen so far in all.
    fn chunk(&self, is_stderr: bool, text: &str, seen: u64) -> impl std::future::Future<Output = ()> + Send;
}

/// One checked command, ready to run.
pub(crate) struct Job<'a> {
    /// The resolved absolute program.
    pub program: &'a Path,
    /// The program's name and its arguments.
    pub argv: &'a [String],
    /// The confined working directory.
    pub directory: &'a Path,
    /// Text for standard input.
    pub stdin: Option<&'a str>,
    /// When to kill it.
    pub timeout: Duration,
}

/// Runs a job: `program` with `argv[1..]` in `directory`.
pub(crate) async fn run(
    policy: &Policy,
    job: Job<'_>,
    cancel: &mcp_core::CancellationToken,
    sink: &impl OutputSink,
) -> Result<ExecOutput> {
    let Job { program, argv, directory, stdin, timeout } = job;
    let shown = argv.first().cloned().unwrap_or_default();
    let mut command = Command::new(program);
    command
        .args(policy.arguments(argv))
        .current_dir(directory)
        .env_clear()
        .envs(policy.environment())
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A group of its own, so a timeout can kill everything the command started.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|source| Error::Io { command: shown.clone(), source })?;
    let group = child.id().map(|id| Pid::from_raw(id as i32));

    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let input = input.to_owned();
        // Written concurrently so a command that does not read its input cannot block us.
        tokio::spawn(async move {
            let _ = pipe.write_all(input.as_bytes()).await;
        });
    }
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(Error::Io { command: shown, source: std::io::Error::other("child pipes not available") });
    };
    let cap = policy.config.max_output_bytes;
    let seen = std::sync::atomic::AtomicU64::new(0);
    // Kept outside the reading futures, so what a command printed before its timeout survives.
    let (out, err) = (Captured::default(), Captured::default());
    let collect = async {
        tokio::join!(capture(stdout, cap, false, sink, &seen, &out), capture(stderr, cap, true, sink, &seen, &err))
    };
    let finished = tokio::select! {
        ((), ()) = collect => Some(child.wait().await.map_err(|source| Error::Io { command: shown.clone(), source })?),
        () = tokio::time::sleep(timeout) => None,
        () = cancel.cancelled() => None,
    };
    // Done or not, the command may have left children in its group: end them all.
    if let Some(group) = group {
        let _ = killpg(group, Signal::SIGKILL);
    }
    if finished.is_none() {
        let _ = child.wait().await;
    }
    let (stdout, stdout_truncated) = out.take();
    let (stderr, stderr_truncated) = err.take();
    Ok(ExecOutput {
        exit_code: finished.and_then(|status| status.code()),
        stdout,
        stderr,
        stdout_truncated,
        stderr_truncated,
        timed_out: finished.is_none() && !cancel.is_cancelled(),
    })
}

/// The bytes kept of one stream, and whether some were dropped.
#[derive(Default)]
struct Captured(std::sync::Mutex<(Vec<u8>, bool)>);

impl Captured {
    fn take(&self) -> (String, bool) {
        let mut guard = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (kept, truncated) = std::mem::take(&mut *guard);
        (String::from_utf8_lossy(&kept).into_owned(), truncated)
    }
}

/// Reads a pipe to its end, keeping at most `cap` bytes and reporting chunks as they come.
async fn capture(
    mut pipe: impl AsyncRead + Unpin,
    cap: usize,
    is_stderr: bool,
    sink: &impl OutputSink,
    seen: &std::sync::atomic::AtomicU64,
    into: &Captured,
) {
    let mut buffer = vec![0u8; PROGRESS_CHUNK];
    loop {
        let n = match pipe.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let total = seen.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed) + n as u64;
        let take = {
            let mut guard = into.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let (kept, truncated) = &mut *guard;
            let take = cap.saturating_sub(kept.len()).min(n);
            kept.extend_from_slice(&buffer[..take]);
            *truncated |= take < n;
            take
        };
        if take > 0 {
            sink.chunk(is_stderr, &String::from_utf8_lossy(&buffer[..take]), total).await;
        }
    }
}
