//! Black-box tests of the runtime: tools in-process, the request-response transport over real
//! sockets, and every emitted message against the official schemas.
//!
//! The fixture tools below are compiled under `deny(warnings, unused_qualifications,
//! missing_docs)`, so this binary is also the lint test of `#[tool]` expansions.

#![deny(warnings, unused_qualifications, missing_docs)]

mod apps;
mod asking;
mod auth;
mod bounds;
mod discovery;
mod fixtures;
mod http;
mod middleware;
mod nest;
mod oauth;
mod proxy;
mod redis;
mod resources;
mod routes;
mod schema;
mod skills;
mod stdio;
mod streamable;
mod tasks;
mod tools;
mod traces;
