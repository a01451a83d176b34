//! `Transport::StreamableHttp`: one endpoint for POST, GET and DELETE, serving the handshake era
//! (sessions, JSON or SSE per request, the standalone GET stream, resumption with
//! `Last-Event-ID`) and the stateless 2026-07-28 era side by side; the legacy HTTP+SSE endpoints
//! are mounted beside it.

#![allow(clippy::result_large_err)]

use super::egress::{TRANSPORT_ERROR, accepted, error_response, json_response, method_not_allowed};
use super::ingress::{self, Accepts, Answers, Eras, Incoming, accepts, header_version};
use super::{HttpOptions, ResponseMode, modern, sse};
use crate::call::context::{LazyOutbox, Notifier, Outbox};
use crate::core::Dispatcher;
use crate::core::RequestEnv;
use crate::core::client::{self, Routed};
use crate::core::peer::Peer;
use crate::headers;
use crate::protocol::{Message, ProtocolVersion, RequestId, RpcError, code, error_bytes};
use crate::transport::session::{
    EventStream, Lookup, Reader, Refused, Session, Sessions, push_u64,
};
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{any, get, post};
use http::request::Parts;
use http::{HeaderName, HeaderValue, Method, StatusCode, header};
use serde_json::Value;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub(super) const SESSION_HEADER: &str = "mcp-session-id";

/// A mounted Streamable HTTP (or legacy SSE) app.
pub(super) struct App {
    pub(super) core: Arc<Dispatcher>,
    /// The server's authenticator, read once.
    pub(super) auth: Option<super::admission::SharedAuth>,
    pub(super) options: HttpOptions,
    pub(super) sessions: Sessions,
    /// Open `subscriptions/listen` streams (2026-07-28), bounded like sessions.
    pub(super) listeners: std::sync::atomic::AtomicUsize,
    /// Cancelled when the process (or this app) shuts down.
    pub(super) shutdown: CancellationToken,
    /// Cancelled `shutdown_grace` after `shutdown`: calls still running then are cancelled.
    grace: CancellationToken,
    grace_watcher: std::sync::Once,
    /// This app's id among the instances that share its session store.
    pub(super) instance: String,
    /// Whether the relay with the other instances has started (see `bus`).
    bus_started: std::sync::Once,
}

impl App {
    /// The token cancelled when the shutdown grace runs out. Its watcher task starts with the
    /// first call (a router can be built before any runtime exists).
    pub(super) fn grace_expired(&self) -> &CancellationToken {
        self.grace_watcher.call_once(|| {
            let (shutdown, grace, after, core) = (
                self.shutdown.clone(),
                self.grace.clone(),
                self.options.shutdown_grace,
                self.core.clone(),
            );
            tokio::spawn(async move {
                shutdown.cancelled().await;
                tokio::time::sleep(after).await;
                grace.cancel();
                // Tasks get the same grace as calls.
                core.tasks.shut_down().await;
            });
        });
        &self.grace
    }
}

pub(super) fn router(
    core: Arc<Dispatcher>,
    auth: Option<super::admission::SharedAuth>,
    options: HttpOptions,
    streamable: bool,
) -> Router {
    let shutdown = options.shutdown_token();
    let app = Arc::new(App {
        listeners: std::sync::atomic::AtomicUsize::new(0),
        sessions: Sessions::new(
            options.session_idle_timeout,
            options.max_sessions,
            options.max_sessions_per_client,
            options.max_requests_per_session,
            options.replay(),
            shutdown.clone(),
        )
        .with_max_calls(options.max_running_calls)
        .logged_in(options.session_store.clone()),
        auth,
        core,
        options,
        shutdown,
        grace: CancellationToken::new(),
        grace_watcher: std::sync::Once::new(),
        instance: crate::protocol::random_id(),
        bus_started: std::sync::Once::new(),
    });
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
        return legacy.fallback(super::not_found);
    }
    let endpoint = any(move |req: Request| {
        let app = app.clone();
        async move { handle(&app, req).await }
    });
    super::mount(endpoint).merge(legacy)
}

