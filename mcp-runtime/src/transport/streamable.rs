//! `Transport::StreamableHttp`: one endpoint for POST, GET and DELETE, serving the handshake era
//! (sessions, JSON or SSE per request, the standalone GET stream, resumption with
//! `Last-Event-ID`) and the stateless 2026-07-28 era side by side; the legacy HTTP+SSE endpoints
//! are mounted beside it.

#![allow(clippy::result_large_err)]

use super::egress::{TRANSPORT_ERROR, accepted, error_response, json_response, method_not_allowed};
use super::endpoint::{
    App, Call, SESSION_HEADER, find_session, handshake_peer, lookup_session, run, save_session,
    session_header, session_refused, store_unavailable, unknown_session,
};
use super::events::{self, SseStart};
use super::inflight::DisconnectGuard;
use super::ingress::{self, Answers, Eras, Incoming, accepts, header_version};
use super::options::HttpOptions;
use super::{sse, stateless};
use crate::core::Dispatcher;
use crate::core::RequestEnv;
use crate::core::client::{self, Routed};
use crate::core::peer::Peer;
use crate::headers;
use crate::protocol::{Message, ProtocolVersion, RequestId, RpcError, error_bytes};
use crate::transport::replay::EventStream;
use crate::transport::session::Session;
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use axum::routing::{get, post};
use http::request::Parts;
use http::{HeaderName, HeaderValue, Method, StatusCode};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio_util::sync::CancellationToken;

pub(super) fn router(
    core: Arc<Dispatcher>,
    auth: Option<crate::auth::SharedAuth>,
    options: HttpOptions,
    streamable: bool,
) -> (Router, Option<super::egress::Endpoint>) {
    let app = App::new(core, auth, options);
    let sse_app = app.clone();
    let messages_app = app.clone();
    let legacy = Router::new()
        .route(
            "/sse",
            get(move |req: Request| {
                let app = sse_app.clone();
                async move { sse::open(&app, req).await }
            }),
        )
        .route(
            "/messages",
            post(move |req: Request| {
                let app = messages_app.clone();
                async move { sse::message(&app, req).await }
            }),
        );
    if !streamable {
        return (legacy.fallback(super::egress::not_found), None);
    }
    let endpoint = super::egress::Endpoint::boxed(move |req: Request| handle(&app, req));
    (
        super::egress::endpoint_router(&endpoint).merge(legacy),
        Some(endpoint),
    )
}

/// A request at the endpoint, answered by the future of its method alone (boxed once: a
/// POST's future does not carry a GET's, nor the other way round).
fn handle(app: &Arc<App>, req: Request) -> futures_util::future::BoxFuture<'static, Response> {
    let (parts, body) = req.into_parts();
    if parts.method == Method::POST {
        return Box::pin(post_message(app.clone(), parts, body));
    }
    Box::pin(not_a_post(app.clone(), parts))
}

/// What the first request starts, when its future first runs (inside the runtime, in the
/// serve loop's connection): the shutdown watcher (it ends the app's tasks too), the relay
/// with the other instances, following the serve loop's shutdown.
fn started(app: &Arc<App>) {
    app.grace_expired();
    if app.options.sessions.store.is_some() {
        // Started with the first request: a router can be built before any runtime exists.
        app.bus_started.call_once(|| super::bus::start(app));
    }
    app.watch_serve();
}

/// GET (a stream, or the page for a browser), DELETE, and the methods the endpoint refuses.
async fn not_a_post(app: Arc<App>, mut parts: Parts) -> Response {
    let app = &app;
    started(app);
    if parts.method == Method::GET
        && let Some(page) = super::page::for_browser(&app.options, &parts)
    {
        return page;
    }
    if let Err(res) =
        super::admission::admit(&app.options.origins, app.auth.as_ref(), &mut parts).await
    {
        return res;
    }
    // Shared from here on: the layers below hold a handle, not a copy each.
    let parts = Arc::new(parts);
    match parts.method {
        Method::GET => open_stream(app, &parts).await,
        Method::DELETE => end_session(app, &parts).await,
        _ => method_not_allowed("GET, POST, DELETE"),
    }
}

