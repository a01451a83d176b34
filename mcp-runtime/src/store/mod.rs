//! Stores: sessions and their resumable event streams, and the records several instances share.

pub(crate) mod policy;
#[cfg(feature = "redis")]
pub(crate) mod redis;
pub(crate) mod session;
pub(crate) mod shared;
pub(crate) mod tasks;
