//! `Transport::StreamableHttp` over real sockets: sessions, JSON and SSE answers, streaming
//! tools, cancellation, resumption, origins, shutdown, the 2026-07-28 era and the legacy
//! HTTP+SSE endpoints.

use crate::fixtures::{Counter, was_cancelled};
use axum::Router;
use mcp_runtime::{
    McpRouterExt as _, McpServer, Server, Shutdown, Transport, http::HttpOptions,
    http::OriginPolicy, http::ResponseMode,
};
use mcp_tests::{SseEvent, SseReader, assert_valid, assert_valid_response, serve};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;

fn server() -> Server {
    McpServer::new("Fixtures")
        .domain("fx")
        .state(Counter::default())
        .build()
        .unwrap()
}

async fn start(options: HttpOptions) -> SocketAddr {
    serve(mcp_app(options)).await
}

/// A server under `axum::serve` with a shutdown of its own, with `grace` for the calls in
/// flight; its URL, the shutdown, and the task serving it.
async fn start_stoppable(grace: Duration) -> (String, Shutdown, tokio::task::JoinHandle<()>) {
    start_stoppable_with(Transport::StreamableHttp, grace).await
}

/// [`start_stoppable`] on `transport`.
async fn start_stoppable_with(
    transport: Transport,
    grace: Duration,
) -> (String, Shutdown, tokio::task::JoinHandle<()>) {
    let token = Shutdown::new();
    let app = Router::new().nest_mcp(
        "/mcp",
        server().http_app_with(
            transport,
            HttpOptions::default()
                .shutdown_grace(grace)
                .shutdown_on(token.clone()),
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let signal = token.clone();
    let served = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { signal.started().await })
            .await
            .unwrap();
    });
    (format!("http://{addr}/mcp"), token, served)
}

const ACCEPT: &str = "application/json, text/event-stream";
const V: &str = "2025-11-25";

/// A raw POST; returns the response to inspect.
async fn post(url: &str, headers: &[(&str, &str)], body: Value) -> reqwest::Response {
    let mut req = mcp_tests::http()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", ACCEPT);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.json(&body).send().await.unwrap()
}

fn init_body() -> Value {
    json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": V, "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}})
}

/// `initialize` + `notifications/initialized`; returns the session id.
async fn open_session(url: &str) -> String {
    let res = post(url, &[], init_body()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    let sid = res.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    assert_valid_response(V, "initialize", &body);
    assert_eq!(body["result"]["capabilities"]["logging"], json!({}));
    let res = post(
        url,
        &[("mcp-session-id", &sid), ("mcp-protocol-version", V)],
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert_eq!(res.status(), 202);
    sid
}

fn call(id: i64, tool: &str, args: Value, progress: Option<&str>) -> Value {
    let mut params = json!({"name": tool, "arguments": args});
    if let Some(t) = progress {
        params["_meta"] = json!({"progressToken": t});
    }
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params})
}

fn is_sse(headers: &HeaderMap) -> bool {
    headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream")
}

/// Checks every event of a POST stream against the schema; returns the JSON messages.
fn messages(events: &[SseEvent]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| !e.data.is_empty())
        .map(|e| {
            let m = e.json();
            match m.get("method").and_then(Value::as_str) {
                Some("notifications/progress") => assert_valid(V, "ProgressNotification", &m),
                Some("notifications/message") => assert_valid(V, "LoggingMessageNotification", &m),
                Some(other) => panic!("unexpected notification {other}"),
                None => assert_valid_response(V, "tools/call", &m),
            }
            m
        })
        .collect()
}

