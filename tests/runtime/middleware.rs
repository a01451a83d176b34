//! MCP middleware over real HTTP: a layer written as a function (refusing, rewriting, timing),
//! rate limits and concurrency caps per caller and tool, in memory and shared by two instances
//! through a real Redis, failing closed or open when the store is down, the audit event of each
//! request, and the response cache keeping one principal's results from another.

use axum::Router;
use mcp_runtime::auth::ApiKeyAuth;
use mcp_runtime::middleware::{
    self, Audit, ConcurrencyLimit, Key, McpResponse, RateLimit, ResponseCache, Select,
};
use mcp_runtime::{
    McpRouterExt as _, McpServer, Transport, auth::Principal, catalog::Tool,
    catalog::ToolAnnotations, protocol::RpcError, protocol::code, store::RedisStore,
};
use mcp_tests::{Redis, serve};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn who(name: &str) -> Principal {
    Principal {
        subject: name.into(),
        ..Principal::default()
    }
}

/// A server with a tool that says who called it and with what, a `hold` tool that runs until
/// `release` is notified or the call is cancelled, a read-only `lookup` and a `count`, and two
/// API keys. `hold`, `lookup` and `count` count their runs in `runs`.
fn server(runs: Arc<AtomicUsize>, release: Arc<tokio::sync::Notify>) -> McpServer {
    let counted = runs.clone();
    let held = runs.clone();
    McpServer::new("Limits")
        .add_tool(Tool::new("create", |ctx, args| async move {
            let name = ctx
                .principal()
                .map(|p| p.subject.clone())
                .unwrap_or_default();
            format!("created by {name}: {}", Value::Object(args))
        }))
        .add_tool(Tool::new("list", |_, _| async { "listed" }))
        .add_tool(Tool::new("hold", move |_, _| {
            let release = release.clone();
            held.fetch_add(1, Ordering::SeqCst);
            async move {
                release.notified().await;
                "released"
            }
        }))
        .add_tool(
            Tool::new("lookup", move |ctx, args| {
                let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    let name = ctx
                        .principal()
                        .map(|p| p.subject.clone())
                        .unwrap_or_default();
                    format!("run {n} for {name}: {}", Value::Object(args))
                }
            })
            .annotations(ToolAnnotations {
                read_only: Some(true),
                ..ToolAnnotations::default()
            }),
        )
        .add_tool(Tool::new("count", move |_, _| {
            let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
            async move { format!("run {n}") }
        }))
        .auth(ApiKeyAuth::keys([
            ("key-alice", who("alice")),
            ("key-bob", who("bob")),
        ]))
}

async fn mount(server: McpServer) -> String {
    let app = Router::new().nest_mcp("/mcp", server.http_app(Transport::Http));
    format!("http://{}/mcp", serve(app).await)
}

/// A `tools/call` of `tool` with `args` by the holder of `key`: the status, `Retry-After`, and
/// the body.
async fn call(url: &str, key: &str, tool: &str, args: Value) -> (u16, Option<String>, Value) {
    let res = mcp_tests::http()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("mcp-protocol-version", "2025-06-18")
        .header("x-api-key", key)
        .body(
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": tool, "arguments": args}})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry, res.json().await.unwrap())
}

fn text(body: &Value) -> &str {
    body["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("not a result: {body}"))
}

#[tokio::test]
async fn a_layer_written_as_a_function_refuses_rewrites_and_observes() {
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    let server =
        server(Arc::default(), Arc::default()).layer(middleware::from_fn(move |mut req, next| {
            let log = log.clone();
            async move {
                if req.name() == Some("list") {
                    return McpResponse::error(RpcError::new(-32601, "listing is closed today"));
                }
                assert_ne!(req.name(), Some("count"), "a layer with a bug");
                let who = req.principal().map(|p| p.subject.clone());
                if let Some(Value::Object(p)) = req.params_mut()
                    && let Some(Value::Object(args)) = p.get_mut("arguments")
                {
                    args.insert("stamped".into(), json!(true));
                }
                let method = req.method().to_owned();
                let response = next.run(req).await;
                log.lock()
                    .unwrap()
                    .push(format!("{method} by {who:?}: {}", response.kind()));
                response
            }
        }));
    let url = mount(server).await;
    let (status, _, body) = call(&url, "key-alice", "list", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["error"]["message"], "listing is closed today",
        "{body}"
    );
    // A layer that panics fails the request with an error, and nothing else.
    let (_, _, body) = call(&url, "key-alice", "count", json!({})).await;
    assert_eq!(body["error"]["code"], code::INTERNAL_ERROR, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("middleware layer"),
        "{body}"
    );
    let (_, _, body) = call(&url, "key-alice", "create", json!({"n": 1})).await;
    assert_eq!(
        text(&body),
        r#"created by alice: {"n":1,"stamped":true}"#,
        "the handler sees the rewritten arguments"
    );
    assert_eq!(
        *seen.lock().unwrap(),
        ["tools/call by Some(\"alice\"): ok"],
        "the refused call never reached the inner layers"
    );
}

#[tokio::test]
async fn a_rate_limit_counts_each_caller_on_its_tool_only() {
    let server = server(Arc::default(), Arc::default())
        .layer_on(Select::tool("create"), RateLimit::per_minute("create", 2));
    let url = mount(server).await;
    for n in 0..2 {
        let (status, _, body) = call(&url, "key-alice", "create", json!({"n": n})).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["result"].is_object(), "{body}");
    }
    let (status, retry, body) = call(&url, "key-alice", "create", json!({})).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], code::RATE_LIMITED, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("`create`") && message.contains("2 requests a minute"),
        "{message}"
    );
    let ms = body["error"]["data"]["retryAfterMs"].as_u64().unwrap();
    // Two a minute: the next is due within 30 s.
    assert!(ms > 25_000 && ms <= 30_000, "{ms}");
    assert_eq!(
        retry.as_deref(),
        Some(ms.div_ceil(1000).to_string().as_str())
    );
    // Another caller has a budget of its own; other tools are not limited.
    let (status, _, _) = call(&url, "key-bob", "create", json!({})).await;
    assert_eq!(status, 200);
    let (status, _, body) = call(&url, "key-alice", "list", json!({})).await;
    assert_eq!((status, text(&body)), (200, "listed"));
}

