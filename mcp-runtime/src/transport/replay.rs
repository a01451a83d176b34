//! The resumable event streams of a session (or of one stateless SSE answer): each keeps its
//! last events in a bounded buffer, so a client that reconnects with `Last-Event-ID` gets what
//! it missed. Event ids are `<stream>-<seq>`: unique in the session, and they say which stream
//! they belong to.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

/// The most finished streams a session keeps for resumption (the oldest goes first); live
/// ones are all kept.
pub(crate) const STREAMS_PER_SESSION: usize = 32;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How much of a stream is kept for resumption: at most `events` events and `bytes` bytes of
/// them (the newest event is kept whatever its size: it has not been delivered yet).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Replay {
    pub(crate) events: usize,
    pub(crate) bytes: usize,
    /// Bytes of events kept across all the streams of one session.
    pub(crate) session_bytes: usize,
}

/// The bytes of events a session's streams hold together, against its bound.
pub(crate) struct Budget {
    pub(super) used: AtomicUsize,
    limit: usize,
}

impl Budget {
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            used: AtomicUsize::new(0),
            limit,
        })
    }

    fn over_with(&self, len: usize) -> bool {
        self.used.load(Ordering::Relaxed).saturating_add(len) > self.limit
    }

    pub(super) fn over(&self) -> bool {
        self.used.load(Ordering::Relaxed) > self.limit
    }
}

/// One SSE stream: the events not yet dropped from its buffer, and who is reading it.
pub(crate) struct EventStream {
    pub(crate) id: u64,
    state: Mutex<StreamState>,
    /// Wakes readers: an event was added or the stream finished.
    changed: Notify,
    /// Wakes a writer waiting for a reader to take events.
    consumed: Notify,
    limits: Replay,
    /// The bytes held by every stream of the session, this one included.
    budget: Arc<Budget>,
    /// The longest a writer waits for an attached reader to take an event (see `push`).
    stall_limit: Duration,
    /// Where events are logged before they are sent, with a shared session store.
    log: Option<EventLog>,
}

/// The log of a stream in a shared session store: every event is written there before any
/// reader can take it, so a client that loses the stream with its instance resumes it on
/// another and gets exactly what it missed.
pub(crate) struct EventLog {
    pub(super) store: Arc<dyn crate::store::shared::SessionStore>,
    pub(super) session: Arc<str>,
    pub(super) idle: Duration,
    /// Held from an event's sequence number to its local append: one write at a time, in order.
    pub(super) writing: tokio::sync::Mutex<()>,
}

impl EventLog {
    /// Logs `events` within `limits`: an event over a stream's bytes is not logged (an answer
    /// is logged as an error saying it was lost, so that a client resuming elsewhere learns
    /// it, rather than waiting for it).
    async fn append(
        &self,
        stream: u64,
        events: &[(u64, Arc<str>)],
        finished: bool,
        limits: Replay,
    ) {
        let kept: Vec<(u64, Arc<str>)> = events
            .iter()
            .filter_map(|(seq, data)| Some((*seq, loggable(data, limits.bytes)?)))
            .collect();
        let bounds = crate::store::shared::EventBounds {
            events: limits.events,
            bytes: limits.bytes,
            session_bytes: limits.session_bytes,
            streams: STREAMS_PER_SESSION,
        };
        if let Err(e) = self
            .store
            .append_events(&self.session, stream, &kept, finished, bounds, self.idle)
            .await
        {
            // The event still goes out on this connection; only its resumption elsewhere is lost.
            tracing::warn!(error = %e, "an SSE event could not be logged in the session store");
        }
    }
}

