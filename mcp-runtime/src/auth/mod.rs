//! Authentication of MCP requests: the [`Authenticator`] a server is given, API keys the app
//! already owns ([`ApiKeyAuth`]), JWT bearer tokens checked against a JWKS ([`JwtVerifier`],
//! feature `jwt`), per-tool scopes, and the OAuth Protected Resource Metadata (RFC 9728) that
//! lets clients discover where to get a token.
//!
//! Authentication runs in every transport before anything else: before a session is created,
//! before a tool runs, on the GET stream and on the legacy SSE endpoints. The [`Principal`] it
//! yields is in the request extensions, so `Context::principal` sees it.

mod api_key;
mod contract;
#[cfg(feature = "jwt")]
mod jwt;
pub(crate) mod metadata;
#[cfg(feature = "oauth")]
mod oauth;

pub use crate::call::context::Principal;
pub use api_key::ApiKeyAuth;
pub(crate) use contract::SharedAuth;
pub use contract::{AuthError, Authenticator, CredentialHeader};
#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub use jwt::{JwtAlgorithm, JwtVerifier};
pub use metadata::ProtectedResource;
#[cfg(feature = "oauth")]
#[cfg_attr(docsrs, doc(cfg(feature = "oauth")))]
pub use oauth::{OAuthServer, Upstream};

#[cfg(test)]
mod tests {
    use crate::protocol::scopes_cover as covers;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn scope_hierarchy() {
        assert!(covers(&v(&["crm:write"]), &v(&["crm:write"])));
        assert!(covers(&v(&["crm"]), &v(&["crm:write", "crm:read"])));
        assert!(!covers(&v(&["crm:read"]), &v(&["crm:write"])));
        assert!(!covers(&v(&["cr"]), &v(&["crm:write"])));
        assert!(!covers(&v(&[]), &v(&["a"])));
        assert!(covers(&v(&[]), &v(&[])));
    }
}
