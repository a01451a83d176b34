//! The app's routes as tools (`routes::RouteTools`) and a tool as a REST endpoint
//! (`routes::tool_endpoint`), over real HTTP: schemas from the OpenAPI document, calls through
//! the app's router and its layers, arguments in paths (percent-encoded), queries and bodies,
//! errors and bounds, and the reverse direction with its problem answers.

use axum::extract::{Path, Query};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use mcp_runtime::auth::{ApiKeyAuth, Principal};
use mcp_runtime::catalog::Tool;
use mcp_runtime::routes::{RouteTools, tool_endpoint, tool_operation};
use mcp_runtime::{McpRouterExt as _, McpServer, Transport};
use mcp_tests::{HttpClient, serve};
use serde_json::{Value, json};
use std::collections::HashMap;

/// The app's routes: each answers with what it was given, so a test sees what the tool sent.
fn app() -> Router {
    Router::new()
        .route(
            "/items/{name}",
            get(
                |Path(name): Path<String>,
                 headers: HeaderMap,
                 Query(q): Query<HashMap<String, String>>| async move {
                    Json(json!({
                        "name": name,
                        "query": q,
                        "layer": headers.get("x-layer").and_then(|v| v.to_str().ok()),
                        "key": headers.get("x-api-key").and_then(|v| v.to_str().ok()),
                        "user": headers.get("x-user").and_then(|v| v.to_str().ok()),
                    "request": headers.get("x-request-id").and_then(|v| v.to_str().ok()),
                        "secret": headers.get("x-secret").and_then(|v| v.to_str().ok()),
                    }))
                },
            ),
        )
        .route(
            "/items",
            post(|Json(body): Json<Value>| async move { (StatusCode::CREATED, Json(body)) }),
        )
        .route(
            "/tags",
            post(|Json(body): Json<Value>| async move {
                Json(json!({ "count": body.as_array().map_or(0, Vec::len) }))
            }),
        )
        .route(
            "/locked",
            get(|| async {
                (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({"error": "who are you?"})),
                )
            }),
        )
        .route("/plain", get(|| async { "just text" }))
        .route("/big", get(|| async { "x".repeat(10_000) }))
        .route("/panics", get(panics))
        // A layer of the app: the tools' calls go through it, as a REST client's do.
        .layer(tower::util::MapRequestLayer::new(
            |mut r: Request<axum::body::Body>| {
                r.headers_mut().insert("x-layer", "ran".parse().unwrap());
                r
            },
        ))
}

async fn panics() -> &'static str {
    panic!("the route failed on purpose")
}

fn document() -> Value {
    let ok = |schema: Value| json!({"description": "ok", "content": {"application/json": {"schema": schema}}});
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Items", "version": "1"},
        "paths": {
            "/items/{name}": {
                "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
                "get": {
                    "operationId": "get_item", "summary": "One item.", "description": "By its name.",
                    "tags": ["items"],
                    "parameters": [{"name": "color", "in": "query", "schema": {"type": "array", "items": {"type": "string"}},
                        "description": "Colours to match."}],
                    "responses": {"200": ok(json!({"$ref": "#/components/schemas/Echo"}))}
                }
            },
            "/items": {"post": {
                "operationId": "create_item", "tags": ["items"],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewItem"}}}},
                "responses": {"201": ok(json!({"type": "object"}))}
            }},
            "/tags": {"post": {
                "operationId": "count_tags", "tags": ["items"],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "array", "items": {"type": "string"}}}}},
                "responses": {"200": ok(json!({"type": "object"}))}
            }},
            "/locked": {"get": {"operationId": "locked", "tags": ["misc"], "responses": {}}},
            "/plain": {"get": {"operationId": "plain", "tags": ["misc"], "responses": {}}},
            "/big": {"get": {"operationId": "big", "tags": ["misc"], "responses": {}}},
            "/panics": {"get": {"operationId": "panics", "tags": ["misc"], "responses": {}}},
            "/skipped": {"delete": {"operationId": "skipped", "tags": ["admin"], "responses": {}}},
            "/admin/purge": {"post": {"operationId": "purge", "responses": {},
                "security": [{"oauth": ["items:admin"]}]}}
        },
        "components": {"schemas": {
            "Echo": {"type": "object", "properties": {"name": {"type": "string"}}},
            "NewItem": {"type": "object", "required": ["title"], "properties": {
                "title": {"type": "string"}, "size": {"type": "integer"}}}
        }}
    })
}

