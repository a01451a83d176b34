//! Discovery documents: a mount's server card (`GET <mount>/server-card`) and the app's AI
//! catalog (`/.well-known/ai-catalog.json`), which lists the cards of its mounts.
//!
//! Both follow drafts of the MCP project: the server card of SEP-2127 as the
//! `experimental-ext-server-card` repository publishes it (`schema.ts`, `docs/discovery.md`),
//! and the AI catalog of the Agent-Card `ai-catalog` specification that it points to. A card
//! is written from the same facts as `initialize` and `server/discover` (the server's
//! [`ServerInfo`], the protocol versions, the authenticator), so the two cannot drift. Both
//! documents are public: no credentials, CORS `*`, cached for an hour, with an `ETag` made of
//! their bytes alone (every instance of an app gives the same one) and `304` for a client that
//! has them.

use super::egress;
use super::origin::OriginPolicy;
use crate::auth::SharedAuth;
use crate::auth::metadata::{mount_path, origin};
use crate::core::{Dispatcher, ServerInfo};
use crate::protocol::ProtocolVersion;
use axum::body::Body;
use axum::response::Response;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};
use std::sync::Arc;

/// The media type of a server card.
pub(crate) const CARD_TYPE: &str = "application/mcp-server-card+json";
/// The media type of an AI catalog.
const CATALOG_TYPE: &str = "application/ai-catalog+json";
/// The schema a card names (the draft's `v1`).
const CARD_SCHEMA: &str =
    "https://static.modelcontextprotocol.io/schemas/v1/server-card.schema.json";
/// Where an app's AI catalog lives.
pub(crate) const AI_CATALOG_PATH: &str = "/.well-known/ai-catalog.json";
/// The path of a card below its mount.
pub(crate) const CARD_PATH: &str = "/server-card";
/// The longest `description` and `title` a card may carry (characters).
const CARD_TEXT_MAX: usize = 100;

/// Why `name` cannot be a registry name (`com.example/crm`), or `None`.
pub(crate) fn registry_name_problem(name: &str) -> Option<String> {
    let len = name.len();
    if !(3..=200).contains(&len) {
        return Some(format!("is {len} characters long; it must be 3 to 200"));
    }
    let Some((namespace, server)) = name.split_once('/') else {
        return Some("has no `/`: write a reverse-DNS namespace, `/`, a name".into());
    };
    let namespace_ok = !namespace.is_empty()
        && namespace
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    let server_ok = !server.is_empty()
        && server
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if !namespace_ok || !server_ok {
        return Some(
            "must be a namespace of letters, digits, `.` and `-`, one `/`, and a name of \
             letters, digits, `.`, `-` and `_`"
                .into(),
        );
    }
    None
}

/// The host of an origin (`http://api.example.com:8080` → `api.example.com`), without its port
/// or an IPv6 literal's brackets.
fn host_of(origin: &str) -> &str {
    let authority = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    let authority = authority.split('/').next().unwrap_or(authority);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    authority.split(':').next().unwrap_or(authority)
}

/// `text` with every byte `keep` refuses made `-`, runs of them one, none at either end.
fn slug(text: &str, keep: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if keep(b) {
            out.push(b.to_ascii_lowercase() as char);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

/// The card's name when the app gave none: the host reversed (`api.example.com` →
/// `com.example.api`; an address as it is), `/`, the server's name as a slug.
fn derived_name(host: &str, server: &str) -> String {
    let namespace = if host.parse::<std::net::IpAddr>().is_ok() {
        slug(host, |b| b.is_ascii_alphanumeric() || b == b'.')
    } else {
        let labels: Vec<&str> = host.split('.').rev().collect();
        slug(&labels.join("."), |b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
        })
    };
    let namespace = if namespace.is_empty() {
        "localhost".to_owned()
    } else {
        namespace
    };
    let mut server = slug(server, |b| {
        b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
    });
    if server.is_empty() {
        server.push_str("mcp");
    }
    let mut name = format!("{namespace}/{server}");
    if name.len() > 200 {
        let mut end = 200;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name.truncate(end);
    }
    name
}

/// `text` cut to `max` characters, the cut marked with `…`.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some(_) => {
            let end = text
                .char_indices()
                .nth(max - 1)
                .map_or(text.len(), |(i, _)| i);
            format!("{}…", &text[..end])
        }
    }
}

