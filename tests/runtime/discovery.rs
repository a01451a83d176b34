//! Discovery documents over real HTTP: each mount's server card (`<mount>/server-card`, the
//! server card draft) written from the facts `server/discover` gives, valid against the draft's
//! own schema, public (CORS, an `ETag`, `304`), behind the host rules; and the app's AI catalog
//! listing the cards of its mounts.

use axum::Router;
use mcp_runtime::auth::{ApiKeyAuth, JwtVerifier, Principal};
use mcp_runtime::catalog::{Icon, Tool};
use mcp_runtime::http::{AiCatalog, HttpOptions};
use mcp_runtime::{McpRouterExt as _, McpServer, Server, Transport};
use mcp_tests::{HttpClient, assert_valid, call_2026, http, serve};
use serde_json::{Value, json};

fn crm() -> Server {
    McpServer::new("CRM")
        .version("2.1.0")
        .title("Acme CRM")
        .description("Projects and customers of the Acme demo")
        .website_url("https://example.com/crm")
        .icon(Icon {
            src: "https://example.com/crm.png".into(),
            mime_type: Some("image/png".into()),
            sizes: vec!["48x48".into()],
            theme: None,
        })
        .auth(ApiKeyAuth::keys([("k", Principal::new("ada"))]))
        .add_tool(Tool::new("ping", |_, _| async { "pong" }))
        .build()
        .unwrap()
}

