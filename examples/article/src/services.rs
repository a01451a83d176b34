//! The application's service functions: REST handlers and MCP tools both call these, on the
//! same database, as the same users.

use crate::db::{Db, DbError};
use rusqlite::params;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The owner of an API key.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct User {
    /// The user's id.
    pub id: i64,
    /// The user's name.
    pub name: String,
}

/// A project.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, utoipa::ToSchema)]
pub struct Project {
    /// The project's id.
    pub id: i64,
    /// The project's name.
    pub name: String,
    /// What the project is about.
    pub description: String,
    /// When it was created (UTC, RFC 3339).
    pub created_at: String,
}

/// A document that matched a search.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct DocumentHit {
    /// The document's id.
    pub id: i64,
    /// The project it belongs to, if any.
    pub project_id: Option<i64>,
    /// The title.
    pub title: String,
    /// The start of the body.
    pub snippet: String,
}

/// A chat channel.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Channel {
    /// The channel's name, without `#`.
    pub name: String,
    /// The channel's topic.
    pub topic: String,
}

/// A posted message.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Message {
    /// The message's id.
    pub id: i64,
    /// The channel it was posted to.
    pub channel: String,
    /// Who posted it.
    pub author: String,
    /// The text.
    pub text: String,
}

/// Why a request was refused or failed; the text is meant for the caller.
#[derive(Debug)]
pub enum ServiceError {
    /// No API key was sent.
    MissingKey,
    /// The API key is not known.
    InvalidKey,
    /// The input is not acceptable.
    Invalid(String),
    /// Something named does not exist.
    NotFound(String),
    /// The database failed.
    Db(DbError),
}

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::MissingKey => f.write_str("missing API key: send it in the `x-api-key` header"),
            Self::InvalidKey => f.write_str("invalid API key"),
            Self::Invalid(m) | Self::NotFound(m) => f.write_str(m),
            Self::Db(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ServiceError {}

impl From<DbError> for ServiceError {
    fn from(e: DbError) -> Self {
        Self::Db(e)
    }
}

/// The user behind an `x-api-key` header value.
pub async fn authenticate_api_key(db: &Db, key: Option<&str>) -> Result<User, ServiceError> {
    let key = key
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or(ServiceError::MissingKey)?;
    db.user_for_key(key).await?.ok_or(ServiceError::InvalidKey)
}

fn project_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Project> {
    Ok(Project {
        id: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        created_at: r.get(3)?,
    })
}

/// The user's projects, newest first.
pub async fn list_projects(
    db: &Db,
    user: &User,
    limit: Option<u32>,
) -> Result<Vec<Project>, ServiceError> {
    let owner = user.id;
    let limit = i64::from(limit.unwrap_or(100).min(1000));
    Ok(db
        .call(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, name, description, created_at FROM projects
                 WHERE owner_id = ?1 ORDER BY id DESC LIMIT ?2",
            )?;
            stmt.query_map(params![owner, limit], project_row)?
                .collect()
        })
        .await?)
}

/// One of the user's projects; another user's project is as unknown as a missing one.
pub async fn get_project(db: &Db, user: &User, id: i64) -> Result<Project, ServiceError> {
    let owner = user.id;
    db.call(move |c| {
        let mut stmt = c.prepare(
            "SELECT id, name, description, created_at FROM projects
             WHERE id = ?1 AND owner_id = ?2",
        )?;
        let mut rows = stmt.query_map(params![id, owner], project_row)?;
        rows.next().transpose()
    })
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("no project {id}")))
}

/// Deletes one of the user's projects (and its documents' link to it).
pub async fn delete_project(db: &Db, user: &User, id: i64) -> Result<(), ServiceError> {
    let owner = user.id;
    let deleted = db
        .call(move |c| {
            c.execute(
                "UPDATE documents SET project_id = NULL WHERE project_id = ?1 AND owner_id = ?2",
                params![id, owner],
            )?;
            c.execute(
                "DELETE FROM projects WHERE id = ?1 AND owner_id = ?2",
                params![id, owner],
            )
        })
        .await?;
    if deleted == 0 {
        return Err(ServiceError::NotFound(format!("no project {id}")));
    }
    Ok(())
}

