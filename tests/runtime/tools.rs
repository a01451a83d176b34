//! `#[tool]` and `McpServer` in-process: schemas, arguments, return types, injection, and the
//! problems reported when a server is built.

use crate::fixtures::{self, Counter};
use mcp_runtime::{
    Content, McpServer, Server, catalog::Tool, catalog::ToolSchemas, content::CallToolResult,
    protocol::code,
};
use serde_json::{Value, json};

pub(crate) fn fixture_server() -> Server {
    McpServer::new("Fixtures")
        .domain("fx")
        .state(Counter::default())
        .build()
        .expect("fixture server builds")
}

fn tool_json(server: &Server, name: &str) -> Value {
    let client = server.client();
    let tools = futures_block(client.list_tools()).expect("tools/list");
    tools
        .into_iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no tool {name}"))
}

fn futures_block<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// The generated `tools/list` entries match the committed golden file; refresh it with
/// `UPDATE_GOLDEN=1 cargo test -p mcp-tests --test runtime`.
fn full_schema_server() -> Server {
    McpServer::new("Fixtures")
        .domain("fx")
        .state(Counter::default())
        .tool_schemas(ToolSchemas::Full)
        .build()
        .expect("fixture server builds")
}

/// `tools/list` as a 2025-11-25 client sees it: the compatible schemas by default
/// (`fx-tools.json`), the full 2020-12 ones with `ToolSchemas::Full` (`fx-tools-full.json`).
#[tokio::test]
async fn tools_list_matches_golden_schemas() {
    for (server, file) in [
        (fixture_server(), "fx-tools.json"),
        (full_schema_server(), "fx-tools-full.json"),
    ] {
        let tools = Value::Array(server.client().list_tools().await.unwrap());
        let path = mcp_tests::repo_dir()
            .join("tests/runtime/golden")
            .join(file);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, serde_json::to_string_pretty(&tools).unwrap() + "\n").unwrap();
        }
        let golden: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            tools, golden,
            "tools/list changed ({file}); rerun with UPDATE_GOLDEN=1 if intended"
        );
    }
}

#[test]
fn schema_from_plain_parameters() {
    let server = fixture_server();
    let add = tool_json(&server, "add");
    assert_eq!(add["description"], "Add two numbers.");
    assert_eq!(add["inputSchema"]["type"], "object");
    assert_eq!(add["inputSchema"]["required"], json!(["a", "b"]));
    assert_eq!(
        add["inputSchema"]["properties"]["a"]["description"],
        "The first number."
    );
    assert_eq!(add["inputSchema"]["properties"]["b"]["type"], "integer");
    assert!(add["inputSchema"].get("title").is_none());
    assert_eq!(
        add["annotations"],
        json!({"readOnlyHint": true, "idempotentHint": true})
    );
    // A number is not an object: the output schema wraps it.
    assert_eq!(add["outputSchema"]["required"], json!(["result"]));
    assert_eq!(
        add["outputSchema"]["properties"]["result"]["type"],
        "integer"
    );
}

#[test]
fn optional_renamed_and_defaulted_parameters() {
    let greet = tool_json(&fixture_server(), "greet");
    let schema = &greet["inputSchema"];
    assert_eq!(schema["required"], json!(["userName"]));
    assert!(schema["properties"].get("userName").is_some());
    assert!(schema["properties"].get("user_name").is_none());
    assert_eq!(schema["properties"]["greeting"]["default"], "Hello");
    // An optional parameter is described by its inner type and left out of `required`
    // (the compatible form); the full 2020-12 schema says it may be null.
    assert_eq!(schema["properties"]["loud"]["type"], "boolean");
    let full = tool_json(&full_schema_server(), "greet");
    assert_eq!(
        full["inputSchema"]["properties"]["loud"]["type"],
        json!(["boolean", "null"])
    );
    // A struct output is an object: not wrapped.
    assert_eq!(
        greet["outputSchema"]["required"],
        json!(["name", "message"])
    );
}

#[test]
fn injected_parameters_are_not_in_the_schema() {
    let server = fixture_server();
    let full = full_schema_server();
    for name in ["count", "whoami", "nothing"] {
        let t = tool_json(&server, name);
        assert_eq!(
            t["inputSchema"],
            json!({"type": "object", "additionalProperties": false}),
            "{name}"
        );
        assert_eq!(
            tool_json(&full, name)["inputSchema"],
            json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "additionalProperties": false}),
            "{name}"
        );
    }
    let slow = tool_json(&server, "slow");
    assert_eq!(slow["inputSchema"]["required"], json!(["millis"]));
}

