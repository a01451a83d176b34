//! Scratch.
use mcp_runtime::{Context, McpServer, State, tool};

/// Add two numbers.
#[tool(domain = "math", read_only)]
fn add(
    /// The first number.
    a: i64,
    /// The second.
    b: Option<i64>,
) -> i64 {
    a + b.unwrap_or(0)
}

/// Greet.
#[tool(domain = "math")]
async fn greet(
    ctx: &Context,
    name: String,
    db: State<String>,
) -> Result<String, mcp_runtime::ToolError> {
    Ok(format!("hi {name} {} {}", db.0, ctx.headers().is_empty()))
}

#[tokio::test]
async fn scratch() {
    let s = McpServer::new("M")
        .domain("math")
        .state(String::from("db"))
        .build()
        .unwrap();
    for t in s.tools() {
        println!("{}", serde_json::to_string(&t.get_input_schema()).unwrap());
        println!("{:?}", t.get_output_schema());
    }
    println!(
        "{:?}",
        s.call_tool("add", serde_json::json!({"a": 1, "b": 2}))
            .await
    );
    println!(
        "{:?}",
        s.call_tool("add", serde_json::json!({"a": "x"})).await
    );
    println!(
        "{:?}",
        s.call_tool("greet", serde_json::json!({"name": "bob"}))
            .await
    );
    use mcp_runtime::McpRouterExt;
    let app = axum::Router::new()
        .nest_mcp("/mcp", s.http_app(mcp_runtime::Transport::Http))
        .nest_mcp("/mcp/x", s.http_app(mcp_runtime::Transport::Http));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    let c = reqwest::Client::new();
    for path in ["/mcp", "/mcp/", "/mcp/x", "/mcp/x/", "/mcp/y"] {
        let r = c
            .post(format!("http://{addr}{path}"))
            .header("content-type", "application/json")
            .body(r#"{"jsonrpc":"2.0","method":"tools/list","id":1}"#)
            .send()
            .await
            .unwrap();
        println!("{path} {} {}", r.status(), r.text().await.unwrap().len());
    }
}