#[tokio::test]
async fn sessions_start_answer_and_end() {
    let addr = start(HttpOptions::default()).await;
    let url = format!("http://{addr}/mcp");
    let sid = open_session(&url).await;
    assert_eq!(sid.len(), 32);
    assert!(sid.bytes().all(|b| b.is_ascii_hexdigit()));
    let other = open_session(&url).await;
    assert_ne!(sid, other);

    let h = [
        ("mcp-session-id", sid.as_str()),
        ("mcp-protocol-version", V),
    ];
    let res = post(&url, &h, call(1, "echo", json!({"text": "hi"}), None)).await;
    assert_eq!(res.status(), 200);
    assert!(!is_sse(res.headers()), "no notifications: a JSON answer");
    let body: Value = res.json().await.unwrap();
    assert_valid_response(V, "tools/call", &body);
    assert_eq!(body["result"]["content"][0]["text"], "hi");

    // A second initialize on a session is refused.
    let res = post(&url, &h, init_body()).await;
    assert_eq!(res.status(), 400);

    let res = post(
        &url,
        &[("mcp-session-id", "0123456789abcdef0123456789abcdef")],
        call(2, "echo", json!({"text": "x"}), None),
    )
    .await;
    assert_eq!(res.status(), 404);

    let client = mcp_tests::http();
    let res = client.delete(&url).send().await.unwrap();
    assert_eq!(res.status(), 400, "DELETE without a session");
    let res = client
        .delete(&url)
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = post(&url, &h, call(3, "echo", json!({"text": "x"}), None)).await;
    assert_eq!(res.status(), 404, "an ended session is unknown");
    let res = client
        .delete(&url)
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn requests_without_a_session_are_served_statelessly() {
    let addr = start(HttpOptions::default()).await;
    // The seed's curl: no initialize, no session, Accept: */*.
    let res = mcp_tests::http()
        .post(format!("http://{addr}/mcp/"))
        .header("content-type", "application/json")
        .header("accept", "*/*")
        .body(r#"{"jsonrpc":"2.0","method":"tools/list","id":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("mcp-session-id").is_none());
    let body: Value = res.json().await.unwrap();
    assert!(body["result"]["tools"].as_array().unwrap().len() > 5);
}

#[tokio::test]
async fn a_tool_that_notifies_is_answered_with_sse() {
    let addr = start(HttpOptions::default()).await;
    let url = format!("http://{addr}/mcp");
    let sid = open_session(&url).await;
    let h = [
        ("mcp-session-id", sid.as_str()),
        ("mcp-protocol-version", V),
    ];
    let res = post(&url, &h, json!({"jsonrpc": "2.0", "id": 9, "method": "logging/setLevel", "params": {"level": "info"}})).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["result"], json!({}));

    let res = post(
        &url,
        &h,
        call(10, "work", json!({"steps": 3}), Some("tok-1")),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(is_sse(res.headers()));
    assert_eq!(res.headers()["x-accel-buffering"], "no");
    let events = SseReader::new(res).collect().await;
    // The priming event: an id, empty data, and a retry.
    assert!(events[0].id.is_some() && events[0].data.is_empty() && events[0].retry.is_some());
    let msgs = messages(&events);
    let progress: Vec<f64> = msgs
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .map(|m| {
            assert_eq!(m["params"]["progressToken"], "tok-1");
            m["params"]["progress"].as_f64().unwrap()
        })
        .collect();
    assert_eq!(progress, [1.0, 2.0, 3.0]);
    let logs: Vec<&str> = msgs
        .iter()
        .filter(|m| m["method"] == "notifications/message")
        .map(|m| m["params"]["data"].as_str().unwrap())
        .collect();
    assert_eq!(
        logs,
        ["step 0", "step 1", "step 2"],
        "debug is below the level set"
    );
    let last = msgs.last().unwrap();
    assert_eq!(last["id"], 10);
    assert_eq!(last["result"]["content"][0]["text"], "worked 3 steps");
    // Event ids are unique and name the stream.
    let ids: Vec<_> = events.iter().filter_map(|e| e.id.clone()).collect();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(ids, unique);
    let stream = ids[0].split('-').next().unwrap().to_owned();
    assert!(ids.iter().all(|i| i.starts_with(&format!("{stream}-"))));
}

#[tokio::test]
async fn without_set_level_or_progress_token_nothing_streams() {
    let addr = start(HttpOptions::default()).await;
    let url = format!("http://{addr}/mcp");
    let sid = open_session(&url).await;
    let h = [
        ("mcp-session-id", sid.as_str()),
        ("mcp-protocol-version", V),
    ];
    let res = post(&url, &h, call(1, "work", json!({"steps": 2}), None)).await;
    assert!(!is_sse(res.headers()));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["result"]["content"][0]["text"], "worked 2 steps");
}

#[tokio::test]
async fn response_modes() {
    let json_only = start(HttpOptions::default().response_mode(ResponseMode::Json)).await;
    let res = post(
        &format!("http://{json_only}/mcp"),
        &[],
        call(1, "work", json!({"steps": 2}), Some("t")),
    )
    .await;
    assert!(!is_sse(res.headers()));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["result"]["content"][0]["text"], "worked 2 steps");

    let sse_always = start(HttpOptions::default().response_mode(ResponseMode::Sse)).await;
    let res = post(
        &format!("http://{sse_always}/mcp"),
        &[],
        call(1, "echo", json!({"text": "s"}), None),
    )
    .await;
    assert!(is_sse(res.headers()));
    let msgs = messages(&SseReader::new(res).collect().await);
    assert_eq!(msgs[0]["result"]["content"][0]["text"], "s");

    // A client that accepts only JSON gets JSON, whatever the tool does.
    let auto = start(HttpOptions::default()).await;
    let res = mcp_tests::http()
        .post(format!("http://{auto}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .json(&call(1, "work", json!({"steps": 2}), Some("t")))
        .send()
        .await
        .unwrap();
    assert!(!is_sse(res.headers()));
}

#[tokio::test]
async fn an_sse_answer_sent_at_once_can_still_be_replayed() {
    let addr = start(HttpOptions::default().response_mode(ResponseMode::Sse)).await;
    let url = format!("http://{addr}/mcp");
    let sid = open_session(&url).await;
    let h = [
        ("mcp-session-id", sid.as_str()),
        ("mcp-protocol-version", V),
    ];
    let res = post(&url, &h, call(3, "echo", json!({"text": "once"}), None)).await;
    assert!(is_sse(res.headers()));
    let events = SseReader::new(res).collect().await;
    assert_eq!(events.len(), 2, "priming event and answer");
    assert!(events[0].data.is_empty() && events[0].retry.is_some());
    let answer = messages(&events);
    assert_eq!(answer[0]["result"]["content"][0]["text"], "once");
    // A client that lost the connection after the priming event gets the answer again.
    let res = mcp_tests::http()
        .get(&url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &sid)
        .header("last-event-id", events[0].id.clone().unwrap())
        .send()
        .await
        .unwrap();
    let replayed = SseReader::new(res).collect().await;
    assert_eq!(replayed.len(), 1);
    assert_eq!(replayed[0].id, events[1].id);
    assert_eq!(replayed[0].json(), events[1].json());
}

#[tokio::test]
async fn notifications_cancelled_stops_the_tool() {
    let addr = start(HttpOptions::default()).await;
    let url = format!("http://{addr}/mcp");
    let sid = open_session(&url).await;
    let h = [
        ("mcp-session-id", sid.as_str()),
        ("mcp-protocol-version", V),
    ];
    let pending = {
        let url = url.clone();
        let sid = sid.clone();
        tokio::spawn(async move {
            post(
                &url,
                &[("mcp-session-id", &sid), ("mcp-protocol-version", V)],
                call(
                    77,
                    "wait_cancel",
                    json!({"tag": "legacy-cancel", "millis": 10000}),
                    None,
                ),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let res = post(&url, &h, json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 77, "reason": "test"}})).await;
    assert_eq!(res.status(), 202);
    let res = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(res.status(), 204, "no response for a cancelled request");
    assert!(was_cancelled("legacy-cancel"));
}

#[tokio::test]
async fn tool_timeouts() {
    let addr = start(HttpOptions::default()).await;
    let res = post(
        &format!("http://{addr}/mcp"),
        &[],
        call(1, "too_slow", json!({}), None),
    )
    .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["result"]["isError"], true);
    assert_eq!(
        body["result"]["content"][0]["text"],
        "tool `too_slow` timed out after 50 ms"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !was_cancelled("too_slow finished"),
        "the timed-out call was stopped"
    );

    // A default for every tool: the server's, whatever the transport.
    let app = Router::new().nest_mcp(
        "/mcp",
        McpServer::new("Fixtures")
            .domain("fx")
            .state(Counter::default())
            .tool_timeout(Duration::from_millis(30))
            .http_app(Transport::StreamableHttp),
    );
    let addr = serve(app).await;
    let res = post(
        &format!("http://{addr}/mcp"),
        &[],
        call(1, "slow", json!({"millis": 5000}), None),
    )
    .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["result"]["content"][0]["text"],
        "tool `slow` timed out after 30 ms"
    );
}

/// More calls running at once in a session than it keeps finished streams (32): each call's
/// stream stays resumable until it has ended, the first one too.
#[tokio::test]
async fn every_running_calls_stream_stays_resumable() {
    let addr = start(HttpOptions::default().response_mode(ResponseMode::Sse)).await;
    let url = format!("http://{addr}/mcp");
    let sid = open_session(&url).await;
    let h = [
        ("mcp-session-id", sid.as_str()),
        ("mcp-protocol-version", V),
    ];
    let mut primings = Vec::new();
    for id in 0..34 {
        let res = post(&url, &h, call(id, "slow", json!({"millis": 400}), None)).await;
        let mut reader = SseReader::new(res);
        primings.push(reader.next().await.unwrap().id.unwrap());
        // The client goes; the call goes on.
    }
    let first = mcp_tests::http()
        .get(&url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &sid)
        .header("mcp-protocol-version", V)
        .header("last-event-id", &primings[0])
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200, "{}", first.text().await.unwrap());
    let resumed = SseReader::new(first).collect().await;
    let answer = resumed.last().unwrap().json();
    assert_eq!(answer["id"], 0, "{resumed:?}");
    assert_eq!(answer["result"]["content"][0]["text"], "done");
}

