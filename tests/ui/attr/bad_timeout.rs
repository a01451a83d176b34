use mcp_runtime::tool;

/// Wait.
#[tool(timeout_ms = 0)]
async fn wait() -> String {
    String::new()
}

fn main() {}
