use mcp_runtime::tool;

/// Everything at once: all errors are reported together.
#[tool(bogus, name = "bad name")]
unsafe fn bad<T>(x: &str) -> String {
    x.to_owned()
}

fn main() {}
