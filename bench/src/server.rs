//! The servers compared by `bench/run.sh`, each with the same tools `echo(text)` and `add(a, b)`.
//!
//! Usage: `bench-server <kind> <port>` where kind is one of `bare`, `http`, `stream-json`,
//! `stream-sse`, `stream-sse-redis` (sessions recorded in the Redis at `REDIS_URL`),
//! `rmcp-json`, `rmcp-session`, `tools1000`, `app-bare`, `app-bare-axum`,
//! `app-bare-axum-logged`, `http-limit`,
//! `http-limit-redis` (a rate limit in memory or in Redis), `http-cache` (a cache hit),
//! `http-transform` (a call through a tool transform), `http-proxy` (a call through a proxy of
//! an `http` server in the same process), `rest-direct` and `rest-tool` (a REST route called
//! directly, and as a tool through `routes::RouteTools`), `tools10000-search` (10,000 tools
//! behind `McpServer::tool_search`). Prints `ready` once
//! listening.
//!
//! `app-bare` is the bare handler in the shape of `examples/article` (the app users run): a
//! permissive CORS layer, a `TraceLayer` under an `info,tower_http=warn` subscriber logging to
//! stderr, served by `mcp_runtime::serve` as the article is (header-read timeout, connect info,
//! `TCP_NODELAY`), the default multi-threaded runtime. `app-bare-axum` is the same app under
//! `axum::serve`, to show what the serve loop itself costs. `app-bare-axum-logged` is that app
//! writing one line per call, as the article's audit does: the same fields, through the
//! article's own log layer and writer (`examples/article/src/log_line.rs`, compiled in here).
//! `bench/run.sh` compares them with the real `example-article` binary.

use axum::Router;
use axum::serve::ListenerExt as _;
use mcp_runtime::catalog::{ToolSearch, ToolTransform};
use mcp_runtime::routes::RouteTools;
use mcp_runtime::client::{ClientOptions, Target, proxy::Proxy};
use mcp_runtime::middleware::{RateLimit, ResponseCache, Select};
use mcp_runtime::{
    Context, McpRouterExt as _, McpServer, Transport, catalog::Tool, http::HttpOptions,
    http::ResponseMode, tool,
};
use serde::Deserialize;
use serde_json::{Value, json};

/// Echo the text back.
#[tool(domain = "bench")]
fn echo(
    /// What to echo.
    text: String,
) -> String {
    text
}

/// Add two numbers.
#[tool(domain = "bench")]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

/// Send 100 progress notifications, then answer.
#[tool(domain = "bench")]
async fn stream100(ctx: Context) -> &'static str {
    for i in 0..100 {
        ctx.progress(f64::from(i + 1), Some(100.0), None).await;
    }
    "streamed"
}

/// Takes every request as one principal (the cache row: a cache keeps results per principal).
struct Everyone;

impl mcp_runtime::auth::Authenticator for Everyone {
    fn authenticate<'a>(
        &'a self,
        _: &'a axum::http::request::Parts,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = Result<mcp_runtime::auth::Principal, mcp_runtime::auth::AuthError>,
                > + Send
                + 'a,
        >,
    > {
        Box::pin(std::future::ready(Ok(mcp_runtime::auth::Principal {
            subject: "bench".into(),
            ..mcp_runtime::auth::Principal::default()
        })))
    }
}

// ---- The physical limit: a bare axum handler doing JSON-RPC with serde_json. ----

#[derive(Deserialize)]
struct Rpc {
    #[allow(dead_code)]
    jsonrpc: String,
    id: Value,
    method: String,
    #[serde(default)]
    params: Value,
}

/// The REST route of the `rest-*` kinds: the text back, as JSON.
async fn rest_echo(axum::Json(body): axum::Json<Value>) -> axum::Json<Value> {
    axum::Json(json!({ "text": body["text"] }))
}

/// The article's log filter (`RUST_LOG`, default `info,tower_http=warn`).
fn app_log_filter() -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,tower_http=warn".into())
}

