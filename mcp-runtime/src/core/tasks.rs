//! Tasks: the `io.modelcontextprotocol/tasks` extension of 2026-07-28 (SEP-2663). A call of a
//! tool that supports tasks, from a client that declared the extension, is answered at once with
//! a task handle; the tool runs detached; the client polls `tasks/get` (the result is inlined
//! once the task is done), answers the tool's questions with `tasks/update`, and may
//! `tasks/cancel` it.
//!
//! What a task is (status, result, owner, TTL) lives in a [`TaskStore`], in memory by default,
//! shaped so that a shared store can hold it and another instance answer `tasks/get`. What only
//! the process running the task has (its cancellation, the questions its tool is waiting on) is
//! kept beside it.

use super::peer::Peer;
use crate::protocol::{RequestId, RpcError, code};
pub(crate) use crate::store::tasks::*;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The extension's identifier, under `capabilities.extensions`.
pub(crate) const EXTENSION: &str = "io.modelcontextprotocol/tasks";

/// The longest retention a client may ask for (2025-11-25's `task.ttl`).
pub(crate) const MAX_REQUESTED_TTL: Duration = Duration::from_secs(24 * 3600);

/// Limits and timings of a server's tasks.
#[derive(Clone, Debug)]
pub(crate) struct TaskSettings {
    /// How long an ended task stays readable.
    pub(crate) ttl: Duration,
    /// The interval clients are told to poll at.
    pub(crate) poll_interval: Duration,
    /// Tasks running at once in this process.
    pub(crate) max_running: usize,
    /// Tasks running at once for one owner.
    pub(crate) max_running_per_owner: usize,
    /// How long a task waits for the client's answers.
    pub(crate) input_timeout: Duration,
}

impl Default for TaskSettings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(3600),
            poll_interval: Duration::from_millis(500),
            max_running: 1000,
            max_running_per_owner: 100,
            input_timeout: Duration::from_secs(3600),
        }
    }
}

/// How often a caller waiting for a task's end (`tasks/result`) reads its record again, for an
/// end recorded by another instance: the changes made here wake it at once.
pub(crate) const ENDED_ELSEWHERE_CHECK: Duration = Duration::from_secs(1);

/// What only the process running a task has.
struct Live {
    owner: Option<String>,
    /// Its record's TTL, for the renewal of its lease.
    ttl_ms: u64,
    cancel: CancellationToken,
    /// The peer the task's tool asks through; answers from `tasks/update` go to it.
    peer: Arc<Peer>,
}

/// What an instance asks of the instance that runs a task, when several share a store.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "signal", rename_all = "snake_case")]
pub(crate) enum TaskSignal {
    /// `tasks/cancel` (the record already says cancelled).
    Cancel { task: String },
    /// `tasks/update`: the client's answers, by key (the caller already checked).
    Answer {
        task: String,
        responses: Map<String, Value>,
    },
}

/// Sends a [`TaskSignal`] to the other instances (set by a transport with a shared store).
pub(crate) type Relay =
    Arc<dyn Fn(TaskSignal) -> BoxFuture<'static, Result<(), StoreError>> + Send + Sync>;

/// A server's tasks: the store, and the tasks running here.
pub(crate) struct Tasks {
    pub(crate) store: Arc<dyn TaskStore>,
    pub(crate) settings: TaskSettings,
    /// Shared with the renewal of their leases, which ends once this is dropped.
    live: Arc<Mutex<HashMap<String, Live>>>,
    /// Started with the first task, for a store whose running records lapse.
    renewing: std::sync::Once,
    /// How signals reach a task running on another instance.
    relay: std::sync::OnceLock<Relay>,
    /// Serializes read-modify-write of each record by this process: a lock per task id, held
    /// while an update of that task runs (entries go once nobody holds or waits for them).
    writes: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Every change of a task's record, for status notifications.
    changes: tokio::sync::broadcast::Sender<TaskRecord>,
}

