//! The stateless 2026-07-28 era on the Streamable HTTP endpoint: per-request `_meta`, header
//! checks against the body, `server/discover`, `subscriptions/listen`, and a closed response
//! stream cancelling the call.

#![allow(clippy::result_large_err)]

use super::changes::{Filter, Updates, forward};
use super::egress::{accepted, json_response};
use super::ingress::Accepts;
use super::streamable::{App, Call, DisconnectGuard, SseStart, attach, run, sse_response};
use crate::LogLevel;
use crate::core::Dispatcher;
use crate::core::peer::{MAX_SUBSCRIPTION_BYTES, MAX_SUBSCRIPTIONS, Peer};
use crate::core::tasks;
use crate::protocol::{
    Message, ProtocolVersion, RequestId, RpcError, STATELESS_METHODS, error_bytes,
};
use crate::transport::session::EventStream;
use axum::response::Response;
use base64::Engine as _;
use http::request::Parts;
use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio_util::sync::CancellationToken;

const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
const META_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
const META_SUBSCRIPTION: &str = "io.modelcontextprotocol/subscriptionId";

/// The header mismatch error (-32020).
const HEADER_MISMATCH: i64 = -32020;
/// The unsupported protocol version error (-32022).
const UNSUPPORTED_VERSION: i64 = -32022;

fn meta(params: Option<&Value>) -> Option<&Map<String, Value>> {
    params?.get("_meta")?.as_object()
}

/// Whether `MCP-Protocol-Version` names a stateless-era revision.
pub(super) fn header_is_modern(headers: &HeaderMap) -> bool {
    headers
        .get(&MCP_PROTOCOL_VERSION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| ProtocolVersion::parse(v.trim()))
        .is_some_and(ProtocolVersion::is_stateless)
}

/// Whether a request speaks the stateless era by its body alone (transports without headers).
pub(super) fn is_stateless_message(method: &str, params: Option<&Value>) -> bool {
    meta(params).is_some_and(|m| m.contains_key(META_VERSION))
        || method == "server/discover"
        || method == "subscriptions/listen"
}

/// Whether a message speaks the stateless era: it carries the per-request protocol version,
/// names a stateless revision in its header, or calls a method only that era has.
pub(super) fn is_modern(msg: &Message, headers: &HeaderMap) -> bool {
    let (method, params) = match msg {
        Message::Request { method, params, .. } | Message::Notification { method, params } => {
            (method.as_str(), params.as_ref())
        }
        Message::Response { .. } => return header_is_modern(headers),
    };
    header_is_modern(headers) || is_stateless_message(method, params)
}

fn reject(status: StatusCode, id: Option<&RequestId>, error: RpcError) -> Response {
    json_response(status, error_bytes(id, &error))
}

/// The routing headers every 2026-07-28 request is checked against (named once: a lookup by a
/// static name skips parsing the name on every request).
static MCP_PROTOCOL_VERSION: http::HeaderName =
    http::HeaderName::from_static("mcp-protocol-version");
static MCP_METHOD: http::HeaderName = http::HeaderName::from_static("mcp-method");
static MCP_NAME: http::HeaderName = http::HeaderName::from_static("mcp-name");

/// A header value, decoded from the `=?base64?…?=` form where used, and trimmed.
fn header_value<'h>(
    headers: &'h HeaderMap,
    name: impl http::header::AsHeaderName,
) -> Option<Result<Cow<'h, str>, ()>> {
    let raw = headers.get(name)?.to_str().map_err(|_| ()).map(str::trim);
    Some(raw.and_then(|v| {
        match v
            .strip_prefix("=?base64?")
            .and_then(|r| r.strip_suffix("?="))
        {
            Some(b64) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| ())
                .and_then(|bytes| String::from_utf8(bytes).map_err(|_| ()))
                .map(Cow::Owned),
            None => Ok(Cow::Borrowed(v)),
        }
    }))
}

