//! Shared stores on Redis (feature `redis`): session records and task records, so that several
//! instances of an app behind a load balancer serve the same sessions and tasks.
//!
//! One multiplexed connection per store, kept by the `redis` crate's `ConnectionManager`: every
//! request of the process pipelines on it (no pool to size, no connection per request), and it
//! reconnects by itself after Redis comes back. Every operation is bounded by a timeout
//! (default 1 s): Redis down or slow makes the requests that need it fail at once with 503, never
//! hang. The connection is made on first use, so an app starts while Redis is down.

mod grants;
mod policy;

use super::shared::{EventBounds, LoggedEvents, SessionRecord, SessionStore};
use super::tasks::{
    StoreError, TASK_BYTES_PER_OWNER, TASKS_KEPT_PER_OWNER, TaskRecord, TaskStore, weight,
};
use futures_util::future::BoxFuture;
use redis::AsyncCommands as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Session and task records, and the policies' counters (rate limits, concurrency caps,
/// cached answers), in Redis, under keys that start with a namespace (per app) and a
/// scope (per mount): `<namespace>:<scope>:session:<id>`, `<namespace>:<scope>:task:<id>` (a
/// hash: the record whole, and its summary for lists).
/// Sessions and tasks hold nothing secret: a session's owner is the issuer and subject its
/// authenticator produced, never a token. The records of `auth::OAuthServer` (`oauth:` keys)
/// hold codes and tokens only as digests and client secrets as hashes; the upstream provider's
/// tokens are not kept.
///
/// ```no_run
/// # fn f() -> Result<(), mcp_runtime::store::StoreError> {
/// let redis = mcp_runtime::store::RedisStore::new("redis://127.0.0.1:6379/", "my-app")?;
/// let crm = redis.scoped("crm"); // one per mount: `HttpOptions::sessions(|s| s.store(…))`, McpServer::task_store
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    shared: Arc<Shared>,
    prefix: Arc<str>,
    /// The most bytes of results, errors and questions one owner's tasks hold.
    task_bytes_per_owner: usize,
    /// How long a running task's record stays `working` without its instance renewing it.
    task_lease: Duration,
}

struct Shared {
    client: redis::Client,
    connection: Mutex<Option<ConnectionManager>>,
    timeout: Duration,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the URL: it may hold a password.
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("timeout", &self.shared.timeout)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: &redis::RedisError) -> StoreError {
    StoreError::unavailable(format!("redis: {e}"))
}

impl RedisStore {
    /// A store on the Redis at `url` (`redis://[user:password@]host:port/db`, or `rediss://…`
    /// over TLS, verified against the system's roots or the file `SSL_CERT_FILE` names), its keys
    /// under `namespace`. Connects on first use. Fails only when the URL does not parse.
    pub fn new(url: &str, namespace: &str) -> Result<Self, StoreError> {
        Self::with_timeout(url, namespace, Duration::from_secs(1))
    }

    /// [`RedisStore::new`], each operation bounded by `timeout` instead of 1 s.
    pub fn with_timeout(url: &str, namespace: &str, timeout: Duration) -> Result<Self, StoreError> {
        if url.starts_with("rediss:") {
            // TLS needs a process-wide crypto provider; an app that installed its own keeps it.
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        }
        let client = redis::Client::open(url)
            .map_err(|e| StoreError::refused(format!("the Redis URL is not valid: {e}")))?;
        Ok(Self {
            shared: Arc::new(Shared {
                client,
                connection: Mutex::new(None),
                timeout,
            }),
            prefix: namespace.into(),
            task_bytes_per_owner: TASK_BYTES_PER_OWNER,
            task_lease: Duration::from_secs(60),
        })
    }

    /// The same store for one mount: its keys under `<namespace>:<scope>`.
    pub fn scoped(&self, scope: &str) -> Self {
        Self {
            shared: self.shared.clone(),
            prefix: format!("{}:{scope}", self.prefix).into(),
            task_bytes_per_owner: self.task_bytes_per_owner,
            task_lease: self.task_lease,
        }
    }

