//! Servers nested in a server (`McpServer::nest`, `merge`) over real HTTP: names and URIs by
//! the rule, each part answering with its own state, layers and scopes, completions routed,
//! URIs in answers given in the whole's form, list changes and resource updates of a part
//! reaching the whole's clients, and the build errors of compositions that cannot work.

use axum::Router;
use mcp_runtime::auth::{ApiKeyAuth, Principal};
use mcp_runtime::catalog::{Prompt, PromptArgument, Resource, Tool};
use mcp_runtime::content::{CallToolResult, Content};
use mcp_runtime::middleware::{McpResponse, from_fn};
use mcp_runtime::protocol::RpcError;
use mcp_runtime::{McpRouterExt as _, McpServer, Server, Transport};
use mcp_tests::{HttpClient, SseReader, serve};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What a part holds as state: every part has one, with its own value.
struct Label(&'static str);

/// A part named `label`: a tool that answers with the part's state, one only `admin` may call,
/// one that links to its resource, a resource and a template (with a completion), a prompt
/// (with a completion). Its layer counts the calls it sees and refuses `refused`.
fn part(label: &'static str, seen: Arc<AtomicUsize>) -> Server {
    let who = |ctx: mcp_runtime::Context| async move {
        let label = ctx.state::<Label>().expect("the part's state").0;
        format!("{label} ({})", ctx.server().name())
    };
    McpServer::new(format!("{label} server"))
        .state(Label(label))
        .add_tool(Tool::new("who", move |ctx, _| who(ctx)))
        .add_tool(Tool::new("secret", |_, _| async { "classified" }).require_scopes(["admin"]))
        .add_tool(Tool::new("refused", |_, _| async { "never" }))
        .add_tool(Tool::new("link", move |_, _| async move {
            CallToolResult::new(vec![
                Content::resource_link(format!("{label}://notes/1"), "note"),
                Content::resource_link("https://example.com/elsewhere", "web page"),
            ])
        }))
        .add_resource(Resource::new(
            format!("{label}://readme"),
            "readme",
            move |_, uri| async move { format!("readme of {label} at {uri}") },
        ))
        .add_resource(
            Resource::template(
                &format!("{label}://notes/{{id}}"),
                "note",
                move |_, uri| async move { format!("note {uri}") },
            )
            .complete("id", |_, _| async { vec!["1", "2"] }),
        )
        .add_prompt(
            Prompt::new("greet", move |_, args| async move {
                format!("{label} greets {}", args["name"])
            })
            .argument(PromptArgument::required("name", "who"))
            .complete(
                "name",
                move |_, _| async move { vec![format!("{label}-ada")] },
            ),
        )
        .layer(from_fn(move |req, next| {
            let seen = seen.clone();
            async move {
                seen.fetch_add(1, Ordering::SeqCst);
                if req.name() == Some("refused") {
                    return McpResponse::error(RpcError::new(
                        mcp_runtime::protocol::code::INVALID_PARAMS,
                        "refused by the part's layer",
                    ));
                }
                next.run(req).await
            }
        }))
        .build()
        .unwrap()
}

fn keys() -> ApiKeyAuth {
    ApiKeyAuth::new(|key: String| async move {
        Ok::<_, String>(match key.as_str() {
            "user" => Some(Principal::new("user")),
            "admin" => Some(Principal {
                scopes: vec!["admin".into()],
                ..Principal::new("admin")
            }),
            _ => None,
        })
    })
}

async fn whole() -> (String, Server, Server, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let crm = part("crm", seen.clone());
    let slack = part("slack", Arc::new(AtomicUsize::new(0)));
    let all = McpServer::new("All")
        .auth(keys())
        .nest("crm", crm.clone())
        .nest("slack", slack)
        .build()
        .unwrap();
    let app = Router::new().nest_mcp("/mcp", all.http_app(Transport::StreamableHttp));
    let url = format!("http://{}/mcp", serve(app).await);
    (url, all, crm, seen)
}

fn names(list: &Value, field: &str, key: &str) -> Vec<String> {
    list[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i[key].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_nested_server_is_listed_under_its_namespace_and_answers_as_itself() {
    let (url, _all, _crm, seen) = whole().await;
    for version in ["2025-06-18", "2025-11-25"] {
        let user = HttpClient::new(&url, Some(version)).header("x-api-key", "user");
        let tools = user.result("tools/list", json!({})).await;
        assert_eq!(
            names(&tools, "tools", "name"),
            [
                "crm_link",
                "crm_refused",
                "crm_who",
                "slack_link",
                "slack_refused",
                "slack_who"
            ],
            "the scoped tools are hidden from a caller without the scope: {tools}"
        );
        let resources = user.result("resources/list", json!({})).await;
        assert_eq!(
            names(&resources, "resources", "uri"),
            ["crm://crm/readme", "slack://slack/readme"]
        );
        let templates = user.result("resources/templates/list", json!({})).await;
        assert_eq!(
            names(&templates, "resourceTemplates", "uriTemplate"),
            ["crm://crm/notes/{id}", "slack://slack/notes/{id}"]
        );
        let prompts = user.result("prompts/list", json!({})).await;
        assert_eq!(
            names(&prompts, "prompts", "name"),
            ["crm_greet", "slack_greet"]
        );

        // Each part answers with its own state, as the server it is.
        let who = user.call("crm_who", json!({})).await;
        assert_eq!(mcp_tests::text(&who), "crm (crm server)");
        let who = user.call("slack_who", json!({})).await;
        assert_eq!(mcp_tests::text(&who), "slack (slack server)");

        // Resources are read in the part at their own URI; the contents name the whole's.
        let read = user
            .result("resources/read", json!({"uri": "crm://crm/readme"}))
            .await;
        assert_eq!(read["contents"][0]["uri"], "crm://crm/readme", "{read}");
        assert_eq!(read["contents"][0]["text"], "readme of crm at crm://readme");
        let read = user
            .result("resources/read", json!({"uri": "slack://slack/notes/7"}))
            .await;
        assert_eq!(
            read["contents"][0]["uri"], "slack://slack/notes/7",
            "{read}"
        );
        assert_eq!(read["contents"][0]["text"], "note slack://notes/7");

        // A link to the part's resource is given in the whole's form; others are left alone.
        let link = user.call("crm_link", json!({})).await;
        assert_eq!(link["content"][0]["uri"], "crm://crm/notes/1", "{link}");
        assert_eq!(link["content"][1]["uri"], "https://example.com/elsewhere");

        // Prompts and completions go to their part.
        let prompt = user
            .result(
                "prompts/get",
                json!({"name": "slack_greet", "arguments": {"name": "Ada"}}),
            )
            .await;
        assert_eq!(prompt["messages"][0]["content"]["text"], "slack greets Ada");
        let done = user
            .result(
                "completion/complete",
                json!({"ref": {"type": "ref/prompt", "name": "crm_greet"},
                       "argument": {"name": "name", "value": ""}}),
            )
            .await;
        assert_eq!(done["completion"]["values"], json!(["crm-ada"]), "{done}");
        let done = user
            .result(
                "completion/complete",
                json!({"ref": {"type": "ref/resource", "uri": "slack://slack/notes/{id}"},
                       "argument": {"name": "id", "value": ""}}),
            )
            .await;
        assert_eq!(done["completion"]["values"], json!(["1", "2"]), "{done}");
    }

    let user = HttpClient::new(&url, Some("2025-11-25")).header("x-api-key", "user");
    // The part's layers run for calls through the whole.
    let before = seen.load(Ordering::SeqCst);
    let refused = user
        .request(
            "tools/call",
            json!({"name": "crm_refused", "arguments": {}}),
        )
        .await;
    assert_eq!(
        refused["error"]["message"], "refused by the part's layer",
        "{refused}"
    );
    assert_eq!(seen.load(Ordering::SeqCst), before + 1);

    // The part's scopes hold: a caller without `admin` is refused, one with it is answered.
    let denied = user
        .post_raw(
            json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                   "params": {"name": "crm_secret", "arguments": {}}})
            .to_string(),
        )
        .await;
    assert_eq!(denied.status, 403, "{:?}", denied.body);
    let admin = HttpClient::new(&url, Some("2025-11-25")).header("x-api-key", "admin");
    let secret = admin.call("crm_secret", json!({})).await;
    assert_eq!(mcp_tests::text(&secret), "classified");

    // Names outside every namespace, and the part's own names, are unknown here.
    for name in ["who", "crm_nothing", "other_who"] {
        let unknown = user
            .request("tools/call", json!({"name": name, "arguments": {}}))
            .await;
        assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
    }
    let missing = user
        .request("resources/read", json!({"uri": "crm://readme"}))
        .await;
    assert!(missing["error"].is_object(), "{missing}");

    // The 2026-07-28 era: the same names, the same answers.
    let modern = mcp_tests::call_2026(&url, "slack_who", json!({}), &[("x-api-key", "user")]).await;
    assert_eq!(mcp_tests::text(&modern["result"]), "slack (slack server)");
}

#[tokio::test]
async fn a_parts_list_changes_and_resource_updates_reach_the_wholes_clients() {
    let (url, all, crm, _) = whole().await;
    let http = mcp_tests::http();
    let post = |sid: Option<String>, body: Value| {
        let mut req = http
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("x-api-key", "user")
            .header("mcp-protocol-version", "2025-11-25");
        if let Some(sid) = sid {
            req = req.header("mcp-session-id", sid);
        }
        req.json(&body).send()
    };
    let init = post(
        None,
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"}}}),
    )
    .await
    .unwrap();
    let sid = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let caps: Value = init.json().await.unwrap();
    assert_eq!(caps["result"]["capabilities"]["tools"]["listChanged"], true);
    post(
        Some(sid.clone()),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await
    .unwrap();
    let sub = post(
        Some(sid.clone()),
        json!({"jsonrpc": "2.0", "id": 1, "method": "resources/subscribe",
               "params": {"uri": "crm://crm/notes/5"}}),
    )
    .await
    .unwrap();
    assert_eq!(sub.status(), 200);
    let stream = http
        .get(&url)
        .header("accept", "text/event-stream")
        .header("x-api-key", "user")
        .header("mcp-protocol-version", "2025-11-25")
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut events = SseReader::new(stream);

    // The part gains a tool: the whole lists it, and its clients are told.
    crm.change(|c| c.add_tool(Tool::new("added", |_, _| async { "new" })))
        .unwrap();
    let told = events.next_json().await;
    assert_eq!(told["method"], "notifications/tools/list_changed", "{told}");
    assert!(all.tools().iter().any(|t| t.name() == "crm_added"));
    let user = HttpClient::new(&url, Some("2025-11-25")).header("x-api-key", "user");
    assert_eq!(
        mcp_tests::text(&user.call("crm_added", json!({})).await),
        "new"
    );

    // The part announces an update of its resource: the whole's subscriber hears it, at the
    // whole's URI.
    crm.notify_resource_updated("crm://notes/5");
    let told = events.next_json().await;
    assert_eq!(told["method"], "notifications/resources/updated", "{told}");
    assert_eq!(told["params"]["uri"], "crm://crm/notes/5");

    // What the whole disables of a part stays disabled when the part changes again.
    all.change(|c| c.set_tool_enabled("crm_who", false))
        .unwrap();
    let _ = events.next_json().await;
    crm.change(|c| c.add_tool(Tool::new("another", |_, _| async { "x" })))
        .unwrap();
    let told = events.next_json().await;
    assert_eq!(told["method"], "notifications/tools/list_changed", "{told}");
    let listed: Vec<String> = all.tools().iter().map(|t| t.name().to_owned()).collect();
    assert!(listed.contains(&"crm_another".to_owned()), "{listed:?}");
    assert!(!listed.contains(&"crm_who".to_owned()), "{listed:?}");

    // It loses the tool: gone from the whole too.
    crm.change(|c| c.remove_tool("added")).unwrap();
    let told = events.next_json().await;
    assert_eq!(told["method"], "notifications/tools/list_changed", "{told}");
    assert!(!all.tools().iter().any(|t| t.name() == "crm_added"));
}

#[test]
fn compositions_that_cannot_work_are_build_errors_naming_both() {
    let plain = |name: &str| {
        McpServer::new(name)
            .add_tool(Tool::new("list", |_, _| async { "x" }))
            .build()
            .unwrap()
    };
    let problems = |server: McpServer| server.build().unwrap_err().problems().join("\n");

    let twice = problems(
        McpServer::new("All")
            .nest("a", plain("A"))
            .nest("a", plain("B")),
    );
    assert!(
        twice.contains("namespace `a`") && twice.contains("`A`") && twice.contains("`B`"),
        "{twice}"
    );
    let clash = problems(
        McpServer::new("All")
            .add_tool(Tool::new("a_list", |_, _| async { "mine" }))
            .nest("a", plain("A")),
    );
    assert!(
        clash.contains("tool name `a_list` is used twice"),
        "{clash}"
    );
    let merged = problems(McpServer::new("All").merge(plain("A")).merge(plain("B")));
    assert!(
        merged.contains("tool name `list` is used twice"),
        "{merged}"
    );
    let bad = problems(McpServer::new("All").nest("a_b", plain("A")));
    assert!(bad.contains("namespace `a_b` may use only"), "{bad}");
    let secured = McpServer::new("Secured")
        .auth(keys())
        .add_tool(Tool::new("list", |_, _| async { "x" }))
        .build()
        .unwrap();
    let open = problems(McpServer::new("All").nest("s", secured.clone()));
    assert!(
        open.contains("server `Secured` nested as `s` authenticates its callers"),
        "{open}"
    );
    assert!(
        McpServer::new("All")
            .auth(keys())
            .nest("s", secured)
            .build()
            .is_ok()
    );
    let long = problems(
        McpServer::new("All").nest(
            "n".repeat(64),
            McpServer::new("A")
                .add_tool(Tool::new("t".repeat(100), |_, _| async { "x" }))
                .build()
                .unwrap(),
        ),
    );
    assert!(long.contains("at most 128 characters"), "{long}");
}

#[tokio::test]
async fn a_transformed_tool_is_listed_and_called_as_the_transform_says() {
    use mcp_runtime::catalog::{ToolAnnotations, ToolTransform};
    // The function sees its own arguments; it answers with what it got.
    let search = Tool::new("search", |_, args| async move {
        serde_json::to_string(&args).unwrap()
    })
    .description("Search.")
    .input_schema(
        json!({"type": "object", "required": ["q", "scope", "limit"], "properties": {
        "q": {"type": "string"}, "scope": {"type": "string"}, "limit": {"type": "integer"}}}),
    );
    let inner = McpServer::new("Inner").add_tool(search).build().unwrap();
    let server = McpServer::new("Outer").nest("docs", inner).transform_tool(
        "docs_search",
        ToolTransform::new()
            .name("find")
            .title("Find documents")
            .description("Find documents by words.")
            .annotations(ToolAnnotations {
                read_only: Some(true),
                ..ToolAnnotations::default()
            })
            .rename_argument("q", "query")
            .describe_argument("query", "The words to look for.")
            .hide_argument("scope", json!("public"))
            .default_argument("limit", json!(10)),
    );
    let app = Router::new().nest_mcp("/mcp", server.http_app(Transport::Http));
    let url = format!("http://{}/mcp", serve(app).await);
    let client = HttpClient::new(&url, Some("2025-11-25"));
    let tools = client.result("tools/list", json!({})).await;
    let find = &tools["tools"][0];
    assert_eq!(tools["tools"].as_array().unwrap().len(), 1, "{tools}");
    assert_eq!(find["name"], "find");
    assert_eq!(find["title"], "Find documents");
    assert_eq!(find["description"], "Find documents by words.");
    assert_eq!(find["annotations"]["readOnlyHint"], true);
    assert_eq!(
        find["inputSchema"],
        json!({"type": "object", "required": ["query"], "properties": {
            "query": {"type": "string", "description": "The words to look for."},
            "limit": {"type": "integer", "default": 10}}}),
        "{find}"
    );
    // Listed names in, the function's names out; the hidden value cannot be overridden.
    let got = client
        .call(
            "find",
            json!({"query": "rust", "scope": "secret", "q": "ignored"}),
        )
        .await;
    let got: Value = serde_json::from_str(mcp_tests::text(&got)).unwrap();
    assert_eq!(got, json!({"q": "rust", "scope": "public", "limit": 10}));
    let got = client.call("find", json!({"query": "x", "limit": 3})).await;
    let got: Value = serde_json::from_str(mcp_tests::text(&got)).unwrap();
    assert_eq!(got, json!({"q": "x", "scope": "public", "limit": 3}));
    // The old names are gone.
    for old in ["search", "docs_search"] {
        let unknown = client
            .request("tools/call", json!({"name": old, "arguments": {}}))
            .await;
        assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
    }

    // Transforms that cannot apply are build errors.
    let plain = || {
        McpServer::new("S").add_tool(
            Tool::new("t", |_, _| async { "x" })
                .input_schema(json!({"type": "object", "properties": {"a": {"type": "string"}}})),
        )
    };
    for (server, expected) in [
        (
            plain().transform_tool("nope", ToolTransform::new()),
            "names tool `nope`, which this server does not have",
        ),
        (
            plain().transform_tool("t", ToolTransform::new().hide_argument("b", json!(1))),
            "has no argument `b`",
        ),
        (
            plain().transform_tool("t", ToolTransform::new().name("bad name")),
            "invalid tool name `bad name`",
        ),
        (
            plain()
                .transform_tool("t", ToolTransform::new())
                .transform_tool("t", ToolTransform::new()),
            "transformed twice",
        ),
    ] {
        let problems = server.build().unwrap_err().problems().join("\n");
        assert!(problems.contains(expected), "{problems}");
    }
}

#[tokio::test]
async fn a_visibility_hook_hides_items_per_caller_in_lists_and_calls_alike() {
    // `admin` sees everything; `user` does not see `beta` tools, nor the part's `hidden` tool,
    // which the nested server itself hides from everyone but `admin`.
    let part = McpServer::new("Part")
        .add_tool(Tool::new("hidden", |_, _| async { "part secret" }))
        .add_tool(Tool::new("open", |_, _| async { "part open" }))
        .visibility(|v| v.name != "hidden" || v.principal.is_some_and(|p| p.subject == "admin"))
        .build()
        .unwrap();
    let server = McpServer::new("Hooked")
        .auth(keys())
        // Scoped too: hidden from a caller without the scope, it is unknown, not forbidden.
        .add_tool(Tool::new("beta", |_, _| async { "beta" }).require_scopes(["admin"]))
        .add_tool(Tool::new("stable", |_, _| async { "stable" }))
        .add_resource(Resource::new("docs://beta", "beta doc", |_, _| async {
            "b"
        }))
        .add_prompt(Prompt::new("beta", |_, _| async { "b" }))
        .nest("p", part)
        .visibility(|v| {
            let beta = v.name == "beta" || v.name == "docs://beta";
            !beta || v.principal.is_some_and(|p| p.subject == "admin")
        });
    let app = Router::new().nest_mcp("/mcp", server.http_app(Transport::StreamableHttp));
    let url = format!("http://{}/mcp", serve(app).await);
    let user = HttpClient::new(&url, Some("2025-11-25")).header("x-api-key", "user");
    let admin = HttpClient::new(&url, Some("2025-11-25")).header("x-api-key", "admin");

    let tools = user.result("tools/list", json!({})).await;
    assert_eq!(names(&tools, "tools", "name"), ["p_open", "stable"]);
    let tools = admin.result("tools/list", json!({})).await;
    assert_eq!(
        names(&tools, "tools", "name"),
        ["beta", "p_hidden", "p_open", "stable"]
    );
    let resources = user.result("resources/list", json!({})).await;
    assert_eq!(resources["resources"], json!([]));
    let prompts = user.result("prompts/list", json!({})).await;
    assert_eq!(prompts["prompts"], json!([]));

    // A hidden item is unknown to the caller it is hidden from, exactly as a missing one.
    for name in ["beta", "p_hidden"] {
        let hidden = user
            .request("tools/call", json!({"name": name, "arguments": {}}))
            .await;
        assert_eq!(hidden["error"]["code"], -32602, "{hidden}");
        assert_eq!(
            hidden["error"]["message"],
            format!("unknown tool `{name}`"),
            "{hidden}"
        );
    }
    let read = user
        .request("resources/read", json!({"uri": "docs://beta"}))
        .await;
    assert!(read["error"].is_object(), "{read}");
    let prompt = user.request("prompts/get", json!({"name": "beta"})).await;
    assert!(
        prompt["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown prompt"),
        "{prompt}"
    );
    // The callers it is not hidden from use it.
    assert_eq!(
        mcp_tests::text(&admin.call("beta", json!({})).await),
        "beta"
    );
    assert_eq!(
        mcp_tests::text(&admin.call("p_hidden", json!({})).await),
        "part secret"
    );
    assert_eq!(
        mcp_tests::text(&user.call("p_open", json!({})).await),
        "part open"
    );
}

/// A tool in beta.
#[mcp_runtime::tool(domain = "tagged", tags = ["beta"])]
fn tagged_beta() -> &'static str {
    "beta"
}

/// A tool for everyone.
#[mcp_runtime::tool(domain = "tagged")]
fn tagged_stable() -> &'static str {
    "stable"
}

