//! Any bytes as the body of a POST, in every era and on every mount: never a panic or a hang,
//! always a well-formed answer, and a request with a valid id is answered with that id.
#![no_main]

use http::{HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use mcp_fuzz::{Mount, SESSION_ERAS, harness, messages};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let h = harness();
    let mut session = None;
    let (mount, headers) = match sel % 8 {
        era @ 0..=3 => {
            let version = SESSION_ERAS[usize::from(era)];
            let id = h.session(version);
            let headers = h.session_headers(version, &id);
            session = Some(id);
            (Mount::Sessions, headers)
        }
        4 => (Mount::Sessions, Vec::new()),
        5 => (Mount::Stateless, modern_headers(body)),
        6 => (Mount::Http, Vec::new()),
        _ => (Mount::Sessions, modern_headers(body)),
    };
    let reply = h.post(mount, &headers, body.to_vec());
    if reply.status == 404
        && let Some(id) = session
    {
        h.forget(&id);
    }
    let answers = messages(&reply);
    // A single request with a valid id gets its answer under that id.
    if let Ok(req) = serde_json::from_slice::<Value>(body)
        && req["jsonrpc"] == "2.0"
        && req["method"].is_string()
        && (req["id"].is_string() || req["id"].is_i64())
        && reply.status == 200
    {
        let last = answers
            .last()
            .expect("a 200 answer to a request carries its response");
        assert_eq!(last["id"], req["id"], "answered under another id: {last}");
    }
    // A request id longer than the server takes is refused, never echoed.
    if let Ok(req) = serde_json::from_slice::<Value>(body)
        && req["id"]
            .as_str()
            .is_some_and(|s| s.len() > mcp_fuzz::MAX_ID_BYTES)
        && reply.status != 404
    {
        assert!(
            answers.iter().all(|a| a["id"] != req["id"]),
            "a long id echoed"
        );
    }
});

/// The headers of the 2026-07-28 revision, read from the body where it can be read.
fn modern_headers(body: &[u8]) -> Vec<(HeaderName, HeaderValue)> {
    let mut headers = vec![(
        HeaderName::from_static("mcp-protocol-version"),
        HeaderValue::from_static("2026-07-28"),
    )];
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        if let Some(m) = v["method"]
            .as_str()
            .and_then(|m| HeaderValue::from_str(m).ok())
        {
            headers.push((HeaderName::from_static("mcp-method"), m));
        }
        let name = v["params"]["name"].as_str().or(v["params"]["uri"].as_str());
        if let Some(n) = name.and_then(|n| HeaderValue::from_str(n).ok()) {
            headers.push((HeaderName::from_static("mcp-name"), n));
        }
    }
    headers
}
