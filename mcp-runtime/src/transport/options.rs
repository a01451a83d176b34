//! The settings of a mounted app, and the [`Shutdown`] handle an app's mounts and its serve
//! loop share (no process-wide state: two apps in one process stop separately).

use super::origin::OriginPolicy;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// When a Streamable HTTP response is an SSE stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ResponseMode {
    /// JSON, unless the tool sends a notification before its result: then SSE from there on.
    #[default]
    Auto,
    /// Always one JSON answer; notifications of tools are dropped.
    Json,
    /// Always SSE (when the client accepts it).
    Sse,
}

/// Settings of a mounted app; start from `HttpOptions::default()`:
/// `HttpOptions { stateless: true, ..HttpOptions::default() }`.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// The largest request body accepted; larger ones get 413. Default 4 MiB.
    pub max_body_bytes: usize,
    /// The longest a request body may take to arrive once its headers have; a client that
    /// sends part of a body and stalls gets 408 and loses the connection. Default 30 s.
    pub body_read_timeout: Duration,
    /// JSON or SSE answers (Streamable HTTP).
    pub response_mode: ResponseMode,
    /// No sessions at all: `initialize` issues no `Mcp-Session-Id`, GET and DELETE get 405.
    /// For deployments behind load balancers without affinity.
    pub stateless: bool,
    /// Sessions idle this long are ended. Default 30 minutes.
    pub session_idle_timeout: Duration,
    /// The most live sessions. At the limit, the idlest session with no call running and no
    /// stream open is ended to make room; when all are busy, `initialize` gets 503. The same
    /// number bounds open `subscriptions/listen` streams (2026-07-28; 503 past it).
    /// Default 10,000.
    pub max_sessions: usize,
    /// The most live sessions of one client: one principal when the mount has auth, otherwise
    /// one IP address (when the app is served with `ConnectInfo<SocketAddr>`). At the limit,
    /// the client's own idlest session is ended to make room; when all are busy, `initialize`
    /// gets 429. One caller cannot fill the table for everyone. Default 1,000.
    pub max_sessions_per_client: usize,
    /// The most requests one session may have running at once; past it a request is answered
    /// at once with 429 and a JSON-RPC error; a request whose id is still running in its
    /// session gets 400. Default 256.
    pub max_requests_per_session: usize,
    /// The most calls the sessions of this mount run at once, all together (a session's calls
    /// go on after its client has gone, so their sum is bounded too); past it a request gets
    /// 503 and a JSON-RPC error. Calls without a session are cancelled when their client goes.
    /// Default 10,000.
    pub max_running_calls: usize,
    /// Events kept per SSE stream for clients that resume with `Last-Event-ID`. Default 256.
    pub replay_buffer: usize,
    /// Bytes of events kept per SSE stream for resumption; the oldest go first (the newest is
    /// kept whatever its size). Default 1 MiB.
    pub replay_buffer_bytes: usize,
    /// Bytes of events kept for resumption across all the streams of one session (up to 32
    /// streams); past it the oldest events go first, and finished streams before live ones.
    /// Default 4 MiB.
    pub session_replay_bytes: usize,
    /// The `retry` the priming event of an SSE stream suggests. Default 1 s.
    pub sse_retry: Duration,
    /// Keep-alive comments on idle SSE streams. Default 15 s.
    pub sse_keep_alive: Duration,
    /// How long in-flight tool calls may go on after shutdown starts. Default 10 s.
    pub shutdown_grace: Duration,
    /// Which `Origin` and `Host` headers are accepted (protection against DNS rebinding).
    pub origins: OriginPolicy,
    /// Whether a browser's `GET <mount>` (`Accept: text/html`) gets the catalogue page: the
    /// tools, resources, templates and prompts, with forms to call tools. The page lists what
    /// the credentials typed into it may list, like `tools/list`. Default `true`; turn it off
    /// for servers that must not show their catalogue in a browser.
    pub catalogue_page: bool,
    /// The shutdown this mount watches: when it starts, open streams end, sessions end, and
    /// calls in flight get [`HttpOptions::shutdown_grace`]. Default: none, and under
    /// [`serve`](crate::serve) the mount watches that loop's shutdown (its connections carry it); with
    /// `axum::serve`, give the same [`Shutdown`] here and to its graceful shutdown
    /// ([`Shutdown::signal`]).
    pub shutdown: Option<Shutdown>,
    /// Where session records live when several instances of the app serve the same sessions
    /// (e.g. `RedisStore`, feature `redis`); each mount needs its own (a `RedisStore` scoped
    /// to it). Default: none, sessions live in the process that created them.
    pub session_store: Option<Arc<dyn crate::store::shared::SessionStore>>,
}

