//! A configured server kept running: started, watched, and restarted with backoff when it exits;
//! its calls fail cleanly while it is down, and its tool list is refreshed on `list_changed`.
//! The gateway and the agent loop both reach remote servers through it.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::{RwLock, mpsc, oneshot};

use crate::pipeline::{CallError, CallKind, ToolCall};
use crate::protocol::{
    CallToolResult, Era, ErrorObject, Implementation, LoggingMessageParams, Prompt, Resource, ResourceTemplate, Tool,
    methods,
};
use crate::{CallEvent, CallTool, Client, ClientOptions, EraPreference, Error, McpConfig, ToolContext};

/// When a server is restarted: after it exits, or once it stops answering `ping`; and how long
/// to wait before starting it again (doubling from `initial` up to `max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restart {
    /// The first wait.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
    /// How often a running server is pinged (`None`: never): when no call is in flight, or when
    /// the last two calls ended unanswered. A server that is up but answers nothing (a
    /// deadlock, a full pipe on its side) fails every call at its timeout and would never be
    /// restarted otherwise. An answer to a call counts as one to a ping.
    pub ping_every: Option<Duration>,
    /// How long a ping may take.
    pub ping_timeout: Duration,
    /// Pings in a row left unanswered before the server is restarted.
    pub ping_misses: u32,
}

impl Default for Restart {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            ping_every: Some(Duration::from_secs(30)),
            ping_timeout: Duration::from_secs(10),
            ping_misses: 2,
        }
    }
}

enum State {
    Starting,
    Up(Arc<Client>),
    Down { reason: String, retry_at: Instant },
}

/// When a list fresh for `ttl` is asked for again: not sooner than a second (a server saying
/// `0` is not asked in a loop); never, without a time to live (it announces changes itself).
fn relist_after(ttl: Option<Duration>) -> Duration {
    ttl.map_or(YEAR, |ttl| ttl.max(Duration::from_secs(1)))
}

/// How long a server may take to list its prompts, resources or templates: a server that
/// leaves one of those lists unanswered is not held back from serving its tools for it.
const CATALOG_PATIENCE: Duration = Duration::from_secs(10);

/// `list` (of `server`'s `method`) within [`CATALOG_PATIENCE`].
async fn within<T>(
    server: &str,
    method: &str,
    list: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    tokio::time::timeout(CATALOG_PATIENCE, list).await.unwrap_or_else(|_| {
        Err(Error::Timeout { server: server.to_owned(), method: method.to_owned(), after: CATALOG_PATIENCE })
    })
}

/// Longer than any wait that matters: what "never" is for a timer.
const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);

/// Why a stopped server is down.
const STOPPED: &str = "stopped";

/// Log messages of a server that belong to no call, held for a listener that is behind.
const LOG_BACKLOG: usize = 64;

/// Whether the server takes subscriptions to its resources (`resources.subscribe`).
fn sends_updates(client: &Client) -> bool {
    client.capabilities().resources.as_ref().and_then(|r| r.subscribe) == Some(true)
}

/// Resource updates of a server, held for a listener that is behind.
const UPDATE_BACKLOG: usize = 256;

/// What a supervised server is doing, for an operator's view (see [`Upstream::status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpstreamState {
    /// The first start has not finished.
    Starting,
    /// Up and answering.
    Running,
    /// It ran, then exited; it is started again after a backoff.
    Restarting,
    /// Its last start failed; it is tried again after a backoff.
    Failed,
    /// Stopped for good ([`Upstream::stop`]).
    Stopped,
}

impl UpstreamState {
    /// The state's name in lower case: `starting`, `running`, `restarting`, `failed`, `stopped`.
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamState::Starting => "starting",
            UpstreamState::Running => "running",
            UpstreamState::Restarting => "restarting",
            UpstreamState::Failed => "failed",
            UpstreamState::Stopped => "stopped",
        }
    }
}

/// A snapshot of a supervised server: its state, how often it was restarted, why it last went
/// down, and the protocol revision it speaks while running.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpstreamStatus {
    /// What it is doing now.
    pub state: UpstreamState,
    /// Times it went down and was (or is being) started again.
    pub restarts: u64,
    /// Why it last went down or failed to start, kept after it is up again.
    pub last_error: Option<String>,
    /// The negotiated revision while it runs.
    pub protocol_version: Option<crate::protocol::ProtocolVersion>,
    /// Its tools, as last listed.
    pub tools: usize,
}

/// A server's prompts, resources and resource templates, as last listed: what a gateway relays
/// besides its tools. Empty for a server that declares none of them.
#[derive(Debug, Default, Clone, PartialEq)]
#[non_exhaustive]
pub struct Catalog {
    /// Its prompts.
    pub prompts: Vec<Prompt>,
    /// Its resources.
    pub resources: Vec<Resource>,
    /// Its resource templates.
    pub templates: Vec<ResourceTemplate>,
}

/// The parts of a [`Catalog`] a server announces changes of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listed {
    Prompts,
    Resources,
}

/// One supervised server.
pub struct Upstream {
    name: String,
    config: McpConfig,
    restart: Restart,
    /// Bumped whenever the tool list may have changed, so callers can cache what they derive
    /// from it.
    generation: std::sync::atomic::AtomicU64,
    state: RwLock<State>,
    /// The last tool list seen; kept while the server restarts so its tools stay listed and their
    /// calls fail with a clear "restarting" error instead of "unknown tool".
    /// Shared with whoever serves or checks them: a gateway in front of a server with thousands of
    /// tools keeps one copy of each definition, not one per holder.
    tools: std::sync::RwLock<Arc<[Arc<Tool>]>>,
    /// Its prompts and resources as last listed, kept like its tools while it restarts; replaced
    /// only by a list that differs, so a holder sees a change as a new `Arc`.
    catalog: std::sync::RwLock<Arc<Catalog>>,
    /// Cancelled by [`Upstream::stop`]: supervision ends and the server is closed.
    stopping: tokio_util::sync::CancellationToken,
    /// For [`Upstream::status`]: restarts, the last reason it went down, and whether the last
    /// start attempt failed (rather than the server exiting after it ran).
    restarts: std::sync::atomic::AtomicU64,
    last_error: std::sync::Mutex<Option<String>>,
    start_failed: std::sync::atomic::AtomicBool,
    /// Calls waiting for the server's answer.
    in_flight: std::sync::atomic::AtomicUsize,
    /// Calls the server answered (a result, an error, progress), ever: for the pings.
    answers: std::sync::atomic::AtomicU64,
    /// Calls in a row that ended with no answer from the server (timed out, cancelled).
    unanswered: std::sync::atomic::AtomicU32,
    /// Its log messages that belong to no call (see [`Upstream::logs`]).
    logs: tokio::sync::broadcast::Sender<LoggingMessageParams>,
    /// The calls in flight that take log messages, and who has called since the server started.
    callers: std::sync::Mutex<Callers>,
    /// The resource URIs subscribed to at the server (see [`Upstream::subscribe`]), subscribed
    /// again whenever it starts. Held across each request that changes them, so that the
    /// server's subscriptions follow the order they were asked in.
    subscribed: tokio::sync::Mutex<Subscribed>,
    /// At a `2026-07-28` server, the one listen stream that carries the updates of the URIs
    /// `subscribed` (replaced as they change; only touched with `subscribed` locked).
    listening: std::sync::Mutex<Option<crate::client::ResourceListen>>,
    /// Subscribes and unsubscribes asked for and not yet made: made together, so that many at
    /// once cost a `2026-07-28` server one new listen stream, not one each.
    changes: std::sync::Mutex<Changes>,
    /// The runtime that supervises the server, where its subscription changes are made.
    runtime: std::sync::OnceLock<tokio::runtime::Handle>,
    /// The URIs of its `notifications/resources/updated` (see [`Upstream::updates`]).
    updates: tokio::sync::broadcast::Sender<String>,
}

/// The resource URIs clients want updates of from one server.
#[derive(Default)]
struct Subscribed {
    /// Every URI a client holds a subscription to: asked for whenever the server starts.
    wanted: BTreeSet<String>,
    /// Those of `wanted` the server has not confirmed taking: one being asked for (a
    /// `resources/subscribe` on its way), or a URI a listen stream's acknowledgement left out (a
    /// stream opened after a restart). Asked for again when a client subscribes to one.
    unconfirmed: BTreeSet<String>,
}