/// Starts a call of `hold` by `key`, retrying while it is refused (a permit given back a
/// moment ago may not be back yet), until it runs (`runs` reaches `n`); the running call.
async fn hold_until_running(
    url: &str,
    key: &'static str,
    runs: &AtomicUsize,
    n: usize,
) -> tokio::task::JoinHandle<(u16, Option<String>, Value)> {
    for _ in 0..100 {
        let url = url.to_owned();
        let task = tokio::spawn(async move { call(&url, key, "hold", json!({})).await });
        for _ in 0..50 {
            if runs.load(Ordering::SeqCst) >= n {
                return task;
            }
            if task.is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if !task.is_finished() {
            continue;
        }
        let (status, _, body) = task.await.unwrap();
        assert_eq!(status, 429, "{body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("`hold` never ran");
}

#[tokio::test]
async fn a_concurrency_cap_holds_while_calls_run_and_frees_when_they_end_or_are_cancelled() {
    let runs = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(tokio::sync::Notify::new());
    let server = server(runs.clone(), release.clone()).layer_on(
        Select::tools(["hold"]),
        ConcurrencyLimit::new("hold", 1).key(Key::CallerAndName),
    );
    let url = mount(server).await;
    let running = hold_until_running(&url, "key-alice", &runs, 1).await;
    let (status, _, refused) = call(&url, "key-alice", "hold", json!({})).await;
    assert_eq!(status, 429, "{refused}");
    assert_eq!(refused["error"]["code"], code::RATE_LIMITED, "{refused}");
    assert_eq!(refused["error"]["data"]["maxConcurrent"], 1, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 1 at once"),
        "{refused}"
    );
    // Bob is not held back by Alice's call.
    let bob = hold_until_running(&url, "key-bob", &runs, 2).await;
    release.notify_waiters();
    let (status, _, body) = running.await.unwrap();
    assert_eq!((status, text(&body)), (200, "released"));
    assert_eq!(bob.await.unwrap().0, 200);
    // Ended, the permit is back; a call whose client goes away gives it back too.
    let dropped = hold_until_running(&url, "key-alice", &runs, 3).await;
    dropped.abort();
    let again = hold_until_running(&url, "key-alice", &runs, 4).await;
    release.notify_waiters();
    let (status, _, body) = again.await.unwrap();
    assert_eq!((status, text(&body)), (200, "released"));
}

#[tokio::test]
async fn the_cache_answers_a_principal_with_its_own_results_until_they_expire() {
    let runs = Arc::new(AtomicUsize::new(0));
    let server =
        server(runs.clone(), Arc::default()).layer(ResponseCache::new(Duration::from_millis(400)));
    let url = mount(server).await;
    let (_, _, first) = call(&url, "key-alice", "lookup", json!({"a": 1, "b": 2})).await;
    assert_eq!(text(&first), r#"run 1 for alice: {"a":1,"b":2}"#);
    // The same call, its arguments in another order: from the cache.
    let (_, _, again) = call(&url, "key-alice", "lookup", json!({"b": 2, "a": 1})).await;
    assert_eq!(text(&again), text(&first));
    // Another principal never gets Alice's result; other arguments run the tool.
    let (_, _, bob) = call(&url, "key-bob", "lookup", json!({"a": 1, "b": 2})).await;
    assert_eq!(text(&bob), r#"run 2 for bob: {"a":1,"b":2}"#);
    let (_, _, other) = call(&url, "key-alice", "lookup", json!({"a": 3})).await;
    assert_eq!(text(&other), r#"run 3 for alice: {"a":3}"#);
    // A tool not marked read-only is never cached.
    let (_, _, c1) = call(&url, "key-alice", "count", json!({})).await;
    let (_, _, c2) = call(&url, "key-alice", "count", json!({})).await;
    assert_eq!((text(&c1), text(&c2)), ("run 4", "run 5"));
    // Expired: the tool runs again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, _, late) = call(&url, "key-alice", "lookup", json!({"a": 1, "b": 2})).await;
    assert_eq!(text(&late), r#"run 6 for alice: {"a":1,"b":2}"#);
    assert_eq!(runs.load(Ordering::SeqCst), 6);
}

/// A cached result is served only to a caller the tool would run for now: the same principal
/// through another key, without the tool's scope or hidden from it, is refused as it would be
/// without the cache, never given the result.
#[tokio::test]
async fn the_cache_serves_no_one_the_tool_would_refuse() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    let carol = |scopes: &[&str], team: &str| Principal {
        subject: "carol".into(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        claims: json!({ "team": team }).as_object().unwrap().clone(),
    };
    let server = McpServer::new("Secrets")
        .add_tool(
            Tool::new("secret", move |_, _| {
                let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
                async move { format!("secret, run {n}") }
            })
            .require_scopes(["crm:read"])
            .annotations(ToolAnnotations {
                read_only: Some(true),
                ..ToolAnnotations::default()
            }),
        )
        .visibility(|v| {
            v.principal
                .is_none_or(|p| p.claims.get("team").and_then(Value::as_str) != Some("out"))
        })
        .auth(ApiKeyAuth::keys([
            ("key-full", carol(&["crm:read"], "in")),
            ("key-unscoped", carol(&[], "in")),
            ("key-hidden", carol(&["crm:read"], "out")),
        ]))
        // As long as can be: kept (ten years at most), not an overflow.
        .layer(ResponseCache::new(Duration::MAX));
    let url = mount(server).await;
    let (status, _, body) = call(&url, "key-full", "secret", json!({})).await;
    assert_eq!((status, text(&body)), (200, "secret, run 1"));
    let (status, _, body) = call(&url, "key-full", "secret", json!({})).await;
    assert_eq!((status, text(&body)), (200, "secret, run 1"), "cached");
    let (status, _, body) = call(&url, "key-unscoped", "secret", json!({})).await;
    assert_eq!(status, 403, "{body}");
    let (status, _, body) = call(&url, "key-hidden", "secret", json!({})).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("unknown tool")),
        "{status} {body}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

/// Keyed by caller and name, names the server does not have count as one: made-up tool names
/// cannot make keys without end (each would hold a place in the store).
#[tokio::test]
async fn made_up_names_share_one_key() {
    let server = server(Arc::default(), Arc::default())
        .layer(RateLimit::per_minute("one each", 1).key(Key::CallerAndName));
    let url = mount(server).await;
    let (_, _, body) = call(&url, "key-alice", "nope-1", json!({})).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown tool"),
        "{body}"
    );
    let (status, _, body) = call(&url, "key-alice", "nope-2", json!({})).await;
    assert_eq!(status, 429, "another made-up name, the same key: {body}");
    let (status, _, body) = call(&url, "key-alice", "list", json!({})).await;
    assert_eq!(
        (status, text(&body)),
        (200, "listed"),
        "a tool of its own: {body}"
    );
}

/// A call through the tool search's call tool carries what the call it makes needs beside
/// its arguments: a 2026-07-28 round's answers and sealed state reach the tool called.
#[tokio::test]
async fn a_round_goes_through_the_call_tool() {
    let server = McpServer::new("Rounds")
        .tool_search(mcp_runtime::catalog::ToolSearch::new())
        .add_tool(Tool::new("asks", |ctx, _| async move {
            match ctx
                .ask("name")
                .elicit_with_schema(
                    "Your name?",
                    json!({"type": "object", "properties": {"name": {"type": "string"}}}),
                )
                .await
            {
                Ok(mcp_runtime::ask::Elicitation::Accept(form)) => {
                    format!("thanks, {}", form["name"])
                }
                Ok(other) => format!("not answered: {other:?}"),
                Err(e) => format!("no answer: {e}"),
            }
        }));
    let url = mount(server).await;
    let relay = async |extra: Value| {
        let mut params = json!({"name": "call_tool", "arguments": {"name": "asks", "arguments": {}},
            "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}}}});
        params
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        mcp_tests::http()
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "call_tool")
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let round = relay(json!({})).await;
    assert_eq!(round["result"]["resultType"], "input_required", "{round}");
    let answered = relay(json!({
        "inputResponses": {"name": {"action": "accept", "content": {"name": "Ada"}}},
        "requestState": round["result"]["requestState"]}))
    .await;
    assert_eq!(text(&answered), "thanks, \"Ada\"", "{answered}");
}

/// A call through the tool search's call tool passes the server's layers twice (as the call
/// tool's call, then as the call it makes); the policies count it once, as the call it makes.
#[tokio::test]
async fn a_call_through_the_call_tool_is_counted_once() {
    let server = server(Arc::default(), Arc::default())
        .tool_search(mcp_runtime::catalog::ToolSearch::new())
        // The longest lease and window there are: cut to ten years, not an overflow.
        .layer(ConcurrencyLimit::new("one at a time", 1).lease(Duration::MAX))
        .layer(RateLimit::new("two ever", 2, Duration::MAX));
    let url = mount(server).await;
    let relayed = json!({"name": "list", "arguments": {}});
    let (status, _, body) = call(&url, "key-alice", "call_tool", relayed.clone()).await;
    assert_eq!((status, text(&body)), (200, "listed"), "{body}");
    let (status, _, body) = call(&url, "key-alice", "list", json!({})).await;
    assert_eq!((status, text(&body)), (200, "listed"), "{body}");
    let (status, _, body) = call(&url, "key-alice", "call_tool", relayed).await;
    assert_eq!(status, 429, "the third call: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("two ever"),
        "{body}"
    );
}

/// A read-only tool that fails and one that asks its caller (a 2026-07-28 input-required
/// round): neither answer ends the call with a result, so the cache keeps neither, and the
/// audit names each outcome by its kind (the core says which, the layers read it).
#[tokio::test]
async fn a_tools_failure_and_a_round_are_typed_outcomes_never_cached() {
    use tracing_subscriber::layer::SubscriberExt as _;
    let events = AuditEvents::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(events.clone()));
    let runs = Arc::new(AtomicUsize::new(0));
    let (failing, asking) = (runs.clone(), runs.clone());
    let read_only = ToolAnnotations {
        read_only: Some(true),
        ..ToolAnnotations::default()
    };
    let server = McpServer::new("Outcomes")
        .add_tool(
            Tool::new("fails", move |_, _| {
                failing.fetch_add(1, Ordering::SeqCst);
                async { Err::<String, _>("the lookup failed") }
            })
            .annotations(read_only.clone()),
        )
        .add_tool(
            Tool::new("asks", move |ctx, _| {
                asking.fetch_add(1, Ordering::SeqCst);
                async move {
                    match ctx
                        .ask("name")
                        .elicit_with_schema(
                            "Your name?",
                            json!({
                        "type": "object", "properties": {"name": {"type": "string"}}}),
                        )
                        .await
                    {
                        Ok(_) => "thanks".to_owned(),
                        Err(e) => format!("no answer: {e}"),
                    }
                }
            })
            .annotations(read_only),
        )
        .auth(ApiKeyAuth::keys([("key-alice", who("alice"))]))
        .layer(Audit::new())
        .layer(ResponseCache::new(Duration::from_secs(60)));
    let url = mount(server).await;
    for _ in 0..2 {
        let (_, _, failed) = call(&url, "key-alice", "fails", json!({})).await;
        assert_eq!(failed["result"]["isError"], true, "{failed}");
    }
    let ask = async |extra: Value| {
        let mut params = json!({"name": "asks", "arguments": {}, "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}}}});
        params
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let res = mcp_tests::http()
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "asks")
            .header("x-api-key", "key-alice")
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}))
            .send()
            .await
            .unwrap();
        res.json::<Value>().await.unwrap()
    };
    for _ in 0..2 {
        let round = ask(json!({})).await;
        assert_eq!(round["result"]["resultType"], "input_required", "{round}");
    }
    // The round answered: its result is the answer's, never served to a call that did not
    // answer (a call carrying answers or state is neither cached nor answered from the cache).
    let round = ask(json!({})).await;
    let answered = ask(json!({
        "inputResponses": {"name": {"action": "accept", "content": {"name": "Ada"}}},
        "requestState": round["result"]["requestState"]}))
    .await;
    assert_eq!(text(&answered), "thanks", "{answered}");
    let fresh = ask(json!({})).await;
    assert_eq!(fresh["result"]["resultType"], "input_required", "{fresh}");
    // Every call ran its tool: nothing was answered from the cache.
    assert_eq!(runs.load(Ordering::SeqCst), 7);
    let outcomes: Vec<String> = events
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.get("outcome").cloned().unwrap_or_default())
        .collect();
    assert_eq!(
        outcomes,
        [
            "tool_error",
            "tool_error",
            "pending",
            "pending",
            "pending",
            "ok",
            "pending"
        ]
    );
}

/// A call that goes on as a task (2025-11-25's `task`) holds its concurrency permit until the
/// task ends, not only until the `tools/call` is answered with the task's handle.
#[tokio::test]
async fn a_call_that_goes_on_as_a_task_holds_its_permit_until_the_task_ends() {
    let release = Arc::new(tokio::sync::Notify::new());
    let held = release.clone();
    let server = McpServer::new("Tasks")
        .add_tool(
            Tool::new("export", move |_, _| {
                let release = held.clone();
                async move {
                    release.notified().await;
                    "exported"
                }
            })
            .task_support(mcp_runtime::catalog::TaskSupport::Optional),
        )
        .auth(ApiKeyAuth::keys([("key-alice", who("alice"))]))
        .layer_on(Select::tool("export"), ConcurrencyLimit::new("exports", 1));
    let url = mount(server).await;
    let post = |method: &'static str, params: Value| {
        let url = url.clone();
        async move {
            let res = mcp_tests::http()
                .post(&url)
                .header("content-type", "application/json")
                .header("accept", "application/json")
                .header("mcp-protocol-version", "2025-11-25")
                .header("x-api-key", "key-alice")
                .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        }
    };
    let as_task = json!({"name": "export", "arguments": {}, "task": {}});
    let (status, created) = post("tools/call", as_task.clone()).await;
    assert_eq!(status, 200, "{created}");
    let task = created["result"]["task"]["taskId"]
        .as_str()
        .unwrap()
        .to_owned();
    // The task runs: the cap is reached, for a plain call and for another task.
    let (status, refused) = post("tools/call", json!({"name": "export", "arguments": {}})).await;
    assert_eq!(status, 429, "{refused}");
    assert_eq!(refused["error"]["data"]["limit"], "exports", "{refused}");
    let (status, _) = post("tools/call", as_task.clone()).await;
    assert_eq!(status, 429);
    // The task ends: its permit is given back.
    release.notify_one();
    let (_, done) = post("tasks/result", json!({"taskId": task})).await;
    assert_eq!(done["result"]["content"][0]["text"], "exported", "{done}");
    let mut again = (0, Value::Null);
    for _ in 0..50 {
        again = post("tools/call", as_task.clone()).await;
        if again.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(again.0, 200, "{}", again.1);
    release.notify_one();
}

/// Records the fields of `mcp_runtime::audit` events.
#[derive(Clone, Default)]
struct AuditEvents(Arc<Mutex<Vec<HashMap<String, String>>>>);

struct Fields<'a>(&'a mut HashMap<String, String>);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for AuditEvents {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "mcp_runtime::audit" {
            let mut fields = HashMap::new();
            event.record(&mut Fields(&mut fields));
            self.0.lock().unwrap().push(fields);
        }
    }
}

#[tokio::test]
async fn an_audit_event_names_the_caller_the_tool_and_the_outcome_never_the_key() {
    use tracing_subscriber::layer::SubscriberExt as _;
    let events = AuditEvents::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(events.clone()));
    let server = server(Arc::default(), Arc::default())
        .layer(Audit::new())
        .layer_on(Select::tool("create"), RateLimit::per_minute("create", 1));
    let url = mount(server).await;
    call(&url, "key-alice", "create", json!({"secret": "s3cr3t"})).await;
    call(&url, "key-alice", "create", json!({})).await;
    call(&url, "key-bob", "missing", json!({})).await;
    let events = events.0.lock().unwrap().clone();
    assert_eq!(events.len(), 3, "{events:?}");
    let field = |i: usize, k: &str| events[i].get(k).cloned().unwrap_or_default();
    assert_eq!(field(0, "server"), "Limits");
    assert_eq!(field(0, "method"), "tools/call");
    assert_eq!(field(0, "name"), "create");
    assert_eq!(field(0, "subject"), "alice");
    assert_eq!(field(0, "transport"), "tcp");
    assert_eq!(field(0, "outcome"), "ok");
    assert!(field(0, "duration_us").parse::<u64>().is_ok(), "{events:?}");
    assert_eq!(field(1, "outcome"), code::RATE_LIMITED.to_string());
    assert_eq!(field(2, "outcome"), code::INVALID_PARAMS.to_string());
    assert_eq!(field(2, "subject"), "bob");
    let all = format!("{events:?}");
    assert!(
        !all.contains("s3cr3t") && !all.contains("key-alice"),
        "{all}"
    );
}

#[tokio::test]
async fn limits_in_redis_are_one_limit_for_two_instances() {
    if !mcp_tests::needs(mcp_tests::REDIS) {
        return;
    }
    let redis = Redis::start();
    let store = RedisStore::new(&redis.url, "limits").unwrap();
    let release = Arc::new(tokio::sync::Notify::new());
    let runs = Arc::new(AtomicUsize::new(0));
    let instance = || {
        server(runs.clone(), release.clone())
            .layer_on(
                Select::tool("create"),
                RateLimit::per_minute("create", 3).store(store.clone()),
            )
            .layer_on(
                Select::tool("hold"),
                ConcurrencyLimit::new("hold", 1).store(store.clone()),
            )
    };
    let (a, b) = (mount(instance()).await, mount(instance()).await);
    for url in [&a, &b, &a] {
        let (status, _, body) = call(url, "key-alice", "create", json!({})).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, retry, body) = call(&b, "key-alice", "create", json!({})).await;
    assert_eq!(status, 429, "the fourth call, on either instance: {body}");
    assert!(retry.is_some());
    let (status, _, _) = call(&b, "key-bob", "create", json!({})).await;
    assert_eq!(status, 200);
    // A call held on one instance holds the cap on the other.
    let running = hold_until_running(&a, "key-alice", &runs, 1).await;
    let (status, _, body) = call(&b, "key-alice", "hold", json!({})).await;
    assert_eq!(status, 429, "{body}");
    release.notify_waiters();
    assert_eq!(running.await.unwrap().0, 200);
    // Given back by the instance that held it: the other may run it now.
    let next = hold_until_running(&b, "key-alice", &runs, 2).await;
    release.notify_waiters();
    assert_eq!(next.await.unwrap().0, 200);
    // What Redis holds is the policies' hashed keys, no caller's name.
    let keys = redis.cli(&["KEYS", "*"]);
    assert!(keys.contains("limits:policy:rate:"), "{keys}");
    assert!(!keys.contains("alice"), "{keys}");
}

/// A cache in Redis shared by two instances: a result cached by one answers on the other; each
/// caller holds a bounded share, and making room in it evicts only that caller's entries.
#[tokio::test]
async fn the_cache_in_redis_is_shared_and_each_caller_holds_a_bounded_share() {
    if !mcp_tests::needs(mcp_tests::REDIS) {
        return;
    }
    let redis = Redis::start();
    let store = RedisStore::new(&redis.url, "cached").unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let instance = || {
        server(runs.clone(), Arc::default()).layer(
            ResponseCache::new(Duration::from_secs(60))
                .store(store.clone())
                .max_per_caller(2, 1024 * 1024),
        )
    };
    let (a, b) = (mount(instance()).await, mount(instance()).await);
    let lookup = |url: String, key: &'static str, n: u32| async move {
        let (status, _, body) = call(&url, key, "lookup", json!({"a": n})).await;
        assert_eq!(status, 200, "{body}");
        text(&body).to_owned()
    };
    assert_eq!(
        lookup(a.clone(), "key-alice", 1).await,
        r#"run 1 for alice: {"a":1}"#
    );
    assert_eq!(
        lookup(b.clone(), "key-alice", 2).await,
        r#"run 2 for alice: {"a":2}"#
    );
    // Cached by the first instance, answered by the second.
    assert_eq!(
        lookup(b.clone(), "key-alice", 1).await,
        r#"run 1 for alice: {"a":1}"#
    );
    assert_eq!(
        lookup(a.clone(), "key-bob", 1).await,
        r#"run 3 for bob: {"a":1}"#
    );
    // Alice's third result: her entry closest to expiry ({"a":1}) makes room, not Bob's.
    assert_eq!(
        lookup(a.clone(), "key-alice", 3).await,
        r#"run 4 for alice: {"a":3}"#
    );
    assert_eq!(
        lookup(b.clone(), "key-alice", 3).await,
        r#"run 4 for alice: {"a":3}"#
    );
    assert_eq!(
        lookup(b.clone(), "key-alice", 1).await,
        r#"run 5 for alice: {"a":1}"#
    );
    assert_eq!(
        lookup(b.clone(), "key-bob", 1).await,
        r#"run 3 for bob: {"a":1}"#
    );
    assert_eq!(runs.load(Ordering::SeqCst), 5);
    // Redis holds Alice's two entries and Bob's one, under hashed keys only.
    let keys = redis.cli(&["KEYS", "cached:policy:cache:*"]);
    assert_eq!(
        keys.lines().filter(|l| !l.trim().is_empty()).count(),
        3,
        "{keys}"
    );
    let all = redis.cli(&["KEYS", "*"]);
    assert!(!all.contains("alice") && !all.contains("bob"), "{all}");
}

