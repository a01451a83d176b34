//! [`McpServer`], the builder that selects tools, and [`Server`], the built server that answers
//! MCP requests: the lifecycle, `tools/list` from prebuilt pages, and `tools/call`.

use crate::content::{CallToolResult, Content};
use crate::context::{Context, ContextParts, Notifier};
use crate::protocol::{Message, ProtocolVersion, RequestId, RpcError, code};
use crate::tool::{Arguments, Tool, ToolOutput, registrations};
use futures_util::FutureExt as _;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Facts about the server sent in `initialize` (and `server/discover`).
#[derive(Clone, Debug)]
pub(crate) struct ServerInfo {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) title: Option<String>,
    pub(crate) instructions: Option<String>,
    pub(crate) website_url: Option<String>,
}

enum Selection {
    Domain(String),
    All,
    Function {
        type_id: TypeId,
        type_name: &'static str,
    },
    Manual(Box<Tool>),
}

type StateMap = HashMap<TypeId, (Arc<dyn Any + Send + Sync>, &'static str)>;

/// Builds an MCP server: its name, its tools and its shared state.
///
/// ```
/// use mcp_runtime::{McpServer, tool};
///
/// /// Multiply two numbers.
/// #[tool(domain = "arithmetic")]
/// fn multiply(a: i64, b: i64) -> i64 {
///     a * b
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let server = McpServer::new("Arithmetic").domain("arithmetic").build().unwrap();
/// let result = server.call_tool("multiply", serde_json::json!({"a": 2, "b": 3})).await.unwrap();
/// assert_eq!(result.structured_content, Some(serde_json::json!({"result": 6})));
/// # }
/// ```
pub struct McpServer {
    info: ServerInfo,
    selections: Vec<Selection>,
    states: StateMap,
    page_size: Option<usize>,
    list_ttl: Duration,
    auth: Option<crate::auth::SharedAuth>,
}

impl McpServer {
    /// A server with this name (`serverInfo.name`) and no tools yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            info: ServerInfo {
                name: name.into(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                title: None,
                instructions: None,
                website_url: None,
            },
            selections: Vec::new(),
            states: HashMap::new(),
            page_size: None,
            list_ttl: Duration::from_secs(300),
            auth: None,
        }
    }

    /// Authenticates every request to this server with `auth` ([`crate::auth::ApiKeyAuth`],
    /// [`crate::auth::JwtVerifier`], or an [`crate::auth::Authenticator`] of the app), before any
    /// session is created or tool runs. Tools with `scopes` are then refused (403) to callers
    /// that lack them, and `tools/list` shows each caller only the tools it may call.
    pub fn auth(mut self, auth: impl crate::auth::Authenticator) -> Self {
        self.auth = Some(Arc::new(auth));
        self
    }

    /// Sets `serverInfo.version` (default: this crate's version).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.info.version = version.into();
        self
    }

    /// Sets `serverInfo.title`, the name shown to people.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.info.title = Some(title.into());
        self
    }

    /// Sets the instructions clients may give their model.
    pub fn instructions(mut self, instructions: impl Into<String>) -> Self {
        self.info.instructions = Some(instructions.into());
        self
    }

    /// Sets `serverInfo.websiteUrl`.
    pub fn website_url(mut self, url: impl Into<String>) -> Self {
        self.info.website_url = Some(url.into());
        self
    }

    /// Adds every `#[tool]` that names this domain (`#[tool(domain = "crm")]`).
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.selections.push(Selection::Domain(domain.into()));
        self
    }

    /// Adds every `#[tool]` registered in the binary, whatever its domain.
    pub fn all_tools(mut self) -> Self {
        self.selections.push(Selection::All);
        self
    }

    /// Adds one `#[tool]` function by naming it: `McpServer::new("CRM").tool(list_projects)`.
    /// A function without `#[tool]` is reported when the server is built.
    pub fn tool<F: 'static>(mut self, function: F) -> Self {
        let _ = function;
        self.selections.push(Selection::Function {
            type_id: TypeId::of::<F>(),
            type_name: std::any::type_name::<F>(),
        });
        self
    }

    /// Adds a tool built by hand with [`Tool::new`].
    pub fn add_tool(mut self, tool: Tool) -> Self {
        self.selections.push(Selection::Manual(Box::new(tool)));
        self
    }

    /// Shares a value with the tools: a tool takes it as `State<T>` (or `ctx.state::<T>()`).
    /// One value per type; a later call with the same type replaces the earlier one.
    pub fn state<T: Send + Sync + 'static>(self, value: T) -> Self {
        self.state_arc(Arc::new(value))
    }

    /// Like [`McpServer::state`], for a value already in an `Arc`.
    pub fn state_arc<T: Send + Sync + 'static>(mut self, value: Arc<T>) -> Self {
        self.states.insert(
            TypeId::of::<T>(),
            (
                value as Arc<dyn Any + Send + Sync>,
                std::any::type_name::<T>(),
            ),
        );
        self
    }

    /// Splits `tools/list` into pages of this many tools (default: one page with every tool).
    pub fn page_size(mut self, tools_per_page: usize) -> Self {
        self.page_size = Some(tools_per_page.max(1));
        self
    }

    /// How long 2026-07-28 clients may cache `tools/list` and `server/discover` (`ttlMs`;
    /// default 5 minutes). The tool set of a built server never changes.
    pub fn list_ttl(mut self, ttl: Duration) -> Self {
        self.list_ttl = ttl;
        self
    }

    /// Builds the server: resolves the selected tools, checks them, and prebuilds the
    /// `tools/list` pages. Every problem is reported at once.
    pub fn build(self) -> Result<Server, BuildError> {
        let mut problems = Vec::new();
        let mut tools: Vec<Tool> = Vec::new();
        let mut seen_regs = std::collections::HashSet::new();
        // One schema generator for every tool: each input schema takes its definitions out.
        let mut schemas = crate::tool::generator();
        let mut push_reg = |reg: &'static crate::tool::ToolRegistration, tools: &mut Vec<Tool>| {
            if seen_regs.insert(reg as *const crate::tool::ToolRegistration) {
                tools.push(Tool::from_registration(reg, &mut schemas));
            }
        };
        for selection in self.selections {
            match selection {
                Selection::Domain(domain) => {
                    let mut found = false;
                    for reg in registrations().filter(|r| r.domains.contains(&domain.as_str())) {
                        found = true;
                        push_reg(reg, &mut tools);
                    }
                    if !found {
                        let mut known: Vec<_> = registrations()
                            .flat_map(|r| r.domains.iter().copied())
                            .collect();
                        known.sort_unstable();
                        known.dedup();
                        problems.push(format!(
                            "server `{}` selects domain `{domain}`, but no `#[tool]` declares \
                             `domain = \"{domain}\"` (domains in this binary: {})",
                            self.info.name,
                            if known.is_empty() {
                                "none".to_owned()
                            } else {
                                known.join(", ")
                            }
                        ));
                    }
                }
                Selection::All => {
                    for reg in registrations() {
                        push_reg(reg, &mut tools);
                    }
                }
                Selection::Function { type_id, type_name } => {
                    match registrations().find(|r| (r.type_id)() == type_id) {
                        Some(reg) => push_reg(reg, &mut tools),
                        None => problems.push(format!(
                            "`{type_name}` was passed to `McpServer::tool` in server `{}`, but it \
                             is not a `#[tool]` function; annotate it with `#[tool]` or build a \
                             `Tool` with `Tool::new` and pass it to `add_tool`",
                            self.info.name
                        )),
                    }
                }
                Selection::Manual(tool) => {
                    if let Some(p) = crate::tool_name_problem(&tool.name) {
                        problems.push(format!("invalid tool name `{}`: {p}", tool.name));
                    }
                    if tool.get_input_schema().get("type") != Some(&Value::String("object".into()))
                    {
                        problems.push(format!(
                            "the input schema of tool `{}` must have `\"type\": \"object\"` at its root",
                            tool.name
                        ));
                    }
                    tools.push(*tool);
                }
            }
        }

        tools.sort_by(|a, b| a.name.cmp(&b.name));
        let mut by_name = HashMap::with_capacity(tools.len());
        for (i, tool) in tools.iter().enumerate() {
            if let Some(&first) = by_name.get(tool.name.as_str()) {
                let first: &Tool = &tools[first];
                problems.push(format!(
                    "tool name `{}` is used twice in server `{}`: by {} and by {}; rename one \
                     with `#[tool(name = \"…\")]`",
                    tool.name, self.info.name, first.origin, tool.origin
                ));
                continue;
            }
            by_name.insert(tool.name.clone(), i);
            if let Some(e) = &tool.meta_error {
                problems.push(format!(
                    "the `meta` of tool `{}` is not a JSON object: {e}",
                    tool.name
                ));
            }
            for req in &tool.state {
                if !self.states.contains_key(&(req.type_id)()) {
                    problems.push(format!(
                        "tool `{}` ({}) takes `State<{}>`, but server `{}` has no state of \
                         that type; add it with `.state(value)`",
                        tool.name,
                        tool.origin,
                        (req.type_name)(),
                        self.info.name
                    ));
                }
            }
        }
        if !problems.is_empty() {
            return Err(BuildError { problems });
        }
        let ttl_ms: u64 = self.list_ttl.as_millis().try_into().unwrap_or(u64::MAX);
        let scoped = tools.iter().any(|t| !t.scopes.is_empty());
        if scoped && self.auth.is_none() {
            tracing::warn!(
                server = %self.info.name,
                "tools of this server require scopes, but it has no `auth`: scopes are not enforced"
            );
        }
        // The list varies by caller when tools require scopes that callers may lack.
        let private = scoped && self.auth.is_some();
        let lists = ProtocolVersion::ALL
            .iter()
            .map(|_| OnceLock::new())
            .collect();
        Ok(Server {
            shared: Arc::new(Shared {
                info: self.info,
                by_name: by_name.into_iter().map(|(k, v)| (k, v as u32)).collect(),
                tools,
                states: self.states.into_iter().map(|(k, (v, _))| (k, v)).collect(),
                lists,
                list_ttl_ms: ttl_ms,
                page_size: self.page_size,
                private_lists: private,
                auth: self.auth,
            }),
        })
    }
}

