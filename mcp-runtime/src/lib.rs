//! Serve MCP tools, resources and prompts from the axum app you already run.
//!
//! A function becomes an MCP tool with one attribute; tools from anywhere in the codebase are
//! collected at link time; each tool set is an app you mount in your `axum::Router` where you
//! like, next to your REST routes, under your middleware, on your port.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use mcp_runtime::{McpRouterExt, McpServer, Transport, tool};
//!
//! /// Report overall system status.
//! #[tool]
//! async fn get_status() -> &'static str {
//!     "All systems operational"
//! }
//!
//! /// Add two numbers.
//! #[tool(domain = "math", read_only)]
//! fn add(
//!     /// The first number.
//!     a: i64,
//!     /// The second number.
//!     b: i64,
//! ) -> i64 {
//!     a + b
//! }
//!
//! #[tokio::main]
//! async fn main() {
//!     let app = Router::new()
//!         .route("/health", get(|| async { "ok" }))
//!         .nest_mcp("/mcp", McpServer::new("API Tools").tool(get_status).http_app(Transport::Http))
//!         .nest_mcp("/mcp/math", McpServer::new("Math").domain("math").http_app(Transport::Http));
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await.unwrap();
//!     axum::serve(listener, app).await.unwrap();
//! }
//! ```
//!
//! # `#[tool]`
//!
//! On a free `fn` or `async fn` without generics. Each plain parameter is a tool argument: its
//! type must implement `serde::Deserialize` and `schemars::JsonSchema`, `Option<T>` arguments are
//! optional, a `///` comment on a parameter describes it, and `#[serde(rename = "…")]`,
//! `#[serde(default)]` or `#[schemars(…)]` on a parameter apply to that argument.
//!
//! **Injected parameters** are not arguments and are not in the schema. The rule is by type:
//! `Context` or `&Context` (the request: headers, caller, state, progress, logging,
//! cancellation) and `State<T>` (a value given with [`McpServer::state`]).
//!
//! **Return types**: `String` or `&str` (text), `()` (no content), [`Content`], `Vec<Content>`,
//! [`CallToolResult`](content::CallToolResult), any `T: Serialize + JsonSchema` (structured content, its JSON as text, and
//! an `outputSchema`; a value whose schema is not an object is sent as `{"result": …}`), and
//! `Result<T, E>` of these with `E: Display` (an `Err` becomes an `isError: true` result).
//!
//! **Options**: the reference is on the attribute itself ([`macro@tool`], and
//! [`macro@resource`], [`macro@prompt`]): the keys it lists are the keys the macro takes.
//!
//! # `#[resource]` and `#[prompt]`
//!
//! The same pipeline makes resources (`#[resource(uri = "…")]`), resource templates
//! (`#[resource(uri_template = "…/{id}")]`, whose variables are the fn's typed parameters,
//! checked before the call) and prompts (`#[prompt]`, whose parameters are its arguments), with
//! completion functions named by `complete(argument = function)`. The README has the reference;
//! [`Server::change`] changes what a running server offers and tells listening clients.
//!
//! # Servers
//!
//! [`McpServer`] selects tools: by domain ([`McpServer::domain`]), one by one
//! ([`McpServer::tool`], [`McpServer::add_tool`]), or all ([`McpServer::all_tools`]). A tool name
//! used twice, a domain without tools, or a `State<T>` the server lacks is reported when the
//! server is built, with the source location of each tool. A server can be made of servers
//! ([`McpServer::nest`] under a namespace, [`McpServer::merge`]), show its tools differently
//! ([`McpServer::transform_tool`]), decide per caller what is seen ([`McpServer::visibility`]),
//! and serve another MCP server through a [`client::proxy::Proxy`].
//!
//! # Where things are
//!
//! The root holds what most code written against this crate names: the attributes and
//! `#[derive(Form)]`, [`McpServer`] and the built [`Server`] (with [`BuildError`]), what a
//! function receives ([`Context`], [`State`]) and returns ([`Content`], [`ToolError`],
//! [`RequestError`]), and how a server is mounted and served ([`Transport`], [`McpRouterExt`],
//! [`serve`], [`Shutdown`]). The rest is in one module per concern, each written for the person
//! who reaches for it:
//!
//! | module | for | holds |
//! | --- | --- | --- |
//! | [`content`] | tool, resource and prompt authors | what functions return: content blocks, results, the errors |
//! | [`context`] | tool authors | what [`Context`] hands out: headers, log levels |
//! | [`ask`] | tool authors | questions to the client: forms, URLs, sampling, roots |
//! | [`catalog`] | servers built or changed in code | tools, resources, prompts and completions as values; [`catalog::CatalogEdit`], [`catalog::ToolTransform`], the naming rule of nested servers |
//! | [`http`] | the app integrator | a server's HTTP app ([`http::McpApp`]), the options of a mount and of [`serve`] |
//! | [`stdio`] | the app integrator | the options of the stdio transport |
//! | [`auth`] | the app integrator | API keys, JWT, the [`auth::Authenticator`] contract, the [`auth::Principal`] |
//! | [`middleware`] | the app integrator | MCP layers and the policies on them |
//! | [`store`] | store implementors, apps on many instances | the store contracts, the memory stores, `RedisStore` |
//! | [`protocol`] | everyone, rarely | revisions ([`protocol::ProtocolVersion`]), [`protocol::RpcError`] and its codes |
//! | [`routes`] | the app integrator | the app's own routes (OpenAPI) as tools, a tool as a REST endpoint |
//! | [`client`] | apps that use or serve other MCP servers | an MCP client over Streamable HTTP and stdio; [`client::proxy::Proxy`] serves another server as one of yours (feature `client`, on by default) |
//! | [`testing`] | tests | the in-process [`testing::Client`]; the store contracts (feature `testing`) |
//!
//! # Words
//!
//! Each of these means one thing, in these docs and in every name:
//!
//! - **era**: the protocol's two ways of starting. The *handshake era* is every revision from
//!   2024-11-05 to 2025-11-25: the client sends `initialize` first. The *stateless era* is
//!   2026-07-28: no handshake, every request carries its revision and capabilities in `_meta`,
//!   and `server/discover` says what the server offers ([`protocol::ProtocolVersion::is_stateless`]).
//! - **session**: what a server keeps for one handshake-era client between requests: on
//!   Streamable HTTP the `Mcp-Session-Id` it gives, on the legacy transport its event stream.
//!   A mount can run *without sessions* ([`http::HttpOptions::without_sessions`]); that is not
//!   the stateless era, which never has sessions.
//! - **input-required round**: how a stateless-era call asks the client something (a form, a
//!   completion from its model, its roots): the server answers with the questions
//!   (`resultType: "input_required"` and a `requestState`), the client calls again with
//!   `inputResponses`, and the handler runs again from the start, finding its answers. In the
//!   handshake era the same [`ask`] calls wait for the client's answer instead.
//! - **legacy transport**: the HTTP+SSE transport of 2024-11-05 (`GET <mount>/sse`) and nothing
//!   else.
//! - **tasks**: long calls whose result is fetched later. The *experimental tasks* are those of
//!   2025-11-25 (`tasks/get`, `tasks/result`, …); 2026-07-28 has tasks of its own; a tool's
//!   [`catalog::TaskSupport`] serves both.
//! - **errors**: a [`ToolError`] is a tool that ran and failed: the client gets an `isError`
//!   result its model reads. A [`RequestError`] is a resource, prompt or completion that could
//!   not answer: the client gets a JSON-RPC error. A [`protocol::RpcError`] is that JSON-RPC
//!   error as sent. A [`store::StoreError`] is a store that refused or is down. An
//!   [`ask::AskError`] is a question the client could not or would not answer, an
//!   [`auth::AuthError`] a request refused before any method ran (401, 403, 503), and a
//!   [`BuildError`] a server that cannot be built (found before it serves anything).
//! - **`Mcp` prefix**: only on names that sit beside an HTTP or tower namesake in an axum app:
//!   [`McpServer`], [`McpRouterExt`] (axum's `Router`), and the middleware's
//!   [`middleware::McpRequest`], [`middleware::McpResponse`], [`middleware::McpService`],
//!   [`middleware::McpLayer`].
//! - **client**: the MCP client on the other end of a transport; [`testing::Client`] is the
//!   in-process one tests use.
//!
//! # How a request flows
//!
//! A transport turns bytes into one typed request (method, id, params, the caller's
//! [`auth::Principal`], the HTTP headers where there are some, cancellation), runs it through
//! the server's [`middleware`] layers ([`middleware::McpRequest`] in,
//! [`middleware::McpResponse`] out) to the function, and serializes the typed outcome it gets
//! back once: a result, a tool's failure, an input-required round, a task, an error, or
//! nothing when the call was cancelled. The README's layout section lists the crate's private
//! modules and the order in which they use each other.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `macros` | yes | `#[tool]`, `#[resource]`, `#[prompt]`, `#[derive(Form)]` |
//! | `jwt` | yes | [`auth::JwtVerifier`]: bearer tokens checked against a JWKS |
//! | `oauth` | yes | [`auth::OAuthServer`]: an OAuth authorization server for MCP clients that delegates the login to the app's identity provider |
//! | `stdio` | yes | [`Server::serve_stdio`] and the [`stdio`] module |
//! | `serve` | yes | [`serve`] and [`http::ServeOptions`]: axum's serve with timeouts and a shutdown deadline |
//! | `redis` | no | [`store::RedisStore`]: sessions, tasks and policies shared by several instances |
//! | `otel` | no | the W3C trace context a client sends in `_meta` as the parent of the request's span |
//! | `testing` | no | the store contracts as tests ([`testing`]), for other store implementations |

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod auth;
mod bounds;
mod call;
pub mod catalog;
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod client;
pub mod content;
mod core;
mod headers;
pub mod middleware;
pub mod protocol;
pub mod routes;
mod schema_compat;
mod server;
pub mod store;
pub mod testing;
mod transport;

