//! The pages the authorization server shows people: the consent page and error pages. Every
//! value is escaped; the pages run no script, may not be framed, and post only to this server
//! (and go on to the identity provider or back to the client).

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};

/// `text` safe in HTML text and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;max-width:36em;margin:3em auto;\
padding:0 1em;color:#1d1d1f}code{background:#f2f2f2;padding:0 .3em;border-radius:3px}\
.buttons{display:flex;gap:1em;margin-top:2em}button{font:inherit;padding:.5em 1.5em}";

fn page(status: StatusCode, title: &str, body: &str, form_targets: &[&str]) -> Response {
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{}</title>\
         <style>{STYLE}</style></head><body>{body}</body></html>",
        escape(title)
    );
    let mut res = Response::new(Body::from(html));
    *res.status_mut() = status;
    let targets: Vec<&str> = form_targets
        .iter()
        .copied()
        .filter(|t| t.starts_with("https://") || t.starts_with("http://"))
        .collect();
    // Chromium holds a form's redirects to `form-action` too: the consent's answer goes on to
    // the identity provider or back to the client.
    let policy = format!(
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' {}; \
         frame-ancestors 'none'; base-uri 'none'",
        targets.join(" ")
    );
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(policy.trim()) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    res
}

/// An error shown here, never sent on: the request named no client, or a redirect URI the
/// client did not register.
pub(super) fn error(status: StatusCode, message: &str) -> Response {
    page(
        status,
        "Authorization failed",
        &format!("<h1>Authorization failed</h1><p>{}</p>", escape(message)),
        &[],
    )
}

/// What the consent page names.
pub(super) struct Consent<'a> {
    pub(super) request: &'a str,
    /// Where the form posts: the issuer's `/oauth/consent`.
    pub(super) action: &'a str,
    pub(super) client: Option<&'a str>,
    pub(super) client_id: &'a str,
    pub(super) redirect_uri: &'a str,
    pub(super) resource: &'a str,
    pub(super) scopes: &'a [String],
    /// Where the form's answer may lead: the identity provider, the client.
    pub(super) form_targets: &'a [&'a str],
}

/// The page on which the user confirms which client gets access.
pub(super) fn consent(c: &Consent<'_>) -> Response {
    let client = match c.client {
        Some(name) if !name.trim().is_empty() => format!(
            "<strong>{}</strong> (client <code>{}</code>)",
            escape(name),
            escape(c.client_id)
        ),
        _ => format!("The client <code>{}</code>", escape(c.client_id)),
    };
    let host = url::Url::parse(c.redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    let scopes = if c.scopes.is_empty() {
        String::new()
    } else {
        format!(
            "<p>With these permissions: {}.</p>",
            c.scopes
                .iter()
                .map(|s| format!("<code>{}</code>", escape(s)))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let body = format!(
        "<h1>Allow access?</h1>\
         <p>{client} asks to use <code>{}</code> as you.</p>{scopes}\
         <p>After you log in, you will be sent back to <code>{}</code>. Allow only a client \
         you started yourself.</p>\
         <form method=\"post\" action=\"{}\">\
         <input type=\"hidden\" name=\"request\" value=\"{}\">\
         <div class=\"buttons\">\
         <button type=\"submit\" name=\"decision\" value=\"approve\">Allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button>\
         </div></form>",
        escape(c.resource),
        escape(&host),
        escape(c.action),
        escape(c.request),
    );
    page(StatusCode::OK, "Allow access?", &body, c.form_targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped() {
        assert_eq!(
            escape("<script>\"x\"&'y'</script>"),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;"
        );
    }
}
