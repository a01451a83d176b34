//! The REST API under `/api/v1`, on the same service functions as the MCP tools.

use crate::db::Db;
use crate::services::{self, Project, ServiceError, User};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

/// `GET /projects`, `POST /projects` and `GET /projects/{id}`.
pub fn router() -> Router<Db> {
    Router::new()
        .route("/projects", get(list).post(create))
        .route("/projects/{id}", get(one))
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

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<u32>,
}

async fn list(
    State(db): State<Db>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<Project>>, ServiceError> {
    let user = user(&db, &headers).await?;
    Ok(Json(services::list_projects(&db, &user, q.limit).await?))
}

#[derive(Deserialize)]
struct NewProject {
    name: String,
    description: Option<String>,
}

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

async fn one(
    State(db): State<Db>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Json<Project>, ServiceError> {
    let user = user(&db, &headers).await?;
    Ok(Json(services::get_project(&db, &user, id).await?))
}