// What most users write: the attributes, the server, what a function receives and returns,
// and how the server is mounted and served.
pub use crate::call::ask::Form;
pub use crate::call::context::Context;
pub use catalog::tool::State;
pub use content::{Content, RequestError, ToolError};
#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
pub use mcp_runtime_macros::{Form, include_skills, prompt, resource, tool};
pub use server::{BuildError, McpServer, Server};
#[cfg(feature = "serve")]
#[cfg_attr(docsrs, doc(cfg(feature = "serve")))]
pub use transport::serve;
pub use transport::{McpRouterExt, Shutdown, Transport};

/// Asking the client during a call: a form or a URL (elicitation), a completion from its model
/// (sampling), its roots ([`Context::elicit`], [`Context::elicit_url`], [`Context::sample`],
/// [`Context::list_roots`], and [`Context::ask`] for a question with a key of its own).
pub mod ask {
    #[doc(no_inline)]
    pub use crate::call::ask::Form;
    pub use crate::call::ask::{
        AskError, Elicitation, FormChoice, FormValue, Root, SamplingMessage, SamplingRequest,
        SamplingResult, UrlElicitation,
    };
    pub use crate::call::context::Question;
}

/// What a running call sees beside its arguments: the [`Context`] and what it hands out.
pub mod context {
    #[doc(no_inline)]
    pub use crate::call::context::Context;
    pub use crate::call::context::{Headers, LogLevel};
}

