//! Every accepted form compiles, including `crate = path` through a re-export.

mod reexport {
    pub use mcp_runtime;
}

use mcp_runtime::{content::CallToolResult, Content, Context, State, ToolError, tool};

/// Plain sync tool.
#[tool]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

/// Async, injected parameters in any position, renamed and defaulted arguments.
#[tool(
    name = "full.tool-1",
    title = "Full",
    description = "All options",
    domain = ["a", "b"],
    read_only,
    destructive = false,
    idempotent = true,
    open_world = false,
    icons = ["https://example.com/i.png"],
    icon(src = "https://example.com/j.png", mime_type = "image/png", sizes = ["48x48"], theme = "light"),
    meta = r#"{"k": 1}"#,
    scopes = ["s:read"],
)]
async fn full(
    /// A renamed argument.
    #[serde(rename = "userName")]
    user_name: String,
    ctx: &Context,
    #[serde(default)] count: u32,
    state: State<String>,
    r#type: Option<String>,
) -> Result<Vec<String>, ToolError> {
    let _ = (ctx.headers().is_empty(), state.len(), r#type);
    Ok(vec![user_name; count as usize])
}

/// Through a re-exported path.
#[tool(crate = crate::reexport::mcp_runtime)]
fn through_reexport(ctx: Context) -> CallToolResult {
    let _ = ctx;
    CallToolResult::text("ok")
}

/// Content return.
#[tool]
fn content() -> Vec<Content> {
    vec![Content::text("x")]
}

/// Unit return.
#[tool]
fn unit() {}

/// A result of text.
#[tool]
fn text_result() -> Result<String, std::io::Error> {
    Ok("x".into())
}

fn main() {
    let _ = add(1, 2);
    let _ = full;
    let _ = through_reexport;
    let _ = content();
    unit();
    let _ = text_result();
}