#[test]
fn every_attribute_option() {
    let t = tool_json(&fixture_server(), "configured.tool-1");
    assert_eq!(t["title"], "Configured tool");
    assert_eq!(t["description"], "Every option set");
    assert_eq!(
        t["annotations"],
        json!({"title": "Configured tool", "destructiveHint": false, "openWorldHint": true})
    );
    assert_eq!(
        t["icons"],
        json!([
            {"src": "https://example.com/a.png"},
            {"src": "https://example.com/b.svg", "mimeType": "image/svg+xml", "sizes": ["any"], "theme": "dark"}
        ])
    );
    // The author's `_meta`, with the scopes a caller needs.
    assert_eq!(
        t["_meta"],
        json!({"example.com/owner": "tests", "mcp-runtime/scopes": ["fx:write"]})
    );
    let server = fixture_server();
    let tool = server
        .tools()
        .into_iter()
        .find(|t| t.name() == "configured.tool-1")
        .unwrap();
    assert_eq!(tool.scopes(), ["fx:write"]);
}

#[tokio::test]
async fn return_types() {
    let s = fixture_server();
    let r = s.call_tool("add", json!({"a": 2, "b": 3})).await.unwrap();
    assert_eq!(r.structured_content, Some(json!({"result": 5})));
    assert_eq!(r.content, vec![Content::text("5")]);
    assert!(!r.is_error);

    let r = s.call_tool("echo", json!({"text": "hi"})).await.unwrap();
    assert_eq!(r, CallToolResult::text("hi"));

    let r = s
        .call_tool("greet", json!({"userName": "Ada", "loud": true}))
        .await
        .unwrap();
    assert_eq!(
        r.structured_content,
        Some(json!({"name": "Ada", "message": "HELLO, ADA!"}))
    );
    let text = match &r.content[0] {
        Content::Text(t) => t.text.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        r.structured_content.unwrap()
    );

    let r = s
        .call_tool("fail", json!({"reason": "no disk"}))
        .await
        .unwrap();
    assert!(r.is_error);
    assert_eq!(r.content, vec![Content::text("it failed: no disk")]);

    let r = s
        .call_tool("parse_number", json!({"text": "x1"}))
        .await
        .unwrap();
    assert!(r.is_error);
    assert_eq!(
        r.content,
        vec![Content::text("invalid digit found in string")]
    );
    let r = s
        .call_tool("parse_number", json!({"text": " 41 "}))
        .await
        .unwrap();
    assert_eq!(r.structured_content, Some(json!({"result": 41})));

    let r = s.call_tool("nothing", json!({})).await.unwrap();
    assert!(r.content.is_empty() && !r.is_error);

    let r = s.call_tool("whole", json!({})).await.unwrap();
    assert_eq!(r, CallToolResult::text("whole"));

    let r = s.call_tool("contents", json!({})).await.unwrap();
    let kinds: Vec<_> = serde_json::to_value(&r.content)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        [
            "text",
            "image",
            "audio",
            "resource",
            "resource",
            "resource_link"
        ]
    );
}

#[tokio::test]
async fn state_and_context_in_process() {
    let s = fixture_server();
    for expected in 1..=3 {
        let r = s.call_tool("count", json!({})).await.unwrap();
        assert_eq!(r.structured_content, Some(json!({"result": expected})));
    }
    // No HTTP request: headers are empty, not an error.
    let r = s.call_tool("whoami", json!({})).await.unwrap();
    assert_eq!(
        r.content,
        vec![Content::text(
            "user=none authorization_visible=false authorization_all=false uri="
        )]
    );
}

#[tokio::test]
async fn bad_arguments_name_the_tool_and_field() {
    let s = fixture_server();
    let r = s
        .call_tool("add", json!({"a": "two", "b": 3}))
        .await
        .unwrap();
    assert!(r.is_error);
    let msg = format!("{:?}", r.content);
    assert!(msg.contains("invalid arguments for tool `add`"), "{msg}");
    assert!(msg.contains("`a`"), "{msg}");
    let r = s.call_tool("add", json!({"a": 1})).await.unwrap();
    let msg = format!("{:?}", r.content);
    assert!(msg.contains("missing field `b`"), "{msg}");
    let e = s.call_tool("nope", json!({})).await.unwrap_err();
    assert_eq!(e.code, code::INVALID_PARAMS);
    assert!(e.message.contains("unknown tool `nope`"), "{e}");
    let e = s.call_tool("add", json!([1, 2])).await.unwrap_err();
    assert_eq!(e.code, code::INVALID_PARAMS);
    assert!(e.message.contains("must be an object"));
}

