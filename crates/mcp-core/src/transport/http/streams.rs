//! A handshake-era session's SSE streams, resumable with `Last-Event-ID`: the session's GET
//! stream of server notifications (stream 0), and the stream of each POST answered with SSE.
//!
//! - Ids: every event of a session has an id unique within it, `TAG-STREAM-EVENT`. `TAG` names
//!   this process's copy of the session (a replica that takes the session up from its sealed id
//!   has another tag, and none of the first copy's events), `STREAM` the stream, and `EVENT`
//!   counts the session's events across all its streams.
//! - Resuming: a GET with `Last-Event-ID` resumes the stream the id names, replaying only that
//!   stream's kept events after it, then following it live; it takes the stream over from the
//!   connection that held it, which ends (the client has said it lost that connection); what
//!   the stream says next goes to the new connection at once, never waiting on the old one's
//!   queue. A POST stream resumed this way ends once its answer is delivered, as the POST's own
//!   would. A GET without `Last-Event-ID` while the session's GET stream is open elsewhere is
//!   refused (409): two such GETs would otherwise displace each other for ever. It takes the
//!   stream over instead when that connection has stopped writing (a peer gone without closing
//!   the connection, or one that does not read): its queue is full, or it has written nothing,
//!   not even a keep-alive comment, for twice the keep-alive period. Only a connection whose
//!   kernel still takes its writes cannot be told from a live one here; TCP ends it once its
//!   retransmissions give up.
//! - Falling behind: a connection that does not keep up with the GET stream (its queue of
//!   [`LIVE_QUEUE`] events is full) is let go: it ends once it has written what is queued, and
//!   its client resumes with `Last-Event-ID`, getting what it missed from the kept events. A POST
//!   stream's request waits for its reader instead (as a call over stdio waits for its pipe).
//! - A POST stream's request runs on when its connection drops (the client cancels with
//!   `notifications/cancelled`, or by ending the session); what it says meanwhile is kept for a
//!   GET that resumes it.
//! - Bounds, per session: the last [`STREAM_EVENTS`] events of each stream (older progress of a
//!   stream is dropped first), [`KEPT_BYTES`] in all (past it the oldest events of any stream go
//!   first, then whole answered streams, oldest first), and an answered stream for at most
//!   [`KEPT_FOR`] after its answer, at most [`STREAM_EVENTS`] of them; and [`KEPT_BYTES_ALL`]
//!   over all sessions (past it a session makes room among its own events, and keeps nothing
//!   more when it has none left). An answer that cannot be kept is still delivered to a
//!   connection reading it, and kept as an error saying it was too large (counted in the bounds
//!   like any event; when even that does not fit, nothing is kept and a resume is refused). A
//!   resume of a stream no longer kept is refused (400), and its client gets no answer from it.
//!   Once a connection has written a POST stream's answer out to the end of its response, the
//!   events before the answer are dropped: only the answer stays, for a client whose connection
//!   died with it still in flight (written means handed to the kernel, not received).
//! - Priming: for clients of `2025-11-25` and later (older ones may not take an event without
//!   data), a POST stream opened before the request has anything to say, and a GET stream opened
//!   afresh, start with an event that has an id and no data, so that a client cut off before the
//!   first message still holds an id to resume with.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::protocol::{ErrorObject, RequestId, Response as RpcResponse};

/// The number of the session's GET stream.
pub(super) const GET_STREAM: u64 = 0;

/// How many events of each stream a session keeps (and how many answered streams).
pub(super) const STREAM_EVENTS: usize = 256;

/// The bytes of events a session keeps for resumption, over all its streams.
pub(super) const KEPT_BYTES: usize = 8 * 1024 * 1024;

/// The bytes of events kept for resumption over all sessions.
pub(super) const KEPT_BYTES_ALL: usize = 256 * 1024 * 1024;

