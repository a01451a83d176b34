//! Delivering catalog changes (list changes, resource updates) to the streams that asked for
//! them: a session's GET stream, the legacy SSE stream, a 2026-07-28 `subscriptions/listen`.

use crate::catalog::Change;
use crate::core::peer::Peer;
use crate::transport::replay::EventStream;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

/// Which resource updates a stream gets.
pub(super) enum Updates {
    /// Those of the resources its session subscribed to (`resources/subscribe`).
    Subscribed(Arc<Peer>),
    /// Those of the URIs its listen request named.
    Uris(HashSet<String>),
}

/// What one stream asked for.
pub(super) struct Filter {
    pub(super) tools: bool,
    pub(super) resources: bool,
    pub(super) prompts: bool,
    pub(super) updates: Updates,
    /// The `_meta` every notification carries (the listen request's subscription id).
    pub(super) meta: Option<Value>,
}

impl Filter {
    /// Everything, for a session's stream (its subscriptions decide the updates).
    pub(super) fn session(peer: Arc<Peer>) -> Self {
        Self {
            tools: true,
            resources: true,
            prompts: true,
            updates: Updates::Subscribed(peer),
            meta: None,
        }
    }

    /// The notification for `change`, if this stream wants it.
    pub(super) fn message(&self, change: &Change) -> Option<String> {
        let (method, mut params) = match change {
            Change::Tools if self.tools => ("notifications/tools/list_changed", json!({})),
            Change::Resources if self.resources => {
                ("notifications/resources/list_changed", json!({}))
            }
            Change::Prompts if self.prompts => ("notifications/prompts/list_changed", json!({})),
            Change::Updated(uri) => {
                let wanted = match &self.updates {
                    Updates::Subscribed(peer) => peer.is_subscribed(uri),
                    Updates::Uris(uris) => uris.contains(&**uri),
                };
                if !wanted {
                    return None;
                }
                ("notifications/resources/updated", json!({ "uri": &**uri }))
            }
            _ => return None,
        };
        if let Some(meta) = &self.meta {
            params["_meta"] = meta.clone();
        }
        let mut msg = json!({ "jsonrpc": "2.0", "method": method });
        if params.as_object().is_some_and(|p| !p.is_empty()) {
            msg["params"] = params;
        }
        Some(msg.to_string())
    }
}

/// Forwards the changes `filter` wants to `stream` until `stop` is cancelled. Subscribe
/// (`changes`) before the stream is handed out, so that no change in between is lost.
pub(super) fn forward(
    mut changes: broadcast::Receiver<Change>,
    stream: Arc<EventStream>,
    filter: Filter,
    stop: CancellationToken,
) {
    tokio::spawn(async move {
        loop {
            let change = tokio::select! {
                biased;
                () = stop.cancelled() => return,
                c = changes.recv() => c,
            };
            let messages: Vec<String> = match change {
                Ok(c) => filter.message(&c).into_iter().collect(),
                // Changes were missed: every list may have changed.
                Err(RecvError::Lagged(_)) => [Change::Tools, Change::Resources, Change::Prompts]
                    .iter()
                    .filter_map(|c| filter.message(c))
                    .collect(),
                Err(RecvError::Closed) => return,
            };
            for m in messages {
                tokio::select! {
                    biased;
                    () = stop.cancelled() => return,
                    () = stream.push(m.into()) => {}
                }
            }
        }
    });
}
