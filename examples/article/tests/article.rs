//! The article app, started as the real binary on 127.0.0.1: REST and every MCP tool over HTTP,
//! on the same database, with the API keys stored in it.

use mcp_tests::{HttpClient, text};
use serde_json::{Value, json};
use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// The running binary; killed on drop.
struct App {
    child: Child,
    base: String,
    db: PathBuf,
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn temp_db(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("example-article-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("article.db")
}

fn start(db: PathBuf) -> App {
    let mut child = Command::new(env!("CARGO_BIN_EXE_example-article"))
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("DATABASE_PATH", &db)
        .env("DEMO_API_KEY", "test-key")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the example starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_owned();
    App { child, base, db }
}

fn mcp(app: &App, path: &str, key: Option<&str>) -> HttpClient {
    let c = HttpClient::new(format!("{}{path}", app.base), Some("2025-11-25"));
    match key {
        Some(k) => c.header("x-api-key", k),
        None => c,
    }
}

#[tokio::test]
async fn rest_and_health() {
    let app = start(temp_db("rest"));
    let http = reqwest::Client::new();
    let health: Value = http
        .get(format!("{}/health", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health, json!({"status": "ok"}));
    let res = http
        .get(format!("{}/api/v1/projects", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    let res = http
        .post(format!("{}/api/v1/projects", app.base))
        .header("x-api-key", "test-key")
        .json(&json!({"name": "From REST"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let list: Value = http
        .get(format!("{}/api/v1/projects", app.base))
        .header("x-api-key", "test-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["From REST", "Mobile app", "Website relaunch"]);
}

#[tokio::test]
async fn the_seed_curl_lists_tools_on_every_mount() {
    let app = start(temp_db("curl"));
    let http = reqwest::Client::new();
    for (path, expected) in [
        ("/mcp/", vec!["get_status"]),
        ("/mcp", vec!["get_status"]),
        (
            "/mcp/crm/",
            vec!["create_project", "list_projects", "search_documents"],
        ),
        ("/mcp/slack", vec!["list_channels", "post_message"]),
    ] {
        // curl -X POST …/mcp/ -H "Content-Type: application/json" -d '{"jsonrpc":"2.0","method":"tools/list","id":1}'
        let res = http
            .post(format!("{}{path}", app.base))
            .header("content-type", "application/json")
            .header("accept", "*/*")
            .body(r#"{"jsonrpc":"2.0","method":"tools/list","id":1}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200, "{path}");
        let body: Value = res.json().await.unwrap();
        let names: Vec<_> = body["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, expected, "{path}");
        mcp_tests::assert_valid_response("2025-03-26", "tools/list", &body);
    }
}

#[tokio::test]
async fn every_tool_over_http() {
    let app = start(temp_db("tools"));
    let api = mcp(&app, "/mcp/", None);
    let init = api
        .result("initialize", json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}))
        .await;
    assert_eq!(init["serverInfo"]["name"], "API Tools");
    assert_eq!(
        text(&api.call("get_status", json!({})).await),
        "All systems operational"
    );

    let crm = mcp(&app, "/mcp/crm", Some("test-key"));
    let listed = crm.call("list_projects", json!({})).await;
    assert_eq!(
        listed["structuredContent"]["result"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let created = crm
        .call(
            "create_project",
            json!({"name": "From MCP", "description": "via a tool"}),
        )
        .await;
    assert_eq!(created["structuredContent"]["name"], "From MCP");
    let listed = crm.call("list_projects", json!({"limit": 1})).await;
    assert_eq!(listed["structuredContent"]["result"][0]["name"], "From MCP");
    // The REST API sees what the tool created: one database.
    let rest: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/projects", app.base))
        .header("x-api-key", "test-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rest[0]["name"], "From MCP");
    let hits = crm
        .call("search_documents", json!({"query": "relaunch"}))
        .await;
    let titles: Vec<_> = hits["structuredContent"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Copy deck"]);
    let hits = crm
        .call("search_documents", json!({"query": "private"}))
        .await;
    assert_eq!(
        hits["structuredContent"]["result"],
        json!([]),
        "other users' documents stay hidden"
    );

    let slack = mcp(&app, "/mcp/slack/", Some("test-key"));
    let channels = slack.call("list_channels", json!({})).await;
    assert_eq!(
        channels["structuredContent"]["result"][0]["name"],
        "engineering"
    );
    let posted = slack
        .call(
            "post_message",
            json!({"channel": "#general", "text": "hello"}),
        )
        .await;
    assert_eq!(posted["structuredContent"]["author"], "Demo User");
    assert_eq!(posted["structuredContent"]["channel"], "general");
    let missing = slack
        .call("post_message", json!({"channel": "nope", "text": "x"}))
        .await;
    assert_eq!(missing["isError"], true);
    assert!(text(&missing).contains("no channel named `nope`"));
}

#[tokio::test]
async fn api_keys_are_checked() {
    let app = start(temp_db("keys"));
    let none = mcp(&app, "/mcp/crm", None);
    let r = none.call("list_projects", json!({})).await;
    assert_eq!(r["isError"], true);
    assert_eq!(
        text(&r),
        "missing API key: send it in the `x-api-key` header"
    );
    let wrong = mcp(&app, "/mcp/crm", Some("wrong-key"));
    let r = wrong.call("create_project", json!({"name": "x"})).await;
    assert_eq!(r["isError"], true);
    assert_eq!(text(&r), "invalid API key");
    let r = mcp(&app, "/mcp/slack", None)
        .call("post_message", json!({"channel": "general", "text": "x"}))
        .await;
    assert_eq!(r["isError"], true);
}

#[tokio::test]
async fn the_database_is_created_once_and_kept() {
    let db = temp_db("persist");
    {
        let app = start(db.clone());
        let crm = mcp(&app, "/mcp/crm", Some("test-key"));
        crm.call("create_project", json!({"name": "Kept"})).await;
    }
    let app = start(db);
    assert!(app.db.exists());
    let crm = mcp(&app, "/mcp/crm", Some("test-key"));
    let listed = crm.call("list_projects", json!({})).await;
    let names: Vec<_> = listed["structuredContent"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["Kept", "Mobile app", "Website relaunch"]);
}

#[tokio::test]
async fn every_era_and_the_legacy_sse_endpoints() {
    let app = start(temp_db("eras"));
    let http = reqwest::Client::new();
    // 2026-07-28: stateless, per-request _meta, headers matching the body.
    let res = http
        .post(format!("{}/mcp/crm", app.base))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("x-api-key", "test-key")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "list_projects")
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": "list_projects", "arguments": {},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {}
            }}}),
        )
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    mcp_tests::assert_valid("2026-07-28", "CallToolResultResponse", &body);
    assert_eq!(
        body["result"]["structuredContent"]["result"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // A session of the handshake era.
    let res = http
        .post(format!("{}/mcp/slack/", app.base))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}))
        .send()
        .await
        .unwrap();
    assert!(res.headers().contains_key("mcp-session-id"));

    // The legacy HTTP+SSE transport: GET /sse announces the POST endpoint under the mount.
    let res = http
        .get(format!("{}/mcp/slack/sse", app.base))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let mut events = mcp_tests::SseReader::new(res);
    let endpoint = events.next().await.unwrap();
    assert_eq!(endpoint.event.as_deref(), Some("endpoint"));
    assert!(endpoint.data.starts_with("/mcp/slack/messages?sessionId="));
    let res = http
        .post(format!("{}{}", app.base, endpoint.data))
        .header("content-type", "application/json")
        .header("x-api-key", "test-key")
        .json(&json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "list_channels", "arguments": {}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 202);
    let answer = events.next().await.unwrap().json();
    assert_eq!(answer["id"], 7);
    assert_eq!(answer["result"]["content"][0]["type"], "text");
}
