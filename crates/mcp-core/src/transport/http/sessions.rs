//! The handshake era's sessions: opened by `initialize`, bound to the principal that opened
//! them, capped (the one idle the longest ended first), expired when idle, each with its SSE
//! streams (`streams`). A session is idle only while it runs no request and has no SSE stream
//! open: its idle time counts from when the last of them ended.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::output::rpc_error;
use super::sealed::{self, Refused, SealedSession};
use super::streams::{Delivery, Streams};
use super::{App, SESSION_HEADER};
use crate::protocol::{ErrorObject, Implementation, ProtocolVersion, RequestId};
use crate::server::Connection;
use crate::transport::connection::Peer;

/// The handshake-era sessions, by id.
#[derive(Default)]
pub(super) struct Sessions {
    pub(super) by_id: HashMap<String, Arc<Session>>,
    /// Sealed ids ended with DELETE here, so that this process does not take them up again.
    ended: HashMap<String, Instant>,
    /// When expired sessions were last swept out.
    swept: Option<Instant>,
}

impl Sessions {
    /// Drops sessions idle longer than `ttl` (at most once a second: lookups stay O(1)).
    fn sweep(&mut self, ttl: Duration) {
        if self.swept.is_some_and(|at| at.elapsed() < Duration::from_secs(1)) {
            return;
        }
        self.swept = Some(Instant::now());
        self.by_id.retain(|_, s| s.idle() < ttl);
    }

    /// Removes a session and ends it (its requests are cancelled, its streams end); false if
    /// there was none.
    fn remove(&mut self, id: &str) -> bool {
        self.by_id.remove(id).map(|session| session.end()).is_some()
    }

    /// Ends a session (its requests are cancelled, its streams end); a sealed id is remembered
    /// as ended for as long as it could be opened.
    pub(super) fn end(&mut self, id: &str, lifetime: Duration, max: usize) -> bool {
        let held = self.remove(id);
        if id.starts_with(sealed::PREFIX) {
            self.ended.retain(|_, at| at.elapsed() < lifetime);
            if self.ended.len() >= max.max(1) {
                // Bounded: the oldest tombstone goes first.
                let oldest = self.ended.iter().min_by_key(|(_, at)| **at).map(|(id, _)| id.clone());
                if let Some(oldest) = oldest {
                    self.ended.remove(&oldest);
                }
            }
            self.ended.insert(id.to_owned(), Instant::now());
        }
        held
    }

    /// Adds a session, ending the one idle the longest when `max` are open already.
    pub(super) fn insert(&mut self, id: String, session: Arc<Session>, ttl: Duration, max: usize) {
        self.sweep(ttl);
        while self.by_id.len() >= max.max(1) {
            let oldest = self.by_id.iter().max_by_key(|(_, s)| s.idle()).map(|(id, _)| id.clone());
            let Some(oldest) = oldest else { break };
            tracing::info!("the session limit is reached; ending the session idle the longest");
            self.remove(&oldest);
        }
        self.by_id.insert(id, session);
    }

    /// Every session open now.
    pub(super) fn all(&self) -> Vec<Arc<Session>> {
        self.by_id.values().cloned().collect()
    }
}

pub(super) struct Session {
    /// Who opened it: only the same principal may use it.
    principal: Arc<str>,
    pub(super) connection: Arc<Connection>,
    /// Peers of requests being handled, which may be waiting for the client's answers.
    pub(super) peers: Mutex<Vec<Peer>>,
    /// Requests from the client being handled, for `notifications/cancelled`.
    pub(super) in_flight: Mutex<HashMap<RequestId, CancellationToken>>,
    /// When the session was last used: a request came, or the last request or stream ended.
    last_used: Mutex<Instant>,
    /// Requests running and SSE streams open: while any is, the session is not idle.
    busy: AtomicUsize,
    /// Its SSE streams and the events kept for resuming them.
    streams: Mutex<Streams>,
}