/// Serving over HTTP: a server's app to mount ([`McpApp`](http::McpApp)), the options of a mount, and of [`serve`].
pub mod http {
    #[cfg(feature = "serve")]
    #[cfg_attr(docsrs, doc(cfg(feature = "serve")))]
    pub use crate::transport::ServeOptions;
    pub use crate::transport::{
        AiCatalog, HttpOptions, McpApp, OriginPolicy, ResponseMode, Sessions, Streams,
    };
}

/// Serving on standard input and output ([`Server::serve_stdio_with`]).
#[cfg(feature = "stdio")]
#[cfg_attr(docsrs, doc(cfg(feature = "stdio")))]
pub mod stdio {
    pub use crate::transport::StdioOptions;
}

/// The MCP tool-name rule (SEP-986), shared with the attribute macros.
pub(crate) use mcp_runtime_rules::tool_name_problem;

/// What `#[tool]` expansions name. Not a public API: it changes with the macro, which is pinned
/// to this crate's exact version.
#[doc(hidden)]
pub mod __private {
    pub use inventory;
    pub use schemars;
    pub use serde;
    pub use serde_json;

    pub use crate::catalog::expansion::{
        Returns, SupportedReturn, ToolArgument, ViaIntoToolResult, ViaStructured,
        ViaStructuredResult, ViaUnsupported, argument, assert_argument, output_schema,
        parse_arguments, state, type_id_of_val,
    };
    pub use crate::catalog::tool::{
        AnnotationDefs, Arguments, IconDef, StateRequirement, TaskSupport, ToolFuture, ToolLayer,
        ToolOutput, ToolRegistration,
    };

