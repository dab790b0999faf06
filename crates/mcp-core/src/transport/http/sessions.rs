//! The handshake era's sessions: opened by `initialize`, bound to the principal that opened
//! them, capped (the one idle the longest ended first), expired when idle, each with its GET
//! stream of server notifications and the recent events kept for `Last-Event-ID`.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::output::rpc_error;
use super::sealed::{self, Refused, SealedSession};
use super::{App, SESSION_HEADER};
use crate::protocol::{ErrorObject, Implementation, ProtocolVersion, RequestId};
use crate::server::Connection;
use crate::transport::connection::Peer;

/// How many server-to-client events a session keeps for resumption.
const REPLAY_EVENTS: usize = 256;

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

    /// Ends a session; a sealed id is remembered as ended for as long as it could be opened.
    pub(super) fn end(&mut self, id: &str, lifetime: Duration, max: usize) -> bool {
        let held = self.by_id.remove(id).is_some();
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
            self.by_id.remove(&oldest);
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
    last_used: Mutex<Instant>,
    /// The open GET stream, if any.
    pub(super) stream: Mutex<Option<mpsc::Sender<(u64, String)>>>,
    /// Recent events of the GET stream, for `Last-Event-ID`.
    history: Mutex<VecDeque<(u64, String)>>,
    next_event: AtomicU64,
}

impl Session {
    /// A session for `principal`, its requests handled by `connection`.
    pub(super) fn new(principal: Arc<str>, connection: Arc<Connection>) -> Self {
        Self {
            principal,
            connection,
            peers: Mutex::default(),
            in_flight: Mutex::default(),
            last_used: Mutex::new(Instant::now()),
            stream: Mutex::new(None),
            history: Mutex::default(),
            next_event: AtomicU64::new(0),
        }
    }

    fn idle(&self) -> Duration {
        self.last_used.lock().unwrap_or_else(PoisonError::into_inner).elapsed()
    }

    /// Sends an event on the GET stream (when one is open) and keeps it for resumption.
    pub(super) fn push(&self, data: String) {
        let id = self.next_event.fetch_add(1, Ordering::Relaxed) + 1;
        {
            let mut history = self.history.lock().unwrap_or_else(PoisonError::into_inner);
            if history.len() == REPLAY_EVENTS {
                history.pop_front();
            }
            history.push_back((id, data.clone()));
        }
        if let Some(tx) = self.stream.lock().unwrap_or_else(PoisonError::into_inner).as_ref() {
            let _ = tx.try_send((id, data));
        }
    }

    /// The kept events after `last`, for a stream that resumes.
    pub(super) fn events_after(&self, last: u64) -> Vec<(u64, String)> {
        self.history
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(id, _)| *id > last)
            .cloned()
            .collect()
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
        let session = Arc::new(Session::new(principal, connection));
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
