//! `Transport::Http` over real sockets: mounting, status codes, errors, middleware.

use crate::fixtures::Counter;
use axum::Router;
use axum::routing::get;
use mcp_runtime::{McpRouterExt as _, McpServer, Transport, http::HttpOptions};
use mcp_tests::{HttpClient, serve, text};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// An app like a user's: REST routes, two MCP mounts (one nested under the other's path), and
/// app-level middleware (CORS and a counting layer).
async fn app() -> (SocketAddr, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let fx = McpServer::new("Fixtures")
        .domain("fx")
        .state(Counter::default())
        .build()
        .unwrap();
    let small = McpServer::new("Small").domain("small").build().unwrap();
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .nest_mcp("/mcp", fx.http_app(Transport::Http))
        .nest_mcp(
            "/mcp/small",
            small.http_app_with(Transport::Http, HttpOptions::default().max_body_bytes(1024)),
        )
        .layer(tower_http::cors::CorsLayer::permissive())
        .layer(axum::middleware::from_fn(
            move |req, next: axum::middleware::Next| {
                counter.fetch_add(1, Ordering::SeqCst);
                async move {
                    let mut res = next.run(req).await;
                    res.headers_mut()
                        .insert("x-app-layer", "1".parse().unwrap());
                    res
                }
            },
        ));
    (serve(app).await, seen)
}

async fn raw_post(
    url: &str,
    content_type: Option<&str>,
    accept: Option<&str>,
    body: &str,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut req = mcp_tests::http().post(url).body(body.to_owned());
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, headers, res.text().await.unwrap())
}

const LIST: &str = r#"{"jsonrpc":"2.0","method":"tools/list","id":1}"#;

