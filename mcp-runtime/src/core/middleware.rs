//! MCP middleware: tower [`Layer`](tower::Layer)s over the typed request every transport hands
//! the core ([`McpRequest`]) and the typed outcome it gets back ([`McpResponse`]).
//!
//! Every request of every transport (Streamable HTTP, `Transport::Http`, the legacy SSE
//! endpoints, stdio, the in-process client) passes through a server's layers once, after its
//! transport admitted it (origin, authentication, session) and before the method table. A
//! server with no layers calls the method table directly: it pays nothing for the feature.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tower::{Layer, Service, ServiceExt};

use super::{Dispatcher, Outcome, RequestEnv};
use crate::protocol::{ProtocolVersion, RequestId, RpcError};

/// The service a layer wraps: the rest of the stack, down to the method table. A tower
/// [`Service`] that is always ready; cloning it is an `Arc` clone, and [`McpService::answer`]
/// answers a request without `poll_ready`, a clone or a `Oneshot`, which is how the layers of
/// this crate and [`crate::middleware::Next`] call it.
#[derive(Clone)]
pub struct McpService(Arc<dyn Answer>);

/// What an [`McpService`] erases: a shared service answering each request with one boxed
/// future.
pub(crate) trait Answer: Send + Sync + 'static {
    fn answer(&self, req: McpRequest) -> BoxFuture<'static, McpResponse>;
}

/// Any tower service answering MCP requests (a layer's), as an [`Answer`]: each request gets a
/// clone of it, made ready, then called, as tower's `oneshot` does.
struct Tower<S>(S);

impl<S> Answer for Tower<S>
where
    S: Service<McpRequest, Response = McpResponse, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    fn answer(&self, req: McpRequest) -> BoxFuture<'static, McpResponse> {
        let service = self.0.clone();
        Box::pin(async move {
            match service.oneshot(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            }
        })
    }
}

impl McpService {
    /// A tower service as the rest of a stack (an `McpService` stays itself).
    pub fn new<S>(service: S) -> Self
    where
        S: Service<McpRequest, Response = McpResponse, Error = Infallible>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        if let Some(itself) = (&service as &dyn std::any::Any).downcast_ref::<Self>() {
            return itself.clone();
        }
        Self(Arc::new(Tower(service)))
    }

    /// A service answering as `answer` does: the layers of this crate, without a tower
    /// `Service` to clone, make ready and call per request.
    pub(crate) fn from_answer(answer: impl Answer) -> Self {
        Self(Arc::new(answer))
    }

    /// Answers `req` (the service is always ready).
    pub fn answer(&self, req: McpRequest) -> BoxFuture<'static, McpResponse> {
        self.0.answer(req)
    }
}

impl std::fmt::Debug for McpService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("McpService")
    }
}

impl Service<McpRequest> for McpService {
    type Response = McpResponse;
    type Error = Infallible;
    type Future = futures_util::future::Map<
        BoxFuture<'static, McpResponse>,
        fn(McpResponse) -> Result<McpResponse, Infallible>,
    >;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: McpRequest) -> Self::Future {
        use futures_util::FutureExt as _;
        self.0
            .answer(req)
            .map(Ok as fn(McpResponse) -> Result<McpResponse, Infallible>)
    }
}

/// What MCP middleware is: a tower [`Layer`] over [`McpService`] whose service answers every
/// request ([`McpResponse`], error `Infallible`) and can be shared across threads. Every layer
/// of [`crate::middleware`] is one; any type with these bounds is one (no impl to write).
pub trait McpLayer: Layer<McpService, Service = Self::Layered> + Send + Sync + 'static {
    /// The service the layer makes.
    type Layered: Service<
            McpRequest,
            Response = McpResponse,
            Error = Infallible,
            Future = Self::LayeredFuture,
        > + Clone
        + Send
        + Sync
        + 'static;
    /// Its future.
    type LayeredFuture: std::future::Future<Output = Result<McpResponse, Infallible>>
        + Send
        + 'static;
}

impl<L> McpLayer for L
where
    L: Layer<McpService> + Send + Sync + 'static,
    L::Service: Service<McpRequest, Response = McpResponse, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    <L::Service as Service<McpRequest>>::Future: Send + 'static,
{
    type Layered = L::Service;
    type LayeredFuture = <L::Service as Service<McpRequest>>::Future;
}

