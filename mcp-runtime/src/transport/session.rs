//! The live sessions of the Streamable HTTP transport: created by `initialize`, named by a
//! random `Mcp-Session-Id`, each with its streams (`replay.rs`) and its calls in flight, and
//! recorded in the shared store when there is one.

use crate::core::peer::Peer;
use crate::protocol::ProtocolVersion;
use crate::protocol::{RequestId, RpcError};
use crate::store::shared::SessionRecord;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

use super::replay::{
    Budget, EventLog, EventStream, Replay, STREAMS_PER_SESSION, lock, parse_event_id,
};

/// The record a shared store keeps of a session's peer as it is now.
fn record_of(id: &str, owner: Option<&str>, client: &str, peer: &Peer) -> SessionRecord {
    SessionRecord {
        id: id.to_owned(),
        owner: owner.map(str::to_owned),
        client: client.to_owned(),
        version: peer.version().as_str().to_owned(),
        capabilities: peer.capabilities().map(|c| (*c).clone()),
        log_level: peer.log_level(),
        subscriptions: peer.subscriptions(),
    }
}

/// The peer a record describes; `None` when its revision is not one this server speaks.
fn peer_of(record: &SessionRecord) -> Option<Arc<Peer>> {
    let version = ProtocolVersion::parse(&record.version)?;
    let peer = Peer::new(version, record.capabilities.clone(), record.log_level);
    peer.set_subscriptions(&record.subscriptions);
    peer.set_session_id(&record.id);
    Some(peer)
}

/// A new session id: 128 random bits (visible ASCII, as required).
pub(crate) use crate::protocol::random_id as new_session_id;

/// One client's session.
pub(crate) struct Session {
    pub(crate) id: String,
    /// The caller that created the session (see `auth::session_owner`); only it may use it.
    pub(crate) owner: Option<String>,
    /// Who the session counts against for the per-client limit: the owner, or the address.
    client: String,
    /// The client at the other end: its revision, capabilities, log level, subscriptions.
    pub(crate) peer: Arc<Peer>,
    /// The stream of the legacy HTTP+SSE transport, for sessions opened by `GET /sse`.
    pub(crate) legacy_stream: std::sync::OnceLock<Arc<EventStream>>,
    last_seen: Mutex<Instant>,
    in_flight: crate::core::Running,
    streams: Mutex<VecDeque<Arc<EventStream>>>,
    /// The bytes the streams hold together.
    budget: Arc<Budget>,
    next_stream: AtomicU64,
    /// Whether a standalone GET stream is open.
    pub(crate) get_stream_open: std::sync::atomic::AtomicBool,
    /// Cancelled when the session ends (DELETE, expiry, shutdown).
    pub(crate) ended: CancellationToken,
    replay: Replay,
    /// The peer's revision last written to the shared store (`u64::MAX`: never).
    saved_revision: AtomicU64,
    /// The shared store its streams are logged in, and how long a log outlives its last event.
    store: Option<(Arc<dyn crate::store::shared::SessionStore>, Duration)>,
    /// The record last read from or written to the shared store.
    seen: Mutex<Option<crate::store::shared::SessionRecord>>,
}

impl Session {
    /// The record a shared store keeps of this session.
    pub(crate) fn record(&self) -> SessionRecord {
        record_of(&self.id, self.owner.as_deref(), &self.client, &self.peer)
    }

    /// Whether the peer changed since the record was last saved.
    pub(crate) fn unsaved(&self) -> bool {
        self.saved_revision.load(Ordering::Relaxed) != self.peer.revision()
    }

    /// Notes that `record`, of the peer's `revision`, was saved.
    pub(crate) fn saved(&self, revision: u64, record: crate::store::shared::SessionRecord) {
        self.saved_revision.store(revision, Ordering::Relaxed);
        *lock(&self.seen) = Some(record);
    }

