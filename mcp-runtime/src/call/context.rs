//! The [`Context`] a tool can take: the HTTP request it came from, shared state, the caller,
//! notifications to the client, and cancellation.

use crate::protocol::{ProtocolVersion, RequestId};
use http::{Extensions, HeaderMap, Method, Uri};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::any::{Any, TypeId};
use std::sync::{Arc, LazyLock};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The request headers that carry credentials; [`Context::headers`] leaves them out.
const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "proxy-authorization", "cookie"];

static EMPTY_HEADERS: LazyLock<HeaderMap> = LazyLock::new(HeaderMap::new);

/// The authenticated caller of a request.
///
/// Auth layers (or the app's own middleware) put it in the request extensions;
/// [`Context::principal`] reads it from there.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Principal {
    /// Who the caller is: a token's `sub`, or the owner of an API key. It must be a stable id
    /// that no other caller has (a user id, never a display name): sessions and tasks belong
    /// to the subject (within its issuer), so two callers with one subject share them.
    pub subject: String,
    /// The scopes the caller holds.
    pub scopes: Vec<String>,
    /// Other claims (a JWT's claims, or facts the app attaches).
    pub claims: Map<String, Value>,
}

impl Principal {
    /// A caller known by its subject, with no scopes and no other claims.
    ///
    /// ```
    /// let alice = mcp_runtime::auth::Principal::new("user-42");
    /// assert_eq!(alice.subject, "user-42");
    /// ```
    pub fn new(subject: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            ..Self::default()
        }
    }

    /// Whom what the caller creates (a session, a task) belongs to: the subject within its
    /// issuer, so that only the same caller may use it.
    pub fn owner_key(&self) -> String {
        let issuer = self
            .claims
            .get("iss")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        format!("{issuer}\u{1f}{}", self.subject)
    }
}

/// Log levels of `notifications/message` (syslog severities), least severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum LogLevel {
    Debug,
    Info,
    Notice,
    Warning,
    Error,
    Critical,
    Alert,
    Emergency,
}

/// Where a request's notifications go: the stream of that request, when the transport has one.
#[derive(Clone)]
pub(crate) struct Notifier {
    pub(crate) tx: Outbox,
    /// The minimum level the client asked for; `None` means no log messages.
    pub(crate) log_level: Option<LogLevel>,
    /// Whether the stream can be closed and resumed (a session's stream in the handshake era):
    /// then [`Context::close_stream`] may end the response while the call goes on.
    pub(crate) resumable: bool,
}

/// The sending end of a request's notification channel.
#[derive(Clone)]
pub(crate) enum Outbox {
    /// A channel made up front.
    Open(mpsc::Sender<Vec<u8>>),
    /// A channel made by the first message: most calls send none, and a channel per request
    /// (two allocations, their drop) is a measurable part of a short call.
    Lazy(Arc<LazyOutbox>),
}

impl Outbox {
    /// The sender, making the channel if it is lazy and not made yet.
    pub(crate) fn sender(&self) -> &mpsc::Sender<Vec<u8>> {
        match self {
            Self::Open(tx) => tx,
            Self::Lazy(lazy) => lazy.sender(),
        }
    }
}

/// How many notifications a request's channel holds before a sending tool waits.
pub(crate) const NOTIFICATION_BUFFER: usize = 64;

/// A notification channel made on first use; see [`Outbox::Lazy`].
#[derive(Default)]
pub(crate) struct LazyOutbox {
    tx: std::sync::OnceLock<mpsc::Sender<Vec<u8>>>,
    rx: std::sync::Mutex<Option<mpsc::Receiver<Vec<u8>>>>,
    opened: tokio::sync::Notify,
}

impl LazyOutbox {
    fn sender(&self) -> &mpsc::Sender<Vec<u8>> {
        self.tx.get_or_init(|| {
            let (tx, rx) = mpsc::channel(NOTIFICATION_BUFFER);
            *self.rx.lock().unwrap_or_else(|e| e.into_inner()) = Some(rx);
            self.opened.notify_one();
            tx
        })
    }

