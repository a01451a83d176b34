//! An OAuth 2.1 authorization server for MCP clients that delegates the user's login to the
//! identity provider the app already uses ([`OAuthServer`], feature `oauth`).
//!
//! Remote MCP clients (the connectors of chat apps and IDEs) run the MCP authorization flow:
//! they read the mount's protected-resource metadata, then this server's metadata (RFC 8414),
//! register (RFC 7591), and get a code with PKCE for the mount's resource (RFC 8707). Most
//! company identity providers let no client register itself; this server is the one the
//! clients see, and sends the user on to the upstream provider with one client the app
//! registered there:
//!
//! 1. `GET /oauth/authorize`: the client, its exact registered redirect URI, PKCE (`S256`) and
//!    the resource are checked (an unknown client or redirect URI gets an error page, never a
//!    redirect), then the user sees a consent page of the app's own, naming the client: this
//!    one upstream client serves every MCP client, so the user confirms which one gets access.
//! 2. `POST /oauth/consent`: approved (from the same browser: a `SameSite=Strict` cookie set
//!    with the page), the user goes upstream, with this server's own PKCE and state.
//! 3. `GET /oauth/callback`: the upstream code is exchanged; the user is the upstream subject.
//!    The upstream's tokens serve that alone: they are neither kept nor given to the client;
//!    the client gets a code of this server's (single use, a minute).
//! 4. `POST /oauth/token`: the code (with the PKCE verifier) or a refresh token becomes an
//!    access token of this server's (a JWT for the resource, short-lived) and a refresh token
//!    that rotates: a refresh token used twice, or a code used twice, revokes its family.
//! 5. `POST /oauth/revoke` (RFC 7009) revokes a token's family.
//!
//! Clients register (RFC 7591), or name themselves by the `https` URL of a client ID metadata
//! document, which this server fetches with strict bounds.
//!
//! The server is also the [`Authenticator`](super::Authenticator) of the mounts it protects:
//! it accepts exactly its own access tokens, for the mount's resource, not revoked; the
//! upstream's tokens are refused. Its records (registrations, codes, refresh tokens, revoked
//! families) are in a [`GrantStore`](crate::store::GrantStore): in memory by default, shared
//! (`RedisStore`) when the app runs on several instances.

mod clients;
mod documents;
mod flow;
mod grants;
mod login;
mod pages;
mod tokens;
mod upstream;

use super::metadata::ProtectedResource;
use super::{AuthError, Authenticator, CredentialHeader, Principal};
use crate::store::{GrantStore, MemoryGrantStore, MemoryPolicyStore, PolicyStore};
use futures_util::future::BoxFuture;
use http::request::Parts;
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;

pub use upstream::Upstream;

/// The authorization server: give it to the servers it protects (`McpServer::auth`) and mount
/// its routes at the app's root ([`OAuthServer::router`]).
///
/// ```no_run
/// use mcp_runtime::auth::{OAuthServer, Upstream};
/// use mcp_runtime::{McpRouterExt as _, McpServer, Transport};
///
/// let oauth = OAuthServer::new(
///     "https://api.example.com",
///     std::env::var("OAUTH_SECRET").unwrap(),
///     Upstream::new("https://accounts.google.com", "client-id", "client-secret"),
/// )
/// .unwrap()
/// .scopes_supported(["chat:read", "chat:write"]);
/// let slack = McpServer::new("Slack").auth(oauth.clone());
/// let app: axum::Router = axum::Router::new()
///     .nest_mcp("/mcp/slack", slack.http_app(Transport::StreamableHttp))
///     .merge(oauth.router());
/// ```
#[derive(Clone)]
pub struct OAuthServer {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// The issuer: the app's base URL as clients see it, without a trailing slash.
    pub(crate) issuer: String,
    pub(crate) keys: tokens::Keys,
    pub(crate) upstream: Upstream,
    pub(crate) store: Arc<dyn GrantStore>,
    /// Where the limits per client address are counted.
    pub(crate) limits: Arc<dyn PolicyStore>,
    /// Registrations, and authorizations started, per client address and hour (0: no limit).
    pub(crate) per_address: [u32; 2],
    pub(crate) scopes: Vec<String>,
    pub(crate) access_ttl: Duration,
    pub(crate) refresh_ttl: Duration,
    pub(crate) resource: ProtectedResource,
    pub(crate) discovered: upstream::Discovered,
    pub(crate) documents: documents::Documents,
    pub(crate) claims: Option<ClaimMap>,
}

