//! [`McpServer`], the builder that selects tools, resources and prompts, and [`Server`], the
//! built server: mounted as an HTTP app, served on stdio, called in-process, and changed at run
//! time.
//!
//! - `builder.rs`: [`McpServer`] and the checks of a build ([`BuildError`]);
//! - here: [`Server`] itself and how it is served.

mod builder;

use crate::catalog::CatalogEdit;
pub use builder::{BuildError, McpServer};

use builder::{StateMap, check};

use crate::auth::SharedAuth;
use crate::catalog::tool::Tool;
use crate::content::CallToolResult;
use crate::core::peer::Peer;
use crate::core::{Dispatcher, RequestEnv};
use crate::protocol::{ProtocolVersion, RequestId, RpcError, code};
use crate::transport::admission::AuthState;
use serde_json::{Value, json};
use std::any::TypeId;
use std::fmt;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A built MCP server. Cheap to clone; mount it with [`Server::http_app`], call its tools
/// in-process with [`Server::call_tool`], and change what it offers while it runs with
/// [`Server::change`].
#[derive(Clone)]
pub struct Server {
    pub(crate) shared: Arc<Dispatcher>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let snapshot = self.shared.catalog.peek();
        f.debug_struct("Server")
            .field("name", &self.shared.info.name)
            .field("tools", &snapshot.tools.len())
            .field(
                "resources",
                &(snapshot.resources.len() + snapshot.templates.len()),
            )
            .field("prompts", &snapshot.prompts.len())
            .finish()
    }
}

impl Server {
    /// The authenticator given with [`McpServer::auth`], if any.
    pub(crate) fn authenticator(&self) -> Option<SharedAuth> {
        self.shared
            .states
            .get(&TypeId::of::<AuthState>())
            .and_then(|a| a.downcast_ref::<AuthState>())
            .map(|a| a.0.clone())
    }

    /// The server's name.
    pub fn name(&self) -> &str {
        &self.shared.info.name
    }

    /// The enabled tools, sorted by name.
    pub fn tools(&self) -> Vec<Tool> {
        self.shared
            .catalog
            .peek()
            .tools
            .iter()
            .map(|t| (**t).clone())
            .collect()
    }

    /// Changes what the server offers while it runs: enable, disable, add or remove tools,
    /// resources and prompts. The lists are rebuilt once for the whole edit, and clients that
    /// listen for list changes are told (`notifications/tools/list_changed`, …). Calls in
    /// flight are not affected. Items added here take no `State<T>` the server lacks: such an
    /// edit is refused whole, with the problems.
    ///
    /// ```
    /// # use mcp_runtime::{McpServer, catalog::Tool, content::CallToolResult};
    /// let server = McpServer::new("S").add_tool(Tool::new("a", |_, _| async { "a" })).build().unwrap();
    /// server.change(|c| {
    ///     c.set_tool_enabled("a", false);
    ///     c.add_tool(Tool::new("b", |_, _| async { "b" }));
    /// }).unwrap();
    /// assert_eq!(server.tools().iter().map(|t| t.name()).collect::<Vec<_>>(), ["b"]);
    /// ```
    pub fn change<R>(&self, edit: impl FnOnce(&mut CatalogEdit<'_>) -> R) -> Result<R, BuildError> {
        let server = self.shared.info.name.as_str();
        let states: StateMap = self
            .shared
            .states
            .iter()
            .map(|(k, v)| (*k, (v.clone(), "")))
            .collect();
        self.shared.catalog.change(|entries| {
            let mut draft = entries.clone();
            let mut e = CatalogEdit {
                entries: &mut draft,
                changes: Vec::new(),
            };
            let result = edit(&mut e);
            let changes = std::mem::take(&mut e.changes);
            let problems = check(&draft, server, &states);
            if !problems.is_empty() {
                return (Err(BuildError { problems }), Vec::new());
            }
            *entries = draft;
            (Ok(result), changes)
        })
    }

    /// Tells clients subscribed to `uri` that its contents changed
    /// (`notifications/resources/updated`).
    pub fn notify_resource_updated(&self, uri: &str) {
        self.shared.catalog.updated(uri);
    }

    /// Calls a tool in-process, without HTTP: the arguments are checked as they would be over
    /// the wire and the result is what a client of the newest handshake revision receives.
    /// `Context::headers` is empty in such calls.
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: Value,
    ) -> Result<CallToolResult, RpcError> {
        self.call_tool_in(None, name, arguments).await
    }

    /// [`Server::call_tool`] for an HTTP request of the app (a REST endpoint serving the tool):
    /// its headers are the call's, and its `Principal` (an auth layer's) the caller, whose
    /// scopes the tool's must be.
    pub(crate) async fn call_tool_with(
        &self,
        parts: http::request::Parts,
        name: &str,
        arguments: Value,
    ) -> Result<CallToolResult, RpcError> {
        self.call_tool_in(Some(Arc::new(parts)), name, arguments)
            .await
    }

