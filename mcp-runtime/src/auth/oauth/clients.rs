//! Clients: registration (RFC 7591), the rules of redirect URIs and names, finding a client
//! (registered, or described by its metadata document) and authenticating it.

use super::flow::*;
use super::tokens::{digest, now, random_token};
use super::{Inner, UNUSED_CLIENT_TTL};
use crate::store::StoreError;
use axum::extract::Request;
use axum::response::Response;
use base64::Engine as _;
use http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;

#[derive(Serialize, Deserialize)]
pub(super) struct Client {
    pub(super) id: String,
    /// The SHA-256 of its secret, for confidential clients.
    pub(super) secret: Option<String>,
    pub(super) redirect_uris: Vec<String>,
    pub(super) name: Option<String>,
    pub(super) auth_method: String,
}

/// A client's name as the consent page may show it: no control characters, and no
/// bidirectional-text controls (which could make one name read as another).
pub(super) fn shown_name(name: &str) -> String {
    name.chars()
        .filter(|c| {
            !c.is_control()
                && !matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .take(MAX_NAME)
        .collect()
}

/// A client's `redirect_uris` (registered, or in its metadata document): 1 to
/// [`MAX_REDIRECT_URIS`] strings, each one [`redirect_uri_problem`] finds nothing wrong with.
pub(super) fn redirect_uris(value: Option<&Value>) -> Result<Vec<String>, String> {
    match value {
        Some(Value::Array(a)) if !a.is_empty() && a.len() <= MAX_REDIRECT_URIS => {
            let uris: Vec<String> = a
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or("`redirect_uris` must be strings")?;
            match uris.iter().find_map(|u| redirect_uri_problem(u)) {
                Some(problem) => Err(problem),
                None => Ok(uris),
            }
        }
        _ => Err(format!(
            "`redirect_uris` must list 1 to {MAX_REDIRECT_URIS} URIs"
        )),
    }
}

/// A client's `client_name` (registered, or in its metadata document), as the consent page
/// may show it: absent, or a string of at most [`MAX_NAME`] characters.
pub(super) fn client_name(value: Option<&Value>) -> Result<Option<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(n)) if n.chars().count() <= MAX_NAME => Ok(Some(shown_name(n))),
        _ => Err(format!(
            "`client_name` must be a string of at most {MAX_NAME} characters"
        )),
    }
}

/// Whether `uri` may be registered: `https`, or `http` on a loopback host; no fragment.
pub(super) fn redirect_uri_problem(uri: &str) -> Option<String> {
    if uri.len() > MAX_URI {
        return Some(format!("a redirect URI is over {MAX_URI} characters"));
    }
    let Ok(url) = url::Url::parse(uri) else {
        return Some(format!("`{}` is not a URL", crate::bounds::shown(uri)));
    };
    if url.fragment().is_some() {
        return Some("a redirect URI cannot have a fragment".into());
    }
    match url.scheme() {
        "https" => None,
        "http" if loopback(&url) => None,
        _ => Some(format!(
            "`{}`: redirect URIs must be https, or http on a loopback address",
            crate::bounds::shown(uri)
        )),
    }
}

fn loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Whether an authorization request's `redirect_uri` is one of `registered`: the same string;
/// or, for `http` on a loopback host, the same but for the port, which a native client picks
/// when it listens (OAuth 2.1 section 8.4.2, RFC 8252 section 7.3).
pub(super) fn registered_redirect(registered: &[String], asked: &str) -> bool {
    if registered.iter().any(|r| r == asked) {
        return true;
    }
    let Ok(asked) = url::Url::parse(asked) else {
        return false;
    };
    if asked.scheme() != "http" || !loopback(&asked) {
        return false;
    }
    let without_port = |mut url: url::Url| {
        url.set_port(None).ok()?;
        Some(url)
    };
    let Some(asked) = without_port(asked) else {
        return false;
    };
    registered
        .iter()
        .filter_map(|r| url::Url::parse(r).ok())
        .filter(|r| r.scheme() == "http")
        .filter_map(without_port)
        .any(|r| r == asked)
}