async fn handle(app: &Arc<App>, req: Request) -> Response {
    // The shutdown watcher, started with the first request (it ends the app's tasks too).
    app.grace_expired();
    if app.options.session_store.is_some() {
        // Started with the first request: a router can be built before any runtime exists.
        app.bus_started.call_once(|| super::bus::start(app));
    }
    let (mut parts, body) = req.into_parts();
    if parts.method == Method::GET
        && let Some(page) = super::catalogue_page(&app.options, &parts)
    {
        return page;
    }
    if let Err(res) = super::admit(&app.options.origins, app.auth.as_ref(), &mut parts).await {
        return res;
    }
    match parts.method {
        Method::POST => post_message(app, parts, body).await,
        Method::GET => open_stream(app, &parts).await,
        Method::DELETE => end_session(app, &parts).await,
        _ => method_not_allowed("GET, POST, DELETE"),
    }
}

/// Runs a call whose token `cancel` is cancelled when the shutdown grace runs out. A call that
/// ends on its first poll (most do) never touches the grace token: linking a token per request
/// as a child of one shared token takes that token's lock twice per request, from every
/// worker, which costs more the more requests run at once.
async fn linked_to_grace<T>(
    app: Arc<App>,
    cancel: CancellationToken,
    call: impl Future<Output = T>,
) -> T {
    let mut call = std::pin::pin!(call);
    if let Some(done) = futures_util::FutureExt::now_or_never(&mut call) {
        return done;
    }
    let grace = app.grace_expired();
    tokio::select! {
        biased;
        done = &mut call => done,
        () = grace.cancelled() => {
            cancel.cancel();
            call.await
        }
    }
}

/// The `Mcp-Session-Id` a request names; an unreadable value names no session there is (404).
#[allow(clippy::result_large_err)]
fn session_header(parts: &Parts) -> Result<Option<&str>, Response> {
    static NAME: HeaderName = HeaderName::from_static(SESSION_HEADER);
    headers::text(&parts.headers, &NAME).map_err(|e| {
        error_response(
            StatusCode::NOT_FOUND,
            -32001,
            format!("session not found: {e}; send `initialize` to start a new one"),
        )
    })
}

fn unknown_session() -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        -32001,
        "session not found: it ended or expired; send `initialize` to start a new one",
    )
}

/// The session a request names: `Ok(None)` without the header (or in stateless mode), 404 when
/// unknown.
async fn lookup_session(app: &App, parts: &Parts) -> Result<Option<Arc<Session>>, Response> {
    if app.options.stateless {
        return Ok(None);
    }
    match session_header(parts)? {
        None => Ok(None),
        Some(id) => find_session(app, parts, id).await.map(Some),
    }
}

/// A live session of this caller: a session used with another caller's credentials is as
/// unknown as one that never existed (404), so its existence is not revealed. With a shared
/// session store, the store says whether the session lives (503 when it cannot be asked), and a
/// session another instance created is served here.
pub(super) async fn find_session(
    app: &App,
    parts: &Parts,
    id: &str,
) -> Result<Arc<Session>, Response> {
    // An id this server cannot have made names no session: no store is asked.
    if !crate::protocol::could_be_random_id(id) {
        return Err(unknown_session());
    }
    let session = match &app.options.session_store {
        None => match app.sessions.get(id) {
            Lookup::Found(s) => s,
            Lookup::Unknown => return Err(unknown_session()),
        },
        // A legacy HTTP+SSE session lives where its stream is: it is not shared.
        Some(_)
            if let Some(s) = app.sessions.local(id)
                && s.legacy_stream.get().is_some() =>
        {
            s
        }
        Some(store) => match store.load(id, app.options.session_idle_timeout).await {
            Err(e) => return Err(store_unavailable(&e)),
            Ok(None) => {
                // Ended or expired elsewhere: so it is here too.
                app.sessions.remove(id);
                return Err(unknown_session());
            }
            Ok(Some(record)) => match app.sessions.adopt(&record) {
                Some(Ok(s)) => s,
                Some(Err(refused)) => {
                    return Err(session_refused(
                        &refused,
                        app.options.max_sessions_per_client,
                    ));
                }
                None => return Err(unknown_session()),
            },
        },
    };
    if session.owner == super::admission::session_owner(parts) {
        Ok(session)
    } else {
        tracing::warn!("a session was presented by a caller other than its owner; refused");
        Err(unknown_session())
    }
}

