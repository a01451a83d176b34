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

/// The settings of a mounted app, by concern: what a request may be (`max_body_bytes`,
/// `body_read_timeout`, `origins`), how it is answered (`response_mode`), the calls of the
/// mount (`max_running_calls`), its [`Sessions`] and its [`Streams`], the page a browser gets
/// (`catalogue_page`), and how it stops (`shutdown_on`, `shutdown_grace`). Start from the
/// defaults and change what differs; new settings will come with defaults, so code written
/// today keeps compiling.
///
/// ```
/// use mcp_runtime::http::{HttpOptions, ResponseMode};
/// use std::time::Duration;
///
/// let options = HttpOptions::default()
///     .response_mode(ResponseMode::Sse)
///     .max_body_bytes(1024 * 1024)
///     .sessions(|s| s.idle_timeout(Duration::from_secs(600)).max(1_000))
///     .streams(|s| s.keep_alive(Duration::from_secs(30)));
/// // Behind a load balancer without affinity: no sessions at all.
/// let sessionless = HttpOptions::default().without_sessions();
/// # let _ = (options, sessionless);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HttpOptions {
    pub(crate) max_body_bytes: usize,
    pub(crate) body_read_timeout: Duration,
    pub(crate) response_mode: ResponseMode,
    pub(crate) max_running_calls: usize,
    pub(crate) sessions: Sessions,
    pub(crate) streams: Streams,
    pub(crate) shutdown_grace: Duration,
    pub(crate) origins: OriginPolicy,
    pub(crate) catalogue_page: bool,
    pub(crate) server_card: bool,
    pub(crate) public_url: Option<std::sync::Arc<str>>,
    pub(crate) shutdown: Option<Shutdown>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            max_body_bytes: 4 * 1024 * 1024,
            body_read_timeout: Duration::from_secs(30),
            response_mode: ResponseMode::Auto,
            max_running_calls: 10_000,
            sessions: Sessions::default(),
            streams: Streams::default(),
            shutdown_grace: Duration::from_secs(10),
            origins: OriginPolicy::default(),
            catalogue_page: true,
            server_card: true,
            public_url: None,
            shutdown: None,
        }
    }
}