    /// The receiving end, making the channel if no message made it yet (taken once).
    pub(crate) fn receiver(&self) -> Option<mpsc::Receiver<Vec<u8>>> {
        self.sender();
        self.take_receiver()
    }

    /// Resolves once the channel is made (at once if it already is).
    pub(crate) async fn opened(&self) {
        if self.tx.get().is_none() {
            self.opened.notified().await;
        }
    }

    /// The receiving end, once the channel is made (taken once).
    pub(crate) fn take_receiver(&self) -> Option<mpsc::Receiver<Vec<u8>>> {
        self.rx.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// What [`Context::close_stream`] sends on the notification channel: no message is empty.
pub(crate) const CLOSE_STREAM: Vec<u8> = Vec::new();

/// What a handler's [`Context`] needs of the server that runs it: its shared state and its name.
/// The core's dispatcher is the one host; the catalog knows it only through this interface.
pub(crate) trait Host: Send + Sync + 'static {
    /// The shared state of one type.
    fn state(&self, type_id: TypeId) -> Option<Arc<dyn Any + Send + Sync>>;
    /// The server's name.
    fn name(&self) -> &str;
    /// The host itself, for the server handle ([`Context::server`]).
    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

/// What a tool knows about the call it serves. Take it as a parameter (`ctx: Context` or
/// `ctx: &Context`); it is injected, not part of the input schema.
#[derive(Clone)]
pub struct Context {
    inner: Arc<Inner>,
}

struct Inner {
    host: Arc<dyn Host>,
    http: Option<Arc<http::request::Parts>>,
    request_id: Option<RequestId>,
    meta: Option<Map<String, Value>>,
    version: ProtocolVersion,
    cancel: CancellationToken,
    notifier: Option<Notifier>,
    client_capabilities: Option<Arc<Value>>,
    asking: Asking,
    /// The caller given by a transport without HTTP requests (stdio).
    principal: Option<Arc<Principal>>,
    /// A protocol-level error the tool raised (a missing client capability), answered instead
    /// of the tool's result.
    protocol_error: std::sync::Mutex<Option<crate::protocol::RpcError>>,
}

pub(crate) struct ContextParts {
    pub(crate) host: Arc<dyn Host>,
    pub(crate) http: Option<Arc<http::request::Parts>>,
    pub(crate) request_id: Option<RequestId>,
    pub(crate) meta: Option<Map<String, Value>>,
    pub(crate) version: ProtocolVersion,
    pub(crate) cancel: CancellationToken,
    pub(crate) notifier: Option<Notifier>,
    pub(crate) client_capabilities: Option<Arc<Value>>,
    pub(crate) asking: Asking,
    pub(crate) principal: Option<Arc<Principal>>,
}

/// Whether a call can ask the client, and where answers are awaited.
pub(crate) enum Asking {
    /// Questions go on the call's stream; answers arrive in `questions`, within `timeout`.
    Available {
        questions: Arc<super::ask::Questions>,
        timeout: std::time::Duration,
    },
    /// In input-required rounds (2026-07-28): answers come with the request, questions end it.
    /// Kept inside the context (no allocation of its own).
    Rounds(super::ask::Round),
    /// Not here, and why.
    Unavailable(&'static str),
}

/// A question to the client, made with [`Context::ask`] (or by the shortcuts on [`Context`]).
///
/// In the handshake era (2024-11-05 … 2025-11-25) the question is a JSON-RPC request on the
/// stream of the call that asks; the client POSTs the answer and the handler goes on. In the
/// 2026-07-28 era a question without an answer ends the request with an input-required result
/// (`inputRequests`, and a sealed `requestState` carrying the answers so far); the client calls
/// again with `inputResponses` and the handler runs again from the start, this time getting the
/// answers, in order. Work a handler does before its questions is therefore done once per round:
/// ask first, or make that work safe to repeat.
pub struct Question<'a> {
    ctx: &'a Context,
    key: Option<String>,
    up_front: bool,
}

impl Question<'_> {
    /// Takes an answer the client sent before it was asked (2026-07-28: an `inputResponses`
    /// entry for this question's key in a request that carries no round asking it, such as
    /// the first). By default such an answer is ignored and the question asked, so that an
    /// answer always follows the question the server sent (a confirmation cannot be given in
    /// the request it confirms). Use this only where the answer proves nothing the client
    /// could not have put in the arguments, such as a name to greet.
    pub fn answered_up_front(mut self) -> Self {
        self.up_front = true;
        self
    }

    /// See [`Context::elicit`].
    pub async fn elicit<T: super::ask::Form>(
        self,
        message: &str,
    ) -> Result<super::ask::Elicitation<T>, super::ask::AskError> {
        let schema = super::ask::form_schema::<T>().map_err(super::ask::AskError::NotAForm)?;
        super::ask::elicitation(self.form(message, schema).await?)
    }

    /// See [`Context::elicit_with_schema`].
    pub async fn elicit_with_schema(
        self,
        message: &str,
        requested_schema: Value,
    ) -> Result<super::ask::Elicitation<Map<String, Value>>, super::ask::AskError> {
        super::ask::elicitation(self.form(message, requested_schema).await?)
    }

    /// A form elicitation of `schema`; the client's answer.
    async fn form(self, message: &str, schema: Value) -> Result<Value, super::ask::AskError> {
        self.ctx
            .ask_client(
                (self.key, self.up_front),
                "elicitation",
                "elicitation/create",
                super::ask::form_params(message, schema),
            )
            .await
    }

    /// Asks the user to open `url` (an out-of-band flow: a sign-in, a payment) and waits for
    /// their choice (URL-mode elicitation, 2025-11-25 and later; the client must have declared
    /// `elicitation.url`). Tell the client when the flow is done with
    /// [`Context::elicitation_complete`].
    pub async fn elicit_url(
        self,
        message: &str,
        url: &str,
    ) -> Result<super::ask::UrlElicitation, super::ask::AskError> {
        let version = self.ctx.protocol_version();
        if version < ProtocolVersion::V2025_11_25 {
            return Err(super::ask::AskError::Unavailable(format!(
                "URL elicitation needs revision 2025-11-25 or later; this client speaks {version}"
            )));
        }
        let mut params = json!({ "mode": "url", "message": message, "url": url });
        let id = (!version.is_stateless()).then(crate::protocol::random_id);
        if let Some(id) = &id {
            params["elicitationId"] = json!(id);
        }
        let answer = self
            .ctx
            .ask_client(
                (self.key, self.up_front),
                "elicitation",
                "elicitation/create",
                params,
            )
            .await?;
        let action = match answer.get("action").and_then(Value::as_str) {
            Some("accept") => super::ask::Elicitation::Accept(()),
            Some("decline") => super::ask::Elicitation::Decline,
            Some("cancel") => super::ask::Elicitation::Cancel,
            _ => {
                return Err(super::ask::AskError::InvalidAnswer(
                    "`action` must be `accept`, `decline` or `cancel`".into(),
                ));
            }
        };
        Ok(super::ask::UrlElicitation {
            action,
            elicitation_id: id,
        })
    }

    /// See [`Context::sample`].
    pub async fn sample(
        self,
        request: super::ask::SamplingRequest,
    ) -> Result<super::ask::SamplingResult, super::ask::AskError> {
        if !request.tools.is_empty() || request.tool_choice.is_some() {
            let version = self.ctx.protocol_version();
            if version < ProtocolVersion::V2025_11_25 {
                return Err(super::ask::AskError::Unavailable(format!(
                    "sampling with tools needs revision 2025-11-25 or later; this client speaks {version}"
                )));
            }
            let declared = self
                .ctx
                .client_capabilities()
                .and_then(|c| c.get("sampling"))
                .and_then(|s| s.get("tools"))
                .is_some();
            if !declared && !matches!(self.ctx.inner.asking, Asking::Unavailable(_)) {
                return Err(super::ask::AskError::NotDeclared {
                    capability: "sampling.tools",
                });
            }
        }
        let params = serde_json::to_value(&request).expect("sampling requests serialize");
        let answer = self
            .ctx
            .ask_client(
                (self.key, self.up_front),
                "sampling",
                "sampling/createMessage",
                params,
            )
            .await?;
        serde_json::from_value(answer)
            .map_err(|e| super::ask::AskError::InvalidAnswer(format!("the sampling result: {e}")))
    }

    /// See [`Context::list_roots`].
    pub async fn list_roots(self) -> Result<Vec<super::ask::Root>, super::ask::AskError> {
        let answer = self
            .ctx
            .ask_client((self.key, self.up_front), "roots", "roots/list", json!({}))
            .await?;
        let roots = answer
            .get("roots")
            .cloned()
            .unwrap_or(Value::Array(Vec::new()));
        serde_json::from_value(roots)
            .map_err(|e| super::ask::AskError::InvalidAnswer(format!("the roots: {e}")))
    }
}

/// A view of the request headers without the credential headers (`authorization`,
/// `proxy-authorization`, `cookie`). Empty when the call did not come over HTTP.
#[derive(Clone, Copy)]
pub struct Headers<'a> {
    map: &'a HeaderMap,
}

