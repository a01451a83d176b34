//! Redis as the store several instances share, seen from outside: what a client's input can
//! make of its keys (nothing: ids that cannot be the server's never reach it), and what of its
//! failures reaches a client (that it is unavailable, nothing of its hosts or errors).

use mcp_runtime::auth::ApiKeyAuth;
use mcp_runtime::{McpRouterExt as _, McpServer, Transport, auth::Principal, http::HttpOptions};
use mcp_tests::serve;
use serde_json::{Value, json};

const V: &str = "2025-11-25";
const MODERN: &str = "2026-07-28";

/// An instance keeping its sessions and tasks in the Redis at `url` (keys under
/// `test:<scope>`), for the caller of the API key `key-a`; its URL.
async fn instance(url: &str, scope: &str) -> String {
    let store = mcp_runtime::store::RedisStore::new(url, "test")
        .unwrap()
        .scoped(scope);
    let server = McpServer::new("Shared")
        .domain("tasks")
        .task_store(store.clone())
        .auth(ApiKeyAuth::keys([(
            "key-a",
            Principal {
                subject: "alice".into(),
                ..Principal::default()
            },
        )]));
    let options = HttpOptions::default().sessions(|s| s.store(std::sync::Arc::new(store)));
    let app = axum::Router::new().nest_mcp(
        "/mcp",
        server.http_app_with(Transport::StreamableHttp, options),
    );
    format!("http://{}/mcp", serve(app).await)
}

/// A POST as the caller of `key-a`, with `headers`; the status and the body (`Null` if empty).
async fn post(url: &str, headers: &[(&str, &str)], body: &Value) -> (u16, Value) {
    let mut req = mcp_tests::http()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("x-api-key", "key-a");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.json(body).send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": V, "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}})
}

/// A 2026-07-28 `tasks/get` of `id`, declaring the tasks extension; status and body.
async fn task_get(url: &str, id: &str) -> (u16, Value) {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {
        "taskId": id,
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities":
                {"extensions": {"io.modelcontextprotocol/tasks": {}}},
            "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "0"},
        },
    }});
    post(
        url,
        &[
            ("mcp-protocol-version", MODERN),
            ("mcp-method", "tasks/get"),
            ("mcp-name", id),
        ],
        &body,
    )
    .await
}

/// When Redis refuses the app (it wants a password the app does not have), clients get 503
/// saying the store is unavailable, and nothing of Redis's own error: not `NOAUTH`, not its
/// address.
#[tokio::test]
async fn a_failing_redis_is_unavailable_to_clients_without_its_details() {
    if !mcp_tests::needs(mcp_tests::REDIS) {
        return;
    }
    let redis = mcp_tests::Redis::start_with_password("not-the-apps");
    let url = instance(&redis.url, "noauth").await;
    let port = redis.port.to_string();
    let (status, body) = post(&url, &[], &initialize()).await;
    let (task_status, task_body) = task_get(&url, &"0".repeat(32)).await;
    for (status, body) in [(status, body), (task_status, task_body)] {
        assert_eq!(status, 503, "{body}");
        let text = body.to_string();
        assert!(text.contains("store is unavailable"), "{text}");
        for detail in ["NOAUTH", "uthentication", &port, "127.0.0.1", "redis"] {
            assert!(!text.contains(detail), "{detail} in {text}");
        }
    }
}

/// Session and task ids that the server cannot have made (with `:`, `*`, or 10 KiB long) are
/// answered as unknown without a command to Redis, and error messages show only their start.
#[tokio::test]
async fn ids_that_cannot_be_the_servers_never_reach_redis() {
    if !mcp_tests::needs(mcp_tests::REDIS) {
        return;
    }
    let redis = mcp_tests::Redis::start();
    let url = instance(&redis.url, "ids").await;
    // A real session, so that a store is in use.
    let (status, _) = post(&url, &[], &initialize()).await;
    assert_eq!(status, 200);
    let long = "z".repeat(10 * 1024);
    let bad = ["bad:id:1", "bad*id*2", long.as_str()];
    let monitor = redis.monitor();
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    for id in bad {
        let headers = [("mcp-session-id", id), ("mcp-protocol-version", V)];
        let (status, body) = post(&url, &headers, &list).await;
        assert_eq!(status, 404, "{body}");
        for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
            let res = mcp_tests::http()
                .request(method, &url)
                .header("accept", "text/event-stream")
                .header("x-api-key", "key-a")
                .header("mcp-protocol-version", V)
                .header("mcp-session-id", id)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 404);
        }
        let (_, body) = task_get(&url, id).await;
        assert_eq!(body["error"]["code"], -32602, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("unknown task"), "{message}");
        assert!(message.len() < 100, "{message}");
    }
    let commands = monitor.commands();
    for marker in ["bad:id", "bad*id", "zzzzzzzzzzzzzzzz"] {
        assert!(
            !commands.iter().any(|c| c.contains(marker)),
            "{marker} reached Redis: {commands:?}"
        );
    }
}

