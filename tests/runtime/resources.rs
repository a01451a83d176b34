//! Resources, resource templates, prompts and completions: in-process, over real sockets in
//! every revision (each message validated against its schema), and list changes at run time
//! reaching GET streams, legacy streams and `subscriptions/listen`.

use crate::fixtures::Counter;
use axum::Router;
use mcp_runtime::{
    McpRouterExt as _, McpServer, Server, Transport, catalog::Prompt, catalog::PromptArgument,
    catalog::Resource, catalog::Tool, http::HttpOptions, protocol::code,
};
use mcp_tests::{HttpClient, SseReader, assert_valid, assert_valid_response, serve};
use serde_json::{Value, json};
use std::time::Duration;

fn server() -> Server {
    McpServer::new("Resources")
        .domain("rx")
        .add_tool(Tool::new("noop", |_, _| async { "ok" }))
        .state(Counter::default())
        .build()
        .unwrap()
}

const REVISIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
const V26: &str = "2026-07-28";

#[tokio::test]
async fn resources_templates_prompts_and_completions_in_process() {
    let s = server();
    let c = s.client();
    let resources = c.list_resources().await.unwrap();
    let uris: Vec<&str> = resources
        .iter()
        .map(|r| r["uri"].as_str().unwrap())
        .collect();
    assert_eq!(uris, ["docs://logo", "docs://readme"]);
    assert_eq!(
        resources[1],
        json!({"uri": "docs://readme", "name": "readme", "title": "README",
            "description": "The fixture project's README.", "mimeType": "text/markdown",
            "annotations": {"audience": ["user"], "priority": 0.5, "lastModified": "2025-01-12T15:00:58Z"},
            "size": 10})
    );
    let templates = c.list_resource_templates().await.unwrap();
    let t: Vec<&str> = templates
        .iter()
        .map(|r| r["uriTemplate"].as_str().unwrap())
        .collect();
    assert_eq!(t, ["files:///{+path}", "rx://projects/{id}"]);

    // Text, bytes (base64), and a Serialize value as JSON, each with its URI and MIME type.
    assert_eq!(
        c.read_resource("docs://readme").await.unwrap(),
        [json!({"uri": "docs://readme", "mimeType": "text/markdown", "text": "# Fixtures"})]
    );
    assert_eq!(
        c.read_resource("docs://logo").await.unwrap(),
        [json!({"uri": "docs://logo", "mimeType": "image/png", "blob": "iVBORw=="})]
    );
    assert_eq!(
        c.read_resource("rx://projects/7").await.unwrap(),
        [
            json!({"uri": "rx://projects/7", "mimeType": "application/json",
            "text": r#"{"id":7,"name":"Project 7"}"#})
        ]
    );
    assert_eq!(
        c.read_resource("files:///src/main.rs").await.unwrap()[0]["text"],
        "contents of src/main.rs"
    );

    // A variable that does not parse names itself; unknown URIs are "not found" with the URI.
    let e = c.read_resource("rx://projects/seven").await.unwrap_err();
    assert_eq!(e.code, code::INVALID_PARAMS);
    assert!(e.message.contains("`id` = `seven`"), "{}", e.message);
    let e = c.read_resource("rx://nothing").await.unwrap_err();
    assert_eq!(e.code, -32002);
    assert_eq!(e.data, Some(json!({"uri": "rx://nothing"})));
    let e = c.read_resource("rx://projects/404").await.unwrap_err();
    assert_eq!(
        (e.code, e.data),
        (-32002, Some(json!({"uri": "rx://projects/404"})))
    );

    // Template variables are checked before the function runs.
    for uri in [
        "files:///a/../../etc/passwd",
        "files:////etc/passwd",
        "files:///a%00b",
        "files:///C:%5Cboot.ini",
        "rx://projects/..%2F..%2Fadmin",
        "files:///%2e%2e/secret",
    ] {
        let e = c.read_resource(uri).await.unwrap_err();
        assert_eq!(e.code, code::INVALID_PARAMS, "{uri}");
        assert_eq!(e.data, Some(json!({"uri": uri})));
    }

    // Prompts.
    let prompts = c.list_prompts().await.unwrap();
    assert_eq!(
        prompts[0],
        json!({"name": "code_review", "title": "Code review", "description": "Review a piece of code.",
            "arguments": [
                {"name": "code", "description": "The code to review.", "required": true},
                {"name": "language", "description": "Its language.", "required": false}]})
    );
    let r = c
        .get_prompt(
            "code_review",
            json!({"code": "x = 1", "language": "python"}),
        )
        .await
        .unwrap();
    assert_eq!(r.messages.len(), 2);
    assert_eq!(
        serde_json::to_value(&r.messages[0]).unwrap(),
        json!({"role": "user", "content": {"type": "text", "text": "Review this code in python:\nx = 1"}})
    );
    assert_eq!(r.description.as_deref(), Some("Review a piece of code."));
    let e = c.get_prompt("code_review", json!({})).await.unwrap_err();
    assert_eq!(e.code, code::INVALID_PARAMS);
    assert!(
        e.message.contains("needs the argument `code`"),
        "{}",
        e.message
    );
    let e = c.get_prompt("nope", json!({})).await.unwrap_err();
    assert_eq!(e.code, code::INVALID_PARAMS);
    let e = c
        .get_prompt("project_brief", json!({"project_id": "x"}))
        .await
        .unwrap_err();
    assert!(e.message.contains("`project_id` = `x`"), "{}", e.message);
    let brief = c
        .get_prompt("project_brief", json!({"project_id": "3"}))
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&brief.messages[0].content).unwrap(),
        json!({"type": "resource", "resource": {"uri": "rx://projects/3",
            "mimeType": "application/json", "text": r#"{"id":3,"name":"Project 3"}"#}})
    );

    // Completions: at most 100 values, with the total; the other arguments are seen.
    let complete = |r: Value, name: &str, value: &str, ctx: Value| {
        c.request(
            "completion/complete",
            json!({"ref": r, "argument": {"name": name, "value": value}, "context": {"arguments": ctx}}),
        )
    };
    let all = complete(
        json!({"type": "ref/resource", "uri": "rx://projects/{id}"}),
        "id",
        "",
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(all["completion"]["values"].as_array().unwrap().len(), 100);
    assert_eq!(all["completion"]["total"], 150);
    assert_eq!(all["completion"]["hasMore"], true);
    let some = complete(
        json!({"type": "ref/resource", "uri": "rx://projects/{id}"}),
        "id",
        "14",
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(
        some["completion"],
        json!({"values": ["14", "140", "141", "142", "143", "144", "145", "146", "147", "148", "149"]})
    );
    let r = complete(
        json!({"type": "ref/prompt", "name": "code_review"}),
        "language",
        "r",
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(r["completion"]["values"], json!(["rust", "ruby"]));
    let r = complete(
        json!({"type": "ref/prompt", "name": "code_review"}),
        "language",
        "r",
        json!({"code": "fn main() {}"}),
    )
    .await
    .unwrap();
    assert_eq!(r["completion"]["values"], json!(["rust"]));
    // An argument without a completion function completes to nothing; unknown ones are errors.
    let r = complete(
        json!({"type": "ref/prompt", "name": "code_review"}),
        "code",
        "x",
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(r["completion"], json!({"values": []}));
    let e = complete(
        json!({"type": "ref/prompt", "name": "code_review"}),
        "nope",
        "",
        json!({}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, code::INVALID_PARAMS);
}

#[tokio::test]
async fn every_revision_over_http_validates_against_its_schema() {
    let app = Router::new().nest_mcp(
        "/mcp",
        server().http_app_with(Transport::StreamableHttp, HttpOptions::default()),
    );
    let addr = serve(app).await;
    for revision in REVISIONS {
        let c = HttpClient::new(format!("http://{addr}/mcp"), Some(revision));
        let init = c
            .result(
                "initialize",
                json!({"protocolVersion": revision, "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}),
            )
            .await;
        let caps = &init["capabilities"];
        assert_eq!(
            caps["resources"],
            json!({"subscribe": true, "listChanged": true}),
            "{revision}: a session has a GET stream for them"
        );
        assert_eq!(caps["prompts"], json!({"listChanged": true}));
        assert_eq!(caps.get("completions").is_some(), revision >= "2025-03-26");
        for (method, params) in [
            ("resources/list", json!({})),
            ("resources/templates/list", json!({})),
            ("resources/read", json!({"uri": "docs://readme"})),
            ("resources/read", json!({"uri": "docs://logo"})),
            ("resources/read", json!({"uri": "rx://projects/5"})),
            ("prompts/list", json!({})),
            (
                "prompts/get",
                json!({"name": "code_review", "arguments": {"code": "x"}}),
            ),
            (
                "prompts/get",
                json!({"name": "project_brief", "arguments": {"project_id": "2"}}),
            ),
            (
                "completion/complete",
                json!({"ref": {"type": "ref/prompt", "name": "code_review"}, "argument": {"name": "language", "value": "p"}}),
            ),
        ] {
            let res = c.request(method, params).await;
            assert!(res.get("result").is_some(), "{revision} {method}: {res}");
        }
        // Titles and lastModified only where the revision has them.
        let list = c.result("resources/list", json!({})).await;
        let readme = &list["resources"][1];
        assert_eq!(
            readme.get("title").is_some(),
            revision >= "2025-06-18",
            "{revision}"
        );
        assert_eq!(
            readme["annotations"].get("lastModified").is_some(),
            revision >= "2025-06-18"
        );
        let err = c
            .request("resources/read", json!({"uri": "rx://missing"}))
            .await;
        assert_eq!(err["error"]["code"], -32002);
    }
}

/// A 2026-07-28 request of `method`, with the headers the revision requires.
async fn post_2026(url: &str, id: i64, method: &str, mut params: Value) -> reqwest::Response {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": V26,
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    let mut req = mcp_tests::http()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", V26)
        .header("mcp-method", method);
    if let Some(name) = params
        .get("name")
        .or(params.get("uri"))
        .and_then(Value::as_str)
    {
        req = req.header("mcp-name", name);
    }
    req.json(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_2026_era_on_both_http_transports() {
    for transport in [Transport::StreamableHttp, Transport::Http] {
        let app = Router::new().nest_mcp("/mcp", server().http_app(transport));
        let addr = serve(app).await;
        let url = format!("http://{addr}/mcp");
        for (method, params, result_type) in [
            ("server/discover", json!({}), "DiscoverResult"),
            ("tools/list", json!({}), "ListToolsResult"),
            ("tools/call", json!({"name": "noop"}), "CallToolResult"),
            ("resources/list", json!({}), "ListResourcesResult"),
            (
                "resources/templates/list",
                json!({}),
                "ListResourceTemplatesResult",
            ),
            (
                "resources/read",
                json!({"uri": "rx://projects/1"}),
                "ReadResourceResult",
            ),
            ("prompts/list", json!({}), "ListPromptsResult"),
            (
                "prompts/get",
                json!({"name": "code_review", "arguments": {"code": "x"}}),
                "GetPromptResult",
            ),
            (
                "completion/complete",
                json!({"ref": {"type": "ref/prompt", "name": "code_review"}, "argument": {"name": "language", "value": "r"}}),
                "CompleteResult",
            ),
        ] {
            let res = post_2026(&url, 1, method, params).await;
            assert_eq!(res.status(), 200, "{transport:?} {method}");
            let body: Value = res.json().await.unwrap();
            assert_valid(V26, "JSONRPCResultResponse", &body);
            assert_valid(V26, result_type, &body["result"]);
            assert_eq!(body["result"]["resultType"], "complete", "{method}");
        }
        // Resource not found is -32602 with the URI in this revision (SEP-2164).
        let res = post_2026(&url, 2, "resources/read", json!({"uri": "rx://missing"})).await;
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], -32602);
        assert_eq!(body["error"]["data"]["uri"], "rx://missing");
        assert_valid(V26, "JSONRPCErrorResponse", &body);
        // Caching hints on every list.
        for method in ["resources/list", "resources/templates/list", "prompts/list"] {
            let body: Value = post_2026(&url, 3, method, json!({}))
                .await
                .json()
                .await
                .unwrap();
            assert_eq!(body["result"]["cacheScope"], "public");
            assert!(body["result"]["ttlMs"].as_u64().unwrap() > 0);
        }
    }
}

async fn open_session(url: &str, revision: &str) -> String {
    let res = mcp_tests::http()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": revision, "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}))
        .send()
        .await
        .unwrap();
    let sid = res.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["result"]["capabilities"]["resources"],
        json!({"subscribe": true, "listChanged": true})
    );
    assert_eq!(
        body["result"]["capabilities"]["tools"],
        json!({"listChanged": true})
    );
    sid
}

async fn session_post(url: &str, sid: &str, body: Value) -> Value {
    let res = mcp_tests::http()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", sid)
        .header("mcp-protocol-version", "2025-11-25")
        .json(&body)
        .send()
        .await
        .unwrap();
    if res.status() == 202 {
        return Value::Null;
    }
    res.json().await.unwrap()
}

#[tokio::test]
async fn list_changes_and_updates_reach_every_stream() {
    let s = server();
    let app = Router::new().nest_mcp("/mcp", s.http_app(Transport::StreamableHttp));
    let addr = serve(app).await;
    let url = format!("http://{addr}/mcp");

    // A session's GET stream.
    let sid = open_session(&url, "2025-11-25").await;
    session_post(
        &url,
        &sid,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    let get = mcp_tests::http()
        .get(&url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &sid)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    let mut get = SseReader::new(get);
    let sub = session_post(
        &url,
        &sid,
        json!({"jsonrpc": "2.0", "id": 1, "method": "resources/subscribe", "params": {"uri": "rx://projects/1"}}),
    )
    .await;
    assert_eq!(sub["result"], json!({}));

    // The 2026 listen stream, asking for tools and prompts and one resource.
    let listen = post_2026(
        &url,
        77,
        "subscriptions/listen",
        json!({"notifications": {"toolsListChanged": true, "promptsListChanged": true,
            "resourceSubscriptions": ["rx://projects/2"]}}),
    )
    .await;
    let mut listen = SseReader::new(listen);
    let ack = listen.next_json().await;
    assert_valid(V26, "SubscriptionsAcknowledgedNotification", &ack);
    assert_eq!(
        ack["params"]["notifications"],
        json!({"toolsListChanged": true, "promptsListChanged": true, "resourceSubscriptions": ["rx://projects/2"]})
    );

    // One edit, one notification per changed list.
    s.change(|c| {
        assert!(c.set_tool_enabled("noop", false));
        c.add_prompt(
            Prompt::new("late", |_, _| async { "late" })
                .argument(PromptArgument::optional("x", "anything")),
        );
    })
    .unwrap();
    let mut got = vec![get.next_json().await, get.next_json().await];
    got.sort_by_key(|m| m["method"].as_str().unwrap().to_owned());
    assert_eq!(got[0]["method"], "notifications/prompts/list_changed");
    assert_eq!(got[1]["method"], "notifications/tools/list_changed");
    for m in &got {
        assert_valid("2025-11-25", "JSONRPCNotification", m);
    }
    let mut heard = vec![listen.next_json().await, listen.next_json().await];
    heard.sort_by_key(|m| m["method"].as_str().unwrap().to_owned());
    assert_eq!(heard[0]["method"], "notifications/prompts/list_changed");
    assert_eq!(heard[1]["method"], "notifications/tools/list_changed");
    for m in &heard {
        assert_eq!(
            m["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
            77
        );
    }
    assert_valid(V26, "ToolListChangedNotification", &heard[1]);

    // The lists changed once, for everyone.
    let c = s.client();
    assert!(c.list_tools().await.unwrap().is_empty());
    assert!(
        c.list_prompts()
            .await
            .unwrap()
            .iter()
            .any(|p| p["name"] == "late")
    );
    let res = post_2026(&url, 5, "tools/call", json!({"name": "noop"})).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32602, "a disabled tool is unknown");

    // Updates go only to the streams that subscribed to that URI.
    s.notify_resource_updated("rx://projects/3");
    s.notify_resource_updated("rx://projects/1");
    s.notify_resource_updated("rx://projects/2");
    let m = get.next_json().await;
    assert_eq!(
        m,
        json!({"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": "rx://projects/1"}})
    );
    let m = listen.next_json().await;
    assert_eq!(m["params"]["uri"], "rx://projects/2");
    assert_valid(V26, "ResourceUpdatedNotification", &m);
    session_post(
        &url,
        &sid,
        json!({"jsonrpc": "2.0", "id": 2, "method": "resources/unsubscribe", "params": {"uri": "rx://projects/1"}}),
    )
    .await;
    s.notify_resource_updated("rx://projects/1");
    s.change(|c| c.set_tool_enabled("noop", true)).unwrap();
    let m = get.next_json().await;
    assert_eq!(
        m["method"], "notifications/tools/list_changed",
        "no update after unsubscribe"
    );

    // A change that would break the server is refused whole.
    let err = s
        .change(|c| {
            c.add_tool(Tool::new("bad name", |_, _| async { "x" }));
            c.set_tool_enabled("noop", false);
        })
        .unwrap_err();
    assert!(
        err.to_string().contains("invalid tool name `bad name`"),
        "{err}"
    );
    assert_eq!(c.list_tools().await.unwrap().len(), 1);
}

#[tokio::test]
async fn in_flight_calls_are_unaffected_by_a_change() {
    let slow = Tool::new("slow", |_, _| async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        "finished"
    });
    let s = McpServer::new("Changing").add_tool(slow).build().unwrap();
    let client = s.client();
    let call = tokio::spawn(async move { client.call_tool("slow", json!({})).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    s.change(|c| c.remove_tool("slow")).unwrap();
    let r = call.await.unwrap().unwrap();
    assert_eq!(r, mcp_runtime::content::CallToolResult::text("finished"));
    let e = s.client().call_tool("slow", json!({})).await.unwrap_err();
    assert_eq!(e.code, code::INVALID_PARAMS);
    // Resources added at run time are served at once.
    s.change(|c| {
        c.add_resource(Resource::new("mem://note", "note", |_, uri| async move {
            format!("note at {uri}")
        }));
    })
    .unwrap();
    let got = s.client().read_resource("mem://note").await.unwrap();
    assert_eq!(got[0]["text"], "note at mem://note");
    assert_valid_response(
        "2025-11-25",
        "resources/read",
        &json!({"jsonrpc": "2.0", "id": 1, "result": {"contents": got}}),
    );
}

#[tokio::test]
async fn list_changes_reach_the_legacy_sse_stream() {
    let s = server();
    let app = Router::new().nest_mcp("/mcp", s.http_app(Transport::Sse));
    let addr = serve(app).await;
    let res = mcp_tests::http()
        .get(format!("http://{addr}/mcp/sse"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let mut stream = SseReader::new(res);
    let endpoint = stream.next().await.unwrap();
    assert_eq!(endpoint.event.as_deref(), Some("endpoint"));
    let post_url = format!("http://{addr}{}", endpoint.data);
    let post = |body: Value| {
        let url = post_url.clone();
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
    post(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}))
    .await;
    let init = stream.next_json().await;
    assert_eq!(
        init["result"]["capabilities"]["resources"],
        json!({"subscribe": true, "listChanged": true})
    );
    post(json!({"jsonrpc": "2.0", "id": 2, "method": "resources/subscribe", "params": {"uri": "docs://readme"}}))
        .await;
    assert_eq!(stream.next_json().await["result"], json!({}));
    s.change(|c| c.set_resource_enabled("docs://logo", false))
        .unwrap();
    let m = stream.next_json().await;
    assert_eq!(m["method"], "notifications/resources/list_changed");
    assert_valid("2024-11-05", "ResourceListChangedNotification", &m);
    s.notify_resource_updated("docs://readme");
    let m = stream.next_json().await;
    assert_eq!(m["params"]["uri"], "docs://readme");
    assert_valid("2024-11-05", "ResourceUpdatedNotification", &m);
}
