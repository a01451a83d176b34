//! The article app, started as the real binary on 127.0.0.1: REST and every MCP tool over HTTP,
//! on the same database, with the API keys stored in it.

use mcp_tests::{HttpClient, text};
use serde_json::{Value, json};
use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// The running binary; killed on drop.
struct App {
    child: Child,
    base: String,
    db: PathBuf,
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn temp_db(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("example-article-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("article.db")
}

fn start(db: PathBuf) -> App {
    start_with(db, &[])
}

fn start_with(db: PathBuf, env: &[(&str, &str)]) -> App {
    spawn(db, env, Stdio::inherit())
}

fn spawn(db: PathBuf, env: &[(&str, &str)], stderr: Stdio) -> App {
    let mut child = Command::new(env!("CARGO_BIN_EXE_example-article"))
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("DATABASE_PATH", &db)
        .env("DEMO_API_KEY", "test-key")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("the example starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_owned();
    App { child, base, db }
}

fn mcp(app: &App, path: &str, key: Option<&str>) -> HttpClient {
    let c = HttpClient::new(format!("{}{path}", app.base), Some("2025-11-25"));
    match key {
        Some(k) => c.header("x-api-key", k),
        None => c,
    }
}

#[tokio::test]
async fn rest_and_health() {
    let app = start(temp_db("rest"));
    let http = mcp_tests::http();
    let health: Value = http
        .get(format!("{}/health", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health, json!({"status": "ok"}));
    let res = http
        .get(format!("{}/api/v1/projects", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    let res = http
        .post(format!("{}/api/v1/projects", app.base))
        .header("x-api-key", "test-key")
        .json(&json!({"name": "From REST"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let list: Value = http
        .get(format!("{}/api/v1/projects", app.base))
        .header("x-api-key", "test-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["From REST", "Mobile app", "Website relaunch"]);
}

#[tokio::test]
async fn the_seed_curl_lists_tools_on_every_mount() {
    let app = start(temp_db("curl"));
    let http = mcp_tests::http();
    for (path, expected) in [
        ("/mcp/", vec!["get_status"]),
        ("/mcp", vec!["get_status"]),
        (
            "/mcp/crm/",
            vec![
                "create_project",
                "delete_project",
                "export_projects",
                "list_projects",
                "search_documents",
            ],
        ),
        ("/mcp/slack", vec!["list_channels", "post_message"]),
    ] {
        // curl -X POST …/mcp/ -H "x-api-key: …" -H "Content-Type: application/json" \
        //   -d '{"jsonrpc":"2.0","method":"tools/list","id":1}'
        let res = http
            .post(format!("{}{path}", app.base))
            .header("content-type", "application/json")
            .header("accept", "*/*")
            .header("x-api-key", "test-key")
            .body(r#"{"jsonrpc":"2.0","method":"tools/list","id":1}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200, "{path}");
        let body: Value = res.json().await.unwrap();
        let names: Vec<_> = body["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, expected, "{path}");
        mcp_tests::assert_valid_response("2025-03-26", "tools/list", &body);
    }
}

#[tokio::test]
async fn every_tool_over_http() {
    let app = start(temp_db("tools"));
    let api = mcp(&app, "/mcp/", None);
    let init = api
        .result("initialize", json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}))
        .await;
    assert_eq!(init["serverInfo"]["name"], "API Tools");
    assert_eq!(
        text(&api.call("get_status", json!({})).await),
        "All systems operational"
    );

    let crm = mcp(&app, "/mcp/crm", Some("test-key"));
    let listed = crm.call("list_projects", json!({})).await;
    assert_eq!(
        listed["structuredContent"]["result"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let created = crm
        .call(
            "create_project",
            json!({"name": "From MCP", "description": "via a tool"}),
        )
        .await;
    assert_eq!(created["structuredContent"]["name"], "From MCP");
    let listed = crm.call("list_projects", json!({"limit": 1})).await;
    assert_eq!(listed["structuredContent"]["result"][0]["name"], "From MCP");
    // The REST API sees what the tool created: one database.
    let rest = get_json(format!("{}/api/v1/projects", app.base), Some("test-key")).await;
    assert_eq!(rest[0]["name"], "From MCP");
    let hits = crm
        .call("search_documents", json!({"query": "relaunch"}))
        .await;
    let titles: Vec<_> = hits["structuredContent"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Copy deck"]);
    let hits = crm
        .call("search_documents", json!({"query": "private"}))
        .await;
    assert_eq!(
        hits["structuredContent"]["result"],
        json!([]),
        "other users' documents stay hidden"
    );

    let slack = mcp(&app, "/mcp/slack/", Some("test-key"));
    let channels = slack.call("list_channels", json!({})).await;
    assert_eq!(
        channels["structuredContent"]["result"][0]["name"],
        "engineering"
    );
    let posted = slack
        .call(
            "post_message",
            json!({"channel": "#general", "text": "hello"}),
        )
        .await;
    assert_eq!(posted["structuredContent"]["author"], "Demo User");
    assert_eq!(posted["structuredContent"]["channel"], "general");
    let missing = slack
        .call("post_message", json!({"channel": "nope", "text": "x"}))
        .await;
    assert_eq!(missing["isError"], true);
    assert!(text(&missing).contains("no channel named `nope`"));
}

#[tokio::test]
async fn api_keys_are_checked_before_any_tool_runs() {
    let app = start(temp_db("keys"));
    for (path, key, expected) in [
        (
            "/mcp/crm",
            None,
            "missing API key: send it in the `x-api-key` header",
        ),
        ("/mcp/crm", Some("wrong-key"), "invalid API key"),
        (
            "/mcp/slack",
            None,
            "missing API key: send it in the `x-api-key` header",
        ),
    ] {
        let mut req = mcp_tests::http()
            .post(format!("{}{path}", app.base))
            .header("content-type", "application/json")
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "create_project", "arguments": {"name": "x"}}}));
        if let Some(k) = key {
            req = req.header("x-api-key", k);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status().as_u16(), 401, "{path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error_description"], expected, "{path}");
    }
    // Nothing was created by the refused calls.
    let crm = mcp(&app, "/mcp/crm", Some("test-key"));
    let listed = crm.call("list_projects", json!({})).await;
    assert_eq!(
        listed["structuredContent"]["result"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // The open mount needs no key.
    let open = mcp(&app, "/mcp", None);
    assert_eq!(
        text(&open.call("get_status", json!({})).await),
        "All systems operational"
    );
}

#[tokio::test]
async fn slack_takes_jwt_bearer_tokens_when_configured() {
    use base64::Engine as _;
    use p256::pkcs8::EncodePrivateKey as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let signing = p256::ecdsa::SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    let point = signing.verifying_key().to_encoded_point(false);
    let jwk = json!({"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": "k1",
        "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap())});
    let jwks = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let body = json!({"keys": [jwk.clone()]}).to_string();
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    body,
                )
            }
        }),
    );
    let jwks_addr = mcp_tests::serve(jwks).await;
    let (iss, aud) = (
        "https://login.example.test/",
        "https://api.example.test/mcp/slack",
    );
    let app = start_with(
        temp_db("jwt"),
        &[
            ("JWKS_URI", &format!("http://{jwks_addr}/jwks.json")),
            ("JWT_ISSUER", iss),
            ("JWT_AUDIENCE", aud),
        ],
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("k1".into());
    let key = jsonwebtoken::EncodingKey::from_ec_der(signing.to_pkcs8_der().unwrap().as_bytes());
    let token = |scope: &str| {
        jsonwebtoken::encode(
            &header,
            &json!({"iss": iss, "aud": aud, "sub": "jwt-user", "exp": now + 600, "scope": scope}),
            &key,
        )
        .unwrap()
    };

    let url = format!("{}/mcp/slack/", app.base);
    let post = |auth: Option<String>| {
        let mut req = mcp_tests::http()
            .post(&url)
            .header("content-type", "application/json")
            .header("mcp-protocol-version", "2025-11-25")
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "post_message", "arguments": {"channel": "general", "text": "hi"}}}));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        req.send()
    };
    let res = post(None).await.unwrap();
    assert_eq!(res.status().as_u16(), 401);
    let challenge = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    let metadata = format!(
        "{}/.well-known/oauth-protected-resource/mcp/slack",
        app.base
    );
    assert!(
        challenge.contains(&format!("resource_metadata=\"{metadata}\"")),
        "{challenge}"
    );
    let doc: Value = mcp_tests::http()
        .get(&metadata)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["resource"], format!("{}/mcp/slack", app.base));
    assert_eq!(doc["authorization_servers"], json!([iss]));

    let res = post(Some(format!("Bearer {}", token("chat:read"))))
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403, "posting needs chat:write");
    let res = post(Some(format!("Bearer {}", token("chat:read chat:write"))))
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["result"]["structuredContent"]["author"], "jwt-user");
    // An API key is no bearer token here.
    let res = mcp_tests::http()
        .post(&url)
        .header("content-type", "application/json")
        .header("x-api-key", "test-key")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
}

#[tokio::test]
async fn the_database_is_created_once_and_kept() {
    let db = temp_db("persist");
    {
        let app = start(db.clone());
        let crm = mcp(&app, "/mcp/crm", Some("test-key"));
        crm.call("create_project", json!({"name": "Kept"})).await;
    }
    let app = start(db);
    assert!(app.db.exists());
    let crm = mcp(&app, "/mcp/crm", Some("test-key"));
    let listed = crm.call("list_projects", json!({})).await;
    let names: Vec<_> = listed["structuredContent"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["Kept", "Mobile app", "Website relaunch"]);
}

#[tokio::test]
async fn every_era_and_the_legacy_sse_endpoints() {
    every_era_and_the_legacy_sse_endpoints_with(&[]).await;
    // With Redis, a single client sees exactly the same.
    if !mcp_tests::needs(mcp_tests::REDIS) {
        return;
    }
    let redis = mcp_tests::Redis::start();
    every_era_and_the_legacy_sse_endpoints_with(&[("REDIS_URL", &redis.url)]).await;
}

async fn every_era_and_the_legacy_sse_endpoints_with(env: &[(&str, &str)]) {
    let app = start_with(temp_db(&format!("eras-{}", env.len())), env);
    let http = mcp_tests::http();
    // 2026-07-28: stateless, per-request _meta, headers matching the body.
    let res = http
        .post(format!("{}/mcp/crm", app.base))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("x-api-key", "test-key")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "list_projects")
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": "list_projects", "arguments": {},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {}
            }}}),
        )
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    mcp_tests::assert_valid("2026-07-28", "CallToolResultResponse", &body);
    assert_eq!(
        body["result"]["structuredContent"]["result"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // A session of the handshake era.
    let res = http
        .post(format!("{}/mcp/slack/", app.base))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("x-api-key", "test-key")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}))
        .send()
        .await
        .unwrap();
    assert!(res.headers().contains_key("mcp-session-id"));

    // The legacy HTTP+SSE transport: GET /sse announces the POST endpoint under the mount.
    let res = http
        .get(format!("{}/mcp/slack/sse", app.base))
        .header("accept", "text/event-stream")
        .header("x-api-key", "test-key")
        .send()
        .await
        .unwrap();
    let mut events = mcp_tests::SseReader::new(res);
    let endpoint = events.next().await.unwrap();
    assert_eq!(endpoint.event.as_deref(), Some("endpoint"));
    assert!(endpoint.data.starts_with("/mcp/slack/messages?sessionId="));
    let res = http
        .post(format!("{}{}", app.base, endpoint.data))
        .header("content-type", "application/json")
        .header("x-api-key", "test-key")
        .json(&json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "list_channels", "arguments": {}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 202);
    let answer = events.next().await.unwrap().json();
    assert_eq!(answer["id"], 7);
    assert_eq!(answer["result"]["content"][0]["type"], "text");
}

