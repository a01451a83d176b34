//! Testing what is built with this crate.
//!
//! - [`Client`]: an in-process client of a [`Server`](crate::Server), for tests of a whole
//!   exchange (`initialize`, lists, calls, notifications) without a socket.
//! - The store contracts (feature `testing`), as tests anyone can run against their own
//!   implementation: a [`SessionStore`](crate::store::SessionStore), a
//!   [`TaskStore`](crate::store::TaskStore) or a [`PolicyStore`](crate::store::PolicyStore) on
//!   PostgreSQL, DynamoDB or Valkey passes the same checks as the memory stores and
//!   `RedisStore`.
//!
//! Each contract function runs every check of one contract and panics with what was expected and what
//! the store did. Keys and ids are fresh on each run, so a shared database can be used; the
//! checks of expiry wait a few hundred milliseconds.
//!
//! ```no_run
//! # async fn connect() -> mcp_runtime::store::MemoryTaskStore { Default::default() }
//! // In the store's own tests (`cargo test`), with `mcp-runtime` as a dev-dependency with the
//! // `testing` feature:
//! #[tokio::test]
//! async fn my_store_keeps_the_task_contract() {
//!     let store = connect().await;
//!     mcp_runtime::testing::task_store_contract(&store).await;
//! }
//! ```

mod client;
#[cfg(feature = "testing")]
mod contract;

pub use client::Client;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub use contract::{
    grant_store_contract, policy_store_contract, session_store_contract, task_store_contract,
    unavailable_store_contract,
};