#[tokio::test]
async fn a_resumed_stream_gets_exactly_the_missed_events() {
    let addr = start(HttpOptions::default()).await;
    let url = format!("http://{addr}/mcp");
    let sid = open_session(&url).await;
    let h = [
        ("mcp-session-id", sid.as_str()),
        ("mcp-protocol-version", V),
    ];
    let res = post(
        &url,
        &h,
        call(5, "work", json!({"steps": 6, "pause_ms": 60}), Some("p")),
    )
    .await;
    assert!(is_sse(res.headers()));
    let mut reader = SseReader::new(res);
    let priming = reader.next().await.unwrap();
    let first = reader.next().await.unwrap();
    assert_eq!(first.json()["method"], "notifications/progress");
    let last_id = first.id.clone().unwrap();
    drop(reader); // the client disconnects mid-stream; the call goes on

    tokio::time::sleep(Duration::from_millis(100)).await;
    let res = mcp_tests::http()
        .get(&url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &sid)
        .header("mcp-protocol-version", V)
        .header("last-event-id", &last_id)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let resumed = SseReader::new(res).collect().await;
    let seq = |e: &SseEvent| -> u64 {
        e.id.as_ref()
            .unwrap()
            .split('-')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap()
    };
    let first_seq = seq(&first);
    let seqs: Vec<u64> = resumed.iter().map(seq).collect();
    let expected: Vec<u64> = (first_seq + 1..first_seq + 1 + seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "no gap and no repeat after {last_id}");
    let msgs = messages(&resumed);
    let progress: Vec<f64> = msgs
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .map(|m| m["params"]["progress"].as_f64().unwrap())
        .collect();
    assert_eq!(progress, [2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_eq!(
        msgs.last().unwrap()["result"]["content"][0]["text"],
        "worked 6 steps"
    );
    assert!(priming.data.is_empty());
}

#[tokio::test]
async fn the_get_stream() {
    let addr = start(HttpOptions::default()).await;
    let url = format!("http://{addr}/mcp");
    let client = mcp_tests::http();
    let get = |sid: Option<&str>, accept: &str| {
        let mut r = client.get(&url).header("accept", accept);
        if let Some(s) = sid {
            r = r.header("mcp-session-id", s);
        }
        r.send()
    };
    assert_eq!(get(None, "text/event-stream").await.unwrap().status(), 400);
    let sid = open_session(&url).await;
    assert_eq!(
        get(Some(&sid), "application/json").await.unwrap().status(),
        406
    );
    let res = get(Some(&sid), "text/event-stream").await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(is_sse(res.headers()));
    let mut stream = SseReader::new(res);
    let priming = stream.next().await.unwrap();
    assert!(priming.id.is_some() && priming.data.is_empty());
    assert_eq!(
        get(Some(&sid), "text/event-stream").await.unwrap().status(),
        409,
        "one GET stream per session"
    );
    // Ending the session ends its stream.
    client
        .delete(&url)
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    let rest = tokio::time::timeout(Duration::from_secs(5), stream.collect())
        .await
        .unwrap();
    assert!(rest.is_empty());
    let res = client
        .get(&url)
        .header("accept", "text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
}

#[tokio::test]
async fn protocol_version_header() {
    let addr = start(HttpOptions::default()).await;
    let url = format!("http://{addr}/mcp");
    let res = post(
        &url,
        &[("mcp-protocol-version", "2024-01-01")],
        call(1, "echo", json!({"text": "x"}), None),
    )
    .await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unsupported MCP-Protocol-Version")
    );
    // Any supported revision is accepted on a session (clients differ here).
    let sid = open_session(&url).await;
    let res = post(
        &url,
        &[
            ("mcp-session-id", &sid),
            ("mcp-protocol-version", "2025-03-26"),
        ],
        call(2, "echo", json!({"text": "x"}), None),
    )
    .await;
    assert_eq!(res.status(), 200);
}

fn mcp_app(options: HttpOptions) -> Router {
    Router::new().nest_mcp(
        "/mcp",
        server().http_app_with(Transport::StreamableHttp, options),
    )
}

async fn echo_status(url: &str, headers: &[(&str, &str)]) -> u16 {
    post(url, headers, call(1, "echo", json!({"text": "x"}), None))
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn origins_and_hosts() {
    let addr = start(HttpOptions::default()).await;
    let url = format!("http://{addr}/mcp");
    let port = addr.port();
    assert_eq!(
        echo_status(&url, &[("origin", "https://evil.example")]).await,
        403
    );
    assert_eq!(
        echo_status(&url, &[("origin", &format!("http://{addr}"))]).await,
        200
    );
    let localhost = format!("http://localhost:{port}");
    assert_eq!(
        echo_status(&url, &[("origin", &localhost)]).await,
        200,
        "loopback to loopback"
    );
    // Look-alike loopback origins are names, not loopback addresses.
    for origin in [
        "http://127.0.0.1.evil.example",
        "https://127.attacker.example",
        "http://localhost.evil.example",
    ] {
        let res = post(
            &url,
            &[("origin", origin)],
            call(1, "echo", json!({}), None),
        )
        .await;
        assert_eq!(res.status(), 403, "{origin}");
        let body: Value = res.json().await.unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("is not allowed")
        );
    }
    // DNS rebinding against a server bound to loopback: a page on evil.example rebinds its
    // name to 127.0.0.1, so Host and Origin name evil.example and agree.
    let host = format!("evil.example:{port}");
    let origin = format!("http://evil.example:{port}");
    let res = post(
        &url,
        &[("host", &host), ("origin", &origin)],
        call(1, "echo", json!({}), None),
    )
    .await;
    assert_eq!(res.status(), 403, "rebinding");
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("loopback"),
        "{body}"
    );
    // Without connect info the runtime cannot tell; the same-host browser request is refused.
    let unknown = mcp_tests::serve_without_connect_info(mcp_app(HttpOptions::default())).await;
    let unknown_url = format!("http://{unknown}/mcp");
    let origin = format!("http://evil.example:{}", unknown.port());
    let host = format!("evil.example:{}", unknown.port());
    assert_eq!(
        echo_status(&unknown_url, &[("host", &host), ("origin", &origin)]).await,
        403
    );
    assert_eq!(
        echo_status(&unknown_url, &[("host", &host)]).await,
        200,
        "no browser"
    );

    // Named public hosts: a proxy on this machine forwards its public Host over loopback.
    let named = start(
        HttpOptions::default().origins(OriginPolicy::default().allow_hosts(["api.example.com"])),
    )
    .await;
    let named_url = format!("http://{named}/mcp");
    assert_eq!(
        echo_status(&named_url, &[("host", "api.example.com")]).await,
        200
    );
    let proxied = [
        ("host", "api.example.com"),
        ("origin", "https://api.example.com"),
    ];
    assert_eq!(echo_status(&named_url, &proxied).await, 200);
    assert_eq!(
        echo_status(&named_url, &[("host", &host), ("origin", &origin)]).await,
        403
    );
    assert_eq!(
        echo_status(&named_url, &[]).await,
        200,
        "loopback Host still served"
    );

    // Arrived on a non-loopback address (as a proxy on another machine connects): a foreign
    // Host, with or without its own Origin, is served as before. The layer stands for the
    // public interface, which this test machine may not offer.
    let public: SocketAddr = "203.0.113.7:40000".parse().unwrap();
    let app = mcp_app(HttpOptions::default()).layer(axum::middleware::map_request(
        move |mut req: axum::extract::Request| async move {
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(public));
            req
        },
    ));
    let elsewhere = serve(app).await;
    let url = format!("http://{elsewhere}/mcp");
    assert_eq!(echo_status(&url, &[("host", "api.example.com")]).await, 200);
    assert_eq!(echo_status(&url, &proxied).await, 200);
    assert_eq!(
        echo_status(
            &url,
            &[
                ("host", "api.example.com"),
                ("origin", "https://evil.example")
            ]
        )
        .await,
        403
    );

    let local = start(
        HttpOptions::default().origins(OriginPolicy::local().allow_origin("https://claude.ai")),
    )
    .await;
    let url = format!("http://{local}/mcp");
    let rebinding = [
        ("host", "evil.example.com"),
        ("origin", "http://evil.example.com"),
    ];
    assert_eq!(echo_status(&url, &rebinding).await, 403);
    let localhost = format!("localhost:{}", local.port());
    let origin = format!("http://localhost:{}", local.port());
    assert_eq!(
        echo_status(&url, &[("host", &localhost), ("origin", &origin)]).await,
        200
    );
    assert_eq!(
        echo_status(&url, &[("origin", "https://claude.ai")]).await,
        200
    );
}

#[tokio::test]
async fn header_values_that_are_not_ascii_are_refused() {
    use reqwest::header::HeaderValue;
    let addr = start(HttpOptions::default()).await;
    let url = format!("http://{addr}/mcp");
    let sid = open_session(&url).await;
    let raw = HeaderValue::from_bytes(b"\xe9\xe9\xe9").unwrap();
    let send = |name: &'static str, method: reqwest::Method| {
        let raw = raw.clone();
        let mut req = mcp_tests::http()
            .request(method.clone(), &url)
            .header("accept", ACCEPT)
            .header(name, raw);
        if method == reqwest::Method::POST {
            req = req.header("content-type", "application/json").json(&call(
                1,
                "echo",
                json!({"text": "x"}),
                None,
            ));
        }
        req
    };
    let res = send("mcp-session-id", reqwest::Method::POST)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "unreadable session id");
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`mcp-session-id` header")
    );
    let res = send("mcp-session-id", reqwest::Method::GET)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = send("last-event-id", reqwest::Method::GET)
        .header("mcp-session-id", &sid)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "unreadable Last-Event-ID");
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`last-event-id` header")
    );
    let res = send("mcp-protocol-version", reqwest::Method::POST)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res = mcp_tests::http()
        .post(&url)
        .header("accept", ACCEPT)
        .header("content-type", raw.clone())
        .body(call(1, "echo", json!({"text": "x"}), None).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`content-type` header")
    );
    let res = send("origin", reqwest::Method::POST).send().await.unwrap();
    assert_eq!(res.status(), 403);
    // A Last-Event-ID that is too long is not echoed back whole.
    let long = "9".repeat(10_000);
    let res = mcp_tests::http()
        .get(&url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &sid)
        .header("last-event-id", &long)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().len() < 1_000);
}

#[tokio::test]
async fn the_stateless_switch() {
    let addr = start(HttpOptions::default().without_sessions()).await;
    let url = format!("http://{addr}/mcp");
    let res = post(&url, &[], init_body()).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("mcp-session-id").is_none());
    let client = mcp_tests::http();
    assert_eq!(
        client
            .get(&url)
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap()
            .status(),
        405
    );
    assert_eq!(
        client
            .delete(&url)
            .header("mcp-session-id", "x")
            .send()
            .await
            .unwrap()
            .status(),
        405
    );
    let res = post(
        &url,
        &[("mcp-session-id", "anything")],
        call(1, "echo", json!({"text": "x"}), None),
    )
    .await;
    assert_eq!(res.status(), 200, "session ids are ignored");
}

