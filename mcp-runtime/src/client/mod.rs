//! An MCP client: connects to a server over Streamable HTTP (the handshake era with its
//! session, or 2026-07-28) or to a command over stdio, lists and calls everything a server
//! offers, and answers the server's questions (elicitation, sampling, roots) through handlers
//! the user gives. [`proxy`] serves another MCP server through one of these.
//!
//! ```no_run
//! use mcp_runtime::client::{Client, ClientOptions, Target};
//!
//! # async fn run() -> Result<(), mcp_runtime::client::ClientError> {
//! let client = Client::connect(Target::http("http://127.0.0.1:3000/mcp"), ClientOptions::default()).await?;
//! for tool in client.list_tools().await? {
//!     println!("{}", tool["name"]);
//! }
//! let result = client.call_tool("add", serde_json::json!({"a": 1, "b": 2})).await?;
//! # Ok(()) }
//! ```

mod http;
pub mod proxy;
mod sse;
mod stdio;

use crate::content::CallToolResult;
use crate::protocol::{ProtocolVersion, RpcError};
use futures_util::future::BoxFuture;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::oneshot;

/// The most questions of the server answered at once; past it a question is refused.
const MAX_QUESTIONS: usize = 16;

/// Where the server is.
#[derive(Clone)]
#[non_exhaustive]
pub enum Target {
    /// A Streamable HTTP endpoint, with headers sent on every request (credentials).
    Http {
        /// The endpoint's URL.
        url: String,
        /// Headers sent with every request.
        headers: Vec<(String, String)>,
    },
    /// A command that speaks MCP on its standard input and output.
    Stdio {
        /// The program.
        command: String,
        /// Its arguments.
        args: Vec<String>,
    },
}

/// Header values are credentials: only their names are shown.
impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Http { url, headers } => f
                .debug_struct("Http")
                .field("url", url)
                .field(
                    "headers",
                    &headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
                )
                .finish(),
            Self::Stdio { command, args } => f
                .debug_struct("Stdio")
                .field("command", command)
                .field("args", args)
                .finish(),
        }
    }
}

impl Target {
    /// A Streamable HTTP endpoint.
    pub fn http(url: impl Into<String>) -> Self {
        Self::Http {
            url: url.into(),
            headers: Vec::new(),
        }
    }

    /// A command spoken to over stdio.
    pub fn stdio<I, S>(command: impl Into<String>, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::Stdio {
            command: command.into(),
            args: args.into_iter().map(Into::into).collect(),
        }
    }

    /// Adds a header to every request (HTTP only).
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        if let Self::Http { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }
}

/// Which era the client speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Era {
    /// `initialize` first, then a session (2025-11-25, or what the server negotiates).
    #[default]
    Handshake,
    /// 2026-07-28: no handshake, every request carries its revision and capabilities.
    Stateless,
}

/// A question of the server (`elicitation/create`, `sampling/createMessage`, `roots/list`),
/// answered with the result or a JSON-RPC error.
pub type Asker =
    Arc<dyn Fn(String, Value) -> BoxFuture<'static, Result<Value, RpcError>> + Send + Sync>;

/// What the server tells outside answers (`notifications/…`): the method and its params.
pub type Listener = Arc<dyn Fn(&str, &Value) + Send + Sync>;

/// How a client connects and behaves.
#[derive(Clone)]
#[non_exhaustive]
pub struct ClientOptions {
    pub(crate) name: String,
    pub(crate) era: Era,
    pub(crate) capabilities: Map<String, Value>,
    pub(crate) asker: Option<Asker>,
    pub(crate) listener: Option<Listener>,
    pub(crate) timeout: Duration,
    pub(crate) max_message: usize,
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("name", &self.name)
            .field("era", &self.era)
            .field("capabilities", &self.capabilities)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            name: "mcp-runtime".into(),
            era: Era::Handshake,
            capabilities: Map::new(),
            asker: None,
            listener: None,
            timeout: Duration::from_secs(60),
            max_message: 16 * 1024 * 1024,
        }
    }
}

impl ClientOptions {
    /// The client's name (`clientInfo.name`).
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The era to speak (default: the handshake era).
    #[must_use]
    pub fn era(mut self, era: Era) -> Self {
        self.era = era;
        self
    }