/// 503 for a request that needs the shared session store when it cannot be asked; what went
/// wrong (which may name hosts and ports) goes to the log, not to the client.
pub(super) fn store_unavailable(e: &crate::store::tasks::StoreError) -> Response {
    tracing::warn!(error = %e, "the session store is unavailable");
    error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        crate::protocol::code::STORE_UNAVAILABLE,
        "the session store is unavailable; try again shortly",
    )
}

/// Writes a session's record to the shared store if its peer changed since it was last
/// written (`logging/setLevel`, subscriptions); 503 when the store cannot take it, since what
/// the client was told would otherwise be lost on the other instances.
pub(super) async fn save_session(app: &App, session: &Session) -> Result<(), Response> {
    let Some(store) = &app.options.session_store else {
        return Ok(());
    };
    if !session.unsaved() {
        return Ok(());
    }
    let revision = session.peer.revision();
    let record = session.record();
    match store.save(&record, app.options.session_idle_timeout).await {
        Ok(()) => {
            session.saved(revision, record);
            Ok(())
        }
        Err(e) => Err(store_unavailable(&e)),
    }
}

/// What the client accepts for answers to requests.
async fn post_message(app: &Arc<App>, parts: Parts, body: Body) -> Response {
    let accept = match ingress::head(&parts, Answers::JsonOrSse) {
        Ok(a) => a,
        Err(res) => return res,
    };
    let (msg, header_version) = match ingress::read(&parts, body, &app.options, Eras::All).await {
        Ok(Incoming::Stateless(msg)) => return modern::post(app, parts, msg, accept).await,
        Ok(Incoming::Batch(body, version)) => return post_batch(app, parts, &body, version).await,
        Ok(Incoming::Handshake(msg, version)) => (msg, version),
        Err(res) => return res,
    };
    let session = match lookup_session(app, &parts).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    match msg {
        Message::Notification { method, params } => {
            let Some(s) = &session else {
                return accepted();
            };
            if let Routed::NotRunning(id) =
                client::notification(&method, params.as_ref(), |id| s.cancel_request(id))
                && app.options.session_store.is_some()
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
                && app.options.session_store.is_some()
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
            initialize(app, parts, id, params).await
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

/// The peer of a handshake-era request: its session's, or (without a session) one speaking
/// the header's revision, 2025-03-26 when there is none, as the transport specifies.
fn handshake_peer(header: Option<ProtocolVersion>, session: Option<&Session>) -> Arc<Peer> {
    match session {
        Some(s) => s.peer.clone(),
        None => Peer::new(header.unwrap_or(ProtocolVersion::HTTP_DEFAULT), None, None),
    }
}

/// A JSON-RPC batch (2025-03-26): answered as one JSON array, without streaming.
async fn post_batch(
    app: &Arc<App>,
    parts: Parts,
    body: &[u8],
    version: Option<ProtocolVersion>,
) -> Response {
    let session = match lookup_session(app, &parts).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    // Like single calls: the grace after shutdown to finish, `notifications/cancelled` through
    // the session's registry.
    let peer = handshake_peer(version, session.as_deref());
    let profile = crate::core::Profile::streamable(
        peer.version(),
        session.is_some(),
        true,
        app.options.client_request_timeout,
    );
    let mut env = RequestEnv::new(
        Some(Arc::new(parts)),
        peer,
        app.grace_expired().child_token(),
        profile,
    );
    env.timeout = app.options.tool_timeout;
    env.in_flight = session.map(|s| s as Arc<dyn crate::core::InFlight>);
    match app.core.handle_bytes(body, env).await {
        Some(reply) => json_response(super::egress::reply_status(&reply.kind), reply.body),
        None => accepted(),
    }
}

async fn initialize(
    app: &Arc<App>,
    parts: Parts,
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
        !app.options.stateless,
        true,
        app.options.client_request_timeout,
    );
    let env = RequestEnv::new(
        Some(Arc::new(parts)),
        peer.clone(),
        CancellationToken::new(),
        profile,
    );
    let answer = app.core.request(&id, "initialize", params, env).await;
    let result = match answer {
        Some(Ok(raw)) => raw,
        Some(Err(e)) => return json_response(StatusCode::OK, error_bytes(Some(&id), &e)),
        None => return accepted(),
    };
    let mut res = json_response(
        StatusCode::OK,
        crate::protocol::response_bytes(&id, &result),
    );
    if app.options.stateless {
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
        Err(refused) => session_refused(&refused, app.options.max_sessions_per_client),
    }
}

/// The answer to an `initialize` (or legacy `GET /sse`) that got no session.
pub(super) fn session_refused(refused: &Refused, per_client: usize) -> Response {
    match refused {
        Refused::Full => error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            TRANSPORT_ERROR,
            "too many open sessions, all busy; try again later",
        ),
        Refused::ClientLimit => error_response(
            StatusCode::TOO_MANY_REQUESTS,
            TRANSPORT_ERROR,
            format!(
                "this client already has {per_client} sessions, all busy; end one (DELETE) or \
                 wait for one to finish"
            ),
        ),
    }
}

/// One request to answer, with what decides how.
pub(super) struct Call {
    pub(super) id: RequestId,
    pub(super) method: String,
    pub(super) params: Option<Value>,
    /// The client: its session's peer, or the request's own (2026-07-28, no session).
    pub(super) peer: Arc<Peer>,
    pub(super) session: Option<Arc<Session>>,
    pub(super) parts: Parts,
    pub(super) accept: Accepts,
    /// Closing the response cancels the call (the 2026-07-28 rule). In the handshake era a
    /// disconnect is not a cancellation: the call goes on and its stream can be resumed.
    pub(super) cancel_on_disconnect: bool,
}

/// The answer of a dispatched request, as bytes with its HTTP status; `None` when it was
/// cancelled.
type Answer = Option<(Vec<u8>, Option<RpcError>)>;

fn answer_bytes(
    id: &RequestId,
    answer: Option<Result<Box<serde_json::value::RawValue>, RpcError>>,
) -> Answer {
    match answer? {
        Ok(raw) => Some((crate::protocol::response_bytes(id, &raw), None)),
        Err(e) => Some((error_bytes(Some(id), &e), Some(e))),
    }
}

/// What a notification channel holds now.
fn drain(rx: &mut mpsc::Receiver<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut events = Vec::new();
    while let Ok(n) = rx.try_recv() {
        events.push(n);
    }
    events
}

/// Dispatches a request and answers with JSON or SSE, as the mode and the tool decide.
pub(super) async fn run(app: &Arc<App>, call: Call) -> Response {
    let Call {
        id,
        method,
        params,
        peer,
        session,
        parts,
        accept,
        cancel_on_disconnect,
    } = call;
    if let Some(res) =
        super::admission::refuse_scopes(&app.core, app.auth.as_ref(), &parts, &id, &method, &params)
    {
        return res;
    }
    let version = peer.version();
    let mode = match (app.options.response_mode, accept.json, accept.sse) {
        (_, true, false) => ResponseMode::Json,
        (_, false, true) => ResponseMode::Sse,
        (mode, _, _) => mode,
    };
    // Cancelled when the shutdown grace runs out (see `linked_to_grace` below). Not a child of
    // the session's token: a session ending at shutdown leaves its calls the grace; DELETE and
    // expiry cancel them through the in-flight registry.
    let cancel = CancellationToken::new();
    if let Some(s) = &session
        && let Err(busy) = s.start_request(id.clone(), cancel.clone())
    {
        return super::egress::busy(&id, &busy);
    }
    // A JSON answer carries no notifications: no channel for them. An SSE answer gets its
    // channel now; in Auto mode the first notification makes it (most calls send none).
    let lazy = (mode != ResponseMode::Json).then(|| Arc::new(LazyOutbox::default()));
    let notifier = lazy.as_ref().map(|lazy| Notifier {
        tx: Outbox::Lazy(lazy.clone()),
        log_level: peer.log_level(),
        resumable: session.is_some() && !version.is_stateless(),
    });
    let parts = Arc::new(parts);
    let profile = crate::core::Profile::streamable(
        version,
        session.is_some(),
        mode == ResponseMode::Json,
        app.options.client_request_timeout,
    );
    let mut env = RequestEnv::new(Some(parts.clone()), peer, cancel.clone(), profile);
    env.notifier = notifier;
    env.timeout = app.options.tool_timeout;
    let shared = app.core.clone();
    let task_id = id.clone();
    let dispatch = linked_to_grace(app.clone(), cancel.clone(), async move {
        let answer = shared.request(&task_id, &method, params, env).await;
        answer_bytes(&task_id, answer)
    });
    // In a session of the handshake era a client going away does not cancel the call, so a call
    // that may answer on this connection runs as its own task. Otherwise (stateless, or an SSE
    // answer whose pump task drives it) it is polled in place: no spawn on the hot path.
    let detach = session.is_some() && !cancel_on_disconnect && mode != ResponseMode::Sse;
    let dispatch: Pin<Box<dyn Future<Output = Answer> + Send>> = if detach {
        // The task ends the call's record itself: if the client has gone, nothing else will.
        // (A JSON answer carries no event id, so it cannot be resumed; it is dropped.)
        let record = session.clone();
        let record_id = id.clone();
        let task = tokio::spawn(async move {
            let answer = dispatch.await;
            if let Some(s) = record {
                s.end_request(&record_id);
            }
            answer
        });
        let id = id.clone();
        Box::pin(async move {
            task.await.unwrap_or_else(|e| {
                let e = RpcError::new(code::INTERNAL_ERROR, format!("the call failed: {e}"));
                Some((error_bytes(Some(&id), &e), Some(e)))
            })
        })
    } else {
        Box::pin(dispatch)
    };
    let mut dispatch = InFlight {
        future: Some(dispatch),
        cancel: cancel_on_disconnect.then(|| cancel.clone()),
    };
    let guard = DisconnectGuard {
        cancel: cancel_on_disconnect.then(|| cancel.clone()),
    };

    let Some(lazy) = lazy else {
        let answer = (&mut dispatch).await;
        return finish_json(app, &parts, &id, session.as_deref(), answer, guard);
    };
    let (first, mut rx) = match mode {
        ResponseMode::Sse => {
            // SSE: a call that completes on its first poll is answered with the whole stream
            // in one body: no pump task, no reader, no keep-alive timer. Its events are still
            // kept for resumption like any other stream's.
            if let Some(answer) = futures_util::FutureExt::now_or_never(&mut dispatch) {
                let events = lazy.take_receiver().map(|mut rx| drain(&mut rx));
                return sse_at_once(
                    app,
                    session.as_deref(),
                    &id,
                    events.unwrap_or_default(),
                    answer,
                )
                .await;
            }
            let rx = lazy.receiver().expect("the receiver is taken once");
            (None, rx)
        }
        _ => {
            // Auto: JSON unless the tool sends a notification before it answers. A call that
            // sent notifications and finished in the same poll is answered with all of them in
            // one SSE body: what it sent before its result is never dropped.
            tokio::select! {
                biased;
                answer = &mut dispatch => {
                    let events = lazy.take_receiver().map(|mut rx| drain(&mut rx)).unwrap_or_default();
                    if events.is_empty() || answer.is_none() {
                        return finish_json(app, &parts, &id, session.as_deref(), answer, guard);
                    }
                    guard.disarm();
                    return sse_at_once(app, session.as_deref(), &id, events, answer).await;
                }
                () = lazy.opened() => {
                    let mut rx = lazy.take_receiver().expect("an opened outbox has its receiver");
                    (rx.try_recv().ok(), rx)
                }
            }
        }
    };
    let stream = match &session {
        Some(s) => s.new_stream(),
        None => EventStream::new(0, app.options.replay()),
    };
    let pump_stream = stream.clone();
    let pump_session = session.clone();
    let shutdown = app.shutdown.clone();
    // Cancelled when the tool closes its stream early (`Context::close_stream`): the response
    // ends, the call and its events go on, for the client to resume.
    let close = CancellationToken::new();
    let pump_close = close.clone();
    let push = move |n: Vec<u8>, stream: &Arc<EventStream>| {
        let stream = stream.clone();
        let close = pump_close.clone();
        async move {
            if n.is_empty() {
                close.cancel();
            } else {
                stream.push(bytes_to_str(n)).await;
            }
        }
    };
    tokio::spawn(async move {
        if let Some(n) = first {
            push(n, &pump_stream).await;
        }
        let answer = loop {
            tokio::select! {
                biased;
                Some(n) = rx.recv() => push(n, &pump_stream).await,
                answer = &mut dispatch => break answer,
            }
        };
        while let Ok(n) = rx.try_recv() {
            push(n, &pump_stream).await;
        }
        match answer {
            Some((bytes, _)) => pump_stream.push(bytes_to_str(bytes)).await,
            None if shutdown.is_cancelled() => {
                let e = RpcError::shut_down();
                pump_stream
                    .push(bytes_to_str(error_bytes(Some(&id), &e)))
                    .await;
            }
            _ => {}
        }
        pump_stream.finish();
        if let Some(s) = pump_session {
            s.end_request(&id);
        }
    });
    let reader = stream.reader(0);
    sse_response(
        app,
        reader,
        SseStart::Prime,
        // A POST stream ends with its response, even during shutdown (within the grace), or
        // when the tool closes it early.
        close,
        guard,
    )
}

/// An SSE answer whose events are all known: priming event, notifications, response.
async fn sse_at_once(
    app: &App,
    session: Option<&Session>,
    id: &RequestId,
    notifications: Vec<Vec<u8>>,
    answer: Answer,
) -> Response {
    let stream = match session {
        Some(s) => s.new_stream(),
        None => EventStream::new(0, app.options.replay()),
    };
    // Closing the stream early means nothing when everything is sent at once.
    let mut events: Vec<Arc<str>> = notifications
        .into_iter()
        .filter(|n| !n.is_empty())
        .map(bytes_to_str)
        .collect();
    if let Some((bytes, _)) = answer {
        events.push(bytes_to_str(bytes));
    }
    // With a shared store, logged before any of it is sent.
    stream.log_finished(&events).await;
    // Written piece by piece: this is the hot path of sessions answered with SSE.
    let mut body = String::with_capacity(events.iter().map(|e| e.len() + 64).sum::<usize>() + 64);
    write_priming_event(app, &stream, &mut body);
    for (i, e) in events.iter().enumerate() {
        body.push_str("id: ");
        stream.write_event_id(&mut body, i as u64 + 1);
        body.push_str("\nevent: message\ndata: ");
        body.push_str(e);
        body.push_str("\n\n");
    }
    stream.push_finished(events);
    if let Some(s) = session {
        s.end_request(id);
    }
    let mut res = Response::new(Body::from(body));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    no_buffering(&mut res);
    res
}

/// Headers every SSE answer carries: no caching, and no buffering by proxies (nginx), so
/// events arrive as they are sent.
fn no_buffering(res: &mut Response) {
    let headers = res.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    static X_ACCEL_BUFFERING: HeaderName = HeaderName::from_static("x-accel-buffering");
    headers.insert(&X_ACCEL_BUFFERING, HeaderValue::from_static("no"));
}

fn bytes_to_str(bytes: Vec<u8>) -> Arc<str> {
    String::from_utf8(bytes).expect("JSON is UTF-8").into()
}

/// A call being answered on this connection. If the handler is dropped before it completes (the
/// client went away), the rest of the call runs as its own task: cancelled first where a closed
/// connection means cancellation, so a tool watching `ctx.cancelled()` sees it, or left to
/// finish where it does not.
pub(super) struct InFlight<T: Send + 'static = Answer> {
    future: Option<Pin<Box<dyn Future<Output = T> + Send>>>,
    cancel: Option<CancellationToken>,
}