/// A server's `McpApp` answers the same whether `nest_mcp` routes straight to its endpoint, goes
/// through its router (`into_router()`, what `nest_mcp` does with a plain router), or axum's own
/// `nest` mounts the router; below a mount, unknown paths get the endpoint's JSON 404.
#[tokio::test]
async fn an_mcp_app_answers_alike_mounted_directly_through_its_router_or_nested() {
    let fx = || {
        McpServer::new("Fixtures")
            .domain("fx")
            .state(Counter::default())
            .build()
            .unwrap()
    };
    let app = Router::new()
        .nest_mcp("/direct", fx().http_app(Transport::StreamableHttp))
        .nest_mcp(
            "/routed",
            fx().http_app(Transport::StreamableHttp).into_router(),
        )
        .nest("/nested", Router::from(fx().http_app(Transport::Http)));
    let addr = serve(app).await;
    let mut names = Vec::new();
    for path in ["/direct", "/direct/", "/routed", "/routed/", "/nested"] {
        let (status, _, body) = raw_post(
            &format!("http://{addr}{path}"),
            Some("application/json"),
            Some("application/json, text/event-stream"),
            LIST,
        )
        .await;
        assert_eq!(status, 200, "{path}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        names.push(v["result"]["tools"].as_array().unwrap().len());
    }
    assert!(names.iter().all(|n| *n == names[0] && *n > 0), "{names:?}");
    for path in ["/direct/nowhere", "/routed/nowhere"] {
        let (status, _, body) = raw_post(
            &format!("http://{addr}{path}"),
            Some("application/json"),
            None,
            LIST,
        )
        .await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(
            body.contains("no MCP endpoint at `/nowhere`"),
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn the_seed_curl_works_at_both_paths() {
    let (addr, _) = app().await;
    // curl -X POST http://…/mcp/ -H "Content-Type: application/json" -d '…' (curl sends Accept: */*)
    for path in ["/mcp/", "/mcp", "/mcp/small", "/mcp/small/"] {
        let (status, headers, body) = raw_post(
            &format!("http://{addr}{path}"),
            Some("application/json"),
            Some("*/*"),
            LIST,
        )
        .await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(headers["content-type"], "application/json");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["id"], 1);
        assert!(
            !v["result"]["tools"].as_array().unwrap().is_empty(),
            "{path}"
        );
    }
    // The nested mount is its own server.
    let (_, _, body) = raw_post(
        &format!("http://{addr}/mcp/small"),
        Some("application/json"),
        None,
        LIST,
    )
    .await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["result"]["tools"].as_array().unwrap().len(), 1);
    // The app's own routes are untouched.
    let health = reqwest::get(format!("http://{addr}/health")).await.unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");
}

#[tokio::test]
async fn lifecycle_over_http() {
    let (addr, _) = app().await;
    let c = HttpClient::new(format!("http://{addr}/mcp"), None);
    let init = c
        .result("initialize", json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}))
        .await;
    assert_eq!(init["protocolVersion"], "2025-11-25");
    assert_eq!(
        init["capabilities"],
        json!({"tools": {"listChanged": false}})
    );
    // An unknown revision is answered with the newest one.
    let init = c
        .result("initialize", json!({"protocolVersion": "1999-01-01", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}))
        .await;
    assert_eq!(init["protocolVersion"], "2025-11-25");
    let notified = c
        .post_raw(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .await;
    assert_eq!(notified.status, 202);
    assert_eq!(notified.body, Value::Null);
    let response = c
        .post_raw(r#"{"jsonrpc":"2.0","id":"s1","result":{}}"#)
        .await;
    assert_eq!(response.status, 202);
    assert_eq!(c.result("ping", json!({})).await, json!({}));
}

#[tokio::test]
async fn tools_call_over_http() {
    let (addr, _) = app().await;
    let c = HttpClient::new(format!("http://{addr}/mcp/"), Some("2025-11-25"))
        .header("x-user", "ada")
        .header("authorization", "Bearer secret");
    let r = c.call("add", json!({"a": 20, "b": 22})).await;
    assert_eq!(r["structuredContent"], json!({"result": 42}));
    let r = c.call("whoami", json!({})).await;
    assert_eq!(
        text(&r),
        "user=ada authorization_visible=false authorization_all=true uri=/mcp/"
    );
    let r = c.call("explode", json!({})).await;
    assert_eq!(r["isError"], true);
    let r = c.call("echo", json!({"text": "after the panic"})).await;
    assert_eq!(text(&r), "after the panic");
    // Invalid arguments: a tool error in 2025-11-25 (SEP-1303) …
    let r = c.call("add", json!({"a": "x", "b": 1})).await;
    assert_eq!(r["isError"], true);
    assert!(
        text(&r).contains("invalid arguments for tool `add`: `a`:"),
        "{r}"
    );
    // … and -32602 before it.
    let old = HttpClient::new(format!("http://{addr}/mcp/"), Some("2025-06-18"));
    let e = old
        .request("tools/call", json!({"name": "add", "arguments": {"a": 1}}))
        .await;
    assert_eq!(e["error"]["code"], -32602);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("missing field `b`")
    );
    let e = c.request("tools/call", json!({"name": "missing"})).await;
    assert_eq!(e["error"]["code"], -32602);
    assert_eq!(e["error"]["message"], "unknown tool `missing`");
}

#[tokio::test]
async fn results_are_shaped_for_the_revision() {
    let (addr, _) = app().await;
    let old = HttpClient::new(format!("http://{addr}/mcp"), Some("2025-03-26"));
    let r = old.call("add", json!({"a": 1, "b": 1})).await;
    assert!(r.get("structuredContent").is_none());
    assert_eq!(text(&r), "2");
    let tools = old.result("tools/list", json!({})).await;
    assert!(
        tools["tools"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t.get("outputSchema").is_none() && t.get("icons").is_none())
    );
    let oldest = HttpClient::new(format!("http://{addr}/mcp"), Some("2024-11-05"));
    let tools = oldest.result("tools/list", json!({})).await;
    assert!(
        tools["tools"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t.get("annotations").is_none())
    );
    let r = oldest.call("contents", json!({})).await;
    let kinds: Vec<_> = r["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["text", "image", "text", "resource", "resource", "text"]
    );
}

#[tokio::test]
async fn bad_requests_get_specific_errors() {
    let (addr, _) = app().await;
    let url = format!("http://{addr}/mcp");
    let json_ct = Some("application/json");

    let (s, _, b) = raw_post(&url, json_ct, None, "{not json").await;
    assert_eq!(s, 400);
    let v: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v["error"]["code"], -32700);
    mcp_tests::assert_valid("2025-11-25", "JSONRPCErrorResponse", &v);

    let (s, _, b) = raw_post(&url, json_ct, None, r#"{"hello":"world"}"#).await;
    assert_eq!(s, 400);
    assert_eq!(
        serde_json::from_str::<Value>(&b).unwrap()["error"]["code"],
        -32600
    );

    let (s, _, b) = raw_post(
        &url,
        json_ct,
        None,
        r#"{"jsonrpc":"2.0","id":7,"method":"no/such"}"#,
    )
    .await;
    assert_eq!(s, 200);
    let v: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(
        (v["id"].clone(), v["error"]["code"].clone()),
        (json!(7), json!(-32601))
    );

    let (s, _, b) = raw_post(&url, Some("text/plain"), None, LIST).await;
    assert_eq!(s, 415, "{b}");
    assert!(b.contains("Content-Type: application/json"));
    let (s, _, _) = raw_post(&url, None, None, LIST).await;
    assert_eq!(s, 415);
    let (s, _, _) = raw_post(&url, Some("application/json; charset=utf-8"), None, LIST).await;
    assert_eq!(s, 200);

    let (s, _, _) = raw_post(&url, json_ct, Some("text/html"), LIST).await;
    assert_eq!(s, 406);

    let res = reqwest::get(&url).await.unwrap();
    assert_eq!(res.status().as_u16(), 405);
    assert_eq!(res.headers()["allow"], "POST");
    let res = mcp_tests::http().delete(&url).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 405);

    let c = HttpClient::new(url.clone(), Some("2031-01-01"));
    let a = c.post_raw(LIST).await;
    assert_eq!(a.status, 400);
    assert!(
        a.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unsupported MCP-Protocol-Version `2031-01-01`")
    );

    let (s, _, b) = raw_post(&format!("http://{addr}/mcp/elsewhere"), json_ct, None, LIST).await;
    assert_eq!(s, 404, "{b}");
}

