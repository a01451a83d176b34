//! JSON-RPC 2.0 framing and the MCP wire facts shared by every transport: protocol revisions,
//! error codes, and the parsing of one incoming message.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::fmt;

/// A revision of the MCP specification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ProtocolVersion {
    /// `2024-11-05`: the first release; HTTP+SSE transport.
    V2024_11_05,
    /// `2025-03-26`: Streamable HTTP, tool annotations, audio content.
    V2025_03_26,
    /// `2025-06-18`: structured tool output, titles, resource links.
    V2025_06_18,
    /// `2025-11-25`: icons, JSON Schema 2020-12 by default; the newest handshake-era revision.
    V2025_11_25,
    /// `2026-07-28`: the stateless era (`server/discover`, per-request `_meta`).
    V2026_07_28,
}

impl ProtocolVersion {
    /// Every revision, oldest first.
    pub const ALL: [ProtocolVersion; 5] = [
        Self::V2024_11_05,
        Self::V2025_03_26,
        Self::V2025_06_18,
        Self::V2025_11_25,
        Self::V2026_07_28,
    ];
    /// The revisions negotiated by `initialize`, oldest first.
    pub const HANDSHAKE: [ProtocolVersion; 4] = [
        Self::V2024_11_05,
        Self::V2025_03_26,
        Self::V2025_06_18,
        Self::V2025_11_25,
    ];
    /// The newest revision `initialize` negotiates.
    pub const LATEST_HANDSHAKE: ProtocolVersion = Self::V2025_11_25;
    /// What a Streamable HTTP request without `MCP-Protocol-Version` is assumed to speak.
    pub const HTTP_DEFAULT: ProtocolVersion = Self::V2025_03_26;

    /// The revision's date string, as on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::V2024_11_05 => "2024-11-05",
            Self::V2025_03_26 => "2025-03-26",
            Self::V2025_06_18 => "2025-06-18",
            Self::V2025_11_25 => "2025-11-25",
            Self::V2026_07_28 => "2026-07-28",
        }
    }

    /// Parses a revision string; `None` for revisions this runtime does not speak.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Whether the revision is of the stateless era (2026-07-28+): no handshake, no sessions.
    pub const fn is_stateless(self) -> bool {
        matches!(self, Self::V2026_07_28)
    }

    /// Whether the revision has tool `annotations` (2025-03-26+).
    pub(crate) fn has_annotations(self) -> bool {
        self >= Self::V2025_03_26
    }
    /// Whether the revision has `title`, `outputSchema`, `structuredContent`, resource links.
    pub(crate) fn has_structured_output(self) -> bool {
        self >= Self::V2025_06_18
    }
    /// Whether the revision has `icons`.
    pub(crate) fn has_icons(self) -> bool {
        self >= Self::V2025_11_25
    }
    /// Whether the revision has JSON-RPC batches (removed in 2025-06-18).
    pub(crate) fn has_batches(self) -> bool {
        self <= Self::V2025_03_26
    }
    /// Whether the revision has the experimental tasks of 2025-11-25 (`task` on `tools/call`,
    /// `tasks/get`, `tasks/result`, `tasks/list`, `tasks/cancel`); 2026-07-28 moved tasks to
    /// an extension.
    pub(crate) fn has_experimental_tasks(self) -> bool {
        self == Self::V2025_11_25
    }
    /// Whether input-validation failures are tool errors (`isError`) rather than -32602 (SEP-1303).
    pub(crate) fn validation_is_tool_error(self) -> bool {
        self >= Self::V2025_11_25
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A new id for a session or a task: 128 random bits from the OS, hex-encoded.
pub(crate) fn random_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    let mut id = String::with_capacity(32);
    push_hex(&bytes, &mut id);
    id
}

/// Appends `bytes` in lowercase hexadecimal.
pub(crate) fn push_hex(bytes: &[u8], out: &mut String) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
}

/// Whether a client's `id` can be one that [`random_id`] made (32 lowercase hex digits): the
/// ids of sessions and tasks. One that cannot is unknown, answered so without asking any store
/// (a client's text never becomes part of a store's keys).
pub(crate) fn could_be_random_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// 64 random bits from the OS (ids that must be unique across instances).
pub(crate) fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    u64::from_le_bytes(bytes)
}

