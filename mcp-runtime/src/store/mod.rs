//! Stores: the contracts of what must outlive a process or be shared by the instances of an app
//! (session records and their event logs, task records, policy counters, [`StoreError`]),
//! a memory implementation of each, and Redis behind the `redis` feature. Records are serializable;
//! what only a process has (live sessions, wakers, open streams) lives in `transport`. The store
//! knows only `protocol` and the records' own types: the core, which runs tasks on it, sits above.

pub(crate) mod policy;
#[cfg(feature = "redis")]
pub(crate) mod redis;
pub(crate) mod shared;
pub(crate) mod tasks;

pub use policy::{CacheEntry, MemoryPolicyStore, PolicyStore, RateDecision};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::RedisStore;
pub use shared::{EventBounds, LoggedEvents, SessionRecord, SessionStore};
pub use tasks::{MemoryTaskStore, StoreError, TaskRecord, TaskStatus, TaskStore};