/// Checks that a header carries the same value as the body.
fn check_header(
    headers: &HeaderMap,
    name: &http::HeaderName,
    expected: &str,
) -> Result<(), String> {
    match header_value(headers, name) {
        None => Err(format!(
            "Header mismatch: the {name} header is missing; it must be '{expected}'"
        )),
        Some(Err(())) => Err(format!(
            "Header mismatch: the {name} header is not valid text or base64"
        )),
        Some(Ok(v)) if *v == *expected => Ok(()),
        Some(Ok(v)) => Err(format!(
            "Header mismatch: {name} header value '{v}' does not match body value '{expected}'"
        )),
    }
}

/// A 2026-07-28 request whose `_meta` and headers were checked.
pub(super) struct Checked {
    pub(super) id: RequestId,
    pub(super) method: String,
    pub(super) params: Option<Value>,
    pub(super) peer: Arc<Peer>,
}

/// A refused 2026-07-28 message: the HTTP status, the request's id, the error.
pub(super) struct Rejection {
    pub(super) status: StatusCode,
    pub(super) id: Option<RequestId>,
    pub(super) error: RpcError,
}

/// Checks a 2026-07-28 message: `_meta` (-32602, 400), the revision (-32022), the headers
/// against the body (-32020, 400), the method (-32601, 404). `Ok(None)` for a notification
/// (202); the response to send when refused.
pub(super) fn check(
    parts: &Parts,
    msg: Message,
    core: &Dispatcher,
) -> Result<Option<Checked>, Response> {
    let checked = check_message(Some(&parts.headers), msg)
        .map_err(|r| reject(r.status, r.id.as_ref(), r.error))?;
    if let Some(c) = &checked
        && c.method == "tools/call"
        && let Err(msg) = check_param_headers(&parts.headers, c.params.as_ref(), core)
    {
        return Err(reject(
            StatusCode::BAD_REQUEST,
            Some(&c.id),
            RpcError::new(HEADER_MISMATCH, msg),
        ));
    }
    Ok(checked)
}

/// The `Mcp-Param-*` headers of a `tools/call` against its arguments, for a tool that declares
/// any (SEP-2243).
fn check_param_headers(
    headers: &HeaderMap,
    params: Option<&Value>,
    core: &Dispatcher,
) -> Result<(), String> {
    let catalog = core.catalog.peek();
    if !catalog.has_param_headers() {
        return Ok(());
    }
    let Some(name) = params.and_then(|p| p.get("name")).and_then(Value::as_str) else {
        return Ok(());
    };
    let Some(Ok(declared)) = catalog
        .tool(name)
        .map(crate::catalog::tool::Tool::param_headers)
    else {
        return Ok(());
    };
    if declared.is_empty() {
        return Ok(());
    }
    crate::catalog::param_headers::check(declared, params.and_then(|p| p.get("arguments")), |h| {
        header_value(headers, h).map(|r| r.map(Cow::into_owned))
    })
}