impl Subscribed {
    /// Whether the server took `uri`.
    fn confirmed(&self, uri: &str) -> bool {
        self.wanted.contains(uri) && !self.unconfirmed.contains(uri)
    }
}

/// The changes of a server's subscriptions waiting to be made, and whether a task is making them.
#[derive(Default)]
struct Changes {
    asked: Vec<Change>,
    making: bool,
}

/// One change of a server's subscriptions, and whom to tell once it is made.
enum Change {
    Subscribe(String, oneshot::Sender<Result<(), ErrorObject>>),
    /// Made unless the check says, when the change is made, that the URI is wanted again.
    Unsubscribe(String, Box<dyn FnOnce() -> bool + Send>),
}

/// The task that makes the changes asked for. However it ends (done, or dropped unpolled by a
/// runtime shutting down, or panicking) the next change starts a new one; the subscribes asked
/// of it and not made are dropped then, which tells their askers, and its unsubscribes stay
/// asked for.
struct Making {
    upstream: Arc<Upstream>,
    /// Set once it found nothing left to make (and said so under the changes' lock).
    done: bool,
}

impl Drop for Making {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut changes = self.upstream.changes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        changes.making = false;
        changes.asked.retain(|change| matches!(change, Change::Unsubscribe(..)));
    }
}

impl Making {
    /// Makes the changes asked for, each time all of those asked for so far at once, until none
    /// is left. The subscriptions' lock is taken for each batch, so that a server's start (which
    /// subscribes again) waits for one batch, not for all.
    async fn run(mut self) {
        let upstream = self.upstream.clone();
        loop {
            let mut subscribed = upstream.subscribed.lock().await;
            let batch = {
                let mut changes = upstream.changes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if changes.asked.is_empty() {
                    changes.making = false;
                    self.done = true;
                    return;
                }
                std::mem::take(&mut changes.asked)
            };
            upstream.make(&mut subscribed, batch).await;
        }
    }
}

/// The calls in flight to a server, as far as its log messages are concerned.
#[derive(Default)]
struct Callers {
    /// Each call in flight, by a number of its own, with where its own log messages go (none
    /// when its caller wants none).
    calls: std::collections::HashMap<u64, Option<mpsc::Sender<LoggingMessageParams>>>,
    next: u64,
    /// Who has called the server since it (re)started: the one principal, while only one has.
    principal: Option<String>,
    several: bool,
}

/// A call of [`Upstream::call`] while it lives: counted in `in_flight`, and on its end in
/// `unanswered` unless the server answered it.
struct InFlight<'a> {
    upstream: &'a Upstream,
    answered: bool,
    /// Its entry among the calls that take log messages.
    key: u64,
}

impl<'a> InFlight<'a> {
    /// Counts a call of `principal`, with the receiver of the log messages found to be its own
    /// (none when its caller wants none: they then belong to no call).
    fn new(upstream: &'a Upstream, principal: &str, logs: bool) -> (Self, mpsc::Receiver<LoggingMessageParams>) {
        upstream.in_flight.fetch_add(1, Ordering::AcqRel);
        let (tx, rx) = mpsc::channel(if logs { LOG_BACKLOG } else { 1 });
        let mut callers = upstream.callers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = callers.next;
        callers.next += 1;
        callers.calls.insert(key, logs.then_some(tx));
        match &callers.principal {
            None => callers.principal = Some(principal.to_owned()),
            Some(first) if first != principal => callers.several = true,
            Some(_) => {}
        }
        (Self { upstream, answered: false, key }, rx)
    }

    fn answered(&mut self) {
        if !self.answered {
            self.answered = true;
            self.upstream.answers.fetch_add(1, Ordering::AcqRel);
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.upstream.callers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).calls.remove(&self.key);
        self.upstream.in_flight.fetch_sub(1, Ordering::AcqRel);
        if self.answered {
            self.upstream.unanswered.store(0, Ordering::Release);
        } else {
            self.upstream.unanswered.fetch_add(1, Ordering::AcqRel);
        }
    }
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream").field("name", &self.name).field("generation", &self.generation()).finish()
    }
}

impl Upstream {
    /// A server `name` of `config`, not yet started.
    pub fn new(name: &str, config: McpConfig, restart: Restart) -> Arc<Upstream> {
        Arc::new(Upstream {
            name: name.to_owned(),
            config,
            restart,
            generation: std::sync::atomic::AtomicU64::new(0),
            state: RwLock::new(State::Starting),
            tools: std::sync::RwLock::new(Arc::new([])),
            catalog: std::sync::RwLock::default(),
            stopping: tokio_util::sync::CancellationToken::new(),
            restarts: std::sync::atomic::AtomicU64::new(0),
            last_error: std::sync::Mutex::new(None),
            start_failed: std::sync::atomic::AtomicBool::new(false),
            in_flight: std::sync::atomic::AtomicUsize::new(0),
            answers: std::sync::atomic::AtomicU64::new(0),
            unanswered: std::sync::atomic::AtomicU32::new(0),
            logs: tokio::sync::broadcast::channel(LOG_BACKLOG).0,
            callers: std::sync::Mutex::default(),
            subscribed: tokio::sync::Mutex::default(),
            listening: std::sync::Mutex::default(),
            changes: std::sync::Mutex::default(),
            runtime: std::sync::OnceLock::new(),
            updates: tokio::sync::broadcast::channel(UPDATE_BACKLOG).0,
        })
    }

    /// The URIs the server says changed (`notifications/resources/updated`), of the resources
    /// subscribed to with [`Upstream::subscribe`]. A receiver that falls far behind misses the
    /// oldest.
    pub fn updates(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.updates.subscribe()
    }

    /// Subscribes to updates of the resource `uri` at the server, once however often it is
    /// asked, and again whenever the server starts; while the server is down, the subscription
    /// waits for its start. A handshake-era server is sent `resources/subscribe`; a `2026-07-28`
    /// one is watched on a `subscriptions/listen` stream (one for all the URIs subscribed to,
    /// opened again with the new set as it changes; the subscribes and unsubscribes asked for
    /// while one stream is opened are made together, on the next). Refused when the server sends
    /// no updates, or when its listen stream for the new set leaves out `uri` or one it took
    /// before (the stream it had stays). Made by a task of its own: a caller that gives up does
    /// not stop it halfway.
    pub async fn subscribe(self: &Arc<Self>, uri: &str) -> Result<(), ErrorObject> {
        let (tx, rx) = oneshot::channel();
        self.change(Change::Subscribe(uri.to_owned(), tx));
        rx.await.unwrap_or_else(|_| {
            Err(ErrorObject::internal(format!("subscribing at server `{}` was given up", self.name)))
        })
    }

    /// Makes the server's subscriptions what `wanted` says, once no other change of them is
    /// under way: ends those not in it, makes those missing (for a server that replaces another,
    /// whose clients' wishes changed meanwhile).
    pub async fn reconcile(&self, wanted: impl FnOnce() -> BTreeSet<String>) {
        let mut subscribed = self.subscribed.lock().await;
        let wanted = wanted();
        let client = match self.running().await {
            Some(client) if sends_updates(&client) => client,
            _ => {
                subscribed.wanted = wanted;
                return;
            }
        };
        if client.era() == Era::Modern {
            if wanted == subscribed.wanted && subscribed.unconfirmed.is_empty() {
                return;
            }
            if wanted.is_empty() {
                self.stop_listening();
                *subscribed = Subscribed::default();
                return;
            }
            match self.open_listen(&client, &wanted).await {
                Ok((honored, stream)) => {
                    subscribed.wanted = wanted;
                    self.adopt(&mut subscribed, &honored, stream);
                    return;
                }
                Err(e) => {
                    tracing::warn!(server = %self.name, error = %e, "listening for resource updates failed");
                    // The stream it had goes on; what it did not carry is not taken.
                    let carried: BTreeSet<&String> =
                        subscribed.wanted.iter().filter(|u| subscribed.confirmed(u)).collect();
                    subscribed.unconfirmed = wanted.iter().filter(|u| !carried.contains(u)).cloned().collect();
                }
            }
        } else {
            for uri in subscribed.wanted.difference(&wanted) {
                if let Err(e) = self.ask(&client, methods::UNSUBSCRIBE, uri).await {
                    tracing::debug!(server = %self.name, %uri, error = %e, "unsubscribing failed");
                }
            }
            let mut unconfirmed: BTreeSet<String> =
                subscribed.unconfirmed.iter().filter(|u| wanted.contains(*u)).cloned().collect();
            for uri in wanted.iter().filter(|u| !subscribed.confirmed(u)) {
                match self.ask(&client, methods::SUBSCRIBE, uri).await {
                    Ok(()) => drop(unconfirmed.remove(uri)),
                    Err(e) => {
                        tracing::warn!(server = %self.name, %uri, error = %e, "subscribing failed");
                        unconfirmed.insert(uri.clone());
                    }
                }
            }
            subscribed.unconfirmed = unconfirmed;
        }
        subscribed.wanted = wanted;
    }

