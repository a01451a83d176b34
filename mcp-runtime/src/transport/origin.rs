//! `Origin` and `Host` validation against DNS rebinding.

use super::http::{TRANSPORT_ERROR, error_response};
use axum::response::Response;
use http::{HeaderMap, StatusCode, header};

/// Which browser origins and which `Host` headers a mounted app accepts.
///
/// The default accepts requests without `Origin` (desktop and server-side clients send none),
/// same-host origins (a page served by the same host, on any port), loopback origins calling a
/// loopback host, and the origins listed with [`OriginPolicy::allow_origin`]; any other `Origin`
/// gets 403. Every `Host` is accepted, so deployments behind a proxy work as they are. A server
/// that only serves this machine should also list its hosts with [`OriginPolicy::allow_hosts`]
/// (or use [`OriginPolicy::local`]): that stops DNS rebinding, where a foreign page reaches a
/// local server under a foreign host name.
#[derive(Clone, Debug, Default)]
pub struct OriginPolicy {
    origins: Vec<String>,
    hosts: Option<Vec<String>>,
    any_origin: bool,
}

const LOOPBACK: [&str; 4] = ["localhost", "127.0.0.1", "[::1]", "::1"];

fn is_loopback(host: &str) -> bool {
    LOOPBACK.contains(&host) || host.starts_with("127.")
}

/// The host of a `Host` header value or an origin's authority, lowercase, without port.
fn hostname(authority: &str) -> String {
    let authority = authority.trim().to_ascii_lowercase();
    if let Some(rest) = authority.strip_prefix('[') {
        return rest
            .split_once(']')
            .map_or(authority.clone(), |(h, _)| format!("[{h}]"));
    }
    authority
        .rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map_or(authority.clone(), |(h, _)| h.to_owned())
}

impl OriginPolicy {
    /// Accepts this origin too (e.g. `https://claude.ai`); `*` accepts every origin.
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        let origin = origin.into();
        if origin == "*" {
            self.any_origin = true;
        } else {
            self.origins
                .push(origin.trim_end_matches('/').to_ascii_lowercase());
        }
        self
    }

    /// Accepts only these `Host` names (ports are ignored); other hosts get 403.
    pub fn allow_hosts<I, S>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.hosts = Some(hosts.into_iter().map(|h| hostname(&h.into())).collect());
        self
    }

    /// A policy for a server that only serves this machine: loopback hosts only.
    pub fn local() -> Self {
        Self::default().allow_hosts(LOOPBACK)
    }

    /// Checks a request's headers; a 403 response when refused.
    #[allow(clippy::result_large_err)]
    pub(crate) fn check(&self, headers: &HeaderMap) -> Result<(), Response> {
        let origin = headers.get(header::ORIGIN);
        if origin.is_none() && self.hosts.is_none() {
            return Ok(());
        }
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(hostname)
            .unwrap_or_default();
        if let Some(hosts) = &self.hosts
            && !hosts.contains(&host)
        {
            return Err(error_response(
                StatusCode::FORBIDDEN,
                TRANSPORT_ERROR,
                format!("host `{host}` is not served here (DNS rebinding protection)"),
            ));
        }
        let Some(origin) = origin else {
            return Ok(());
        };
        let origin = origin.to_str().unwrap_or("").trim().to_ascii_lowercase();
        if self.any_origin || self.origins.contains(&origin) {
            return Ok(());
        }
        let origin_host = origin
            .split_once("://")
            .map(|(_, rest)| hostname(rest.split('/').next().unwrap_or("")))
            .unwrap_or_default();
        let same_host = !origin_host.is_empty() && origin_host == host;
        let both_loopback = is_loopback(&origin_host) && is_loopback(&host);
        if same_host || both_loopback {
            return Ok(());
        }
        Err(error_response(
            StatusCode::FORBIDDEN,
            TRANSPORT_ERROR,
            format!(
                "origin `{origin}` is not allowed to call this MCP server; allow it with \
                 `OriginPolicy::allow_origin`"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(host: &str, origin: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, host.parse().unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, o.parse().unwrap());
        }
        h
    }

    #[test]
    fn default_policy() {
        let p = OriginPolicy::default();
        assert!(p.check(&headers("api.example.com", None)).is_ok());
        assert!(
            p.check(&headers("api.example.com", Some("https://api.example.com")))
                .is_ok()
        );
        assert!(
            p.check(&headers("127.0.0.1:3000", Some("http://localhost:6274")))
                .is_ok()
        );
        assert!(
            p.check(&headers("api.example.com", Some("https://evil.com")))
                .is_err()
        );
        assert!(
            p.check(&headers("localhost:3000", Some("https://evil.com")))
                .is_err()
        );
        assert!(p.check(&headers("api.example.com", Some("null"))).is_err());
    }

    #[test]
    fn allowed_origins_and_hosts() {
        let p = OriginPolicy::default().allow_origin("https://claude.ai");
        assert!(
            p.check(&headers("api.example.com", Some("https://claude.ai")))
                .is_ok()
        );
        let local = OriginPolicy::local();
        assert!(local.check(&headers("localhost:3000", None)).is_ok());
        assert!(local.check(&headers("[::1]:3000", None)).is_ok());
        assert!(
            local
                .check(&headers(
                    "evil.example.com",
                    Some("http://evil.example.com")
                ))
                .is_err()
        );
        assert!(
            local
                .check(&headers("evil.example.com:3000", None))
                .is_err()
        );
    }

    #[test]
    fn hostnames() {
        assert_eq!(hostname("Example.com:8080"), "example.com");
        assert_eq!(hostname("[::1]:3000"), "[::1]");
        assert_eq!(hostname("localhost"), "localhost");
    }
}