    /// Answers the server's questions: `capabilities` are declared (`{"elicitation": {}}`,
    /// `{"sampling": {}}`, `{"roots": {}}`), `ask` gets each question's method and params.
    #[must_use]
    pub fn answer_with<F, Fut>(mut self, capabilities: Value, ask: F) -> Self
    where
        F: Fn(String, Value) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<Value, RpcError>> + Send + 'static,
    {
        if let Value::Object(c) = capabilities {
            self.capabilities = c;
        }
        self.asker = Some(Arc::new(move |m, p| Box::pin(ask(m, p))));
        self
    }

    /// Hears the server's notifications that belong to no request of this client (list
    /// changes, resource updates, logs outside a call).
    #[must_use]
    pub fn on_notification<F>(mut self, listen: F) -> Self
    where
        F: Fn(&str, &Value) + Send + Sync + 'static,
    {
        self.listener = Some(Arc::new(listen));
        self
    }

    /// The longest a request may wait for its answer (default 60 s); then it fails with
    /// [`ClientError::TimedOut`].
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// Why a request of the client failed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClientError {
    /// The server answered with a JSON-RPC error.
    Rpc(RpcError),
    /// The server could not be reached or answered with something that is not MCP.
    Transport(String),
    /// No answer within the client's timeout.
    TimedOut(Duration),
    /// The connection is closed.
    Closed,
    /// The request was cancelled.
    Cancelled,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rpc(e) => write!(
                f,
                "the server answered with error {}: {}",
                e.code, e.message
            ),
            Self::Transport(e) => f.write_str(e),
            Self::TimedOut(t) => write!(f, "no answer within {} ms", t.as_millis()),
            Self::Closed => f.write_str("the connection to the server is closed"),
            Self::Cancelled => f.write_str("the request was cancelled"),
        }
    }
}

impl std::error::Error for ClientError {}

/// What a request hears while it runs: the notifications sent for it and the questions asked
/// in it (on its stream, or in a 2026-07-28 round).
#[derive(Clone, Default)]
pub struct RequestScope {
    /// Notifications sent while the request runs (progress, logs).
    pub on_notification: Option<Listener>,
    /// Questions asked while it runs; the client's own handler when `None`.
    pub ask: Option<Asker>,
    /// The `progressToken` the request carries in its `_meta`, when it has one: over stdio,
    /// progress notifications are matched to their request by it.
    pub progress_token: Option<Value>,
    /// Headers sent with this request (HTTP only), besides the client's own.
    pub headers: Vec<(String, String)>,
    /// Cancels the request: the server is told (`notifications/cancelled`) and the request
    /// ends with [`ClientError::Cancelled`].
    pub cancel: Option<tokio_util::sync::CancellationToken>,
}

impl fmt::Debug for RequestScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestScope").finish_non_exhaustive()
    }
}

/// A connected client. Cheap to clone; the connection closes when the last clone is dropped.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.server_name())
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    options: ClientOptions,
    wire: Wire,
    next_id: AtomicI64,
    /// What `initialize` (or `server/discover`) told: the revision, the server's info and
    /// capabilities.
    server: Mutex<ServerFacts>,
    /// Requests waiting for their answer, by id (stdio; HTTP reads each answer on its POST).
    /// Requests in flight, by id: where the answer goes (stdio; over HTTP each answer is read
    /// on its POST), and what the request hears (a question on the session's GET stream goes
    /// to the one request in flight that can answer it).
    pending: Mutex<Pending>,
    /// List changes and resource updates the server announced, and new sessions.
    changes: tokio::sync::broadcast::Sender<proxy::Change>,
    /// Whether the last handshake was answered.
    connected: std::sync::atomic::AtomicBool,
    /// How many handshakes have been answered (a later one is a reconnection).
    generation: std::sync::atomic::AtomicU64,
    /// Held while a handshake runs: one at a time.
    handshaking: tokio::sync::Mutex<()>,
    /// The server's questions being answered at once (at most [`MAX_QUESTIONS`]).
    questions: Arc<tokio::sync::Semaphore>,
    /// The log level asked for, asked again on each new session.
    log_level: Mutex<Option<Value>>,
}

