//! `Origin` and `Host` validation against DNS rebinding.
//!
//! The rules, in order:
//! 1. `Host` (or the request URI's authority) must parse as a host; otherwise 400.
//! 2. Named hosts ([`OriginPolicy::allow_hosts`]): a `Host` that is neither loopback nor named
//!    gets 403, however the request arrived.
//! 3. No named hosts, request arrived on a loopback address (known from axum's
//!    `ConnectInfo<SocketAddr>`): a `Host` that is not loopback gets 403. A page on a foreign name
//!    that rebinds that name to 127.0.0.1 sends its own name as `Host`, so this stops DNS
//!    rebinding against servers bound to loopback, without refusing proxied requests that arrive
//!    on other addresses.
//! 4. `Origin`: absent is accepted (desktop and server-side clients send none); listed origins
//!    (or `*`) are accepted; a loopback origin calling a loopback host is accepted; an origin of
//!    the request's own host is accepted when that host is loopback or named, or when the request
//!    is known to have arrived on a non-loopback address. Everything else gets 403: in
//!    particular a same-host origin under an unnamed, non-loopback host on a connection whose
//!    address is unknown, which is what DNS rebinding looks like when the app does not tell the
//!    runtime where requests arrive.
//!
//! Loopback means the name `localhost` and the addresses 127.0.0.0/8 and ::1 (also as
//! `::ffff:127.x.y.z`), parsed as addresses: `127.0.0.1.evil.example` is a name, not loopback.

use super::egress::{TRANSPORT_ERROR, error_response};
use crate::headers::{self, Unreadable};
use axum::extract::ConnectInfo;
use axum::response::Response;
use http::request::Parts;
use http::{StatusCode, header::HOST, header::ORIGIN};
use std::net::{IpAddr, SocketAddr};
use url::Host;

/// Which browser origins and which `Host` headers a mounted app accepts.
///
/// The default accepts requests without `Origin` (desktop and server-side clients send none),
/// loopback origins calling a loopback host, same-host origins where the host is known to be
/// genuine, and the origins listed with [`OriginPolicy::allow_origin`]; any other `Origin` gets
/// 403. A request that arrived on a loopback address must name a loopback `Host` (DNS rebinding
/// protection); requests arriving on other addresses may carry any `Host`, so deployments behind
/// a proxy work as they are. The runtime learns the address from axum's connect info: serve the
/// app with `app.into_make_service_with_connect_info::<std::net::SocketAddr>()`.
///
/// A server that sits behind a proxy on the same machine (the proxy connects over loopback and
/// forwards its public `Host`) names its public hosts with [`OriginPolicy::allow_hosts`]: then
/// those hosts and loopback hosts are accepted, and no other.
#[derive(Clone, Debug, Default)]
pub struct OriginPolicy {
    /// Allowed origins, as ASCII serializations (`https://claude.ai`).
    origins: Vec<String>,
    /// Named hosts: when set, the only non-loopback `Host` values accepted.
    hosts: Option<Vec<Host>>,
    any_origin: bool,
}

/// Whether a parsed host is loopback: `localhost`, 127.0.0.0/8, ::1 (or its IPv4-mapped form).
fn is_loopback(host: &Host) -> bool {
    match host {
        Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip.to_canonical().is_loopback(),
    }
}

fn is_loopback_ip(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// The host of a `Host` value or an authority (`name`, `name:port`, `[::1]:port`), without port.
fn parse_host(authority: &str) -> Option<Host> {
    let authority: http::uri::Authority = authority.trim().parse().ok()?;
    Host::parse(authority.host()).ok()
}

/// Whether a `Host` value is, plainly, a loopback host: `localhost`, a dotted-quad 127.x.y.z or
/// `[::1]`, with an optional numeric port. A quick test for the common case of a local client
/// that agrees with [`parse_host`] + [`is_loopback`] wherever it says yes; `false` means "parse
/// it fully", not "not loopback".
fn plainly_loopback(text: &str) -> bool {
    let text = text.trim_ascii();
    // The forms local clients send, told without parsing an address.
    for name in ["127.0.0.1", "localhost"] {
        if let Some(rest) = text.strip_prefix(name) {
            match rest.strip_prefix(':') {
                Some(port) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
                    return port.parse::<u16>().is_ok();
                }
                _ if rest.is_empty() => return true,
                // Anything else (`127.0.0.1.example`, a bad port): the whole rule below.
                _ => break,
            }
        }
    }
    let (host, port) = match text.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') && (h.starts_with('[') || !h.contains(':')) => (h, p),
        _ => (text, ""),
    };
    if !port.is_empty() && port.parse::<u16>().is_err() {
        return false;
    }
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6
            .parse::<std::net::Ipv6Addr>()
            .is_ok_and(|ip| ip.is_loopback());
    }
    host.parse::<std::net::Ipv4Addr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// Where the request arrived, as far as the app told the runtime.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Arrival {
    Loopback,
    Elsewhere,
    Unknown,
}

