//! The 2026-07-28 routing headers (`Mcp-Method`, `Mcp-Name`, `MCP-Protocol-Version`), plain or
//! in the `=?base64?…?=` form, against the body: a request is served only when each header says
//! what the body says; never a panic.
#![no_main]

use arbitrary::Arbitrary;
use base64::Engine as _;
use http::{HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use mcp_fuzz::{Mount, harness, messages};
use serde_json::{Value, json};

#[derive(Arbitrary, Debug)]
enum Choice {
    Absent,
    Exact,
    Padded,
    Base64Exact,
    Base64Of(Vec<u8>),
    Base64Text(String),
    Text(String),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    stateless: bool,
    request: u8,
    arg: String,
    method: Choice,
    name: Choice,
    version: Choice,
}

fn value(choice: &Choice, exact: &str) -> Option<Vec<u8>> {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    match choice {
        Choice::Absent => None,
        Choice::Exact => Some(exact.as_bytes().to_vec()),
        Choice::Padded => Some(format!("  {exact} ").into_bytes()),
        Choice::Base64Exact => Some(format!("=?base64?{}?=", b64(exact.as_bytes())).into_bytes()),
        Choice::Base64Of(b) => Some(format!("=?base64?{}?=", b64(b)).into_bytes()),
        Choice::Base64Text(t) => Some(format!("=?base64?{t}?=").into_bytes()),
        Choice::Text(t) => Some(t.clone().into_bytes()),
        Choice::Raw(b) => Some(b.clone()),
    }
}

/// What a header value says, decoded as the revision describes (independently of the server).
fn decoded(raw: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(raw).ok()?.trim();
    match text
        .strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
    {
        Some(b64) => {
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64).ok()?).ok()
        }
        None => Some(text.to_owned()),
    }
}

fuzz_target!(|input: Input| {
    let (method, name, params) = match input.request % 4 {
        0 => (
            "tools/call",
            Some("echo"),
            json!({"name": "echo", "arguments": {"text": input.arg}}),
        ),
        1 => (
            "prompts/get",
            Some("greet"),
            json!({"name": "greet", "arguments": {"name": input.arg}}),
        ),
        2 => (
            "resources/read",
            Some("fuzz://readme"),
            json!({"uri": "fuzz://readme"}),
        ),
        _ => ("tools/list", None, json!({})),
    };
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "fuzz", "version": "0"},
    });
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params});
    let mut headers = Vec::new();
    let mut sent = Vec::new();
    for (header, choice, exact) in [
        ("mcp-method", &input.method, method),
        ("mcp-name", &input.name, name.unwrap_or("")),
        ("mcp-protocol-version", &input.version, "2026-07-28"),
    ] {
        let v = value(choice, exact);
        if let Some(v) = &v {
            let Ok(hv) = HeaderValue::from_bytes(v) else {
                return;
            };
            headers.push((HeaderName::from_static(header), hv));
        }
        sent.push(v);
    }
    let mount = if input.stateless {
        Mount::Stateless
    } else {
        Mount::Sessions
    };
    let reply = harness().post(mount, &headers, serde_json::to_vec(&body).unwrap());
    let answers = messages(&reply);
    if reply.status == 200 {
        let answer: &Value = answers.last().expect("an answer");
        if answer.get("result").is_some() {
            // Served: the method header said the body's method, and the name header (where
            // the method has a name) said the body's name.
            let said = |i: usize| sent[i].as_deref().and_then(decoded);
            assert_eq!(
                said(0).as_deref(),
                Some(method),
                "served with a wrong Mcp-Method"
            );
            if let Some(name) = name {
                assert_eq!(
                    said(1).as_deref(),
                    Some(name),
                    "served with a wrong Mcp-Name"
                );
            }
        }
    }
});
