use mcp_runtime::tool;

/// Hello.
#[tool]
fn hello() -> impl std::fmt::Display {
    "hello"
}

fn main() {}