/// Redis busy with a script of its own for `ms` milliseconds (its clients wait behind it);
/// the thread ends with it.
fn busy_redis(redis: &Redis, ms: u32) -> std::thread::JoinHandle<std::process::Output> {
    let port = redis.port.to_string();
    std::thread::spawn(move || {
        let script = format!(
            "local t = redis.call('TIME') local s = t[1] * 1000000 + t[2] \
             while true do local n = redis.call('TIME') \
             if n[1] * 1000000 + n[2] - s > {} then return 1 end end",
            ms * 1000
        );
        std::process::Command::new("redis-cli")
            .args(["-p", &port, "EVAL", &script, "0"])
            .output()
            .unwrap()
    })
}

/// A store that did not answer in time is not asked again for a moment: the next requests are
/// answered as the policy's choice says at once, not each after the store's timeout.
#[tokio::test]
async fn a_store_that_timed_out_is_not_waited_for_again_at_once() {
    if !mcp_tests::needs(mcp_tests::REDIS) {
        return;
    }
    let redis = Redis::start();
    let store = RedisStore::with_timeout(&redis.url, "slow", Duration::from_secs(1)).unwrap();
    let server = server(Arc::default(), Arc::default()).layer_on(
        Select::tool("create"),
        RateLimit::per_minute("create", 5).store(store),
    );
    let url = mount(server).await;
    let (status, _, _) = call(&url, "key-alice", "create", json!({})).await;
    assert_eq!(status, 200);
    let busy = busy_redis(&redis, 3000);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, _, body) = call(&url, "key-alice", "create", json!({})).await;
    assert_eq!(status, 503, "the store's timeout: {body}");
    let started = std::time::Instant::now();
    let (status, _, body) = call(&url, "key-alice", "create", json!({})).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "answered without waiting for the store again: {:?}",
        started.elapsed()
    );
    busy.join().unwrap();
}