/// The write lock of one task (see [`Tasks::write_lock`]); its entry leaves the map when the
/// last holder or waiter is done with it.
struct WriteLock<'a> {
    tasks: &'a Tasks,
    id: String,
    lock: Arc<tokio::sync::Mutex<()>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for WriteLock<'_> {
    fn drop(&mut self) {
        let mut locks = self
            .tasks
            .writes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        drop(self.guard.take());
        // Only the map's and this one: nobody else holds or waits for it (a new waiter clones it
        // under the map's lock, which is held here).
        if Arc::strong_count(&self.lock) == 2 {
            locks.remove(&self.id);
        }
    }
}

/// A refusal for a task id that is unknown, expired, or another caller's (indistinguishable).
fn unknown(id: &str) -> RpcError {
    let shown = crate::bounds::shown(id);
    RpcError::invalid_params(format!("unknown task `{shown}`"))
        .with_data(json!({ "taskId": shown.json() }))
}

/// A store's failure as the client sees it: a refusal says why (its bounds), an outage only
/// that the store is unavailable (what went wrong, which may name hosts, goes to the log).
fn store_error(e: &StoreError) -> RpcError {
    if e.is_unavailable() {
        tracing::warn!(error = %e, "the task store is unavailable");
        return RpcError::new(
            code::STORE_UNAVAILABLE,
            "the task store is unavailable; try again shortly",
        );
    }
    RpcError::new(code::SERVER_ERROR, format!("task store: {e}"))
}

impl Tasks {
    pub(crate) fn new(store: Arc<dyn TaskStore>, settings: TaskSettings) -> Self {
        Self {
            store,
            settings,
            live: Arc::default(),
            renewing: std::sync::Once::new(),
            relay: std::sync::OnceLock::new(),
            writes: Mutex::default(),
            changes: tokio::sync::broadcast::channel(256).0,
        }
    }

