//! The MCP side of the app: one module per tool set, and how each is authenticated. `main.rs`
//! only decides where each server is mounted.

pub mod api;
pub mod crm;
pub mod slack;

use crate::db::Db;
use crate::services::User;
use mcp_runtime::auth::ApiKeyAuth;
use mcp_runtime::{Context, Principal, ToolError};
use serde_json::json;

/// The app's own API keys (stored hashed in its database) as the MCP servers' auth: the same
/// keys the REST API takes, sent in `x-api-key`. A key acts fully for its owner, so it holds
/// every scope the tools ask for.
pub fn api_keys(db: Db) -> ApiKeyAuth {
    ApiKeyAuth::new(move |key: String| {
        let db = db.clone();
        async move {
            let user = db.user_for_key(&key).await?;
            Ok::<_, crate::db::DbError>(user.map(|u| {
                Principal {
                    subject: u.name,
                    scopes: vec!["chat:write".into()],
                    claims: json!({ "user_id": u.id })
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                }
            }))
        }
    })
}

/// The app user the caller authenticated as (API keys carry the user id).
pub fn current_user(ctx: &Context) -> Result<User, ToolError> {
    let principal = ctx
        .principal()
        .ok_or_else(|| ToolError::new("this tool needs an authenticated caller"))?;
    let id = principal
        .claims
        .get("user_id")
        .and_then(serde_json::Value::as_i64)
        .ok_or_else(|| {
            ToolError::new("this tool acts for an app user: authenticate with an API key")
        })?;
    Ok(User {
        id,
        name: principal.subject.clone(),
    })
}
