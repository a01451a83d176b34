//! What the Streamable HTTP endpoint and the legacy HTTP+SSE endpoints share: the mounted app
//! (its sessions, its shutdown), finding the session a request names, and running one call to
//! its JSON or SSE answer.

#![allow(clippy::result_large_err)]

use super::egress::{TRANSPORT_ERROR, error_response, json_response};
use super::events::{self, SseStart};
use super::inflight::{Answer, DisconnectGuard, InFlight};
use super::ingress::Accepts;
use super::options::{HttpOptions, ResponseMode};
use crate::call::context::{LazyOutbox, Notifier, Outbox};
use crate::core::Dispatcher;
use crate::core::RequestEnv;
use crate::core::peer::Peer;
use crate::protocol::{ProtocolVersion, RequestId, RpcError, code, error_bytes};
use crate::transport::replay::EventStream;
use crate::transport::session::{Lookup, Refused, Session, Sessions};
use axum::body::Body;
use axum::response::Response;
use http::StatusCode;
use http::request::Parts;
use serde_json::Value;
use std::pin::Pin;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub(super) use super::ingress::SESSION_HEADER;

/// The open `subscriptions/listen` streams of an app: in all, and per client (as
/// `admission::session_client` names them).
#[derive(Default)]
pub(super) struct Listeners {
    pub(super) open: usize,
    pub(super) by_client: std::collections::HashMap<String, usize>,
}

/// A mounted Streamable HTTP (or legacy SSE) app.
pub(super) struct App {
    pub(super) core: Arc<Dispatcher>,
    /// The server's authenticator, read once.
    pub(super) auth: Option<crate::auth::SharedAuth>,
    pub(super) options: HttpOptions,
    pub(super) sessions: Sessions,
    /// Open `subscriptions/listen` streams (2026-07-28), bounded like sessions.
    pub(super) listeners: std::sync::Mutex<Listeners>,
    /// Cancelled when the process (or this app) shuts down.
    pub(super) shutdown: CancellationToken,
    /// Cancelled `shutdown_grace` after `shutdown`: calls still running then are cancelled.
    grace: CancellationToken,
    grace_watcher: std::sync::Once,
    /// This app's id among the instances that share its session store.
    pub(super) instance: String,
    /// Whether the relay with the other instances has started (see `bus`).
    pub(super) bus_started: std::sync::Once,
    /// Whether `shutdown` follows the shutdown of the serve loop requests come through.
    watching_serve: std::sync::OnceLock<()>,
}

impl App {
    pub(super) fn new(
        core: Arc<Dispatcher>,
        auth: Option<crate::auth::SharedAuth>,
        options: HttpOptions,
    ) -> Arc<Self> {
        let shutdown = options.shutdown_token();
        Arc::new(Self {
            listeners: std::sync::Mutex::default(),
            sessions: Sessions::new(
                options.sessions.idle_timeout,
                options.sessions.max,
                options.sessions.max_per_client,
                options.sessions.max_requests,
                options.replay(),
                shutdown.clone(),
            )
            .with_max_calls(options.max_running_calls)
            .logged_in(options.sessions.store.clone()),
            auth,
            core,
            options,
            shutdown,
            grace: CancellationToken::new(),
            grace_watcher: std::sync::Once::new(),
            instance: crate::protocol::random_id(),
            bus_started: std::sync::Once::new(),
            watching_serve: std::sync::OnceLock::new(),
        })
    }

    /// Under `mcp_runtime::serve`, this mount's shutdown follows the loop's, unless it was
    /// given one of its own: the first request served in one of the loop's connections links
    /// them.
    pub(super) fn watch_serve(&self) {
        if self.options.shutdown.is_none()
            && self.watching_serve.get().is_none()
            && let Ok(served) = super::options::SERVED.try_with(Clone::clone)
            && self.watching_serve.set(()).is_ok()
        {
            served.watched_by(&self.shutdown);
        }
    }

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

/// Runs a call whose token `cancel` is cancelled when the shutdown grace runs out. A call that
/// ends on its first poll (most do) never touches the grace token: linking a token per request
/// as a child of one shared token takes that token's lock twice per request, from every
/// worker, which costs more the more requests run at once.
///
/// The call comes boxed: its future is large, and this one, boxed again by the caller, stays
/// small instead of carrying (and moving) it.
pub(super) async fn linked_to_grace<T>(
    app: Arc<App>,
    cancel: CancellationToken,
    mut call: Pin<Box<dyn Future<Output = T> + Send>>,
) -> T {
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
pub(super) fn session_header(parts: &Parts) -> Result<Option<&str>, Response> {
    session_named(&super::ingress::Known::of(&parts.headers))
}

/// [`session_header`] of the headers already read.
#[allow(clippy::result_large_err)]
fn session_named<'h>(known: &super::ingress::Known<'h>) -> Result<Option<&'h str>, Response> {
    known.session().map_err(|e| {
        error_response(
            StatusCode::NOT_FOUND,
            -32001,
            format!("session not found: {e}; send `initialize` to start a new one"),
        )
    })
}