/// How long an answered stream's events are kept after its answer, for a client that lost it.
pub(super) const KEPT_FOR: Duration = Duration::from_secs(5 * 60);

/// Events queued for a connection that has not written them out yet. Past it a POST stream's
/// request waits for its reader (as a call over stdio waits for its pipe); a GET stream's
/// connection is let go, and its client resumes from the kept events.
pub(super) const LIVE_QUEUE: usize = 64;

/// A session's streams and the events kept for resuming them.
pub(super) struct Streams {
    /// This copy of the session, in every event id.
    tag: String,
    /// The last event number given out, across all streams.
    events: u64,
    /// The last POST stream number given out.
    posts: u64,
    /// The bytes of every kept event.
    kept_bytes: usize,
    /// The bytes kept by every session's streams (this one's `kept_bytes` included).
    all: Arc<AtomicUsize>,
    by_number: HashMap<u64, Stream>,
    /// Answered POST streams, oldest answer first.
    answered: VecDeque<u64>,
}

#[derive(Default)]
struct Stream {
    /// The stream's kept events (before its answer), oldest first.
    kept: VecDeque<(u64, Bytes)>,
    /// A POST stream's request.
    request: Option<RequestId>,
    answer: Option<Answered>,
    /// The connection reading the stream now, if any.
    live: Option<Live>,
    /// Bumped each time a connection takes the stream.
    generation: u64,
}

struct Answered {
    event: u64,
    /// The answer as sent, or an error saying it was too large to keep; `None` when not even
    /// that fitted in the bounds.
    frame: Option<Bytes>,
    at: Instant,
    /// The generation of the connection the answer was queued for, if any: once that one has
    /// written it out, the events before it are no longer kept.
    handed: Option<u64>,
}

/// The connection reading a stream.
struct Live {
    generation: u64,
    tx: mpsc::Sender<Bytes>,
    /// Cancelled when this connection lets go of the stream (taken over, released, ended), so
    /// that a send still waiting for room in its queue gives up.
    gone: CancellationToken,
    /// When the connection last took something to write.
    written: Arc<Written>,
}

impl Drop for Live {
    fn drop(&mut self) {
        self.gone.cancel();
    }
}

impl Live {
    fn new(generation: u64) -> (Self, mpsc::Receiver<Bytes>) {
        let (tx, rx) = mpsc::channel(LIVE_QUEUE);
        let live = Self { generation, tx, gone: CancellationToken::new(), written: Arc::new(Written::now()) };
        (live, rx)
    }

    fn connected(&self) -> Connected {
        Connected { generation: self.generation, tx: self.tx.clone(), gone: self.gone.clone() }
    }

    /// True when the connection is gone or has stopped writing: its queue is full, or it has
    /// written nothing for `stale_after` (twice the keep-alive period: a connection that writes
    /// writes at least a keep-alive comment that often).
    fn stalled(&self, stale_after: Option<Duration>) -> bool {
        self.tx.is_closed() || self.tx.capacity() == 0 || stale_after.is_some_and(|d| self.written.elapsed() > d)
    }
}

/// When a connection reading a stream last took something to write (its response body was
/// polled and yielded it), which stops once its peer stops reading and the buffers fill.
pub(super) struct Written(std::sync::Mutex<Instant>);

impl Written {
    fn now() -> Self {
        Self(std::sync::Mutex::new(Instant::now()))
    }

    /// The connection took something to write now.
    pub(super) fn touch(&self) {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
    }

    fn elapsed(&self) -> Duration {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).elapsed()
    }
}

/// The connection of a stream just opened or resumed: the kept events it missed, then what
/// comes live (the channel closes when the stream ends or another connection takes it).
pub(super) struct Opened {
    pub(super) replay: Vec<Bytes>,
    pub(super) live: mpsc::Receiver<Bytes>,
    /// The stream's number, and the connection's generation in it.
    pub(super) stream: u64,
    pub(super) generation: u64,
    /// For the connection to say when it took something to write.
    pub(super) written: Arc<Written>,
}