/// What the app keeps of the upstream's claims ([`OAuthServer::map_claims`]).
pub(crate) type ClaimMap =
    Arc<dyn Fn(&Map<String, Value>) -> Map<String, Value> + Send + Sync + 'static>;

impl std::fmt::Debug for OAuthServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthServer")
            .field("issuer", &self.inner.issuer)
            .field("upstream", &self.inner.upstream.issuer)
            .finish_non_exhaustive()
    }
}

/// How long a code lives.
pub(crate) const CODE_TTL: Duration = Duration::from_secs(60);
/// How long an authorization may take, from the consent page to the upstream's answer.
pub(crate) const PENDING_TTL: Duration = Duration::from_secs(600);
/// How long a registration lives once used.
pub(crate) const CLIENT_TTL: Duration = Duration::from_secs(90 * 24 * 3600);
/// How long a registration lives until it is used.
pub(crate) const UNUSED_CLIENT_TTL: Duration = Duration::from_secs(24 * 3600);

impl OAuthServer {
    /// The server at `issuer` (the app's base URL as clients see it: `https://api.example.com`),
    /// signing its access tokens with a key derived from `secret` (at least 32 bytes; every
    /// instance of the app gives the same), sending users to log in at `upstream`.
    ///
    /// # Errors
    ///
    /// When `issuer` is not an `http(s)` URL without query or fragment, or `secret` is shorter
    /// than 32 bytes.
    pub fn new(issuer: &str, secret: impl AsRef<[u8]>, upstream: Upstream) -> Result<Self, String> {
        let issuer = issuer.trim_end_matches('/').to_owned();
        let parsed = url::Url::parse(&issuer).map_err(|e| format!("the issuer `{issuer}`: {e}"))?;
        if !matches!(parsed.scheme(), "https" | "http")
            || parsed.query().is_some()
            || parsed.fragment().is_some()
        {
            return Err(format!(
                "the issuer `{issuer}` must be an http(s) URL without query or fragment"
            ));
        }
        let secret = secret.as_ref();
        if secret.len() < 32 {
            return Err(format!(
                "the secret is {} bytes; it must be at least 32",
                secret.len()
            ));
        }
        let resource = ProtectedResource {
            authorization_servers: vec![issuer.clone()],
            base_url: Some(issuer.clone()),
            ..ProtectedResource::default()
        };
        Ok(Self {
            inner: Arc::new(Inner {
                keys: tokens::Keys::derive(secret),
                upstream,
                store: Arc::new(MemoryGrantStore::default()),
                limits: Arc::new(MemoryPolicyStore::default()),
                per_address: [20, 120],
                scopes: Vec::new(),
                access_ttl: Duration::from_secs(600),
                refresh_ttl: Duration::from_secs(30 * 24 * 3600),
                resource,
                discovered: upstream::Discovered::default(),
                documents: documents::Documents::default(),
                claims: None,
                issuer,
            }),
        })
    }

    fn edit(mut self, change: impl FnOnce(&mut Inner)) -> Self {
        change(Arc::get_mut(&mut self.inner).expect("configured before it is shared"));
        self
    }

    /// The scopes clients may ask for (and the protected-resource metadata lists). A client
    /// that asks for none gets them all.
    #[must_use]
    pub fn scopes_supported<I, S>(self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let scopes: Vec<String> = scopes.into_iter().map(Into::into).collect();
        self.edit(|i| {
            i.resource.scopes_supported = scopes.clone();
            i.scopes = scopes;
        })
    }

    /// Where registrations, codes, refresh tokens and revocations are kept: a shared store
    /// (`RedisStore::scoped`) when the app runs on several instances. Default: in memory.
    #[must_use]
    pub fn store(self, store: impl GrantStore) -> Self {
        self.edit(|i| i.store = Arc::new(store))
    }

