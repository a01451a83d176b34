//! `mcp_runtime::client` against every fixture this server has, over real HTTP in both eras and
//! over stdio, and again through a proxy: every tool called (with arguments made from its
//! schema), every resource and template read, every prompt got, every completion asked; the
//! server's questions (elicitation, sampling, roots) answered by the client's handler.

use mcp_runtime::client::proxy::Proxy;
use mcp_runtime::client::{Client, ClientError, ClientOptions, Era, Target};
use mcp_runtime::{McpRouterExt as _, McpServer, Transport};
use serde_json::{Map, Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// The conformance server on a free port; killed when dropped.
struct Fixtures {
    child: Child,
    url: String,
}

impl Drop for Fixtures {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Fixtures {
    let mut child = Command::new(env!("CARGO_BIN_EXE_example-conformance"))
        .env("PORT", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the conformance server starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_owned();
    Fixtures { child, url }
}

/// A value of the JSON Schema `schema`: its `default`, its first `enum`, or one of its type.
fn example(schema: &Value) -> Value {
    if let Some(d) = schema.get("default") {
        return d.clone();
    }
    if let Some(Value::Array(e)) = schema.get("enum") {
        return e[0].clone();
    }
    if let Some(Value::Array(one_of)) = schema.get("oneOf")
        && let Some(c) = one_of[0].get("const")
    {
        return c.clone();
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("string") => json!("x"),
        Some("integer") => json!(1),
        Some("number") => json!(1.5),
        Some("boolean") => json!(true),
        Some("array") => {
            let item = schema.get("items").map(example).unwrap_or(json!("x"));
            json!([item])
        }
        _ => {
            let mut object = Map::new();
            let required: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if let Some(Value::Object(properties)) = schema.get("properties") {
                for (name, property) in properties {
                    if required.contains(&name.as_str()) || property.get("default").is_some() {
                        object.insert(name.clone(), example(property));
                    }
                }
            }
            Value::Object(object)
        }
    }
}

/// A client that declares every kind of question and answers each.
fn options(era: Era) -> ClientOptions {
    ClientOptions::default().era(era).answer_with(
        json!({"elicitation": {"form": {}, "url": {}}, "sampling": {}, "roots": {}}),
        |method, params| async move {
            Ok(match method.as_str() {
                "elicitation/create" => match params.get("requestedSchema") {
                    Some(schema) => json!({"action": "accept", "content": example(schema)}),
                    None => json!({"action": "accept"}),
                },
                "sampling/createMessage" => json!({"role": "assistant", "model": "test",
                    "content": {"type": "text", "text": "sampled"}}),
                "roots/list" => json!({"roots": [{"uri": "file:///work", "name": "work"}]}),
                other => panic!("unexpected question {other}"),
            })
        },
    )
}

/// Uses every feature `client` is offered; returns how many requests were answered.
async fn use_everything(client: &Client, what: &str) -> usize {
    let mut answered = 0;
    let mut check = |r: Result<Value, ClientError>, item: &str| match r {
        Ok(_) | Err(ClientError::Rpc(_)) => answered += 1,
        Err(e) => panic!("{what}: {item}: {e}"),
    };
    let tools = client.list_tools().await.unwrap();
    assert!(tools.len() > 20, "{what}: {} tools", tools.len());
    for tool in &tools {
        let name = tool["name"].as_str().unwrap();
        let arguments = example(&tool["inputSchema"]);
        let r = client
            .request("tools/call", json!({"name": name, "arguments": arguments}))
            .await;
        check(r, name);
    }
    for resource in client.list_resources().await.unwrap() {
        let uri = resource["uri"].as_str().unwrap();
        let r = client.read_resource(uri).await;
        assert!(r.is_ok(), "{what}: {uri}: {r:?}");
        check(r, uri);
    }
    for template in client.list_resource_templates().await.unwrap() {
        let text = template["uriTemplate"].as_str().unwrap();
        let uri = text.replace(['{', '}'], "");
        check(client.read_resource(&uri).await, &uri);
        let r = client
            .complete(json!({"type": "ref/resource", "uri": text}), "id", "")
            .await;
        check(r, text);
    }
    for prompt in client.list_prompts().await.unwrap() {
        let name = prompt["name"].as_str().unwrap();
        let mut args = Map::new();
        for a in prompt["arguments"].as_array().into_iter().flatten() {
            args.insert(a["name"].as_str().unwrap().to_owned(), json!("x"));
            let r = client
                .complete(
                    json!({"type": "ref/prompt", "name": name}),
                    a["name"].as_str().unwrap(),
                    "",
                )
                .await;
            check(r, name);
        }
        let r = client.get_prompt(name, Value::Object(args)).await;
        assert!(r.is_ok(), "{what}: {name}: {r:?}");
        check(r, name);
    }
    answered
}

/// A client of `url` in `era`, checked by a question the server asks and the client's
/// handler answers, as the suite's client answers it.
async fn connected(url: &str, era: Era, what: &str) -> Client {
    let client = Client::connect(Target::http(url), options(era))
        .await
        .unwrap();
    let asked = client
        .call_tool("test_elicitation", json!({"message": "Name?"}))
        .await
        .unwrap();
    assert!(!asked.is_error, "{what}: {asked:?}");
    client
}

#[tokio::test]
async fn the_client_uses_every_fixture_in_both_eras_and_over_stdio() {
    let fixtures = start();
    for era in [Era::Handshake, Era::Stateless] {
        let client = connected(&fixtures.url, era, &format!("{era:?}")).await;
        let sampled = client
            .call_tool("test_sampling", json!({"prompt": "Hi"}))
            .await
            .unwrap();
        assert!(
            format!("{sampled:?}").contains("sampled"),
            "{era:?}: {sampled:?}"
        );
        let n = use_everything(&client, &format!("{era:?}")).await;
        assert!(n > 30, "{era:?}: {n}");
    }
    let stdio = Client::connect(
        Target::stdio(env!("CARGO_BIN_EXE_example-conformance"), ["--stdio"]),
        options(Era::Handshake),
    )
    .await
    .unwrap();
    assert_eq!(stdio.server_name(), "conformance-fixtures");
    use_everything(&stdio, "stdio").await;
}

#[tokio::test]
async fn every_fixture_works_through_a_proxy() {
    let fixtures = start();
    let proxy = Proxy::connect(Target::http(&fixtures.url), ClientOptions::default())
        .await
        .unwrap()
        .serve(McpServer::new("Proxy"))
        .await
        .unwrap();
    let app = axum::Router::new().nest_mcp("/mcp", proxy.http_app(Transport::StreamableHttp));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    // The remote's question reaches this client through the proxy, and its answer goes back.
    let client = connected(&url, Era::Handshake, "through the proxy").await;
    let n = use_everything(&client, "through the proxy").await;
    assert!(n > 30, "{n}");
}