/// The base URL of the app as the client reached it: the public URL the app set, or `http://`
/// and the request's `Host`.
fn base_url(parts: &Parts, public_url: Option<&str>) -> String {
    match public_url {
        Some(url) => url.to_owned(),
        None => origin(parts, false),
    }
}

/// What a mount's card is made of.
pub(crate) struct CardSource {
    pub(crate) core: Arc<Dispatcher>,
    pub(crate) auth: Option<SharedAuth>,
    /// Whether the mount answers Streamable HTTP at its URL.
    pub(crate) streamable: bool,
    /// Whether the mount has the legacy transport's `/sse`.
    pub(crate) legacy: bool,
    pub(crate) origins: OriginPolicy,
    pub(crate) public_url: Option<Arc<str>>,
}

impl CardSource {
    /// The card, for a request that reached `<mount>/server-card`.
    fn card(&self, parts: &Parts) -> Value {
        let base = base_url(parts, self.public_url.as_deref());
        let url = format!("{base}{}", mount_path(parts));
        let info = &self.core.info;
        let mut card = Map::new();
        card.insert("$schema".into(), json!(CARD_SCHEMA));
        let name = match &info.registry_name {
            Some(n) => n.clone(),
            None => derived_name(host_of(&base), &info.name),
        };
        card.insert("name".into(), json!(name));
        card.insert("version".into(), json!(cut(&info.version, 255)));
        let description = info
            .description
            .as_deref()
            .or(info.title.as_deref())
            .filter(|d| !d.trim().is_empty())
            .unwrap_or(&info.name);
        card.insert("description".into(), json!(cut(description, CARD_TEXT_MAX)));
        if let Some(title) = info.title.as_deref().filter(|t| !t.trim().is_empty()) {
            card.insert("title".into(), json!(cut(title, CARD_TEXT_MAX)));
        }
        if let Some(w) = &info.website_url {
            card.insert("websiteUrl".into(), json!(w));
        }
        if !info.icons.is_empty() {
            card.insert("icons".into(), json!(info.icons));
        }
        card.insert("remotes".into(), Value::Array(self.remotes(&url)));
        Value::Object(card)
    }

    /// Where and how to connect: the transports of the mount, each with its protocol versions
    /// and the credential header.
    fn remotes(&self, url: &str) -> Vec<Value> {
        let all: Vec<&str> = ProtocolVersion::ALL
            .iter()
            .rev()
            .map(|v| v.as_str())
            .collect();
        let handshake: Vec<&str> = ProtocolVersion::ALL
            .iter()
            .rev()
            .filter(|v| !v.is_stateless())
            .map(|v| v.as_str())
            .collect();
        let mut remotes = Vec::new();
        if self.streamable {
            remotes.push(json!({
                "type": "streamable-http",
                "url": url,
                "supportedProtocolVersions": all,
            }));
        }
        if self.legacy {
            remotes.push(json!({
                "type": "sse",
                "url": format!("{url}/sse"),
                "supportedProtocolVersions": handshake,
            }));
        }
        if let Some(h) = self.auth.as_ref().and_then(|a| a.credential_header()) {
            let mut header = json!({
                "name": h.name,
                "description": h.description,
                "isRequired": true,
                "isSecret": true,
            });
            if let Some(template) = &h.template {
                header["value"] = json!(template);
                header["variables"] = json!({ "token": {
                    "description": h.description,
                    "isRequired": true,
                    "isSecret": true,
                }});
            }
            for remote in &mut remotes {
                remote["headers"] = json!([header]);
            }
        }
        remotes
    }

    /// Answers a request to `<mount>/server-card`.
    pub(crate) fn answer(&self, parts: &Parts) -> Response {
        if let Err(refused) = self.origins.check_host(parts) {
            return refused;
        }
        match public_document(parts) {
            Err(answer) => answer,
            Ok(()) => document(
                &parts.headers,
                CARD_TYPE,
                serde_json::to_vec(&self.card(parts)).expect("JSON"),
            ),
        }
    }
}

