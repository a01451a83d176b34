use mcp_runtime::Form;

/// A choice is a unit variant.
#[derive(serde::Deserialize, schemars::JsonSchema, Form)]
enum Plan {
    Free,
    Paid { seats: u32 },
}

fn main() {}
