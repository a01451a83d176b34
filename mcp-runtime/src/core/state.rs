//! `requestState` of 2026-07-28 input-required rounds: what the server needs to go on (the
//! answers of earlier rounds, the questions of the last one, what the state is for, until
//! when), sealed with HMAC-SHA256 so that a client can carry it but not change it. The key is
//! random per process unless the app sets one (`McpServer::request_state_key`), which lets
//! several instances accept each other's states.
//!
//! A state is bound to one request: the server, the method and its target (tool, prompt or
//! resource), the arguments and the caller ([`binding`]). It opens only for that request, and
//! only the questions it lists may be answered next: a client cannot carry answers from one
//! call to another, nor answer a question the server never asked.

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

/// What a state is for, as one short string: the server, the request's method and target, its
/// arguments (their JSON, whose keys are sorted), and its caller.
pub(crate) fn binding(
    server: &str,
    method: &str,
    target: &str,
    arguments: Option<&Map<String, Value>>,
    caller: Option<&str>,
) -> String {
    struct Hashing<'a>(&'a mut Sha256);
    impl std::io::Write for Hashing<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.update(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut hash = Sha256::new();
    for part in [server, method, target, caller.unwrap_or("")] {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part.as_bytes());
    }
    if let Some(a) = arguments {
        serde_json::to_writer(Hashing(&mut hash), a).expect("a map of values serializes");
    }
    URL_SAFE_NO_PAD.encode(hash.finalize())
}

/// What an opened state holds: the answers so far, and the keys of the questions the last
/// round asked (the only ones a client may answer now).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Opened {
    pub(crate) answers: Map<String, Value>,
    pub(crate) asked: Vec<String>,
}

/// Seals the answers so far of the request `binding` names, and the keys of the questions
/// `asked` in this round.
pub(crate) fn seal<'a>(
    key: &StateKey,
    binding: &str,
    asked: impl IntoIterator<Item = &'a String>,
    answers: &Map<String, Value>,
) -> String {
    let expires = now_ms().saturating_add(STATE_LIFETIME.as_millis() as u64);
    let asked: Vec<&String> = asked.into_iter().collect();
    let payload = json!({ "t": binding, "a": answers, "q": asked, "e": expires }).to_string();
    let mut mac = key.mac();
    mac.update(payload.as_bytes());
    let tag = mac.finalize().into_bytes();
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(payload.as_bytes()),
        URL_SAFE_NO_PAD.encode(tag)
    )
}

/// Opens a state: what it carries, when it is intact, for the request `binding` names, and not
/// expired.
pub(crate) fn open(key: &StateKey, binding: &str, state: &str) -> Result<Opened, &'static str> {
    const TAMPERED: &str = "`requestState` failed its integrity check: it was not issued by this \
                            server, or it was changed";
    let (payload, tag) = state.split_once('.').ok_or(TAMPERED)?;
    let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| TAMPERED)?;
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| TAMPERED)?;
    let mut mac = key.mac();
    mac.update(&payload);
    mac.verify_slice(&tag).map_err(|_| TAMPERED)?;
    let value: Value = serde_json::from_slice(&payload).map_err(|_| TAMPERED)?;
    if value["t"].as_str() != Some(binding) {
        return Err(
            "`requestState` belongs to another request (another tool, prompt or \
                    resource, other arguments, or another caller)",
        );
    }
    if value["e"].as_u64().is_none_or(|e| e < now_ms()) {
        return Err("`requestState` expired: call again without it");
    }
    let mut value = value;
    let asked = value["q"]
        .as_array()
        .map(|q| {
            q.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let answers = match value["a"].take() {
        Value::Object(a) => a,
        _ => Map::new(),
    };
    Ok(Opened { answers, asked })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_states_open_only_intact_and_for_their_target() {
        let key = StateKey::from_secret(b"k");
        let mut answers = Map::new();
        answers.insert("q1".into(), json!({"action": "accept"}));
        let asked = ["q2".to_owned()];
        let state = seal(&key, "tools/call t", &asked, &answers);
        let opened = open(&key, "tools/call t", &state).unwrap();
        assert_eq!(opened.answers, answers);
        assert_eq!(opened.asked, asked);
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

    #[test]
    fn a_binding_names_the_server_target_arguments_and_caller() {
        let args: Map<String, Value> = serde_json::from_str(r#"{"b": 1, "a": "x"}"#).unwrap();
        let same: Map<String, Value> = serde_json::from_str(r#"{"a": "x", "b": 1}"#).unwrap();
        let other: Map<String, Value> = serde_json::from_str(r#"{"a": "x", "b": 2}"#).unwrap();
        let b = |server, target, args, caller| binding(server, "tools/call", target, args, caller);
        let base = b("crm", "delete", Some(&args), Some("bob"));
        assert_eq!(base, b("crm", "delete", Some(&same), Some("bob")));
        for different in [
            b("slack", "delete", Some(&args), Some("bob")),
            b("crm", "archive", Some(&args), Some("bob")),
            b("crm", "delete", Some(&other), Some("bob")),
            b("crm", "delete", Some(&args), Some("alice")),
            b("crm", "delete", Some(&args), None),
            b("crm", "delete", None, Some("bob")),
        ] {
            assert_ne!(base, different);
        }
        // Parts are length-prefixed: moving a boundary changes the binding.
        assert_ne!(
            binding("ab", "c", "d", None, None),
            binding("a", "bc", "d", None, None)
        );
    }
}
