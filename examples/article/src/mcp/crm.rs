//! `/mcp/crm`: project and document tools, a project resource template, a brief prompt and the
//! completion of project ids, all acting as the owner of the caller's API key. Registered by
//! domain: every `#[tool]`, `#[resource]` and `#[prompt]` of `domain = "crm"` is served. Every
//! request is authenticated with the app's API keys before anything runs.

use super::current_user;
use crate::db::Db;
use crate::services::{self, DocumentHit, Project, ServiceError};
use mcp_runtime::{
    Content, Context, Form, McpServer, RequestError, Server, State, ToolError, ask::Elicitation,
    catalog::CompletionRequest, catalog::Subscription, catalog::UiResource,
    content::GetPromptResult, content::PromptMessage, prompt, resource, tool,
};
use std::sync::{Arc, OnceLock};

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

/// Tells the clients subscribed to a project's resource (`crm://projects/{id}`) that it changed
/// (`notifications/resources/updated`): on every instance of the app when they share Redis.
/// Attached to the server once it is built.
#[derive(Clone, Default)]
pub struct ProjectUpdates(Arc<OnceLock<Server>>);

impl ProjectUpdates {
    /// Sends the updates of this server's projects.
    pub fn attach(&self, server: &Server) {
        let _ = self.0.set(server.clone());
    }

    fn changed(&self, id: i64) {
        if let Some(server) = self.0.get() {
            server.notify_resource_updated(&format!("crm://projects/{id}"));
        }
    }
}

/// Create a project owned by the authenticated API key owner.
#[tool(domain = "crm", destructive = false, open_world = false)]
pub async fn create_project(
    ctx: Context,
    db: State<Db>,
    updates: State<ProjectUpdates>,
    /// The project's name (1 to 200 characters).
    name: String,
    /// What the project is about.
    description: Option<String>,
) -> Result<Project, ToolError> {
    let user = current_user(&ctx)?;
    let project = services::create_project(&db, &user, &name, description.as_deref()).await?;
    updates.changed(project.id);
    Ok(project)
}

/// Export the caller's projects as CSV, returned as an embedded `text/csv` resource. A long job
/// on a large account: clients that take tasks get a task handle at once and poll for the file;
/// it reports progress as it goes.
#[tool(domain = "crm", read_only, open_world = false, task = "optional")]
pub async fn export_projects(ctx: Context, db: State<Db>) -> Result<Content, ToolError> {
    let user = current_user(&ctx)?;
    let projects = services::list_projects(&db, &user, Some(1000)).await?;
    let total = projects.len();
    let mut csv = String::from("id,name,description,created_at\r\n");
    for (i, p) in projects.iter().enumerate() {
        let fields = [
            p.id.to_string(),
            p.name.clone(),
            p.description.clone(),
            p.created_at.clone(),
        ];
        let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        csv.push_str(&row.join(","));
        csv.push_str("\r\n");
        // Long work yields between rows, to keep the runtime responsive; from its first wait
        // the call is a task for clients that take tasks.
        tokio::task::yield_now().await;
        ctx.progress(
            (i + 1) as f64,
            Some(total as f64),
            Some("exporting projects"),
        )
        .await;
    }
    Ok(Content::embedded_text(
        format!("crm://exports/projects-{}.csv", user.id),
        "text/csv",
        csv,
    ))
}

/// A CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break.
fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
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

/// The confirmation form of `delete_project`.
#[derive(serde::Deserialize, schemars::JsonSchema, Form)]
pub struct ConfirmDelete {
    /// Type the project's name to confirm that it should be deleted.
    pub name: String,
}

/// Delete one of the caller's projects, after the user confirms by typing its name. A client
/// that cannot ask the user (no `elicitation` capability) gets a refusal; nothing is deleted. A
/// client that takes tasks gets one, and answers the question with `tasks/update`.
#[tool(domain = "crm", destructive, open_world = false, task = "optional")]
pub async fn delete_project(
    ctx: Context,
    db: State<Db>,
    updates: State<ProjectUpdates>,
    /// The id of the project to delete.
    project_id: i64,
) -> Result<String, ToolError> {
    let user = current_user(&ctx)?;
    // A wait before the question, always (a lookup may finish on its first poll): a client
    // that takes tasks gets its task from here, and is asked inside it.
    tokio::task::yield_now().await;
    // Asked first: in the 2026-07-28 era the tool runs again once the user has answered.
    let project = services::get_project(&db, &user, project_id).await?;
    let answer = ctx
        .elicit::<ConfirmDelete>(&format!(
            "Delete the project \"{}\"? This cannot be undone. Type its name to confirm.",
            project.name
        ))
        .await
        .map_err(|e| ToolError::new(format!("not deleted: {e}")))?;
    match answer {
        Elicitation::Accept(c) if c.name.trim() == project.name => {
            services::delete_project(&db, &user, project_id).await?;
            updates.changed(project_id);
            Ok(format!("deleted the project \"{}\"", project.name))
        }
        Elicitation::Accept(_) => Ok("not deleted: the name typed does not match".to_owned()),
        Elicitation::Decline | Elicitation::Cancel => {
            Ok("not deleted: the user said no".to_owned())
        }
    }
}

