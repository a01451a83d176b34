//! Tools that ask the client (elicitation, sampling, roots) in the handshake era, over real
//! sockets: the question on the call's stream, the answer POSTed back, refusals of answers that
//! do not belong, time-outs, and the transports that cannot ask.

use axum::Router;
use mcp_runtime::{McpRouterExt as _, McpServer, Server, Transport, http::HttpOptions};
use mcp_tests::{SseReader, assert_valid, serve};
use serde_json::{Value, json};
use std::time::Duration;

const V: &str = "2025-11-25";

fn server() -> Server {
    McpServer::new("Asking").domain("ask").build().unwrap()
}

async fn start(options: HttpOptions, transport: Transport) -> String {
    let app = Router::new().nest_mcp("/mcp", server().http_app_with(transport, options));
    format!("http://{}/mcp", serve(app).await)
}

/// Opens a session declaring `capabilities`; returns its id.
async fn session(url: &str, capabilities: Value) -> String {
    mcp_tests::open_session(url, V, capabilities).await
}

async fn post(url: &str, sid: Option<&str>, body: Value) -> reqwest::Response {
    mcp_tests::post_in_session(url, V, sid, &body).await
}

fn call(id: i64, tool: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": {}}})
}

fn text(answer: &Value) -> &str {
    answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test]
async fn an_elicitation_round_trip_and_answers_that_do_not_belong() {
    let url = start(HttpOptions::default(), Transport::StreamableHttp).await;
    let sid = session(&url, json!({"elicitation": {}})).await;
    let other = session(&url, json!({"elicitation": {}})).await;
    let res = post(&url, Some(&sid), call(1, "ask_contact")).await;
    assert_eq!(
        res.headers()["content-type"],
        "text/event-stream",
        "upgraded to SSE to ask"
    );
    let mut stream = SseReader::new(res);
    let question = stream.next_json().await;
    assert_valid(V, "ElicitRequest", &question);
    assert_eq!(question["params"]["message"], "Who are you?");
    let schema = &question["params"]["requestedSchema"];
    assert_eq!(schema["type"], "object");
    assert_eq!(
        schema["properties"]["name"],
        json!({"type": "string", "description": "Your name."})
    );
    assert_eq!(schema["properties"]["tickets"]["maximum"], 255);
    assert_eq!(schema["required"], json!(["name", "tickets"]));
    let id = question["id"].clone();

    // An unknown id, and the right id from another session: refused, never delivered.
    let answer = |id: Value| {
        json!({"jsonrpc": "2.0", "id": id, "result": {"action": "accept",
        "content": {"name": "Ada", "tickets": 2}}})
    };
    let res = post(&url, Some(&sid), answer(json!("mcp-q-999"))).await;
    assert_eq!(res.status(), 400);
    let res = post(&url, Some(&other), answer(id.clone())).await;
    assert_eq!(res.status(), 400, "another session cannot answer");
    // The right answer.
    let res = post(&url, Some(&sid), answer(id.clone())).await;
    assert_eq!(res.status(), 202);
    let result = stream.next_json().await;
    assert_eq!(result["id"], 1);
    assert_eq!(text(&result), "accepted Ada with 2 tickets, news=false");
    // Answered once: a second answer is refused.
    let res = post(&url, Some(&sid), answer(id)).await;
    assert_eq!(res.status(), 400);

    // Decline, and a client error answer.
    let res = post(&url, Some(&sid), call(2, "ask_contact")).await;
    let mut stream = SseReader::new(res);
    let q = stream.next_json().await;
    post(
        &url,
        Some(&sid),
        json!({"jsonrpc": "2.0", "id": q["id"], "result": {"action": "decline"}}),
    )
    .await;
    assert_eq!(text(&stream.next_json().await), "declined");
    let res = post(&url, Some(&sid), call(3, "ask_contact")).await;
    let mut stream = SseReader::new(res);
    let q = stream.next_json().await;
    post(&url, Some(&sid), json!({"jsonrpc": "2.0", "id": q["id"], "error": {"code": -1, "message": "user closed the dialog"}})).await;
    assert_eq!(
        text(&stream.next_json().await),
        "error: the client refused the request (-1): user closed the dialog"
    );
    // Values that do not fit the form.
    let res = post(&url, Some(&sid), call(4, "ask_contact")).await;
    let mut stream = SseReader::new(res);
    let q = stream.next_json().await;
    post(&url, Some(&sid), json!({"jsonrpc": "2.0", "id": q["id"], "result": {"action": "accept", "content": {"name": "Ada", "tickets": 1000}}})).await;
    assert!(text(&stream.next_json().await).starts_with("error: the client's answer is not valid"));
}

