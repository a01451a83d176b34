//! The MCP side of the app: one module per tool set, and how each is authenticated. `main.rs`
//! only decides where each server is mounted.

pub mod api;
pub mod crm;
pub mod slack;

use crate::db::Db;
use crate::services::User;
use mcp_runtime::auth::ApiKeyAuth;
use mcp_runtime::{Context, ToolError, auth::Principal};
use serde_json::json;

/// The app's own API keys (stored hashed in its database) as the MCP servers' auth: the same
/// keys the REST API takes, sent in `x-api-key`. A key acts fully for its owner, so it holds
/// every scope the tools ask for. The principal's subject is the user's stable id (`user-1`),
/// never the display name: sessions and tasks belong to their subject, and two users may share
/// a name.
pub fn api_keys(db: Db) -> ApiKeyAuth {
    ApiKeyAuth::new(move |key: String| {
        let db = db.clone();
        async move {
            let user = db.user_for_key(&key).await?;
            Ok::<_, crate::db::DbError>(user.map(|u| {
                Principal {
                    subject: format!("user-{}", u.id),
                    scopes: vec!["chat:write".into()],
                    claims: json!({ "user_id": u.id, "name": u.name })
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
    user_of(principal).ok_or_else(|| {
        ToolError::new("this tool acts for an app user: authenticate with an API key")
    })
}

/// The app user a principal made by [`api_keys`] stands for.
pub fn user_of(principal: &Principal) -> Option<User> {
    let claims = &principal.claims;
    Some(User {
        id: claims.get("user_id")?.as_i64()?,
        name: claims.get("name")?.as_str()?.to_owned(),
    })
}