impl<T: Send + 'static> InFlight<T> {
    /// A call of a client that nothing can resume: cancelled by `cancel` when its client goes.
    pub(super) fn cancelled_on_drop(
        cancel: CancellationToken,
        future: impl Future<Output = T> + Send + 'static,
    ) -> Self {
        Self {
            future: Some(Box::pin(future)),
            cancel: Some(cancel),
        }
    }
}

impl<T: Send + 'static + Default> Future for InFlight<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<T> {
        let Some(future) = self.future.as_mut() else {
            return std::task::Poll::Ready(T::default());
        };
        let answer = std::task::ready!(future.as_mut().poll(cx));
        self.future = None;
        std::task::Poll::Ready(answer)
    }
}

impl<T: Send + 'static> Drop for InFlight<T> {
    fn drop(&mut self) {
        if let Some(future) = self.future.take() {
            if let Some(c) = &self.cancel {
                c.cancel();
            }
            tokio::spawn(future);
        }
    }
}

/// Cancels a call when the response is dropped before it completed (client went away).
pub(super) struct DisconnectGuard {
    pub(super) cancel: Option<CancellationToken>,
}

impl DisconnectGuard {
    fn disarm(mut self) {
        self.cancel = None;
    }
}

impl Drop for DisconnectGuard {
    fn drop(&mut self) {
        if let Some(c) = &self.cancel {
            c.cancel();
        }
    }
}

