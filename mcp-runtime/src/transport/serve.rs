//! Serving an app on a TCP listener with the limits `axum::serve` leaves out: a client that
//! sends its request head slowly, or keeps an idle connection open, is cut off after
//! `header_read_timeout` (hyper's timer-driven head timeout, which also runs between requests
//! on a kept-alive connection), and shutdown ends within a deadline whatever clients do. At
//! shutdown only requests in flight are waited for: a connection with none (idle, or still
//! sending a request head) is closed at once.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::rt::{Sleep, Timer};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    let stop = Arc::new(Stop::default());
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
    stop.fire();
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
    stop: Arc<Stop>,
) {
    let service =
        hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(remote));
            app.clone().oneshot(req.map(axum::body::Body::new))
        });
    let head = Arc::new(HeadDeadline {
        base: Instant::now(),
        at: AtomicU64::new(NO_DEADLINE),
        expired: AtomicBool::new(false),
        stopping: AtomicBool::new(false),
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(HeadTimer(head.clone()))
        .header_read_timeout(header_read_timeout)
        .serve_connection(TokioIo::new(tcp), service)
        .with_upgrades();
    let mut watchdog = Watchdog {
        sleep: Box::pin(tokio::time::sleep(header_read_timeout)),
        head: head.clone(),
        period: header_read_timeout,
        armed: false,
    };
    tokio::pin!(conn);
    tokio::select! {
        _ = watched(conn.as_mut(), &mut watchdog) => return,
        () = stop.fired() => {
            head.stopping.store(true, Ordering::Relaxed);
            conn.as_mut().graceful_shutdown();
        }
    }
    let _ = watched(conn, &mut watchdog).await;
}

/// The serve loop's shutdown, told to its connections: a flag, and a wake-up for those waiting.
/// A connection waits on it at every wake-up (about twice a request): after its first poll, that
/// is a load of the flag, where a cancellation token's check takes its lock and a `Notified`
/// takes the waiters' lock.
#[derive(Default)]
struct Stop {
    fired: AtomicBool,
    notify: tokio::sync::Notify,
}

impl Stop {
    /// Shuts the connections down: the flag first, so that a connection woken sees it.
    fn fire(&self) {
        self.fired.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    /// Resolves once [`Stop::fire`] has been called.
    fn fired(&self) -> Fired<'_> {
        Fired {
            stop: self,
            notified: Box::pin(self.notify.notified()),
            armed: false,
        }
    }
}

/// [`Stop::fired`]: the first poll stores the task's waker with the `Notify` (unconstrained by
/// tokio's budget, so that it does); later ones only read the flag. `fire` sets the flag before
/// it wakes, and the flag is read again after the waker is stored, so no shutdown is missed.
struct Fired<'a> {
    stop: &'a Stop,
    notified: Pin<Box<tokio::sync::futures::Notified<'a>>>,
    armed: bool,
}

impl Future for Fired<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.stop.fired.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        if !self.armed {
            let this = &mut *self;
            if Pin::new(&mut tokio::task::coop::unconstrained(
                this.notified.as_mut(),
            ))
            .poll(cx)
            .is_ready()
            {
                return Poll::Ready(());
            }
            this.armed = true;
            if this.stop.fired.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    }
}

/// Polls the connection's watchdog, then the connection.
fn watched<'a, C: Future>(
    mut conn: Pin<&'a mut C>,
    watchdog: &'a mut Watchdog,
) -> impl Future<Output = C::Output> + 'a {
    std::future::poll_fn(move |cx| {
        watchdog.poll(cx);
        conn.as_mut().poll(cx)
    })
}

/// `at` before the first head.
const NO_DEADLINE: u64 = u64::MAX;

/// The deadline of the last request head a connection began to read, shared by the
/// connection's [`HeadTimer`] (which hyper asks for a sleep per request head) and its
/// [`Watchdog`] (which alone waits on tokio's timer). It is not cleared when the head has been
/// read: the watchdog may then mark expired a sleep that no longer exists, which ends nothing,
/// and the next head's sleep sets a new deadline and clears the mark. (Clearing it when a sleep
/// is dropped would clear the next one's, were hyper ever to make the next before dropping the
/// last: the head timeout would then never fire.)
#[derive(Debug)]
struct HeadDeadline {
    /// When the connection began: `at` counts from here.
    base: Instant,
    /// Nanoseconds from `base` to the deadline, or [`NO_DEADLINE`].
    at: AtomicU64,
    /// Set by the watchdog when it found the deadline passed; the sleep is then over.
    expired: AtomicBool,
    /// Set by the connection at shutdown: every sleep ends at once.
    stopping: AtomicBool,
}