    /// How long the record of a running task stays `working` without the instance running it
    /// renewing it (every third of this; default 60 s): once the lease runs out (the instance
    /// stopped without ending its tasks) the record reads `failed`, "the instance running the
    /// task stopped", and is kept for its TTL from then.
    #[must_use]
    pub fn task_lease(mut self, lease: Duration) -> Self {
        self.task_lease = lease.max(Duration::from_millis(30));
        self
    }

    /// The most bytes of results, errors and questions the task records of one owner hold
    /// (default 32 MiB, as in memory): past it, that owner's next result fails its task (the
    /// message says the caller's tasks hold too much), other owners' are kept.
    #[must_use]
    pub fn max_task_bytes_per_owner(mut self, bytes: usize) -> Self {
        self.task_bytes_per_owner = bytes;
        self
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}:{kind}:{id}", self.prefix)
    }

    fn bus_channel(&self) -> String {
        format!("{}:bus", self.prefix)
    }

    async fn connection(&self) -> Result<ConnectionManager, StoreError> {
        if let Some(c) = self
            .shared
            .connection
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            return Ok(c.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.shared.timeout))
            .set_response_timeout(Some(self.shared.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let made = ConnectionManager::new_with_config(self.shared.client.clone(), config)
            .await
            .map_err(|e| unavailable(&e))?;
        let mut slot = self
            .shared
            .connection
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        Ok(slot.get_or_insert(made).clone())
    }

    /// Runs `op` on the connection, within the timeout.
    async fn run<T, F>(&self, op: impl FnOnce(ConnectionManager) -> F) -> Result<T, StoreError>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        let timeout = self.shared.timeout;
        let attempt = async {
            let connection = self.connection().await?;
            op(connection).await.map_err(|e| unavailable(&e))
        };
        tokio::time::timeout(timeout, attempt)
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::unavailable(format!(
                    "redis did not answer within {} ms",
                    timeout.as_millis()
                )))
            })
    }
}

/// A Lua script run by Redis (one round trip, atomically): by its SHA1 once loaded, loaded
/// again when Redis has forgotten it (a restart).
struct Script {
    text: &'static str,
    sha: std::sync::OnceLock<String>,
}

impl Script {
    const fn new(text: &'static str) -> Self {
        Self {
            text,
            sha: std::sync::OnceLock::new(),
        }
    }
}

impl RedisStore {
    /// Runs `script` with the keys and arguments `args` adds to its command.
    async fn eval<T: redis::FromRedisValue>(
        &self,
        script: &'static Script,
        args: impl Fn(&mut redis::Cmd),
    ) -> Result<T, StoreError> {
        let sha = match script.sha.get() {
            Some(sha) => sha.clone(),
            None => {
                let sha: String = self
                    .run(|mut c| async move {
                        redis::cmd("SCRIPT")
                            .arg("LOAD")
                            .arg(script.text)
                            .query_async(&mut c)
                            .await
                    })
                    .await?;
                script.sha.get_or_init(|| sha).clone()
            }
        };
        let args = &args;
        self.run(|mut c| async move {
            let mut by_sha = redis::cmd("EVALSHA");
            by_sha.arg(&sha);
            args(&mut by_sha);
            match by_sha.query_async(&mut c).await {
                Err(e)
                    if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
                {
                    let mut whole = redis::cmd("EVAL");
                    whole.arg(script.text);
                    args(&mut whole);
                    whole.query_async(&mut c).await
                }
                other => other,
            }
        })
        .await
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn decode<T: serde::de::DeserializeOwned>(key: &str, text: Option<String>) -> Option<T> {
    let text = text?;
    match serde_json::from_str(&text) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(key, error = %e, "a record in Redis does not parse; ignored");
            None
        }
    }
}