/// The bare app in the article's shape: `handler` at `/mcp` and `/mcp/`, under a permissive
/// CORS layer and a `TraceLayer`.
fn app_shape(handler: axum::routing::MethodRouter) -> Router {
    Router::new()
        .route("/mcp", handler.clone())
        .route("/mcp/", handler)
        .layer(tower_http::cors::CorsLayer::permissive())
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

/// The article's log line and writer, compiled from its source.
#[path = "../../examples/article/src/log_line.rs"]
#[allow(dead_code)]
mod log_line;

/// [`bare`] and one log line per call: the fields of the article's audit line.
async fn bare_logged(body: axum::body::Bytes) -> axum::response::Response {
    let started = std::time::Instant::now();
    let rpc: Rpc = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return parse_error(&e),
    };
    let response = answer(&rpc);
    let duration_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let (method, name) = (rpc.method.as_str(), rpc.params["name"].as_str());
    tracing::info!(
        // The article's audit target: the same line, filtered the same way.
        target: "mcp_runtime::audit",
        message = "mcp request",
        server = "API Tools",
        method,
        name,
        transport = "tcp",
        outcome = if response.status().is_success() { "ok" } else { "error" },
        duration_us,
    );
    response
}

async fn bare(body: axum::body::Bytes) -> axum::response::Response {
    match serde_json::from_slice::<Rpc>(&body) {
        Ok(rpc) => answer(&rpc),
        Err(e) => parse_error(&e),
    }
}

fn parse_error(e: &serde_json::Error) -> axum::response::Response {
    axum::Json(json!({"jsonrpc": "2.0", "error": {"code": -32700, "message": e.to_string()}}))
        .into_response_()
}

fn answer(rpc: &Rpc) -> axum::response::Response {
    let result = match (rpc.method.as_str(), rpc.params["name"].as_str()) {
        ("tools/call", Some("echo")) => {
            json!({"content": [{"type": "text", "text": rpc.params["arguments"]["text"]}]})
        }
        ("tools/call", Some("get_status")) => {
            json!({"content": [{"type": "text", "text": "All systems operational"}]})
        }
        ("tools/call", Some("add")) => {
            let sum = rpc.params["arguments"]["a"].as_i64().unwrap_or(0)
                + rpc.params["arguments"]["b"].as_i64().unwrap_or(0);
            json!({"content": [{"type": "text", "text": sum.to_string()}], "structuredContent": {"result": sum}})
        }
        _ => json!({}),
    };
    axum::Json(json!({"jsonrpc": "2.0", "id": &rpc.id, "result": result})).into_response_()
}

trait IntoResponse_ {
    fn into_response_(self) -> axum::response::Response;
}
impl<T: axum::response::IntoResponse> IntoResponse_ for T {
    fn into_response_(self) -> axum::response::Response {
        self.into_response()
    }
}

// ---- rmcp, the official Rust SDK. ----

mod rmcp_server {
    use rmcp::handler::server::wrapper::Parameters;
    use rmcp::model::ProgressNotificationParam;
    use rmcp::service::RequestContext;
    use rmcp::{RoleServer, schemars, tool, tool_router};

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    pub struct EchoArgs {
        /// What to echo.
        pub text: String,
    }

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    pub struct AddArgs {
        pub a: i64,
        pub b: i64,
    }

    #[derive(Clone)]
    pub struct Bench;

    #[tool_router(server_handler)]
    impl Bench {
        #[tool(description = "Echo the text back.")]
        fn echo(&self, Parameters(EchoArgs { text }): Parameters<EchoArgs>) -> String {
            text
        }

        #[tool(description = "Add two numbers.")]
        fn add(&self, Parameters(AddArgs { a, b }): Parameters<AddArgs>) -> String {
            (a + b).to_string()
        }

        #[tool(description = "Send 100 progress notifications, then answer.")]
        async fn stream100(&self, ctx: RequestContext<RoleServer>) -> String {
            if let Some(token) = ctx.meta.get_progress_token() {
                for i in 0..100 {
                    let progress = ProgressNotificationParam::new(token.clone(), f64::from(i + 1))
                        .with_total(100.0);
                    let _ = ctx.peer.notify_progress(progress).await;
                }
            }
            "streamed".to_owned()
        }
    }
}