    async fn call_tool_in(
        &self,
        http: Option<Arc<http::request::Parts>>,
        name: &str,
        arguments: Value,
    ) -> Result<CallToolResult, RpcError> {
        let params = json!({ "name": name, "arguments": arguments });
        let env = RequestEnv::new(
            http,
            Peer::new(ProtocolVersion::LATEST_HANDSHAKE, None, None),
            CancellationToken::new(),
            crate::core::Profile::IN_PROCESS,
        );
        let outcome = self
            .shared
            .request(&RequestId::Number(0), "tools/call", Some(params), env)
            .await;
        let raw = match outcome {
            crate::core::Outcome::Error(e) => return Err(e),
            done => done
                .result()
                .map(|r| r.get().to_owned())
                .ok_or_else(|| RpcError::new(code::INTERNAL_ERROR, "the call was cancelled"))?,
        };
        serde_json::from_str(&raw)
            .map_err(|e| RpcError::new(code::INTERNAL_ERROR, format!("bad result: {e}")))
    }
}

impl crate::call::context::Context {
    /// The server serving the call: a tool may change what it offers ([`Server::change`]) or
    /// announce resource updates ([`Server::notify_resource_updated`]).
    pub fn server(&self) -> Server {
        let dispatcher = self
            .host()
            .as_any()
            .downcast::<Dispatcher>()
            .expect("the core's dispatcher hosts every call");
        Server { shared: dispatcher }
    }
}

impl Server {
    /// The server's HTTP app, to mount in the app: `app.nest_mcp("/mcp/crm", mcp_app)`, or
    /// [`McpApp::into_router`](crate::http::McpApp::into_router) for a plain `axum::Router`.
    pub fn http_app(&self, transport: crate::transport::Transport) -> crate::transport::McpApp {
        self.http_app_with(transport, crate::transport::HttpOptions::default())
    }

    /// Like [`Server::http_app`], with options.
    pub fn http_app_with(
        &self,
        transport: crate::transport::Transport,
        options: crate::transport::HttpOptions,
    ) -> crate::transport::McpApp {
        crate::transport::router(
            self.shared.clone(),
            self.authenticator(),
            transport,
            options,
        )
    }
}

impl crate::transport::AiCatalog {
    /// Lists `server`, mounted at `mount` (the path given to `nest_mcp`).
    pub fn server(self, mount: &str, server: &Server) -> Self {
        self.push(mount, server.shared.clone())
    }
}

impl McpServer {
    /// Builds the server and returns its HTTP app, to mount with
    /// [`nest_mcp`](crate::McpRouterExt::nest_mcp) (see [`Server::http_app`]).
    ///
    /// # Panics
    ///
    /// When the server cannot be built (a tool name used twice, a missing `State<T>`, a domain
    /// without tools): like axum's route conflicts, these are programming errors reported at
    /// startup with every problem and its source location. Use [`McpServer::build`] to handle
    /// them as a `Result`.
    pub fn http_app(self, transport: crate::transport::Transport) -> crate::transport::McpApp {
        self.http_app_with(transport, crate::transport::HttpOptions::default())
    }

    /// Like [`McpServer::http_app`], with options.
    ///
    /// # Panics
    ///
    /// As [`McpServer::http_app`].
    pub fn http_app_with(
        self,
        transport: crate::transport::Transport,
        options: crate::transport::HttpOptions,
    ) -> crate::transport::McpApp {
        match self.build() {
            Ok(server) => server.http_app_with(transport, options),
            Err(e) => panic!("{e}"),
        }
    }
}

#[cfg(feature = "stdio")]
#[cfg_attr(docsrs, doc(cfg(feature = "stdio")))]
impl Server {
    /// Serves this server on standard input and output (the stdio transport), until the input
    /// ends: every tool, resource and prompt, in every era, with progress, logs, cancellation and
    /// questions to the client. Nothing but protocol messages is written to standard output:
    /// send logs (`tracing`) to standard error.
    pub async fn serve_stdio(&self) -> std::io::Result<()> {
        self.serve_stdio_with(crate::transport::StdioOptions::default())
            .await
    }

    /// Like [`Server::serve_stdio`], with options (the principal the process acts for, limits).
    pub async fn serve_stdio_with(
        &self,
        options: crate::transport::StdioOptions,
    ) -> std::io::Result<()> {
        let stdin = tokio::io::BufReader::new(tokio::io::stdin());
        crate::transport::stdio::serve(self.shared.clone(), stdin, tokio::io::stdout(), options)
            .await
    }

    /// Serves the stdio protocol on any reader and writer (a child process's pipes, a socket,
    /// an in-memory duplex in tests).
    pub async fn serve_io<R, W>(
        &self,
        reader: R,
        writer: W,
        options: crate::transport::StdioOptions,
    ) -> std::io::Result<()>
    where
        R: tokio::io::AsyncRead + Unpin,
        W: tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let reader = tokio::io::BufReader::new(reader);
        crate::transport::stdio::serve(self.shared.clone(), reader, writer, options).await
    }
}
