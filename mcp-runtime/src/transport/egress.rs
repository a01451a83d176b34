//! One egress for every HTTP transport: the status of an answer read from its typed error, the
//! `WWW-Authenticate` and `Retry-After` it calls for, JSON bodies, 202 for what needs no answer,
//! and the answers to requests refused before the core saw them. SSE answers are written by
//! `sse.rs`'s writer on top of these.

// Checks return the rejection `Response` as their error, as axum extractors do; the path is cold.
#![allow(clippy::result_large_err)]

use crate::auth::SharedAuth;
use crate::core::ReplyKind;
use crate::protocol::{RpcError, error_bytes};
use axum::body::Body;
use axum::response::Response;
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};

/// The implementation-defined JSON-RPC code for transport-level rejections.
pub(crate) const TRANSPORT_ERROR: i64 = crate::protocol::code::SERVER_ERROR;

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

/// The `Retry-After` of a middleware limit's error (429): its `retryAfterMs` in whole
/// seconds, rounded up.
pub(crate) fn retry_after(error: &RpcError) -> Option<HeaderValue> {
    if error_status(error.code) != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let ms = error.data.as_ref()?.get("retryAfterMs")?.as_u64()?;
    Some(HeaderValue::from(ms.div_ceil(1000).max(1)))
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

/// A JSON response with a JSON-RPC error and no id (`#[cold]`: every refusal, laid out away
/// from the request path).
#[cold]
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

pub(super) fn method_not_allowed(allow: &'static str) -> Response {
    let mut res = error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        TRANSPORT_ERROR,
        format!("this MCP endpoint takes {allow}"),
    );
    res.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    res
}

/// The HTTP answer to a client's response, as the core routed it: 202 when it answered a
/// question, 400 naming the id otherwise.
pub(crate) fn answered(
    routed: &crate::core::client::Routed,
    id: &crate::protocol::RequestId,
) -> axum::response::Response {
    use crate::core::client::Routed;
    let message = match routed {
        Routed::Answered => return accepted(),
        Routed::NotAQuestion => {
            tracing::debug!("a response to an id that is no question's was refused");
            format!(
                "no question has the id {}: this server asks with ids `mcp-q-…`",
                id.shown()
            )
        }
        _ => {
            crate::bounds::warn_limited!(
                id = %id.shown(),
                "a response for no waiting question of this session was refused"
            );
            format!(
                "no question of this session is waiting for an answer with id {}",
                id.shown()
            )
        }
    };
    error_response(StatusCode::BAD_REQUEST, TRANSPORT_ERROR, message)
}

/// A value quoted for a `WWW-Authenticate` parameter.
pub(super) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '"' => {
                out.push('\\');
                out.push(c);
            }
            // What a header value may hold: visible ASCII and spaces (a client's text quoted
            // in a message may hold anything else).
            ' ' | '!'..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out
}

/// The response to a JSON-RPC answer `body`: the HTTP status of its `error` (200 without one);
/// a 403 (missing scope) gets the `WWW-Authenticate` challenge of RFC 6750 naming the scopes
/// the item needs, a 429 (a middleware limit) `Retry-After` in whole seconds, rounded up. Both
/// are read from the typed error, not from the bytes.
pub(crate) fn answer(
    auth: Option<&SharedAuth>,
    parts: &Parts,
    body: Vec<u8>,
    error: Option<&crate::protocol::RpcError>,
) -> Response {
    let status = error.map_or(StatusCode::OK, |e| error_status(e.code));
    let mut res = json_response(status, body);
    let data = error.and_then(|e| e.data.as_ref());
    if let Some(after) = error.and_then(retry_after) {
        res.headers_mut().insert(header::RETRY_AFTER, after);
    }
    if status != StatusCode::FORBIDDEN {
        return res;
    }
    let scopes = data
        .and_then(|d| d.get("requiredScopes"))
        .and_then(|v| v.as_array())
        .map(|list| {
            list.iter()
                .filter_map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let mut challenge = format!(
        "Bearer error=\"insufficient_scope\", scope=\"{}\", error_description=\"the token lacks scopes this tool requires\"",
        quote(&scopes)
    );
    if let Some(resource) = auth.and_then(|a| a.protected_resource()) {
        challenge.push_str(&format!(
            ", resource_metadata=\"{}\"",
            quote(&resource.metadata_url(parts))
        ));
    }
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    res
}

/// What answers at a mount point, every method: the transport's handler, shared by the
/// router of the mount and by `nest_mcp`, which routes the mount's own paths straight to it.
#[derive(Clone)]
pub(super) struct Endpoint(
    std::sync::Arc<
        dyn Fn(axum::extract::Request) -> futures_util::future::BoxFuture<'static, Response>
            + Send
            + Sync,
    >,
);

impl Endpoint {
    /// The endpoint answering with `handle`.
    pub(super) fn new<F, Fut>(handle: F) -> Self
    where
        F: Fn(axum::extract::Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response> + Send + 'static,
    {
        Self(std::sync::Arc::new(move |req| Box::pin(handle(req))))
    }

    /// The endpoint answering with `handle`, which boxes its answer itself (the future of the
    /// path a request takes, not one the size of the largest).
    pub(super) fn boxed<F>(handle: F) -> Self
    where
        F: Fn(axum::extract::Request) -> futures_util::future::BoxFuture<'static, Response>
            + Send
            + Sync
            + 'static,
    {
        Self(std::sync::Arc::new(handle))
    }

    /// Answers `req`.
    pub(super) fn call(
        &self,
        req: axum::extract::Request,
    ) -> futures_util::future::BoxFuture<'static, Response> {
        (self.0)(req)
    }
}

/// The router of one endpoint, answering at `/` (the mount point); other paths below the mount
/// get a JSON 404.
pub(super) fn endpoint_router(endpoint: &Endpoint) -> axum::Router {
    let endpoint = endpoint.clone();
    axum::Router::new()
        .route(
            "/",
            axum::routing::any(move |req: axum::extract::Request| endpoint.call(req)),
        )
        .fallback(not_found)
}

pub(super) async fn not_found(uri: ::http::Uri) -> axum::response::Response {
    error_response(
        StatusCode::NOT_FOUND,
        TRANSPORT_ERROR,
        format!(
            "no MCP endpoint at `{}` below this mount",
            crate::bounds::shown(uri.path())
        ),
    )
}