fn rmcp_app(session: bool) -> Router {
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    };
    let mut config = StreamableHttpServerConfig::default().with_sse_keep_alive(None);
    config.legacy_session_mode = session;
    config.json_response = !session;
    let service: StreamableHttpService<rmcp_server::Bench, LocalSessionManager> =
        StreamableHttpService::new(|| Ok(rmcp_server::Bench), Default::default(), config);
    Router::new().nest_service("/mcp", service)
}

fn thousand_tools() -> McpServer {
    let mut server = McpServer::new("Thousand").domain("bench");
    for i in 0..1000 {
        server = server.add_tool(
            Tool::new(format!("tool_{i:04}"), |_ctx, _args| async { "ok" })
                .description(format!("Tool number {i}, which does one small thing."))
                .input_schema(json!({"type": "object", "properties": {"text": {"type": "string", "description": "Some text."}}})),
        );
    }
    server
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let kind = args.next().expect("a server kind");
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let ours = || McpServer::new("Bench").domain("bench");
    let app = match kind.as_str() {
        "bare" => Router::new()
            .route("/mcp", axum::routing::post(bare))
            .route("/mcp/", axum::routing::post(bare)),
        "http" => Router::new().nest_mcp("/mcp", ours().http_app(Transport::Http)),
        "stream-json" => Router::new().nest_mcp(
            "/mcp",
            ours().http_app_with(
                Transport::StreamableHttp,
                HttpOptions::default()
                    .without_sessions()
                    .response_mode(ResponseMode::Json),
            ),
        ),
        "stream-sse" | "stream-sse-redis" => {
            // Sessions recorded in Redis (`REDIS_URL`), as one of several instances would.
            let session_store = (kind == "stream-sse-redis").then(|| {
                let url = std::env::var("REDIS_URL").expect("REDIS_URL for stream-sse-redis");
                let redis =
                    mcp_runtime::store::RedisStore::new(&url, "bench").expect("a Redis URL");
                std::sync::Arc::new(redis.scoped("mcp"))
            });
            Router::new().nest_mcp(
                "/mcp",
                ours().http_app_with(
                    Transport::StreamableHttp,
                    HttpOptions::default()
                        .response_mode(ResponseMode::Sse)
                        .sessions(|s| {
                            let s = s.max(100_000);
                            match session_store {
                                Some(store) => s.store(store),
                                None => s,
                            }
                        }),
                ),
            )
        }
        "rmcp-json" => rmcp_app(false),
        "rmcp-session" => rmcp_app(true),
        "tools1000" => Router::new().nest_mcp("/mcp", thousand_tools().http_app(Transport::Http)),
        // 10,000 tools behind search: the `search` workload ranks them for a query.
        "tools10000-search" => {
            let words = ["invoice", "shipment", "customer", "report", "refund", "order", "stock", "email"];
            let mut server = McpServer::new("Ten thousand").tool_search(ToolSearch::new());
            for i in 0..10_000 {
                let (a, b) = (words[i % words.len()], words[(i / words.len()) % words.len()]);
                server = server.add_tool(
                    Tool::new(format!("{a}_{b}_{i:05}"), |_ctx, _args| async { "ok" })
                        .description(format!("Work number {i} on the {a} and its {b}.")),
                );
            }
            Router::new().nest_mcp("/mcp", server.http_app(Transport::Http))
        }
        // A call through a rate limit (in memory, or in the Redis at `REDIS_URL`) that every
        // request passes (a billion a minute, one key: the load generator's address).
        "http-limit" | "http-limit-redis" => {
            let mut limit = RateLimit::per_minute("echo", 1_000_000_000);
            if kind == "http-limit-redis" {
                let url = std::env::var("REDIS_URL").expect("REDIS_URL for http-limit-redis");
                limit = limit.store(
                    mcp_runtime::store::RedisStore::new(&url, "bench").expect("a Redis URL"),
                );
            }
            Router::new().nest_mcp(
                "/mcp",
                ours()
                    .layer_on(Select::tool("echo"), limit)
                    .http_app(Transport::Http),
            )
        }
        // A cache hit: `echo` marked read-only, every caller one principal, the same call each
        // time.
        "http-cache" => {
            let cached_echo = Tool::new("echo", |_ctx, args| async move {
                args.get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            })
            .annotations(mcp_runtime::catalog::ToolAnnotations {
                read_only: Some(true),
                ..mcp_runtime::catalog::ToolAnnotations::default()
            });
            Router::new().nest_mcp(
                "/mcp",
                McpServer::new("Bench")
                    .add_tool(cached_echo)
                    .auth(Everyone)
                    .layer(ResponseCache::new(std::time::Duration::from_secs(3600)))
                    .http_app(Transport::Http),
            )
        }
        // A call through a transform: `echo` with its argument described and given a default,
        // so that every call's arguments are mapped.
        "http-transform" => Router::new().nest_mcp(
            "/mcp",
            ours()
                .transform_tool(
                    "echo",
                    ToolTransform::new()
                        .describe_argument("text", "What to echo back.")
                        .default_argument("text", json!("")),
                )
                .http_app(Transport::Http),
        ),
        // A proxied call: the `http` server, on a port of its own in this process, served again
        // through a proxy (its client speaks to it over HTTP on 127.0.0.1). The CPU of both is
        // counted, as when the remote runs on the same machine.
        "http-proxy" => {
            let remote = Router::new().nest_mcp("/mcp", ours().http_app(Transport::Http));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/mcp", listener.local_addr().unwrap());
            tokio::spawn(async move { axum::serve(listener, remote).await.unwrap() });
            let proxy = Proxy::connect(Target::http(url), ClientOptions::default())
                .await
                .unwrap()
                .max_in_flight(1024)
                .serve(McpServer::new("Proxy"))
                .await
                .unwrap();
            Router::new().nest_mcp("/mcp", proxy.http_app(Transport::Http))
        }
        // A REST route (`POST {"text"}` → `{"text"}`), called directly at `/mcp/`…
        "rest-direct" => Router::new().route("/mcp/", axum::routing::post(rest_echo)),
        // …and the same route as an MCP tool, through `routes::RouteTools` (`Transport::Http`).
        "rest-tool" => {
            let rest = Router::new().route("/echo", axum::routing::post(rest_echo));
            let doc = json!({"openapi": "3.1.0", "paths": {"/echo": {"post": {
                "operationId": "echo",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}}}},
                "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"text": {"type": "string"}}}}}}}}}}});
            let tools = RouteTools::new(rest, doc).tools().unwrap();
            Router::new().nest_mcp(
                "/mcp",
                McpServer::new("REST").add_tools(tools).http_app(Transport::Http),
            )
        }
        "app-bare-axum-logged" => {
            use tracing_subscriber::layer::SubscriberExt as _;
            use tracing_subscriber::util::SubscriberInitExt as _;
            // As the article sets its log up without OpenTelemetry.
            let (writer, flusher) = log_line::Batched::new(std::io::stderr()).unwrap();
            std::mem::forget(flusher);
            tracing_subscriber::registry()
                .with(app_log_filter())
                .with(log_line::layer(writer))
                .init();
            app_shape(axum::routing::post(bare_logged))
        }
        "app-bare" | "app-bare-axum" => {
            tracing_subscriber::fmt()
                .with_env_filter(app_log_filter())
                .with_writer(std::io::stderr)
                .init();
            app_shape(axum::routing::post(bare))
        }
        other => panic!("unknown server kind {other}"),
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    println!("ready {}", listener.local_addr().unwrap().port());
    if kind == "app-bare" {
        // Served as the article serves (`mcp_runtime::serve`: header-read timeout, connect
        // info, TCP_NODELAY), so that the comparison is of the MCP handling alone.
        mcp_runtime::serve(
            listener,
            app,
            mcp_runtime::http::ServeOptions::default(),
            std::future::pending::<()>(),
        )
        .await
        .unwrap();
        return;
    }
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await.unwrap();
}