/// Where to send an event: the connection reading its stream, with its generation (to let it go
/// if it is gone) and the signal that it has been let go (a send to it then stops waiting).
pub(super) struct Connected {
    pub(super) generation: u64,
    pub(super) tx: mpsc::Sender<Bytes>,
    pub(super) gone: CancellationToken,
}

/// Why a GET does not get a stream.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refused {
    /// A GET stream is open already (409).
    Conflict,
    /// `Last-Event-ID` names no stream this session keeps (400).
    Unknown(String),
}

/// Where an event goes once numbered and kept: the connection reading its stream, if any.
pub(super) type Delivery = (Bytes, Option<Connected>);

impl Drop for Streams {
    fn drop(&mut self) {
        self.all.fetch_sub(self.kept_bytes, Ordering::Relaxed);
    }
}

impl Streams {
    /// A session's streams; `all` counts the bytes every session keeps.
    pub(super) fn new(all: Arc<AtomicUsize>) -> Self {
        let mut by_number = HashMap::new();
        by_number.insert(GET_STREAM, Stream::default());
        Self {
            tag: crate::random_id().chars().take(8).collect(),
            events: 0,
            posts: 0,
            kept_bytes: 0,
            all,
            by_number,
            answered: VecDeque::new(),
        }
    }

    fn next_event(&mut self) -> u64 {
        self.events += 1;
        self.events
    }

    fn id(&self, stream: u64, event: u64) -> String {
        format!("{}-{stream}-{event}", self.tag)
    }

    /// One SSE `message` event of `stream`.
    fn frame(&self, stream: u64, event: u64, data: &[u8]) -> Bytes {
        let id = self.id(stream, event);
        let mut frame = Vec::with_capacity(id.len() + data.len() + 32);
        frame.extend_from_slice(b"id: ");
        frame.extend_from_slice(id.as_bytes());
        frame.extend_from_slice(b"\nevent: message\ndata: ");
        frame.extend_from_slice(data);
        frame.extend_from_slice(b"\n\n");
        Bytes::from(frame)
    }

    /// An event with an id and no data: something to resume from.
    fn priming(&mut self, stream: u64) -> Bytes {
        let event = self.next_event();
        Bytes::from(format!("id: {}\ndata: \n\n", self.id(stream, event)))
    }

    /// Opens the stream of a POST answering `request`, read by the POST's own connection.
    pub(super) fn open_post(&mut self, request: RequestId, prime: bool) -> Opened {
        self.posts += 1;
        let number = self.posts;
        let (live, rx) = Live::new(0);
        let replay = if prime { vec![self.priming(number)] } else { Vec::new() };
        let written = live.written.clone();
        let stream = Stream { request: Some(request), live: Some(live), ..Stream::default() };
        self.by_number.insert(number, stream);
        Opened { replay, live: rx, stream: number, generation: 0, written }
    }

    /// Numbers `data` as the next event of `stream` and keeps it.
    pub(super) fn event(&mut self, stream: u64, data: &[u8]) -> Delivery {
        let event = self.next_event();
        let frame = self.frame(stream, event, data);
        self.expire();
        if let Some(s) = self.by_number.get_mut(&stream)
            && s.kept.len() >= STREAM_EVENTS
            && let Some((_, dropped)) = s.kept.pop_front()
        {
            self.forget_bytes(dropped.len());
        }
        if self.make_room(frame.len())
            && let Some(s) = self.by_number.get_mut(&stream)
        {
            s.kept.push_back((event, frame.clone()));
            self.keep_bytes(frame.len());
        }
        (frame.clone(), self.live(stream))
    }