fn arrival(parts: &Parts) -> Arrival {
    match parts.extensions.get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(peer)) if is_loopback_ip(peer.ip()) => Arrival::Loopback,
        Some(_) => Arrival::Elsewhere,
        None => Arrival::Unknown,
    }
}

fn forbidden(message: String) -> Response {
    error_response(StatusCode::FORBIDDEN, TRANSPORT_ERROR, message)
}

fn unreadable(e: Unreadable, status: StatusCode) -> Response {
    error_response(status, TRANSPORT_ERROR, e.to_string())
}

impl OriginPolicy {
    /// Accepts this origin too (e.g. `https://claude.ai`); `*` accepts every origin.
    ///
    /// # Panics
    ///
    /// If `origin` is neither `*` nor a URL with a host (a programming error, reported at
    /// startup).
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        let origin = origin.into();
        if origin == "*" {
            self.any_origin = true;
        } else {
            let url = url::Url::parse(origin.trim())
                .ok()
                .filter(|u| u.host().is_some())
                .unwrap_or_else(|| {
                    panic!("`{origin}` is not an origin such as `https://claude.ai`")
                });
            self.origins.push(url.origin().ascii_serialization());
        }
        self
    }

    /// Names the public hosts of this server (ports are ignored): then a `Host` that is
    /// neither one of these nor loopback gets 403, however the request arrived. Use it when a
    /// proxy on the same machine forwards its public `Host` to a server bound to loopback.
    ///
    /// # Panics
    ///
    /// If a host does not parse (a programming error, reported at startup).
    pub fn allow_hosts<I, S>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let named = self.hosts.get_or_insert_with(Vec::new);
        for h in hosts {
            let h = h.into();
            named.push(parse_host(&h).unwrap_or_else(|| panic!("`{h}` is not a host name")));
        }
        self
    }

    /// A policy for a server that only serves this machine: loopback hosts only, however the
    /// request arrived.
    pub fn local() -> Self {
        Self::default().allow_hosts(std::iter::empty::<String>())
    }

    fn named(&self, host: &Host) -> bool {
        self.hosts.as_ref().is_some_and(|h| h.contains(host))
    }

    /// Checks a request; the 400 or 403 response when refused.
    #[allow(clippy::result_large_err)]
    pub(crate) fn check(&self, parts: &Parts) -> Result<(), Response> {
        self.check_known(parts, &headers::Known::of(&parts.headers))
    }

    /// [`Self::check`] of the headers already read.
    #[allow(clippy::result_large_err)]
    pub(crate) fn check_known(
        &self,
        parts: &Parts,
        known: &headers::Known<'_>,
    ) -> Result<(), Response> {
        self.check_with(parts, known, true)
    }

    /// Checks only the `Host` rules (1 to 3), for public documents any origin may read (the
    /// server card): a rebound name still cannot reach a loopback server.
    #[allow(clippy::result_large_err)]
    pub(crate) fn check_host(&self, parts: &Parts) -> Result<(), Response> {
        self.check_with(parts, &headers::Known::of(&parts.headers), false)
    }

    #[allow(clippy::result_large_err)]
    fn check_with(
        &self,
        parts: &Parts,
        known: &headers::Known<'_>,
        origins: bool,
    ) -> Result<(), Response> {
        let origin = if origins {
            headers::value_text(known.origin, &ORIGIN)
                .map_err(|e| unreadable(e, StatusCode::FORBIDDEN))?
        } else {
            None
        };
        let arrival = arrival(parts);
        // The common case costs nothing: no browser, no host rule that applies.
        if origin.is_none() && self.hosts.is_none() && arrival != Arrival::Loopback {
            return Ok(());
        }
        let host_text = match headers::value_text(known.host, &HOST)
            .map_err(|e| unreadable(e, StatusCode::BAD_REQUEST))?
        {
            Some(h) => h,
            None => parts.uri.authority().map_or("", |a| a.as_str()),
        };
        // A local client without a browser: a loopback host passes every host rule.
        if origin.is_none() && plainly_loopback(host_text) {
            return Ok(());
        }
        let host = parse_host(host_text).ok_or_else(|| {
            error_response(
                StatusCode::BAD_REQUEST,
                TRANSPORT_ERROR,
                format!(
                    "the Host header `{}` is not a host",
                    crate::bounds::shown(host_text)
                ),
            )
        })?;
        let loopback_host = is_loopback(&host);
        if !loopback_host {
            if self.hosts.is_some() && !self.named(&host) {
                return Err(forbidden(format!(
                    "host `{host}` is not served here (DNS rebinding protection); name it with \
                     `OriginPolicy::allow_hosts`"
                )));
            }
            if self.hosts.is_none() && arrival == Arrival::Loopback {
                return Err(forbidden(format!(
                    "host `{host}` is not served here: this request arrived on a loopback \
                     address, where only loopback host names are accepted (DNS rebinding \
                     protection); a proxy that forwards a public host names it with \
                     `OriginPolicy::allow_hosts`"
                )));
            }
        }
        let Some(origin_text) = origin else {
            return Ok(());
        };
        let parsed = url::Url::parse(origin_text.trim()).ok();
        let serialized = parsed.as_ref().map(|u| u.origin().ascii_serialization());
        if self.any_origin
            || serialized
                .as_ref()
                .is_some_and(|s| self.origins.iter().any(|o| o == s))
        {
            return Ok(());
        }
        let origin_host = parsed.as_ref().and_then(|u| u.host()).map(|h| h.to_owned());
        if let Some(origin_host) = origin_host {
            if loopback_host && is_loopback(&origin_host) {
                return Ok(());
            }
            if origin_host == host {
                // A same-host origin is genuine when the host is: loopback, named by the app, or
                // reached on a non-loopback address. Otherwise it may be a rebound name.
                if loopback_host || self.named(&host) || arrival == Arrival::Elsewhere {
                    return Ok(());
                }
                return Err(forbidden(format!(
                    "origin `{}` is refused: the runtime cannot tell whether host `{host}` is \
                     genuine or a rebound name (DNS rebinding protection); name it with \
                     `OriginPolicy::allow_hosts`, or serve the app with \
                     `into_make_service_with_connect_info::<SocketAddr>()` so that requests \
                     arriving on public addresses are recognised",
                    crate::bounds::shown(origin_text)
                )));
            }
        }
        Err(forbidden(format!(
            "origin `{}` is not allowed to call this MCP server; allow it with \
             `OriginPolicy::allow_origin`",
            crate::bounds::shown(origin_text)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(host: &str, origin: Option<&str>, peer: Option<&str>) -> Parts {
        let mut b = http::Request::builder().uri("/mcp").header(HOST, host);
        if let Some(o) = origin {
            b = b.header(ORIGIN, o);
        }
        let (mut parts, ()) = b.body(()).unwrap().into_parts();
        if let Some(p) = peer {
            parts
                .extensions
                .insert(ConnectInfo(p.parse::<SocketAddr>().unwrap()));
        }
        parts
    }

    const LOCAL: Option<&str> = Some("127.0.0.1:40000");
    const PUBLIC: Option<&str> = Some("203.0.113.7:40000");

    fn ok(p: &OriginPolicy, host: &str, origin: Option<&str>, peer: Option<&str>) -> bool {
        p.check(&request(host, origin, peer)).is_ok()
    }

    #[test]
    fn default_policy() {
        let p = OriginPolicy::default();
        assert!(ok(&p, "api.example.com", None, None));
        assert!(ok(&p, "api.example.com", None, PUBLIC));
        assert!(ok(
            &p,
            "api.example.com",
            Some("https://api.example.com"),
            PUBLIC
        ));
        assert!(ok(
            &p,
            "127.0.0.1:3000",
            Some("http://localhost:6274"),
            LOCAL
        ));
        assert!(ok(&p, "[::1]:3000", Some("http://127.0.0.1:6274"), None));
        assert!(!ok(&p, "api.example.com", Some("https://evil.com"), PUBLIC));
        assert!(!ok(&p, "localhost:3000", Some("https://evil.com"), LOCAL));
        assert!(!ok(&p, "api.example.com", Some("null"), PUBLIC));
    }

    #[test]
    fn look_alike_loopback_origins() {
        let p = OriginPolicy::default();
        for origin in [
            "http://127.0.0.1.evil.example",
            "https://127.attacker.example",
            "http://localhost.evil.example",
            "http://[::2]",
            "http://128.0.0.1",
        ] {
            for peer in [LOCAL, None] {
                assert!(!ok(&p, "127.0.0.1:8000", Some(origin), peer), "{origin}");
            }
        }
        for origin in ["http://127.1.2.3:9", "http://[::1]", "http://LOCALHOST:1"] {
            assert!(ok(&p, "127.0.0.1:8000", Some(origin), LOCAL), "{origin}");
        }
    }

    #[test]
    fn dns_rebinding() {
        let p = OriginPolicy::default();
        let attack = (Some("http://evil.example:8000"), "evil.example:8000");
        // On loopback: the foreign Host alone is refused, with or without Origin.
        assert!(!ok(&p, attack.1, attack.0, LOCAL));
        assert!(!ok(&p, attack.1, None, LOCAL));
        assert!(!ok(
            &p,
            "127.0.0.1.evil.example",
            None,
            Some("[::ffff:127.0.0.1]:1")
        ));
        // Arrival unknown: a same-host browser request under an unnamed host is refused.
        assert!(!ok(&p, attack.1, attack.0, None));
        // Arrived elsewhere: a proxied request, today's behaviour.
        assert!(ok(&p, attack.1, attack.0, PUBLIC));
    }

    #[test]
    fn named_hosts() {
        let p = OriginPolicy::default()
            .allow_hosts(["api.example.com"])
            .allow_origin("https://claude.ai:443");
        assert!(ok(&p, "api.example.com", None, LOCAL));
        assert!(ok(
            &p,
            "API.example.com:8443",
            Some("https://api.example.com"),
            LOCAL
        ));
        assert!(ok(
            &p,
            "api.example.com",
            Some("https://api.example.com"),
            None
        ));
        assert!(ok(&p, "localhost:8000", None, LOCAL));
        assert!(ok(&p, "api.example.com", Some("https://claude.ai"), LOCAL));
        assert!(!ok(&p, "evil.example", None, PUBLIC));
        assert!(!ok(&p, "evil.example", Some("http://evil.example"), LOCAL));

        let local = OriginPolicy::local();
        assert!(ok(&local, "localhost:3000", None, None));
        assert!(ok(&local, "[::1]:3000", None, PUBLIC));
        assert!(!ok(&local, "evil.example.com:3000", None, PUBLIC));
    }

    #[test]
    fn unreadable_or_invalid_headers() {
        let p = OriginPolicy::default();
        let mut parts = request("localhost", None, LOCAL);
        parts.headers.insert(
            ORIGIN,
            http::HeaderValue::from_bytes(b"http://\xe9\xe9").unwrap(),
        );
        assert_eq!(p.check(&parts).unwrap_err().status(), 403);
        let parts = request("exa mple", None, LOCAL);
        assert_eq!(p.check(&parts).unwrap_err().status(), 400);
    }

    #[test]
    fn the_quick_loopback_test_agrees_with_the_full_parse() {
        for text in [
            "localhost",
            "LocalHost:3000",
            "127.0.0.1",
            "127.0.0.1:8080",
            "127.0.0.1:65535",
            "localhost:8080",
            "localhost:",
            " 127.9.8.7:1 ",
            "[::1]",
            "[::1]:3000",
            "127.0.0.1:",
        ] {
            assert!(plainly_loopback(text), "{text}");
            assert!(is_loopback(&parse_host(text).unwrap()), "{text}");
        }
        // Not plainly loopback: left to the full parse (which may still call some loopback).
        for text in [
            "127.0.0.1.evil.example",
            "localhost.evil.example:80",
            "127.0.0.1:99999",
            "127.0.0.1:65536",
            "localhost:99999",
            "127.0.0.1:x",
            "[::2]:80",
            "::1",
            "[::1",
            "128.0.0.1",
            "0x7f.1",
            "127.1",
            "",
            "localhost:80:80",
        ] {
            assert!(!plainly_loopback(text), "{text}");
        }
    }

    #[test]
    fn hosts() {
        assert_eq!(
            parse_host("Example.com:8080"),
            Some(Host::Domain("example.com".into()))
        );
        assert!(is_loopback(&parse_host("[::1]:3000").unwrap()));
        assert!(is_loopback(&parse_host("127.200.0.1").unwrap()));
        assert!(!is_loopback(&parse_host("127.0.0.1.nip.io").unwrap()));
    }
}
