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

/// Why a client's metadata document does not describe it now.
#[derive(Debug)]
pub(crate) enum DocumentError {
    /// The client ID or its document is not one this server can use: the client is unknown.
    Unusable(String),
    /// The document could not be had now (too many fetches, its host unreachable or slow, a
    /// server error): worth trying again.
    Unreachable(String),
}

impl From<String> for DocumentError {
    fn from(why: String) -> Self {
        Self::Unusable(why)
    }
}

impl From<&str> for DocumentError {
    fn from(why: &str) -> Self {
        Self::Unusable(why.to_owned())
    }
}

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
            let [a, b, c, _] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_documentation()
                || v4.is_multicast()
                // "This network" (0/8), shared address space (100.64/10), IETF protocol
                // assignments (192.0.0/24), benchmarking (198.18/15), reserved (240/4, with
                // the broadcast address).
                || a == 0
                || a == 100 && b & 0xc0 == 64
                || a == 192 && b == 0 && c == 0
                || a == 198 && b & 0xfe == 18
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            let embedded = |a: u16, b: u16| {
                std::net::Ipv4Addr::new((a >> 8) as u8, a as u8, (b >> 8) as u8, b as u8)
            };
            // An IPv4 address inside (mapped, compatible ::a.b.c.d, NAT64 64:ff9b::/96, 6to4
            // 2002::/16) is judged as itself.
            let inside = v6.to_ipv4_mapped().or_else(|| match seg {
                [0, 0, 0, 0, 0, 0, a, b] => Some(embedded(a, b)),
                [0x64, 0xff9b, 0, 0, 0, 0, a, b] => Some(embedded(a, b)),
                [0x2002, a, b, ..] => Some(embedded(a, b)),
                _ => None,
            });
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || seg[0] & 0xfe00 == 0xfc00
                // Link-local fe80::/10 and the old site-local fec0::/10.
                || seg[0] & 0xff80 == 0xfe80
                || seg[0] == 0x2001 && seg[1] == 0xdb8
                // Teredo 2001::/32 (an IPv4 address inside, disguised), NAT64 for local use
                // 64:ff9b:1::/48, discard-only 100::/64.
                || seg[0] == 0x2001 && seg[1] == 0
                || seg[0] == 0x64 && seg[1] == 0xff9b && seg[2] == 1
                || seg[..4] == [0x100, 0, 0, 0])
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
    /// The client the document at `url` describes, fetched or kept. A kept document that
    /// has gone stale still describes its client while a fresh one cannot be had (its host
    /// down): a client in use is not refused for that.
    pub(crate) async fn describe(&self, url: &str) -> Result<Described, DocumentError> {
        let stale = match self.kept.lock().unwrap_or_else(|e| e.into_inner()).get(url) {
            Some((d, until)) if *until > Instant::now() => return Ok(d.clone()),
            Some((d, _)) => Some(d.clone()),
            None => None,
        };
        let (described, ttl) = match self.fetch(url).await {
            Ok(fetched) => fetched,
            Err(DocumentError::Unreachable(why)) if stale.is_some() => {
                tracing::warn!(client = %crate::bounds::shown(url), why, "a client's metadata document cannot be fetched again; the one kept is used");
                return Ok(stale.expect("checked"));
            }
            Err(e) => return Err(e),
        };
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

    async fn fetch(&self, url: &str) -> Result<(Described, Option<Duration>), DocumentError> {
        let unreachable = |why: String| DocumentError::Unreachable(why);
        // A few at once: each resolves a name on the blocking pool and holds a connection.
        let _turn = self.fetching.try_acquire().map_err(|_| {
            unreachable("too many client metadata documents are being fetched; try again".into())
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
        .map_err(|_| unreachable("the client ID's host did not resolve in time".into()))?
        .map_err(|_| unreachable("the client ID's host does not resolve".into()))?
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
            .map_err(|e| {
                unreachable(format!(
                    "the client's metadata document cannot be fetched: {e}"
                ))
            })?;
        let status = res.status();
        if status != reqwest::StatusCode::OK {
            let why = format!("the client's metadata document answered {status}");
            // A server error or a request to slow down says nothing of the client.
            if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                return Err(unreachable(why));
            }
            return Err(why.into());
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
            "0.1.2.3",
            "192.0.0.8",
            "198.18.0.1",
            "198.19.255.1",
            "240.0.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::127.0.0.1",
            "::a9fe:a9fe",
            "fec0::1",
            "ff02::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "64:ff9b:1::a00:1",
            "100::1",
        ] {
            assert!(!public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "2606:4700::1",
            "198.20.0.1",
            "192.0.1.1",
            "64:ff9b::5db8:d822",
        ] {
            assert!(public(ip.parse().unwrap()), "{ip}");
        }
    }

    /// Nothing listens on port 1 of the loopback: a host that cannot be reached.
    #[tokio::test]
    async fn a_document_that_cannot_be_had_now_is_not_an_unknown_client() {
        let docs = Documents {
            private_hosts: true,
            ..Documents::default()
        };
        let url = "https://127.0.0.1:1/client.json";
        match docs.describe(url).await {
            Err(DocumentError::Unreachable(why)) => assert!(why.contains("fetched"), "{why}"),
            other => panic!("{other:?}"),
        }
        // What the document says, or a client ID this server cannot use: unknown.
        assert!(matches!(
            docs.describe("https://127.0.0.1:1/").await,
            Err(DocumentError::Unusable(_))
        ));
        // A document kept, gone stale: it still describes its client while its host is down.
        let kept = Described {
            redirect_uris: vec!["https://client.example/cb".into()],
            name: Some("Notes".into()),
        };
        docs.kept.lock().unwrap().insert(
            url.to_owned(),
            (kept, Instant::now() - Duration::from_secs(1)),
        );
        let described = docs.describe(url).await.expect("the stale document");
        assert_eq!(described.name.as_deref(), Some("Notes"));
        // Too many fetches at once: try again, not unknown.
        let _all = docs.fetching.try_acquire_many(16).unwrap();
        assert!(matches!(
            docs.describe("https://127.0.0.1:1/other.json").await,
            Err(DocumentError::Unreachable(_))
        ));
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
