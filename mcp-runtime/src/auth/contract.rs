//! The authentication contract: what a server is given ([`Authenticator`]) and what it
//! decides ([`AuthError`], or a [`Principal`]). It knows HTTP request parts, nothing of the
//! transports that run it.

use super::metadata::ProtectedResource;
use crate::call::context::Principal;
use futures_util::future::BoxFuture;
use http::request::Parts;
use std::fmt;
use std::sync::Arc;

/// Why a request was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No credentials were sent (401).
    Missing(String),
    /// Credentials were sent but are not valid (401, `invalid_token`).
    Invalid(String),
    /// Credentials cannot be checked right now, e.g. the JWKS is unreachable on a cold start
    /// (503). Never treated as success.
    Unavailable(String),
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing(m) | Self::Invalid(m) | Self::Unavailable(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for AuthError {}

/// Checks the credentials of a request and names its caller.
///
/// Implemented by [`ApiKeyAuth`](crate::auth::ApiKeyAuth) and `JwtVerifier` (feature `jwt`);
/// implement it for other schemes.
pub trait Authenticator: Send + Sync + 'static {
    /// The caller of the request, or why not.
    fn authenticate<'a>(
        &'a self,
        request: &'a Parts,
    ) -> BoxFuture<'a, Result<Principal, AuthError>>;

    /// The OAuth protected-resource description, for bearer-token schemes: it makes 401s carry
    /// `WWW-Authenticate: Bearer resource_metadata="…"` and serves the metadata document.
    fn protected_resource(&self) -> Option<&ProtectedResource> {
        None
    }

    /// The header a client sends its credentials in, as discovery documents (the mount's
    /// server card) describe it to clients before they connect: its name, never a value.
    /// `None` (the default) describes none.
    fn credential_header(&self) -> Option<CredentialHeader> {
        None
    }
}

/// A header that carries a client's credentials, as a server card describes it: a required
/// secret the user supplies.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CredentialHeader {
    /// The header's name (`x-api-key`, `Authorization`).
    pub name: String,
    /// What the value is, for the person configuring a client.
    pub description: String,
    /// The value's form around the secret, with the secret as `{token}` (`Bearer {token}`);
    /// `None` when the header is the secret itself.
    pub template: Option<String>,
}

impl CredentialHeader {
    /// A header whose whole value is the secret.
    pub fn new(name: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            template: None,
        }
    }

    /// The value's form around the secret, written with `{token}` (`Bearer {token}`).
    #[must_use]
    pub fn template(mut self, template: impl Into<String>) -> Self {
        self.template = Some(template.into());
        self
    }
}

/// The token of a request's `Authorization: Bearer <token>` header, or why there is none.
#[cfg(any(feature = "jwt", feature = "oauth"))]
pub(crate) fn bearer_token(request: &Parts) -> Result<&str, AuthError> {
    let value = request
        .headers
        .get(http::header::AUTHORIZATION)
        .ok_or_else(|| {
            AuthError::Missing("missing bearer token: send `Authorization: Bearer <token>`".into())
        })?;
    let value = value
        .to_str()
        .map_err(|_| AuthError::Invalid("the Authorization header is not text".into()))?;
    value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            AuthError::Invalid("the Authorization header is not `Bearer <token>`".into())
        })
}

/// The authenticator of a server, shared by its transports.
pub(crate) type SharedAuth = Arc<dyn Authenticator>;
