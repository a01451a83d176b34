//! `/mcp/slack`: chat tools. Registered by domain. Authenticated by the app's own OAuth
//! authorization server when one is configured (`OAUTH_UPSTREAM_*`, see `main.rs`), with JWT
//! bearer tokens when `JWKS_URI`, `JWT_ISSUER` and `JWT_AUDIENCE` are set (the seed's
//! `JWTVerifier`), with the app's API keys otherwise.

use crate::db::Db;
use crate::services::{self, Channel, Message};
use mcp_runtime::auth::{JwtVerifier, OAuthServer};
use mcp_runtime::{Context, McpServer, State, ToolError, tool};

/// Post a message to a channel, as the authenticated caller.
#[tool(domain = "slack", open_world = false, scopes = ["chat:write"])]
pub async fn post_message(
    ctx: Context,
    db: State<Db>,
    /// The channel's name, with or without `#`.
    channel: String,
    /// The message text.
    text: String,
) -> Result<Message, ToolError> {
    // An app user by name; a token's caller by its subject.
    let author = ctx
        .principal()
        .map(|p| super::user_of(p).map_or_else(|| p.subject.clone(), |u| u.name))
        .ok_or_else(|| ToolError::new("posting needs an authenticated caller"))?;
    Ok(services::post_message(&db, &author, &channel, &text).await?)
}

/// List the channels messages can be posted to.
#[tool(domain = "slack", read_only, open_world = false)]
pub async fn list_channels(db: State<Db>) -> Result<Vec<Channel>, ToolError> {
    Ok(services::list_channels(&db).await?)
}

/// The "Slack Tools" server, behind `oauth` when the app runs one.
pub fn server(db: Db, oauth: Option<OAuthServer>) -> McpServer {
    let server = McpServer::new("Slack Tools")
        .description("Messages of the demo Slack workspace")
        .domain("slack")
        .state(db.clone());
    if let Some(oauth) = oauth {
        return server.auth(oauth);
    }
    let env = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    match (env("JWKS_URI"), env("JWT_ISSUER"), env("JWT_AUDIENCE")) {
        (Some(jwks), Some(issuer), Some(audience)) => server.auth(
            JwtVerifier::new(jwks, issuer, audience).scopes_supported(["chat:read", "chat:write"]),
        ),
        _ => server.auth(super::api_keys(db)),
    }
}
