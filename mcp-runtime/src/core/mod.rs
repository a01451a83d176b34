//! The core: one transport-neutral dispatcher. Every transport (and the in-memory client) hands
//! it a parsed message with a [`RequestEnv`] (the peer, the HTTP request if any, cancellation,
//! where notifications go, and the transport's [`Profile`]) and gets an outcome back; it never
//! builds an HTTP response.
//!
//! This file holds the request's types and the method table (`Dispatcher::request`, through
//! the server's middleware, then `dispatch`); each family of methods has a room of its own:
//! `messages` (bodies, batches), `lifecycle` (initialize, discover, lists, subscriptions,
//! logging), `handler` (scope checks, contexts, input-required rounds), `tools`, `resources`,
//! `prompts`, `complete`, `task_calls` (calls as tasks, `tasks/*`), `client` (responses and
//! cancellations from the client), `middleware` (the layers' contract).

pub(crate) mod client;
mod complete;
mod handler;
mod invoke;
mod lifecycle;
mod messages;
pub(crate) mod middleware;
pub(crate) mod nest;
#[cfg(feature = "otel")]
mod otel;
pub(crate) mod peer;
mod prompts;
mod resources;
mod skills;
pub(crate) mod state;
mod task_calls;
pub(crate) mod tasks;
mod tools;

pub(crate) use crate::call::context::Notifier;

use crate::call::ask::Round;
use crate::call::context::{Asking, Context, ContextParts, Host};
use crate::catalog::completion::CompletionRequest;
use crate::catalog::resource::ReadRequest;
use crate::catalog::tool::TaskSupport;
use crate::catalog::{Catalog, Item, ItemKind, ListKind, ResourceMatch};
use crate::content::{CallToolResult, Content, RequestError};
use crate::protocol::{Message, ProtocolVersion, RequestId, RpcError, code, complete_result};
use invoke::Invoked;
use lifecycle::set_level;
use peer::Peer;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;
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
    pub(crate) description: Option<String>,
    pub(crate) icons: Vec<crate::catalog::Icon>,
    /// The reverse-DNS name of registries and server cards (`com.example/crm`).
    pub(crate) registry_name: Option<String>,
}

impl ServerInfo {
    /// `serverInfo` (`Implementation`) as `version` of the protocol has it.
    pub(crate) fn implementation(&self, version: ProtocolVersion) -> Value {
        let mut info = json!({ "name": self.name, "version": self.version });
        if version.has_structured_output()
            && let Some(t) = &self.title
        {
            info["title"] = json!(t);
        }
        if version.has_icons() {
            if let Some(w) = &self.website_url {
                info["websiteUrl"] = json!(w);
            }
            if let Some(d) = &self.description {
                info["description"] = json!(d);
            }
            if !self.icons.is_empty() {
                info["icons"] = json!(self.icons);
            }
        }
        info
    }
}

/// The most messages one batch may hold (2024-11-05 and 2025-03-26 have batches).
pub(crate) const MAX_BATCH: usize = 100;

/// The most bytes the answers of one batch may add up to; a request whose answer would pass it
/// gets an error instead (the client can send it alone).
pub(crate) const MAX_BATCH_ANSWER_BYTES: usize = 8 * 1024 * 1024;

/// How the core answered a request, typed: the transport serializes it once
/// ([`Outcome::into_message`]) and reads what it needs (an error's status, whether the call
/// ended) from the variant, never from the bytes.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// A result that ends the request.
    Result(Box<RawValue>),
    /// A `tools/call` result that reports the tool's failure (`isError: true`).
    ToolError(Box<RawValue>),
    /// A 2026-07-28 input-required round: the client answers the questions and calls again.
    InputRequired(Box<RawValue>),
    /// The handle of the task the call went on as (both task eras), and what is cancelled when
    /// that task ends (`None` when a layer made the handle up).
    Task(Box<RawValue>, Option<CancellationToken>),
    /// A JSON-RPC error.
    Error(RpcError),
    /// Cancelled (or gone on elsewhere): nothing is sent.
    Cancelled,
}