/// `initialize` and `notifications/initialized` on `url`; the session id.
async fn open_session(url: &str) -> String {
    let res = mcp_tests::http()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("x-api-key", "key-a")
        .json(&initialize())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let sid = res.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let headers = [
        ("mcp-session-id", sid.as_str()),
        ("mcp-protocol-version", V),
    ];
    assert_eq!(post(url, &headers, &initialized).await.0, 202);
    sid
}

/// A client's answers cross instances only for ids that can be the server's questions, and
/// only up to 1 MiB: an answer to any other id is 400 ("no question has the id"), with or
/// without a shared store, and is not published; an answer over the bound is 413, not
/// published; a cancellation of a request id too long to be one the server relays is not
/// published either.
#[tokio::test]
async fn only_answers_that_can_be_the_servers_cross_instances() {
    if !mcp_tests::needs(mcp_tests::REDIS) {
        return;
    }
    let redis = mcp_tests::Redis::start();
    let shared = instance(&redis.url, "bus").await;
    let alone = {
        let server = McpServer::new("Alone")
            .domain("tasks")
            .auth(ApiKeyAuth::keys([(
                "key-a",
                Principal {
                    subject: "alice".into(),
                    ..Principal::default()
                },
            )]));
        let app = axum::Router::new().nest_mcp("/mcp", server.http_app(Transport::StreamableHttp));
        format!("http://{}/mcp", serve(app).await)
    };
    let monitor = redis.monitor();
    for url in [&shared, &alone] {
        let sid = open_session(url).await;
        let headers = [
            ("mcp-session-id", sid.as_str()),
            ("mcp-protocol-version", V),
        ];
        for id in [json!("made-up-answer"), json!(7)] {
            let answer = json!({"jsonrpc": "2.0", "id": id, "result": {"action": "accept"}});
            let (status, body) = post(url, &headers, &answer).await;
            assert_eq!(status, 400, "{body}");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.starts_with("no question has the id"), "{message}");
        }
    }
    let sid = open_session(&shared).await;
    let headers = [
        ("mcp-session-id", sid.as_str()),
        ("mcp-protocol-version", V),
    ];
    let big = json!({"jsonrpc": "2.0", "id": "mcp-q-0123abcd-1",
        "result": {"action": "accept", "content": {"text": "x".repeat(2 * 1024 * 1024)}}});
    let (status, body) = post(&shared, &headers, &big).await;
    assert_eq!(status, 413, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("more than the 1048576"), "{message}");
    let fitting =
        json!({"jsonrpc": "2.0", "id": "mcp-q-0123abcd-2", "result": {"action": "accept"}});
    assert_eq!(post(&shared, &headers, &fitting).await.0, 202);
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": "c".repeat(10 * 1024)}});
    assert_eq!(post(&shared, &headers, &cancel).await.0, 202);
    let published: Vec<String> = monitor
        .commands()
        .into_iter()
        .filter(|c| c.contains("\"PUBLISH\""))
        .collect();
    assert!(
        published.iter().any(|c| c.contains("mcp-q-0123abcd-2")),
        "an answer that can be the server's is published: {published:?}"
    );
    for marker in ["made-up-answer", "xxxxxxxxxxxxxxxx", "cccccccccccccccc"] {
        assert!(
            !published.iter().any(|c| c.contains(marker)),
            "{marker} was published"
        );
    }
}

