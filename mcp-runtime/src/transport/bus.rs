//! Messages between the instances that share a session store: a client's answer to a question
//! a tool asked on another instance, and each instance's list changes and resource updates, for
//! the streams every instance holds.

use super::egress::{TRANSPORT_ERROR, accepted, error_response};
use super::endpoint::{App, store_unavailable};
use crate::catalog::Change;
use crate::core::tasks::{StoreError, TaskSignal};
use crate::protocol::RequestId;
use axum::http::StatusCode;
use axum::response::Response;
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::{Arc, Weak};
use tokio::sync::broadcast::error::RecvError;

#[derive(Serialize, Deserialize)]
struct Envelope {
    /// The instance that sent it: an instance ignores its own.
    origin: String,
    message: Message,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Message {
    /// The client's answer to the question `id` of a session's tool, for the instance asking.
    Answer {
        session: String,
        id: RequestId,
        answer: Result<Value, Value>,
    },
    Tools,
    Resources,
    Prompts,
    Updated {
        uri: String,
    },
    /// `notifications/cancelled` of a session's request, for the instance running it.
    Cancelled {
        session: String,
        id: RequestId,
    },
    /// For the instance that runs a task: cancel it, or give it the client's answers.
    Task {
        signal: TaskSignal,
    },
}

impl Message {
    fn of(change: &Change) -> Self {
        match change {
            Change::Tools => Self::Tools,
            Change::Resources => Self::Resources,
            Change::Prompts => Self::Prompts,
            Change::Updated(uri) => Self::Updated {
                uri: uri.to_string(),
            },
        }
    }
}

/// The most bytes a client's answer to a question asked on another instance may have (as
/// published): past it the answer is refused (413) rather than sent to every instance.
pub(crate) const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// The longest request id whose cancellation is sent to the other instances: the longest id a
/// request may have (longer ones name no request any instance runs).
const MAX_CANCELLED_ID_BYTES: usize = crate::bounds::MAX_ID_BYTES;

fn envelope(app: &App, message: Message) -> String {
    let envelope = Envelope {
        origin: app.instance.clone(),
        message,
    };
    serde_json::to_string(&envelope).expect("messages serialize")
}

async fn publish(app: &App, message: Message) -> Result<(), StoreError> {
    let Some(store) = &app.options.sessions.store else {
        return Ok(());
    };
    store.publish(envelope(app, message)).await
}

/// Sends a client's answer to the instances that may hold the question (the one that asked it
/// takes it; the others have no such question): 202 once sent, 413 past
/// [`MAX_ANSWER_BYTES`], 503 when the store cannot take it. Only answers to ids that can be
/// this runtime's questions come here (see `could_be_question_id`).
pub(super) async fn forward_answer(
    app: &App,
    session: &str,
    id: RequestId,
    answer: Result<Value, Value>,
) -> Response {
    let Some(store) = &app.options.sessions.store else {
        let routed = crate::core::client::response(None, &id, answer);
        return super::egress::answered(&routed, &id);
    };
    let message = Message::Answer {
        session: session.to_owned(),
        id,
        answer,
    };
    let text = envelope(app, message);
    if text.len() > MAX_ANSWER_BYTES {
        return error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            TRANSPORT_ERROR,
            format!(
                "this answer has {} bytes, more than the {MAX_ANSWER_BYTES} an answer to a \
                 question may have",
                text.len()
            ),
        );
    }
    match store.publish(text).await {
        Ok(()) => accepted(),
        Err(e) => store_unavailable(&e),
    }
}

/// Sends a client's cancellation of a request to the instances that may run it (not for ids
/// longer than [`MAX_CANCELLED_ID_BYTES`]).
pub(super) async fn forward_cancel(
    app: &App,
    session: &str,
    id: RequestId,
) -> Result<(), StoreError> {
    if matches!(&id, RequestId::String(s) if s.len() > MAX_CANCELLED_ID_BYTES) {
        tracing::debug!("a cancellation of a request id too long to be relayed was ignored");
        return Ok(());
    }
    let message = Message::Cancelled {
        session: session.to_owned(),
        id,
    };
    publish(app, message).await
}

/// Starts relaying, for an app with a shared store: its own list changes out, the other
/// instances' answers and changes in. Runs until the app shuts down or is dropped.
pub(super) fn start(app: &Arc<App>) {
    let Some(store) = app.options.sessions.store.clone() else {
        return;
    };
    let weak: Weak<App> = Arc::downgrade(app);
    let relay_to = weak.clone();
    app.core.tasks.relay_with(Arc::new(move |signal| {
        let app = relay_to.clone();
        Box::pin(async move {
            match app.upgrade() {
                Some(app) => publish(&app, Message::Task { signal }).await,
                None => Ok(()),
            }
        })
    }));
    let mut local = app.core.catalog.subscribe_local();
    let mut remote = store.listen();
    let shutdown = app.shutdown.clone();
    // Sessions busy here (a call running, a stream open) stay alive in the store while busy,
    // as they do without one.
    let every = (app.options.sessions.idle_timeout / 3).max(std::time::Duration::from_millis(100));
    let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                change = local.recv() => match change {
                    Ok(change) => {
                        let Some(app) = weak.upgrade() else { return };
                        if let Err(e) = publish(&app, Message::of(&change)).await {
                            tracing::warn!(error = %e, "a list change could not reach the other instances");
                        }
                    }
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                },
                text = remote.next() => {
                    let Some(text) = text else { return };
                    let Some(app) = weak.upgrade() else { return };
                    receive(&app, &text);
                }
                _ = renew.tick() => {
                    let Some(app) = weak.upgrade() else { return };
                    renew_busy(&app).await;
                }
            }
        }
    });
}

/// Renews the records of the sessions busy here, so that they do not expire in the store
/// while a call runs or a stream is open without requests; a session whose record is gone
/// (ended on another instance) ends here too, its streams and calls with it.
async fn renew_busy(app: &App) {
    let Some(store) = &app.options.sessions.store else {
        return;
    };
    for id in app.sessions.busy() {
        match store.load(&id, app.options.sessions.idle_timeout).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                app.sessions.remove(&id);
            }
            Err(e) => {
                tracing::warn!(error = %e, "a busy session's record could not be renewed");
                return;
            }
        }
    }
}

fn receive(app: &Arc<App>, text: &str) {
    let envelope: Envelope = match serde_json::from_str(text) {
        Ok(e) => e,
        Err(e) => {
            tracing::debug!(error = %e, "an unreadable message between instances was ignored");
            return;
        }
    };
    if envelope.origin == app.instance {
        return;
    }
    let change = match envelope.message {
        Message::Answer {
            session,
            id,
            answer,
        } => {
            if let RequestId::String(q) = &id
                && crate::call::ask::could_be_question_id(q)
                && let Some(s) = app.sessions.local(&session)
            {
                s.peer.answer(&id, answer);
            }
            return;
        }
        Message::Cancelled { session, id } => {
            if let Some(s) = app.sessions.local(&session) {
                s.cancel_request(&id);
            }
            return;
        }
        Message::Tools => Change::Tools,
        Message::Resources => Change::Resources,
        Message::Prompts => Change::Prompts,
        Message::Updated { uri } => Change::Updated(uri.into()),
        Message::Task { signal } => {
            let app = app.clone();
            tokio::spawn(async move { app.core.tasks.signal(signal).await });
            return;
        }
    };
    app.core.catalog.announce(change);
}
