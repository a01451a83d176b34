//! The legacy HTTP+SSE transport (2024-11-05): `GET <mount>/sse` opens a stream whose first
//! event, `endpoint`, names the URL to POST messages to; answers arrive on the stream.

#![allow(clippy::result_large_err)]

use super::egress::{TRANSPORT_ERROR, accepted, error_response};
use super::endpoint::{App, find_session, session_refused};
use super::events::{self, SseStart};
use super::inflight::DisconnectGuard;
use super::ingress::{self, Answers, Eras, Incoming};
use crate::call::context::{NOTIFICATION_BUFFER, Notifier, Outbox};
use crate::core::RequestEnv;
use crate::core::client;
use crate::core::peer::Peer;
use crate::protocol::{Message, ProtocolVersion, RpcError, error_bytes};
use crate::transport::session::Session;
use axum::extract::{OriginalUri, Request};
use axum::response::Response;
use http::StatusCode;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// `GET <mount>/sse`.
pub(super) async fn open(app: &Arc<App>, req: Request) -> Response {
    let (mut parts, _) = req.into_parts();
    app.watch_serve();
    if let Err(res) =
        super::admission::admit(&app.options.origins, app.auth.as_ref(), &mut parts).await
    {
        return res;
    }
    let owner = super::admission::session_owner(&parts);
    let client = super::admission::session_client(&parts, owner.as_ref());
    let peer = Peer::new(ProtocolVersion::V2024_11_05, None, None);
    let session = match app.sessions.create(peer, owner, client) {
        Ok(s) => s,
        Err(r) => {
            return session_refused(&r, app.options.sessions.max_per_client);
        }
    };
    let stream = session.new_stream();
    let _ = session.legacy_stream.set(stream.clone());
    super::changes::forward(
        app.core.catalog.subscribe(),
        stream.clone(),
        super::changes::Filter::session(session.peer.clone()),
        session.ended.clone(),
    );
    let path = parts
        .extensions
        .get::<OriginalUri>()
        .map_or_else(|| parts.uri.path().to_owned(), |u| u.0.path().to_owned());
    let base = path.strip_suffix("sse").unwrap_or(&path);
    let endpoint = format!("{base}messages?sessionId={}", session.id);
    let res = events::response(
        &app.options,
        stream.reader(0),
        SseStart::Endpoint(endpoint),
        stream_end(app, &session),
        DisconnectGuard { cancel: None },
    );
    // The client going away ends its session.
    events::attach(
        res,
        SessionEnd {
            app: app.clone(),
            session,
        },
    )
}

/// When the session's one stream ends: with the session, except at shutdown, when the calls in
/// flight have the grace to answer on it (their answers have no other way to the client), and
/// those cancelled when it runs out a moment more to say so.
fn stream_end(app: &Arc<App>, session: &Arc<Session>) -> CancellationToken {
    let end = CancellationToken::new();
    let (app, session, stop) = (app.clone(), session.clone(), end.clone());
    tokio::spawn(async move {
        session.ended.cancelled().await;
        if app.shutdown.is_cancelled() {
            tokio::select! {
                () = session.calls_ended() => {}
                () = app.grace_expired().cancelled() => {
                    let _ = tokio::time::timeout(
                        std::time::Duration::from_millis(200),
                        session.calls_ended(),
                    )
                    .await;
                }
            }
        }
        stop.cancel();
    });
    end
}

struct SessionEnd {
    app: Arc<App>,
    session: Arc<Session>,
}

impl Drop for SessionEnd {
    fn drop(&mut self) {
        self.app.sessions.remove(&self.session.id);
    }
}

/// `POST <mount>/messages?sessionId=…`: 202, and the answer goes on the session's stream.
pub(super) async fn message(app: &Arc<App>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    app.watch_serve();
    let auth = app.auth.as_ref();
    // The headers read once, for every check before the message.
    let known = ingress::Known::of(&parts.headers);
    let admitted = super::admission::admitted(&app.options.origins, auth, &parts, &known).await;
    if let Err(res) = super::admission::keep(&mut parts.extensions, admitted) {
        return res;
    }
    if let Err(res) = ingress::head(&known, Answers::OnStream) {
        return res;
    }
    let Some(id) = parts.uri.query().and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "sessionId" || *k == "session_id")
            .map(|(_, v)| v.to_owned())
    }) else {
        return error_response(
            StatusCode::BAD_REQUEST,
            TRANSPORT_ERROR,
            "missing `sessionId`: POST to the URL of the `endpoint` event",
        );
    };
    let session = match find_session(app, &parts, &id).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    let Some(stream) = session.legacy_stream.get().cloned() else {
        return error_response(
            StatusCode::BAD_REQUEST,
            TRANSPORT_ERROR,
            "this session was not opened with `GET /sse`",
        );
    };
    let msg = match ingress::read(&known, body, &app.options, Eras::Legacy).await {
        Ok(Incoming::Handshake(msg, _) | Incoming::Stateless(msg)) => msg,
        // Not produced for this era (a batch fails to parse as one message); answered anyway.
        Ok(Incoming::Batch(..)) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                TRANSPORT_ERROR,
                "the HTTP+SSE transport takes one message per POST",
            );
        }
        Err(res) => return res,
    };
    let (id, method, params) = match msg {
        Message::Notification { method, params } => {
            client::notification(&method, params.as_ref(), |id| session.cancel_request(id));
            return accepted();
        }
        Message::Response { id, result } => {
            let routed = client::response(Some(&session.peer), &id, result);
            return super::egress::answered(&routed, &id);
        }
        Message::Request { id, method, params } => (id, method, params),
    };
    if let Some(res) =
        super::admission::refuse_scopes(&app.core, auth, &parts, &id, &method, &params)
    {
        return res;
    }
    let cancel = CancellationToken::new();
    if let Err(busy) = session.start_request(id.clone(), cancel.clone()) {
        return super::egress::busy(&id, &busy);
    }
    let (tx, rx) = mpsc::channel::<Vec<u8>>(NOTIFICATION_BUFFER);
    let mut env = RequestEnv::new(
        Some(Arc::new(parts)),
        session.peer.clone(),
        cancel.clone(),
        crate::core::Profile::legacy_sse(),
    );
    env.notifier = Some(Notifier {
        tx: Outbox::Open(tx),
        log_level: session.peer.log_level(),
        // The legacy stream is the session's one stream: it is not closed per call.
        resumable: false,
    });
    let shared = app.core.clone();
    let app = app.clone();
    tokio::spawn(async move {
        // As on the Streamable endpoint: at shutdown the call has the grace, then is cancelled.
        let call = super::endpoint::linked_to_grace(
            app.clone(),
            cancel,
            shared.request_boxed(id.clone(), method, params, env),
        );
        let call = async { call.await.into_message(&id) };
        let answered = events::pump(&stream, None, rx, call, None).await;
        if !answered && app.shutdown.is_cancelled() {
            let e = RpcError::shut_down();
            stream
                .push(events::bytes_to_str(error_bytes(Some(&id), &e)))
                .await;
        }
        session.end_request(&id);
    });
    let mut res = accepted();
    *res.body_mut() = axum::body::Body::from("Accepted");
    res
}