    pub use crate::call::ask::{Form, FormChoice, FormValue, assert_form_value};
    pub use crate::catalog::completion::{
        CompleteFn, CompleteFuture, CompletionRequest, completion_output,
    };
    pub use crate::catalog::prompt::{
        PromptArgDef, PromptArgs, PromptFuture, PromptOutput, PromptRegistration,
    };
    pub use crate::catalog::resource::{
        ReadFuture, ReadOutput, ReadRequest, ReadReturns, ResourceRegistration, StringArgument,
        ViaContents, ViaJson, ViaJsonResult, assert_string_argument, state_for, string_argument,
    };
    pub use crate::content::IntoPromptResult;
    pub use crate::core::middleware::tool_layer;
}

/// Entry points for the fuzz targets in `fuzz/` into code not reachable through one public call.
/// Not a public API.
#[doc(hidden)]
pub mod __fuzz {
    /// Parses a resource URI template and matches a URI against it: `Err` when the template is
    /// refused, `Ok(None)` when the URI is not of it, else the variables (or the refusal of one).
    #[allow(clippy::type_complexity)]
    pub fn uri_template(
        template: &str,
        uri: &str,
    ) -> Result<(Vec<String>, Option<Result<Vec<(String, String)>, String>>), String> {
        let t = crate::catalog::uri_template::UriTemplate::parse(template)?;
        let names = t.variables().map(str::to_owned).collect();
        let matched = t.matches(uri).map(|r| r.map_err(|p| p.to_string()));
        Ok((names, matched))
    }
}

/// The layering, checked: each room of the crate names (`crate::<room>`) only the rooms below it
/// and the leaf helpers. The order is the one the README's layout section gives.
#[cfg(test)]
mod layering {
    use std::path::Path;

    /// Lowest first. A room may use any room before it in this list.
    const ROOMS: &[&str] = &[
        "protocol",
        "content",
        "call",
        "catalog",
        "store",
        "core",
        "middleware",
        "auth",
        "transport",
        "server",
        "routes",
        "client",
        "testing",
    ];
    /// The modules `lib.rs` writes for users, above every room (the rooms name each other).
    const FACADE: &[&str] = &["ask", "context", "http", "stdio"];
    /// Helpers every room may use; they import no room above `protocol`.
    const LEAVES: &[&str] = &["bounds", "headers", "schema_compat"];

