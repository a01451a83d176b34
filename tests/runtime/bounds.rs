//! What a client can make the server hold, see or keep running, over real HTTP: subscriptions
//! (length, bytes, the catalog, scopes, the app's check), client strings in answers, request
//! ids in flight, calls whose client went away, tasks of anonymous callers, and input-required
//! states bound to their request.

use crate::fixtures::{Counter, was_cancelled};
use axum::Router;
use mcp_runtime::auth::ApiKeyAuth;
use mcp_runtime::{
    McpRouterExt as _, McpServer, Transport, auth::Principal, catalog::Resource,
    catalog::Subscription, catalog::Tool, http::HttpOptions, protocol::code,
};
use mcp_tests::{SseReader, serve};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const V: &str = "2025-11-25";
const V26: &str = "2026-07-28";

fn who(name: &str, scopes: &[&str]) -> Principal {
    Principal {
        subject: name.into(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        ..Principal::default()
    }
}

/// POSTs `body` with `headers`; the status and the JSON body (the last message of an SSE body).
async fn post(url: &str, headers: &[(&str, &str)], body: &Value) -> (u16, Value) {
    let mut req = mcp_tests::http()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.body(body.to_string()).send().await.unwrap();
    let status = res.status().as_u16();
    if res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        == Some("text/event-stream")
    {
        let events = SseReader::new(res).collect().await;
        let last = events
            .iter()
            .rev()
            .find(|e| !e.data.is_empty())
            .expect("an SSE answer has a message");
        return (status, last.json());
    }
    let text = res.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, body)
}