    /// Ends the subscription to `uri` at the server (`resources/unsubscribe`, or a listen stream
    /// without it) soon, unless `still_wanted` says, when the change is made, that a client
    /// subscribed to it again meanwhile. Asked for outside any runtime, it is made with the next
    /// change.
    pub fn unsubscribe(self: &Arc<Self>, uri: &str, still_wanted: impl FnOnce() -> bool + Send + 'static) {
        self.change(Change::Unsubscribe(uri.to_owned(), Box::new(still_wanted)));
    }

    /// Asks for `change`, made by the task making those asked for (started if none is, on the
    /// runtime that supervises the server, else the caller's: not on one that may end before
    /// the server, such as an HTTP serving thread's).
    fn change(self: &Arc<Self>, change: Change) {
        let start = {
            let mut changes = self.changes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            changes.asked.push(change);
            !std::mem::replace(&mut changes.making, true)
        };
        // Spawned with the lock released: a runtime shutting down drops the task at once, and
        // with it the guard, which takes the lock.
        if start {
            let making = Making { upstream: self.clone(), done: false };
            match self.runtime.get().cloned().or_else(|| tokio::runtime::Handle::try_current().ok()) {
                Some(runtime) => drop(runtime.spawn(making.run())),
                None => drop(making),
            }
        }
    }

    /// Makes `batch`, in the order it was asked for (a URI subscribed to and let go again is not
    /// asked for), then tells each asker.
    async fn make(&self, subscribed: &mut Subscribed, batch: Vec<Change>) {
        // What is wanted once the batch is made, and who asked for what.
        let mut wanted = subscribed.wanted.clone();
        let (mut asked, mut told) = (Vec::new(), Vec::new());
        for change in batch {
            match change {
                Change::Subscribe(uri, tx) => {
                    wanted.insert(uri.clone());
                    asked.push(uri);
                    told.push(tx);
                }
                Change::Unsubscribe(uri, still_wanted) => {
                    if !still_wanted() {
                        wanted.remove(&uri);
                    }
                }
            }
        }
        let outcomes = match self.running().await {
            None => {
                // Made when it starts (see `resubscribe`), which takes this lock first.
                subscribed.unconfirmed.retain(|u| wanted.contains(u));
                subscribed.wanted = wanted;
                if subscribed.wanted.is_empty() {
                    self.stop_listening();
                }
                asked.iter().map(|_| Ok(())).collect()
            }
            Some(client) if !sends_updates(&client) => {
                let refused = ErrorObject::invalid_params(format!("server `{}` sends no resource updates", self.name));
                subscribed.wanted.retain(|u| wanted.contains(u));
                let Subscribed { wanted, unconfirmed } = subscribed;
                unconfirmed.retain(|u| wanted.contains(u));
                asked.iter().map(|_| Err(refused.clone())).collect()
            }
            Some(client) if client.era() == Era::Modern => self.listen_for(&client, subscribed, wanted, &asked).await,
            Some(client) => self.ask_for(&client, subscribed, &wanted, &asked).await,
        };
        // Told once the change is in place: an update that follows is carried.
        for (tx, outcome) in told.into_iter().zip(outcomes) {
            let _ = tx.send(outcome);
        }
    }

    /// At a `2026-07-28` server, one listen stream for `wanted` in place of the one in use (or
    /// none, when nothing is wanted); the outcome of subscribing to each of `asked`.
    async fn listen_for(
        &self,
        client: &Client,
        subscribed: &mut Subscribed,
        mut wanted: BTreeSet<String>,
        asked: &[String],
    ) -> Vec<Result<(), ErrorObject>> {
        // What the stream in use carries and is still wanted; the rest asked for is news.
        let taken: BTreeSet<&String> = wanted.iter().filter(|u| subscribed.confirmed(u)).collect();
        let news: BTreeSet<String> =
            asked.iter().filter(|u| wanted.contains(*u) && !taken.contains(u)).cloned().collect();
        if wanted.is_empty() {
            self.stop_listening();
            *subscribed = Subscribed::default();
        }
        if wanted.is_empty() || (news.is_empty() && wanted == subscribed.wanted) {
            return asked.iter().map(|_| Ok(())).collect();
        }
        let refusal: Box<dyn Fn(&str) -> ErrorObject + Send> = match self.open_listen(client, &wanted).await {
            Err(e) => {
                tracing::debug!(server = %self.name, error = %e, "a new listen stream failed; the one in use stays");
                let error = self.refusal(e);
                Box::new(move |_| error.clone())
            }
            Ok((honored, stream)) => match taken.iter().find(|u| !honored.contains(**u)) {
                // The stream in use stays, and with it what it carries.
                Some(lost) if !news.is_empty() => {
                    drop(stream);
                    let (server, lost) = (self.name.clone(), (*lost).clone());
                    Box::new(move |uri| {
                        ErrorObject::invalid_params(format!(
                            "cannot subscribe to `{uri}` at server `{server}`: its listen stream for it leaves out `{lost}`"
                        ))
                    })
                }
                _ => {
                    let left_out = |uri: &String| news.contains(uri) && !honored.contains(uri);
                    let outcomes = asked
                        .iter()
                        .map(|uri| match left_out(uri) {
                            true => Err(ErrorObject::invalid_params(format!(
                                "cannot subscribe to `{uri}` at server `{}`: its listen stream for it leaves out `{uri}`",
                                self.name
                            ))),
                            false => Ok(()),
                        })
                        .collect();
                    wanted.retain(|u| !left_out(u));
                    subscribed.wanted = wanted;
                    self.adopt(subscribed, &honored, stream);
                    return outcomes;
                }
            },
        };
        // What was let go is no longer wanted, though the stream in use still carries it (its
        // updates then find no client) until the next change.
        subscribed.wanted.retain(|u| wanted.contains(u));
        let Subscribed { wanted: kept, unconfirmed } = subscribed;
        unconfirmed.retain(|u| kept.contains(u));
        asked.iter().map(|uri| if news.contains(uri) { Err(refusal(uri)) } else { Ok(()) }).collect()
    }

    /// At a handshake-era server, `resources/unsubscribe` of what is no longer `wanted`, then
    /// `resources/subscribe` of each of `asked` not taken yet; the outcome of each of `asked`.
    async fn ask_for(
        &self,
        client: &Client,
        subscribed: &mut Subscribed,
        wanted: &BTreeSet<String>,
        asked: &[String],
    ) -> Vec<Result<(), ErrorObject>> {
        let let_go: Vec<String> = subscribed.wanted.difference(wanted).cloned().collect();
        for uri in let_go {
            subscribed.wanted.remove(&uri);
            subscribed.unconfirmed.remove(&uri);
            if let Err(e) = self.ask(client, methods::UNSUBSCRIBE, &uri).await {
                tracing::debug!(server = %self.name, %uri, error = %e, "unsubscribing failed");
            }
        }
        let mut outcomes = Vec::with_capacity(asked.len());
        for uri in asked {
            if !wanted.contains(uri) || subscribed.confirmed(uri) {
                outcomes.push(Ok(()));
                continue;
            }
            // Recorded before the server is asked: should the asking be cut short, the server
            // may have taken it, and the unsubscribe that follows tells it.
            subscribed.wanted.insert(uri.clone());
            subscribed.unconfirmed.insert(uri.clone());
            let outcome = self.ask(client, methods::SUBSCRIBE, uri).await;
            subscribed.unconfirmed.remove(uri);
            outcomes.push(outcome.map_err(|e| {
                subscribed.wanted.remove(uri);
                self.refusal(e)
            }));
        }
        outcomes
    }

    /// What a subscriber is told when the server could not be asked, or refused.
    fn refusal(&self, e: Error) -> ErrorObject {
        match e.rpc_error() {
            Some(error) if !e.is_transport_failure() => error.clone(),
            _ => ErrorObject::internal(format!("subscribing at server `{}` failed: {e}", self.name)),
        }
    }

