//! What an authorization grants: codes, access and refresh tokens, their families, the token
//! endpoint and revocation (RFC 7009).

use super::clients::*;
use super::flow::*;
use super::tokens::{AccessClaims, challenge, digest, now, valid_verifier};
use super::{CLIENT_TTL, Inner};
use crate::store::StoreError;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// An authorization: what a code, and then a family of tokens, grants.
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct Grant {
    pub(super) client_id: String,
    pub(super) resource: String,
    pub(super) scopes: Vec<String>,
    pub(super) subject: String,
    pub(super) ext: Map<String, Value>,
    pub(super) family: String,
}

#[derive(Serialize, Deserialize)]
pub(super) struct Code {
    pub(super) grant: Grant,
    pub(super) redirect_uri: String,
    /// Whether the authorization request named the redirect URI (then the token request must).
    #[serde(default)]
    pub(super) redirect_uri_sent: bool,
    pub(super) challenge: String,
}

/// A family of tokens: one authorization, from its code on. It lives while any of its tokens
/// may be used (a code's minute, then its newest refresh token's lifetime); revoking it ends
/// them all.
#[derive(Serialize, Deserialize)]
pub(super) struct Family {
    pub(super) client_id: String,
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

/// Ends the family `family` of `client_id`: every token of it. A family of another client is
/// left alone.
pub(super) async fn revoke_family(
    inner: &Inner,
    family: &str,
    client_id: &str,
) -> Result<(), StoreError> {
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

/// The record of a single-use `token` of `kind` (`code`, `rt`) presented by `client`: read,
/// checked by `check`, then taken (of two requests with the same token one gets it). A request
/// `check` refuses leaves the token as it was, for its holder (a refresh asking for more scopes,
/// or sent by another client, does not use it up). A token used before is refused, and its
/// family revoked: someone else holds a copy. A record this version cannot read (one written
/// by another) is refused as unknown, logged, and revokes nothing.
pub(super) async fn use_once<T: for<'de> Deserialize<'de>>(
    inner: &Inner,
    kind: &str,
    token: &str,
    client: &Client,
    check: impl FnOnce(&T) -> Result<(), Response>,
) -> Result<T, Response> {
    let what = if kind == "code" {
        "code"
    } else {
        "refresh token"
    };
    let invalid_grant = |d: String| oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", d);
    let key = format!("{kind}:{}", digest(token));
    let used = async || {
        // Not one this server issued: nothing to revoke.
        let Some(family) = inner.keys.family_of(token) else {
            return Err(invalid_grant(format!(
                "the {what} is unknown, expired or revoked"
            )));
        };
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
    };
    let record = match inner.store.get(&key).await {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return used().await,
        Err(e) => return Err(unavailable(&e)),
    };
    let Some(record) = parse::<T>(&key, &record) else {
        return Err(invalid_grant(format!(
            "the {what} is unknown, expired or revoked"
        )));
    };
    check(&record)?;
    match inner.store.take(&key).await {
        Ok(Some(_)) => Ok(record),
        // Taken between the read and now: by a request with a copy of the same token.
        Ok(None) => used().await,
        Err(e) => Err(unavailable(&e)),
    }
}

/// An access token for `scopes` (the grant's, or fewer) and the grant's next refresh token,
/// which keeps the whole grant; `None` when the grant's family was revoked meanwhile (its code
/// or refresh token was used by two requests at once, or revoked by its client).
pub(super) async fn issue(
    inner: &Inner,
    grant: &Grant,
    scopes: &[String],
) -> Result<Option<Value>, StoreError> {
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
    // The family lives as long as its newest refresh token; a family revoked meanwhile stays
    // revoked, and nothing is issued for it.
    if !inner
        .store
        .extend(&format!("family:{}", grant.family), inner.refresh_ttl)
        .await?
    {
        return Ok(None);
    }
    let access = inner.keys.sign(&claims);
    let refresh = inner.keys.family_token(&grant.family);
    keep(
        inner,
        &format!("rt:{}", digest(&refresh)),
        grant,
        inner.refresh_ttl,
    )
    .await?;
    Ok(Some(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": inner.access_ttl.as_secs(),
        "refresh_token": refresh,
        "scope": scopes.join(" "),
    })))
}

// The checks before a token is used answer the client's error response as it is sent.
#[allow(clippy::result_large_err)]
pub(super) async fn token(inner: &Inner, req: Request) -> Response {
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
            // Used before: what was issued for it is revoked (RFC 6749 4.1.2). A code is used
            // up by any request that names it, refused or not.
            let record: Code = match use_once(inner, "code", code, &client, |_| Ok(())).await {
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
            let asked: Option<Vec<String>> =
                get("scope").map(|s| s.split_whitespace().map(str::to_owned).collect());
            // Checked before the token is used: a refused request leaves it to its holder.
            let check = |grant: &Grant| {
                if grant.client_id != client.id {
                    return Err(invalid_grant(
                        "the refresh token was issued to another client",
                    ));
                }
                if let Some(asked) = &asked
                    && asked.iter().any(|a| !grant.scopes.contains(a))
                {
                    return Err(oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_scope",
                        "a refresh may narrow the scopes, not widen them",
                    ));
                }
                if get("resource").is_some_and(|r| r != grant.resource) {
                    return Err(oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_target",
                        "the resource differs from the grant's",
                    ));
                }
                Ok(())
            };
            // Used before: someone holds a copy. The whole family goes.
            let grant: Grant = match use_once(inner, "rt", refresh, &client, check).await {
                Ok(g) => g,
                Err(res) => return res,
            };
            match alive(inner, &grant.family).await {
                Ok(true) => {}
                Ok(false) => return invalid_grant("the refresh token has been revoked"),
                Err(e) => return unavailable(&e),
            }
            let scopes = asked.unwrap_or_else(|| grant.scopes.clone());
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
    let answer = match issue(inner, &grant, &scopes).await {
        Ok(Some(answer)) => answer,
        Ok(None) => return invalid_grant("the grant has been revoked"),
        Err(e) => {
            // The refresh token was used up for nothing: put back for its holder to try again
            // (a code is not: the client starts the authorization again).
            if get("grant_type") == Some("refresh_token")
                && let Some(refresh) = get("refresh_token")
                && let Err(e) = keep(
                    inner,
                    &format!("rt:{}", digest(refresh)),
                    &grant,
                    inner.refresh_ttl,
                )
                .await
            {
                tracing::warn!(error = %e, "a refresh token whose refresh failed could not be put back");
            }
            return unavailable(&e);
        }
    };
    if client.secret.is_some() || crate::protocol::could_be_random_id(&client.id) {
        // A registered client in use (a code exchanged, a grant refreshed): kept for another
        // `CLIENT_TTL`. The tokens are issued already: a failure here is told, not answered.
        if let Err(e) = keep(inner, &format!("client:{}", client.id), &client, CLIENT_TTL).await {
            tracing::warn!(error = %e, "a client's registration could not be renewed");
        }
    }
    json_response(StatusCode::OK, &answer)
}

pub(super) async fn revoke(inner: &Inner, req: Request) -> Response {
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
        None => match inner.keys.family_of(token) {
            Some(family) => family.to_owned(),
            // Not a token of this server's: answered as any other (RFC 7009 2.2).
            None => String::new(),
        },
    };
    if let Err(e) = revoke_family(inner, &family, &client.id).await {
        return unavailable(&e);
    }
    let mut res = Response::new(Body::empty());
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