fn build_pages(
    tools: &[Tool],
    version: ProtocolVersion,
    page_size: Option<usize>,
    ttl_ms: u64,
    private: bool,
) -> Vec<Box<RawValue>> {
    let size = page_size.unwrap_or(tools.len()).max(1);
    let chunks: Vec<&[Tool]> = if tools.is_empty() {
        vec![&[]]
    } else {
        tools.chunks(size).collect()
    };
    let last = chunks.len() - 1;
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            // Written straight from the tools, without building a `Value` tree per page.
            let mut out = Vec::with_capacity(64 + chunk.len() * 512);
            out.extend_from_slice(br#"{"tools":["#);
            for (j, tool) in chunk.iter().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut out, &tool.listing(version)).expect("lists serialize");
            }
            out.push(b']');
            if i < last {
                out.extend_from_slice(format!(r#","nextCursor":"p{}""#, i + 1).as_bytes());
            }
            if version.is_stateless() {
                let scope = if private { "private" } else { "public" };
                out.extend_from_slice(
                    format!(r#","resultType":"complete","ttlMs":{ttl_ms},"cacheScope":"{scope}""#)
                        .as_bytes(),
                );
            }
            out.push(b'}');
            let text = String::from_utf8(out).expect("JSON is UTF-8");
            RawValue::from_string(text).expect("lists serialize")
        })
        .collect()
}