/// Opens a session of `V` with `headers`; its id.
async fn session(url: &str, headers: &[(&str, &str)]) -> String {
    let res = mcp_tests::http()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .headers(
            headers
                .iter()
                .map(|(k, v)| {
                    (
                        reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                        reqwest::header::HeaderValue::from_str(v).unwrap(),
                    )
                })
                .collect(),
        )
        .json(&json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": V, "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.headers()["mcp-session-id"].to_str().unwrap().to_owned()
}

fn request(id: i64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// A server whose resources are notes (any path), a secret needing the `admin` scope, and
/// projects under their owner's name, with the owner rule as its subscription check.
fn subscriptions_server() -> McpServer {
    McpServer::new("Subscriptions")
        .add_resource(Resource::template(
            "notes:///{+path}",
            "note",
            |_, uri| async move { uri },
        ))
        .add_resource(
            Resource::new("secret://plan", "plan", |_, _| async { "the plan" })
                .require_scopes(["admin"]),
        )
        .add_resource(Resource::template(
            "owned://{owner}/{id}",
            "project",
            |_, uri| async move { uri },
        ))
        .auth(ApiKeyAuth::keys([
            ("key-alice", who("alice", &[])),
            ("key-bob", who("bob", &[])),
        ]))
        .authorize_subscriptions(|s: Subscription| async move {
            match (s.uri.strip_prefix("owned://"), s.principal) {
                (Some(rest), Some(p)) => rest.split('/').next() == Some(p.subject.as_str()),
                (Some(_), None) => false,
                (None, _) => true,
            }
        })
}

#[tokio::test]
async fn subscriptions_are_bounded_served_in_scope_and_authorized() {
    let app = Router::new().nest_mcp(
        "/mcp",
        subscriptions_server().http_app(Transport::StreamableHttp),
    );
    let url = format!("http://{}/mcp", serve(app).await);
    let alice_key = [("x-api-key", "key-alice")];
    let sid = session(&url, &alice_key).await;
    let alice = [
        ("x-api-key", "key-alice"),
        ("mcp-session-id", sid.as_str()),
        ("mcp-protocol-version", V),
    ];
    let subscribe = |uri: String| request(1, "resources/subscribe", json!({ "uri": uri }));

    // A URI past 8 KiB is refused before anything else, and the answer does not echo it.
    let long = format!("notes:///{}", "a".repeat(9000));
    let (status, e) = post(&url, &alice, &subscribe(long)).await;
    assert_eq!(status, 200);
    assert_eq!(e["error"]["code"], code::INVALID_PARAMS, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 8192"),
        "{e}"
    );
    assert!(e.to_string().len() < 1000);

    // A URI the catalog does not serve.
    let (_, e) = post(&url, &alice, &subscribe("nothing://here".into())).await;
    assert_eq!(e["error"]["code"], code::RESOURCE_NOT_FOUND, "{e}");

    // A resource whose scopes the caller lacks: 403 with the challenge, as for reading it.
    let (status, e) = post(&url, &alice, &subscribe("secret://plan".into())).await;
    assert_eq!(status, 403, "{e}");
    assert_eq!(e["error"]["code"], code::INSUFFICIENT_SCOPE, "{e}");

    // The app's owner rule: another user's project looks like no resource at all.
    let (_, e) = post(&url, &alice, &subscribe("owned://bob/1".into())).await;
    assert_eq!(e["error"]["code"], code::RESOURCE_NOT_FOUND, "{e}");
    let (_, ok) = post(&url, &alice, &subscribe("owned://alice/1".into())).await;
    assert_eq!(ok["result"], json!({}), "{ok}");

    // The bytes of a session's subscriptions: sixteen URIs of 4 KiB fit in 64 KiB, the
    // seventeenth does not; unsubscribing makes room again.
    let note = |i: usize| format!("notes:///{i:02}-{}", "n".repeat(4000));
    for i in 0..16 {
        let (_, ok) = post(&url, &alice, &subscribe(note(i))).await;
        assert_eq!(ok["result"], json!({}), "{i}: {ok}");
    }
    let (_, e) = post(&url, &alice, &subscribe(note(16))).await;
    assert_eq!(e["error"]["code"], code::INVALID_PARAMS, "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("65536"),
        "{e}"
    );
    let unsubscribe = request(2, "resources/unsubscribe", json!({ "uri": note(0) }));
    let (_, ok) = post(&url, &alice, &unsubscribe).await;
    assert_eq!(ok["result"], json!({}));
    let (_, ok) = post(&url, &alice, &subscribe(note(16))).await;
    assert_eq!(ok["result"], json!({}), "{ok}");

    // A 2026-07-28 listen stream is granted only the URIs the same rule lets through.
    let listen = mcp_tests::http()
        .post(&url)
        .header("content-type", "application/json")
        .header("accept", "text/event-stream")
        .header("x-api-key", "key-bob")
        .header("mcp-protocol-version", V26)
        .header("mcp-method", "subscriptions/listen")
        .json(
            &json!({"jsonrpc": "2.0", "id": 9, "method": "subscriptions/listen", "params": {
            "_meta": {"io.modelcontextprotocol/protocolVersion": V26,
                      "io.modelcontextprotocol/clientCapabilities": {}},
            "notifications": {"resourceSubscriptions": [
                "owned://alice/1", "owned://bob/2", "nothing://here", "secret://plan",
                format!("notes:///{}", "b".repeat(9000))]}}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(listen.status(), 200);
    let mut listen = SseReader::new(listen);
    let ack = listen.next_json().await;
    assert_eq!(
        ack["params"]["notifications"]["resourceSubscriptions"],
        json!(["owned://bob/2"]),
        "{ack}"
    );
}

/// `subscriptions/listen` streams are bounded per client as sessions are: past its most, a
/// client gets 429; another client is not refused for it; closing one makes room.
#[tokio::test]
async fn listen_streams_are_bounded_per_client() {
    let options = HttpOptions::default().sessions(|s| s.max_per_client(2));
    let app = Router::new().nest_mcp(
        "/mcp",
        subscriptions_server().http_app_with(Transport::StreamableHttp, options),
    );
    let url = format!("http://{}/mcp", serve(app).await);
    let listen = |key: &'static str| {
        mcp_tests::http()
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "text/event-stream")
            .header("x-api-key", key)
            .header("mcp-protocol-version", V26)
            .header("mcp-method", "subscriptions/listen")
            .json(
                &json!({"jsonrpc": "2.0", "id": 1, "method": "subscriptions/listen",
                "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": V26,
                    "io.modelcontextprotocol/clientCapabilities": {}},
                "notifications": {"toolsListChanged": true}}}),
            )
            .send()
    };
    let first = listen("key-bob").await.unwrap();
    let second = listen("key-bob").await.unwrap();
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    let third = listen("key-bob").await.unwrap();
    assert_eq!(third.status(), 429);
    let refused: Value = third.json().await.unwrap();
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the most one client may"),
        "{refused}"
    );
    let alices = listen("key-alice").await.unwrap();
    assert_eq!(alices.status(), 200, "another client");
    drop(first);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let again = listen("key-bob").await.unwrap();
    assert_eq!(again.status(), 200, "a stream closed makes room");
    drop((second, alices, again));
}