/// A POST: admission (origin, host, credentials), the ingress, then the message.
async fn post_message(app: Arc<App>, mut parts: Parts, body: Body) -> Response {
    let app = &app;
    started(app);
    // The headers read once, for every check before the call.
    let known = ingress::Known::of(&parts.headers);
    let admitted =
        super::admission::admitted(&app.options.origins, app.auth.as_ref(), &parts, &known).await;
    if let Err(res) = super::admission::keep(&mut parts.extensions, admitted) {
        return res;
    }
    let accept = match ingress::head(&known, Answers::JsonOrSse) {
        Ok(a) => a,
        Err(res) => return res,
    };
    let (msg, header_version) = match ingress::read(&known, body, &app.options, Eras::All).await {
        Ok(Incoming::Stateless(msg)) => {
            // Boxed: inline, its future would make every POST's larger.
            return Box::pin(stateless::post(app, Arc::new(parts), msg, accept)).await;
        }
        // Boxed, as `initialize` below: rare, and their futures are large (each ~4 KB inline
        // would be what every request's future is, moved with it).
        Ok(Incoming::Batch(body, version)) => {
            return Box::pin(post_batch(app, Arc::new(parts), &body, version)).await;
        }
        Ok(Incoming::Handshake(msg, version)) => (msg, version),
        Err(res) => return res,
    };
    let session = match lookup_session(app, &parts, &known).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    // Shared from here on: the layers below hold a handle, not a copy each.
    let parts = Arc::new(parts);
    match msg {
        Message::Notification { method, params } => {
            let Some(s) = &session else {
                return accepted();
            };
            if let Routed::NotRunning(id) =
                client::notification(&method, params.as_ref(), |id| s.cancel_request(id))
                && app.options.sessions.store.is_some()
                // Running on another instance, maybe: the one that runs it cancels it.
                && let Err(e) = super::bus::forward_cancel(app, &s.id, id).await
            {
                return store_unavailable(&e);
            }
            accepted()
        }
        Message::Response { id, result } => {
            // Asked on another instance, maybe: the answer goes to the one that asked.
            if let Some(s) = &session
                && app.options.sessions.store.is_some()
                && !s.peer.is_asking(&id)
                && client::could_be_question(&id)
            {
                return super::bus::forward_answer(app, &s.id, id, result).await;
            }
            let routed = client::response(session.as_ref().map(|s| &*s.peer), &id, result);
            super::egress::answered(&routed, &id)
        }
        Message::Request { id, method, params } if method == "initialize" => {
            if session.is_some() {
                let e = RpcError::invalid_request(
                    "this session is already initialized; send `initialize` without \
                     `Mcp-Session-Id` to start another",
                );
                return json_response(StatusCode::BAD_REQUEST, error_bytes(Some(&id), &e));
            }
            Box::pin(initialize(app, parts, id, params)).await
        }
        Message::Request { id, method, params } => {
            let peer = handshake_peer(header_version, session.as_deref());
            // Without a session nothing can resume the call or cancel it later: it ends with
            // its connection. A session's call goes on, for the client to resume.
            let cancel_on_disconnect = session.is_none();
            let call = Call {
                id,
                method,
                params,
                peer,
                session: session.clone(),
                parts,
                accept,
                cancel_on_disconnect,
            };
            let res = run(app, call).await;
            match &session {
                Some(s) => save_session(app, s).await.map_or_else(|e| e, |()| res),
                None => res,
            }
        }
    }
}