impl SessionStore for RedisStore {
    fn save<'a>(
        &'a self,
        record: &'a SessionRecord,
        idle: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let key = self.key("session", &record.id);
            let text = serde_json::to_string(record).expect("records serialize");
            self.run(|mut c| async move {
                redis::cmd("SET")
                    .arg(&key)
                    .arg(text)
                    .arg("PX")
                    .arg(millis(idle))
                    .query_async::<()>(&mut c)
                    .await
            })
            .await
        })
    }

    fn load<'a>(
        &'a self,
        id: &'a str,
        idle: Duration,
    ) -> BoxFuture<'a, Result<Option<SessionRecord>, StoreError>> {
        Box::pin(async move {
            let key = self.key("session", id);
            let k = key.as_str();
            let text: Option<String> = self
                .run(|mut c| async move {
                    redis::cmd("GETEX")
                        .arg(k)
                        .arg("PX")
                        .arg(millis(idle))
                        .query_async(&mut c)
                        .await
                })
                .await?;
            Ok(decode(&key, text))
        })
    }

    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let key = self.key("session", id);
            let n: i64 = self.run(|mut c| async move { c.del(&key).await }).await?;
            Ok(n > 0)
        })
    }

    fn append_events<'a>(
        &'a self,
        session: &'a str,
        stream: u64,
        events: &'a [(u64, Arc<str>)],
        finished: bool,
        bounds: EventBounds,
        idle: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let (log, end) = event_keys(self, session, stream);
            let logs = self.key("events", &format!("{session}:"));
            let (order, sizes) = (
                self.key("eventstreams", session),
                self.key("eventbytes", session),
            );
            let now = super::tasks::now_ms();
            self.eval::<()>(&APPEND, |cmd| {
                cmd.arg(4).arg(&log).arg(&end).arg(&order).arg(&sizes);
                cmd.arg(stream)
                    .arg(u8::from(finished))
                    .arg(millis(idle))
                    .arg(bounds.events.max(1))
                    .arg(bounds.bytes)
                    .arg(bounds.session_bytes)
                    .arg(bounds.streams.max(1))
                    .arg(&logs)
                    .arg(now);
                for (seq, data) in events {
                    cmd.arg(*seq).arg(&**data);
                }
            })
            .await
        })
    }

    fn events_after<'a>(
        &'a self,
        session: &'a str,
        stream: u64,
        after: u64,
    ) -> BoxFuture<'a, Result<Option<LoggedEvents>, StoreError>> {
        Box::pin(async move {
            let (log, end) = event_keys(self, session, stream);
            type Entries = Vec<(String, Vec<(String, String)>)>;
            let (entries, known, finished): (Entries, bool, bool) = self
                .run(|mut c| async move {
                    redis::pipe()
                        .cmd("XRANGE")
                        .arg(&log)
                        .arg(format!("(0-{after}"))
                        .arg("+")
                        .cmd("EXISTS")
                        .arg(&log)
                        .cmd("EXISTS")
                        .arg(&end)
                        .query_async(&mut c)
                        .await
                })
                .await?;
            if !known && !finished {
                return Ok(None);
            }
            let events = entries
                .into_iter()
                .filter_map(|(id, fields)| {
                    let seq = id.strip_prefix("0-")?.parse().ok()?;
                    let data = fields.into_iter().find(|(k, _)| k == "d")?.1;
                    Some((seq, data))
                })
                .collect();
            Ok(Some(LoggedEvents { events, finished }))
        })
    }

    /// Messages between instances go on the Redis channel `<namespace>:<scope>:bus`.
    fn publish(&self, message: String) -> BoxFuture<'_, Result<(), StoreError>> {
        let channel = self.bus_channel();
        Box::pin(async move {
            self.run(|mut c| async move { c.publish::<_, _, ()>(&channel, message).await })
                .await
        })
    }

    /// A subscription of its own (pub/sub needs a dedicated connection), made again a second
    /// after it breaks, for as long as the stream is read.
    fn listen(&self) -> futures_util::stream::BoxStream<'static, String> {
        use futures_util::StreamExt as _;
        let (tx, rx) = tokio::sync::mpsc::channel::<String>(256);
        let client = self.shared.client.clone();
        let channel = self.bus_channel();
        let timeout = self.shared.timeout;
        tokio::spawn(async move {
            while !tx.is_closed() {
                let subscribed = tokio::time::timeout(timeout, async {
                    let mut pubsub = client.get_async_pubsub().await?;
                    pubsub.subscribe(&channel).await?;
                    Ok::<_, redis::RedisError>(pubsub)
                })
                .await;
                match subscribed {
                    Ok(Ok(pubsub)) => {
                        let mut messages = pubsub.into_on_message();
                        loop {
                            tokio::select! {
                                m = messages.next() => match m {
                                    Some(m) => {
                                        if let Ok(text) = m.get_payload::<String>()
                                            && tx.send(text).await.is_err()
                                        {
                                            return;
                                        }
                                    }
                                    None => break,
                                },
                                () = tx.closed() => return,
                            }
                        }
                        tracing::warn!("the Redis subscription broke; subscribing again");
                    }
                    Ok(Err(e)) => tracing::debug!(error = %e, "Redis subscription failed"),
                    Err(_) => tracing::debug!("Redis subscription timed out"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) })
            .boxed()
    }
}

