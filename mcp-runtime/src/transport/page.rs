//! The catalogue page: a `GET <mount>` from a browser (`Accept: text/html`, no MCP headers)
//! gets one self-contained HTML page that lists the server's tools, resources, templates and
//! prompts and calls them.
//!
//! The page is static: it learns the catalogue the way any client does, with stateless
//! 2026-07-28 requests to the mount (`server/discover`, the lists, `tools/call`), carrying the
//! headers the user types. So what it shows is filtered by those credentials exactly as
//! `tools/list` is, and the page itself reveals nothing. Nothing it receives is parsed as HTML
//! (text nodes only), and its Content-Security-Policy allows no script or style but its own
//! (by hash), no connection but to this origin, no frames.

use axum::body::Body;
use axum::response::Response;
use base64::Engine as _;
use http::request::Parts;
use http::{HeaderValue, Method, StatusCode, header};
use sha2::{Digest as _, Sha256};
use std::sync::LazyLock;

const PAGE: &str = include_str!("catalogue.html");

/// Whether a request is a browser asking for the page: a GET whose `Accept` names `text/html`
/// (not through `*/*`), without `text/event-stream` or any MCP header. An MCP client's GET (the
/// SSE stream) never matches.
pub(super) fn wanted(parts: &Parts) -> bool {
    if parts.method != Method::GET
        || parts.headers.contains_key("mcp-session-id")
        || parts.headers.contains_key("last-event-id")
        || parts.headers.contains_key("mcp-protocol-version")
    {
        return false;
    }
    let mut html = false;
    for range in super::ingress::accept_ranges(&parts.headers) {
        if range.eq_ignore_ascii_case("text/event-stream") {
            return false;
        }
        html |= range.eq_ignore_ascii_case("text/html");
    }
    html
}

/// The `sha256-…` source of the first `<tag>…</tag>` of the page, for the CSP.
fn hash_of(tag: &str) -> String {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = PAGE.find(&open).expect("the page has the element") + open.len();
    let end = start + PAGE[start..].find(&close).expect("the element is closed");
    let digest = Sha256::digest(&PAGE.as_bytes()[start..end]);
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

static POLICY: LazyLock<HeaderValue> = LazyLock::new(|| {
    let policy = format!(
        "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; img-src data:; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        hash_of("script"),
        hash_of("style")
    );
    HeaderValue::from_str(&policy).expect("an ASCII policy")
});

/// The page.
pub(super) fn response() -> Response {
    let mut res = Response::new(Body::from(PAGE));
    *res.status_mut() = StatusCode::OK;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CONTENT_SECURITY_POLICY, POLICY.clone());
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::VARY, HeaderValue::from_static("accept"));
    res
}

/// The catalogue page, for a browser's GET where the mount shows it. Before authentication: the
/// page is static and lists only what the credentials typed into it may list; after the
/// origin check, like everything else.
pub(super) fn for_browser(
    options: &super::options::HttpOptions,
    parts: &::http::request::Parts,
) -> Option<axum::response::Response> {
    if !options.catalogue_page || !wanted(parts) {
        return None;
    }
    Some(match options.origins.check(parts) {
        Ok(()) => response(),
        Err(refused) => refused,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(accept: &str, extra: Option<(&str, &str)>) -> Parts {
        let mut req = http::Request::get("/mcp").header("accept", accept);
        if let Some((k, v)) = extra {
            req = req.header(k, v);
        }
        req.body(()).unwrap().into_parts().0
    }

    #[test]
    fn only_browsers_get_the_page() {
        let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert!(wanted(&parts(browser, None)));
        assert!(
            !wanted(&parts("text/event-stream", None)),
            "an MCP client's GET"
        );
        assert!(!wanted(&parts("*/*", None)), "curl");
        assert!(!wanted(&parts("text/html;q=0", None)));
        assert!(!wanted(&parts("text/html, text/event-stream", None)));
        assert!(!wanted(&parts(browser, Some(("mcp-session-id", "abc")))));
        assert!(!wanted(&parts(
            browser,
            Some(("mcp-protocol-version", "2025-11-25"))
        )));
    }

    #[test]
    fn the_policy_names_the_page_s_own_script_and_style() {
        let policy = POLICY.to_str().unwrap();
        assert_eq!(policy.matches("'sha256-").count(), 2, "{policy}");
        assert!(!policy.contains("unsafe"), "{policy}");
    }
}