/// One request, as the core receives it from a transport: its method, id and params, and who
/// sent it (the principal, the session, the HTTP request's headers and the client's address
/// where there are some).
pub struct McpRequest {
    core: Arc<Dispatcher>,
    id: RequestId,
    method: String,
    params: Option<Value>,
    env: RequestEnv,
}

impl std::fmt::Debug for McpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the params: they may hold what the app does not log.
        f.debug_struct("McpRequest")
            .field("method", &self.method)
            .field("id", &self.id)
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}

impl McpRequest {
    /// The JSON-RPC method (`tools/call`, `resources/read`, `tools/list`, …).
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The JSON-RPC id.
    pub fn id(&self) -> &RequestId {
        &self.id
    }

    /// What the request is about: the tool of a `tools/call`, the prompt of a `prompts/get`,
    /// the URI of a `resources/read`, `resources/subscribe` or `resources/unsubscribe`.
    pub fn name(&self) -> Option<&str> {
        let key = match self.method.as_str() {
            "tools/call" | "prompts/get" => "name",
            "resources/read" | "resources/subscribe" | "resources/unsubscribe" => "uri",
            _ => return None,
        };
        self.params.as_ref()?.get(key)?.as_str()
    }

    /// The tool, prompt or resource the request names, as the server has it: the tool's or
    /// prompt's name, the resource's URI or the template it matched; `None` when the server
    /// has no such item (or the request names none).
    pub fn item_name(&self) -> Option<String> {
        let name = self.name()?;
        let snapshot = self.core.catalog.peek();
        match self.method.as_str() {
            "tools/call" => snapshot.tool(name).map(|t| t.name.clone()),
            "prompts/get" => snapshot.prompt(name).map(|p| p.name().to_owned()),
            _ => snapshot
                .resource(name)
                .map(|(r, _)| r.address_str().to_owned()),
        }
    }

    /// The arguments of a `tools/call` or `prompts/get`.
    pub fn arguments(&self) -> Option<&Map<String, Value>> {
        match self.method.as_str() {
            "tools/call" | "prompts/get" => self.params.as_ref()?.get("arguments")?.as_object(),
            _ => None,
        }
    }

    /// The request's params, as the client sent them.
    pub fn params(&self) -> Option<&Value> {
        self.params.as_ref()
    }

    /// The request's params, for a layer that rewrites them (the layers below and the
    /// handler see the change).
    pub fn params_mut(&mut self) -> &mut Option<Value> {
        &mut self.params
    }

    /// The authenticated caller, if the mount authenticates.
    pub fn principal(&self) -> Option<&crate::call::context::Principal> {
        self.env.caller()
    }

    /// The session of a handshake-era request that has one.
    pub fn session_id(&self) -> Option<&str> {
        self.env.peer.session_id()
    }

    /// The HTTP request's headers (none over stdio or in process).
    pub fn headers(&self) -> Option<&http::HeaderMap> {
        self.env.http.as_ref().map(|p| &p.headers)
    }

    /// The client's address, when the app serves with `ConnectInfo` (as `mcp_runtime::serve`
    /// does).
    pub fn client_addr(&self) -> Option<SocketAddr> {
        self.env
            .http
            .as_ref()?
            .extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|c| c.0)
    }

    /// The protocol revision the request speaks.
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.env.version()
    }

    /// How the request arrived: `tcp` (HTTP), `pipe` (stdio) or `inproc`.
    pub fn transport(&self) -> &'static str {
        self.env.profile.transport
    }

    /// The name of the server the request is for.
    pub fn server_name(&self) -> &str {
        &self.core.info.name
    }

    /// Whether this is a call of the tool search's call tool
    /// ([`ToolSearch`](crate::catalog::ToolSearch)), which makes the call it names as a
    /// request of its own, through these layers again. The policies here let it pass and count
    /// that request (so that a call is counted once, under the tool it runs); a layer of the
    /// app's sees both.
    pub fn relays_a_call(&self) -> bool {
        self.method == "tools/call"
            && self.name().is_some_and(|name| {
                self.core
                    .catalog
                    .peek()
                    .tool(name)
                    .is_some_and(|t| t.meta_tool == Some(crate::catalog::search::MetaTool::Call))
            })
    }

    /// Whether the method table would let this caller run the tool a `tools/call` names: the
    /// server has it, the caller may see it, and holds its scopes. (A layer answering in the
    /// tool's place, as the cache does, asks first.)
    pub(crate) fn may_run_tool(&self) -> bool {
        let Some(name) = self.name().filter(|_| self.method == "tools/call") else {
            return false;
        };
        self.core
            .callable_tool(&self.core.catalog.peek(), &self.env, name)
            .is_ok()
    }

    /// The annotations of the tool a `tools/call` names, if this server has it.
    pub fn tool_annotations(&self) -> Option<crate::catalog::ToolAnnotations> {
        if self.method != "tools/call" {
            return None;
        }
        let name = self.name()?;
        Some(self.core.catalog.peek().tool(name)?.annotations.clone())
    }

    /// Whom the request belongs to, as sessions and tasks are kept: the principal's subject
    /// within its issuer; without one, the handshake-era session (`session:<id>`); else none.
    pub fn owner(&self) -> Option<String> {
        self.env.owner()
    }

    /// Who sent the request and to which server, as shared handles that outlive it.
    pub(crate) fn sender(&self) -> Sender {
        Sender {
            core: self.core.clone(),
            peer: self.env.peer.clone(),
            principal: self.env.principal.clone(),
            http: self.env.http.clone(),
        }
    }
}