pub(super) async fn register(inner: &Inner, req: Request) -> Response {
    // JSON only (RFC 7591 3.1): a web page can make its visitors' browsers send a form or
    // text without asking, not JSON. Refused before it counts against the address.
    if !crate::headers::media_is(
        req.headers().get(http::header::CONTENT_TYPE),
        "application/json",
    ) {
        return oauth_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_client_metadata",
            "send the registration as `Content-Type: application/json`",
        );
    }
    if let Some(refused) = over_limit(inner, client_addr(&req), Limit::Registrations).await {
        return refused;
    }
    let (_, bytes) = match body(req).await {
        Ok(b) => b,
        Err(res) => return res,
    };
    let Ok(Value::Object(meta)) = serde_json::from_slice::<Value>(&bytes) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client_metadata",
            "the registration is not a JSON object",
        );
    };
    let bad = |d: String| oauth_error(StatusCode::BAD_REQUEST, "invalid_client_metadata", d);
    let redirect_uris = match redirect_uris(meta.get("redirect_uris")) {
        Ok(uris) => uris,
        Err(p) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_redirect_uri", p),
    };
    let name = match client_name(meta.get("client_name")) {
        Ok(name) => name,
        Err(p) => return bad(p),
    };
    let auth_method = match meta
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str)
    {
        None => "client_secret_basic",
        Some(m @ ("none" | "client_secret_basic" | "client_secret_post")) => m,
        Some(m) => {
            return bad(format!(
                "`token_endpoint_auth_method` `{}` is not supported (none, client_secret_basic, \
                 client_secret_post)",
                crate::bounds::shown(m)
            ));
        }
    };
    let allowed = |key: &str, known: &[&str]| match meta.get(key) {
        None => true,
        Some(Value::Array(a)) => a
            .iter()
            .all(|v| v.as_str().is_some_and(|s| known.contains(&s))),
        _ => false,
    };
    if !allowed("grant_types", &["authorization_code", "refresh_token"]) {
        return bad("`grant_types` may name authorization_code and refresh_token only".into());
    }
    if !allowed("response_types", &["code"]) {
        return bad("`response_types` may name code only".into());
    }
    let id = crate::protocol::random_id();
    let secret = (auth_method != "none").then(random_token);
    let client = Client {
        id: id.clone(),
        secret: secret.as_deref().map(digest),
        redirect_uris: redirect_uris.clone(),
        name: name.clone(),
        auth_method: auth_method.to_owned(),
    };
    // Kept a day until it is used, then for good (`CLIENT_TTL`): registrations nobody uses
    // do not pile up.
    if let Err(e) = keep(inner, &format!("client:{id}"), &client, UNUSED_CLIENT_TTL).await {
        return unavailable(&e);
    }
    let mut answer = json!({
        "client_id": id,
        "client_id_issued_at": now(),
        "redirect_uris": redirect_uris,
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": auth_method,
    });
    if let Some(s) = secret {
        answer["client_secret"] = json!(s);
        answer["client_secret_expires_at"] = json!(0);
    }
    if let Some(n) = name {
        answer["client_name"] = json!(n);
    }
    json_response(StatusCode::CREATED, &answer)
}

/// Why a client cannot be used.
pub(super) enum Unusable {
    /// Not registered, or a metadata document that cannot be used (why).
    Unknown(String),
    /// Its metadata document cannot be had now (why): try again.
    Unreachable(String),
    Store(StoreError),
}

/// A registered client, or one its metadata document describes (its `client_id` an `https`
/// URL).
pub(super) async fn client(inner: &Inner, id: &str) -> Result<Client, Unusable> {
    if super::documents::is_document_id(id) {
        let described = inner.documents.describe(id).await.map_err(|e| match e {
            super::documents::DocumentError::Unusable(why) => Unusable::Unknown(why),
            super::documents::DocumentError::Unreachable(why) => Unusable::Unreachable(why),
        })?;
        return Ok(Client {
            id: id.to_owned(),
            secret: None,
            redirect_uris: described.redirect_uris,
            name: described.name,
            auth_method: "none".into(),
        });
    }
    let unknown = || {
        Unusable::Unknown("the client is not registered here (or its registration expired)".into())
    };
    if !crate::protocol::could_be_random_id(id) {
        return Err(unknown());
    }
    load(inner, &format!("client:{id}"), false)
        .await
        .map_err(Unusable::Store)?
        .ok_or_else(unknown)
}

/// The client a token or revocation request authenticates as: HTTP Basic, or `client_id`
/// (and `client_secret`) in the form. One method per request (RFC 6749 2.3: a secret in
/// both, or a form `client_id` naming another client than Basic, is refused), and the one the
/// client registered (`token_endpoint_auth_method`): a secret sent another way than agreed is
/// refused, as a server that enforces the registration would.
pub(super) async fn authenticate_client(
    inner: &Inner,
    headers: &HeaderMap,
    f: &HashMap<String, String>,
) -> Result<Client, Response> {
    let invalid = |d: &str| oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", d);
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        // The scheme's name is case-insensitive (RFC 9110 11.1).
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, credentials)| credentials)
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            let (id, secret) = s.split_once(':')?;
            let decode = |t: &str| {
                url::form_urlencoded::parse(format!("x={t}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
            };
            Some((decode(id)?, decode(secret)?))
        });
    let twice = |d: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_request", d);
    let form_secret = f.get("client_secret").filter(|s| !s.is_empty());
    // The secret and how it came.
    let (id, secret, method) = match (&basic, f.get("client_id")) {
        (Some(_), _) if form_secret.is_some() => {
            return Err(twice(
                "the request authenticates the client twice (HTTP Basic and `client_secret`); \
                 use one method",
            ));
        }
        (Some((id, _)), Some(named)) if named != id => {
            return Err(twice(
                "`client_id` in the form names another client than the HTTP Basic credentials",
            ));
        }
        (Some((id, secret)), _) => (
            id.clone(),
            Some(secret.clone()).filter(|s| !s.is_empty()),
            "client_secret_basic",
        ),
        (None, Some(id)) => (id.clone(), form_secret.cloned(), "client_secret_post"),
        (None, None) => return Err(invalid("the request names no client")),
    };
    let method = if secret.is_some() { method } else { "none" };
    let client = match client(inner, &id).await {
        Ok(c) => c,
        Err(Unusable::Unknown(why)) => return Err(invalid(&why)),
        Err(Unusable::Unreachable(why)) => {
            return Err(oauth_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                why,
            ));
        }
        Err(Unusable::Store(e)) => return Err(unavailable(&e)),
    };
    match (&client.secret, secret) {
        (None, None) => Ok(client),
        (Some(kept), Some(given))
            if crate::auth::api_key::constant_time_eq(
                digest(&given).as_bytes(),
                kept.as_bytes(),
            ) =>
        {
            // Checked after the secret: a wrong secret reads the same either way.
            if method == client.auth_method {
                Ok(client)
            } else {
                Err(invalid(&format!(
                    "this client registered `{}` as its token_endpoint_auth_method; its secret \
                     came by `{method}`",
                    client.auth_method
                )))
            }
        }
        (None, Some(_)) => Err(invalid("the client has no secret")),
        _ => Err(invalid("the client's secret is wrong or missing")),
    }
}