    /// The client of the server while it runs, without holding the state's lock.
    async fn running(&self) -> Option<Arc<Client>> {
        match &*self.state.read().await {
            State::Up(client) => Some(client.clone()),
            _ => None,
        }
    }

    /// `resources/subscribe` or `resources/unsubscribe` (`method`) of `uri`, within
    /// [`CATALOG_PATIENCE`].
    async fn ask(&self, client: &Client, method: &str, uri: &str) -> Result<(), Error> {
        let params = crate::protocol::ReadResourceParams { meta: None, uri: uri.to_owned() };
        within(&self.name, method, client.request::<_, Value>(method, &params)).await.map(drop)
    }

    /// At a `2026-07-28` server, a listen stream of updates of `uris`, acknowledged within
    /// [`CATALOG_PATIENCE`], and the URIs the server took; [`Upstream::install`] makes it the
    /// one in use.
    async fn open_listen(
        &self,
        client: &Client,
        uris: &BTreeSet<String>,
    ) -> Result<(BTreeSet<String>, crate::client::ResourceListen), Error> {
        let uris: Vec<String> = uris.iter().cloned().collect();
        let (honored, stream) = client.listen_to_resources(&uris, CATALOG_PATIENCE).await?;
        Ok((honored.into_iter().collect(), stream))
    }

    /// Makes `stream` the listen stream of resource updates; the one it replaces ends (after
    /// the new one was acknowledged, so that no update falls between them).
    fn install(&self, stream: crate::client::ResourceListen) {
        let old = self.listening.lock().unwrap_or_else(std::sync::PoisonError::into_inner).replace(stream);
        drop(old);
    }

    /// Ends the listen stream of resource updates, if there is one.
    fn stop_listening(&self) {
        let old = self.listening.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        drop(old);
    }

    /// Puts `stream`, which the server acknowledged taking `honored` on, in use for the URIs
    /// `subscribed` wants (or ends the one in use, when it took none of them); what it left out
    /// stays unconfirmed, with a warning.
    fn adopt(&self, subscribed: &mut Subscribed, honored: &BTreeSet<String>, stream: crate::client::ResourceListen) {
        if honored.is_empty() {
            self.stop_listening();
        } else {
            self.install(stream);
        }
        subscribed.unconfirmed = subscribed.wanted.difference(honored).cloned().collect();
        if !subscribed.unconfirmed.is_empty() {
            tracing::warn!(
                server = %self.name, left_out = ?subscribed.unconfirmed,
                "the server sends no updates of some resources its clients watch"
            );
        }
    }

    /// Subscribes again, at a server that (re)started, to what was subscribed to before (with
    /// the subscriptions' lock held: see [`Upstream::start`]).
    async fn resubscribe(&self, client: &Client, subscribed: &mut Subscribed) {
        // The last process's stream went with it; nothing is confirmed at a new one yet.
        self.stop_listening();
        subscribed.unconfirmed = subscribed.wanted.clone();
        if subscribed.wanted.is_empty() {
            return;
        }
        if !sends_updates(client) {
            tracing::warn!(server = %self.name, "the server no longer takes resource subscriptions; its clients get no updates");
            return;
        }
        if client.era() == Era::Modern {
            match self.open_listen(client, &subscribed.wanted).await {
                Ok((honored, stream)) => self.adopt(subscribed, &honored, stream),
                Err(e) => {
                    tracing::warn!(server = %self.name, error = %e, "listening for resource updates after a start failed")
                }
            }
            return;
        }
        for uri in subscribed.wanted.clone() {
            match self.ask(client, methods::SUBSCRIBE, &uri).await {
                Ok(()) => drop(subscribed.unconfirmed.remove(&uri)),
                Err(e) => {
                    tracing::warn!(server = %self.name, %uri, error = %e, "subscribing again after a start failed")
                }
            }
        }
    }

    /// The server's log messages (`notifications/message`) that belong to none of its calls.
    /// Each call's own go to its caller ([`ToolContext::log`]): those on the call's own HTTP
    /// response stream, and, where no message names its request (stdio, a session's GET
    /// stream), those sent while that call was the only one in flight, provided that no other
    /// principal has called the server since it started (its messages might then be about
    /// another principal's work). Both are masked, and their logger named after the server
    /// (`server` or `server/logger`). A receiver that falls more than a few dozen messages behind
    /// misses the oldest.
    pub fn logs(&self) -> tokio::sync::broadcast::Receiver<LoggingMessageParams> {
        self.logs.subscribe()
    }

    /// Passes on a log message that named no request: to the only call in flight when only one
    /// principal has called (see [`Upstream::logs`]), else to no call.
    fn route_log(&self, log: LoggingMessageParams) {
        let log = self.attributed(log);
        let callers = self.callers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let only = match callers.calls.values().next() {
            Some(Some(call)) if callers.calls.len() == 1 && !callers.several => Some(call.clone()),
            _ => None,
        };
        drop(callers);
        match only {
            // A call whose caller is behind drops it, as progress is dropped.
            Some(call) => {
                let _ = call.try_send(log);
            }
            None => {
                let _ = self.logs.send(log);
            }
        }
    }

    /// `log` with its logger named after this server.
    fn attributed(&self, mut log: LoggingMessageParams) -> LoggingMessageParams {
        log.logger = Some(match log.logger {
            Some(logger) => format!("{}/{logger}", self.name),
            None => self.name.clone(),
        });
        log
    }

    /// What the server is doing now, for an operator's view.
    pub async fn status(&self) -> UpstreamStatus {
        let (state, protocol_version) = match &*self.state.read().await {
            State::Starting => (UpstreamState::Starting, None),
            State::Up(client) => (UpstreamState::Running, Some(client.protocol_version())),
            State::Down { .. } if self.stopping.is_cancelled() => (UpstreamState::Stopped, None),
            State::Down { .. } if self.start_failed.load(std::sync::atomic::Ordering::Acquire) => {
                (UpstreamState::Failed, None)
            }
            State::Down { .. } => (UpstreamState::Restarting, None),
        };
        UpstreamStatus {
            state,
            restarts: self.restarts.load(std::sync::atomic::Ordering::Acquire),
            last_error: self.last_error.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone(),
            protocol_version,
            tools: self.tools().len(),
        }
    }

