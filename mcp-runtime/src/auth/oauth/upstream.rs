//! The upstream provider: its OpenID Connect discovery document, the authorization request the
//! user is sent to, and the code exchange that names the user. Every request to it is bounded
//! (10 s, 1 MiB, no redirects).

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::Mutex;
use std::time::Duration;

/// The most bytes read of one upstream answer.
const MAX_ANSWER: usize = 1024 * 1024;

/// The identity provider users log in at, and the client the app registered there.
#[derive(Clone)]
pub struct Upstream {
    pub(crate) issuer: String,
    pub(crate) client_id: String,
    client_secret: String,
    pub(crate) scopes: Vec<String>,
    http: reqwest::Client,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl Upstream {
    /// The OpenID Connect provider at `issuer` (its discovery document is at
    /// `<issuer>/.well-known/openid-configuration`), with the app's client there. Its redirect
    /// URI, to register at the provider, is `<app's issuer>/oauth/callback`.
    pub fn new(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        Self {
            issuer: issuer.into().trim_end_matches('/').to_owned(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("an HTTP client"),
        }
    }

    /// The scopes asked of the provider. Default `openid email profile`.
    #[must_use]
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    async fn get_json(&self, request: reqwest::RequestBuilder) -> Result<Value, String> {
        let mut res = request
            .send()
            .await
            .map_err(|e| format!("the identity provider cannot be reached: {e}"))?;
        let status = res.status();
        let body =
            crate::bounds::read_response(&mut res, MAX_ANSWER, "the identity provider's answer")
                .await?;
        let value: Value = serde_json::from_slice(&body)
            .map_err(|_| format!("the identity provider answered {status} without JSON"))?;
        if !status.is_success() {
            let error = value.get("error").and_then(Value::as_str).unwrap_or("?");
            return Err(format!(
                "the identity provider answered {status} ({})",
                crate::bounds::shown(error)
            ));
        }
        Ok(value)
    }

    /// The provider's endpoints, from its discovery document (fetched once, again after a
    /// failure).
    pub(crate) async fn endpoints(&self, cache: &Discovered) -> Result<Endpoints, String> {
        if let Some(e) = cache.0.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Ok(e);
        }
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let doc = self.get_json(self.http.get(&url)).await?;
        let endpoints: Endpoints = serde_json::from_value(doc)
            .map_err(|e| format!("the identity provider's discovery document: {e}"))?;
        // OpenID Connect Discovery 4.3: the document is the issuer's own.
        if endpoints.issuer.trim_end_matches('/') != self.issuer {
            return Err(format!(
                "the identity provider's discovery document names the issuer `{}`, not `{}`",
                crate::bounds::shown(&endpoints.issuer),
                self.issuer
            ));
        }
        // Codes and tokens travel to these: https, unless the issuer itself is plain http
        // (a provider on this machine, in tests).
        let plain_ok = self.issuer.starts_with("http://");
        for endpoint in [&endpoints.authorization_endpoint, &endpoints.token_endpoint] {
            if !(endpoint.starts_with("https://") || plain_ok && endpoint.starts_with("http://")) {
                return Err(format!(
                    "the identity provider's endpoint `{}` is not https",
                    crate::bounds::shown(endpoint)
                ));
            }
        }
        *cache.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(endpoints.clone());
        Ok(endpoints)
    }

    /// The URL the user is sent to.
    pub(crate) fn authorize_url(
        &self,
        endpoints: &Endpoints,
        redirect_uri: &str,
        state: &str,
        challenge: &str,
    ) -> Result<String, String> {
        let mut url = url::Url::parse(&endpoints.authorization_endpoint)
            .map_err(|e| format!("the identity provider's authorization endpoint: {e}"))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &self.scopes.join(" "))
            .append_pair("state", state)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(url.into())
    }

    /// The user the upstream code names: its `sub`, and what else its ID token or user info
    /// says. The upstream's tokens are used for that alone, and not kept.
    pub(crate) async fn exchange(
        &self,
        endpoints: &Endpoints,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Result<(String, Map<String, Value>), String> {
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", code)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("code_verifier", verifier)
            .append_pair("client_id", &self.client_id)
            .finish();
        let tokens = self
            .get_json(
                self.http
                    .post(&endpoints.token_endpoint)
                    .basic_auth(&self.client_id, Some(&self.client_secret))
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(form),
            )
            .await?;
        let claims = match tokens.get("id_token").and_then(Value::as_str) {
            Some(id_token) => self.id_token_claims(id_token)?,
            None => {
                let userinfo = endpoints
                    .userinfo_endpoint
                    .as_deref()
                    .ok_or("the identity provider sent no ID token and has no userinfo endpoint")?;
                let access = tokens
                    .get("access_token")
                    .and_then(Value::as_str)
                    .ok_or("the identity provider sent no access token")?;
                match self
                    .get_json(self.http.get(userinfo).bearer_auth(access))
                    .await?
                {
                    Value::Object(m) => m,
                    _ => return Err("the identity provider's user info is not an object".into()),
                }
            }
        };
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or("the identity provider named no subject (`sub`)")?
            .to_owned();
        Ok((subject, claims))
    }

    /// The claims of an ID token received straight from the provider's token endpoint (over
    /// TLS, from the issuer: OpenID Connect Core 3.1.3.7 lets the client rely on that instead of
    /// the signature); its issuer, audience and expiry are checked.
    fn id_token_claims(&self, id_token: &str) -> Result<Map<String, Value>, String> {
        let payload = id_token
            .split('.')
            .nth(1)
            .and_then(|p| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(p)
                    .ok()
            })
            .and_then(|b| serde_json::from_slice::<Map<String, Value>>(&b).ok())
            .ok_or("the identity provider's ID token cannot be read")?;
        let issuer = payload.get("iss").and_then(Value::as_str).unwrap_or("");
        if issuer.trim_end_matches('/') != self.issuer {
            return Err(format!(
                "the ID token was issued by `{}`, not by the identity provider",
                crate::bounds::shown(issuer)
            ));
        }
        let for_us = match payload.get("aud") {
            Some(Value::String(a)) => *a == self.client_id,
            Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(&self.client_id)),
            _ => false,
        };
        if !for_us {
            return Err("the ID token is for another client".into());
        }
        let exp = payload.get("exp").and_then(Value::as_u64).unwrap_or(0);
        if exp.saturating_add(60) < super::tokens::now() {
            return Err("the ID token has expired".into());
        }
        Ok(payload)
    }
}

/// The endpoints of the upstream provider.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Endpoints {
    pub(crate) issuer: String,
    pub(crate) authorization_endpoint: String,
    pub(crate) token_endpoint: String,
    #[serde(default)]
    pub(crate) userinfo_endpoint: Option<String>,
}

/// The discovery document, once fetched.
#[derive(Debug, Default)]
pub(crate) struct Discovered(pub(crate) Mutex<Option<Endpoints>>);