/// A permit whose acquire timed out (Redis busy past the store's timeout) may still be taken
/// when Redis gets to it: it is given back, not held until its lease lapses.
#[tokio::test]
async fn a_permit_whose_acquire_timed_out_is_given_back() {
    if !mcp_tests::needs(mcp_tests::REDIS) {
        return;
    }
    let redis = Redis::start();
    let store = RedisStore::with_timeout(&redis.url, "slow", Duration::from_millis(100)).unwrap();
    let server = server(Arc::default(), Arc::default()).layer_on(
        Select::tool("list"),
        ConcurrencyLimit::new("list", 1).store(store),
    );
    let url = mount(server).await;
    // The connection made and the script loaded.
    let (status, _, _) = call(&url, "key-alice", "list", json!({})).await;
    assert_eq!(status, 200);
    // Redis busy for 600 ms: the acquire waits behind it.
    let busy = busy_redis(&redis, 600);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, _, body) = call(&url, "key-alice", "list", json!({})).await;
    assert_eq!(status, 503, "the store did not answer in time: {body}");
    assert_eq!(
        String::from_utf8_lossy(&busy.join().unwrap().stdout).trim(),
        "1"
    );
    // Once Redis is free, and the store's moment of rest after its timeout has passed.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (status, _, body) = call(&url, "key-alice", "list", json!({})).await;
    assert_eq!((status, text(&body)), (200, "listed"), "{body}");
}

