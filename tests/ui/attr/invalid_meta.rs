use mcp_runtime::tool;

/// Add.
#[tool(meta = "{not json}")]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

fn main() {}