/// The status of a `tools/list` POST to `/mcp/crm/` with the demo key and these headers.
async fn crm_list_status(app: &App, headers: &[(&str, &str)]) -> u16 {
    let mut req = mcp_tests::http()
        .post(format!("{}/mcp/crm/", app.base))
        .header("content-type", "application/json")
        .header("x-api-key", "test-key");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn look_alike_origins_and_dns_rebinding_are_refused() {
    let app = start(temp_db("origins"));
    let port = app.base.rsplit(':').next().unwrap().to_owned();
    assert_eq!(crm_list_status(&app, &[]).await, 200);
    let local_origin = format!("http://localhost:{port}");
    assert_eq!(
        crm_list_status(&app, &[("origin", &local_origin)]).await,
        200
    );
    for origin in [
        "http://127.0.0.1.evil.example",
        "https://127.attacker.example",
        "http://localhost.evil.example",
    ] {
        assert_eq!(
            crm_list_status(&app, &[("origin", origin)]).await,
            403,
            "{origin}"
        );
    }
    // A page on evil.example whose name was rebound to 127.0.0.1: Host and Origin agree.
    let host = format!("evil.example:{port}");
    let origin = format!("http://evil.example:{port}");
    let attack = [("host", host.as_str()), ("origin", origin.as_str())];
    assert_eq!(crm_list_status(&app, &attack).await, 403);
    assert_eq!(
        crm_list_status(&app, &attack[..1]).await,
        403,
        "foreign Host on loopback"
    );
    // A non-ASCII key is an invalid key (401), not a missing one.
    let res = mcp_tests::http()
        .post(format!("{}/mcp/crm/", app.base))
        .header("content-type", "application/json")
        .header(
            "x-api-key",
            reqwest::header::HeaderValue::from_bytes(b"\xe9\xe9\xe9").unwrap(),
        )
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("`x-api-key` header is not readable")
    );
}

#[tokio::test]
async fn a_proxy_on_this_machine_forwards_its_public_host() {
    let app = start_with(
        temp_db("proxied"),
        &[("PUBLIC_HOSTS", "api.example.test, www.example.test")],
    );
    let proxied = [
        ("host", "api.example.test"),
        ("x-forwarded-for", "198.51.100.4"),
    ];
    assert_eq!(crm_list_status(&app, &proxied).await, 200);
    let browser = [
        ("host", "api.example.test"),
        ("origin", "https://api.example.test"),
    ];
    assert_eq!(crm_list_status(&app, &browser).await, 200);
    let port = app.base.rsplit(':').next().unwrap().to_owned();
    let host = format!("evil.example:{port}");
    let origin = format!("http://evil.example:{port}");
    assert_eq!(
        crm_list_status(&app, &[("host", &host), ("origin", &origin)]).await,
        403
    );
}

#[tokio::test]
async fn projects_as_resources_prompts_and_completions() {
    projects_as_resources_prompts_and_completions_with(&[]).await;
    // With Redis, a single client sees exactly the same.
    if !mcp_tests::needs(mcp_tests::REDIS) {
        return;
    }
    let redis = mcp_tests::Redis::start();
    projects_as_resources_prompts_and_completions_with(&[("REDIS_URL", &redis.url)]).await;
}