#[tokio::test]
async fn sampling_and_roots_round_trip() {
    let url = start(HttpOptions::default(), Transport::StreamableHttp).await;
    let sid = session(&url, json!({"sampling": {}, "roots": {}})).await;
    let res = post(&url, Some(&sid), call(1, "ask_model_and_roots")).await;
    let mut stream = SseReader::new(res);
    let q = stream.next_json().await;
    assert_eq!(q["method"], "sampling/createMessage");
    assert_valid(V, "CreateMessageRequest", &q);
    assert_eq!(q["params"]["maxTokens"], 20);
    let res = post(&url, Some(&sid), json!({"jsonrpc": "2.0", "id": q["id"], "result": {
        "role": "assistant", "content": {"type": "text", "text": "hi"}, "model": "m1", "stopReason": "endTurn"}}))
    .await;
    assert_eq!(res.status(), 202);
    let q = stream.next_json().await;
    assert_eq!(q["method"], "roots/list");
    assert_valid(V, "ListRootsRequest", &q);
    post(
        &url,
        Some(&sid),
        json!({"jsonrpc": "2.0", "id": q["id"], "result": {
        "roots": [{"uri": "file:///work", "name": "work"}, {"uri": "file:///tmp"}]}}),
    )
    .await;
    let result = stream.next_json().await;
    assert_eq!(
        text(&result),
        "model m1 said \"hi\"; roots file:///work,file:///tmp"
    );
}

