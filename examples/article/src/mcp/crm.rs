//! `/mcp/crm`: project and document tools, acting as the owner of the caller's API key.
//! Registered by domain: every `#[tool(domain = "crm")]` is served. Every request is
//! authenticated with the app's API keys before a tool runs.

use super::current_user;
use crate::db::Db;
use crate::services::{self, DocumentHit, Project};
use mcp_runtime::{Context, McpServer, State, ToolError, tool};

/// List projects for the authenticated API key owner, newest first.
#[tool(domain = "crm", read_only, open_world = false)]
pub async fn list_projects(
    ctx: Context,
    db: State<Db>,
    /// Return at most this many projects (default 100).
    limit: Option<u32>,
) -> Result<Vec<Project>, ToolError> {
    let user = current_user(&ctx)?;
    Ok(services::list_projects(&db, &user, limit).await?)
}

/// Create a project owned by the authenticated API key owner.
#[tool(domain = "crm", destructive = false, open_world = false)]
pub async fn create_project(
    ctx: Context,
    db: State<Db>,
    /// The project's name (1 to 200 characters).
    name: String,
    /// What the project is about.
    description: Option<String>,
) -> Result<Project, ToolError> {
    let user = current_user(&ctx)?;
    Ok(services::create_project(&db, &user, &name, description.as_deref()).await?)
}

/// Search the authenticated user's documents by title and text.
#[tool(domain = "crm", read_only, open_world = false)]
pub async fn search_documents(
    ctx: Context,
    db: State<Db>,
    /// Words to look for (case-insensitive).
    query: String,
    /// Return at most this many documents (default 20).
    limit: Option<u32>,
) -> Result<Vec<DocumentHit>, ToolError> {
    let user = current_user(&ctx)?;
    Ok(services::search_documents(&db, &user, &query, limit).await?)
}

/// The "CRM Tools" server.
pub fn server(db: Db) -> McpServer {
    McpServer::new("CRM Tools")
        .domain("crm")
        .auth(super::api_keys(db.clone()))
        .state(db)
}