async fn projects_as_resources_prompts_and_completions_with(env: &[(&str, &str)]) {
    let app = start_with(temp_db(&format!("resources-{}", env.len())), env);
    let http = mcp_tests::http();
    // A project created over REST…
    let created: Value = http
        .post(format!("{}/api/v1/projects", app.base))
        .header("x-api-key", "test-key")
        .json(&json!({"name": "From REST", "description": "Made over REST"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_i64().unwrap();
    let uri = format!("crm://projects/{id}");
    // …is the same over REST's new route and as an MCP resource.
    let rest: Value = http
        .get(format!("{}/api/v1/projects/{id}", app.base))
        .header("x-api-key", "test-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rest, created);
    let crm = mcp(&app, "/mcp/crm/", Some("test-key"));
    crm.result(
        "initialize",
        json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}),
    )
    .await;
    let templates = crm.result("resources/templates/list", json!({})).await;
    assert_eq!(
        templates["resourceTemplates"][0]["uriTemplate"],
        "crm://projects/{id}"
    );
    let read = crm.result("resources/read", json!({"uri": uri})).await;
    let contents = &read["contents"][0];
    assert_eq!(contents["mimeType"], "application/json");
    let as_json: Value = serde_json::from_str(contents["text"].as_str().unwrap()).unwrap();
    assert_eq!(as_json, created);
    // Another owner's project (id 3, seeded for user 2) is as unknown as a missing one.
    for other in ["crm://projects/3", "crm://projects/999"] {
        let e = crm.request("resources/read", json!({"uri": other})).await;
        assert_eq!(e["error"]["code"], -32002, "{other}");
        assert_eq!(e["error"]["data"]["uri"], other);
    }
    // The brief prompt embeds the resource.
    let prompts = crm.result("prompts/list", json!({})).await;
    assert_eq!(prompts["prompts"][0]["name"], "project_brief");
    assert_eq!(prompts["prompts"][0]["arguments"][0]["required"], true);
    let brief = crm
        .result(
            "prompts/get",
            json!({"name": "project_brief", "arguments": {"project_id": id.to_string()}}),
        )
        .await;
    assert_eq!(brief["messages"][0]["content"]["resource"]["uri"], uri);
    assert!(
        brief["messages"][1]["content"]["text"]
            .as_str()
            .unwrap()
            .contains("From REST")
    );
    let missing = crm
        .request(
            "prompts/get",
            json!({"name": "project_brief", "arguments": {}}),
        )
        .await;
    assert_eq!(missing["error"]["code"], -32602);
    assert!(
        missing["error"]["message"]
            .as_str()
            .unwrap()
            .contains("project_id")
    );
    // Completion of project ids comes from the key owner's projects only.
    let done = crm
        .result(
            "completion/complete",
            json!({"ref": {"type": "ref/prompt", "name": "project_brief"},
                "argument": {"name": "project_id", "value": ""}}),
        )
        .await;
    let mut ids: Vec<String> = done["completion"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    let mut expected = vec!["1".to_owned(), "2".to_owned(), id.to_string()];
    expected.sort();
    assert_eq!(ids, expected);
    // Without a key, nothing is listed or read.
    let anonymous = mcp(&app, "/mcp/crm/", None);
    let res = anonymous
        .post_raw(
            json!({"jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": {"uri": uri}})
                .to_string(),
        )
        .await;
    assert_eq!(res.status, 401);
}

/// POSTs to `/mcp/crm/` with the test key (and a session, when given); returns the response.
async fn crm_post(app: &App, sid: Option<&str>, body: Value) -> reqwest::Response {
    crm_post_at(&app.base, "test-key", sid, body).await
}

/// A 2025-11-25 POST to `/mcp/crm/` of the app at `base`, with the API key `key`.
async fn crm_post_at(base: &str, key: &str, sid: Option<&str>, body: Value) -> reqwest::Response {
    let mut req = mcp_tests::http()
        .post(format!("{base}/mcp/crm/"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("x-api-key", key)
        .header("mcp-protocol-version", "2025-11-25");
    if let Some(s) = sid {
        req = req.header("mcp-session-id", s);
    }
    req.json(&body).send().await.unwrap()
}

/// Polls `tasks/get` at `base` (every 20 ms, at most 5 s) until the task leaves `working`, or
/// reaches `status` when one is given; the last answer.
async fn poll_task(base: &str, id: &str, status: Option<&str>) -> Value {
    let mut got = Value::Null;
    for _ in 0..250 {
        got = crm_post_2026(base, "tasks/get", id, "test-key", json!({"taskId": id}))
            .await
            .json()
            .await
            .unwrap();
        let now = &got["result"]["status"];
        if status.map_or(now != "working", |s| now == s) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    got
}

/// A 2026-07-28 request to `/mcp/crm` of the app at `base`, from a client that declared the
/// tasks extension.
async fn crm_post_2026(
    base: &str,
    method: &str,
    name: &str,
    key: &str,
    mut params: Value,
) -> reqwest::Response {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {},
            "extensions": {"io.modelcontextprotocol/tasks": {}}},
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "0"},
    });
    mcp_tests::http()
        .post(format!("{base}/mcp/crm"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method)
        .header("mcp-name", name)
        .header("x-api-key", key)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        .send()
        .await
        .unwrap()
}

async fn project_names(app: &App) -> Vec<String> {
    let list: Value = mcp_tests::http()
        .get(format!("{}/api/v1/projects", app.base))
        .header("x-api-key", "test-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn delete_project_asks_the_user_to_confirm_in_both_eras() {
    delete_project_asks_the_user_to_confirm_in_both_eras_with(&[]).await;
    // With Redis, a single client sees exactly the same.
    if !mcp_tests::needs(mcp_tests::REDIS) {
        return;
    }
    let redis = mcp_tests::Redis::start();
    delete_project_asks_the_user_to_confirm_in_both_eras_with(&[("REDIS_URL", &redis.url)]).await;
}

async fn delete_project_asks_the_user_to_confirm_in_both_eras_with(env: &[(&str, &str)]) {
    let app = start_with(temp_db(&format!("delete-{}", env.len())), env);
    let delete = |id: i64| {
        json!({"jsonrpc": "2.0", "id": 10, "method": "tools/call", "params": {
            "name": "delete_project", "arguments": {"project_id": id}}})
    };
    // A client that declared elicitation, in a session: the question on the call's stream.
    let init = crm_post(
        &app,
        None,
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {"elicitation": {}},
        "clientInfo": {"name": "t", "version": "0"}}}),
    )
    .await;
    let sid = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let res = crm_post(&app, Some(&sid), delete(2)).await;
    let mut stream = mcp_tests::SseReader::new(res);
    let question = stream.next_json().await;
    assert_eq!(question["method"], "elicitation/create");
    assert!(
        question["params"]["message"]
            .as_str()
            .unwrap()
            .contains("Mobile app")
    );
    let res = crm_post(
        &app,
        Some(&sid),
        json!({"jsonrpc": "2.0", "id": question["id"],
        "result": {"action": "accept", "content": {"name": "Mobile app"}}}),
    )
    .await;
    assert_eq!(res.status(), 202);
    let result = stream.next_json().await;
    assert_eq!(
        text(&result["result"]),
        "deleted the project \"Mobile app\""
    );
    assert_eq!(project_names(&app).await, ["Website relaunch"]);

    // A client without the capability: refused, nothing deleted.
    let res = crm_post(&app, None, delete(1)).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["result"]["isError"], true);
    assert!(text(&body["result"]).starts_with("not deleted"), "{body}");
    assert_eq!(project_names(&app).await, ["Website relaunch"]);

    // 2026-07-28: an input-required round, then the call again with the answer.
    let call_2026 = |extra: Value| {
        let mut params = json!({"name": "delete_project", "arguments": {"project_id": 1}, "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}}}});
        params
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let base = app.base.clone();
        async move {
            let res = mcp_tests::http()
                .post(format!("{base}/mcp/crm/"))
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .header("x-api-key", "test-key")
                .header("mcp-protocol-version", "2026-07-28")
                .header("mcp-method", "tools/call")
                .header("mcp-name", "delete_project")
                .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}))
                .send()
                .await
                .unwrap();
            res.json::<Value>().await.unwrap()
        }
    };
    let round = call_2026(json!({})).await;
    assert_eq!(round["result"]["resultType"], "input_required", "{round}");
    let state = round["result"]["requestState"].clone();
    let wrong = call_2026(
        json!({"requestState": state, "inputResponses": {"q1": {"action": "accept",
        "content": {"name": "Something else"}}}}),
    )
    .await;
    assert_eq!(
        text(&wrong["result"]),
        "not deleted: the name typed does not match"
    );
    let done = call_2026(
        json!({"requestState": state, "inputResponses": {"q1": {"action": "accept",
        "content": {"name": "Website relaunch"}}}}),
    )
    .await;
    assert_eq!(
        text(&done["result"]),
        "deleted the project \"Website relaunch\""
    );
    assert!(project_names(&app).await.is_empty());
}