/// Who sent a request and to which server, kept past the request as shared handles (nothing
/// copied): what is told of a request after its answer.
pub(crate) struct Sender {
    core: Arc<Dispatcher>,
    peer: Arc<super::peer::Peer>,
    principal: Option<Arc<crate::call::context::Principal>>,
    http: Option<Arc<http::request::Parts>>,
}

impl Sender {
    /// The name of the server.
    pub(crate) fn server_name(&self) -> &str {
        &self.core.info.name
    }

    /// The authenticated caller's subject, if any.
    pub(crate) fn subject(&self) -> Option<&str> {
        super::caller(self.principal.as_ref(), self.http.as_ref()).map(|p| p.subject.as_str())
    }

    /// The handshake-era session, if any.
    pub(crate) fn session_id(&self) -> Option<&str> {
        self.peer.session_id()
    }
}

/// How the core answered a request: a result, a JSON-RPC error, or nothing (the request was
/// cancelled, or the call went on elsewhere).
#[derive(Debug)]
pub struct McpResponse(pub(crate) Outcome);

impl McpResponse {
    /// An error answer: what a layer returns to refuse a request (the layers below and the
    /// handler do not run).
    pub fn error(error: RpcError) -> Self {
        Self(Outcome::Error(error))
    }

    /// A result that ends the request, already serialized (as a cache keeps one).
    pub fn raw_result(result: Box<RawValue>) -> Self {
        Self(Outcome::Result(result))
    }

    /// A result answer. Its kind is read from the value: `isError: true` is a tool's failure,
    /// `resultType` `input_required` or `task` a call that has not ended.
    pub fn result(result: &Value) -> Self {
        let raw = super::raw(result);
        Self(match result.get("resultType").and_then(Value::as_str) {
            Some("input_required") => Outcome::InputRequired(raw),
            Some("task") => Outcome::Task(raw, None),
            _ if result.get("isError") == Some(&Value::Bool(true)) => Outcome::ToolError(raw),
            _ => Outcome::Result(raw),
        })
    }

    /// The result, as JSON text, whatever its kind.
    pub fn as_result(&self) -> Option<&RawValue> {
        self.0.result()
    }

