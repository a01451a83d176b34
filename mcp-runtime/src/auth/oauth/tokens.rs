//! The authorization server's secrets at work: access tokens (HS256 JWTs for one resource),
//! random codes and refresh tokens (kept only as their SHA-256), PKCE.

use super::super::{AuthError, Principal};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The keys derived from the app's secret.
pub(crate) struct Keys {
    signing: [u8; 32],
    /// Binds a single-use token (a code, a refresh token) to its family: see
    /// [`Keys::family_token`].
    binding: [u8; 32],
}

fn derive(secret: &[u8], purpose: &str) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("any key length");
    mac.update(purpose.as_bytes());
    mac.finalize().into_bytes().into()
}

/// 32 random bytes, base64url: codes, refresh tokens, states, PKCE verifiers.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    B64.encode(bytes)
}

/// The key a client's token or code is kept under: its SHA-256, so neither the store nor its
/// keys hold the token itself, and no client text becomes part of a key.
pub(crate) fn digest(token: &str) -> String {
    let mut out = String::with_capacity(64);
    crate::protocol::push_hex(&Sha256::digest(token.as_bytes()), &mut out);
    out
}

/// The PKCE `S256` challenge of a verifier.
pub(crate) fn challenge(verifier: &str) -> String {
    B64.encode(Sha256::digest(verifier.as_bytes()))
}

/// Whether `verifier` is one RFC 7636 allows: 43 to 128 unreserved characters.
pub(crate) fn valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct AccessClaims {
    pub(crate) iss: String,
    pub(crate) sub: String,
    pub(crate) aud: String,
    pub(crate) exp: u64,
    pub(crate) iat: u64,
    pub(crate) jti: String,
    #[serde(default)]
    pub(crate) scope: String,
    pub(crate) client_id: String,
    /// The family of tokens it belongs to (one authorization): revoked together.
    #[serde(rename = "fam")]
    pub(crate) family: String,
    /// What the app keeps of the upstream's claims (email, name, …).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub(crate) ext: Map<String, Value>,
}

impl AccessClaims {
    /// The caller the token names.
    pub(crate) fn principal(self, issuer: &str) -> Principal {
        let mut claims = self.ext;
        claims.insert("iss".into(), Value::String(issuer.to_owned()));
        claims.insert("client_id".into(), Value::String(self.client_id));
        Principal {
            subject: self.sub,
            scopes: self.scope.split_whitespace().map(str::to_owned).collect(),
            claims,
        }
    }
}

pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Keys {
    pub(crate) fn derive(secret: &[u8]) -> Self {
        Self {
            signing: derive(secret, "mcp-runtime oauth: access tokens"),
            binding: derive(secret, "mcp-runtime oauth: single-use tokens"),
        }
    }

    /// A single-use token of `family` (a code, a refresh token): the family's id, a dot, then
    /// 128 random bits and a MAC of both (128 bits), base64url. Presented twice, it names the
    /// family to revoke; the MAC makes sure it is one this server issued, so that a token
    /// made up from a family's id (which access tokens carry) revokes nothing.
    pub(crate) fn family_token(&self, family: &str) -> String {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes[..16]).expect("the OS random source is available");
        let mac = self.bind(family, &bytes[..16]);
        bytes[16..].copy_from_slice(&mac[..16]);
        format!("{family}.{}", B64.encode(bytes))
    }

    /// The family `token` belongs to, when it is a token of [`Keys::family_token`]'s form
    /// that this server issued (used or not, live or not).
    pub(crate) fn family_of<'t>(&self, token: &'t str) -> Option<&'t str> {
        let (family, rest) = token.split_once('.')?;
        let mut bytes = [0u8; 32];
        match B64.decode_slice(rest, &mut bytes) {
            Ok(32) => {}
            _ => return None,
        }
        let mac = self.bind(family, &bytes[..16]);
        crate::auth::api_key::constant_time_eq(&mac[..16], &bytes[16..]).then_some(family)
    }

    fn bind(&self, family: &str, random: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.binding).expect("any key length");
        mac.update(family.as_bytes());
        mac.update(&[0x1f]);
        mac.update(random);
        mac.finalize().into_bytes().into()
    }

    /// A signed access token.
    pub(crate) fn sign(&self, claims: &AccessClaims) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("at+jwt".into());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(&self.signing))
            .expect("HS256 signs")
    }

    /// The claims of an access token this server issued for `audience`, valid now.
    pub(crate) fn verify_access(
        &self,
        token: &str,
        issuer: &str,
        audience: &str,
    ) -> Result<AccessClaims, AuthError> {
        let mut validation = Validation::new(Algorithm::HS256);
        // The instances of one app share a clock closely enough.
        validation.leeway = 5;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<AccessClaims>(
            token,
            &DecodingKey::from_secret(&self.signing),
            &validation,
        )
        .map(|d| d.claims)
        .map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            AuthError::Invalid(
                match e.kind() {
                    K::ExpiredSignature => "the token has expired",
                    K::InvalidAudience => "the token is for another resource",
                    K::InvalidIssuer => "the token was issued by another server",
                    _ => "the token was not issued by this server's authorization server",
                }
                .into(),
            )
        })
    }

    /// The claims of an access token this server issued, expired or not (for revocation).
    pub(crate) fn read_own(&self, token: &str, issuer: &str) -> Option<AccessClaims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["iss"]);
        jsonwebtoken::decode::<AccessClaims>(
            token,
            &DecodingKey::from_secret(&self.signing),
            &validation,
        )
        .ok()
        .map(|d| d.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_use_token_names_its_family_only_when_this_server_made_it() {
        let keys = Keys::derive(&[7; 32]);
        let token = keys.family_token("fam1");
        assert_eq!(token.len(), "fam1.".len() + 43);
        assert_eq!(keys.family_of(&token), Some("fam1"));
        assert_ne!(keys.family_token("fam1"), token, "random");
        // Made up from the family's id, moved to another family, or made with other keys.
        assert_eq!(keys.family_of(&format!("fam1.{}", "A".repeat(43))), None);
        let (_, rest) = token.split_once('.').unwrap();
        assert_eq!(keys.family_of(&format!("fam2.{rest}")), None);
        assert_eq!(Keys::derive(&[8; 32]).family_of(&token), None);
        assert_eq!(keys.family_of("fam1"), None);
        assert_eq!(keys.family_of("fam1.short"), None);
        assert_eq!(keys.family_of(&format!("{token}A")), None);
    }

    #[test]
    fn pkce_as_rfc_7636_appendix_b() {
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(valid_verifier(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        ));
        assert!(!valid_verifier("short"));
        assert!(!valid_verifier(&"a b".repeat(20)));
    }

    #[test]
    fn tokens_are_bound_to_their_issuer_audience_and_key() {
        let keys = Keys::derive(&[7; 32]);
        let claims = AccessClaims {
            iss: "https://as".into(),
            sub: "ada".into(),
            aud: "https://as/mcp".into(),
            exp: now() + 60,
            iat: now(),
            jti: "j".into(),
            scope: "a b".into(),
            client_id: "c".into(),
            family: "f".into(),
            ext: Map::new(),
        };
        let token = keys.sign(&claims);
        let ok = keys
            .verify_access(&token, "https://as", "https://as/mcp")
            .unwrap();
        assert_eq!(ok.principal("https://as").scopes, ["a", "b"]);
        assert!(
            keys.verify_access(&token, "https://as", "https://as/other")
                .is_err()
        );
        assert!(
            keys.verify_access(&token, "https://other", "https://as/mcp")
                .is_err()
        );
        assert!(
            Keys::derive(&[8; 32])
                .verify_access(&token, "https://as", "https://as/mcp")
                .is_err()
        );
    }
}