/// A request running or an SSE stream open in a session: the session is not idle while this
/// lives, and its idle time counts from when this is dropped.
pub(super) struct Activity(Arc<Session>);

impl Drop for Activity {
    fn drop(&mut self) {
        *self.0.last_used.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Session {
    /// A session for `principal`, its requests handled by `connection`; `kept` counts the bytes
    /// every session keeps for resuming streams.
    pub(super) fn new(principal: Arc<str>, connection: Arc<Connection>, kept: Arc<AtomicUsize>) -> Self {
        Self {
            principal,
            connection,
            peers: Mutex::default(),
            in_flight: Mutex::default(),
            last_used: Mutex::new(Instant::now()),
            busy: AtomicUsize::new(0),
            streams: Mutex::new(Streams::new(kept)),
        }
    }

    /// How long the session has been idle: zero while it runs a request or has a stream open.
    fn idle(&self) -> Duration {
        if self.busy.load(Ordering::Acquire) > 0 {
            return Duration::ZERO;
        }
        self.last_used.lock().unwrap_or_else(PoisonError::into_inner).elapsed()
    }

    /// Marks the session busy until the returned guard is dropped.
    pub(super) fn activity(self: &Arc<Self>) -> Activity {
        self.busy.fetch_add(1, Ordering::AcqRel);
        Activity(self.clone())
    }

    pub(super) fn streams(&self) -> MutexGuard<'_, Streams> {
        self.streams.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// True when the client takes SSE events without data (`2025-11-25` and later), so streams
    /// can be primed with an event id before their first message.
    pub(super) fn primes(&self) -> bool {
        self.connection.version().is_some_and(|v| v >= ProtocolVersion::V2025_11_25)
    }

    /// Sends a notification on the GET stream and keeps it for resumption. A connection that
    /// does not keep up (its queue is full) is let go: it ends once it has written what is
    /// queued, and its client resumes with `Last-Event-ID`, getting this event and what follows
    /// from the kept ones.
    pub(super) fn push(&self, data: &[u8]) {
        let mut streams = self.streams();
        let (frame, live) = streams.event(super::streams::GET_STREAM, data);
        if let Some(live) = live
            && let Err(e) = live.tx.try_send(frame)
        {
            if matches!(e, mpsc::error::TrySendError::Full(_)) {
                tracing::debug!("a session's GET stream fell behind; its connection ends, to be resumed");
            }
            streams.release(super::streams::GET_STREAM, live.generation);
        }
    }

    /// Sends a message of POST stream `stream` to the connection reading it, if any, and keeps
    /// it for resumption; waits while that connection's queue is full, until another connection
    /// takes the stream over.
    pub(super) async fn emit(&self, stream: u64, data: &[u8]) {
        let delivery = self.streams().event(stream, data);
        self.deliver(stream, delivery).await;
    }

    /// Sends and keeps the answer of POST stream `stream`, which ends the stream.
    pub(super) async fn answer(&self, stream: u64, data: &[u8]) {
        let delivery = self.streams().answer(stream, data);
        let generation = delivery.1.as_ref().map(|live| live.generation);
        let handed = self.deliver(stream, delivery).await;
        if let Some(generation) = generation {
            let mut streams = self.streams();
            if handed {
                streams.answer_handed(stream, generation);
            } else {
                streams.release(stream, generation);
            }
        }
    }

    /// Queues `frame` for the connection reading `stream`, if any, waiting for room until that
    /// connection lets go of the stream (another takes it over: it had the event kept for
    /// its replay); true once queued.
    async fn deliver(&self, stream: u64, (frame, live): Delivery) -> bool {
        let Some(live) = live else { return false };
        tokio::select! {
            biased;
            sent = live.tx.send(frame) => {
                if sent.is_err() {
                    // The connection is gone: what comes next is kept for a GET that resumes.
                    self.streams().release(stream, live.generation);
                }
                sent.is_ok()
            }
            () = live.gone.cancelled() => false,
        }
    }

    /// Ends the session: its requests are cancelled and its streams end.
    fn end(&self) {
        for token in self.in_flight.lock().unwrap_or_else(PoisonError::into_inner).values() {
            token.cancel();
        }
        self.streams().end();
    }
}

impl App {
    /// The session the request names, if it exists and `principal` opened it.
    pub(super) fn session(&self, headers: &HeaderMap, principal: &str) -> Result<Arc<Session>, Box<Response>> {
        let Some(id) = headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok()) else {
            return Err(Box::new(rpc_error(
                StatusCode::BAD_REQUEST,
                None,
                ErrorObject::invalid_request("missing Mcp-Session-Id header; send initialize first"),
            )));
        };
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        let ttl = self.options.session_ttl;
        sessions.sweep(ttl);
        let found = match sessions.by_id.get(id) {
            Some(session) if session.idle() < ttl => Some(session.clone()),
            _ => None,
        };
        drop(sessions);
        let session = match found {
            Some(session) => session,
            None => self.resume(id)?,
        };
        if *session.principal != *principal {
            tracing::warn!(%principal, "refused a session opened by another principal");
            return Err(Box::new(rpc_error(
                StatusCode::FORBIDDEN,
                None,
                ErrorObject::invalid_request("this session was opened by another principal"),
            )));
        }
        *session.last_used.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
        Ok(session)
    }

    /// A sealed id for `session`, once its `initialize` succeeded, when keys are configured.
    pub(super) fn seal(&self, session: &Session) -> Option<String> {
        let keys = self.options.session_keys.as_ref()?;
        let (version, client, capabilities) = session.connection.handshake()?;
        let state = SealedSession {
            principal: session.principal.to_string(),
            version: version.as_str().to_owned(),
            client: Implementation::clone(&client),
            capabilities,
            issued: sealed::now_secs(),
        };
        let id = keys.seal(&state);
        if id.is_none() {
            tracing::warn!("the session's state is too large to seal; it stays on this replica");
        }
        id
    }

    /// Takes up a session this process does not hold from its sealed id (another replica opened
    /// it, or this one before a restart); 404 when the id is unknown, forged or expired.
    fn resume(&self, id: &str) -> Result<Arc<Session>, Box<Response>> {
        let gone = |why: &str| {
            Box::new(rpc_error(StatusCode::NOT_FOUND, None, ErrorObject::invalid_request(format!("{why} session"))))
        };
        let Some(keys) = &self.options.session_keys else { return Err(gone("unknown or expired")) };
        let state = match keys.open(id, self.options.session_lifetime) {
            Ok(state) => state,
            Err(Refused::NotSealed) => return Err(gone("unknown or expired")),
            Err(Refused::Expired) => return Err(gone("expired")),
            Err(refused) => {
                tracing::warn!(?refused, "refused a session id that does not open with our keys");
                return Err(gone("unknown"));
            }
        };
        let Some(version) = ProtocolVersion::parse(&state.version) else { return Err(gone("unknown")) };
        let principal: Arc<str> = Arc::from(state.principal.as_str());
        let connection = self.server.connection(principal.clone());
        connection.resume(version, state.client, state.capabilities);
        let session = Arc::new(Session::new(principal, connection, self.kept.clone()));
        tracing::info!("took up a session from its sealed id");
        let (ttl, max) = (self.options.session_ttl, self.options.max_sessions);
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        if sessions.ended.contains_key(id) {
            return Err(gone("ended"));
        }
        // Two requests of one session may race here: both get the one kept.
        let kept = sessions.by_id.get(id).cloned();
        Ok(kept.unwrap_or_else(|| {
            sessions.insert(id.to_owned(), session.clone(), ttl, max);
            session
        }))
    }
}

/// A new session id: 128 random bits.
pub(super) fn new_session_id() -> String {
    crate::random_id()
}
