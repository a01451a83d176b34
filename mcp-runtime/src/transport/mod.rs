//! Transports: how a [`Server`](crate::Server) becomes an `axum::Router` to nest.

pub(crate) mod admission;
mod bus;
mod changes;
mod egress;
pub(crate) mod http;
mod ingress;
mod modern;
mod origin;
mod page;
#[cfg(feature = "serve")]
mod serve;
mod session;
mod sse;
#[cfg(feature = "stdio")]
pub(crate) mod stdio;
mod streamable;

pub use origin::OriginPolicy;
#[cfg(feature = "stdio")]
pub use stdio::StdioOptions;

use crate::auth::metadata::{MountPath, WELL_KNOWN};
use crate::core::Dispatcher;
use ::http::StatusCode;
use axum::Router;
use axum::routing::MethodRouter;
use std::sync::Arc;
use std::sync::LazyLock;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How a mounted server talks HTTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transport {
    /// Request-response: stateless, every POST gets one `application/json` answer, GET gets
    /// 405. The simplest transport, and the fastest; tools cannot stream notifications.
    Http,
    /// The full Streamable HTTP transport, for every protocol era at one URL: JSON or SSE per
    /// request, sessions, the standalone GET stream, resumable streams, and the stateless
    /// 2026-07-28 revision; plus the legacy HTTP+SSE endpoints (`<mount>/sse`) beside it.
    StreamableHttp,
    /// Only the legacy HTTP+SSE transport of 2024-11-05: `GET <mount>/sse` and the POST
    /// endpoint it announces.
    Sse,
}

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
    pub(crate) fn replay(&self) -> crate::transport::session::Replay {
        crate::transport::session::Replay {
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

#[cfg(feature = "serve")]
pub use serve::{ServeOptions, serve};

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

/// What every MCP request passes first, in every transport and era: the `Origin`/`Host` policy
/// (403), then the caller's credentials (401, 403, 503). The principal goes into the request's
/// extensions.
#[allow(clippy::result_large_err)]
async fn admit(
    origins: &OriginPolicy,
    auth: Option<&admission::SharedAuth>,
    parts: &mut ::http::request::Parts,
) -> Result<(), axum::response::Response> {
    origins.check(parts)?;
    admission::authenticate(auth, parts).await
}

/// The catalogue page, for a browser's GET where the mount shows it. Before authentication: the
/// page is static and lists only what the credentials typed into it may list; after the
/// origin check, like everything else.
fn catalogue_page(
    options: &HttpOptions,
    parts: &::http::request::Parts,
) -> Option<axum::response::Response> {
    if !options.catalogue_page || !page::wanted(parts) {
        return None;
    }
    Some(match options.origins.check(parts) {
        Ok(()) => page::response(),
        Err(refused) => refused,
    })
}

/// The router of one endpoint, answering at `/` (the mount point); other paths below the mount
/// get a JSON 404.
fn mount(endpoint: MethodRouter) -> Router {
    Router::new().route("/", endpoint).fallback(not_found)
}

async fn not_found(uri: ::http::Uri) -> axum::response::Response {
    egress::error_response(
        StatusCode::NOT_FOUND,
        egress::TRANSPORT_ERROR,
        format!(
            "no MCP endpoint at `{}` below this mount",
            crate::bounds::shown(uri.path())
        ),
    )
}

/// Mounting MCP apps in the app's router.
pub trait McpRouterExt {
    /// Mounts an MCP app at `path`, answering at `path` and at `path/` (no redirect).
    ///
    /// This is axum's `nest_service`; plain `Router::nest` routes only `path` itself, since
    /// axum maps a nested `/` to the prefix without its trailing slash.
    fn nest_mcp(self, path: &str, mcp_app: Router) -> Self;
}

impl<S: Clone + Send + Sync + 'static> McpRouterExt for Router<S> {
    fn nest_mcp(self, path: &str, mcp_app: Router) -> Self {
        let mount: Arc<str> = path.trim_end_matches('/').into();
        if mount.is_empty() {
            // At the root, axum's own rule applies (it refuses to nest there).
            return self.nest_service(path, mcp_app);
        }
        // RFC 9728: the metadata of a resource at `/mcp/crm` is at
        // `/.well-known/oauth-protected-resource/mcp/crm` on the root. The route forwards there
        // to the app, which answers when it has bearer auth and 404 otherwise.
        let metadata_path = format!("{WELL_KNOWN}{mount}");
        let forward = below_mount(mcp_app.clone(), mount.clone(), |_| WELL_KNOWN.into());
        // The endpoint itself (`path`, `path/`) is routed here rather than through
        // `nest_service`, whose prefix stripping rebuilds every request's URI: the app sees `/`
        // and the mount path, as it would nested. Other paths below the mount (the legacy
        // transport's `/sse` and `/messages`) get their tail.
        let endpoint = below_mount(mcp_app.clone(), mount.clone(), |_| "/".into());
        let tail_len = mount.len();
        let below = below_mount(mcp_app, mount.clone(), move |uri| {
            let tail = &uri.path()[tail_len..];
            match uri.query() {
                Some(q) => format!("{tail}?{q}").into(),
                None => tail.to_owned().into(),
            }
        });
        self.route_service(&mount, endpoint.clone())
            .route_service(&format!("{mount}/"), endpoint)
            .route_service(&format!("{mount}/{{*rest}}"), below)
            .route_service(&format!("{metadata_path}/"), forward.clone())
            .route_service(&metadata_path, forward)
    }
}

/// A service that hands requests to the MCP app under `mount`, with the URI `rewrite` gives
/// (the path below the mount) and the mount path recorded for the app.
fn below_mount(
    app: Router,
    mount: Arc<str>,
    rewrite: impl Fn(&::http::Uri) -> std::borrow::Cow<'static, str> + Clone + Send + Sync + 'static,
) -> impl tower::Service<
    axum::extract::Request,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<axum::response::Response, std::convert::Infallible>> + Send,
> + Clone
+ Send
+ Sync
+ 'static {
    tower::service_fn(move |mut req: axum::extract::Request| {
        let uri = match rewrite(req.uri()) {
            std::borrow::Cow::Borrowed(s) => ::http::Uri::from_static(s),
            std::borrow::Cow::Owned(s) => {
                s.parse().unwrap_or_else(|_| ::http::Uri::from_static("/"))
            }
        };
        *req.uri_mut() = uri;
        // Under an outer `nest`, the mount path starts with the outer prefix.
        let full = match req.extensions().get::<axum::extract::NestedPath>() {
            Some(outer) => format!("{}{mount}", outer.as_str().trim_end_matches('/')).into(),
            None => mount.clone(),
        };
        req.extensions_mut().insert(MountPath(full));
        tower::ServiceExt::oneshot(app.clone(), req)
    })
}

