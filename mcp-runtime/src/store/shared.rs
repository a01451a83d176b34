//! Session records shared by the instances of an app.
//!
//! Without a [`SessionStore`] a session lives in the process that created it. With one, its
//! record (who owns it, the revision and capabilities the client declared, its log level and
//! subscriptions) is written there at `initialize` and after each change, and every request
//! that names a session reads it there: any instance serves any session, a session ended on
//! one instance (DELETE, expiry) is ended on all, and its owner is checked wherever it is
//! used. The events of its SSE streams are logged there before they are sent, so a client whose
//! stream was cut with its instance resumes it (`Last-Event-ID`) on another. What only a process
//! has (its running calls, its open connections) stays in that process.

use crate::call::context::LogLevel;
use crate::store::tasks::StoreError;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// What a shared store keeps of a session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The `Mcp-Session-Id`.
    pub id: String,
    /// The caller that created the session (issuer and subject), when the mount has auth; only
    /// it may use the session. Never a token.
    pub owner: Option<String>,
    /// Who the session counts against for the per-client limit.
    pub client: String,
    /// The revision negotiated at `initialize`.
    pub version: String,
    /// The capabilities the client declared.
    pub capabilities: Option<Value>,
    /// The log level the client asked for.
    pub log_level: Option<LogLevel>,
    /// The resources the client subscribed to.
    pub subscriptions: Vec<String>,
}

/// Where session records live when several instances of an app serve the same sessions.
///
/// Every operation is bounded in time by the implementation: a store that cannot answer
/// returns [`StoreError::unavailable`], and the request that needed it gets 503.
pub trait SessionStore: Send + Sync + std::fmt::Debug + 'static {
    /// Writes a record (creating or replacing it); it expires after `idle` without a `load`.
    fn save<'a>(
        &'a self,
        record: &'a SessionRecord,
        idle: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Reads a record and renews its expiry; `None` when unknown, ended or expired.
    fn load<'a>(
        &'a self,
        id: &'a str,
        idle: Duration,
    ) -> BoxFuture<'a, Result<Option<SessionRecord>, StoreError>>;
    /// Deletes a record; whether it existed.
    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// Appends events (sequence number, data) to the log of a session's stream, and marks the
    /// stream finished when `finished`. The logs of a session stay within `bounds` (as its
    /// streams do in memory), and a log lives `idle` after its last append.
    fn append_events<'a>(
        &'a self,
        session: &'a str,
        stream: u64,
        events: &'a [(u64, Arc<str>)],
        finished: bool,
        bounds: EventBounds,
        idle: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// The events of a session's stream after sequence number `after`, in order, and whether the
    /// stream is finished; `None` when there is no log of it.
    fn events_after<'a>(
        &'a self,
        session: &'a str,
        stream: u64,
        after: u64,
    ) -> BoxFuture<'a, Result<Option<LoggedEvents>, StoreError>>;
    /// Sends `message` to every instance listening on this store, this one too: a client's
    /// answer to a question asked on another instance, a list change.
    fn publish(&self, message: String) -> BoxFuture<'_, Result<(), StoreError>>;
    /// The messages published on this store from now on, until the stream is dropped. An
    /// implementation keeps listening through outages of the store (what is published
    /// meanwhile is lost).
    fn listen(&self) -> futures_util::stream::BoxStream<'static, String>;
}

/// How much of a session's streams a store logs for resumption (see
/// [`SessionStore::append_events`]): the bounds the streams have in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventBounds {
    /// Events per stream (`Streams::replay_events`): past it the oldest go.
    pub events: usize,
    /// Bytes of events per stream (`Streams::replay_bytes`): an event over it is not
    /// logged, and the oldest go to keep a log under it.
    pub bytes: usize,
    /// Bytes of events of all the streams of a session (`Streams::session_replay_bytes`):
    /// past it the oldest events of the stream written to go first, then the streams of the
    /// session that are finished, oldest first (a stream keeps its newest event).
    pub session_bytes: usize,
    /// Streams logged per session: past it, the oldest finished one goes (the oldest, when none
    /// is finished).
    pub streams: usize,
}

/// What a shared store has of a stream (see [`SessionStore::events_after`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoggedEvents {
    /// Sequence numbers and data, in order.
    pub events: Vec<(u64, String)>,
    /// Whether the stream has ended: no event will follow.
    pub finished: bool,
}