/// Checks a 2026-07-28 message as [`check`] does, over a transport with or without headers
/// (stdio has none); the refusal as its status, id and error.
pub(super) fn check_message(
    headers: Option<&HeaderMap>,
    msg: Message,
) -> Result<Option<Checked>, Rejection> {
    let (id, method, params) = match msg {
        Message::Notification { .. } => return Ok(None),
        Message::Response { id, .. } => {
            return Err(Rejection {
                status: StatusCode::BAD_REQUEST,
                id: Some(id),
                error: RpcError::invalid_request(
                    "clients send no responses in the 2026-07-28 revision",
                ),
            });
        }
        Message::Request { id, method, params } => (id, method, params),
    };
    let bad = |e: RpcError| Rejection {
        status: StatusCode::BAD_REQUEST,
        id: Some(id.clone()),
        error: e,
    };
    let Some(meta) = meta(params.as_ref()) else {
        return Err(bad(RpcError::invalid_params(format!(
            "missing `params._meta`: every 2026-07-28 request carries `{META_VERSION}` and `{META_CAPABILITIES}`"
        ))));
    };
    let Some(requested) = meta.get(META_VERSION).and_then(Value::as_str) else {
        return Err(bad(RpcError::invalid_params(format!(
            "missing `_meta[\"{META_VERSION}\"]`"
        ))));
    };
    // The header must name the body's revision; a mismatch is -32020 even when the revision
    // is one this server does not speak.
    if let Some(headers) = headers
        && let Err(msg) = check_header(headers, &MCP_PROTOCOL_VERSION, requested)
    {
        return Err(bad(RpcError::new(HEADER_MISMATCH, msg)));
    }
    let version = match ProtocolVersion::parse(requested).filter(|v| v.is_stateless()) {
        Some(v) => v,
        None => {
            return Err(bad(RpcError::new(
                UNSUPPORTED_VERSION,
                format!(
                    "unsupported protocol version `{}`",
                    crate::bounds::shown(requested)
                ),
            )
            .with_data(json!({
                "supported": ProtocolVersion::ALL.iter().rev().map(|v| v.as_str()).collect::<Vec<_>>(),
                "requested": crate::bounds::shown(requested).json(),
            }))));
        }
    };
    if !meta.get(META_CAPABILITIES).is_some_and(Value::is_object) {
        return Err(bad(RpcError::invalid_params(format!(
            "missing `_meta[\"{META_CAPABILITIES}\"]` (an object; `{{}}` declares no capabilities)"
        ))));
    }
    let client_capabilities = meta.get(META_CAPABILITIES).cloned();
    if let Some(c) = &client_capabilities {
        crate::protocol::check_capabilities(c, &format!("`_meta[\"{META_CAPABILITIES}\"]`"))
            .map_err(bad)?;
    }
    let log_level = match meta.get(META_LOG_LEVEL) {
        None => None,
        Some(l) => match serde_json::from_value::<LogLevel>(l.clone()) {
            Ok(level) => Some(level),
            Err(_) => {
                return Err(bad(RpcError::invalid_params(format!(
                    "`_meta[\"{META_LOG_LEVEL}\"]` must be a log level (debug … emergency)"
                ))));
            }
        },
    };
    let mut checks: Vec<(&http::HeaderName, &str)> = vec![(&MCP_METHOD, method.as_str())];
    if matches!(
        method.as_str(),
        "tools/call"
            | "prompts/get"
            | "resources/read"
            | "tasks/get"
            | "tasks/update"
            | "tasks/cancel"
    ) {
        let key = match method.as_str() {
            "resources/read" => "uri",
            "tasks/get" | "tasks/update" | "tasks/cancel" => "taskId",
            _ => "name",
        };
        if let Some(name) = params
            .as_ref()
            .and_then(|p| p.get(key))
            .and_then(Value::as_str)
        {
            checks.push((&MCP_NAME, name));
        }
    }
    for (header, expected) in checks.iter().filter(|_| headers.is_some()) {
        if let Err(msg) = check_header(headers.expect("filtered"), header, expected) {
            return Err(bad(RpcError::new(HEADER_MISMATCH, msg)));
        }
    }
    if !STATELESS_METHODS.contains(&method.as_str()) {
        return Err(Rejection {
            status: StatusCode::NOT_FOUND,
            error: RpcError::method_not_found(&method),
            id: Some(id),
        });
    }
    Ok(Some(Checked {
        id,
        method,
        params,
        peer: Peer::new(version, client_capabilities, log_level),
    }))
}

pub(super) async fn post(app: &Arc<App>, parts: Parts, msg: Message, accept: Accepts) -> Response {
    let Checked {
        id,
        method,
        params,
        peer,
    } = match check(&parts, msg, &app.core) {
        Ok(Some(c)) => c,
        Ok(None) => return accepted(),
        Err(res) => return res,
    };
    if method == "subscriptions/listen" {
        return listen(app, id, params.as_ref(), &peer, &parts).await;
    }
    run(
        app,
        Call {
            id,
            method,
            params,
            peer,
            session: None,
            parts,
            accept,
            cancel_on_disconnect: true,
        },
    )
    .await
}