impl HttpOptions {
    /// How much of each SSE stream is kept for resumption.
    pub(crate) fn replay(&self) -> crate::transport::replay::Replay {
        crate::transport::replay::Replay {
            events: self.replay_buffer,
            bytes: self.replay_buffer_bytes,
            session_bytes: self.session_replay_bytes,
        }
    }
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            max_body_bytes: 4 * 1024 * 1024,
            body_read_timeout: Duration::from_secs(30),
            response_mode: ResponseMode::Auto,
            stateless: false,
            session_idle_timeout: Duration::from_secs(30 * 60),
            max_sessions: 10_000,
            max_sessions_per_client: 1_000,
            max_requests_per_session: 256,
            max_running_calls: 10_000,
            replay_buffer: 256,
            replay_buffer_bytes: 1024 * 1024,
            session_replay_bytes: 4 * 1024 * 1024,
            sse_retry: Duration::from_secs(1),
            sse_keep_alive: Duration::from_secs(15),
            shutdown_grace: Duration::from_secs(10),
            origins: OriginPolicy::default(),
            catalogue_page: true,
            shutdown: None,
            session_store: None,
        }
    }
}

impl HttpOptions {
    /// Sets [`HttpOptions::shutdown`].
    #[must_use]
    pub fn shutdown_on(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = Some(shutdown);
        self
    }

    /// The token of this mount's shutdown: the one given, or one of its own (which the
    /// shutdown of the serve loop a request comes through starts, see [`Shutdown::watched_by`]).
    pub(crate) fn shutdown_token(&self) -> CancellationToken {
        self.shutdown
            .as_ref()
            .map_or_else(CancellationToken::new, |s| (*s.0).clone())
    }
}

/// The shutdown of an app: when it starts, the MCP streams of the mounts that watch it end,
/// their sessions end, and their calls in flight get their grace before they are cancelled.
/// Cheap to clone; every clone is the same shutdown.
///
/// Under [`serve`](crate::serve) there is nothing to wire: its signal starts the loop's own
/// shutdown (or [`ServeOptions::shutdown`](crate::http::ServeOptions::shutdown)), which every mount
/// it serves watches. With `axum::serve`, give one to the mounts and to the graceful shutdown:
///
/// ```no_run
/// # async fn run(listener: tokio::net::TcpListener, server: mcp_runtime::Server) -> std::io::Result<()> {
/// use mcp_runtime::{http::HttpOptions, McpRouterExt as _, Shutdown, Transport};
/// use std::future::IntoFuture as _;
///
/// let shutdown = Shutdown::new();
/// let options = HttpOptions::default().shutdown_on(shutdown.clone());
/// let app = axum::Router::new()
///     .nest_mcp("/mcp", server.http_app_with(Transport::StreamableHttp, options));
/// let serve = axum::serve(listener, app).with_graceful_shutdown(shutdown.signal(async {
///     let _ = tokio::signal::ctrl_c().await;
/// }));
/// // A deadline, a little past the grace, for clients that hold a connection without
/// // finishing a request (axum's graceful shutdown would wait for them forever).
/// tokio::select! {
///     done = serve.into_future() => done,
///     () = shutdown.deadline(std::time::Duration::from_secs(11)) => Ok(()),
/// }
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct Shutdown(Arc<CancellationToken>);

impl Shutdown {
    /// A shutdown not started.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts it (again: nothing more happens).
    pub fn start(&self) {
        self.0.cancel();
    }

    /// Whether it has started.
    pub fn is_started(&self) -> bool {
        self.0.is_cancelled()
    }

    /// Resolves once it has started.
    pub async fn started(&self) {
        self.0.cancelled().await;
    }

    /// Waits for `signal`, then starts: the signal to give axum's `with_graceful_shutdown`.
    pub fn signal<F: Future>(&self, signal: F) -> impl Future<Output = ()> + use<F> {
        let this = self.clone();
        async move {
            signal.await;
            this.start();
        }
    }

    /// Resolves `after` once it has started: a deadline for a whole server.
    pub async fn deadline(&self, after: Duration) {
        self.started().await;
        tokio::time::sleep(after).await;
    }

    /// Makes `token` (a mount's own) follow this shutdown: cancelled when it starts.
    pub(crate) fn watched_by(&self, token: &CancellationToken) {
        let (this, token) = (self.clone(), token.clone());
        tokio::spawn(async move {
            tokio::select! {
                () = this.started() => token.cancel(),
                () = token.cancelled() => {}
            }
        });
    }
}

tokio::task_local! {
    /// The shutdown of the `serve` loop whose connection task this is, which the MCP mounts it
    /// reaches watch (see [`HttpOptions::shutdown`]): read once per mount, it costs a request
    /// nothing (a request extension would cost each request an allocation).
    pub(crate) static SERVED: Shutdown;
}