/// A JSON-RPC batch (2025-03-26): answered as one JSON array, without streaming.
async fn post_batch(
    app: &Arc<App>,
    parts: Arc<Parts>,
    body: &[u8],
    version: Option<ProtocolVersion>,
) -> Response {
    let session = match lookup_session(app, &parts, &ingress::Known::of(&parts.headers)).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    // Like single calls: the grace after shutdown to finish, `notifications/cancelled` through
    // the session's registry.
    let peer = handshake_peer(version, session.as_deref());
    let profile = crate::core::Profile::streamable(peer.version(), session.is_some(), true);
    let mut env = RequestEnv::new(
        Some(parts),
        peer,
        app.grace_expired().child_token(),
        profile,
    );
    env.in_flight = session.clone().map(|s| s as Arc<dyn crate::core::InFlight>);
    let res = match app.core.handle_bytes(body, env).await {
        Some(reply) => json_response(super::egress::reply_status(&reply.kind), reply.body),
        None => accepted(),
    };
    // What the batch changed of its session (a log level, subscriptions) is kept for the
    // other instances, as after a single message.
    match &session {
        Some(s) => save_session(app, s).await.map_or_else(|e| e, |()| res),
        None => res,
    }
}

async fn initialize(
    app: &Arc<App>,
    parts: Arc<Parts>,
    id: RequestId,
    params: Option<Value>,
) -> Response {
    let owner = super::admission::session_owner(&parts);
    let client = super::admission::session_client(&parts, owner.as_ref());
    // The session's peer, filled in by `initialize`; the session itself is created only when
    // the answer is a success.
    let peer = Peer::new(ProtocolVersion::LATEST_HANDSHAKE, None, None);
    // What `initialize` offers: the session this mount will keep, unless it keeps none.
    let profile = crate::core::Profile::streamable(
        ProtocolVersion::LATEST_HANDSHAKE,
        !app.options.sessionless(),
        true,
    );
    let env = RequestEnv::new(Some(parts), peer.clone(), CancellationToken::new(), profile);
    let answer = app.core.request(&id, "initialize", params, env).await;
    let mut res = match answer.into_message(&id) {
        Some((body, None)) => json_response(StatusCode::OK, body),
        Some((body, Some(_))) => return json_response(StatusCode::OK, body),
        None => return accepted(),
    };
    if app.options.sessionless() {
        return res;
    }
    match app.sessions.create(peer, owner, client) {
        Ok(session) => {
            if let Err(unavailable) = save_session(app, &session).await {
                app.sessions.remove(&session.id);
                return unavailable;
            }
            res.headers_mut().insert(
                SESSION_HEADER,
                HeaderValue::from_str(&session.id).expect("session ids are visible ASCII"),
            );
            res
        }
        Err(refused) => session_refused(&refused, app.options.sessions.max_per_client),
    }
}

/// A stream of the session that another instance served (its instance may be gone), restored
/// from the shared store's log for a client resuming it after `last_event_id`: the events it
/// missed, then the end of the response (the client resumes again while the stream goes on
/// elsewhere). `Ok(None)` when no store has it.
async fn logged_elsewhere(
    app: &App,
    session: &Session,
    last_event_id: &str,
) -> Result<Option<(Arc<EventStream>, u64)>, Response> {
    let Some(store) = &app.options.sessions.store else {
        return Ok(None);
    };
    let Some((stream, seq)) = crate::transport::replay::parse_event_id(last_event_id) else {
        return Ok(None);
    };
    let logged = match store.events_after(&session.id, stream, seq).await {
        Ok(Some(logged)) => logged,
        // Only the priming event was sent: nothing logged yet, nothing missed.
        Ok(None) if seq == 0 => crate::store::shared::LoggedEvents::default(),
        Ok(None) => return Ok(None),
        Err(e) => return Err(store_unavailable(&e)),
    };
    Ok(Some((
        EventStream::restored(stream, app.options.replay(), logged),
        seq,
    )))
}