/// Requests in flight by id: where the answer goes (if it comes apart from its POST), and
/// what the request hears.
type Pending = HashMap<i64, (Option<oneshot::Sender<Value>>, RequestScope)>;

#[derive(Clone, Debug, Default)]
struct ServerFacts {
    version: Option<ProtocolVersion>,
    info: Value,
    capabilities: Value,
    instructions: Option<String>,
}

enum Wire {
    Http(http::HttpWire),
    Stdio(Box<stdio::StdioWire>),
}

impl Client {
    /// Connects: starts the command or reaches the URL, and in the handshake era sends
    /// `initialize` (in 2026-07-28, `server/discover`).
    pub async fn connect(target: Target, options: ClientOptions) -> Result<Self, ClientError> {
        let client = Self::new(target, options).await?;
        client.ensure_connected().await?;
        Ok(client)
    }

    /// A client that connects on its first request (and keeps trying on each request until
    /// the server answers): for a server that may not be up yet. A command is started at once.
    pub async fn new(target: Target, options: ClientOptions) -> Result<Self, ClientError> {
        let inner = Arc::new_cyclic(|weak| {
            let wire = match target {
                Target::Http { url, headers } => {
                    Wire::Http(http::HttpWire::new(url, headers, weak.clone()))
                }
                Target::Stdio { command, args } => {
                    Wire::Stdio(Box::new(stdio::StdioWire::new(command, args, weak.clone())))
                }
            };
            Inner {
                options,
                wire,
                next_id: AtomicI64::new(1),
                server: Mutex::new(ServerFacts::default()),
                pending: Mutex::new(HashMap::new()),
                changes: tokio::sync::broadcast::channel(64).0,
                connected: std::sync::atomic::AtomicBool::new(false),
                generation: std::sync::atomic::AtomicU64::new(0),
                handshaking: tokio::sync::Mutex::new(()),
                questions: Arc::new(tokio::sync::Semaphore::new(MAX_QUESTIONS)),
                log_level: Mutex::new(None),
            }
        });
        if let Wire::Stdio(w) = &inner.wire {
            w.start().await?;
        }
        Ok(Self { inner })
    }

    /// Whether the client has spoken with the server (a handshake answered).
    pub fn is_connected(&self) -> bool {
        self.inner.connected.load(Ordering::Relaxed)
    }

    /// Opens a session when none is open (or the last attempt failed); one handshake at a
    /// time.
    pub(crate) async fn ensure_connected(&self) -> Result<(), ClientError> {
        self.reconnect(None).await
    }

    /// Opens a new session after the one of generation `lost` was lost, unless another request
    /// already did; one handshake at a time.
    pub(crate) async fn renew(&self, lost: u64) -> Result<(), ClientError> {
        self.reconnect(Some(lost)).await
    }

    async fn reconnect(&self, lost: Option<u64>) -> Result<(), ClientError> {
        let _one_at_a_time = self.inner.handshaking.lock().await;
        let generation = self.inner.generation.load(Ordering::Acquire);
        let connected = self.is_connected();
        match lost {
            None if connected => return Ok(()),
            Some(lost) if lost != generation && connected => return Ok(()),
            _ => {}
        }
        let opened = self.handshake().await;
        self.inner
            .connected
            .store(opened.is_ok(), Ordering::Release);
        // A new session after a lost one: what the server offers may have changed.
        if opened.is_ok() && self.inner.generation.fetch_add(1, Ordering::AcqRel) > 0 {
            let _ = self.inner.changes.send(proxy::Change::Lists);
        }
        opened
    }

