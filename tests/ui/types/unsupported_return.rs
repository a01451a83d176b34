use mcp_runtime::tool;

struct Opaque;

/// Return something that is neither content nor serializable.
#[tool]
fn opaque() -> Opaque {
    Opaque
}

fn main() {}