/// Appends events to a stream's log within the bounds of its session (see
/// [`EventBounds`]). KEYS: the log (a Redis stream whose entry ids are `0-<seq>`), its end
/// mark, the session's streams by first append (a sorted set) and the bytes each holds (a
/// hash). ARGV: the stream, whether it is finished, the logs' life (ms), the bounds (events and
/// bytes per stream, bytes per session, streams), the prefix of the session's logs, the time
/// (ms), then the sequence number and data of each event.
static APPEND: Script = Script::new(
    r"
local log, fin, order, sizes = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local stream, life = ARGV[1], ARGV[3]
local max_events, max_bytes = tonumber(ARGV[4]), tonumber(ARGV[5])
local max_session, max_streams = tonumber(ARGV[6]), tonumber(ARGV[7])
local prefix = ARGV[8]
local function finished(s)
  return redis.call('EXISTS', prefix .. s .. ':end') == 1
end
local function drop(s)
  redis.call('DEL', prefix .. s, prefix .. s .. ':end')
  redis.call('HDEL', sizes, s)
  redis.call('ZREM', order, s)
end
if not redis.call('ZSCORE', order, stream) then
  -- A new stream: logs that expired leave the session; past its most streams, the oldest
  -- finished one goes, never a live one (a running call's answer must stay resumable; live
  -- streams are bounded by the session's running requests, and end with their logs' life).
  local kept = {}
  for _, s in ipairs(redis.call('ZRANGE', order, 0, -1)) do
    if redis.call('EXISTS', prefix .. s) == 1 or finished(s) then
      table.insert(kept, s)
    else
      drop(s)
    end
  end
  while #kept >= max_streams do
    local victim = nil
    for i, s in ipairs(kept) do
      if finished(s) then
        victim = i
        break
      end
    end
    if not victim then
      break
    end
    drop(kept[victim])
    table.remove(kept, victim)
  end
  redis.call('ZADD', order, ARGV[9], stream)
end
local held = tonumber(redis.call('HGET', sizes, stream) or '0')
local total = 0
for _, b in ipairs(redis.call('HVALS', sizes)) do
  total = total + tonumber(b)
end
local added = false
for i = 10, #ARGV, 2 do
  local seq, data = ARGV[i], ARGV[i + 1]
  local len = string.len(data)
  if len <= max_bytes then
    -- The oldest events of this stream go first, to stay within its bounds and the session's.
    local count = redis.call('XLEN', log)
    while count > 0 and (count >= max_events or held + len > max_bytes
        or total + len > max_session) do
      local oldest = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)[1]
      local size = string.len(oldest[2][2])
      redis.call('XDEL', log, oldest[1])
      held, total, count = held - size, total - size, count - 1
    end
    -- Then the finished streams of the session, oldest first.
    if total + len > max_session then
      for _, s in ipairs(redis.call('ZRANGE', order, 0, -1)) do
        if total + len <= max_session then
          break
        end
        if s ~= stream and finished(s) then
          total = total - tonumber(redis.call('HGET', sizes, s) or '0')
          drop(s)
        end
      end
    end
    redis.call('XADD', log, '0-' .. seq, 'd', data)
    held, total, added = held + len, total + len, true
  end
end
redis.call('HSET', sizes, stream, held)
if added then
  redis.call('PEXPIRE', log, life)
end
if ARGV[2] == '1' then
  redis.call('SET', fin, 1, 'PX', life)
end
redis.call('PEXPIRE', order, life)
redis.call('PEXPIRE', sizes, life)
",
);

/// The key of a stream's event log (a Redis stream whose entry ids are `0-<seq>`) and of its
/// end mark.
fn event_keys(store: &RedisStore, session: &str, stream: u64) -> (String, String) {
    let log = store.key("events", &format!("{session}:{stream}"));
    let end = format!("{log}:end");
    (log, end)
}