impl HttpOptions {
    /// The largest request body accepted; larger ones get 413. Default 4 MiB.
    #[must_use]
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// The longest a request body may take to arrive once its headers have; a client that
    /// sends part of a body and stalls gets 408 and loses the connection. Default 30 s.
    #[must_use]
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        self.body_read_timeout = timeout;
        self
    }

    /// JSON or SSE answers (Streamable HTTP). Default [`ResponseMode::Auto`].
    #[must_use]
    pub fn response_mode(mut self, mode: ResponseMode) -> Self {
        self.response_mode = mode;
        self
    }

    /// The most calls the sessions of this mount run at once, all together (a session's calls
    /// go on after its client has gone, so their sum is bounded too); past it a request gets
    /// 503 and a JSON-RPC error. Calls without a session are cancelled when their client goes.
    /// Default 10,000.
    #[must_use]
    pub fn max_running_calls(mut self, calls: usize) -> Self {
        self.max_running_calls = calls;
        self
    }

    /// Changes the sessions handshake-era clients get (Streamable HTTP and the legacy
    /// transport): `options.sessions(|s| s.max(1_000).idle_timeout(ten_minutes))`. What the
    /// function leaves alone keeps its value, so calls add up.
    #[must_use]
    pub fn sessions(mut self, change: impl FnOnce(Sessions) -> Sessions) -> Self {
        self.sessions = change(self.sessions);
        self
    }

    /// No sessions at all: `initialize` issues no `Mcp-Session-Id`, GET and DELETE get 405,
    /// and every request stands alone. For deployments behind load balancers without
    /// affinity. (Clients of the stateless era never have sessions, whatever this says.)
    #[must_use]
    pub fn without_sessions(mut self) -> Self {
        self.sessions.enabled = false;
        self
    }

    /// Changes the SSE streams (keep-alives, and what is kept for clients that resume):
    /// `options.streams(|s| s.keep_alive(thirty_seconds))`.
    #[must_use]
    pub fn streams(mut self, change: impl FnOnce(Streams) -> Streams) -> Self {
        self.streams = change(self.streams);
        self
    }

    /// Which `Origin` and `Host` headers are accepted (protection against DNS rebinding).
    /// Default: [`OriginPolicy::default`] (see it for what it accepts).
    #[must_use]
    pub fn origins(mut self, origins: OriginPolicy) -> Self {
        self.origins = origins;
        self
    }

    /// Whether a browser's `GET <mount>` (`Accept: text/html`) gets the catalogue page: the
    /// tools, resources, templates and prompts, with forms to call tools. The page lists what
    /// the credentials typed into it may list, like `tools/list`. Default `true`; turn it off
    /// for servers that must not show their catalogue in a browser.
    #[must_use]
    pub fn catalogue_page(mut self, shown: bool) -> Self {
        self.catalogue_page = shown;
        self
    }

    /// Whether `GET <mount>/server-card` answers with the mount's server card (the MCP server
    /// card draft, SEP-2127: `application/mcp-server-card+json`): the server's name, version,
    /// description, title, icons and website, and where and how to connect (the URL, the
    /// protocol versions, the name of the header credentials go in, never a value). Public,
    /// like any discovery document: no credentials needed, any origin may read it (CORS `*`),
    /// with an `ETag` and `304` for a client that has it. Default `true`.
    #[must_use]
    pub fn server_card(mut self, served: bool) -> Self {
        self.server_card = served;
        self
    }

    /// The app's base URL as clients see it (`https://api.example.com`), which discovery
    /// documents (the server card) put before the mount path. Default: none, and the URL is
    /// the request's own: `http://` and its `Host` header, right for a server reached
    /// directly, not for one behind a TLS proxy.
    #[must_use]
    pub fn public_url(mut self, url: impl AsRef<str>) -> Self {
        self.public_url = Some(url.as_ref().trim_end_matches('/').into());
        self
    }

    /// How long in-flight tool calls may go on after shutdown starts. Default 10 s.
    #[must_use]
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// The shutdown this mount watches: when it starts, open streams end, sessions end, and
    /// calls in flight get their [grace](HttpOptions::shutdown_grace). Default: none, and
    /// under [`serve`](crate::serve) the mount watches that loop's shutdown (its connections
    /// carry it); with `axum::serve`, give the same [`Shutdown`] here and to its graceful
    /// shutdown ([`Shutdown::signal`]).
    #[must_use]
    pub fn shutdown_on(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = Some(shutdown);
        self
    }

    /// Whether the mount runs without sessions ([`HttpOptions::without_sessions`]).
    pub(crate) fn sessionless(&self) -> bool {
        !self.sessions.enabled
    }

    /// How much of each SSE stream is kept for resumption.
    pub(crate) fn replay(&self) -> crate::transport::replay::Replay {
        crate::transport::replay::Replay {
            events: self.streams.replay_events,
            bytes: self.streams.replay_bytes,
            session_bytes: self.streams.session_replay_bytes,
        }
    }

    /// The token of this mount's shutdown: the one given, or one of its own (which the
    /// shutdown of the serve loop a request comes through starts, see [`Shutdown::watched_by`]).
    pub(crate) fn shutdown_token(&self) -> CancellationToken {
        self.shutdown
            .as_ref()
            .map_or_else(CancellationToken::new, |s| (*s.0).clone())
    }
}

/// The sessions of a mount: how long they live, how many there may be, and where their records
/// are kept when several instances serve them ([`HttpOptions::sessions`]).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Sessions {
    pub(crate) enabled: bool,
    pub(crate) idle_timeout: Duration,
    pub(crate) max: usize,
    pub(crate) max_per_client: usize,
    pub(crate) max_requests: usize,
    pub(crate) store: Option<Arc<dyn crate::store::shared::SessionStore>>,
}

impl Default for Sessions {
    fn default() -> Self {
        Self {
            enabled: true,
            idle_timeout: Duration::from_secs(30 * 60),
            max: 10_000,
            max_per_client: 1_000,
            max_requests: 256,
            store: None,
        }
    }
}