    /// Numbers and keeps `data`, the answer that ends POST stream `stream`.
    pub(super) fn answer(&mut self, stream: u64, data: &[u8]) -> Delivery {
        let event = self.next_event();
        let frame = self.frame(stream, event, data);
        self.expire();
        let kept = if self.make_room(frame.len()) {
            Some(frame.clone())
        } else {
            let id = self.by_number.get(&stream).and_then(|s| s.request.clone()).unwrap_or(RequestId::Number(0));
            let error = ErrorObject::internal(format!(
                "the answer ({} bytes) was too large to keep for resuming its stream (at most {KEPT_BYTES} bytes \
                 per session, {KEPT_BYTES_ALL} in all), and the stream was cut before it was delivered",
                frame.len()
            ));
            // Small, and within the bounds like any event: when even this does not fit, nothing
            // is kept, and a resume is refused.
            let error = self.frame(stream, event, &RpcResponse::answer_bytes(id, Err(error)));
            self.make_room(error.len()).then_some(error)
        };
        if let Some(s) = self.by_number.get_mut(&stream) {
            let len = kept.as_ref().map_or(0, Bytes::len);
            s.answer = Some(Answered { event, frame: kept, at: Instant::now(), handed: None });
            self.keep_bytes(len);
            self.answered.push_back(stream);
        }
        while self.answered.len() > STREAM_EVENTS && self.forget_oldest_answered() {}
        (frame, self.live(stream))
    }

    /// The connection reading `stream` now, if any.
    fn live(&self, stream: u64) -> Option<Connected> {
        Some(self.by_number.get(&stream)?.live.as_ref()?.connected())
    }

    /// The answer of `stream` was queued for its connection of `generation`, which then ends.
    pub(super) fn answer_handed(&mut self, stream: u64, generation: u64) {
        if let Some(answer) = self.by_number.get_mut(&stream).and_then(|s| s.answer.as_mut()) {
            // Unless a resume took the stream over meanwhile, with the answer in its replay.
            answer.handed.get_or_insert(generation);
        }
        self.release(stream, generation);
    }

    /// `stream`'s connection of `generation` has written all it was given (its response ended):
    /// when that included the stream's answer, the events before the answer are dropped (a
    /// resume needs only the answer now).
    pub(super) fn written_out(&mut self, stream: u64, generation: u64) {
        let Some(s) = self.by_number.get_mut(&stream) else { return };
        if s.answer.as_ref().is_some_and(|a| a.handed == Some(generation)) {
            let dropped: usize = std::mem::take(&mut s.kept).iter().map(|(_, f)| f.len()).sum();
            self.forget_bytes(dropped);
        }
    }

    /// Lets go of `stream`'s connection of `generation` (gone, or the stream answered): its
    /// response ends once what is queued for it is written.
    pub(super) fn release(&mut self, stream: u64, generation: u64) {
        if let Some(s) = self.by_number.get_mut(&stream)
            && s.live.as_ref().is_some_and(|l| l.generation == generation)
        {
            s.live = None;
        }
    }

    /// Ends every connection reading one of these streams (the session ends).
    pub(super) fn end(&mut self) {
        for stream in self.by_number.values_mut() {
            stream.live = None;
        }
    }

    /// Ends the GET stream's connection (the server is stopping).
    pub(super) fn close_get(&mut self) {
        if let Some(get) = self.by_number.get_mut(&GET_STREAM) {
            get.live = None;
        }
    }

