//! The user's way through: `/oauth/authorize` (the checks, then the consent page),
//! `/oauth/consent` (the upstream login, bound to the browser that approved) and
//! `/oauth/callback` (the upstream's answer, a code for the client).

use super::clients::*;
use super::flow::*;
use super::grants::*;
use super::tokens::{challenge, digest, random_token};
use super::{CODE_TTL, Inner, PENDING_TTL, pages};
use axum::extract::Request;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What the user is asked to approve, and then what goes upstream.
#[derive(Serialize, Deserialize)]
pub(super) struct Pending {
    pub(super) client_id: String,
    pub(super) client_name: Option<String>,
    pub(super) redirect_uri: String,
    pub(super) state: Option<String>,
    pub(super) challenge: String,
    pub(super) resource: String,
    pub(super) scopes: Vec<String>,
    /// The SHA-256 of the consent cookie's value.
    pub(super) nonce: String,
    /// The PKCE verifier of the upstream request, once approved.
    pub(super) upstream_verifier: Option<String>,
    /// Whether the request named the redirect URI (else the client's only one).
    #[serde(default)]
    pub(super) redirect_uri_sent: bool,
    /// The SHA-256 of the login cookie of the browser that approved.
    #[serde(default)]
    pub(super) login: Option<String>,
}

/// The scopes a request grants: those asked (all the server has when none), each one the
/// server has.
pub(super) fn granted(inner: &Inner, asked: Option<&str>) -> Result<Vec<String>, String> {
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
pub(super) fn resource_ok(inner: &Inner, resource: &str) -> bool {
    resource.len() <= MAX_URI
        && !resource.contains('#')
        && (resource == inner.issuer || resource.starts_with(&format!("{}/", inner.issuer)))
}

/// The cookies that bind a flow to the browser it runs in: `kind` (`consent`, `login`) and a
/// part of the flow's own key, so that two flows in one browser do not meet.
pub(super) fn cookie_name(inner: &Inner, kind: &str, flow: &str) -> String {
    let prefix = if inner.issuer.starts_with("https://") {
        "__Host-mcp-oauth"
    } else {
        "mcp-oauth"
    };
    format!("{prefix}-{kind}-{}", &flow[..flow.len().min(12)])
}

/// `Set-Cookie` for `name=value` (`Secure` on https, as `__Host-` needs), or its removal when
/// `value` is empty.
pub(super) fn set_cookie(
    inner: &Inner,
    name: &str,
    value: &str,
    same_site: &str,
) -> Option<HeaderValue> {
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
pub(super) fn carries(headers: &HeaderMap, name: &str, kept: &str) -> bool {
    cookie(headers, name).is_some_and(|v| {
        crate::auth::api_key::constant_time_eq(digest(&v).as_bytes(), kept.as_bytes())
    })
}

pub(super) async fn authorize(inner: &Inner, req: Request) -> Response {
    if let Some(refused) = over_limit(inner, client_addr(&req), Limit::Authorizations).await {
        return refused;
    }
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
        Err(Unusable::Unreachable(why)) => {
            return pages::error(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("This client cannot be checked now: {why}. Try again shortly."),
            );
        }
        Err(Unusable::Store(e)) => return unavailable(&e),
    };
    let redirect_uri = match get("redirect_uri") {
        Some(u) if super::clients::registered_redirect(&client.redirect_uris, u) => u.to_owned(),
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

pub(super) fn origin_of(uri: &str) -> String {
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

pub(super) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

pub(super) async fn consent(inner: &Inner, req: Request) -> Response {
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

pub(super) async fn callback(inner: &Inner, req: Request) -> Response {
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
    let (subject, upstream_claims) = match inner
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
    let code_value = inner.keys.family_token(&family);
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
        };
        // As long as its code, until the code is exchanged (`issue` gives it the refresh
        // tokens' lifetime): an abandoned login leaves nothing for long.
        keep(inner, &format!("family:{family}"), &kin, CODE_TTL * 2).await?;
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
pub(super) fn default_claims(upstream: &Map<String, Value>) -> Map<String, Value> {
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