fn finish_json(
    app: &App,
    parts: &Parts,
    id: &RequestId,
    session: Option<&Session>,
    answer: Answer,
    guard: DisconnectGuard,
) -> Response {
    guard.disarm();
    if let Some(s) = session {
        s.end_request(id);
    }
    match answer {
        Some((bytes, error)) => {
            super::egress::answer(app.auth.as_ref(), parts, bytes, error.as_ref())
        }
        None if app.shutdown.is_cancelled() => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            error_bytes(Some(id), &RpcError::shut_down()),
        ),
        // Cancelled by the client: no JSON-RPC response is sent for it.
        None => {
            let mut res = Response::new(Body::empty());
            *res.status_mut() = StatusCode::NO_CONTENT;
            res
        }
    }
}

/// How an SSE response starts.
pub(super) enum SseStart {
    /// With a priming event (an id and empty data) and `retry`, so the client can resume.
    Prime,
    /// Without one (a resumed stream).
    Resume,
    /// With the legacy transport's `endpoint` event.
    Endpoint(String),
}

/// The SSE response reading `reader`. It ends when the stream is finished, or when `stop` is
/// cancelled; `guard` lives as long as the response.
pub(super) fn sse_response(
    app: &App,
    reader: Reader,
    start: SseStart,
    stop: CancellationToken,
    guard: DisconnectGuard,
) -> Response {
    let legacy = matches!(start, SseStart::Endpoint(_));
    // axum's `Event` writes no `data` line for empty data, and an event without one is never
    // dispatched by a client's parser: the priming event is written as bytes, before the rest.
    let priming = matches!(start, SseStart::Prime).then(|| priming_event(app, reader.stream()));
    let first = match start {
        SseStart::Prime | SseStart::Resume => None,
        SseStart::Endpoint(url) => Some(Event::default().event("endpoint").data(url)),
    };
    struct State {
        reader: Reader,
        first: Option<Event>,
        stop: CancellationToken,
        legacy: bool,
        _guard: DisconnectGuard,
    }
    let state = State {
        reader,
        first,
        stop,
        legacy,
        _guard: guard,
    };
    let events = futures_util::stream::unfold(state, |mut st| async move {
        if let Some(e) = st.first.take() {
            return Some((Ok::<_, Infallible>(e), st));
        }
        let next = tokio::select! {
            biased;
            next = st.reader.next() => next,
            () = st.stop.cancelled() => None,
        };
        let (seq, data) = next?;
        let mut event = Event::default().event("message").data(&*data);
        if !st.legacy {
            event = event.id(st.reader.stream().event_id(seq));
        }
        Some((Ok(event), st))
    });
    let mut res = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(app.options.sse_keep_alive))
        .into_response();
    no_buffering(&mut res);
    match priming {
        Some(priming) => {
            let (parts, body) = res.into_parts();
            let first = futures_util::stream::once(async move {
                Ok::<_, axum::Error>(bytes::Bytes::from(priming))
            });
            let body = Body::from_stream(futures_util::StreamExt::chain(
                first,
                body.into_data_stream(),
            ));
            Response::from_parts(parts, body)
        }
        None => res,
    }
}