    /// The generation of the session: how many handshakes have been answered.
    pub(crate) fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// `initialize` and `notifications/initialized` (or `server/discover`): learns the
    /// server's revision, info and capabilities, asks for the log level asked before.
    async fn handshake(&self) -> Result<(), ClientError> {
        let (version, result) = match self.inner.options.era {
            Era::Handshake => {
                if let Wire::Http(w) = &self.inner.wire {
                    w.forget_session();
                }
                let params = json!({
                    "protocolVersion": ProtocolVersion::LATEST_HANDSHAKE.as_str(),
                    "capabilities": self.inner.options.capabilities,
                    "clientInfo": { "name": self.inner.options.name, "version": env!("CARGO_PKG_VERSION") },
                });
                let result = self
                    .raw_request("initialize", params, RequestScope::default())
                    .await?;
                let version = result
                    .get("protocolVersion")
                    .and_then(Value::as_str)
                    .and_then(ProtocolVersion::parse)
                    .ok_or_else(|| {
                        ClientError::Transport(format!(
                            "the server answered `initialize` with no revision this client speaks: {}",
                            crate::bounds::shown(&result.to_string())
                        ))
                    })?;
                self.inner
                    .server
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .version = Some(version);
                self.notify("notifications/initialized", json!({})).await?;
                (version, result)
            }
            Era::Stateless => {
                self.inner
                    .server
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .version = Some(ProtocolVersion::V2026_07_28);
                let result = self
                    .raw_request("server/discover", json!({}), RequestScope::default())
                    .await?;
                let mut result = result;
                let info = result
                    .pointer("/_meta/io.modelcontextprotocol~1serverInfo")
                    .cloned()
                    .unwrap_or_default();
                result["serverInfo"] = info;
                (ProtocolVersion::V2026_07_28, result)
            }
        };
        let facts = ServerFacts {
            version: Some(version),
            info: result.get("serverInfo").cloned().unwrap_or_default(),
            capabilities: result.get("capabilities").cloned().unwrap_or_default(),
            instructions: result
                .get("instructions")
                .and_then(Value::as_str)
                .map(str::to_owned),
        };
        *self
            .inner
            .server
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = facts;
        if let (Era::Handshake, Wire::Http(w)) = (self.inner.options.era, &self.inner.wire) {
            w.listen();
        }
        let level = self
            .inner
            .log_level
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(level) = level
            && self.server_capabilities().get("logging").is_some()
        {
            self.raw_request(
                "logging/setLevel",
                json!({ "level": level }),
                RequestScope::default(),
            )
            .await?;
        }
        Ok(())
    }

    /// The server's list changes and resource updates from now on (and a new session, after
    /// which the lists are worth reading again).
    pub(crate) fn changes(&self) -> tokio::sync::broadcast::Receiver<proxy::Change> {
        self.inner.changes.subscribe()
    }

    /// Asks the server for its log messages from `level` up (`logging/setLevel`), now and on
    /// every session opened again; nothing is asked of a server without the `logging`
    /// capability.
    pub async fn set_log_level(
        &self,
        level: crate::call::context::LogLevel,
    ) -> Result<(), ClientError> {
        let level = serde_json::to_value(level).expect("levels serialize");
        *self
            .inner
            .log_level
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(level.clone());
        if self.server_capabilities().get("logging").is_none() {
            return Ok(());
        }
        self.request("logging/setLevel", json!({ "level": level }))
            .await
            .map(|_| ())
    }

    /// The server's name (`serverInfo.name`).
    pub fn server_name(&self) -> String {
        let facts = self
            .inner
            .server
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        facts
            .info
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }

    /// The server's `serverInfo`.
    pub fn server_info(&self) -> Value {
        self.inner
            .server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .info
            .clone()
    }

    /// The server's capabilities.
    pub fn server_capabilities(&self) -> Value {
        self.inner
            .server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .capabilities
            .clone()
    }

    /// The server's instructions, if it gave any.
    pub fn instructions(&self) -> Option<String> {
        self.inner
            .server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .instructions
            .clone()
    }