impl Sessions {
    /// Sessions idle this long are ended: no stream open and no request in that time. A running
    /// call or an open stream keeps a session alive. Default 30 minutes.
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// The most live sessions. At the limit, the idlest session with no call running and no
    /// stream open is ended to make room; when all are busy, `initialize` gets 503. The same
    /// number bounds open `subscriptions/listen` streams (2026-07-28; 503 past it).
    /// Default 10,000.
    #[must_use]
    pub fn max(mut self, sessions: usize) -> Self {
        self.max = sessions;
        self
    }

    /// The most live sessions of one client: one principal when the mount has auth, otherwise
    /// one IP address (when the app is served with `ConnectInfo<SocketAddr>`). At the limit,
    /// the client's own idlest session is ended to make room; when all are busy, `initialize`
    /// gets 429. One caller cannot fill the table for everyone. Default 1,000.
    #[must_use]
    pub fn max_per_client(mut self, sessions: usize) -> Self {
        self.max_per_client = sessions;
        self
    }

    /// The most requests one session may have running at once; past it a request is answered
    /// at once with 429 and a JSON-RPC error; a request whose id is still running in its
    /// session gets 400. Default 256.
    #[must_use]
    pub fn max_requests(mut self, requests: usize) -> Self {
        self.max_requests = requests;
        self
    }

    /// Where session records live when several instances of the app serve the same sessions
    /// (e.g. [`RedisStore`](crate::store::RedisStore), feature `redis`); each mount needs its
    /// own (a `RedisStore` scoped to it). Default: none, sessions live in the process that
    /// created them.
    #[must_use]
    pub fn store(mut self, store: Arc<dyn crate::store::shared::SessionStore>) -> Self {
        self.store = Some(store);
        self
    }
}

/// The SSE streams of a mount: keep-alives, and the events kept for clients that resume with
/// `Last-Event-ID` ([`HttpOptions::streams`]).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Streams {
    pub(crate) retry: Duration,
    pub(crate) keep_alive: Duration,
    pub(crate) replay_events: usize,
    pub(crate) replay_bytes: usize,
    pub(crate) session_replay_bytes: usize,
}

impl Default for Streams {
    fn default() -> Self {
        Self {
            retry: Duration::from_secs(1),
            keep_alive: Duration::from_secs(15),
            replay_events: 256,
            replay_bytes: 1024 * 1024,
            session_replay_bytes: 4 * 1024 * 1024,
        }
    }
}

impl Streams {
    /// The `retry` the priming event of a stream suggests. Default 1 s.
    #[must_use]
    pub fn retry(mut self, retry: Duration) -> Self {
        self.retry = retry;
        self
    }

    /// Keep-alive comments on idle streams. Default 15 s.
    #[must_use]
    pub fn keep_alive(mut self, every: Duration) -> Self {
        self.keep_alive = every;
        self
    }

    /// Events kept per stream for clients that resume. Default 256.
    #[must_use]
    pub fn replay_events(mut self, events: usize) -> Self {
        self.replay_events = events;
        self
    }

    /// Bytes of events kept per stream for resumption; the oldest go first (the newest is
    /// kept whatever its size). Default 1 MiB.
    #[must_use]
    pub fn replay_bytes(mut self, bytes: usize) -> Self {
        self.replay_bytes = bytes;
        self
    }

    /// Bytes of events kept for resumption across all the streams of one session (up to 32
    /// streams); past it the oldest events go first, and finished streams before live ones.
    /// Default 4 MiB.
    #[must_use]
    pub fn session_replay_bytes(mut self, bytes: usize) -> Self {
        self.session_replay_bytes = bytes;
        self
    }
}

/// The shutdown of an app: when it starts, the MCP streams of the mounts that watch it end,
/// their sessions end, and their calls in flight get their grace before they are cancelled.
/// Cheap to clone; every clone is the same shutdown.
///
/// Under [`serve`](crate::serve) there is nothing to wire: its signal starts the loop's own
/// shutdown (or [`ServeOptions::shutdown_on`](crate::http::ServeOptions::shutdown_on)), which every mount
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
    /// reaches watch (see [`HttpOptions::shutdown_on`]): read once per mount, it costs a request
    /// nothing (a request extension would cost each request an allocation).
    pub(crate) static SERVED: Shutdown;
}