/// The answers a public document gives before it is written: to a CORS preflight, and 405 to
/// methods other than GET and HEAD.
#[allow(clippy::result_large_err)]
fn public_document(parts: &Parts) -> Result<(), Response> {
    if parts.method == Method::OPTIONS {
        let mut res = Response::new(Body::empty());
        *res.status_mut() = StatusCode::NO_CONTENT;
        cors(res.headers_mut());
        return Err(res);
    }
    if parts.method != Method::GET && parts.method != Method::HEAD {
        let mut res = egress::error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            egress::TRANSPORT_ERROR,
            "this discovery document is read with GET",
        );
        res.headers_mut().insert(
            header::ALLOW,
            HeaderValue::from_static("GET, HEAD, OPTIONS"),
        );
        return Err(res);
    }
    Ok(())
}

/// The CORS headers the server card draft asks of public discovery documents.
fn cors(headers: &mut HeaderMap) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Content-Type, If-None-Match"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("ETag"),
    );
}

/// The entity tag of `body`: of its bytes alone, so every instance gives the same one.
fn etag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let mut tag = String::with_capacity(34);
    tag.push('"');
    crate::protocol::push_hex(&digest[..16], &mut tag);
    tag.push('"');
    tag
}

/// Whether an `If-None-Match` header names `tag` (weak comparison, as RFC 9110 has it for
/// this header; `*` names any).
fn none_match(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == tag)
}