/// GET: the standalone SSE stream of a session, or the resumption of a stream after
/// `Last-Event-ID`.
async fn open_stream(app: &Arc<App>, parts: &Parts) -> Response {
    if super::era::header_is_stateless(&parts.headers) || app.options.sessionless() {
        return method_not_allowed("POST");
    }
    if !accepts(&parts.headers, "text/event-stream") {
        return error_response(
            StatusCode::NOT_ACCEPTABLE,
            TRANSPORT_ERROR,
            "the GET stream is `text/event-stream`; the Accept header refuses it",
        );
    }
    if let Err(res) = header_version(&parts.headers, &ProtocolVersion::HANDSHAKE) {
        return res;
    }
    let id = match session_header(parts) {
        Ok(id) => id,
        Err(res) => return res,
    };
    let Some(id) = id else {
        return error_response(
            StatusCode::BAD_REQUEST,
            TRANSPORT_ERROR,
            "GET needs the `Mcp-Session-Id` of an initialized session",
        );
    };
    let session = match find_session(app, parts, id).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    static LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");
    let last = match headers::text(&parts.headers, &LAST_EVENT_ID) {
        Ok(last) => last,
        Err(e) => return error_response(StatusCode::BAD_REQUEST, TRANSPORT_ERROR, e.to_string()),
    };
    if let Some(last) = last {
        return match session.find_event(last.trim()) {
            Some((stream, seq)) => {
                let stop = session.ended.clone();
                events::response(
                    &app.options,
                    stream.reader(seq),
                    SseStart::Resume,
                    stop,
                    DisconnectGuard { cancel: None },
                )
            }
            None => match logged_elsewhere(app, &session, last.trim()).await {
                Ok(Some((stream, seq))) => events::response(
                    &app.options,
                    stream.reader(seq),
                    SseStart::Resume,
                    session.ended.clone(),
                    DisconnectGuard { cancel: None },
                ),
                Ok(None) => error_response(
                    StatusCode::BAD_REQUEST,
                    TRANSPORT_ERROR,
                    format!(
                        "no stream of this session has event `{}` any more",
                        crate::bounds::shown(last)
                    ),
                ),
                Err(res) => res,
            },
        };
    }
    if session.get_stream_open.swap(true, Ordering::SeqCst) {
        return error_response(
            StatusCode::CONFLICT,
            TRANSPORT_ERROR,
            "this session already has an open GET stream",
        );
    }
    let stream = session.new_stream();
    // List changes and the session's resource updates go on this stream while it is open.
    let forwarding = session.ended.child_token();
    super::changes::forward(
        app.core.catalog.subscribe(),
        stream.clone(),
        super::changes::Filter::session(session.peer.clone()),
        forwarding.clone(),
    );
    let closer = StreamCloser {
        session: session.clone(),
        stream: stream.clone(),
        forwarding,
    };
    let stop = session.ended.clone();
    let reader = stream.reader(0);
    let res = events::response(
        &app.options,
        reader,
        SseStart::Prime,
        stop,
        DisconnectGuard { cancel: None },
    );
    // The flag is cleared when the response body (which owns `closer`) is dropped.
    events::attach(res, closer)
}

/// Clears a session's "GET stream open" flag when the stream's response is dropped.
struct StreamCloser {
    session: Arc<Session>,
    stream: Arc<EventStream>,
    forwarding: CancellationToken,
}

impl Drop for StreamCloser {
    fn drop(&mut self) {
        self.forwarding.cancel();
        self.stream.finish();
        self.session.get_stream_open.store(false, Ordering::SeqCst);
        self.session.touch();
    }
}

/// DELETE: ends a session.
async fn end_session(app: &App, parts: &Parts) -> Response {
    if super::era::header_is_stateless(&parts.headers) || app.options.sessionless() {
        return method_not_allowed("POST");
    }
    let id = match session_header(parts) {
        Ok(id) => id,
        Err(res) => return res,
    };
    let Some(id) = id else {
        return error_response(
            StatusCode::BAD_REQUEST,
            TRANSPORT_ERROR,
            "DELETE needs the `Mcp-Session-Id` of the session to end",
        );
    };
    if let Err(res) = find_session(app, parts, id).await {
        return res;
    }
    if let Some(store) = &app.options.sessions.store
        && let Err(e) = store.remove(id).await
    {
        return store_unavailable(&e);
    }
    if app.sessions.remove(id) {
        let mut res = Response::new(Body::empty());
        *res.status_mut() = StatusCode::NO_CONTENT;
        res
    } else {
        unknown_session()
    }
}
