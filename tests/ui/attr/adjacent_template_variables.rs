use mcp_runtime::{RequestError, resource};

/// Two variables with nothing between them: a URI cannot be matched back to them, so the
/// runtime would refuse the template; the attribute refuses it first, by the same grammar.
#[resource(uri_template = "crm://projects/{id}{version}")]
async fn project(id: String, version: String) -> Result<String, RequestError> {
    Ok(format!("{id}{version}"))
}

fn main() {}