#[tokio::test]
async fn what_the_client_did_not_declare_is_not_asked_and_the_tool_may_recover() {
    let url = start(HttpOptions::default(), Transport::StreamableHttp).await;
    let sid = session(&url, json!({})).await;
    let res = post(&url, Some(&sid), call(1, "ask_contact")).await;
    assert_eq!(
        res.headers()["content-type"],
        "application/json",
        "nothing was sent"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        text(&body),
        "error: the client did not declare the `elicitation` capability, so it cannot be asked"
    );
    // A tool that handles a missing capability keeps its own answer (not a -32021).
    let body: Value = post(&url, Some(&sid), call(2, "needs_sampling_or_not"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(text(&body), "went without sampling");
}

#[tokio::test]
async fn a_question_times_out_or_ends_with_the_session() {
    // The server's setting, whatever the transport.
    let server = McpServer::new("Asking")
        .domain("ask")
        .client_request_timeout(Duration::from_millis(300));
    let app = Router::new().nest_mcp(
        "/mcp",
        server.http_app_with(Transport::StreamableHttp, HttpOptions::default()),
    );
    let url = format!("http://{}/mcp", serve(app).await);
    let sid = session(&url, json!({"elicitation": {}})).await;
    let res = post(&url, Some(&sid), call(1, "ask_contact")).await;
    let mut stream = SseReader::new(res);
    let q = stream.next_json().await;
    assert_eq!(q["method"], "elicitation/create");
    assert_eq!(
        text(&stream.next_json().await),
        "error: the client did not answer in time"
    );
    // The late answer is refused.
    let res = post(
        &url,
        Some(&sid),
        json!({"jsonrpc": "2.0", "id": q["id"], "result": {"action": "cancel"}}),
    )
    .await;
    assert_eq!(res.status(), 400);

    // Ending the session ends the wait.
    let url = start(HttpOptions::default(), Transport::StreamableHttp).await;
    let sid = session(&url, json!({"elicitation": {}})).await;
    let res = post(&url, Some(&sid), call(1, "ask_contact")).await;
    let mut stream = SseReader::new(res);
    stream.next_json().await;
    let res = mcp_tests::http()
        .delete(&url)
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    // The call is cancelled with its session: its stream ends without a result.
    let rest = tokio::time::timeout(Duration::from_secs(5), stream.collect())
        .await
        .expect("the stream ends");
    assert!(
        rest.iter().all(|e| !e.data.contains("accepted")),
        "{rest:?}"
    );
}

#[tokio::test]
async fn transports_that_cannot_ask_say_so() {
    // Request-response: no stream to carry the question.
    let url = start(HttpOptions::default(), Transport::Http).await;
    let init = post(&url, None, json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": V, "capabilities": {"elicitation": {}}, "clientInfo": {"name": "t", "version": "0"}}}))
    .await;
    assert_eq!(init.status(), 200);
    let body: Value = post(&url, None, call(1, "ask_contact"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        text(&body),
        "error: the client cannot be asked here: this transport answers with one JSON response \
         and cannot carry a question; use Streamable HTTP with a session"
    );
    // Streamable HTTP answering JSON only.
    let url = start(
        HttpOptions::default().response_mode(mcp_runtime::http::ResponseMode::Json),
        Transport::StreamableHttp,
    )
    .await;
    let sid = session(&url, json!({"elicitation": {}})).await;
    let body: Value = post(&url, Some(&sid), call(1, "ask_contact"))
        .await
        .json()
        .await
        .unwrap();
    assert!(text(&body).contains("answered with JSON only"), "{body}");
}

#[tokio::test]
async fn the_legacy_sse_transport_asks_on_its_stream() {
    let url = start(HttpOptions::default(), Transport::Sse).await;
    let res = mcp_tests::http()
        .get(format!("{url}/sse"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let mut stream = SseReader::new(res);
    let endpoint = stream.next().await.unwrap();
    let post_url = format!("{}{}", url.trim_end_matches("/mcp"), endpoint.data);
    let send = |body: Value| {
        let u = post_url.clone();
        async move {
            mcp_tests::http()
                .post(u)
                .header("content-type", "application/json")
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    send(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {"elicitation": {}}, "clientInfo": {"name": "t", "version": "0"}}}))
    .await;
    stream.next_json().await;
    assert_eq!(send(call(1, "ask_contact")).await, 202);
    let q = stream.next_json().await;
    assert_eq!(q["method"], "elicitation/create");
    assert_eq!(
        send(
            json!({"jsonrpc": "2.0", "id": q["id"], "result": {"action": "accept",
            "content": {"name": "Bo", "tickets": 1, "news": true}}})
        )
        .await,
        202
    );
    let result = stream.next_json().await;
    assert_eq!(text(&result), "accepted Bo with 1 tickets, news=true");
}

#[tokio::test]
async fn a_notification_sent_just_before_the_result_is_not_lost() {
    let url = start(HttpOptions::default(), Transport::StreamableHttp).await;
    for sid in [None, Some(session(&url, json!({})).await)] {
        let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
            "name": "quick_progress", "arguments": {}, "_meta": {"progressToken": "p"}}});
        let res = post(&url, sid.as_deref(), body).await;
        assert_eq!(
            res.headers()["content-type"],
            "text/event-stream",
            "{sid:?}"
        );
        let mut stream = SseReader::new(res);
        let progress = stream.next_json().await;
        assert_eq!(progress["method"], "notifications/progress");
        assert_eq!(progress["params"]["progressToken"], "p");
        let result = stream.next_json().await;
        assert_eq!(result["id"], 7);
        assert_eq!(text(&result), "done");
    }
}

// ---- 2026-07-28: input-required rounds ----

const V26: &str = "2026-07-28";

async fn post_2026(url: &str, id: i64, tool: &str, caps: Value, extra: Value) -> Value {
    let mut params = json!({"name": tool, "arguments": {}, "_meta": {
        "io.modelcontextprotocol/protocolVersion": V26,
        "io.modelcontextprotocol/clientCapabilities": caps}});
    if let Value::Object(e) = extra {
        params.as_object_mut().unwrap().extend(e);
    }
    let res = mcp_tests::http()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", V26)
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .json(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params}))
        .send()
        .await
        .unwrap();
    let is_sse = res.headers()["content-type"] == "text/event-stream";
    if is_sse {
        let mut r = SseReader::new(res);
        loop {
            let m = r.next_json().await;
            if m.get("id").is_some() {
                return m;
            }
        }
    }
    res.json().await.unwrap()
}

fn caps_all() -> Value {
    json!({"elicitation": {}, "sampling": {}})
}