    /// A GET: the session's GET stream afresh (`last` is `None`), or the stream `last` names,
    /// resumed after it. `prime`: the client takes events without data. `stale_after`: how long
    /// a connection may write nothing before a GET without `last` takes the GET stream from it
    /// (`None`: only once its queue is full or it is gone).
    pub(super) fn open_get(
        &mut self,
        last: Option<&str>,
        prime: bool,
        stale_after: Option<Duration>,
    ) -> Result<Opened, Refused> {
        self.expire();
        let (number, after) = match last {
            None => {
                let held = self.by_number.get(&GET_STREAM).and_then(|s| s.live.as_ref());
                if held.is_some_and(|l| !l.stalled(stale_after)) {
                    return Err(Refused::Conflict);
                }
                if held.is_some_and(|l| !l.tx.is_closed()) {
                    tracing::debug!("a GET takes the session's GET stream over from a connection that stopped writing");
                }
                (GET_STREAM, None)
            }
            Some(id) => match self.parse(id) {
                // The GET stream of another copy of the session: nothing of it is here.
                Some((ours, GET_STREAM, event)) => (GET_STREAM, ours.then_some(event)),
                Some((true, number, event)) if self.by_number.contains_key(&number) => (number, Some(event)),
                Some(_) => {
                    return Err(Refused::Unknown(format!(
                        "the stream of event `{id}` is no longer kept (answered long ago, dropped past the \
                         session's bounds, or held by another server)"
                    )));
                }
                None => return Err(Refused::Unknown(format!("`{id}` is not an event id of this server"))),
            },
        };
        let primed = (prime && after.is_none()).then(|| self.priming(number));
        let Some(stream) = self.by_number.get_mut(&number) else {
            return Err(Refused::Unknown(format!("no stream {number}")));
        };
        let mut replay: Vec<Bytes> = primed.into_iter().collect();
        if let Some(after) = after {
            if stream.answer.as_ref().is_some_and(|a| a.event <= after) {
                return Err(Refused::Unknown(format!("the stream of event `{}` has ended", last.unwrap_or(""))));
            }
            if stream.answer.as_ref().is_some_and(|a| a.frame.is_none()) {
                return Err(Refused::Unknown(format!(
                    "the answer of the stream of event `{}` was too large to keep for resuming it",
                    last.unwrap_or("")
                )));
            }
            replay.extend(stream.kept.iter().filter(|(event, _)| *event > after).map(|(_, frame)| frame.clone()));
            replay.extend(stream.answer.as_ref().and_then(|a| a.frame.clone()));
        }
        stream.generation += 1;
        let generation = stream.generation;
        let (live, rx) = Live::new(generation);
        let written = live.written.clone();
        // The connection that held it, if any, ends (a send waiting on it gives up); an answered
        // stream ends after the replay, which hands its answer to this connection.
        match stream.answer.as_mut() {
            None => stream.live = Some(live),
            Some(answer) => {
                stream.live = None;
                answer.handed = Some(generation);
            }
        }
        Ok(Opened { replay, live: rx, stream: number, generation, written })
    }

    /// An event id of ours: whether it is of this copy, its stream and its event number.
    fn parse(&self, id: &str) -> Option<(bool, u64, u64)> {
        let mut parts = id.trim().split('-');
        let (tag, stream, event) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        Some((tag == self.tag, stream.parse().ok()?, event.parse().ok()?))
    }

    /// Forgets answered streams past [`KEPT_FOR`].
    fn expire(&mut self) {
        while let Some(&oldest) = self.answered.front() {
            let expired =
                self.by_number.get(&oldest).and_then(|s| s.answer.as_ref()).is_none_or(|a| a.at.elapsed() > KEPT_FOR);
            if !expired {
                break;
            }
            self.forget_oldest_answered();
        }
    }

    /// Forgets the answered stream answered first; false when there is none.
    fn forget_oldest_answered(&mut self) -> bool {
        let Some(oldest) = self.answered.pop_front() else { return false };
        if let Some(stream) = self.by_number.remove(&oldest) {
            let answer = stream.answer.and_then(|a| a.frame).map_or(0, |f| f.len());
            self.forget_bytes(answer + stream.kept.iter().map(|(_, f)| f.len()).sum::<usize>());
        }
        true
    }

    fn keep_bytes(&mut self, len: usize) {
        self.kept_bytes += len;
        self.all.fetch_add(len, Ordering::Relaxed);
    }

    fn forget_bytes(&mut self, len: usize) {
        self.kept_bytes -= len;
        self.all.fetch_sub(len, Ordering::Relaxed);
    }

