//! The contract of the task store ([`TaskStore`]: what a task is, shaped so that a shared store
//! can hold it and another instance answer for it), the error of every store ([`StoreError`]),
//! and the store of one process ([`MemoryTaskStore`]).

use crate::protocol::code;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::sweep::Sweep;

/// Where a task is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Running.
    Working,
    /// Waiting for the client's answers (`tasks/update`).
    InputRequired,
    /// Done: the tool's result (possibly an `isError` one).
    Completed,
    /// Ended by a protocol-level error.
    Failed,
    /// Cancelled by the client (or by the server shutting down).
    Cancelled,
}

impl TaskStatus {
    /// Whether the task has ended.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

/// What a store keeps of one task.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskRecord {
    /// The task's id (random, 128 bits).
    pub id: String,
    /// Whose task it is: the caller that started it (`None` for a caller nobody can name: no
    /// principal and no session). Only that caller may see, poll, update or cancel it.
    pub owner: Option<String>,
    /// Where it is.
    pub status: TaskStatus,
    /// A line for people about what it is doing.
    pub status_message: Option<String>,
    /// When it was created, in milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// When it last changed, in milliseconds since the Unix epoch.
    pub updated_at_ms: u64,
    /// How long it is kept once it has ended.
    pub ttl_ms: u64,
    /// The tool's result, once completed.
    pub result: Option<Value>,
    /// The JSON-RPC error, once failed.
    pub error: Option<Value>,
    /// The questions waiting for the client's answers, by key.
    pub input_requests: Map<String, Value>,
}

impl TaskRecord {
    /// The order of task lists: newest first (ties by id, so that pages are stable).
    pub(crate) fn newest_first(a: &Self, b: &Self) -> std::cmp::Ordering {
        b.created_at_ms
            .cmp(&a.created_at_ms)
            .then_with(|| b.id.cmp(&a.id))
    }

    /// Whether an ended task has outlived its TTL at `now_ms` (a running task never expires).
    pub fn expired(&self, now_ms: u64) -> bool {
        self.expiry_ms().is_some_and(|at| now_ms >= at)
    }

    /// The first millisecond (since the Unix epoch) at which the record of an ended task has
    /// expired; `None` while the task runs.
    fn expiry_ms(&self) -> Option<u64> {
        self.status.is_terminal().then(|| {
            self.updated_at_ms
                .saturating_add(self.ttl_ms)
                .saturating_add(1)
        })
    }
}

/// Why a store (of tasks, of sessions, of policies) could not do what was asked: it refused (a bound of an
/// in-memory store), or it is unavailable (a shared store that is down or slow: requests that
/// need it get 503).
#[derive(Debug)]
pub struct StoreError {
    message: String,
    unavailable: bool,
}