/// `subscriptions/listen`: acknowledges the notifications this server can honour, then sends
/// them on the stream (each with the subscription id) until the client closes it; at shutdown
/// the stream ends with a `complete` result.
/// One open `subscriptions/listen` stream, counted while its response lives.
struct ListenSlot(Arc<App>);

impl ListenSlot {
    /// A slot, unless `max_sessions` listen streams are open already.
    fn take(app: &Arc<App>) -> Option<Self> {
        let open = app.listeners.fetch_add(1, Ordering::SeqCst);
        if open >= app.options.max_sessions {
            app.listeners.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Self(app.clone()))
    }
}

impl Drop for ListenSlot {
    fn drop(&mut self) {
        self.0.listeners.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn listen(
    app: &Arc<App>,
    id: RequestId,
    params: Option<&Value>,
    peer: &Peer,
    parts: &Parts,
) -> Response {
    let Some(slot) = ListenSlot::take(app) else {
        return reject(
            StatusCode::SERVICE_UNAVAILABLE,
            Some(&id),
            RpcError::new(
                crate::protocol::code::SERVER_ERROR,
                format!(
                    "{} subscription streams are open, the most this server keeps; try again later",
                    app.options.max_sessions
                ),
            ),
        );
    };
    let requested = params
        .and_then(|p| p.get("notifications"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let asked = |key: &str| requested.get(key) == Some(&Value::Bool(true));
    let (has_resources, has_prompts) = {
        let snapshot = app.core.catalog.peek();
        (
            !snapshot.resources.is_empty() || !snapshot.templates.is_empty(),
            snapshot.has_prompts(),
        )
    };
    // A list of strings the client asked for, at most `MAX_SUBSCRIPTIONS` of them.
    let strings = |key: &str| -> Vec<String> {
        requested
            .get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .filter(|s| s.len() <= crate::bounds::MAX_KEPT_BYTES)
                    .take(MAX_SUBSCRIPTIONS)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    // Only the URIs the caller may follow (as for `resources/subscribe`), within the bytes a
    // session's subscriptions may hold; the others are left out of the acknowledgement.
    let mut uris = HashSet::new();
    if has_resources {
        let caller = parts.extensions.get::<crate::Principal>();
        let mut bytes = 0;
        for uri in strings("resourceSubscriptions") {
            if bytes + uri.len() > MAX_SUBSCRIPTION_BYTES || uris.contains(&uri) {
                continue;
            }
            if app
                .core
                .may_subscribe(caller, peer.version(), &uri)
                .await
                .is_ok()
            {
                bytes += uri.len();
                uris.insert(uri);
            }
        }
    }
    let sub_meta = json!({ META_SUBSCRIPTION: id });
    let filter = Filter {
        tools: asked("toolsListChanged"),
        resources: has_resources && asked("resourcesListChanged"),
        prompts: has_prompts && asked("promptsListChanged"),
        updates: Updates::Uris(uris),
        meta: Some(sub_meta.clone()),
    };
    let mut granted = Map::new();
    for (key, on) in [
        ("toolsListChanged", filter.tools),
        ("resourcesListChanged", filter.resources),
        ("promptsListChanged", filter.prompts),
    ] {
        if on {
            granted.insert(key.into(), Value::Bool(true));
        }
    }
    if let Updates::Uris(uris) = &filter.updates
        && !uris.is_empty()
    {
        let mut list: Vec<&String> = uris.iter().collect();
        list.sort();
        granted.insert("resourceSubscriptions".into(), json!(list));
    }
    // Task status notifications (the tasks extension): for the caller's own tasks.
    let mut task_ids = strings("taskIds");
    task_ids.retain(|t| t.len() <= crate::bounds::MAX_ID_BYTES);
    let mut watched = HashSet::new();
    if !task_ids.is_empty() {
        if !tasks::declared(peer.capabilities().as_deref()) {
            return reject(
                StatusCode::BAD_REQUEST,
                Some(&id),
                tasks::not_declared("task status notifications"),
            );
        }
        let owner = parts
            .extensions
            .get::<crate::Principal>()
            .map(crate::Principal::owner_key);
        for task in task_ids {
            if app.core.tasks.read(&task, owner.as_ref()).await.is_ok() {
                watched.insert(task);
            }
        }
        let mut list: Vec<&String> = watched.iter().collect();
        list.sort();
        granted.insert("taskIds".into(), json!(list));
    }
    let ack = json!({
        "jsonrpc": "2.0",
        "method": "notifications/subscriptions/acknowledged",
        "params": { "_meta": sub_meta, "notifications": granted },
    });
    let task_changes = (!watched.is_empty()).then(|| app.core.tasks.subscribe());
    let poll_interval = app.core.tasks.settings.poll_interval;
    let stream = EventStream::new(0, app.options.replay());
    let closed = CancellationToken::new();
    let changes = app.core.catalog.subscribe();
    let (task_stream, task_closed, shutdown) =
        (stream.clone(), closed.clone(), app.shutdown.clone());
    tokio::spawn(async move {
        task_stream.push(ack.to_string().into()).await;
        // Changes flow only after the acknowledgement, which must come first.
        forward(changes, task_stream.clone(), filter, task_closed.clone());
        if let Some(rx) = task_changes {
            tokio::spawn(forward_tasks(
                rx,
                task_stream.clone(),
                watched,
                sub_meta.clone(),
                poll_interval,
                task_closed.clone(),
            ));
        }
        tokio::select! {
            () = shutdown.cancelled() => {
                task_closed.cancel();
                let done = crate::protocol::response_bytes(
                    &id,
                    &serde_json::value::to_raw_value(&json!({"resultType": "complete", "_meta": sub_meta}))
                        .expect("results serialize"),
                );
                task_stream.push(String::from_utf8(done).expect("UTF-8").into()).await;
            }
            () = task_closed.cancelled() => {}
        }
        task_stream.finish();
    });
    let res = sse_response(
        app,
        stream.reader(0),
        SseStart::Prime,
        CancellationToken::new(),
        DisconnectGuard {
            cancel: Some(closed),
        },
    );
    attach(res, slot)
}

/// `notifications/tasks` for the watched tasks: each change as the whole task, as `tasks/get`
/// would give it.
async fn forward_tasks(
    mut rx: tokio::sync::broadcast::Receiver<tasks::TaskRecord>,
    stream: Arc<EventStream>,
    watched: HashSet<String>,
    sub_meta: Value,
    poll_interval: std::time::Duration,
    closed: CancellationToken,
) {
    loop {
        let record = tokio::select! {
            () = closed.cancelled() => return,
            r = rx.recv() => r,
        };
        match record {
            Ok(r) if watched.contains(&r.id) => {
                let mut params = tasks::detailed(&r, poll_interval);
                params.insert("_meta".into(), sub_meta.clone());
                let n =
                    json!({ "jsonrpc": "2.0", "method": "notifications/tasks", "params": params });
                stream.push(n.to_string().into()).await;
            }
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_header_values() {
        let mut h = HeaderMap::new();
        h.insert("mcp-name", "=?base64?aGVsbG8gd29ybGQ=?=".parse().unwrap());
        assert!(check_header(&h, &MCP_NAME, "hello world").is_ok());
        h.insert("mcp-name", "  plain ".parse().unwrap());
        assert!(check_header(&h, &MCP_NAME, "plain").is_ok());
        assert!(check_header(&h, &MCP_NAME, "Plain").is_err());
        assert!(check_header(&h, &MCP_METHOD, "tools/call").is_err());
    }
}
