//! What the endpoints of the authorization server share: the routes and the metadata, the
//! answers (RFC 6749 errors, redirects back to the client), reading requests, and the records
//! kept in the grant store. The endpoints are in `clients.rs` (registration, client
//! authentication), `login.rs` (authorize, consent, callback) and `grants.rs` (codes, tokens,
//! families, revocation).

use super::clients::register;
use super::grants::{revoke, token};
use super::login::{authorize, callback, consent};
use super::{Inner, OAuthServer, pages};
use crate::store::StoreError;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;

/// The most bytes of a registration, a token request or a consent.
pub(super) const MAX_BODY: usize = 16 * 1024;
/// The most redirect URIs a client registers.
pub(super) const MAX_REDIRECT_URIS: usize = 10;
/// The longest redirect URI, client name, state.
pub(super) const MAX_URI: usize = 2000;
pub(super) const MAX_NAME: usize = 200;
pub(super) const MAX_STATE: usize = 1000;

pub(super) fn router<S: Clone + Send + Sync + 'static>(server: OAuthServer) -> axum::Router<S> {
    let issuer_path = url::Url::parse(&server.inner.issuer)
        .map(|u| u.path().trim_end_matches('/').to_owned())
        .unwrap_or_default();
    let at = |s: &OAuthServer| s.clone();
    let mut router = axum::Router::new();
    let metadata = {
        let s = at(&server);
        move || {
            let s = s.clone();
            async move { json_response(StatusCode::OK, &metadata(&s.inner)) }
        }
    };
    router = router.route(
        "/.well-known/oauth-authorization-server",
        axum::routing::get(metadata.clone()),
    );
    if !issuer_path.is_empty() {
        router = router.route(
            &format!("/.well-known/oauth-authorization-server{issuer_path}"),
            axum::routing::get(metadata),
        );
    }
    macro_rules! endpoint {
        ($path:literal, $method:ident, $handler:ident) => {{
            let s = at(&server);
            router = router.route(
                $path,
                axum::routing::$method(move |req: Request| {
                    let s = s.clone();
                    async move { $handler(&s.inner, req).await }
                }),
            );
        }};
    }
    endpoint!("/oauth/register", post, register);
    endpoint!("/oauth/authorize", get, authorize);
    endpoint!("/oauth/consent", post, consent);
    endpoint!("/oauth/callback", get, callback);
    endpoint!("/oauth/token", post, token);
    endpoint!("/oauth/revoke", post, revoke);
    router
}

pub(super) fn metadata(inner: &Inner) -> Value {
    let at = |path: &str| format!("{}{path}", inner.issuer);
    let mut doc = json!({
        "issuer": inner.issuer,
        "authorization_endpoint": at("/oauth/authorize"),
        "token_endpoint": at("/oauth/token"),
        "registration_endpoint": at("/oauth/register"),
        "revocation_endpoint": at("/oauth/revoke"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "authorization_response_iss_parameter_supported": true,
        "client_id_metadata_document_supported": true,
    });
    if !inner.scopes.is_empty() {
        doc["scopes_supported"] = json!(inner.scopes);
    }
    doc
}

pub(super) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut res = Response::new(Body::from(serde_json::to_vec(body).expect("JSON")));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

/// What a client address may do a limited number of times an hour
/// ([`OAuthServer::limits_per_address`](super::OAuthServer::limits_per_address)).
#[derive(Clone, Copy)]
pub(super) enum Limit {
    Registrations,
    Authorizations,
}

/// The address a request came from, when the app serves with `ConnectInfo`.
pub(super) fn client_addr(req: &Request) -> Option<std::net::IpAddr> {
    req.extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
}

/// Counts a request from `addr` ([`client_addr`]) against the address's limit: the refusal to
/// send when over it (429 with `Retry-After`, as JSON for a registration, as a page for the
/// browser that authorizes). A store that fails lets the request through, logged: the limits
/// guard against floods, and refusing every login while the store is down would be worse.
pub(super) async fn over_limit(
    inner: &Inner,
    addr: Option<std::net::IpAddr>,
    limit: Limit,
) -> Option<Response> {
    let (index, kind, what) = match limit {
        Limit::Registrations => (0, "register", "client registrations"),
        Limit::Authorizations => (1, "authorize", "authorizations"),
    };
    let per_hour = inner.per_address[index];
    let addr = addr?;
    if per_hour == 0 {
        return None;
    }
    let key = format!("oauth:{kind}:{}", crate::bounds::client_network(addr));
    let hour = std::time::Duration::from_secs(3600);
    let decision = match inner.limits.rate(&key, per_hour, hour).await {
        Ok(d) => d,
        Err(e) => {
            crate::bounds::warn_limited!(
                error = %e,
                "the OAuth limits per address cannot be counted; not applied"
            );
            return None;
        }
    };
    if decision.allowed {
        return None;
    }
    let retry = decision.retry_after.as_secs().max(1);
    let message =
        format!("too many {what} from this address ({per_hour} an hour); try again in {retry} s");
    let mut res = match limit {
        Limit::Registrations => {
            oauth_error(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message)
        }
        Limit::Authorizations => pages::error(StatusCode::TOO_MANY_REQUESTS, &message),
    };
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry));
    Some(res)
}

