//! Client ID metadata documents (the MCP 2025-11-25 preference over registration): a client
//! whose `client_id` is an `https` URL is described by the JSON document at that URL. It is
//! fetched with strict bounds: 5 s, 5 KiB, no redirects, no private, loopback or link-local
//! address (unless the app allows them), the address checked being the one connected to; and
//! kept as its `Cache-Control` says (a minute to a day, 1,000 documents at most).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The most bytes of a document.
const MAX_DOCUMENT: usize = 5 * 1024;
/// The most documents kept.
const MAX_KEPT: usize = 1_000;
const MIN_TTL: Duration = Duration::from_secs(60);
const MAX_TTL: Duration = Duration::from_secs(24 * 3600);
const DEFAULT_TTL: Duration = Duration::from_secs(300);

/// What a document says of its client.
#[derive(Clone, Debug)]
pub(crate) struct Described {
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) name: Option<String>,
}

/// The documents fetched, with when they go stale.
#[derive(Debug)]
pub(crate) struct Documents {
    kept: Mutex<HashMap<String, (Described, Instant)>>,
    fetching: tokio::sync::Semaphore,
    /// Whether documents may be on private, loopback or link-local addresses.
    pub(crate) private_hosts: bool,
}

impl Default for Documents {
    fn default() -> Self {
        Self {
            kept: Mutex::default(),
            fetching: tokio::sync::Semaphore::new(16),
            private_hosts: false,
        }
    }
}

/// Whether `id` is a client ID of this kind: an `https` URL with a path.
pub(crate) fn is_document_id(id: &str) -> bool {
    id.starts_with("https://") && id.len() <= 2000
}

fn public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.octets()[0] == 100 && v4.octets()[1] & 0xc0 == 64)
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            let embedded = |a: u16, b: u16| {
                std::net::Ipv4Addr::new((a >> 8) as u8, a as u8, (b >> 8) as u8, b as u8)
            };
            // An IPv4 address inside (mapped, NAT64 64:ff9b::/96, 6to4 2002::/16) is judged as
            // itself.
            let inside = v6.to_ipv4_mapped().or_else(|| match seg {
                [0x64, 0xff9b, 0, 0, 0, 0, a, b] => Some(embedded(a, b)),
                [0x2002, a, b, ..] => Some(embedded(a, b)),
                _ => None,
            });
            !(v6.is_loopback()
                || v6.is_unspecified()
                || seg[0] & 0xfe00 == 0xfc00
                || seg[0] & 0xffc0 == 0xfe80
                || seg[0] == 0x2001 && seg[1] == 0xdb8)
                && inside.is_none_or(|v4| public(IpAddr::V4(v4)))
        }
    }
}

/// How long a document may be kept, from its `Cache-Control`; `None` for `no-store`.
fn lifetime(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let Some(cc) = headers
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
    else {
        return Some(DEFAULT_TTL);
    };
    let mut ttl = DEFAULT_TTL;
    for directive in cc.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return None;
        }
        if let Some(s) = lower.strip_prefix("max-age=")
            && let Ok(secs) = s.trim_matches('"').parse::<u64>()
        {
            ttl = Duration::from_secs(secs);
        }
    }
    Some(ttl.clamp(MIN_TTL, MAX_TTL))
}

impl Documents {
    /// The client the document at `url` describes, fetched or kept.
    pub(crate) async fn describe(&self, url: &str) -> Result<Described, String> {
        if let Some((d, until)) = self.kept.lock().unwrap_or_else(|e| e.into_inner()).get(url)
            && *until > Instant::now()
        {
            return Ok(d.clone());
        }
        let (described, ttl) = self.fetch(url).await?;
        if let Some(ttl) = ttl {
            let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            if kept.len() >= MAX_KEPT {
                kept.retain(|_, (_, until)| *until > now);
            }
            if kept.len() < MAX_KEPT {
                kept.insert(url.to_owned(), (described.clone(), now + ttl));
            }
        }
        Ok(described)
    }

