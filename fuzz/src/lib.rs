//! What the fuzz targets share: one server with tools, resources, prompts and completions,
//! mounted three ways (Streamable HTTP with sessions, Streamable HTTP stateless, and
//! request-response `Transport::Http`), driven in-process through the same axum `Router` an app
//! nests, and the checks every answer must pass.

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request};
use http_body_util::BodyExt as _;
use mcp_runtime::{
    Context, McpRouterExt as _, McpServer, Transport, catalog::CompletionRequest,
    context::LogLevel, http::HttpOptions, prompt, resource, tool,
};
use serde_json::{Value, json};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tower::ServiceExt as _;

/// Echoes its text.
#[tool(domain = "fuzz")]
fn echo(text: String) -> String {
    text
}

/// Adds two numbers.
#[tool(domain = "fuzz", read_only)]
fn add(a: i64, b: i64) -> i64 {
    a.wrapping_add(b)
}

/// Reports progress and logs before answering (so answers may be SSE streams).
#[tool(domain = "fuzz")]
async fn steps(ctx: Context, n: u8) -> String {
    for i in 0..n.min(3) {
        ctx.progress(f64::from(i), Some(3.0), Some("step")).await;
        ctx.log(LogLevel::Info, json!({ "step": i })).await;
    }
    "done".into()
}

/// Always fails.
#[tool(domain = "fuzz")]
fn fail() -> Result<String, String> {
    Err("this tool fails".into())
}

/// A static resource.
#[resource(domain = "fuzz", uri = "fuzz://readme", mime_type = "text/plain")]
fn readme() -> &'static str {
    "read me"
}

/// A templated resource.
#[resource(
    domain = "fuzz",
    uri_template = "fuzz://files/{name}/v{version}",
    mime_type = "text/plain",
    complete(name = complete_name)
)]
fn file(name: String, version: String) -> String {
    format!("{name} at {version}")
}

/// Names that start with what was typed.
async fn complete_name(_ctx: Context, req: CompletionRequest) -> Vec<String> {
    ["alpha", "beta", "gamma"]
        .into_iter()
        .filter(|n| n.starts_with(&req.value))
        .map(str::to_owned)
        .collect()
}

/// A prompt with an argument.
#[prompt(domain = "fuzz")]
fn greet(
    /// Whom to greet.
    name: String,
) -> String {
    format!("Say hello to {name}.")
}

/// The mounts the targets send to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mount {
    /// Streamable HTTP with sessions (`/mcp`): every era at one URL, batches in 2025-03-26.
    Sessions,
    /// Streamable HTTP without sessions (`/stateless`).
    Stateless,
    /// `Transport::Http` (`/http`).
    Http,
}

impl Mount {
    /// The path of the mount.
    pub fn path(self) -> &'static str {
        match self {
            Mount::Sessions => "/mcp",
            Mount::Stateless => "/stateless",
            Mount::Http => "/http",
        }
    }
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    /// The content type, without parameters.
    pub fn content_type(&self) -> &str {
        self.headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .unwrap_or("")
    }
}

/// The server and a runtime to drive it.
pub struct Harness {
    rt: tokio::runtime::Runtime,
    app: Router,
    sessions: Mutex<Vec<(&'static str, String)>>,
}

/// The one harness of the process.
pub fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(Harness::new)
}

/// The protocol revisions a session can be opened with.
pub const SESSION_ERAS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