#[test]
fn the_api_tools_over_stdio() {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_example-article"))
        .arg("--stdio")
        .env("DATABASE_PATH", temp_db("stdio"))
        .env("MCP_SUBJECT", "local-user")
        .env("RUST_LOG", "debug")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the example starts");
    let mut stdin = child.stdin.take().unwrap();
    for msg in [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "get_status", "arguments": {}}}),
    ] {
        writeln!(stdin, "{msg}").unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    // Every line of stdout is a JSON-RPC message; logs went to stderr.
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    let by_id = |id: i64| lines.iter().find(|m| m["id"] == id).unwrap();
    assert_eq!(by_id(1)["result"]["serverInfo"]["name"], "API Tools");
    assert_eq!(by_id(2)["result"]["tools"][0]["name"], "get_status");
    assert_eq!(
        by_id(3)["result"]["content"][0]["text"],
        "All systems operational"
    );
}

#[tokio::test]
async fn a_full_table_of_busy_sessions_is_logged_once_not_per_refusal() {
    if !mcp_tests::needs(&["kill"]) {
        return;
    }
    let app = spawn(
        temp_db("full"),
        &[("MCP_MAX_SESSIONS", "2")],
        Stdio::piped(),
    );
    let http = mcp_tests::http();
    let mut statuses = Vec::new();
    let mut streams = Vec::new();
    for _ in 0..20 {
        let res = http
            .post(format!("{}/mcp", app.base))
            .header("accept", "application/json, text/event-stream")
            .json(
                &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "t", "version": "0"}}}),
            )
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
        // A session with an open GET stream is busy: it is not ended to make room.
        if let Some(sid) = res.headers().get("mcp-session-id") {
            let stream = http
                .get(format!("{}/mcp", app.base))
                .header("accept", "text/event-stream")
                .header("mcp-session-id", sid)
                .header("mcp-protocol-version", "2025-11-25")
                .send()
                .await
                .unwrap();
            assert_eq!(stream.status(), 200);
            streams.push(stream);
        }
    }
    assert_eq!(&statuses[..2], &[200, 200]);
    assert!(statuses[2..].iter().all(|s| *s == 503), "{statuses:?}");

    drop(streams);
    let log = stop_and_read_log(app).await;
    assert!(
        !log.contains("ERROR"),
        "503s are not errors of the app:\n{log}"
    );
    assert_eq!(
        log.matches("session table is full").count(),
        1,
        "18 refusals, one line:\n{log}"
    );
}

#[test]
fn a_stalled_client_cannot_hold_the_process_after_sigint() {
    if !mcp_tests::needs(&["kill"]) {
        return;
    }
    use std::io::Write as _;
    let mut app = start_with(temp_db("stall"), &[("SHUTDOWN_GRACE_SECS", "1")]);
    let host = app.base.strip_prefix("http://").unwrap().to_owned();
    // Half the headers of one request, half the body of another.
    let mut half_headers = std::net::TcpStream::connect(&host).unwrap();
    write!(
        half_headers,
        "POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Type: appl"
    )
    .unwrap();
    let mut half_body = std::net::TcpStream::connect(&host).unwrap();
    write!(
        half_body,
        "POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n{{\"jsonrpc\""
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let killed = Command::new("kill")
        .args(["-INT", &app.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = app.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running 20 s after SIGINT with a grace of 1 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    drop((half_headers, half_body));
}

/// With `OTEL_EXPORTER_OTLP_ENDPOINT` set, the app exports over OTLP/HTTP: the span of each MCP
/// request (named after the operation, continuing the client's trace, with the error type of a
/// failure) and the operation-duration histogram, all sent by the time the process exits; and
/// its log on stderr gets no line per request.
#[tokio::test]
async fn traces_and_metrics_go_to_an_otlp_collector() {
    if !mcp_tests::needs(&["kill"]) {
        return;
    }
    use std::sync::{Arc, Mutex};
    // A collector that keeps what it is sent, by path.
    type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;
    let received: Received = Arc::default();
    let keep = received.clone();
    let collector =
        axum::Router::new().fallback(move |uri: axum::http::Uri, body: axum::body::Bytes| {
            let keep = keep.clone();
            async move {
                keep.lock()
                    .unwrap()
                    .push((uri.path().to_owned(), body.to_vec()));
                ""
            }
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, collector).await });

    let mut app = spawn(
        temp_db("otlp"),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("SHUTDOWN_GRACE_SECS", "1"),
            ("RUST_LOG", "info"),
        ],
        Stdio::piped(),
    );
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let call = |name: &str| {
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": name, "arguments": {},
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "0"},
            "traceparent": format!("00-{trace_id}-00f067aa0ba902b7-01")
        }}})
    };
    let http = reqwest::Client::new();
    for name in ["get_status", "no_such_tool"] {
        let res = http
            .post(format!("{}/mcp", app.base))
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", name)
            .json(&call(name))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{name}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["result"].is_object(), name == "get_status", "{body}");
    }
    // SIGINT: the exporters flush before the process ends.
    let pid = app.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let exited = tokio::task::spawn_blocking(move || {
        let status = app.child.wait().unwrap();
        let mut log = String::new();
        std::io::Read::read_to_string(app.child.stderr.as_mut().unwrap(), &mut log).unwrap();
        (status, log)
    });
    let (status, log) = tokio::time::timeout(std::time::Duration::from_secs(30), exited)
        .await
        .expect("the app exits after SIGINT")
        .unwrap();
    assert!(status.success(), "{status:?}: {log}");
    // The request spans and metrics go to the collector, not to the log; the one line per
    // request there is the mounts' audit event, which the app asks for.
    assert!(
        log.lines()
            .all(|l| !l.contains("mcp_runtime") || l.contains("mcp_runtime::audit")),
        "no span or metric line per request in the app's log: {log}"
    );
    assert!(log.contains("mcp_runtime::audit"), "{log}");

    let received = received.lock().unwrap();
    let sent = |path: &str| -> Vec<u8> {
        received
            .iter()
            .filter(|(p, _)| p == path)
            .flat_map(|(_, b)| b.clone())
            .collect()
    };
    let has = |haystack: &[u8], needle: &[u8]| haystack.windows(needle.len()).any(|w| w == needle);
    let traces = sent("/v1/traces");
    assert!(!traces.is_empty(), "no traces were exported: {received:?}");
    assert!(has(&traces, b"tools/call get_status"), "the span's name");
    assert!(has(&traces, b"tools/call no_such_tool"));
    assert!(has(&traces, b"gen_ai.tool.name"));
    assert!(
        has(&traces, b"error.type") && has(&traces, b"-32602"),
        "the failure's type"
    );
    let id: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&trace_id[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    assert!(has(&traces, &id), "the spans continue the client's trace");
    assert!(has(&traces, b"example-article"), "the service name");
    let metrics = sent("/v1/metrics");
    assert!(
        has(&metrics, b"mcp.server.operation.duration"),
        "the duration histogram was exported"
    );
}

