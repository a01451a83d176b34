//! OAuth 2.0 Protected Resource Metadata (RFC 9728) of a mounted server.
//!
//! A server mounted at `/mcp/crm` is described at
//! `/.well-known/oauth-protected-resource/mcp/crm` on the root of the app (the path-based
//! form clients request first); `McpRouterExt::nest_mcp` adds that route.

use axum::extract::NestedPath;
use http::request::Parts;
use serde_json::{Value, json};

/// Where the well-known metadata documents live.
pub(crate) const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The mount path of a request routed through `nest_mcp`'s metadata route.
#[derive(Clone, Debug)]
pub(crate) struct MountPath(pub(crate) std::sync::Arc<str>);

/// How a bearer-token server describes itself to OAuth clients.
#[derive(Clone, Debug, Default)]
pub struct ProtectedResource {
    /// The authorization servers that issue tokens for this resource (at least one).
    pub authorization_servers: Vec<String>,
    /// The scopes clients may request.
    pub scopes_supported: Vec<String>,
    /// The canonical URL of the server (e.g. `https://api.example.com/mcp/crm`). When unset it
    /// is derived from each request: `http`, the `Host` header and the mount path (see
    /// [`trust_forwarded_headers`](Self::trust_forwarded_headers) for an app behind a proxy).
    pub resource: Option<String>,
    /// Whether the URL derived from a request uses its `X-Forwarded-Proto` (else `http`) and
    /// `X-Forwarded-Host` (else `Host`), when [`resource`](Self::resource) is unset. Turn it on
    /// only when the app's proxy sets these headers, replacing what clients send: otherwise
    /// any client could make the metadata document and the `WWW-Authenticate` challenge name a
    /// host of its choosing. Default `false`: they are ignored.
    pub trust_forwarded_headers: bool,
    /// The app's base URL as clients see it (`https://api.example.com`), before the mount
    /// path, when [`resource`](Self::resource) is unset: the resource is this and the mount
    /// path, whatever the request's `Host`.
    pub base_url: Option<String>,
    /// A human-readable name.
    pub resource_name: Option<String>,
}

fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(',').next().unwrap_or(v).trim())
        .filter(|v| !v.is_empty())
}

/// The path the server is mounted at, from `nest_mcp`.
pub(crate) fn mount_path(parts: &Parts) -> String {
    if let Some(m) = parts.extensions.get::<MountPath>() {
        return m.0.to_string();
    }
    parts
        .extensions
        .get::<NestedPath>()
        .map(|n| n.as_str().trim_end_matches('/').to_owned())
        .unwrap_or_default()
}

/// The scheme and host of a request's URL; the forwarded ones only when `trust_forwarded`.
pub(crate) fn origin(parts: &Parts, trust_forwarded: bool) -> String {
    let forwarded = |name| trust_forwarded.then(|| header(parts, name)).flatten();
    let scheme = forwarded("x-forwarded-proto").unwrap_or("http");
    let host = forwarded("x-forwarded-host")
        .or_else(|| header(parts, "host"))
        .unwrap_or("localhost");
    format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        host.to_ascii_lowercase()
    )
}

impl ProtectedResource {
    /// The resource's canonical URL for this request: lowercase scheme and host, no trailing
    /// slash.
    pub(crate) fn resource_url(&self, parts: &Parts) -> String {
        match &self.resource {
            Some(r) => r.trim_end_matches('/').to_owned(),
            None if self.base_url.is_some() => format!(
                "{}{}",
                self.base_url.as_deref().unwrap_or("").trim_end_matches('/'),
                mount_path(parts)
            ),
            None => format!(
                "{}{}",
                origin(parts, self.trust_forwarded_headers),
                mount_path(parts)
            ),
        }
    }

    /// The URL of the metadata document: the well-known path with the resource's path appended.
    pub(crate) fn metadata_url(&self, parts: &Parts) -> String {
        let resource = self.resource_url(parts);
        let (origin, path) = match resource.find("://").map(|i| i + 3) {
            Some(start) => match resource[start..].find('/') {
                Some(slash) => resource.split_at(start + slash),
                None => (resource.as_str(), ""),
            },
            None => (resource.as_str(), ""),
        };
        format!("{origin}{WELL_KNOWN}{path}")
    }

    /// The metadata document.
    pub(crate) fn document(&self, parts: &Parts) -> Value {
        let mut doc = json!({
            "resource": self.resource_url(parts),
            "authorization_servers": self.authorization_servers,
            "bearer_methods_supported": ["header"],
        });
        if !self.scopes_supported.is_empty() {
            doc["scopes_supported"] = json!(self.scopes_supported);
        }
        if let Some(n) = &self.resource_name {
            doc["resource_name"] = json!(n);
        }
        doc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(host: &str, mount: &str) -> Parts {
        forwarded_parts(host, &[], mount)
    }

    fn forwarded_parts(host: &str, forwarded: &[(&str, &str)], mount: &str) -> Parts {
        let mut request = http::Request::builder().uri("/").header("host", host);
        for (name, value) in forwarded {
            request = request.header(*name, *value);
        }
        let (mut parts, _) = request.body(()).unwrap().into_parts();
        parts.extensions.insert(MountPath(mount.into()));
        parts
    }

    #[test]
    fn urls_under_a_mount() {
        let r = ProtectedResource::default();
        let p = parts("API.example.com", "/mcp/crm");
        assert_eq!(r.resource_url(&p), "http://api.example.com/mcp/crm");
        assert_eq!(
            r.metadata_url(&p),
            "http://api.example.com/.well-known/oauth-protected-resource/mcp/crm"
        );
        let fixed = ProtectedResource {
            resource: Some("https://mcp.example.com/tools/".into()),
            ..ProtectedResource::default()
        };
        assert_eq!(
            fixed.metadata_url(&p),
            "https://mcp.example.com/.well-known/oauth-protected-resource/tools"
        );
    }

    #[test]
    fn forwarded_headers_only_when_trusted() {
        let p = forwarded_parts(
            "api.example.com",
            &[
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "Public.example.com, inner.example"),
            ],
            "/mcp",
        );
        let r = ProtectedResource::default();
        assert_eq!(r.resource_url(&p), "http://api.example.com/mcp");
        let trusting = ProtectedResource {
            trust_forwarded_headers: true,
            ..ProtectedResource::default()
        };
        assert_eq!(trusting.resource_url(&p), "https://public.example.com/mcp");
        // A trusting server without forwarded headers uses the request's own.
        let plain = parts("api.example.com", "/mcp");
        assert_eq!(trusting.resource_url(&plain), "http://api.example.com/mcp");
    }
}
