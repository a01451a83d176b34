//! Stores: the contracts of what must outlive a process or be shared by the instances of an app
//! ([`SessionStore`]: session records and their event logs; [`TaskStore`]: task records;
//! [`PolicyStore`]: the counters and cache of the middleware), a memory implementation of each
//! (the defaults), and [`RedisStore`] behind the `redis` feature, which implements all three.
//! A store that refuses or is down answers [`StoreError`]. For another backend, implement the
//! trait and run its contract from [`testing`](crate::testing) (feature `testing`).
//!
//! Each store goes where its records are made:
//!
//! ```
//! use std::sync::Arc;
//! use mcp_runtime::http::HttpOptions;
//! use mcp_runtime::middleware::RateLimit;
//! use mcp_runtime::store::{MemoryPolicyStore, MemoryTaskStore, SessionStore};
//! use mcp_runtime::{McpServer, Transport};
//!
//! # fn shared_sessions() -> Option<Arc<dyn SessionStore>> { None }
//! let server = McpServer::new("CRM")
//!     // Tasks: the memory store is the default; this one keeps fewer (10 per caller).
//!     .task_store(MemoryTaskStore::with_limits(100, 10, 1024 * 1024))
//!     // Policies: a memory store of each policy's own by default; a `RedisStore` given here
//!     // makes one limit across the app's instances.
//!     .layer(RateLimit::per_minute("calls", 600).store(MemoryPolicyStore::default()));
//! let mut options = HttpOptions::default();
//! // Sessions: in the process by default; a shared store (`RedisStore::scoped`) for many
//! // instances.
//! if let Some(store) = shared_sessions() {
//!     options = options.sessions(|s| s.store(store));
//! }
//! let app = server.http_app_with(Transport::StreamableHttp, options);
//! # let _ = app;
//! ```

// Records are serializable; what only a process has (live sessions, wakers, open streams) lives
// in `transport`. The store knows only `protocol` and the records' own types: the core, which
// runs tasks on it, sits above.

pub(crate) mod grants;
pub(crate) mod policy;
#[cfg(feature = "redis")]
pub(crate) mod redis;
pub(crate) mod shared;
mod sweep;
pub(crate) mod tasks;

pub use grants::{GrantStore, MemoryGrantStore};
pub use policy::{CacheEntry, MemoryPolicyStore, PolicyStore, RateDecision};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::RedisStore;
pub use shared::{EventBounds, LoggedEvents, SessionRecord, SessionStore};
pub use tasks::{MemoryTaskStore, StoreError, TaskRecord, TaskStatus, TaskStore};