impl RedisStore {
    /// Refuses the task `id`, new to the owner of `index`, when the owner has
    /// `TASKS_KEPT_PER_OWNER` records kept (as `MemoryTaskStore` does); at the bound, the ids of
    /// records that expired leave the index first.
    async fn make_room(&self, index: &str, id: &str) -> Result<(), StoreError> {
        let i = index.to_owned();
        let kept: usize = self
            .run(|mut c| async move { redis::cmd("ZCARD").arg(&i).query_async(&mut c).await })
            .await?;
        if kept < TASKS_KEPT_PER_OWNER {
            return Ok(());
        }
        let i = index.to_owned();
        let ids: Vec<String> = self
            .run(|mut c| async move {
                redis::cmd("ZRANGE")
                    .arg(&i)
                    .arg(0)
                    .arg(-1)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        let gone = self.gone(&ids).await?;
        let kept = ids.len() - gone.len();
        // A record already kept (an update in the millisecond of its creation) takes no room.
        if kept >= TASKS_KEPT_PER_OWNER && !ids.iter().any(|i| i == id) {
            return Err(StoreError::too_many_kept(kept));
        }
        let i = index.to_owned();
        self.run(|mut c| async move {
            redis::cmd("ZREM")
                .arg(&i)
                .arg(&gone)
                .query_async::<()>(&mut c)
                .await
        })
        .await
    }

    /// The ids among `ids` whose records are gone (expired).
    async fn gone(&self, ids: &[String]) -> Result<Vec<String>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.key("task", id)).collect();
        let present: Vec<bool> = self
            .run(|mut c| async move {
                let mut pipe = redis::pipe();
                for k in &keys {
                    pipe.cmd("EXISTS").arg(k);
                }
                pipe.query_async(&mut c).await
            })
            .await?;
        Ok(ids
            .iter()
            .zip(&present)
            .filter(|(_, p)| !**p)
            .map(|(id, _)| id.clone())
            .collect())
    }

    /// Refuses `weight` bytes for the task `id` when the other tasks of the owner of `sizes`
    /// (a hash of task id to bytes) hold too much with them; past the bound, the sizes of
    /// records that expired leave the hash first, so that the sum is of records still kept.
    async fn make_byte_room(&self, sizes: &str, id: &str, weight: usize) -> Result<(), StoreError> {
        let k = sizes.to_owned();
        let held: HashMap<String, usize> = self
            .run(|mut c| async move { redis::cmd("HGETALL").arg(&k).query_async(&mut c).await })
            .await?;
        let others = |held: &HashMap<String, usize>| -> usize {
            held.iter().filter(|(i, _)| *i != id).map(|(_, w)| *w).sum()
        };
        if others(&held) + weight <= self.task_bytes_per_owner {
            return Ok(());
        }
        let ids: Vec<String> = held.keys().cloned().collect();
        let gone = self.gone(&ids).await?;
        if !gone.is_empty() {
            let k = sizes.to_owned();
            let g = gone.clone();
            self.run(|mut c| async move {
                redis::cmd("HDEL")
                    .arg(&k)
                    .arg(&g)
                    .query_async::<()>(&mut c)
                    .await
            })
            .await?;
        }
        let mut held = held;
        for g in &gone {
            held.remove(g);
        }
        let others = others(&held);
        if others + weight > self.task_bytes_per_owner {
            return Err(StoreError::too_much_held(
                others,
                weight,
                self.task_bytes_per_owner,
            ));
        }
        Ok(())
    }
}

/// Renews the leases of running tasks. KEYS: the lease key and the record key of each task;
/// ARGV: the lease (ms), then the life of each record (lease and TTL). A lease that is gone is
/// not made again: the task is reported (its index, from 1), its record reads `failed`.
static RENEW: Script = Script::new(
    r"
local lost = {}
for i = 1, #KEYS / 2 do
  if redis.call('PEXPIRE', KEYS[2 * i - 1], ARGV[1]) == 1 then
    redis.call('PEXPIRE', KEYS[2 * i], ARGV[i + 1])
  else
    table.insert(lost, i)
  end
end
return lost
",
);

