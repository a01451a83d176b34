//! `Transport::Http`: stateless request-response. Every POST gets one `application/json`
//! answer (or 202 for notifications), nothing streams, and GET is 405.

// Checks return the rejection `Response` as their error, as axum extractors do; the path is cold.
#![allow(clippy::result_large_err)]

use super::HttpOptions;
use crate::core::Dispatcher;
use crate::core::peer::Peer;
use crate::core::{Reply, ReplyKind, RequestEnv};
use crate::protocol::{ProtocolVersion, RpcError, error_bytes};
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use axum::routing::any;
use http::{HeaderValue, Method, StatusCode, header};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The implementation-defined JSON-RPC code for transport-level rejections.
pub(crate) const TRANSPORT_ERROR: i64 = crate::protocol::code::SERVER_ERROR;

struct App {
    core: Arc<Dispatcher>,
    options: HttpOptions,
    auth: Option<super::admission::SharedAuth>,
}

pub(super) fn router(
    core: Arc<Dispatcher>,
    auth: Option<super::admission::SharedAuth>,
    options: HttpOptions,
) -> Router {
    let app = Arc::new(App {
        core,
        options,
        auth,
    });
    let handler = move |req: Request| {
        let app = app.clone();
        async move { handle(&app, req).await }
    };
    super::mount(any(handler))
}

/// The HTTP status of a single request's error response: 403 for a missing scope, 400 for a
/// missing client capability, 503 for a shared store that is down, 429 for a limit of the
/// server's middleware, 200 (a JSON-RPC error in a successful exchange) otherwise.
pub(crate) fn error_status(code: i64) -> StatusCode {
    match code {
        crate::protocol::code::INSUFFICIENT_SCOPE => StatusCode::FORBIDDEN,
        crate::protocol::code::MISSING_CAPABILITY => StatusCode::BAD_REQUEST,
        crate::protocol::code::STORE_UNAVAILABLE => StatusCode::SERVICE_UNAVAILABLE,
        crate::protocol::code::RATE_LIMITED => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::OK,
    }
}

/// The answer to a request that was not started ([`crate::core::Busy`]): 400 for an id still
/// running (the client's mistake), 429 when the client runs its most requests (it may wait),
/// 503 when the mount runs its most calls (everyone waits).
pub(crate) fn busy(id: &crate::protocol::RequestId, busy: &crate::core::Busy) -> Response {
    let status = match busy {
        crate::core::Busy::Duplicate(_) => StatusCode::BAD_REQUEST,
        crate::core::Busy::Client(_) => StatusCode::TOO_MANY_REQUESTS,
        crate::core::Busy::Server(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    json_response(status, crate::protocol::error_bytes(Some(id), busy.error()))
}

/// The HTTP status of a core reply.
pub(crate) fn reply_status(kind: &ReplyKind) -> StatusCode {
    match kind {
        ReplyKind::Answer => StatusCode::OK,
        ReplyKind::Error(e) => error_status(e.code),
        ReplyKind::Rejected => StatusCode::BAD_REQUEST,
    }
}

/// The refusal of a batch in the 2026-07-28 era, which has none.
pub(crate) fn no_stateless_batches() -> Response {
    error_response(
        StatusCode::BAD_REQUEST,
        crate::protocol::code::INVALID_REQUEST,
        "revision 2026-07-28 has no batches: send one message per request",
    )
}

/// A JSON response with a JSON-RPC error and no id.
pub(crate) fn error_response(
    status: StatusCode,
    code: i64,
    message: impl Into<String>,
) -> Response {
    json_response(status, error_bytes(None, &RpcError::new(code, message)))
}

pub(crate) fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// 202 with no body: the answer to notifications and responses.
pub(crate) fn accepted() -> Response {
    let mut res = Response::new(Body::empty());
    *res.status_mut() = StatusCode::ACCEPTED;
    res
}

/// Checks `Content-Type: application/json` (parameters such as `charset` allowed).
pub(crate) fn check_content_type(headers: &http::HeaderMap) -> Result<(), Response> {
    let ct = crate::headers::text(headers, &header::CONTENT_TYPE)
        .map_err(|e| {
            error_response(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                TRANSPORT_ERROR,
                e.to_string(),
            )
        })?
        .unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        let got = if ct.is_empty() {
            "no Content-Type".to_owned()
        } else {
            format!("`{}`", crate::bounds::shown(ct))
        };
        Err(error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            TRANSPORT_ERROR,
            format!("MCP messages are JSON: send `Content-Type: application/json` (got {got})"),
        ))
    }
}

