//! Run with: cargo run -p example-article (or `-- --stdio` for the stdio transport)
//!
//! The seed article's app in Rust: a REST API and three MCP servers (and `/mcp/all`, two of
//! them nested in one) in one process, on one
//! port, over one SQLite database. This file is the app shell: middleware, health check, and
//! where each MCP server is mounted. The tools live in `mcp/`, one module per domain.
//!
//! Environment: `HOST` (default 127.0.0.1), `PORT` (default 8000; 0 picks a free port),
//! `DATABASE_PATH` (default `article.db`), `DEMO_API_KEY` (default `demo-key`), `PUBLIC_HOSTS`
//! (comma-separated host names a proxy on this machine forwards; see `origins` below),
//! `MCP_MAX_SESSIONS` (live sessions per MCP mount; default 10,000), `SHUTDOWN_GRACE_SECS`
//! (how long calls may finish after SIGINT/SIGTERM; default 10), `OTEL_EXPORTER_OTLP_ENDPOINT`
//! (export traces and metrics to an OpenTelemetry collector; see `telemetry.rs`), `REDIS_URL`
//! (share sessions and tasks with the other instances of the app through Redis; see `shared`
//! below), `REQUEST_STATE_KEY` (the secret every instance seals 2026-07-28 request states with),
//! `PROXY_MCP_URL` (another MCP server, served at `/mcp/remote`).

// A binary: `pub` marks what each module offers the others.
#![allow(unreachable_pub)]

mod db;
mod log_line;
mod mcp;
mod rest;
mod services;
mod telemetry;

