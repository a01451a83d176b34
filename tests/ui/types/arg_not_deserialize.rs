use mcp_runtime::tool;

struct Point {
    x: i64,
}

/// Take a point.
#[tool]
fn take(point: Point) -> i64 {
    point.x
}

fn main() {}