impl<'a> Headers<'a> {
    /// The value of a header as text; `None` if absent, not visible text, or a credential.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        if is_credential(name) {
            return None;
        }
        self.map.get(name).and_then(|v| v.to_str().ok())
    }
    /// Every non-credential header with a text value, lowercase names.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.map
            .iter()
            .filter(|(k, _)| !is_credential(k.as_str()))
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
    }
    /// Whether there is no visible header.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

fn is_credential(name: &str) -> bool {
    CREDENTIAL_HEADERS
        .iter()
        .any(|c| c.eq_ignore_ascii_case(name))
}

impl Context {
    pub(crate) fn new(parts: ContextParts) -> Self {
        Self {
            inner: Arc::new(Inner {
                host: parts.host,
                http: parts.http,
                request_id: parts.request_id,
                meta: parts.meta,
                version: parts.version,
                cancel: parts.cancel,
                notifier: parts.notifier,
                client_capabilities: parts.client_capabilities,
                asking: parts.asking,
                principal: parts.principal,
                protocol_error: std::sync::Mutex::new(None),
            }),
        }
    }

    /// The request headers, without credentials. Empty (not an error) when the call did not
    /// come over HTTP, e.g. in tests that call tools in-process.
    pub fn headers(&self) -> Headers<'_> {
        Headers {
            map: self.all_headers(),
        }
    }

    /// Every request header, credentials included. Empty when there is no HTTP request.
    pub fn all_headers(&self) -> &HeaderMap {
        self.inner
            .http
            .as_ref()
            .map_or(&EMPTY_HEADERS, |p| &p.headers)
    }

    /// The HTTP request's extensions (values the app's middleware attached), if any.
    pub fn extensions(&self) -> Option<&Extensions> {
        self.inner.http.as_ref().map(|p| &p.extensions)
    }

    /// The request URI, as the app received it (before `nest` stripped the prefix).
    pub fn uri(&self) -> Option<&Uri> {
        let parts = self.inner.http.as_ref()?;
        Some(
            parts
                .extensions
                .get::<axum::extract::OriginalUri>()
                .map_or(&parts.uri, |o| &o.0),
        )
    }

    /// The HTTP method.
    pub fn method(&self) -> Option<&Method> {
        self.inner.http.as_ref().map(|p| &p.method)
    }

    /// The authenticated caller, when an auth layer identified one.
    pub fn principal(&self) -> Option<&Principal> {
        if let Some(p) = &self.inner.principal {
            return Some(p);
        }
        self.extensions()?.get::<Principal>()
    }

    /// Shared state of type `T` given to the server with [`McpServer::state`](crate::McpServer::state).
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.inner
            .host
            .state(TypeId::of::<T>())
            .and_then(|s| s.downcast::<T>().ok())
    }

    /// The JSON-RPC id of the request (none for in-process calls).
    pub fn request_id(&self) -> Option<&RequestId> {
        self.inner.request_id.as_ref()
    }

    /// The request's `_meta`.
    pub fn meta(&self) -> Option<&Map<String, Value>> {
        self.inner.meta.as_ref()
    }

    /// The protocol revision of the request.
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.inner.version
    }

    /// The name of the server serving the call.
    pub fn server_name(&self) -> &str {
        self.inner.host.name()
    }

    /// The capabilities the client declared: per request in the 2026-07-28 revision, at
    /// `initialize` in a session of the handshake era; `None` when unknown.
    pub fn client_capabilities(&self) -> Option<&Value> {
        self.inner.client_capabilities.as_deref()
    }

    /// Fails the call unless the client declared capability `name` (e.g. `"sampling"`). The
    /// client then gets the protocol error for a missing capability (-32021, with HTTP 400 in
    /// the 2026-07-28 revision) instead of a tool result. Use it with `?` before work that
    /// needs the capability.
    pub fn require_client_capability(&self, name: &str) -> Result<(), crate::content::ToolError> {
        if self
            .client_capabilities()
            .and_then(|c| c.get(name))
            .is_some()
        {
            return Ok(());
        }
        let message = format!(
            "this tool needs the client capability `{name}`, which the client did not declare"
        );
        let error = crate::protocol::RpcError::new(
            crate::protocol::code::MISSING_CAPABILITY,
            message.clone(),
        )
        .with_data(json!({ "requiredCapabilities": { name: {} } }));
        *self
            .inner
            .protocol_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(error);
        Err(crate::content::ToolError::new(message))
    }

    /// The call's cancellation token.
    pub(crate) fn cancel_token(&self) -> &CancellationToken {
        &self.inner.cancel
    }

    /// The input-required round of the call, in the 2026-07-28 era.
    pub(crate) fn round(&self) -> Option<&super::ask::Round> {
        match &self.inner.asking {
            Asking::Rounds(round) => Some(round),
            _ => None,
        }
    }

    /// The host of the call, for [`Context::server`].
    pub(crate) fn host(&self) -> Arc<dyn Host> {
        self.inner.host.clone()
    }

    /// Makes the call's answer this JSON-RPC error (the tool's own result is then dropped):
    /// for a tool that passes another server's error on.
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    pub(crate) fn fail_with(&self, error: crate::protocol::RpcError) {
        *self
            .inner
            .protocol_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(error);
    }

    /// Asks the client a question given as its method and params (`elicitation/create`,
    /// `sampling/createMessage`, `roots/list`), as the typed questions do: for a call that
    /// passes another server's question on.
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    pub(crate) async fn ask_raw(
        &self,
        method: &str,
        params: Value,
    ) -> Result<Value, super::ask::AskError> {
        let capability = match method {
            "elicitation/create" => "elicitation",
            "sampling/createMessage" => "sampling",
            "roots/list" => "roots",
            other => {
                return Err(super::ask::AskError::Unavailable(format!(
                    "`{}` is not a question a server asks its client",
                    crate::bounds::shown(other)
                )));
            }
        };
        self.ask_client((None, false), capability, method, params)
            .await
    }

    pub(crate) fn take_protocol_error(&self) -> Option<crate::protocol::RpcError> {
        self.inner
            .protocol_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// Whether the client cancelled the call (or went away, where that means cancellation).
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancel.is_cancelled()
    }

    /// Completes when the call is cancelled; `select!` on it in long-running tools.
    pub async fn cancelled(&self) {
        self.inner.cancel.cancelled().await;
    }

    /// Sends `notifications/progress` for this call, when the client asked for progress
    /// (`_meta.progressToken`) and the transport can stream. Returns whether it was sent.
    /// `progress` must increase from one call to the next.
    pub async fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) -> bool {
        // Inside a task, progress is the task's status message (no token needed).
        static TASK_TOKEN: LazyLock<Value> = LazyLock::new(|| Value::String("task".into()));
        let Some(token) = self
            .inner
            .meta
            .as_ref()
            .and_then(|m| m.get("progressToken"))
            .or_else(|| self.task().map(|_| &*TASK_TOKEN))
        else {
            return false;
        };
        let mut params = json!({ "progressToken": token, "progress": progress });
        if let Some(t) = total {
            params["total"] = json!(t);
        }
        if let Some(m) = message
            && self.inner.version >= ProtocolVersion::V2025_03_26
        {
            params["message"] = json!(m);
        }
        self.notify("notifications/progress", &params).await
    }

    /// Sends a log message (`notifications/message`) to the client, if the client asked for
    /// messages of this level. Returns whether it was sent.
    pub async fn log(&self, level: LogLevel, data: impl Serialize) -> bool {
        let wanted = self.inner.notifier.as_ref().and_then(|n| n.log_level);
        if wanted.is_none_or(|min| level < min) {
            return false;
        }
        let Ok(data) = serde_json::to_value(data) else {
            return false;
        };
        let params = json!({ "level": level, "logger": self.inner.host.name(), "data": data });
        self.notify("notifications/message", &params).await
    }

    /// Asks the user to fill in a form made from `T` (a flat struct of strings, numbers,
    /// integers, booleans and string enums; doc comments describe the fields and serde defaults
    /// are shown as defaults) and waits for the answer. The client must have declared
    /// `elicitation`. See [`Question`] for how asking travels in each era.
    pub async fn elicit<T: super::ask::Form>(
        &self,
        message: &str,
    ) -> Result<super::ask::Elicitation<T>, super::ask::AskError> {
        self.question(None).elicit::<T>(message).await
    }

    /// Like [`Context::elicit`], with the form's JSON Schema given as it is (for titled enums,
    /// multi-select and other shapes a Rust type does not say); the values come back as a map.
    pub async fn elicit_with_schema(
        &self,
        message: &str,
        requested_schema: Value,
    ) -> Result<super::ask::Elicitation<Map<String, Value>>, super::ask::AskError> {
        self.question(None)
            .elicit_with_schema(message, requested_schema)
            .await
    }

    /// Asks the client's model for a completion (`sampling/createMessage`). The client must
    /// have declared `sampling`.
    pub async fn sample(
        &self,
        request: super::ask::SamplingRequest,
    ) -> Result<super::ask::SamplingResult, super::ask::AskError> {
        self.question(None).sample(request).await
    }

    /// The client's roots (`roots/list`). The client must have declared `roots`.
    pub async fn list_roots(&self) -> Result<Vec<super::ask::Root>, super::ask::AskError> {
        self.question(None).list_roots().await
    }

    /// Asks the user to open `url`: see [`Question::elicit_url`].
    pub async fn elicit_url(
        &self,
        message: &str,
        url: &str,
    ) -> Result<super::ask::UrlElicitation, super::ask::AskError> {
        self.question(None).elicit_url(message, url).await
    }

    /// Tells the client that the out-of-band flow of a URL elicitation is done
    /// (`notifications/elicitation/complete`, 2025-11-25). Returns whether it was sent.
    pub async fn elicitation_complete(&self, elicitation_id: &str) -> bool {
        if self.protocol_version() != ProtocolVersion::V2025_11_25 {
            return false;
        }
        self.notify(
            "notifications/elicitation/complete",
            &json!({ "elicitationId": elicitation_id }),
        )
        .await
    }

    /// A question with a key of its own: in the 2026-07-28 era the key names the question in
    /// `inputRequests` and its answer in `inputResponses` (`ctx.ask("user_name").elicit(…)`);
    /// questions asked without one are keyed `q1`, `q2`, … in the order asked.
    pub fn ask(&self, key: &str) -> Question<'_> {
        self.question(Some(key.to_owned()))
    }

    fn question(&self, key: Option<String>) -> Question<'_> {
        Question {
            ctx: self,
            key,
            up_front: false,
        }
    }

    /// Sends one question to the client (or, in a 2026-07-28 round, takes its answer from the
    /// request or adds it to the round) and waits for the answer.
    async fn ask_client(
        &self,
        (key, up_front): (Option<String>, bool),
        capability: &'static str,
        method: &str,
        params: Value,
    ) -> Result<Value, super::ask::AskError> {
        use super::ask::AskError;
        if let Asking::Unavailable(why) = &self.inner.asking {
            return Err(AskError::Unavailable((*why).to_owned()));
        }
        let declared = match (capability, method) {
            ("elicitation", _) => {
                let mode = params.get("mode").and_then(Value::as_str).unwrap_or("form");
                super::ask::elicitation_mode_declared(self.client_capabilities(), mode)
            }
            _ => self
                .client_capabilities()
                .and_then(|c| c.get(capability))
                .is_some(),
        };
        if !declared {
            return Err(AskError::NotDeclared { capability });
        }
        let (questions, timeout, tx) = match &self.inner.asking {
            Asking::Available { questions, timeout } => {
                let Some(notifier) = &self.inner.notifier else {
                    return Err(AskError::Unavailable(
                        "this call has no stream to carry the question".into(),
                    ));
                };
                (questions, *timeout, notifier.tx.sender())
            }
            Asking::Rounds(round) => {
                let key = key.unwrap_or_else(|| round.default_key());
                if let Some(answer) = round.answer(&key, up_front) {
                    return Ok(answer);
                }
                // A call that went on as a task asks through the task.
                if let Some(task) = round.escalation.as_ref().and_then(|e| e.task()) {
                    (&task.questions, task.timeout, &task.tx)
                } else {
                    // No answer yet: the round ends with this question (and any asked beside
                    // it); the client answers and calls again, and the handler runs again from
                    // the start.
                    round.ask(key, method, params);
                    return std::future::pending().await;
                }
            }
            Asking::Unavailable(_) => unreachable!("handled above"),
        };
        let Some((id, answer)) = questions.open() else {
            return Err(AskError::Unavailable(format!(
                "{} questions are already waiting for this client",
                super::ask::MAX_OPEN_QUESTIONS
            )));
        };
        let request = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let sent = tx
            .send(serde_json::to_vec(&request).expect("requests serialize"))
            .await
            .is_ok();
        if !sent {
            questions.close(&id);
            return Err(AskError::Cancelled);
        }
        let outcome = tokio::select! {
            biased;
            () = self.inner.cancel.cancelled() => Err(AskError::Cancelled),
            answer = tokio::time::timeout(timeout, answer) => match answer {
                Err(_) => Err(AskError::TimedOut),
                Ok(Err(_)) => Err(AskError::Cancelled),
                Ok(Ok(Ok(result))) => Ok(result),
                Ok(Ok(Err(error))) => Err(AskError::Refused {
                    code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
                    message: error
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                }),
            },
        };
        questions.close(&id);
        outcome
    }

    /// Ends this call's SSE response now, while the call goes on (SEP-1699 polling): the client
    /// reconnects with `Last-Event-ID` and gets everything sent since, the result included.
    /// For long calls behind proxies that cut idle connections. Only a session's stream in the
    /// handshake era can be resumed; elsewhere (and in 2026-07-28, where closing is
    /// cancellation) nothing happens. Returns whether the stream will close.
    pub async fn close_stream(&self) -> bool {
        match &self.inner.notifier {
            Some(n) if n.resumable && !self.is_cancelled() => {
                n.tx.sender().send(CLOSE_STREAM).await.is_ok()
            }
            _ => false,
        }
    }

    async fn notify(&self, method: &str, params: &Value) -> bool {
        if self.is_cancelled() {
            return false;
        }
        // A call that went on as a task (2026-07-28) reports to the task.
        let tx = match self.task() {
            Some(task) => &task.tx,
            None => match &self.inner.notifier {
                Some(n) => n.tx.sender(),
                None => return false,
            },
        };
        tx.send(crate::protocol::notification_bytes(method, params))
            .await
            .is_ok()
    }

    /// Where the call reports and asks once it went on as a task.
    fn task(&self) -> Option<&super::ask::TaskAsking> {
        self.round()
            .and_then(|r| r.escalation.as_ref())
            .and_then(|e| e.task())
    }
}
