//! Transports: newline-delimited framing, the JSON-RPC engine, child processes.

pub(crate) mod connection;
pub mod framing;
#[cfg(feature = "http-server")]
pub mod http;
#[cfg(feature = "http-client")]
pub(crate) mod http_client;
#[cfg(feature = "http-client")]
pub mod oauth;
#[cfg(feature = "http-client")]
pub use http_client::install_crypto_provider;
#[cfg(feature = "stdio")]
pub(crate) mod process;
pub(crate) mod relay;
#[cfg(feature = "http-client")]
pub(crate) mod sse;
#[cfg(feature = "stdio")]
pub(crate) mod stdio;

pub use framing::DEFAULT_MAX_MESSAGE_BYTES;

thread_local! {
    static SERVES_ONE_PEER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the current thread's single-threaded runtime answers one peer, as
/// [`Server::serve_stdio`](crate::Server::serve_stdio) marks it while it serves: work that
/// blocks the thread briefly then holds up only that peer's other requests. False unless
/// marked: a thread may serve many connections (a Streamable HTTP serving thread, an
/// embedder's own server), where blocking holds up every one of them.
pub fn thread_serves_one_peer() -> bool {
    SERVES_ONE_PEER.get()
}

/// Marks the current thread as answering one peer (see [`thread_serves_one_peer`]) until the
/// guard is dropped, when it runs a single-threaded runtime (on any other thread, a task may
/// move between threads: nothing is marked).
pub fn serving_one_peer() -> ServingOnePeer {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let single = Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::CurrentThread);
    ServingOnePeer { previous: single.then(|| SERVES_ONE_PEER.replace(true)) }
}

/// Keeps the mark of [`serving_one_peer`]; puts back what was there when dropped.
#[derive(Debug)]
#[must_use = "the thread is marked only while the guard lives"]
pub struct ServingOnePeer {
    previous: Option<bool>,
}

impl Drop for ServingOnePeer {
    fn drop(&mut self) {
        if let Some(previous) = self.previous {
            SERVES_ONE_PEER.set(previous);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serving_one_peer_marks_a_single_threaded_runtime_until_the_guard_goes() {
        assert!(!thread_serves_one_peer(), "unmarked by default");
        {
            let _outer = serving_one_peer();
            assert!(thread_serves_one_peer());
            drop(serving_one_peer());
            assert!(thread_serves_one_peer(), "an inner guard puts back the outer mark");
        }
        assert!(!thread_serves_one_peer(), "the mark goes with the guard");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_multi_thread_runtime_is_never_marked() {
        let _guard = serving_one_peer();
        assert!(!thread_serves_one_peer(), "a task may move between the workers");
    }
}