/// Whether an `Accept` header admits a media type (`*/*`, `type/*`, or the type itself).
/// A missing header admits everything.
pub(crate) fn accepts(headers: &http::HeaderMap, media: &str) -> bool {
    accepts_each(headers, [media])[0]
}

/// The media ranges of the `Accept` headers, trimmed, without those refused with `q=0`.
pub(crate) fn accept_ranges(headers: &http::HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(accepted_range)
}

/// One item of an `Accept` header: its range, trimmed, unless `q=0` refuses it.
fn accepted_range(item: &str) -> Option<&str> {
    let Some((range, params)) = item.split_once(';') else {
        return Some(item.trim());
    };
    // Parameters are rare, so only they are parsed.
    let refused = params.split(';').any(|p| {
        p.trim()
            .strip_prefix("q=")
            .and_then(|q| q.trim().parse::<f32>().ok())
            == Some(0.0)
    });
    (!refused).then_some(range.trim())
}

/// [`accepts`] for several media types, reading the header once. Written as plain loops: it
/// runs on every POST.
pub(crate) fn accepts_each<const N: usize>(
    headers: &http::HeaderMap,
    media: [&str; N],
) -> [bool; N] {
    let mut out = [false; N];
    let mut present = false;
    for value in headers.get_all(header::ACCEPT) {
        present = true;
        let Ok(value) = value.to_str() else { continue };
        for range in value.split(',').filter_map(accepted_range) {
            let any_subtype = range.strip_suffix("/*");
            for (m, hit) in media.iter().zip(out.iter_mut()) {
                *hit |= range == "*/*"
                    || range.eq_ignore_ascii_case(m)
                    || any_subtype.is_some_and(|t| {
                        m.split_once('/')
                            .is_some_and(|(ty, _)| t.eq_ignore_ascii_case(ty))
                    });
            }
        }
    }
    if present { out } else { [true; N] }
}

