//! `Transport::Http`: stateless request-response. Every POST gets one `application/json`
//! answer (or 202 for notifications), nothing streams, and GET is 405.

// Checks return the rejection `Response` as their error, as axum extractors do; the path is cold.
#![allow(clippy::result_large_err)]

use super::egress::{self, TRANSPORT_ERROR, accepted, error_response, json_response, reply_status};
use super::inflight::InFlight;
use super::ingress::{self, Answers, Eras, Incoming};
use super::options::HttpOptions;
use crate::core::Dispatcher;
use crate::core::peer::Peer;
use crate::core::{Reply, ReplyKind, RequestEnv};
use crate::protocol::{ProtocolVersion, RpcError, error_bytes};
use axum::Router;
use axum::extract::Request;
use axum::response::Response;
use http::{HeaderValue, Method, StatusCode, header};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

struct App {
    core: Arc<Dispatcher>,
    options: HttpOptions,
    auth: Option<crate::auth::SharedAuth>,
}

pub(super) fn router(
    core: Arc<Dispatcher>,
    auth: Option<crate::auth::SharedAuth>,
    options: HttpOptions,
) -> (Router, super::egress::Endpoint) {
    let app = Arc::new(App {
        core,
        options,
        auth,
    });
    let endpoint = super::egress::Endpoint::new(move |req: Request| handle(app.clone(), req));
    (super::egress::endpoint_router(&endpoint), endpoint)
}

async fn handle(app: Arc<App>, req: Request) -> Response {
    let app = &*app;
    let (mut parts, body) = req.into_parts();
    if parts.method == Method::GET
        && let Some(page) = super::page::for_browser(&app.options, &parts)
    {
        return page;
    }
    let auth = app.auth.as_ref();
    // The headers read once, for every check before the call.
    let known = ingress::Known::of(&parts.headers);
    let admitted = super::admission::admitted(&app.options.origins, auth, &parts, &known).await;
    if let Err(res) = super::admission::keep(&mut parts.extensions, admitted) {
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
    if let Err(res) = ingress::head(&known, Answers::Json) {
        return res;
    }
    let incoming = match ingress::read(&known, body, &app.options, Eras::All).await {
        Ok(m) => m,
        Err(res) => return res,
    };
    let parts = Arc::new(parts);
    let answer =
        |body: Vec<u8>, error: Option<&RpcError>| egress::answer(auth, &parts, body, error);
    let (msg, version) = match incoming {
        // A 2026-07-28 request: stateless by design, answered here like any other.
        Incoming::Stateless(msg) => {
            let checked = match super::era::check(&parts, msg, &app.core) {
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
            let env = RequestEnv::new(Some(parts.clone()), checked.peer, cancel.clone(), profile);
            let id = checked.id;
            let core = app.core.clone();
            let request = id.clone();
            let outcome = InFlight::cancelled_on_drop(cancel, async move {
                core.request(&request, &checked.method, checked.params, env)
                    .await
            });
            return match outcome.await.into_message(&id) {
                Some((body, error)) => answer(body, error.as_ref()),
                None => accepted(),
            };
        }
        Incoming::Handshake(msg, version) => (Ok(msg), version),
        Incoming::Batch(body, version) => (Err(body), version),
    };
    // The handshake era. Without the header a request speaks 2025-03-26, as the transport
    // specifies; `initialize` negotiates from its own params.
    let version = version.unwrap_or(ProtocolVersion::HTTP_DEFAULT);
    let cancel = CancellationToken::new();
    let env = RequestEnv::new(
        Some(parts.clone()),
        Peer::new(version, None, None),
        cancel.clone(),
        crate::core::Profile::request_response(version),
    );
    let core = app.core.clone();
    let reply = InFlight::cancelled_on_drop(cancel, async move {
        match msg {
            Ok(m) => core.handle_message(m, env).await,
            Err(batch) => core.handle_bytes(&batch, env).await,
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