/// Answers with `bytes` bytes of text.
#[mcp_runtime::tool(domain = "logs")]
fn sized(bytes: usize) -> String {
    "x".repeat(bytes)
}

/// Reports that it started, sleeps `millis`, then answers.
#[mcp_runtime::tool(domain = "logs")]
async fn nap(ctx: mcp_runtime::Context, millis: u64) -> &'static str {
    ctx.progress(0.0, None, Some("started")).await;
    tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
    "rested"
}

/// Reports its progress `count` times with messages of `bytes` bytes, then answers.
#[mcp_runtime::tool(domain = "logs")]
async fn chatty(ctx: mcp_runtime::Context, count: u32, bytes: usize) -> &'static str {
    for i in 0..count {
        ctx.progress(f64::from(i), None, Some(&"p".repeat(bytes)))
            .await;
    }
    "said it all"
}

/// An instance answering with SSE, logging its streams in the Redis at `url` (keys under
/// `test:logs`) within 64 KiB per stream and 256 KiB per session; its URL.
async fn logging_instance(url: &str) -> String {
    let store = mcp_runtime::store::RedisStore::new(url, "test")
        .unwrap()
        .scoped("logs");
    let server = McpServer::new("Logs")
        .domain("logs")
        .auth(ApiKeyAuth::keys([(
            "key-a",
            Principal {
                subject: "alice".into(),
                ..Principal::default()
            },
        )]));
    let options = HttpOptions::default()
        .response_mode(mcp_runtime::http::ResponseMode::Sse)
        .sessions(|s| s.store(std::sync::Arc::new(store)))
        .streams(|s| s.replay_bytes(64 * 1024).session_replay_bytes(256 * 1024));
    let app = axum::Router::new().nest_mcp(
        "/mcp",
        server.http_app_with(Transport::StreamableHttp, options),
    );
    format!("http://{}/mcp", serve(app).await)
}

/// The events of an SSE answer to a call of `sized` on a session.
async fn sized_answer(url: &str, sid: &str, id: i64, bytes: usize) -> Vec<mcp_tests::SseEvent> {
    let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": "sized", "arguments": {"bytes": bytes}}});
    let res = mcp_tests::http()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("x-api-key", "key-a")
        .header("mcp-session-id", sid)
        .header("mcp-protocol-version", V)
        .json(&call)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    mcp_tests::SseReader::new(res).collect().await
}

/// More calls running at once in a session, each with events logged, than its logs keep
/// finished streams (32): the log of each running call stays, and its answer can be resumed on
/// another instance.
#[tokio::test]
async fn every_running_calls_log_stays_in_redis() {
    if !mcp_tests::needs(mcp_tests::REDIS) {
        return;
    }
    let redis = mcp_tests::Redis::start();
    let a = logging_instance(&redis.url).await;
    let b = logging_instance(&redis.url).await;
    let sid = open_session(&a).await;
    let mut primings = Vec::new();
    for id in 0..34 {
        let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "nap", "arguments": {"millis": 600},
                "_meta": {"progressToken": "p"}}});
        let res = mcp_tests::http()
            .post(&a)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("x-api-key", "key-a")
            .header("mcp-session-id", &sid)
            .header("mcp-protocol-version", V)
            .json(&call)
            .send()
            .await
            .unwrap();
        let mut reader = mcp_tests::SseReader::new(res);
        reader.next().await.unwrap();
        // Its first event, logged while the call runs.
        let started = reader.next().await.unwrap();
        assert_eq!(started.json()["method"], "notifications/progress");
        primings.push(started.id.unwrap());
    }
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let res = mcp_tests::http()
        .get(&b)
        .header("accept", "text/event-stream")
        .header("x-api-key", "key-a")
        .header("mcp-session-id", &sid)
        .header("mcp-protocol-version", V)
        .header("last-event-id", &primings[0])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let resumed = mcp_tests::SseReader::new(res).collect().await;
    let answer = resumed.last().unwrap().json();
    assert_eq!(answer["id"], 0, "{resumed:?}");
    assert_eq!(answer["result"]["content"][0]["text"], "rested");
}