    /// The server's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The last known tools: a snapshot, cheap to take.
    pub fn tools(&self) -> Arc<[Arc<Tool>]> {
        self.tools.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Its prompts, resources and resource templates, as last listed.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Puts `catalog` in place unless it is the one held: whether it changed.
    fn set_catalog(&self, catalog: Catalog) -> bool {
        let mut slot = self.catalog.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if **slot == catalog {
            return false;
        }
        *slot = Arc::new(catalog);
        true
    }

    /// Counts changes of the tool list (starts and `list_changed` refreshes).
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Replaces the list, keeping the shared copy of each definition that did not change: whoever
    /// holds it (a gateway's served tools) keeps holding the one copy, not one of two.
    fn set_tools(&self, tools: Vec<Tool>) {
        let mut slot = self.tools.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let was: std::collections::HashMap<&str, &Arc<Tool>> = slot.iter().map(|t| (t.name.as_str(), t)).collect();
        let tools: Arc<[Arc<Tool>]> = tools
            .into_iter()
            .map(|tool| match was.get(tool.name.as_str()) {
                Some(same) if ***same == tool => Arc::clone(same),
                _ => Arc::new(tool),
            })
            .collect();
        drop(was);
        *slot = tools;
        self.generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// Starts supervising in the background and waits (up to `patience`) for the first start
    /// attempt: the way to use a server without a gateway around it.
    pub async fn launch(name: &str, config: McpConfig, restart: Restart, patience: Duration) -> Arc<Upstream> {
        let upstream = Upstream::new(name, config, restart);
        let (changed, _) = mpsc::unbounded_channel();
        tokio::spawn(upstream.clone().supervise(changed));
        upstream.started(patience).await;
        upstream
    }

    /// Ends supervision: the server is closed (its input closed, then killed if it has not exited
    /// within two seconds) and not restarted; calls fail from then on. [`Upstream::supervise`]
    /// returns once the server is gone.
    pub fn stop(&self) {
        self.stopping.cancel();
    }

    /// Runs the server until [`Upstream::stop`], sending `()` on `changed` whenever its tool
    /// list may have changed (started, refreshed after `list_changed`).
    pub async fn supervise(self: Arc<Self>, changed: mpsc::UnboundedSender<()>) {
        let _ = self.runtime.set(tokio::runtime::Handle::current());
        let initial = self.restart.initial;
        let max = self.restart.max.max(initial);
        let mut delay = initial;
        // A server that left `server/discover` unanswered and was served once started afresh
        // (an older one) is sent `initialize` first when it restarts, rather than the probe it
        // would again leave unanswered; after a failed start it is probed again.
        let mut era = EraPreference::Auto;
        'supervising: loop {
            let (notes_tx, mut notes) = mpsc::unbounded_channel();
            // Routed as they arrive, ahead of the answers that follow them.
            let routing = Arc::downgrade(&self);
            let logs = crate::LogSink::new(move |log| {
                if let Some(upstream) = routing.upgrade() {
                    upstream.route_log(log);
                }
            });
            let options = ClientOptions {
                info: Implementation::new("mcptk-gateway", env!("CARGO_PKG_VERSION")),
                notifications: Some(notes_tx),
                logs: Some(logs),
                era,
                ..ClientOptions::default()
            };
            let started = Instant::now();
            let attempt = tokio::select! {
                attempt = self.start(options) => attempt,
                // A server still starting is dropped, which kills its process.
                () = self.stopping.cancelled() => break 'supervising,
            };
            let failed_start = attempt.is_err();
            if failed_start {
                era = EraPreference::Auto;
            }
            let reason = match attempt {
                Ok((client, mut fresh_for)) => {
                    let older =
                        client.era() == Era::Handshake && client.era_preference() == EraPreference::HandshakeFirst;
                    era = if older { EraPreference::HandshakeFirst } else { EraPreference::Auto };
                    let _ = changed.send(());
                    // The list is cached for as long as the server says (`ttlMs`), then asked again.
                    let relist = tokio::time::sleep(relist_after(fresh_for));
                    tokio::pin!(relist);
                    let every = self.restart.ping_every.unwrap_or(YEAR).clamp(Duration::from_millis(1), YEAR);
                    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    let (mut misses, mut answers_seen) = (0u32, self.answers.load(Ordering::Acquire));
                    loop {
                        tokio::select! {
                            () = self.stopping.cancelled() => {
                                *self.state.write().await = State::Down { reason: STOPPED.into(), retry_at: Instant::now() };
                                if let Err(e) = client.close().await {
                                    tracing::warn!(server = %self.name, error = %e, "closing the server failed");
                                }
                                break 'supervising;
                            }
                            () = client.closed() => break client.close_reason().unwrap_or_else(|| "connection closed".into()),
                            Some(note) = notes.recv() => {
                                // One list answers every `list_changed` already queued: a
                                // burst of them costs one `tools/list`, not one each.
                                let (mut list_changed, mut parts) = (false, Vec::new());
                                for note in std::iter::once(note).chain(std::iter::from_fn(|| notes.try_recv().ok())) {
                                    match note.method.as_str() {
                                        methods::TOOLS_LIST_CHANGED => list_changed = true,
                                        methods::PROMPTS_LIST_CHANGED if !parts.contains(&Listed::Prompts) => {
                                            parts.push(Listed::Prompts);
                                        }
                                        methods::RESOURCES_LIST_CHANGED if !parts.contains(&Listed::Resources) => {
                                            parts.push(Listed::Resources);
                                        }
                                        methods::RESOURCE_UPDATED => {
                                            let uri = note.params.as_ref().and_then(|p| p.get("uri")).and_then(Value::as_str);
                                            if let Some(uri) = uri {
                                                let _ = self.updates.send(uri.to_owned());
                                            }
                                        }
                                        _ => {}
                                    }
                                }
                                if list_changed {
                                    fresh_for = self.relist(&client, &changed).await.unwrap_or(fresh_for);
                                    relist.as_mut().reset(tokio::time::Instant::now() + relist_after(fresh_for));
                                }
                                self.relist_catalog(&client, &parts, &changed).await;
                            }
                            _ = ping.tick(), if self.restart.ping_every.is_some() => {
                                // Any answer to a call since the last ping shows it alive.
                                let answers = self.answers.load(Ordering::Acquire);
                                if answers != answers_seen {
                                    (answers_seen, misses) = (answers, 0);
                                }
                                // A server busy with a call may answer nothing else until it is
                                // done (one thread, one request at a time), so it is not asked
                                // while calls run, unless the last two ended unanswered (timed
                                // out or cancelled): then it looks hung, busy or not.
                                let busy = self.in_flight.load(Ordering::Acquire) > 0;
                                if busy && self.unanswered.load(Ordering::Acquire) < 2 {
                                    continue;
                                }
                                let answered = tokio::select! {
                                    answered = self.ping(&client) => answered,
                                    () = self.stopping.cancelled() => continue,
                                };
                                misses = if answered { 0 } else { misses + 1 };
                                if misses >= self.restart.ping_misses.max(1) {
                                    let reason = format!(
                                        "it answered none of {misses} pings in a row within {:?} each and was stopped",
                                        self.restart.ping_timeout
                                    );
                                    // Calls waiting on it fail now, and its process goes.
                                    client.abandon(reason.clone()).await;
                                    break reason;
                                }
                            }
                            () = &mut relist, if fresh_for.is_some() => {
                                // A stop is not kept waiting by a server slow to answer.
                                tokio::select! {
                                    listed = self.relist(&client, &changed) => fresh_for = listed.unwrap_or(fresh_for),
                                    () = self.stopping.cancelled() => continue,
                                }
                                // Its prompts and resources go stale with the tools.
                                tokio::select! {
                                    () = self.relist_catalog(&client, &[Listed::Prompts, Listed::Resources], &changed) => {}
                                    () = self.stopping.cancelled() => continue,
                                }
                                relist.as_mut().reset(tokio::time::Instant::now() + relist_after(fresh_for));
                            }
                        }
                    }
                }
                Err(e) => e.to_string(),
            };
            // A server that ran for a while earns a quick restart; one that keeps failing backs off.
            if started.elapsed() > max {
                delay = initial;
            }
            tracing::warn!(server = %self.name, %reason, retry_in = ?delay, "server is down; restarting");
            *self.last_error.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(reason.clone());
            self.start_failed.store(failed_start, std::sync::atomic::Ordering::Release);
            self.restarts.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            metrics::counter!("mcp_upstream_restarts_total", "server" => self.name.clone()).increment(1);
            *self.state.write().await = State::Down { reason, retry_at: Instant::now() + delay };
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.stopping.cancelled() => break,
            }
            delay = (delay * 2).min(max);
        }
        *self.state.write().await = State::Down { reason: STOPPED.into(), retry_at: Instant::now() };
    }

    /// Starts the server and lists its tools: the client, and how long the list stays fresh.
    async fn start(&self, options: ClientOptions) -> Result<(Arc<Client>, Option<Duration>), Error> {
        let client = Arc::new(Client::from_config(&self.config, &self.name, options).await?);
        let (tools, fresh_for) = client.list_tools_fresh_for().await?;
        // A part it fails to list stays as it was before the restart.
        let mut catalog = Catalog::clone(&self.catalog());
        for part in [Listed::Prompts, Listed::Resources] {
            self.list_part(&client, part, &mut catalog).await;
        }
        tracing::info!(
            server = %self.name,
            tools = tools.len(),
            prompts = catalog.prompts.len(),
            resources = catalog.resources.len() + catalog.templates.len(),
            version = %client.protocol_version(),
            "server started"
        );
        self.set_catalog(catalog);
        self.set_tools(tools);
        // A new process: nobody has called it yet.
        {
            let mut callers = self.callers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            (callers.principal, callers.several) = (None, false);
        }
        // Before it takes calls, so that none sees it without what its clients subscribed to;
        // a subscription asked for meanwhile waits, then finds it up.
        let mut subscribed = self.subscribed.lock().await;
        self.resubscribe(&client, &mut subscribed).await;
        *self.state.write().await = State::Up(client.clone());
        drop(subscribed);
        Ok((client, fresh_for))
    }

    /// Whether the server answered a ping in time. An error answer counts (it answered: a
    /// `2026-07-28` server has no `ping`), and so does an HTTP refusal below 500 (a `401` is a
    /// server that is up); no answer in time, an HTTP server that cannot be reached, or a 5xx
    /// from whatever stands in front of it, does not.
    async fn ping(&self, client: &Client) -> bool {
        match tokio::time::timeout(self.restart.ping_timeout, client.ping()).await {
            Ok(Err(e)) if e.is_transport_failure() || matches!(e, Error::Http { status: 500.., .. }) => {
                tracing::warn!(server = %self.name, error = %e, "the server's ping failed");
                false
            }
            // Closed: the supervisor's `closed` arm restarts it with the reason.
            Ok(_) => true,
            Err(_) => {
                tracing::warn!(server = %self.name, timeout = ?self.restart.ping_timeout, "the server did not answer a ping");
                false
            }
        }
    }