#[tokio::test]
async fn idle_sessions_expire() {
    let addr =
        start(HttpOptions::default().sessions(|s| s.idle_timeout(Duration::from_millis(150))))
            .await;
    let url = format!("http://{addr}/mcp");
    let sid = open_session(&url).await;
    let h = [("mcp-session-id", sid.as_str())];
    assert_eq!(
        post(&url, &h, call(1, "echo", json!({"text": "x"}), None))
            .await
            .status(),
        200
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        post(&url, &h, call(2, "echo", json!({"text": "x"}), None))
            .await
            .status(),
        404
    );
}

/// Two apps in one process, each under its own `mcp_runtime::serve` with default options: the
/// signal of one ends that app's streams only (no process-wide shutdown).
#[tokio::test]
async fn two_apps_in_one_process_stop_separately() {
    let start = || async {
        let app = Router::new().nest_mcp("/mcp", server().http_app(Transport::StreamableHttp));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/mcp", listener.local_addr().unwrap());
        let signal = Shutdown::new();
        let stop = signal.clone();
        let served = tokio::spawn(async move {
            mcp_runtime::serve(
                listener,
                app,
                mcp_runtime::http::ServeOptions::default(),
                async move { stop.started().await },
            )
            .await
            .unwrap();
        });
        (url, signal, served)
    };
    let stream = |url: String| async move {
        let sid = open_session(&url).await;
        let res = mcp_tests::http()
            .get(&url)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &sid)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let mut reader = SseReader::new(res);
        reader.next().await.expect("the priming event");
        reader
    };
    let (first, first_signal, first_served) = start().await;
    let (second, _second_signal, _second_served) = start().await;
    let first_stream = stream(first.clone()).await;
    let mut second_stream = stream(second.clone()).await;
    first_signal.start();
    tokio::time::timeout(Duration::from_secs(2), first_stream.collect())
        .await
        .expect("the first app's stream ends with its shutdown");
    tokio::time::timeout(Duration::from_secs(3), first_served)
        .await
        .expect("the first app stops")
        .unwrap();
    // The second app goes on: its stream is open and it answers.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), second_stream.next())
            .await
            .is_err(),
        "the second app's stream stays open"
    );
    let sid = open_session(&second).await;
    assert!(!sid.is_empty());
}

#[tokio::test]
async fn shutdown_with_100_open_streams_completes_promptly() {
    let (url, token, served) = start_stoppable(Duration::from_secs(1)).await;
    let mut streams = Vec::new();
    for _ in 0..100 {
        let sid = open_session(&url).await;
        let res = mcp_tests::http()
            .get(&url)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &sid)
            .send()
            .await
            .unwrap();
        let mut r = SseReader::new(res);
        r.next().await.unwrap();
        streams.push(r);
    }
    // A call in flight when shutdown starts finishes within the grace and is delivered.
    let sid = open_session(&url).await;
    let in_flight = {
        let url = url.clone();
        tokio::spawn(async move {
            let res = post(
                &url,
                &[("mcp-session-id", &sid)],
                call(1, "slow", json!({"millis": 300}), None),
            )
            .await;
            res.json::<Value>().await.unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = std::time::Instant::now();
    token.start();
    for s in streams {
        tokio::time::timeout(Duration::from_secs(1), s.collect())
            .await
            .expect("streams end");
    }
    tokio::time::timeout(Duration::from_secs(2), served)
        .await
        .expect("the server stops")
        .unwrap();
    let answer = in_flight.await.unwrap();
    assert_eq!(answer["result"]["content"][0]["text"], "done");
    assert!(started.elapsed() < Duration::from_secs(2));
}

// ---- 2026-07-28 ----

const V26: &str = "2026-07-28";

fn modern(id: i64, method: &str, mut params: Value) -> Value {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": V26,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "0"},
    });
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

async fn post_modern(url: &str, body: &Value, extra: &[(&str, &str)]) -> reqwest::Response {
    let method = body["method"].as_str().unwrap().to_owned();
    let mut headers: Vec<(&str, String)> =
        vec![("mcp-protocol-version", V26.into()), ("mcp-method", method)];
    if let Some(name) = body["params"]["name"].as_str() {
        headers.push(("mcp-name", name.to_owned()));
    }
    for (k, v) in extra {
        headers.retain(|(h, _)| !h.eq_ignore_ascii_case(k));
        if !v.is_empty() {
            headers.push((k, (*v).to_owned()));
        }
    }
    let pairs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    post(url, &pairs, body.clone()).await
}

#[tokio::test]
async fn the_2026_era_at_the_same_url() {
    let addr = start(HttpOptions::default()).await;
    let url = format!("http://{addr}/mcp");

    let res = post_modern(&url, &modern(1, "server/discover", json!({})), &[]).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("mcp-session-id").is_none());
    let body: Value = res.json().await.unwrap();
    assert_valid(V26, "DiscoverResultResponse", &body);
    assert!(
        body["result"]["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!(V26))
    );
    assert!(
        body["result"]["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("2025-11-25"))
    );

    let res = post_modern(&url, &modern(2, "tools/list", json!({})), &[]).await;
    let body: Value = res.json().await.unwrap();
    assert_valid(V26, "ListToolsResultResponse", &body);
    assert_eq!(body["result"]["resultType"], "complete");
    assert_eq!(body["result"]["cacheScope"], "public");
    assert!(body["result"]["ttlMs"].as_u64().is_some());

    let res = post_modern(
        &url,
        &modern(
            3,
            "tools/call",
            json!({"name": "add", "arguments": {"a": 1, "b": 2}}),
        ),
        &[],
    )
    .await;
    let body: Value = res.json().await.unwrap();
    assert_valid(V26, "CallToolResultResponse", &body);
    assert_eq!(body["result"]["resultType"], "complete");
    assert_eq!(body["result"]["structuredContent"], json!({"result": 3}));

    // Handshake-era clients on the same URL are unaffected.
    let sid = open_session(&url).await;
    assert!(!sid.is_empty());
}

#[tokio::test]
async fn the_2026_era_rejects_what_the_spec_rejects() {
    let addr = start(HttpOptions::default()).await;
    let url = format!("http://{addr}/mcp");
    let error = |status: u16, code: i64| {
        move |(s, b): (u16, Value)| {
            assert_eq!(s, status, "{b}");
            assert_eq!(b["error"]["code"], code, "{b}");
            assert_valid(V26, "JSONRPCErrorResponse", &b);
            b
        }
    };
    async fn send(url: &str, body: Value, extra: &[(&str, &str)]) -> (u16, Value) {
        let res = post_modern(url, &body, extra).await;
        (res.status().as_u16(), res.json().await.unwrap())
    }

    // Missing _meta fields.
    let mut no_caps = modern(1, "tools/list", json!({}));
    no_caps["params"]["_meta"]
        .as_object_mut()
        .unwrap()
        .remove("io.modelcontextprotocol/clientCapabilities");
    error(400, -32602)(send(&url, no_caps, &[]).await);
    let no_meta = json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {}});
    error(400, -32602)(send(&url, no_meta, &[]).await);

    // An unsupported revision names the supported ones.
    let mut future = modern(1, "tools/list", json!({}));
    future["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2099-01-01");
    let b = error(400, -32022)(send(&url, future, &[("mcp-protocol-version", "2099-01-01")]).await);
    assert_eq!(b["error"]["data"]["requested"], "2099-01-01");
    assert!(
        b["error"]["data"]["supported"]
            .as_array()
            .unwrap()
            .contains(&json!(V26))
    );

    // Headers must match the body.
    let call_add = modern(
        1,
        "tools/call",
        json!({"name": "add", "arguments": {"a": 1, "b": 2}}),
    );
    error(400, -32020)(send(&url, call_add.clone(), &[("mcp-method", "tools/list")]).await);
    error(400, -32020)(send(&url, call_add.clone(), &[("mcp-method", "")]).await);
    error(400, -32020)(send(&url, call_add.clone(), &[("mcp-name", "echo")]).await);
    error(400, -32020)(send(&url, call_add.clone(), &[("mcp-name", "ADD")]).await);
    let (s, _) = send(&url, call_add.clone(), &[("MCP-NAME", "=?base64?YWRk?=")]).await;
    assert_eq!(s, 200, "case-insensitive names, base64 values");
    let (s, _) = send(&url, call_add, &[("Mcp-Method", " tools/call ")]).await;
    assert_eq!(s, 200, "values are trimmed");

    // Methods of the handshake era, and unknown ones, are not found here.
    for method in [
        "initialize",
        "ping",
        "logging/setLevel",
        "resources/subscribe",
        "nope",
    ] {
        error(404, -32601)(send(&url, modern(1, method, json!({})), &[]).await);
    }
    let client = mcp_tests::http();
    for m in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let res = client
            .request(m, &url)
            .header("mcp-protocol-version", V26)
            .header("accept", ACCEPT)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 405);
    }
    // Notifications are accepted.
    let res = post(
        &url,
        &[("mcp-protocol-version", V26)],
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}),
    )
    .await;
    assert_eq!(res.status(), 202);
}

