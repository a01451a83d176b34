//! Tasks (the `io.modelcontextprotocol/tasks` extension of 2026-07-28) over real HTTP: a call
//! answered with a task handle, polled to completion; a task that asks the client and resumes
//! with `tasks/update`; cancellation; a panic as a failed task; expiry by TTL; gating on the
//! declared extension; and tasks bound to the caller that started them.

use mcp_runtime::auth::ApiKeyAuth;
use mcp_runtime::{
    Context, McpRouterExt as _, McpServer, ToolError, Transport, auth::Principal,
    http::HttpOptions, tool,
};
use mcp_tests::serve;
use serde_json::{Value, json};
use std::time::Duration;

/// Works for `ms` milliseconds, then answers; stops when cancelled.
#[tool(domain = "tasks", task = "optional")]
async fn crunch(ctx: Context, ms: u64) -> String {
    tokio::select! {
        () = tokio::time::sleep(Duration::from_millis(ms)) => format!("crunched for {ms} ms"),
        () = ctx.cancelled() => "stopped".to_owned(),
    }
}

/// Looks something up, then asks the user for a word and answers with it (only as a task).
#[tool(domain = "tasks", task = "required")]
async fn ask_word(ctx: Context) -> Result<String, ToolError> {
    tokio::time::sleep(Duration::from_millis(10)).await;
    let schema =
        json!({"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]});
    let answer = ctx
        .elicit_with_schema("A word?", schema)
        .await
        .map_err(|e| ToolError::new(e.to_string()))?;
    Ok(format!("the word: {answer:?}"))
}

/// How many calls of `counted_hold` began their work.
static COUNTED_STARTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
/// Lets the calls of `counted_hold` go.
static COUNTED_GO: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Counts that it began (a side effect), then waits until the test lets it go.
#[tool(domain = "tasks-limit", task = "optional")]
async fn counted_hold() -> &'static str {
    COUNTED_STARTS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    COUNTED_GO.notified().await;
    "let go"
}

/// Works a little, then breaks.
#[tool(domain = "tasks", task = "optional")]
async fn breaks() -> String {
    tokio::time::sleep(Duration::from_millis(10)).await;
    panic!("broken on purpose")
}

/// Reports its progress while it works.
#[tool(domain = "tasks", task = "optional")]
async fn progressive(ctx: Context) -> &'static str {
    tokio::time::sleep(Duration::from_millis(10)).await;
    ctx.progress(1.0, Some(2.0), Some("halfway")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    "done"
}

/// Answers at once (a task-capable tool that never waits).
#[tool(domain = "tasks", task = "optional")]
fn instant() -> &'static str {
    "at once"
}

/// Asks for a name first (an input-required round), then works on it (as a task).
#[tool(domain = "tasks", task = "optional")]
async fn name_then_work(ctx: Context) -> Result<String, ToolError> {
    let schema =
        json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]});
    let answer = ctx
        .ask("who")
        .elicit_with_schema("Whose report?", schema)
        .await
        .map_err(|e| ToolError::new(e.to_string()))?;
    tokio::time::sleep(Duration::from_millis(50)).await;
    Ok(format!("report for {answer:?}"))
}

const V: &str = "2026-07-28";

async fn start() -> String {
    let who = |name: &str| Principal {
        subject: name.into(),
        ..Principal::default()
    };
    let server = McpServer::new("Tasks")
        .domain("tasks")
        .task_ttl(Duration::from_millis(1000))
        .auth(ApiKeyAuth::keys([
            ("key-a", who("alice")),
            ("key-b", who("bob")),
        ]));
    let app = axum::Router::new().nest_mcp(
        "/mcp",
        server.http_app_with(Transport::StreamableHttp, HttpOptions::default()),
    );
    format!("http://{}/mcp", serve(app).await)
}

/// A 2026-07-28 request as `key`, declaring the tasks extension or not; the HTTP status and body.
async fn rpc(url: &str, key: &str, tasks: bool, method: &str, params: Value) -> (u16, Value) {
    let res = send(url, key, tasks, method, params).await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

/// The response to a 2026-07-28 request as `key`, declaring the tasks extension or not.
async fn send(url: &str, key: &str, tasks: bool, method: &str, params: Value) -> reqwest::Response {
    let mut params = params;
    let extensions = if tasks {
        json!({"io.modelcontextprotocol/tasks": {}})
    } else {
        json!({})
    };
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": V,
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}, "extensions": extensions},
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "0"},
    });
    let name = params["name"]
        .as_str()
        .or(params["taskId"].as_str())
        .map(str::to_owned);
    let mut req = mcp_tests::http()
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", V)
        .header("mcp-method", method)
        .header("x-api-key", key);
    if let Some(n) = name {
        req = req.header("mcp-name", n);
    }
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    req.json(&body).send().await.unwrap()
}

