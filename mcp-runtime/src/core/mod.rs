//! The core: one transport-neutral dispatcher. Every transport (and the in-memory client) hands
//! it a parsed message with a [`RequestEnv`] (the peer, the HTTP request if any, cancellation,
//! where notifications go) and gets an outcome back; it never builds an HTTP response.

pub(crate) mod client;
mod invoke;
pub(crate) mod middleware;
#[cfg(feature = "otel")]
mod otel;
pub(crate) mod peer;
pub(crate) mod state;
pub(crate) mod tasks;

pub(crate) use crate::catalog::context::Notifier;

use crate::catalog::ask::Round;
use crate::catalog::completion::CompletionRequest;
use crate::catalog::context::{Asking, Context, ContextParts, Host};
use crate::catalog::resource::ReadRequest;
use crate::catalog::tool::TaskSupport;
use crate::catalog::{Catalog, ListKind, ResourceMatch};
use crate::content::{CallToolResult, Content, McpError};
use crate::protocol::{Message, ProtocolVersion, RequestId, RpcError, code, complete_result};
use invoke::Invoked;
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
}

/// The most messages one batch may hold (2024-11-05 and 2025-03-26 have batches).
pub(crate) const MAX_BATCH: usize = 100;

/// The most bytes the answers of one batch may add up to; a request whose answer would pass it
/// gets an error instead (the client can send it alone).
pub(crate) const MAX_BATCH_ANSWER_BYTES: usize = 8 * 1024 * 1024;

/// `bytes`, the answer to `id` in a batch, unless the batch's answers would pass
/// [`MAX_BATCH_ANSWER_BYTES`] with it: then an error that says so.
fn within_batch_budget(
    answered: &std::sync::atomic::AtomicUsize,
    id: &RequestId,
    bytes: Vec<u8>,
) -> Vec<u8> {
    use std::sync::atomic::Ordering;
    let len = bytes.len();
    if answered.fetch_add(len, Ordering::Relaxed) + len <= MAX_BATCH_ANSWER_BYTES {
        return bytes;
    }
    answered.fetch_sub(len, Ordering::Relaxed);
    drop(bytes);
    crate::protocol::error_bytes(
        Some(id),
        &RpcError::new(
            code::SERVER_ERROR,
            format!(
                "the answers of this batch would pass {MAX_BATCH_ANSWER_BYTES} bytes with this \
                 one ({len} bytes); it was left out: send this request alone"
            ),
        ),
    )
}

/// What a request (or notification) is answered with: a result, an error, or nothing when
/// it was cancelled.
pub(crate) type Outcome = Option<Result<Box<RawValue>, RpcError>>;

/// The answer to one body: the JSON text and what it is.
pub(crate) struct Reply {
    pub(crate) body: Vec<u8>,
    pub(crate) kind: ReplyKind,
}

/// What a reply is, for the transport to choose its status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReplyKind {
    /// A result, or a batch of answers.
    Answer,
    /// One error response, with its code.
    Error(i64),
    /// The body was not a message at all (-32700, -32600).
    Rejected,
}

/// How a request reached the server, and what its transport can do.
pub(crate) struct RequestEnv {
    pub(crate) http: Option<Arc<http::request::Parts>>,
    pub(crate) peer: Arc<Peer>,
    pub(crate) cancel: CancellationToken,
    pub(crate) notifier: Option<Notifier>,
    /// What the transport can carry for this request (see [`Profile`]).
    pub(crate) profile: Profile,
    /// The longest a handler may run when it sets no timeout of its own.
    pub(crate) timeout: Option<Duration>,
    /// The caller, when the transport knows it without an HTTP request (stdio).
    pub(crate) principal: Option<Arc<crate::Principal>>,
    /// Where the requests of a batch are registered, so `notifications/cancelled` reaches them.
    pub(crate) in_flight: Option<Arc<dyn InFlight>>,
    /// Whether the request is the work of a task (which runs it instead of starting another).
    pub(crate) in_task: bool,
    /// Set for a call that may go on as a task (see `call_as_task`).
    pub(crate) escalation: Option<Arc<crate::catalog::ask::Escalation>>,
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
        let removed = self.lock().remove(id);
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
}

/// How a request's handler may ask the client.
#[derive(Clone, Copy, Debug)]
pub(crate) enum AskVia {
    /// On the notifier's stream, the answers coming back to the peer; waiting at most this long.
    Stream(Duration),
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
    pub(crate) fn streamable(
        version: ProtocolVersion,
        session: bool,
        json_only: bool,
        ask_timeout: Duration,
    ) -> Self {
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
            AskVia::Stream(ask_timeout)
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
    pub(crate) fn legacy_sse(ask_timeout: Duration) -> Self {
        Self {
            logging: true,
            streams: true,
            asking: AskVia::Stream(ask_timeout),
            transport: "tcp",
        }
    }

    /// stdio: one stream both ways for the handshake era; a 2026-07-28 request asks in rounds
    /// and has nothing outside its answer.
    pub(crate) fn stdio(version: ProtocolVersion, ask_timeout: Duration) -> Self {
        let modern = version.is_stateless();
        Self {
            logging: !modern,
            streams: !modern,
            asking: if modern {
                AskVia::Rounds
            } else {
                AskVia::Stream(ask_timeout)
            },
            transport: "pipe",
        }
    }
}

/// Why a call of the request-response kind cannot ask the client.
pub(crate) const NO_STREAM: &str = "this transport answers with one JSON response and cannot carry a question; use Streamable \
     HTTP with a session";

impl RequestEnv {
    /// A request from `peer` over a transport that can carry what `profile` says.
    pub(crate) fn new(
        http: Option<Arc<http::request::Parts>>,
        peer: Arc<Peer>,
        cancel: CancellationToken,
        profile: Profile,
    ) -> Self {
        Self {
            http,
            peer,
            cancel,
            notifier: None,
            profile,
            timeout: None,
            principal: None,
            in_flight: None,
            in_task: false,
            escalation: None,
        }
    }