    /// The revision the client and the server speak.
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.inner
            .server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .version
    }

    /// Sends a request and waits for its result.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, ClientError> {
        self.request_in(method, params, RequestScope::default())
            .await
    }

    /// [`Client::request`], with what the request hears while it runs going to `scope`.
    /// A session the server no longer knows is opened again once, and the request sent again.
    pub async fn request_in(
        &self,
        method: &str,
        params: Value,
        scope: RequestScope,
    ) -> Result<Value, ClientError> {
        self.ensure_connected().await?;
        let generation = self.generation();
        match self
            .raw_request(method, params.clone(), scope.clone())
            .await
        {
            Err(ClientError::Transport(e)) if e.contains(http::SESSION_GONE) => {
                self.renew(generation).await?;
                self.raw_request(method, params, scope).await
            }
            other => other,
        }
    }

    /// One request, and in 2026-07-28 its input-required rounds, answered by `scope.ask` (or
    /// the client's handler).
    async fn raw_request(
        &self,
        method: &str,
        mut params: Value,
        scope: RequestScope,
    ) -> Result<Value, ClientError> {
        let stateless = self.inner.options.era == Era::Stateless;
        for _round in 0..8 {
            let mut sent = params.clone();
            if stateless {
                let meta = sent
                    .as_object_mut()
                    .map(|p| p.entry("_meta").or_insert_with(|| json!({})));
                if let Some(Value::Object(meta)) = meta {
                    meta.insert(
                        "io.modelcontextprotocol/protocolVersion".into(),
                        json!("2026-07-28"),
                    );
                    meta.insert(
                        "io.modelcontextprotocol/clientCapabilities".into(),
                        Value::Object(self.inner.options.capabilities.clone()),
                    );
                    meta.insert(
                        "io.modelcontextprotocol/clientInfo".into(),
                        json!({ "name": self.inner.options.name, "version": env!("CARGO_PKG_VERSION") }),
                    );
                }
            }
            let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
            let message = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": sent });
            let timeout = self.inner.options.timeout;
            let exchange =
                tokio::time::timeout(timeout, self.exchange(id, method, &message, &scope));
            let cancel = scope.cancel.clone().unwrap_or_default();
            let answer = tokio::select! {
                answer = exchange => answer.map_err(|_| ClientError::TimedOut(timeout))??,
                () = cancel.cancelled() => {
                    let client = self.clone();
                    tokio::spawn(async move {
                        let _ = client
                            .notify("notifications/cancelled", json!({ "requestId": id, "reason": "cancelled by the caller" }))
                            .await;
                    });
                    return Err(ClientError::Cancelled);
                }
            };
            if let Some(e) = answer.get("error") {
                return Err(ClientError::Rpc(
                    serde_json::from_value(e.clone()).unwrap_or_else(|_| {
                        RpcError::new(crate::protocol::code::INTERNAL_ERROR, e.to_string())
                    }),
                ));
            }
            let result = answer.get("result").cloned().unwrap_or(Value::Null);
            if result.get("resultType").and_then(Value::as_str) != Some("input_required") {
                return Ok(result);
            }
            // A 2026-07-28 round: answer every question, call again with the answers.
            let mut responses = Map::new();
            if let Some(Value::Object(requests)) = result.get("inputRequests") {
                for (key, request) in requests {
                    let method = request
                        .get("method")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let answer = self
                        .ask(
                            &scope,
                            method.to_owned(),
                            request.get("params").cloned().unwrap_or_default(),
                        )
                        .await
                        .map_err(ClientError::Rpc)?;
                    responses.insert(key.clone(), answer);
                }
            }
            if let Some(p) = params.as_object_mut() {
                p.insert("inputResponses".into(), Value::Object(responses));
                match result.get("requestState") {
                    Some(s) => p.insert("requestState".into(), s.clone()),
                    None => p.remove("requestState"),
                };
            }
        }
        Err(ClientError::Transport(format!(
            "`{method}` asked for input more than 8 times; given up"
        )))
    }

    /// Sends one message and returns the answer to it.
    async fn exchange(
        &self,
        id: i64,
        method: &str,
        message: &Value,
        scope: &RequestScope,
    ) -> Result<Value, ClientError> {
        match &self.inner.wire {
            Wire::Http(w) => {
                let _pending = Waiting::register(&self.inner, id, None, scope);
                w.exchange(id, method, message, scope).await
            }
            Wire::Stdio(w) => {
                let (tx, rx) = oneshot::channel();
                let _pending = Waiting::register(&self.inner, id, Some(tx), scope);
                w.send(message).await?;
                rx.await.map_err(|_| ClientError::Closed)
            }
        }
    }

    /// Sends a notification.
    pub async fn notify(&self, method: &str, params: Value) -> Result<(), ClientError> {
        let message = json!({ "jsonrpc": "2.0", "method": method, "params": params });
        match &self.inner.wire {
            Wire::Http(w) => w.post_only(&message).await,
            Wire::Stdio(w) => w.send(&message).await,
        }
    }

    /// Every page of a list (`tools/list`, `resources/list`, `resources/templates/list`,
    /// `prompts/list`), its items in order.
    pub async fn list_all(&self, method: &str, field: &str) -> Result<Vec<Value>, ClientError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        let mut bytes = 0usize;
        for _page in 0..1000 {
            let params = match &cursor {
                Some(c) => json!({ "cursor": c }),
                None => json!({}),
            };
            let page = self.request(method, params).await?;
            if let Some(Value::Array(list)) = page.get(field) {
                bytes += list.iter().map(|i| i.to_string().len()).sum::<usize>();
                if bytes > self.inner.max_message() {
                    return Err(ClientError::Transport(format!(
                        "`{method}` passed {} bytes over its pages",
                        self.inner.max_message()
                    )));
                }
                items.extend(list.iter().cloned());
            }
            match page.get("nextCursor").and_then(Value::as_str) {
                Some(c) if !c.is_empty() => {
                    if !seen.insert(c.to_owned()) {
                        return Err(ClientError::Transport(format!(
                            "`{method}` gave the same cursor twice"
                        )));
                    }
                    cursor = Some(c.to_owned());
                }
                _ => return Ok(items),
            }
        }
        Err(ClientError::Transport(format!(
            "`{method}` has more than 1000 pages"
        )))
    }

    /// The server's tools (every page).
    pub async fn list_tools(&self) -> Result<Vec<Value>, ClientError> {
        self.list_all("tools/list", "tools").await
    }

    /// The server's resources (every page).
    pub async fn list_resources(&self) -> Result<Vec<Value>, ClientError> {
        self.list_all("resources/list", "resources").await
    }

    /// The server's resource templates (every page).
    pub async fn list_resource_templates(&self) -> Result<Vec<Value>, ClientError> {
        self.list_all("resources/templates/list", "resourceTemplates")
            .await
    }

    /// The server's prompts (every page).
    pub async fn list_prompts(&self) -> Result<Vec<Value>, ClientError> {
        self.list_all("prompts/list", "prompts").await
    }

    /// Calls a tool.
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: Value,
    ) -> Result<CallToolResult, ClientError> {
        let result = self
            .request(
                "tools/call",
                json!({ "name": name, "arguments": arguments }),
            )
            .await?;
        serde_json::from_value(result).map_err(|e| {
            ClientError::Transport(format!("the result of `{name}` is not a tool result: {e}"))
        })
    }

    /// Reads a resource: its `contents`.
    pub async fn read_resource(&self, uri: &str) -> Result<Value, ClientError> {
        self.request("resources/read", json!({ "uri": uri })).await
    }

    /// Gets a prompt with its arguments.
    pub async fn get_prompt(&self, name: &str, arguments: Value) -> Result<Value, ClientError> {
        self.request(
            "prompts/get",
            json!({ "name": name, "arguments": arguments }),
        )
        .await
    }

    /// Completes an argument of a prompt (`{"type": "ref/prompt", "name": …}`) or a template
    /// variable (`{"type": "ref/resource", "uri": …}`).
    pub async fn complete(
        &self,
        reference: Value,
        argument: &str,
        value: &str,
    ) -> Result<Value, ClientError> {
        self.request(
            "completion/complete",
            json!({ "ref": reference, "argument": { "name": argument, "value": value } }),
        )
        .await
    }

    /// Answers a question of the server with `scope`'s asker, else the client's, else refuses.
    async fn ask(
        &self,
        scope: &RequestScope,
        method: String,
        params: Value,
    ) -> Result<Value, RpcError> {
        match scope.ask.as_ref().or(self.inner.options.asker.as_ref()) {
            Some(ask) => ask(method, params).await,
            None => Err(RpcError::new(
                crate::protocol::code::METHOD_NOT_FOUND,
                format!("this client does not answer `{method}`"),
            )),
        }
    }
}

