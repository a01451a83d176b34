//! Batches of every kind of message: each request of an accepted batch is answered exactly once
//! under its id (unless the batch cancels it), a batch where the revision has none or past the
//! size limit is refused as a whole, and nothing panics or hangs.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mcp_fuzz::{MAX_ID_BYTES, Mount, SESSION_ERAS, harness, messages};
use serde_json::{Value, json};
use std::collections::HashMap;

#[derive(Arbitrary, Debug)]
enum Id {
    Small(u8),
    Num(i64),
    Str(String),
}

impl Id {
    fn json(&self) -> Value {
        match self {
            Id::Small(n) => json!(n % 8),
            Id::Num(n) => json!(n),
            Id::Str(s) => json!(s),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Elem {
    Call {
        id: Id,
        tool: u8,
        text: String,
        n: u8,
    },
    Ping(Id),
    List {
        id: Id,
        kind: u8,
        cursor: Option<String>,
    },
    Read {
        id: Id,
        uri: String,
    },
    /// `resources/subscribe` of a URI the server serves, one it does not, or one too long.
    Subscribe {
        id: Id,
        uri: String,
        long: bool,
    },
    /// A ping whose id is longer than the server takes: refused without its id.
    LongId(u8),
    Prompt {
        id: Id,
        name: String,
    },
    Complete {
        id: Id,
        value: String,
    },
    Unknown {
        id: Id,
        method: String,
    },
    Initialize(Id),
    Initialized,
    Cancel(Id),
    Response(Id),
    FloatId(f64),
    NotAnObject(i64),
    Nested,
}

#[derive(Arbitrary, Debug)]
struct Input {
    era: u8,
    elems: Vec<Elem>,
}

fn request(id: &Id, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id.json(), "method": method, "params": params})
}

fuzz_target!(|input: Input| {
    let h = harness();
    let version = SESSION_ERAS[usize::from(input.era % 4)];
    let session = h.session(version);
    let mut expected: HashMap<String, usize> = HashMap::new();
    let mut cancels = false;
    let mut batch = Vec::new();
    for e in &input.elems {
        let (msg, id) = match e {
            Elem::Call { id, tool, text, n } => {
                let (name, args) = match tool % 5 {
                    0 => ("echo", json!({"text": text})),
                    1 => ("add", json!({"a": n, "b": text.len()})),
                    2 => ("steps", json!({"n": n})),
                    3 => ("fail", json!({})),
                    _ => (text.as_str(), json!({"text": n})),
                };
                (
                    request(id, "tools/call", json!({"name": name, "arguments": args})),
                    Some(id),
                )
            }
            Elem::Ping(id) => (request(id, "ping", json!({})), Some(id)),
            Elem::List { id, kind, cursor } => {
                let method = [
                    "tools/list",
                    "resources/list",
                    "resources/templates/list",
                    "prompts/list",
                ][usize::from(kind % 4)];
                let params = match cursor {
                    Some(c) => json!({"cursor": c}),
                    None => json!({}),
                };
                (request(id, method, params), Some(id))
            }
            Elem::Read { id, uri } => {
                let uri = if uri.is_empty() {
                    "fuzz://files/a/v1"
                } else {
                    uri
                };
                (request(id, "resources/read", json!({"uri": uri})), Some(id))
            }
            Elem::Subscribe { id, uri, long } => {
                let uri = if *long {
                    format!("fuzz://files/{}/v1", "u".repeat(9000))
                } else {
                    format!("fuzz://files/{uri}/v1")
                };
                (
                    request(id, "resources/subscribe", json!({"uri": uri})),
                    Some(id),
                )
            }
            Elem::LongId(n) => (
                json!({"jsonrpc": "2.0", "id": "i".repeat(MAX_ID_BYTES + 1 + usize::from(*n)),
                    "method": "ping"}),
                None,
            ),
            Elem::Prompt { id, name } => (
                request(
                    id,
                    "prompts/get",
                    json!({"name": "greet", "arguments": {"name": name}}),
                ),
                Some(id),
            ),
            Elem::Complete { id, value } => (
                request(
                    id,
                    "completion/complete",
                    json!({
                        "ref": {"type": "ref/resource", "uri": "fuzz://files/{name}/v{version}"},
                        "argument": {"name": "name", "value": value}
                    }),
                ),
                Some(id),
            ),
            Elem::Unknown { id, method } => (request(id, method, json!({})), Some(id)),
            Elem::Initialize(id) => (
                request(
                    id,
                    "initialize",
                    json!({
                        "protocolVersion": version, "capabilities": {},
                        "clientInfo": {"name": "fuzz", "version": "0"}
                    }),
                ),
                Some(id),
            ),
            Elem::Initialized => (
                json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
                None,
            ),
            Elem::Cancel(id) => {
                cancels = true;
                (
                    json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                        "params": {"requestId": id.json()}}),
                    None,
                )
            }
            Elem::Response(id) => (
                json!({"jsonrpc": "2.0", "id": id.json(), "result": {}}),
                None,
            ),
            Elem::FloatId(f) => (json!({"jsonrpc": "2.0", "id": f, "method": "ping"}), None),
            Elem::NotAnObject(n) => (json!(n), None),
            Elem::Nested => (json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}]), None),
        };
        // An id longer than the server takes is answered without it.
        if let Some(id) = id
            && !matches!(id, Id::Str(s) if s.len() > MAX_ID_BYTES)
        {
            *expected.entry(id.json().to_string()).or_default() += 1;
        }
        batch.push(msg);
    }
    let body = serde_json::to_vec(&Value::Array(batch)).unwrap();
    let reply = h.post(Mount::Sessions, &h.session_headers(version, &session), body);
    if reply.status == 404 {
        h.forget(&session);
        return;
    }
    let answers = messages(&reply);
    let batches_allowed = matches!(version, "2024-11-05" | "2025-03-26");
    if !batches_allowed || input.elems.is_empty() || input.elems.len() > 100 {
        assert_eq!(
            reply.status, 400,
            "a batch that must be refused whole: {answers:?}"
        );
        assert_eq!(answers.len(), 1);
        assert!(answers[0]["error"].is_object());
        return;
    }
    assert!(
        matches!(reply.status, 200 | 202),
        "status {}: {answers:?}",
        reply.status
    );
    let mut got: HashMap<String, usize> = HashMap::new();
    for a in &answers {
        if !a["id"].is_null() {
            *got.entry(a["id"].to_string()).or_default() += 1;
        }
    }
    for (id, n) in &got {
        let want = expected.get(id).copied().unwrap_or(0);
        assert!(
            *n <= want,
            "id {id} answered {n} times for {want} requests: {answers:?}"
        );
    }
    if !cancels {
        for (id, want) in &expected {
            let n = got.get(id).copied().unwrap_or(0);
            assert_eq!(
                n, *want,
                "id {id} answered {n} times for {want} requests: {answers:?}"
            );
        }
    }
});
