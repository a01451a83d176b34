//! Every message the runtime emits validates against the official schema of the revision it
//! speaks, for every handshake-era revision.

use crate::fixtures::Counter;
use mcp_runtime::{McpRouterExt as _, McpServer, ProtocolVersion, Transport};
use mcp_tests::{HttpClient, assert_valid, serve};
use serde_json::json;

#[tokio::test]
async fn every_response_validates_in_every_revision() {
    let server = McpServer::new("Fixtures")
        .title("Fixture tools")
        .instructions("Use them in tests.")
        .website_url("https://example.com")
        .domain("fx")
        .state(Counter::default())
        .page_size(4)
        .build()
        .unwrap();
    let addr = serve(axum::Router::new().nest_mcp("/mcp", server.http_app(Transport::Http))).await;
    let calls = [
        ("add", json!({"a": 1, "b": 2})),
        ("echo", json!({"text": "t"})),
        ("greet", json!({"userName": "Ada"})),
        ("fail", json!({"reason": "r"})),
        ("explode", json!({})),
        ("contents", json!({})),
        ("count", json!({})),
        ("whoami", json!({})),
        ("nothing", json!({})),
        ("whole", json!({})),
        ("configured.tool-1", json!({})),
        ("add", json!({"a": "bad"})),
    ];
    for version in ProtocolVersion::HANDSHAKE {
        let v = version.as_str();
        let c = HttpClient::new(format!("http://{addr}/mcp"), Some(v));
        // `HttpClient::request` validates the envelope and the result of each response.
        let init = c
            .result("initialize", json!({"protocolVersion": v, "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}))
            .await;
        assert_eq!(init["protocolVersion"], v);
        c.result("ping", json!({})).await;
        let mut cursor = None;
        let mut pages = 0;
        loop {
            let params = cursor.map_or(json!({}), |c: String| json!({"cursor": c}));
            let page = c.result("tools/list", params).await;
            for tool in page["tools"].as_array().unwrap() {
                assert_valid(v, "Tool", tool);
            }
            pages += 1;
            match page.get("nextCursor") {
                Some(next) => cursor = Some(next.as_str().unwrap().to_owned()),
                None => break,
            }
        }
        assert!(pages > 1, "pagination was exercised");
        for (name, args) in &calls {
            c.request("tools/call", json!({"name": name, "arguments": args}))
                .await;
        }
        // Errors validate too.
        c.request("tools/call", json!({"name": "nope"})).await;
        c.request("nope/nope", json!({})).await;
        c.request("tools/list", json!({"cursor": "bad"})).await;
    }
}

#[test]
fn the_specification_examples_deserialize_into_runtime_types() {
    let dir = mcp_tests::schema_dir().join("2026-07-28/examples/CallToolResult");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
        // An explicit `isError: false` is the default, which the runtime leaves out.
        if value.get("isError") == Some(&serde_json::Value::Bool(false)) {
            value.as_object_mut().unwrap().remove("isError");
        }
        let parsed: mcp_runtime::CallToolResult = serde_json::from_value(value.clone())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut back = serde_json::to_value(&parsed).unwrap();
        // `resultType` belongs to the 2026 envelope, not to the content model.
        if let Some(rt) = value.get("resultType") {
            back["resultType"] = rt.clone();
        }
        assert_eq!(back, value, "{} round-trips", path.display());
        seen += 1;
    }
    assert!(seen > 0);
}
