//! Relaying a running request's notifications (its progress, above all) to whoever waits for
//! its answer, in order, and then its outcome: the one loop behind the client's progress
//! streams and the HTTP server's SSE answers.

use std::future::Future;

use tokio::sync::mpsc;

/// Runs `work` to its end while handing each message that arrives on `notes` to `forward`.
/// Messages still queued when `work` finishes are forwarded before its output is returned, so
/// nothing said before the answer arrives after it. Returns `None`, dropping `work`, as soon as
/// `forward` returns false or `gone` completes (whoever listened went away).
pub(crate) async fn relay<N, T, F, Fut>(
    notes: &mut mpsc::Receiver<N>,
    work: impl Future<Output = T>,
    gone: impl Future<Output = ()>,
    mut forward: F,
) -> Option<T>
where
    F: FnMut(N) -> Fut,
    Fut: Future<Output = bool>,
{
    tokio::pin!(work);
    tokio::pin!(gone);
    loop {
        tokio::select! {
            biased;
            Some(note) = notes.recv() => {
                if !forward(note).await {
                    return None;
                }
            }
            output = &mut work => {
                while let Ok(note) = notes.try_recv() {
                    if !forward(note).await {
                        return None;
                    }
                }
                return Some(output);
            }
            () = &mut gone => return None,
        }
    }
}