#[tokio::test]
async fn the_2026_era_streams_logs_only_when_asked_and_cancels_on_close() {
    let addr = start(HttpOptions::default()).await;
    let url = format!("http://{addr}/mcp");
    let mut body = modern(
        1,
        "tools/call",
        json!({"name": "work", "arguments": {"steps": 2}}),
    );
    body["params"]["_meta"]["progressToken"] = json!("pt");
    let res = post_modern(&url, &body, &[]).await;
    assert!(is_sse(res.headers()));
    let events = SseReader::new(res).collect().await;
    let msgs: Vec<Value> = events
        .iter()
        .filter(|e| !e.data.is_empty())
        .map(SseEvent::json)
        .collect();
    assert!(
        msgs.iter().all(|m| m["method"] != "notifications/message"),
        "no logLevel, no logs"
    );
    assert_eq!(
        msgs.iter()
            .filter(|m| m["method"] == "notifications/progress")
            .count(),
        2
    );
    for m in &msgs {
        if m.get("method").is_some() {
            assert_valid(V26, "ProgressNotification", m);
        } else {
            assert_valid(V26, "CallToolResultResponse", m);
        }
    }

    body["params"]["_meta"]["io.modelcontextprotocol/logLevel"] = json!("info");
    let res = post_modern(&url, &body, &[]).await;
    let events = SseReader::new(res).collect().await;
    let logs = events
        .iter()
        .filter(|e| e.data.contains("notifications/message"))
        .count();
    assert_eq!(logs, 2);
    let mut bad_level = modern(2, "tools/list", json!({}));
    bad_level["params"]["_meta"]["io.modelcontextprotocol/logLevel"] = json!("loud");
    assert_eq!(post_modern(&url, &bad_level, &[]).await.status(), 400);

    // Closing the response stream cancels the call.
    let body = modern(
        3,
        "tools/call",
        json!({"name": "wait_cancel", "arguments": {"tag": "modern-close", "millis": 10000}}),
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let r = client
        .post(&url)
        .header("content-type", "application/json")
        .header("accept", ACCEPT)
        .header("mcp-protocol-version", V26)
        .header("mcp-method", "tools/call")
        .header("mcp-name", "wait_cancel")
        .json(&body)
        .send()
        .await;
    assert!(r.is_err());
    for _ in 0..50 {
        if was_cancelled("modern-close") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(was_cancelled("modern-close"));
}

#[tokio::test]
async fn a_missing_client_capability_is_a_protocol_error() {
    let addr = start(HttpOptions::default()).await;
    let url = format!("http://{addr}/mcp");
    let body = modern(
        1,
        "tools/call",
        json!({"name": "needs_sampling", "arguments": {}}),
    );
    let res = post_modern(&url, &body, &[]).await;
    assert_eq!(res.status(), 400);
    let b: Value = res.json().await.unwrap();
    assert_valid(V26, "MissingRequiredClientCapabilityError", &b);
    assert_eq!(
        b["error"]["data"]["requiredCapabilities"],
        json!({"sampling": {}})
    );
    let mut with = body.clone();
    with["params"]["_meta"]["io.modelcontextprotocol/clientCapabilities"] = json!({"sampling": {}});
    let b: Value = post_modern(&url, &with, &[]).await.json().await.unwrap();
    assert_eq!(b["result"]["content"][0]["text"], "can sample");

    // In a session, the capabilities of `initialize` count.
    let mut init = init_body();
    init["params"]["capabilities"] = json!({"sampling": {}});
    let res = post(&url, &[], init).await;
    let sid = res.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let res = post(
        &url,
        &[("mcp-session-id", &sid)],
        call(2, "needs_sampling", json!({}), None),
    )
    .await;
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["result"]["content"][0]["text"], "can sample");
    let other = open_session(&url).await;
    let res = post(
        &url,
        &[("mcp-session-id", &other)],
        call(3, "needs_sampling", json!({}), None),
    )
    .await;
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["error"]["code"], -32021);
}

#[tokio::test]
async fn subscriptions_listen_is_acknowledged() {
    let addr = start(HttpOptions::default()).await;
    let url = format!("http://{addr}/mcp");
    let body = modern(
        42,
        "subscriptions/listen",
        json!({"notifications": {"toolsListChanged": true, "promptsListChanged": true}}),
    );
    let res = post_modern(&url, &body, &[]).await;
    assert!(is_sse(res.headers()));
    let mut reader = SseReader::new(res);
    let _priming = reader.next().await.unwrap();
    let ack = reader.next().await.unwrap().json();
    assert_valid(V26, "SubscriptionsAcknowledgedNotification", &ack);
    assert_eq!(
        ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        42
    );
    assert_eq!(
        ack["params"]["notifications"],
        json!({"toolsListChanged": true})
    );
}

// ---- Legacy HTTP+SSE ----

async fn legacy_session(base: &str) -> (SseReader, String) {
    let res = mcp_tests::http()
        .get(format!("{base}/sse"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut reader = SseReader::new(res);
    let endpoint = reader.next().await.unwrap();
    assert_eq!(endpoint.event.as_deref(), Some("endpoint"));
    (reader, endpoint.data)
}

/// Calls on the legacy transport answer on the session's one stream: at shutdown the stream
/// stays open for the calls in flight, which get the grace like any call; one that outlasts it
/// is cancelled (the tool sees it) and the stream says so before it ends.
#[tokio::test]
async fn legacy_calls_get_the_shutdown_grace_and_answer_on_the_stream() {
    let (url, token, served) =
        start_stoppable_with(Transport::Sse, Duration::from_millis(500)).await;
    let (mut stream, endpoint) = legacy_session(&url).await;
    let host = url.trim_end_matches("/mcp");
    let send = |body: Value| {
        let url = format!("{host}{endpoint}");
        async move {
            let res = mcp_tests::http()
                .post(url)
                .header("content-type", "application/json")
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 202);
        }
    };
    let mut init = init_body();
    init["params"]["protocolVersion"] = json!("2024-11-05");
    send(init).await;
    stream.next().await.unwrap();
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
    send(call(2, "slow", json!({"millis": 200}), None)).await;
    send(call(
        3,
        "wait_cancel",
        json!({"tag": "legacy-grace", "millis": 30000}),
        None,
    ))
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = std::time::Instant::now();
    token.start();
    let events = tokio::time::timeout(Duration::from_secs(5), stream.collect())
        .await
        .expect("the stream ends");
    let answers: Vec<Value> = events.iter().map(SseEvent::json).collect();
    let slow = answers.iter().find(|m| m["id"] == 2).expect("answered");
    assert_eq!(slow["result"]["content"][0]["text"], "done", "{answers:?}");
    let cut = answers.iter().find(|m| m["id"] == 3).expect("told");
    assert!(
        cut["error"]["message"]
            .as_str()
            .unwrap()
            .contains("shut down"),
        "{cut}"
    );
    assert!(was_cancelled("legacy-grace"));
    tokio::time::timeout(Duration::from_secs(5), served)
        .await
        .expect("the server stops")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn the_legacy_sse_transport_beside_the_new_one() {
    for transport in [Transport::StreamableHttp, Transport::Sse] {
        let app = Router::new().nest_mcp("/mcp/legacy", server().http_app(transport));
        let addr = serve(app).await;
        let base = format!("http://{addr}/mcp/legacy");
        let (mut stream, endpoint) = legacy_session(&base).await;
        assert!(
            endpoint.starts_with("/mcp/legacy/messages?sessionId="),
            "{endpoint}"
        );
        let post_url = format!("http://{addr}{endpoint}");
        let send = |body: Value| {
            let url = post_url.clone();
            async move {
                mcp_tests::http()
                    .post(url)
                    .header("content-type", "application/json")
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
            }
        };
        let mut init = init_body();
        init["params"]["protocolVersion"] = json!("2024-11-05");
        let res = send(init).await;
        assert_eq!(res.status(), 202);
        let answer = stream.next().await.unwrap();
        assert_eq!(answer.event.as_deref(), Some("message"));
        let answer = answer.json();
        assert_valid_response("2024-11-05", "initialize", &answer);
        assert_eq!(answer["result"]["protocolVersion"], "2024-11-05");
        assert_eq!(
            send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
                .await
                .status(),
            202
        );
        assert_eq!(
            send(call(2, "work", json!({"steps": 2}), Some("lp")))
                .await
                .status(),
            202
        );
        let mut progress = 0;
        loop {
            let m = stream.next().await.unwrap().json();
            if m.get("id").is_some() {
                assert_valid_response("2024-11-05", "tools/call", &m);
                assert_eq!(m["result"]["content"][0]["text"], "worked 2 steps");
                break;
            }
            assert_valid("2024-11-05", "ProgressNotification", &m);
            progress += 1;
        }
        assert_eq!(progress, 2);
        let bad = mcp_tests::http()
            .post(format!("{base}/messages?sessionId=nope"))
            .header("content-type", "application/json")
            .json(&call(3, "echo", json!({"text": "x"}), None))
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 404);
        let missing = mcp_tests::http()
            .post(format!("{base}/messages"))
            .header("content-type", "application/json")
            .json(&call(3, "echo", json!({"text": "x"}), None))
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 400);
        let main_endpoint = post(
            &format!("{base}/"),
            &[],
            call(4, "echo", json!({"text": "x"}), None),
        )
        .await
        .status();
        if transport == Transport::Sse {
            assert_eq!(
                main_endpoint, 404,
                "Transport::Sse serves only the legacy endpoints"
            );
        } else {
            assert_eq!(main_endpoint, 200);
        }
    }
}