#[tokio::test]
async fn input_required_rounds_on_both_http_transports() {
    use crate::fixtures::ROUND_RUNS;
    use std::sync::atomic::Ordering;
    for transport in [Transport::StreamableHttp, Transport::Http] {
        let url = start(HttpOptions::default(), transport).await;
        let before = ROUND_RUNS.load(Ordering::SeqCst);
        // Round 1: two questions asked together.
        let r1 = post_2026(&url, 1, "ask_in_rounds", caps_all(), json!({})).await;
        assert_valid(V26, "JSONRPCResultResponse", &r1);
        let result = &r1["result"];
        assert_valid(V26, "InputRequiredResult", result);
        assert_eq!(result["resultType"], "input_required");
        let requests = result["inputRequests"].as_object().unwrap();
        assert_eq!(requests.len(), 2, "{result}");
        assert_eq!(requests["name"]["method"], "elicitation/create");
        assert_eq!(requests["model"]["method"], "sampling/createMessage");
        let state = result["requestState"].as_str().unwrap().to_owned();
        // Round 2: the answers; the tool runs again and asks its next question (keyed q1).
        let answers = json!({"inputResponses": {
            "name": {"action": "accept", "content": {"name": "Ada"}},
            "model": {"role": "assistant", "content": {"type": "text", "text": "hi"}, "model": "m"}},
            "requestState": state});
        let r2 = post_2026(&url, 2, "ask_in_rounds", caps_all(), answers).await;
        let result = &r2["result"];
        assert_eq!(result["resultType"], "input_required");
        assert_eq!(
            result["inputRequests"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            ["q1"]
        );
        assert_eq!(
            result["inputRequests"]["q1"]["params"]["requestedSchema"]["properties"]["color"]["type"],
            "string"
        );
        let state = result["requestState"].as_str().unwrap().to_owned();
        // Round 3: only the new answer; the earlier ones come back in the sealed state.
        let r3 = post_2026(
            &url,
            3,
            "ask_in_rounds",
            caps_all(),
            json!({
            "inputResponses": {"q1": {"action": "accept", "content": {"color": "green"}}},
            "requestState": state}),
        )
        .await;
        assert_eq!(r3["result"]["resultType"], "complete", "{r3}");
        assert_eq!(text(&r3), "Ada likes green; the model said hi");
        assert_eq!(
            ROUND_RUNS.load(Ordering::SeqCst) - before,
            3,
            "run once per round"
        );

        // A changed state is refused; so is one for another tool.
        let mut tampered = state.clone().into_bytes();
        tampered[5] ^= 1;
        let e = post_2026(
            &url,
            4,
            "ask_in_rounds",
            caps_all(),
            json!({
            "inputResponses": {"q1": {"action": "accept", "content": {"color": "red"}}},
            "requestState": String::from_utf8(tampered).unwrap()}),
        )
        .await;
        assert_eq!(e["error"]["code"], -32602, "{e}");
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("integrity")
        );
        let e = post_2026(
            &url,
            5,
            "ask_contact",
            caps_all(),
            json!({"requestState": state}),
        )
        .await;
        assert_eq!(e["error"]["code"], -32602);
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("another request")
        );
        // Invalid inputResponses.
        let e = post_2026(
            &url,
            6,
            "ask_contact",
            caps_all(),
            json!({"inputResponses": [1]}),
        )
        .await;
        assert_eq!(e["error"]["code"], -32602);
        // Undeclared capabilities are not asked: the tool sees the error at once.
        let r = post_2026(&url, 7, "ask_contact", json!({}), json!({})).await;
        assert_eq!(r["result"]["resultType"], "complete");
        assert!(text(&r).contains("did not declare the `elicitation` capability"));
    }
}