/// The problems found when building a server, all at once.
#[derive(Debug, Clone)]
pub struct BuildError {
    problems: Vec<String>,
}

impl BuildError {
    /// Each problem, as a sentence.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let [one] = &self.problems[..] {
            return f.write_str(one);
        }
        writeln!(
            f,
            "{} problems building the MCP server:",
            self.problems.len()
        )?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for BuildError {}

/// What a server shares with every request.
pub(crate) struct Shared {
    pub(crate) info: ServerInfo,
    tools: Vec<Tool>,
    by_name: HashMap<String, u32>,
    states: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    /// Prebuilt `tools/list` results, `lists[version index][page]`: each revision's pages are
    /// written once, when a client of that revision first lists the tools.
    lists: Vec<OnceLock<Vec<Box<RawValue>>>>,
    /// `ttlMs` of lists and `server/discover` (2026-07-28).
    list_ttl_ms: u64,
    page_size: Option<usize>,
    /// `tools/list` varies by caller (scoped tools behind auth).
    private_lists: bool,
    pub(crate) auth: Option<crate::auth::SharedAuth>,
}

impl Shared {
    pub(crate) fn state<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.states
            .get(&TypeId::of::<T>())
            .cloned()
            .and_then(|s| s.downcast::<T>().ok())
    }
}

