//! The state of one connection's peer: the revision it speaks, the capabilities it declared,
//! the log level it asked for, and the resources it subscribed to. A session of the handshake
//! era holds one for its lifetime; a 2026-07-28 request brings its own in `_meta`; the
//! in-memory client has one per client.

use crate::call::ask::Questions;
use crate::call::context::LogLevel;
use crate::protocol::ProtocolVersion;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The most resources one peer may subscribe to.
pub(crate) const MAX_SUBSCRIPTIONS: usize = 1024;

/// The most bytes of URIs one peer's subscriptions may hold together.
pub(crate) const MAX_SUBSCRIPTION_BYTES: usize = 64 * 1024;

/// The resources a peer subscribed to, and the bytes of their URIs.
#[derive(Default)]
struct Subscriptions {
    uris: HashSet<String>,
    bytes: usize,
}

impl Subscriptions {
    /// Adds `uri` unless a bound would be passed; whether it was new.
    fn add(&mut self, uri: &str) -> Result<bool, String> {
        if self.uris.contains(uri) {
            return Ok(false);
        }
        if self.uris.len() >= MAX_SUBSCRIPTIONS {
            return Err(format!(
                "too many subscriptions: a session may hold {MAX_SUBSCRIPTIONS}"
            ));
        }
        if self.bytes + uri.len() > MAX_SUBSCRIPTION_BYTES {
            return Err(format!(
                "the subscriptions of this session would hold more than {MAX_SUBSCRIPTION_BYTES} \
                 bytes of URIs; unsubscribe from some first"
            ));
        }
        self.bytes += uri.len();
        self.uris.insert(uri.to_owned());
        Ok(true)
    }
}

/// What the server knows of the client at the other end.
pub(crate) struct Peer {
    version: AtomicU8,
    capabilities: Mutex<Option<Arc<Value>>>,
    /// 0 for none, else the level's index + 1.
    log_level: AtomicU8,
    subscriptions: Mutex<Subscriptions>,
    /// The questions this client has not answered yet (made when first needed: most peers
    /// are never asked anything).
    questions: std::sync::OnceLock<Arc<Questions>>,
    /// The id of the session this peer is the client of, when there is one.
    session_id: std::sync::OnceLock<Arc<str>>,
    /// Counts changes to what a session record keeps (revision, capabilities, log level,
    /// subscriptions): a shared session store is written when it moves.
    revision: AtomicU64,
}

const LEVELS: [LogLevel; 8] = [
    LogLevel::Debug,
    LogLevel::Info,
    LogLevel::Notice,
    LogLevel::Warning,
    LogLevel::Error,
    LogLevel::Critical,
    LogLevel::Alert,
    LogLevel::Emergency,
];

fn version_index(v: ProtocolVersion) -> u8 {
    ProtocolVersion::ALL
        .iter()
        .position(|x| *x == v)
        .expect("a known revision") as u8
}

impl Peer {
    /// A peer speaking `version`, with what it declared.
    pub(crate) fn new(
        version: ProtocolVersion,
        capabilities: Option<Value>,
        log_level: Option<LogLevel>,
    ) -> Arc<Self> {
        let peer = Self {
            version: AtomicU8::new(version_index(version)),
            capabilities: Mutex::new(capabilities.map(Arc::new)),
            log_level: AtomicU8::new(0),
            subscriptions: Mutex::default(),
            questions: std::sync::OnceLock::new(),
            session_id: std::sync::OnceLock::new(),
            revision: AtomicU64::new(0),
        };
        if let Some(l) = log_level {
            peer.set_log_level(l);
        }
        Arc::new(peer)
    }

    /// The revision the peer speaks.
    pub(crate) fn version(&self) -> ProtocolVersion {
        ProtocolVersion::ALL[usize::from(self.version.load(Ordering::Relaxed))]
    }

    pub(crate) fn set_version(&self, version: ProtocolVersion) {
        self.version
            .store(version_index(version), Ordering::Relaxed);
        self.changed();
    }

    fn changed(&self) {
        self.revision.fetch_add(1, Ordering::Relaxed);
    }

