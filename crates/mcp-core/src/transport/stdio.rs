//! The process's own stdin and stdout, for serving.
//!
//! Tokio's `stdin()` and `stdout()` do every read and write on its blocking thread pool: two
//! thread hand-offs per message. When stdin or stdout is a pipe or a socket (what an MCP host
//! gives its servers), it is switched to non-blocking mode and driven by the runtime's reactor
//! instead, so reading, answering and writing stay on the runtime's own thread. Terminals and
//! regular files are never switched (a terminal's mode is shared with the user's shell, and
//! regular files are always "ready"); they, and a stdout shared with stderr (whose writers do not
//! expect `WouldBlock`), keep tokio's blocking path. A pipe is reopened through procfs where it
//! can be, so the descriptions shared with the parent keep their flags even if this process is
//! killed; a socket's original flags are put back when its stream is dropped.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The server's input: stdin, non-blocking when it can be.
#[derive(Debug)]
pub(crate) enum Input {
    #[cfg(unix)]
    Async(unix::NonBlocking),
    Blocking(tokio::io::Stdin),
}

/// The server's output: stdout, non-blocking when it can be.
#[derive(Debug)]
pub(crate) enum Output {
    #[cfg(unix)]
    Async(unix::NonBlocking),
    Blocking(tokio::io::Stdout),
}

/// Stdin and stdout for serving (must be called inside the runtime).
pub(crate) fn streams() -> (Input, Output) {
    #[cfg(unix)]
    {
        let (input, output) = unix::stdio();
        let input = input.map_or_else(|| Input::Blocking(tokio::io::stdin()), Input::Async);
        let output = output.map_or_else(|| Output::Blocking(tokio::io::stdout()), Output::Async);
        (input, output)
    }
    #[cfg(not(unix))]
    {
        (Input::Blocking(tokio::io::stdin()), Output::Blocking(tokio::io::stdout()))
    }
}

impl AsyncRead for Input {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            #[cfg(unix)]
            Input::Async(fd) => fd.poll_read(cx, buf),
            Input::Blocking(stdin) => Pin::new(stdin).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Output {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            #[cfg(unix)]
            Output::Async(fd) => fd.poll_write(cx, buf),
            Output::Blocking(stdout) => Pin::new(stdout).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            #[cfg(unix)]
            Output::Async(_) => Poll::Ready(Ok(())),
            Output::Blocking(stdout) => Pin::new(stdout).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            #[cfg(unix)]
            Output::Async(_) => Poll::Ready(Ok(())),
            Output::Blocking(stdout) => Pin::new(stdout).poll_shutdown(cx),
        }
    }
}

impl Output {
    /// Resolves once the output's reader is gone, for a pipe or socket (`None` for the others,
    /// which cannot tell before a write fails).
    pub(crate) fn closed(&self) -> Option<super::connection::OutputClosed> {
        match self {
            #[cfg(unix)]
            Output::Async(fd) => fd.closed(),
            Output::Blocking(_) => None,
        }
    }
}

#[cfg(unix)]
pub(crate) mod unix {
    use std::fs::File;
    use std::io;
    use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
    use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use rustix::fs::OFlags;
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
    use tokio::net::unix::pipe;

