//! The settings of a mounted app, and the shutdown every mounted app watches.

use super::origin::OriginPolicy;
use std::sync::Arc;
use std::sync::LazyLock;
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
    /// The longest a tool may run when it sets no timeout of its own. Default: none.
    pub tool_timeout: Option<Duration>,
    /// How long in-flight tool calls may go on after shutdown starts. Default 10 s.
    pub shutdown_grace: Duration,
    /// How long a tool waits for the client to answer a question (elicitation, sampling,
    /// roots) before it gets a time-out error. Default 5 minutes: a person may be answering.
    pub client_request_timeout: Duration,
    /// Which `Origin` and `Host` headers are accepted (protection against DNS rebinding).
    pub origins: OriginPolicy,
    /// Whether a browser's `GET <mount>` (`Accept: text/html`) gets the catalogue page: the
    /// tools, resources, templates and prompts, with forms to call tools. The page lists what
    /// the credentials typed into it may list, like `tools/list`. Default `true`; turn it off
    /// for servers that must not show their catalogue in a browser.
    pub catalogue_page: bool,
    /// Ends this app's streams when cancelled, instead of on the process-wide [`shutdown`].
    /// Useful when several apps stop separately, and in tests.
    pub shutdown: Option<CancellationToken>,
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
            tool_timeout: None,
            shutdown_grace: Duration::from_secs(10),
            client_request_timeout: Duration::from_secs(300),
            origins: OriginPolicy::default(),
            catalogue_page: true,
            shutdown: None,
            session_store: None,
        }
    }
}

impl HttpOptions {
    /// Sets [`HttpOptions::shutdown`].
    pub fn shutdown_on(mut self, token: CancellationToken) -> Self {
        self.shutdown = Some(token);
        self
    }

    pub(crate) fn shutdown_token(&self) -> CancellationToken {
        self.shutdown
            .clone()
            .unwrap_or_else(|| SHUTDOWN.child_token())
    }
}

static SHUTDOWN: LazyLock<CancellationToken> = LazyLock::new(CancellationToken::new);

/// Starts the shutdown of every mounted MCP app: open SSE streams end, sessions end, and
/// in-flight tool calls get [`HttpOptions::shutdown_grace`] to finish before they are cancelled.
pub fn shutdown() {
    SHUTDOWN.cancel();
}

/// Wraps the signal given to axum's `with_graceful_shutdown`, so that MCP streams end when it
/// fires and the server can stop:
/// `axum::serve(listener, app).with_graceful_shutdown(mcp_runtime::shutdown_signal(ctrl_c))`.
pub async fn shutdown_signal<F: Future>(signal: F) {
    signal.await;
    shutdown();
}

/// Resolves `after` once shutdown has started: a deadline for the whole server, for connections
/// a client keeps open without finishing a request (half-sent headers or body, a response it
/// never reads), which axum's graceful shutdown would otherwise wait for forever:
///
/// ```no_run
/// # async fn run(listener: tokio::net::TcpListener, app: axum::Router) -> std::io::Result<()> {
/// use std::future::IntoFuture as _;
/// let serve = axum::serve(listener, app)
///     .with_graceful_shutdown(mcp_runtime::shutdown_signal(async {
///         let _ = tokio::signal::ctrl_c().await;
///     }));
/// tokio::select! {
///     done = serve.into_future() => done?,
///     () = mcp_runtime::shutdown_deadline(std::time::Duration::from_secs(11)) => {}
/// }
/// # Ok(())
/// # }
/// ```
pub async fn shutdown_deadline(after: std::time::Duration) {
    SHUTDOWN.cancelled().await;
    tokio::time::sleep(after).await;
}