/// Creates a project owned by the user.
pub async fn create_project(
    db: &Db,
    user: &User,
    name: &str,
    description: Option<&str>,
) -> Result<Project, ServiceError> {
    let name = name.trim().to_owned();
    if name.is_empty() || name.len() > 200 {
        return Err(ServiceError::Invalid(
            "a project name has 1 to 200 characters".into(),
        ));
    }
    let description = description.unwrap_or_default().to_owned();
    let owner = user.id;
    Ok(db
        .call(move |c| {
            c.query_row(
                "INSERT INTO projects (owner_id, name, description) VALUES (?1, ?2, ?3)
                 RETURNING id, name, description, created_at",
                params![owner, name, description],
                project_row,
            )
        })
        .await?)
}

/// The user's documents whose title or body contains `query` (case-insensitive).
pub async fn search_documents(
    db: &Db,
    user: &User,
    query: &str,
    limit: Option<u32>,
) -> Result<Vec<DocumentHit>, ServiceError> {
    let query = query.trim();
    if query.is_empty() {
        return Err(ServiceError::Invalid("the search query is empty".into()));
    }
    let pattern = format!(
        "%{}%",
        query
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let owner = user.id;
    let limit = i64::from(limit.unwrap_or(20).min(100));
    Ok(db
        .call(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, project_id, title, substr(body, 1, 120) FROM documents
                 WHERE owner_id = ?1 AND (title LIKE ?2 ESCAPE '\\' OR body LIKE ?2 ESCAPE '\\')
                 ORDER BY id LIMIT ?3",
            )?;
            stmt.query_map(params![owner, pattern, limit], |r| {
                Ok(DocumentHit {
                    id: r.get(0)?,
                    project_id: r.get(1)?,
                    title: r.get(2)?,
                    snippet: r.get(3)?,
                })
            })?
            .collect()
        })
        .await?)
}

/// Every channel.
pub async fn list_channels(db: &Db) -> Result<Vec<Channel>, ServiceError> {
    Ok(db
        .call(|c| {
            let mut stmt = c.prepare("SELECT name, topic FROM channels ORDER BY name")?;
            stmt.query_map([], |r| {
                Ok(Channel {
                    name: r.get(0)?,
                    topic: r.get(1)?,
                })
            })?
            .collect()
        })
        .await?)
}

/// Posts a message to a channel as `author`.
pub async fn post_message(
    db: &Db,
    author: &str,
    channel: &str,
    text: &str,
) -> Result<Message, ServiceError> {
    let channel = channel.trim().trim_start_matches('#').to_owned();
    if text.trim().is_empty() {
        return Err(ServiceError::Invalid("the message text is empty".into()));
    }
    let (author, text) = (author.to_owned(), text.to_owned());
    let lookup = channel.clone();
    let exists: bool = db
        .call(move |c| {
            c.query_row(
                "SELECT EXISTS(SELECT 1 FROM channels WHERE name = ?1)",
                params![lookup],
                |r| r.get(0),
            )
        })
        .await?;
    if !exists {
        return Err(ServiceError::NotFound(format!(
            "no channel named `{channel}`; call `list_channels` for the names"
        )));
    }
    Ok(db
        .call(move |c| {
            c.query_row(
                "INSERT INTO messages (channel, author, text) VALUES (?1, ?2, ?3)
                 RETURNING id, channel, author, text",
                params![channel, author, text],
                |r| {
                    Ok(Message {
                        id: r.get(0)?,
                        channel: r.get(1)?,
                        author: r.get(2)?,
                        text: r.get(3)?,
                    })
                },
            )
        })
        .await?)
}