/// How a request reached the server, and what its transport can do.
pub(crate) struct RequestEnv {
    pub(crate) http: Option<Arc<http::request::Parts>>,
    pub(crate) version: ProtocolVersion,
    pub(crate) cancel: CancellationToken,
    pub(crate) notifier: Option<Notifier>,
    /// Whether the transport can carry log notifications (the `logging` capability).
    pub(crate) logging: bool,
    /// The session of the request, in the handshake era over a sessionful transport.
    pub(crate) session: Option<Arc<crate::session::Session>>,
    /// The longest a tool may run when it sets no timeout of its own.
    pub(crate) tool_timeout: Option<Duration>,
    /// The client's declared capabilities, when known.
    pub(crate) client_capabilities: Option<Value>,
}

impl RequestEnv {
    pub(crate) fn in_process() -> Self {
        Self {
            http: None,
            version: ProtocolVersion::LATEST_HANDSHAKE,
            cancel: CancellationToken::new(),
            notifier: None,
            logging: false,
            session: None,
            tool_timeout: None,
            client_capabilities: None,
        }
    }
}

/// A built MCP server. Cheap to clone; mount it with [`Server::http_app`] or call its tools
/// in-process with [`Server::call_tool`].
#[derive(Clone)]
pub struct Server {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("name", &self.shared.info.name)
            .field("tools", &self.shared.tools.len())
            .finish()
    }
}

impl Server {
    /// The server's name.
    pub fn name(&self) -> &str {
        &self.shared.info.name
    }

    /// The tools, sorted by name.
    pub fn tools(&self) -> &[Tool] {
        &self.shared.tools
    }

    /// Calls a tool in-process, without HTTP: the arguments are checked as they would be over
    /// the wire and the result is what a client of the newest handshake revision receives.
    /// `Context::headers` is empty in such calls.
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: Value,
    ) -> Result<CallToolResult, RpcError> {
        let params = json!({ "name": name, "arguments": arguments });
        let raw = self
            .shared
            .request(
                &RequestId::Number(0),
                "tools/call",
                Some(params),
                RequestEnv::in_process(),
            )
            .await
            .unwrap_or_else(|| {
                Err(RpcError::new(
                    code::INTERNAL_ERROR,
                    "the call was cancelled",
                ))
            })?;
        serde_json::from_str(raw.get())
            .map_err(|e| RpcError::new(code::INTERNAL_ERROR, format!("bad result: {e}")))
    }

    /// An in-memory client that speaks JSON-RPC to this server, for tests of a whole exchange.
    pub fn client(&self) -> Client {
        Client {
            server: self.clone(),
            next_id: std::sync::atomic::AtomicI64::new(1),
        }
    }
}

/// An in-memory JSON-RPC client of a [`Server`]: messages go through the same parsing and
/// dispatch as over HTTP, with no socket.
pub struct Client {
    server: Server,
    next_id: std::sync::atomic::AtomicI64,
}

impl Client {
    /// Sends one JSON-RPC message (as text) and returns the response text, if any.
    pub async fn send_raw(&self, message: &str) -> Option<String> {
        let reply = self
            .server
            .shared
            .handle_bytes(message.as_bytes(), RequestEnv::in_process())
            .await?;
        Some(String::from_utf8(reply.body).expect("responses are UTF-8"))
    }