/// The router of a server for `transport`, with its protected-resource metadata.
pub(crate) fn router(
    core: Arc<Dispatcher>,
    auth: Option<admission::SharedAuth>,
    transport: Transport,
    options: HttpOptions,
) -> Router {
    let router = match transport {
        Transport::Http => http::router(core, auth.clone(), options),
        Transport::StreamableHttp => streamable::router(core, auth.clone(), options, true),
        Transport::Sse => streamable::router(core, auth.clone(), options, false),
    };
    with_metadata(router, auth)
}

/// Serves the protected-resource metadata of a server with bearer auth (404 without).
fn with_metadata(router: Router, auth: Option<admission::SharedAuth>) -> Router {
    router.route(
        WELL_KNOWN,
        axum::routing::get(move |req: axum::extract::Request| {
            let auth = auth.clone();
            async move {
                let (parts, _) = req.into_parts();
                match auth.as_ref().and_then(|a| a.protected_resource()) {
                    Some(resource) => {
                        let doc = resource.document(&parts);
                        egress::json_response(StatusCode::OK, serde_json::to_vec(&doc).expect("JSON"))
                    }
                    None => egress::error_response(
                        StatusCode::NOT_FOUND,
                        egress::TRANSPORT_ERROR,
                        "this MCP server uses no bearer tokens, so it has no protected-resource metadata",
                    ),
                }
            }
        }),
    )
}