impl HeadDeadline {
    fn set(&self, deadline: Instant) {
        let nanos = deadline.saturating_duration_since(self.base).as_nanos();
        self.at.store(
            u64::try_from(nanos).unwrap_or(NO_DEADLINE - 1),
            Ordering::Relaxed,
        );
        self.expired.store(false, Ordering::Relaxed);
    }

    fn deadline(&self) -> Option<Instant> {
        match self.at.load(Ordering::Relaxed) {
            NO_DEADLINE => None,
            nanos => Some(self.base + Duration::from_nanos(nanos)),
        }
    }
}

/// The timer of a connection. hyper uses it for one thing: a sleep per request head (the
/// first, and the next on a kept-alive connection), dropped once the head is read, always
/// `header_read_timeout` long. A tokio sleep per head would enter the runtime's timer wheel and
/// leave it again on every request; instead the sleep only records its deadline, and the
/// connection's [`Watchdog`] (one tokio sleep for the connection's life, reset about once per
/// `header_read_timeout`) ends it when the deadline passes. Every sleep also ends at shutdown,
/// so a connection still waiting for a head ends at once instead of holding shutdown until
/// `header_read_timeout`; a request in flight is not timed.
///
/// A sleep does not wait on shutdown itself: [`connection`] already waits on [`Stop`], and on
/// it marks the deadline stopping and starts a graceful shutdown that polls the connection
/// again, which polls the sleep, which then sees the mark. Nor does it register a waker: the
/// watchdog is polled by the same task as the connection, so when it fires the connection is
/// polled again.
#[derive(Clone, Debug)]
struct HeadTimer(Arc<HeadDeadline>);

impl Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.sleep_until(self.now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        self.0.set(deadline);
        Box::pin(HeadSleep(self.0.clone()))
    }

    fn reset(&self, _sleep: &mut Pin<Box<dyn Sleep>>, new_deadline: Instant) {
        // Every sleep of this timer is the connection's one deadline.
        self.0.set(new_deadline);
    }

    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

/// A sleep of [`HeadTimer`]: over when the watchdog found its deadline passed, or at shutdown.
struct HeadSleep(Arc<HeadDeadline>);

impl Future for HeadSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        if self.0.expired.load(Ordering::Relaxed) || self.0.stopping.load(Ordering::Relaxed) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Sleep for HeadSleep {}

/// The one tokio sleep of a connection: wakes at the latest every `period`, and at a head's
/// deadline marks it expired (the connection, polled next by the same task, then ends).
struct Watchdog {
    sleep: Pin<Box<tokio::time::Sleep>>,
    head: Arc<HeadDeadline>,
    period: Duration,
    /// Whether the sleep holds this task's waker since its last reset: it is then polled again
    /// only once it has elapsed (the timer wakes the task then), not at every wake-up of the
    /// connection.
    armed: bool,
}

impl Watchdog {
    fn poll(&mut self, cx: &mut Context<'_>) {
        if self.armed && !self.sleep.is_elapsed() {
            return;
        }
        // Unconstrained: a sleep polled without budget left would answer without registering
        // the waker, and the timer would then wake nobody.
        while Pin::new(&mut tokio::task::coop::unconstrained(self.sleep.as_mut()))
            .poll(cx)
            .is_ready()
        {
            let now = tokio::time::Instant::now().into_std();
            let next = match self.head.deadline() {
                Some(deadline) if deadline <= now => {
                    self.head.expired.store(true, Ordering::Relaxed);
                    now + self.period
                }
                // Every deadline is `period` after the head began, so never before the
                // watchdog's next wake-up had it been reset at that moment.
                Some(deadline) => deadline,
                None => now + self.period,
            };
            self.sleep.as_mut().reset(next.into());
        }
        self.armed = true;
    }
}
