//! Serving an app on a TCP listener with the limits `axum::serve` leaves out: a client that
//! sends its request head slowly, or keeps an idle connection open, is cut off after
//! `header_read_timeout` (hyper's timer-driven head timeout, which also runs between requests
//! on a kept-alive connection), and shutdown ends within a deadline whatever clients do. At
//! shutdown only requests in flight are waited for: a connection with none (idle, or still
//! sending a request head) is closed at once.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::rt::{Sleep, Timer};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tower::ServiceExt as _;

/// The connection limits of [`serve`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServeOptions {
    pub(crate) header_read_timeout: Duration,
    pub(crate) shutdown_deadline: Duration,
    pub(crate) nodelay: bool,
    pub(crate) shutdown: Option<super::options::Shutdown>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(30),
            shutdown_deadline: Duration::from_secs(15),
            nodelay: true,
            shutdown: None,
        }
    }
}

impl ServeOptions {
    /// The longest a client may take to send a request head, and the longest a kept-alive
    /// connection may sit idle before its next request. Default 30 s.
    #[must_use]
    pub fn header_read_timeout(mut self, header_read_timeout: Duration) -> Self {
        self.header_read_timeout = header_read_timeout;
        self
    }

    /// After the shutdown signal, how long connections with a request in flight may go on
    /// (calls finishing within
    /// [`HttpOptions::shutdown_grace`](crate::http::HttpOptions::shutdown_grace), streams ending)
    /// before they are closed. Connections with no request in flight (idle, or still sending a
    /// request head) are closed at once. Default 15 s.
    #[must_use]
    pub fn shutdown_deadline(mut self, shutdown_deadline: Duration) -> Self {
        self.shutdown_deadline = shutdown_deadline;
        self
    }

    /// `TCP_NODELAY` on accepted sockets: small SSE writes go out at once. Default on.
    #[must_use]
    pub fn nodelay(mut self, nodelay: bool) -> Self {
        self.nodelay = nodelay;
        self
    }

    /// The shutdown the signal starts. Default: one of this loop's own; every MCP mount the
    /// loop serves watches it (its connections carry it), unless the mount was given one of its
    /// own ([`HttpOptions::shutdown_on`](crate::http::HttpOptions::shutdown_on)).
    #[must_use]
    pub fn shutdown_on(mut self, shutdown: super::options::Shutdown) -> Self {
        self.shutdown = Some(shutdown);
        self
    }
}

/// Serves `app` on `listener` until `signal` resolves, then shuts down: the MCP mounts it
/// serves start their shutdown (this loop's [`Shutdown`](crate::Shutdown), or
/// the one given to [`ServeOptions::shutdown_on`]: their streams end, their calls get their grace), the listener closes, connections with no request in flight (idle, or still sending a request
/// head) are closed, the others finish their requests, and any still open after
/// [`ServeOptions::shutdown_deadline`] are closed. Each
/// request carries `ConnectInfo<SocketAddr>` (the DNS-rebinding rule and per-address session
/// limits use it). HTTP/1.1, with upgrades.
pub async fn serve<F>(
    listener: TcpListener,
    app: Router,
    options: ServeOptions,
    signal: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send,
{
    let served = options.shutdown.clone().unwrap_or_default();
    let signal = served.signal(signal);
    tokio::pin!(signal);
    // As `axum::serve` does (`into_make_service`): every handler becomes a route once, here,
    // rather than on each request that reaches it.
    let app = app.with_state(());
    let stop = tokio_util::sync::CancellationToken::new();
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = &mut signal => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (tcp, remote) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: wait rather than spin.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                if options.nodelay {
                    let _ = tcp.set_nodelay(true);
                }
                connections.spawn(super::options::SERVED.scope(
                    served.clone(),
                    connection(tcp, remote, app.clone(), options.header_read_timeout, stop.clone()),
                ));
            }
        }
    }
    drop(listener);
    stop.cancel();
    let drained = tokio::time::timeout(options.shutdown_deadline, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "connections still open at the shutdown deadline; closing them"
        );
        connections.shutdown().await;
    }
    Ok(())
}

async fn connection(
    tcp: tokio::net::TcpStream,
    remote: SocketAddr,
    app: Router,
    header_read_timeout: Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    let service =
        hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(remote));
            app.clone().oneshot(req.map(axum::body::Body::new))
        });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(HeadTimer {
            tokio: TokioTimer::new(),
            stop: Arc::new(stop.clone()),
        })
        .header_read_timeout(header_read_timeout)
        .serve_connection(TokioIo::new(tcp), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        () = stop.cancelled() => conn.as_mut().graceful_shutdown(),
    }
    let _ = conn.await;
}

/// The timer of a connection: tokio's, except that every sleep ends once `stop` is cancelled.
/// hyper times only the reading of request heads with it, so once shutdown starts a connection
/// still waiting for a head (its first, or the next on a kept-alive connection) ends at once
/// instead of holding shutdown until `header_read_timeout`; a request in flight is not timed.
///
/// A sleep does not wait on `stop` itself (hyper makes one per request, so a waiter of its own
/// would cost every request an allocation and two locks): [`connection`] already waits on
/// `stop`, and on it starts a graceful shutdown that polls the connection again, which polls
/// the sleep, which then sees the token cancelled.
#[derive(Clone, Debug)]
struct HeadTimer {
    tokio: TokioTimer,
    stop: Arc<tokio_util::sync::CancellationToken>,
}

impl Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.sleep_until(self.now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(HeadSleep {
            sleep: tokio::time::sleep_until(deadline.into()),
            stop: self.stop.clone(),
        })
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<HeadSleep>() {
            Some(head) => head.project().sleep.reset(new_deadline.into()),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }

    fn now(&self) -> Instant {
        self.tokio.now()
    }
}

pin_project_lite::pin_project! {
    /// A sleep of [`HeadTimer`]: until its deadline or the shutdown signal, whichever comes
    /// first.
    struct HeadSleep {
        #[pin]
        sleep: tokio::time::Sleep,
        stop: Arc<tokio_util::sync::CancellationToken>,
    }
}

impl Future for HeadSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        if this.stop.is_cancelled() {
            return Poll::Ready(());
        }
        this.sleep.poll(cx)
    }
}

impl Sleep for HeadSleep {}
