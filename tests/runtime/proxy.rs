//! The MCP client and the proxy over real HTTP and stdio: a remote server (built here, served
//! on 127.0.0.1) reached by `mcp_runtime::client::Client` in both eras, and served again
//! through `client::proxy::Proxy`: lists, calls, resources, prompts and completions; progress
//! and logs relayed; the remote's question answered by the outer client; cancellation passed
//! on; list changes followed; the remote stopped and started again.

use axum::Router;
use mcp_runtime::ask::Elicitation;
use mcp_runtime::catalog::{Prompt, PromptArgument, Resource, Tool};
use mcp_runtime::client::proxy::Proxy;
use mcp_runtime::client::{Client, ClientError, ClientOptions, Era, Target};
use mcp_runtime::context::LogLevel;
use mcp_runtime::{McpRouterExt as _, McpServer, Server, Shutdown, Transport};
use mcp_tests::{HttpClient, SseReader, serve};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The remote server: tools that echo, report progress and log, ask the user, and wait until
/// cancelled; a resource, a template and a prompt with completions.
fn remote(cancelled: Arc<AtomicBool>) -> Server {
    McpServer::new("Remote")
        .add_tool(
            Tool::new("echo", |_, args| async move {
                args.get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            })
            .description("Echo the text back.")
            .input_schema(json!({"type": "object", "required": ["text"],
                "properties": {"text": {"type": "string"}}})),
        )
        .add_tool(Tool::new("work", |ctx, _| async move {
            for i in 1..=3 {
                ctx.progress(f64::from(i), Some(3.0), Some("working")).await;
            }
            ctx.log(LogLevel::Info, "worked").await;
            "done"
        }))
        .add_tool(Tool::new("ask_name", |ctx, _| async move {
            let schema = json!({"type": "object", "properties": {"name": {"type": "string"}}});
            match ctx.elicit_with_schema("Your name?", schema).await {
                Ok(Elicitation::Accept(v)) => {
                    format!("hello {}", v["name"].as_str().unwrap_or("?"))
                }
                Ok(_) => "no name".to_owned(),
                Err(e) => format!("could not ask: {e}"),
            }
        }))
        .add_tool(Tool::new("wait", move |ctx, _| {
            let cancelled = cancelled.clone();
            async move {
                ctx.cancelled().await;
                cancelled.store(true, Ordering::SeqCst);
                "cancelled"
            }
        }))
        .add_resource(
            Resource::new("docs://readme", "readme", |_, _| async { "# Remote" })
                .mime_type("text/markdown"),
        )
        .add_resource(
            Resource::template("docs://pages/{name}", "page", |_, uri| async move {
                format!("page {uri}")
            })
            .complete("name", |_, _| async { vec!["intro", "install"] }),
        )
        .add_prompt(
            Prompt::new("greet", |_, args| async move {
                format!("Hello {}", args["who"])
            })
            .argument(PromptArgument::required("who", "whom to greet"))
            .complete("who", |_, _| async { vec!["Ada"] }),
        )
        .build()
        .unwrap()
}

async fn serve_remote(server: &Server) -> String {
    let app = Router::new().nest_mcp("/mcp", server.http_app(Transport::StreamableHttp));
    format!("http://{}/mcp", serve(app).await)
}