    /// Sends a request and returns its result or error.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let msg = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let text = self
            .send_raw(&msg.to_string())
            .await
            .ok_or_else(|| RpcError::new(code::INTERNAL_ERROR, "no response"))?;
        let mut v: Value = serde_json::from_str(&text).expect("responses are JSON");
        if let Some(e) = v.get_mut("error") {
            return Err(serde_json::from_value(e.take()).expect("error objects parse"));
        }
        Ok(v["result"].take())
    }

    /// `tools/list`, following every page.
    pub async fn list_tools(&self) -> Result<Vec<Value>, RpcError> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let params = match &cursor {
                Some(c) => json!({ "cursor": c }),
                None => json!({}),
            };
            let mut page = self.request("tools/list", params).await?;
            if let Value::Array(tools) = page["tools"].take() {
                out.extend(tools);
            }
            match page.get("nextCursor").and_then(Value::as_str) {
                Some(c) => cursor = Some(c.to_owned()),
                None => return Ok(out),
            }
        }
    }

    /// `tools/call`.
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: Value,
    ) -> Result<CallToolResult, RpcError> {
        let v = self
            .request(
                "tools/call",
                json!({ "name": name, "arguments": arguments }),
            )
            .await?;
        serde_json::from_value(v)
            .map_err(|e| RpcError::new(code::INTERNAL_ERROR, format!("bad result: {e}")))
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-text payload".to_owned()
    }
}

/// The answer to one HTTP body.
pub(crate) struct Reply {
    /// The JSON text: a response, an error, or a batch of them.
    pub(crate) body: Vec<u8>,
    /// The HTTP status it goes with.
    pub(crate) status: http::StatusCode,
}

impl Reply {
    /// The body could not be taken as a message at all (-32700 or -32600): HTTP 400.
    fn rejected(id: Option<&RequestId>, error: &RpcError) -> Self {
        Self {
            body: crate::protocol::error_bytes(id, error),
            status: http::StatusCode::BAD_REQUEST,
        }
    }
}

/// The HTTP status of a single request's error response: 403 for a missing scope, 400 for a
/// missing client capability, 200 (a JSON-RPC error in a successful exchange) otherwise.
pub(crate) fn error_status(error: &RpcError) -> http::StatusCode {
    match error.code {
        code::INSUFFICIENT_SCOPE => http::StatusCode::FORBIDDEN,
        code::MISSING_CAPABILITY => http::StatusCode::BAD_REQUEST,
        _ => http::StatusCode::OK,
    }
}

impl Shared {
    /// Parses and answers one HTTP body: a message or a batch. `None` when nothing is answered
    /// (notifications, responses).
    pub(crate) async fn handle_bytes(
        self: &Arc<Self>,
        body: &[u8],
        env: RequestEnv,
    ) -> Option<Reply> {
        let first = body.iter().find(|b| !b.is_ascii_whitespace());
        if first == Some(&b'[') {
            return self.handle_batch(body, env).await;
        }
        match Message::parse(body) {
            Ok(msg) => self.handle_message(msg, env).await,
            Err(r) => Some(Reply::rejected(r.id.as_ref(), &r.error)),
        }
    }