    /// The same request context for another message of one batch.
    fn sibling(&self) -> Self {
        Self {
            http: self.http.clone(),
            peer: self.peer.clone(),
            cancel: self.cancel.child_token(),
            notifier: self.notifier.clone(),
            profile: self.profile,
            timeout: self.timeout,
            principal: self.principal.clone(),
            in_flight: self.in_flight.clone(),
            in_task: self.in_task,
            escalation: self.escalation.clone(),
        }
    }

    pub(crate) fn version(&self) -> ProtocolVersion {
        self.peer.version()
    }

    /// The request's authenticated caller, if any.
    fn caller(&self) -> Option<&crate::Principal> {
        self.principal.as_deref().or_else(|| {
            self.http
                .as_ref()
                .and_then(|p| p.extensions.get::<crate::Principal>())
        })
    }

    /// The scopes of the request's authenticated caller (none without one).
    fn scopes(&self) -> &[String] {
        self.caller().map_or(&[], |p| &p.scopes)
    }

    /// Whom what the request creates (a task) belongs to: the authenticated caller (see
    /// [`crate::Principal::owner_key`]); without one, the session of the handshake era the
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
    /// Parses and answers one body: a message or a batch. `None` when nothing is answered
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
            Err(r) => Some(Reply {
                body: crate::protocol::error_bytes(r.id.as_ref(), &r.error),
                kind: ReplyKind::Rejected,
            }),
        }
    }

    async fn handle_batch(self: &Arc<Self>, body: &[u8], env: RequestEnv) -> Option<Reply> {
        let rejected = |err: RpcError| Reply {
            body: crate::protocol::error_bytes(None, &err),
            kind: ReplyKind::Rejected,
        };
        let items: Vec<Value> = match serde_json::from_slice(body) {
            Ok(items) => items,
            Err(e) => {
                return Some(rejected(RpcError::new(
                    code::PARSE_ERROR,
                    format!("the body is not valid JSON: {e}"),
                )));
            }
        };
        if items.is_empty() {
            return Some(rejected(RpcError::invalid_request(
                "an empty batch is not a valid request",
            )));
        }
        let version = env.version();
        if !version.has_batches() {
            return Some(rejected(RpcError::invalid_request(format!(
                "revision {version} has no batches (they were removed in 2025-06-18): send one \
                 message per request"
            ))));
        }
        if items.len() > MAX_BATCH {
            return Some(rejected(RpcError::invalid_request(format!(
                "a batch holds at most {MAX_BATCH} messages; this one has {}",
                items.len()
            ))));
        }
        // Every request of the batch is answered, unless the client cancelled it: a request
        // stopped because the server shut down says so.
        let batch = &env.cancel;
        let answered = std::sync::atomic::AtomicUsize::new(0);
        let answered = &answered;
        let futures = items.into_iter().map(|item| {
            let env = env.sibling();
            async move {
                match Message::parse_value(item) {
                    Ok(Message::Request { id, method, params }) => {
                        let registry = env.in_flight.clone();
                        if let Some(r) = &registry
                            && let Err(e) = r.start(id.clone(), env.cancel.clone())
                        {
                            return Some(crate::protocol::error_bytes(Some(&id), &e));
                        }
                        let request = Message::Request {
                            id: id.clone(),
                            method,
                            params,
                        };
                        let reply = self.handle_message(request, env).await;
                        if let Some(r) = &registry {
                            r.end(&id);
                        }
                        match reply {
                            Some(Reply {
                                body,
                                kind: ReplyKind::Answer,
                            }) => Some(within_batch_budget(answered, &id, body)),
                            Some(error) => Some(error.body),
                            None if batch.is_cancelled() => Some(crate::protocol::error_bytes(
                                Some(&id),
                                &RpcError::shut_down(),
                            )),
                            None => None,
                        }
                    }
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
            kind: ReplyKind::Answer,
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
                        kind: ReplyKind::Answer,
                    },
                    Err(e) => Reply {
                        body: crate::protocol::error_bytes(Some(&id), &e),
                        kind: ReplyKind::Error(e.code),
                    },
                })
            }
            Message::Notification { .. } | Message::Response { .. } => None,
        }
    }

    /// Answers one request: the method table of both eras. `None` when the request was
    /// cancelled (no response is sent).
    pub(crate) async fn request(
        self: &Arc<Self>,
        id: &RequestId,
        method: &str,
        params: Option<Value>,
        env: RequestEnv,
    ) -> Outcome {
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
            return self.through_layers(id, method, params, env).await;
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
                .and_then(|h| h.extensions.get::<crate::Principal>())
        }) {
            span.record("enduser.id", p.subject.as_str());
        }
        let started = std::time::Instant::now();
        let outcome = tracing::Instrument::instrument(
            self.through_layers(id, method, params, env),
            span.clone(),
        )
        .await;
        let error = match &outcome {
            Some(Err(e)) => Some(e.code.to_string()),
            Some(Ok(raw)) if method == "tools/call" && middleware::tool_failed(raw.get()) => {
                Some("tool_error".to_owned())
            }
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
        Some(match method {
            "server/discover" if stateless => Ok(raw(&self.discover(&env))),
            "initialize" if !stateless => self.initialize(p, &env).map(|v| raw(&v)),
            "ping" if !stateless => Ok(raw(&json!({}))),
            "logging/setLevel" if !stateless && env.profile.logging => {
                set_level(p, &env).map(|v| raw(&v))
            }
            "resources/subscribe" | "resources/unsubscribe"
                if !stateless && env.profile.streams =>
            {
                self.subscribe(method, p, &env).await.map(|v| raw(&v))
            }
            "tools/list" => self.list(ListKind::Tools, p, &env),
            "resources/list" => self.list(ListKind::Resources, p, &env),
            "resources/templates/list" => self.list(ListKind::Templates, p, &env),
            "prompts/list" => self.list(ListKind::Prompts, p, &env),
            "tools/call" => return self.call_tool(id, params, env).await,
            "resources/read" => return self.read_resource(id, params, env).await,
            "prompts/get" => return self.get_prompt(id, params, env).await,
            "completion/complete" => return self.complete(id, params, env).await,
            "tasks/get" | "tasks/update" | "tasks/cancel" if stateless => {
                self.task_method(method, p, &env).await
            }
            "tasks/get" | "tasks/result" | "tasks/list" | "tasks/cancel"
                if version.has_experimental_tasks() =>
            {
                self.legacy_task_method(method, p, &env).await
            }
            _ => Err(RpcError::method_not_found(method)),
        })
    }

    /// The capabilities this server offers over a transport that can do what `env` says.
    fn capabilities(&self, env: &RequestEnv) -> Value {
        let snapshot = self.catalog.peek();
        let changes = env.profile.streams;
        let mut caps = Map::new();
        caps.insert("tools".into(), json!({ "listChanged": changes }));
        let has_resources = !snapshot.resources.is_empty() || !snapshot.templates.is_empty();
        if has_resources {
            caps.insert(
                "resources".into(),
                json!({ "subscribe": changes, "listChanged": changes }),
            );
        }
        if snapshot.has_prompts() {
            caps.insert("prompts".into(), json!({ "listChanged": changes }));
        }
        if (has_resources || snapshot.has_prompts())
            && env.version() >= ProtocolVersion::V2025_03_26
        {
            caps.insert("completions".into(), json!({}));
        }
        if env.profile.logging {
            caps.insert("logging".into(), json!({}));
        }
        if env.version().has_experimental_tasks() && snapshot.has_task_tools() {
            caps.insert(
                "tasks".into(),
                json!({ "list": {}, "cancel": {}, "requests": { "tools": { "call": {} } } }),
            );
        }
        if env.version().is_stateless() && snapshot.has_task_tools() {
            caps.insert("extensions".into(), json!({ tasks::EXTENSION: {} }));
        }
        Value::Object(caps)
    }

    /// The result of `server/discover` (2026-07-28).
    pub(crate) fn discover(&self, env: &RequestEnv) -> Value {
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
            "capabilities": self.capabilities(env),
            "_meta": { "io.modelcontextprotocol/serverInfo": server_info },
            "ttlMs": self.catalog.settings().ttl_ms,
            "cacheScope": "public",
        });
        if let Some(i) = &info.instructions {
            result["instructions"] = json!(i);
        }
        result
    }

    fn initialize(&self, params: Option<&Value>, env: &RequestEnv) -> Result<Value, RpcError> {
        let requested = string_param(params, "protocolVersion", "initialize")?;
        let version = crate::protocol::negotiate(requested);
        let capabilities = params.and_then(|p| p.get("capabilities"));
        if let Some(c) = capabilities {
            crate::protocol::check_capabilities(c, "`params.capabilities`")?;
        }
        env.peer.set_version(version);
        env.peer.set_capabilities(capabilities.cloned());
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
        let mut result = json!({
            "protocolVersion": version.as_str(),
            "capabilities": self.capabilities(env),
            "serverInfo": server_info,
        });
        if let Some(i) = &info.instructions {
            result["instructions"] = json!(i);
        }
        Ok(result)
    }

    fn list(
        &self,
        kind: ListKind,
        params: Option<&Value>,
        env: &RequestEnv,
    ) -> Result<Box<RawValue>, RpcError> {
        let cursor = match params.and_then(|p| p.get("cursor")) {
            None | Some(Value::Null) => None,
            Some(Value::String(c)) => Some(c.as_str()),
            Some(_) => return Err(RpcError::invalid_params("`cursor` must be a string")),
        };
        self.catalog
            .peek()
            .page(kind, env.version(), cursor, env.scopes())
    }

    /// `resources/subscribe` and `resources/unsubscribe`: updates of the resource go to the
    /// peer's stream while it is subscribed.
    async fn subscribe(
        &self,
        method: &str,
        params: Option<&Value>,
        env: &RequestEnv,
    ) -> Result<Value, RpcError> {
        let uri = string_param(params, "uri", method)?;
        if method == "resources/unsubscribe" {
            env.peer.unsubscribe(uri);
        } else {
            self.may_subscribe(env.caller(), env.version(), uri).await?;
            env.peer.subscribe(uri).map_err(RpcError::invalid_params)?;
        }
        Ok(json!({}))
    }

    /// Whether `caller` may follow the updates of `uri` (`resources/subscribe`, a 2026-07-28
    /// `subscriptions/listen`): a URI of bounded length that the catalog serves, whose scopes
    /// the caller holds, and that the app's check ([`crate::McpServer::authorize_subscriptions`])
    /// lets through. A URI the app refuses is answered as one that does not exist.
    pub(crate) async fn may_subscribe(
        &self,
        caller: Option<&crate::Principal>,
        version: ProtocolVersion,
        uri: &str,
    ) -> Result<(), RpcError> {
        let max = crate::bounds::MAX_KEPT_BYTES;
        if uri.len() > max {
            return Err(RpcError::invalid_params(format!(
                "the resource URI is {} bytes; a subscription's URI may have at most {max}",
                uri.len()
            )));
        }
        let scopes = {
            let snapshot = self.catalog.peek();
            let Some((resource, found)) = snapshot.resource(uri) else {
                return Err(McpError::not_found(uri).to_rpc(version));
            };
            if let ResourceMatch::Template(Err(problem)) = found {
                return Err(RpcError::invalid_params(format!(
                    "invalid resource URI `{}`: {problem}",
                    crate::bounds::shown(uri)
                )));
            }
            resource.scopes.clone()
        };
        let held = caller.map_or(&[][..], |p| &p.scopes);
        if self.authenticated && !crate::protocol::scopes_cover(held, &scopes) {
            return Err(crate::protocol::insufficient_scope_error(uri, &scopes));
        }
        if let Some(check) = &self.subscriptions {
            let request = crate::catalog::resource::Subscription {
                principal: caller.cloned(),
                uri: uri.to_owned(),
            };
            if !check(request).await {
                return Err(McpError::not_found(uri).to_rpc(version));
            }
        }
        Ok(())
    }

    /// The refusal of a call to an item whose scopes the caller lacks, if so.
    fn refuse_scopes(&self, env: &RequestEnv, name: &str, needed: &[String]) -> Option<RpcError> {
        (self.authenticated && !crate::protocol::scopes_cover(env.scopes(), needed))
            .then(|| crate::protocol::insufficient_scope_error(name, needed))
    }

    /// The refusal of a `tools/call`, `resources/read` or `prompts/get` whose caller lacks the
    /// item's scopes, decided before the request is accepted (a transport answers 403 at once).
    pub(crate) fn scope_refusal(
        &self,
        parts: &http::request::Parts,
        method: &str,
        params: Option<&Value>,
    ) -> Option<RpcError> {
        let held = parts
            .extensions
            .get::<crate::Principal>()
            .map_or(&[][..], |p| &p.scopes);
        let snapshot = self.catalog.peek();
        let (name, needed) = match method {
            "tools/call" => {
                let name = params?.get("name")?.as_str()?;
                (name, &snapshot.tool(name)?.scopes)
            }
            "prompts/get" => {
                let name = params?.get("name")?.as_str()?;
                (name, &snapshot.prompt(name)?.scopes)
            }
            "resources/read" => {
                let uri = params?.get("uri")?.as_str()?;
                (uri, &snapshot.resource(uri)?.0.scopes)
            }
            _ => return None,
        };
        (!crate::protocol::scopes_cover(held, needed))
            .then(|| crate::protocol::insufficient_scope_error(name, needed))
    }

    fn context(
        self: &Arc<Self>,
        id: &RequestId,
        meta: Option<Map<String, Value>>,
        env: RequestEnv,
        round: Option<Round>,
    ) -> Context {
        let asking = match (env.profile.asking, round) {
            (AskVia::Stream(timeout), _) => Asking::Available {
                questions: env.peer.questions(),
                timeout,
            },
            (AskVia::Rounds, Some(round)) => Asking::Rounds(round),
            (AskVia::Rounds, None) => Asking::Unavailable(
                "only tools/call, prompts/get and resources/read may ask the client",
            ),
            (AskVia::No(why), _) => Asking::Unavailable(why),
        };
        Context::new(ContextParts {
            asking,
            principal: env.principal,
            host: self.clone(),
            http: env.http,
            request_id: Some(id.clone()),
            meta,
            version: env.peer.version(),
            cancel: env.cancel,
            notifier: env.notifier,
            client_capabilities: env.peer.capabilities(),
        })
    }

    /// What a `requestState` of this request is bound to (see [`state::binding`]), in the
    /// 2026-07-28 era where rounds are; `None` elsewhere.
    fn binding(
        &self,
        env: &RequestEnv,
        method: &str,
        target: &str,
        arguments: Option<&Map<String, Value>>,
    ) -> Option<String> {
        matches!(env.profile.asking, AskVia::Rounds).then(|| {
            let caller = env.owner();
            state::binding(
                &self.info.name,
                method,
                target,
                arguments,
                caller.as_deref(),
            )
        })
    }

    /// The input-required round of a 2026-07-28 request (`binding`: see [`Self::binding`]):
    /// the answers of earlier rounds (from the sealed `requestState`) and of this one
    /// (`inputResponses`), which may answer only the questions the last round asked.
    fn round(
        &self,
        env: &RequestEnv,
        binding: Option<&str>,
        params: Option<&Map<String, Value>>,
    ) -> Result<Option<Round>, RpcError> {
        let Some(binding) = binding.filter(|_| matches!(env.profile.asking, AskVia::Rounds)) else {
            return Ok(None);
        };
        let state::Opened { mut answers, asked } = match params.and_then(|p| p.get("requestState"))
        {
            None | Some(Value::Null) => state::Opened::default(),
            Some(Value::String(s)) => {
                state::open(&self.state_key, binding, s).map_err(RpcError::invalid_params)?
            }
            Some(_) => {
                return Err(RpcError::invalid_params("`requestState` must be a string"));
            }
        };
        // Answers to the questions the last round asked join those of earlier rounds (one
        // sent again for a question answered before keeps the first); any other answer was not
        // asked for: it is kept aside, taken only by a question that accepts an answer up front
        // (`Question::answered_up_front`), and otherwise ignored, so that the handler asks
        // again (SEP-2322: servers ignore what they do not recognize).
        let mut offered = Map::new();
        match params.and_then(|p| p.get("inputResponses")) {
            None | Some(Value::Null) => {}
            Some(Value::Object(responses)) => {
                for (key, answer) in responses {
                    if answers.contains_key(key) {
                        continue;
                    }
                    if !asked.iter().any(|k| k == key) {
                        if answer.is_object()
                            && offered.len() < crate::catalog::ask::MAX_ROUND_QUESTIONS
                        {
                            offered.insert(key.clone(), answer.clone());
                        }
                    } else if !answer.is_object() {
                        return Err(RpcError::invalid_params(format!(
                            "`inputResponses.{}` must be the client's result object",
                            crate::bounds::shown(key)
                        )));
                    } else {
                        answers.insert(key.clone(), answer.clone());
                    }
                }
            }
            Some(_) => {
                return Err(RpcError::invalid_params(
                    "`inputResponses` must be an object of the client's results by key",
                ));
            }
        }
        let mut round = Round::new(answers, offered);
        round.escalation = env.escalation.clone();
        Ok(Some(round))
    }

    /// Runs a handler in its context (with its round, in the 2026-07-28 era): how it ended and
    /// its context, or the answer to send at once (a refused `requestState`, the end of a
    /// round, a cancellation).
    #[allow(clippy::too_many_arguments)]
    async fn run_handler<T, F>(
        self: &Arc<Self>,
        id: &RequestId,
        meta: Option<Map<String, Value>>,
        env: RequestEnv,
        binding: Option<&str>,
        params: Option<&Map<String, Value>>,
        timeout: Option<Duration>,
        handler: impl FnOnce(Context) -> F,
    ) -> Result<(Invoked<T>, Context), Outcome>
    where
        F: Future<Output = T>,
    {
        let round = self
            .round(&env, binding, params)
            .map_err(|e| Some(Err(e)))?;
        let cancel = env.cancel.clone();
        let ctx = self.context(id, meta, env, round);
        let probe = ctx.clone();
        match invoke::run(handler(ctx), timeout, &cancel, probe.round()).await {
            Invoked::Cancelled => Err(None),
            Invoked::InputRequired => {
                let round = probe.round().expect("only rounds end with questions");
                let binding = binding.expect("only a request with a binding has rounds");
                Err(Some(Ok(self.input_required(round, binding))))
            }
            done => Ok((done, probe)),
        }
    }

    /// The result that ends a round: the questions without answers, and the sealed state.
    fn input_required(&self, round: &Round, binding: &str) -> Box<RawValue> {
        let (asked, answers) = round.finish();
        let sealed = state::seal(&self.state_key, binding, asked.keys(), &answers);
        raw(&json!({
            "resultType": "input_required",
            "inputRequests": asked,
            "requestState": sealed,
        }))
    }

    async fn call_tool(
        self: &Arc<Self>,
        id: &RequestId,
        params: Option<Value>,
        env: RequestEnv,
    ) -> Outcome {
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
        let snapshot = self.catalog.snapshot();
        let Some(tool) = snapshot.tool(&name) else {
            let shown = crate::bounds::shown(&name);
            return Some(Err(RpcError::invalid_params(format!(
                "unknown tool `{shown}`"
            ))
            .with_data(json!({ "name": shown.json() }))));
        };
        if let Some(e) = self.refuse_scopes(&env, &name, &tool.scopes) {
            return Some(Err(e));
        }
        if env.version().is_stateless()
            && tool.task != TaskSupport::Forbidden
            && !env.in_task
            && env.escalation.is_none()
        {
            if tasks::declared(env.peer.capabilities().as_deref()) {
                params.insert("name".into(), Value::String(name));
                return self.call_as_task(id, params, env).await;
            }
            if tool.task == TaskSupport::Required {
                return Some(Err(tasks::not_declared(&format!("tool `{name}`"))));
            }
        }
        // 2025-11-25's experimental tasks: the client asks for a task with `task`.
        if env.version().has_experimental_tasks() && !env.in_task {
            match (params.get("task"), tool.task) {
                (Some(_), TaskSupport::Forbidden) => {
                    return Some(Err(RpcError::invalid_params(format!(
                        "tool `{name}` does not run as a task; call it without `task`"
                    ))));
                }
                (Some(meta), _) => {
                    let ttl = meta
                        .get("ttl")
                        .and_then(Value::as_u64)
                        .map(|ms| Duration::from_millis(ms).min(tasks::MAX_REQUESTED_TTL));
                    params.insert("name".into(), Value::String(name));
                    return Some(self.start_legacy_task(id, params, env, ttl).await);
                }
                (None, TaskSupport::Required) => {
                    return Some(Err(RpcError::invalid_params(format!(
                        "tool `{name}` runs only as a task: call it with `task`"
                    ))));
                }
                (None, _) => {}
            }
        }
        let in_task = env.in_task;
        let escalation = env.escalation.clone();
        let args = match params.remove("arguments") {
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
        let version = env.version();
        let timeout = tool.timeout.or(env.timeout);
        let binding = self.binding(&env, "tools/call", &name, Some(&args));
        let run = self.run_handler(
            id,
            meta,
            env,
            binding.as_deref(),
            Some(&params),
            timeout,
            |ctx| tool.call(ctx, args),
        );
        let (invoked, probe) = match run.await {
            Ok(r) => r,
            Err(outcome) => return outcome,
        };
        let output = match invoked {
            Invoked::Cancelled | Invoked::InputRequired => unreachable!("answered by run_handler"),
            Invoked::TimedOut(t) => {
                crate::catalog::tool::ToolOutput::Result(CallToolResult::error(format!(
                    "tool `{name}` timed out after {} ms",
                    t.as_millis()
                )))
            }
            Invoked::Panicked(msg) => {
                tracing::error!(tool = %name, panic = %msg, "tool panicked");
                let msg = format!("tool `{name}` failed: it panicked ({msg})");
                // A task's panic is a failure of the task, not a result of the tool.
                if in_task || escalation.as_ref().is_some_and(|e| e.task().is_some()) {
                    return Some(Err(RpcError::new(
                        crate::protocol::code::INTERNAL_ERROR,
                        msg,
                    )));
                }
                crate::catalog::tool::ToolOutput::Result(CallToolResult::error(msg))
            }
            Invoked::Done(output) => output,
        };
        // A missing client capability the tool let through (`?`) is the protocol error; a tool
        // that handled it and answered otherwise keeps its answer.
        let failed = match &output {
            crate::catalog::tool::ToolOutput::Result(r) => r.is_error,
            _ => false,
        };
        if let Some(e) = probe.take_protocol_error()
            && failed
        {
            return Some(Err(e));
        }
        use crate::catalog::tool::ToolOutput;
        let result = match output {
            ToolOutput::Result(r) => shape_result(r, version),
            ToolOutput::Structured(value) => structured_result(tool, value, version),
            ToolOutput::InvalidArguments(msg) => {
                let msg =
                    crate::bounds::capped(format!("invalid arguments for tool `{name}`: {msg}"));
                if version.validation_is_tool_error() {
                    CallToolResult::error(msg)
                } else {
                    return Some(Err(RpcError::invalid_params(msg)));
                }
            }
        };
        Some(Ok(complete_result(version, &result, None)))
    }

    /// A `tools/call` of a tool that may run as a task, from a client that declared the
    /// extension. The call starts in this request: if it finishes at once, or ends an
    /// input-required round (questions before any other wait are rounds, 2026-07-28's usual
    /// way), it is answered directly. Once it waits on anything but the client it goes on as a
    /// task: the record is written first (a `tasks/get` right after the handle finds it), the
    /// call is moved to a task of its own, its later questions go to the task, and the request
    /// is answered with the task handle.
    async fn call_as_task(
        self: &Arc<Self>,
        id: &RequestId,
        params: Map<String, Value>,
        mut env: RequestEnv,
    ) -> Outcome {
        let escalation = Arc::new(crate::catalog::ask::Escalation::default());
        // The work's own cancellation: once a task, it outlives the request.
        let work = CancellationToken::new();
        env.escalation = Some(escalation.clone());
        env.cancel = work.clone();
        let owner = env.owner();
        let peer = Peer::new(
            env.version(),
            env.peer.capabilities().map(|c| (*c).clone()),
            None,
        );
        let mut call = self
            .clone()
            .call_boxed(id.clone(), Value::Object(params), env);
        let first = std::future::poll_fn(|cx| std::task::Poll::Ready(call.as_mut().poll(cx))).await;
        if let std::task::Poll::Ready(outcome) = first {
            return outcome;
        }
        let record = match self
            .tasks
            .create(owner, peer.clone(), work.clone(), None)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                work.cancel();
                return Some(Err(e));
            }
        };
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        escalation.escalate(crate::catalog::ask::TaskAsking {
            questions: peer.questions(),
            timeout: self.tasks.settings.input_timeout,
            tx,
        });
        tokio::spawn(self.clone().task_messages(record.id.clone(), rx));
        self.finish_when_done(record.id.clone(), call);
        let mut created = Map::new();
        created.insert("resultType".into(), json!("task"));
        created.extend(tasks::detailed(&record, self.tasks.settings.poll_interval));
        Some(Ok(raw(&Value::Object(created))))
    }

    /// A task-augmented `tools/call` of 2025-11-25: the task is created at once and the call
    /// runs detached. Questions to the client are not carried inside these tasks (the
    /// extension of 2026-07-28 does that).
    async fn start_legacy_task(
        self: &Arc<Self>,
        id: &RequestId,
        mut params: Map<String, Value>,
        env: RequestEnv,
        ttl: Option<Duration>,
    ) -> Result<Box<RawValue>, RpcError> {
        params.remove("task");
        let work = CancellationToken::new();
        let record = self
            .tasks
            .create(env.owner(), env.peer.clone(), work.clone(), ttl)
            .await?;
        // The task runs detached: nothing streamed, nothing asked.
        let profile = Profile {
            logging: false,
            streams: false,
            asking: AskVia::No(
                "this task cannot ask the client: use the tasks extension of 2026-07-28",
            ),
            transport: env.profile.transport,
        };
        let mut run = RequestEnv::new(env.http.clone(), env.peer.clone(), work, profile);
        run.timeout = env.timeout;
        run.principal = env.principal.clone();
        run.in_task = true;
        let call = self
            .clone()
            .call_boxed(id.clone(), Value::Object(params), run);
        self.finish_when_done(record.id.clone(), call);
        let task = tasks::legacy(&record, self.tasks.settings.poll_interval);
        Ok(raw(&json!({ "task": task })))
    }

    /// `tasks/get`, `tasks/result`, `tasks/list`, `tasks/cancel` of 2025-11-25, on the caller's
    /// own tasks.
    async fn legacy_task_method(
        &self,
        method: &str,
        params: Option<&Value>,
        env: &RequestEnv,
    ) -> Result<Box<RawValue>, RpcError> {
        let owner = env.owner();
        let poll = self.tasks.settings.poll_interval;
        if method == "tasks/list" {
            let records = self.tasks.list(owner.as_ref()).await?;
            let list: Vec<Value> = records
                .iter()
                .map(|r| Value::Object(tasks::legacy(r, poll)))
                .collect();
            return Ok(raw(&json!({ "tasks": list })));
        }
        let id = string_param(params, "taskId", method)?;
        match method {
            "tasks/get" => {
                let r = self.tasks.read(id, owner.as_ref()).await?;
                Ok(raw(&Value::Object(tasks::legacy(&r, poll))))
            }
            "tasks/cancel" => {
                self.tasks.cancel(id, owner.as_ref()).await?;
                let r = self.tasks.read(id, owner.as_ref()).await?;
                Ok(raw(&Value::Object(tasks::legacy(&r, poll))))
            }
            _ => {
                // `tasks/result` waits for the task to end, then answers as the call would have.
                let r = self.tasks.ended(id, owner.as_ref(), &env.cancel).await?;
                match r.status {
                    tasks::TaskStatus::Completed => {
                        let mut result = r.result.unwrap_or_else(|| json!({}));
                        if let Some(o) = result.as_object_mut() {
                            o.insert(
                                "_meta".into(),
                                json!({ "io.modelcontextprotocol/related-task": { "taskId": id } }),
                            );
                        }
                        Ok(raw(&result))
                    }
                    tasks::TaskStatus::Failed => Err(r
                        .error
                        .and_then(|e| serde_json::from_value(e).ok())
                        .unwrap_or_else(|| RpcError::new(code::INTERNAL_ERROR, "the task failed"))),
                    _ => Err(RpcError::new(
                        code::SERVER_ERROR,
                        format!("task `{id}` was cancelled"),
                    )),
                }
            }
        }
    }

    /// Runs a task's call to its end, detached, and records how it ended.
    fn finish_when_done(
        self: &Arc<Self>,
        task: String,
        call: futures_util::future::BoxFuture<'static, Outcome>,
    ) {
        let this = self.clone();
        tokio::spawn(async move {
            let outcome = call.await.map(|r| {
                r.and_then(|raw| {
                    serde_json::from_str(raw.get()).map_err(|e| {
                        RpcError::new(crate::protocol::code::INTERNAL_ERROR, e.to_string())
                    })
                })
            });
            this.tasks.finish(&task, outcome).await;
        });
    }

    /// A `tools/call`, boxed with its type written out, so that a call (which may go on as a
    /// task) and the task (which runs a call) do not make one infinite future.
    fn call_boxed(
        self: Arc<Self>,
        id: RequestId,
        params: Value,
        env: RequestEnv,
    ) -> futures_util::future::BoxFuture<'static, Outcome> {
        Box::pin(async move { self.call_tool(&id, Some(params), env).await })
    }

    /// What a task's tool sends while it runs: its questions become the task's
    /// `inputRequests` (status `input_required`), its progress messages the status message.
    async fn task_messages(
        self: Arc<Self>,
        task: String,
        mut rx: tokio::sync::mpsc::Receiver<Vec<u8>>,
    ) {
        while let Some(message) = rx.recv().await {
            let Ok(message) = serde_json::from_slice::<Value>(&message) else {
                continue;
            };
            let method = message.get("method").and_then(Value::as_str);
            match (message.get("id"), method) {
                (Some(key), Some(method)) => {
                    let key = key.as_str().map_or_else(|| key.to_string(), str::to_owned);
                    let request = json!({ "method": method, "params": message.get("params") });
                    self.tasks
                        .update(&task, |r| {
                            r.input_requests.insert(key, request);
                            r.status = tasks::TaskStatus::InputRequired;
                        })
                        .await;
                }
                (None, Some("notifications/progress")) => {
                    if let Some(m) = message["params"]["message"].as_str() {
                        let m = m.to_owned();
                        self.tasks
                            .update(&task, |r| r.status_message = Some(m))
                            .await;
                    }
                }
                _ => {}
            }
        }
    }

    /// `tasks/get`, `tasks/update`, `tasks/cancel`: for clients that declared the extension,
    /// on their own tasks only.
    async fn task_method(
        &self,
        method: &str,
        params: Option<&Value>,
        env: &RequestEnv,
    ) -> Result<Box<RawValue>, RpcError> {
        if !tasks::declared(env.peer.capabilities().as_deref()) {
            return Err(tasks::not_declared(&format!("`{method}`")));
        }
        let id = string_param(params, "taskId", method)?;
        let owner = env.owner();
        match method {
            "tasks/get" => self.tasks.get(id, owner.as_ref()).await.map(|v| raw(&v)),
            "tasks/cancel" => {
                self.tasks.cancel(id, owner.as_ref()).await?;
                Ok(raw(&json!({ "resultType": "complete" })))
            }
            _ => {
                let Some(responses) = params
                    .and_then(|p| p.get("inputResponses"))
                    .and_then(Value::as_object)
                else {
                    return Err(RpcError::invalid_params(
                        "`tasks/update` needs `params.inputResponses`, the answers by key (an object)",
                    ));
                };
                self.tasks.answer(id, owner.as_ref(), responses).await?;
                Ok(raw(&json!({ "resultType": "complete" })))
            }
        }
    }

    async fn read_resource(
        self: &Arc<Self>,
        id: &RequestId,
        params: Option<Value>,
        env: RequestEnv,
    ) -> Outcome {
        let version = env.version();
        let uri = match string_param(params.as_ref(), "uri", "resources/read") {
            Ok(u) => u.to_owned(),
            Err(e) => return Some(Err(e)),
        };
        let snapshot = self.catalog.snapshot();
        let Some((resource, found)) = snapshot.resource(&uri) else {
            return Some(Err(McpError::not_found(&uri).to_rpc(version)));
        };
        if let Some(e) = self.refuse_scopes(&env, &uri, &resource.scopes) {
            return Some(Err(e));
        }
        let vars = match found {
            ResourceMatch::Exact => Vec::new(),
            ResourceMatch::Template(Ok(vars)) => vars,
            ResourceMatch::Template(Err(problem)) => {
                let shown = crate::bounds::shown(&uri);
                return Some(Err(RpcError::invalid_params(format!(
                    "invalid resource URI `{shown}`: {problem}"
                ))
                .with_data(json!({ "uri": shown.json() }))));
            }
        };
        let meta = params
            .as_ref()
            .and_then(|p| p.get("_meta"))
            .and_then(Value::as_object)
            .cloned();
        let timeout = env.timeout;
        let req = ReadRequest {
            uri: uri.clone(),
            vars,
            mime_type: resource.mime_type.clone(),
        };
        let binding = self.binding(&env, "resources/read", &uri, None);
        let p = params.as_ref().and_then(Value::as_object);
        let run = self.run_handler(id, meta, env, binding.as_deref(), p, timeout, |ctx| {
            resource.read(ctx, req)
        });
        let contents = match run.await {
            Err(outcome) => return outcome,
            Ok((invoked, _)) => invoked,
        };
        let contents = match contents {
            Invoked::Done(Ok(c)) => c,
            Invoked::Done(Err(e)) => return Some(Err(e.to_rpc(version))),
            other => return Some(Err(other.failure(&format!("resource `{uri}`")))),
        };
        let contents: Vec<Value> = contents
            .into_iter()
            .map(|c| serde_json::to_value(c).expect("contents serialize"))
            .collect();
        let extra = version.is_stateless().then(|| {
            let scope = if self.authenticated {
                "private"
            } else {
                "public"
            };
            json!({ "ttlMs": 0, "cacheScope": scope })
        });
        Some(Ok(complete_result(
            version,
            &json!({ "contents": contents }),
            extra.as_ref(),
        )))
    }

    async fn get_prompt(
        self: &Arc<Self>,
        id: &RequestId,
        params: Option<Value>,
        env: RequestEnv,
    ) -> Outcome {
        let version = env.version();
        let p = params.as_ref();
        let name = match string_param(p, "name", "prompts/get") {
            Ok(n) => n.to_owned(),
            Err(e) => return Some(Err(e)),
        };
        let snapshot = self.catalog.snapshot();
        let Some(prompt) = snapshot.prompt(&name) else {
            let shown = crate::bounds::shown(&name);
            return Some(Err(RpcError::invalid_params(format!(
                "unknown prompt `{shown}`"
            ))
            .with_data(json!({ "name": shown.json() }))));
        };
        if let Some(e) = self.refuse_scopes(&env, &name, &prompt.scopes) {
            return Some(Err(e));
        }
        let args = match string_arguments(
            p.and_then(|p| p.get("arguments")),
            &format!("prompt `{name}`"),
        ) {
            Ok(a) => a,
            Err(e) => return Some(Err(e)),
        };
        if let Some(missing) = prompt
            .arguments
            .iter()
            .find(|a| a.required && !args.iter().any(|(k, _)| *k == a.name))
        {
            return Some(Err(RpcError::invalid_params(format!(
                "prompt `{name}` needs the argument `{}`",
                missing.name
            ))
            .with_data(json!({ "argument": missing.name }))));
        }
        let meta = p
            .and_then(|p| p.get("_meta"))
            .and_then(Value::as_object)
            .cloned();
        let timeout = env.timeout;
        let p = p.and_then(Value::as_object);
        let arguments = p
            .and_then(|p| p.get("arguments"))
            .and_then(Value::as_object);
        let binding = self.binding(&env, "prompts/get", &name, arguments);
        let run = self.run_handler(id, meta, env, binding.as_deref(), p, timeout, |ctx| {
            prompt.get(ctx, args)
        });
        let invoked = match run.await {
            Err(outcome) => return outcome,
            Ok((invoked, _)) => invoked,
        };
        let mut result = match invoked {
            Invoked::Done(Ok(r)) => r,
            Invoked::Done(Err(e)) => {
                let mut e = e.to_rpc(version);
                if e.code == code::INVALID_PARAMS {
                    e.message = format!("prompt `{name}`: {}", e.message);
                }
                return Some(Err(e));
            }
            other => return Some(Err(other.failure(&format!("prompt `{name}`")))),
        };
        if result.description.is_none() {
            result.description.clone_from(&prompt.description);
        }
        for m in &mut result.messages {
            if let std::borrow::Cow::Owned(c) = m.content.for_version(version) {
                m.content = c;
            }
        }
        if !version.has_structured_output() {
            result.meta = None;
        }
        Some(Ok(complete_result(version, &result, None)))
    }

    async fn complete(
        self: &Arc<Self>,
        id: &RequestId,
        params: Option<Value>,
        env: RequestEnv,
    ) -> Outcome {
        let version = env.version();
        let p = params.as_ref();
        let bad = |m: &str| Some(Err(RpcError::invalid_params(m.to_owned())));
        let Some(reference) = p.and_then(|p| p.get("ref")) else {
            return bad("`completion/complete` needs `params.ref`");
        };
        let Some(argument) = p.and_then(|p| p.get("argument")) else {
            return bad("`completion/complete` needs `params.argument` with `name` and `value`");
        };
        let (Some(arg_name), Some(value)) = (
            argument.get("name").and_then(Value::as_str),
            argument.get("value").and_then(Value::as_str),
        ) else {
            return bad("`params.argument` needs `name` and `value` (strings)");
        };
        let context = match string_arguments(
            p.and_then(|p| p.get("context"))
                .and_then(|c| c.get("arguments")),
            "completion context",
        ) {
            Ok(a) => a,
            Err(e) => return Some(Err(e)),
        };
        let snapshot = self.catalog.snapshot();
        let (handler, scopes, what) = match reference.get("type").and_then(Value::as_str) {
            Some("ref/prompt") => {
                let Some(name) = reference.get("name").and_then(Value::as_str) else {
                    return bad("a `ref/prompt` reference needs `name`");
                };
                let Some(prompt) = snapshot.prompt(name) else {
                    return Some(Err(RpcError::invalid_params(format!(
                        "unknown prompt `{}`",
                        crate::bounds::shown(name)
                    ))));
                };
                if !prompt.arguments.iter().any(|a| a.name == arg_name) {
                    return Some(Err(RpcError::invalid_params(format!(
                        "prompt `{name}` has no argument `{}`",
                        crate::bounds::shown(arg_name)
                    ))));
                }
                (prompt.completions.get(arg_name), &prompt.scopes, name)
            }
            Some("ref/resource") => {
                let Some(uri) = reference.get("uri").and_then(Value::as_str) else {
                    return bad("a `ref/resource` reference needs `uri`");
                };
                let Some(template) = snapshot.template(uri) else {
                    return Some(Err(RpcError::invalid_params(format!(
                        "unknown resource template `{}`",
                        crate::bounds::shown(uri)
                    ))));
                };
                (template.completions.get(arg_name), &template.scopes, uri)
            }
            _ => return bad("`params.ref.type` must be `ref/prompt` or `ref/resource`"),
        };
        if let Some(e) = self.refuse_scopes(&env, what, scopes) {
            return Some(Err(e));
        }
        let completion = match handler {
            None => crate::Completion::default(),
            Some(handler) => {
                let req = CompletionRequest {
                    argument: arg_name.to_owned(),
                    value: value.to_owned(),
                    arguments: context.into_iter().collect(),
                };
                let meta = p
                    .and_then(|p| p.get("_meta"))
                    .and_then(Value::as_object)
                    .cloned();
                let cancel = env.cancel.clone();
                let timeout = env.timeout;
                let ctx = self.context(id, meta, env, None);
                match invoke::run(handler.call(ctx, req), timeout, &cancel, None).await {
                    Invoked::Cancelled => return None,
                    Invoked::Done(Ok(c)) => c.bounded(),
                    Invoked::Done(Err(e)) => return Some(Err(e.to_rpc(version))),
                    other => {
                        return Some(Err(other.failure(&format!("completion of `{arg_name}`"))));
                    }
                }
            }
        };
        Some(Ok(complete_result(
            version,
            &json!({ "completion": completion }),
            None,
        )))
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

/// `logging/setLevel`: records the level on the peer.
fn set_level(params: Option<&Value>, env: &RequestEnv) -> Result<Value, RpcError> {
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
    env.peer.set_log_level(level);
    Ok(json!({}))
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

fn structured_result(tool: &crate::Tool, value: Value, version: ProtocolVersion) -> CallToolResult {
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