/// An error in the form RFC 6749 gives (section 5.2).
pub(super) fn oauth_error(
    status: StatusCode,
    error: &str,
    description: impl Into<String>,
) -> Response {
    let mut res = json_response(
        status,
        &json!({ "error": error, "error_description": description.into() }),
    );
    if status == StatusCode::UNAUTHORIZED {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"oauth\""),
        );
    }
    res
}

pub(super) fn unavailable(e: &StoreError) -> Response {
    tracing::warn!(error = %e, "the authorization server's store failed");
    oauth_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "the authorization server cannot keep or read its records right now",
    )
}

pub(super) fn redirect(location: &str) -> Response {
    let mut res = Response::new(Body::empty());
    *res.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The client's redirect URI with `params`, the client's `state` and this server's `iss`.
pub(super) fn back_to_client(
    inner: &Inner,
    redirect_uri: &str,
    state: Option<&str>,
    params: &[(&str, &str)],
) -> Response {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return pages::error(
            StatusCode::BAD_REQUEST,
            "the client's redirect URI is not a URL",
        );
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
        if let Some(s) = state {
            q.append_pair("state", s);
        }
        q.append_pair("iss", &inner.issuer);
    }
    redirect(url.as_str())
}

pub(super) async fn body(req: Request) -> Result<(http::request::Parts, Vec<u8>), Response> {
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => Ok((parts, b.to_vec())),
        Err(_) => Err(oauth_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            format!("the request body is over {MAX_BODY} bytes"),
        )),
    }
}

pub(super) fn form(bytes: &[u8]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(bytes) {
        // A parameter given twice is refused by its first use (RFC 6749 3.1): kept as empty.
        out.entry(k.into_owned())
            .and_modify(|e: &mut String| e.clear())
            .or_insert_with(|| v.into_owned());
    }
    out
}

pub(super) fn query(parts: &http::request::Parts) -> HashMap<String, String> {
    form(parts.uri.query().unwrap_or("").as_bytes())
}

pub(super) async fn load<T: for<'de> Deserialize<'de>>(
    inner: &Inner,
    key: &str,
    take: bool,
) -> Result<Option<T>, StoreError> {
    let bytes = if take {
        inner.store.take(key).await?
    } else {
        inner.store.get(key).await?
    };
    Ok(bytes.and_then(|b| parse(key, &b)))
}

/// The record kept under `key`, or `None`, logged, when this version cannot read it (written
/// by another, maybe): callers take it as absent.
pub(super) fn parse<T: for<'de> Deserialize<'de>>(key: &str, bytes: &[u8]) -> Option<T> {
    let read = serde_json::from_slice(bytes).ok();
    if read.is_none() {
        let kind = key.split(':').next().unwrap_or_default();
        tracing::warn!(kind, "an OAuth record could not be read; taken as absent");
    }
    read
}

pub(super) async fn keep<T: Serialize>(
    inner: &Inner,
    key: &str,
    value: &T,
    ttl: std::time::Duration,
) -> Result<(), StoreError> {
    inner
        .store
        .put(key, &serde_json::to_vec(value).expect("JSON"), ttl)
        .await
}
