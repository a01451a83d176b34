use mcp_runtime::tool;

/// Coffee.
#[tool]
fn café() -> String {
    "espresso".to_owned()
}

fn main() {}
