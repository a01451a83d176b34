use mcp_runtime::tool;

/// Add.
#[tool(nmae = "add")]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

fn main() {
    // The function is still emitted: no "cannot find function" follows the error.
    let _ = add(1, 2);
}