/// An event as a shared store logs it: whole within `max` bytes; past it, an answer (a JSON-RPC
/// response) becomes an error response of the same id saying the answer was lost, anything
/// else is not logged.
fn loggable(data: &Arc<str>, max: usize) -> Option<Arc<str>> {
    if data.len() <= max {
        return Some(data.clone());
    }
    #[derive(serde::Deserialize)]
    struct Head<'a> {
        #[serde(borrow)]
        id: Option<&'a serde_json::value::RawValue>,
        #[serde(default)]
        result: Option<serde::de::IgnoredAny>,
        #[serde(default)]
        error: Option<serde::de::IgnoredAny>,
    }
    let head: Head<'_> = serde_json::from_str(data).ok()?;
    let id = head.id.filter(|id| id.get().len() <= 256)?;
    if head.result.is_none() && head.error.is_none() {
        return None;
    }
    let message = format!(
        "this answer had {} bytes, more than the {max} a stream keeps for resumption: it was \
         lost with its connection; send the request again",
        data.len()
    );
    let error =
        serde_json::json!({ "code": crate::protocol::code::INTERNAL_ERROR, "message": message });
    Some(format!(r#"{{"jsonrpc":"2.0","id":{},"error":{error}}}"#, id.get()).into())
}

/// How long a writer waits for a reader that takes no events before it detaches the reader: a
/// client that stops reading loses its connection (and may resume), not the server's calls.
const READER_STALL_LIMIT: Duration = Duration::from_secs(30);

/// The stream and the sequence number an event id (`<stream>-<seq>`) names.
pub(crate) fn parse_event_id(id: &str) -> Option<(u64, u64)> {
    let (stream, seq) = id.split_once('-')?;
    Some((stream.parse().ok()?, seq.parse().ok()?))
}

/// Appends the decimal digits of `n`.
pub(crate) fn push_u64(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&digits[start..]).expect("ASCII digits"));
}

struct StreamState {
    events: VecDeque<(u64, Arc<str>)>,
    next_seq: u64,
    finished: bool,
    readers: usize,
    /// Bumped when stalled readers are detached: readers of an older epoch end.
    epoch: u64,
    /// The highest sequence number a reader has taken.
    delivered: u64,
    /// The bytes of the events held.
    bytes: usize,
}

impl StreamState {
    /// Whether adding `len` bytes would pass a limit of the stream or of its session (an empty
    /// buffer takes any event).
    fn full_for(&self, len: usize, limits: Replay, budget: &Budget) -> bool {
        !self.events.is_empty()
            && (self.events.len() >= limits.events
                || self.bytes + len > limits.bytes
                || budget.over_with(len))
    }