/// The event logs in Redis are bounded as the streams are in memory: a session's logs hold at
/// most its bytes (and 32 streams), older streams dropped first; an answer over a stream's
/// bytes is not logged whole but as an error saying it was lost, which a client resuming on
/// another instance gets.
#[tokio::test]
async fn event_logs_in_redis_are_bounded_in_bytes() {
    if !mcp_tests::needs(mcp_tests::REDIS) {
        return;
    }
    let redis = mcp_tests::Redis::start();
    let a = logging_instance(&redis.url).await;
    let b = logging_instance(&redis.url).await;
    let sid = open_session(&a).await;
    for id in 1..=40 {
        let events = sized_answer(&a, &sid, id, 20 * 1024).await;
        assert_eq!(events.len(), 2, "priming event and answer");
    }
    let logs = || -> Vec<String> {
        redis
            .cli(&["--scan", "--pattern", &format!("test:logs:events:{sid}:*")])
            .lines()
            .filter(|k| !k.ends_with(":end"))
            .map(str::to_owned)
            .collect()
    };
    let usage = |keys: &[String]| -> usize {
        keys.iter()
            .map(|k| {
                redis
                    .cli(&["MEMORY", "USAGE", k])
                    .parse::<usize>()
                    .unwrap_or(0)
            })
            .sum()
    };
    // What the logs hold, read back: the events' data (`redis-cli` prints one per line).
    let data = |keys: &[String]| -> usize {
        keys.iter()
            .flat_map(|k| {
                redis
                    .cli(&["XRANGE", k, "-", "+"])
                    .lines()
                    .filter(|l| l.starts_with('{'))
                    .map(str::len)
                    .collect::<Vec<_>>()
            })
            .sum()
    };
    let kept = logs();
    assert!(!kept.is_empty());
    assert!(kept.len() <= 32, "{} streams logged", kept.len());
    let held = data(&kept);
    assert!(
        held > 200 * 1024 && held <= 256 * 1024,
        "the session's logs hold {held} bytes"
    );
    // Redis's memory for them: the data and its allocations' overhead, not 40 answers' worth.
    let used = usage(&kept);
    assert!(
        used < 400 * 1024,
        "the session's logs use {used} bytes of Redis"
    );
    // A stream of many events keeps its newest within its bytes.
    let call = json!({"jsonrpc": "2.0", "id": 50, "method": "tools/call", "params": {
        "name": "chatty", "arguments": {"count": 10, "bytes": 10 * 1024},
        "_meta": {"progressToken": "p"}}});
    let (status, _) = post(
        &a,
        &[("mcp-session-id", &sid), ("mcp-protocol-version", V)],
        &call,
    )
    .await;
    assert_eq!(status, 200);
    let chatty: Vec<String> = logs()
        .into_iter()
        .filter(|k| redis.cli(&["XRANGE", k, "-", "+"]).contains("said it all"))
        .collect();
    assert_eq!(chatty.len(), 1, "the answer is logged");
    let entries: usize = redis.cli(&["XLEN", &chatty[0]]).parse().unwrap();
    assert!((2..10).contains(&entries), "{entries} events logged");
    assert!(data(&chatty) <= 64 * 1024);
    // An answer over a stream's bytes: whole on its connection, lost in the log.
    let events = sized_answer(&a, &sid, 99, 100 * 1024).await;
    assert_eq!(
        events[1].json()["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .len(),
        100 * 1024
    );
    for key in logs() {
        assert!(
            data(std::slice::from_ref(&key)) <= 64 * 1024,
            "{key} holds too much"
        );
    }
    assert!(data(&logs()) <= 256 * 1024);
    let resumed = mcp_tests::http()
        .get(&b)
        .header("accept", "text/event-stream")
        .header("x-api-key", "key-a")
        .header("mcp-protocol-version", V)
        .header("mcp-session-id", &sid)
        .header("last-event-id", events[0].id.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), 200);
    let replayed = mcp_tests::SseReader::new(resumed).collect().await;
    let lost = replayed
        .iter()
        .find(|e| !e.data.is_empty())
        .expect("the lost answer's event")
        .json();
    assert_eq!(lost["id"], 99, "{lost}");
    let message = lost["error"]["message"].as_str().unwrap();
    assert!(message.contains("it was lost"), "{message}");
}