#[tokio::test]
async fn body_limit_gives_413_and_the_connection_survives() {
    let (addr, _) = app().await;
    let url = format!("http://{addr}/mcp/small");
    let client = mcp_tests::http();
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"{}"}}}}}}"#,
        "x".repeat(4000)
    );
    let res = client
        .post(&url)
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 413);
    let v: Value = res.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("limit of 1024 bytes")
    );
    // Chunked, without Content-Length: the limit still holds.
    let res = client
        .post(&url)
        .header("content-type", "application/json")
        .body(chunked(big))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 413);
    let res = client
        .post(&url)
        .header("content-type", "application/json")
        .body(LIST)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
}

/// The body in chunks, so that it is sent without Content-Length.
fn chunked(body: String) -> reqwest::Body {
    let parts: Vec<Result<Vec<u8>, std::io::Error>> = body
        .into_bytes()
        .chunks(500)
        .map(|c| Ok(c.to_vec()))
        .collect();
    reqwest::Body::wrap_stream(futures_util::stream::iter(parts))
}

#[tokio::test]
async fn batches() {
    let (addr, _) = app().await;
    let c = HttpClient::new(format!("http://{addr}/mcp"), None);
    let a = c
        .post_raw(r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"b"}}}]"#)
        .await;
    assert_eq!(a.status, 200);
    let answers = a.body.as_array().unwrap();
    assert_eq!(answers.len(), 2);
    assert_eq!(answers[0]["id"], 1);
    assert_eq!(answers[1]["result"]["content"][0]["text"], "b");
    let a = c.post_raw("[]").await;
    assert_eq!(a.status, 400);
    assert_eq!(a.body["error"]["code"], -32600);
    let a = c
        .post_raw(r#"[{"jsonrpc":"2.0","method":"notifications/initialized"}]"#)
        .await;
    assert_eq!(a.status, 202);
    // Bounded: 100 messages at most.
    let many = format!(
        "[{}]",
        vec![r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#; 101].join(",")
    );
    let a = c.post_raw(many).await;
    assert_eq!(a.status, 400);
    assert!(
        a.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 100 messages")
    );
    // Only where the revision has batches: not from 2025-06-18 on, nor in 2026-07-28.
    for (version, says) in [
        ("2025-06-18", "revision 2025-06-18 has no batches"),
        ("2025-11-25", "revision 2025-11-25 has no batches"),
        ("2026-07-28", "revision 2026-07-28 has no batches"),
    ] {
        let c = HttpClient::new(format!("http://{addr}/mcp"), Some(version));
        let a = c
            .post_raw(r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#)
            .await;
        assert_eq!(a.status, 400, "{version}");
        assert!(
            a.body["error"]["message"].as_str().unwrap().contains(says),
            "{}",
            a.body
        );
    }
    let c = HttpClient::new(format!("http://{addr}/mcp"), Some("2025-03-26"));
    let a = c
        .post_raw(r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#)
        .await;
    assert_eq!(a.status, 200);
}

#[tokio::test]
async fn app_middleware_applies_to_mcp_routes() {
    let (addr, seen) = app().await;
    let res = mcp_tests::http()
        .post(format!("http://{addr}/mcp/"))
        .header("content-type", "application/json")
        .header("origin", "https://claude.ai")
        .body(LIST)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-app-layer"], "1");
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    // CORS preflight is answered by the app's layer.
    let res = mcp_tests::http()
        .request(reqwest::Method::OPTIONS, format!("http://{addr}/mcp/"))
        .header("origin", "https://claude.ai")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(res.headers().contains_key("access-control-allow-methods"));
}

#[tokio::test]
async fn a_client_that_disconnects_mid_call_does_not_hurt_the_server() {
    let (addr, _) = app().await;
    let url = format!("http://{addr}/mcp");
    let slow = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(100))
        .build()
        .unwrap();
    let r = slow
        .post(&url)
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow","arguments":{"millis":5000}}}"#)
        .send()
        .await;
    assert!(r.is_err(), "the client gave up");
    let c = HttpClient::new(url, None);
    assert_eq!(text(&c.call("echo", json!({"text": "fine"})).await), "fine");
}

/// `kib` KiB of text.
#[mcp_runtime::tool(domain = "big")]
async fn blob(kib: usize) -> String {
    "x".repeat(kib.min(4096) * 1024)
}

#[tokio::test]
async fn the_answers_of_a_batch_are_bounded_in_bytes() {
    let server = McpServer::new("Big").domain("big").build().unwrap();
    let addr = serve(Router::new().nest_mcp("/mcp", server.http_app(Transport::Http))).await;
    // 100 requests of 4 bytes each asking for 1 MiB: 8 MiB of answers at most, the rest refused.
    let batch: Vec<Value> = (0..100)
        .map(|i| {
            json!({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                   "params": {"name": "blob", "arguments": {"kib": 1024}}})
        })
        .collect();
    let res = mcp_tests::http()
        .post(format!("http://{addr}/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = res.bytes().await.unwrap();
    assert!(
        body.len() <= 8 * 1024 * 1024 + 100 * 300,
        "{} bytes",
        body.len()
    );
    let answers: Vec<Value> = serde_json::from_slice(&body).unwrap();
    assert_eq!(answers.len(), 100, "every request is answered");
    let full = answers.iter().filter(|a| a.get("result").is_some()).count();
    assert_eq!(full, 7, "7 answers of 1 MiB and a bit fit in 8 MiB");
    let refused: Vec<&Value> = answers
        .iter()
        .filter(|a| a.get("error").is_some())
        .collect();
    assert_eq!(refused.len(), 93);
    let message = refused[0]["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("would pass 8388608 bytes") && message.contains("send this request alone"),
        "{message}"
    );
}

#[tokio::test]
async fn a_body_that_stalls_gets_408_and_the_connection_closes() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    for transport in [Transport::Http, Transport::StreamableHttp] {
        let server = McpServer::new("Big").domain("big").build().unwrap();
        let options =
            HttpOptions::default().body_read_timeout(std::time::Duration::from_millis(200));
        let app = Router::new().nest_mcp("/mcp", server.http_app_with(transport, options));
        let addr = serve(app).await;
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(
            format!(
                "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
                 Accept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n\
                 {{\"jsonrpc\""
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            tcp.read_to_end(&mut answer),
        )
        .await
        .expect("the server answers and closes")
        .unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("did not arrive within 200 ms"), "{answer}");
    }
}

#[tokio::test]
async fn serve_cuts_off_slow_heads_idle_connections_and_stalled_shutdowns() {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    // The app's own shutdown token, not the process-wide one other tests' apps share.
    let stop = mcp_runtime::Shutdown::new();
    let server = McpServer::new("Big").domain("big").build().unwrap();
    let options = HttpOptions::default().shutdown_on(stop.clone());
    let app = Router::new().nest_mcp("/mcp", server.http_app_with(Transport::Http, options));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let signal = mcp_runtime::Shutdown::new();
    let served = tokio::spawn({
        let signal = signal.clone();
        mcp_runtime::serve(
            listener,
            app,
            mcp_runtime::http::ServeOptions::default()
                .header_read_timeout(Duration::from_millis(300))
                .shutdown_deadline(Duration::from_millis(500))
                .shutdown_on(stop.clone()),
            async move { signal.started().await },
        )
    });
    let closes_within = |mut tcp: tokio::net::TcpStream, limit: Duration| async move {
        let mut rest = Vec::new();
        tokio::time::timeout(limit, tcp.read_to_end(&mut rest))
            .await
            .expect("the server closes the connection")
            .ok();
        String::from_utf8_lossy(&rest).into_owned()
    };

    // Half a request head: cut off, once the timeout has passed.
    let opened = Instant::now();
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty")
        .await
        .unwrap();
    closes_within(slow, Duration::from_secs(10)).await;
    assert!(
        opened.elapsed() >= Duration::from_millis(300),
        "not cut off before the timeout: {:?}",
        opened.elapsed()
    );

    // A whole request is answered (the peer address reaches the DNS-rebinding rule: a loopback
    // Host from loopback is accepted), then the idle kept-alive connection is closed.
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let ping = format!(
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(ping.as_bytes()).await.unwrap();
    let answered = Instant::now();
    let answer = closes_within(tcp, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""result":{}"#), "{answer}");
    assert!(
        answered.elapsed() >= Duration::from_millis(250),
        "the idle connection lived its timeout: {:?}",
        answered.elapsed()
    );

    // Heads that arrive in time on a kept-alive connection are never cut off, however long
    // the connection lives: five requests 100 ms apart, past the 300 ms timeout.
    let mut kept = tokio::net::TcpStream::connect(addr).await.unwrap();
    for _ in 0..5 {
        kept.write_all(ping.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        while !String::from_utf8_lossy(&answer).contains(r#""result":{}}"#) {
            let mut chunk = [0; 512];
            let n = kept.read(&mut chunk).await.unwrap();
            assert!(n > 0, "answered: {}", String::from_utf8_lossy(&answer));
            answer.extend_from_slice(&chunk[..n]);
        }
        assert!(answer.starts_with(b"HTTP/1.1 200"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(kept);

    // A client that stalls mid-body cannot hold shutdown past the deadline.
    let mut stalled = tokio::net::TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(
            format!(
                "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
                 Content-Length: 1000\r\n\r\n{{"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    signal.start();
    tokio::time::timeout(Duration::from_secs(10), served)
        .await
        .expect("serve returns")
        .unwrap()
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "it waited for the deadline"
    );
    assert!(stop.is_started(), "the signal started the app's shutdown");
    drop(stalled);
}

/// After the shutdown signal only the requests in flight get the grace: a connection still
/// sending its first request head, and an idle kept-alive one, are closed at once, and the
/// server stops as soon as the call in flight is answered, long before the deadline.
#[tokio::test]
async fn serve_closes_unfinished_heads_at_shutdown_and_lets_calls_in_flight_finish() {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let stop = mcp_runtime::Shutdown::new();
    let server = McpServer::new("Fixtures")
        .domain("fx")
        .state(Counter::default())
        .build()
        .unwrap();
    let options = HttpOptions::default()
        .shutdown_grace(Duration::from_secs(30))
        .shutdown_on(stop.clone());
    let app = Router::new().nest_mcp("/mcp", server.http_app_with(Transport::Http, options));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let signal = mcp_runtime::Shutdown::new();
    let served = tokio::spawn({
        let signal = signal.clone();
        mcp_runtime::serve(
            listener,
            app,
            mcp_runtime::http::ServeOptions::default()
                .header_read_timeout(Duration::from_secs(30))
                .shutdown_deadline(Duration::from_secs(30))
                .shutdown_on(stop.clone()),
            async move { signal.started().await },
        )
    });

    // Half a request head, never finished.
    let mut half = tokio::net::TcpStream::connect(addr).await.unwrap();
    half.write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty")
        .await
        .unwrap();
    // A kept-alive connection, idle after its answer.
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    idle.write_all(
        format!(
            "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut answer = [0; 12];
    idle.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");
    // A call in flight when the signal comes.
    let in_flight = tokio::spawn(async move {
        HttpClient::new(format!("http://{addr}/mcp"), Some("2025-11-25"))
            .call("slow", json!({"millis": 500}))
            .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;

    let started = Instant::now();
    signal.start();
    for tcp in [&mut half, &mut idle] {
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(2), tcp.read_to_end(&mut rest))
            .await
            .expect("the connection is closed at once")
            .ok();
    }
    tokio::time::timeout(Duration::from_secs(2), served)
        .await
        .expect("serve returns once the call in flight is answered, not at the deadline")
        .unwrap()
        .unwrap();
    assert_eq!(text(&in_flight.await.unwrap()), "done");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "serve waited for the call in flight"
    );
}

/// A browser's GET of a mount gets the catalogue page on every HTTP transport, before
/// authentication (the page is static and lists only what the credentials typed into it may
/// list) but after the origin check; MCP clients' GETs are unaffected; and it can be turned off.
#[tokio::test]
async fn a_browser_gets_the_catalogue_page() {
    let keyed = McpServer::new("Keyed")
        .domain("fx")
        .state(Counter::default())
        .auth(mcp_runtime::auth::ApiKeyAuth::keys([(
            "k1",
            mcp_runtime::auth::Principal::default(),
        )]))
        .build()
        .unwrap();
    let open = McpServer::new("Open").domain("small").build().unwrap();
    let hidden = McpServer::new("Hidden").domain("small").build().unwrap();
    let app = Router::new()
        .nest_mcp(
            "/keyed",
            keyed.http_app_with(Transport::StreamableHttp, HttpOptions::default()),
        )
        .nest_mcp("/open", open.http_app(Transport::Http))
        .nest_mcp(
            "/hidden",
            hidden.http_app_with(
                Transport::StreamableHttp,
                HttpOptions::default().catalogue_page(false),
            ),
        );
    let addr = serve(app).await;
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let get = |path: &str, accept: &str| {
        mcp_tests::http()
            .get(format!("http://{addr}{path}"))
            .header("accept", accept)
    };
    for path in ["/keyed", "/keyed/", "/open"] {
        let res = get(path, browser).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
        let csp = res.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"));
        let page = res.text().await.unwrap();
        assert!(page.starts_with("<!doctype html>") && page.contains("tools/list"));
        // Nothing of the catalogue is in the page itself.
        assert!(!page.contains("echo"), "{path}");
    }
    // The page's own requests are authenticated like any other.
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "0"}}}});
    let res = mcp_tests::http()
        .post(format!("http://{addr}/keyed"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "server/discover")
        .json(&list)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // MCP clients' GETs, curl, and the mount that turned the page off: no page.
    let res = get("/keyed", "text/event-stream").send().await.unwrap();
    assert_eq!(res.status(), 401, "the SSE GET is authenticated as before");
    let res = get("/open", "*/*").send().await.unwrap();
    assert_eq!(res.status(), 405);
    let res = get("/hidden", browser).send().await.unwrap();
    assert_eq!(res.status(), 400, "GET without a session, as before");
    assert_ne!(res.headers()["content-type"], "text/html; charset=utf-8");
    // A foreign origin or host is refused, page or not.
    let res = get("/open", browser)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = get("/open", browser)
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}
