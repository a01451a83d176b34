//! Helpers of the black-box tests: a real server on 127.0.0.1, a JSON-RPC client over HTTP,
//! and validation of every message against the official MCP schema of its revision.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

static HTTP: LazyLock<reqwest::Client> = LazyLock::new(reqwest::Client::new);

/// One HTTP client for all tests: building a client loads TLS roots, which is slow.
pub fn http() -> reqwest::Client {
    HTTP.clone()
}

/// Serves `app` on 127.0.0.1 on a free port, until the test's runtime ends, with the peer
/// address in each request (`ConnectInfo<SocketAddr>`), as the README recommends.
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("server runs");
    });
    addr
}

/// Like [`serve`], without connect info: the app cannot tell where requests arrive.
pub async fn serve_without_connect_info(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("server runs");
    });
    addr
}

/// The repository's folder (the workspace's, with `Cargo.lock`), found from the package whose
/// tests run, as `cargo test` names it at run time: a test binary that cargo reuses from another
/// checkout of the same sources (`.ci/run`'s clone shares `target/`) keeps that checkout's path
/// in `env!("CARGO_MANIFEST_DIR")`, which may be gone.
pub fn repo_dir() -> PathBuf {
    let package = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    package
        .ancestors()
        .find(|d| d.join("Cargo.lock").is_file())
        .map_or_else(|| package.join(".."), Path::to_path_buf)
}

/// The folder of the official schemas: `MCP_SCHEMA_DIR`, or the copy in `tests/mcp-schema`.
pub fn schema_dir() -> PathBuf {
    std::env::var_os("MCP_SCHEMA_DIR").map_or_else(
        || repo_dir().join("tests").join("mcp-schema"),
        PathBuf::from,
    )
}

type Validators = HashMap<(String, String), Arc<jsonschema::Validator>>;

static VALIDATORS: LazyLock<Mutex<Validators>> = LazyLock::new(|| Mutex::new(HashMap::new()));

fn validator(revision: &str, def: &str) -> Arc<jsonschema::Validator> {
    let key = (revision.to_owned(), def.to_owned());
    if let Some(v) = VALIDATORS.lock().unwrap().get(&key) {
        return v.clone();
    }
    let path = schema_dir().join(revision).join("schema.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut schema: Value = serde_json::from_str(&text).expect("schema is JSON");
    let defs = if schema.get("$defs").is_some() {
        "$defs"
    } else {
        "definitions"
    };
    assert!(
        schema[defs].get(def).is_some(),
        "revision {revision} has no type {def}"
    );
    schema["$ref"] = json!(format!("#/{defs}/{def}"));
    let v = Arc::new(jsonschema::validator_for(&schema).expect("schema compiles"));
    VALIDATORS.lock().unwrap().insert(key, v.clone());
    v
}

/// Asserts that `instance` is a valid `def` of the MCP schema of `revision`.
pub fn assert_valid(revision: &str, def: &str, instance: &Value) {
    let v = validator(revision, def);
    let errors: Vec<String> = v
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "not a valid {def} of MCP {revision}:\n{}\n{instance:#}",
        errors.join("\n")
    );
}

/// The result type of a method, as the schemas name it.
pub fn result_type(method: &str) -> &'static str {
    match method {
        "initialize" => "InitializeResult",
        "tools/list" => "ListToolsResult",
        "tools/call" => "CallToolResult",
        "server/discover" => "DiscoverResult",
        "resources/list" => "ListResourcesResult",
        "resources/templates/list" => "ListResourceTemplatesResult",
        "resources/read" => "ReadResourceResult",
        "prompts/list" => "ListPromptsResult",
        "prompts/get" => "GetPromptResult",
        "completion/complete" => "CompleteResult",
        _ => "EmptyResult",
    }
}