#[tokio::test]
async fn batches_only_where_the_revision_has_them() {
    let addr = start(HttpOptions::default()).await;
    let url = format!("http://{addr}/mcp");
    let batch = json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}]);
    // A session that negotiated 2025-11-25 (even without the header) has none.
    let sid = open_session(&url).await;
    let res = mcp_tests::http()
        .post(&url)
        .header("content-type", "application/json")
        .header("accept", ACCEPT)
        .header("mcp-session-id", &sid)
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("has no batches")
    );
    // The 2026-07-28 header: a clear refusal, not an "unsupported version".
    let res = post(&url, &[("mcp-protocol-version", V26)], batch.clone()).await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["error"]["message"],
        "revision 2026-07-28 has no batches: send one message per request"
    );
    // Sessionless 2025-03-26 (no header): batches work.
    let res = post(&url, &[], batch).await;
    assert_eq!(res.status(), 200);
    // Never with `initialize` in them: it is answered alone or not at all.
    let mut init = init_body();
    init["params"]["protocolVersion"] = json!("2025-03-26");
    let res = post(
        &url,
        &[],
        json!([init, {"jsonrpc": "2.0", "id": 2, "method": "ping"}]),
    )
    .await;
    let answers: Value = res.json().await.unwrap();
    let answers = answers.as_array().unwrap();
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert_eq!(answers[0]["error"]["code"], -32600, "{answers:?}");
    assert!(
        answers[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot be part of a batch")
    );
    assert_eq!(answers[1]["result"], json!({}));
}

#[tokio::test]
async fn initialize_refuses_capabilities_too_large_to_keep() {
    let addr = start(HttpOptions::default()).await;
    let url = format!("http://{addr}/mcp");
    let mut body = init_body();
    body["params"]["capabilities"] =
        json!({"roots": {}, "experimental": {"blob": "x".repeat(9000)}});
    let res = post(&url, &[], body.clone()).await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers().get("mcp-session-id").is_none(),
        "no session for a refused initialize"
    );
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("params.capabilities") && message.contains("8192"),
        "{message}"
    );

    // Capabilities of an ordinary size are kept, and count for the session.
    body["params"]["capabilities"] =
        json!({"roots": {}, "experimental": {"blob": "x".repeat(4000)}});
    let res = post(&url, &[], body).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("mcp-session-id").is_some());
}

