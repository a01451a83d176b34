//! Skills over real HTTP (the wire details the TypeScript SDK's `SkillsClient` checks run in
//! CI against the article): scopes hide a skill from whoever lacks them, its files are
//! resources read byte for byte (text or blob) but only its SKILL.md is listed, folders list
//! their children, and a skill that breaks the extension's rules is a build error.

use axum::Router;
use mcp_runtime::auth::{ApiKeyAuth, Principal};
use mcp_runtime::catalog::Skill;
use mcp_runtime::{McpRouterExt as _, McpServer, Transport};
use mcp_tests::{HttpClient, serve};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

const META: &str = r#"{"io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {}}"#;

async fn app() -> String {
    let server = McpServer::new("skills")
        .auth(ApiKeyAuth::keys([
            ("reader", Principal::new("ada")),
            (
                "admin",
                Principal {
                    scopes: vec!["admin".into()],
                    ..Principal::new("root")
                },
            ),
        ]))
        .skill(
            Skill::new(
                "refunds",
                "Process refunds: the steps",
                "Check the order first.",
            )
            .file("data/table.bin", vec![0xff_u8, 0, 1])
            .under("billing"),
        )
        .skill(
            Skill::new("rotate-keys", "Rotate the API keys", "Carefully.")
                .require_scopes(["admin"]),
        )
        .build()
        .unwrap();
    let addr =
        serve(Router::new().nest_mcp("/mcp", server.http_app(Transport::StreamableHttp))).await;
    format!("http://{addr}/mcp")
}

fn client(url: &str, key: &str, version: &str) -> HttpClient {
    HttpClient::new(url, Some(version)).header("x-api-key", key)
}

fn params(extra: Value) -> Value {
    let mut p = extra;
    p["_meta"] = serde_json::from_str(META).unwrap();
    p
}

#[tokio::test]
async fn skills_are_listed_got_and_read_per_caller() {
    let url = app().await;
    let reader = client(&url, "reader", "2026-07-28").header("mcp-method", "skills/list");
    let list = reader.request("skills/list", params(json!({}))).await["result"].take();
    assert_eq!(list["resultType"], "complete");
    assert_eq!(list["cacheScope"], "private");
    let uris: Vec<&str> = list["skills"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["uri"].as_str().unwrap())
        .collect();
    assert_eq!(
        uris,
        ["skill://billing/refunds/SKILL.md"],
        "the admin's skill is not listed"
    );
    let skill = &list["skills"][0];
    assert_eq!(
        skill["frontmatter"]["description"],
        "Process refunds: the steps"
    );
    let manifest = skill["resources"].as_array().unwrap();
    assert_eq!(manifest.len(), 2);

    // Each file reads back as the bytes its digest and size were made of.
    for file in manifest {
        let uri = file["uri"].as_str().unwrap();
        let read = HttpClient::new(&url, Some("2026-07-28"))
            .header("x-api-key", "reader")
            .header("mcp-method", "resources/read")
            .header("mcp-name", uri)
            .result("resources/read", params(json!({ "uri": uri })))
            .await;
        let contents = &read["contents"][0];
        let bytes = match contents.get("text") {
            Some(t) => t.as_str().unwrap().as_bytes().to_vec(),
            None => base64_decode(contents["blob"].as_str().unwrap()),
        };
        assert_eq!(bytes.len() as u64, file["size"].as_u64().unwrap(), "{uri}");
        let digest = format!("sha256:{:x}", Sha256::digest(&bytes));
        assert_eq!(digest, file["digest"], "{uri}");
        if uri.ends_with(".bin") {
            assert!(
                contents.get("blob").is_some(),
                "bytes that are not UTF-8 are a blob"
            );
        }
    }

    // Only SKILL.md is listed among the resources.
    let resources = client(&url, "reader", "2026-07-28")
        .header("mcp-method", "resources/list")
        .result("resources/list", params(json!({})))
        .await;
    let listed: Vec<&str> = resources["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uri"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["skill://billing/refunds/SKILL.md"]);
    assert_eq!(resources["resources"][0]["name"], "refunds");

    // Folders.
    let dir = client(&url, "reader", "2026-07-28")
        .header("mcp-method", "resources/directory/read")
        .result(
            "resources/directory/read",
            params(json!({ "uri": "skill://billing/refunds" })),
        )
        .await;
    let names: Vec<&str> = dir["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["SKILL.md", "data"]);
    assert_eq!(dir["resources"][1]["mimeType"], "inode/directory");
    let not_a_folder = client(&url, "reader", "2026-07-28")
        .header("mcp-method", "resources/directory/read")
        .request(
            "resources/directory/read",
            params(json!({ "uri": "skill://billing/refunds/SKILL.md" })),
        )
        .await;
    assert_eq!(not_a_folder["error"]["code"], -32602);

    // The admin's skill: got by the admin, refused to the reader as to no one who may see it.
    let admin = client(&url, "admin", "2026-07-28").header("mcp-method", "skills/list");
    let all = admin.result("skills/list", params(json!({}))).await;
    assert_eq!(all["skills"].as_array().unwrap().len(), 2);
    let uri = "skill://rotate-keys/SKILL.md";
    let got = client(&url, "admin", "2026-07-28")
        .header("mcp-method", "skills/get")
        .result("skills/get", params(json!({ "uri": uri })))
        .await;
    assert_eq!(got["skill"]["uri"], uri);
    let refused = client(&url, "reader", "2026-07-28")
        .header("mcp-method", "skills/get")
        .post_raw(
            json!({"jsonrpc": "2.0", "id": 1, "method": "skills/get", "params": params(json!({ "uri": uri }))})
                .to_string(),
        )
        .await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    let unknown = client(&url, "reader", "2026-07-28")
        .header("mcp-method", "skills/get")
        .request(
            "skills/get",
            params(json!({ "uri": "skill://nope/SKILL.md" })),
        )
        .await;
    assert_eq!(unknown["error"]["code"], -32602);
    assert!(
        unknown["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("No skill is served at")
    );
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

#[test]
fn a_skill_that_breaks_the_rules_is_a_build_error() {
    let err = McpServer::new("x")
        .skill(Skill::new("Bad Name", "d", ""))
        .skill(Skill::new("ok", "d", "").file("../escape", "x"))
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("skill `skill://Bad Name/SKILL.md`"), "{err}");
    assert!(err.contains("`../escape`"), "{err}");
}