pub(super) fn unknown_session() -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        -32001,
        "session not found: it ended or expired; send `initialize` to start a new one",
    )
}

/// The session a request names: `Ok(None)` without the header (or in stateless mode), 404 when
/// unknown.
pub(super) async fn lookup_session(
    app: &App,
    parts: &Parts,
    known: &super::ingress::Known<'_>,
) -> Result<Option<Arc<Session>>, Response> {
    if app.options.sessionless() {
        return Ok(None);
    }
    match session_named(known)? {
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
    let session = match &app.options.sessions.store {
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
        Some(store) => match store.load(id, app.options.sessions.idle_timeout).await {
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
                        app.options.sessions.max_per_client,
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
    let Some(store) = &app.options.sessions.store else {
        return Ok(());
    };
    if !session.unsaved() {
        return Ok(());
    }
    let revision = session.peer.revision();
    let record = session.record();
    match store.save(&record, app.options.sessions.idle_timeout).await {
        Ok(()) => {
            session.saved(revision, record);
            Ok(())
        }
        Err(e) => Err(store_unavailable(&e)),
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
    pub(super) parts: Arc<Parts>,
    pub(super) accept: Accepts,
    /// Closing the response cancels the call (the 2026-07-28 rule). In the handshake era a
    /// disconnect is not a cancellation: the call goes on and its stream can be resumed.
    pub(super) cancel_on_disconnect: bool,
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
    let profile =
        crate::core::Profile::streamable(version, session.is_some(), mode == ResponseMode::Json);
    let mut env = RequestEnv::new(Some(parts.clone()), peer, cancel.clone(), profile);
    env.notifier = notifier;
    let task_id = id.clone();
    let call = linked_to_grace(
        app.clone(),
        cancel.clone(),
        app.core.request_boxed(id.clone(), method, params, env),
    );
    let dispatch = async move { call.await.into_message(&task_id) };
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
    // The call's last handle to its token (each clone of a token takes its lock).
    let mut dispatch = InFlight::new(dispatch, cancel_on_disconnect.then_some(cancel));

    // Until the call moves to a stream's pump, `InFlight` alone cancels it when its client goes.
    let Some(lazy) = lazy else {
        let answer = (&mut dispatch).await;
        let guard = DisconnectGuard { cancel: None };
        return finish_json(app, &parts, &id, session.as_deref(), answer, guard);
    };
    let (first, rx) = match mode {
        ResponseMode::Sse => {
            // SSE: a call that completes on its first poll is answered with the whole stream
            // in one body: no pump task, no reader, no keep-alive timer. Its events are still
            // kept for resumption like any other stream's.
            if let Some(answer) = futures_util::FutureExt::now_or_never(&mut dispatch) {
                let sent = lazy.take_receiver().map(|mut rx| events::drain(&mut rx));
                // Boxed (as below): the writer's future inline would make every call's larger.
                return Box::pin(events::at_once(
                    &app.options,
                    session.as_deref(),
                    &id,
                    sent.unwrap_or_default(),
                    answer,
                ))
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
                    let sent = lazy.take_receiver().map(|mut rx| events::drain(&mut rx)).unwrap_or_default();
                    if sent.is_empty() || answer.is_none() {
                        let guard = DisconnectGuard { cancel: None };
                        return finish_json(app, &parts, &id, session.as_deref(), answer, guard);
                    }
                    return Box::pin(events::at_once(&app.options, session.as_deref(), &id, sent, answer)).await;
                }
                () = lazy.opened() => {
                    let mut rx = lazy.take_receiver().expect("an opened outbox has its receiver");
                    (rx.try_recv().ok(), rx)
                }
            }
        }
    };
    // The stream's body outlives this future: it cancels the call when its client goes.
    let guard = DisconnectGuard {
        cancel: dispatch.cancel_token(),
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
    tokio::spawn(async move {
        let answered = events::pump(&pump_stream, first, rx, dispatch, Some(&pump_close)).await;
        if !answered && shutdown.is_cancelled() {
            let e = RpcError::shut_down();
            pump_stream
                .push(events::bytes_to_str(error_bytes(Some(&id), &e)))
                .await;
        }
        pump_stream.finish();
        if let Some(s) = pump_session {
            s.end_request(&id);
        }
    });
    events::response(
        &app.options,
        stream.reader(0),
        SseStart::Prime,
        // A POST stream ends with its response, even during shutdown (within the grace), or
        // when the tool closes it early.
        close,
        guard,
    )
}

pub(super) fn finish_json(
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

/// The peer of a handshake-era request: its session's, or (without a session) one speaking
/// the header's revision, 2025-03-26 when there is none, as the transport specifies.
pub(super) fn handshake_peer(
    header: Option<ProtocolVersion>,
    session: Option<&Session>,
) -> Arc<Peer> {
    match session {
        Some(s) => s.peer.clone(),
        None => Peer::new(header.unwrap_or(ProtocolVersion::HTTP_DEFAULT), None, None),
    }
}
