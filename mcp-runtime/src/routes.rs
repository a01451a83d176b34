//! The app's own routes as MCP tools, and a tool as a REST endpoint: one function, both
//! interfaces.
//!
//! [`RouteTools`] reads an OpenAPI 3 description of routes (any source: utoipa's
//! `OpenApi::openapi()` serialized, aide's, or a file) and makes a [`Tool`] of each operation
//! selected. A call builds the HTTP request from the arguments and sends it with
//! `tower::ServiceExt::oneshot` into the app's own `Router`: no socket, no second port, and the
//! app's extractors, auth, validation and layers run as for a REST client.
//!
//! [`tool_endpoint`] is the reverse: an axum handler that calls a tool with the JSON body as its
//! arguments and answers with its result (errors as `application/problem+json`), and
//! [`tool_operation`] the OpenAPI operation of that endpoint, made from the tool's schemas.

use crate::call::context::Context;
use crate::catalog::{Tool, ToolAnnotations};
use crate::content::{CallToolResult, Content};
use crate::protocol::code;
use crate::server::Server;
use axum::Router;
use http::{HeaderName, Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{Map, Value, json};
use std::fmt;
use std::sync::Arc;
use tower::ServiceExt as _;

/// The most bytes of a route's answer a tool keeps, by default (4 MiB).
const DEFAULT_MAX_BODY: usize = 4 * 1024 * 1024;

/// How many `$ref`s deep a schema is inlined; a deeper one (or one that refers to itself)
/// becomes `{}`.
const MAX_REF_DEPTH: usize = 16;

/// The most nodes an inlined schema may have; past it, what is left becomes `{}`.
const MAX_SCHEMA_NODES: usize = 20_000;

/// The routes of an app, described by OpenAPI, as MCP tools.
///
/// ```
/// use axum::{Json, Router, routing::get};
/// use mcp_runtime::{McpServer, routes::RouteTools};
/// use serde_json::json;
///
/// let app: Router = Router::new().route("/status", get(|| async { Json(json!({"ok": true})) }));
/// let openapi = json!({"openapi": "3.1.0", "paths": {"/status": {"get": {
///     "operationId": "get_status", "summary": "Whether the service is up.",
///     "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}}}}}}});
/// let tools = RouteTools::new(app, openapi).tools().unwrap();
/// let server = McpServer::new("REST").add_tools(tools).build().unwrap();
/// ```
#[derive(Clone)]
pub struct RouteTools {
    router: Router,
    document: Value,
    prefix: String,
    include: Vec<Rule>,
    exclude: Vec<Rule>,
    headers: Vec<HeaderName>,
    principal_header: Option<HeaderName>,
    request_id_header: Option<HeaderName>,
    max_body: usize,
}

impl fmt::Debug for RouteTools {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteTools")
            .field("prefix", &self.prefix)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

/// Which operations are taken.
#[derive(Clone, Debug)]
enum Rule {
    Operation(String),
    Tag(String),
    PathPrefix(String),
}

impl Rule {
    fn matches(&self, op: &Operation<'_>) -> bool {
        match self {
            Self::Operation(id) => op.id == id,
            Self::Tag(tag) => op.tags.iter().any(|t| t == tag),
            Self::PathPrefix(p) => {
                let p = p.trim_end_matches('/');
                op.path == p || op.path.starts_with(&format!("{p}/"))
            }
        }
    }
}

/// One operation of the document.
struct Operation<'a> {
    id: &'a str,
    method: Method,
    path: &'a str,
    tags: Vec<&'a str>,
    spec: &'a Value,
    /// Parameters declared on the path item, shared by its operations.
    shared: Option<&'a Value>,
}

/// Why the tools could not be made: every problem, as a sentence.
#[derive(Debug, Clone)]
pub struct RouteToolsError {
    problems: Vec<String>,
}

impl RouteToolsError {
    /// Each problem.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

impl fmt::Display for RouteToolsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problems.join("; "))
    }
}

