//! The app's database: an embedded SQLite file, created and seeded on first start.
//!
//! One connection behind a mutex; every query runs on tokio's blocking pool so the async
//! handlers never block a worker thread.

use rusqlite::{Connection, OptionalExtension as _, params};
use sha2::{Digest as _, Sha256};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A handle to the database, cheap to clone.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
}

/// A database failure, shown to callers as a plain message.
#[derive(Debug)]
pub struct DbError(String);

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "database error: {}", self.0)
    }
}

impl std::error::Error for DbError {}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        Self(e.to_string())
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
    key_sha256 TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id)
);
CREATE TABLE IF NOT EXISTS projects (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES users(id),
    project_id INTEGER REFERENCES projects(id),
    title TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS channels (
    name TEXT PRIMARY KEY,
    topic TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL REFERENCES channels(name),
    author TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
";

/// The SHA-256 of an API key, hex-encoded: keys are stored hashed, and looked up by hash.
pub fn hash_key(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Db {
    /// Opens (or creates) the database at `path`, creates the tables, and seeds demo data on
    /// first start. `demo_key` is the API key of the demo user (added if missing).
    pub fn open(path: &Path, demo_key: &str) -> Result<Self, DbError> {
        let conn = Connection::open(path)?;
        conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL;")?;
        conn.execute_batch(SCHEMA)?;
        let users: i64 = conn.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?;
        if users == 0 {
            seed(&conn)?;
        }
        conn.execute(
            "INSERT OR IGNORE INTO api_keys (key_sha256, user_id) VALUES (?1, 1)",
            params![hash_key(demo_key)],
        )?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    pub async fn call<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().map_err(|_| DbError("poisoned lock".into()))?;
            f(&conn).map_err(DbError::from)
        })
        .await
        .map_err(|e| DbError(e.to_string()))?
    }

    /// The user that owns an API key, if any.
    pub async fn user_for_key(&self, key: &str) -> Result<Option<crate::services::User>, DbError> {
        let hash = hash_key(key);
        self.call(move |c| {
            c.query_row(
                "SELECT u.id, u.name FROM api_keys k JOIN users u ON u.id = k.user_id
                 WHERE k.key_sha256 = ?1",
                params![hash],
                |r| {
                    Ok(crate::services::User {
                        id: r.get(0)?,
                        name: r.get(1)?,
                    })
                },
            )
            .optional()
        })
        .await
    }
}

fn seed(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.execute_batch(
        "
        INSERT INTO users (id, name) VALUES (1, 'Demo User'), (2, 'Other User');
        INSERT INTO projects (owner_id, name, description) VALUES
            (1, 'Website relaunch', 'New marketing site with the product tour'),
            (1, 'Mobile app', 'iOS and Android client for the customer portal'),
            (2, 'Other team project', 'Visible only to its owner');
        INSERT INTO documents (owner_id, project_id, title, body) VALUES
            (1, 1, 'Launch checklist', 'DNS cut-over, analytics, redirects and the press kit.'),
            (1, 1, 'Copy deck', 'Headlines and product tour copy for the relaunch.'),
            (1, 2, 'Release plan', 'Beta on TestFlight, then staged rollout on Android.'),
            (2, 3, 'Private notes', 'Nothing for the demo user to see here.');
        INSERT INTO channels (name, topic) VALUES
            ('general', 'Company-wide announcements'),
            ('engineering', 'Builds, deploys and incidents');
        ",
    )
}
