//! Admission of a request's credentials: how the transports run the server's
//! [`Authenticator`] and answer what it decides (401, 403 and 503 with the right
//! `WWW-Authenticate`). The contract and the schemes (API keys, JWT) live in `auth`, below the
//! transports.

use super::egress::{answer, json_response, quote};
pub(crate) use crate::auth::{AuthError, Authenticator, SharedAuth};
use crate::call::context::Principal;
use axum::response::Response;
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

/// The identity a session is bound to: a session created by one caller cannot be used by
/// another.
pub(crate) fn session_owner(parts: &Parts) -> Option<String> {
    parts
        .extensions
        .get::<Principal>()
        .map(Principal::owner_key)
}

/// Whom a new session counts against for the per-client limit: its owner when the caller is
/// authenticated, otherwise the address it connects from (when the app serves with connect
/// info), otherwise one shared "anonymous" client.
pub(crate) fn session_client(parts: &Parts, owner: Option<&String>) -> String {
    if let Some(o) = owner {
        return format!("principal:{o}");
    }
    match parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
    {
        Some(axum::extract::ConnectInfo(addr)) => {
            format!("address:{}", crate::bounds::client_network(addr.ip()))
        }
        None => "anonymous".to_owned(),
    }
}

fn rejection(auth: &dyn Authenticator, parts: &Parts, error: &AuthError) -> Response {
    let (status, code) = match error {
        AuthError::Missing(_) => (StatusCode::UNAUTHORIZED, "invalid_request"),
        AuthError::Invalid(_) => (StatusCode::UNAUTHORIZED, "invalid_token"),
        AuthError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable"),
    };
    // An authenticator's message may quote the client's token (its `kid`, its algorithm):
    // cut short, whoever wrote it.
    let description = crate::bounds::capped(error.to_string());
    let body = json!({ "error": code, "error_description": description });
    let mut res = json_response(status, serde_json::to_vec(&body).expect("JSON"));
    if let Some(resource) = auth.protected_resource() {
        let mut challenge = format!(
            "Bearer resource_metadata=\"{}\"",
            quote(&resource.metadata_url(parts))
        );
        if matches!(error, AuthError::Invalid(_)) {
            challenge.push_str(&format!(
                ", error=\"invalid_token\", error_description=\"{}\"",
                quote(&description)
            ));
        }
        if !resource.scopes_supported.is_empty() {
            challenge.push_str(&format!(
                ", scope=\"{}\"",
                resource.scopes_supported.join(" ")
            ));
        }
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
    }
    res
}

/// A call whose caller lacks the scopes of its tool, prompt or resource, refused on the request
/// itself (403 with the challenge of [`answer`]) before anything runs: a client that asked for
/// an SSE answer, or the legacy transport's stream, would otherwise find the refusal inside a
/// 200 stream, without the status and challenge clients step up on.
pub(crate) fn refuse_scopes(
    core: &crate::core::Dispatcher,
    auth: Option<&SharedAuth>,
    parts: &Parts,
    id: &crate::protocol::RequestId,
    method: &str,
    params: &Option<serde_json::Value>,
) -> Option<Response> {
    auth?;
    let e = core.scope_refusal(parts, method, params.as_ref())?;
    Some(answer(
        auth,
        parts,
        crate::protocol::error_bytes(Some(id), &e),
        Some(&e),
    ))
}

/// The authenticator of a server, kept in the server's state under a type nothing else names:
/// the core treats it as opaque, the transports read it once per mounted app.
pub(crate) struct AuthState(pub(crate) SharedAuth);

/// What every MCP request passes first, in every transport and era: the `Origin`/`Host` policy
/// (403), then the caller's credentials (401, 403, 503). The principal goes into the request's
/// extensions.
#[allow(clippy::result_large_err)]
pub(super) async fn admit(
    origins: &super::origin::OriginPolicy,
    auth: Option<&SharedAuth>,
    parts: &mut ::http::request::Parts,
) -> Result<(), axum::response::Response> {
    let admitted = {
        let known = crate::headers::Known::of(&parts.headers);
        admitted(origins, auth, parts, &known).await
    };
    keep(&mut parts.extensions, admitted)
}

/// What [`admitted`] found, kept: the principal (when there is one) in the request's
/// extensions; or the refusal to answer with.
#[allow(clippy::result_large_err)]
pub(super) fn keep(
    extensions: &mut ::http::Extensions,
    admitted: Result<Option<Principal>, axum::response::Response>,
) -> Result<(), axum::response::Response> {
    if let Some(principal) = admitted? {
        extensions.insert(principal);
    }
    Ok(())
}

/// [`admit`] of the headers already read: the caller puts the principal into the request's
/// extensions with [`keep`] (the headers stay borrowed meanwhile).
#[allow(clippy::result_large_err)]
pub(super) async fn admitted(
    origins: &super::origin::OriginPolicy,
    auth: Option<&SharedAuth>,
    parts: &::http::request::Parts,
    known: &crate::headers::Known<'_>,
) -> Result<Option<Principal>, axum::response::Response> {
    origins.check_known(parts, known)?;
    let Some(auth) = auth else {
        return Ok(None);
    };
    match auth.authenticate(parts).await {
        Ok(principal) => Ok(Some(principal)),
        Err(e) => Err(rejection(auth.as_ref(), parts, &e)),
    }
}