/// `export_projects` as a task (2026-07-28 tasks extension): the call is answered with a task
/// handle, the job runs on, and `tasks/get` gives the caller's projects as a CSV resource.
#[tokio::test]
async fn export_projects_runs_as_a_task() {
    let app = start(temp_db("export"));
    let post = |method: &'static str, name: String, key: &'static str, params: Value| {
        let base = app.base.clone();
        async move { Ok::<_, ()>(crm_post_2026(&base, method, &name, key, params).await) }
    };
    let created: Value = post(
        "tools/call",
        "export_projects".into(),
        "test-key",
        json!({"name": "export_projects", "arguments": {}}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(created["result"]["resultType"], "task", "{created}");
    let id = created["result"]["taskId"].as_str().unwrap().to_owned();
    let done = poll_task(&app.base, &id, None).await;
    assert_eq!(done["result"]["status"], "completed", "{done}");
    let file = &done["result"]["result"]["content"][0]["resource"];
    assert_eq!(file["mimeType"], "text/csv");
    let csv = file["text"].as_str().unwrap();
    assert!(
        csv.starts_with("id,name,description,created_at\r\n"),
        "{csv}"
    );
    assert!(csv.contains("Website relaunch"), "{csv}");
}

/// Adds a user named `name` to the app's database, with the API key `key`.
fn add_user(db: &std::path::Path, name: &str, key: &str) {
    use sha2::Digest as _;
    let hash: String = sha2::Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute("INSERT INTO users (name) VALUES (?1)", [name])
        .unwrap();
    let user = conn.last_insert_rowid();
    conn.execute(
        "INSERT INTO api_keys (key_sha256, user_id) VALUES (?1, ?2)",
        rusqlite::params![hash, user],
    )
    .unwrap();
}

/// Two users who share a display name are two callers (the principal's subject is the user's
/// id): neither can use the other's session, and each may follow only the updates of their own
/// projects (the CRM server's subscription check applies the owner rule of reading them).
#[tokio::test]
async fn users_are_told_apart_by_id_and_follow_only_their_own_projects() {
    let db = temp_db("twins");
    let app = start(db.clone());
    add_user(&db, "Demo User", "twin-key");
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}});
    let open = |key: &'static str| {
        let (base, init) = (app.base.clone(), init.clone());
        async move {
            let res = crm_post_at(&base, key, None, init).await;
            assert_eq!(res.status(), 200);
            res.headers()["mcp-session-id"].to_str().unwrap().to_owned()
        }
    };
    let (demo, twin) = (open("test-key").await, open("twin-key").await);
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let res = crm_post_at(&app.base, "twin-key", Some(&demo), list).await;
    assert_eq!(
        res.status(),
        404,
        "the same name does not make the same caller"
    );

    // Project 1 is the demo user's.
    let subscribe = json!({"jsonrpc": "2.0", "id": 3, "method": "resources/subscribe",
        "params": {"uri": "crm://projects/1"}});
    let res = crm_post_at(&app.base, "twin-key", Some(&twin), subscribe.clone()).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32002, "{body}");
    let res = crm_post_at(&app.base, "test-key", Some(&demo), subscribe).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["result"], json!({}), "{body}");
    // Project 3 is another user's: refused to the demo user too.
    let subscribe = json!({"jsonrpc": "2.0", "id": 4, "method": "resources/subscribe",
        "params": {"uri": "crm://projects/3"}});
    let res = crm_post_at(&app.base, "test-key", Some(&demo), subscribe).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32002, "{body}");
}