fn keys() -> ApiKeyAuth {
    ApiKeyAuth::new(|key: String| async move {
        Ok::<_, String>((key == "k-1").then(|| Principal {
            scopes: vec!["items:write".into()],
            ..Principal::new("ada")
        }))
    })
}

#[tokio::test]
async fn routes_are_tools_called_through_the_apps_router() {
    let tools = RouteTools::new(app(), document())
        .exclude_tags(["admin"])
        // `x-user` is passed on and also the principal's header: the server's value wins.
        .pass_headers(["x-api-key", "x-user"])
        .principal_header("x-user")
        .request_id_header("x-request-id")
        .exclude_paths("/admin")
        .max_body(1_000)
        .tools()
        .unwrap();
    let server = McpServer::new("Items").auth(keys()).add_tools(tools);
    let mcp = Router::new().nest_mcp("/mcp", server.http_app(Transport::Http));
    let url = format!("http://{}/mcp", serve(mcp).await);
    let client = HttpClient::new(&url, Some("2025-11-25"))
        .header("x-api-key", "k-1")
        .header("x-secret", "stays here")
        .header("x-user", "mallory");

    // Listed with schemas made from the document ($refs inlined, parameters and body merged).
    let listed = client.result("tools/list", json!({})).await;
    let by_name: HashMap<&str, &Value> = listed["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t))
        .collect();
    let mut names: Vec<&str> = by_name.keys().copied().collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "big",
            "count_tags",
            "create_item",
            "get_item",
            "locked",
            "panics",
            "plain"
        ]
    );
    let get_item = by_name["get_item"];
    assert_eq!(get_item["description"], "One item.\n\nBy its name.");
    assert_eq!(get_item["annotations"]["readOnlyHint"], true);
    assert_eq!(get_item["inputSchema"]["required"], json!(["name"]));
    assert_eq!(
        get_item["inputSchema"]["properties"]["color"]["description"],
        "Colours to match."
    );
    assert_eq!(
        get_item["outputSchema"]["properties"]["name"]["type"],
        "string"
    );
    let create = by_name["create_item"];
    assert_eq!(create["inputSchema"]["required"], json!(["title"]));
    assert_eq!(
        create["inputSchema"]["properties"]["size"]["type"],
        "integer"
    );

    // A call: the path argument percent-encoded, the query repeated, through the app's layer,
    // with the allowed header and the caller's subject; the other header stays here.
    let got = client
        .call(
            "get_item",
            json!({"name": "a b/c?", "color": ["red", "blue"]}),
        )
        .await;
    let s = &got["structuredContent"];
    assert_eq!(s["name"], "a b/c?", "{got}");
    assert_eq!(s["layer"], "ran");
    assert_eq!(s["key"], "k-1");
    assert_eq!(
        s["user"], "ada",
        "the principal's header is the server's, not the client's"
    );
    assert_eq!(s["secret"], Value::Null);
    assert!(s["request"].is_string(), "{got}");
    assert!(
        s["query"]["color"] == "red" || s["query"]["color"] == "blue",
        "{got}"
    );

    // A body of fields; a body that is the whole `body` argument.
    let created = client
        .call("create_item", json!({"title": "Lamp", "size": 3}))
        .await;
    assert_eq!(
        created["structuredContent"],
        json!({"title": "Lamp", "size": 3})
    );
    let counted = client
        .call("count_tags", json!({"body": ["a", "b", "c"]}))
        .await;
    assert_eq!(counted["structuredContent"], json!({"count": 3}));

    // The route's own refusal is the tool's error result (not a protocol error), naming what
    // this server passes on; text, a body past the bound and a panic are handled.
    let locked = client.call("locked", json!({})).await;
    assert_eq!(locked["isError"], true);
    let text = mcp_tests::text(&locked);
    assert!(
        text.starts_with("HTTP 401")
            && text.contains("`x-api-key`")
            && text.contains("who are you?"),
        "{text}"
    );
    assert_eq!(
        mcp_tests::text(&client.call("plain", json!({})).await),
        "just text"
    );
    let big = client.call("big", json!({})).await;
    assert_eq!(big["isError"], true);
    assert!(mcp_tests::text(&big).contains("passed 1000 bytes"), "{big}");
    let panicked = client.call("panics", json!({})).await;
    assert_eq!(panicked["isError"], true, "{panicked}");
    // A path argument that would leave its segment: an error result, no request made.
    for bad in ["..", ".", ""] {
        let refused = client.call("get_item", json!({"name": bad})).await;
        assert_eq!(refused["isError"], true, "{bad:?}: {refused}");
        assert!(
            mcp_tests::text(&refused).contains("path segment"),
            "{refused}"
        );
    }
    // A required path argument missing: an error result, no request made.
    let missing = client
        .request("tools/call", json!({"name": "get_item", "arguments": {}}))
        .await;
    assert!(missing.to_string().contains("name"), "{missing}");

    // Selection, and documents that cannot make tools.
    let only = RouteTools::new(app(), document())
        .include_operations(["plain"])
        .tools()
        .unwrap();
    assert_eq!(only.iter().map(Tool::name).collect::<Vec<_>>(), ["plain"]);
    let under = RouteTools::new(app(), document())
        .include_paths("/items")
        .tools()
        .unwrap();
    assert_eq!(under.len(), 2);
    // Path prefixes match whole segments.
    assert!(
        RouteTools::new(app(), document())
            .include_paths("/item")
            .tools()
            .unwrap()
            .is_empty()
    );
    // A schema that refers to itself is inlined once, the cycle left open (`{}`); a body that
    // is not JSON cannot be a tool's.
    let tree = json!({"openapi": "3.1.0", "paths": {"/tree": {"post": {"operationId": "plant",
        "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Node"}}}},
        "responses": {}}}},
        "components": {"schemas": {"Node": {"type": "object", "properties": {
            "name": {"type": "string"},
            "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
            "parent": {"$ref": "#/components/schemas/Node"}}}}}});
    let plant = RouteTools::new(app(), tree).tools().unwrap();
    let schema = plant[0].get_input_schema();
    assert_eq!(
        schema["properties"]["children"]["items"],
        json!({}),
        "{schema}"
    );
    assert_eq!(schema["properties"]["parent"], json!({}));
    let form = json!({"openapi": "3.1.0", "paths": {"/upload": {"post": {"operationId": "upload",
        "requestBody": {"content": {"multipart/form-data": {"schema": {"type": "object"}}}}, "responses": {}}}}});
    let problems = RouteTools::new(app(), form)
        .tools()
        .unwrap_err()
        .problems()
        .join("\n");
    assert!(
        problems.contains("its request body is not JSON"),
        "{problems}"
    );
    // An operation's security scopes are the tool's.
    let purge = RouteTools::new(app(), document())
        .include_operations(["purge"])
        .tools()
        .unwrap();
    assert_eq!(purge[0].scopes(), ["items:admin"]);
    let clash = json!({"openapi": "3.1.0", "paths": {"/x/{id}": {"put": {
        "operationId": "put_x",
        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
        "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {"id": {"type": "string"}}}}}},
        "responses": {}}}, "/y": {"get": {"responses": {}}}}});
    let problems = RouteTools::new(app(), clash)
        .tools()
        .unwrap_err()
        .problems()
        .join("\n");
    assert!(
        problems.contains("PUT /x/{id}: the body's property `id` and a parameter"),
        "{problems}"
    );
    assert!(
        problems.contains("GET /y has no `operationId`"),
        "{problems}"
    );
}