impl Outcome {
    /// The result, whatever its kind.
    pub(crate) fn result(&self) -> Option<&RawValue> {
        match self {
            Self::Result(r) | Self::ToolError(r) | Self::InputRequired(r) | Self::Task(r, _) => {
                Some(r)
            }
            Self::Error(_) | Self::Cancelled => None,
        }
    }

    /// The JSON-RPC message answering request `id`, and its error for the transport to choose a
    /// status by; `None` when nothing is sent.
    pub(crate) fn into_message(self, id: &RequestId) -> Option<(Vec<u8>, Option<RpcError>)> {
        match self {
            Self::Result(r) | Self::ToolError(r) | Self::InputRequired(r) | Self::Task(r, _) => {
                Some((crate::protocol::response_bytes(id, &r), None))
            }
            Self::Error(e) => Some((crate::protocol::error_bytes(Some(id), &e), Some(e))),
            Self::Cancelled => None,
        }
    }
}

/// What an answer that is no longer awaited leaves (see `transport`'s `InFlight`).
impl Default for Outcome {
    fn default() -> Self {
        Self::Cancelled
    }
}

impl From<Result<Box<RawValue>, RpcError>> for Outcome {
    fn from(answer: Result<Box<RawValue>, RpcError>) -> Self {
        match answer {
            Ok(r) => Self::Result(r),
            Err(e) => Self::Error(e),
        }
    }
}

/// The answer to one body: the JSON text and what it is.
pub(crate) struct Reply {
    pub(crate) body: Vec<u8>,
    pub(crate) kind: ReplyKind,
}

/// What a reply is, for the transport to choose its status.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ReplyKind {
    /// A result, or a batch of answers.
    Answer,
    /// One error response, with its error (for the status and headers its transport gives it).
    Error(RpcError),
    /// The body was not a message at all (-32700, -32600).
    Rejected,
}

/// How a request reached the server, and what its transport can do: one allocation, handed
/// down the request path by pointer. Each async function a request passes keeps its arguments
/// in its future (twice, as rustc lays them out), and every future is copied whole when it is
/// boxed: inline, these 136 bytes were held about nine times in each call's method-table
/// future alone.
pub(crate) struct RequestEnv(Box<Env>);

impl std::ops::Deref for RequestEnv {
    type Target = Env;
    fn deref(&self) -> &Env {
        &self.0
    }
}

impl std::ops::DerefMut for RequestEnv {
    fn deref_mut(&mut self) -> &mut Env {
        &mut self.0
    }
}

/// What a [`RequestEnv`] holds.
pub(crate) struct Env {
    pub(crate) http: Option<Arc<http::request::Parts>>,
    pub(crate) peer: Arc<Peer>,
    pub(crate) cancel: CancellationToken,
    pub(crate) notifier: Option<Notifier>,
    /// What the transport can carry for this request (see [`Profile`]).
    pub(crate) profile: Profile,
    /// The caller, when the transport knows it without an HTTP request (stdio).
    pub(crate) principal: Option<Arc<crate::call::context::Principal>>,
    /// Where the requests of a batch are registered, so `notifications/cancelled` reaches them.
    pub(crate) in_flight: Option<Arc<dyn InFlight>>,
    /// Whether the request is the work of a task (which runs it instead of starting another).
    pub(crate) in_task: bool,
    /// Set for a call that may go on as a task (see `call_as_task`).
    pub(crate) escalation: Option<Arc<crate::call::ask::Escalation>>,
}

/// A registry of running requests by id (a session's), for `notifications/cancelled`.
pub(crate) trait InFlight: Send + Sync {
    fn start(&self, id: RequestId, cancel: CancellationToken) -> Result<(), RpcError>;
    fn end(&self, id: &RequestId);
}

/// The requests of one client running at once, by id (for `notifications/cancelled`), at most
/// `max` of them: a session's, or a stdio connection's. The sessions of one mount also share a
/// bound on the calls they run together ([`CallBudget`]): session calls may go on after their
/// client has gone, so their sum is bounded, not only each session's share.
pub(crate) struct Running {
    map: std::sync::Mutex<std::collections::HashMap<RequestId, CancellationToken>>,
    max: usize,
    /// Whose requests, for the refusal: "this session", "this connection".
    whose: &'static str,
    /// The mount's bound, shared by its sessions.
    shared: Option<Arc<CallBudget>>,
    /// Woken when the last running request ends.
    idle: tokio::sync::Notify,
}