/// Two instances sharing one Redis, behind a round-robin proxy that knows nothing of MCP:
/// a session initialized on one serves its next requests on both; DELETE on one ends it on
/// both; Redis down gets 503 with a clear message, and service comes back with Redis.
#[tokio::test]
async fn instances_share_sessions_through_redis() {
    if !mcp_tests::needs(mcp_tests::REDIS) {
        return;
    }
    let mut redis = mcp_tests::Redis::start();
    let db = temp_db("instances");
    let env = [
        ("REDIS_URL", redis.url.as_str()),
        ("REQUEST_STATE_KEY", "shared-secret"),
    ];
    let a = start_with(db.clone(), &env);
    let b = start_with(db.clone(), &env);
    // A second user, with a key of her own.
    add_user(&db, "Eve", "eve-key");
    let proxy = mcp_tests::round_robin(vec![a.base.clone(), b.base.clone()]).await;
    let proxied = format!("http://{proxy}");
    let post = |sid: Option<String>, body: Value| {
        let base = proxied.clone();
        async move { crm_post_at(&base, "test-key", sid.as_deref(), body).await }
    };
    let res = post(
        None,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let sid = res.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let res = post(
        Some(sid.clone()),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert_eq!(res.status(), 202);
    // Every next request alternates between the instances: each serves the session.
    for id in 2..8 {
        let res = post(
            Some(sid.clone()),
            json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                "params": {"name": "list_projects", "arguments": {}}}),
        )
        .await;
        assert_eq!(res.status(), 200, "request {id}");
        let body = res.text().await.unwrap();
        assert!(body.contains("\"result\""), "request {id}: {body}");
    }
    // Bound to its owner on every instance: another user's key finds no such session.
    for instance in [&a, &b] {
        let list = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list"});
        let res = crm_post_at(&instance.base, "eve-key", Some(&sid), list).await;
        assert_eq!(res.status(), 404, "{}", instance.base);
    }
    // Ended on one instance, it is unknown on both.
    let res = mcp_tests::http()
        .delete(format!("{proxied}/mcp/crm/"))
        .header("x-api-key", "test-key")
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    for id in 10..12 {
        let res = post(
            Some(sid.clone()),
            json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"}),
        )
        .await;
        assert_eq!(res.status(), 404, "request {id}");
    }

    // A question a tool asks on A is answered by a POST that lands on B; the tool on A goes on.
    let init = json!({"jsonrpc": "2.0", "id": 40, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {"elicitation": {}},
        "clientInfo": {"name": "t", "version": "1"}}});
    let res = crm_post_at(&a.base, "test-key", None, init).await;
    let asked_sid = res.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let delete = json!({"jsonrpc": "2.0", "id": 41, "method": "tools/call", "params": {
        "name": "delete_project", "arguments": {"project_id": 2}}});
    let res = crm_post_at(&a.base, "test-key", Some(&asked_sid), delete).await;
    let mut stream = mcp_tests::SseReader::new(res);
    let question = stream.next_json().await;
    assert_eq!(question["method"], "elicitation/create", "{question}");
    let answer = json!({"jsonrpc": "2.0", "id": question["id"], "result": {"action": "decline"}});
    let res = crm_post_at(&b.base, "test-key", Some(&asked_sid), answer).await;
    assert_eq!(res.status(), 202);
    let result = stream.next_json().await;
    assert_eq!(result["id"], 41, "{result}");
    assert!(
        text(&result["result"]).starts_with("not deleted"),
        "{result}"
    );

    // A change on one instance reaches the listening clients of every instance: a client
    // subscribed to a project, its GET stream on B, hears of the project deleted on A.
    let init = json!({"jsonrpc": "2.0", "id": 50, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {"elicitation": {}},
        "clientInfo": {"name": "t", "version": "1"}}});
    let res = crm_post_at(&a.base, "test-key", None, init).await;
    let sid3 = res.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let create = json!({"jsonrpc": "2.0", "id": 51, "method": "tools/call", "params": {
        "name": "create_project", "arguments": {"name": "Temp"}}});
    let created: Value = crm_post_at(&a.base, "test-key", Some(&sid3), create)
        .await
        .json()
        .await
        .unwrap();
    let project = created["result"]["structuredContent"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{created}"));
    let uri = format!("crm://projects/{project}");
    let subscribe = json!({"jsonrpc": "2.0", "id": 52, "method": "resources/subscribe",
        "params": {"uri": uri}});
    let res = crm_post_at(&b.base, "test-key", Some(&sid3), subscribe).await;
    assert_eq!(res.status(), 200);
    let res = mcp_tests::http()
        .get(format!("{}/mcp/crm/", b.base))
        .header("accept", "text/event-stream")
        .header("x-api-key", "test-key")
        .header("mcp-protocol-version", "2025-11-25")
        .header("mcp-session-id", &sid3)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut listening = mcp_tests::SseReader::new(res);
    redis.wait_for_subscribers("article:crm:bus", 2).await;
    let delete = json!({"jsonrpc": "2.0", "id": 53, "method": "tools/call", "params": {
        "name": "delete_project", "arguments": {"project_id": project}}});
    let res = crm_post_at(&a.base, "test-key", Some(&sid3), delete).await;
    let mut call = mcp_tests::SseReader::new(res);
    let question = call.next_json().await;
    let confirm = json!({"jsonrpc": "2.0", "id": question["id"],
        "result": {"action": "accept", "content": {"name": "Temp"}}});
    let res = crm_post_at(&a.base, "test-key", Some(&sid3), confirm).await;
    assert_eq!(res.status(), 202);
    let done = call.next_json().await;
    assert_eq!(
        text(&done["result"]),
        "deleted the project \"Temp\"",
        "{done}"
    );
    let heard = listening.next_json().await;
    assert_eq!(
        heard["method"], "notifications/resources/updated",
        "{heard}"
    );
    assert_eq!(heard["params"]["uri"], uri.as_str());

    // A task started on A is polled and its result fetched through either instance, and
    // outlives A once it has finished.
    let task = |base: String, method: &'static str, name: String, params: Value| async move {
        crm_post_2026(&base, method, &name, "test-key", params)
            .await
            .json::<Value>()
            .await
            .unwrap()
    };
    let created = task(
        a.base.clone(),
        "tools/call",
        "export_projects".into(),
        json!({"name": "export_projects", "arguments": {}}),
    )
    .await;
    assert_eq!(created["result"]["resultType"], "task", "{created}");
    let task_id = created["result"]["taskId"].as_str().unwrap().to_owned();
    let done = poll_task(&proxied, &task_id, None).await;
    assert_eq!(done["result"]["status"], "completed", "{done}");
    drop(a);
    for _ in 0..2 {
        let again = task(
            proxied.clone(),
            "tasks/get",
            task_id.clone(),
            json!({"taskId": task_id}),
        )
        .await;
        assert_eq!(again["result"]["status"], "completed", "{again}");
        let csv = again["result"]["result"]["content"][0]["resource"]["text"]
            .as_str()
            .unwrap_or_default();
        assert!(csv.contains("Website relaunch"), "{again}");
    }

    // A call's SSE stream cut with its instance (C) is resumed on another (B), which gives
    // exactly the events the client missed.
    let c = start_with(db.clone(), &env);
    let init = json!({"jsonrpc": "2.0", "id": 30, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}});
    let res = crm_post_at(&c.base, "test-key", None, init).await;
    let sid = res.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let export = json!({"jsonrpc": "2.0", "id": 31, "method": "tools/call", "params": {
        "name": "export_projects", "arguments": {}, "_meta": {"progressToken": "p"}}});
    let res = crm_post_at(&c.base, "test-key", Some(&sid), export).await;
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut events = mcp_tests::SseReader::new(res);
    let first = loop {
        let ev = events.next().await.expect("an event");
        if !ev.data.is_empty() {
            break ev;
        }
    };
    assert_eq!(first.json()["params"]["progress"], 1.0, "{}", first.data);
    let last_seen = first.id.clone().expect("events have ids");
    drop(events);
    // What a client resuming after `last_seen` on B gets.
    let resume_on_b = || {
        let (url, sid, last) = (
            format!("{}/mcp/crm/", b.base),
            sid.clone(),
            last_seen.clone(),
        );
        async move {
            let res = mcp_tests::http()
                .get(url)
                .header("accept", "text/event-stream")
                .header("x-api-key", "test-key")
                .header("mcp-protocol-version", "2025-11-25")
                .header("mcp-session-id", sid)
                .header("last-event-id", last)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            let resumed = mcp_tests::SseReader::new(res).collect().await;
            resumed
                .iter()
                .filter(|e| !e.data.is_empty())
                .map(|e| e.json())
                .collect::<Vec<Value>>()
        }
    };
    // C goes on without its client; once its answer is logged, C is killed.
    for _ in 0..100 {
        if resume_on_b().await.last().is_some_and(|m| m["id"] == 31) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    drop(c);
    let messages = resume_on_b().await;
    let (result, progress) = messages.split_last().expect("events after the last seen");
    let total = progress.len() + 1;
    assert!(total > 1, "{messages:?}");
    for (i, p) in progress.iter().enumerate() {
        assert_eq!(p["method"], "notifications/progress", "{p}");
        assert_eq!(
            p["params"]["progress"].as_f64(),
            Some((i + 2) as f64),
            "{p}"
        );
        assert_eq!(p["params"]["total"].as_f64(), Some(total as f64), "{p}");
    }
    assert_eq!(result["id"], 31, "{result}");
    let csv = result["result"]["content"][0]["resource"]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(csv.contains("Website relaunch"), "{result}");

    // A task on B asks the user; the answer goes through another instance, D (tasks/update),
    // and B's tool goes on.
    let d = start_with(db.clone(), &env);
    let create = json!({"jsonrpc": "2.0", "id": 60, "method": "tools/call", "params": {
        "name": "create_project", "arguments": {"name": "Doomed"}}});
    let created: Value = crm_post_at(&b.base, "test-key", None, create)
        .await
        .json()
        .await
        .unwrap();
    let doomed = created["result"]["structuredContent"]["id"]
        .as_i64()
        .unwrap();
    let started = task(
        b.base.clone(),
        "tools/call",
        "delete_project".into(),
        json!({"name": "delete_project", "arguments": {"project_id": doomed}}),
    )
    .await;
    assert_eq!(started["result"]["resultType"], "task", "{started}");
    let asking = started["result"]["taskId"].as_str().unwrap().to_owned();
    let waiting = poll_task(&proxied, &asking, Some("input_required")).await;
    assert_eq!(waiting["result"]["status"], "input_required", "{waiting}");
    let key = waiting["result"]["inputRequests"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    let update = json!({"taskId": asking, "inputResponses": {
        key: {"action": "accept", "content": {"name": "Doomed"}}}});
    let ack = task(d.base.clone(), "tasks/update", asking.clone(), update).await;
    assert_eq!(ack["result"]["resultType"], "complete", "{ack}");
    let finished = poll_task(&proxied, &asking, Some("completed")).await;
    assert_eq!(
        finished["result"]["result"]["content"][0]["text"], "deleted the project \"Doomed\"",
        "{finished}"
    );

    // Redis down: 503 at once, with what is wrong; a session-less call needs no Redis.
    let port = redis.port;
    redis.stop();
    let started = std::time::Instant::now();
    let res = post(
        None,
        json!({"jsonrpc": "2.0", "id": 20, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}}),
    )
    .await;
    assert_eq!(res.status(), 503);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let body: Value = res.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("session store is unavailable"),
        "{message}"
    );
    let res = post(
        None,
        json!({"jsonrpc": "2.0", "id": 22, "method": "tools/call",
            "params": {"name": "list_projects", "arguments": {}}}),
    )
    .await;
    assert_eq!(res.status(), 200, "a call without a session needs no Redis");
    // Back with Redis: sessions work again, without restarting the instances.
    if !mcp_tests::needs(mcp_tests::REDIS) {
        return;
    }
    let _redis = mcp_tests::Redis::start_on(port);
    let mut ok = false;
    for _ in 0..100 {
        let res = post(
            None,
            json!({"jsonrpc": "2.0", "id": 21, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"}}}),
        )
        .await;
        if res.status() == 200 {
            ok = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ok, "sessions did not come back with Redis");
}

/// `REDIS_URL` may name a Redis that speaks only TLS (`rediss://`), verified against the
/// certificate `SSL_CERT_FILE` names.
#[tokio::test]
async fn sessions_in_a_redis_over_tls() {
    let dir = temp_db("tls").parent().unwrap().to_owned();
    if !mcp_tests::needs(&["redis-server", "redis-cli", "openssl"]) {
        return;
    }
    let redis = mcp_tests::Redis::start_tls(&dir);
    let cert = dir.join("ca.pem");
    let env = [
        ("REDIS_URL", redis.url.as_str()),
        ("SSL_CERT_FILE", cert.to_str().unwrap()),
    ];
    let (a, b) = (
        start_with(dir.join("a.db"), &env),
        start_with(dir.join("b.db"), &env),
    );
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}});
    let res = crm_post_at(&a.base, "test-key", None, init).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let sid = res.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    // The other instance knows the session: it went through Redis, over TLS.
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let res = crm_post_at(&b.base, "test-key", Some(&sid), list).await;
    assert_eq!(res.status(), 200);
}