    /// Lists the `parts` of the catalog again, announcing on `changed` when they differ.
    async fn relist_catalog(&self, client: &Client, parts: &[Listed], changed: &mpsc::UnboundedSender<()>) {
        if parts.is_empty() {
            return;
        }
        let mut catalog = Catalog::clone(&self.catalog());
        for part in parts {
            self.list_part(client, *part, &mut catalog).await;
        }
        if self.set_catalog(catalog) {
            tracing::info!(server = %self.name, "the server's prompts or resources changed");
            let _ = changed.send(());
        }
    }

    /// Lists one part of the catalog into `catalog`: its prompts, or its resources and templates;
    /// none when the server does not declare that part. A list the server fails to give leaves
    /// that part as it was (a server that lists no templates, as some leave the method out, has
    /// none).
    async fn list_part(&self, client: &Client, part: Listed, catalog: &mut Catalog) {
        let capabilities = client.capabilities();
        let listed = match part {
            Listed::Prompts if capabilities.prompts.is_some() => {
                within(&self.name, methods::PROMPTS_LIST, client.list_prompts()).await.map(|p| catalog.prompts = p)
            }
            Listed::Prompts => {
                catalog.prompts.clear();
                return;
            }
            Listed::Resources if capabilities.resources.is_some() => {
                let resources = within(&self.name, methods::RESOURCES_LIST, client.list_resources())
                    .await
                    .map(|r| catalog.resources = r);
                match within(&self.name, methods::RESOURCE_TEMPLATES_LIST, client.list_resource_templates()).await {
                    Ok(templates) => catalog.templates = templates,
                    Err(Error::Rpc { error, .. }) if error.code == crate::protocol::codes::METHOD_NOT_FOUND => {
                        catalog.templates.clear();
                    }
                    Err(e) => {
                        tracing::warn!(server = %self.name, error = %e, "listing the server's resource templates failed")
                    }
                }
                resources
            }
            Listed::Resources => {
                catalog.resources.clear();
                catalog.templates.clear();
                return;
            }
        };
        if let Err(e) = listed {
            tracing::warn!(server = %self.name, error = %e, "listing the server's {part:?} failed; keeping the list");
        }
    }

    /// Lists the tools again, announcing on `changed` when they differ: how long the new list
    /// stays fresh (`None`: the server gave no time), or `Err` when the server did not answer (the
    /// old list is kept).
    async fn relist(&self, client: &Client, changed: &mpsc::UnboundedSender<()>) -> Result<Option<Duration>, ()> {
        match client.list_tools_fresh_for().await {
            Ok((tools, fresh_for)) => {
                let same = {
                    let now = self.tools.read().unwrap_or_else(std::sync::PoisonError::into_inner);
                    now.len() == tools.len() && now.iter().zip(&tools).all(|(a, b)| **a == *b)
                };
                if !same {
                    tracing::info!(server = %self.name, tools = tools.len(), "the server's tool list changed");
                    self.set_tools(tools);
                    let _ = changed.send(());
                }
                Ok(fresh_for)
            }
            Err(e) => {
                tracing::warn!(server = %self.name, error = %e, "listing the server's tools again failed; keeping the list");
                Err(())
            }
        }
    }

    /// Why a call cannot reach the server now, as such a call's error says it (still starting,
    /// down and when it is tried again, stopped); `None` while it is up.
    pub async fn unavailable(&self) -> Option<String> {
        self.not_running(&*self.state.read().await)
    }

    fn not_running(&self, state: &State) -> Option<String> {
        Some(match state {
            State::Up(_) => return None,
            State::Starting => format!("server `{}` is still starting; try again shortly", self.name),
            State::Down { .. } if self.stopping.is_cancelled() => format!("server `{}` was stopped", self.name),
            State::Down { reason, retry_at } => {
                let wait = retry_at.saturating_duration_since(Instant::now());
                format!("server `{}` is not running ({reason}); restarting in {:.1}s", self.name, wait.as_secs_f64())
            }
        })
    }

    /// Why the server is not running, or `None` while it is up (or still starting).
    pub async fn down_reason(&self) -> Option<String> {
        match &*self.state.read().await {
            State::Down { reason, .. } => Some(reason.clone()),
            State::Up(_) | State::Starting => None,
        }
    }

    /// Whether the server is running now (not starting, restarting or stopped).
    pub async fn is_up(&self) -> bool {
        matches!(*self.state.read().await, State::Up(_))
    }