impl std::error::Error for RouteToolsError {}

impl RouteTools {
    /// The operations of `openapi` (an OpenAPI 3 document, as JSON), called through `router`.
    pub fn new(router: Router, openapi: Value) -> Self {
        Self {
            router,
            document: openapi,
            prefix: String::new(),
            include: Vec::new(),
            exclude: Vec::new(),
            headers: vec![HeaderName::from_static("authorization")],
            principal_header: None,
            request_id_header: None,
            max_body: DEFAULT_MAX_BODY,
        }
    }

    /// Where `router` serves the document's paths (`/api/v1` when `router` is the whole app and
    /// the document's paths start below it). Default: at the paths as written.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into().trim_end_matches('/').to_owned();
        self
    }

    /// Takes these operations (by `operationId`); with no include rule, every operation.
    #[must_use]
    pub fn include_operations<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        ids: I,
    ) -> Self {
        self.include
            .extend(ids.into_iter().map(|i| Rule::Operation(i.into())));
        self
    }

    /// Takes the operations with one of these tags.
    #[must_use]
    pub fn include_tags<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tags: I) -> Self {
        self.include
            .extend(tags.into_iter().map(|t| Rule::Tag(t.into())));
        self
    }

    /// Takes the operations whose path starts with `prefix`.
    #[must_use]
    pub fn include_paths(mut self, prefix: impl Into<String>) -> Self {
        self.include.push(Rule::PathPrefix(prefix.into()));
        self
    }

    /// Leaves out these operations (by `operationId`).
    #[must_use]
    pub fn exclude_operations<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        ids: I,
    ) -> Self {
        self.exclude
            .extend(ids.into_iter().map(|i| Rule::Operation(i.into())));
        self
    }

    /// Leaves out the operations with one of these tags.
    #[must_use]
    pub fn exclude_tags<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tags: I) -> Self {
        self.exclude
            .extend(tags.into_iter().map(|t| Rule::Tag(t.into())));
        self
    }

    /// The headers of the MCP request passed on to the route (default: `authorization`);
    /// no other header is. Names that are not header names are ignored.
    #[must_use]
    pub fn pass_headers<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, names: I) -> Self {
        self.headers = names
            .into_iter()
            .filter_map(|n| HeaderName::try_from(n.as_ref().to_ascii_lowercase()).ok())
            .collect();
        self
    }

    /// Sends the MCP caller's subject (`Principal::subject`) to the route in this header.
    #[must_use]
    pub fn principal_header(mut self, name: &str) -> Self {
        self.principal_header = HeaderName::try_from(name.to_ascii_lowercase()).ok();
        self
    }

    /// Sends the MCP request's id (its JSON text) to the route in this header, for the route's
    /// logs.
    #[must_use]
    pub fn request_id_header(mut self, name: &str) -> Self {
        self.request_id_header = HeaderName::try_from(name.to_ascii_lowercase()).ok();
        self
    }

    /// Leaves out the operations whose path starts with `prefix`.
    #[must_use]
    pub fn exclude_paths(mut self, prefix: impl Into<String>) -> Self {
        self.exclude.push(Rule::PathPrefix(prefix.into()));
        self
    }

    /// The most bytes of a route's answer a call keeps (default 4 MiB); past it the call is
    /// an error result.
    #[must_use]
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    fn operations(&self) -> Vec<Operation<'_>> {
        let mut ops = Vec::new();
        let Some(Value::Object(paths)) = self.document.get("paths") else {
            return ops;
        };
        for (path, item) in paths {
            for (name, method) in [
                ("get", Method::GET),
                ("put", Method::PUT),
                ("post", Method::POST),
                ("delete", Method::DELETE),
                ("patch", Method::PATCH),
            ] {
                let Some(spec) = item.get(name) else { continue };
                ops.push(Operation {
                    id: spec
                        .get("operationId")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                    method,
                    path,
                    tags: spec
                        .get("tags")
                        .and_then(Value::as_array)
                        .map(|t| t.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default(),
                    spec,
                    shared: item.get("parameters"),
                });
            }
        }
        ops
    }

    /// The tools of the selected operations; every problem at once (an operation without an
    /// `operationId`, an invalid tool name, two arguments of one name).
    pub fn tools(&self) -> Result<Vec<Tool>, RouteToolsError> {
        let mut tools = Vec::new();
        let mut problems = Vec::new();
        let shared = Arc::new(Shared {
            router: self.router.clone(),
            prefix: self.prefix.clone(),
            headers: self.headers.clone(),
            principal_header: self.principal_header.clone(),
            request_id_header: self.request_id_header.clone(),
            max_body: self.max_body,
        });
        for op in self.operations() {
            let taken = (self.include.is_empty() || self.include.iter().any(|r| r.matches(&op)))
                && !self.exclude.iter().any(|r| r.matches(&op));
            if !taken {
                continue;
            }
            match self.tool(&op, &shared) {
                Ok(tool) => tools.push(tool),
                Err(p) => problems.push(p),
            }
        }
        if problems.is_empty() {
            Ok(tools)
        } else {
            Err(RouteToolsError { problems })
        }
    }

    fn tool(&self, op: &Operation<'_>, shared: &Arc<Shared>) -> Result<Tool, String> {
        let what = format!("{} {}", op.method, op.path);
        if op.id.is_empty() {
            return Err(format!("{what} has no `operationId` to name its tool"));
        }
        if let Some(p) = crate::tool_name_problem(op.id) {
            return Err(format!(
                "{what}: the operationId `{}` is not a tool name: {p}",
                op.id
            ));
        }
        let mut properties = Map::new();
        let mut required = Vec::new();
        let mut args = Vec::new();
        // The operation's parameters, and the path item's it does not replace (same name and
        // place).
        let own: Vec<Value> = op
            .spec
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| self.resolve(p))
            .collect();
        let key = |p: &Value| (p.get("name").cloned(), p.get("in").cloned());
        let inherited: Vec<Value> = op
            .shared
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| self.resolve(p))
            .filter(|p| !own.iter().any(|o| key(o) == key(p)))
            .collect();
        for p in inherited.iter().chain(&own) {
            let (Some(name), Some(place)) = (
                p.get("name").and_then(Value::as_str),
                p.get("in").and_then(Value::as_str),
            ) else {
                continue;
            };
            let place = match place {
                "path" => Place::Path,
                "query" => Place::Query,
                // Headers and cookies travel by the allow-list, not as arguments.
                _ => continue,
            };
            let mut schema = p
                .get("schema")
                .map(|s| self.resolve(s))
                .unwrap_or_else(|| json!({}));
            if let (Some(d), Value::Object(s)) = (p.get("description"), &mut schema) {
                s.entry("description").or_insert_with(|| d.clone());
            }
            if properties.insert(name.to_owned(), schema).is_some() {
                return Err(format!("{what}: two parameters are named `{name}`"));
            }
            if place == Place::Path || p.get("required") == Some(&json!(true)) {
                required.push(json!(name));
            }
            args.push((name.to_owned(), place));
        }
        let mut body = Body::None;
        let mut media = "application/json".to_owned();
        if let Some(rb) = op.spec.get("requestBody").map(|b| self.resolve(b)) {
            // A JSON body (`application/json`, `…+json`, with parameters or not); an operation
            // whose body is only of other kinds (forms, files) cannot be a tool.
            let Some((kind, content)) = rb
                .get("content")
                .and_then(Value::as_object)
                .and_then(|c| c.iter().find(|(k, _)| is_json(k)))
            else {
                return Err(format!(
                    "{what}: its request body is not JSON, which a tool cannot send"
                ));
            };
            media.clone_from(kind);
            let schema = content
                .get("schema")
                .map(|s| self.resolve(s))
                .unwrap_or_else(|| json!({}));
            let body_required = rb.get("required") == Some(&json!(true));
            match schema.get("properties") {
                Some(Value::Object(props)) if schema.get("type").is_none_or(|t| t == "object") => {
                    for (name, s) in props {
                        if properties.insert(name.clone(), s.clone()).is_some() {
                            return Err(format!(
                                "{what}: the body's property `{name}` and a parameter have the same name; \
                                 rename one of them"
                            ));
                        }
                        args.push((name.clone(), Place::Body));
                    }
                    for r in schema
                        .get("required")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        required.push(r.clone());
                    }
                    body = Body::Fields;
                }
                _ => {
                    if properties.insert("body".into(), schema).is_some() {
                        return Err(format!(
                            "{what}: a parameter is named `body`, as its request body is"
                        ));
                    }
                    if body_required {
                        required.push(json!("body"));
                    }
                    body = Body::Whole;
                }
            }
        }
        let mut input = json!({ "type": "object", "properties": properties });
        if !required.is_empty() {
            input["required"] = Value::Array(required);
        }
        let description = [op.spec.get("summary"), op.spec.get("description")]
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("\n\n");
        let output = op
            .spec
            .get("responses")
            .and_then(Value::as_object)
            .and_then(|r| {
                ["200", "201", "202", "2XX"].iter().find_map(|s| {
                    r.get(*s)?
                        .get("content")?
                        .as_object()?
                        .iter()
                        .find(|(k, _)| is_json(k))
                        .and_then(|(_, c)| c.get("schema"))
                })
            })
            .map(|s| self.resolve(s));
        let object = |s: &Value| s.get("type").and_then(Value::as_str) == Some("object");
        let route = Arc::new(Route {
            shared: shared.clone(),
            method: op.method.clone(),
            path: op.path.to_owned(),
            args,
            body,
            media,
            wrap: output.as_ref().is_some_and(|s| !object(s)),
        });
        let mut tool = Tool::new(op.id, move |ctx, args| {
            let route = route.clone();
            async move { route.call(ctx, args).await }
        })
        .input_schema(input)
        .annotations(ToolAnnotations {
            read_only: (op.method == Method::GET).then_some(true),
            destructive: (op.method == Method::DELETE).then_some(true),
            idempotent: matches!(op.method, Method::PUT | Method::DELETE).then_some(true),
            open_world: None,
        });
        if !description.is_empty() {
            tool = tool.description(description);
        }
        // The scopes the operation's first security requirement names (OAuth 2 and
        // OpenID Connect schemes list them): the MCP caller must hold them, as on any tool.
        let scopes: Vec<String> = op
            .spec
            .get("security")
            .or_else(|| self.document.get("security"))
            .and_then(Value::as_array)
            .and_then(|r| r.first())
            .and_then(Value::as_object)
            .map(|req| {
                req.values()
                    .filter_map(Value::as_array)
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if !scopes.is_empty() {
            tool = tool.require_scopes(scopes);
        }
        if let Some(output) = output {
            let schema = if !object(&output) {
                json!({ "type": "object", "properties": { "result": output }, "required": ["result"] })
            } else {
                output
            };
            tool = tool.output_schema(schema);
        }
        Ok(tool)
    }

    /// `value` with its `$ref`s into the document inlined (see [`inline`]).
    fn resolve(&self, value: &Value) -> Value {
        inline(value, &self.document)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Place {
    Path,
    Query,
    Body,
}

#[derive(Clone, Copy, Debug)]
enum Body {
    None,
    /// The body's properties are arguments.
    Fields,
    /// The body is the `body` argument.
    Whole,
}

/// What every route tool of one `RouteTools` shares.
struct Shared {
    router: Router,
    prefix: String,
    headers: Vec<HeaderName>,
    principal_header: Option<HeaderName>,
    request_id_header: Option<HeaderName>,
    max_body: usize,
}

/// One operation as a tool calls it.
struct Route {
    shared: Arc<Shared>,
    method: Method,
    path: String,
    args: Vec<(String, Place)>,
    body: Body,
    /// The body's media type, as the document gives it.
    media: String,
    /// The success body is not an object: it is structured as `{"result": …}`.
    wrap: bool,
}

impl Route {
    async fn call(&self, ctx: Context, mut args: Map<String, Value>) -> CallToolResult {
        let mut path = self.path.clone();
        let mut pairs: Vec<(&str, String)> = Vec::new();
        let mut fields = Map::new();
        for (name, place) in &self.args {
            let Some(value) = args.remove(name) else {
                if *place == Place::Path {
                    return CallToolResult::error(format!("the argument `{name}` is required"));
                }
                continue;
            };
            match place {
                Place::Path => {
                    let text = text_of(&value);
                    if value.is_null() || text.is_empty() || text == "." || text == ".." {
                        return CallToolResult::error(format!(
                            "the argument `{name}` cannot be {}: it is a path segment",
                            if value.is_null() {
                                "null".to_owned()
                            } else {
                                format!("{text:?}")
                            }
                        ));
                    }
                    path = path.replace(&format!("{{{name}}}"), &encode_segment(&text));
                }
                Place::Query => match &value {
                    Value::Array(items) => {
                        pairs.extend(items.iter().map(|item| (name.as_str(), text_of(item))));
                    }
                    Value::Null => {}
                    v => pairs.push((name.as_str(), text_of(v))),
                },
                Place::Body => {
                    fields.insert(name.clone(), value);
                }
            }
        }
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        let mut uri = format!("{}{path}", self.shared.prefix);
        if !query.is_empty() {
            uri = format!("{uri}?{query}");
        }
        let body = match self.body {
            Body::None => None,
            Body::Fields => Some(Value::Object(fields)),
            Body::Whole => args.remove("body"),
        };
        let request = Request::builder().method(self.method.clone()).uri(&uri);
        let request = match body {
            Some(b) => request.body(Body_::from(
                serde_json::to_vec(&b).expect("values serialize"),
            )),
            None => request.body(Body_::empty()),
        };
        let mut request = match request {
            Ok(r) => r,
            Err(e) => {
                return CallToolResult::error(format!(
                    "the request to {uri} could not be made: {e}"
                ));
            }
        };
        let headers = request.headers_mut();
        for name in &self.shared.headers {
            for value in ctx.all_headers().get_all(name) {
                headers.append(name, value.clone());
            }
        }
        // What this server says about the call replaces anything a client sent by that name.
        if let Some(name) = &self.shared.principal_header {
            headers.remove(name);
            if let Some(v) = ctx
                .principal()
                .and_then(|p| http::HeaderValue::from_str(&p.subject).ok())
            {
                headers.insert(name, v);
            }
        }
        if let Some(name) = &self.shared.request_id_header {
            headers.remove(name);
            if let Some(v) = ctx
                .request_id()
                .and_then(|id| http::HeaderValue::from_str(&id.to_string()).ok())
            {
                headers.insert(name, v);
            }
        }
        headers.insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("application/json"),
        );
        if !matches!(self.body, Body::None) {
            let media = http::HeaderValue::from_str(&self.media)
                .unwrap_or_else(|_| http::HeaderValue::from_static("application/json"));
            headers.insert(http::header::CONTENT_TYPE, media);
        }
        let response = match self.shared.router.clone().oneshot(request).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let status = response.status();
        let json = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("application/json") || c.contains("+json"));
        let limited = http_body_util::Limited::new(response.into_body(), self.shared.max_body);
        let bytes = match limited.collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return CallToolResult::error(format!(
                    "the answer of {} {} passed {} bytes",
                    self.method, self.path, self.shared.max_body
                ));
            }
        };
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if !status.is_success() {
            let hint = match status {
                StatusCode::UNAUTHORIZED => format!(
                    " (the route needs a credential; this server passes on {})",
                    if self.shared.headers.is_empty() {
                        "no header".to_owned()
                    } else {
                        self.shared
                            .headers
                            .iter()
                            .map(|h| format!("`{h}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
                _ => String::new(),
            };
            return CallToolResult::error(format!("HTTP {status}{hint}: {text}"));
        }
        let parsed = json
            .then(|| serde_json::from_slice::<Value>(&bytes).ok())
            .flatten();
        match parsed {
            Some(value) => CallToolResult {
                content: vec![Content::text(text)],
                structured_content: Some(if self.wrap || !value.is_object() {
                    json!({ "result": value })
                } else {
                    value
                }),
                ..CallToolResult::default()
            },
            None => CallToolResult::text(text),
        }
    }
}

type Body_ = axum::body::Body;

/// Whether a media type is JSON (`application/json`, `…+json`, with parameters or not).
fn is_json(media: &str) -> bool {
    let essence = crate::headers::essence(media);
    essence.eq_ignore_ascii_case("application/json") || essence.ends_with("+json")
}

/// `value` with its `$ref`s (`#/…`, into `root`) inlined. A reference to a schema that is
/// being inlined already (a cycle), or deeper than [`MAX_REF_DEPTH`] references, becomes `{}`;
/// past [`MAX_SCHEMA_NODES`] nodes in all, so does the rest: a document whose shared schemas
/// refer to each other many times cannot make a schema of exponential size.
fn inline(value: &Value, root: &Value) -> Value {
    fn go(value: &Value, root: &Value, open: &mut Vec<String>, budget: &mut usize) -> Value {
        if *budget == 0 {
            return json!({});
        }
        *budget -= 1;
        match value {
            Value::Object(o) => {
                if let Some(Value::String(r)) = o.get("$ref") {
                    if open.len() >= MAX_REF_DEPTH || open.contains(r) {
                        return json!({});
                    }
                    let Some(target) = r.strip_prefix('#').and_then(|p| root.pointer(p)) else {
                        return json!({});
                    };
                    open.push(r.clone());
                    let inlined = go(target, root, open, budget);
                    open.pop();
                    return inlined;
                }
                Value::Object(
                    o.iter()
                        .map(|(k, v)| (k.clone(), go(v, root, open, budget)))
                        .collect(),
                )
            }
            Value::Array(a) => Value::Array(a.iter().map(|v| go(v, root, open, budget)).collect()),
            other => other.clone(),
        }
    }
    let mut budget = MAX_SCHEMA_NODES;
    go(value, root, &mut Vec::new(), &mut budget)
}

/// A JSON value as it goes in a path or a query: strings as they are, the rest as JSON text.
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `s` as one path segment: every byte but the unreserved ones percent-encoded.
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An axum handler that calls `tool` of `server` with the request's JSON body as its arguments:
/// `200` with the structured result (or the result's JSON when it has none); a tool's error
/// result is `422`, an unknown tool or bad arguments `400`, a missing scope `403`, other
/// failures `500`, each as `application/problem+json`. The request's headers are the call's;
/// its caller is the `Principal` an auth layer of the app put in its extensions, else the one
/// the server's own auth ([`crate::McpServer::auth`]) finds in it (`401` when it finds none),
/// so the tool's scopes hold as on the MCP mount.
pub fn tool_endpoint<S>(server: &Server, tool: &str) -> axum::routing::MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    let server = server.clone();
    let tool = tool.to_owned();
    axum::routing::post(move |request: Request<Body_>| {
        let server = server.clone();
        let tool = tool.clone();
        async move { endpoint(server, &tool, request).await }
    })
}

async fn endpoint(server: Server, tool: &str, request: Request<Body_>) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let (mut parts, body) = request.into_parts();
    // The server's own auth, when the app's layers named no caller: the same credentials as
    // its MCP mount, checked the same way.
    if parts.extensions.get::<crate::auth::Principal>().is_none()
        && let Some(auth) = server.authenticator()
    {
        match auth.authenticate(&parts).await {
            Ok(principal) => {
                parts.extensions.insert(principal);
            }
            Err(e) => {
                let status = match e {
                    crate::auth::AuthError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::UNAUTHORIZED,
                };
                return problem(status, e.to_string());
            }
        }
    }
    let json_body = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_json);
    // JSON only: a cross-site form cannot post one without the browser asking first (CORS).
    if !json_body {
        return problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the tool's arguments as `application/json`".into(),
        );
    }
    let bytes = match http_body_util::Limited::new(body, DEFAULT_MAX_BODY)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the body is too large".into(),
            );
        }
    };
    let arguments = if bytes.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    "the body must be a JSON object of the tool's arguments".into(),
                );
            }
            Err(e) => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    format!("the body is not JSON: {e}"),
                );
            }
        }
    };
    match server.call_tool_with(parts, tool, arguments).await {
        Ok(result) if result.is_error => {
            let detail = result
                .content
                .iter()
                .filter_map(|c| match c {
                    Content::Text(t) => Some(t.text.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("\n");
            problem(StatusCode::UNPROCESSABLE_ENTITY, detail)
        }
        Ok(result) => {
            let body = match result.structured_content.clone() {
                Some(structured) => structured,
                None => serde_json::to_value(&result).unwrap_or_default(),
            };
            (
                [(http::header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response()
        }
        Err(e) => {
            // The statuses the MCP mount gives these errors (403, 429, 503, …); then bad
            // arguments 400, an unknown tool 404, the rest 500.
            let status = match crate::transport::error_status(e.code) {
                StatusCode::OK => match e.code {
                    code::INVALID_PARAMS => StatusCode::BAD_REQUEST,
                    code::METHOD_NOT_FOUND => StatusCode::NOT_FOUND,
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                },
                s => s,
            };
            let after = crate::transport::retry_after(&e);
            let mut res = problem(status, e.message);
            if let Some(after) = after {
                res.headers_mut().insert(http::header::RETRY_AFTER, after);
            }
            res
        }
    }
}

/// An RFC 9457 problem answer.
fn problem(status: StatusCode, detail: String) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let body = json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("error"),
        "status": status.as_u16(),
        "detail": detail,
    });
    (
        status,
        [(http::header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

/// The OpenAPI operation of [`tool_endpoint`] for `tool`: its request body the tool's input
/// schema, its `200` answer the output schema (when it has one), and its problem answers.
pub fn tool_operation(tool: &Tool) -> Value {
    let problem = json!({ "description": "a problem", "content": { "application/problem+json": { "schema": {
        "type": "object", "properties": { "title": {"type": "string"}, "status": {"type": "integer"}, "detail": {"type": "string"} } } } } });
    // The tool's schemas with their own `$defs` inlined: inside an OpenAPI document a `#`
    // reference points at the document.
    let standalone = |schema: Value| {
        let mut s = inline(&schema, &schema);
        if let Value::Object(o) = &mut s {
            o.remove("$defs");
            o.remove("definitions");
            o.remove("$schema");
        }
        s
    };
    let ok = json!({ "description": "the tool's result", "content": { "application/json": {
        "schema": tool.get_output_schema().map(standalone).unwrap_or_else(|| json!({})) } } });
    let mut op = json!({
        "operationId": tool.name(),
        "requestBody": { "content": { "application/json": { "schema": standalone(tool.get_input_schema()) } } },
        "responses": { "200": ok, "400": problem.clone(), "401": problem.clone(), "403": problem.clone(),
            "415": problem.clone(), "422": problem.clone(), "429": problem.clone(), "500": problem },
    });
    if let Some(d) = &tool.description {
        op["summary"] = json!(d);
    }
    op
}
