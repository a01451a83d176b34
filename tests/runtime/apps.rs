//! MCP Apps over real HTTP (the host side runs in Chromium: tests/browser/apps.mjs): a tool
//! names its app in `_meta.ui.resourceUri` (and the older `_meta["ui/resourceUri"]`), the app is
//! a `text/html;profile=mcp-app` resource whose listing and contents carry `_meta.ui`, the
//! server declares the extension, a nested server's link follows its app's URI in the whole,
//! and a link to a missing tool is a build error.

use axum::Router;
use mcp_runtime::catalog::{Tool, UiCsp, UiPermissions, UiResource};
use mcp_runtime::{McpRouterExt as _, McpServer, Server, Transport, tool};
use mcp_tests::{HttpClient, serve};
use serde_json::{Value, json};

fn board() -> Server {
    McpServer::new("board")
        .add_tool(Tool::new("show_board", |_, _| async { "the board" }))
        .add_tool(Tool::new("move_card", |_, _| async { "moved" }))
        .add_tool(Tool::new("plain", |_, _| async { "no app" }))
        .ui(UiResource::new(
            "ui://board",
            "board-app",
            "<!DOCTYPE html><html><body>board</body></html>",
        )
        .csp(UiCsp::new().connect(["https://api.example.com"]))
        .permissions(UiPermissions::new().clipboard_write())
        .prefers_border(false)
        .tool("show_board")
        .app_only_tool("move_card"))
        .build()
        .unwrap()
}

async fn session(url: &str) -> HttpClient {
    let c = HttpClient::new(url, Some("2025-11-25"));
    let init = c
        .result(
            "initialize",
            json!({ "protocolVersion": "2025-11-25", "capabilities": {
                "extensions": { "io.modelcontextprotocol/ui": { "mimeTypes": ["text/html;profile=mcp-app"] } } },
                "clientInfo": { "name": "t", "version": "1" } }),
        )
        .await;
    assert_eq!(
        init["capabilities"]["extensions"]["io.modelcontextprotocol/ui"],
        json!({}),
        "{init}"
    );
    c
}

fn tool_named<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {list}"))
}

#[tokio::test]
async fn tools_name_their_app_and_the_app_carries_its_policy() {
    let server = board();
    let whole = McpServer::new("whole")
        .nest("team", server.clone())
        .build()
        .unwrap();
    let app = Router::new()
        .nest_mcp("/mcp", server.http_app(Transport::Http))
        .nest_mcp("/all", whole.http_app(Transport::Http));
    let addr = serve(app).await;

    let c = session(&format!("http://{addr}/mcp")).await;
    let tools = c.result("tools/list", json!({})).await;
    let show = tool_named(&tools, "show_board");
    assert_eq!(show["_meta"]["ui"], json!({ "resourceUri": "ui://board" }));
    assert_eq!(show["_meta"]["ui/resourceUri"], "ui://board");
    let moving = tool_named(&tools, "move_card");
    assert_eq!(moving["_meta"]["ui"]["visibility"], json!(["app"]));
    assert!(tool_named(&tools, "plain").get("_meta").is_none());

    let ui = json!({
        "csp": { "connectDomains": ["https://api.example.com"] },
        "permissions": { "clipboardWrite": {} },
        "prefersBorder": false,
    });
    let resources = c.result("resources/list", json!({})).await;
    let listed = &resources["resources"][0];
    assert_eq!(listed["uri"], "ui://board");
    assert_eq!(listed["mimeType"], "text/html;profile=mcp-app");
    assert_eq!(listed["_meta"]["ui"], ui);
    let read = c
        .result("resources/read", json!({ "uri": "ui://board" }))
        .await;
    let contents = &read["contents"][0];
    assert_eq!(contents["mimeType"], "text/html;profile=mcp-app");
    assert!(
        contents["text"]
            .as_str()
            .unwrap()
            .starts_with("<!DOCTYPE html>")
    );
    assert_eq!(
        contents["_meta"]["ui"], ui,
        "hosts read the policy from the contents first"
    );

    // Nested: the link names the app's URI in the whole, where it is read.
    let all = session(&format!("http://{addr}/all")).await;
    let tools = all.result("tools/list", json!({})).await;
    let show = tool_named(&tools, "team_show_board");
    assert_eq!(show["_meta"]["ui"]["resourceUri"], "ui://team/board");
    assert_eq!(show["_meta"]["ui/resourceUri"], "ui://team/board");
    assert_eq!(
        tool_named(&tools, "team_move_card")["_meta"]["ui"]["visibility"],
        json!(["app"])
    );
    let read = all
        .result("resources/read", json!({ "uri": "ui://team/board" }))
        .await;
    assert_eq!(read["contents"][0]["uri"], "ui://team/board");
    assert_eq!(read["contents"][0]["_meta"]["ui"], ui);
}

#[test]
fn a_link_to_a_missing_tool_or_a_page_outside_ui_is_a_build_error() {
    let err = McpServer::new("x")
        .add_tool(Tool::new("t", |_, _| async { "" }))
        .ui(UiResource::new("ui://a", "a", "<html></html>").tool("missing"))
        .ui(UiResource::new("https://b", "b", "<html></html>"))
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("links tool `missing`"), "{err}");
    assert!(err.contains("must start with `ui://`"), "{err}");
}

/// A tool whose own `_meta.ui` says more than a link.
#[tool(domain = "apps", meta = r#"{"ui": {"example.com/height": 300}}"#)]
pub(crate) fn tall_board() -> &'static str {
    "tall"
}

/// A tool whose `_meta.ui` cannot hold a link.
#[tool(domain = "apps", meta = r#"{"ui": "board"}"#)]
pub(crate) fn odd_board() -> &'static str {
    "odd"
}

#[tokio::test]
async fn a_link_keeps_what_else_the_tools_own_ui_meta_says() {
    let server = McpServer::new("tall")
        .tool(tall_board)
        .ui(UiResource::new("ui://tall", "tall", "<html></html>").app_only_tool("tall_board"))
        .build()
        .unwrap();
    let whole = McpServer::new("whole").nest("t", server).build().unwrap();
    let addr = serve(Router::new().nest_mcp("/mcp", whole.http_app(Transport::Http))).await;
    let c = session(&format!("http://{addr}/mcp")).await;
    let tools = c.result("tools/list", json!({})).await;
    assert_eq!(
        tool_named(&tools, "t_tall_board")["_meta"]["ui"],
        json!({ "example.com/height": 300, "resourceUri": "ui://t/tall", "visibility": ["app"] })
    );
}

#[test]
fn a_tool_shows_one_app_and_its_ui_meta_must_be_an_object() {
    let err = McpServer::new("x")
        .add_tool(Tool::new("t", |_, _| async { "" }))
        .ui(UiResource::new("ui://a", "a", "<html></html>").tool("t"))
        .ui(UiResource::new("ui://b", "b", "<html></html>").tool("t"))
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("ui `ui://b` links tool `t`, which is linked to `ui://a` already"),
        "{err}"
    );
    // The same page naming a tool twice is one link.
    McpServer::new("x")
        .add_tool(Tool::new("t", |_, _| async { "" }))
        .ui(UiResource::new("ui://a", "a", "<html></html>")
            .tool("t")
            .tool("t"))
        .build()
        .unwrap();
    let err = McpServer::new("x")
        .tool(odd_board)
        .ui(UiResource::new("ui://a", "a", "<html></html>").tool("odd_board"))
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("`_meta.ui` that is not an object"), "{err}");
}