/// The text of an error result.
fn error_text(r: &CallToolResult) -> String {
    assert!(r.is_error, "{r:?}");
    match &r.content[..] {
        [Content::Text(t)] => t.text.clone(),
        other => panic!("one text block expected: {other:?}"),
    }
}

#[tokio::test]
async fn arguments_are_read_by_name_with_serde_semantics() {
    let s = fixture_server();
    // Plain parameters (read one by one): nested values, raw identifiers, optional ones.
    let r = s
        .call_tool(
            "plan",
            json!({"steps": [{"title": "pack", "minutes": 5}, {"title": "go", "minutes": 20}], "type": "trip", "extra": 1}),
        )
        .await
        .unwrap();
    assert_eq!(r, CallToolResult::text("pack → go (25 min, trip)"));
    let r = s
        .call_tool("plan", json!({"steps": [], "type": null}))
        .await
        .unwrap();
    assert_eq!(r, CallToolResult::text(" (0 min, no type)"));
    let bad = [
        (json!({}), "missing field `steps`"),
        (
            json!({"steps": null}),
            "`steps`: invalid type: null, expected a sequence",
        ),
        (
            json!({"steps": [{"title": "a", "minutes": 1}, {"title": "b", "minutes": "ten"}]}),
            "`steps[1].minutes`: invalid type: string \"ten\", expected u32",
        ),
        (
            json!({"steps": [{"minutes": 1}]}),
            "`steps[0]`: missing field `title`",
        ),
        (
            json!({"steps": [], "type": 7}),
            "`type`: invalid type: integer `7`, expected a string",
        ),
    ];
    for (args, expected) in bad {
        let r = s.call_tool("plan", args.clone()).await.unwrap();
        assert_eq!(
            error_text(&r),
            format!("invalid arguments for tool `plan`: {expected}"),
            "{args}"
        );
    }
    // Parameters with `#[serde]` attributes go through a derived `Deserialize`: renames and
    // defaults apply, and errors read the same.
    let r = s
        .call_tool("greet", json!({"userName": "Ada"}))
        .await
        .unwrap();
    assert_eq!(r.structured_content.unwrap()["message"], "Hello, Ada!");
    let r = s
        .call_tool("greet", json!({"user_name": "Ada"}))
        .await
        .unwrap();
    assert_eq!(
        error_text(&r),
        "invalid arguments for tool `greet`: missing field `userName`"
    );
    let r = s
        .call_tool("greet", json!({"userName": "Ada", "loud": "yes"}))
        .await
        .unwrap();
    assert_eq!(
        error_text(&r),
        "invalid arguments for tool `greet`: `loud`: invalid type: string \"yes\", expected a boolean"
    );
}

#[tokio::test]
async fn a_panicking_tool_is_an_error_result_and_the_server_goes_on() {
    let s = fixture_server();
    let r = s.call_tool("explode", json!({})).await.unwrap();
    assert!(r.is_error);
    assert!(format!("{:?}", r.content).contains("panicked (boom)"));
    let r = s
        .call_tool("echo", json!({"text": "still here"}))
        .await
        .unwrap();
    assert_eq!(r, CallToolResult::text("still here"));
}

#[tokio::test]
async fn in_memory_client_speaks_json_rpc() {
    let s = fixture_server();
    let c = s.client();
    let init = c
        .request("initialize", json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}))
        .await
        .unwrap();
    assert_eq!(init["protocolVersion"], "2025-06-18");
    assert_eq!(init["serverInfo"]["name"], "Fixtures");
    let r = c.call_tool("echo", json!({"text": "x"})).await.unwrap();
    assert_eq!(r, CallToolResult::text("x"));
    // A server with tools only lists no resources, and knows no other method.
    assert_eq!(c.list_resources().await.unwrap(), Vec::<Value>::new());
    let e = c.request("resources/nope", json!({})).await.unwrap_err();
    assert_eq!(e.code, code::METHOD_NOT_FOUND);
    assert_eq!(
        c.send_raw(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .await,
        None
    );
    let raw = c.send_raw("{oops").await.unwrap();
    let v: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(v["error"]["code"], code::PARSE_ERROR);
}