async fn get(url: &str, key: &str, id: &str) -> Value {
    rpc(url, key, true, "tasks/get", json!({"taskId": id}))
        .await
        .1
}

/// Polls until the task leaves `working` (or `input_required` when `until_input`).
async fn settle(url: &str, key: &str, id: &str, until_input: bool) -> Value {
    for _ in 0..200 {
        let t = get(url, key, id).await;
        let status = t["result"]["status"].as_str().unwrap_or("").to_owned();
        if status != "working" && (until_input || status != "input_required") {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("task {id} did not settle");
}

#[tokio::test]
async fn a_task_runs_to_completion_and_expires_after_its_ttl() {
    let url = start().await;
    let (status, created) = rpc(
        &url,
        "key-a",
        true,
        "tools/call",
        json!({"name": "crunch", "arguments": {"ms": 100}}),
    )
    .await;
    assert_eq!(status, 200);
    let task = &created["result"];
    assert_eq!(task["resultType"], "task", "{created}");
    assert_eq!(task["status"], "working");
    assert_eq!(task["ttlMs"], 1000);
    assert!(task.get("result").is_none());
    let id = task["taskId"].as_str().unwrap().to_owned();
    // Readable at once, then done with the tool's result inlined.
    assert_eq!(get(&url, "key-a", &id).await["result"]["status"], "working");
    let done = settle(&url, "key-a", &id, false).await;
    assert_eq!(done["result"]["status"], "completed", "{done}");
    assert_eq!(
        done["result"]["result"]["content"][0]["text"],
        "crunched for 100 ms"
    );
    assert_eq!(done["result"]["resultType"], "complete");
    // Kept for its TTL after it ended, then gone.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        get(&url, "key-a", &id).await["result"]["status"],
        "completed"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let gone = get(&url, "key-a", &id).await;
    assert_eq!(gone["error"]["code"], -32602, "{gone}");
}

#[tokio::test]
async fn a_task_is_its_callers_alone() {
    let url = start().await;
    let (_, created) = rpc(
        &url,
        "key-a",
        true,
        "tools/call",
        json!({"name": "crunch", "arguments": {"ms": 5000}}),
    )
    .await;
    let id = created["result"]["taskId"].as_str().unwrap().to_owned();
    // Bob cannot see, answer or cancel Alice's task: to him it does not exist.
    for (method, params) in [
        ("tasks/get", json!({"taskId": id})),
        ("tasks/cancel", json!({"taskId": id})),
        ("tasks/update", json!({"taskId": id, "inputResponses": {}})),
    ] {
        let (_, res) = rpc(&url, "key-b", true, method, params).await;
        assert_eq!(res["error"]["code"], -32602, "{method}: {res}");
        assert_eq!(res["error"]["message"], format!("unknown task `{id}`"));
    }
    assert_eq!(get(&url, "key-a", &id).await["result"]["status"], "working");
    // Cancelling: an empty ack, the task ends cancelled, and cancelling again is the same ack.
    for _ in 0..2 {
        let (_, ack) = rpc(&url, "key-a", true, "tasks/cancel", json!({"taskId": id})).await;
        assert_eq!(ack["result"], json!({"resultType": "complete"}));
    }
    assert_eq!(
        get(&url, "key-a", &id).await["result"]["status"],
        "cancelled"
    );
}

#[tokio::test]
async fn a_task_asks_the_client_and_resumes_with_its_answer() {
    let url = start().await;
    ask_word_through(&url, &url).await;
}

/// Starts `ask_word` as a task at `start`, then polls it, answers its question and reads its
/// result at `other` (the same server, or another instance sharing a store).
async fn ask_word_through(start: &str, other: &str) {
    let (_, created) = rpc(
        start,
        "key-a",
        true,
        "tools/call",
        json!({"name": "ask_word", "arguments": {}}),
    )
    .await;
    let id = created["result"]["taskId"].as_str().unwrap().to_owned();
    let waiting = settle(other, "key-a", &id, true).await;
    assert_eq!(waiting["result"]["status"], "input_required", "{waiting}");
    let requests = waiting["result"]["inputRequests"].as_object().unwrap();
    assert_eq!(requests.len(), 1);
    let (key, request) = requests.iter().next().unwrap();
    assert_eq!(request["method"], "elicitation/create");
    assert_eq!(request["params"]["message"], "A word?");
    let answer = json!({"taskId": id, "inputResponses": {key.clone(): {"action": "accept", "content": {"word": "kestrel"}}}});
    let (_, ack) = rpc(other, "key-a", true, "tasks/update", answer).await;
    assert_eq!(ack["result"], json!({"resultType": "complete"}), "{ack}");
    let done = settle(other, "key-a", &id, false).await;
    assert_eq!(done["result"]["status"], "completed", "{done}");
    let text = done["result"]["result"]["content"][0]["text"]
        .as_str()
        .unwrap();
    assert!(text.contains("kestrel"), "{text}");
}

#[tokio::test]
async fn failures_and_clients_without_the_extension() {
    let url = start().await;
    // A panic inside a task is a failed task with an error, not a result.
    let (_, created) = rpc(
        &url,
        "key-a",
        true,
        "tools/call",
        json!({"name": "breaks", "arguments": {}}),
    )
    .await;
    let id = created["result"]["taskId"].as_str().unwrap().to_owned();
    let failed = settle(&url, "key-a", &id, false).await;
    assert_eq!(failed["result"]["status"], "failed", "{failed}");
    assert_eq!(failed["result"]["error"]["code"], -32603);
    assert!(failed["result"].get("result").is_none());
    // Without the extension: optional tools answer directly, required ones and the task
    // methods are -32021 naming the extension.
    let (_, direct) = rpc(
        &url,
        "key-a",
        false,
        "tools/call",
        json!({"name": "crunch", "arguments": {"ms": 1}}),
    )
    .await;
    assert_eq!(direct["result"]["resultType"], "complete", "{direct}");
    assert_eq!(direct["result"]["content"][0]["text"], "crunched for 1 ms");
    let (status, refused) = rpc(
        &url,
        "key-a",
        false,
        "tools/call",
        json!({"name": "ask_word", "arguments": {}}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(refused["error"]["code"], -32021, "{refused}");
    assert_eq!(
        refused["error"]["data"]["requiredCapabilities"],
        json!({"extensions": {"io.modelcontextprotocol/tasks": {}}})
    );
    let (_, refused) = rpc(&url, "key-a", false, "tasks/get", json!({"taskId": id})).await;
    assert_eq!(refused["error"]["code"], -32021);
    // The extension is advertised.
    let (_, discover) = rpc(&url, "key-a", true, "server/discover", json!({})).await;
    assert_eq!(
        discover["result"]["capabilities"]["extensions"],
        json!({"io.modelcontextprotocol/tasks": {}})
    );
}

/// A task-capable call is a task only once it waits on something other than the client: one
/// that finishes at once is answered directly, and questions asked before any other wait are
/// input-required rounds; the round that gets past them becomes the task, with no
/// `requestState`, and the task's result reflects the answers.
#[tokio::test]
async fn questions_before_work_are_rounds_and_work_becomes_the_task() {
    let url = start().await;
    let (_, direct) = rpc(
        &url,
        "key-a",
        true,
        "tools/call",
        json!({"name": "instant", "arguments": {}}),
    )
    .await;
    assert_eq!(direct["result"]["resultType"], "complete", "{direct}");
    assert_eq!(direct["result"]["content"][0]["text"], "at once");
    let (_, round) = rpc(
        &url,
        "key-a",
        true,
        "tools/call",
        json!({"name": "name_then_work", "arguments": {}}),
    )
    .await;
    let round = &round["result"];
    assert_eq!(round["resultType"], "input_required", "{round}");
    assert!(round.get("taskId").is_none());
    assert_eq!(
        round["inputRequests"]["who"]["method"],
        "elicitation/create"
    );
    let state = round["requestState"].clone();
    let (_, created) = rpc(
        &url,
        "key-a",
        true,
        "tools/call",
        json!({"name": "name_then_work", "arguments": {}, "requestState": state,
               "inputResponses": {"who": {"action": "accept", "content": {"name": "Ada"}}}}),
    )
    .await;
    let created = &created["result"];
    assert_eq!(created["resultType"], "task", "{created}");
    assert!(created.get("requestState").is_none());
    let id = created["taskId"].as_str().unwrap().to_owned();
    let done = settle(&url, "key-a", &id, false).await;
    assert_eq!(done["result"]["status"], "completed", "{done}");
    let text = done["result"]["result"]["content"][0]["text"]
        .as_str()
        .unwrap();
    assert!(text.contains("Ada"), "{text}");
}

/// One request of `client`; the whole response.
async fn raw(client: &mcp_tests::HttpClient, method: &str, params: Value) -> Value {
    let msg = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    client.post_raw(msg.to_string()).await.body
}

/// Never a task.
#[tool(domain = "tasks")]
fn plain() -> &'static str {
    "plain"
}

/// The experimental tasks of 2025-11-25: `execution.taskSupport` in listings, the `tasks`
/// capability, a `tools/call` with `task` answered with a `CreateTaskResult`, `tasks/get`,
/// `tasks/list` (the caller's own), `tasks/result` (waits, then the call's result with the
/// related-task `_meta`), `tasks/cancel`; every message valid against the 2025-11-25 schema.
#[tokio::test]
async fn the_experimental_tasks_of_2025_11_25() {
    use mcp_tests::{HttpClient, assert_valid};
    let who = |name: &str| Principal {
        subject: name.into(),
        ..Principal::default()
    };
    let server = McpServer::new("Tasks")
        .domain("tasks")
        .auth(ApiKeyAuth::keys([
            ("key-a", who("alice")),
            ("key-b", who("bob")),
        ]));
    let app = axum::Router::new().nest_mcp("/mcp", server.http_app(Transport::Http));
    let url = format!("http://{}/mcp", serve(app).await);
    const V25: &str = "2025-11-25";
    let alice = HttpClient::new(&url, Some(V25)).header("x-api-key", "key-a");
    let bob = HttpClient::new(&url, Some(V25)).header("x-api-key", "key-b");

    let init = alice
        .result("initialize", json!({"protocolVersion": V25, "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}))
        .await;
    assert_eq!(
        init["capabilities"]["tasks"],
        json!({"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}})
    );
    let tools = alice.result("tools/list", json!({})).await;
    let crunch = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "crunch")
        .unwrap();
    assert_eq!(crunch["execution"], json!({"taskSupport": "optional"}));

    let created = raw(
        &alice,
        "tools/call",
        json!({"name": "crunch", "arguments": {"ms": 100}, "task": {"ttl": 60000}}),
    )
    .await;
    assert_valid(V25, "CreateTaskResult", &created["result"]);
    let task = &created["result"]["task"];
    assert_eq!(task["status"], "working");
    assert_eq!(task["ttl"], 60000);
    let id = task["taskId"].as_str().unwrap().to_owned();

    let got = raw(&alice, "tasks/get", json!({"taskId": id})).await;
    assert_valid(V25, "GetTaskResult", &got["result"]);
    let listed = raw(&alice, "tasks/list", json!({})).await;
    assert_valid(V25, "ListTasksResult", &listed["result"]);
    assert_eq!(listed["result"]["tasks"][0]["taskId"], id.as_str());
    let theirs = raw(&bob, "tasks/list", json!({})).await;
    assert_eq!(
        theirs["result"]["tasks"],
        json!([]),
        "bob sees none of alice's tasks"
    );
    assert_eq!(
        raw(&bob, "tasks/get", json!({"taskId": id})).await["error"]["code"],
        -32602
    );

    // `tasks/result` waits for the end and answers as the call would have.
    let result = raw(&alice, "tasks/result", json!({"taskId": id})).await;
    assert_valid(V25, "CallToolResult", &result["result"]);
    assert_eq!(
        result["result"]["content"][0]["text"],
        "crunched for 100 ms"
    );
    assert_eq!(
        result["result"]["_meta"]["io.modelcontextprotocol/related-task"]["taskId"],
        id.as_str()
    );

    // Cancelling a running one answers the task, cancelled.
    let created = raw(
        &alice,
        "tools/call",
        json!({"name": "crunch", "arguments": {"ms": 10000}, "task": {}}),
    )
    .await;
    let id = created["result"]["task"]["taskId"]
        .as_str()
        .unwrap()
        .to_owned();
    let cancelled = raw(&alice, "tasks/cancel", json!({"taskId": id})).await;
    assert_valid(V25, "CancelTaskResult", &cancelled["result"]);
    assert_eq!(cancelled["result"]["status"], "cancelled");
    // Ended: it cannot be cancelled again (-32602).
    let again = raw(&alice, "tasks/cancel", json!({"taskId": id})).await;
    assert_eq!(again["error"]["code"], -32602, "{again}");
    // `task` on a tool that is never a task, and a task-only tool called without it: -32602.
    let refused = raw(
        &alice,
        "tools/call",
        json!({"name": "plain", "arguments": {}, "task": {}}),
    )
    .await;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    let refused = raw(
        &alice,
        "tools/call",
        json!({"name": "ask_word", "arguments": {}}),
    )
    .await;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
}

/// Waits until the test lets it go (`LET_GO`).
#[tool(domain = "tasks", task = "optional")]
async fn held() -> &'static str {
    LET_GO.notified().await;
    "let go"
}

static LET_GO: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Task records in memory, their reads counted.
struct CountingReads {
    inner: mcp_runtime::store::MemoryTaskStore,
    reads: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl mcp_runtime::store::TaskStore for CountingReads {
    fn put(
        &self,
        record: mcp_runtime::store::TaskRecord,
    ) -> futures_util::future::BoxFuture<'_, Result<(), mcp_runtime::store::StoreError>> {
        self.inner.put(record)
    }
    fn get(
        &self,
        id: &str,
    ) -> futures_util::future::BoxFuture<
        '_,
        Result<Option<mcp_runtime::store::TaskRecord>, mcp_runtime::store::StoreError>,
    > {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.get(id)
    }
    fn list(
        &self,
        owner: Option<&str>,
        limit: usize,
    ) -> futures_util::future::BoxFuture<
        '_,
        Result<Vec<mcp_runtime::store::TaskRecord>, mcp_runtime::store::StoreError>,
    > {
        self.inner.list(owner, limit)
    }
}

/// 2025-11-25's `tasks/result` waits for the task's end without polling the store: it answers
/// as soon as the task ends, and reads the record about once a second meanwhile.
#[tokio::test]
async fn tasks_result_waits_for_the_end_without_polling_the_store() {
    use mcp_tests::HttpClient;
    use std::sync::atomic::Ordering;
    let reads = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let server = McpServer::new("Tasks")
        .domain("tasks")
        .task_store(CountingReads {
            inner: mcp_runtime::store::MemoryTaskStore::default(),
            reads: reads.clone(),
        })
        .auth(ApiKeyAuth::keys([(
            "key-a",
            Principal {
                subject: "alice".into(),
                ..Principal::default()
            },
        )]));
    let app = axum::Router::new().nest_mcp("/mcp", server.http_app(Transport::Http));
    let url = format!("http://{}/mcp", serve(app).await);
    let client = || HttpClient::new(&url, Some("2025-11-25")).header("x-api-key", "key-a");
    let created = raw(
        &client(),
        "tools/call",
        json!({"name": "held", "arguments": {}, "task": {}}),
    )
    .await;
    let id = created["result"]["task"]["taskId"]
        .as_str()
        .unwrap()
        .to_owned();
    let waiting = {
        let (client, id) = (client(), id.clone());
        tokio::spawn(async move { raw(&client, "tasks/result", json!({"taskId": id})).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = reads.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let during = reads.load(Ordering::SeqCst) - before;
    assert!(during <= 3, "{during} reads in 1.5 s of waiting");
    assert!(!waiting.is_finished());
    let released = std::time::Instant::now();
    LET_GO.notify_one();
    let result = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("tasks/result answers")
        .unwrap();
    assert!(
        released.elapsed() < Duration::from_millis(500),
        "answered {:?} after the end",
        released.elapsed()
    );
    assert_eq!(result["result"]["content"][0]["text"], "let go", "{result}");
}

/// `subscriptions/listen` with `taskIds`: the acknowledgement names the caller's own tasks among
/// them, and each change of those arrives as `notifications/tasks` carrying the whole task (the
/// result inlined once completed); without the extension it is -32021.
#[tokio::test]
async fn task_status_notifications_on_the_listen_stream() {
    let url = start().await;
    let (_, created) = rpc(
        &url,
        "key-a",
        true,
        "tools/call",
        json!({"name": "crunch", "arguments": {"ms": 1000}}),
    )
    .await;
    let id = created["result"]["taskId"].as_str().unwrap().to_owned();
    let (_, theirs) = rpc(
        &url,
        "key-b",
        true,
        "tools/call",
        json!({"name": "crunch", "arguments": {"ms": 1000}}),
    )
    .await;
    let their_id = theirs["result"]["taskId"].as_str().unwrap().to_owned();

    let listen = |key: &'static str, tasks: bool| {
        let params = json!({"notifications": {"taskIds": [id, their_id, "no-such-task"]}});
        send(&url, key, tasks, "subscriptions/listen", params)
    };
    let refused = listen("key-a", false).await;
    assert_eq!(refused.status(), 400);
    let refused: Value = refused.json().await.unwrap();
    assert_eq!(refused["error"]["code"], -32021, "{refused}");

    let res = listen("key-a", true).await;
    assert_eq!(res.status(), 200);
    let mut events = mcp_tests::SseReader::new(res);
    let ack = events.next_json().await;
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged");
    assert_eq!(
        ack["params"]["notifications"]["taskIds"],
        json!([id]),
        "only the caller's own"
    );
    let done = loop {
        let n = tokio::time::timeout(Duration::from_secs(5), events.next_json())
            .await
            .expect("a notification within 5 s");
        assert_eq!(n["method"], "notifications/tasks", "{n}");
        assert_eq!(
            n["params"]["taskId"],
            id.as_str(),
            "never another caller's task"
        );
        if n["params"]["status"] != "working" {
            break n;
        }
    };
    assert_eq!(done["params"]["status"], "completed", "{done}");
    assert_eq!(
        done["params"]["result"]["content"][0]["text"],
        "crunched for 1000 ms"
    );
}

/// Inside a task, the tool's progress messages become the task's `statusMessage`.
#[tokio::test]
async fn progress_inside_a_task_is_its_status_message() {
    let url = start().await;
    let (_, created) = rpc(
        &url,
        "key-a",
        true,
        "tools/call",
        json!({"name": "progressive", "arguments": {}}),
    )
    .await;
    let id = created["result"]["taskId"].as_str().unwrap().to_owned();
    let mut seen = None;
    for _ in 0..100 {
        let t = get(&url, "key-a", &id).await;
        if let Some(m) = t["result"]["statusMessage"].as_str() {
            seen = Some((m.to_owned(), t["result"]["status"].clone()));
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (message, status) = seen.expect("a status message while working");
    assert_eq!(message, "halfway");
    assert_eq!(status, "working");
}

/// Waits to be cancelled, and says so.
#[tool(domain = "tasks", task = "required")]
async fn stoppable(ctx: Context) -> &'static str {
    ctx.cancelled().await;
    STOPPED.store(true, std::sync::atomic::Ordering::SeqCst);
    "stopped"
}

static STOPPED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Two instances sharing a Redis: a task running on A is answered (`tasks/update`) and
/// cancelled (`tasks/cancel`) through B, and polled on both.
#[tokio::test]
async fn a_task_on_one_instance_is_updated_and_cancelled_through_another() {
    if !mcp_tests::needs(mcp_tests::REDIS) {
        return;
    }
    let redis = mcp_tests::Redis::start();
    let instance = || async {
        let store = mcp_runtime::store::RedisStore::new(&redis.url, "test")
            .unwrap()
            .scoped("tasks");
        let server = McpServer::new("Tasks")
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
    };
    let (a, b) = (instance().await, instance().await);
    // Each listens once it has served a request: one each before the test begins.
    get(&a, "key-a", "none").await;
    get(&b, "key-a", "none").await;
    redis.wait_for_subscribers("test:tasks:bus", 2).await;

    ask_word_through(&a, &b).await;

    let (_, created) = rpc(
        &a,
        "key-a",
        true,
        "tools/call",
        json!({"name": "stoppable", "arguments": {}}),
    )
    .await;
    let id = created["result"]["taskId"].as_str().unwrap().to_owned();
    let (_, ack) = rpc(&b, "key-a", true, "tasks/cancel", json!({"taskId": id})).await;
    assert_eq!(ack["result"], json!({"resultType": "complete"}), "{ack}");
    assert_eq!(get(&a, "key-a", &id).await["result"]["status"], "cancelled");
    for _ in 0..250 {
        if STOPPED.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the task on A was not stopped by the cancel sent to B");
}

/// `RedisStore` bounds the task records kept per caller as `MemoryTaskStore` does: past 1,000 a
/// new task is refused, until some expire.
#[tokio::test]
async fn redis_keeps_a_bounded_number_of_tasks_per_caller() {
    use mcp_runtime::{store::TaskRecord, store::TaskStatus, store::TaskStore as _};
    if !mcp_tests::needs(mcp_tests::REDIS) {
        return;
    }
    let redis = mcp_tests::Redis::start();
    let store = mcp_runtime::store::RedisStore::new(&redis.url, "test")
        .unwrap()
        .scoped("bound");
    let record = |i: usize, status: TaskStatus, ttl_ms: u64| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        TaskRecord {
            id: format!("t{i}"),
            owner: Some("alice".into()),
            status,
            status_message: None,
            created_at_ms: now,
            updated_at_ms: now,
            ttl_ms,
            result: None,
            error: None,
            input_requests: serde_json::Map::new(),
        }
    };
    for i in 0..1000 {
        store
            .put(record(i, TaskStatus::Working, 60_000))
            .await
            .unwrap();
    }
    let refused = store
        .put(record(1000, TaskStatus::Working, 60_000))
        .await
        .unwrap_err();
    assert!(!refused.is_unavailable());
    assert!(
        refused.to_string().contains("the most one caller may"),
        "{refused}"
    );
    // Two end and expire: room for new ones.
    for i in 0..2 {
        let mut ended = record(i, TaskStatus::Completed, 1);
        ended.created_at_ms -= 10;
        store.put(ended).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    store
        .put(record(1000, TaskStatus::Working, 60_000))
        .await
        .unwrap();
    let listed = store.list(Some("alice"), 2000).await.unwrap();
    assert_eq!(listed.len(), 999, "two expired, one added");
}

/// A task whose instance stops without ending it (its process dies: no shutdown, no more
/// renewals) reads `failed` in Redis once its lease runs out, "the instance running the task
/// stopped", on the other instances too; while its instance lives, the lease is renewed.
#[tokio::test]
async fn a_task_of_an_instance_that_died_reads_failed_after_its_lease() {
    use mcp_runtime::{store::TaskStatus, store::TaskStore as _};
    if !mcp_tests::needs(mcp_tests::REDIS) {
        return;
    }
    let redis = mcp_tests::Redis::start();
    let lease = Duration::from_millis(300);
    let store = move |url: &str| {
        mcp_runtime::store::RedisStore::new(url, "test")
            .unwrap()
            .scoped("lease")
            .task_lease(lease)
    };
    let app = |store: mcp_runtime::store::RedisStore| {
        let server = McpServer::new("Tasks")
            .domain("tasks")
            .task_store(store)
            .auth(ApiKeyAuth::keys([(
                "key-a",
                Principal {
                    subject: "alice".into(),
                    ..Principal::default()
                },
            )]));
        axum::Router::new().nest_mcp(
            "/mcp",
            server.http_app_with(Transport::StreamableHttp, HttpOptions::default()),
        )
    };
    // Instance A runs on a runtime of its own, which the test stops as a crash would.
    let (started, a_url) = std::sync::mpsc::channel();
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let redis_url = redis.url.clone();
    let a = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let url = runtime
            .block_on(async { format!("http://{}/mcp", serve(app(store(&redis_url))).await) });
        started.send(url).unwrap();
        let _ = stopped.recv();
        runtime.shutdown_background();
    });
    let a_url = a_url.recv().unwrap();
    let b_url = format!("http://{}/mcp", serve(app(store(&redis.url))).await);
    let (_, created) = rpc(
        &a_url,
        "key-a",
        true,
        "tools/call",
        json!({"name": "crunch", "arguments": {"ms": 60000}}),
    )
    .await;
    let id = created["result"]["taskId"].as_str().unwrap().to_owned();
    tokio::time::sleep(lease * 4).await;
    assert_eq!(
        get(&b_url, "key-a", &id).await["result"]["status"],
        "working",
        "renewed while its instance lives"
    );
    stop.send(()).unwrap();
    a.join().unwrap();
    let reader = store(&redis.url);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let record = loop {
        let record = reader.get(&id).await.unwrap().expect("the record is kept");
        if record.status != TaskStatus::Working {
            break record;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still working 5 s after its instance stopped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(record.status, TaskStatus::Failed);
    let message = record.error.as_ref().unwrap()["message"].as_str().unwrap();
    assert!(
        message.contains("the instance running the task stopped"),
        "{message}"
    );
    let on_b = get(&b_url, "key-a", &id).await;
    assert_eq!(on_b["result"]["status"], "failed", "{on_b}");
    let listed = reader.list(record.owner.as_deref(), 10).await.unwrap();
    assert_eq!(listed[0].status, TaskStatus::Failed);
}

/// A completed task record of `owner` (none: `None`) holding a result of `n` characters (51
/// bytes for 40), kept `ttl_ms`.
fn completed(
    id: &str,
    owner: Option<&str>,
    n: usize,
    ttl_ms: u64,
) -> mcp_runtime::store::TaskRecord {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    mcp_runtime::store::TaskRecord {
        id: id.into(),
        owner: owner.map(str::to_owned),
        status: mcp_runtime::store::TaskStatus::Completed,
        status_message: None,
        created_at_ms: now,
        updated_at_ms: now,
        ttl_ms,
        result: Some(json!({"text": "x".repeat(n)})),
        error: None,
        input_requests: serde_json::Map::new(),
    }
}

/// `RedisStore` bounds the bytes each caller's task records hold, as `MemoryTaskStore` does:
/// past the bound a record is refused with a message saying the caller's tasks hold too much,
/// other callers' are kept; replaced and expired records leave the count; lists carry no
/// results. The tasks of callers nobody can name share one caller's bounds (Redis has no bound
/// of its own), and nobody lists them.
#[tokio::test]
async fn redis_bounds_the_bytes_of_each_callers_tasks() {
    use mcp_runtime::store::TaskStore as _;
    if !mcp_tests::needs(mcp_tests::REDIS) {
        return;
    }
    let redis = mcp_tests::Redis::start();
    let store = mcp_runtime::store::RedisStore::new(&redis.url, "test")
        .unwrap()
        .scoped("bytes")
        .max_task_bytes_per_owner(130);
    let alice = Some("alice");
    store.put(completed("a", alice, 40, 60_000)).await.unwrap();
    store.put(completed("b", alice, 40, 60_000)).await.unwrap();
    let refused = store
        .put(completed("c", alice, 40, 60_000))
        .await
        .unwrap_err();
    assert!(!refused.is_unavailable());
    assert!(
        refused.to_string().contains("your tasks hold 102 bytes"),
        "{refused}"
    );
    store
        .put(completed("d", Some("bob"), 80, 60_000))
        .await
        .unwrap();
    store.put(completed("e", None, 80, 60_000)).await.unwrap();
    let anonymous = store
        .put(completed("f", None, 80, 60_000))
        .await
        .unwrap_err();
    assert!(
        anonymous.to_string().contains("your tasks hold"),
        "{anonymous}"
    );
    // A replaced record counts only as it is now.
    store.put(completed("a", alice, 10, 60_000)).await.unwrap();
    store.put(completed("c", alice, 40, 60_000)).await.unwrap();
    // An expired record no longer counts.
    store.put(completed("b", alice, 40, 1)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    store.put(completed("g", alice, 40, 60_000)).await.unwrap();
    let listed = store.list(alice, 100).await.unwrap();
    let mut ids: Vec<&str> = listed.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["a", "c", "g"]);
    assert!(listed.iter().all(|r| r.result.is_none()), "{listed:?}");
    assert!(store.list(None, 100).await.unwrap().is_empty());
    let whole = store.get("e").await.unwrap().unwrap();
    assert_eq!(whole.result, Some(json!({"text": "x".repeat(80)})));
}

/// A task still running when the server shuts down gets the calls' grace, then is recorded
/// failed (not left `working` in a shared store for ever) and its work is stopped.
#[tokio::test]
async fn tasks_running_at_shutdown_end_failed_after_the_grace() {
    use mcp_runtime::{store::TaskStatus, store::TaskStore as _};
    if !mcp_tests::needs(mcp_tests::REDIS) {
        return;
    }
    let redis = mcp_tests::Redis::start();
    let store = mcp_runtime::store::RedisStore::new(&redis.url, "test")
        .unwrap()
        .scoped("shutdown");
    let token = mcp_runtime::Shutdown::new();
    let server = McpServer::new("Tasks")
        .domain("tasks")
        .task_store(store.clone())
        // Ended tasks kept as long as can be: ten years, not an overflow of the store's expiry.
        .task_ttl(Duration::MAX)
        .auth(ApiKeyAuth::keys([(
            "key-a",
            Principal {
                subject: "alice".into(),
                ..Principal::default()
            },
        )]));
    let options = HttpOptions::default()
        .shutdown_grace(Duration::from_millis(200))
        .shutdown_on(token.clone());
    let app = axum::Router::new().nest_mcp(
        "/mcp",
        server.http_app_with(Transport::StreamableHttp, options),
    );
    let url = format!("http://{}/mcp", serve(app).await);
    let (_, created) = rpc(
        &url,
        "key-a",
        true,
        "tools/call",
        json!({"name": "crunch", "arguments": {"ms": 60000}}),
    )
    .await;
    let id = created["result"]["taskId"].as_str().unwrap().to_owned();
    assert_eq!(
        store.get(&id).await.unwrap().unwrap().status,
        TaskStatus::Working
    );
    token.start();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        store.get(&id).await.unwrap().unwrap().status,
        TaskStatus::Working,
        "within the grace, the task goes on"
    );
    for _ in 0..150 {
        let record = store.get(&id).await.unwrap().unwrap();
        if record.status != TaskStatus::Working {
            assert_eq!(record.status, TaskStatus::Failed, "{record:?}");
            let message = record.error.unwrap()["message"]
                .as_str()
                .unwrap()
                .to_owned();
            assert!(message.contains("shut down"), "{message}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the task was still working 3 s after the shutdown");
}

/// A call the bounds on running tasks refuse does not begin its work: at its most (100 per
/// caller) the next call is refused before the tool runs, not dropped once it waits.
#[tokio::test]
async fn a_call_refused_as_a_task_has_not_begun() {
    use std::sync::atomic::Ordering;
    let server = McpServer::new("Limits")
        .domain("tasks-limit")
        .auth(ApiKeyAuth::keys([(
            "key-a",
            Principal {
                subject: "alice".into(),
                ..Principal::default()
            },
        )]));
    let app = axum::Router::new().nest_mcp(
        "/mcp",
        server.http_app_with(Transport::StreamableHttp, HttpOptions::default()),
    );
    let url = format!("http://{}/mcp", serve(app).await);
    let call = json!({"name": "counted_hold", "arguments": {}});
    for _ in 0..100 {
        let (_, body) = rpc(&url, "key-a", true, "tools/call", call.clone()).await;
        assert_eq!(body["result"]["resultType"], "task", "{body}");
    }
    assert_eq!(COUNTED_STARTS.load(Ordering::SeqCst), 100);
    let (_, refused) = rpc(&url, "key-a", true, "tools/call", call).await;
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("the most one caller may")),
        "{refused}"
    );
    assert_eq!(
        COUNTED_STARTS.load(Ordering::SeqCst),
        100,
        "the refused call did not begin"
    );
    COUNTED_GO.notify_waiters();
}