/// A resource in beta.
#[mcp_runtime::resource(domain = "tagged", uri = "tagged://beta", tags = ["beta", "docs"])]
fn tagged_doc() -> &'static str {
    "beta doc"
}

#[tokio::test]
async fn tags_enable_disable_and_decide_visibility() {
    let server = McpServer::new("Tagged")
        .auth(keys())
        .domain("tagged")
        .add_prompt(Prompt::new("beta_prompt", |_, _| async { "b" }).tag("beta"))
        // Beta items only for `admin`.
        .visibility(|v| {
            !v.tags.iter().any(|t| t == "beta") || v.principal.is_some_and(|p| p.subject == "admin")
        })
        .build()
        .unwrap();
    let app = Router::new().nest_mcp("/mcp", server.http_app(Transport::Http));
    let url = format!("http://{}/mcp", serve(app).await);
    let user = HttpClient::new(&url, Some("2025-11-25")).header("x-api-key", "user");
    let admin = HttpClient::new(&url, Some("2025-11-25")).header("x-api-key", "admin");
    assert_eq!(tool_names(&user).await, ["tagged_stable"]);
    assert_eq!(tool_names(&admin).await, ["tagged_beta", "tagged_stable"]);
    let hidden = user
        .request(
            "tools/call",
            json!({"name": "tagged_beta", "arguments": {}}),
        )
        .await;
    assert_eq!(hidden["error"]["message"], "unknown tool `tagged_beta`");
    let resources = admin.result("resources/list", json!({})).await;
    assert_eq!(names(&resources, "resources", "uri"), ["tagged://beta"]);

    // Everything tagged `beta` off at run time, for everyone; and on again.
    let n = server.change(|c| c.set_tag_enabled("beta", false)).unwrap();
    assert_eq!(n, 3, "a tool, a resource and a prompt are tagged beta");
    assert_eq!(tool_names(&admin).await, ["tagged_stable"]);
    assert_eq!(
        admin.result("resources/list", json!({})).await["resources"],
        json!([])
    );
    assert_eq!(
        admin.result("prompts/list", json!({})).await["prompts"],
        json!([])
    );
    assert_eq!(
        server.change(|c| c.set_tag_enabled("docs", true)).unwrap(),
        1
    );
    assert_eq!(tool_names(&admin).await, ["tagged_stable"]);
    server.change(|c| c.set_tag_enabled("beta", true)).unwrap();
    assert_eq!(tool_names(&admin).await, ["tagged_beta", "tagged_stable"]);
    let prompts = admin.result("prompts/list", json!({})).await;
    assert_eq!(names(&prompts, "prompts", "name"), ["beta_prompt"]);
}