#[tokio::test]
async fn a_tool_is_a_rest_endpoint_too() {
    let server = McpServer::new("Tools")
        .auth(keys())
        .add_tool(
            Tool::new("add", |_, args| async move {
                let sum = args["a"].as_i64().unwrap_or(0) + args["b"].as_i64().unwrap_or(0);
                mcp_runtime::content::CallToolResult {
                    structured_content: Some(json!({"sum": sum})),
                    ..mcp_runtime::content::CallToolResult::text(sum.to_string())
                }
            })
            .input_schema(json!({"type": "object", "required": ["a", "b"],
                "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}))
            .output_schema(json!({"type": "object", "properties": {"sum": {"type": "integer"}}})),
        )
        .add_tool(Tool::new("fails", |_, _| async {
            mcp_runtime::content::CallToolResult::error("it failed")
        }))
        .add_tool(Tool::new("admin", |_, _| async { "ok" }).require_scopes(["admin"]))
        .add_tool(Tool::new("rare", |_, _| async { "ok" }))
        .layer_on(
            mcp_runtime::middleware::Select::tool("rare"),
            mcp_runtime::middleware::RateLimit::per_minute("rare", 1),
        )
        .build()
        .unwrap();
    let app = Router::new()
        .route("/api/add", tool_endpoint(&server, "add"))
        .route("/api/fails", tool_endpoint(&server, "fails"))
        .route("/api/admin", tool_endpoint(&server, "admin"))
        .route("/api/rare", tool_endpoint(&server, "rare"));
    let base = format!("http://{}", serve(app).await);
    let post = |path: &str, key: Option<&str>, body: &str| {
        let mut req = mcp_tests::http()
            .post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(k) = key {
            req = req.header("x-api-key", k);
        }
        req.send()
    };
    let ok = post("/api/add", Some("k-1"), r#"{"a": 2, "b": 3}"#)
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.json::<Value>().await.unwrap(), json!({"sum": 5}));
    for (path, key, body, status) in [
        ("/api/add", None, r#"{"a": 2, "b": 3}"#, 401),
        ("/api/add", Some("k-1"), "not json", 400),
        ("/api/add", Some("k-1"), "[1]", 400),
        ("/api/fails", Some("k-1"), "{}", 422),
        ("/api/admin", Some("k-1"), "{}", 403),
    ] {
        let res = post(path, key, body).await.unwrap();
        assert_eq!(res.status(), status, "{path} {body}");
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
        let problem: Value = res.json().await.unwrap();
        assert_eq!(problem["status"], status);
        assert!(problem["detail"].is_string(), "{problem}");
    }
    // Only JSON (a cross-site form post is refused); a middleware limit is 429 with Retry-After.
    let form = mcp_tests::http()
        .post(format!("{base}/api/add"))
        .header("x-api-key", "k-1")
        .header("content-type", "text/plain")
        .body(r#"{"a": 1, "b": 2}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 415);
    assert_eq!(
        post("/api/rare", Some("k-1"), "{}").await.unwrap().status(),
        200
    );
    let limited = post("/api/rare", Some("k-1"), "{}").await.unwrap();
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    let add = server
        .tools()
        .into_iter()
        .find(|t| t.name() == "add")
        .unwrap();
    let op = tool_operation(&add);
    assert_eq!(op["operationId"], "add");
    assert_eq!(
        op["requestBody"]["content"]["application/json"]["schema"]["required"],
        json!(["a", "b"])
    );
    assert_eq!(
        op["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["sum"]["type"],
        "integer"
    );
}