/// The form of a token or revocation request, and the client it authenticates as.
pub(super) async fn client_request(
    inner: &Inner,
    req: Request,
) -> Result<(Client, HashMap<String, String>), Response> {
    let (parts, bytes) = body(req).await?;
    let f = form(&bytes);
    let client = authenticate_client(inner, &parts.headers, &f).await?;
    Ok((client, f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrations_and_metadata_documents_share_their_rules() {
        use serde_json::json;
        let ok = json!(["https://client.example/cb", "http://127.0.0.1:9/cb"]);
        assert_eq!(redirect_uris(Some(&ok)).unwrap().len(), 2);
        for bad in [
            json!([]),
            json!(vec!["https://client.example/cb"; MAX_REDIRECT_URIS + 1]),
            json!(["https://client.example/cb", 7]),
            json!(["https://client.example/cb#x"]),
            json!("https://client.example/cb"),
        ] {
            assert!(redirect_uris(Some(&bad)).is_err(), "{bad}");
        }
        assert!(redirect_uris(None).is_err());
        assert_eq!(client_name(None).unwrap(), None);
        assert_eq!(
            client_name(Some(&json!("Notes\u{202e}App"))).unwrap(),
            Some("NotesApp".to_owned())
        );
        assert!(client_name(Some(&json!("n".repeat(MAX_NAME + 1)))).is_err());
        assert!(client_name(Some(&json!(["Notes"]))).is_err());
    }

    #[test]
    fn redirect_uris_are_https_or_loopback_without_fragments() {
        assert!(redirect_uri_problem("https://client.example/cb").is_none());
        assert!(redirect_uri_problem("http://127.0.0.1:4567/cb").is_none());
        assert!(redirect_uri_problem("http://localhost/cb").is_none());
        assert!(redirect_uri_problem("http://[::1]:9/cb").is_none());
        assert!(redirect_uri_problem("http://client.example/cb").is_some());
        assert!(redirect_uri_problem("https://client.example/cb#x").is_some());
        assert!(redirect_uri_problem("javascript:alert(1)").is_some());
        assert!(redirect_uri_problem("http://127.0.0.1.evil.example/cb").is_some());
    }

    #[test]
    fn a_loopback_redirect_may_name_any_port() {
        let registered = [
            "http://127.0.0.1:4567/cb".to_owned(),
            "http://localhost/done?x=1".to_owned(),
            "https://client.example:8443/cb".to_owned(),
        ];
        let ok = |u| registered_redirect(&registered, u);
        assert!(ok("http://127.0.0.1:4567/cb"));
        assert!(ok("http://127.0.0.1:61000/cb"));
        assert!(ok("http://127.0.0.1/cb"));
        assert!(ok("http://localhost:9/done?x=1"));
        assert!(ok("https://client.example:8443/cb"));
        // Anything else must be the same: path, query, host, scheme; and a port is free only
        // on loopback, over http.
        assert!(!ok("http://127.0.0.1:61000/other"));
        assert!(!ok("http://127.0.0.1:61000/cb?x=1"));
        assert!(!ok("http://[::1]:4567/cb"), "another host");
        assert!(!ok("http://localhost:9/done"));
        assert!(!ok("https://127.0.0.1:4567/cb"));
        assert!(!ok("https://client.example:9443/cb"));
        assert!(!ok("http://user@127.0.0.1:1/cb"));
        assert!(!ok("not a url"));
    }

    #[test]
    fn names_lose_controls_and_bidi_overrides() {
        assert_eq!(shown_name("good\u{202e}dab\u{2066}x\n"), "gooddabx");
    }
}