/// A public JSON document: `304` when the client has these bytes, else the bytes, with CORS
/// and an hour of caching.
fn document(request: &HeaderMap, media_type: &'static str, body: Vec<u8>) -> Response {
    let tag = etag(&body);
    let fresh = none_match(request, &tag);
    let mut res = if fresh {
        let mut res = Response::new(Body::empty());
        *res.status_mut() = StatusCode::NOT_MODIFIED;
        res
    } else {
        let mut res = Response::new(Body::from(body));
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
        res
    };
    let h = res.headers_mut();
    h.insert(header::ETAG, HeaderValue::from_str(&tag).expect("hex"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    h.insert(header::VARY, HeaderValue::from_static("accept"));
    cors(h);
    res
}

/// An app's AI catalog: the server cards of its mounts, served at
/// `/.well-known/ai-catalog.json` by [`McpRouterExt::ai_catalog`](crate::McpRouterExt::ai_catalog)
/// (the Agent-Card `ai-catalog` format the MCP server card draft uses for discovery; a draft
/// itself).
///
/// Each entry names its server (title, description, version, from the server's own facts) and
/// the URL of its card, `<mount>/server-card`. The URLs are the request's (`http://` and its
/// `Host`) unless [`AiCatalog::public_url`] says otherwise.
///
/// ```
/// use axum::Router;
/// use mcp_runtime::http::AiCatalog;
/// use mcp_runtime::{McpRouterExt as _, McpServer, Transport};
///
/// let crm = McpServer::new("crm").description("Projects and customers").build().unwrap();
/// let app: Router = Router::new()
///     .nest_mcp("/mcp/crm", crm.http_app(Transport::StreamableHttp))
///     .ai_catalog(AiCatalog::new().host_name("Acme").server("/mcp/crm", &crm));
/// # let _ = app;
/// ```
#[derive(Clone, Default)]
#[must_use]
pub struct AiCatalog {
    host_name: Option<String>,
    public_url: Option<String>,
    servers: Vec<(String, Arc<Dispatcher>)>,
}

impl std::fmt::Debug for AiCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AiCatalog")
            .field("host_name", &self.host_name)
            .field("public_url", &self.public_url)
            .field(
                "servers",
                &self.servers.iter().map(|(m, _)| m).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl AiCatalog {
    /// A catalog listing nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The name of whoever runs the catalog (`host.displayName`).
    pub fn host_name(mut self, name: impl Into<String>) -> Self {
        self.host_name = Some(name.into());
        self
    }

    /// The app's base URL as clients see it (`https://api.example.com`), which the entries'
    /// URLs start with; give the mounts the same ([`HttpOptions::public_url`](crate::http::HttpOptions::public_url)).
    pub fn public_url(mut self, url: impl AsRef<str>) -> Self {
        self.public_url = Some(url.as_ref().trim_end_matches('/').to_owned());
        self
    }

    /// Lists the server of `core`, mounted at `mount` (`AiCatalog::server`).
    pub(crate) fn push(mut self, mount: &str, core: Arc<Dispatcher>) -> Self {
        self.servers
            .push((mount.trim_end_matches('/').to_owned(), core));
        self
    }

    /// The catalog, for a request that reached it.
    fn document(&self, parts: &Parts) -> Value {
        let base = base_url(parts, self.public_url.as_deref());
        // An app nested under a prefix has its mounts under it too.
        let prefix = mount_path(parts);
        let publisher = host_of(&base).to_owned();
        let entries: Vec<Value> = self
            .servers
            .iter()
            .map(|(mount, server)| {
                let info: &ServerInfo = &server.info;
                let name = slug(mount, |b| b.is_ascii_alphanumeric() || b == b'-');
                let name = if name.is_empty() { "root".into() } else { name };
                let mut entry = json!({
                    "identifier": format!("urn:air:{publisher}:mcp:{name}"),
                    "displayName": info.title.as_deref().unwrap_or(&info.name),
                    // `type` since the entry rename the MCP discovery text follows; `mediaType`
                    // as version 1.0 of the catalog specification writes it.
                    "type": CARD_TYPE,
                    "mediaType": CARD_TYPE,
                    "url": format!("{base}{prefix}{mount}{CARD_PATH}"),
                    "version": info.version,
                });
                if let Some(d) = &info.description {
                    entry["description"] = json!(d);
                }
                entry
            })
            .collect();
        let mut doc = json!({ "specVersion": "1.0", "entries": entries });
        if let Some(host) = &self.host_name {
            doc["host"] = json!({ "displayName": host, "identifier": publisher });
        }
        doc
    }

    /// Answers a request to the catalog.
    pub(crate) fn answer(&self, parts: &Parts) -> Response {
        match public_document(parts) {
            Err(answer) => answer,
            Ok(()) => document(
                &parts.headers,
                CATALOG_TYPE,
                serde_json::to_vec(&self.document(parts)).expect("JSON"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names() {
        assert_eq!(registry_name_problem("com.example/crm"), None);
        assert_eq!(registry_name_problem("io.github.acme/my_server-2"), None);
        assert!(registry_name_problem("crm").is_some());
        assert!(registry_name_problem("a/").is_some());
        assert!(registry_name_problem("com.example/a/b").is_some());
        assert!(registry_name_problem("com_example/crm").is_some());
        assert!(registry_name_problem(&format!("a/{}", "b".repeat(200))).is_some());
    }

    #[test]
    fn names_derived_from_the_host_are_registry_names() {
        for (host, server, name) in [
            ("api.example.com", "CRM", "com.example.api/crm"),
            ("localhost", "API Tools", "localhost/api-tools"),
            ("127.0.0.1", "slack", "127.0.0.1/slack"),
            ("::1", "x", "1/x"),
            ("", "Ünïcode!", "localhost/n-code"),
            ("h", "", "h/mcp"),
        ] {
            let derived = derived_name(host, server);
            assert_eq!(derived, name);
            assert_eq!(registry_name_problem(&derived), None, "{derived}");
        }
    }

    #[test]
    fn hosts_and_cuts() {
        assert_eq!(host_of("http://api.example.com:8080"), "api.example.com");
        assert_eq!(host_of("https://[::1]:3000/x"), "::1");
        assert_eq!(host_of("http://localhost"), "localhost");
        assert_eq!(cut("short", 100), "short");
        let long = "é".repeat(120);
        let cut_text = cut(&long, 100);
        assert_eq!(cut_text.chars().count(), 100);
        assert!(cut_text.ends_with('…'));
    }

    #[test]
    fn entity_tags_match_weakly_and_in_lists() {
        let tag = etag(b"{}");
        let mut h = HeaderMap::new();
        assert!(!none_match(&h, &tag));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(&format!("\"x\", W/{tag}")).unwrap(),
        );
        assert!(none_match(&h, &tag));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
        assert!(!none_match(&h, &tag));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(none_match(&h, &tag));
        assert_eq!(etag(b"{}"), tag, "the tag is of the bytes alone");
    }
}