/// Asserts that a response to `method` is valid for `revision`: the envelope, and the result
/// as that method's result type.
pub fn assert_valid_response(revision: &str, method: &str, response: &Value) {
    let handshake_2025_11 = revision >= "2025-11-25";
    if response.get("error").is_some() {
        let def = if handshake_2025_11 {
            "JSONRPCErrorResponse"
        } else {
            "JSONRPCError"
        };
        assert_valid(revision, def, response);
    } else {
        let def = if handshake_2025_11 {
            "JSONRPCResultResponse"
        } else {
            "JSONRPCResponse"
        };
        assert_valid(revision, def, response);
        assert_valid(revision, result_type(method), &response["result"]);
    }
}

/// A JSON-RPC client over real HTTP, checking each response against the schema of the
/// revision it speaks.
pub struct HttpClient {
    /// The endpoint.
    pub url: String,
    /// The revision sent as `MCP-Protocol-Version` (none when `None`).
    pub version: Option<String>,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    http: reqwest::Client,
    next_id: std::sync::atomic::AtomicI64,
}

/// A response: status, headers, and the body as JSON (`Null` when empty).
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body.
    pub body: Value,
}

impl HttpClient {
    /// A client of `url` speaking `version`.
    pub fn new(url: impl Into<String>, version: Option<&str>) -> Self {
        Self {
            url: url.into(),
            version: version.map(str::to_owned),
            headers: Vec::new(),
            http: http(),
            next_id: std::sync::atomic::AtomicI64::new(1),
        }
    }

    /// Adds a header to every request.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// POSTs a raw body with `Content-Type: application/json`.
    pub async fn post_raw(&self, body: impl Into<reqwest::Body>) -> Answer {
        let mut req = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(v) = &self.version {
            req = req.header("mcp-protocol-version", v);
        }
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        let res = req.body(body).send().await.expect("request sent");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body read");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    /// Sends a request and returns the whole response, validated against the schema.
    pub async fn request(&self, method: &str, params: Value) -> Value {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let msg = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let answer = self.post_raw(msg.to_string()).await;
        assert_eq!(answer.status, 200, "{method}: {:?}", answer.body);
        assert_eq!(answer.body["id"], json!(id));
        let revision = self.version.as_deref().unwrap_or("2025-03-26");
        assert_valid_response(revision, method, &answer.body);
        answer.body
    }

    /// Sends a request and returns its result, failing on an error response.
    pub async fn result(&self, method: &str, params: Value) -> Value {
        let mut res = self.request(method, params).await;
        assert!(res.get("error").is_none(), "{method} failed: {res}");
        res["result"].take()
    }

    /// `tools/call`, returning the result.
    pub async fn call(&self, tool: &str, arguments: Value) -> Value {
        self.result(
            "tools/call",
            json!({ "name": tool, "arguments": arguments }),
        )
        .await
    }
}

/// A raw POST of `body` to `url` speaking `version`, in the session `sid` when given, accepting
/// JSON or a stream; the response to inspect.
pub async fn post_in_session(
    url: &str,
    version: &str,
    sid: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut req = http()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", version);
    if let Some(s) = sid {
        req = req.header("mcp-session-id", s);
    }
    req.json(body).send().await.expect("request sent")
}

/// Opens a session of `version` at `url` declaring `capabilities` (`initialize`, then
/// `notifications/initialized`); returns its id.
pub async fn open_session(url: &str, version: &str, capabilities: Value) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": version, "capabilities": capabilities,
        "clientInfo": {"name": "t", "version": "0"}}});
    let res = post_in_session(url, version, None, &init).await;
    let sid = res.headers()["mcp-session-id"]
        .to_str()
        .expect("a session id")
        .to_owned();
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    post_in_session(url, version, Some(&sid), &initialized).await;
    sid
}

/// A 2026-07-28 `tools/call` of `tool` with `arguments` (the routing headers and `_meta` as the
/// revision wants them, and `headers` besides): the response, checked to be 200 and valid
/// against the revision's schema.
pub async fn call_2026(url: &str, tool: &str, arguments: Value, headers: &[(&str, &str)]) -> Value {
    let mut req = http()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": tool, "arguments": arguments, "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {}}}}),
        )
        .send()
        .await
        .expect("request sent");
    assert_eq!(res.status(), 200, "{tool}");
    let body: Value = res.json().await.expect("a JSON answer");
    assert_valid_response("2026-07-28", "tools/call", &body);
    body
}

