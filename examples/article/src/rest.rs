//! The REST API under `/api/v1`, on the same service functions as the MCP tools, described for
//! OpenAPI (utoipa: `#[utoipa::path]` beside each handler, the document at
//! `/api/v1/openapi.json`). The same description makes these routes MCP tools at `/mcp/rest`
//! (`main.rs`), called through this router: its key check runs for them as for any client.

use crate::db::Db;
use crate::services::{self, Project, ServiceError, User};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

/// `GET /projects`, `POST /projects` and `GET /projects/{id}`, and the document describing
/// them at `GET /openapi.json`.
pub fn router() -> Router<Db> {
    Router::new()
        .route("/projects", get(list).post(create))
        .route("/projects/{id}", get(one))
        .route("/openapi.json", get(|| async { Json(openapi()) }))
}

/// The OpenAPI description of the routes.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Demo API", description = "Projects of the demo API's users."),
    paths(list, create, one),
    components(schemas(Project, NewProject)),
    tags((name = "projects", description = "The caller's projects"))
)]
struct ApiDoc;

/// The OpenAPI document of the routes, as JSON.
pub fn openapi() -> serde_json::Value {
    serde_json::to_value(<ApiDoc as utoipa::OpenApi>::openapi()).expect("the document serializes")
}

impl IntoResponse for ServiceError {
    fn into_response(self) -> Response {
        let status = match &self {
            ServiceError::MissingKey | ServiceError::InvalidKey => StatusCode::UNAUTHORIZED,
            ServiceError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
            ServiceError::Db(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, Json(json!({ "error": self.to_string() }))).into_response()
    }
}

async fn user(db: &Db, headers: &HeaderMap) -> Result<User, ServiceError> {
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    services::authenticate_api_key(db, key).await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Return at most this many projects.
    limit: Option<u32>,
}

/// List the caller's projects, newest first.
#[utoipa::path(
    get,
    path = "/projects",
    operation_id = "list_projects",
    tag = "projects",
    params(ListQuery),
    responses(
        (status = 200, description = "The projects", body = [Project]),
        (status = 401, description = "No API key, or an unknown one")
    )
)]
async fn list(
    State(db): State<Db>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<Project>>, ServiceError> {
    let user = user(&db, &headers).await?;
    Ok(Json(services::list_projects(&db, &user, q.limit).await?))
}

/// A project to create.
#[derive(Deserialize, utoipa::ToSchema)]
struct NewProject {
    /// The project's name.
    name: String,
    /// What it is about.
    description: Option<String>,
}

/// Create a project owned by the caller.
#[utoipa::path(
    post,
    path = "/projects",
    operation_id = "create_project",
    tag = "projects",
    request_body = NewProject,
    responses(
        (status = 201, description = "The project created", body = Project),
        (status = 401, description = "No API key, or an unknown one"),
        (status = 422, description = "An invalid project")
    )
)]
async fn create(
    State(db): State<Db>,
    headers: HeaderMap,
    Json(body): Json<NewProject>,
) -> Result<(StatusCode, Json<Project>), ServiceError> {
    let user = user(&db, &headers).await?;
    let project =
        services::create_project(&db, &user, &body.name, body.description.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(project)))
}

/// One of the caller's projects.
#[utoipa::path(
    get,
    path = "/projects/{id}",
    operation_id = "get_project",
    tag = "projects",
    params(("id" = i64, Path, description = "The project's id")),
    responses(
        (status = 200, description = "The project", body = Project),
        (status = 401, description = "No API key, or an unknown one"),
        (status = 404, description = "No such project of the caller's")
    )
)]
async fn one(
    State(db): State<Db>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Json<Project>, ServiceError> {
    let user = user(&db, &headers).await?;
    Ok(Json(services::get_project(&db, &user, id).await?))
}
