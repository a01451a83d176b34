use mcp_runtime::Form;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Address {
    street: String,
}

/// A form cannot ask for a nested object.
#[derive(serde::Deserialize, schemars::JsonSchema, Form)]
struct Signup {
    name: String,
    address: Address,
}

fn main() {}
