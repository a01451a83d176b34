//! `/mcp`: general tools, registered the factory way (`server.tool(f)`).

use mcp_runtime::{McpServer, tool};

/// Report overall system status.
#[tool(read_only, idempotent, open_world = false)]
pub async fn get_status() -> &'static str {
    "All systems operational"
}

/// The "API Tools" server.
pub fn server() -> McpServer {
    McpServer::new("API Tools")
        .description("General tools of the demo API")
        .instructions("General tools of the demo API.")
        .tool(get_status)
}