/// A request in [`Inner::pending`] while it waits; taken out however the wait ends (answered,
/// timed out, cancelled).
struct Waiting<'a> {
    inner: &'a Inner,
    id: i64,
}

impl<'a> Waiting<'a> {
    fn register(
        inner: &'a Inner,
        id: i64,
        tx: Option<oneshot::Sender<Value>>,
        scope: &RequestScope,
    ) -> Self {
        inner.lock_pending().insert(id, (tx, scope.clone()));
        Self { inner, id }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.inner.lock_pending().remove(&self.id);
    }
}

impl Inner {
    fn lock_pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn client(self: &Arc<Self>) -> Client {
        Client {
            inner: self.clone(),
        }
    }

    /// A message from the server outside an exchange that reads its own answer (stdio, the GET
    /// stream): an answer to a waiting request, a question, or a notification. `scope` is the
    /// request the message came for, when known.
    pub(crate) fn incoming(self: &Arc<Self>, message: Value, scope: Option<&RequestScope>) {
        let method = message
            .get("method")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let id = message.get("id").cloned();
        match (method, id) {
            (None, Some(id)) => {
                let waiting = id.as_i64().and_then(|id| {
                    let mut pending = self.lock_pending();
                    pending.get_mut(&id).and_then(|(tx, _)| tx.take())
                });
                if let Some(tx) = waiting {
                    let _ = tx.send(message);
                }
            }
            (Some(method), Some(id)) => {
                // A question: answered by the request it came in (or the only one waiting).
                let scope = scope.cloned().or_else(|| {
                    let pending = self.lock_pending();
                    let mut asking = pending.values().filter(|(_, s)| s.ask.is_some());
                    match (asking.next(), asking.next()) {
                        (Some((_, s)), None) => Some(s.clone()),
                        _ => None,
                    }
                });
                let params = message.get("params").cloned().unwrap_or_default();
                let client = self.client();
                let slot = self.questions.clone().try_acquire_owned();
                tokio::spawn(async move {
                    let answer = match slot {
                        Ok(_slot) => client.ask(&scope.unwrap_or_default(), method, params).await,
                        Err(_) => Err(RpcError::new(
                            crate::protocol::code::SERVER_ERROR,
                            format!(
                                "this client answers at most {MAX_QUESTIONS} questions at once"
                            ),
                        )),
                    };
                    let reply = match answer {
                        Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
                        Err(e) => json!({ "jsonrpc": "2.0", "id": id, "error": e }),
                    };
                    let sent = match &client.inner.wire {
                        Wire::Http(w) => w.post_only(&reply).await,
                        Wire::Stdio(w) => w.send(&reply).await,
                    };
                    if let Err(e) = sent {
                        tracing::warn!(error = %e, "could not send an answer to the server");
                    }
                });
            }
            (Some(method), None) => {
                let params = message.get("params").cloned().unwrap_or_default();
                match method.as_str() {
                    "notifications/tools/list_changed"
                    | "notifications/resources/list_changed"
                    | "notifications/prompts/list_changed" => {
                        let _ = self.changes.send(proxy::Change::Lists);
                    }
                    "notifications/resources/updated" => {
                        if let Some(uri) = params.get("uri").and_then(Value::as_str) {
                            let _ = self.changes.send(proxy::Change::Updated(uri.to_owned()));
                        }
                    }
                    _ => {}
                }
                // A notification for a request (its progress token names it) goes to it.
                let scoped = scope.cloned().or_else(|| {
                    let token = params.pointer("/progressToken")?.clone();
                    let pending = self.lock_pending();
                    pending
                        .values()
                        .find(|(_, s)| s.progress_token.as_ref() == Some(&token))
                        .map(|(_, s)| s.clone())
                });
                match scoped.and_then(|s| s.on_notification) {
                    Some(listen) => listen(&method, &params),
                    None => {
                        if let Some(listen) = &self.options.listener {
                            listen(&method, &params);
                        }
                    }
                }
            }
            (None, None) => {}
        }
    }

    pub(crate) fn max_message(&self) -> usize {
        self.options.max_message
    }

    pub(crate) fn version(&self) -> Option<ProtocolVersion> {
        self.server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .version
    }

    pub(crate) fn stateless(&self) -> bool {
        self.options.era == Era::Stateless
    }
}