/// The revision to answer `initialize` with: the client's, if spoken here, else the newest.
/// The one place where the handshake era negotiates.
pub(crate) fn negotiate(requested: &str) -> ProtocolVersion {
    ProtocolVersion::parse(requested)
        .filter(|v| ProtocolVersion::HANDSHAKE.contains(v))
        .unwrap_or(ProtocolVersion::LATEST_HANDSHAKE)
}

/// The methods of the stateless era (2026-07-28); any other is answered 404 with -32601.
pub(crate) const STATELESS_METHODS: [&str; 16] = [
    "server/discover",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "subscriptions/listen",
    "tasks/get",
    "tasks/update",
    "tasks/cancel",
    "skills/list",
    "skills/get",
    "resources/directory/read",
];

/// A result serialized for `version`: from 2026-07-28 on it opens with
/// `"resultType":"complete"`, and `extra`'s fields follow its own. Written once, straight into
/// the raw value (no second parse).
pub(crate) fn complete_result<T: Serialize>(
    version: ProtocolVersion,
    result: &T,
    extra: Option<&Value>,
) -> Box<serde_json::value::RawValue> {
    #[derive(Serialize)]
    struct Typed<'a, T> {
        #[serde(rename = "resultType", skip_serializing_if = "Option::is_none")]
        result_type: Option<&'static str>,
        #[serde(flatten)]
        result: &'a T,
        #[serde(flatten, skip_serializing_if = "Option::is_none")]
        extra: Option<&'a Value>,
    }
    let stateless = version.is_stateless();
    if !stateless && extra.is_none() {
        return serde_json::value::to_raw_value(result).expect("results serialize");
    }
    serde_json::value::to_raw_value(&Typed {
        result_type: stateless.then_some("complete"),
        result,
        extra,
    })
    .expect("results serialize")
}

/// Whether `held` covers every scope of `needed`. A held scope covers itself and the scopes
/// below it: `crm` covers `crm:write`.
pub(crate) fn scopes_cover(held: &[String], needed: &[String]) -> bool {
    needed.iter().all(|n| {
        held.iter().any(|h| {
            h == n
                || n.strip_prefix(h.as_str())
                    .is_some_and(|rest| rest.starts_with(':'))
        })
    })
}

/// The JSON-RPC error for a caller lacking the scopes of a tool, resource or prompt (`name`);
/// transports answer it with 403.
pub(crate) fn insufficient_scope_error(name: &str, needed: &[String]) -> RpcError {
    RpcError::new(
        code::INSUFFICIENT_SCOPE,
        format!("insufficient scope: `{name}` needs {}", needed.join(" ")),
    )
    .with_data(serde_json::json!({ "name": name, "tool": name, "requiredScopes": needed }))
}

/// JSON-RPC and MCP error codes.
pub mod code {
    /// Invalid JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// Valid JSON that is not a JSON-RPC message.
    pub const INVALID_REQUEST: i64 = -32600;
    /// Unknown method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Bad parameters, unknown tool.
    pub const INVALID_PARAMS: i64 = -32602;
    /// A fault inside the server.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// The caller's credentials lack a scope the tool requires (implementation-defined; sent
    /// with HTTP 403).
    pub const INSUFFICIENT_SCOPE: i64 = -32003;
    /// The request needs a client capability the client did not declare (2026-07-28).
    pub const MISSING_CAPABILITY: i64 = -32021;
    /// A resource that does not exist (handshake era; 2026-07-28 uses -32602).
    pub const RESOURCE_NOT_FOUND: i64 = -32002;
    /// Refused or cut short by the server's transport: no session, too many, shutting down
    /// (implementation-defined).
    pub const SERVER_ERROR: i64 = -32000;
    /// A shared store (sessions, tasks) is down or slow; sent with HTTP 503
    /// (implementation-defined).
    pub const STORE_UNAVAILABLE: i64 = -32004;
    /// Refused by a rate limit or a concurrency cap of the server's middleware; `data` names
    /// the limit (`limit`) and, for a rate, when to retry (`retryAfterMs`); sent with HTTP 429
    /// (implementation-defined).
    pub const RATE_LIMITED: i64 = -32005;
}

/// A JSON-RPC error object.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RpcError {
    /// The error code (see [`code`]).
    pub code: i64,
    /// A message a person can act on.
    pub message: String,
    /// Details for programs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