    /// Adds an event with the next sequence number, dropping the oldest past the limits.
    fn append(&mut self, data: Arc<str>, limits: Replay, budget: &Budget) {
        while self.full_for(data.len(), limits, budget) {
            if let Some((_, old)) = self.events.pop_front() {
                self.bytes -= old.len();
                budget.used.fetch_sub(old.len(), Ordering::Relaxed);
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.bytes += data.len();
        budget.used.fetch_add(data.len(), Ordering::Relaxed);
        self.events.push_back((seq, data));
    }
}

impl EventStream {
    /// A stream of its own (not a session's).
    pub(crate) fn new(id: u64, limits: Replay) -> Arc<Self> {
        Self::in_budget(id, limits, Budget::new(limits.session_bytes), None)
    }

    /// A stream that another instance logged, restored from its log, finished: for a client
    /// resuming it here.
    pub(crate) fn restored(
        id: u64,
        limits: Replay,
        logged: crate::store::shared::LoggedEvents,
    ) -> Arc<Self> {
        let stream = Self::new(id, limits);
        {
            let mut s = lock(&stream.state);
            for (seq, data) in logged.events {
                s.next_seq = seq;
                s.append(data.into(), stream.limits, &stream.budget);
            }
            s.finished = true;
        }
        stream
    }

    /// A stream of a session, whose streams share `budget`.
    pub(super) fn in_budget(
        id: u64,
        limits: Replay,
        budget: Arc<Budget>,
        log: Option<EventLog>,
    ) -> Arc<Self> {
        Self::with_stall_limit(id, limits, budget, READER_STALL_LIMIT, log)
    }

    fn with_stall_limit(
        id: u64,
        limits: Replay,
        budget: Arc<Budget>,
        stall_limit: Duration,
        log: Option<EventLog>,
    ) -> Arc<Self> {
        Arc::new(Self {
            id,
            state: Mutex::new(StreamState {
                events: VecDeque::new(),
                next_seq: 1,
                finished: false,
                readers: 0,
                epoch: 0,
                delivered: 0,
                bytes: 0,
            }),
            changed: Notify::new(),
            consumed: Notify::new(),
            limits: Replay {
                events: limits.events.max(1),
                ..limits
            },
            budget,
            stall_limit,
            log,
        })
    }

    /// Adds an event. While a reader is attached, waits for it rather than dropping events it
    /// has not read; with no reader, the oldest event is dropped when the buffer is full. A
    /// reader that takes nothing for the stall limit is detached (its response ends; the client
    /// may resume from the buffer), so the writer, and the call behind it, never hang on it.
    pub(crate) async fn push(&self, data: Arc<str>) {
        // Logged first, under its sequence number (writes to a logged stream go one at a time,
        // so the number is still the next one when the event is appended below).
        let _writing = match &self.log {
            Some(log) => {
                let writing = log.writing.lock().await;
                let seq = lock(&self.state).next_seq;
                log.append(self.id, &[(seq, data.clone())], false, self.limits)
                    .await;
                Some(writing)
            }
            None => None,
        };
        // Set when the writer first has to wait (the hot path never reads the clock).
        let mut deadline = None;
        loop {
            let wait = self.consumed.notified();
            tokio::pin!(wait);
            wait.as_mut().enable();
            {
                let mut s = lock(&self.state);
                let full = s.full_for(data.len(), self.limits, &self.budget);
                let oldest_unread = s.events.front().is_some_and(|(seq, _)| *seq > s.delivered);
                if !full || s.readers == 0 || !oldest_unread {
                    s.append(data, self.limits, &self.budget);
                    drop(s);
                    self.changed.notify_waiters();
                    return;
                }
            }
            let deadline =
                *deadline.get_or_insert_with(|| tokio::time::Instant::now() + self.stall_limit);
            if tokio::time::timeout_at(deadline, wait).await.is_err() {
                let mut s = lock(&self.state);
                s.epoch += 1;
                s.readers = 0;
                tracing::debug!(stream = self.id, "a reader took no events; detached");
            }
        }
    }

    /// Logs the events of a new stream about to be sent in one piece (sequence numbers 1, 2, …),
    /// finished, when the stream is logged.
    pub(crate) async fn log_finished(&self, events: &[Arc<str>]) {
        if let Some(log) = &self.log {
            let numbered: Vec<(u64, Arc<str>)> = (1..).zip(events.iter().cloned()).collect();
            log.append(self.id, &numbered, true, self.limits).await;
        }
    }

    /// Stores events that were already delivered in one piece (sequence numbers 1, 2, …) and
    /// finishes the stream, so that they can be replayed.
    pub(crate) fn push_finished(&self, events: Vec<Arc<str>>) {
        let mut s = lock(&self.state);
        for data in events {
            s.append(data, self.limits, &self.budget);
        }
        s.finished = true;
    }

    /// Marks the stream finished: readers end once they have read every event.
    pub(crate) fn finish(self: &Arc<Self>) {
        let was = std::mem::replace(&mut lock(&self.state).finished, true);
        self.changed.notify_waiters();
        if !was
            && self.log.is_some()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let stream = self.clone();
            runtime.spawn(async move {
                if let Some(log) = &stream.log {
                    let _writing = log.writing.lock().await;
                    log.append(stream.id, &[], true, stream.limits).await;
                }
            });
        }
    }

    pub(crate) fn is_finished(&self) -> bool {
        lock(&self.state).finished
    }

    /// The event id of sequence number `seq`: `<stream>-<seq>`.
    pub(crate) fn event_id(&self, seq: u64) -> String {
        let mut id = String::with_capacity(24);
        self.write_event_id(&mut id, seq);
        id
    }

    /// Appends the event id of `seq` to `out`, without formatting machinery (SSE answers are
    /// written on the hot path).
    pub(crate) fn write_event_id(&self, out: &mut String, seq: u64) {
        push_u64(out, self.id);
        out.push('-');
        push_u64(out, seq);
    }

    /// Reads the events after `after`, then waits for more until the stream finishes or `stop`
    /// is cancelled. Dropping the reader detaches it.
    pub(crate) fn reader(self: &Arc<Self>, after: u64) -> Reader {
        let mut s = lock(&self.state);
        s.readers += 1;
        Reader {
            stream: self.clone(),
            cursor: after,
            epoch: s.epoch,
        }
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        let held = self
            .state
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .bytes;
        self.budget.used.fetch_sub(held, Ordering::Relaxed);
    }
}

/// A reader of an [`EventStream`].
pub(crate) struct Reader {
    stream: Arc<EventStream>,
    cursor: u64,
    /// The stream's epoch when the reader attached.
    epoch: u64,
}

impl Reader {
    /// The next event (sequence number and data), or `None` once the stream is finished and read.
    pub(crate) async fn next(&mut self) -> Option<(u64, Arc<str>)> {
        loop {
            let changed = self.stream.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let mut s = lock(&self.stream.state);
                if s.epoch != self.epoch {
                    return None;
                }
                let cursor = self.cursor;
                if let Some((seq, data)) = s.events.iter().find(|(seq, _)| *seq > cursor).cloned() {
                    self.cursor = seq;
                    s.delivered = s.delivered.max(seq);
                    drop(s);
                    self.stream.consumed.notify_waiters();
                    return Some((seq, data));
                }
                if s.finished {
                    return None;
                }
            }
            changed.await;
        }
    }

