//! The endpoints of the authorization server and the records they keep.

use super::tokens::{AccessClaims, challenge, digest, now, random_token, valid_verifier};
use super::{CLIENT_TTL, CODE_TTL, Inner, OAuthServer, PENDING_TTL, UNUSED_CLIENT_TTL, pages};
use crate::store::StoreError;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use base64::Engine as _;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// The most bytes of a registration, a token request or a consent.
const MAX_BODY: usize = 16 * 1024;
/// The most redirect URIs a client registers.
pub(super) const MAX_REDIRECT_URIS: usize = 10;
/// The longest redirect URI, client name, state.
const MAX_URI: usize = 2000;
const MAX_NAME: usize = 200;
const MAX_STATE: usize = 1000;

#[derive(Serialize, Deserialize)]
struct Client {
    id: String,
    /// The SHA-256 of its secret, for confidential clients.
    secret: Option<String>,
    redirect_uris: Vec<String>,
    name: Option<String>,
    auth_method: String,
}

/// What the user is asked to approve, and then what goes upstream.
#[derive(Serialize, Deserialize)]
struct Pending {
    client_id: String,
    client_name: Option<String>,
    redirect_uri: String,
    state: Option<String>,
    challenge: String,
    resource: String,
    scopes: Vec<String>,
    /// The SHA-256 of the consent cookie's value.
    nonce: String,
    /// The PKCE verifier of the upstream request, once approved.
    upstream_verifier: Option<String>,
    /// Whether the request named the redirect URI (else the client's only one).
    #[serde(default)]
    redirect_uri_sent: bool,
    /// The SHA-256 of the login cookie of the browser that approved.
    #[serde(default)]
    login: Option<String>,
}

/// An authorization: what a code, and then a family of tokens, grants.
#[derive(Clone, Serialize, Deserialize)]
struct Grant {
    client_id: String,
    resource: String,
    scopes: Vec<String>,
    subject: String,
    ext: Map<String, Value>,
    family: String,
}

#[derive(Serialize, Deserialize)]
struct Code {
    grant: Grant,
    redirect_uri: String,
    /// Whether the authorization request named the redirect URI (then the token request must).
    #[serde(default)]
    redirect_uri_sent: bool,
    challenge: String,
}

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