    /// How many times what a session record keeps has changed.
    pub(crate) fn revision(&self) -> u64 {
        self.revision.load(Ordering::Relaxed)
    }

    /// The capabilities the client declared, when known.
    pub(crate) fn capabilities(&self) -> Option<Arc<Value>> {
        lock(&self.capabilities).clone()
    }

    pub(crate) fn set_capabilities(&self, capabilities: Option<Value>) {
        *lock(&self.capabilities) = capabilities.map(Arc::new);
        self.changed();
    }

    /// The least severe log level the client wants; `None` for no log messages.
    pub(crate) fn log_level(&self) -> Option<LogLevel> {
        match self.log_level.load(Ordering::Relaxed) {
            0 => None,
            n => Some(LEVELS[usize::from(n - 1)]),
        }
    }

    pub(crate) fn set_log_level(&self, level: LogLevel) {
        let i = LEVELS.iter().position(|l| *l == level).expect("a level") as u8;
        self.log_level.store(i + 1, Ordering::Relaxed);
        self.changed();
    }

    /// No log messages any more.
    pub(crate) fn clear_log_level(&self) {
        if self.log_level.swap(0, Ordering::Relaxed) != 0 {
            self.changed();
        }
    }

    /// Replaces the subscriptions (a session's record read from a shared store), within the
    /// same bounds as [`Peer::subscribe`].
    pub(crate) fn set_subscriptions(&self, uris: &[String]) {
        let mut subs = lock(&self.subscriptions);
        if subs.uris.len() != uris.len() || !uris.iter().all(|u| subs.uris.contains(u)) {
            let mut new = Subscriptions::default();
            for uri in uris {
                if new.add(uri).is_err() {
                    break;
                }
            }
            *subs = new;
            drop(subs);
            self.changed();
        }
    }

    /// The id of this peer's session, if any.
    pub(crate) fn session_id(&self) -> Option<&str> {
        self.session_id.get().map(|s| &**s)
    }

    /// Names this peer's session (once).
    pub(crate) fn set_session_id(&self, id: &str) {
        let _ = self.session_id.set(id.into());
    }

    /// The questions this client has not answered yet.
    pub(crate) fn questions(&self) -> Arc<Questions> {
        self.questions.get_or_init(Arc::default).clone()
    }

    /// Delivers an answer to one of this client's questions; false when none waits for it.
    pub(crate) fn answer(
        &self,
        id: &crate::protocol::RequestId,
        result: Result<Value, Value>,
    ) -> bool {
        self.questions.get().is_some_and(|q| q.answer(id, result))
    }

    /// Whether one of this client's questions with this id waits here.
    pub(crate) fn is_asking(&self, id: &crate::protocol::RequestId) -> bool {
        self.questions.get().is_some_and(|q| q.is_waiting(id))
    }

    /// Ends every open question (the connection is gone).
    pub(crate) fn close_questions(&self) {
        if let Some(q) = self.questions.get() {
            q.close_all();
        }
    }

    /// Subscribes to a resource's updates; refused, saying why, when the peer holds
    /// [`MAX_SUBSCRIPTIONS`] or [`MAX_SUBSCRIPTION_BYTES`] already.
    pub(crate) fn subscribe(&self, uri: &str) -> Result<(), String> {
        if lock(&self.subscriptions).add(uri)? {
            self.changed();
        }
        Ok(())
    }

    pub(crate) fn unsubscribe(&self, uri: &str) {
        let mut subs = lock(&self.subscriptions);
        if subs.uris.remove(uri) {
            subs.bytes -= uri.len();
            drop(subs);
            self.changed();
        }
    }

    /// The resources subscribed to, sorted.
    pub(crate) fn subscriptions(&self) -> Vec<String> {
        let mut subs: Vec<String> = lock(&self.subscriptions).uris.iter().cloned().collect();
        subs.sort();
        subs
    }

    /// Whether the peer subscribed to `uri`.
    pub(crate) fn is_subscribed(&self, uri: &str) -> bool {
        lock(&self.subscriptions).uris.contains(uri)
    }
}
