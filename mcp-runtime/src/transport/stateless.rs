//! The stateless 2026-07-28 era on the Streamable HTTP endpoint: per-request `_meta`, header
//! checks against the body, `server/discover`, `subscriptions/listen`, and a closed response
//! stream cancelling the call.

#![allow(clippy::result_large_err)]

use super::changes::{Filter, Updates, forward};
use super::egress::accepted;
use super::endpoint::{App, Call, run};
use super::era::{Checked, META_SUBSCRIPTION, check, reject};
use super::events::{self, SseStart};
use super::inflight::DisconnectGuard;
use super::ingress::Accepts;
use super::replay::lock;
use crate::core::peer::{MAX_SUBSCRIPTION_BYTES, MAX_SUBSCRIPTIONS, Peer};
use crate::core::tasks;
use crate::protocol::{Message, RequestId, RpcError};
use crate::transport::replay::EventStream;
use axum::response::Response;
use http::StatusCode;
use http::request::Parts;
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub(super) async fn post(
    app: &Arc<App>,
    parts: Arc<Parts>,
    msg: Message,
    accept: Accepts,
) -> Response {
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

/// One open `subscriptions/listen` stream, counted while its response lives.
struct ListenSlot {
    app: Arc<App>,
    client: String,
}

/// Why a listen stream was refused: how many are open, and whose.
enum Full {
    Server(usize),
    Client(usize),
}

impl ListenSlot {
    /// A slot, unless `sessions.max` listen streams are open already, or `max_per_client` of
    /// this client's.
    fn take(app: &Arc<App>, client: String) -> Result<Self, Full> {
        let sessions = &app.options.sessions;
        let mut listeners = lock(&app.listeners);
        let mine = listeners.by_client.get(&client).copied().unwrap_or(0);
        if mine >= sessions.max_per_client {
            return Err(Full::Client(sessions.max_per_client));
        }
        if listeners.open >= sessions.max {
            return Err(Full::Server(sessions.max));
        }
        listeners.open += 1;
        listeners.by_client.insert(client.clone(), mine + 1);
        Ok(Self {
            app: app.clone(),
            client,
        })
    }
}

impl Drop for ListenSlot {
    fn drop(&mut self) {
        let mut listeners = lock(&self.app.listeners);
        listeners.open -= 1;
        if let Some(n) = listeners.by_client.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                listeners.by_client.remove(&self.client);
            }
        }
    }
}

/// `subscriptions/listen`: acknowledges the notifications this server can honour, then sends
/// them on the stream (each with the subscription id) until the client closes it; at shutdown
/// the stream ends with a `complete` result.
async fn listen(
    app: &Arc<App>,
    id: RequestId,
    params: Option<&Value>,
    peer: &Peer,
    parts: &Parts,
) -> Response {
    let owner = super::admission::session_owner(parts);
    let client = super::admission::session_client(parts, owner.as_ref());
    let slot = match ListenSlot::take(app, client) {
        Ok(slot) => slot,
        Err(full) => {
            let (status, message) = match full {
                Full::Server(max) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "{max} subscription streams are open, the most this server keeps; try again later"
                    ),
                ),
                Full::Client(max) => (
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "you have {max} subscription streams open, the most one client may; close one first"
                    ),
                ),
            };
            return reject(
                status,
                Some(&id),
                RpcError::new(crate::protocol::code::SERVER_ERROR, message),
            );
        }
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
        let caller = parts.extensions.get::<crate::call::context::Principal>();
        let mut bytes = 0;
        for uri in strings("resourceSubscriptions") {
            if bytes + uri.len() > MAX_SUBSCRIPTION_BYTES || uris.contains(&uri) {
                continue;
            }
            if app
                .core
                .may_subscribe(caller, None, peer.version(), &uri)
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
            .get::<crate::call::context::Principal>()
            .map(crate::call::context::Principal::owner_key);
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
    let res = events::response(
        &app.options,
        stream.reader(0),
        SseStart::Prime,
        CancellationToken::new(),
        DisconnectGuard {
            cancel: Some(closed),
        },
    );
    events::attach(res, slot)
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
