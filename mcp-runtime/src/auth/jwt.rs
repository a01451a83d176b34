//! JWT bearer tokens: the server as an OAuth 2.1 resource server.
//!
//! Tokens are checked with `jsonwebtoken`: signature with a key from the JWKS (by `kid`), `exp`
//! and `nbf` with a small leeway, `iss`, `aud`. Only asymmetric algorithms on an allow-list are
//! accepted, so `alg: none` and HMAC tokens "signed" with a public key are refused. The JWKS is
//! cached; keys older than `max_key_age` are refreshed in the background (one fetch at a time)
//! while requests go on with them; an unknown `kid` triggers one refetch at most every
//! `min_refetch_interval` (key rotation), which that request waits for; when the JWKS cannot be
//! fetched, cached keys keep working and a cold start fails closed with 503. A token must name
//! its subject: a missing or empty `sub` is refused.

use super::{AuthError, Authenticator, ProtectedResource};
use crate::call::context::Principal;
use futures_util::future::BoxFuture;
use http::request::Parts;
use jsonwebtoken::jwk::{JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The largest JWKS read from the issuer (real ones hold a few keys: a few KB).
const MAX_JWKS: usize = 1024 * 1024;

/// The asymmetric signature algorithms a verifier may accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwtAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// ECDSA P-384 with SHA-384.
    ES384,
    /// Ed25519.
    EdDSA,
}

impl JwtAlgorithm {
    /// Every accepted algorithm (the default allow-list).
    pub const ALL: [JwtAlgorithm; 9] = [
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::EdDSA,
    ];

    fn to_jwt(self) -> Algorithm {
        match self {
            Self::RS256 => Algorithm::RS256,
            Self::RS384 => Algorithm::RS384,
            Self::RS512 => Algorithm::RS512,
            Self::PS256 => Algorithm::PS256,
            Self::PS384 => Algorithm::PS384,
            Self::PS512 => Algorithm::PS512,
            Self::ES256 => Algorithm::ES256,
            Self::ES384 => Algorithm::ES384,
            Self::EdDSA => Algorithm::EdDSA,
        }
    }
}

enum Source {
    Jwks {
        uri: String,
        client: reqwest::Client,
    },
    Static(DecodingKey),
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, DecodingKey>,
    /// Keys without a `kid`, usable when a token names none and there is exactly one.
    unnamed: Vec<DecodingKey>,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
}

struct Inner {
    source: Source,
    issuers: Vec<String>,
    audiences: Vec<String>,
    algorithms: Vec<Algorithm>,
    leeway: Duration,
    min_refetch_interval: Duration,
    max_key_age: Duration,
    cache: Mutex<Cache>,
    refetch: tokio::sync::Mutex<()>,
    /// Set while a background refresh of stale keys runs: one at a time.
    refreshing: AtomicBool,
    resource: ProtectedResource,
}

