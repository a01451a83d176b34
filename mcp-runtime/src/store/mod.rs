//! Stores: sessions and their resumable event streams.

pub(crate) mod session;