/// A project as an error of the protocol: a missing (or another owner's) project is "not
/// found" with its URI.
fn resource_error(uri: &str, e: ServiceError) -> RequestError {
    match e {
        ServiceError::NotFound(_) => RequestError::not_found(uri),
        other => RequestError::from(other),
    }
}

/// One of the caller's projects, as JSON: the same service function as `GET
/// /api/v1/projects/{id}`, with the same owner rule.
#[resource(
    domain = "crm",
    uri_template = "crm://projects/{id}",
    name = "project",
    mime_type = "application/json",
    complete(id = complete_project_id)
)]
pub async fn project(ctx: Context, db: State<Db>, id: i64) -> Result<Project, RequestError> {
    let user = current_user(&ctx)?;
    services::get_project(&db, &user, id)
        .await
        .map_err(|e| resource_error(&format!("crm://projects/{id}"), e))
}

/// The caller's project ids that start with what was typed, newest first.
pub async fn complete_project_id(
    ctx: Context,
    req: CompletionRequest,
) -> Result<Vec<String>, RequestError> {
    let user = current_user(&ctx)?;
    let db = ctx
        .state::<Db>()
        .ok_or_else(|| RequestError::internal("the CRM server has no database"))?;
    let projects = services::list_projects(&db, &user, Some(1000)).await?;
    Ok(projects
        .into_iter()
        .map(|p| p.id.to_string())
        .filter(|id| id.starts_with(req.value.trim()))
        .collect())
}

/// Write a short brief of one project, from its record.
#[prompt(domain = "crm", title = "Project brief", complete(project_id = complete_project_id))]
pub async fn project_brief(
    ctx: Context,
    db: State<Db>,
    /// The id of the project to brief.
    project_id: i64,
) -> Result<GetPromptResult, RequestError> {
    let user = current_user(&ctx)?;
    let uri = format!("crm://projects/{project_id}");
    let project = services::get_project(&db, &user, project_id)
        .await
        .map_err(|e| resource_error(&uri, e))?;
    let json = serde_json::to_string(&project).map_err(RequestError::from)?;
    Ok(GetPromptResult::new(vec![
        PromptMessage::user(Content::embedded_text(uri, "application/json", json)),
        PromptMessage::user(format!(
            "Write a one-paragraph brief of the project \"{}\" above for a colleague who has \
             not seen it: what it is for, and what to look at first.",
            project.name
        )),
    ]))
}

/// Whether the caller of `subscription` may follow its project's updates: the owner rule of
/// reading it, so that no user learns when another user's project changes.
async fn may_follow(db: Db, subscription: Subscription) -> bool {
    let user = subscription.principal.as_ref().and_then(super::user_of);
    let id = subscription
        .uri
        .strip_prefix("crm://projects/")
        .and_then(|id| id.parse::<i64>().ok());
    match (user, id) {
        (Some(user), Some(id)) => services::get_project(&db, &user, id).await.is_ok(),
        _ => false,
    }
}

/// The "CRM Tools" server; `updates` is attached to it once it is built.
pub fn server(db: Db, updates: ProjectUpdates) -> McpServer {
    let follow = db.clone();
    McpServer::new("CRM Tools")
        .description("Projects of the demo CRM: list, create, follow, export")
        .domain("crm")
        // `skills/crm/projects`: how to work with the projects, as a skill (SKILL.md and an
        // example), embedded at build time.
        .skills(mcp_runtime::include_skills!("skills"))
        // An MCP App: the projects as a page hosts show beside `list_projects`'s results, with
        // a form that creates one (through the host, with `create_project`).
        .ui(UiResource::new(
            "ui://crm/projects",
            "projects-app",
            include_str!("../../ui/projects.html"),
        )
        .title("Projects")
        .description("The caller's projects, with a form to create one")
        .prefers_border(true)
        .tool("list_projects"))
        .auth(super::api_keys(db.clone()))
        .authorize_subscriptions(move |s| may_follow(follow.clone(), s))
        .state(db)
        .state(updates)
}
