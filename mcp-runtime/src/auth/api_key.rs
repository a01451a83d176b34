//! API keys the app already owns: a header, and the app's own lookup.

use super::{AuthError, Authenticator};
use crate::call::context::Principal;
use futures_util::future::BoxFuture;
use http::HeaderName;
use http::request::Parts;
use std::future::Future;
use std::sync::Arc;

type Lookup = dyn Fn(String) -> BoxFuture<'static, Result<Option<Principal>, String>> + Send + Sync;

/// Authenticates requests by an API key header (default `x-api-key`), looked up in the app's own
/// store.
///
/// ```
/// use mcp_runtime::auth::Principal;
/// use mcp_runtime::auth::ApiKeyAuth;
///
/// let auth = ApiKeyAuth::new(|key: String| async move {
///     // Look the key up in the app's database; `Ok(None)` for an unknown key.
///     Ok::<_, String>((key == "demo-key").then(|| Principal {
///         subject: "demo-user".into(),
///         ..Principal::default()
///     }))
/// });
/// ```
#[derive(Clone)]
pub struct ApiKeyAuth {
    header: HeaderName,
    lookup: Arc<Lookup>,
}

impl std::fmt::Debug for ApiKeyAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyAuth")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

/// Compares two byte strings in time independent of where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl ApiKeyAuth {
    /// Keys are looked up with `lookup`: `Ok(Some(principal))` for a known key, `Ok(None)` for
    /// an unknown one, `Err` when the store failed (503; never let in).
    pub fn new<F, Fut, E>(lookup: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<Principal>, E>> + Send + 'static,
        E: std::fmt::Display,
    {
        let lookup: Arc<Lookup> = Arc::new(move |key| {
            let fut = lookup(key);
            Box::pin(async move { fut.await.map_err(|e| e.to_string()) })
        });
        Self {
            header: HeaderName::from_static("x-api-key"),
            lookup,
        }
    }

    /// A fixed set of keys held in memory, compared in constant time.
    pub fn keys<I, K>(keys: I) -> Self
    where
        I: IntoIterator<Item = (K, Principal)>,
        K: Into<String>,
    {
        let keys: Arc<Vec<(String, Principal)>> =
            Arc::new(keys.into_iter().map(|(k, p)| (k.into(), p)).collect());
        Self::new(move |key: String| {
            let keys = keys.clone();
            async move {
                // Every key is compared, so the time taken does not tell which one matched.
                let mut found = None;
                for (k, p) in keys.iter() {
                    if constant_time_eq(k.as_bytes(), key.as_bytes()) {
                        found = Some(p.clone());
                    }
                }
                Ok::<_, String>(found)
            }
        })
    }

    /// Reads the key from this header instead of `x-api-key`.
    ///
    /// # Panics
    ///
    /// If `name` is not a valid header name.
    pub fn header(mut self, name: &str) -> Self {
        self.header = HeaderName::try_from(name).expect("a valid header name");
        self
    }
}

impl Authenticator for ApiKeyAuth {
    fn authenticate<'a>(
        &'a self,
        request: &'a Parts,
    ) -> BoxFuture<'a, Result<Principal, AuthError>> {
        Box::pin(async move {
            let key = crate::headers::text(&request.headers, &self.header)
                .map_err(|e| AuthError::Invalid(format!("invalid API key: {e}")))?
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .ok_or_else(|| {
                    AuthError::Missing(format!(
                        "missing API key: send it in the `{}` header",
                        self.header
                    ))
                })?;
            match (self.lookup)(key.to_owned()).await {
                Ok(Some(principal)) => Ok(principal),
                Ok(None) => Err(AuthError::Invalid("invalid API key".into())),
                Err(e) => {
                    tracing::error!(error = %e, "API key lookup failed; refusing the request");
                    Err(AuthError::Unavailable(
                        "the API key could not be checked; try again later".into(),
                    ))
                }
            }
        })
    }

    fn credential_header(&self) -> Option<super::CredentialHeader> {
        Some(super::CredentialHeader::new(
            self.header.as_str(),
            "An API key of the app's",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