#[tokio::test]
async fn the_client_lists_calls_and_answers_questions_in_both_eras() {
    let remote = remote(Arc::new(AtomicBool::new(false)));
    let url = serve_remote(&remote).await;
    for era in [Era::Handshake, Era::Stateless] {
        let options = ClientOptions::default().era(era).answer_with(
            json!({"elicitation": {}}),
            |method, params| async move {
                assert_eq!(method, "elicitation/create");
                assert_eq!(params["message"], "Your name?");
                Ok(json!({"action": "accept", "content": {"name": "Ada"}}))
            },
        );
        let client = Client::connect(Target::http(&url), options).await.unwrap();
        assert_eq!(client.server_name(), "Remote", "{era:?}");
        let tools: Vec<String> = client
            .list_tools()
            .await
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(tools, ["ask_name", "echo", "wait", "work"], "{era:?}");
        let echoed = client
            .call_tool("echo", json!({"text": "hi"}))
            .await
            .unwrap();
        assert_eq!(echoed.content, [mcp_runtime::Content::text("hi")]);
        // The remote asks; the client's handler answers (on the stream, or in a round).
        let asked = client.call_tool("ask_name", json!({})).await.unwrap();
        assert_eq!(
            asked.content,
            [mcp_runtime::Content::text("hello Ada")],
            "{era:?}"
        );
        let read = client.read_resource("docs://pages/intro").await.unwrap();
        assert_eq!(read["contents"][0]["text"], "page docs://pages/intro");
        let prompt = client
            .get_prompt("greet", json!({"who": "Ada"}))
            .await
            .unwrap();
        assert_eq!(prompt["messages"][0]["content"]["text"], "Hello Ada");
        let done = client
            .complete(json!({"type": "ref/prompt", "name": "greet"}), "who", "")
            .await
            .unwrap();
        assert_eq!(done["completion"]["values"], json!(["Ada"]));
        let refused = client.call_tool("nope", json!({})).await.unwrap_err();
        assert!(
            matches!(&refused, ClientError::Rpc(e) if e.code == -32602),
            "{refused}"
        );
    }
    // Nothing listens at a closed port: a clear error, at once.
    let closed = Client::connect(
        Target::http("http://127.0.0.1:9/mcp"),
        ClientOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(closed.to_string().contains("cannot be reached"), "{closed}");
}

/// The proxy of `url` (a lazy one when `lazy`), mounted at `/mcp` of a server of its own.
async fn proxy_of(url: &str, lazy: bool) -> (String, Server) {
    let target = Target::http(url);
    let options = ClientOptions::default().timeout(Duration::from_secs(5));
    let proxy = if lazy {
        Proxy::lazy(target, options).await
    } else {
        Proxy::connect(target, options).await
    };
    let proxy = proxy.unwrap().serve(McpServer::new("Proxy")).await.unwrap();
    let app = Router::new().nest_mcp("/mcp", proxy.http_app(Transport::StreamableHttp));
    (format!("http://{}/mcp", serve(app).await), proxy)
}

const V: &str = "2025-11-25";

async fn post(url: &str, sid: Option<&str>, body: Value) -> reqwest::Response {
    mcp_tests::post_in_session(url, V, sid, &body).await
}

async fn session(url: &str) -> String {
    mcp_tests::open_session(url, V, json!({"elicitation": {}})).await
}

#[tokio::test]
async fn a_proxied_server_is_served_as_ours() {
    let cancelled = Arc::new(AtomicBool::new(false));
    let remote = remote(cancelled.clone());
    let remote_url = serve_remote(&remote).await;
    let (url, _proxy) = proxy_of(&remote_url, false).await;
    let outer = HttpClient::new(&url, Some(V));

    let tools = outer.result("tools/list", json!({})).await;
    let echo = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "echo")
        .unwrap()
        .clone();
    assert_eq!(echo["description"], "Echo the text back.");
    assert_eq!(echo["inputSchema"]["required"], json!(["text"]));
    assert_eq!(
        mcp_tests::text(&outer.call("echo", json!({"text": "via proxy"})).await),
        "via proxy"
    );
    let read = outer
        .result("resources/read", json!({"uri": "docs://readme"}))
        .await;
    assert_eq!(read["contents"][0]["text"], "# Remote");
    let templates = outer.result("resources/templates/list", json!({})).await;
    assert_eq!(
        templates["resourceTemplates"][0]["uriTemplate"],
        "docs://pages/{name}"
    );
    let done = outer
        .result(
            "completion/complete",
            json!({"ref": {"type": "ref/resource", "uri": "docs://pages/{name}"},
            "argument": {"name": "name", "value": "i"}}),
        )
        .await;
    assert_eq!(done["completion"]["values"], json!(["intro", "install"]));
    let prompt = outer
        .result(
            "prompts/get",
            json!({"name": "greet", "arguments": {"who": "Bo"}}),
        )
        .await;
    assert_eq!(prompt["messages"][0]["content"]["text"], "Hello Bo");
    // The remote's errors reach our client as they are.
    let missing = outer.request("prompts/get", json!({"name": "greet"})).await;
    assert_eq!(missing["error"]["code"], -32602, "{missing}");

    // Progress and logs of the remote's call reach our client on the call's stream.
    let sid = session(&url).await;
    post(&url, Some(&sid), json!({"jsonrpc": "2.0", "id": 1, "method": "logging/setLevel", "params": {"level": "info"}})).await;
    let res = post(
        &url,
        Some(&sid),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "work", "arguments": {}, "_meta": {"progressToken": "mine"}}}),
    )
    .await;
    let events = SseReader::new(res).collect().await;
    let messages: Vec<Value> = events
        .iter()
        .filter(|e| !e.data.is_empty())
        .map(|e| e.json())
        .collect();
    let progress: Vec<&Value> = messages
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .collect();
    assert_eq!(progress.len(), 3, "{messages:?}");
    assert!(
        progress
            .iter()
            .all(|p| p["params"]["progressToken"] == "mine"),
        "{progress:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m["method"] == "notifications/message" && m["params"]["data"] == "worked"),
        "{messages:?}"
    );
    assert_eq!(
        messages.last().unwrap()["result"]["content"][0]["text"],
        "done"
    );

    // The remote's question goes to our client, and our client's answer back to it.
    let res = post(
        &url,
        Some(&sid),
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "ask_name", "arguments": {}}}),
    )
    .await;
    if !res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream")
    {
        panic!("not a stream: {:?}", res.text().await);
    }
    let mut stream = SseReader::new(res);
    let question = stream.next_json().await;
    assert_eq!(question["method"], "elicitation/create", "{question}");
    assert_eq!(question["params"]["message"], "Your name?");
    let answered = post(
        &url,
        Some(&sid),
        json!({"jsonrpc": "2.0", "id": question["id"],
        "result": {"action": "accept", "content": {"name": "Grace"}}}),
    )
    .await;
    assert_eq!(answered.status(), 202);
    let answer = stream.next_json().await;
    assert_eq!(
        answer["result"]["content"][0]["text"], "hello Grace",
        "{answer}"
    );

    // Our client cancels: the remote's call is cancelled too.
    let waiting = tokio::spawn({
        let url = url.clone();
        let sid = sid.clone();
        async move {
            post(
                &url,
                Some(&sid),
                json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                "params": {"name": "wait", "arguments": {}}}),
            )
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    post(
        &url,
        Some(&sid),
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": 4}}),
    )
    .await;
    for _ in 0..100 {
        if cancelled.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        cancelled.load(Ordering::SeqCst),
        "the remote's call was not cancelled"
    );
    waiting.abort();

    // The remote gains a tool: the proxy lists it, and its clients are told.
    remote
        .change(|c| c.add_tool(Tool::new("added", |_, _| async { "new" })))
        .unwrap();
    let mut listed = false;
    for _ in 0..100 {
        let tools = outer.result("tools/list", json!({})).await;
        if tools["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "added")
        {
            listed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(listed, "the remote's new tool never appeared");
    assert_eq!(
        mcp_tests::text(&outer.call("added", json!({})).await),
        "new"
    );

    // Through the 2026-07-28 era too.
    let modern = mcp_tests::call_2026(&url, "echo", json!({"text": "modern"}), &[]).await;
    assert_eq!(mcp_tests::text(&modern["result"]), "modern", "{modern}");
}

#[tokio::test]
async fn a_remote_that_stops_gets_a_clear_error_and_is_used_again_when_back() {
    // A port of its own, so that the remote can come back on it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let start = || async move {
        let shutdown = Shutdown::new();
        let server = remote(Arc::new(AtomicBool::new(false)));
        let app = Router::new().nest_mcp(
            "/mcp",
            server.http_app_with(
                Transport::StreamableHttp,
                mcp_runtime::http::HttpOptions::default().shutdown_on(shutdown.clone()),
            ),
        );
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let signal = shutdown.clone();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { signal.started().await })
                .await
                .unwrap();
        });
        (shutdown, task)
    };
    // A lazy proxy starts before its remote: it serves nothing, then the remote's items.
    let (url, _proxy) = proxy_of(&format!("http://{addr}/mcp"), true).await;
    let outer = HttpClient::new(&url, Some(V));
    assert_eq!(
        outer.result("tools/list", json!({})).await["tools"],
        json!([])
    );
    let (shutdown, task) = start().await;
    let mut served = false;
    for _ in 0..100 {
        let tools = outer.result("tools/list", json!({})).await;
        if !tools["tools"].as_array().unwrap().is_empty() {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "the lazy proxy never served the remote's items");
    assert_eq!(
        mcp_tests::text(&outer.call("echo", json!({"text": "1"})).await),
        "1"
    );

    shutdown.start();
    task.await.unwrap();
    let started = std::time::Instant::now();
    let down = outer
        .request(
            "tools/call",
            json!({"name": "echo", "arguments": {"text": "2"}}),
        )
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the error took {:?}",
        started.elapsed()
    );
    let message = down["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("cannot be reached"), "{down}");

    // Back, with none of the old sessions: the proxy opens a new one and goes on.
    let (shutdown, _task) = start().await;
    assert_eq!(
        mcp_tests::text(&outer.call("echo", json!({"text": "3"})).await),
        "3"
    );
    shutdown.start();
}