#[tokio::test]
async fn instances_sharing_a_key_accept_each_others_request_state() {
    let app = |secret: &str| {
        let server = McpServer::new("Asking")
            .domain("ask")
            .request_state_key(secret)
            .build()
            .unwrap();
        Router::new().nest_mcp("/mcp", server.http_app(Transport::StreamableHttp))
    };
    let a = format!("http://{}/mcp", serve(app("shared secret")).await);
    let b = format!("http://{}/mcp", serve(app("shared secret")).await);
    let c = format!("http://{}/mcp", serve(app("another secret")).await);
    let r1 = post_2026(&a, 1, "ask_contact", caps_all(), json!({})).await;
    let state = r1["result"]["requestState"].as_str().unwrap().to_owned();
    let answer = json!({"inputResponses": {"q1": {"action": "accept", "content": {"name": "Ada", "tickets": 3}}},
        "requestState": state});
    let on_b = post_2026(&b, 2, "ask_contact", caps_all(), answer.clone()).await;
    assert_eq!(text(&on_b), "accepted Ada with 3 tickets, news=false");
    let on_c = post_2026(&c, 2, "ask_contact", caps_all(), answer).await;
    assert_eq!(
        on_c["error"]["code"], -32602,
        "a foreign state is never trusted"
    );
}

#[tokio::test]
async fn a_tool_closes_its_stream_and_the_client_resumes_with_last_event_id() {
    let url = start(HttpOptions::default(), Transport::StreamableHttp).await;
    let sid = session(&url, json!({"elicitation": {}})).await;
    let res = post(&url, Some(&sid), call(1, "close_then_ask")).await;
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    // The response ends after the priming event (with `retry`), before any result.
    let events = tokio::time::timeout(Duration::from_secs(5), SseReader::new(res).collect())
        .await
        .expect("the server closes the stream");
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0].data.is_empty() && events[0].retry.is_some());
    let last = events[0].id.clone().unwrap();
    // Resumed: the question asked meanwhile, then (after the answer) the result.
    let res = mcp_tests::http()
        .get(&url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &sid)
        .header("mcp-protocol-version", V)
        .header("last-event-id", &last)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut resumed = SseReader::new(res);
    let q = resumed.next_json().await;
    assert_eq!(q["method"], "elicitation/create");
    let res = post(
        &url,
        Some(&sid),
        json!({"jsonrpc": "2.0", "id": q["id"], "result": {
        "action": "accept", "content": {"name": "Ada", "tickets": 1}}}),
    )
    .await;
    assert_eq!(res.status(), 202);
    let result = resumed.next_json().await;
    assert_eq!(result["id"], 1);
    assert_eq!(text(&result), "closed=true; hello Ada");
}

#[tokio::test]
async fn url_elicitation_only_for_clients_that_declared_it() {
    let url = start(HttpOptions::default(), Transport::StreamableHttp).await;
    let sid = session(&url, json!({"elicitation": {"url": {}}})).await;
    let res = post(&url, Some(&sid), call(1, "ask_url")).await;
    let mut stream = SseReader::new(res);
    let q = stream.next_json().await;
    assert_valid(V, "ElicitRequest", &q);
    assert_eq!(q["params"]["mode"], "url");
    assert_eq!(q["params"]["url"], "https://example.com/login");
    let id = q["params"]["elicitationId"].as_str().unwrap().to_owned();
    post(
        &url,
        Some(&sid),
        json!({"jsonrpc": "2.0", "id": q["id"], "result": {"action": "accept"}}),
    )
    .await;
    let done = stream.next_json().await;
    assert_eq!(done["method"], "notifications/elicitation/complete");
    assert_eq!(done["params"]["elicitationId"], id);
    assert_valid(V, "ElicitationCompleteNotification", &done);
    let result = stream.next_json().await;
    assert_eq!(text(&result), format!("Accept(()) {id} told=true"));
    // A URL-only client is not sent forms; a form-only client is not sent URLs.
    let body: Value = post(&url, Some(&sid), call(2, "ask_contact"))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        text(&body).contains("did not declare the `elicitation` capability"),
        "{body}"
    );
    let forms = session(&url, json!({"elicitation": {}})).await;
    let body: Value = post(&url, Some(&forms), call(3, "ask_url"))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        text(&body).contains("did not declare the `elicitation` capability"),
        "{body}"
    );
}