impl StoreError {
    /// The store refused the operation (a bound); the message says why.
    pub fn refused(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            unavailable: false,
        }
    }

    /// The store cannot be reached, or did not answer in time.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            unavailable: true,
        }
    }

    /// The refusal of a new task to a caller who has `kept` tasks, a store's most per caller.
    pub(crate) fn too_many_kept(kept: usize) -> Self {
        Self::refused(format!(
            "you have {kept} tasks kept, the most one caller may, until some expire"
        ))
    }

    /// The refusal of a record of `needs` bytes (results, errors, questions) to a caller whose
    /// other tasks hold `held`, past `max`, the most one caller's tasks may hold.
    pub(crate) fn too_much_held(held: usize, needs: usize, max: usize) -> Self {
        Self::refused(format!(
            "your tasks hold {held} bytes of results and questions, and this one needs {needs} \
             more than the {max} bytes one caller's tasks may hold, until some expire"
        ))
    }
    /// Whether the store is unavailable (rather than refusing).
    pub fn is_unavailable(&self) -> bool {
        self.unavailable
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {}

/// The most task records a store keeps per caller by default (running or ended, until they
/// expire).
pub(crate) const TASKS_KEPT_PER_OWNER: usize = 1_000;

/// The most bytes of results, errors and questions the tasks of one caller hold in a store by
/// default (until they expire).
pub(crate) const TASK_BYTES_PER_OWNER: usize = 32 * 1024 * 1024;

/// Where task records live. The in-memory [`MemoryTaskStore`] is the default; a shared store
/// (Redis, a database) lets every instance of an app answer for every task.
///
/// An owner of `None` is a caller nobody can name (no principal, no session): its tasks are
/// reachable only by their ids, are listed to nobody, and count only against a store's global
/// bounds, not against per-owner ones.
pub trait TaskStore: Send + Sync + 'static {
    /// Writes a record (creating or replacing it). A record must be readable by `get` once
    /// this returns. A store refuses a record past its bounds (records, bytes, per owner).
    fn put(&self, record: TaskRecord) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Reads a record; `None` when unknown or expired.
    fn get(&self, id: &str) -> BoxFuture<'_, Result<Option<TaskRecord>, StoreError>>;
    /// The records of `owner` not expired, newest first, at most `limit`, without their
    /// `result`, `error` and `input_requests` (a list shows where tasks are, not what they
    /// hold); nothing for the owner `None`.
    fn list(
        &self,
        owner: Option<&str>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<TaskRecord>, StoreError>>;
    /// How long the record of a running task stays `working` without being renewed
    /// ([`TaskStore::renew`]), for a store several instances share: the record of a task whose
    /// instance stopped then reads `failed` ([`TaskRecord::stopped`]). `None` (the default):
    /// records of running tasks do not lapse (a store that lives and dies with its process).
    fn lease(&self) -> Option<Duration> {
        None
    }
    /// Renews the leases of tasks running in this process, each named with its record's
    /// `ttl_ms`; returns the ids among them whose lease had already run out (their records
    /// read `failed`: the work should stop). Called every third of [`TaskStore::lease`] while
    /// tasks run. The default renews nothing.
    fn renew<'a>(
        &'a self,
        running: &'a [(String, u64)],
    ) -> BoxFuture<'a, Result<Vec<String>, StoreError>> {
        let _ = running;
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// Task records in this process's memory; ended tasks are dropped once their TTL has passed.
/// Bounded: at most `max_records` records (1,000 per owner) and `max_bytes` of results, errors
/// and questions (32 MiB per owner, see [`MemoryTaskStore::max_bytes_per_owner`]); past a bound
/// a new task is refused and a result too large to keep makes its task `failed`, rather than
/// records being dropped before their TTL.
pub struct MemoryTaskStore {
    records: Mutex<Records>,
    max_records: usize,
    max_per_owner: usize,
    max_bytes: usize,
    max_bytes_per_owner: usize,
}

#[derive(Default)]
struct Records {
    map: HashMap<String, (TaskRecord, usize)>,
    bytes: usize,
    /// The records and bytes of each named owner.
    owners: HashMap<String, Held>,
    /// When ended tasks expire (milliseconds since the Unix epoch).
    sweep: Sweep<u64>,
}

/// What one owner's records hold.
#[derive(Clone, Copy, Default)]
struct Held {
    records: usize,
    bytes: usize,
}

impl Default for MemoryTaskStore {
    fn default() -> Self {
        Self::with_limits(10_000, TASKS_KEPT_PER_OWNER, 256 * 1024 * 1024)
    }
}

/// The bytes a record holds beyond its fixed fields: its result, error and questions.
pub(crate) fn weight(r: &TaskRecord) -> usize {
    let len = |v: &Value| serde_json::to_vec(v).map_or(0, |b| b.len());
    r.result.as_ref().map_or(0, len)
        + r.error.as_ref().map_or(0, len)
        + if r.input_requests.is_empty() {
            0
        } else {
            serde_json::to_vec(&r.input_requests).map_or(0, |b| b.len())
        }
}

/// The message of a task whose lease ran out (see [`TaskStore::lease`]).
pub(crate) const STOPPED: &str =
    "the instance running the task stopped before the task ended; start it again";

impl TaskRecord {
    /// The record as it reads once the lease of its running task ran out, at `lapsed_ms`: the
    /// instance that ran it stopped, so it has failed (and is kept for its TTL from then).
    pub fn stopped(mut self, lapsed_ms: u64) -> Self {
        self.status = TaskStatus::Failed;
        self.updated_at_ms = self.updated_at_ms.max(lapsed_ms);
        self.input_requests.clear();
        self.error = Some(json!({ "code": code::SERVER_ERROR, "message": STOPPED }));
        self
    }

    /// The record without what it holds (result, error, questions), as lists show it.
    pub(crate) fn summary(&self) -> Self {
        Self {
            id: self.id.clone(),
            owner: self.owner.clone(),
            status: self.status,
            status_message: self.status_message.clone(),
            created_at_ms: self.created_at_ms,
            updated_at_ms: self.updated_at_ms,
            ttl_ms: self.ttl_ms,
            result: None,
            error: None,
            input_requests: Map::new(),
        }
    }
}

impl MemoryTaskStore {
    /// A store of at most `records` records (`per_owner` of one owner) holding at most `bytes`
    /// of results, errors and questions (and 32 MiB of one owner's tasks).
    pub fn with_limits(records: usize, per_owner: usize, bytes: usize) -> Self {
        Self {
            records: Mutex::default(),
            max_records: records.max(1),
            max_per_owner: per_owner.max(1),
            max_bytes: bytes,
            max_bytes_per_owner: TASK_BYTES_PER_OWNER,
        }
    }

    /// The most bytes of results, errors and questions the tasks of one owner hold (default
    /// 32 MiB): past it, that owner's next result fails its task, other owners' are kept.
    #[must_use]
    pub fn max_bytes_per_owner(mut self, bytes: usize) -> Self {
        self.max_bytes_per_owner = bytes;
        self
    }

    fn lock(&self) -> MutexGuard<'_, Records> {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Records {
    fn insert(&mut self, record: TaskRecord, weight: usize) {
        if let Some(at) = record.expiry_ms() {
            self.sweep.expires(at);
        }
        self.bytes += weight;
        if let Some(owner) = &record.owner {
            let held = self.owners.entry(owner.clone()).or_default();
            held.records += 1;
            held.bytes += weight;
        }
        self.map.insert(record.id.clone(), (record, weight));
    }

    fn remove(&mut self, id: &str) -> Option<(TaskRecord, usize)> {
        let (record, weight) = self.map.remove(id)?;
        self.bytes -= weight;
        if let Some(owner) = &record.owner
            && let Some(held) = self.owners.get_mut(owner)
        {
            held.records -= 1;
            held.bytes -= weight;
            if held.records == 0 {
                self.owners.remove(owner);
            }
        }
        Some((record, weight))
    }

    fn held(&self, owner: &str) -> Held {
        self.owners.get(owner).copied().unwrap_or_default()
    }

    /// Drops the records expired at `now` when a sweep is due; `at_once`: whenever one may
    /// have expired, however recent the last sweep.
    fn sweep(&mut self, now: u64, at_once: bool) {
        let due = if at_once {
            self.sweep.expired(now)
        } else {
            self.sweep.due(now)
        };
        if !due {
            return;
        }
        let expired: Vec<String> = self
            .map
            .iter()
            .filter(|(_, (r, _))| r.expired(now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            self.remove(&id);
        }
        let earliest = self.map.values().filter_map(|(r, _)| r.expiry_ms()).min();
        self.sweep.swept(now, earliest);
    }
}

impl MemoryTaskStore {
    /// Whether `record`, of `weight`, may replace what `records` has of it (checked after a
    /// sweep when at a bound).
    fn admit(
        &self,
        records: &Records,
        record: &TaskRecord,
        weight: usize,
    ) -> Result<(), StoreError> {
        let old = records.map.get(&record.id);
        let old_weight = old.map_or(0, |(_, w)| *w);
        if records.bytes - old_weight + weight > self.max_bytes {
            return Err(StoreError::refused(format!(
                "the tasks kept hold {} bytes, and this one needs {weight} more than the {} \
                 bytes the server keeps",
                records.bytes, self.max_bytes
            )));
        }
        let Some(owner) = &record.owner else {
            // A task of nobody nameable: only the bounds of the whole store.
            return if old.is_none() && records.map.len() >= self.max_records {
                Err(self.full())
            } else {
                Ok(())
            };
        };
        let held = records.held(owner);
        let mine = old.filter(|(r, _)| r.owner.as_ref() == Some(owner));
        let others = held.bytes - mine.map_or(0, |(_, w)| *w);
        if weight > 0 && others + weight > self.max_bytes_per_owner {
            return Err(StoreError::too_much_held(
                others,
                weight,
                self.max_bytes_per_owner,
            ));
        }
        if old.is_none() {
            if records.map.len() >= self.max_records {
                return Err(self.full());
            }
            if held.records >= self.max_per_owner {
                return Err(StoreError::too_many_kept(self.max_per_owner));
            }
        }
        Ok(())
    }

    fn full(&self) -> StoreError {
        StoreError::refused(format!(
            "the server keeps {} tasks, its most, until some expire",
            self.max_records
        ))
    }
}

impl TaskStore for MemoryTaskStore {
    fn put(&self, record: TaskRecord) -> BoxFuture<'_, Result<(), StoreError>> {
        let now = now_ms();
        let w = weight(&record);
        let mut records = self.lock();
        // Expired records still count until swept: at a bound, they are swept first when a
        // sweep is due (see `sweep`), and always for an update of a task the store holds (its
        // result would be lost; a flood of new tasks cannot make updates).
        let result = self.admit(&records, &record, w).or_else(|_| {
            let update = records.map.contains_key(&record.id);
            records.sweep(now, update);
            self.admit(&records, &record, w)
        });
        if result.is_ok() {
            records.remove(&record.id);
            records.insert(record, w);
        }
        Box::pin(async move { result })
    }

    fn get(&self, id: &str) -> BoxFuture<'_, Result<Option<TaskRecord>, StoreError>> {
        let now = now_ms();
        let mut records = self.lock();
        let found = match records.map.get(id) {
            Some((r, _)) if r.expired(now) => {
                records.remove(id);
                None
            }
            other => other.map(|(r, _)| r.clone()),
        };
        Box::pin(async move { Ok(found) })
    }

    fn list(
        &self,
        owner: Option<&str>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<TaskRecord>, StoreError>> {
        let now = now_ms();
        let mut found: Vec<TaskRecord> = match owner {
            None => Vec::new(),
            Some(owner) => self
                .lock()
                .map
                .values()
                .filter(|(r, _)| r.owner.as_deref() == Some(owner) && !r.expired(now))
                .map(|(r, _)| r.summary())
                .collect(),
        };
        found.sort_by(TaskRecord::newest_first);
        found.truncate(limit);
        Box::pin(async move { Ok(found) })
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `2026-11-29T01:02:03.456Z` for milliseconds since the Unix epoch.
pub(crate) fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, status: TaskStatus, ttl_ms: u64, result_len: usize) -> TaskRecord {
        let now = now_ms();
        TaskRecord {
            id: id.into(),
            owner: Some("o".into()),
            status,
            status_message: None,
            created_at_ms: now,
            updated_at_ms: now,
            ttl_ms,
            // A string of `result_len - 2` characters: `result_len` bytes as JSON.
            result: (result_len > 0).then(|| json!("x".repeat(result_len - 2))),
            error: None,
            input_requests: Map::new(),
        }
    }

    #[tokio::test]
    async fn a_tasks_result_takes_the_room_of_an_expired_one_even_right_after_a_sweep() {
        use TaskStatus::{Completed, Working};
        let store = MemoryTaskStore::with_limits(10, 10, 40);
        let put =
            |id, status, ttl_ms, result_len| store.put(record(id, status, ttl_ms, result_len));
        let pause = || tokio::time::sleep(Duration::from_millis(5));
        put("a", Completed, 1, 30).await.unwrap();
        put("w", Working, 60_000, 0).await.unwrap();
        pause().await;
        // A new task's result does not fit beside `a`'s: a sweep drops `a`.
        put("n", Completed, 60_000, 20).await.unwrap();
        put("b", Completed, 1, 15).await.unwrap();
        pause().await;
        // Within 100 ms of that sweep, `w`'s result needs the room `b` held, expired: it gets it.
        put("w", Completed, 60_000, 15).await.unwrap();
        assert!(store.get("w").await.unwrap().unwrap().result.is_some());
    }
}