#[tokio::test]
async fn a_running_call_or_an_open_stream_keeps_a_session_alive() {
    let addr =
        start(HttpOptions::default().sessions(|s| s.idle_timeout(Duration::from_millis(150))))
            .await;
    let url = format!("http://{addr}/mcp");

    // A call that outlasts the idle timeout neither expires its session nor is cancelled.
    let sid = open_session(&url).await;
    let slow = {
        let (url, sid) = (url.clone(), sid.clone());
        tokio::spawn(async move {
            let h = [
                ("mcp-session-id", sid.as_str()),
                ("mcp-protocol-version", V),
            ];
            let res = post(&url, &h, call(1, "slow", json!({"millis": 600}), None)).await;
            res.json::<Value>().await.unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    let h = [
        ("mcp-session-id", sid.as_str()),
        ("mcp-protocol-version", V),
    ];
    assert_eq!(
        post(&url, &h, call(2, "echo", json!({"text": "x"}), None))
            .await
            .status(),
        200,
        "the session is alive while its call runs"
    );
    let answer = slow.await.unwrap();
    assert_eq!(answer["result"]["content"][0]["text"], "done", "{answer}");

    // An open GET stream keeps its session alive; once it closes, the idle clock runs again.
    let sid = open_session(&url).await;
    let h = [
        ("mcp-session-id", sid.as_str()),
        ("mcp-protocol-version", V),
    ];
    let res = mcp_tests::http()
        .get(&url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut stream = SseReader::new(res);
    stream.next().await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        post(&url, &h, call(3, "echo", json!({"text": "x"}), None))
            .await
            .status(),
        200,
        "the session is alive while its GET stream is open"
    );
    drop(stream);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        post(&url, &h, call(4, "echo", json!({"text": "x"}), None))
            .await
            .status(),
        404,
        "idle again once the stream closed"
    );
}

#[tokio::test]
async fn every_request_of_a_batch_is_answered_or_cancelled_by_the_client() {
    let (url, token, served) = start_stoppable(Duration::from_millis(200)).await;
    let spawn_batch = |headers: Vec<(&'static str, String)>, batch: Value| {
        let url = url.clone();
        tokio::spawn(async move {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let res = post(&url, &h, batch).await;
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()
        })
    };

    // In a 2025-03-26 session, `notifications/cancelled` reaches a request of a batch: it is
    // left out of the answer, the others are answered.
    let mut init = init_body();
    init["params"]["protocolVersion"] = json!("2025-03-26");
    let res = post(&url, &[], init).await;
    let sid = res.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let batch = spawn_batch(
        vec![("mcp-session-id", sid.clone())],
        json!([
            call(1, "slow", json!({"millis": 5000}), None),
            call(2, "echo", json!({"text": "kept"}), None),
        ]),
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let res = post(
        &url,
        &[("mcp-session-id", &sid)],
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
               "params": {"requestId": 1, "reason": "changed my mind"}}),
    )
    .await;
    assert_eq!(res.status(), 202);
    let answers = batch.await.unwrap();
    let answers = answers.as_array().unwrap();
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(answers[0]["id"], 2);
    assert_eq!(answers[0]["result"]["content"][0]["text"], "kept");

    // At shutdown, a batch gets the grace like any call; what is still running then is
    // answered with an error that says why, and what finished keeps its result.
    let batch = spawn_batch(
        vec![],
        json!([
            call(3, "slow", json!({"millis": 5000}), None),
            call(4, "slow", json!({"millis": 50}), None),
            call(5, "slow", json!({"millis": 5000}), None),
        ]),
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    token.start();
    let answers = batch.await.unwrap();
    let answers = answers.as_array().unwrap();
    assert_eq!(answers.len(), 3, "{answers:?}");
    for a in answers {
        if a["id"] == 4 {
            assert_eq!(a["result"]["content"][0]["text"], "done", "{a}");
        } else {
            assert_eq!(a["error"]["code"], -32000, "{a}");
            assert_eq!(
                a["error"]["message"],
                "the server shut down before the call finished"
            );
        }
    }
    tokio::time::timeout(Duration::from_secs(5), served)
        .await
        .expect("the server stops")
        .unwrap();
}

/// A batch whose client goes before it is answered ends its requests: the session can use
/// their ids again, and they no longer count as running.
#[tokio::test]
async fn a_batch_its_client_left_ends_its_requests() {
    let (url, _token, _served) = start_stoppable(Duration::from_millis(200)).await;
    let mut init = init_body();
    init["params"]["protocolVersion"] = json!("2025-03-26");
    let res = post(&url, &[], init).await;
    let sid = res.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let gone = impatient
        .post(&url)
        .header("content-type", "application/json")
        .header("accept", ACCEPT)
        .header("mcp-session-id", &sid)
        .json(&json!([call(1, "slow", json!({"millis": 5000}), None)]))
        .send()
        .await;
    assert!(gone.is_err(), "the client gave up");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let res = post(
        &url,
        &[("mcp-session-id", &sid)],
        call(1, "echo", json!({"text": "again"}), None),
    )
    .await;
    assert_eq!(res.status(), 200, "id 1 is free again");
}

/// A client that connects from `ip` (any 127.x.y.z is this machine).
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn initialize_from(client: &reqwest::Client, url: &str) -> (u16, Option<String>) {
    let res = client
        .post(url)
        .header("accept", ACCEPT)
        .json(&init_body())
        .send()
        .await
        .unwrap();
    let sid = res
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap().to_owned());
    (res.status().as_u16(), sid)
}

async fn ping_status(client: &reqwest::Client, url: &str, sid: &str) -> u16 {
    client
        .post(url)
        .header("accept", ACCEPT)
        .header("mcp-session-id", sid)
        .header("mcp-protocol-version", V)
        .json(&json!({"jsonrpc": "2.0", "id": 9, "method": "ping"}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn one_client_cannot_fill_the_session_table_for_everyone() {
    let addr = start(HttpOptions::default().sessions(|s| s.max(4).max_per_client(2))).await;
    let url = format!("http://{addr}/mcp");
    let (a, b, c) = (
        client_from("127.0.0.1"),
        client_from("127.0.0.2"),
        client_from("127.0.0.3"),
    );

    // At its limit, a client's own idlest session makes room for its new one.
    let (_, a1) = initialize_from(&a, &url).await;
    let (_, a2) = initialize_from(&a, &url).await;
    let (a1, a2) = (a1.unwrap(), a2.unwrap());
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(ping_status(&a, &url, &a2).await, 200);
    let (status, a3) = initialize_from(&a, &url).await;
    assert_eq!(status, 200);
    let a3 = a3.unwrap();
    assert_eq!(ping_status(&a, &url, &a1).await, 404, "the idlest went");
    assert_eq!(ping_status(&a, &url, &a2).await, 200);

    // With every one of its sessions busy, the client is refused (429); others are not.
    let mut busy = Vec::new();
    for sid in [&a2, &a3] {
        let res = a
            .get(&url)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", sid.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        busy.push(res);
    }
    let res = a
        .post(&url)
        .header("accept", ACCEPT)
        .json(&init_body())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already has 2 sessions, all busy"),
        "{body}"
    );
    let (status, b1) = initialize_from(&b, &url).await;
    assert_eq!(status, 200);
    let b1 = b1.unwrap();

    // A full table ends its idlest session that is not busy to make room.
    let (status, _) = initialize_from(&c, &url).await;
    assert_eq!(status, 200, "the table had room");
    let (status, _) = initialize_from(&c, &url).await;
    assert_eq!(status, 200, "b's idle session made room");
    assert_eq!(ping_status(&b, &url, &b1).await, 404);
    // Busy sessions are never ended to make room.
    assert_eq!(ping_status(&a, &url, &a2).await, 200);
    assert_eq!(ping_status(&a, &url, &a3).await, 200);
}

#[tokio::test]
async fn a_session_runs_a_bounded_number_of_requests_at_once() {
    let addr = start(HttpOptions::default().sessions(|s| s.max_requests(2))).await;
    let url = format!("http://{addr}/mcp");
    let sid = open_session(&url).await;
    let running: Vec<_> = (1..=2)
        .map(|i| {
            let (url, sid) = (url.clone(), sid.clone());
            tokio::spawn(async move {
                let h = [
                    ("mcp-session-id", sid.as_str()),
                    ("mcp-protocol-version", V),
                ];
                let res = post(&url, &h, call(i, "slow", json!({"millis": 500}), None)).await;
                res.json::<Value>().await.unwrap()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let h = [
        ("mcp-session-id", sid.as_str()),
        ("mcp-protocol-version", V),
    ];
    let res = post(&url, &h, call(3, "echo", json!({"text": "x"}), None)).await;
    assert_eq!(res.status(), 429);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["id"], 3);
    assert_eq!(
        body["error"]["message"],
        "this session already has 2 requests running; wait for one to finish"
    );
    for r in running {
        assert_eq!(r.await.unwrap()["result"]["content"][0]["text"], "done");
    }
    let res = post(&url, &h, call(4, "echo", json!({"text": "x"}), None)).await;
    assert_eq!(res.status(), 200, "room again once they finished");
}

#[tokio::test]
async fn open_listen_streams_are_bounded() {
    let addr = start(HttpOptions::default().sessions(|s| s.max(1))).await;
    let url = format!("http://{addr}/mcp");
    let body = modern(
        7,
        "subscriptions/listen",
        json!({"notifications": {"toolsListChanged": true}}),
    );
    let res = post_modern(&url, &body, &[]).await;
    assert!(is_sse(res.headers()));
    let mut first = SseReader::new(res);
    first.next().await.unwrap();
    let res = post_modern(&url, &body, &[]).await;
    assert_eq!(res.status(), 503);
    let refused: Value = res.json().await.unwrap();
    assert_eq!(refused["id"], 7);
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("subscription streams are open"),
        "{refused}"
    );
    // A closed stream frees its place.
    drop(first);
    let mut status = 0;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let res = post_modern(&url, &body, &[]).await;
        status = res.status().as_u16();
        if status == 200 {
            break;
        }
    }
    assert_eq!(status, 200);
}

/// Arguments declared with `#[header]` travel as `Mcp-Param-*` headers in 2026-07-28 (SEP-2243):
/// declared as `x-mcp-header` in the schema, checked against the body (base64 form decoded,
/// numbers compared as numbers), refused with 400 / -32020 when missing, unreadable or different,
/// and not expected when the argument is absent.
#[tokio::test]
async fn arguments_sent_as_headers_must_agree_with_the_body() {
    let addr = start(HttpOptions::default()).await;
    let url = format!("http://{addr}/mcp");
    let list = post_modern(&url, &modern(1, "tools/list", json!({})), &[]).await;
    let tools: Value = list.json().await.unwrap();
    let tool = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "queue_job")
        .unwrap()
        .clone();
    assert_eq!(
        tool["inputSchema"]["properties"]["region"]["x-mcp-header"],
        "Region"
    );
    assert_eq!(
        tool["inputSchema"]["properties"]["priority"]["x-mcp-header"],
        "priority"
    );
    assert!(
        tool["inputSchema"]["properties"]["job"]
            .get("x-mcp-header")
            .is_none()
    );

    let call = |args: Value| {
        modern(
            2,
            "tools/call",
            json!({"name": "queue_job", "arguments": args}),
        )
    };
    let args = json!({"region": "eu-west", "priority": 7, "job": "report"});
    let served = [
        vec![("mcp-param-region", "eu-west"), ("mcp-param-priority", "7")],
        // Header names in any case; the base64 form; a number written another way.
        vec![
            ("MCP-PARAM-REGION", "=?base64?ZXUtd2VzdA==?="),
            ("Mcp-Param-Priority", "7.0"),
        ],
    ];
    for headers in &served {
        let res = post_modern(&url, &call(args.clone()), headers).await;
        assert_eq!(res.status(), 200, "{headers:?}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(
            body["result"]["content"][0]["text"],
            "report queued in eu-west at 7"
        );
    }
    let refused = [
        (vec![("mcp-param-priority", "7")], "missing"),
        (
            vec![("mcp-param-region", "eu-east"), ("mcp-param-priority", "7")],
            "'eu-east'",
        ),
        (
            vec![("mcp-param-region", "eu-west"), ("mcp-param-priority", "8")],
            "'8'",
        ),
        (
            vec![
                ("mcp-param-region", "=?base64?ZXUtd2VzdA?="),
                ("mcp-param-priority", "7"),
            ],
            "base64",
        ),
        (
            vec![
                ("mcp-param-region", "=?base64?ZXUt!!d2VzdA==?="),
                ("mcp-param-priority", "7"),
            ],
            "base64",
        ),
    ];
    for (headers, why) in &refused {
        let res = post_modern(&url, &call(args.clone()), headers).await;
        assert_eq!(res.status(), 400, "{headers:?}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], -32020, "{body}");
        let msg = body["error"]["message"].as_str().unwrap();
        assert!(msg.contains(why), "{msg}");
    }
    // Without the wrapper a value is literal; an absent argument expects no header.
    let literal = json!({"region": "=?base64?ZXUtd2VzdA==", "job": "x"});
    let res = post_modern(
        &url,
        &call(literal),
        &[("mcp-param-region", "=?base64?ZXUtd2VzdA==")],
    )
    .await;
    assert_eq!(res.status(), 200);
    let res = post_modern(
        &url,
        &call(json!({"region": "eu", "job": "x"})),
        &[("mcp-param-region", "eu")],
    )
    .await;
    assert_eq!(
        res.status(),
        200,
        "priority absent: no Mcp-Param-Priority expected"
    );
}

/// A header declaration that clients could not follow is refused when the server is built.
#[test]
fn bad_header_declarations_are_build_errors() {
    let tool = mcp_runtime::catalog::Tool::new("routed", |_ctx, _args| async { "ok" }).input_schema(
        json!({"type": "object", "properties": {"tags": {"type": "array", "x-mcp-header": "Tags"}}}),
    );
    let err = McpServer::new("Bad").add_tool(tool).build().err().unwrap();
    assert!(
        err.to_string()
            .contains("`x-mcp-header: Tags` is on `tags`, which is not a string"),
        "{err}"
    );
}

/// The app of an instance of `server` sharing its sessions through the Redis at `redis` (keys
/// under `test:<scope>`), with `options`.
fn shared_app(server: &Server, redis: &str, scope: &str, options: HttpOptions) -> Router {
    let store = mcp_runtime::store::RedisStore::new(redis, "test")
        .unwrap()
        .scoped(scope);
    let options = options.sessions(|s| s.store(std::sync::Arc::new(store)));
    Router::new().nest_mcp(
        "/mcp",
        server.http_app_with(Transport::StreamableHttp, options),
    )
}

/// An instance of the fixture server sharing its sessions (see [`shared_app`]); its URL.
async fn shared_instance(redis: &str, scope: &str, options: HttpOptions) -> String {
    let addr = serve(shared_app(&server(), redis, scope, options)).await;
    format!("http://{addr}/mcp")
}

/// With a shared store, a session busy on one instance (its GET stream open, no request for
/// longer than the idle timeout) stays alive for the other instances, as it would alone; an
/// idle one expires everywhere.
#[tokio::test]
async fn a_busy_session_outlives_the_idle_timeout_on_every_instance() {
    if !mcp_tests::needs(mcp_tests::REDIS) {
        return;
    }
    let redis = mcp_tests::Redis::start();
    let options =
        || HttpOptions::default().sessions(|s| s.idle_timeout(Duration::from_millis(900)));
    let a = shared_instance(&redis.url, "busy", options()).await;
    let b = shared_instance(&redis.url, "busy", options()).await;
    let busy = open_session(&a).await;
    let idle = open_session(&a).await;
    let stream = mcp_tests::http()
        .get(&a)
        .header("accept", "text/event-stream")
        .header("mcp-protocol-version", V)
        .header("mcp-session-id", &busy)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let res = post(
        &b,
        &[("mcp-session-id", &busy), ("mcp-protocol-version", V)],
        list.clone(),
    )
    .await;
    assert_eq!(res.status(), 200, "the busy session expired");
    let res = post(
        &b,
        &[("mcp-session-id", &idle), ("mcp-protocol-version", V)],
        list,
    )
    .await;
    assert_eq!(res.status(), 404, "the idle session lived on");
    // Ended on B, the session ends on A too: its GET stream there closes.
    let res = mcp_tests::http()
        .delete(&b)
        .header("mcp-session-id", &busy)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let events = tokio::time::timeout(Duration::from_secs(3), SseReader::new(stream).collect())
        .await
        .expect("the GET stream on A ends once the session is ended on B");
    assert!(events.iter().all(|e| e.data.is_empty()), "{events:?}");
}

/// With a shared store: a list change on one instance reaches a GET stream held by another, and
/// that GET stream, cut, is resumed on the first instance with the event it missed.
#[tokio::test]
async fn list_changes_reach_every_instance_and_get_streams_resume_on_another() {
    if !mcp_tests::needs(mcp_tests::REDIS) {
        return;
    }
    let redis = mcp_tests::Redis::start();
    let app = |s: &Server| shared_app(s, &redis.url, "changes", HttpOptions::default());
    let (server_a, server_b) = (server(), server());
    let a = format!("http://{}/mcp", serve(app(&server_a)).await);
    let b = format!("http://{}/mcp", serve(app(&server_b)).await);
    let sid = open_session(&a).await;
    let get = |url: String, last: Option<String>| {
        let sid = sid.clone();
        async move {
            let mut req = mcp_tests::http()
                .get(url)
                .header("accept", "text/event-stream")
                .header("mcp-protocol-version", V)
                .header("mcp-session-id", sid);
            if let Some(l) = last {
                req = req.header("last-event-id", l);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 200);
            SseReader::new(res)
        }
    };
    async fn message(stream: &mut SseReader) -> SseEvent {
        loop {
            let ev = tokio::time::timeout(Duration::from_secs(5), stream.next())
                .await
                .expect("an event within 5 s")
                .expect("the stream is open");
            if !ev.data.is_empty() {
                return ev;
            }
        }
    }
    let mut on_b = get(b.clone(), None).await;
    redis.wait_for_subscribers("test:changes:bus", 2).await;
    server_a
        .change(|c| assert!(c.set_tool_enabled("echo", false)))
        .unwrap();
    let first = message(&mut on_b).await;
    assert_eq!(first.json()["method"], "notifications/tools/list_changed");
    let first_id = first.id.clone().expect("an event id");
    // Another change; once it is on the stream (so logged), the stream is cut, and a client
    // that had seen only the first event resumes after it on A.
    server_a
        .change(|c| assert!(c.set_tool_enabled("echo", true)))
        .unwrap();
    let second = message(&mut on_b).await;
    drop(on_b);
    let resumed = get(a.clone(), Some(first_id.clone())).await.collect().await;
    let missed: Vec<&SseEvent> = resumed.iter().filter(|e| !e.data.is_empty()).collect();
    assert_eq!(missed.len(), 1, "{resumed:?}");
    assert_eq!(missed[0].data, second.data);
    assert_eq!(missed[0].id, second.id);
    let (stream, seq) = first_id.split_once('-').unwrap();
    let next: u64 = seq.parse::<u64>().unwrap() + 1;
    assert_eq!(
        missed[0].id.as_deref(),
        Some(format!("{stream}-{next}").as_str())
    );
}

/// With a shared store, `notifications/cancelled` that lands on another instance than the one
/// running the call cancels it there.
#[tokio::test]
async fn a_cancellation_reaches_the_instance_running_the_call() {
    if !mcp_tests::needs(mcp_tests::REDIS) {
        return;
    }
    let redis = mcp_tests::Redis::start();
    let a = shared_instance(&redis.url, "cancel", HttpOptions::default()).await;
    let b = shared_instance(&redis.url, "cancel", HttpOptions::default()).await;
    let sid = open_session(&a).await;
    // B listens once it has served a request.
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let h = [
        ("mcp-session-id", sid.as_str()),
        ("mcp-protocol-version", V),
    ];
    assert_eq!(post(&b, &h, list).await.status(), 200);
    redis.wait_for_subscribers("test:cancel:bus", 2).await;
    let pending = {
        let (a, sid) = (a.clone(), sid.clone());
        tokio::spawn(async move {
            let call = call(
                78,
                "wait_cancel",
                json!({"tag": "cancel-elsewhere", "millis": 10000}),
                None,
            );
            post(
                &a,
                &[("mcp-session-id", &sid), ("mcp-protocol-version", V)],
                call,
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": 78, "reason": "test"}});
    assert_eq!(post(&b, &h, cancel).await.status(), 202);
    let res = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .expect("the call ends")
        .unwrap();
    assert_eq!(res.status(), 204, "no response for a cancelled request");
    assert!(was_cancelled("cancel-elsewhere"));
}
