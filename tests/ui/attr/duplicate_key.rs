use mcp_runtime::tool;

/// Add.
#[tool(name = "add", name = "plus")]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

fn main() {
    let _ = add(1, 2);
}