/// The most calls the sessions of one mount may run at once, together.
pub(crate) struct CallBudget {
    running: std::sync::atomic::AtomicUsize,
    max: usize,
}

impl CallBudget {
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            running: std::sync::atomic::AtomicUsize::new(0),
            max: max.max(1),
        })
    }

    fn take(&self) -> bool {
        use std::sync::atomic::Ordering;
        if self.running.fetch_add(1, Ordering::Relaxed) >= self.max {
            self.running.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    fn give_back(&self, n: usize) {
        self.running
            .fetch_sub(n, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Why a request was not started.
#[derive(Debug)]
pub(crate) enum Busy {
    /// A request with its id is still running (the client's mistake).
    Duplicate(RpcError),
    /// The client runs its most requests at once (it may wait for one).
    Client(RpcError),
    /// The mount runs its most calls at once, for every client together.
    Server(RpcError),
}

impl Busy {
    pub(crate) fn error(&self) -> &RpcError {
        match self {
            Self::Duplicate(e) | Self::Client(e) | Self::Server(e) => e,
        }
    }

    pub(crate) fn into_error(self) -> RpcError {
        match self {
            Self::Duplicate(e) | Self::Client(e) | Self::Server(e) => e,
        }
    }
}

impl Running {
    pub(crate) fn new(max: usize, whose: &'static str) -> Self {
        Self {
            map: std::sync::Mutex::default(),
            max: max.max(1),
            whose,
            shared: None,
            idle: tokio::sync::Notify::new(),
        }
    }

    /// The same, counting also against `budget`, shared with other clients.
    pub(crate) fn within(mut self, budget: Arc<CallBudget>) -> Self {
        self.shared = Some(budget);
        self
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<RequestId, CancellationToken>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a request; refused when a request with the same id is still running (it would
    /// take that one's place, out of reach of cancellation) or when the most are running.
    pub(crate) fn start(&self, id: RequestId, cancel: CancellationToken) -> Result<(), Busy> {
        let mut running = self.lock();
        if running.contains_key(&id) {
            return Err(Busy::Duplicate(RpcError::invalid_request(format!(
                "a request with id {} is still running in {}; give each request its own id",
                id.shown(),
                self.whose
            ))));
        }
        if running.len() >= self.max {
            return Err(Busy::Client(RpcError::new(
                crate::protocol::code::SERVER_ERROR,
                format!(
                    "{} already has {} requests running; wait for one to finish",
                    self.whose, self.max
                ),
            )));
        }
        if let Some(shared) = &self.shared
            && !shared.take()
        {
            return Err(Busy::Server(RpcError::new(
                crate::protocol::code::SERVER_ERROR,
                format!(
                    "the server runs its most calls at once ({}); try again shortly",
                    shared.max
                ),
            )));
        }
        running.insert(id, cancel);
        Ok(())
    }

    /// Forgets `id`; its token, if it was running.
    fn remove(&self, id: &RequestId) -> Option<CancellationToken> {
        let removed = {
            let mut running = self.lock();
            let removed = running.remove(id);
            if removed.is_some() && running.is_empty() {
                self.idle.notify_waiters();
            }
            removed
        };
        if let (Some(_), Some(shared)) = (&removed, &self.shared) {
            shared.give_back(1);
        }
        removed
    }

    pub(crate) fn end(&self, id: &RequestId) {
        self.remove(id);
    }

    /// Cancels a running request; whether it ran here (unknown or finished ids are ignored).
    pub(crate) fn cancel(&self, id: &RequestId) -> bool {
        self.remove(id).map(|t| t.cancel()).is_some()
    }

    pub(crate) fn cancel_all(&self) {
        let drained: Vec<CancellationToken> = self.lock().drain().map(|(_, t)| t).collect();
        self.idle.notify_waiters();
        if let Some(shared) = &self.shared {
            shared.give_back(drained.len());
        }
        for t in drained {
            t.cancel();
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Once no request is running.
    pub(crate) async fn drained(&self) {
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.is_empty() {
                return;
            }
            idle.await;
        }
    }
}

/// How a request's handler may ask the client.
#[derive(Clone, Copy, Debug)]
pub(crate) enum AskVia {
    /// On the notifier's stream, the answers coming back to the peer (waiting at most the
    /// server's `client_request_timeout`).
    Stream,
    /// In input-required rounds (2026-07-28): answers in the request, questions in the result.
    Rounds,
    /// Not at all, and why.
    No(&'static str),
}

/// What a transport can carry for a request: its log notifications, notifications outside
/// requests, questions to the client. Decided here, once per kind of transport, from the facts
/// of the request (its revision, whether it has a session, whether its answer may be a stream),
/// not field by field where each transport builds its requests.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Profile {
    /// Whether the transport carries log notifications (the `logging` capability).
    pub(crate) logging: bool,
    /// Whether the transport delivers notifications outside requests (list changes, resource
    /// updates): a session's GET stream, the legacy stream, or `subscriptions/listen`.
    pub(crate) streams: bool,
    /// How a handler may ask the client.
    pub(crate) asking: AskVia,
    /// `network.transport` of the request's span: `tcp` for HTTP, `pipe` for stdio, `inproc`.
    pub(crate) transport: &'static str,
}

impl Profile {
    /// In process (`Server::call_tool`, `Client`): nothing streamed, nothing asked.
    pub(crate) const IN_PROCESS: Self = Self {
        logging: false,
        streams: false,
        asking: AskVia::No(NO_STREAM),
        transport: "inproc",
    };

    /// `Transport::Http`: one JSON answer per request, nothing outside it; a 2026-07-28
    /// request asks in input-required rounds, which need no stream.
    pub(crate) fn request_response(version: ProtocolVersion) -> Self {
        Self {
            logging: false,
            streams: false,
            asking: if version.is_stateless() {
                AskVia::Rounds
            } else {
                AskVia::No(NO_STREAM)
            },
            transport: "tcp",
        }
    }

    /// Streamable HTTP: `session` whether the request has one (or, for `initialize`, whether
    /// the mount keeps sessions), `json_only` whether its answer must be one JSON body;
    /// questions wait `ask_timeout` for their answer.
    pub(crate) fn streamable(version: ProtocolVersion, session: bool, json_only: bool) -> Self {
        let asking = if version.is_stateless() {
            AskVia::Rounds
        } else if json_only {
            AskVia::No(
                "this call is answered with JSON only (the client's Accept, or ResponseMode::Json), so it cannot carry a question",
            )
        } else if !session {
            AskVia::No(
                "asking the client needs a session to route its answer: send `initialize` first",
            )
        } else {
            AskVia::Stream
        };
        Self {
            logging: !version.is_stateless(),
            // List changes reach a session's GET stream, or a 2026-07-28 client's listen stream.
            streams: session || version.is_stateless(),
            asking,
            transport: "tcp",
        }
    }

    /// The legacy HTTP+SSE transport: every answer, notification and question on the
    /// session's one stream.
    pub(crate) fn legacy_sse() -> Self {
        Self {
            logging: true,
            streams: true,
            asking: AskVia::Stream,
            transport: "tcp",
        }
    }

    /// stdio: one stream both ways for the handshake era; a 2026-07-28 request asks in rounds
    /// and has nothing outside its answer.
    #[cfg(feature = "stdio")]
    pub(crate) fn stdio(version: ProtocolVersion) -> Self {
        let stateless = version.is_stateless();
        Self {
            logging: !stateless,
            streams: !stateless,
            asking: if stateless {
                AskVia::Rounds
            } else {
                AskVia::Stream
            },
            transport: "pipe",
        }
    }
}

/// Why a call of the request-response kind cannot ask the client.
pub(crate) const NO_STREAM: &str = "this transport answers with one JSON response and cannot carry a question; use Streamable \
     HTTP with a session";

/// A request's authenticated caller: the one the core was given, else the one its HTTP
/// request carries.
fn caller<'a>(
    principal: Option<&'a Arc<crate::call::context::Principal>>,
    http: Option<&'a Arc<http::request::Parts>>,
) -> Option<&'a crate::call::context::Principal> {
    principal
        .map(|p| &**p)
        .or_else(|| http?.extensions.get::<crate::call::context::Principal>())
}

impl RequestEnv {
    /// A request from `peer` over a transport that can carry what `profile` says.
    pub(crate) fn new(
        http: Option<Arc<http::request::Parts>>,
        peer: Arc<Peer>,
        cancel: CancellationToken,
        profile: Profile,
    ) -> Self {
        Self(Box::new(Env {
            http,
            peer,
            cancel,
            notifier: None,
            profile,
            principal: None,
            in_flight: None,
            in_task: false,
            escalation: None,
        }))
    }

    /// The fields, to take apart.
    pub(crate) fn into_inner(self) -> Env {
        *self.0
    }

    /// The same request context for another message of one batch.
    fn sibling(&self) -> Self {
        Self(Box::new(Env {
            http: self.http.clone(),
            peer: self.peer.clone(),
            cancel: self.cancel.child_token(),
            notifier: self.notifier.clone(),
            profile: self.profile,
            principal: self.principal.clone(),
            in_flight: self.in_flight.clone(),
            in_task: self.in_task,
            escalation: self.escalation.clone(),
        }))
    }

    pub(crate) fn version(&self) -> ProtocolVersion {
        self.peer.version()
    }

    /// The request's authenticated caller, if any.
    fn caller(&self) -> Option<&crate::call::context::Principal> {
        caller(self.principal.as_ref(), self.http.as_ref())
    }

    /// The scopes of the request's authenticated caller (none without one).
    fn scopes(&self) -> &[String] {
        self.caller().map_or(&[], |p| &p.scopes)
    }

    /// Whom what the request creates (a task) belongs to: the authenticated caller (see
    /// [`crate::auth::Principal::owner_key`]); without one, the session of the handshake era the
    /// request came in (`session:<id>`, which no caller's key can equal); without either, no
    /// one: such a task is reachable only by its unguessable id, never listed, and counts
    /// against no caller's limits.
    fn owner(&self) -> Option<String> {
        match self.caller() {
            Some(p) => Some(p.owner_key()),
            None => self.peer.session_id().map(|s| format!("session:{s}")),
        }
    }
}

/// The server as every request sees it: its facts, its catalog, its state and its auth.
pub(crate) struct Dispatcher {
    pub(crate) info: ServerInfo,
    pub(crate) catalog: Catalog,
    pub(crate) states: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    /// Whether the server authenticates its callers (scopes are then enforced).
    pub(crate) authenticated: bool,
    /// The key that seals `requestState`.
    pub(crate) state_key: state::StateKey,
    /// Tasks started by this server's tools.
    pub(crate) tasks: tasks::Tasks,
    /// The app's check of who may subscribe to what, if it set one.
    pub(crate) subscriptions: Option<crate::catalog::resource::SubscriptionCheck>,
    /// The server's MCP middleware, down to the method table; `None` without layers.
    pub(crate) layers: Option<middleware::McpService>,
    /// The longest a handler may run when it sets no timeout of its own
    /// ([`crate::McpServer::tool_timeout`]), whatever the transport.
    pub(crate) tool_timeout: Option<Duration>,
    /// How long a handler waits for the client to answer a question
    /// ([`crate::McpServer::client_request_timeout`]).
    pub(crate) ask_timeout: Duration,
    /// The servers nested in this one ([`crate::McpServer::nest`]).
    pub(crate) parts: Vec<nest::Part>,
    /// How tools are shown ([`crate::McpServer::transform_tool`]), applied again to a nested
    /// server's tools when they change.
    pub(crate) transforms: Arc<[(String, crate::catalog::ToolTransform)]>,
    /// Which items each caller sees ([`crate::McpServer::visibility`]).
    pub(crate) visibility: Option<crate::catalog::VisibilityCheck>,
    /// The most results of one search ([`crate::McpServer::tool_search`]).
    pub(crate) search_max: usize,
    /// The skills it serves ([`crate::McpServer::skills`]).
    pub(crate) skills: crate::catalog::skill::Skills,
    /// Whether it serves apps ([`crate::McpServer::ui`]).
    pub(crate) apps: bool,
}

fn raw(v: &Value) -> Box<RawValue> {
    serde_json::value::to_raw_value(v).expect("results serialize")
}

fn string_param<'a>(
    params: Option<&'a Value>,
    key: &str,
    method: &str,
) -> Result<&'a str, RpcError> {
    params
        .and_then(|p| p.get(key))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            RpcError::invalid_params(format!("`{method}` needs `params.{key}` (a string)"))
        })
}

impl Host for Dispatcher {
    fn state(&self, type_id: TypeId) -> Option<Arc<dyn Any + Send + Sync>> {
        self.states.get(&type_id).cloned()
    }

    fn name(&self) -> &str {
        &self.info.name
    }

    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

impl Dispatcher {
    /// Answers one request: the method table of both eras. `None` when the request was
    /// cancelled (no response is sent).
    pub(crate) async fn request(
        self: &Arc<Self>,
        id: &RequestId,
        method: &str,
        params: Option<Value>,
        env: RequestEnv,
    ) -> Outcome {
        self.traced(id, method, params, env, |params, env| {
            self.through_layers(id, method, params, env)
        })
        .await
    }

    /// [`Self::request`] as one boxed future, for a caller that boxes the call anyway, of the
    /// size its path needs: under the server's layers it holds the span and the layers'
    /// future (boxed), not also the method table's inline, which the bottom of the layers
    /// boxes again. Every byte of a future is copied when it is boxed (about 2 KB here).
    pub(crate) fn request_boxed(
        self: &Arc<Self>,
        id: RequestId,
        method: String,
        params: Option<Value>,
        env: RequestEnv,
    ) -> futures_util::future::BoxFuture<'static, Outcome> {
        let me = self.clone();
        match self.layers.clone() {
            Some(layers) => Box::pin(async move {
                me.traced(&id, &method, params, env, |params, env| {
                    me.through(&layers, &id, &method, params, env)
                })
                .await
            }),
            None => Box::pin(async move { me.request(&id, &method, params, env).await }),
        }
    }

    /// A request's span and metric around `next` (its layers, then the method table).
    async fn traced<F>(
        &self,
        id: &RequestId,
        method: &str,
        params: Option<Value>,
        env: RequestEnv,
        next: impl FnOnce(Option<Value>, RequestEnv) -> F,
    ) -> Outcome
    where
        F: Future<Output = Outcome>,
    {
        // One span per request, after the OpenTelemetry conventions for MCP; free when no
        // subscriber listens (the fields are only computed for an enabled span). At `debug`: an
        // app logging at `info` does not pay for formatting it on every request; an exporter
        // enables `mcp_runtime=debug` for itself.
        let span = tracing::debug_span!(
            "mcp.request",
            otel.name = tracing::field::Empty,
            otel.kind = "server",
            mcp.method.name = method,
            mcp.session.id = tracing::field::Empty,
            mcp.protocol.version = tracing::field::Empty,
            jsonrpc.request.id = tracing::field::Empty,
            gen_ai.operation.name = tracing::field::Empty,
            gen_ai.tool.name = tracing::field::Empty,
            gen_ai.prompt.name = tracing::field::Empty,
            mcp.resource.uri = tracing::field::Empty,
            network.transport = env.profile.transport,
            enduser.id = tracing::field::Empty,
            error.type = tracing::field::Empty,
        );
        if span.is_disabled() {
            return next(params, env).await;
        }
        #[cfg(feature = "otel")]
        otel::adopt_parent(&span, params.as_ref());
        let target = params
            .as_ref()
            .and_then(|p| p.get("name").or_else(|| p.get("uri")))
            .and_then(Value::as_str)
            .filter(|_| matches!(method, "tools/call" | "prompts/get" | "resources/read"));
        span.record(
            "otel.name",
            match target {
                Some(t) => format!("{method} {t}"),
                None => method.to_owned(),
            },
        );
        span.record("mcp.protocol.version", env.version().as_str());
        span.record("jsonrpc.request.id", tracing::field::display(id));
        if let Some(sid) = env.peer.session_id() {
            span.record("mcp.session.id", sid);
        }
        match (method, target) {
            ("tools/call", Some(t)) => {
                span.record("gen_ai.operation.name", "execute_tool");
                span.record("gen_ai.tool.name", t);
            }
            ("prompts/get", Some(t)) => {
                span.record("gen_ai.prompt.name", t);
            }
            ("resources/read", Some(t)) => {
                span.record("mcp.resource.uri", t);
            }
            _ => {}
        }
        if let Some(p) = env.principal.as_deref().or_else(|| {
            env.http
                .as_ref()
                .and_then(|h| h.extensions.get::<crate::call::context::Principal>())
        }) {
            span.record("enduser.id", p.subject.as_str());
        }
        let started = std::time::Instant::now();
        let outcome = tracing::Instrument::instrument(next(params, env), span.clone()).await;
        let error = match &outcome {
            Outcome::Error(e) => Some(e.code.to_string()),
            Outcome::ToolError(_) => Some("tool_error".to_owned()),
            _ => None,
        };
        if let Some(e) = &error {
            span.record("error.type", e.as_str());
        }
        // The operation's duration, as the `mcp.server.operation.duration` histogram (seconds)
        // that tracing-opentelemetry's `MetricsLayer` makes of `histogram.` fields.
        // At debug, under its own target: an app logging at info prints no line per request,
        // and a metrics layer enables `mcp_runtime::metrics=debug` for itself.
        tracing::event!(
            target: "mcp_runtime::metrics",
            parent: &span,
            tracing::Level::DEBUG,
            histogram.mcp.server.operation.duration = started.elapsed().as_secs_f64(),
            mcp.method.name = method,
            // Only on failures, as the conventions say (no empty attribute on successes).
            error.type = error.as_deref(),
            "handled"
        );
        outcome
    }

    /// The method table of both eras.
    async fn dispatch(
        self: &Arc<Self>,
        id: &RequestId,
        method: &str,
        params: Option<Value>,
        env: RequestEnv,
    ) -> Outcome {
        let version = env.version();
        let stateless = version.is_stateless();
        let p = params.as_ref();
        // The rare methods' futures are boxed: inline, the largest of them would be the size of
        // every request's future, copied whole each time it is boxed or moved.
        Outcome::from(match method {
            "server/discover" if stateless => Ok(raw(&self.discover(&env))),
            "initialize" if !stateless => self.initialize(p, &env).map(|v| raw(&v)),
            "ping" if !stateless => Ok(raw(&json!({}))),
            "logging/setLevel" if !stateless && env.profile.logging => {
                set_level(p, &env).map(|v| raw(&v))
            }
            "resources/subscribe" | "resources/unsubscribe"
                if !stateless && env.profile.streams =>
            {
                Box::pin(self.subscribe(method, p, &env))
                    .await
                    .map(|v| raw(&v))
            }
            "tools/list" => self.list(ListKind::Tools, p, &env),
            "resources/list" => self.list(ListKind::Resources, p, &env),
            "resources/templates/list" => self.list(ListKind::Templates, p, &env),
            "prompts/list" => self.list(ListKind::Prompts, p, &env),
            "tools/call" => return self.call_tool(id, params, env).await,
            "resources/read" => return self.read_resource(id, params, env).await,
            "prompts/get" => return self.get_prompt(id, params, env).await,
            "completion/complete" => return Box::pin(self.complete(id, params, env)).await,
            "skills/list" | "skills/get" | "resources/directory/read"
                if !self.skills.is_empty() =>
            {
                self.skill_method(method, p, &env)
            }
            "tasks/get" | "tasks/update" | "tasks/cancel" if stateless => {
                Box::pin(self.task_method(method, p, &env)).await
            }
            "tasks/get" | "tasks/result" | "tasks/list" | "tasks/cancel"
                if version.has_experimental_tasks() =>
            {
                Box::pin(self.experimental_task_method(method, p, &env)).await
            }
            _ => Err(RpcError::method_not_found(method)),
        })
    }
}

/// A map of string arguments (prompt arguments, completion context); scalars are taken as their
/// JSON text, objects and arrays are refused.
fn string_arguments(value: Option<&Value>, what: &str) -> Result<Vec<(String, String)>, RpcError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                Value::Number(_) | Value::Bool(_) => Ok((k.clone(), v.to_string())),
                _ => Err(RpcError::invalid_params(format!(
                    "the arguments of {what} are strings; `{}` is not",
                    crate::bounds::shown(k)
                ))),
            })
            .collect(),
        Some(_) => Err(RpcError::invalid_params(format!(
            "the arguments of {what} must be an object"
        ))),
    }
}
