//! `/mcp/slack`: chat tools. Registered by domain.

use super::api_key_user;
use crate::db::Db;
use crate::services::{self, Channel, Message};
use mcp_runtime::{Context, McpServer, State, ToolError, tool};

/// Post a message to a channel, as the authenticated API key owner.
#[tool(domain = "slack", open_world = false)]
pub async fn post_message(
    ctx: Context,
    db: State<Db>,
    /// The channel's name, with or without `#`.
    channel: String,
    /// The message text.
    text: String,
) -> Result<Message, ToolError> {
    let user = api_key_user(&ctx, &db).await?;
    Ok(services::post_message(&db, &user.name, &channel, &text).await?)
}

/// List the channels messages can be posted to.
#[tool(domain = "slack", read_only, open_world = false)]
pub async fn list_channels(db: State<Db>) -> Result<Vec<Channel>, ToolError> {
    Ok(services::list_channels(&db).await?)
}

/// The "Slack Tools" server.
pub fn server(db: Db) -> McpServer {
    McpServer::new("Slack Tools").domain("slack").state(db)
}