    async fn handle_batch(self: &Arc<Self>, body: &[u8], env: RequestEnv) -> Option<Reply> {
        let items: Vec<Value> = match serde_json::from_slice(body) {
            Ok(items) => items,
            Err(e) => {
                let err = RpcError::new(
                    code::PARSE_ERROR,
                    format!("the body is not valid JSON: {e}"),
                );
                return Some(Reply::rejected(None, &err));
            }
        };
        if items.is_empty() {
            let err = RpcError::invalid_request("an empty batch is not a valid request");
            return Some(Reply::rejected(None, &err));
        }
        let futures = items.into_iter().map(|item| {
            let env = RequestEnv {
                http: env.http.clone(),
                version: env.version,
                cancel: env.cancel.child_token(),
                notifier: env.notifier.clone(),
                logging: env.logging,
                session: env.session.clone(),
                tool_timeout: env.tool_timeout,
                client_capabilities: env.client_capabilities.clone(),
            };
            async move {
                match Message::parse_value(item) {
                    Ok(msg) => self.handle_message(msg, env).await.map(|r| r.body),
                    Err(r) => Some(crate::protocol::error_bytes(r.id.as_ref(), &r.error)),
                }
            }
        });
        let answers: Vec<Vec<u8>> = futures_util::future::join_all(futures)
            .await
            .into_iter()
            .flatten()
            .collect();
        if answers.is_empty() {
            return None;
        }
        let mut out = vec![b'['];
        for (i, a) in answers.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(a);
        }
        out.push(b']');
        Some(Reply {
            body: out,
            status: http::StatusCode::OK,
        })
    }

    pub(crate) async fn handle_message(
        self: &Arc<Self>,
        msg: Message,
        env: RequestEnv,
    ) -> Option<Reply> {
        match msg {
            Message::Request { id, method, params } => {
                let answer = self.request(&id, &method, params, env).await?;
                Some(match answer {
                    Ok(raw) => Reply {
                        body: crate::protocol::response_bytes(&id, &raw),
                        status: http::StatusCode::OK,
                    },
                    Err(e) => Reply {
                        body: crate::protocol::error_bytes(Some(&id), &e),
                        status: error_status(&e),
                    },
                })
            }
            Message::Notification { .. } | Message::Response { .. } => None,
        }
    }

    /// Answers one request. `None` when the request was cancelled (no response is sent).
    pub(crate) async fn request(
        self: &Arc<Self>,
        id: &RequestId,
        method: &str,
        params: Option<Value>,
        env: RequestEnv,
    ) -> Option<Result<Box<RawValue>, RpcError>> {
        let raw = |v: Value| serde_json::value::to_raw_value(&v).expect("results serialize");
        if env.version.is_stateless() {
            return Some(match method {
                "server/discover" => Ok(raw(self.discover())),
                "tools/list" => self.list_tools(params.as_ref(), &env),
                "tools/call" => return self.call(id, params, env).await,
                _ => Err(RpcError::method_not_found(method)),
            });
        }
        Some(match method {
            "initialize" => self.initialize(params.as_ref(), &env).map(raw),
            "ping" => Ok(raw(json!({}))),
            "tools/list" => self.list_tools(params.as_ref(), &env),
            "tools/call" => return self.call(id, params, env).await,
            "logging/setLevel" if env.logging => {
                set_level(params.as_ref(), env.session.as_deref()).map(raw)
            }
            _ => Err(RpcError::method_not_found(method)),
        })
    }

    /// The result of `server/discover` (2026-07-28).
    pub(crate) fn discover(&self) -> Value {
        let info = &self.info;
        let mut server_info = json!({ "name": info.name, "version": info.version });
        if let Some(t) = &info.title {
            server_info["title"] = json!(t);
        }
        if let Some(w) = &info.website_url {
            server_info["websiteUrl"] = json!(w);
        }
        let mut result = json!({
            "resultType": "complete",
            "supportedVersions": ProtocolVersion::ALL.iter().rev().map(|v| v.as_str()).collect::<Vec<_>>(),
            "capabilities": { "tools": {} },
            "_meta": { "io.modelcontextprotocol/serverInfo": server_info },
            "ttlMs": self.list_ttl_ms,
            "cacheScope": "public",
        });
        if let Some(i) = &info.instructions {
            result["instructions"] = json!(i);
        }
        result
    }

    fn initialize(&self, params: Option<&Value>, env: &RequestEnv) -> Result<Value, RpcError> {
        let requested = params
            .and_then(|p| p.get("protocolVersion"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                RpcError::invalid_params("`initialize` needs `params.protocolVersion` (a string)")
            })?;
        let version = negotiate(requested);
        let info = &self.info;
        let mut server_info = json!({ "name": info.name, "version": info.version });
        if version.has_structured_output()
            && let Some(t) = &info.title
        {
            server_info["title"] = json!(t);
        }
        if version.has_icons()
            && let Some(w) = &info.website_url
        {
            server_info["websiteUrl"] = json!(w);
        }
        let mut capabilities = json!({ "tools": { "listChanged": false } });
        if env.logging {
            capabilities["logging"] = json!({});
        }
        let mut result = json!({
            "protocolVersion": version.as_str(),
            "capabilities": capabilities,
            "serverInfo": server_info,
        });
        if let Some(i) = &info.instructions {
            result["instructions"] = json!(i);
        }
        Ok(result)
    }

    fn list_tools(
        &self,
        params: Option<&Value>,
        env: &RequestEnv,
    ) -> Result<Box<RawValue>, RpcError> {
        let version = env.version;
        let cursor = match params.and_then(|p| p.get("cursor")) {
            None | Some(Value::Null) => None,
            Some(Value::String(c)) => Some(c.as_str()),
            Some(_) => return Err(RpcError::invalid_params("`cursor` must be a string")),
        };
        let page_index = |pages: usize| -> Result<usize, RpcError> {
            match cursor {
                None => Ok(0),
                Some(c) => c
                    .strip_prefix('p')
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|n| *n < pages)
                    .ok_or_else(|| RpcError::invalid_params(format!("invalid cursor `{c}`"))),
            }
        };
        // A caller lacking some tool's scopes sees only the tools it may call.
        if self.private_lists {
            let held = principal_scopes(env);
            if self
                .tools
                .iter()
                .any(|t| !crate::auth::covers(held, &t.scopes))
            {
                let visible: Vec<Tool> = self
                    .tools
                    .iter()
                    .filter(|t| crate::auth::covers(held, &t.scopes))
                    .cloned()
                    .collect();
                let ttl = self.list_ttl_ms;
                let mut pages = build_pages(&visible, version, self.page_size, ttl, true);
                let i = page_index(pages.len())?;
                return Ok(pages.swap_remove(i));
            }
        }
        let index = ProtocolVersion::ALL
            .iter()
            .position(|v| *v == version)
            .expect("every version has lists");
        let pages = self.lists[index].get_or_init(|| {
            build_pages(
                &self.tools,
                version,
                self.page_size,
                self.list_ttl_ms,
                self.private_lists,
            )
        });
        Ok(pages[page_index(pages.len())?].clone())
    }

    async fn call(
        self: &Arc<Self>,
        id: &RequestId,
        params: Option<Value>,
        env: RequestEnv,
    ) -> Option<Result<Box<RawValue>, RpcError>> {
        let mut params = match params {
            Some(Value::Object(p)) => p,
            _ => {
                return Some(Err(RpcError::invalid_params(
                    "`tools/call` needs `params` with the tool's `name`",
                )));
            }
        };
        let name = match params.remove("name") {
            Some(Value::String(n)) => n,
            _ => {
                return Some(Err(RpcError::invalid_params(
                    "`tools/call` needs `params.name`, the tool's name (a string)",
                )));
            }
        };
        let Some(&index) = self.by_name.get(&name) else {
            return Some(Err(RpcError::invalid_params(format!(
                "unknown tool `{name}`"
            ))
            .with_data(json!({ "name": name }))));
        };
        let tool = &self.tools[index as usize];
        if self.auth.is_some() && !crate::auth::covers(principal_scopes(&env), &tool.scopes) {
            return Some(Err(crate::auth::insufficient_scope_error(
                &name,
                &tool.scopes,
            )));
        }
        let args: Arguments = match params.remove("arguments") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(a)) => a,
            Some(_) => {
                return Some(Err(RpcError::invalid_params(format!(
                    "the arguments of tool `{name}` must be an object"
                ))));
            }
        };
        let meta = match params.remove("_meta") {
            Some(Value::Object(m)) => Some(m),
            _ => None,
        };
        let version = env.version;
        let cancel = env.cancel.clone();
        let ctx = Context::new(ContextParts {
            shared: self.clone(),
            http: env.http,
            request_id: Some(id.clone()),
            meta,
            version,
            cancel: env.cancel,
            notifier: env.notifier,
            client_capabilities: env.client_capabilities,
        });
        let probe = ctx.clone();
        let run = AssertUnwindSafe(tool.call(ctx, args)).catch_unwind();
        let timeout = tool.timeout.or(env.tool_timeout);
        let timed = async {
            match timeout {
                Some(t) => tokio::time::timeout(t, run).await.ok(),
                None => Some(run.await),
            }
        };
        // The tool is polled first, so one that watches `ctx.cancelled()` sees the cancellation
        // and can clean up; its result is then dropped: no response is sent for a cancelled
        // request.
        let outcome = tokio::select! {
            biased;
            outcome = timed => outcome,
            () = cancel.cancelled() => return None,
        };
        if cancel.is_cancelled() {
            return None;
        }
        if let Some(e) = probe.take_protocol_error() {
            return Some(Err(e));
        }
        let output = match outcome {
            None => {
                cancel.cancel();
                let t = timeout.unwrap_or_default();
                ToolOutput::Result(CallToolResult::error(format!(
                    "tool `{name}` timed out after {} ms",
                    t.as_millis()
                )))
            }
            Some(Ok(output)) => output,
            Some(Err(payload)) => {
                let msg = panic_message(&*payload);
                tracing::error!(tool = %name, panic = %msg, "tool panicked");
                ToolOutput::Result(CallToolResult::error(format!(
                    "tool `{name}` failed: it panicked ({msg})"
                )))
            }
        };
        let result = match output {
            ToolOutput::Result(r) => shape_result(r, version),
            ToolOutput::Structured(value) => structured_result(tool, value, version),
            ToolOutput::InvalidArguments(msg) => {
                let msg = format!("invalid arguments for tool `{name}`: {msg}");
                if version.validation_is_tool_error() {
                    CallToolResult::error(msg)
                } else {
                    return Some(Err(RpcError::invalid_params(msg)));
                }
            }
        };
        if version.is_stateless() {
            // `"resultType":"complete"` goes first in the object: the result is written after
            // it and its opening brace becomes the separating comma (a result always has
            // `content`, so its object is never empty).
            let mut out = br#"{"resultType":"complete""#.to_vec();
            let start = out.len();
            serde_json::to_writer(&mut out, &result).expect("results serialize");
            debug_assert_eq!(out[start], b'{');
            out[start] = b',';
            let text = String::from_utf8(out).expect("JSON is UTF-8");
            return Some(Ok(RawValue::from_string(text).expect("results serialize")));
        }
        Some(Ok(
            serde_json::value::to_raw_value(&result).expect("results serialize")
        ))
    }
}