#[tokio::test]
async fn an_answer_from_another_principal_is_never_delivered() {
    use mcp_runtime::auth::ApiKeyAuth;
    use mcp_runtime::auth::Principal;
    let principal = |s: &str| Principal {
        subject: s.into(),
        ..Principal::default()
    };
    let server = McpServer::new("Asking")
        .domain("ask")
        .auth(ApiKeyAuth::keys([
            ("key-alice", principal("alice")),
            ("key-bob", principal("bob")),
        ]))
        .build()
        .unwrap();
    let app = Router::new().nest_mcp("/mcp", server.http_app(Transport::StreamableHttp));
    let url = format!("http://{}/mcp", serve(app).await);
    let send = |key: &'static str, sid: Option<String>, body: Value| {
        let url = url.clone();
        async move {
            let mut req = mcp_tests::http()
                .post(&url)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .header("mcp-protocol-version", V)
                .header("x-api-key", key);
            if let Some(s) = sid {
                req = req.header("mcp-session-id", s);
            }
            req.json(&body).send().await.unwrap()
        }
    };
    let init = send("key-alice", None, json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": V, "capabilities": {"elicitation": {}}, "clientInfo": {"name": "t", "version": "0"}}}))
    .await;
    let sid = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let res = send("key-alice", Some(sid.clone()), call(1, "ask_contact")).await;
    let mut stream = SseReader::new(res);
    let q = stream.next_json().await;
    let answer = json!({"jsonrpc": "2.0", "id": q["id"], "result": {"action": "accept",
        "content": {"name": "Mallory", "tickets": 9}}});
    // Bob, with Alice's session id: as unknown as a session that never existed.
    let res = send("key-bob", Some(sid.clone()), answer.clone()).await;
    assert_eq!(res.status(), 404);
    let res = send(
        "key-alice",
        Some(sid),
        json!({"jsonrpc": "2.0", "id": q["id"], "result": {
        "action": "accept", "content": {"name": "Alice", "tickets": 1}}}),
    )
    .await;
    assert_eq!(res.status(), 202);
    assert_eq!(
        text(&stream.next_json().await),
        "accepted Alice with 1 tickets, news=false"
    );
}

#[tokio::test]
async fn sampling_with_tools_only_for_clients_that_declared_it() {
    let url = start(HttpOptions::default(), Transport::StreamableHttp).await;
    let plain = session(&url, json!({"sampling": {}})).await;
    let body: Value = post(&url, Some(&plain), call(1, "ask_with_tools"))
        .await
        .json()
        .await
        .unwrap();
    assert!(text(&body).contains("`sampling.tools`"), "{body}");
    let sid = session(&url, json!({"sampling": {"tools": {}}})).await;
    let res = post(&url, Some(&sid), call(2, "ask_with_tools")).await;
    let mut stream = SseReader::new(res);
    let q = stream.next_json().await;
    assert_valid(V, "CreateMessageRequest", &q);
    assert_eq!(q["params"]["tools"][0]["name"], "weather");
    post(&url, Some(&sid), json!({"jsonrpc": "2.0", "id": q["id"], "result": {"role": "assistant",
        "content": [{"type": "tool_use", "id": "t1", "name": "weather", "input": {"city": "Paris"}}],
        "model": "m", "stopReason": "toolUse"}}))
    .await;
    assert!(text(&stream.next_json().await).contains("tool_use"));
}

#[tokio::test]
async fn a_client_that_drops_the_stream_mid_question_can_still_answer_and_resume() {
    // In the handshake era a disconnect is not a cancellation: the question stays open, the
    // answer is taken, and the result waits for the client to resume.
    let url = start(HttpOptions::default(), Transport::StreamableHttp).await;
    let sid = session(&url, json!({"elicitation": {}})).await;
    let res = post(&url, Some(&sid), call(1, "ask_contact")).await;
    let mut stream = SseReader::new(res);
    let first = stream.next().await.unwrap();
    let q = stream.next_json().await;
    drop(stream);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let res = post(
        &url,
        Some(&sid),
        json!({"jsonrpc": "2.0", "id": q["id"], "result": {
        "action": "accept", "content": {"name": "Ada", "tickets": 1}}}),
    )
    .await;
    assert_eq!(res.status(), 202);
    let res = mcp_tests::http()
        .get(&url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &sid)
        .header("mcp-protocol-version", V)
        .header("last-event-id", first.id.unwrap())
        .send()
        .await
        .unwrap();
    let mut resumed = SseReader::new(res);
    let replayed = resumed.next_json().await;
    assert_eq!(replayed["method"], "elicitation/create");
    let result = resumed.next_json().await;
    assert_eq!(text(&result), "accepted Ada with 1 tickets, news=false");
}
