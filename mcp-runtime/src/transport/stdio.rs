//! The stdio transport: newline-delimited JSON-RPC on standard input and output, as local
//! clients (Claude Desktop's `command` servers, IDE agents, the MCP Inspector) run a server.
//!
//! One connection, one peer. Every message is one line. A line that is not JSON gets -32700 and
//! the server goes on; a line longer than the limit is refused without being held in memory.
//! Requests run concurrently; their notifications, questions to the client and responses are
//! written whole, one per line, and nothing else is ever written to the output (logs and panics
//! go to stderr). At the end of the input the server stops after the calls in flight finish, at
//! most the grace period.

use super::changes::Filter;
use crate::call::context::{Notifier, Outbox, Principal};
use crate::core::client::{self, Routed};
use crate::core::peer::Peer;
use crate::core::{Dispatcher, RequestEnv, Running};
use crate::protocol::{Message, ProtocolVersion, RpcError, error_bytes};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Settings of [`Server::serve_stdio`](crate::Server::serve_stdio).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StdioOptions {
    pub(crate) principal: Option<Principal>,
    pub(crate) max_line_bytes: usize,
    pub(crate) shutdown_grace: Duration,
    pub(crate) max_requests: usize,
}

impl Default for StdioOptions {
    fn default() -> Self {
        Self {
            principal: None,
            max_line_bytes: 4 * 1024 * 1024,
            shutdown_grace: Duration::from_secs(5),
            max_requests: 256,
        }
    }
}

impl StdioOptions {
    /// The caller the process acts for (there are no headers on stdio): what tools see as
    /// `ctx.principal()` and whose scopes are checked. Default: none.
    #[must_use]
    pub fn principal(mut self, principal: Principal) -> Self {
        self.principal = Some(principal);
        self
    }

    /// The longest line accepted; a longer one is refused (-32600) and skipped. Default 4 MiB.
    #[must_use]
    pub fn max_line_bytes(mut self, max_line_bytes: usize) -> Self {
        self.max_line_bytes = max_line_bytes;
        self
    }

    /// How long calls in flight may go on after the input ends. Default 5 s.
    #[must_use]
    pub fn shutdown_grace(mut self, shutdown_grace: Duration) -> Self {
        self.shutdown_grace = shutdown_grace;
        self
    }

    /// The most requests running at once; past it a request is answered at once with an
    /// error (-32000) naming the limit. Default 256.
    #[must_use]
    pub fn max_requests(mut self, max_requests: usize) -> Self {
        self.max_requests = max_requests;
        self
    }
}

/// Reads one line of at most `max` bytes into `line` (without the newline). `Ok(false)` at the
/// end of the input; `Err(too long)` after skipping the rest of a longer line.
async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Result<bool, usize>> {
    line.clear();
    let mut skipped = 0usize;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(if skipped > 0 {
                Err(skipped)
            } else {
                Ok(!line.is_empty())
            });
        }
        let (chunk, found) = match memchr(buf) {
            Some(i) => (&buf[..i], Some(i)),
            None => (buf, None),
        };
        if skipped > 0 || line.len() + chunk.len() > max {
            skipped += line.len() + chunk.len();
            line.clear();
        } else {
            line.extend_from_slice(chunk);
        }
        let used = found.map_or(buf.len(), |i| i + 1);
        reader.consume(used);
        if found.is_some() {
            return Ok(if skipped > 0 { Err(skipped) } else { Ok(true) });
        }
    }
}

fn memchr(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|b| *b == b'\n')
}