    pub(crate) fn stream(&self) -> &Arc<EventStream> {
        &self.stream
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        let mut s = lock(&self.stream.state);
        if s.epoch == self.epoch {
            s.readers -= 1;
        }
        drop(s);
        self.stream.consumed.notify_waiters();
    }
}

#[cfg(test)]
impl Replay {
    /// At most `events` events, unbounded in bytes.
    pub(crate) fn events(events: usize) -> Self {
        Self {
            events,
            bytes: usize::MAX,
            session_bytes: usize::MAX,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[tokio::test]
    async fn the_buffer_is_bounded_in_bytes_and_keeps_the_newest_event_whatever_its_size() {
        let s = EventStream::new(
            1,
            Replay {
                events: 100,
                bytes: 10,
                session_bytes: usize::MAX,
            },
        );
        for e in ["aaaa", "bbbb", "cccc"] {
            s.push(e.into()).await;
        }
        // 12 bytes do not fit in 10: the oldest went.
        s.push("x".repeat(50).into()).await;
        s.finish();
        let mut r = s.reader(0);
        assert_eq!(
            r.next().await.map(|e| e.0),
            Some(4),
            "only the big one is left"
        );
        assert_eq!(r.next().await, None);
        assert_eq!(lock(&s.state).bytes, 50);
    }

    #[tokio::test]
    async fn readers_get_every_event_and_resume_after_an_id() {
        let s = EventStream::new(3, Replay::events(4));
        for i in 0..3 {
            s.push(format!("e{i}").into()).await;
        }
        s.finish();
        let mut r = s.reader(0);
        let mut seen = Vec::new();
        while let Some((seq, data)) = r.next().await {
            seen.push((seq, data.to_string()));
        }
        assert_eq!(seen, [(1, "e0".into()), (2, "e1".into()), (3, "e2".into())]);
        let mut r = s.reader(2);
        assert_eq!(r.next().await.map(|e| e.0), Some(3));
        assert_eq!(r.next().await, None);
        assert_eq!(s.event_id(2), "3-2");
    }

    #[tokio::test]
    async fn a_writer_waits_for_an_attached_reader_instead_of_dropping() {
        let s = EventStream::new(1, Replay::events(2));
        let mut r = s.reader(0);
        let writer = {
            let s = s.clone();
            tokio::spawn(async move {
                for i in 0..10 {
                    s.push(i.to_string().into()).await;
                }
                s.finish();
            })
        };
        let mut got = Vec::new();
        while let Some((_, d)) = r.next().await {
            got.push(d.to_string());
        }
        writer.await.unwrap();
        assert_eq!(got, (0..10).map(|i| i.to_string()).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_reader_that_takes_nothing_is_detached_not_waited_for_forever() {
        let s = EventStream::with_stall_limit(
            1,
            Replay::events(2),
            Budget::new(usize::MAX),
            Duration::from_millis(50),
            None,
        );
        let mut stuck = s.reader(0);
        let writer = {
            let s = s.clone();
            tokio::spawn(async move {
                for i in 0..5 {
                    s.push(i.to_string().into()).await;
                }
                s.finish();
            })
        };
        tokio::time::timeout(Duration::from_secs(5), writer)
            .await
            .expect("the writer is not pinned by the stuck reader")
            .unwrap();
        // The detached reader's response ends; the newest events stay for resumption.
        assert_eq!(stuck.next().await, None);
        let mut resumed = s.reader(0);
        assert_eq!(
            resumed.next().await.map(|e| e.1.to_string()),
            Some("3".into())
        );
        assert_eq!(
            resumed.next().await.map(|e| e.1.to_string()),
            Some("4".into())
        );
        assert_eq!(resumed.next().await, None);
        drop(stuck);
        drop(resumed);
        assert_eq!(lock(&s.state).readers, 0);
    }

    #[tokio::test]
    async fn without_a_reader_the_buffer_keeps_the_newest() {
        let s = EventStream::new(1, Replay::events(2));
        for i in 0..5 {
            s.push(i.to_string().into()).await;
        }
        s.finish();
        let mut r = s.reader(0);
        assert_eq!(r.next().await.map(|e| e.1.to_string()), Some("3".into()));
        assert_eq!(r.next().await.map(|e| e.1.to_string()), Some("4".into()));
        assert_eq!(r.next().await, None);
    }
}