/// Verifies JWT bearer tokens (`Authorization: Bearer …`).
///
/// ```no_run
/// use mcp_runtime::auth::JwtVerifier;
///
/// let jwt = JwtVerifier::new(
///     "https://auth.example.com/.well-known/jwks.json",
///     "https://auth.example.com/",
///     "https://api.example.com/mcp/slack",
/// )
/// .authorization_server("https://auth.example.com/")
/// .scopes_supported(["slack:read", "slack:write"]);
/// ```
#[derive(Clone)]
pub struct JwtVerifier {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuers", &self.inner.issuers)
            .field("audiences", &self.inner.audiences)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// A verifier of tokens signed with keys from `jwks_uri`, issued by `issuer`, for
    /// `audience` (RFC 8707: tokens for other resources are refused). The issuer is also the
    /// default authorization server of the protected-resource metadata.
    pub fn new(
        jwks_uri: impl Into<String>,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Self {
        let issuer = issuer.into();
        // A few redirects, never from https to plain http (the keys decide whom to trust).
        let redirects = reqwest::redirect::Policy::custom(|attempt| {
            let downgrade = attempt.url().scheme() != "https"
                && attempt.previous().iter().any(|u| u.scheme() == "https");
            if downgrade || attempt.previous().len() > 3 {
                attempt.stop()
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(redirects)
            .build()
            .expect("an HTTP client");
        Self::with_source(
            Source::Jwks {
                uri: jwks_uri.into(),
                client,
            },
            issuer,
            audience.into(),
        )
    }

    /// A verifier of tokens signed with one known public key (PEM: RSA, EC, or Ed25519).
    ///
    /// # Errors
    ///
    /// When the PEM is not a public key of that family.
    pub fn with_public_key_pem(
        pem: &[u8],
        algorithm: JwtAlgorithm,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Result<Self, String> {
        let key = match algorithm {
            JwtAlgorithm::ES256 | JwtAlgorithm::ES384 => DecodingKey::from_ec_pem(pem),
            JwtAlgorithm::EdDSA => DecodingKey::from_ed_pem(pem),
            _ => DecodingKey::from_rsa_pem(pem),
        }
        .map_err(|e| format!("not a usable public key: {e}"))?;
        let v = Self::with_source(Source::Static(key), issuer.into(), audience.into());
        Ok(v.algorithms([algorithm]))
    }

    fn with_source(source: Source, issuer: String, audience: String) -> Self {
        Self {
            inner: Arc::new(Inner {
                source,
                issuers: vec![issuer.clone()],
                audiences: vec![audience],
                algorithms: JwtAlgorithm::ALL.iter().map(|a| a.to_jwt()).collect(),
                leeway: Duration::from_secs(30),
                min_refetch_interval: Duration::from_secs(30),
                max_key_age: Duration::from_secs(600),
                cache: Mutex::new(Cache::default()),
                refetch: tokio::sync::Mutex::new(()),
                refreshing: AtomicBool::new(false),
                resource: ProtectedResource {
                    authorization_servers: vec![issuer],
                    ..ProtectedResource::default()
                },
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Inner)) -> Self {
        f(Arc::get_mut(&mut self.inner).expect("configure the verifier before cloning it"));
        self
    }

    /// Accepts tokens of this issuer too.
    pub fn issuer(self, issuer: impl Into<String>) -> Self {
        self.edit(|i| i.issuers.push(issuer.into()))
    }
    /// Accepts tokens for this audience too.
    pub fn audience(self, audience: impl Into<String>) -> Self {
        self.edit(|i| i.audiences.push(audience.into()))
    }
    /// The accepted algorithms (default: every [`JwtAlgorithm`]).
    pub fn algorithms(self, algorithms: impl IntoIterator<Item = JwtAlgorithm>) -> Self {
        let algorithms: Vec<Algorithm> = algorithms.into_iter().map(JwtAlgorithm::to_jwt).collect();
        self.edit(|i| i.algorithms = algorithms)
    }
    /// Clock skew tolerated on `exp` and `nbf` (default 30 s).
    pub fn leeway(self, leeway: Duration) -> Self {
        self.edit(|i| i.leeway = leeway)
    }
    /// The shortest time between two JWKS fetches caused by unknown `kid`s (default 30 s).
    pub fn min_refetch_interval(self, interval: Duration) -> Self {
        self.edit(|i| i.min_refetch_interval = interval)
    }
    /// How long fetched keys are used before the JWKS is fetched again (default 10 min). That
    /// fetch runs in the background, at most once per `min_refetch_interval`: requests go on
    /// with the old keys meanwhile, and keep them when it fails.
    pub fn max_key_age(self, age: Duration) -> Self {
        self.edit(|i| i.max_key_age = age)
    }
    /// The authorization servers named in the protected-resource metadata (default: the issuer).
    pub fn authorization_server(self, url: impl Into<String>) -> Self {
        let url = url.into();
        self.edit(|i| {
            if i.resource.authorization_servers == i.issuers[..1] {
                i.resource.authorization_servers.clear();
            }
            i.resource.authorization_servers.push(url);
        })
    }
    /// The scopes named in the metadata and in `WWW-Authenticate`.
    pub fn scopes_supported<I, S>(self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let scopes: Vec<String> = scopes.into_iter().map(Into::into).collect();
        self.edit(|i| i.resource.scopes_supported = scopes)
    }
    /// The canonical URL of the protected server, when it cannot be derived from requests
    /// (e.g. behind a proxy that rewrites `Host`).
    pub fn resource(self, url: impl Into<String>) -> Self {
        let url = url.into();
        self.edit(|i| i.resource.resource = Some(url))
    }
    /// Whether the server's URL, when not set with [`resource`](Self::resource), is derived
    /// from `X-Forwarded-Proto` and `X-Forwarded-Host` (default `false`: from `Host`). Only
    /// for an app behind a proxy that sets them; see
    /// [`ProtectedResource::trust_forwarded_headers`].
    pub fn trust_forwarded_headers(self, trust: bool) -> Self {
        self.edit(|i| i.resource.trust_forwarded_headers = trust)
    }

    /// Checks a token and returns its caller.
    ///
    /// # Errors
    ///
    /// [`AuthError::Invalid`] for a bad token, [`AuthError::Unavailable`] when no key can be
    /// had to check it.
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let invalid = |m: String| AuthError::Invalid(m);
        let header = decode_header(token).map_err(|e| invalid(format!("malformed token: {e}")))?;
        if !self.inner.algorithms.contains(&header.alg) {
            return Err(invalid(format!(
                "tokens signed with {:?} are not accepted",
                header.alg
            )));
        }
        let key = self.key(header.kid.as_deref()).await?;
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.leeway = self.inner.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_issuer(&self.inner.issuers);
        validation.set_audience(&self.inner.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let no_subject = "the token's subject (`sub`) is empty";
        let data = decode::<Map<String, Value>>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            invalid(match e.kind() {
                K::ExpiredSignature => "the token has expired".to_owned(),
                K::ImmatureSignature => "the token is not valid yet (nbf)".to_owned(),
                K::InvalidIssuer => {
                    "the token was issued by an issuer this server does not trust".to_owned()
                }
                K::InvalidAudience => "the token is for another audience (resource)".to_owned(),
                K::InvalidSignature => "the token's signature is invalid".to_owned(),
                K::InvalidAlgorithm => "the token's algorithm does not match its key".to_owned(),
                K::MissingRequiredClaim(c) if c == "sub" => {
                    format!("{no_subject}: the claim is missing or not a string")
                }
                K::MissingRequiredClaim(c) => format!("the token has no `{c}` claim"),
                _ => format!("invalid token: {e}"),
            })
        })?;
        let claims = data.claims;
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if subject.is_empty() {
            return Err(invalid(no_subject.to_owned()));
        }
        let scopes = match (claims.get("scope"), claims.get("scp")) {
            (Some(Value::String(s)), _) => s.split_whitespace().map(str::to_owned).collect(),
            (_, Some(Value::Array(a))) => a
                .iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect(),
            (_, Some(Value::String(s))) => s.split_whitespace().map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        Ok(Principal {
            subject,
            scopes,
            claims,
        })
    }

    async fn key(&self, kid: Option<&str>) -> Result<DecodingKey, AuthError> {
        let uri = match &self.inner.source {
            Source::Static(key) => return Ok(key.clone()),
            Source::Jwks { uri, .. } => uri,
        };
        let (found, refresh, empty) = self.lookup(kid);
        if let Some(key) = found {
            if refresh {
                self.refresh_in_background();
            }
            return Ok(key);
        }
        // Unknown kid (or no keys yet): one refetch, rate-limited.
        match self.refetch(false).await {
            Ok(()) => {}
            Err(e) if empty => {
                tracing::error!(jwks_uri = %uri, error = %e, "no JWKS keys available; refusing bearer tokens until the JWKS can be fetched");
                return Err(AuthError::Unavailable(
                    "the server cannot check tokens right now: its signing keys are unavailable"
                        .into(),
                ));
            }
            Err(_) => {}
        }
        self.lookup(kid).0.ok_or_else(|| {
            AuthError::Invalid(match kid {
                Some(k) => format!("the token's key `{}` is unknown", crate::bounds::shown(k)),
                None => "the token names no key (`kid`)".into(),
            })
        })
    }

    /// (key, a refresh is due: the keys are stale and none was tried within
    /// `min_refetch_interval`, cache is empty)
    fn lookup(&self, kid: Option<&str>) -> (Option<DecodingKey>, bool, bool) {
        let cache = self
            .inner
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let stale = cache
            .fetched_at
            .is_none_or(|t| t.elapsed() > self.inner.max_key_age);
        let tried_recently = cache
            .last_attempt
            .is_some_and(|t| t.elapsed() < self.inner.min_refetch_interval);
        let empty = cache.keys.is_empty() && cache.unnamed.is_empty();
        let key = match kid {
            Some(k) => cache.keys.get(k).cloned(),
            None if cache.keys.len() + cache.unnamed.len() == 1 => {
                cache.keys.values().chain(&cache.unnamed).next().cloned()
            }
            None => None,
        };
        (key, stale && !tried_recently, empty)
    }

    /// Refreshes stale keys in a task of its own, unless a refresh is already running: the
    /// request that noticed goes on with the cached keys instead of waiting for the JWKS.
    fn refresh_in_background(&self) {
        if self.inner.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        /// Clears `refreshing` however the task ends (also when its runtime drops it).
        struct Running(Arc<Inner>);
        impl Drop for Running {
            fn drop(&mut self) {
                self.0.refreshing.store(false, Ordering::Release);
            }
        }
        let running = Running(self.inner.clone());
        let verifier = self.clone();
        tokio::spawn(async move {
            let _running = running;
            let _ = verifier.refetch(true).await;
        });
    }

    /// Fetches the JWKS, at most once per `min_refetch_interval` (unless `refresh` after the
    /// keys aged out, which also waits for that interval).
    async fn refetch(&self, refresh: bool) -> Result<(), String> {
        let Source::Jwks { uri, client } = &self.inner.source else {
            return Ok(());
        };
        let _guard = self.inner.refetch.lock().await;
        {
            let cache = self
                .inner
                .cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let recent = cache
                .last_attempt
                .is_some_and(|t| t.elapsed() < self.inner.min_refetch_interval);
            if recent {
                return if refresh {
                    Ok(())
                } else {
                    Err("refetched too recently".into())
                };
            }
        }
        self.inner
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .last_attempt = Some(Instant::now());
        let set: JwkSet = async {
            let mut res = client.get(uri).send().await.map_err(|e| e.to_string())?;
            if !res.status().is_success() {
                return Err(format!("HTTP {}", res.status()));
            }
            let body = crate::bounds::read_response(&mut res, MAX_JWKS, "the JWKS").await?;
            serde_json::from_slice::<JwkSet>(&body).map_err(|e| e.to_string())
        }
        .await
        .inspect_err(|e| tracing::warn!(jwks_uri = %uri, error = %e, "JWKS fetch failed"))?;
        let mut keys = HashMap::new();
        let mut unnamed = Vec::new();
        for jwk in &set.keys {
            if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
                continue;
            }
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
            match &jwk.common.key_id {
                Some(kid) => {
                    keys.insert(kid.clone(), key);
                }
                None => unnamed.push(key),
            }
        }
        let mut cache = self
            .inner
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.keys = keys;
        cache.unnamed = unnamed;
        cache.fetched_at = Some(Instant::now());
        Ok(())
    }
}

impl Authenticator for JwtVerifier {
    fn authenticate<'a>(
        &'a self,
        request: &'a Parts,
    ) -> BoxFuture<'a, Result<Principal, AuthError>> {
        Box::pin(async move {
            let token = super::contract::bearer_token(request)?;
            self.verify(token).await
        })
    }

    fn protected_resource(&self) -> Option<&ProtectedResource> {
        Some(&self.inner.resource)
    }

    fn credential_header(&self) -> Option<super::CredentialHeader> {
        Some(
            super::CredentialHeader::new(
                "Authorization",
                "A bearer token from the server's authorization server (see its \
                 /.well-known/oauth-protected-resource metadata)",
            )
            .template("Bearer {token}"),
        )
    }
}
