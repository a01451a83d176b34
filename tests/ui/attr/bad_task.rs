use mcp_runtime::tool;

/// Runs sometimes as a task.
#[tool(task = "sometimes")]
fn work() -> String {
    String::new()
}

fn main() {}