#[tokio::test]
async fn a_limit_whose_store_is_down_fails_closed_or_open_as_chosen() {
    // Nothing listens on the port of a Redis that was started and stopped.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = RedisStore::with_timeout(
        &format!("redis://127.0.0.1:{port}/"),
        "down",
        Duration::from_millis(200),
    )
    .unwrap();
    let server = server(Arc::default(), Arc::default())
        .layer_on(
            Select::tool("create"),
            RateLimit::per_minute("create", 5).store(down.clone()),
        )
        .layer_on(
            Select::tool("list"),
            RateLimit::per_minute("list", 5).store(down).fail_open(),
        );
    let url = mount(server).await;
    let started = std::time::Instant::now();
    let (status, _, body) = call(&url, "key-alice", "create", json!({})).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], code::STORE_UNAVAILABLE, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`create`"),
        "{body}"
    );
    assert!(started.elapsed() < Duration::from_secs(2), "fast");
    let (status, _, body) = call(&url, "key-alice", "list", json!({})).await;
    assert_eq!((status, text(&body)), (200, "listed"));
}

/// Says hello, at most once a minute per caller (its layer is declared beside it).
#[mcp_runtime::tool(domain = "mw-layered", layer = once_a_minute)]
async fn hello_limited() -> &'static str {
    "hello"
}