/// The text of the first content block of a tool result.
pub fn text(result: &Value) -> &str {
    result["content"][0]["text"].as_str().unwrap_or_default()
}

/// One server-sent event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SseEvent {
    /// `id:`
    pub id: Option<String>,
    /// `event:` (`None` means `message`).
    pub event: Option<String>,
    /// `data:` lines joined with newlines.
    pub data: String,
    /// `retry:`
    pub retry: Option<u64>,
}

impl SseEvent {
    /// The data as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.data))
    }
}

/// Reads server-sent events from a response body.
pub struct SseReader {
    stream:
        std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buf: String,
}

impl SseReader {
    /// Reads the events of `res`.
    pub fn new(res: reqwest::Response) -> Self {
        Self {
            stream: Box::pin(res.bytes_stream()),
            buf: String::new(),
        }
    }

    /// The next event (comments skipped), or `None` when the stream ends.
    pub async fn next(&mut self) -> Option<SseEvent> {
        use futures_util::StreamExt as _;
        loop {
            if let Some(pos) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..pos + 2).collect();
                let mut ev = SseEvent::default();
                let mut data = Vec::new();
                let mut any = false;
                for line in block.lines() {
                    if line.starts_with(':') || line.is_empty() {
                        continue;
                    }
                    any = true;
                    let (field, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    match field {
                        "id" => ev.id = Some(value.to_owned()),
                        "event" => ev.event = Some(value.to_owned()),
                        "data" => data.push(value.to_owned()),
                        "retry" => ev.retry = value.parse().ok(),
                        _ => {}
                    }
                }
                if !any {
                    continue;
                }
                ev.data = data.join("\n");
                return Some(ev);
            }
            match self.stream.next().await {
                Some(Ok(chunk)) => self.buf.push_str(&String::from_utf8_lossy(&chunk)),
                _ => return None,
            }
        }
    }

    /// The next JSON-RPC message (events without data, such as priming events, skipped),
    /// failing the test when none comes within 5 s.
    pub async fn next_json(&mut self) -> Value {
        loop {
            let ev = tokio::time::timeout(std::time::Duration::from_secs(5), self.next())
                .await
                .expect("a message within 5 s")
                .expect("the stream is open");
            if !ev.data.is_empty() {
                return ev.json();
            }
        }
    }

    /// Every remaining event, until the stream ends.
    pub async fn collect(mut self) -> Vec<SseEvent> {
        let mut out = Vec::new();
        while let Some(e) = self.next().await {
            out.push(e);
        }
        out
    }
}

/// The programs some tests need beyond the Rust toolchain, and how to install each: the one
/// place they are named (the README points here).
pub const PROGRAMS: &[(&str, &str)] = &[
    ("redis-server", "Debian: `apt-get install redis-server`"),
    ("redis-cli", "Debian: `apt-get install redis-server`"),
    ("openssl", "Debian: `apt-get install openssl`"),
    ("kill", "Debian: `apt-get install procps`"),
];

/// The programs the tests of several instances need (a real Redis).
pub const REDIS: &[&str] = &["redis-server", "redis-cli"];

/// Whether `programs` are all installed (on `PATH`). When one is missing the test should
/// return at once: this says, in one line on stderr (not captured by the test harness), which
/// test was skipped and what to install. With `MCP_TESTS_REQUIRE_ALL` set (CI sets it), a
/// missing program fails the test instead, so that nothing is skipped there.
pub fn needs(programs: &[&str]) -> bool {
    let missing: Vec<&str> = programs.iter().copied().filter(|p| !on_path(p)).collect();
    if missing.is_empty() {
        return true;
    }
    let install: Vec<&str> = missing
        .iter()
        .filter_map(|m| PROGRAMS.iter().find(|(p, _)| p == m).map(|(_, how)| *how))
        .fold(Vec::new(), |mut all, how| {
            if !all.contains(&how) {
                all.push(how);
            }
            all
        });
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    let line = format!(
        "{test}: needs {} ({}), not installed",
        missing.join(", "),
        install.join("; ")
    );
    assert!(
        std::env::var_os("MCP_TESTS_REQUIRE_ALL").is_none(),
        "{line} (MCP_TESTS_REQUIRE_ALL is set: nothing may be skipped)"
    );
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("skipped {line}\n").as_bytes(),
    );
    false
}

