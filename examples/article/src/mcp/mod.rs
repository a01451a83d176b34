//! The MCP side of the app: one module per tool set. `main.rs` only decides where each server
//! is mounted.

pub mod api;
pub mod crm;
pub mod slack;

use crate::db::Db;
use crate::services::{self, User};
use mcp_runtime::{Context, ToolError};

/// The owner of the `x-api-key` the MCP client sent, the same keys the REST API takes.
pub async fn api_key_user(ctx: &Context, db: &Db) -> Result<User, ToolError> {
    Ok(services::authenticate_api_key(db, ctx.headers().get("x-api-key")).await?)
}