    fn live(&self) -> MutexGuard<'_, HashMap<String, Live>> {
        lock(&self.live)
    }

    /// Waits for the write lock of task `id`: updates of one task go one at a time, updates of
    /// different tasks do not wait for each other.
    async fn write_lock(&self, id: &str) -> WriteLock<'_> {
        let lock = self
            .writes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(id.to_owned())
            .or_default()
            .clone();
        let mut held = WriteLock {
            tasks: self,
            id: id.to_owned(),
            lock,
            guard: None,
        };
        held.guard = Some(held.lock.clone().lock_owned().await);
        held
    }

    /// Whether a task of `owner` could start now: the server's and the caller's bounds on
    /// tasks running at once (asked before a call that may become a task starts, so that one
    /// refused has not begun its work).
    pub(crate) fn room(&self, owner: Option<&String>) -> Result<(), RpcError> {
        self.room_in(&self.live(), owner)
    }

    fn room_in(
        &self,
        live: &HashMap<String, Live>,
        owner: Option<&String>,
    ) -> Result<(), RpcError> {
        if live.len() >= self.settings.max_running {
            return Err(RpcError::new(
                code::SERVER_ERROR,
                format!(
                    "the server already runs its most tasks ({}); try again later",
                    self.settings.max_running
                ),
            ));
        }
        // A caller nobody can name has only the bounds of the whole server.
        let mine = owner.map_or(0, |o| {
            live.values()
                .filter(|l| l.owner.as_ref() == Some(o))
                .count()
        });
        if owner.is_some() && mine >= self.settings.max_running_per_owner {
            return Err(RpcError::new(
                code::SERVER_ERROR,
                format!(
                    "you already run {} tasks, the most one caller may; wait for one to end",
                    self.settings.max_running_per_owner
                ),
            ));
        }
        Ok(())
    }

    /// Registers a new task of `owner` whose work `cancel` stops, refused when this process runs
    /// its most tasks (or the owner's most). Returns the record as created.
    pub(crate) async fn create(
        &self,
        owner: Option<String>,
        peer: Arc<Peer>,
        cancel: CancellationToken,
        ttl: Option<Duration>,
    ) -> Result<TaskRecord, RpcError> {
        let id = crate::protocol::random_id();
        let ttl_ms =
            u64::try_from(ttl.unwrap_or(self.settings.ttl).as_millis()).unwrap_or(u64::MAX);
        {
            let mut live = self.live();
            self.room_in(&live, owner.as_ref())?;
            live.insert(
                id.clone(),
                Live {
                    owner: owner.clone(),
                    ttl_ms,
                    cancel,
                    peer,
                },
            );
        }
        let now = now_ms();
        let record = TaskRecord {
            id: id.clone(),
            owner,
            status: TaskStatus::Working,
            status_message: None,
            created_at_ms: now,
            updated_at_ms: now,
            ttl_ms,
            result: None,
            error: None,
            input_requests: Map::new(),
        };
        // Durable before the handle goes out: a `tasks/get` right after it must find the task.
        if let Err(e) = self.store.put(record.clone()).await {
            self.live().remove(&id);
            return Err(store_error(&e));
        }
        self.keep_leases();
        Ok(record)
    }

    /// With a store whose running records lapse, renews the leases of the tasks running here
    /// every third of the lease, for as long as this lives (a process that stops renews
    /// nothing: its tasks read `failed` once their leases run out). A task whose lease ran out
    /// all the same (the store was out of reach for longer) is stopped here too.
    fn keep_leases(&self) {
        let Some(lease) = self.store.lease() else {
            return;
        };
        self.renewing.call_once(|| {
            let live = Arc::downgrade(&self.live);
            let store = self.store.clone();
            let every = (lease / 3).max(Duration::from_millis(10));
            tokio::spawn(async move {
                let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let Some(live) = live.upgrade() else { return };
                    let running: Vec<(String, u64)> = lock(&live)
                        .iter()
                        .map(|(id, l)| (id.clone(), l.ttl_ms))
                        .collect();
                    if running.is_empty() {
                        continue;
                    }
                    match store.renew(&running).await {
                        Ok(lost) => {
                            for id in lost {
                                if let Some(l) = lock(&live).remove(&id) {
                                    tracing::warn!(task = %id, "a task's lease ran out; stopped");
                                    l.cancel.cancel();
                                }
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "the leases of running tasks could not be renewed"),
                    }
                }
            });
        });
    }

    /// Changes a task's record (unless it has ended, which is final).
    pub(crate) async fn update(&self, id: &str, change: impl FnOnce(&mut TaskRecord)) {
        let _guard = self.write_lock(id).await;
        let Ok(Some(mut record)) = self.store.get(id).await else {
            return;
        };
        if record.status.is_terminal() {
            return;
        }
        change(&mut record);
        record.updated_at_ms = now_ms();
        let written = match self.store.put(record.clone()).await {
            // An ending the store cannot keep (a result or an error over its bounds) fails the
            // task instead: an ending never leaves the task `working`.
            Err(e) if record.status.is_terminal() && !e.is_unavailable() => {
                let what = if record.result.is_some() {
                    "result"
                } else {
                    "ending"
                };
                let message = format!("the task's {what} could not be kept: {e}");
                record.status = TaskStatus::Failed;
                record.result = None;
                record.error = Some(json!({ "code": code::SERVER_ERROR, "message": message }));
                match self.store.put(record.clone()).await {
                    // Even the error is over the bounds: the message alone, which weighs nothing.
                    Err(e) if !e.is_unavailable() => {
                        record.error = None;
                        record.status_message = Some(message);
                        self.store.put(record.clone()).await
                    }
                    other => other,
                }
            }
            other => other,
        };
        match written {
            Ok(()) => {
                let _ = self.changes.send(record);
            }
            Err(e) => tracing::warn!(task = id, error = %e, "a task's record could not be written"),
        }
    }

    /// The changes of task records from now on.
    pub(crate) fn subscribe(&self) -> tokio::sync::broadcast::Receiver<TaskRecord> {
        self.changes.subscribe()
    }

    /// Ends a task with its outcome, unless it was cancelled first.
    pub(crate) async fn finish(&self, id: &str, outcome: Option<Result<Value, RpcError>>) {
        self.update(id, |r| {
            r.input_requests.clear();
            match outcome {
                Some(Ok(mut result)) => {
                    if let Some(o) = result.as_object_mut() {
                        o.remove("resultType");
                    }
                    r.status = TaskStatus::Completed;
                    r.result = Some(result);
                }
                Some(Err(e)) => {
                    r.status = TaskStatus::Failed;
                    r.error = Some(serde_json::to_value(&e).unwrap_or(Value::Null));
                }
                None => r.status = TaskStatus::Cancelled,
            }
        })
        .await;
        self.live().remove(id);
    }

    /// The record of a task, for its owner.
    pub(crate) async fn read(
        &self,
        id: &str,
        caller: Option<&String>,
    ) -> Result<TaskRecord, RpcError> {
        // An id this server cannot have made names no task: the store is not asked.
        if !crate::protocol::could_be_random_id(id) {
            return Err(unknown(id));
        }
        match self.store.get(id).await {
            Ok(Some(r)) if r.owner.as_ref() == caller => Ok(r),
            Ok(_) => Err(unknown(id)),
            Err(e) => Err(store_error(&e)),
        }
    }

    /// The record of a task once it has ended, for its owner (2025-11-25's `tasks/result`):
    /// waits for the changes of its record made here, and reads it again every
    /// [`ENDED_ELSEWHERE_CHECK`] for changes made by another instance (which the store does not
    /// announce); an error once `stop` is cancelled.
    pub(crate) async fn ended(
        &self,
        id: &str,
        caller: Option<&String>,
        stop: &CancellationToken,
    ) -> Result<TaskRecord, RpcError> {
        use tokio::sync::broadcast::error::RecvError;
        // Subscribed before the first read: a change between the two is not missed.
        let mut changes = self.subscribe();
        loop {
            let r = self.read(id, caller).await?;
            if r.status.is_terminal() {
                return Ok(r);
            }
            let check = tokio::time::sleep(ENDED_ELSEWHERE_CHECK);
            tokio::pin!(check);
            loop {
                tokio::select! {
                    () = stop.cancelled() => {
                        return Err(RpcError::new(code::SERVER_ERROR, "cancelled"));
                    }
                    () = &mut check => break,
                    change = changes.recv() => match change {
                        Ok(c) if c.id == id && c.status.is_terminal() && c.owner.as_ref() == caller => {
                            return Ok(c);
                        }
                        Ok(_) => {}
                        // Changes were missed, or there are no more: read the record again.
                        Err(RecvError::Lagged(_)) => break,
                        Err(RecvError::Closed) => {
                            (&mut check).await;
                            break;
                        }
                    },
                }
            }
        }
    }

    /// The caller's tasks, newest first (at most 1,000), without their results, for
    /// 2025-11-25's `tasks/list`; none for a caller nobody can name (its tasks are reachable
    /// only by their ids).
    pub(crate) async fn list(&self, caller: Option<&String>) -> Result<Vec<TaskRecord>, RpcError> {
        let Some(caller) = caller else {
            return Ok(Vec::new());
        };
        self.store
            .list(Some(caller), 1000)
            .await
            .map_err(|e| store_error(&e))
    }

    /// `tasks/get`: the task as it is, its result or error inlined once it has ended.
    pub(crate) async fn get(&self, id: &str, caller: Option<&String>) -> Result<Value, RpcError> {
        let r = self.read(id, caller).await?;
        let mut out = detailed(&r, self.settings.poll_interval);
        out.insert("resultType".into(), json!("complete"));
        Ok(Value::Object(out))
    }

    /// `tasks/cancel`: stops the work. A task that has ended is left as it is: its status is
    /// returned (nothing was done), for the revisions that refuse to cancel it.
    pub(crate) async fn cancel(
        &self,
        id: &str,
        caller: Option<&String>,
    ) -> Result<Option<TaskStatus>, RpcError> {
        let r = self.read(id, caller).await?;
        if r.status.is_terminal() {
            return Ok(Some(r.status));
        }
        self.update(id, |r| {
            r.status = TaskStatus::Cancelled;
            r.input_requests.clear();
        })
        .await;
        let here = self.live().remove(id);
        match (here, self.relay.get()) {
            (Some(live), _) => live.cancel.cancel(),
            // Running on another instance, maybe: the one that runs it stops it.
            (None, Some(relay)) => relay(TaskSignal::Cancel {
                task: id.to_owned(),
            })
            .await
            .map_err(|e| store_error(&e))?,
            (None, None) => {}
        }
        Ok(None)
    }

    /// Ends the tasks running here when the server shuts down: each is recorded failed (the
    /// server stopped before it ended: in a shared store, not left `working` for ever), then
    /// its work is cancelled.
    pub(crate) async fn shut_down(&self) {
        let running: Vec<String> = self.live().keys().cloned().collect();
        for id in running {
            self.update(&id, |r| {
                r.status = TaskStatus::Failed;
                r.input_requests.clear();
                r.error = Some(json!({
                    "code": code::SERVER_ERROR,
                    "message": "the server shut down before the task ended; start it again",
                }));
            })
            .await;
            if let Some(live) = self.live().remove(&id) {
                live.cancel.cancel();
            }
        }
    }

    /// Sends signals for tasks this process does not run to the other instances.
    pub(crate) fn relay_with(&self, relay: Relay) {
        let _ = self.relay.set(relay);
    }

    /// A signal from another instance, for a task that may run here.
    pub(crate) async fn signal(&self, signal: TaskSignal) {
        let (TaskSignal::Cancel { task } | TaskSignal::Answer { task, .. }) = &signal;
        if !crate::protocol::could_be_random_id(task) {
            return;
        }
        match signal {
            TaskSignal::Cancel { task } => {
                if let Some(live) = self.live().remove(&task) {
                    live.cancel.cancel();
                }
            }
            TaskSignal::Answer { task, responses } => {
                if let Ok(Some(r)) = self.store.get(&task).await
                    && !r.status.is_terminal()
                {
                    self.deliver(&r, &responses).await;
                }
            }
        }
    }

    /// `tasks/update`: the client's answers to the task's questions, by key.
    pub(crate) async fn answer(
        &self,
        id: &str,
        caller: Option<&String>,
        responses: &Map<String, Value>,
    ) -> Result<(), RpcError> {
        let r = self.read(id, caller).await?;
        if r.status.is_terminal() {
            return Ok(());
        }
        if self.live().contains_key(id) {
            self.deliver(&r, responses).await;
            return Ok(());
        }
        match self.relay.get() {
            // Running on another instance: the one that runs it takes the answers.
            Some(relay) => relay(TaskSignal::Answer {
                task: id.to_owned(),
                responses: responses.clone(),
            })
            .await
            .map_err(|e| store_error(&e)),
            None => Err(RpcError::new(
                code::SERVER_ERROR,
                "this task runs on another instance of the server; send the answer there",
            )),
        }
    }

    /// Gives the answers to the questions of a task running here, and notes them answered.
    async fn deliver(&self, r: &TaskRecord, responses: &Map<String, Value>) {
        let id = r.id.as_str();
        let peer = self.live().get(id).map(|l| l.peer.clone());
        let Some(peer) = peer else {
            return;
        };
        let mut answered = Vec::new();
        for (key, value) in responses {
            if r.input_requests.contains_key(key)
                && peer.answer(&RequestId::String(key.clone()), Ok(value.clone()))
            {
                answered.push(key.clone());
            }
        }
        self.update(id, |r| {
            for key in &answered {
                r.input_requests.remove(key);
            }
            if r.input_requests.is_empty() && r.status == TaskStatus::InputRequired {
                r.status = TaskStatus::Working;
            }
        })
        .await;
    }
}

