//! Transports: how a [`Server`](crate::Server) becomes an `axum::Router` to nest.

pub(crate) mod admission;
mod bus;
pub(crate) mod card;
mod changes;
mod egress;
pub(crate) use egress::{error_status, retry_after};
mod endpoint;
mod era;
mod events;
pub(crate) mod http;
mod inflight;
mod ingress;
mod options;
mod origin;
mod page;
mod replay;
#[cfg(feature = "serve")]
mod serve;
mod session;
mod sse;
mod stateless;
#[cfg(feature = "stdio")]
pub(crate) mod stdio;
mod streamable;

pub use card::AiCatalog;
pub use options::{HttpOptions, ResponseMode, Sessions, Shutdown, Streams};
pub use origin::OriginPolicy;
#[cfg(feature = "stdio")]
pub use stdio::StdioOptions;

use crate::auth::metadata::{MountPath, WELL_KNOWN};
use crate::core::Dispatcher;
use ::http::StatusCode;
use axum::Router;
use std::sync::Arc;

/// How a mounted server talks HTTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transport {
    /// Request-response, without sessions: every POST gets one `application/json` answer, GET gets
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

#[cfg(feature = "serve")]
pub use serve::{ServeOptions, serve};

/// A server's HTTP app ([`Server::http_app`](crate::Server::http_app)): mount it with
/// [`McpRouterExt::nest_mcp`], which routes the mount's own paths (`/mcp/crm`, `/mcp/crm/`)
/// straight to the MCP endpoint, or make it a plain `axum::Router` with
/// [`McpApp::into_router`] (or `Router::from`) to `nest`, `merge` or serve it as it is.
#[must_use = "an MCP app answers nothing until it is mounted or served"]
pub struct McpApp {
    router: Router,
    endpoint: egress::Endpoint,
    /// Whether a POST to the endpoint may need its mount path (see [`Mounted`]).
    authenticates: bool,
}

impl McpApp {
    /// The app as an `axum::Router`: the endpoint at `/`, the legacy transport's `/sse` and
    /// `/messages` where it has them, the protected-resource metadata at
    /// `/.well-known/oauth-protected-resource`.
    pub fn into_router(self) -> Router {
        self.router
    }
}

impl From<McpApp> for Router {
    fn from(app: McpApp) -> Self {
        app.router
    }
}

/// A router of an MCP app, as `nest_mcp` takes it: its endpoint is the router's `/`, every
/// request going through the router.
impl From<Router> for McpApp {
    fn from(router: Router) -> Self {
        Self {
            endpoint: through(router.clone()),
            router,
            // Not known: as if it did.
            authenticates: true,
        }
    }
}

impl std::fmt::Debug for McpApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpApp").finish_non_exhaustive()
    }
}

/// The endpoint at `/` of `router`, reached through it (the URI it would see nested, `/`).
fn through(router: Router) -> egress::Endpoint {
    egress::Endpoint::new(move |mut req: axum::extract::Request| {
        *req.uri_mut() = ::http::Uri::from_static("/");
        let answer = tower::ServiceExt::oneshot(router.clone(), req);
        async move {
            match answer.await {
                Ok(res) => res,
                Err(never) => match never {},
            }
        }
    })
}

/// Mounting MCP apps in the app's router.
///
/// ```
/// use axum::{Router, routing::get};
/// use mcp_runtime::{McpRouterExt as _, McpServer, Transport, tool};
///
/// /// Report overall system status.
/// #[tool(domain = "router-ext-doc")]
/// fn status() -> &'static str {
///     "ok"
/// }
///
/// let app: Router = Router::new()
///     .route("/health", get(|| async { "ok" }))
///     // Answers at `/mcp/ops` and `/mcp/ops/`, beside the app's own routes.
///     .nest_mcp(
///         "/mcp/ops",
///         McpServer::new("Ops").domain("router-ext-doc").http_app(Transport::StreamableHttp),
///     );
/// # let _ = app;
/// ```
pub trait McpRouterExt {
    /// Mounts an MCP app at `path`, answering at `path` and at `path/` (no redirect), with
    /// the paths below it (the legacy transport's `/sse` and `/messages`) and, at the app's
    /// root, the mount's OAuth protected-resource metadata (RFC 9728:
    /// `/.well-known/oauth-protected-resource<path>`, answered when the server has bearer
    /// auth, 404 otherwise), which clients of a server behind JWT look up first.
    ///
    /// `path` and `path/` are routed straight to the MCP endpoint of an [`McpApp`], not
    /// through its router (a plain `Router` given here is reached through itself). Plain `Router::nest` routes only `path` itself (axum maps a nested
    /// `/` to the prefix without its trailing slash) and has no root route for the metadata:
    /// use this.
    fn nest_mcp(self, path: &str, mcp_app: impl Into<McpApp>) -> Self;