async fn tool_names(client: &HttpClient) -> Vec<String> {
    names(
        &client.result("tools/list", json!({})).await,
        "tools",
        "name",
    )
}

#[tokio::test]
async fn a_large_catalog_is_searched_instead_of_listed() {
    use mcp_runtime::catalog::ToolSearch;
    let mut server = McpServer::new("Big")
        .auth(keys())
        .tool_search(ToolSearch::new().always_list(["ping"]))
        .add_tool(Tool::new("ping", |_, _| async { "pong" }))
        .add_tool(
            Tool::new("delete_everything", |_, _| async { "gone" })
                .description("Delete every project.")
                .require_scopes(["admin"]),
        )
        .add_tool(
            Tool::new("list_projects", |_, _| async { "projects" })
                .description("List the caller's projects."),
        )
        .add_tool(
            Tool::new("echo", |_, args| async move {
                args["text"].as_str().unwrap_or_default().to_owned()
            })
            .description("Say the text back.")
            .input_schema(json!({"type": "object", "properties": {"text": {"type": "string"}}})),
        );
    for i in 0..500 {
        server = server.add_tool(
            Tool::new(format!("tool_{i:03}"), |_, _| async { "ok" })
                .description(format!("Filler number {i} about invoices and shipments.")),
        );
    }
    let app = Router::new().nest_mcp("/mcp", server.http_app(Transport::Http));
    let url = format!("http://{}/mcp", serve(app).await);
    let user = HttpClient::new(&url, Some("2025-11-25")).header("x-api-key", "user");
    let admin = HttpClient::new(&url, Some("2025-11-25")).header("x-api-key", "admin");

    // Listed: the search, the call tool, and the one kept listed.
    assert_eq!(
        tool_names(&user).await,
        ["call_tool", "ping", "search_tools"]
    );
    // Found by searching, each caller's own tools only.
    assert_eq!(found(&user, "list my projects").await[0], "list_projects");
    assert!(
        !found(&user, "delete every project")
            .await
            .contains(&"delete_everything".to_owned())
    );
    assert_eq!(
        found(&admin, "delete every project").await[0],
        "delete_everything"
    );
    // Called by name (through the whole request path), or directly.
    let echoed = user
        .call(
            "call_tool",
            json!({"name": "echo", "arguments": {"text": "hi"}}),
        )
        .await;
    assert_eq!(mcp_tests::text(&echoed), "hi");
    assert_eq!(
        mcp_tests::text(&user.call("echo", json!({"text": "direct"})).await),
        "direct"
    );
    // The named tool's scopes hold through the call tool.
    let refused = user
        .post_raw(
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
                "name": "call_tool", "arguments": {"name": "delete_everything"}}})
            .to_string(),
        )
        .await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
}

/// The names a search of `query` finds (at most 3).
async fn found(client: &HttpClient, query: &str) -> Vec<String> {
    let r = client
        .call("search_tools", json!({"query": query, "limit": 3}))
        .await;
    r["structuredContent"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}