/// A record as it reads: a running one whose lease is gone has failed (its instance stopped),
/// since the moment its lease ran out (its key lives for its TTL after that).
fn lapsed(record: TaskRecord, leased: bool, pttl: i64, now: u64) -> TaskRecord {
    if leased || record.status.is_terminal() {
        return record;
    }
    let left = u64::try_from(pttl).unwrap_or(0);
    let since = now.saturating_sub(record.ttl_ms.saturating_sub(left));
    record.stopped(since)
}

/// The hex of an owner: owners are `issuer|subject`; hex keeps any byte out of a key's
/// structure.
fn owner_hex(owner: &str) -> String {
    let mut out = String::with_capacity(owner.len() * 2);
    crate::protocol::push_hex(owner.as_bytes(), &mut out);
    out
}

/// The sorted set of an owner's task ids (by creation time).
fn owner_index(store: &RedisStore, owner: &str) -> String {
    store.key("tasks", &owner_hex(owner))
}

/// The hash of the bytes each task of an owner holds (only tasks that hold any).
fn owner_bytes(store: &RedisStore, owner: &str) -> String {
    store.key("taskbytes", &owner_hex(owner))
}

impl TaskStore for RedisStore {
    fn put(&self, record: TaskRecord) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let key = self.key("task", &record.id);
            let owner = record.owner.as_deref();
            let full = serde_json::to_string(&record).expect("records serialize");
            let summary = serde_json::to_string(&record.summary()).expect("records serialize");
            let w = weight(&record);
            // An ended task lives until its TTL from its last update; a running one for its
            // lease (a key of its own, renewed by the instance running it), then its TTL.
            let running = !record.status.is_terminal();
            let lease = millis(self.task_lease);
            let keep = if running {
                lease.saturating_add(record.ttl_ms)
            } else {
                let now = super::tasks::now_ms();
                record
                    .updated_at_ms
                    .saturating_add(record.ttl_ms)
                    .saturating_sub(now)
                    .max(1)
            };
            let lease_key = self.key("lease", &record.id);
            let id = record.id.clone();
            let created = record.created_at_ms;
            // The index outlives every record in it that is still kept.
            let index_ttl = record
                .ttl_ms
                .max(24 * 3600 * 1000)
                .saturating_add(3600 * 1000);
            // The bounds of the owner. The tasks of callers nobody can name share one owner's
            // (Redis has no bound of its own, as the memory store has; nobody lists them).
            let (index, sizes) = match owner {
                Some(owner) => (owner_index(self, owner), owner_bytes(self, owner)),
                // Not hex: no owner's key is this one.
                None => (
                    self.key("tasks", "anonymous"),
                    self.key("taskbytes", "anonymous"),
                ),
            };
            // A new task: at most `TASKS_KEPT_PER_OWNER` kept per caller, as in memory.
            if record.created_at_ms == record.updated_at_ms && !record.status.is_terminal() {
                self.make_room(&index, &record.id).await?;
            }
            if w > 0 {
                self.make_byte_room(&sizes, &record.id, w).await?;
            }