async fn get(url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = http()
        .get(url)
        .header("accept", "application/mcp-server-card+json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn a_mount_s_card_says_what_server_discover_says_and_how_to_connect() {
    let crm = crm();
    let app = Router::new().nest_mcp("/mcp/crm", crm.http_app(Transport::StreamableHttp));
    let addr = serve(app).await;
    let base = format!("http://{addr}/mcp/crm");

    let res = get(&format!("{base}/server-card"), &[]).await;
    assert_eq!(res.status(), 200);
    let h = res.headers().clone();
    assert_eq!(h["content-type"], "application/mcp-server-card+json");
    assert_eq!(h["access-control-allow-origin"], "*");
    assert_eq!(h["access-control-expose-headers"], "ETag");
    assert_eq!(h["cache-control"], "public, max-age=3600");
    let etag = h["etag"].to_str().unwrap().to_owned();
    let card: Value = res.json().await.unwrap();
    assert_valid("server-card", "ServerCard", &card);

    // Without credentials: the card is public; its facts are the ones the server gives a
    // client that has them.
    let discover = HttpClient::new(base.clone(), Some("2026-07-28"))
        .header("x-api-key", "k")
        .header("mcp-method", "server/discover")
        .result(
            "server/discover",
            json!({ "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
            }}),
        )
        .await;
    let info = &discover["_meta"]["io.modelcontextprotocol/serverInfo"];
    assert_eq!(card["version"], info["version"]);
    assert_eq!(card["title"], info["title"]);
    assert_eq!(card["description"], info["description"]);
    assert_eq!(card["websiteUrl"], info["websiteUrl"]);
    assert_eq!(card["icons"], info["icons"]);
    assert_eq!(
        info["description"],
        "Projects and customers of the Acme demo"
    );
    // No registry name given: the host reversed (an address as it is) and the server's name.
    assert_eq!(card["name"], "127.0.0.1/crm");

    let remotes = card["remotes"].as_array().unwrap();
    assert_eq!(remotes.len(), 2, "{card:#}");
    assert_eq!(remotes[0]["type"], "streamable-http");
    assert_eq!(remotes[0]["url"], base.as_str());
    assert_eq!(
        remotes[0]["supportedProtocolVersions"],
        discover["supportedVersions"]
    );
    assert_eq!(remotes[1]["type"], "sse");
    assert_eq!(remotes[1]["url"], format!("{base}/sse"));
    assert!(
        !remotes[1]["supportedProtocolVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("2026-07-28"))
    );
    // The credential header by name, a required secret; never a value.
    assert_eq!(
        remotes[0]["headers"],
        json!([{
            "name": "x-api-key",
            "description": "An API key of the app's",
            "isRequired": true,
            "isSecret": true,
        }])
    );
    // Each remote is where it says: the streamable one answers MCP, the legacy one opens.
    let pong = call_2026(
        remotes[0]["url"].as_str().unwrap(),
        "ping",
        json!({}),
        &[("x-api-key", "k")],
    )
    .await;
    assert_eq!(pong["result"]["content"][0]["text"], "pong");
    let sse = http()
        .get(remotes[1]["url"].as_str().unwrap())
        .header("accept", "text/event-stream")
        .header("x-api-key", "k")
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);
    drop(sse);

    // Revalidation: the client's tag gets 304 without a body; a stale one gets the card.
    let again = get(&format!("{base}/server-card"), &[("if-none-match", &etag)]).await;
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"], etag.as_str());
    assert!(again.bytes().await.unwrap().is_empty());
    let stale = get(
        &format!("{base}/server-card"),
        &[("if-none-match", "\"0123456789abcdef0123456789abcdef\"")],
    )
    .await;
    assert_eq!(stale.status(), 200);

    // A browser on any origin may read it: the preflight is answered, the origin not refused.
    let preflight = http()
        .request(reqwest::Method::OPTIONS, format!("{base}/server-card"))
        .header("origin", "https://registry.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "if-none-match")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    assert!(
        preflight.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("If-None-Match")
    );
    let cross = get(
        &format!("{base}/server-card"),
        &[("origin", "https://registry.example")],
    )
    .await;
    assert_eq!(cross.status(), 200);
    // The host rules hold: a rebound name reaching a loopback server is refused.
    let rebound = get(&format!("{base}/server-card"), &[("host", "evil.example")]).await;
    assert_eq!(rebound.status(), 403);
    // Only read.
    let post = http()
        .post(format!("{base}/server-card"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(post.headers()["allow"], "GET, HEAD, OPTIONS");
}

#[tokio::test]
async fn cards_follow_the_mount_the_options_and_the_authenticator() {
    let jwt = McpServer::new("Slack")
        .registry_name("com.example/slack")
        .auth(JwtVerifier::new(
            "http://127.0.0.1:9/jwks",
            "https://issuer.example",
            "slack",
        ))
        .add_tool(Tool::new("ping", |_, _| async { "pong" }))
        .build()
        .unwrap();
    let open = McpServer::new("Open")
        .add_tool(Tool::new("ping", |_, _| async { "pong" }))
        .build()
        .unwrap();
    let inner = Router::new()
        .nest_mcp("/mcp/slack", jwt.http_app(Transport::Http))
        .nest_mcp(
            "/mcp/public",
            open.http_app_with(
                Transport::StreamableHttp,
                HttpOptions::default().public_url("https://api.example.com/"),
            ),
        )
        .nest_mcp(
            "/mcp/hidden",
            open.http_app_with(
                Transport::StreamableHttp,
                HttpOptions::default().server_card(false),
            ),
        );
    let addr = serve(Router::new().nest("/v2", inner)).await;

    // Under an outer prefix, request-response only, a bearer token with its form.
    let card: Value = get(&format!("http://{addr}/v2/mcp/slack/server-card"), &[])
        .await
        .json()
        .await
        .unwrap();
    assert_valid("server-card", "ServerCard", &card);
    assert_eq!(card["name"], "com.example/slack");
    assert_eq!(card["description"], "Slack", "the name when nothing better");
    let remotes = card["remotes"].as_array().unwrap();
    assert_eq!(remotes.len(), 1, "no legacy endpoint on Transport::Http");
    assert_eq!(remotes[0]["url"], format!("http://{addr}/v2/mcp/slack"));
    let header = &remotes[0]["headers"][0];
    assert_eq!(header["name"], "Authorization");
    assert_eq!(header["value"], "Bearer {token}");
    assert_eq!(header["variables"]["token"]["isSecret"], true);

    // The public URL the app gives, and no credentials asked of an open server.
    let card: Value = get(&format!("http://{addr}/v2/mcp/public/server-card"), &[])
        .await
        .json()
        .await
        .unwrap();
    assert_valid("server-card", "ServerCard", &card);
    assert_eq!(card["name"], "com.example.api/open");
    assert_eq!(
        card["remotes"][0]["url"],
        "https://api.example.com/v2/mcp/public"
    );
    assert!(card["remotes"][0].get("headers").is_none());

    // Turned off: nothing there.
    let none = get(&format!("http://{addr}/v2/mcp/hidden/server-card"), &[]).await;
    assert_eq!(none.status(), 404);
}

#[tokio::test]
async fn the_ai_catalog_lists_every_card_of_the_app() {
    let crm = crm();
    let open = McpServer::new("Open")
        .add_tool(Tool::new("ping", |_, _| async { "pong" }))
        .build()
        .unwrap();
    let app = Router::new()
        .nest_mcp("/mcp", open.http_app(Transport::StreamableHttp))
        .nest_mcp("/mcp/crm", crm.http_app(Transport::StreamableHttp))
        .ai_catalog(
            AiCatalog::new()
                .host_name("Acme")
                .server("/mcp", &open)
                .server("/mcp/crm/", &crm),
        );
    let addr = serve(app).await;
    let url = format!("http://{addr}/.well-known/ai-catalog.json");
    let res = get(&url, &[]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/ai-catalog+json");
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let catalog: Value = res.json().await.unwrap();
    assert_eq!(catalog["specVersion"], "1.0");
    assert_eq!(catalog["host"]["displayName"], "Acme");
    let entries = catalog["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["identifier"], "urn:air:127.0.0.1:mcp:mcp");
    assert_eq!(entries[1]["identifier"], "urn:air:127.0.0.1:mcp:mcp-crm");
    assert_eq!(entries[1]["displayName"], "Acme CRM");
    assert_eq!(
        entries[1]["description"],
        "Projects and customers of the Acme demo"
    );
    for entry in entries {
        assert_eq!(entry["type"], "application/mcp-server-card+json");
        // Every entry leads to its card, which names the same server.
        let card = get(entry["url"].as_str().unwrap(), &[]).await;
        assert_eq!(card.status(), 200, "{entry}");
        let card: Value = card.json().await.unwrap();
        assert_valid("server-card", "ServerCard", &card);
        assert_eq!(card["version"], entry["version"]);
    }
    assert_eq!(get(&url, &[("if-none-match", &etag)]).await.status(), 304);
}

#[tokio::test]
async fn server_info_carries_the_description_and_icons_where_the_revision_has_them() {
    let crm = crm();
    let addr = serve(Router::new().nest_mcp("/mcp", crm.http_app(Transport::Http))).await;
    let url = format!("http://{addr}/mcp");
    for (version, has) in [("2025-11-25", true), ("2025-06-18", false)] {
        let init = HttpClient::new(url.clone(), Some(version))
            .header("x-api-key", "k")
            .result(
                "initialize",
                json!({
                    "protocolVersion": version,
                    "capabilities": {},
                    "clientInfo": { "name": "t", "version": "1" },
                }),
            )
            .await;
        let info = &init["serverInfo"];
        assert_eq!(info.get("description").is_some(), has, "{version}: {info}");
        assert_eq!(info.get("icons").is_some(), has, "{version}: {info}");
    }
}

#[test]
fn a_registry_name_that_is_not_one_is_a_build_error() {
    let err = McpServer::new("x")
        .registry_name("no-slash")
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("registry name `no-slash`"), "{err}");
}