/// The store contracts (`mcp_runtime::testing`), as a third-party store would run them: the
/// memory stores keep theirs, and `RedisStore` keeps all three on a real Redis.
#[tokio::test]
async fn the_memory_stores_keep_the_store_contracts() {
    mcp_runtime::testing::policy_store_contract(&mcp_runtime::store::MemoryPolicyStore::default())
        .await;
    mcp_runtime::testing::task_store_contract(&mcp_runtime::store::MemoryTaskStore::default())
        .await;
    mcp_runtime::testing::grant_store_contract(&mcp_runtime::store::MemoryGrantStore::default())
        .await;
}

#[tokio::test]
async fn redis_keeps_the_store_contracts() {
    if !mcp_tests::needs(mcp_tests::REDIS) {
        return;
    }
    let redis = mcp_tests::Redis::start();
    let store = mcp_runtime::store::RedisStore::new(&redis.url, "contract").unwrap();
    mcp_runtime::testing::session_store_contract(&store).await;
    mcp_runtime::testing::task_store_contract(&store).await;
    mcp_runtime::testing::policy_store_contract(&store).await;
    mcp_runtime::testing::grant_store_contract(&store).await;
}

/// A `RedisStore` whose Redis is down: every operation says so within its timeout.
#[tokio::test]
async fn a_redis_that_is_down_keeps_the_unavailable_contract() {
    // Nothing listens on a port bound and released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let timeout = std::time::Duration::from_millis(300);
    let down = mcp_runtime::store::RedisStore::with_timeout(
        &format!("redis://127.0.0.1:{port}/"),
        "down",
        timeout,
    )
    .unwrap();
    mcp_runtime::testing::unavailable_store_contract(
        Some(&down),
        Some(&down),
        Some(&down),
        std::time::Duration::from_secs(3),
    )
    .await;
}

/// The contract catches a store that breaks it: one whose rate limit never refuses.
#[tokio::test]
async fn a_store_that_breaks_its_contract_fails_it() {
    use futures_util::FutureExt as _;
    use futures_util::future::BoxFuture;
    use mcp_runtime::store::StoreError;
    use mcp_runtime::store::{CacheEntry, MemoryPolicyStore, PolicyStore, RateDecision};
    use std::time::Duration;

    #[derive(Debug, Default)]
    struct NeverRefuses(MemoryPolicyStore);
    impl PolicyStore for NeverRefuses {
        fn rate<'a>(
            &'a self,
            key: &'a str,
            limit: u32,
            window: Duration,
        ) -> BoxFuture<'a, Result<RateDecision, StoreError>> {
            Box::pin(async move {
                let mut d = self.0.rate(key, limit, window).await?;
                d.allowed = true;
                Ok(d)
            })
        }
        fn acquire<'a>(
            &'a self,
            key: &'a str,
            permit: &'a str,
            max: u32,
            lease: Duration,
        ) -> BoxFuture<'a, Result<bool, StoreError>> {
            self.0.acquire(key, permit, max, lease)
        }
        fn renew<'a>(
            &'a self,
            key: &'a str,
            permit: &'a str,
            lease: Duration,
        ) -> BoxFuture<'a, Result<(), StoreError>> {
            self.0.renew(key, permit, lease)
        }
        fn release<'a>(
            &'a self,
            key: &'a str,
            permit: &'a str,
        ) -> BoxFuture<'a, Result<(), StoreError>> {
            self.0.release(key, permit)
        }
        fn cache_get<'a>(
            &'a self,
            key: &'a str,
        ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
            self.0.cache_get(key)
        }
        fn cache_put<'a>(&'a self, entry: CacheEntry<'a>) -> BoxFuture<'a, Result<(), StoreError>> {
            self.0.cache_put(entry)
        }
    }
    let broken = NeverRefuses::default();
    let failed = std::panic::AssertUnwindSafe(mcp_runtime::testing::policy_store_contract(&broken))
        .catch_unwind()
        .await;
    let message = failed.expect_err("the contract refuses a limit that never refuses");
    let message = message
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| message.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default();
    assert!(message.contains("the fourth is refused"), "{message}");
}
