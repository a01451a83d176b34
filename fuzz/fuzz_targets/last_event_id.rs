//! `Last-Event-ID` on the GET that resumes a stream: event ids the server gave out, changed a
//! little or replaced by any bytes. Never a panic; the id the server gave is resumed; anything
//! else is refused with a clear status, not an open stream of someone else's events.
#![no_main]

use arbitrary::Arbitrary;
use axum::body::Body;
use http::Request;
use libfuzzer_sys::fuzz_target;
use mcp_fuzz::{Mount, SESSION_ERAS, harness, messages};
use serde_json::json;

#[derive(Arbitrary, Debug)]
enum Shape {
    /// An id the server gave, as it was.
    Given(u8),
    /// An id the server gave with bytes appended.
    Appended(u8, Vec<u8>),
    /// An id the server gave with its last `n` bytes cut.
    Cut(u8, u8),
    /// An id the server gave with one byte replaced.
    Flipped(u8, u8, u8),
    /// Any bytes.
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    era: u8,
    steps: u8,
    shape: Shape,
}

fuzz_target!(|input: Input| {
    let h = harness();
    // Streams with event ids exist from 2025-03-26 on.
    let version = SESSION_ERAS[1 + usize::from(input.era % 3)];
    let session = h.session(version);
    let headers = h.session_headers(version, &session);
    // A call answered as an SSE stream, whose events have ids.
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "steps", "arguments": {"n": input.steps % 4}}});
    let reply = h.post(
        Mount::Sessions,
        &headers,
        serde_json::to_vec(&call).unwrap(),
    );
    if reply.status == 404 {
        h.forget(&session);
        return;
    }
    messages(&reply);
    let ids: Vec<Vec<u8>> = std::str::from_utf8(&reply.body)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("id:"))
        .map(|id| id.trim().as_bytes().to_vec())
        .collect();
    let pick = |n: u8| ids.get(usize::from(n) % ids.len().max(1)).cloned();
    let (value, given) = match input.shape {
        Shape::Given(n) => (pick(n), true),
        Shape::Appended(n, extra) => (
            pick(n).map(|mut id| {
                id.extend(extra);
                id
            }),
            false,
        ),
        Shape::Cut(n, cut) => (
            pick(n).map(|id| id[..id.len().saturating_sub(usize::from(cut % 8) + 1)].to_vec()),
            false,
        ),
        Shape::Flipped(n, at, byte) => (
            pick(n).map(|mut id| {
                if !id.is_empty() {
                    let i = usize::from(at) % id.len();
                    id[i] = byte;
                }
                id
            }),
            false,
        ),
        Shape::Raw(bytes) => (Some(bytes), false),
    };
    let Some(value) = value else { return };
    let mut req = Request::get(Mount::Sessions.path())
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", version);
    let Ok(v) = http::HeaderValue::from_bytes(&value) else {
        return;
    };
    req = req.header("last-event-id", v);
    let (status, res_headers) = h.send_head(req.body(Body::empty()).unwrap());
    assert!(
        matches!(status, 200 | 400 | 404 | 409),
        "status {status} for {value:?}"
    );
    if status == 200 {
        assert_eq!(res_headers["content-type"], "text/event-stream");
    }
    if given && !value.is_empty() {
        assert_eq!(
            status, 200,
            "an id the server gave was not resumed: {value:?}"
        );
    }
});