impl Harness {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let server = || McpServer::new("fuzz").version("1.0.0").domain("fuzz");
        // Small tables, so that the fuzzer reaches the limits and the eviction paths.
        let options =
            HttpOptions::default().sessions(|s| s.max(64).max_per_client(32).max_requests(8));
        let app = rt.block_on(async {
            Router::new()
                .nest_mcp(
                    "/mcp",
                    server().http_app_with(Transport::StreamableHttp, options.clone()),
                )
                .nest_mcp(
                    "/stateless",
                    server().http_app_with(
                        Transport::StreamableHttp,
                        options.clone().without_sessions(),
                    ),
                )
                .nest_mcp("/http", server().http_app_with(Transport::Http, options))
        });
        Harness {
            rt,
            app,
            sessions: Mutex::new(Vec::new()),
        }
    }

    /// Sends one request and reads the whole answer; a body that does not end within 10 s
    /// is a hang, reported as a crash.
    pub fn send(&self, req: Request<Body>) -> Reply {
        self.rt.block_on(async {
            let res = self.app.clone().oneshot(req).await.expect("infallible");
            let (parts, body) = res.into_parts();
            let body = tokio::time::timeout(Duration::from_secs(10), body.collect())
                .await
                .expect("an answer that never ends")
                .expect("a body that fails")
                .to_bytes();
            Reply {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
            }
        })
    }

    /// Sends a request and reads only its head (for answers that are long-lived streams).
    pub fn send_head(&self, req: Request<Body>) -> (u16, HeaderMap) {
        self.rt.block_on(async {
            let res = self.app.clone().oneshot(req).await.expect("infallible");
            (res.status().as_u16(), res.headers().clone())
        })
    }

    /// A POST of `body` to `mount` with the usual `Accept` and `Content-Type` and `headers`.
    pub fn post(
        &self,
        mount: Mount,
        headers: &[(HeaderName, HeaderValue)],
        body: Vec<u8>,
    ) -> Reply {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(mount.path())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        for (k, v) in headers {
            req = req.header(k, v);
        }
        self.send(req.body(Body::from(body)).expect("request"))
    }

    /// A live session of `/mcp` opened with `version`; opened again when it was ended (by the
    /// fuzzer's own `initialize` flood evicting it, say).
    pub fn session(&self, version: &'static str) -> String {
        if let Some((_, id)) = self
            .sessions
            .lock()
            .unwrap()
            .iter()
            .find(|(v, _)| *v == version)
        {
            return id.clone();
        }
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": version,
            "capabilities": {"sampling": {}, "elicitation": {}, "roots": {}},
            "clientInfo": {"name": "fuzz", "version": "0"}
        }});
        let reply = self.post(Mount::Sessions, &[], serde_json::to_vec(&init).unwrap());
        assert_eq!(reply.status, 200, "initialize: {:?}", reply.body);
        let id = reply.headers["mcp-session-id"].to_str().unwrap().to_owned();
        let headers = self.session_headers(version, &id);
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let done = self.post(
            Mount::Sessions,
            &headers,
            serde_json::to_vec(&initialized).unwrap(),
        );
        assert_eq!(done.status, 202, "initialized: {:?}", done.body);
        let mut sessions = self.sessions.lock().unwrap();
        sessions.retain(|(v, _)| *v != version);
        sessions.push((version, id.clone()));
        id
    }

    /// Forgets a session the server no longer knows.
    pub fn forget(&self, id: &str) {
        self.sessions.lock().unwrap().retain(|(_, s)| s != id);
    }

    /// The headers of a request in session `id`.
    pub fn session_headers(&self, version: &str, id: &str) -> Vec<(HeaderName, HeaderValue)> {
        vec![
            (
                HeaderName::from_static("mcp-session-id"),
                HeaderValue::from_str(id).unwrap(),
            ),
            (
                HeaderName::from_static("mcp-protocol-version"),
                HeaderValue::from_str(version).unwrap(),
            ),
        ]
    }
}

/// The JSON-RPC messages of an answer, checked: a JSON body or every `data:` of an SSE body
/// must be JSON-RPC 2.0 (a response with exactly one of `result`/`error`, a request or a
/// notification), and error answers carry an error body.
pub fn messages(reply: &Reply) -> Vec<Value> {
    let status = reply.status;
    assert!(
        matches!(
            status,
            200 | 202 | 400 | 401 | 403 | 404 | 405 | 406 | 408 | 409 | 413 | 415 | 429 | 503
        ),
        "unexpected status {status}: {:?}",
        reply.body
    );
    let mut out = Vec::new();
    match reply.content_type() {
        "application/json" => {
            let v: Value = serde_json::from_slice(&reply.body).expect("a JSON body that parses");
            match v {
                Value::Array(items) => {
                    assert!(!items.is_empty(), "an empty array answer");
                    out.extend(items);
                }
                v => out.push(v),
            }
        }
        "text/event-stream" => {
            let text = std::str::from_utf8(&reply.body).expect("SSE is UTF-8");
            for line in text.lines() {
                if let Some(data) = line.strip_prefix("data:") {
                    let data = data.trim_start();
                    if data.is_empty() {
                        continue; // the priming event
                    }
                    out.push(serde_json::from_str(data).expect("SSE data that parses"));
                }
            }
        }
        "" => assert!(
            reply.body.is_empty() || status >= 400,
            "a body without a content type"
        ),
        _ => {}
    }
    for m in &out {
        check_message(m);
    }
    if status >= 400 && status != 404 && status != 405 {
        assert!(!reply.body.is_empty(), "status {status} without a body");
    }
    out
}

/// The longest error message the server sends (1 KiB, then `…` and the length).
pub const MAX_MESSAGE_BYTES: usize = 1024 + 32;

/// The longest request id the server takes (a longer one is refused without being echoed).
pub const MAX_ID_BYTES: usize = 1024;

/// One JSON-RPC 2.0 message as the server may send it.
pub fn check_message(m: &Value) {
    assert_eq!(m["jsonrpc"], "2.0", "not JSON-RPC 2.0: {m}");
    let has_result = m.get("result").is_some();
    let has_error = m.get("error").is_some();
    if m.get("method").is_some() {
        assert!(!has_result && !has_error, "a request with a result: {m}");
        return;
    }
    assert!(
        has_result != has_error,
        "a response needs exactly one of result/error: {m}"
    );
    if has_error {
        assert!(m["error"]["code"].is_i64(), "an error without a code: {m}");
        let message = m["error"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("an error without a message: {m}"));
        // Client text is shown cut: no message grows with what the client sent.
        assert!(
            message.len() <= MAX_MESSAGE_BYTES,
            "an error message of {} bytes",
            message.len()
        );
    }
    let id = &m["id"];
    assert!(
        id.is_string() || id.is_i64() || id.is_u64() || id.is_null(),
        "a response id that is not a string, an integer or null: {m}"
    );
}