#[tokio::test]
async fn factory_style_and_hand_built_tools() {
    let s = McpServer::new("Factory")
        .tool(fixtures::add)
        .tool(fixtures::echo)
        .add_tool(
            Tool::new("shout", |_ctx, args| async move {
                args.get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_uppercase()
            })
            .description("Shout")
            .input_schema(json!({"type": "object", "properties": {"text": {"type": "string"}}})),
        )
        .build()
        .unwrap();
    let names: Vec<_> = s.tools().iter().map(|t| t.name().to_owned()).collect();
    assert_eq!(names, ["add", "echo", "shout"]);
    let r = s.call_tool("shout", json!({"text": "hey"})).await.unwrap();
    assert_eq!(r, CallToolResult::text("HEY"));
}

#[tokio::test]
async fn overlapping_servers_share_tools() {
    let a = McpServer::new("A").domain("small").build().unwrap();
    let b = McpServer::new("B")
        .domain("fx")
        .domain("small")
        .state(Counter::default())
        .build()
        .unwrap();
    assert_eq!(a.tools().len(), 1);
    assert_eq!(b.tools().iter().filter(|t| t.name() == "echo").count(), 1);
}

#[tokio::test]
async fn pagination() {
    let s = McpServer::new("Paged")
        .domain("fx")
        .state(Counter::default())
        .page_size(3)
        .build()
        .unwrap();
    let c = s.client();
    let first = c.request("tools/list", json!({})).await.unwrap();
    assert_eq!(first["tools"].as_array().unwrap().len(), 3);
    let cursor = first["nextCursor"].as_str().unwrap().to_owned();
    let second = c
        .request("tools/list", json!({"cursor": cursor}))
        .await
        .unwrap();
    assert_ne!(first["tools"][0]["name"], second["tools"][0]["name"]);
    let all = c.list_tools().await.unwrap();
    assert_eq!(all.len(), s.tools().len());
    let e = c
        .request("tools/list", json!({"cursor": "garbage"}))
        .await
        .unwrap_err();
    assert_eq!(e.code, code::INVALID_PARAMS);
}

#[test]
fn a_name_used_twice_is_reported_with_both_locations() {
    let err = McpServer::new("Dup")
        .domain("dup")
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("tool name `same_name` is used twice in server `Dup`"),
        "{err}"
    );
    assert!(
        err.contains("fixtures::same_one` at tests/runtime/fixtures.rs:"),
        "{err}"
    );
    assert!(
        err.contains("fixtures::same_two` at tests/runtime/fixtures.rs:"),
        "{err}"
    );
}

#[test]
fn build_problems_are_reported_together() {
    let err = McpServer::new("Broken")
        .domain("no_such_domain")
        .domain("needs_state")
        .tool(fixtures::plain_function)
        .add_tool(Tool::new("bad name", |_c, _a| async { "x" }))
        .build()
        .unwrap_err();
    let problems = err.problems().join("\n");
    assert_eq!(err.problems().len(), 4, "{problems}");
    assert!(
        problems.contains(
            "selects domain `no_such_domain`, but no `#[tool]`, `#[resource]` or `#[prompt]` declares"
        ),
        "{problems}"
    );
    assert!(
        problems.contains("takes `State<alloc::string::String>`, but server `Broken` has no state"),
        "{problems}"
    );
    assert!(
        problems.contains("plain_function` was passed to `McpServer::tool`"),
        "{problems}"
    );
    assert!(
        problems.contains("invalid tool name `bad name`"),
        "{problems}"
    );
}

#[test]
#[should_panic(expected = "tool name `same_name` is used twice")]
fn http_app_panics_at_startup_on_build_problems() {
    let _ = McpServer::new("Dup")
        .domain("dup")
        .http_app(mcp_runtime::Transport::Http);
}

/// The rows of the first Markdown table after `marker` in `text`, by their first column.
fn first_column_of_table<'a>(text: &'a str, marker: &str) -> Vec<&'a str> {
    let after = text
        .split(marker)
        .nth(1)
        .unwrap_or_else(|| panic!("no {marker:?}"));
    after
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2) // the header and its rule
        .map(|row| row[1..].split(" | ").next().unwrap_or("").trim())
        .collect()
}

/// The README's table of `#[tool]` options has the rows of the attribute's reference
/// (`mcp-macros/docs/tool.md`, whose keys are the keys the macro takes), in its order.
#[test]
fn the_readme_lists_the_keys_of_the_tool_reference() {
    let root = mcp_tests::repo_dir();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let reference = std::fs::read_to_string(root.join("mcp-macros/docs/tool.md")).unwrap();
    let listed = first_column_of_table(&readme, "**Options.**");
    let keys = first_column_of_table(&reference, "Every key at most once");
    assert!(listed.len() > 10, "the README's table: {listed:?}");
    assert_eq!(
        listed, keys,
        "README.md's **Options.** table against docs/tool.md"
    );
}