// The constructors are `#[cold]`: a branch that makes an error is laid out away from the
// request path, which stays dense in the instruction cache.
impl RpcError {
    /// An error with a code and a message.
    #[cold]
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: crate::bounds::capped(message.into()),
            data: None,
        }
    }
    /// Adds `data`.
    #[cold]
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }
    #[cold]
    pub(crate) fn invalid_request(msg: impl Into<String>) -> Self {
        Self::new(code::INVALID_REQUEST, msg)
    }
    #[cold]
    pub(crate) fn invalid_params(msg: impl Into<String>) -> Self {
        Self::new(code::INVALID_PARAMS, msg)
    }
    /// A request the server stopped when it shut down, before it finished.
    #[cold]
    pub(crate) fn shut_down() -> Self {
        Self::new(
            code::SERVER_ERROR,
            "the server shut down before the call finished",
        )
    }
    #[cold]
    pub(crate) fn method_not_found(method: &str) -> Self {
        Self::new(
            code::METHOD_NOT_FOUND,
            format!("method not found: `{}`", crate::bounds::shown(method)),
        )
        .with_data(serde_json::json!({ "method": crate::bounds::shown(method).json() }))
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (JSON-RPC error {})", self.message, self.code)
    }
}

impl std::error::Error for RpcError {}

/// A JSON-RPC request id: a string or an integer, echoed back verbatim.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestId {
    /// An integer id.
    Number(i64),
    /// A string id.
    String(String),
}

impl RequestId {
    /// The id as an error message or log line shows it: a long string id cut, with its length.
    pub(crate) fn shown(&self) -> String {
        match self {
            Self::Number(n) => n.to_string(),
            Self::String(s) => format!("\"{}\"", crate::bounds::shown(s)),
        }
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(n) => write!(f, "{n}"),
            Self::String(s) => write!(f, "{s:?}"),
        }
    }
}

/// The raw shape of any JSON-RPC message; classified by [`Message::parse_value`].
#[derive(Deserialize)]
struct RawMessage {
    jsonrpc: Option<IsV2>,
    #[serde(default, deserialize_with = "present")]
    id: Option<Value>,
    method: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    params: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    result: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    error: Option<Value>,
}

/// The `jsonrpc` member: whether it is the string `"2.0"`, read without keeping a copy.
struct IsV2(bool);

impl<'de> Deserialize<'de> for IsV2 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
        struct Read;
        impl<'de> Visitor<'de> for Read {
            type Value = IsV2;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"2.0\"")
            }
            fn visit_str<E>(self, v: &str) -> Result<IsV2, E> {
                Ok(IsV2(v == "2.0"))
            }
            // Any other JSON value is present but not "2.0".
            fn visit_bool<E>(self, _: bool) -> Result<IsV2, E> {
                Ok(IsV2(false))
            }
            fn visit_i64<E>(self, _: i64) -> Result<IsV2, E> {
                Ok(IsV2(false))
            }
            fn visit_u64<E>(self, _: u64) -> Result<IsV2, E> {
                Ok(IsV2(false))
            }
            fn visit_f64<E>(self, _: f64) -> Result<IsV2, E> {
                Ok(IsV2(false))
            }
            fn visit_unit<E>(self) -> Result<IsV2, E> {
                Ok(IsV2(false))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<IsV2, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(IsV2(false))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<IsV2, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(IsV2(false))
            }
        }
        d.deserialize_any(Read)
    }
}

/// Distinguishes a present `null` (`Some(Null)`) from an absent field (`None`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// One incoming JSON-RPC message.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Message {
    /// A request, which gets a response.
    Request {
        /// The id to answer with.
        id: RequestId,
        /// The method.
        method: String,
        /// The params, if any.
        params: Option<Value>,
    },
    /// A notification, which gets none.
    Notification {
        /// The method.
        method: String,
        /// The params, if any.
        params: Option<Value>,
    },
    /// A response to a request the server sent.
    Response {
        /// The id of the server's request.
        id: RequestId,
        /// The result or the error.
        result: Result<Value, Value>,
    },
}

/// Why a message could not be taken, with the id to answer (when one could be read).
#[derive(Debug)]
pub(crate) struct Rejected {
    /// The id of the message, when it had a valid one.
    pub id: Option<RequestId>,
    /// The error to answer with.
    pub error: RpcError,
}