fn once_a_minute() -> RateLimit {
    RateLimit::per_minute("hello_limited", 1)
}

#[tokio::test]
async fn a_tool_declares_its_own_layers_beside_it() {
    let server = McpServer::new("Layered")
        .domain("mw-layered")
        .add_tool(
            Tool::new("closed", |_, _| async { "ran" }).layer(middleware::from_fn(
                |_req, _next| async { McpResponse::error(RpcError::new(-32601, "closed")) },
            )),
        )
        .add_tool(Tool::new("open", |_, _| async { "ran" }))
        .auth(ApiKeyAuth::keys([("key-alice", who("alice"))]));
    let url = mount(server).await;
    let (status, _, body) = call(&url, "key-alice", "hello_limited", json!({})).await;
    assert_eq!((status, text(&body)), (200, "hello"));
    let (status, _, body) = call(&url, "key-alice", "hello_limited", json!({})).await;
    assert_eq!(status, 429, "{body}");
    let (_, _, body) = call(&url, "key-alice", "closed", json!({})).await;
    assert_eq!(body["error"]["message"], "closed", "{body}");
    // Other tools are not under those layers.
    for _ in 0..2 {
        let (status, _, body) = call(&url, "key-alice", "open", json!({})).await;
        assert_eq!((status, text(&body)), (200, "ran"));
    }
}

