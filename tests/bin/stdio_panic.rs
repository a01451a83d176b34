//! A server on stdio whose tool logs, then panics: the stdio test checks that stdout carries
//! only protocol messages while the panic goes to stderr.

use mcp_runtime::{Context, McpServer, context::LogLevel, tool};

/// Logs to the client and to tracing, then panics.
#[tool(domain = "panics")]
async fn log_then_panic(ctx: Context) -> String {
    ctx.log(LogLevel::Info, "about to fail").await;
    tracing::info!("about to panic");
    panic!("the tool failed on purpose");
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter("debug")
        .init();
    let server = McpServer::new("Panics").domain("panics").build().unwrap();
    server.serve_stdio().await.unwrap();
}