/// Whether `program` is an executable file in a directory of `PATH`.
fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(program))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// A `redis-server` of the test's own on a free port of 127.0.0.1, without persistence;
/// stopped on drop. Panics with what to install when there is none.
pub struct Redis {
    child: std::process::Child,
    /// `redis://127.0.0.1:<port>/`.
    pub url: String,
    /// The port.
    pub port: u16,
}

impl Redis {
    /// Starts one and waits until it accepts connections.
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Self::start_on(port)
    }

    /// Starts one on `port` (again, after [`Redis::stop`]).
    pub fn start_on(port: u16) -> Self {
        Self::spawn(port, &["--port", &port.to_string()], "redis")
    }

    /// Starts one that refuses every command until a client authenticates with `password`.
    pub fn start_with_password(password: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Self::spawn(
            port,
            &["--port", &port.to_string(), "--requirepass", password],
            "redis",
        )
    }

    /// Runs `redis-cli` with `args` against it (plain TCP); what it printed.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Starts watching every command it runs (`MONITOR`), from now on.
    pub fn monitor(&self) -> Monitor {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "MONITOR"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("redis-cli runs");
        let stdout = child.stdout.take().expect("piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (ready, started) = std::sync::mpsc::channel();
        let seen = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if line == "OK" {
                    let _ = ready.send(());
                    continue;
                }
                seen.lock().unwrap().push(line);
            }
        });
        started
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("MONITOR started");
        Monitor {
            child,
            lines,
            port: self.port,
        }
    }

    /// Starts one that speaks only TLS, with a certificate for 127.0.0.1 signed by a test CA,
    /// both made with `openssl` in `dir`: its URL is `rediss://127.0.0.1:<port>/`, and a client
    /// trusts `dir/ca.pem` (e.g. through `SSL_CERT_FILE`).
    pub fn start_tls(dir: &std::path::Path) -> Self {
        let openssl = |args: &[&str]| {
            let made = std::process::Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .stderr(std::process::Stdio::null())
                .status()
                .expect("openssl makes the test certificates");
            assert!(made.success(), "openssl {args:?} failed");
        };
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        )
        .expect("write server.ext");
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=test-ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "key.pem",
            "-out",
            "server.csr",
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "server.ext",
            "-out",
            "cert.pem",
        ]);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let path = |f: &str| dir.join(f).to_str().expect("a UTF-8 path").to_owned();
        let (cert, key, ca) = (path("cert.pem"), path("key.pem"), path("ca.pem"));
        Self::spawn(
            port,
            &[
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--tls-cert-file",
                &cert,
                "--tls-key-file",
                &key,
                "--tls-ca-cert-file",
                &ca,
                "--tls-auth-clients",
                "no",
            ],
            "rediss",
        )
    }

    fn spawn(port: u16, listen: &[&str], scheme: &str) -> Self {
        let child = std::process::Command::new("redis-server")
            .args(listen)
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start `redis-server` ({e}): the tests of several instances need \
                     Redis; install it (Debian: `apt-get install redis-server`), see the \
                     README's \"Many instances\" section"
                )
            });
        let redis = Self {
            child,
            url: format!("{scheme}://127.0.0.1:{port}/"),
            port,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not listen on port {port} within 10 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        redis
    }

    /// Waits (at most 10 s) until `channel` has at least `n` subscribers: instances subscribe
    /// in the background once they serve a request, and a message published before that is
    /// not theirs to receive.
    pub async fn wait_for_subscribers(&self, channel: &str, n: usize) {
        let tls = self.url.starts_with("rediss:");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let mut cli = std::process::Command::new("redis-cli");
            cli.args(["-p", &self.port.to_string()]);
            if tls {
                cli.args(["--tls", "--insecure"]);
            }
            let out = cli
                .args(["PUBSUB", "NUMSUB", channel])
                .output()
                .expect("redis-cli runs");
            let text = String::from_utf8_lossy(&out.stdout);
            let count = text
                .lines()
                .nth(1)
                .and_then(|l| l.trim().parse::<usize>().ok());
            if count.is_some_and(|c| c >= n) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{channel} has {count:?} subscribers, not {n}, after 10 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Stops it (as a crash would: no shutdown of its own).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The commands a Redis ran while watched (see [`Redis::monitor`]); the watching ends on drop.
pub struct Monitor {
    child: std::process::Child,
    lines: Arc<Mutex<Vec<String>>>,
    port: u16,
}

impl Monitor {
    /// Every command run so far, one line each (as `MONITOR` prints them): first waits until
    /// the monitor has seen a command sent after this call, so that none before it is missing.
    pub fn commands(&self) -> Vec<String> {
        let mark = format!("monitor-mark-{}", self.child.id());
        let _ = std::process::Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "ECHO", &mark])
            .output();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            {
                let lines = self.lines.lock().unwrap();
                if let Some(at) = lines.iter().rposition(|l| l.contains(&mark)) {
                    return lines[..at]
                        .iter()
                        .filter(|l| !l.contains("monitor-mark-"))
                        .cloned()
                        .collect();
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "MONITOR did not show a command within 10 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP reverse proxy on 127.0.0.1 that sends each request to the next of `backends`
/// in turn (round robin per request, whatever connection it came on), knowing nothing of MCP:
/// headers and bodies pass as they are, response bodies (SSE streams) streamed. A backend that
/// cannot be reached gets the request's turn skipped to the next one, as a load balancer's
/// health check would; 502 when none answers.
pub async fn round_robin(backends: Vec<String>) -> SocketAddr {
    use axum::body::Body;
    use axum::response::IntoResponse as _;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a client");
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let (backends, next, client) = (backends.clone(), next.clone(), client.clone());
        async move {
            let (parts, body) = req.into_parts();
            let Ok(body) = axum::body::to_bytes(body, 16 * 1024 * 1024).await else {
                return (reqwest::StatusCode::BAD_REQUEST, "body unreadable").into_response();
            };
            let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            for _ in 0..backends.len() {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % backends.len();
                let mut out =
                    client.request(parts.method.clone(), format!("{}{path}", backends[i]));
                for (k, v) in &parts.headers {
                    if !matches!(k.as_str(), "host" | "content-length" | "connection") {
                        out = out.header(k, v);
                    }
                }
                let Ok(res) = out.body(body.clone()).send().await else {
                    continue;
                };
                let mut answer = axum::response::Response::builder().status(res.status());
                for (k, v) in res.headers() {
                    if !matches!(
                        k.as_str(),
                        "content-length" | "transfer-encoding" | "connection"
                    ) {
                        answer = answer.header(k, v);
                    }
                }
                return answer
                    .body(Body::from_stream(res.bytes_stream()))
                    .expect("a response");
            }
            (reqwest::StatusCode::BAD_GATEWAY, "no backend answered").into_response()
        }
    });
    serve(app).await
}

/// The README's code blocks, compiled and run as doctests of this crate, which sees the whole
/// repository (a packaged `mcp-runtime` holds only its own sources).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The examples of the attributes' references (the docs of `#[tool]`, `#[resource]` and
/// `#[prompt]`, written in the macro crate, which cannot run them: they use `mcp-runtime`).
#[cfg(doctest)]
#[doc = include_str!("../mcp-macros/docs/tool.md")]
#[doc = include_str!("../mcp-macros/docs/resource.md")]
#[doc = include_str!("../mcp-macros/docs/prompt.md")]
struct AttributeDoctests;
