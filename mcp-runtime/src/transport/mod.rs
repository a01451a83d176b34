//! Transports: how a [`Server`](crate::Server) becomes an `axum::Router` to nest.

mod http;

use crate::server::{McpServer, Server};
use ::http::StatusCode;
use axum::Router;
use axum::routing::MethodRouter;

/// How a mounted server talks HTTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transport {
    /// Request-response: stateless, every POST gets one `application/json` answer, GET gets
    /// 405. The simplest transport, and the fastest; tools cannot stream notifications.
    Http,
}

/// Settings of a mounted app.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// The largest request body accepted; larger ones get 413.
    pub max_body_bytes: usize,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            max_body_bytes: 4 * 1024 * 1024,
        }
    }
}

/// The router of one endpoint, answering at `/` (the mount point); other paths below the mount
/// get a JSON 404.
fn mount(endpoint: MethodRouter) -> Router {
    Router::new()
        .route("/", endpoint)
        .fallback(|uri: ::http::Uri| async move {
            http::error_response(
                StatusCode::NOT_FOUND,
                http::TRANSPORT_ERROR,
                format!("no MCP endpoint at `{}` below this mount", uri.path()),
            )
        })
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
        self.nest_service(path, mcp_app)
    }
}

impl Server {
    /// The server as an `axum::Router` to nest in the app: `app.nest("/mcp/crm", router)`.
    /// Both `/mcp/crm` and `/mcp/crm/` answer.
    pub fn http_app(&self, transport: Transport) -> Router {
        self.http_app_with(transport, HttpOptions::default())
    }

    /// Like [`Server::http_app`], with options.
    pub fn http_app_with(&self, transport: Transport, options: HttpOptions) -> Router {
        match transport {
            Transport::Http => http::router(self.clone(), options),
        }
    }
}

impl McpServer {
    /// Builds the server and returns it as an `axum::Router` to nest.
    ///
    /// # Panics
    ///
    /// When the server cannot be built (a tool name used twice, a missing `State<T>`, a domain
    /// without tools): like axum's route conflicts, these are programming errors reported at
    /// startup with every problem and its source location. Use [`McpServer::build`] to handle
    /// them as a `Result`.
    pub fn http_app(self, transport: Transport) -> Router {
        match self.build() {
            Ok(server) => server.http_app(transport),
            Err(e) => panic!("{e}"),
        }
    }
}
