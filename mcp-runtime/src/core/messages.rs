//! Messages in: one body (a message or a batch) parsed and answered, each request of a batch
//! registered so that `notifications/cancelled` reaches it, the batch's answer bounded in bytes.

use super::*;

impl Dispatcher {
    /// Parses and answers one body: a message or a batch. `None` when nothing is answered
    /// (notifications, responses).
    pub(crate) async fn handle_bytes(
        self: &Arc<Self>,
        body: &[u8],
        env: RequestEnv,
    ) -> Option<Reply> {
        let first = body.iter().find(|b| !b.is_ascii_whitespace());
        if first == Some(&b'[') {
            return self.handle_batch(body, env).await;
        }
        match Message::parse(body) {
            Ok(msg) => self.handle_message(msg, env).await,
            Err(r) => Some(Reply {
                body: crate::protocol::error_bytes(r.id.as_ref(), &r.error),
                kind: ReplyKind::Rejected,
            }),
        }
    }

    pub(super) async fn handle_batch(
        self: &Arc<Self>,
        body: &[u8],
        env: RequestEnv,
    ) -> Option<Reply> {
        let rejected = |err: RpcError| Reply {
            body: crate::protocol::error_bytes(None, &err),
            kind: ReplyKind::Rejected,
        };
        let items: Vec<Value> = match serde_json::from_slice(body) {
            Ok(items) => items,
            Err(e) => {
                return Some(rejected(RpcError::new(
                    code::PARSE_ERROR,
                    format!("the body is not valid JSON: {e}"),
                )));
            }
        };
        if items.is_empty() {
            return Some(rejected(RpcError::invalid_request(
                "an empty batch is not a valid request",
            )));
        }
        let version = env.version();
        if !version.has_batches() {
            return Some(rejected(RpcError::invalid_request(format!(
                "revision {version} has no batches (they were removed in 2025-06-18): send one \
                 message per request"
            ))));
        }
        if items.len() > MAX_BATCH {
            return Some(rejected(RpcError::invalid_request(format!(
                "a batch holds at most {MAX_BATCH} messages; this one has {}",
                items.len()
            ))));
        }
        // Every request of the batch is answered, unless the client cancelled it: a request
        // stopped because the server shut down says so.
        let batch = &env.cancel;
        let answered = std::sync::atomic::AtomicUsize::new(0);
        let answered = &answered;
        let futures = items.into_iter().map(|item| {
            let env = env.sibling();
            async move {
                match Message::parse_value(item) {
                    // "The initialize request MUST NOT be part of a JSON-RPC batch" (2025-03-26):
                    // it would change a session's revision and capabilities under its other
                    // requests.
                    Ok(Message::Request { id, method, .. }) if method == "initialize" => {
                        Some(crate::protocol::error_bytes(
                            Some(&id),
                            &RpcError::invalid_request(
                                "`initialize` cannot be part of a batch: send it alone",
                            ),
                        ))
                    }
                    Ok(Message::Request { id, method, params }) => {
                        // Registered while it runs, ended however it ends (the batch's client
                        // may go, dropping it half-way).
                        let _registered = match &env.in_flight {
                            Some(r) => match r.start(id.clone(), env.cancel.clone()) {
                                Ok(()) => Some(Registered {
                                    registry: r.clone(),
                                    id: id.clone(),
                                }),
                                Err(e) => {
                                    return Some(crate::protocol::error_bytes(Some(&id), &e));
                                }
                            },
                            None => None,
                        };
                        let request = Message::Request {
                            id: id.clone(),
                            method,
                            params,
                        };
                        let reply = self.handle_message(request, env).await;
                        match reply {
                            Some(Reply {
                                body,
                                kind: ReplyKind::Answer,
                            }) => Some(within_batch_budget(answered, &id, body)),
                            Some(error) => Some(error.body),
                            None if batch.is_cancelled() => Some(crate::protocol::error_bytes(
                                Some(&id),
                                &RpcError::shut_down(),
                            )),
                            None => None,
                        }
                    }
                    Ok(msg) => self.handle_message(msg, env).await.map(|r| r.body),
                    Err(r) => Some(crate::protocol::error_bytes(r.id.as_ref(), &r.error)),
                }
            }
        });
        let answers: Vec<Vec<u8>> = futures_util::future::join_all(futures)
            .await
            .into_iter()
            .flatten()
            .collect();
        if answers.is_empty() {
            return None;
        }
        let mut out = vec![b'['];
        for (i, a) in answers.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(a);
        }
        out.push(b']');
        Some(Reply {
            body: out,
            kind: ReplyKind::Answer,
        })
    }

    pub(crate) async fn handle_message(
        self: &Arc<Self>,
        msg: Message,
        env: RequestEnv,
    ) -> Option<Reply> {
        match msg {
            Message::Request { id, method, params } => {
                let answer = self.request(&id, &method, params, env).await;
                let (body, error) = answer.into_message(&id)?;
                Some(Reply {
                    body,
                    kind: error.map_or(ReplyKind::Answer, ReplyKind::Error),
                })
            }
            Message::Notification { .. } | Message::Response { .. } => None,
        }
    }
}

/// `bytes`, the answer to `id` in a batch, unless the batch's answers would pass
/// [`MAX_BATCH_ANSWER_BYTES`] with it: then an error that says so.
pub(super) fn within_batch_budget(
    answered: &std::sync::atomic::AtomicUsize,
    id: &RequestId,
    bytes: Vec<u8>,
) -> Vec<u8> {
    use std::sync::atomic::Ordering;
    let len = bytes.len();
    if answered.fetch_add(len, Ordering::Relaxed) + len <= MAX_BATCH_ANSWER_BYTES {
        return bytes;
    }
    answered.fetch_sub(len, Ordering::Relaxed);
    drop(bytes);
    crate::protocol::error_bytes(
        Some(id),
        &RpcError::new(
            code::SERVER_ERROR,
            format!(
                "the answers of this batch would pass {MAX_BATCH_ANSWER_BYTES} bytes with this \
                 one ({len} bytes); it was left out: send this request alone"
            ),
        ),
    )
}

/// A request of a batch registered with its client's requests in flight: ended when dropped.
struct Registered {
    registry: Arc<dyn super::InFlight>,
    id: RequestId,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.end(&self.id);
    }
}
