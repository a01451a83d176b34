//! `requestState` of 2026-07-28 input-required rounds: what the server needs to go on (the
//! answers of earlier rounds, what the state is for, until when), sealed with HMAC-SHA256 so that
//! a client can carry it but not change it. The key is random per process unless the app sets
//! one (`McpServer::request_state_key`), which lets several instances accept each other's states.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

type HmacSha256 = Hmac<Sha256>;

/// How long a `requestState` is accepted after it was issued.
pub(crate) const STATE_LIFETIME: Duration = Duration::from_secs(3600);

/// A key for sealing states.
#[derive(Clone)]
pub(crate) struct StateKey([u8; 32]);

impl StateKey {
    /// A key from any secret (hashed to 32 bytes).
    pub(crate) fn from_secret(secret: &[u8]) -> Self {
        Self(Sha256::digest(secret).into())
    }

    /// The process's key: 32 random bytes, made once.
    pub(crate) fn process() -> Self {
        static KEY: OnceLock<[u8; 32]> = OnceLock::new();
        Self(*KEY.get_or_init(|| {
            let mut k = [0u8; 32];
            getrandom::fill(&mut k).expect("the OS random source is available");
            k
        }))
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length")
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Seals the answers so far of a request for `target` (`tools/call name`, …).
pub(crate) fn seal(key: &StateKey, target: &str, answers: &Map<String, Value>) -> String {
    let expires = now_ms().saturating_add(STATE_LIFETIME.as_millis() as u64);
    let payload = json!({ "t": target, "a": answers, "e": expires }).to_string();
    let mut mac = key.mac();
    mac.update(payload.as_bytes());
    let tag = mac.finalize().into_bytes();
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(payload.as_bytes()),
        URL_SAFE_NO_PAD.encode(tag)
    )
}

/// Opens a state: the answers it carries, when it is intact, for `target`, and not expired.
pub(crate) fn open(
    key: &StateKey,
    target: &str,
    state: &str,
) -> Result<Map<String, Value>, &'static str> {
    const TAMPERED: &str = "`requestState` failed its integrity check: it was not issued by this \
                            server, or it was changed";
    let (payload, tag) = state.split_once('.').ok_or(TAMPERED)?;
    let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| TAMPERED)?;
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| TAMPERED)?;
    let mut mac = key.mac();
    mac.update(&payload);
    mac.verify_slice(&tag).map_err(|_| TAMPERED)?;
    let value: Value = serde_json::from_slice(&payload).map_err(|_| TAMPERED)?;
    if value["t"].as_str() != Some(target) {
        return Err("`requestState` belongs to another request");
    }
    if value["e"].as_u64().is_none_or(|e| e < now_ms()) {
        return Err("`requestState` expired: call again without it");
    }
    Ok(value["a"].as_object().cloned().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_states_open_only_intact_and_for_their_target() {
        let key = StateKey::from_secret(b"k");
        let mut answers = Map::new();
        answers.insert("q1".into(), json!({"action": "accept"}));
        let state = seal(&key, "tools/call t", &answers);
        assert_eq!(open(&key, "tools/call t", &state).unwrap(), answers);
        assert!(open(&key, "tools/call other", &state).is_err());
        assert!(open(&StateKey::from_secret(b"other"), "tools/call t", &state).is_err());
        // Any changed byte is refused.
        let mut bytes = state.clone().into_bytes();
        bytes[3] ^= 1;
        let changed = String::from_utf8(bytes).unwrap();
        assert!(open(&key, "tools/call t", &changed).is_err());
        assert!(open(&key, "tools/call t", "garbage").is_err());
        // Two keys from the same secret accept each other's states (several instances).
        assert!(open(&StateKey::from_secret(b"k"), "tools/call t", &state).is_ok());
    }
}