            self.run(|mut c| async move {
                let mut pipe = redis::pipe();
                pipe.atomic();
                pipe.cmd("HSET")
                    .arg(&key)
                    .arg("r")
                    .arg(full)
                    .arg("s")
                    .arg(summary)
                    .ignore();
                pipe.cmd("PEXPIRE").arg(&key).arg(keep).ignore();
                if running {
                    pipe.cmd("SET")
                        .arg(&lease_key)
                        .arg(1)
                        .arg("PX")
                        .arg(lease)
                        .ignore();
                } else {
                    pipe.cmd("DEL").arg(&lease_key).ignore();
                }
                pipe.cmd("ZADD").arg(&index).arg(created).arg(&id).ignore();
                pipe.cmd("PEXPIRE").arg(&index).arg(index_ttl).ignore();
                if w > 0 {
                    pipe.cmd("HSET").arg(&sizes).arg(&id).arg(w).ignore();
                    pipe.cmd("PEXPIRE").arg(&sizes).arg(index_ttl).ignore();
                } else {
                    pipe.cmd("HDEL").arg(&sizes).arg(&id).ignore();
                }
                pipe.query_async::<()>(&mut c).await
            })
            .await
        })
    }

    fn get(&self, id: &str) -> BoxFuture<'_, Result<Option<TaskRecord>, StoreError>> {
        let key = self.key("task", id);
        let lease = self.key("lease", id);
        Box::pin(async move {
            let (k, l) = (key.as_str(), lease.as_str());
            let (text, leased, pttl): (Option<String>, bool, i64) = self
                .run(|mut c| async move {
                    redis::pipe()
                        .cmd("HGET")
                        .arg(k)
                        .arg("r")
                        .cmd("EXISTS")
                        .arg(l)
                        .cmd("PTTL")
                        .arg(k)
                        .query_async(&mut c)
                        .await
                })
                .await?;
            let now = super::tasks::now_ms();
            Ok(decode::<TaskRecord>(&key, text)
                .map(|r| lapsed(r, leased, pttl, now))
                .filter(|r| !r.expired(now)))
        })
    }

    fn lease(&self) -> Option<Duration> {
        Some(self.task_lease)
    }

    fn renew<'a>(
        &'a self,
        running: &'a [(String, u64)],
    ) -> BoxFuture<'a, Result<Vec<String>, StoreError>> {
        Box::pin(async move {
            let lease = millis(self.task_lease);
            let lost: Vec<usize> = self
                .eval(&RENEW, |cmd| {
                    cmd.arg(running.len() * 2);
                    for (id, _) in running {
                        cmd.arg(self.key("lease", id)).arg(self.key("task", id));
                    }
                    cmd.arg(lease);
                    for (_, ttl_ms) in running {
                        cmd.arg(lease.saturating_add(*ttl_ms));
                    }
                })
                .await?;
            Ok(lost
                .into_iter()
                .filter_map(|i| running.get(i.checked_sub(1)?))
                .map(|(id, _)| id.clone())
                .collect())
        })
    }

    fn list(
        &self,
        owner: Option<&str>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<TaskRecord>, StoreError>> {
        let Some(owner) = owner.map(str::to_owned) else {
            return Box::pin(async { Ok(Vec::new()) });
        };
        let index = owner_index(self, &owner);
        Box::pin(async move {
            let i = index.clone();
            let ids: Vec<String> = self
                .run(|mut c| async move {
                    redis::cmd("ZREVRANGE")
                        .arg(&i)
                        .arg(0)
                        .arg(limit.saturating_sub(1))
                        .query_async(&mut c)
                        .await
                })
                .await?;
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            // Summaries only: a list does not load what the tasks hold.
            let listed = &ids;
            let read: Vec<(Option<String>, bool, i64)> = self
                .run(|mut c| async move {
                    let mut pipe = redis::pipe();
                    for id in listed {
                        let key = self.key("task", id);
                        pipe.cmd("HGET").arg(&key).arg("s");
                        pipe.cmd("EXISTS").arg(self.key("lease", id));
                        pipe.cmd("PTTL").arg(&key);
                    }
                    // Three answers per task, read back as one tuple each.
                    let flat: Vec<redis::Value> = pipe.query_async(&mut c).await?;
                    flat.chunks(3)
                        .map(|t| {
                            redis::from_redis_value(redis::Value::Array(t.to_vec()))
                                .map_err(redis::RedisError::from)
                        })
                        .collect()
                })
                .await?;
            let now = super::tasks::now_ms();
            let mut gone = Vec::new();
            let mut found = Vec::new();
            for (id, (text, leased, pttl)) in ids.iter().zip(read) {
                let record =
                    decode::<TaskRecord>(id, text).map(|r| lapsed(r, leased, pttl, now).summary());
                match record {
                    Some(r) if !r.expired(now) && r.owner.as_deref() == Some(owner.as_str()) => {
                        found.push(r);
                    }
                    _ => gone.push(id.clone()),
                }
            }
            if !gone.is_empty() {
                // Expired records leave the index here (best effort).
                let _ = self
                    .run(|mut c| async move {
                        redis::cmd("ZREM")
                            .arg(&index)
                            .arg(&gone)
                            .query_async::<()>(&mut c)
                            .await
                    })
                    .await;
            }
            found.sort_by(TaskRecord::newest_first);
            Ok(found)
        })
    }
}