    /// Serves the app's AI catalog at `/.well-known/ai-catalog.json`: an entry per server of
    /// `catalog`, each pointing at its mount's server card (`<mount>/server-card`). Public,
    /// like the cards (CORS `*`, an `ETag`, `304`). Call it on the app's root router.
    fn ai_catalog(self, catalog: AiCatalog) -> Self;
}

impl<S: Clone + Send + Sync + 'static> McpRouterExt for Router<S> {
    fn nest_mcp(self, path: &str, mcp_app: impl Into<McpApp>) -> Self {
        let McpApp {
            router: mcp_app,
            endpoint,
            authenticates,
        } = mcp_app.into();
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
        // The endpoint itself (`path`, `path/`) is routed here, straight to it, rather than
        // through `nest_service`, whose prefix stripping rebuilds every request's URI. Other
        // paths below the mount (the legacy transport's `/sse` and `/messages`) get their tail.
        let endpoint = Mounted {
            endpoint,
            mount: mount.clone(),
            authenticates,
        };
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

    fn ai_catalog(self, catalog: AiCatalog) -> Self {
        let catalog = Arc::new(catalog);
        self.route_service(
            card::AI_CATALOG_PATH,
            tower::service_fn(move |req: axum::extract::Request| {
                let (parts, _) = req.into_parts();
                std::future::ready(Ok::<_, std::convert::Infallible>(catalog.answer(&parts)))
            }),
        )
    }
}

/// Records on `req` the path its MCP app is mounted at: `mount`, under an outer `nest` after
/// the outer prefix.
fn record_mount(req: &mut axum::extract::Request, mount: &Arc<str>) {
    let full = match req.extensions().get::<axum::extract::NestedPath>() {
        Some(outer) => format!("{}{mount}", outer.as_str().trim_end_matches('/')).into(),
        None => mount.clone(),
    };
    req.extensions_mut().insert(MountPath(full));
}

/// An MCP endpoint at its mount path: a request gets the mount recorded where it may be used
/// (the pages, cards and streams of other methods; a POST only where the endpoint
/// authenticates, for its refusals' metadata URL and a token's audience), then goes to the
/// endpoint (one boxed future; no router below unless the app was given as a plain router). A
/// POST to an endpoint without auth uses no mount path: recording it would cost every call an
/// entry in the request's extensions (their table's fourth, which makes it grow).
#[derive(Clone)]
struct Mounted {
    endpoint: egress::Endpoint,
    mount: Arc<str>,
    authenticates: bool,
}

impl tower::Service<axum::extract::Request> for Mounted {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = futures_util::future::Map<
        futures_util::future::BoxFuture<'static, axum::response::Response>,
        fn(axum::response::Response) -> Result<axum::response::Response, std::convert::Infallible>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), std::convert::Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: axum::extract::Request) -> Self::Future {
        use futures_util::FutureExt as _;
        if self.authenticates || req.method() != ::http::Method::POST {
            record_mount(&mut req, &self.mount);
        }
        self.endpoint.call(req).map(
            Ok as fn(
                axum::response::Response,
            ) -> Result<axum::response::Response, std::convert::Infallible>,
        )
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
        record_mount(&mut req, &mount);
        tower::ServiceExt::oneshot(app.clone(), req)
    })
}

/// The router of a server for `transport`, with its protected-resource metadata.
pub(crate) fn router(
    core: Arc<Dispatcher>,
    auth: Option<admission::SharedAuth>,
    transport: Transport,
    options: HttpOptions,
) -> McpApp {
    let card = options.server_card.then(|| {
        Arc::new(card::CardSource {
            core: core.clone(),
            auth: auth.clone(),
            streamable: transport != Transport::Sse,
            legacy: transport != Transport::Http,
            origins: options.origins.clone(),
            public_url: options.public_url.clone(),
        })
    });
    let (router, endpoint) = match transport {
        Transport::Http => {
            let (router, endpoint) = http::router(core, auth.clone(), options);
            (router, Some(endpoint))
        }
        Transport::StreamableHttp => streamable::router(core, auth.clone(), options, true),
        Transport::Sse => streamable::router(core, auth.clone(), options, false),
    };
    let router = if let Some(source) = card {
        router.route(
            card::CARD_PATH,
            axum::routing::any(move |req: axum::extract::Request| {
                let (parts, _) = req.into_parts();
                std::future::ready(source.answer(&parts))
            }),
        )
    } else {
        router
    };
    // Every handler a route now, once (as `axum::serve` does for the app), not on each request
    // that reaches it through `nest_mcp` or another service wrapper.
    let authenticates = auth.is_some();
    let router = with_metadata(router, auth).with_state(());
    McpApp {
        // Without an endpoint of its own (the legacy transport alone), the router's `/`.
        endpoint: endpoint.unwrap_or_else(|| through(router.clone())),
        router,
        authenticates,
    }
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