impl Shared {
    /// The refusal of a `tools/call` whose caller lacks the tool's scopes, if so.
    pub(crate) fn scope_refusal(
        &self,
        parts: &http::request::Parts,
        params: Option<&Value>,
    ) -> Option<RpcError> {
        let name = params?.get("name")?.as_str()?;
        let tool = &self.tools[*self.by_name.get(name)? as usize];
        let held = parts
            .extensions
            .get::<crate::Principal>()
            .map_or(&[][..], |p| &p.scopes);
        (!crate::auth::covers(held, &tool.scopes))
            .then(|| crate::auth::insufficient_scope_error(name, &tool.scopes))
    }
}

/// The scopes of the request's authenticated caller (none without one).
fn principal_scopes(env: &RequestEnv) -> &[String] {
    env.http
        .as_ref()
        .and_then(|p| p.extensions.get::<crate::Principal>())
        .map_or(&[], |p| &p.scopes)
}

/// `logging/setLevel`: records the level on the session (without one, nothing is logged).
fn set_level(
    params: Option<&Value>,
    session: Option<&crate::session::Session>,
) -> Result<Value, RpcError> {
    let level = params
        .and_then(|p| p.get("level"))
        .cloned()
        .and_then(|l| serde_json::from_value::<crate::LogLevel>(l).ok())
        .ok_or_else(|| {
            RpcError::invalid_params(
                "`logging/setLevel` needs `params.level`, one of: debug, info, notice, warning, \
                 error, critical, alert, emergency",
            )
        })?;
    if let Some(s) = session {
        s.set_log_level(level);
    }
    Ok(json!({}))
}

/// The revision to answer `initialize` with: the client's, if spoken here, else the newest.
fn negotiate(requested: &str) -> ProtocolVersion {
    ProtocolVersion::parse(requested)
        .filter(|v| ProtocolVersion::HANDSHAKE.contains(v))
        .unwrap_or(ProtocolVersion::LATEST_HANDSHAKE)
}

fn shape_result(mut r: CallToolResult, version: ProtocolVersion) -> CallToolResult {
    if !version.has_structured_output() {
        r.structured_content = None;
    }
    if r.content
        .iter()
        .any(|c| !matches!(c.for_version(version), std::borrow::Cow::Borrowed(_)))
    {
        r.content = r
            .content
            .iter()
            .map(|c| c.for_version(version).into_owned())
            .collect();
    }
    r
}

fn structured_result(tool: &Tool, value: Value, version: ProtocolVersion) -> CallToolResult {
    let text = serde_json::to_string(&value).expect("values serialize");
    let structured = if !version.has_structured_output() {
        None
    } else if tool.wrap_output {
        Some(json!({ "result": value }))
    } else {
        Some(value)
    };
    CallToolResult {
        content: vec![Content::text(text)],
        structured_content: structured,
        ..CallToolResult::default()
    }
}
