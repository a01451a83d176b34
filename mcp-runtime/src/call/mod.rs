//! What a handler is given and may do while it runs: the [`Context`](context::Context) (headers,
//! state, principal, progress, logging, cancellation) and asking the client (`ask`: sampling,
//! elicitation, roots; awaited on a handshake-era connection, an input-required round in
//! 2026-07-28). It sits below the catalog, whose registrations name `Context` in their function
//! types, and knows only `protocol` and `content`; the core implements the small interface
//! (`Host`, `Asking`) through which a `Context` reaches the connection it runs on.

pub(crate) mod ask;
pub(crate) mod context;
