//! Every message the runtime emits validates against the official schema of the revision it
//! speaks, for every handshake-era revision.

use crate::fixtures::Counter;
use mcp_runtime::{McpRouterExt as _, McpServer, Transport, protocol::ProtocolVersion};
use mcp_tests::{HttpClient, assert_valid, serve};
use serde_json::{Value, json};

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
        let mut value: Value = serde_json::from_str(&text).unwrap();
        // An explicit `isError: false` is the default, which the runtime leaves out.
        if value.get("isError") == Some(&Value::Bool(false)) {
            value.as_object_mut().unwrap().remove("isError");
        }
        let parsed: mcp_runtime::content::CallToolResult = serde_json::from_value(value.clone())
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

/// A small deterministic generator (xorshift), so that the inputs are the same every run.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, in_four: u64) -> bool {
        self.below(4) < in_four
    }

    /// A value for `schema` (resolving `$ref` in `defs`), sometimes deliberately wrong, and
    /// leaving optional properties out at random. Explicit `null` for an optional argument is
    /// not generated: the compatible schema describes optional arguments by their absence.
    fn value(&mut self, schema: &Value, defs: &Value, depth: u32) -> Value {
        if depth > 4 {
            return json!({});
        }
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let name = r.rsplit('/').next().unwrap();
            return self.value(&defs[name], defs, depth + 1);
        }
        if let Some(branches) = schema
            .get("anyOf")
            .or(schema.get("oneOf"))
            .and_then(Value::as_array)
        {
            let non_null: Vec<&Value> = branches.iter().filter(|b| b["type"] != "null").collect();
            let pick = non_null[self.below(non_null.len() as u64) as usize];
            return self.value(pick, defs, depth + 1);
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            let non_null: Vec<&Value> = values.iter().filter(|v| !v.is_null()).collect();
            return non_null[self.below(non_null.len() as u64) as usize].clone();
        }
        // One in eight values is of a wrong type, to check the schemas agree on refusals too.
        if self.below(8) == 0 {
            return [
                json!("wrong"),
                json!(1.5),
                json!([1]),
                json!({"x": 1}),
                json!(true),
            ][self.below(5) as usize]
                .clone();
        }
        let ty = match &schema["type"] {
            Value::String(t) => t.clone(),
            Value::Array(ts) => ts
                .iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null")
                .unwrap_or("null")
                .to_owned(),
            _ => "object".to_owned(),
        };
        match ty.as_str() {
            "integer" => {
                // Within the range the schema states (`minimum`/`maximum`, or the integer
                // `format` schemars writes, which describes the Rust type's range).
                let format = schema["format"].as_str().unwrap_or("int64");
                let (lo, hi): (i64, i64) = match format {
                    "uint8" => (0, 255),
                    "uint16" => (0, 65_535),
                    "uint32" => (0, u32::MAX.into()),
                    "int8" => (-128, 127),
                    "int16" => (-32_768, 32_767),
                    "int32" => (i32::MIN.into(), i32::MAX.into()),
                    f if f.starts_with('u') => (0, i64::MAX),
                    _ => (i64::MIN, i64::MAX),
                };
                let lo = schema["minimum"].as_i64().map_or(lo, |m| m.max(lo));
                let hi = schema["maximum"].as_i64().map_or(hi, |m| m.min(hi));
                json!(match self.below(4) {
                    0 => lo,
                    1 => hi,
                    _ => lo.saturating_add((self.below(1_000) as i64).min(hi.saturating_sub(lo))),
                })
            }
            "number" => json!(self.below(10_000) as f64 / 7.0),
            "boolean" => json!(self.chance(2)),
            "string" => json!(format!("s{}", self.below(100))),
            "array" => {
                let items = schema.get("items").cloned().unwrap_or(json!({}));
                let n = self.below(3);
                Value::Array(
                    (0..n)
                        .map(|_| self.value(&items, defs, depth + 1))
                        .collect(),
                )
            }
            "object" => {
                let required: Vec<&str> = schema["required"]
                    .as_array()
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let mut out = serde_json::Map::new();
                if let Some(props) = schema["properties"].as_object() {
                    for (name, prop) in props {
                        // Required ones are sometimes left out too.
                        let keep = if required.contains(&name.as_str()) {
                            self.below(10) != 0
                        } else {
                            self.chance(2)
                        };
                        if keep {
                            out.insert(name.clone(), self.value(prop, defs, depth + 1));
                        }
                    }
                }
                Value::Object(out)
            }
            _ => Value::Null,
        }
    }
}

/// For inputs generated from each derived tool schema, the compatible schema (what clients
/// before 2026-07-28 are shown) accepts every input the full 2020-12 schema accepts, and the
/// server's own argument parsing accepts what both accept.
#[tokio::test]
async fn compatible_schemas_accept_what_the_full_schemas_accept() {
    let full_server = McpServer::new("Full")
        .domain("fx")
        .state(Counter::default())
        .tool_schemas(mcp_runtime::catalog::ToolSchemas::Full)
        .build()
        .unwrap();
    let compat_server = McpServer::new("Compat")
        .domain("fx")
        .state(Counter::default())
        .build()
        .unwrap();
    let full = full_server.client().list_tools().await.unwrap();
    let compat = compat_server.client().list_tools().await.unwrap();
    let mut rng = Gen(0x9e37_79b9_7f4a_7c15);
    let (mut accepted, mut refused) = (0, 0);
    // Tools whose bodies have effects beyond their result are not called.
    let callable = ["add", "echo", "greet", "plan", "count", "nothing", "whoami"];
    for (f, c) in full.iter().zip(&compat) {
        let name = f["name"].as_str().unwrap();
        assert_eq!(c["name"], name);
        let full_schema = &f["inputSchema"];
        let compat_schema = &c["inputSchema"];
        assert!(compat_schema.get("$schema").is_none(), "{name}");
        assert_eq!(compat_schema["type"], "object", "{name}");
        let full_v = jsonschema::validator_for(full_schema).unwrap();
        let compat_v = jsonschema::validator_for(compat_schema).unwrap();
        let defs = full_schema.get("$defs").cloned().unwrap_or(json!({}));
        for _ in 0..200 {
            let input = rng.value(full_schema, &defs, 0);
            let by_full = full_v.is_valid(&input);
            if by_full {
                accepted += 1;
                assert!(
                    compat_v.is_valid(&input),
                    "{name}: the compatible schema refuses {input}, which the full one accepts\n{compat_schema:#}"
                );
                if callable.contains(&name) {
                    let r = compat_server.call_tool(name, input.clone()).await.unwrap();
                    let text = mcp_tests::text(&serde_json::to_value(&r).unwrap()).to_owned();
                    // Only the arguments are checked here: a body may still fail on extreme
                    // values (`plan` adds up minutes).
                    assert!(
                        !(r.is_error && text.contains("invalid arguments")),
                        "{name}: the server refused {input}: {text}"
                    );
                }
            } else {
                refused += 1;
            }
        }
    }
    assert!(
        accepted > 500 && refused > 100,
        "{accepted} accepted, {refused} refused"
    );
}