    /// How many clients one client address may register (`/oauth/register`), and how many
    /// authorizations it may start (`/oauth/authorize`: each keeps a record for ten minutes), per
    /// hour; past either, the answer is 429 with `Retry-After`. Default 20 and 120; 0 turns a
    /// limit off. The address is the connection's (`ConnectInfo`, as `mcp_runtime::serve` gives
    /// it; without it nothing is counted): behind a proxy every client has the proxy's, so raise
    /// these or limit at the proxy.
    #[must_use]
    pub fn limits_per_address(self, registrations: u32, authorizations: u32) -> Self {
        self.edit(|i| i.per_address = [registrations, authorizations])
    }

    /// Where the limits per address are counted: shared (`RedisStore::scoped`) when the app
    /// runs on several instances. Default: in memory.
    #[must_use]
    pub fn limit_store(self, store: impl PolicyStore) -> Self {
        self.edit(|i| i.limits = Arc::new(store))
    }

    /// Whether client ID metadata documents may be fetched from private, loopback and
    /// link-local addresses. Default `false`: a client ID cannot make the server request its
    /// own network (tests of one machine turn it on).
    #[must_use]
    pub fn allow_private_metadata_hosts(self, allow: bool) -> Self {
        self.edit(|i| i.documents.private_hosts = allow)
    }

    /// What the principal's claims are, from the upstream's (its ID token's, or its user
    /// info): they travel in the access token (keep them small) and tools read them as
    /// `ctx.principal().claims`. Default: `email`, `email_verified`, `name` and
    /// `preferred_username`. The subject is always the upstream's `sub`.
    #[must_use]
    pub fn map_claims<F>(self, map: F) -> Self
    where
        F: Fn(&Map<String, Value>) -> Map<String, Value> + Send + Sync + 'static,
    {
        self.edit(|i| i.claims = Some(Arc::new(map)))
    }

    /// How long an access token is valid. Default 10 minutes.
    #[must_use]
    pub fn access_token_lifetime(self, ttl: Duration) -> Self {
        self.edit(|i| i.access_ttl = ttl)
    }

    /// How long a refresh token (and its family) is valid. Default 30 days.
    #[must_use]
    pub fn refresh_token_lifetime(self, ttl: Duration) -> Self {
        self.edit(|i| i.refresh_ttl = ttl)
    }

    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The routes of the authorization server, to merge at the app's root: its metadata
    /// (`/.well-known/oauth-authorization-server`) and `/oauth/{register, authorize, consent,
    /// callback, token, revoke}`. Of any state type, like the app's router.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> axum::Router<S> {
        flow::router(self.clone())
    }
}

impl Authenticator for OAuthServer {
    fn authenticate<'a>(
        &'a self,
        request: &'a Parts,
    ) -> BoxFuture<'a, Result<Principal, AuthError>> {
        Box::pin(async move {
            let token = super::contract::bearer_token(request)?;
            let audience = self.inner.resource.resource_url(request);
            let claims = self
                .inner
                .keys
                .verify_access(token, &self.inner.issuer, &audience)?;
            if !grants::alive(&self.inner, &claims.family)
                .await
                .map_err(|e| {
                    // The store's own words (a Redis error) stay in the log.
                    tracing::error!(error = %e, "grant store unavailable; refusing the request");
                    AuthError::Unavailable("the token could not be checked; try again later".into())
                })?
            {
                return Err(AuthError::Invalid("the token has been revoked".into()));
            }
            Ok(claims.principal(&self.inner.issuer))
        })
    }

    fn protected_resource(&self) -> Option<&ProtectedResource> {
        Some(&self.inner.resource)
    }

    fn credential_header(&self) -> Option<CredentialHeader> {
        Some(
            CredentialHeader::new(
                "Authorization",
                "An access token of the app's authorization server (OAuth, found from the \
                 mount's /.well-known/oauth-protected-resource metadata)",
            )
            .template("Bearer {token}"),
        )
    }
}