#[tokio::test]
async fn answers_show_client_strings_cut_with_their_length() {
    let server = McpServer::new("Echo")
        .domain("fx")
        .domain("tasks")
        .state(Counter::default());
    let app = Router::new().nest_mcp("/mcp", server.http_app(Transport::Http));
    let url = format!("http://{}/mcp", serve(app).await);
    let big = "m".repeat(1 << 20);
    let version = [("mcp-protocol-version", V)];

    // An unknown method of 1 MiB: a short answer naming its length.
    let (status, e) = post(&url, &version, &request(1, &big, json!({}))).await;
    assert_eq!(status, 200);
    assert_eq!(e["error"]["code"], code::METHOD_NOT_FOUND);
    let message = e["error"]["message"].as_str().unwrap();
    assert!(message.contains("(1048576 bytes)"), "{message}");
    assert!(e.to_string().len() < 1024, "{} bytes", e.to_string().len());

    // An unknown tool, a value that does not fit its argument, a prompt and a resource that
    // do not exist: all short.
    for (method, params) in [
        ("tools/call", json!({"name": big})),
        (
            "tools/call",
            json!({"name": "slow", "arguments": {"millis": big}}),
        ),
        ("prompts/get", json!({"name": big})),
        ("resources/read", json!({"uri": big})),
        ("tasks/get", json!({"taskId": big})),
    ] {
        let (_, answer) = post(&url, &version, &request(2, method, params)).await;
        let len = answer.to_string().len();
        assert!(
            len < 2048,
            "{method}: {len} bytes: {:.200}",
            answer.to_string()
        );
    }

    // A request id of 1 MiB is refused, not echoed.
    let (status, e) = post(
        &url,
        &version,
        &json!({"jsonrpc": "2.0", "id": big, "method": "ping"}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(e["error"]["code"], code::INVALID_REQUEST);
    assert!(
        e.get("id").is_none_or(Value::is_null),
        "{:.200}",
        e.to_string()
    );
    assert!(e.to_string().len() < 1024);
}

#[tokio::test]
async fn a_request_id_still_running_in_its_session_is_refused() {
    let server = McpServer::new("Ids").domain("fx").state(Counter::default());
    let app = Router::new().nest_mcp("/mcp", server.http_app(Transport::StreamableHttp));
    let url = format!("http://{}/mcp", serve(app).await);
    let sid = session(&url, &[]).await;
    let headers = [
        ("mcp-session-id", sid.as_str()),
        ("mcp-protocol-version", V),
    ];
    let tag = "duplicate-id-first";
    let first = {
        let url = url.clone();
        let sid = sid.clone();
        tokio::spawn(async move {
            let headers = [
                ("mcp-session-id", sid.as_str()),
                ("mcp-protocol-version", V),
            ];
            let call = request(
                7,
                "tools/call",
                json!({"name": "wait_cancel", "arguments": {"tag": tag, "millis": 3000}}),
            );
            post(&url, &headers, &call).await
        })
    };
    // The first call is running once a second one with its id is refused.
    let mut refused = None;
    for _ in 0..100 {
        let (status, answer) = post(&url, &headers, &request(7, "tools/list", json!({}))).await;
        if status == 400 {
            refused = Some(answer);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let refused = refused.expect("the second request with id 7 is refused while the first runs");
    assert_eq!(refused["error"]["code"], code::INVALID_REQUEST, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("still running"),
        "{refused}"
    );
    // The first is still the session's: cancelling id 7 reaches it.
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": 7}});
    let (status, _) = post(&url, &headers, &cancel).await;
    assert_eq!(status, 202);
    let _ = first.await.unwrap();
    assert!(was_cancelled(tag), "the first call was cancelled by its id");
    // Once it ended, the id is free again.
    let (status, ok) = post(&url, &headers, &request(7, "tools/list", json!({}))).await;
    assert_eq!(status, 200, "{ok}");
    assert!(ok["result"]["tools"].is_array());

    // The mount's bound on the calls of all its sessions together.
    let options = HttpOptions::default().max_running_calls(1);
    static HOLDING: AtomicBool = AtomicBool::new(false);
    let hold = Tool::new("hold", |ctx, _| async move {
        HOLDING.store(true, Ordering::SeqCst);
        ctx.cancelled().await;
        "released"
    });
    let server = McpServer::new("Busy")
        .domain("fx")
        .state(Counter::default())
        .add_tool(hold);
    let app = Router::new().nest_mcp(
        "/mcp",
        server.http_app_with(Transport::StreamableHttp, options),
    );
    let url = format!("http://{}/mcp", serve(app).await);
    let (a, b) = (session(&url, &[]).await, session(&url, &[]).await);
    let ha = [("mcp-session-id", a.as_str()), ("mcp-protocol-version", V)];
    let running = {
        let (url, a) = (url.clone(), a.clone());
        tokio::spawn(async move {
            let ha = [("mcp-session-id", a.as_str()), ("mcp-protocol-version", V)];
            post(
                &url,
                &ha,
                &request(1, "tools/call", json!({"name": "hold"})),
            )
            .await
        })
    };
    for _ in 0..500 {
        if HOLDING.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(HOLDING.load(Ordering::SeqCst), "session a's call started");
    let hb = [("mcp-session-id", b.as_str()), ("mcp-protocol-version", V)];
    let quick = request(
        2,
        "tools/call",
        json!({"name": "slow", "arguments": {"millis": 1}}),
    );
    let (status, busy) = post(&url, &hb, &quick).await;
    assert_eq!(status, 503, "{busy}");
    assert!(
        busy["error"]["message"]
            .as_str()
            .unwrap()
            .contains("most calls"),
        "{busy}"
    );
    // Once a's call ends, b's runs.
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": 1}});
    assert_eq!(post(&url, &ha, &cancel).await.0, 202);
    let _ = running.await.unwrap();
    let (status, done) = post(&url, &hb, &quick).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["result"]["content"][0]["text"], "done");
}

#[tokio::test]
async fn a_call_without_a_session_ends_with_its_connection() {
    for transport in [Transport::StreamableHttp, Transport::Http] {
        let server = McpServer::new("Gone")
            .domain("fx")
            .state(Counter::default());
        let app = Router::new().nest_mcp("/mcp", server.http_app(transport));
        let url = format!("http://{}/mcp", serve(app).await);
        for accept in ["application/json", "text/event-stream"] {
            if transport == Transport::Http && accept == "text/event-stream" {
                continue;
            }
            let tag = format!("sessionless-{transport:?}-{accept}");
            let call = request(
                1,
                "tools/call",
                json!({"name": "wait_cancel", "arguments": {"tag": tag, "millis": 10000}}),
            );
            let pending = mcp_tests::http()
                .post(&url)
                .header("content-type", "application/json")
                .header("accept", accept)
                .header("mcp-protocol-version", V)
                .body(call.to_string())
                .send();
            // The client gives up after a moment: its connection closes.
            let _ = tokio::time::timeout(Duration::from_millis(300), pending).await;
            let mut cancelled = false;
            for _ in 0..200 {
                if was_cancelled(&tag) {
                    cancelled = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert!(
                cancelled,
                "{transport:?} {accept}: the call went on without its client"
            );
        }
    }
}

#[tokio::test]
async fn tasks_of_anonymous_callers_belong_to_their_session() {
    let server = McpServer::new("Anonymous tasks").domain("tasks");
    let app = Router::new().nest_mcp("/mcp", server.http_app(Transport::StreamableHttp));
    let url = format!("http://{}/mcp", serve(app).await);
    let (a, b) = (session(&url, &[]).await, session(&url, &[]).await);
    let ha = [("mcp-session-id", a.as_str()), ("mcp-protocol-version", V)];
    let hb = [("mcp-session-id", b.as_str()), ("mcp-protocol-version", V)];
    let (_, created) = post(
        &url,
        &ha,
        &request(
            1,
            "tools/call",
            json!({"name": "crunch", "arguments": {"ms": 5000}, "task": {"ttl": 60000}}),
        ),
    )
    .await;
    let id = created["result"]["task"]["taskId"]
        .as_str()
        .unwrap_or_else(|| panic!("a task: {created}"))
        .to_owned();
    let (_, mine) = post(&url, &ha, &request(2, "tasks/list", json!({}))).await;
    assert_eq!(mine["result"]["tasks"][0]["taskId"], id.as_str(), "{mine}");
    let (_, theirs) = post(&url, &hb, &request(3, "tasks/list", json!({}))).await;
    assert_eq!(theirs["result"]["tasks"], json!([]), "{theirs}");
    for method in ["tasks/get", "tasks/cancel", "tasks/result"] {
        let (_, e) = post(&url, &hb, &request(4, method, json!({ "taskId": id }))).await;
        assert_eq!(e["error"]["code"], code::INVALID_PARAMS, "{method}: {e}");
    }
    let (_, got) = post(&url, &ha, &request(5, "tasks/get", json!({ "taskId": id }))).await;
    assert_eq!(got["result"]["status"], "working", "{got}");
    let (_, cancelled) = post(
        &url,
        &ha,
        &request(6, "tasks/cancel", json!({ "taskId": id })),
    )
    .await;
    assert_eq!(cancelled["result"]["status"], "cancelled", "{cancelled}");
}

/// A 2026-07-28 `tools/call` of `tool` with `arguments` and the fields of `extra`.
async fn call_2026(url: &str, tool: &str, arguments: Value, extra: Value) -> Value {
    let mut params = json!({"name": tool, "arguments": arguments, "_meta": {
        "io.modelcontextprotocol/protocolVersion": V26,
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}}}});
    if let Value::Object(e) = extra {
        params.as_object_mut().unwrap().extend(e);
    }
    let headers = [
        ("mcp-protocol-version", V26),
        ("mcp-method", "tools/call"),
        ("mcp-name", tool),
    ];
    post(url, &headers, &request(1, "tools/call", params))
        .await
        .1
}

#[tokio::test]
async fn a_request_state_answers_only_its_own_questions() {
    let server = McpServer::new("States").domain("ask");
    let app = Router::new().nest_mcp("/mcp", server.http_app(Transport::StreamableHttp));
    let url = format!("http://{}/mcp", serve(app).await);
    let accept = json!({"action": "accept", "content": {"name": "Ada", "tickets": 2}});

    // An answer sent with the first call, to a question never asked, is ignored: the tool
    // asks it (a confirmation cannot come in the request it confirms).
    let round = call_2026(
        &url,
        "ask_contact",
        json!({}),
        json!({"inputResponses": {"q1": accept}}),
    )
    .await;
    assert_eq!(round["result"]["resultType"], "input_required", "{round}");
    assert!(
        round["result"]["inputRequests"]["q1"].is_object(),
        "{round}"
    );
    let state = round["result"]["requestState"].clone();

    // Its state lets only q1 be answered: an answer beside it is ignored, one that is not a
    // result object is refused.
    let done = call_2026(
        &url,
        "ask_contact",
        json!({}),
        json!({"requestState": state, "inputResponses": {"q1": accept, "q9": accept}}),
    )
    .await;
    assert_eq!(done["result"]["resultType"], "complete", "{done}");
    let e = call_2026(
        &url,
        "ask_contact",
        json!({}),
        json!({"requestState": state, "inputResponses": {"q1": "yes"}}),
    )
    .await;
    assert_eq!(e["error"]["code"], code::INVALID_PARAMS, "{e}");

    // A question that accepts an answer up front takes one sent with the first call.
    let done = call_2026(
        &url,
        "ask_contact_up_front",
        json!({}),
        json!({"inputResponses": {"contact": accept, "other": accept}}),
    )
    .await;
    assert_eq!(done["result"]["resultType"], "complete", "{done}");
    assert_eq!(
        done["result"]["content"][0]["text"], "accepted Ada",
        "{done}"
    );

    // The state is the request's: other arguments make it another request.
    let e = call_2026(
        &url,
        "ask_contact",
        json!({"extra": 1}),
        json!({"requestState": state, "inputResponses": {"q1": accept}}),
    )
    .await;
    assert_eq!(e["error"]["code"], code::INVALID_PARAMS, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("another request"),
        "{e}"
    );

    // Answered as asked, it completes.
    let done = call_2026(
        &url,
        "ask_contact",
        json!({}),
        json!({"requestState": state, "inputResponses": {"q1": accept}}),
    )
    .await;
    assert_eq!(done["result"]["resultType"], "complete", "{done}");
    assert_eq!(
        done["result"]["content"][0]["text"],
        "accepted Ada with 2 tickets, news=false"
    );
}

#[tokio::test]
async fn a_scope_refusal_is_403_even_when_only_sse_is_accepted() {
    let app = Router::new().nest_mcp(
        "/mcp",
        subscriptions_server().http_app(Transport::StreamableHttp),
    );
    let url = format!("http://{}/mcp", serve(app).await);
    let sid = session(&url, &[("x-api-key", "key-alice")]).await;
    let res = mcp_tests::http()
        .post(&url)
        .header("content-type", "application/json")
        .header("accept", "text/event-stream")
        .header("x-api-key", "key-alice")
        .header("mcp-session-id", &sid)
        .header("mcp-protocol-version", V)
        .body(request(1, "resources/read", json!({"uri": "secret://plan"})).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let challenge = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains("insufficient_scope") && challenge.contains("scope=\"admin\""),
        "{challenge}"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], code::INSUFFICIENT_SCOPE, "{body}");
}