#[tokio::test]
async fn a_command_over_stdio_is_proxied() {
    let client = Client::connect(
        Target::stdio(env!("CARGO_BIN_EXE_stdio-panic"), Vec::<String>::new()),
        ClientOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(client.server_name(), "Panics");
    let proxy = Proxy::new(client)
        .serve(McpServer::new("Proxy"))
        .await
        .unwrap();
    let app = Router::new().nest_mcp("/mcp", proxy.http_app(Transport::Http));
    let outer = HttpClient::new(format!("http://{}/mcp", serve(app).await), Some(V));
    let tools = outer.result("tools/list", json!({})).await;
    assert_eq!(tools["tools"][0]["name"], "log_then_panic");
    let failed = outer.call("log_then_panic", json!({})).await;
    assert_eq!(failed["isError"], true, "{failed}");
    assert!(mcp_tests::text(&failed).contains("panicked"), "{failed}");
}

#[tokio::test]
async fn credentials_bounds_timeouts_and_resumed_streams() {
    let remote = McpServer::new("Remote")
        .add_tool(Tool::new("headers", |ctx, _| async move {
            let h = ctx.headers();
            json!({
                "trace": h.get("x-trace"),
                "secret": h.get("x-secret"),
                // Tools see credentials only through `all_headers`.
                "auth": ctx.all_headers().get("authorization").and_then(|v| v.to_str().ok()),
            })
            .to_string()
        }))
        .add_tool(Tool::new("slow", |_, _| async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            "slow"
        }))
        // Ends its SSE answer mid-call (the client resumes it with Last-Event-ID).
        .add_tool(Tool::new("polled", |ctx, _| async move {
            let closed = ctx.close_stream().await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            format!("after the break: {closed}")
        }))
        .build()
        .unwrap();
    let url = serve_remote(&remote).await;

    // Fixed headers on the target, and only the allowed headers of our client's request.
    let proxy = Proxy::connect(
        Target::http(&url).header("authorization", "Bearer fixed"),
        ClientOptions::default().timeout(Duration::from_millis(500)),
    )
    .await
    .unwrap()
    .pass_headers(["X-Trace"])
    .max_in_flight(1)
    .serve(McpServer::new("Proxy"))
    .await
    .unwrap();
    let app = Router::new().nest_mcp("/mcp", proxy.http_app(Transport::Http));
    let outer_url = format!("http://{}/mcp", serve(app).await);
    let outer = HttpClient::new(&outer_url, Some(V))
        .header("x-trace", "t-1")
        .header("x-secret", "not for the remote");
    let seen: Value =
        serde_json::from_str(mcp_tests::text(&outer.call("headers", json!({})).await)).unwrap();
    assert_eq!(
        seen,
        json!({"trace": "t-1", "secret": null, "auth": "Bearer fixed"})
    );

    // Slower than the client's timeout: a clear error when it passes, not a hang.
    let started = std::time::Instant::now();
    let slow = outer
        .request("tools/call", json!({"name": "slow", "arguments": {}}))
        .await;
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );
    assert!(
        slow["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("no answer within 500 ms"),
        "{slow}"
    );

    // One call at a time through this proxy: a second one is refused at once.
    let first = tokio::spawn({
        let url = outer_url.clone();
        async move {
            HttpClient::new(&url, Some(V))
                .request("tools/call", json!({"name": "slow", "arguments": {}}))
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = outer
        .request("tools/call", json!({"name": "headers", "arguments": {}}))
        .await;
    assert!(
        second["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("1 requests running through this proxy"),
        "{second}"
    );
    first.await.unwrap();

    // A stream the server ends before the answer is resumed from its last event.
    let client = Client::connect(Target::http(&url), ClientOptions::default())
        .await
        .unwrap();
    let polled = client.call_tool("polled", json!({})).await.unwrap();
    assert_eq!(
        polled.content,
        [mcp_runtime::Content::text("after the break: true")]
    );
}

#[tokio::test]
async fn the_proxys_own_items_stay_its_own_and_names_need_no_ascii() {
    let remote = McpServer::new("Remote")
        .add_tool(Tool::new("echo", |_, _| async { "remote echo" }))
        .add_tool(Tool::new("other", |_, _| async { "remote other" }))
        .add_resource(Resource::new("docs://café", "café", |_, _| async {
            "crème"
        }))
        .build()
        .unwrap();
    let url = serve_remote(&remote).await;
    let proxy = Proxy::connect(Target::http(&url), ClientOptions::default())
        .await
        .unwrap()
        .serve(McpServer::new("Proxy").add_tool(Tool::new("echo", |_, _| async { "own echo" })))
        .await
        .unwrap();
    let check = |server: Server| async move {
        let app = Router::new().nest_mcp("/mcp", server.http_app(Transport::Http));
        let outer = HttpClient::new(format!("http://{}/mcp", serve(app).await), Some(V));
        assert_eq!(
            mcp_tests::text(&outer.call("echo", json!({})).await),
            "own echo"
        );
        assert_eq!(
            mcp_tests::text(&outer.call("other", json!({})).await),
            "remote other"
        );
    };
    check(proxy.clone()).await;
    // A change of the remote's lists takes out and puts back only the remote's items.
    remote
        .change(|c| c.add_tool(Tool::new("more", |_, _| async { "more" })))
        .unwrap();
    for _ in 0..100 {
        if proxy.tools().iter().any(|t| t.name() == "more") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(proxy.tools().iter().any(|t| t.name() == "more"));
    check(proxy).await;

    // A URI that is not ASCII travels in `Mcp-Name` in its encoded form (2026-07-28).
    let client = Client::connect(
        Target::http(&url),
        ClientOptions::default().era(Era::Stateless),
    )
    .await
    .unwrap();
    let read = client.read_resource("docs://café").await.unwrap();
    assert_eq!(read["contents"][0]["text"], "crème", "{read}");
}