    /// Which way a stream goes.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Direction {
        Read,
        Write,
    }

    /// A pipe or socket in non-blocking mode, registered with the runtime's reactor. A pipe is
    /// reopened where the system allows it, so the switch is private to this process; otherwise
    /// it holds its own duplicate of the descriptor and restores the flags it found when dropped.
    #[derive(Debug)]
    pub(crate) struct NonBlocking {
        io: Io,
        /// The shared file status flags before the switch, when they were switched.
        restore: Option<OFlags>,
    }

    /// A second registration of stdout, which only watches for its reader to go.
    enum Watch {
        Pipe(pipe::Sender),
        Socket(tokio::net::UnixStream),
    }

    #[derive(Debug)]
    enum Io {
        PipeIn(pipe::Receiver),
        PipeOut(pipe::Sender),
        Socket(tokio::net::UnixStream),
    }

    /// Non-blocking stdin and stdout, each when it is a pipe or socket; see the module's docs.
    pub(super) fn stdio() -> (Option<NonBlocking>, Option<NonBlocking>) {
        let (stdin, stdout, stderr) = (io::stdin(), io::stdout(), io::stderr());
        let id = |fd: BorrowedFd<'_>| fd.try_clone_to_owned().map(File::from).and_then(|f| f.metadata()).ok();
        let (in_id, out_id, err_id) = (id(stdin.as_fd()), id(stdout.as_fd()), id(stderr.as_fd()));
        let same = |a: &Option<std::fs::Metadata>, b: &Option<std::fs::Metadata>| match (a, b) {
            (Some(a), Some(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        };
        // One socket as both stdin and stdout shares one set of flags between the two streams:
        // restoring them when the input ends would make the output block. Keep both blocking.
        if same(&in_id, &out_id) {
            return (None, None);
        }
        let input = NonBlocking::new(stdin.as_fd(), Direction::Read);
        let output = if same(&out_id, &err_id) { None } else { NonBlocking::new(stdout.as_fd(), Direction::Write) };
        (input, output)
    }

    impl NonBlocking {
        /// Switches a pipe or socket to non-blocking mode and registers it (must be called inside
        /// the runtime); `None` for any other kind of file, or when that fails (nothing is
        /// changed then).
        pub(crate) fn new(fd: BorrowedFd<'_>, direction: Direction) -> Option<Self> {
            let file = File::from(fd.try_clone_to_owned().ok()?);
            let kind = file.metadata().ok()?.file_type();
            let (file, restore) = match kind.is_fifo().then(|| reopen(fd, direction)).flatten() {
                Some(private) => (private, None),
                None => {
                    let flags = rustix::fs::fcntl_getfl(&file).ok()?;
                    (file, Some(flags))
                }
            };
            let io = if kind.is_fifo() {
                match direction {
                    Direction::Read => pipe::Receiver::from_file(file).map(Io::PipeIn),
                    Direction::Write => pipe::Sender::from_file(file).map(Io::PipeOut),
                }
            } else if kind.is_socket() {
                let stream = std::os::unix::net::UnixStream::from(OwnedFd::from(file));
                stream.set_nonblocking(true).and_then(|()| tokio::net::UnixStream::from_std(stream)).map(Io::Socket)
            } else {
                return None;
            };
            match io {
                Ok(io) => Some(Self { io, restore }),
                Err(e) => {
                    tracing::debug!(error = %e, "stdio stays on blocking reads and writes");
                    // The duplicate is gone with the error; the flags live on through `fd`.
                    if let Some(flags) = restore {
                        let _ = rustix::fs::fcntl_setfl(fd, flags);
                    }
                    None
                }
            }
        }

        pub(super) fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
            match &mut self.io {
                Io::PipeIn(pipe) => Pin::new(pipe).poll_read(cx, buf),
                Io::Socket(socket) => Pin::new(socket).poll_read(cx, buf),
                Io::PipeOut(_) => Poll::Ready(Err(io::Error::other("stdout is not read from"))),
            }
        }

        pub(super) fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            match &mut self.io {
                Io::PipeOut(pipe) => Pin::new(pipe).poll_write(cx, buf),
                Io::Socket(socket) => Pin::new(socket).poll_write(cx, buf),
                Io::PipeIn(_) => Poll::Ready(Err(io::Error::other("stdin is not written to"))),
            }
        }

        /// Resolves once the reader of this pipe or socket is gone. It watches a duplicate of
        /// the descriptor, registered on its own: the kernel marks a pipe's writing end in error
        /// when its last reader closes (a socket's, hung up), and tells every registration. On a
        /// pipe the watch wakes only on such changes (a pipe that was full having room again, for
        /// one); on a socket (libuv's hosts give their children socket pairs) the kernel reports
        /// room again each time the peer reads, so the watch also wakes once per answer read: a
        /// task poll and no system call, the event arriving in the same `epoll_wait` as the next
        /// request (`strace -c`: one `epoll_wait` per sequential call over socket pairs, as over
        /// pipes, at the same calls/s).
        pub(super) fn closed(&self) -> Option<crate::transport::connection::OutputClosed> {
            use tokio::io::Interest;
            let watch = match &self.io {
                Io::PipeOut(pipe) => {
                    Watch::Pipe(pipe::Sender::from_owned_fd(pipe.as_fd().try_clone_to_owned().ok()?).ok()?)
                }
                Io::Socket(socket) => {
                    let dup = std::os::unix::net::UnixStream::from(socket.as_fd().try_clone_to_owned().ok()?);
                    Watch::Socket(tokio::net::UnixStream::from_std(dup).ok()?)
                }
                Io::PipeIn(_) => return None,
            };
            Some(Box::pin(async move {
                loop {
                    let ready = match &watch {
                        Watch::Pipe(pipe) => pipe.ready(Interest::WRITABLE).await,
                        Watch::Socket(socket) => socket.ready(Interest::WRITABLE).await,
                    };
                    match ready {
                        Ok(ready) if ready.is_write_closed() => return,
                        Ok(_) => {
                            // Writable and still read: wait for the next change. This watch
                            // never writes, so only its own registration's readiness is cleared.
                            let again = || Err::<(), _>(io::Error::from(io::ErrorKind::WouldBlock));
                            let _ = match &watch {
                                Watch::Pipe(pipe) => pipe.try_io(again),
                                Watch::Socket(socket) => socket.try_io(Interest::WRITABLE, again),
                            };
                        }
                        Err(_) => return std::future::pending().await,
                    }
                }
            }))
        }

        fn fd(&self) -> BorrowedFd<'_> {
            match &self.io {
                Io::PipeIn(pipe) => pipe.as_fd(),
                Io::PipeOut(pipe) => pipe.as_fd(),
                Io::Socket(socket) => socket.as_fd(),
            }
        }
    }

    impl Drop for NonBlocking {
        fn drop(&mut self) {
            if let Some(flags) = self.restore {
                let _ = rustix::fs::fcntl_setfl(self.fd(), flags);
            }
        }
    }

    /// The same pipe through an open file description of this process's own (on Linux, opening
    /// `/proc/self/fd/N` makes one), already non-blocking. The description behind stdin and
    /// stdout is shared with the parent and whoever else inherited it: switching that one would
    /// leave it non-blocking for them if this process were killed before it could switch back.
    /// `None` where this cannot be done (no procfs; a pipe whose other end is gone).
    fn reopen(fd: BorrowedFd<'_>, direction: Direction) -> Option<File> {
        use std::os::fd::AsRawFd as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        if !cfg!(target_os = "linux") {
            return None;
        }
        let mut options = std::fs::OpenOptions::new();
        match direction {
            Direction::Read => options.read(true),
            Direction::Write => options.write(true),
        };
        let nonblocking = i32::try_from(OFlags::NONBLOCK.bits()).ok()?;
        options.custom_flags(nonblocking).open(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::io::{BufRead as _, Write as _};
    use std::os::fd::AsFd;
    use std::time::Duration;

    use rustix::fs::OFlags;
    use tokio::io::BufReader;

    use super::unix::{Direction, NonBlocking};
    use super::{Input, Output};
    use crate::protocol::Implementation;
    use crate::transport::framing::{Frame, LineReader};
    use crate::{Registry, Server};

    fn input(reader: &std::io::PipeReader) -> Input {
        Input::Async(NonBlocking::new(reader.as_fd(), Direction::Read).expect("a pipe is switched"))
    }

    /// Every frame of a pipe's input, written by `write` on a thread of its own.
    async fn frames(max: usize, write: impl FnOnce(std::io::PipeWriter) + Send + 'static) -> Vec<Frame> {
        let (reader, writer) = std::io::pipe().expect("pipe");
        let mut lines = LineReader::new(BufReader::with_capacity(4096, input(&reader)), max);
        drop(reader);
        let writing = std::thread::spawn(move || write(writer));
        let mut out = Vec::new();
        while let Some(frame) = lines.next().await.expect("reads") {
            out.push(frame);
        }
        writing.join().expect("writer");
        out
    }

    fn line(text: &str) -> Frame {
        Frame::Line(text.as_bytes().to_vec())
    }

    #[tokio::test]
    async fn a_line_split_across_reads_is_put_back_together() {
        let got = frames(1024, |mut w| {
            for part in [&b"{\"a\":"[..], b"1}\nsec", b"ond\r", b"\n"] {
                w.write_all(part).expect("write");
                std::thread::sleep(Duration::from_millis(20));
            }
        })
        .await;
        assert_eq!(got, vec![line("{\"a\":1}"), line("second")]);
    }

    #[tokio::test]
    async fn many_lines_in_one_read_come_out_one_by_one() {
        let got = frames(1024, |mut w| {
            let all: String = (0..2000).map(|i| format!("{{\"id\":{i}}}\n")).collect();
            w.write_all(all.as_bytes()).expect("write");
        })
        .await;
        assert_eq!(got.len(), 2000);
        assert_eq!(got[1999], line("{\"id\":1999}"));
    }

    #[tokio::test]
    async fn an_oversized_line_is_skipped_and_reading_resumes() {
        let got = frames(1024, |mut w| {
            w.write_all(&vec![b'x'; 200_000]).expect("write");
            w.write_all(b"\nok\n").expect("write");
        })
        .await;
        assert!(matches!(&got[0], Frame::Oversized { len: 200_000, .. }), "{:?}", got.first().map(|_| ()));
        assert_eq!(got[1..], [line("ok")]);
    }

    #[tokio::test]
    async fn the_end_of_input_mid_line_still_yields_the_line() {
        let got = frames(1024, |mut w| w.write_all(b"first\npartial").expect("write")).await;
        assert_eq!(got, vec![line("first"), line("partial")]);
    }

    #[tokio::test]
    async fn shared_flags_are_never_left_switched_and_files_are_never_switched() {
        use tokio::io::AsyncReadExt as _;
        let flags = |fd: std::os::fd::BorrowedFd<'_>| rustix::fs::fcntl_getfl(fd).expect("flags");

        // A pipe: on Linux it is reopened, so the description shared with the parent is never
        // switched at all; elsewhere it is switched and put back.
        let (reader, mut writer) = std::io::pipe().expect("pipe");
        let before = flags(reader.as_fd());
        assert!(!before.contains(OFlags::NONBLOCK));
        let mut switched = input(&reader);
        assert_eq!(flags(reader.as_fd()).contains(OFlags::NONBLOCK), !cfg!(target_os = "linux"));
        writer.write_all(b"through the reactor").expect("write");
        let mut got = [0u8; 19];
        switched.read_exact(&mut got).await.expect("reads");
        assert_eq!(&got, b"through the reactor");
        drop(switched);
        assert_eq!(flags(reader.as_fd()), before);

        // A socket is switched, and put back when the stream is dropped.
        let (socket, _peer) = std::os::unix::net::UnixStream::pair().expect("socket pair");
        let before = flags(socket.as_fd());
        let switched = NonBlocking::new(socket.as_fd(), Direction::Read).expect("a socket is switched");
        assert!(flags(socket.as_fd()).contains(OFlags::NONBLOCK));
        drop(switched);
        assert_eq!(flags(socket.as_fd()), before);

        let file = std::fs::File::open(env!("CARGO_MANIFEST_DIR").to_owned() + "/Cargo.toml").expect("opens");
        assert!(NonBlocking::new(file.as_fd(), Direction::Read).is_none());
        assert!(!flags(file.as_fd()).contains(OFlags::NONBLOCK));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_that_never_reads_is_no_longer_read_from() {
        let server = Server::builder(Implementation::new("bounded", "1"), Registry::new()).max_in_flight(8).build();
        let (server_in, mut client_out) = std::io::pipe().expect("pipe");
        let (client_in, server_out) = std::io::pipe().expect("pipe");
        let output = Output::Async(NonBlocking::new(server_out.as_fd(), Direction::Write).expect("switched"));
        let serving = tokio::spawn({
            let input = input(&server_in);
            async move { server.serve(input, output).await }
        });
        drop((server_in, server_out));
        // 50,000 pipelined pings (about 2.5 MB): without backpressure the server would read them
        // all and hold every answer in memory.
        const REQUESTS: usize = 50_000;
        let mut lines = br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#.to_vec();
        lines.push(b'\n');
        for id in 1..=REQUESTS {
            lines.extend_from_slice(format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"ping\"}}\n").as_bytes());
        }
        let writer = std::thread::spawn(move || {
            client_out.write_all(&lines).expect("writes");
        });
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(!writer.is_finished(), "the server must stop reading a client that does not read its answers");

        // Once the client reads, every request is answered.
        let answered = tokio::task::spawn_blocking(move || {
            let mut answers = std::io::BufReader::new(client_in).lines();
            let mut answered = 0;
            while answered <= REQUESTS {
                let answer = answers.next().expect("an answer").expect("reads");
                assert!(answer.contains("\"result\""), "{answer}");
                answered += 1;
            }
            answered
        });
        let answered = tokio::time::timeout(Duration::from_secs(60), answered).await.expect("in time").expect("reader");
        assert_eq!(answered, REQUESTS + 1);
        writer.join().expect("the writer finishes once answers are read");
        tokio::time::timeout(Duration::from_secs(30), serving)
            .await
            .expect("the server ends with its input")
            .expect("task")
            .expect("serves");
    }
}