fn metadata(inner: &Inner) -> Value {
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

fn json_response(status: StatusCode, body: &Value) -> Response {
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

/// An error in the form RFC 6749 gives (section 5.2).
fn oauth_error(status: StatusCode, error: &str, description: impl Into<String>) -> Response {
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

fn unavailable(e: &StoreError) -> Response {
    tracing::warn!(error = %e, "the authorization server's store failed");
    oauth_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "the authorization server cannot keep or read its records right now",
    )
}

fn redirect(location: &str) -> Response {
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
fn back_to_client(
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

async fn body(req: Request) -> Result<(http::request::Parts, Vec<u8>), Response> {
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

fn form(bytes: &[u8]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(bytes) {
        // A parameter given twice is refused by its first use (RFC 6749 3.1): kept as empty.
        out.entry(k.into_owned())
            .and_modify(|e: &mut String| e.clear())
            .or_insert_with(|| v.into_owned());
    }
    out
}

fn query(parts: &http::request::Parts) -> HashMap<String, String> {
    form(parts.uri.query().unwrap_or("").as_bytes())
}

async fn load<T: for<'de> Deserialize<'de>>(
    inner: &Inner,
    key: &str,
    take: bool,
) -> Result<Option<T>, StoreError> {
    let bytes = if take {
        inner.store.take(key).await?
    } else {
        inner.store.get(key).await?
    };
    Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
}

async fn keep<T: Serialize>(
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

/// A family of tokens: one authorization, from its code on. It lives while any of its tokens
/// may be used; revoking it ends them all. It keeps the upstream's tokens, sealed.
#[derive(Serialize, Deserialize)]
struct Family {
    client_id: String,
    upstream: String,
}

/// Whether the family `family` is alive: not revoked, not expired.
pub(super) async fn alive(inner: &Inner, family: &str) -> Result<bool, StoreError> {
    if !crate::protocol::could_be_random_id(family) {
        return Ok(false);
    }
    Ok(inner
        .store
        .get(&format!("family:{family}"))
        .await?
        .is_some())
}

/// Ends the family `family` of `client_id`: every token of it, and the upstream's tokens it
/// kept. A family of another client is left alone.
async fn revoke_family(inner: &Inner, family: &str, client_id: &str) -> Result<(), StoreError> {
    if !crate::protocol::could_be_random_id(family) {
        return Ok(());
    }
    let key = format!("family:{family}");
    let Some(record) = load::<Family>(inner, &key, false).await? else {
        return Ok(());
    };
    if record.client_id == client_id {
        inner.store.take(&key).await?;
        tracing::info!(family, "a token family is revoked");
    }
    Ok(())
}

/// A single-use token of `family` (a code, a refresh token): the family's id, a dot, 256 random
/// bits. Presented twice, it names the family to revoke.
fn family_token(family: &str) -> String {
    format!("{family}.{}", random_token())
}

/// The family a token of [`family_token`]'s form names.
fn family_of(token: &str) -> &str {
    token.split_once('.').map_or("", |(f, _)| f)
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
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => None,
        "http" if loopback => None,
        _ => Some(format!(
            "`{}`: redirect URIs must be https, or http on a loopback address",
            crate::bounds::shown(uri)
        )),
    }
}

async fn register(inner: &Inner, req: Request) -> Response {
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
    let redirect_uris: Vec<String> = match meta.get("redirect_uris") {
        Some(Value::Array(a)) if !a.is_empty() && a.len() <= MAX_REDIRECT_URIS => {
            match a.iter().map(|v| v.as_str().map(str::to_owned)).collect() {
                Some(u) => u,
                None => return bad("`redirect_uris` must be strings".into()),
            }
        }
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_redirect_uri",
                format!("`redirect_uris` must list 1 to {MAX_REDIRECT_URIS} URIs"),
            );
        }
    };
    if let Some(p) = redirect_uris.iter().find_map(|u| redirect_uri_problem(u)) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_redirect_uri", p);
    }
    let name = match meta.get("client_name") {
        None | Some(Value::Null) => None,
        Some(Value::String(n)) if n.chars().count() <= MAX_NAME => Some(shown_name(n)),
        _ => {
            return bad(format!(
                "`client_name` must be a string of at most {MAX_NAME} characters"
            ));
        }
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
enum Unusable {
    /// Not registered, or a metadata document that cannot be used (why).
    Unknown(String),
    Store(StoreError),
}

/// A registered client, or one its metadata document describes (its `client_id` an `https`
/// URL).
async fn client(inner: &Inner, id: &str) -> Result<Client, Unusable> {
    if super::documents::is_document_id(id) {
        let described = inner
            .documents
            .describe(id)
            .await
            .map_err(Unusable::Unknown)?;
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

/// The scopes a request grants: those asked (all the server has when none), each one the
/// server has.
fn granted(inner: &Inner, asked: Option<&str>) -> Result<Vec<String>, String> {
    let asked = asked.unwrap_or("");
    if asked.len() > MAX_STATE {
        return Err("the scope is too long".into());
    }
    let mut asked: Vec<&str> = asked.split_whitespace().collect();
    asked.sort_unstable();
    asked.dedup();
    if asked.is_empty() {
        return Ok(inner.scopes.clone());
    }
    if let Some(unknown) = asked.iter().find(|s| !inner.scopes.iter().any(|k| k == *s)) {
        return Err(format!(
            "the scope `{}` is not offered here",
            crate::bounds::shown(unknown)
        ));
    }
    Ok(asked.into_iter().map(str::to_owned).collect())
}

/// Whether `resource` is one this server issues tokens for: the issuer's URL or below it.
fn resource_ok(inner: &Inner, resource: &str) -> bool {
    resource.len() <= MAX_URI
        && !resource.contains('#')
        && (resource == inner.issuer || resource.starts_with(&format!("{}/", inner.issuer)))
}

/// The cookies that bind a flow to the browser it runs in: `kind` (`consent`, `login`) and a
/// part of the flow's own key, so that two flows in one browser do not meet.
fn cookie_name(inner: &Inner, kind: &str, flow: &str) -> String {
    let prefix = if inner.issuer.starts_with("https://") {
        "__Host-mcp-oauth"
    } else {
        "mcp-oauth"
    };
    format!("{prefix}-{kind}-{}", &flow[..flow.len().min(12)])
}

/// `Set-Cookie` for `name=value` (`Secure` on https, as `__Host-` needs), or its removal when
/// `value` is empty.
fn set_cookie(inner: &Inner, name: &str, value: &str, same_site: &str) -> Option<HeaderValue> {
    let secure = if inner.issuer.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let age = if value.is_empty() {
        0
    } else {
        PENDING_TTL.as_secs()
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite={same_site}; Max-Age={age}{secure}"
    ))
    .ok()
}

/// Whether the request carries the cookie `name` whose value's SHA-256 is `kept`.
fn carries(headers: &HeaderMap, name: &str, kept: &str) -> bool {
    cookie(headers, name).is_some_and(|v| {
        crate::auth::api_key::constant_time_eq(digest(&v).as_bytes(), kept.as_bytes())
    })
}

async fn authorize(inner: &Inner, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let q = query(&parts);
    let get = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
    // Who is asking and where the answer goes, first: until both are known, errors are
    // shown here, never sent anywhere.
    let Some(client_id) = get("client_id") else {
        return pages::error(
            StatusCode::BAD_REQUEST,
            "The request names no client (client_id).",
        );
    };
    let client = match client(inner, client_id).await {
        Ok(c) => c,
        Err(Unusable::Unknown(why)) => {
            return pages::error(
                StatusCode::BAD_REQUEST,
                &format!("This client cannot be used: {why}."),
            );
        }
        Err(Unusable::Store(e)) => return unavailable(&e),
    };
    let redirect_uri = match get("redirect_uri") {
        Some(u) if client.redirect_uris.iter().any(|r| r == u) => u.to_owned(),
        Some(_) => {
            return pages::error(
                StatusCode::BAD_REQUEST,
                "The redirect URI is not one the client registered.",
            );
        }
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        None => {
            return pages::error(
                StatusCode::BAD_REQUEST,
                "The request names no redirect URI, and the client registered several.",
            );
        }
    };
    let state = get("state").map(str::to_owned);
    if state.as_ref().is_some_and(|s| s.len() > MAX_STATE) {
        return pages::error(StatusCode::BAD_REQUEST, "The state is too long.");
    }
    // A malformed request is answered here, not sent back: any site can register a client,
    // so sending it back at once would make this server a redirector to that site (RFC 9700
    // 4.11.2). Once the user has acted, answers go back to the client.
    let fail = |error: &str, description: &str| {
        pages::error(
            StatusCode::BAD_REQUEST,
            &format!("The client's request cannot be used ({error}): {description}."),
        )
    };
    if get("response_type") != Some("code") {
        return fail(
            "unsupported_response_type",
            "only response_type=code is supported",
        );
    }
    let Some(code_challenge) = get("code_challenge") else {
        return fail(
            "invalid_request",
            "PKCE is required: send code_challenge (S256)",
        );
    };
    if get("code_challenge_method") != Some("S256") || code_challenge.len() != 43 {
        return fail("invalid_request", "the code challenge must be S256");
    }
    let Some(resource) = get("resource").filter(|r| resource_ok(inner, r)) else {
        return fail(
            "invalid_target",
            "send the resource (the MCP server's URL) the token is for, a URL of this app",
        );
    };
    let scopes = match granted(inner, get("scope")) {
        Ok(s) => s,
        Err(d) => return fail("invalid_scope", &d),
    };
    let nonce = random_token();
    let pending = Pending {
        client_id: client.id.clone(),
        client_name: client.name.clone(),
        redirect_uri: redirect_uri.clone(),
        redirect_uri_sent: get("redirect_uri").is_some(),
        state,
        challenge: code_challenge.to_owned(),
        resource: resource.to_owned(),
        scopes,
        nonce: digest(&nonce),
        upstream_verifier: None,
        login: None,
    };
    let id = crate::protocol::random_id();
    if let Err(e) = keep(inner, &format!("pending:{id}"), &pending, PENDING_TTL).await {
        return unavailable(&e);
    }
    let upstream_origin = inner
        .discovered_origin()
        .unwrap_or_else(|| inner.upstream.issuer.clone());
    let action = format!("{}/oauth/consent", inner.issuer);
    let mut res = pages::consent(&pages::Consent {
        request: &id,
        action: &action,
        client: pending.client_name.as_deref(),
        client_id: &pending.client_id,
        redirect_uri: &pending.redirect_uri,
        resource: &pending.resource,
        scopes: &pending.scopes,
        form_targets: &[&upstream_origin, &origin_of(&pending.redirect_uri)],
    });
    if let Some(v) = set_cookie(inner, &cookie_name(inner, "consent", &id), &nonce, "Strict") {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

fn origin_of(uri: &str) -> String {
    url::Url::parse(uri).map_or_else(|_| String::new(), |u| u.origin().ascii_serialization())
}

impl Inner {
    /// The upstream authorization endpoint's origin, once discovered (for the consent page's
    /// policy).
    fn discovered_origin(&self) -> Option<String> {
        self.discovered
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|e| origin_of(&e.authorization_endpoint))
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

async fn consent(inner: &Inner, req: Request) -> Response {
    let (parts, bytes) = match body(req).await {
        Ok(b) => b,
        Err(res) => return res,
    };
    let f = form(&bytes);
    let id = f.get("request").map(String::as_str).unwrap_or("");
    if !crate::protocol::could_be_random_id(id) {
        return pages::error(StatusCode::BAD_REQUEST, "This consent is for no request.");
    }
    // Taken, whatever follows: a consent is answered once.
    let pending: Pending = match load(inner, &format!("pending:{id}"), true).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            return pages::error(
                StatusCode::BAD_REQUEST,
                "This request has expired or was answered already: start again from your client.",
            );
        }
        Err(e) => return unavailable(&e),
    };
    // The same browser that was shown the page: its cookie, which other sites cannot send.
    let consent_cookie = cookie_name(inner, "consent", id);
    if !carries(&parts.headers, &consent_cookie, &pending.nonce) {
        return pages::error(
            StatusCode::FORBIDDEN,
            "This consent did not come from the page this server showed (its cookie is missing).",
        );
    }
    if f.get("decision").map(String::as_str) != Some("approve") {
        return back_to_client(
            inner,
            &pending.redirect_uri,
            pending.state.as_deref(),
            &[
                ("error", "access_denied"),
                ("error_description", "the user declined"),
            ],
        );
    }
    let endpoints = match inner.upstream.endpoints(&inner.discovered).await {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "the identity provider cannot be used");
            return back_to_client(
                inner,
                &pending.redirect_uri,
                pending.state.as_deref(),
                &[
                    ("error", "temporarily_unavailable"),
                    (
                        "error_description",
                        "the identity provider cannot be reached",
                    ),
                ],
            );
        }
    };
    let upstream_state = random_token();
    let verifier = random_token();
    let upstream = match inner.upstream.authorize_url(
        &endpoints,
        &format!("{}/oauth/callback", inner.issuer),
        &upstream_state,
        &challenge(&verifier),
    ) {
        Ok(u) => u,
        Err(e) => return pages::error(StatusCode::BAD_GATEWAY, &e),
    };
    // The login continues only in this browser: the upstream's answer must come back with
    // this cookie (`Lax`: sent when the provider redirects the browser back). Otherwise an
    // approved upstream URL, sent to someone else, would log them in for this client.
    let login = random_token();
    let login_cookie = cookie_name(inner, "login", &digest(&upstream_state));
    let pending = Pending {
        upstream_verifier: Some(verifier),
        login: Some(digest(&login)),
        ..pending
    };
    if let Err(e) = keep(
        inner,
        &format!("upstream:{}", digest(&upstream_state)),
        &pending,
        PENDING_TTL,
    )
    .await
    {
        return unavailable(&e);
    }
    let mut res = redirect(&upstream);
    for v in [
        set_cookie(inner, &consent_cookie, "", "Strict"),
        set_cookie(inner, &login_cookie, &login, "Lax"),
    ]
    .into_iter()
    .flatten()
    {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

async fn callback(inner: &Inner, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let q = query(&parts);
    let Some(state) = q
        .get("state")
        .filter(|s| !s.is_empty() && s.len() <= MAX_STATE)
    else {
        return pages::error(
            StatusCode::BAD_REQUEST,
            "The identity provider's answer has no state.",
        );
    };
    let key = digest(state);
    let pending: Pending = match load(inner, &format!("upstream:{key}"), true).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            return pages::error(
                StatusCode::BAD_REQUEST,
                "This login has expired or was used already: start again from your client.",
            );
        }
        Err(e) => return unavailable(&e),
    };
    let login_cookie = cookie_name(inner, "login", &key);
    if !pending
        .login
        .as_deref()
        .is_some_and(|kept| carries(&parts.headers, &login_cookie, kept))
    {
        return pages::error(
            StatusCode::FORBIDDEN,
            "This login did not start in this browser (its cookie is missing): start again from \
             your client.",
        );
    }
    let back = |error: &str, description: &str| {
        back_to_client(
            inner,
            &pending.redirect_uri,
            pending.state.as_deref(),
            &[("error", error), ("error_description", description)],
        )
    };
    if q.contains_key("error") {
        return back(
            "access_denied",
            "the identity provider did not log the user in",
        );
    }
    let Some(code) = q.get("code").filter(|c| !c.is_empty()) else {
        return back("server_error", "the identity provider sent no code");
    };
    let (Ok(endpoints), Some(verifier)) = (
        inner.upstream.endpoints(&inner.discovered).await,
        pending.upstream_verifier.as_deref(),
    ) else {
        return back(
            "temporarily_unavailable",
            "the identity provider cannot be reached",
        );
    };
    let (subject, upstream_claims, upstream_tokens) = match inner
        .upstream
        .exchange(
            &endpoints,
            code,
            &format!("{}/oauth/callback", inner.issuer),
            verifier,
        )
        .await
    {
        Ok(x) => x,
        Err(e) => {
            tracing::warn!(error = %e, "the identity provider's code could not be used");
            return back(
                "server_error",
                "the identity provider's login could not be completed",
            );
        }
    };
    let ext = match &inner.claims {
        Some(map) => map(&upstream_claims),
        None => default_claims(&upstream_claims),
    };
    let family = crate::protocol::random_id();
    let sealed = inner
        .keys
        .seal(&serde_json::to_vec(&upstream_tokens).expect("JSON"));
    let code_value = family_token(&family);
    let record = Code {
        grant: Grant {
            client_id: pending.client_id,
            resource: pending.resource,
            scopes: pending.scopes,
            subject,
            ext,
            family: family.clone(),
        },
        redirect_uri: pending.redirect_uri.clone(),
        redirect_uri_sent: pending.redirect_uri_sent,
        challenge: pending.challenge,
    };
    let kept = async {
        let kin = Family {
            client_id: record.grant.client_id.clone(),
            upstream: sealed,
        };
        keep(inner, &format!("family:{family}"), &kin, inner.refresh_ttl).await?;
        keep(
            inner,
            &format!("code:{}", digest(&code_value)),
            &record,
            CODE_TTL,
        )
        .await
    };
    if let Err(e) = kept.await {
        return unavailable(&e);
    }
    let mut res = back_to_client(
        inner,
        &pending.redirect_uri,
        pending.state.as_deref(),
        &[("code", &code_value)],
    );
    if let Some(v) = set_cookie(inner, &login_cookie, "", "Lax") {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// What a principal keeps of the upstream's claims when the app maps none: `email`,
/// `email_verified`, `name`, `preferred_username`.
fn default_claims(upstream: &Map<String, Value>) -> Map<String, Value> {
    ["email", "email_verified", "name", "preferred_username"]
        .into_iter()
        .filter_map(|k| {
            upstream
                .get(k)
                .filter(|v| !v.is_object() && !v.is_array())
                .map(|v| (k.to_owned(), v.clone()))
        })
        .collect()
}

/// The client a token or revocation request authenticates as: HTTP Basic, or `client_id`
/// (and `client_secret`) in the form.
async fn authenticate_client(
    inner: &Inner,
    headers: &HeaderMap,
    f: &HashMap<String, String>,
) -> Result<Client, Response> {
    let invalid = |d: &str| oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", d);
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
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
    let (id, secret) = match (&basic, f.get("client_id")) {
        (Some((id, secret)), _) => (id.clone(), Some(secret.clone())),
        (None, Some(id)) => (id.clone(), f.get("client_secret").cloned()),
        (None, None) => return Err(invalid("the request names no client")),
    };
    let client = match client(inner, &id).await {
        Ok(c) => c,
        Err(Unusable::Unknown(why)) => return Err(invalid(&why)),
        Err(Unusable::Store(e)) => return Err(unavailable(&e)),
    };
    match (&client.secret, secret.filter(|s| !s.is_empty())) {
        (None, None) => Ok(client),
        (Some(kept), Some(given))
            if crate::auth::api_key::constant_time_eq(
                digest(&given).as_bytes(),
                kept.as_bytes(),
            ) =>
        {
            Ok(client)
        }
        (None, Some(_)) => Err(invalid("the client has no secret")),
        _ => Err(invalid("the client's secret is wrong or missing")),
    }
}

/// The record of a single-use `token` of `kind` (`code`, `rt`) presented by `client`, taken:
/// of two requests with the same token one gets it. A token used before is refused, and its
/// family revoked: someone else holds a copy.
async fn use_once<T: for<'de> Deserialize<'de>>(
    inner: &Inner,
    kind: &str,
    token: &str,
    client: &Client,
) -> Result<T, Response> {
    let what = if kind == "code" {
        "code"
    } else {
        "refresh token"
    };
    let invalid_grant = |d: String| oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", d);
    match load::<T>(inner, &format!("{kind}:{}", digest(token)), true).await {
        Ok(Some(record)) => Ok(record),
        Ok(None) => {
            let family = family_of(token);
            match alive(inner, family).await {
                Ok(true) => {
                    revoke_family(inner, family, &client.id)
                        .await
                        .map_err(|e| unavailable(&e))?;
                    Err(invalid_grant(format!(
                        "the {what} was used already; what was issued with it is revoked"
                    )))
                }
                Ok(false) => Err(invalid_grant(format!(
                    "the {what} is unknown, expired or revoked"
                ))),
                Err(e) => Err(unavailable(&e)),
            }
        }
        Err(e) => Err(unavailable(&e)),
    }
}

/// The form of a token or revocation request, and the client it authenticates as.
async fn client_request(
    inner: &Inner,
    req: Request,
) -> Result<(Client, HashMap<String, String>), Response> {
    let (parts, bytes) = body(req).await?;
    let f = form(&bytes);
    let client = authenticate_client(inner, &parts.headers, &f).await?;
    Ok((client, f))
}

/// An access token for `scopes` (the grant's, or fewer) and the grant's next refresh token,
/// which keeps the whole grant.
async fn issue(inner: &Inner, grant: &Grant, scopes: &[String]) -> Result<Value, StoreError> {
    let at = now();
    let claims = AccessClaims {
        iss: inner.issuer.clone(),
        sub: grant.subject.clone(),
        aud: grant.resource.clone(),
        exp: at + inner.access_ttl.as_secs(),
        iat: at,
        jti: crate::protocol::random_id(),
        scope: scopes.join(" "),
        client_id: grant.client_id.clone(),
        family: grant.family.clone(),
        ext: grant.ext.clone(),
    };
    let access = inner.keys.sign(&claims);
    // The family lives as long as its newest refresh token.
    let family = format!("family:{}", grant.family);
    if let Some(kin) = inner.store.get(&family).await? {
        inner.store.put(&family, &kin, inner.refresh_ttl).await?;
    }
    let refresh = family_token(&grant.family);
    keep(
        inner,
        &format!("rt:{}", digest(&refresh)),
        grant,
        inner.refresh_ttl,
    )
    .await?;
    Ok(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": inner.access_ttl.as_secs(),
        "refresh_token": refresh,
        "scope": scopes.join(" "),
    }))
}

async fn token(inner: &Inner, req: Request) -> Response {
    let (client, f) = match client_request(inner, req).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let get = |k: &str| f.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let invalid_grant = |d: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", d);
    let (grant, scopes) = match get("grant_type") {
        Some("authorization_code") => {
            let Some(code) = get("code") else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "send the code");
            };
            // Used before: what was issued for it is revoked (RFC 6749 4.1.2).
            let record: Code = match use_once(inner, "code", code, &client).await {
                Ok(r) => r,
                Err(res) => return res,
            };
            if record.grant.client_id != client.id {
                return invalid_grant("the code was issued to another client");
            }
            // Required when the authorization request named it (RFC 6749 4.1.3).
            if get("redirect_uri") != Some(record.redirect_uri.as_str())
                && (record.redirect_uri_sent || get("redirect_uri").is_some())
            {
                return invalid_grant("the redirect URI differs from the authorization request's");
            }
            match get("code_verifier") {
                Some(v) if valid_verifier(v) && challenge(v) == record.challenge => {}
                _ => return invalid_grant("the code verifier does not match the code challenge"),
            }
            if client.secret.is_some() || crate::protocol::could_be_random_id(&client.id) {
                // A registered client in use: kept for good.
                if let Err(e) =
                    keep(inner, &format!("client:{}", client.id), &client, CLIENT_TTL).await
                {
                    return unavailable(&e);
                }
            }
            if get("resource").is_some_and(|r| r != record.grant.resource) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_target",
                    "the resource differs from the authorization request's",
                );
            }
            let scopes = record.grant.scopes.clone();
            (record.grant, scopes)
        }
        Some("refresh_token") => {
            let Some(refresh) = get("refresh_token") else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "send the refresh token",
                );
            };
            // Used before: someone holds a copy. The whole family goes.
            let grant: Grant = match use_once(inner, "rt", refresh, &client).await {
                Ok(g) => g,
                Err(res) => return res,
            };
            if grant.client_id != client.id {
                return invalid_grant("the refresh token was issued to another client");
            }
            match alive(inner, &grant.family).await {
                Ok(true) => {}
                Ok(false) => return invalid_grant("the refresh token has been revoked"),
                Err(e) => return unavailable(&e),
            }
            let scopes = match get("scope") {
                None => grant.scopes.clone(),
                Some(s) => {
                    let asked: Vec<String> = s.split_whitespace().map(str::to_owned).collect();
                    if asked.iter().any(|a| !grant.scopes.contains(a)) {
                        return oauth_error(
                            StatusCode::BAD_REQUEST,
                            "invalid_scope",
                            "a refresh may narrow the scopes, not widen them",
                        );
                    }
                    asked
                }
            };
            if get("resource").is_some_and(|r| r != grant.resource) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_target",
                    "the resource differs from the grant's",
                );
            }
            (grant, scopes)
        }
        Some(other) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("`{}` is not supported", crate::bounds::shown(other)),
            );
        }
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "send grant_type",
            );
        }
    };
    match issue(inner, &grant, &scopes).await {
        Ok(answer) => json_response(StatusCode::OK, &answer),
        Err(e) => unavailable(&e),
    }
}

async fn revoke(inner: &Inner, req: Request) -> Response {
    let (client, f) = match client_request(inner, req).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let Some(token) = f.get("token").filter(|t| !t.is_empty()) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "send the token");
    };
    // A refresh token (its family before the dot), or an access token of this server's (its
    // `fam`); only the client's own family is revoked, and unknown tokens and other clients'
    // are answered the same (RFC 7009 2.2).
    let family = match inner.keys.read_own(token, &inner.issuer) {
        Some(claims) => claims.family,
        None => family_of(token).to_owned(),
    };
    if let Err(e) = revoke_family(inner, &family, &client.id).await {
        return unavailable(&e);
    }
    let mut res = Response::new(Body::empty());
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn names_lose_controls_and_bidi_overrides() {
        assert_eq!(shown_name("good\u{202e}dab\u{2066}x\n"), "gooddabx");
    }
}