/// The fields every task has on the wire; `ttl` and `poll` name the two durations (the
/// extension's `ttlMs`/`pollIntervalMs`, 2025-11-25's `ttl`/`pollInterval`).
fn fields(r: &TaskRecord, poll_interval: Duration, ttl: &str, poll: &str) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("taskId".into(), json!(r.id));
    out.insert("status".into(), json!(r.status));
    if let Some(m) = &r.status_message {
        out.insert("statusMessage".into(), json!(m));
    }
    out.insert("createdAt".into(), json!(iso8601(r.created_at_ms)));
    out.insert("lastUpdatedAt".into(), json!(iso8601(r.updated_at_ms)));
    out.insert(ttl.into(), json!(r.ttl_ms));
    out.insert(
        poll.into(),
        json!(u64::try_from(poll_interval.as_millis()).unwrap_or(u64::MAX)),
    );
    out
}

/// A task as the extension puts it: the fields, and the result, error or questions its status
/// calls for.
pub(crate) fn detailed(r: &TaskRecord, poll_interval: Duration) -> Map<String, Value> {
    let mut out = fields(r, poll_interval, "ttlMs", "pollIntervalMs");
    match r.status {
        TaskStatus::Completed => {
            out.insert("result".into(), r.result.clone().unwrap_or(json!({})));
        }
        TaskStatus::Failed => {
            out.insert("error".into(), r.error.clone().unwrap_or(json!({})));
        }
        TaskStatus::InputRequired => {
            out.insert(
                "inputRequests".into(),
                Value::Object(r.input_requests.clone()),
            );
        }
        TaskStatus::Working | TaskStatus::Cancelled => {}
    }
    out
}