/// The priming event of a stream (SEP-1699): its first id, the `retry` the client should wait
/// before reconnecting, and empty data.
fn priming_event(app: &App, stream: &EventStream) -> String {
    let mut out = String::with_capacity(48);
    write_priming_event(app, stream, &mut out);
    out
}

/// Writes the priming event into `out`.
fn write_priming_event(app: &App, stream: &EventStream, out: &mut String) {
    let retry = u64::try_from(app.options.sse_retry.as_millis()).unwrap_or(u64::MAX);
    out.push_str("id: ");
    stream.write_event_id(out, 0);
    out.push_str("\nretry: ");
    push_u64(out, retry);
    out.push_str("\ndata: \n\n");
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
    let Some(store) = &app.options.session_store else {
        return Ok(None);
    };
    let Some((stream, seq)) = crate::transport::session::parse_event_id(last_event_id) else {
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
    if modern::header_is_modern(&parts.headers) || app.options.stateless {
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
                sse_response(
                    app,
                    stream.reader(seq),
                    SseStart::Resume,
                    stop,
                    DisconnectGuard { cancel: None },
                )
            }
            None => match logged_elsewhere(app, &session, last.trim()).await {
                Ok(Some((stream, seq))) => sse_response(
                    app,
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
    let res = sse_response(
        app,
        reader,
        SseStart::Prime,
        stop,
        DisconnectGuard { cancel: None },
    );
    // The flag is cleared when the response body (which owns `closer`) is dropped.
    attach(res, closer)
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

/// Ties a value's lifetime to a response body.
pub(super) fn attach<T: Send + 'static>(res: Response, value: T) -> Response {
    let (parts, body) = res.into_parts();
    let stream = body.into_data_stream();
    let with = futures_util::StreamExt::map(stream, move |chunk| {
        let _keep = &value;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(with))
}

/// DELETE: ends a session.
async fn end_session(app: &App, parts: &Parts) -> Response {
    if modern::header_is_modern(&parts.headers) || app.options.stateless {
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
    if let Some(store) = &app.options.session_store
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