impl Message {
    /// Parses one JSON text: invalid JSON is -32700, JSON that is not a message is -32600.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Message, Rejected> {
        match serde_json::from_slice::<RawMessage>(bytes) {
            Ok(raw) => Self::classify(raw),
            Err(e) if e.is_data() => Err(Rejected {
                id: None,
                error: RpcError::invalid_request(
                    "the body is JSON but not a JSON-RPC 2.0 message: expected an object \
                     with `jsonrpc`, `method` and (for requests) `id`",
                ),
            }),
            Err(e) => Err(Rejected {
                id: None,
                error: RpcError::new(
                    code::PARSE_ERROR,
                    format!("the body is not valid JSON: {e}"),
                ),
            }),
        }
    }

    /// Classifies an already-parsed JSON value (one element of a batch).
    pub(crate) fn parse_value(value: Value) -> Result<Message, Rejected> {
        match serde_json::from_value::<RawMessage>(value) {
            Ok(raw) => Self::classify(raw),
            Err(_) => Err(Rejected {
                id: None,
                error: RpcError::invalid_request("a batch element is not a JSON-RPC 2.0 message"),
            }),
        }
    }

    fn classify(raw: RawMessage) -> Result<Message, Rejected> {
        let id = match raw.id {
            None => None,
            Some(Value::String(s)) if s.len() > crate::bounds::MAX_ID_BYTES => Some(Err(format!(
                "`id` is a string of {} bytes; an id may have at most {}",
                s.len(),
                crate::bounds::MAX_ID_BYTES
            ))),
            Some(Value::String(s)) => Some(Ok(RequestId::String(s))),
            Some(Value::Number(n)) => Some(
                n.as_i64()
                    .map(RequestId::Number)
                    .ok_or_else(|| "`id` must be a string or an integer".to_owned()),
            ),
            Some(Value::Null) => Some(Err("`id` must not be null".to_owned())),
            Some(_) => Some(Err("`id` must be a string or an integer".to_owned())),
        };
        let valid_id = id.as_ref().and_then(|r| r.as_ref().ok()).cloned();
        let reject = |msg: String| Rejected {
            id: valid_id.clone(),
            error: RpcError::invalid_request(msg),
        };
        match raw.jsonrpc {
            Some(IsV2(true)) => {}
            Some(IsV2(false)) => return Err(reject("`jsonrpc` must be \"2.0\"".into())),
            None => return Err(reject("missing `jsonrpc: \"2.0\"`".into())),
        }
        let id = match id {
            Some(Err(msg)) => return Err(reject(msg)),
            Some(Ok(id)) => Some(id),
            None => None,
        };
        let params = match raw.params {
            None | Some(Value::Null) => None,
            Some(p @ Value::Object(_)) => Some(p),
            Some(_) => return Err(reject("`params` must be an object".into())),
        };
        match (raw.method, id) {
            (Some(Value::String(method)), Some(id)) => Ok(Message::Request { id, method, params }),
            (Some(Value::String(method)), None) => Ok(Message::Notification { method, params }),
            (Some(_), _) => Err(reject("`method` must be a string".into())),
            (None, Some(id)) => match (raw.result, raw.error) {
                (Some(r), None) => Ok(Message::Response { id, result: Ok(r) }),
                (None, Some(e)) => Ok(Message::Response { id, result: Err(e) }),
                _ => Err(reject(
                    "a response needs exactly one of `result` and `error`".into(),
                )),
            },
            (None, None) => Err(reject("missing `method`".into())),
        }
    }
}

/// The client's declared capabilities (`initialize`, or a 2026-07-28 request's `_meta`), refused
/// past [`crate::bounds::MAX_KEPT_BYTES`] of JSON: a session, or a task started by the request,
/// keeps them. Real clients declare a few hundred bytes.
pub(crate) fn check_capabilities(capabilities: &Value, field: &str) -> Result<(), RpcError> {
    let len = json_len(capabilities);
    let max = crate::bounds::MAX_KEPT_BYTES;
    if len > max {
        return Err(RpcError::invalid_params(format!(
            "{field} is {len} bytes of JSON; the server keeps at most {max}"
        )));
    }
    Ok(())
}

/// The length of `value` written as compact JSON, without writing it anywhere.
pub(crate) fn json_len(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value).expect("a Value always serializes");
    count.0
}

