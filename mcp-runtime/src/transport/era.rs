//! Which era a message speaks, and the checks of every 2026-07-28 request whatever carries it:
//! `_meta` (the revision, the client's capabilities, its log level), the revision itself, the
//! routing headers against the body (SEP-2243), the method.

#![allow(clippy::result_large_err)]

use super::egress::json_response;
use crate::call::context::LogLevel;
use crate::core::Dispatcher;
use crate::core::peer::Peer;
use crate::protocol::{
    Message, ProtocolVersion, RequestId, RpcError, STATELESS_METHODS, error_bytes,
};
use axum::response::Response;
use base64::Engine as _;
use http::request::Parts;
use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::sync::Arc;

const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
const META_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
pub(super) const META_SUBSCRIPTION: &str = "io.modelcontextprotocol/subscriptionId";

/// The header mismatch error (-32020).
const HEADER_MISMATCH: i64 = -32020;
/// The unsupported protocol version error (-32022).
const UNSUPPORTED_VERSION: i64 = -32022;

fn meta(params: Option<&Value>) -> Option<&Map<String, Value>> {
    params?.get("_meta")?.as_object()
}

/// Whether `MCP-Protocol-Version` names a stateless-era revision.
pub(super) fn header_is_stateless(headers: &HeaderMap) -> bool {
    names_stateless(
        headers
            .get(&MCP_PROTOCOL_VERSION)
            .and_then(|v| v.to_str().ok()),
    )
}

/// Whether the value of `MCP-Protocol-Version` (already looked up) names a stateless-era
/// revision.
pub(super) fn names_stateless(value: Option<&str>) -> bool {
    value
        .and_then(|v| ProtocolVersion::parse(v.trim_ascii()))
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
/// `header_stateless`: whether `MCP-Protocol-Version` names a stateless revision.
pub(super) fn is_stateless_era(msg: &Message, header_stateless: bool) -> bool {
    let (method, params) = match msg {
        Message::Request { method, params, .. } | Message::Notification { method, params } => {
            (method.as_str(), params.as_ref())
        }
        Message::Response { .. } => return header_stateless,
    };
    header_stateless || is_stateless_message(method, params)
}

pub(super) fn reject(status: StatusCode, id: Option<&RequestId>, error: RpcError) -> Response {
    json_response(status, error_bytes(id, &error))
}

/// The routing headers every 2026-07-28 request is checked against (named once: a lookup by a
/// static name skips parsing the name on every request).
pub(super) use crate::headers::MCP_PROTOCOL_VERSION;
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