    /// The JSON-RPC error.
    pub fn as_error(&self) -> Option<&RpcError> {
        match &self.0 {
            Outcome::Error(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the request was cancelled (nothing is sent).
    pub fn is_cancelled(&self) -> bool {
        matches!(self.0, Outcome::Cancelled)
    }

    /// Whether a `tools/call` result reports the tool's failure (`isError: true`).
    pub fn is_tool_error(&self) -> bool {
        matches!(self.0, Outcome::ToolError(_))
    }

    /// Whether the result is a 2026-07-28 input-required round (the client answers and calls
    /// again) or the handle of a task the call went on as: the call has not ended.
    pub fn is_pending(&self) -> bool {
        matches!(self.0, Outcome::InputRequired(_) | Outcome::Task(..))
    }

    /// When the call went on as a task: a future that resolves once that task has ended
    /// (completed, failed or cancelled). A layer holding something for the call's duration (a
    /// concurrency permit) keeps it until then.
    pub fn task_ended(&self) -> Option<impl Future<Output = ()> + Send + 'static> {
        match &self.0 {
            Outcome::Task(_, Some(ended)) => Some(ended.clone().cancelled_owned()),
            _ => None,
        }
    }

    /// What the outcome was, in one word: `ok`, `tool_error`, `pending`, `cancelled`, or the
    /// JSON-RPC error code.
    pub fn kind(&self) -> std::borrow::Cow<'static, str> {
        match &self.0 {
            Outcome::Cancelled => "cancelled".into(),
            Outcome::Error(e) => e.code.to_string().into(),
            Outcome::InputRequired(_) | Outcome::Task(..) => "pending".into(),
            Outcome::ToolError(_) => "tool_error".into(),
            Outcome::Result(_) => "ok".into(),
        }
    }
}

/// The bottom of a stack of layers: the method table. Under the server's layers it looks for
/// the called tool's own (`tool_layers`); under a tool's own it is the method table itself.
#[derive(Clone, Copy)]
struct MethodTable {
    tool_layers: bool,
}

impl Answer for MethodTable {
    fn answer(&self, req: McpRequest) -> BoxFuture<'static, McpResponse> {
        let tool_layers = self.tool_layers;
        Box::pin(async move {
            let McpRequest {
                core,
                id,
                method,
                params,
                env,
            } = req;
            McpResponse(if tool_layers {
                core.to_method(&id, &method, params, env).await
            } else {
                core.dispatch(&id, &method, params, env).await
            })
        })
    }
}

/// Which requests a layer applies to ([`crate::McpServer::layer_on`]).
#[derive(Clone)]
pub enum Select {
    /// Calls of these tools.
    Tools(Arc<[String]>),
    /// Requests of these methods.
    Methods(Arc<[String]>),
    /// Requests the function accepts.
    Custom(Arc<dyn Fn(&McpRequest) -> bool + Send + Sync>),
}

impl std::fmt::Debug for Select {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tools(t) => f.debug_tuple("Tools").field(t).finish(),
            Self::Methods(m) => f.debug_tuple("Methods").field(m).finish(),
            Self::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl Select {
    /// Calls of the tool `name`.
    pub fn tool(name: &str) -> Self {
        Self::Tools(Arc::from([name.to_owned()]))
    }

    /// Calls of any of these tools.
    pub fn tools<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Self {
        Self::Tools(names.into_iter().map(|n| n.as_ref().to_owned()).collect())
    }

    /// Every `tools/call`.
    pub fn tool_calls() -> Self {
        Self::method("tools/call")
    }

    /// Requests of the method `method`.
    pub fn method(method: &str) -> Self {
        Self::Methods(Arc::from([method.to_owned()]))
    }

    /// Requests the function accepts.
    pub fn custom(f: impl Fn(&McpRequest) -> bool + Send + Sync + 'static) -> Self {
        Self::Custom(Arc::new(f))
    }

    /// Whether `req` is selected.
    pub fn matches(&self, req: &McpRequest) -> bool {
        match self {
            Self::Tools(names) => {
                req.method == "tools/call"
                    && req.name().is_some_and(|n| names.iter().any(|t| t == n))
            }
            Self::Methods(methods) => methods.contains(&req.method),
            Self::Custom(f) => f(req),
        }
    }
}

/// A layer applied only to the requests `select` accepts; the others skip it.
#[derive(Clone)]
struct Selected {
    select: Select,
    layered: McpService,
    plain: McpService,
}

impl Answer for Selected {
    fn answer(&self, req: McpRequest) -> BoxFuture<'static, McpResponse> {
        if self.select.matches(&req) {
            self.layered.answer(req)
        } else {
            self.plain.answer(req)
        }
    }
}

/// A layer, type-erased, with the requests it applies to.
#[derive(Clone)]
pub(crate) struct Stacked {
    wrap: Arc<dyn Fn(McpService) -> McpService + Send + Sync>,
    select: Option<Select>,
}

impl Stacked {
    pub(crate) fn new<L>(layer: L, select: Option<Select>) -> Self
    where
        L: McpLayer,
    {
        Self {
            wrap: Arc::new(move |inner| McpService::new(layer.layer(inner))),
            select,
        }
    }
}

/// The service of a server's layers, the first added outermost; `None` without layers.
pub(crate) fn stack(layers: &[Stacked]) -> Option<McpService> {
    if layers.is_empty() {
        return None;
    }
    Some(stack_on(
        layers,
        McpService(Arc::new(MethodTable { tool_layers: true })),
    ))
}