    /// This crate's directory, as `cargo test` names it when the test runs (a binary built for
    /// another checkout of the same sources, which cargo may reuse, keeps that checkout's path
    /// in `env!`).
    fn crate_dir() -> std::path::PathBuf {
        std::env::var_os("CARGO_MANIFEST_DIR")
            .map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), Into::into)
    }

    fn sources(path: &Path, out: &mut Vec<std::path::PathBuf>) {
        if path.is_dir() {
            for entry in std::fs::read_dir(path).unwrap() {
                sources(&entry.unwrap().path(), out);
            }
        } else if path.is_file() && path.extension().is_some_and(|e| e == "rs") {
            out.push(path.to_owned());
        }
    }

    /// The rooms a file names in code (comments and doc links are not imports).
    fn named(file: &Path) -> Vec<String> {
        let text =
            std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let mut names = Vec::new();
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            let mut rest = line;
            while let Some(at) = rest.find("crate::") {
                rest = &rest[at + "crate::".len()..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                names.push(rest[..end].to_owned());
            }
        }
        names
    }

    /// The files of `transport/`, lowest first: a file may use only files before it, and none
    /// uses `transport/mod.rs`, which only assembles them.
    const TRANSPORT: &[&str] = &[
        "egress",
        "origin",
        "replay",
        "session",
        "options",
        "admission",
        "changes",
        "inflight",
        "events",
        "era",
        "ingress",
        "card",
        "page",
        "endpoint",
        "stateless",
        "sse",
        "bus",
        "http",
        "stdio",
        "streamable",
        "serve",
    ];

    /// The sibling modules a file of `transport/` names (`super::x`, `crate::transport::x`),
    /// outside its tests.
    fn siblings(file: &Path) -> Vec<String> {
        let text =
            std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let mut names = Vec::new();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for prefix in ["super::", "crate::transport::"] {
                let mut rest = line;
                while let Some(at) = rest.find(prefix) {
                    rest = &rest[at + prefix.len()..];
                    // `super::x::…` names `x`; `super::{x, y}` names both.
                    let parts: Vec<&str> = match rest.strip_prefix('{') {
                        Some(inner) => inner[..inner.find('}').unwrap_or(inner.len())]
                            .split(',')
                            .collect(),
                        None => vec![rest],
                    };
                    for part in parts {
                        let part = part.trim_start();
                        let end = part
                            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                            .unwrap_or(part.len());
                        names.push(part[..end].to_owned());
                    }
                }
            }
        }
        names
    }

    #[test]
    fn transport_files_import_only_downward() {
        let dir = crate_dir().join("src/transport");
        let mut files = Vec::new();
        sources(&dir, &mut files);
        let mut wrong = Vec::new();
        for file in &files {
            let stem = file.file_stem().unwrap().to_str().unwrap();
            if stem == "mod" {
                continue;
            }
            let rank = TRANSPORT
                .iter()
                .position(|f| *f == stem)
                .unwrap_or_else(|| panic!("transport/{stem}.rs is not in TRANSPORT"));
            for name in siblings(file) {
                match TRANSPORT.iter().position(|f| *f == name) {
                    Some(r) if r >= rank && name != stem => {
                        wrong.push(format!("transport/{stem}.rs uses {name}"));
                    }
                    // Items of `transport/mod.rs` itself.
                    None if !name.is_empty() && name != stem => {
                        wrong.push(format!("transport/{stem}.rs uses transport::{name}"));
                    }
                    _ => {}
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "a circle in transport/:\n{}",
            wrong.join("\n")
        );
    }

    #[test]
    fn every_room_imports_only_downward() {
        let src = crate_dir().join("src");
        let mut wrong = Vec::new();
        for (rank, room) in ROOMS.iter().enumerate() {
            let mut files = Vec::new();
            sources(&src.join(room), &mut files);
            sources(&src.join(format!("{room}.rs")), &mut files);
            assert!(
                !files.is_empty(),
                "no sources for room {room} in {}",
                src.display()
            );
            for file in files {
                for name in named(&file) {
                    // The root's re-exports and the facade's modules sit above every room.
                    if name.starts_with(char::is_uppercase) || FACADE.contains(&name.as_str()) {
                        wrong.push(format!(
                            "{} names the facade's crate::{name}",
                            file.display()
                        ));
                        continue;
                    }
                    let above = ROOMS
                        .iter()
                        .position(|r| *r == name)
                        .is_some_and(|r| r > rank);
                    if above {
                        wrong.push(format!("{} names crate::{name}", file.display()));
                    }
                }
            }
        }
        for leaf in LEAVES {
            let file = src.join(format!("{leaf}.rs"));
            for name in named(&file) {
                let room = ROOMS.iter().position(|r| *r == name);
                if room.is_some_and(|r| r > 0) {
                    wrong.push(format!("{} names crate::{name}", file.display()));
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "imports that go upward:\n{}",
            wrong.join("\n")
        );
    }
}