    /// Brings this process's copy of the session up to its shared record, as another instance
    /// may have changed it (`logging/setLevel`, subscriptions). Changes made here and not saved
    /// yet win: they are saved when their request ends.
    pub(crate) fn refresh(&self, record: &crate::store::shared::SessionRecord) {
        let mut seen = lock(&self.seen);
        if seen.as_ref() == Some(record) || self.unsaved() {
            return;
        }
        if let Some(v) = crate::protocol::ProtocolVersion::parse(&record.version) {
            self.peer.set_version(v);
        }
        self.peer.set_capabilities(record.capabilities.clone());
        match record.log_level {
            Some(level) => self.peer.set_log_level(level),
            None => self.peer.clear_log_level(),
        }
        self.peer.set_subscriptions(&record.subscriptions);
        self.saved_revision
            .store(self.peer.revision(), Ordering::Relaxed);
        *seen = Some(record.clone());
    }

    pub(crate) fn touch(&self) {
        *lock(&self.last_seen) = Instant::now();
    }

    /// Registers an in-flight request so `notifications/cancelled` can reach it; refused when
    /// the session already has its most requests running.
    pub(crate) fn start_request(
        &self,
        id: RequestId,
        token: CancellationToken,
    ) -> Result<(), crate::core::Busy> {
        self.in_flight.start(id, token)
    }

    /// Once the session has no call running.
    pub(crate) async fn calls_ended(&self) {
        self.in_flight.drained().await;
    }

    pub(crate) fn end_request(&self, id: &RequestId) {
        self.in_flight.end(id);
        // The idle clock starts again when a call ends, not when it began.
        self.touch();
    }

    /// Whether the session has been idle for longer than `timeout`: no call running, no GET
    /// (or legacy) stream open, and no request in that time. A running call or an open stream
    /// is activity; expiring under it would cancel the call or cut the stream.
    fn idle_longer_than(&self, timeout: Duration) -> bool {
        // The clock first: on the request path it is nearly always recent.
        lock(&self.last_seen).elapsed() > timeout && !self.is_busy()
    }

    /// Whether a call of the session is running or one of its streams is open.
    fn is_busy(&self) -> bool {
        self.get_stream_open.load(Ordering::SeqCst)
            || self.legacy_stream.get().is_some()
            || !self.in_flight.is_empty()
    }

    /// Cancels an in-flight request; whether it ran here (unknown or finished ids are ignored).
    pub(crate) fn cancel_request(&self, id: &RequestId) -> bool {
        self.in_flight.cancel(id)
    }

    /// A new stream of this session, kept for resumption (and logged, with a shared store).
    pub(crate) fn new_stream(&self) -> Arc<EventStream> {
        let (id, log) = match &self.store {
            // Unique across the instances that serve the session: random.
            Some((store, idle)) => (
                crate::protocol::random_u64() >> 1,
                Some(EventLog {
                    store: store.clone(),
                    session: self.id.as_str().into(),
                    idle: *idle,
                    writing: tokio::sync::Mutex::new(()),
                }),
            ),
            None => (self.next_stream.fetch_add(1, Ordering::Relaxed), None),
        };
        let stream = EventStream::in_budget(id, self.replay, self.budget.clone(), log);
        let mut streams = lock(&self.streams);
        // Past its most streams, the oldest finished one goes; never a live one (the answer of
        // a call still running would not be resumable): those are bounded by the session's
        // running requests, their events by its bytes.
        if streams.len() >= STREAMS_PER_SESSION
            && let Some(pos) = streams.iter().position(|s| s.is_finished())
        {
            streams.remove(pos);
        }
        // Over the session's bytes: finished streams go first, oldest first, so that the
        // events of live streams stay resumable.
        while self.budget.over() {
            match streams.iter().position(|s| s.is_finished()) {
                Some(pos) => drop(streams.remove(pos)),
                None => break,
            }
        }
        streams.push_back(stream.clone());
        stream
    }

    /// The stream an event id belongs to, and the sequence number in it.
    pub(crate) fn find_event(&self, last_event_id: &str) -> Option<(Arc<EventStream>, u64)> {
        let (stream, seq) = parse_event_id(last_event_id)?;
        let streams = lock(&self.streams);
        streams
            .iter()
            .find(|s| s.id == stream)
            .map(|s| (s.clone(), seq))
    }

    fn end(&self) {
        self.ended.cancel();
        self.peer.close_questions();
        self.in_flight.cancel_all();
        for s in lock(&self.streams).iter() {
            s.finish();
        }
    }
}