/// `layers` around `service`, the first outermost.
fn stack_on(layers: &[Stacked], mut service: McpService) -> McpService {
    for l in layers.iter().rev() {
        let layered = (l.wrap)(service.clone());
        service = match &l.select {
            None => layered,
            Some(select) => McpService(Arc::new(Selected {
                select: select.clone(),
                layered,
                plain: service,
            })),
        };
    }
    service
}

impl Dispatcher {
    /// A request through the server's layers, then the method table.
    pub(crate) async fn through_layers(
        self: &Arc<Self>,
        id: &RequestId,
        method: &str,
        params: Option<Value>,
        env: RequestEnv,
    ) -> Outcome {
        let Some(service) = &self.layers else {
            return self.to_method(id, method, params, env).await;
        };
        self.through(service, id, method, params, env).await
    }

    /// A request through `service`, a stack of layers.
    pub(super) async fn through(
        self: &Arc<Self>,
        service: &McpService,
        id: &RequestId,
        method: &str,
        params: Option<Value>,
        env: RequestEnv,
    ) -> Outcome {
        let req = McpRequest {
            core: self.clone(),
            id: id.clone(),
            method: method.to_owned(),
            params,
            env,
        };
        // A layer that panics fails its request, not the connection it came on (the tools'
        // panics are caught below, where they are told to the client as the tool's failure).
        match std::panic::AssertUnwindSafe(service.answer(req))
            .catch_unwind()
            .await
        {
            Ok(response) => response.0,
            Err(payload) => {
                let panic = super::invoke::panic_message(&*payload);
                tracing::error!(method, panic = %crate::bounds::shown(&panic), "a middleware layer panicked");
                Outcome::Error(RpcError::new(
                    crate::protocol::code::INTERNAL_ERROR,
                    format!("`{method}` failed in a middleware layer of the server (it panicked)"),
                ))
            }
        }
    }
}

impl Dispatcher {
    /// The method table, a `tools/call` through the called tool's own layers (inside the
    /// server's) when it has some. Without tool layers anywhere in the catalog: one check.
    async fn to_method(
        self: &Arc<Self>,
        id: &RequestId,
        method: &str,
        params: Option<Value>,
        env: RequestEnv,
    ) -> Outcome {
        if method == "tools/call"
            && self.catalog.peek().has_tool_layers()
            && let Some(service) = self.tool_stack(params.as_ref())
        {
            return self.through(&service, id, method, params, env).await;
        }
        self.dispatch(id, method, params, env).await
    }

    /// The layers of the tool a `tools/call` names, built on its first call; `None` when it
    /// has none (or there is no such tool: the method table answers that).
    fn tool_stack(&self, params: Option<&Value>) -> Option<McpService> {
        let name = params?.get("name")?.as_str()?;
        let snapshot = self.catalog.snapshot();
        let tool = snapshot.tool(name)?;
        if tool.layers.is_empty() {
            return None;
        }
        let built = tool.stack.get_or_init(|| {
            let layers: Vec<Stacked> = tool
                .layers
                .iter()
                .filter_map(|l| l.0.downcast_ref::<Stacked>().cloned())
                .collect();
            let service = stack_on(
                &layers,
                McpService(Arc::new(MethodTable { tool_layers: false })),
            );
            crate::catalog::tool::ToolLayer(Arc::new(service))
        });
        built.0.downcast_ref::<McpService>().cloned()
    }
}

impl crate::catalog::Tool {
    /// Adds MCP middleware of this tool's calls (as [`McpServer::layer_on`] with
    /// [`Select::tool`] for this tool; `#[tool(layer = f)]` does the same, `f` returning the
    /// layer). A call of the tool passes them inside the server's own layers, whether the tool
    /// was there when the server was built or added later ([`crate::Server::change`]).
    ///
    /// [`McpServer::layer_on`]: crate::McpServer::layer_on
    /// [`Select::tool`]: crate::middleware::Select::tool
    #[must_use]
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: McpLayer,
    {
        self.layers.push(tool_layer(layer));
        self.stack = std::sync::OnceLock::new();
        self
    }
}

/// A layer as a tool keeps it (opaque to the catalog).
pub fn tool_layer<L>(layer: L) -> crate::catalog::tool::ToolLayer
where
    L: McpLayer,
{
    crate::catalog::tool::ToolLayer(Arc::new(Stacked::new(layer, None)))
}