/// Serializes a response envelope around an already-serialized result.
pub(crate) fn response_bytes(id: &RequestId, result: &serde_json::value::RawValue) -> Vec<u8> {
    let mut out = Vec::with_capacity(result.get().len() + 48);
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    serde_json::to_writer(&mut out, id).expect("ids serialize");
    out.extend_from_slice(b",\"result\":");
    out.extend_from_slice(result.get().as_bytes());
    out.push(b'}');
    out
}

/// Serializes an error response. When the request's id could not be read, `id` is left out,
/// as the MCP schema has it (2025-11-25+: `id` is optional and never `null`).
pub(crate) fn error_bytes(id: Option<&RequestId>, error: &RpcError) -> Vec<u8> {
    #[derive(Serialize)]
    struct Envelope<'a> {
        jsonrpc: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a RequestId>,
        error: &'a RpcError,
    }
    serde_json::to_vec(&Envelope {
        jsonrpc: "2.0",
        id,
        error,
    })
    .expect("errors serialize")
}

/// A server-to-client notification.
pub(crate) fn notification_bytes(method: &str, params: &Value) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "jsonrpc": "2.0",
        "method": method,
        "params": params,
    }))
    .expect("notifications serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        let m = Message::parse(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).unwrap();
        assert!(matches!(
            m,
            Message::Request {
                id: RequestId::Number(1),
                ..
            }
        ));
        let m =
            Message::parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap();
        assert!(matches!(m, Message::Notification { .. }));
        let m = Message::parse(br#"{"jsonrpc":"2.0","id":"a","result":{}}"#).unwrap();
        assert!(matches!(m, Message::Response { .. }));
    }

    #[test]
    fn rejects() {
        let e = Message::parse(b"{not json").unwrap_err();
        assert_eq!(e.error.code, code::PARSE_ERROR);
        let e = Message::parse(b"42").unwrap_err();
        assert_eq!(e.error.code, code::INVALID_REQUEST);
        let e = Message::parse(br#"{"jsonrpc":"1.0","id":3,"method":"x"}"#).unwrap_err();
        assert_eq!(e.error.code, code::INVALID_REQUEST);
        assert_eq!(e.id, Some(RequestId::Number(3)));
        let e = Message::parse(br#"{"jsonrpc":"2.0","id":null,"method":"x"}"#).unwrap_err();
        assert_eq!(e.error.code, code::INVALID_REQUEST);
        let e = Message::parse(br#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#).unwrap_err();
        assert_eq!(e.error.code, code::INVALID_REQUEST);
        let e =
            Message::parse(br#"{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}"#).unwrap_err();
        assert_eq!(e.error.code, code::INVALID_REQUEST);
    }

    #[test]
    fn the_jsonrpc_member_is_the_string_2_0() {
        // Any JSON value but "2.0" (or null, or none) is named as the fault, with the id kept.
        for jsonrpc in [
            "2",
            "2.0",
            "true",
            "null",
            "[\"2.0\"]",
            r#"{"v":"2.0"}"#,
            r#""1.0""#,
        ] {
            let text = format!(r#"{{"jsonrpc":{jsonrpc},"id":7,"method":"x"}}"#);
            let e = Message::parse(text.as_bytes()).unwrap_err();
            assert_eq!(e.error.code, code::INVALID_REQUEST, "{text}");
            assert_eq!(e.id, Some(RequestId::Number(7)), "{text}");
            let expected = if jsonrpc == "null" {
                "missing `jsonrpc: \"2.0\"`"
            } else {
                "`jsonrpc` must be \"2.0\""
            };
            assert_eq!(e.error.message, expected, "{text}");
        }
        // Escaped, it is still the string "2.0"; in a batch element too.
        let m = Message::parse(br#"{"jsonrpc":"2\u002e0","id":1,"method":"ping"}"#).unwrap();
        assert!(matches!(m, Message::Request { .. }));
        let m = Message::parse_value(serde_json::json!({"jsonrpc": "2.0", "method": "x"})).unwrap();
        assert!(matches!(m, Message::Notification { .. }));
        let e = Message::parse_value(serde_json::json!({"jsonrpc": 2, "method": "x"})).unwrap_err();
        assert_eq!(e.error.code, code::INVALID_REQUEST);
    }

    #[test]
    fn envelopes() {
        let raw = serde_json::value::RawValue::from_string("{}".into()).unwrap();
        let bytes = response_bytes(&RequestId::String("x".into()), &raw);
        assert_eq!(bytes, br#"{"jsonrpc":"2.0","id":"x","result":{}}"#);
    }
}