/// `create_project` is limited per API-key owner to `CRM_CREATE_PER_MINUTE` calls a minute, one
/// limit for every instance through Redis; `list_projects` and the REST API are not limited.
#[tokio::test]
async fn creating_projects_is_rate_limited_per_owner_across_instances() {
    if !mcp_tests::needs(mcp_tests::REDIS) || !mcp_tests::needs(&["kill"]) {
        return;
    }
    let redis = mcp_tests::Redis::start();
    let db = temp_db("rate");
    let env = [
        ("REDIS_URL", redis.url.as_str()),
        ("CRM_CREATE_PER_MINUTE", "3"),
    ];
    let a = spawn(
        db.clone(),
        &[
            ("REDIS_URL", redis.url.as_str()),
            ("CRM_CREATE_PER_MINUTE", "3"),
            ("RUST_LOG", "warn,mcp_runtime::audit=info"),
        ],
        Stdio::piped(),
    );
    let b = start_with(db.clone(), &env);
    add_user(&db, "Eve", "eve-key");
    let call = |base: String, key: &'static str, tool: &'static str, n: u32| async move {
        let body = json!({"jsonrpc": "2.0", "id": n, "method": "tools/call",
            "params": {"name": tool, "arguments": {"name": format!("P{n}")}}});
        let res = crm_post_at(&base, key, None, body).await;
        let status = res.status().as_u16();
        let retry = res.headers().get("retry-after").is_some();
        (status, retry, res.json::<Value>().await.unwrap())
    };
    for (n, app) in [&a, &b, &a].into_iter().enumerate() {
        let (status, _, body) =
            call(app.base.clone(), "test-key", "create_project", n as u32).await;
        assert_eq!(status, 200, "{body}");
        assert!(
            body["result"]["structuredContent"]["id"].is_number(),
            "{body}"
        );
    }
    let (status, retry, body) = call(b.base.clone(), "test-key", "create_project", 9).await;
    assert_eq!(status, 429, "{body}");
    assert!(retry, "Retry-After");
    assert_eq!(
        body["error"]["code"],
        mcp_runtime::protocol::code::RATE_LIMITED
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`create_project`"),
        "{body}"
    );
    // Another owner has a budget of their own.
    let (status, _, _) = call(b.base.clone(), "eve-key", "create_project", 10).await;
    assert_eq!(status, 200);
    // Listing is not limited, nor is creating through REST.
    for n in 0..5 {
        let (status, _, body) = call(a.base.clone(), "test-key", "list_projects", 20 + n).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["result"]["structuredContent"].is_object(), "{body}");
    }
    let res = mcp_tests::http()
        .post(format!("{}/api/v1/projects", a.base))
        .header("x-api-key", "test-key")
        .json(&json!({"name": "From REST"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);

    // Every call of the CRM mount is audited: who, what, the outcome; never the key.
    let log = stop_and_read_log(a).await;
    let audited: Vec<&str> = log.lines().filter(|l| l.contains("mcp request")).collect();
    assert_eq!(
        audited.len(),
        7,
        "2 creations and 5 listings on this instance:\n{log}"
    );
    assert!(
        audited[0].contains("name=\"create_project\"") && audited[0].contains("subject=\"user-1\""),
        "{log}"
    );
    assert!(
        audited.iter().all(|l| l.contains("outcome=\"ok\"")),
        "{log}"
    );
    assert!(!log.contains("test-key"), "{log}");
}

#[tokio::test]
async fn mcp_all_serves_the_crm_and_slack_servers_under_their_namespaces() {
    let app = start_with(temp_db("all"), &[("CRM_CREATE_PER_MINUTE", "2")]);
    let all = mcp(&app, "/mcp/all", Some("test-key"));
    let tools = all.result("tools/list", json!({})).await;
    let names = tool_names(&tools);
    for name in [
        "crm_list_projects",
        "crm_create_project",
        "slack_list_channels",
        "slack_post_message",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    assert!(
        !names
            .iter()
            .any(|n| *n == "get_status" || *n == "list_projects")
    );
    let projects = all.call("crm_list_projects", json!({})).await;
    assert!(
        mcp_tests::text(&projects).contains("Website relaunch"),
        "{projects}"
    );
    let channels = all.call("slack_list_channels", json!({})).await;
    assert!(!mcp_tests::text(&channels).is_empty(), "{channels}");
    let read = all
        .result("resources/read", json!({"uri": "crm://crm/projects/1"}))
        .await;
    assert_eq!(read["contents"][0]["uri"], "crm://crm/projects/1", "{read}");
    assert!(
        read["contents"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Website relaunch")
    );
    let prompts = all.result("prompts/list", json!({})).await;
    assert_eq!(
        prompts["prompts"][0]["name"], "crm_project_brief",
        "{prompts}"
    );

    // The same API keys as the other mounts: none, or a wrong one, is refused.
    for key in [None, Some("wrong")] {
        let refused = mcp(&app, "/mcp/all", key)
            .post_raw(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string())
            .await;
        assert_eq!(refused.status, 401, "{key:?}: {:?}", refused.body);
    }

    // The CRM's rate limit is one limit, whichever mount the calls come through.
    let create = |path: &'static str, tool: &'static str, n: u32| {
        let client = mcp(&app, path, Some("test-key"));
        async move {
            client
                .post_raw(
                    json!({"jsonrpc": "2.0", "id": n, "method": "tools/call",
                        "params": {"name": tool, "arguments": {"name": format!("All {n}")}}})
                    .to_string(),
                )
                .await
        }
    };
    assert_eq!(create("/mcp/crm", "create_project", 1).await.status, 200);
    assert_eq!(
        create("/mcp/all", "crm_create_project", 2).await.status,
        200
    );
    let limited = create("/mcp/all", "crm_create_project", 3).await;
    assert_eq!(limited.status, 429, "{:?}", limited.body);
    assert!(
        limited.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`create_project`"),
        "{:?}",
        limited.body
    );
}

#[tokio::test]
async fn mcp_remote_serves_the_server_at_proxy_mcp_url() {
    // Without PROXY_MCP_URL there is no /mcp/remote.
    let plain = start(temp_db("remote-plain"));
    let none = mcp(&plain, "/mcp/remote", Some("test-key"))
        .post_raw(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string())
        .await;
    assert_eq!(none.status, 404);

    // The remote: another instance's `/mcp` (the API tools). The proxying app starts first,
    // while nothing listens there yet, and serves the remote's tools once it is up.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let app = start_with(temp_db("remote-proxy"), &[("PROXY_MCP_URL", url.as_str())]);
    let remote_db = temp_db("remote-origin");
    let remote = start_with(remote_db, &[("PORT", &port.to_string())]);
    let client = mcp(&app, "/mcp/remote", Some("test-key"));
    let mut names = Vec::new();
    for _ in 0..100 {
        let tools = client.result("tools/list", json!({})).await;
        names = tools["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect();
        if !names.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(names, ["get_status"]);
    let status = client.call("get_status", json!({})).await;
    assert_eq!(mcp_tests::text(&status), "All systems operational");
    // In the 2026-07-28 era too.
    let modern = mcp_tests::call_2026(
        &format!("{}/mcp/remote", app.base),
        "get_status",
        json!({}),
        &[("x-api-key", "test-key")],
    )
    .await;
    assert_eq!(
        mcp_tests::text(&modern["result"]),
        "All systems operational",
        "{modern}"
    );

    // The remote killed: a clear error at once. Started again on its port: calls go on (a new
    // session with the new process).
    drop(remote);
    let started = std::time::Instant::now();
    let down = client
        .request("tools/call", json!({"name": "get_status", "arguments": {}}))
        .await;
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    assert!(
        down["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("cannot be reached"),
        "{down}"
    );
    let _remote = start_with(temp_db("remote-origin-2"), &[("PORT", &port.to_string())]);
    let status = client.call("get_status", json!({})).await;
    assert_eq!(mcp_tests::text(&status), "All systems operational");
    // Behind this app's API keys.
    let refused = mcp(&app, "/mcp/remote", None)
        .post_raw(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string())
        .await;
    assert_eq!(refused.status, 401);
}

#[tokio::test]
async fn the_rest_routes_are_tools_and_a_tool_is_a_rest_route() {
    let app = start(temp_db("rest-tools"));
    // The REST API describes itself.
    let doc = get_json(format!("{}/api/v1/openapi.json", app.base), None).await;
    assert_eq!(
        doc["paths"]["/projects"]["get"]["operationId"],
        "list_projects"
    );

    // Its routes are tools of /mcp/rest, with schemas from the document.
    let rest = mcp(&app, "/mcp/rest", Some("test-key"));
    let tools = rest.result("tools/list", json!({})).await;
    let names = tool_names(&tools);
    assert_eq!(names, ["create_project", "get_project", "list_projects"]);
    let create = &tools["tools"][0];
    assert_eq!(create["inputSchema"]["required"], json!(["name"]));
    assert_eq!(
        create["outputSchema"]["properties"]["id"]["type"],
        "integer"
    );

    // Called through the REST router: the caller's key is passed on and checked by the route.
    let created = rest
        .call("create_project", json!({"name": "Through REST"}))
        .await;
    let id = created["structuredContent"]["id"].as_i64().unwrap();
    let one = rest.call("get_project", json!({"id": id})).await;
    assert_eq!(one["structuredContent"]["name"], "Through REST");
    let listed = rest.call("list_projects", json!({"limit": 1})).await;
    assert_eq!(
        listed["structuredContent"]["result"][0]["name"],
        "Through REST"
    );
    // The same project is there for the REST client.
    let via_rest = get_json(
        format!("{}/api/v1/projects/{id}", app.base),
        Some("test-key"),
    )
    .await;
    assert_eq!(via_rest["name"], "Through REST");
    // Without a key the route's own check refuses, as it does REST clients.
    let anonymous = mcp(&app, "/mcp/rest", None)
        .call("list_projects", json!({}))
        .await;
    assert_eq!(anonymous["isError"], true);
    assert!(text(&anonymous).starts_with("HTTP 401"), "{anonymous}");

    // And the reverse: the get_status tool served as POST /api/v1/status.
    let status: Value = mcp_tests::http()
        .post(format!("{}/api/v1/status", app.base))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["content"][0]["text"], "All systems operational");
}

/// The names of a `tools/list` result's tools.
fn tool_names(list: &Value) -> Vec<&str> {
    list["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect()
}

/// A GET's JSON body, with an API key when given.
async fn get_json(url: String, key: Option<&str>) -> Value {
    let mut req = mcp_tests::http().get(url);
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    req.send().await.unwrap().json().await.unwrap()
}

/// Stops the app with SIGINT and returns what it wrote to stderr. The app writes its log lines
/// every few milliseconds and the rest as it exits: stopped, not killed, it has written them all.
async fn stop_and_read_log(mut app: App) -> String {
    let mut stderr = app.child.stderr.take().unwrap();
    let stopped = Command::new("kill")
        .args(["-INT", &app.child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let mut log = String::new();
    let read = tokio::task::spawn_blocking(move || {
        std::io::Read::read_to_string(&mut stderr, &mut log).map(|_| log)
    });
    let log = tokio::time::timeout(std::time::Duration::from_secs(30), read)
        .await
        .expect("the app exits after SIGINT")
        .unwrap()
        .unwrap();
    let status = app.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    log
}

#[tokio::test]
async fn the_ai_catalog_lists_a_server_card_per_mount() {
    let app = start_with(
        temp_db("catalog"),
        &[("PUBLIC_URL", "https://demo.example.com")],
    );
    let http = mcp_tests::http();
    let catalog: Value = http
        .get(format!("{}/.well-known/ai-catalog.json", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(catalog["host"]["displayName"], "Demo API");
    let entries = catalog["entries"].as_array().unwrap();
    let urls: Vec<&str> = entries.iter().map(|e| e["url"].as_str().unwrap()).collect();
    assert_eq!(
        urls,
        [
            "https://demo.example.com/mcp/server-card",
            "https://demo.example.com/mcp/rest/server-card",
            "https://demo.example.com/mcp/crm/server-card",
            "https://demo.example.com/mcp/slack/server-card",
            "https://demo.example.com/mcp/all/server-card",
        ]
    );
    for entry in entries {
        // The public URL is where clients find it; here it is reached on the test's address.
        let path = entry["url"]
            .as_str()
            .unwrap()
            .strip_prefix("https://demo.example.com")
            .unwrap();
        let card: Value = http
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        mcp_tests::assert_valid("server-card", "ServerCard", &card);
        assert_eq!(card["description"], entry["description"], "{entry}");
        let mount = path.strip_suffix("/server-card").unwrap();
        assert_eq!(
            card["remotes"][0]["url"],
            format!("https://demo.example.com{mount}")
        );
        // The mounts behind the app's keys say where the key goes; the open ones ask nothing.
        let header = card["remotes"][0]["headers"][0]["name"].as_str();
        match mount {
            "/mcp/crm" | "/mcp/slack" | "/mcp/all" => assert_eq!(header, Some("x-api-key")),
            _ => assert_eq!(header, None, "{mount}"),
        }
    }
}