/// Serves `core` on a reader and a writer until the reader ends.
pub(crate) async fn serve<R, W>(
    core: Arc<Dispatcher>,
    reader: R,
    mut writer: W,
    options: StdioOptions,
) -> std::io::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (out, mut out_rx) = mpsc::channel::<Vec<u8>>(256);
    // One writer: whole messages, one per line (the empty message closes nothing here).
    let writing = tokio::spawn(async move {
        while let Some(mut message) = out_rx.recv().await {
            if message.is_empty() {
                continue;
            }
            message.push(b'\n');
            writer.write_all(&message).await?;
            writer.flush().await?;
        }
        Ok::<_, std::io::Error>(())
    });
    let peer = Peer::new(ProtocolVersion::LATEST_HANDSHAKE, None, None);
    let principal = options.principal.clone().map(Arc::new);
    let in_flight = Arc::new(Running::new(options.max_requests, "this connection"));
    let stop_changes = CancellationToken::new();
    forward_changes(&core, &peer, out.clone(), stop_changes.clone());
    let mut calls = tokio::task::JoinSet::new();
    let mut reader = reader;
    let mut line = Vec::new();
    loop {
        match read_line(&mut reader, &mut line, options.max_line_bytes).await? {
            Ok(false) => break,
            Err(len) => {
                let e = RpcError::invalid_request(format!(
                    "the message is {len} bytes long, over the limit of {} bytes",
                    options.max_line_bytes
                ));
                let _ = out.send(error_bytes(None, &e)).await;
                continue;
            }
            Ok(true) => {}
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let msg = match Message::parse(&line) {
            Ok(m) => m,
            Err(r) => {
                let _ = out.send(error_bytes(r.id.as_ref(), &r.error)).await;
                continue;
            }
        };
        match msg {
            Message::Response { id, result } => {
                // stdio has no answer to a response: one that answers nothing is logged.
                if client::response(Some(&peer), &id, result) != Routed::Answered {
                    crate::bounds::warn_limited!(
                        id = %id.shown(),
                        "a response for no waiting question was ignored"
                    );
                }
            }
            Message::Notification { method, params } => {
                client::notification(&method, params.as_ref(), |id| in_flight.cancel(id));
            }
            Message::Request { id, method, params } => {
                // A 2026-07-28 request is checked as on HTTP (without headers) and brings its
                // own peer; a handshake-era one speaks for the connection's.
                let (id, method, params, peer) =
                    if super::era::is_stateless_message(&method, params.as_ref()) {
                        match super::era::check_message(
                            None,
                            Message::Request { id, method, params },
                        ) {
                            Ok(Some(c)) => (c.id, c.method, c.params, c.peer),
                            Ok(None) => continue,
                            Err(r) => {
                                let _ = out.send(error_bytes(r.id.as_ref(), &r.error)).await;
                                continue;
                            }
                        }
                    } else {
                        (id, method, params, peer.clone())
                    };
                let cancel = CancellationToken::new();
                if let Err(e) = in_flight.start(id.clone(), cancel.clone()) {
                    let _ = out.send(error_bytes(Some(&id), e.error())).await;
                    continue;
                }
                let profile = crate::core::Profile::stdio(peer.version());
                let mut env = RequestEnv::new(None, peer.clone(), cancel, profile);
                env.notifier = Some(Notifier {
                    tx: Outbox::Open(out.clone()),
                    log_level: peer.log_level(),
                    resumable: false,
                });
                env.principal = principal.clone();
                let core = core.clone();
                let out = out.clone();
                let in_flight = in_flight.clone();
                calls.spawn(async move {
                    let answer = core.request(&id, &method, params, env).await;
                    in_flight.end(&id);
                    let Some((bytes, _)) = answer.into_message(&id) else {
                        return;
                    };
                    let _ = out.send(bytes).await;
                });
            }
        }
        // Finished calls are reaped as we go, so the set stays as large as what runs.
        while calls.try_join_next().is_some() {}
    }
    // The input ended: calls in flight get the grace period, then are cancelled.
    let drained = tokio::time::timeout(options.shutdown_grace, async {
        while calls.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        in_flight.cancel_all();
        calls.abort_all();
        while calls.join_next().await.is_some() {}
    }
    stop_changes.cancel();
    peer.close_questions();
    drop(out);
    match writing.await {
        Ok(result) => result,
        Err(e) => Err(std::io::Error::other(e)),
    }
}

/// List changes and the peer's resource updates, written as notifications.
fn forward_changes(
    core: &Dispatcher,
    peer: &Arc<Peer>,
    out: mpsc::Sender<Vec<u8>>,
    stop: CancellationToken,
) {
    let mut changes = core.catalog.subscribe();
    let filter = Filter::session(peer.clone());
    tokio::spawn(async move {
        loop {
            let change = tokio::select! {
                () = stop.cancelled() => return,
                c = changes.recv() => c,
            };
            match change {
                Ok(c) => {
                    if let Some(m) = filter.message(&c)
                        && out.send(m.into_bytes()).await.is_err()
                    {
                        return;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}