/// A tool added while the server runs brings its layers with it, inside the server's own.
#[tokio::test]
async fn a_tool_added_at_run_time_keeps_its_layers() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let outer = seen.clone();
    let server = McpServer::new("Growing")
        .add_tool(Tool::new("open", |_, _| async { "ran" }))
        .auth(ApiKeyAuth::keys([("key-alice", who("alice"))]))
        .layer(middleware::from_fn(move |req, next| {
            let seen = outer.clone();
            async move {
                seen.lock()
                    .unwrap()
                    .push(format!("server {}", req.name().unwrap_or("-")));
                next.run(req).await
            }
        }))
        .build()
        .unwrap();
    let app = Router::new().nest_mcp("/mcp", server.http_app(Transport::Http));
    let url = format!("http://{}/mcp", serve(app).await);
    let inner = seen.clone();
    server
        .change(|edit| {
            edit.add_tool(
                Tool::new("late", |_, _| async { "late ran" })
                    .layer(RateLimit::per_minute("late", 1))
                    .layer(middleware::from_fn(move |req, next| {
                        let seen = inner.clone();
                        async move {
                            seen.lock().unwrap().push("tool late".to_owned());
                            next.run(req).await
                        }
                    })),
            );
        })
        .unwrap();
    let (status, _, body) = call(&url, "key-alice", "late", json!({})).await;
    assert_eq!((status, text(&body)), (200, "late ran"));
    let (status, _, body) = call(&url, "key-alice", "late", json!({})).await;
    assert_eq!(status, 429, "{body}");
    let (status, _, body) = call(&url, "key-alice", "open", json!({})).await;
    assert_eq!((status, text(&body)), (200, "ran"));
    assert_eq!(
        *seen.lock().unwrap(),
        ["server late", "tool late", "server late", "server open"]
    );
}

#[tokio::test]
async fn tower_middleware_fits_once_its_error_is_an_answer() {
    // `tower::timeout` fails with an error; `answering` makes that an answer.
    let timeout = middleware::answering(
        tower::timeout::TimeoutLayer::new(Duration::from_millis(100)),
        |e| McpResponse::error(RpcError::new(-32001, format!("gave up: {e}"))),
    );
    let server = server(Arc::default(), Arc::default()).layer_on(Select::tool("hold"), timeout);
    let url = mount(server).await;
    let started = std::time::Instant::now();
    let (status, _, body) = call(&url, "key-alice", "hold", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["error"]["code"], -32001, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("gave up: request timed out"),
        "{body}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // Other tools are not under it.
    let (_, _, body) = call(&url, "key-alice", "list", json!({})).await;
    assert_eq!(text(&body), "listed");
}