    /// True when `len` more bytes fit under both bounds.
    fn fits(&self, len: usize) -> bool {
        self.kept_bytes + len <= KEPT_BYTES && self.all.load(Ordering::Relaxed) + len <= KEPT_BYTES_ALL
    }

    /// Drops this session's kept events until `len` more bytes fit under [`KEPT_BYTES`] and
    /// [`KEPT_BYTES_ALL`]: the oldest events before any answer first, then answered streams,
    /// oldest first. False, with nothing dropped, when they would not fit even so.
    fn make_room(&mut self, len: usize) -> bool {
        let others = self.all.load(Ordering::Relaxed).saturating_sub(self.kept_bytes);
        if len > KEPT_BYTES || others + len > KEPT_BYTES_ALL {
            return false;
        }
        while !self.fits(len) {
            let oldest = self
                .by_number
                .iter()
                .filter_map(|(number, s)| s.kept.front().map(|(event, _)| (*event, *number)))
                .min()
                .map(|(_, number)| number);
            if let Some(number) = oldest
                && let Some(s) = self.by_number.get_mut(&number)
                && let Some((_, dropped)) = s.kept.pop_front()
            {
                self.forget_bytes(dropped.len());
                continue;
            }
            if !self.forget_oldest_answered() {
                return false;
            }
        }
        true
    }