impl crate::core::InFlight for Session {
    fn start(&self, id: RequestId, cancel: CancellationToken) -> Result<(), RpcError> {
        self.start_request(id, cancel)
            .map_err(crate::core::Busy::into_error)
    }
    fn end(&self, id: &RequestId) {
        self.end_request(id);
    }
}

/// Why a session could not be found.
pub(crate) enum Lookup {
    Found(Arc<Session>),
    /// Never existed, ended, or expired: 404.
    Unknown,
}

/// Every live session of a mounted server.
/// Why no session was created.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Every session is busy and the table is full.
    Full,
    /// This client has its most sessions, all busy.
    ClientLimit,
}

/// The live sessions, and how many each client holds.
#[derive(Default)]
struct Table {
    sessions: HashMap<String, Arc<Session>>,
    per_client: HashMap<String, usize>,
}

impl Table {
    fn insert(&mut self, session: Arc<Session>) {
        match self.per_client.get_mut(&session.client) {
            Some(n) => *n += 1,
            None => {
                self.per_client.insert(session.client.clone(), 1);
            }
        }
        self.sessions.insert(session.id.clone(), session);
    }

    fn remove(&mut self, id: &str) -> Option<Arc<Session>> {
        let session = self.sessions.remove(id)?;
        if let Some(n) = self.per_client.get_mut(&session.client) {
            *n -= 1;
            if *n == 0 {
                self.per_client.remove(&session.client);
            }
        }
        Some(session)
    }

    fn count(&self, client: &str) -> usize {
        self.per_client.get(client).copied().unwrap_or(0)
    }

    /// Removes the session idle longest with no call running and no stream open, among those
    /// of `client` (or all).
    fn evict_idlest(&mut self, client: Option<&str>) -> Option<Arc<Session>> {
        let id = self
            .sessions
            .values()
            .filter(|s| client.is_none_or(|c| s.client == c) && !s.is_busy())
            .min_by_key(|s| *lock(&s.last_seen))?
            .id
            .clone();
        self.remove(&id)
    }
}

pub(crate) struct Sessions {
    map: Mutex<Table>,
    idle_timeout: Duration,
    max_sessions: usize,
    max_per_client: usize,
    max_in_flight: usize,
    /// The calls every session of the mount runs, together.
    calls: Arc<crate::core::CallBudget>,
    replay: Replay,
    last_sweep: Mutex<Instant>,
    /// When a full table was last logged: a flood of refused clients writes one line a minute.
    full_logged: Mutex<Option<Instant>>,
    /// Parent of every session's `ended` token: cancelled on shutdown.
    shutdown: CancellationToken,
    /// The shared store the sessions' streams are logged in, when there is one.
    store: Option<Arc<dyn crate::store::shared::SessionStore>>,
}

impl Sessions {
    /// Bounds the calls all sessions run at once, together, to `max`.
    pub(crate) fn with_max_calls(mut self, max: usize) -> Self {
        self.calls = crate::core::CallBudget::new(max);
        self
    }

    /// Logs the streams of every session in `store` (see [`EventLog`]).
    pub(crate) fn logged_in(
        mut self,
        store: Option<Arc<dyn crate::store::shared::SessionStore>>,
    ) -> Self {
        self.store = store;
        self
    }