    async fn fetch(&self, url: &str) -> Result<(Described, Option<Duration>), String> {
        // A few at once: each resolves a name on the blocking pool and holds a connection.
        let _turn = self.fetching.try_acquire().map_err(|_| {
            "too many client metadata documents are being fetched; try again".to_owned()
        })?;
        let parsed = url::Url::parse(url).map_err(|_| "the client ID is not a URL".to_owned())?;
        if parsed.scheme() != "https"
            || parsed.path() == "/"
            || parsed.fragment().is_some()
            || !parsed.username().is_empty()
            || parsed.password().is_some()
        {
            return Err(
                "a client ID that is a URL must be https, with a path, without fragment or \
                 credentials"
                    .into(),
            );
        }
        let host = parsed
            .host_str()
            .ok_or("the client ID URL has no host")?
            .to_owned();
        let port = parsed.port_or_known_default().unwrap_or(443);
        // The address is checked, then it is the one connected to: a name that resolves
        // elsewhere the second time cannot lead the request inside.
        let addresses: Vec<std::net::SocketAddr> = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::lookup_host((host.trim_start_matches('[').trim_end_matches(']'), port)),
        )
        .await
        .map_err(|_| "the client ID's host did not resolve in time".to_owned())?
        .map_err(|_| "the client ID's host does not resolve".to_owned())?
        .collect();
        let address = addresses
            .iter()
            .find(|a| self.private_hosts || public(a.ip()))
            .copied()
            .ok_or("the client ID's host is a private, loopback or link-local address")?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            // Straight to the address checked: no proxy of the environment in between.
            .no_proxy()
            .resolve(&host, address)
            .build()
            .map_err(|e| format!("no HTTP client: {e}"))?;
        let mut res = http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("the client's metadata document cannot be fetched: {e}"))?;
        if res.status() != reqwest::StatusCode::OK {
            return Err(format!(
                "the client's metadata document answered {}",
                res.status()
            ));
        }
        let ttl = lifetime(res.headers());
        let body =
            crate::bounds::read_response(&mut res, MAX_DOCUMENT, "the client's metadata document")
                .await?;
        let Ok(Value::Object(doc)) = serde_json::from_slice::<Value>(&body) else {
            return Err("the client's metadata document is not a JSON object".into());
        };
        if doc.get("client_id").and_then(Value::as_str) != Some(url) {
            return Err("the client's metadata document names another client_id".into());
        }
        match doc
            .get("token_endpoint_auth_method")
            .and_then(Value::as_str)
        {
            None | Some("none") => {}
            Some(_) => {
                return Err(
                    "a client described by a metadata document authenticates with `none` here"
                        .into(),
                );
            }
        }
        // The rules of a registration's.
        let redirect_uris = super::clients::redirect_uris(doc.get("redirect_uris"))
            .map_err(|p| format!("in its metadata document, {p}"))?;
        let name = super::clients::client_name(doc.get("client_name"))
            .map_err(|p| format!("in its metadata document, {p}"))?;
        Ok((
            Described {
                redirect_uris,
                name,
            },
            ttl,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_not_public() {
        for ip in [
            "10.0.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
        ] {
            assert!(!public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1"] {
            assert!(public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn lifetimes_follow_cache_control_within_bounds() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(lifetime(&h), Some(DEFAULT_TTL));
        h.insert(
            reqwest::header::CACHE_CONTROL,
            "public, max-age=3600".parse().unwrap(),
        );
        assert_eq!(lifetime(&h), Some(Duration::from_secs(3600)));
        h.insert(reqwest::header::CACHE_CONTROL, "max-age=1".parse().unwrap());
        assert_eq!(lifetime(&h), Some(MIN_TTL));
        h.insert(
            reqwest::header::CACHE_CONTROL,
            "max-age=99999999".parse().unwrap(),
        );
        assert_eq!(lifetime(&h), Some(MAX_TTL));
        h.insert(reqwest::header::CACHE_CONTROL, "no-store".parse().unwrap());
        assert_eq!(lifetime(&h), None);
    }
}