    #[cfg(test)]
    pub(super) fn kept_bytes(&self) -> usize {
        self.kept_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The id in an SSE frame.
    fn id_of(frame: &Bytes) -> String {
        let text = String::from_utf8_lossy(frame);
        text.lines().find_map(|l| l.strip_prefix("id: ")).expect("an id").to_owned()
    }

    /// What a resume after `last` gets, as text.
    fn replayed(streams: &mut Streams, last: &str) -> Vec<String> {
        let opened = streams.open_get(Some(last), true, None).expect("resumable");
        opened.replay.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect()
    }

    /// Past [`STREAM_EVENTS`] a stream's oldest events go first, and past [`KEPT_BYTES`] the
    /// oldest events of any stream, while the answer stays; an answer too large to keep is kept
    /// as an error that names the request and the limit; at most [`STREAM_EVENTS`] answered
    /// streams are kept, the oldest forgotten first.
    #[test]
    fn kept_events_stay_within_their_bounds() {
        let all = Arc::new(AtomicUsize::new(0));
        let mut streams = Streams::new(all.clone());
        let call = streams.open_post(RequestId::Number(9), false).stream;
        let first = id_of(&streams.event(call, b"{\"n\":0}").0);
        for n in 1..300 {
            streams.event(call, format!("{{\"n\":{n}}}").as_bytes());
        }
        streams.answer(call, b"{\"answer\":true}");
        let replay = replayed(&mut streams, &first);
        assert_eq!(replay.len(), STREAM_EVENTS + 1, "the last events and the answer");
        assert!(replay[0].contains("{\"n\":44}"), "{}", replay[0]);
        assert!(replay[STREAM_EVENTS].contains("answer"));

        // A flood on the GET stream pushes out the oldest events, never past the byte bound, and
        // the answered call's answer stays.
        let big = vec![b'x'; 256 * 1024];
        for _ in 0..64 {
            streams.event(GET_STREAM, &big);
            assert!(streams.kept_bytes() <= KEPT_BYTES);
        }
        let replay = replayed(&mut streams, &first);
        assert_eq!(replay.len(), 1, "only the answer is left: {}", replay.len());
        assert!(replay[0].contains("answer"));

        // An answer larger than the bound is delivered as it is, kept as an error.
        let huge = streams.open_post(RequestId::Number(10), true).stream;
        let before = id_of(&streams.event(huge, b"{}").0);
        let (sent, _) = streams.answer(huge, &vec![b'y'; KEPT_BYTES + 1]);
        assert!(sent.len() > KEPT_BYTES);
        let replay = replayed(&mut streams, &before);
        assert_eq!(replay.len(), 1);
        assert!(replay[0].contains("\"id\":10") && replay[0].contains(&KEPT_BYTES.to_string()), "{}", replay[0]);
        assert!(streams.kept_bytes() <= KEPT_BYTES);

        // Answered streams beyond the count are forgotten, oldest first.
        let mut answered = Vec::new();
        for n in 0..STREAM_EVENTS as i64 + 1 {
            let stream = streams.open_post(RequestId::Number(100 + n), false).stream;
            answered.push(id_of(&streams.event(stream, b"{}").0));
            streams.answer(stream, b"{}");
        }
        assert!(matches!(streams.open_get(Some(&answered[0]), true, None), Err(Refused::Unknown(_))));
        assert!(streams.open_get(Some(&answered[1]), true, None).is_ok());
        // And a stream whose answer the client has already had is over.
        let last = {
            let stream = streams.open_post(RequestId::Number(1000), false).stream;
            id_of(&streams.answer(stream, b"{}").0)
        };
        assert!(matches!(streams.open_get(Some(&last), true, None), Err(Refused::Unknown(_))));
        assert_eq!(all.load(Ordering::Relaxed), streams.kept_bytes(), "the count over all sessions");
    }

    /// Past [`KEPT_BYTES_ALL`] over all sessions, a session makes room among its own events, and
    /// keeps no more once it has none: its answer is kept as an error saying so, while the
    /// connection reading it gets the answer. A session's bytes leave the count when it goes.
    #[test]
    fn kept_events_stay_within_the_bound_over_all_sessions() {
        let all = Arc::new(AtomicUsize::new(KEPT_BYTES_ALL - 4096));
        let mut streams = Streams::new(all.clone());
        let call = streams.open_post(RequestId::Number(3), false).stream;
        let first = id_of(&streams.event(call, &[b'p'; 3000]).0);
        streams.event(call, &[b'q'; 3000]);
        assert!(all.load(Ordering::Relaxed) <= KEPT_BYTES_ALL);
        let (sent, _) = streams.answer(call, &[b'a'; 5000]);
        assert!(sent.len() > 5000, "the answer goes out whole");
        let replay = replayed(&mut streams, &first);
        assert_eq!(replay.len(), 2, "the second event and the answer: {replay:?}");
        assert!(replay[0].contains("qqq"));
        assert!(replay[1].contains("too large to keep") && replay[1].contains("\"id\":3"), "{}", replay[1]);
        drop(streams);
        assert_eq!(all.load(Ordering::Relaxed), KEPT_BYTES_ALL - 4096);
    }

    /// The error kept for an answer too large to keep counts in the bound over all sessions
    /// like any event: with no room even for it, nothing is kept (the bound holds), and a resume
    /// is refused, saying why.
    #[test]
    fn the_error_kept_for_a_lost_answer_stays_within_the_bound_over_all_sessions() {
        let all = Arc::new(AtomicUsize::new(KEPT_BYTES_ALL - 100));
        let mut streams = Streams::new(all.clone());
        let call = streams.open_post(RequestId::Number(4), true).stream;
        let first = id_of(&streams.event(call, b"{}").0);
        let (sent, _) = streams.answer(call, &[b'a'; 5000]);
        assert!(sent.len() > 5000, "the answer goes out whole");
        assert!(all.load(Ordering::Relaxed) <= KEPT_BYTES_ALL, "kept past the bound over all sessions");
        assert_eq!(all.load(Ordering::Relaxed), KEPT_BYTES_ALL - 100 + streams.kept_bytes());
        match streams.open_get(Some(&first), true, None) {
            Err(Refused::Unknown(why)) => assert!(why.contains("too large"), "{why}"),
            Err(other) => panic!("{other:?}"),
            Ok(opened) => panic!("resumed with {:?}", opened.replay),
        }
    }
}