/// A task as 2025-11-25's experimental tasks put it: no inlined result (that is `tasks/result`).
pub(crate) fn experimental(r: &TaskRecord, poll_interval: Duration) -> Map<String, Value> {
    fields(r, poll_interval, "ttl", "pollInterval")
}

/// Whether a client's capabilities declare the tasks extension.
pub(crate) fn declared(capabilities: Option<&Value>) -> bool {
    capabilities
        .and_then(|c| c.get("extensions"))
        .and_then(|e| e.get(EXTENSION))
        .is_some()
}

/// -32021 for a client that did not declare the tasks extension.
pub(crate) fn not_declared(what: &str) -> RpcError {
    RpcError::new(
        code::MISSING_CAPABILITY,
        format!("{what} needs the `{EXTENSION}` extension, which the client did not declare"),
    )
    .with_data(json!({ "requiredCapabilities": { "extensions": { EXTENSION: {} } } }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, owner: &str, result: Option<Value>) -> TaskRecord {
        TaskRecord {
            id: id.into(),
            owner: Some(owner.into()),
            status: if result.is_some() {
                TaskStatus::Completed
            } else {
                TaskStatus::Working
            },
            status_message: None,
            created_at_ms: now_ms(),
            updated_at_ms: now_ms(),
            ttl_ms: 60_000,
            result,
            error: None,
            input_requests: Map::new(),
        }
    }

    #[tokio::test]
    async fn the_memory_store_is_bounded_in_records_and_bytes() {
        let store = MemoryTaskStore::with_limits(3, 2, 100);
        store.put(record("a", "alice", None)).await.unwrap();
        store.put(record("b", "alice", None)).await.unwrap();
        let e = store.put(record("c", "alice", None)).await.unwrap_err();
        assert!(e.to_string().contains("the most one caller may"), "{e}");
        store.put(record("c", "bob", None)).await.unwrap();
        let e = store.put(record("d", "carol", None)).await.unwrap_err();
        assert!(e.to_string().contains("3 tasks, its most"), "{e}");
        // Bytes: a result over the bound is refused; replacing a record counts only the new one.
        let big = json!({"text": "x".repeat(200)});
        assert!(store.put(record("a", "alice", Some(big))).await.is_err());
        let small = json!({"text": "x".repeat(30)});
        store
            .put(record("a", "alice", Some(small.clone())))
            .await
            .unwrap();
        store
            .put(record("a", "alice", Some(small.clone())))
            .await
            .unwrap();
        assert!(
            store
                .put(record("b", "alice", Some(small.clone())))
                .await
                .is_ok()
        );
        assert!(
            store.put(record("c", "bob", Some(small))).await.is_err(),
            "123 bytes > 100"
        );
        // Expired records free their place.
        let mut old = record("a", "alice", None);
        old.status = TaskStatus::Completed;
        old.ttl_ms = 0;
        old.updated_at_ms = 0;
        store.put(old).await.unwrap();
        assert!(store.get("a").await.unwrap().is_none());
        store.put(record("d", "carol", None)).await.unwrap();
    }

    #[tokio::test]
    async fn the_memory_store_bounds_the_bytes_of_each_owner() {
        // Each result of 40 characters weighs 51 bytes.
        let store = MemoryTaskStore::default().max_bytes_per_owner(130);
        let result = |n: usize| Some(json!({"text": "x".repeat(n)}));
        store.put(record("a", "alice", result(40))).await.unwrap();
        store.put(record("b", "alice", result(40))).await.unwrap();
        let e = store
            .put(record("c", "alice", result(40)))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("your tasks hold 102 bytes"), "{e}");
        // Other owners are unaffected; nobody nameable (`None`) has no per-owner bound.
        store.put(record("d", "bob", result(80))).await.unwrap();
        for id in ["e", "f"] {
            let mut r = record(id, "-", result(80));
            r.owner = None;
            store.put(r).await.unwrap();
        }
        // Replacing a record counts only the new one; an expired one frees its bytes.
        store.put(record("a", "alice", result(10))).await.unwrap();
        store.put(record("c", "alice", result(40))).await.unwrap();
        let mut old = record("b", "alice", result(40));
        old.ttl_ms = 0;
        old.updated_at_ms = 0;
        store.put(old).await.unwrap();
        store.put(record("g", "alice", result(40))).await.unwrap();
        // Lists carry no results, and nobody lists the tasks of nobody nameable.
        let listed = store.list(Some("alice"), 10).await.unwrap();
        assert_eq!(listed.len(), 3);
        assert!(listed.iter().all(|r| r.result.is_none()));
        assert!(store.list(None, 10).await.unwrap().is_empty());
        assert!(store.get("e").await.unwrap().unwrap().result.is_some());
    }

    #[tokio::test]
    async fn past_its_owners_bytes_a_result_fails_its_task_and_other_owners_keep_theirs() {
        let store = Arc::new(MemoryTaskStore::default().max_bytes_per_owner(1000));
        let tasks = Tasks::new(store.clone(), TaskSettings::default());
        let start = |owner: &str| {
            tasks.create(
                Some(owner.to_owned()),
                peer(),
                CancellationToken::new(),
                None,
            )
        };
        let big = || {
            Some(Ok(
                json!({"content": [{"type": "text", "text": "x".repeat(600)}]}),
            ))
        };
        let first = start("alice").await.unwrap();
        tasks.finish(&first.id, big()).await;
        let second = start("alice").await.unwrap();
        tasks.finish(&second.id, big()).await;
        let theirs = start("bob").await.unwrap();
        tasks.finish(&theirs.id, big()).await;
        let read = |id: String| {
            let store = store.clone();
            async move { store.get(&id).await.unwrap().unwrap() }
        };
        assert_eq!(read(first.id).await.status, TaskStatus::Completed);
        let failed = read(second.id).await;
        assert_eq!(failed.status, TaskStatus::Failed);
        let message = failed.error.unwrap()["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            message.contains("could not be kept") && message.contains("your tasks hold"),
            "{message}"
        );
        assert_eq!(read(theirs.id).await.status, TaskStatus::Completed);
        // An error over the owner's bytes (a failure, a panic's message) ends its task too,
        // with the message alone: an ending never leaves a task `working`.
        let third = start("alice").await.unwrap();
        let error = RpcError::new(code::INTERNAL_ERROR, "e".repeat(600));
        tasks.finish(&third.id, Some(Err(error))).await;
        let ended = read(third.id).await;
        assert_eq!(ended.status, TaskStatus::Failed);
        assert!(
            ended
                .status_message
                .as_deref()
                .is_some_and(|m| m.contains("could not be kept")),
            "{ended:?}"
        );
    }

    #[tokio::test]
    async fn a_caller_nobody_can_name_has_no_per_owner_bounds_and_no_list() {
        let tasks = Tasks::new(
            Arc::new(MemoryTaskStore::default()),
            TaskSettings {
                max_running_per_owner: 1,
                ..TaskSettings::default()
            },
        );
        let start = |owner: Option<&str>| {
            tasks.create(
                owner.map(str::to_owned),
                peer(),
                CancellationToken::new(),
                None,
            )
        };
        start(None).await.unwrap();
        start(None).await.unwrap();
        start(Some("alice")).await.unwrap();
        let e = start(Some("alice")).await.unwrap_err();
        assert!(e.message.contains("the most one caller may"), "{e:?}");
        assert!(tasks.list(None).await.unwrap().is_empty());
        assert_eq!(
            tasks.list(Some(&"alice".to_owned())).await.unwrap().len(),
            1
        );
    }

    /// A store whose writes of one task wait until released.
    struct SlowFor {
        inner: MemoryTaskStore,
        slow: Mutex<Option<String>>,
        release: tokio::sync::Notify,
    }

    impl TaskStore for SlowFor {
        fn put(&self, record: TaskRecord) -> BoxFuture<'_, Result<(), StoreError>> {
            Box::pin(async move {
                let slow = self.slow.lock().unwrap().clone();
                if slow.as_deref() == Some(record.id.as_str()) {
                    self.release.notified().await;
                }
                self.inner.put(record).await
            })
        }
        fn get(&self, id: &str) -> BoxFuture<'_, Result<Option<TaskRecord>, StoreError>> {
            self.inner.get(id)
        }
        fn list(
            &self,
            owner: Option<&str>,
            limit: usize,
        ) -> BoxFuture<'_, Result<Vec<TaskRecord>, StoreError>> {
            self.inner.list(owner, limit)
        }
    }

    fn peer() -> Arc<Peer> {
        Peer::new(
            crate::protocol::ProtocolVersion::LATEST_HANDSHAKE,
            None,
            None,
        )
    }

    #[tokio::test]
    async fn an_update_of_one_task_does_not_wait_for_a_slow_write_of_another() {
        let store = Arc::new(SlowFor {
            inner: MemoryTaskStore::default(),
            slow: Mutex::new(None),
            release: tokio::sync::Notify::new(),
        });
        let tasks = Arc::new(Tasks::new(store.clone(), TaskSettings::default()));
        let owner = Some("alice".to_owned());
        let a = tasks
            .create(owner.clone(), peer(), CancellationToken::new(), None)
            .await
            .unwrap();
        let b = tasks
            .create(owner, peer(), CancellationToken::new(), None)
            .await
            .unwrap();
        *store.slow.lock().unwrap() = Some(a.id.clone());
        let slow = {
            let (tasks, id) = (tasks.clone(), a.id.clone());
            tokio::spawn(async move {
                tasks
                    .update(&id, |r| r.status_message = Some("slow".into()))
                    .await;
            })
        };
        tokio::task::yield_now().await;
        tokio::time::timeout(
            Duration::from_secs(2),
            tasks.update(&b.id, |r| r.status_message = Some("quick".into())),
        )
        .await
        .expect("another task's update does not wait for the slow write");
        let read = store.get(&b.id).await.unwrap().unwrap();
        assert_eq!(read.status_message.as_deref(), Some("quick"));
        // Updates of the same task still go one at a time: this one waits for the slow write.
        let second = {
            let (tasks, id) = (tasks.clone(), a.id.clone());
            tokio::spawn(async move {
                tasks
                    .update(&id, |r| {
                        assert_eq!(r.status_message.as_deref(), Some("slow"), "read after it");
                        r.status_message = Some("second".into());
                    })
                    .await;
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!second.is_finished());
        *store.slow.lock().unwrap() = None;
        store.release.notify_waiters();
        slow.await.unwrap();
        second.await.unwrap();
        let read = store.get(&a.id).await.unwrap().unwrap();
        assert_eq!(read.status_message.as_deref(), Some("second"));
        assert!(
            tasks.writes.lock().unwrap().is_empty(),
            "no lock is kept once unused"
        );
    }

    #[test]
    fn dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(iso8601(1_795_914_123_456), "2026-11-29T01:02:03.456Z");
    }
}
