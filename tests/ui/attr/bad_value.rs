use mcp_runtime::tool;

/// Add.
#[tool(read_only = "yes", domain = [1, 2])]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

fn main() {}