    /// Waits (up to `patience`) until the first start attempt has finished.
    pub async fn started(&self, patience: Duration) {
        let deadline = Instant::now() + patience;
        while matches!(*self.state.read().await, State::Starting) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Calls a tool, forwarding its progress to the caller. The call has no time limit of its
    /// own: its caller's is the one that counts (in a pipeline, the `TimeoutLayer`'s, the server's
    /// configured timeout, which cancels the call on the wire by dropping it). The client's
    /// request timeout (60 s) would cut a call its server may take longer for short.
    pub async fn call(&self, call: &ToolCall) -> Result<CallToolResult, CallError> {
        let client = match &*self.state.read().await {
            State::Up(client) => client.clone(),
            other => return Err(CallError::Upstream(self.not_running(other).unwrap_or_default())),
        };
        if call.kind != CallKind::Tool {
            return self.relay(&client, call).await;
        }
        let wanted = call.context.log_level();
        let (mut counted, mut own_logs) = InFlight::new(self, &call.principal, wanted.is_some());
        let mut events = client.call_tool_stream_within(&call.tool, call.arguments.clone(), Duration::MAX, wanted);
        let outcome = self.follow(call, &mut events, &mut own_logs, &mut counted).await;
        // A message handed over while the call's end was being taken is still its own.
        while let Ok(log) = own_logs.try_recv() {
            call.context.log(log.level, log.logger.as_deref(), log.data).await;
        }
        outcome
    }

    /// Asks the server for completions of a prompt or template argument (`params` as the server
    /// names them), waiting `within` at most. A server that offers no completions suggests
    /// nothing. The server's own refusal is passed on as it said it; any other failure is -32603
    /// with the reason.
    pub async fn complete(
        &self,
        params: &crate::protocol::CompleteParams,
        within: Duration,
    ) -> Result<crate::protocol::Completion, crate::protocol::ErrorObject> {
        use crate::protocol::ErrorObject;
        let client = match &*self.state.read().await {
            State::Up(client) => client.clone(),
            other => return Err(ErrorObject::internal(self.not_running(other).unwrap_or_default())),
        };
        if client.capabilities().completions.is_none() {
            return Ok(crate::protocol::Completion::default());
        }
        match client.request_within::<_, crate::protocol::CompleteResult>(methods::COMPLETE, params, within).await {
            Ok(result) => Ok(result.completion),
            Err(e @ Error::Rpc { .. }) if !e.is_transport_failure() => {
                Err(e.rpc_error().cloned().unwrap_or_else(|| ErrorObject::internal(e.to_string())))
            }
            Err(e) => Err(ErrorObject::internal(format!("server `{}` did not complete the argument: {e}", self.name))),
        }
    }

    /// Gets a prompt or reads a resource ([`CallKind`]): its result in the pipeline's shape
    /// ([`crate::pipeline::relayed`]). The server's own refusal (an unknown prompt, a resource not
    /// found) is an error result that carries its JSON-RPC error as `{"error": ...}`, so that it
    /// is passed on as it was said, and is not retried as a failure of the server would be.
    async fn relay(&self, client: &Client, call: &ToolCall) -> Result<CallToolResult, CallError> {
        let (mut counted, _) = InFlight::new(self, &call.principal, false);
        // No time limit of the client's own: the pipeline's timeout is the one that counts, as
        // for a tool call (dropping the future cancels the request on the wire).
        let answer = if call.kind == CallKind::Prompt {
            let params = crate::protocol::GetPromptParams {
                meta: None,
                name: call.tool.clone(),
                arguments: Some(crate::pipeline::prompt_arguments(&call.arguments)),
                input_responses: None,
                request_state: None,
            };
            let got = client.request_within(methods::PROMPTS_GET, &params, Duration::MAX).await;
            got.map(|r: crate::protocol::GetPromptResult| crate::pipeline::relayed(&r))
        } else {
            let uri = call.arguments.get("uri").and_then(serde_json::Value::as_str).unwrap_or_default();
            let params = crate::protocol::ReadResourceParams { meta: None, uri: uri.to_owned() };
            let read = client.request_within(methods::RESOURCES_READ, &params, Duration::MAX).await;
            read.map(|r: crate::protocol::ReadResourceResult| crate::pipeline::relayed(&r))
        };
        match answer {
            Ok(result) => {
                counted.answered();
                result
            }
            Err(e @ Error::Rpc { .. }) if !e.is_transport_failure() => {
                counted.answered();
                let error =
                    e.rpc_error().cloned().unwrap_or_else(|| crate::protocol::ErrorObject::internal(e.to_string()));
                Ok(crate::pipeline::refused(error))
            }
            Err(Error::Closed { .. }) if self.stopping.is_cancelled() => {
                Err(CallError::Upstream(format!("server `{}` was stopped during the call", self.name)))
            }
            Err(Error::Closed { reason, .. }) => Err(CallError::Upstream(format!(
                "server `{}` exited during the call ({reason}); it is being restarted",
                self.name
            ))),
            Err(Error::Timeout { after, .. }) => Err(CallError::Timeout { tool: call.exposed.clone(), after }),
            // The server answered, asking for input the gateway does not relay for these: not a
            // failure worth retrying.
            Err(e @ Error::InputRequired { .. }) => {
                counted.answered();
                let why = format!("{e}; the gateway does not relay such requests for prompts and resources");
                Ok(crate::pipeline::refused(crate::protocol::ErrorObject::internal(why)))
            }
            Err(e) => Err(CallError::Upstream(e.to_string())),
        }
    }

    /// Relays a call's progress and log messages to its caller until its outcome.
    async fn follow(
        &self,
        call: &ToolCall,
        events: &mut crate::ToolCallStream,
        own_logs: &mut mpsc::Receiver<LoggingMessageParams>,
        counted: &mut InFlight<'_>,
    ) -> Result<CallToolResult, CallError> {
        loop {
            let event = tokio::select! {
                biased;
                // Log messages found to be this call's though they named no request (stdio).
                Some(log) = own_logs.recv() => {
                    call.context.log(log.level, log.logger.as_deref(), log.data).await;
                    continue;
                }
                event = events.next() => match event {
                    Some(event) => event,
                    None => break,
                },
            };
            if match &event {
                Ok(_) => true,
                Err(e @ Error::Rpc { .. }) => !e.is_transport_failure(),
                Err(_) => false,
            } {
                counted.answered();
            }
            match event {
                Ok(CallEvent::Progress(p)) => {
                    call.context.progress(p.value(), p.total_value(), p.message).await;
                }
                Ok(CallEvent::Log(log)) => {
                    let log = self.attributed(log);
                    call.context.log(log.level, log.logger.as_deref(), log.data).await;
                }
                Ok(CallEvent::Result(result)) => return Ok(result),
                Err(Error::Closed { .. }) if self.stopping.is_cancelled() => {
                    return Err(CallError::Upstream(format!("server `{}` was stopped during the call", self.name)));
                }
                Err(Error::Closed { reason, .. }) => {
                    return Err(CallError::Upstream(format!(
                        "server `{}` exited during the call ({reason}); it is being restarted",
                        self.name
                    )));
                }
                Err(Error::Timeout { after, .. }) => {
                    return Err(CallError::Timeout { tool: call.exposed.clone(), after });
                }
                Err(e) => return Err(CallError::Upstream(e.to_string())),
            }
        }
        Err(CallError::Upstream(format!("server `{}` ended the call without a result", self.name)))
    }
}

/// The innermost step of a pipeline whose calls go to this server.
#[async_trait::async_trait]
impl crate::pipeline::Endpoint for Upstream {
    async fn call(&self, call: ToolCall) -> Result<CallToolResult, CallError> {
        Upstream::call(self, &call).await
    }
}

/// Calls a tool of the server directly (outside any pipeline): for tools used by other tools, such
/// as a SQL-generation server behind `generate_query`.
#[async_trait::async_trait]
impl CallTool for Upstream {
    async fn call_tool(&self, name: &str, arguments: crate::protocol::JsonObject) -> crate::Result<CallToolResult> {
        let definition = self
            .tools()
            .iter()
            .find(|t| t.name == name)
            .cloned()
            .unwrap_or_else(|| Arc::new(Tool::new(name, "", Default::default())));
        let call = ToolCall {
            server: self.name.clone(),
            tool: name.to_owned(),
            exposed: name.to_owned(),
            kind: crate::pipeline::CallKind::Tool,
            arguments,
            definition,
            principal: "internal".to_owned(),
            client: None,
            trace_id: crate::pipeline::new_trace_id(),
            context: ToolContext::detached(),
        };
        // Outside a pipeline no layer limits the call: the client's default request timeout does.
        let after = ClientOptions::default().request_timeout;
        let outcome = tokio::time::timeout(after, self.call(&call))
            .await
            .unwrap_or_else(|_| Err(CallError::Timeout { tool: name.to_owned(), after }));
        Ok(outcome.unwrap_or_else(|e| CallToolResult::error(e.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str, description: &str) -> Tool {
        Tool::new(name, description, serde_json::json!({"type": "object"}).as_object().cloned().unwrap_or_default())
    }

    /// A provider whose subscriptions take a while to admit (and that refuses `x://secret`), and
    /// which records what it hears.
    #[derive(Default, Clone)]
    struct Slow {
        events: Arc<std::sync::Mutex<Vec<String>>>,
    }

    #[async_trait::async_trait]
    impl crate::registry::ResourceProvider for Slow {
        fn resources(&self) -> Vec<crate::protocol::Resource> {
            Vec::new()
        }

        async fn read(&self, _uri: &str) -> Option<Result<Vec<crate::protocol::ResourceContents>, crate::ToolError>> {
            None
        }

        async fn subscribe(&self, uri: &str, _cx: &ToolContext) -> Option<Result<(), crate::ToolError>> {
            self.events.lock().expect("events").push(format!("subscribe {uri}"));
            tokio::time::sleep(Duration::from_millis(300)).await;
            Some(if uri == "x://secret" { Err(crate::ToolError::invalid_params("not for you")) } else { Ok(()) })
        }

        fn unsubscribed(&self, uri: &str) {
            self.events.lock().expect("events").push(format!("unsubscribed {uri}"));
        }
    }

    /// An upstream running over an in-process server of `slow`'s resources, in `era`.
    async fn running_over(slow: &Slow, era: EraPreference) -> Arc<Upstream> {
        serving(slow.clone(), era).await.0
    }

    /// An upstream running over an in-process server of `provider`'s resources, in `era`; the
    /// server, and the notifications the upstream's client hears.
    async fn serving(
        provider: impl crate::registry::ResourceProvider + 'static,
        era: EraPreference,
    ) -> (Arc<Upstream>, crate::Server, mpsc::UnboundedReceiver<crate::protocol::Notification>) {
        let mut registry = crate::Registry::new();
        registry.resource(provider);
        let server = crate::Server::builder(Implementation::new("slow", "1"), registry).resource_updates(true).build();
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let (r, w) = tokio::io::split(server_io);
        let serving = server.clone();
        tokio::spawn(async move { serving.serve(r, w).await });
        let (r, w) = tokio::io::split(client_io);
        let (notes_tx, notes) = mpsc::unbounded_channel();
        let options = ClientOptions { era, notifications: Some(notes_tx), ..ClientOptions::default() };
        let client = Client::connect("slow", r, w, options).await.expect("connects");
        let upstream = Upstream::new("slow", McpConfig::default(), Restart::default());
        *upstream.state.write().await = State::Up(Arc::new(client));
        (upstream, server, notes)
    }

    /// A provider that takes every subscription at once.
    struct Open;

    #[async_trait::async_trait]
    impl crate::registry::ResourceProvider for Open {
        fn resources(&self) -> Vec<crate::protocol::Resource> {
            Vec::new()
        }

        async fn read(&self, _uri: &str) -> Option<Result<Vec<crate::protocol::ResourceContents>, crate::ToolError>> {
            None
        }

        async fn subscribe(&self, _uri: &str, _cx: &ToolContext) -> Option<Result<(), crate::ToolError>> {
            Some(Ok(()))
        }
    }

    /// A change asked for where no runtime runs (and none supervises the server) is made with
    /// the next one asked for within a runtime, and wedges nothing.
    #[tokio::test]
    async fn a_change_asked_outside_a_runtime_is_made_with_the_next() {
        let slow = Slow::default();
        let upstream = running_over(&slow, EraPreference::Handshake).await;
        upstream.subscribe("x://a").await.expect("subscribed");
        let outside = upstream.clone();
        std::thread::spawn(move || outside.unsubscribe("x://a", || false)).join().expect("asked");
        upstream.subscribe("x://b").await.expect("subscribed");
        let events = std::mem::take(&mut *slow.events.lock().expect("events"));
        assert_eq!(events, ["subscribe x://a", "unsubscribed x://a", "subscribe x://b"]);
    }

    /// Subscribes and unsubscribes from many callers at once, made as a gateway makes them (the
    /// server is told to let a URI go when its last holder does, unless it is held again by
    /// then), leave the server watching exactly what is held once they are done: each URI held
    /// hears its update once, each let go none. In both eras.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn changes_from_many_callers_at_once_settle_on_what_is_held() {
        let uris: Vec<String> = (0..6).map(|n| format!("x://{n}")).collect();
        for era in [EraPreference::Modern, EraPreference::Handshake] {
            let (upstream, server, mut notes) = serving(Open, era).await;
            // Holders of each URI, as the gateway counts them.
            let held: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>> = Arc::default();
            let mut callers = Vec::new();
            for caller in 0..8u64 {
                let (upstream, held, uris) = (upstream.clone(), held.clone(), uris.clone());
                callers.push(tokio::spawn(async move {
                    let mut state = caller.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                    let mut mine: Vec<String> = Vec::new();
                    for _ in 0..30 {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        let uri = &uris[(state % uris.len() as u64) as usize];
                        if let Some(at) = mine.iter().position(|u| u == uri) {
                            mine.remove(at);
                            let last = {
                                let mut held = held.lock().expect("held");
                                let count = held.get_mut(uri).expect("held");
                                *count -= 1;
                                let last = *count == 0;
                                if last {
                                    held.remove(uri);
                                }
                                last
                            };
                            if last {
                                let (held, uri) = (held.clone(), uri.clone());
                                upstream
                                    .unsubscribe(&uri.clone(), move || held.lock().expect("held").contains_key(&uri));
                            }
                        } else {
                            *held.lock().expect("held").entry(uri.clone()).or_default() += 1;
                            mine.push(uri.clone());
                            upstream.subscribe(uri).await.expect("taken");
                        }
                        if state % 3 == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                }));
            }
            for caller in callers {
                caller.await.expect("ran");
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let settled = {
                    let changes = upstream.changes.lock().expect("changes");
                    !changes.making && changes.asked.is_empty()
                };
                if settled {
                    break;
                }
                assert!(Instant::now() < deadline, "{era:?}: the changes never settled");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            while notes.try_recv().is_ok() {}
            for uri in &uris {
                server.notify_resource_updated(uri.clone());
            }
            let mut heard = Vec::new();
            let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
            while let Ok(Some(note)) = tokio::time::timeout_at(deadline, notes.recv()).await {
                if note.method == crate::protocol::methods::RESOURCE_UPDATED {
                    let uri = note.params.as_ref().and_then(|p| p.get("uri")).and_then(Value::as_str);
                    heard.push(uri.unwrap_or_default().to_owned());
                }
            }
            heard.sort();
            let mut expected: Vec<String> = held.lock().expect("held").keys().cloned().collect();
            expected.sort();
            // Each caller's own steps are fixed, and so is what they hold at the end.
            assert!(!expected.is_empty(), "{era:?}: nothing held");
            assert_eq!(heard, expected, "{era:?}: what the server watches is what is held");
        }
    }

    /// A subscribe whose caller gives up while the server is asked is made all the same (by the
    /// upstream's own task), and the unsubscribe that follows tells the server.
    #[tokio::test]
    async fn a_subscribe_given_up_on_the_way_is_still_ended_at_the_server() {
        let slow = Slow::default();
        let upstream = running_over(&slow, EraPreference::Handshake).await;

        let given_up = tokio::time::timeout(Duration::from_millis(100), upstream.subscribe("x://a")).await;
        assert!(given_up.is_err(), "still being admitted");
        upstream.unsubscribe("x://a", || false);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !slow.events.lock().expect("events").contains(&"unsubscribed x://a".to_owned()) {
            assert!(Instant::now() < deadline, "the server was never told: {:?}", slow.events.lock().expect("events"));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(*slow.events.lock().expect("events"), ["subscribe x://a", "unsubscribed x://a"]);
    }

    /// At a `2026-07-28` server, a subscription whose new listen stream leaves out its URI (or
    /// one taken before) is refused, and the stream in use stays.
    #[tokio::test]
    async fn a_listen_stream_that_leaves_a_uri_out_is_not_taken() {
        let slow = Slow::default();
        let upstream = running_over(&slow, EraPreference::Modern).await;
        let events = || std::mem::take(&mut *slow.events.lock().expect("events"));

        upstream.subscribe("x://a").await.expect("subscribed");
        assert_eq!(events(), ["subscribe x://a"]);
        let refused = upstream.subscribe("x://secret").await.expect_err("left out");
        assert!(refused.message.contains("leaves out `x://secret`"), "{refused:?}");
        // The refused stream ends; the one for `x://a` goes on.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        while seen.len() < 3 && Instant::now() < deadline {
            seen.extend(events());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(seen, ["subscribe x://a", "subscribe x://secret", "unsubscribed x://secret"]);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(events(), Vec::<String>::new(), "`x://a` stays watched");
        upstream.unsubscribe("x://a", || false);
        while seen.len() < 4 && Instant::now() < deadline {
            seen.extend(events());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(seen.last().map(String::as_str), Some("unsubscribed x://a"), "{seen:?}");
    }

    /// Subscribes and unsubscribes asked for at once are made together, in the order asked: at a
    /// `2026-07-28` server one new listen stream carries them all, each subscriber hears its own
    /// outcome, and a URI subscribed to and let go again at once is not asked for.
    #[tokio::test]
    async fn changes_asked_for_at_once_are_made_on_one_listen_stream() {
        let slow = Slow::default();
        let upstream = running_over(&slow, EraPreference::Modern).await;
        let events = || std::mem::take(&mut *slow.events.lock().expect("events"));
        let seen = |count: usize| async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut seen = Vec::new();
            while seen.len() < count && Instant::now() < deadline {
                seen.extend(events());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            seen.extend(events());
            seen
        };

        upstream.subscribe("x://a").await.expect("subscribed");
        assert_eq!(events(), ["subscribe x://a"]);
        let (b, secret, c, ()) = tokio::join!(
            upstream.subscribe("x://b"),
            upstream.subscribe("x://secret"),
            upstream.subscribe("x://c"),
            async { upstream.unsubscribe("x://c", || false) },
        );
        b.expect("taken");
        c.expect("let go again: nothing to refuse");
        let refused = secret.expect_err("left out");
        assert!(refused.message.contains("leaves out `x://secret`"), "{refused:?}");
        assert_eq!(
            seen(4).await,
            ["subscribe x://a", "subscribe x://b", "subscribe x://secret", "unsubscribed x://secret"]
        );

        // Both let go at once: the stream ends, and none is opened for what is left in between.
        upstream.unsubscribe("x://a", || false);
        upstream.unsubscribe("x://b", || false);
        assert_eq!(seen(2).await, ["unsubscribed x://a", "unsubscribed x://b"]);
    }

    #[test]
    fn a_new_list_keeps_the_shared_copy_of_each_unchanged_definition() {
        let upstream = Upstream::new("up", McpConfig::default(), Restart::default());
        upstream.set_tools(vec![tool("a", "one"), tool("b", "two")]);
        let before = upstream.tools();
        upstream.set_tools(vec![tool("a", "one"), tool("b", "changed"), tool("c", "new")]);
        let after = upstream.tools();
        assert_eq!(after.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
        assert!(Arc::ptr_eq(&before[0], &after[0]), "an unchanged definition is the same shared copy");
        assert!(!Arc::ptr_eq(&before[1], &after[1]) && after[1].description.as_deref() == Some("changed"));
        assert_eq!(upstream.generation(), 2);
    }
}