use axum::routing::get;
use axum::{Json, Router};
use mcp_runtime::auth::{OAuthServer, Upstream};
use mcp_runtime::client::{ClientOptions, Target, proxy::Proxy};
use mcp_runtime::middleware::{Audit, ConcurrencyLimit, RateLimit, Select};
use mcp_runtime::routes::{RouteTools, tool_endpoint};
use mcp_runtime::{
    McpRouterExt as _, McpServer, Transport, http::AiCatalog, http::HttpOptions,
    http::OriginPolicy, store::RedisStore,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tower_http::classify::ServerErrorsFailureClass;
use tower_http::cors::CorsLayer;
use tower_http::trace::TraceLayer;

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// DNS rebinding protection: a request that arrives on a loopback address must name a loopback
/// `Host`, unless it names one of `PUBLIC_HOSTS` (for a proxy on this machine that forwards its
/// public host name). Requests arriving on other addresses may name any host. The runtime learns
/// where a request arrived from the peer address `mcp_runtime::serve` gives it, below.
fn options() -> HttpOptions {
    let public: Vec<String> = env_or("PUBLIC_HOSTS", "")
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
        .collect();
    let origins = if public.is_empty() {
        OriginPolicy::default()
    } else {
        OriginPolicy::default().allow_hosts(public)
    };
    let options = HttpOptions::default()
        .origins(origins)
        .shutdown_grace(shutdown_grace());
    // The base URL clients see, for the server cards (`<mount>/server-card`); else the
    // request's own.
    let options = match public_url() {
        Some(url) => options.public_url(url),
        None => options,
    };
    match env_or("MCP_MAX_SESSIONS", "").parse() {
        Ok(max) => options.sessions(|s| s.max(max)),
        Err(_) => options,
    }
}

/// Several instances behind a load balancer: with `REDIS_URL` set, each mount keeps its
/// session records and task records in Redis (keys under `article:<mount>`), so any instance
/// serves any session and any task; with `REQUEST_STATE_KEY`, every instance accepts the
/// request states the others sealed. Without them, everything lives in this process.
struct Shared {
    redis: Option<RedisStore>,
    state_key: Option<String>,
}

impl Shared {
    fn from_env() -> Result<Self, mcp_runtime::store::StoreError> {
        let redis = match std::env::var("REDIS_URL") {
            Ok(url) if !url.is_empty() => Some(RedisStore::new(&url, "article")?),
            _ => None,
        };
        let state_key = std::env::var("REQUEST_STATE_KEY")
            .ok()
            .filter(|k| !k.is_empty());
        Ok(Self { redis, state_key })
    }

    /// A server of the mount `scope`, with the shared stores and the mount's policies: every
    /// request audited (one `mcp_runtime::audit` line: who, what, the outcome, how long); on
    /// `/mcp/crm`, `create_project` limited to `CRM_CREATE_PER_MINUTE` calls a minute per API-key
    /// owner (default 30) and `export_projects` to two running at once per owner, counted in
    /// Redis when `REDIS_URL` is set (one limit for every instance), else in this process.
    fn server(&self, scope: &str, server: McpServer) -> McpServer {
        let server = match &self.redis {
            Some(redis) => server.task_store(redis.scoped(scope)),
            None => server,
        };
        let server = match &self.state_key {
            Some(key) => server.request_state_key(key),
            None => server,
        };
        let server = server.layer(Audit::new());
        if scope != "crm" {
            return server;
        }
        let per_minute = env_or("CRM_CREATE_PER_MINUTE", "30").parse().unwrap_or(30);
        let mut create = RateLimit::per_minute("create_project", per_minute);
        let mut export = ConcurrencyLimit::new("export_projects", 2);
        if let Some(redis) = &self.redis {
            create = create.store(redis.scoped(scope));
            export = export.store(redis.scoped(scope));
        }
        server
            .layer_on(Select::tool("create_project"), create)
            .layer_on(Select::tool("export_projects"), export)
    }

    /// The options of the mount `scope`, with the shared session store.
    /// The OAuth authorization server, when `OAUTH_UPSTREAM_ISSUER`, `OAUTH_UPSTREAM_CLIENT_ID`,
    /// `OAUTH_UPSTREAM_CLIENT_SECRET` and `PUBLIC_URL` are set: users log in at the upstream
    /// provider (whose redirect URI is `<PUBLIC_URL>/oauth/callback`). Its keys come from
    /// `OAUTH_SECRET` (at least 32 bytes), or else from the upstream client secret; its records
    /// are in Redis when `REDIS_URL` is set, so that any instance continues a flow.
    fn oauth(&self) -> Result<Option<OAuthServer>, Box<dyn std::error::Error>> {
        let env = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        let (Some(issuer), Some(client_id), Some(client_secret)) = (
            env("OAUTH_UPSTREAM_ISSUER"),
            env("OAUTH_UPSTREAM_CLIENT_ID"),
            env("OAUTH_UPSTREAM_CLIENT_SECRET"),
        ) else {
            return Ok(None);
        };
        let public_url =
            public_url().ok_or("OAuth needs PUBLIC_URL: the app's base URL as clients see it")?;
        let secret = env("OAUTH_SECRET").unwrap_or_else(|| {
            use sha2::Digest as _;
            let digest = sha2::Sha256::digest(format!("example-article oauth: {client_secret}"));
            digest.iter().map(|b| format!("{b:02x}")).collect()
        });
        let mut oauth = OAuthServer::new(
            &public_url,
            secret,
            Upstream::new(issuer, client_id, client_secret),
        )?
        .scopes_supported(["chat:read", "chat:write"]);
        // For tests on one machine: client ID metadata documents served on loopback.
        if env("OAUTH_ALLOW_PRIVATE_CLIENT_DOCUMENTS").as_deref() == Some("1") {
            oauth = oauth.allow_private_metadata_hosts(true);
        }
        if let Some(seconds) = env("OAUTH_ACCESS_TOKEN_SECONDS").and_then(|s| s.parse().ok()) {
            oauth = oauth.access_token_lifetime(Duration::from_secs(seconds));
        }
        if let Some(redis) = &self.redis {
            // Records and the limits per address, shared by every instance.
            oauth = oauth
                .store(redis.scoped("oauth"))
                .limit_store(redis.scoped("oauth"));
        }
        Ok(Some(oauth))
    }

    fn options(&self, scope: &str) -> HttpOptions {
        match &self.redis {
            Some(redis) => options().sessions(|s| s.store(Arc::new(redis.scoped(scope)))),
            None => options(),
        }
    }
}

/// `PUBLIC_URL`: the app's base URL as clients see it (`https://api.example.com`), if set.
fn public_url() -> Option<String> {
    std::env::var("PUBLIC_URL").ok().filter(|u| !u.is_empty())
}

/// How long calls in flight may go on after SIGINT/SIGTERM: `SHUTDOWN_GRACE_SECS`, default 10.
fn shutdown_grace() -> Duration {
    Duration::from_secs(env_or("SHUTDOWN_GRACE_SECS", "10").parse().unwrap_or(10))
}

/// Server errors are logged as errors, except 503: the runtime answers it when a limit is
/// reached (full session table, unavailable key store), which a flood of clients can make
/// happen thousands of times a second; the runtime logs those limits itself, once a minute.
fn log_failure(class: ServerErrorsFailureClass, latency: Duration, _span: &tracing::Span) {
    match class {
        ServerErrorsFailureClass::StatusCode(axum::http::StatusCode::SERVICE_UNAVAILABLE) => {
            tracing::debug!(?latency, "refused with 503");
        }
        class => tracing::error!(classification = %class, ?latency, "response failed"),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Logs on stderr; traces and metrics to a collector when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
    let telemetry = telemetry::init()?;

    // `--stdio`: the "API Tools" server on stdin/stdout, for clients that start it as a command
    // (Claude Desktop's `command` servers). `MCP_SUBJECT` names the user the process acts for.
    if std::env::args().any(|a| a == "--stdio") {
        let mut options = mcp_runtime::stdio::StdioOptions::default();
        if let Ok(subject) = std::env::var("MCP_SUBJECT") {
            options = options.principal(mcp_runtime::auth::Principal::new(subject));
        }
        let server = mcp::api::server().build()?;
        server.serve_stdio_with(options).await?;
        telemetry.shutdown();
        return Ok(());
    }

    let db = db::Db::open(
        env_or("DATABASE_PATH", "article.db").as_ref(),
        &env_or("DEMO_API_KEY", "demo-key"),
    )?;

    let shared = Shared::from_env()?;
    let project_updates = mcp::crm::ProjectUpdates::default();
    let crm = shared
        .server("crm", mcp::crm::server(db.clone(), project_updates.clone()))
        .build()?;
    project_updates.attach(&crm);
    // With `OAUTH_UPSTREAM_ISSUER` (and its client) and `PUBLIC_URL`: the app's own OAuth
    // authorization server, for remote MCP clients, protecting `/mcp/slack`.
    let oauth = shared.oauth()?;
    let slack = shared
        .server("slack", mcp::slack::server(db.clone(), oauth.clone()))
        .build()?;
    // One endpoint with both: `crm_list_projects`, `slack_send_message`, resources at
    // `crm://crm/projects/{id}`, … Each call is answered by the server it names, with that
    // server's layers (the CRM's rate limit is the same limit here), state and scopes.
    let all = shared
        .server(
            "all",
            McpServer::new("All Tools")
                .description("The CRM and Slack tools in one server")
                .instructions("The CRM and Slack tools of the demo API in one server.")
                .auth(mcp::api_keys(db.clone()))
                .nest("crm", crm.clone())
                .nest("slack", slack.clone()),
        )
        .build()?;
    let api = shared.server("api", mcp::api::server()).build()?;
    // The REST routes as MCP tools (`list_projects`, `create_project`, `get_project`), described
    // by the REST API's own OpenAPI document and called through its own router: the caller's
    // `x-api-key` is passed on, and the route's key check refuses a call without one.
    let rest_tools = RouteTools::new(rest::router().with_state(db.clone()), rest::openapi())
        .include_tags(["projects"])
        .pass_headers(["x-api-key"])
        .tools()?;
    let rest_mcp = shared
        .server(
            "rest",
            McpServer::new("REST Tools")
                .description("The demo API's REST routes, as tools")
                .instructions("The demo API's REST routes, as tools.")
                .add_tools(rest_tools),
        )
        .build()?;
    let app = Router::new()
        .route("/health", get(health))
        // And the reverse: the `get_status` tool served as a REST endpoint too.
        .nest(
            "/api/v1",
            rest::router().route("/status", tool_endpoint(&api, "get_status")),
        )
        .nest_mcp(
            "/mcp",
            api.http_app_with(Transport::StreamableHttp, shared.options("api")),
        )
        .nest_mcp(
            "/mcp/rest",
            rest_mcp.http_app_with(Transport::StreamableHttp, shared.options("rest")),
        )
        .nest_mcp(
            "/mcp/crm",
            crm.http_app_with(Transport::StreamableHttp, shared.options("crm")),
        )
        .nest_mcp(
            "/mcp/slack",
            slack.http_app_with(Transport::StreamableHttp, shared.options("slack")),
        )
        .nest_mcp(
            "/mcp/all",
            all.http_app_with(Transport::StreamableHttp, shared.options("all")),
        );
    // `/mcp/remote`: the MCP server at `PROXY_MCP_URL` served through this app, behind its
    // API keys (for example `examples/conformance` at `http://127.0.0.1:3000/mcp`). Lazy: the
    // app starts whether or not that server is up, and serves its tools once it is.
    let remote = match std::env::var("PROXY_MCP_URL") {
        Ok(url) if !url.is_empty() => Some(
            Proxy::lazy(Target::http(url), ClientOptions::default())
                .await?
                .serve(
                    shared.server(
                        "remote",
                        McpServer::new("Remote Tools")
                            .description("The MCP server at PROXY_MCP_URL, behind the demo's keys")
                            .auth(mcp::api_keys(db.clone())),
                    ),
                )
                .await?,
        ),
        _ => None,
    };
    let app = match &remote {
        Some(remote) => app.nest_mcp(
            "/mcp/remote",
            remote.http_app_with(Transport::StreamableHttp, shared.options("remote")),
        ),
        None => app,
    };
    // `/.well-known/ai-catalog.json`: every mount's server card, for clients and registries
    // that discover the app's MCP servers.
    let mut catalog = AiCatalog::new()
        .host_name("Demo API")
        .server("/mcp", &api)
        .server("/mcp/rest", &rest_mcp)
        .server("/mcp/crm", &crm)
        .server("/mcp/slack", &slack)
        .server("/mcp/all", &all);
    if let Some(remote) = &remote {
        catalog = catalog.server("/mcp/remote", remote);
    }
    if let Some(url) = public_url() {
        catalog = catalog.public_url(url);
    }
    let app = match &oauth {
        // `/.well-known/oauth-authorization-server` and `/oauth/…`, at the root.
        Some(oauth) => app.merge(oauth.router()),
        None => app,
    };
    let app = app
        .ai_catalog(catalog)
        .layer(CorsLayer::permissive())
        .layer(TraceLayer::new_for_http().on_failure(log_failure))
        .with_state(db);

    let grace = shutdown_grace();
    let addr = format!("{}:{}", env_or("HOST", "127.0.0.1"), env_or("PORT", "8000"));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    // `mcp_runtime::serve`: axum's serve plus the limits it leaves out. A request head must
    // arrive within 30 s, and an idle kept-alive connection closes after 30 s; each request
    // carries the peer address (for the DNS-rebinding rule and per-address session limits);
    // on SIGINT/SIGTERM open MCP streams end, calls in flight get the grace period, and
    // connections still open a second after it are closed, whatever their clients do.
    mcp_runtime::serve(
        listener,
        app,
        mcp_runtime::http::ServeOptions::default()
            .shutdown_deadline(grace + Duration::from_secs(1)),
        stop_signal(),
    )
    .await?;
    // What the exporters still hold goes out before the process ends.
    telemetry.shutdown();
    Ok(())
}

/// SIGINT (Ctrl-C), or SIGTERM (what container runtimes and systemd send).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
