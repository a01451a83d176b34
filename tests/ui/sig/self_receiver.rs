use mcp_runtime::tool;

struct Service;

impl Service {
    /// Add.
    #[tool]
    fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
}

fn main() {}
