//! The bounded queue from the log's writer to a mirror of the log (the SQL sink). The writer
//! never waits for the mirror: a batch that does not fit is dropped from the queue and noted, and
//! the mirror copies it from the file, which stays the source of truth.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::record::AuditRecord;

/// No record dropped.
const NONE: u64 = u64::MAX;

/// The sending side, for [`AuditOptions::mirror`](crate::AuditOptions::mirror). Holds at most
/// its capacity in records: a batch is queued only if there is room for all of it, and that room
/// is given back when the mirror drops the batch.
#[derive(Debug, Clone)]
pub struct Mirror {
    sender: mpsc::UnboundedSender<MirrorBatch>,
    room: Arc<Semaphore>,
    capacity: usize,
    dropped_from: Arc<AtomicU64>,
}

/// The receiving side: batches in order, and where to catch up from when some were dropped.
#[derive(Debug)]
pub struct MirrorReceiver {
    receiver: mpsc::UnboundedReceiver<MirrorBatch>,
    dropped_from: Arc<AtomicU64>,
}

/// Durable records for the mirror; their room in the queue is freed when this is dropped.
#[derive(Debug)]
pub struct MirrorBatch {
    /// The records, in sequence.
    pub records: Vec<AuditRecord>,
    /// Their lines exactly as written to the file, one after another, each ending in a newline:
    /// what their hashes cover, so that a copy of them verifies as the file does.
    pub lines: Vec<u8>,
    _room: OwnedSemaphorePermit,
}

impl Mirror {
    /// A queue that holds at most `capacity` records (at least one batch's worth is sensible:
    /// see [`AuditOptions::max_batch`](crate::AuditOptions::max_batch)).
    pub fn bounded(capacity: usize) -> (Mirror, MirrorReceiver) {
        let capacity = capacity.min(Semaphore::MAX_PERMITS);
        let (sender, receiver) = mpsc::unbounded_channel();
        let dropped_from = Arc::new(AtomicU64::new(NONE));
        let room = Arc::new(Semaphore::new(capacity));
        (
            Mirror { sender, room, capacity, dropped_from: dropped_from.clone() },
            MirrorReceiver { receiver, dropped_from },
        )
    }

    /// Queues a durable batch, or drops it if the queue is full; never waits.
    pub(crate) fn send(&self, records: Vec<AuditRecord>, lines: Vec<u8>) {
        let Some(first) = records.first().map(|r| r.seq) else { return };
        let room = u32::try_from(records.len()).ok().and_then(|n| self.room.clone().try_acquire_many_owned(n).ok());
        match room {
            // A mirror that has gone away has nothing to catch up.
            Some(room) => drop(self.sender.send(MirrorBatch { records, lines, _room: room })),
            None => {
                if self.dropped_from.fetch_min(first, Ordering::AcqRel) == NONE {
                    tracing::warn!(
                        capacity = self.capacity,
                        from = first,
                        "the audit mirror is behind; records it has no room for are left to copy from the log file"
                    );
                }
            }
        }
    }

    /// Records queued that the mirror has not yet finished with.
    pub fn queued(&self) -> usize {
        self.capacity - self.room.available_permits()
    }
}

impl MirrorReceiver {
    /// The next batch; `None` once the log has closed.
    pub async fn recv(&mut self) -> Option<MirrorBatch> {
        self.receiver.recv().await
    }

    /// The next batch if one is queued.
    pub fn try_recv(&mut self) -> Option<MirrorBatch> {
        self.receiver.try_recv().ok()
    }

    /// The lowest sequence number dropped for want of room since the last call: the mirror must
    /// copy the file's records from there.
    pub fn take_dropped(&self) -> Option<u64> {
        let from = self.dropped_from.swap(NONE, Ordering::AcqRel);
        (from != NONE).then_some(from)
    }
}