/// The revision named by `MCP-Protocol-Version`: `Ok(None)` when absent, 400 when unsupported.
pub(crate) fn header_version(
    headers: &http::HeaderMap,
    allowed: &[ProtocolVersion],
) -> Result<Option<ProtocolVersion>, Response> {
    static NAME: http::HeaderName = http::HeaderName::from_static("mcp-protocol-version");
    let text = match crate::headers::text(headers, &NAME) {
        Ok(None) => return Ok(None),
        Ok(Some(text)) => text.trim(),
        Err(e) => {
            return Err(error_response(
                StatusCode::BAD_REQUEST,
                crate::protocol::code::INVALID_REQUEST,
                e.to_string(),
            ));
        }
    };
    match ProtocolVersion::parse(text).filter(|v| allowed.contains(v)) {
        Some(v) => Ok(Some(v)),
        None => Err(error_response(
            StatusCode::BAD_REQUEST,
            crate::protocol::code::INVALID_REQUEST,
            format!(
                "unsupported MCP-Protocol-Version `{}`; this server speaks {}",
                crate::bounds::shown(text),
                allowed
                    .iter()
                    .map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// Reads the body up to `max_body_bytes` (413 past it), within `body_read_timeout` (408 past it).
pub(crate) async fn read_body(
    body: Body,
    headers: &http::HeaderMap,
    options: &HttpOptions,
) -> Result<bytes::Bytes, Response> {
    let limit = options.max_body_bytes;
    let too_large = || {
        error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            TRANSPORT_ERROR,
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    };
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limit as u64
    {
        return Err(too_large());
    }
    let read = tokio::time::timeout(options.body_read_timeout, axum::body::to_bytes(body, limit));
    let Ok(read) = read.await else {
        return Err(error_response(
            StatusCode::REQUEST_TIMEOUT,
            TRANSPORT_ERROR,
            format!(
                "the request body did not arrive within {} ms",
                options.body_read_timeout.as_millis()
            ),
        ));
    };
    match read {
        Ok(bytes) => Ok(bytes),
        Err(e) => {
            let inner = e.into_inner();
            if inner.is::<http_body_util::LengthLimitError>() {
                Err(too_large())
            } else {
                Err(error_response(
                    StatusCode::BAD_REQUEST,
                    TRANSPORT_ERROR,
                    format!("the request body could not be read: {inner}"),
                ))
            }
        }
    }
}

async fn handle(app: &App, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    if parts.method == Method::GET
        && let Some(page) = super::catalogue_page(&app.options, &parts)
    {
        return page;
    }
    let auth = app.auth.as_ref();
    if let Err(res) = super::admit(&app.options.origins, auth, &mut parts).await {
        return res;
    }
    if parts.method != Method::POST {
        let mut res = error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            TRANSPORT_ERROR,
            format!(
                "this MCP endpoint takes POST (request-response transport); {} is not allowed",
                parts.method
            ),
        );
        res.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return res;
    }
    if let Err(res) = check_content_type(&parts.headers) {
        return res;
    }
    if !accepts(&parts.headers, "application/json") {
        return error_response(
            StatusCode::NOT_ACCEPTABLE,
            TRANSPORT_ERROR,
            "this endpoint answers with `application/json`; the request's Accept header refuses it",
        );
    }
    let body = match read_body(body, &parts.headers, &app.options).await {
        Ok(b) => b,
        Err(res) => return res,
    };
    let parts = Arc::new(parts);
    let answer = |body: Vec<u8>, error: Option<&RpcError>| {
        super::admission::answer(auth, &parts, body, error)
    };
    let batch = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    let msg = if batch {
        None
    } else {
        match crate::protocol::Message::parse(&body) {
            Ok(m) => Some(m),
            Err(r) => {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    error_bytes(r.id.as_ref(), &r.error),
                );
            }
        }
    };
    // A 2026-07-28 request: stateless by design, answered here like any other.
    if let Some(m) = &msg
        && super::modern::is_modern(m, &parts.headers)
    {
        let checked = match super::modern::check(&parts, msg.expect("checked above"), &app.core) {
            Ok(Some(c)) => c,
            Ok(None) => return accepted(),
            Err(res) => return res,
        };
        if checked.method == "subscriptions/listen" {
            let e = RpcError::method_not_found(&checked.method).with_data(serde_json::json!({
                "method": checked.method,
                "reason": "this request-response endpoint has no streams; use Streamable HTTP",
            }));
            return json_response(StatusCode::NOT_FOUND, error_bytes(Some(&checked.id), &e));
        }
        let cancel = CancellationToken::new();
        // Input-required rounds need no stream: they work over request-response too.
        let profile = crate::core::Profile::request_response(checked.peer.version());
        let mut env = RequestEnv::new(Some(parts.clone()), checked.peer, cancel.clone(), profile);
        env.timeout = app.options.tool_timeout;
        let id = checked.id;
        let core = app.core.clone();
        let request = id.clone();
        let outcome = super::streamable::InFlight::cancelled_on_drop(cancel, async move {
            core.request(&request, &checked.method, checked.params, env)
                .await
        });
        return match outcome.await {
            Some(Ok(raw)) => answer(crate::protocol::response_bytes(&id, &raw), None),
            Some(Err(e)) => answer(error_bytes(Some(&id), &e), Some(&e)),
            None => accepted(),
        };
    }
    if batch && super::modern::header_is_modern(&parts.headers) {
        return no_stateless_batches();
    }
    // The handshake era. Without the header a request speaks 2025-03-26, as the transport
    // specifies; `initialize` negotiates from its own params.
    let version = match header_version(&parts.headers, &ProtocolVersion::HANDSHAKE) {
        Ok(v) => v.unwrap_or(ProtocolVersion::HTTP_DEFAULT),
        Err(res) => return res,
    };
    let cancel = CancellationToken::new();
    let mut env = RequestEnv::new(
        Some(parts.clone()),
        Peer::new(version, None, None),
        cancel.clone(),
        crate::core::Profile::request_response(version),
    );
    env.timeout = app.options.tool_timeout;
    let core = app.core.clone();
    let reply = super::streamable::InFlight::cancelled_on_drop(cancel, async move {
        match msg {
            Some(m) => core.handle_message(m, env).await,
            None => core.handle_bytes(&body, env).await,
        }
    });
    match reply.await {
        Some(Reply {
            body,
            kind: ReplyKind::Error(e),
        }) => answer(body, Some(&e)),
        Some(reply) => json_response(reply_status(&reply.kind), reply.body),
        None => accepted(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(values: &[&str]) -> [bool; 2] {
        let mut h = http::HeaderMap::new();
        for v in values {
            h.append(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        }
        accepts_each(&h, ["application/json", "text/event-stream"])
    }

    #[test]
    fn accept_ranges() {
        assert_eq!(accept(&[]), [true, true]);
        assert_eq!(accept(&["*/*"]), [true, true]);
        assert_eq!(
            accept(&["application/json, text/event-stream"]),
            [true, true]
        );
        assert_eq!(accept(&["Application/JSON"]), [true, false]);
        assert_eq!(accept(&["text/*;q=0.5"]), [false, true]);
        assert_eq!(accept(&["application/*; charset=utf-8"]), [true, false]);
        assert_eq!(
            accept(&["application/json;q=0", "text/event-stream"]),
            [false, true]
        );
        assert_eq!(accept(&["*/*; q=0.0"]), [false, false]);
        assert_eq!(accept(&["text/html", "image/png"]), [false, false]);
    }
}