    pub(crate) fn new(
        idle_timeout: Duration,
        max_sessions: usize,
        max_per_client: usize,
        max_in_flight: usize,
        replay: Replay,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            map: Mutex::new(Table::default()),
            idle_timeout,
            max_sessions,
            max_per_client: max_per_client.max(1),
            max_in_flight: max_in_flight.max(1),
            calls: crate::core::CallBudget::new(usize::MAX),
            replay,
            last_sweep: Mutex::new(Instant::now()),
            full_logged: Mutex::new(None),
            shutdown,
            store: None,
        }
    }

    /// Creates a session for `client` (see [`Session::client`]). At a limit (the client's, or
    /// the table's), the idlest session with nothing running is ended to make room (the
    /// client's own at its limit); when every one is busy, nothing is created.
    pub(crate) fn create(
        &self,
        peer: Arc<Peer>,
        owner: Option<String>,
        client: String,
    ) -> Result<Arc<Session>, Refused> {
        let id = new_session_id();
        peer.set_session_id(&id);
        self.insert(id, peer, owner, client)
    }

    /// Serves here a session another instance created, from its shared record (under the same
    /// limits as a new one). `None` when the record names a revision this server does not speak.
    pub(crate) fn adopt(
        &self,
        record: &crate::store::shared::SessionRecord,
    ) -> Option<Result<Arc<Session>, Refused>> {
        let local = lock(&self.map).sessions.get(&record.id).cloned();
        if let Some(s) = local {
            s.touch();
            s.refresh(record);
            return Some(Ok(s));
        }
        let peer = peer_of(record)?;
        let session = self.insert(
            record.id.clone(),
            peer,
            record.owner.clone(),
            record.client.clone(),
        );
        if let Ok(s) = &session {
            s.saved(s.peer.revision(), record.clone());
        }
        Some(session)
    }

    fn insert(
        &self,
        id: String,
        peer: Arc<Peer>,
        owner: Option<String>,
        client: String,
    ) -> Result<Arc<Session>, Refused> {
        self.sweep();
        let session = Arc::new(Session {
            id,
            owner,
            client,
            peer,
            legacy_stream: std::sync::OnceLock::new(),
            last_seen: Mutex::new(Instant::now()),
            in_flight: crate::core::Running::new(self.max_in_flight, "this session")
                .within(self.calls.clone()),
            streams: Mutex::new(VecDeque::new()),
            budget: Budget::new(self.replay.session_bytes),
            next_stream: AtomicU64::new(1),
            get_stream_open: std::sync::atomic::AtomicBool::new(false),
            ended: self.shutdown.child_token(),
            replay: self.replay,
            saved_revision: AtomicU64::new(u64::MAX),
            store: self.store.clone().map(|store| (store, self.idle_timeout)),
            seen: Mutex::new(None),
        });
        let mut table = lock(&self.map);
        let evicted = if table.count(&session.client) >= self.max_per_client {
            match table.evict_idlest(Some(&session.client)) {
                Some(e) => Some(e),
                None => return Err(Refused::ClientLimit),
            }
        } else if table.sessions.len() >= self.max_sessions {
            match table.evict_idlest(None) {
                Some(e) => Some(e),
                None => {
                    drop(table);
                    self.log_full();
                    return Err(Refused::Full);
                }
            }
        } else {
            None
        };
        table.insert(session.clone());
        drop(table);
        if let Some(e) = evicted {
            tracing::debug!("a session was ended to make room for a new one");
            e.end();
        }
        Ok(session)
    }

    /// A warning that the table is full, at most once a minute.
    fn log_full(&self) {
        const EVERY: Duration = Duration::from_secs(60);
        let mut last = lock(&self.full_logged);
        if last.is_some_and(|t| t.elapsed() < EVERY) {
            return;
        }
        *last = Some(Instant::now());
        tracing::warn!(
            max_sessions = self.max_sessions,
            "the session table is full and every session is busy; new sessions are refused with \
             503 (logged at most once a minute)"
        );
    }

    pub(crate) fn get(&self, id: &str) -> Lookup {
        let mut map = lock(&self.map);
        match map.sessions.get(id) {
            Some(s) if s.ended.is_cancelled() => {
                map.remove(id);
                Lookup::Unknown
            }
            Some(s) if s.idle_longer_than(self.idle_timeout) => {
                let s = map.remove(id).expect("present");
                drop(map);
                s.end();
                Lookup::Unknown
            }
            Some(s) => {
                s.touch();
                Lookup::Found(s.clone())
            }
            None => Lookup::Unknown,
        }
    }

    /// The ids of the sessions with a call running or a stream open here.
    pub(crate) fn busy(&self) -> Vec<String> {
        lock(&self.map)
            .sessions
            .values()
            .filter(|s| s.is_busy())
            .map(|s| s.id.clone())
            .collect()
    }

    /// The session as this process has it, without the expiry rules of [`Sessions::get`]
    /// (a shared store decides those).
    pub(crate) fn local(&self, id: &str) -> Option<Arc<Session>> {
        let s = lock(&self.map).sessions.get(id).cloned()?;
        s.touch();
        Some(s)
    }

    /// Ends a session (DELETE). Returns whether it existed.
    pub(crate) fn remove(&self, id: &str) -> bool {
        let removed = lock(&self.map).remove(id);
        match removed {
            Some(s) => {
                s.end();
                true
            }
            None => false,
        }
    }

    /// Drops expired sessions, at most every quarter of the idle timeout.
    fn sweep(&self) {
        {
            let mut last = lock(&self.last_sweep);
            if last.elapsed() < self.idle_timeout / 4 {
                return;
            }
            *last = Instant::now();
        }
        let expired: Vec<Arc<Session>> = {
            let mut map = lock(&self.map);
            let ids: Vec<String> = map
                .sessions
                .iter()
                .filter(|(_, s)| s.ended.is_cancelled() || s.idle_longer_than(self.idle_timeout))
                .map(|(k, _)| k.clone())
                .collect();
            ids.iter().filter_map(|id| map.remove(id)).collect()
        };
        for s in expired {
            s.end();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::context::LogLevel;

    #[test]
    fn a_record_round_trips_through_its_peer() {
        let peer = Peer::new(
            ProtocolVersion::V2025_06_18,
            Some(serde_json::json!({"elicitation": {}})),
            Some(LogLevel::Warning),
        );
        peer.subscribe("file:///a").unwrap();
        let record = record_of("s1", Some("iss|bob"), "bob", &peer);
        let json = serde_json::to_string(&record).unwrap();
        let back: SessionRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, record);
        let again = peer_of(&back).unwrap();
        assert_eq!(again.version(), ProtocolVersion::V2025_06_18);
        assert_eq!(again.log_level(), Some(LogLevel::Warning));
        assert!(again.is_subscribed("file:///a"));
        assert_eq!(again.session_id(), Some("s1"));
        assert_eq!(record_of("s1", Some("iss|bob"), "bob", &again), record);
        let mut unknown = record;
        unknown.version = "1999-01-01".into();
        assert!(peer_of(&unknown).is_none());
    }

    fn session_with(replay: Replay) -> Arc<Session> {
        let sessions = Sessions::new(
            Duration::from_secs(60),
            10,
            10,
            10,
            replay,
            CancellationToken::new(),
        );
        let peer = Peer::new(
            crate::protocol::ProtocolVersion::LATEST_HANDSHAKE,
            None,
            None,
        );
        sessions.create(peer, None, "c".into()).ok().unwrap()
    }

    #[tokio::test]
    async fn the_streams_of_a_session_are_bounded_in_bytes_together() {
        let session = session_with(Replay {
            events: 100,
            bytes: 1000,
            session_bytes: 1000,
        });
        let held = || session.budget.used.load(Ordering::Relaxed);
        // A finished stream holding 800 bytes.
        let a = session.new_stream();
        a.push_finished(vec!["a".repeat(400).into(), "a".repeat(400).into()]);
        let a_first = a.event_id(1);
        drop(a);
        // A live stream: its first event fits the stream's own bound, not the session's; an
        // empty buffer takes it anyway (it is not delivered yet).
        let b = session.new_stream();
        b.push("b".repeat(400).into()).await;
        assert_eq!(held(), 1200);
        // Past the session's bound, a new stream makes room by ending finished streams first.
        let c = session.new_stream();
        assert_eq!(held(), 400, "the finished stream's bytes were freed");
        assert!(session.find_event(&a_first).is_none());
        assert!(
            session.find_event(&b.event_id(1)).is_some(),
            "live streams stay"
        );
        // Within live streams, the oldest events go to keep the total under the bound.
        c.push("c".repeat(400).into()).await;
        c.push("c".repeat(400).into()).await;
        assert!(held() <= 1000, "{} bytes held", held());
        for _ in 0..10 {
            b.push("b".repeat(300).into()).await;
            c.push("c".repeat(300).into()).await;
        }
        assert!(held() <= 1000, "{} bytes held", held());
        // Events dropped with their streams leave the count.
        drop((b, c));
        session.end();
        lock(&session.streams).clear();
        assert_eq!(held(), 0);
    }

    #[test]
    fn ids_are_random_hex() {
        let a = new_session_id();
        let b = new_session_id();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
