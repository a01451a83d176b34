//! Another MCP server served as one of ours: [`Proxy`] fills an [`McpServer`] with the remote
//! server's tools, resources, templates and prompts (with their completions), each a handler
//! that asks the remote through a [`Client`]. Progress and logs of a call reach our client,
//! the remote's questions (elicitation, sampling, roots) go to our client and the answers
//! back, cancellation is passed on, and the remote's list changes and resource updates
//! become ours. The server it makes is like any other: mount it, nest it, transform it.

use super::{Client, ClientError, RequestScope};
use crate::call::context::{Context, LogLevel};
use crate::catalog::uri_template::UriTemplate;
use crate::catalog::{Completion, Prompt, PromptArgument, Resource, Tool, ToolAnnotations};
use crate::content::{CallToolResult, GetPromptResult, RequestError, ResourceContents};
use crate::core::Dispatcher;
use crate::protocol::{RpcError, code};
use crate::server::{BuildError, McpServer, Server};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

/// Serves a remote MCP server's items as ours (see the module's docs).
///
/// ```no_run
/// use mcp_runtime::client::{ClientOptions, Target, proxy::Proxy};
/// use mcp_runtime::McpServer;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let server = Proxy::connect(
///     Target::http("http://127.0.0.1:3000/mcp").header("authorization", "Bearer …"),
///     ClientOptions::default(),
/// )
/// .await?
///     .pass_headers(["x-request-id"])
///     .serve(McpServer::new("Remote"))
///     .await?;
/// # Ok(()) }
/// ```
pub struct Proxy {
    client: Client,
    headers: Vec<String>,
    max_in_flight: usize,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("client", &self.client)
            .field("headers", &self.headers)
            .field("max_in_flight", &self.max_in_flight)
            .finish()
    }
}

/// Why a proxy could not be served.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProxyError {
    /// The remote's lists could not be read.
    Client(ClientError),
    /// The server could not be built with the remote's items.
    Build(BuildError),
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Client(e) => write!(f, "reading the remote server's lists: {e}"),
            Self::Build(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ProxyError {}

impl Proxy {
    /// Connects to the remote server at `target` as a proxy does: declaring the capabilities
    /// whose questions it passes on to its own clients (elicitation, sampling, roots).
    pub async fn connect(
        target: super::Target,
        options: super::ClientOptions,
    ) -> Result<Self, ClientError> {
        Ok(Self::new(Client::connect(target, asking(options)).await?))
    }

    /// A proxy of the server `client` is connected to. The remote asks only what `client`
    /// declared it can answer ([`Proxy::connect`] declares every kind of question).
    pub fn new(client: Client) -> Self {
        Self {
            client,
            headers: Vec::new(),
            max_in_flight: 64,
        }
    }

    /// Passes these headers of our client's request on to the remote (HTTP only), for
    /// credentials or tracing ids the remote needs; no other header is passed on.
    #[must_use]
    pub fn pass_headers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.headers = names
            .into_iter()
            .map(|n| n.into().to_ascii_lowercase())
            .collect();
        self
    }

    /// The most calls forwarded at once (default 64); past it a call is refused at once.
    #[must_use]
    pub fn max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = max.max(1);
        self
    }

    /// A proxy of the server at `target` that may not be up yet: [`Proxy::serve`] then serves
    /// nothing until the remote answers, trying again (every few seconds at most), and its
    /// items from then on.
    pub async fn lazy(
        target: super::Target,
        options: super::ClientOptions,
    ) -> Result<Self, ClientError> {
        Ok(Self::new(Client::new(target, asking(options)).await?))
    }

    /// `server` with the remote's items, built, and kept in step with the remote's lists. A
    /// remote that cannot be reached yet (a [`Proxy::lazy`] one) leaves the server empty
    /// until it can.
    pub async fn serve(self, server: McpServer) -> Result<Server, ProxyError> {
        let remote = Arc::new(Remote {
            client: self.client.clone(),
            headers: self.headers,
            slots: Semaphore::new(self.max_in_flight),
            max_in_flight: self.max_in_flight,
            tokens: AtomicU64::new(1),
        });
        // A lazy proxy whose remote is not up yet starts empty; the task below fills it.
        let lazy = !self.client.is_connected();
        let (items, mut waiting) = match Self::open(&remote).await {
            Ok(items) => (items, false),
            Err(e) if lazy => {
                tracing::warn!(error = %e, "the remote MCP server cannot be reached yet; its items will be served once it can");
                (Items::default(), true)
            }
            Err(e) => return Err(ProxyError::Client(e)),
        };
        let built = server.build().map_err(ProxyError::Build)?;
        // The server's own items stay its own: a remote item with one of their names is left
        // out (it would replace the item, and take it away at the next change).
        let own = Names::of(&built);
        let items = items.without(&own);
        let names = items.names();
        built
            .change(|c| items.add_to(c))
            .map_err(ProxyError::Build)?;
        let mut changes = self.client.changes();
        let weak: Weak<Dispatcher> = Arc::downgrade(&built.shared);
        tokio::spawn(async move {
            let mut names = names;
            // Until the remote first answers: try again, every few seconds at most.
            let mut pause = std::time::Duration::from_millis(250);
            while waiting {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(5));
                if weak.strong_count() == 0 {
                    return;
                }
                if let Ok(items) = Self::open(&remote).await {
                    let items = items.without(&own);
                    let Some(shared) = weak.upgrade() else { return };
                    let fresh = items.names();
                    if (Server { shared }).change(|c| items.add_to(c)).is_ok() {
                        names = fresh;
                        waiting = false;
                    }
                }
            }
            loop {
                // The server gone, the task ends (and with it the client, once no call holds it).
                let change = tokio::select! {
                    change = changes.recv() => change,
                    () = tokio::time::sleep(std::time::Duration::from_secs(5)) => {
                        if weak.strong_count() == 0 {
                            return;
                        }
                        continue;
                    }
                };
                let change = match change {
                    Ok(c) => c,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => Change::Lists,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                };
                let Some(shared) = weak.upgrade() else { return };
                let server = Server { shared };
                match change {
                    Change::Updated(uri) => server.notify_resource_updated(&uri),
                    Change::Lists => match remote.items().await {
                        Ok(items) => {
                            let items = items.without(&own);
                            let fresh = items.names();
                            let changed = server.change(|c| {
                                for t in &names.tools {
                                    c.remove_tool(t);
                                }
                                for r in &names.resources {
                                    c.remove_resource(r);
                                }
                                for p in &names.prompts {
                                    c.remove_prompt(p);
                                }
                                items.add_to(c);
                            });
                            match changed {
                                Ok(()) => names = fresh,
                                Err(e) => {
                                    tracing::warn!(error = %e, "the remote server's new lists were refused")
                                }
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "the remote server's lists could not be read again")
                        }
                    },
                }
            }
        });
        Ok(built)
    }
}

impl Proxy {
    /// Opens the connection (when it is not open) and reads the remote's items, asking for
    /// every log message of its calls (passed on at each client's own level).
    async fn open(remote: &Arc<Remote>) -> Result<Items, ClientError> {
        if !remote.client.is_connected() {
            remote.client.ensure_connected().await?;
        }
        remote.client.set_log_level(LogLevel::Debug).await?;
        remote.items().await
    }
}

/// `options` declaring the capabilities whose questions a proxy passes on.
fn asking(mut options: super::ClientOptions) -> super::ClientOptions {
    for capability in ["elicitation", "sampling", "roots"] {
        options
            .capabilities
            .entry(capability)
            .or_insert_with(|| json!({}));
    }
    options
}

/// What the remote told outside requests, for the proxy.
#[derive(Clone, Debug)]
pub(crate) enum Change {
    /// A list changed (or the connection was opened again): read them again.
    Lists,
    /// A resource's contents changed.
    Updated(String),
}

/// The remote server as the handlers of its items reach it.
struct Remote {
    client: Client,
    headers: Vec<String>,
    slots: Semaphore,
    max_in_flight: usize,
    tokens: AtomicU64,
}

/// The remote's items, as ours.
#[derive(Default)]
struct Items {
    tools: Vec<Tool>,
    resources: Vec<Resource>,
    prompts: Vec<Prompt>,
}

/// Their names, to take them out again.
#[derive(Default)]
struct Names {
    tools: Vec<String>,
    resources: Vec<String>,
    prompts: Vec<String>,
}

impl Names {
    /// The names of what `server` offers.
    fn of(server: &Server) -> Self {
        let snapshot = server.shared.catalog.peek();
        Self {
            tools: snapshot.tools.iter().map(|t| t.name().to_owned()).collect(),
            resources: snapshot
                .resources
                .iter()
                .chain(&snapshot.templates)
                .map(|r| r.uri().to_owned())
                .collect(),
            prompts: snapshot
                .prompts
                .iter()
                .map(|p| p.name().to_owned())
                .collect(),
        }
    }
}

impl Items {
    fn add_to(self, c: &mut crate::catalog::CatalogEdit<'_>) {
        for t in self.tools {
            c.add_tool(t);
        }
        for r in self.resources {
            c.add_resource(r);
        }
        for p in self.prompts {
            c.add_prompt(p);
        }
    }

    /// These items without those named as one of `own`, with a warning each.
    fn without(mut self, own: &Names) -> Self {
        let clash = |what: &str, name: &str| {
            tracing::warn!(
                "the remote server's {what} `{}` has the name of one of this server's own; left out",
                crate::bounds::shown(name)
            );
        };
        self.tools.retain(|t| {
            let keep = !own.tools.iter().any(|n| n == t.name());
            if !keep {
                clash("tool", t.name());
            }
            keep
        });
        self.resources.retain(|r| {
            let keep = !own.resources.iter().any(|n| n == r.uri());
            if !keep {
                clash("resource", r.uri());
            }
            keep
        });
        self.prompts.retain(|p| {
            let keep = !own.prompts.iter().any(|n| n == p.name());
            if !keep {
                clash("prompt", p.name());
            }
            keep
        });
        self
    }

    fn names(&self) -> Names {
        Names {
            tools: self.tools.iter().map(|t| t.name().to_owned()).collect(),
            resources: self.resources.iter().map(|r| r.uri().to_owned()).collect(),
            prompts: self.prompts.iter().map(|p| p.name().to_owned()).collect(),
        }
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

impl Remote {
    /// Reads the remote's lists and makes our items of them. Items we cannot serve as they are
    /// (an invalid tool name, a template of a grammar we do not match) are left out, with a
    /// warning.
    async fn items(self: &Arc<Self>) -> Result<Items, ClientError> {
        let caps = self.client.server_capabilities();
        let completes = caps.get("completions").is_some();
        let mut items = Items::default();
        let mut seen = HashSet::new();
        if caps.get("tools").is_some() {
            for t in self.client.list_tools().await? {
                let Some(name) = text(&t, "name") else {
                    continue;
                };
                let schema = t
                    .get("inputSchema")
                    .cloned()
                    .unwrap_or_else(|| json!({"type": "object"}));
                if let Some(p) = crate::tool_name_problem(&name) {
                    tracing::warn!(tool = %crate::bounds::shown(&name), "a remote tool is left out: {p}");
                    continue;
                }
                if schema.get("type") != Some(&json!("object")) || !seen.insert(name.clone()) {
                    tracing::warn!(tool = %name, "a remote tool is left out: its input schema is not an object, or its name is used twice");
                    continue;
                }
                let remote = self.clone();
                let called = name.clone();
                let mut tool = Tool::new(name, move |ctx, args| {
                    let remote = remote.clone();
                    let name = called.clone();
                    async move { remote.call_tool(ctx, name, args).await }
                })
                .input_schema(schema);
                if let Some(d) = text(&t, "description") {
                    tool = tool.description(d);
                }
                if let Some(title) = text(&t, "title") {
                    tool = tool.title(title);
                }
                if let Some(out) = t.get("outputSchema").filter(|s| s.is_object()) {
                    tool = tool.output_schema(out.clone());
                }
                if let Some(a) = t.get("annotations") {
                    let hint = |k: &str| a.get(k).and_then(Value::as_bool);
                    tool = tool.annotations(ToolAnnotations {
                        read_only: hint("readOnlyHint"),
                        destructive: hint("destructiveHint"),
                        idempotent: hint("idempotentHint"),
                        open_world: hint("openWorldHint"),
                    });
                }
                items.tools.push(tool);
            }
        }
        if caps.get("resources").is_some() {
            for r in self.client.list_resources().await? {
                let (Some(uri), name) = (text(&r, "uri"), text(&r, "name")) else {
                    continue;
                };
                let remote = self.clone();
                let mut resource = Resource::new(
                    uri.clone(),
                    name.unwrap_or_else(|| uri.clone()),
                    move |ctx, uri| {
                        let remote = remote.clone();
                        async move { remote.read(ctx, uri).await }
                    },
                );
                resource = describe_resource(resource, &r);
                items.resources.push(resource);
            }
            for r in self.client.list_resource_templates().await? {
                let Some(template) = text(&r, "uriTemplate") else {
                    continue;
                };
                let parsed = match UriTemplate::parse(&template) {
                    Ok(t) => t,
                    Err(p) => {
                        tracing::warn!(template = %crate::bounds::shown(&template), "a remote resource template is left out: {p}");
                        continue;
                    }
                };
                let remote = self.clone();
                let name = text(&r, "name").unwrap_or_else(|| template.clone());
                let mut resource = Resource::template(&template, name, move |ctx, uri| {
                    let remote = remote.clone();
                    async move { remote.read(ctx, uri).await }
                });
                if completes {
                    for var in parsed.variables() {
                        let remote = self.clone();
                        let reference = json!({ "type": "ref/resource", "uri": template });
                        resource = resource.complete(var, move |ctx, req| {
                            let remote = remote.clone();
                            let reference = reference.clone();
                            async move { remote.complete(ctx, reference, req).await }
                        });
                    }
                }
                resource = describe_resource(resource, &r);
                items.resources.push(resource);
            }
        }
        if caps.get("prompts").is_some() {
            for p in self.client.list_prompts().await? {
                let Some(name) = text(&p, "name") else {
                    continue;
                };
                let remote = self.clone();
                let got = name.clone();
                let mut prompt = Prompt::new(name.clone(), move |ctx, args| {
                    let remote = remote.clone();
                    let name = got.clone();
                    async move { remote.get_prompt(ctx, name, args).await }
                });
                if let Some(d) = text(&p, "description") {
                    prompt = prompt.description(d);
                }
                if let Some(t) = text(&p, "title") {
                    prompt = prompt.title(t);
                }
                for a in p
                    .get("arguments")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let Some(arg) = text(a, "name") else { continue };
                    let description = text(a, "description").unwrap_or_default();
                    let required = a.get("required").and_then(Value::as_bool) == Some(true);
                    prompt = prompt.argument(if required {
                        PromptArgument::required(arg.clone(), description)
                    } else {
                        PromptArgument::optional(arg.clone(), description)
                    });
                    if completes {
                        let remote = self.clone();
                        let reference = json!({ "type": "ref/prompt", "name": name });
                        prompt = prompt.complete(arg, move |ctx, req| {
                            let remote = remote.clone();
                            let reference = reference.clone();
                            async move { remote.complete(ctx, reference, req).await }
                        });
                    }
                }
                items.prompts.push(prompt);
            }
        }
        Ok(items)
    }

    async fn call_tool(
        &self,
        ctx: Context,
        name: String,
        args: Map<String, Value>,
    ) -> CallToolResult {
        let params = json!({ "name": name, "arguments": args });
        match self.forward(&ctx, "tools/call", params).await {
            Ok(result) => serde_json::from_value(result).unwrap_or_else(|e| {
                CallToolResult::error(format!("the remote tool `{name}` answered with something that is not a tool result: {e}"))
            }),
            Err(e) => {
                ctx.fail_with(e.clone());
                CallToolResult::error(e.message)
            }
        }
    }

    async fn read(&self, ctx: Context, uri: String) -> Result<Vec<ResourceContents>, RequestError> {
        let result = self
            .forward(&ctx, "resources/read", json!({ "uri": uri }))
            .await
            .map_err(RequestError::from_rpc)?;
        serde_json::from_value(result.get("contents").cloned().unwrap_or_default()).map_err(|e| {
            RequestError::internal(format!(
                "the remote server's contents of `{uri}` are not resource contents: {e}"
            ))
        })
    }

    async fn get_prompt(
        &self,
        ctx: Context,
        name: String,
        args: HashMap<String, String>,
    ) -> Result<GetPromptResult, RequestError> {
        let result = self
            .forward(
                &ctx,
                "prompts/get",
                json!({ "name": name, "arguments": args }),
            )
            .await
            .map_err(RequestError::from_rpc)?;
        serde_json::from_value(result).map_err(|e| {
            RequestError::internal(format!(
                "the remote prompt `{name}` is not a prompt result: {e}"
            ))
        })
    }

    async fn complete(
        &self,
        ctx: Context,
        reference: Value,
        req: crate::catalog::CompletionRequest,
    ) -> Result<Completion, RequestError> {
        let mut params =
            json!({ "ref": reference, "argument": { "name": req.argument, "value": req.value } });
        if !req.arguments.is_empty() {
            params["context"] = json!({ "arguments": req.arguments });
        }
        let result = self
            .forward(&ctx, "completion/complete", params)
            .await
            .map_err(RequestError::from_rpc)?;
        let c = &result["completion"];
        let values: Vec<String> = c["values"]
            .as_array()
            .map(|v| {
                v.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let mut completion = Completion::new(values);
        if let Some(total) = c.get("total").and_then(Value::as_u64) {
            completion.total = Some(total);
        }
        completion.has_more |= c.get("hasMore").and_then(Value::as_bool) == Some(true);
        Ok(completion)
    }

    /// Sends a request for `ctx`'s call to the remote: its progress and logs relayed to our
    /// client, its questions asked of our client, cancelled when `ctx` is; the answer, or the
    /// error our client gets.
    async fn forward(
        &self,
        ctx: &Context,
        method: &str,
        mut params: Value,
    ) -> Result<Value, RpcError> {
        let Ok(_slot) = self.slots.try_acquire() else {
            return Err(RpcError::new(
                code::SERVER_ERROR,
                format!(
                    "the remote server has {} requests running through this proxy; try again shortly",
                    self.max_in_flight
                ),
            ));
        };
        // At most 64 notifications wait to be relayed; past that they are dropped.
        let (tx, mut rx) = mpsc::channel::<(String, Value)>(64);
        let mut scope = RequestScope {
            on_notification: Some(Arc::new(move |method: &str, params: &Value| {
                let _ = tx.try_send((method.to_owned(), params.clone()));
            })),
            ..RequestScope::default()
        };
        if ctx.meta().and_then(|m| m.get("progressToken")).is_some() {
            let token = json!(format!(
                "proxy-{}",
                self.tokens.fetch_add(1, Ordering::Relaxed)
            ));
            params["_meta"] = json!({ "progressToken": token });
            scope.progress_token = Some(token);
        }
        let asker = ctx.clone();
        scope.ask = Some(Arc::new(move |method: String, params: Value| {
            let ctx = asker.clone();
            Box::pin(async move {
                ctx.ask_raw(&method, params).await.map_err(|e| {
                    RpcError::new(
                        code::INTERNAL_ERROR,
                        format!("the proxy's client did not answer: {e}"),
                    )
                })
            })
        }));
        scope.headers = self
            .headers
            .iter()
            .filter_map(|h| Some((h.clone(), ctx.headers().get(h)?.to_owned())))
            .collect();
        let cancel = CancellationToken::new();
        scope.cancel = Some(cancel.clone());
        let request = self.client.request_in(method, params, scope);
        tokio::pin!(request);
        let answer = loop {
            tokio::select! {
                answer = &mut request => break answer,
                Some((method, params)) = rx.recv() => relay(ctx, &method, &params).await,
                () = ctx.cancelled(), if !cancel.is_cancelled() => cancel.cancel(),
            }
        };
        while let Ok((method, params)) = rx.try_recv() {
            relay(ctx, &method, &params).await;
        }
        answer.map_err(|e| match e {
            ClientError::Rpc(e) => e,
            other => RpcError::new(
                code::INTERNAL_ERROR,
                format!("the remote MCP server: {other}"),
            ),
        })
    }
}

/// Passes a notification of the remote's call on to our client.
async fn relay(ctx: &Context, method: &str, params: &Value) {
    match method {
        "notifications/progress" => {
            let Some(progress) = params.get("progress").and_then(Value::as_f64) else {
                return;
            };
            let total = params.get("total").and_then(Value::as_f64);
            ctx.progress(
                progress,
                total,
                params.get("message").and_then(Value::as_str),
            )
            .await;
        }
        "notifications/message" => {
            let level = params
                .get("level")
                .cloned()
                .and_then(|l| serde_json::from_value::<LogLevel>(l).ok())
                .unwrap_or(LogLevel::Info);
            ctx.log(level, params.get("data").cloned().unwrap_or_default())
                .await;
        }
        _ => {}
    }
}

fn describe_resource(mut resource: Resource, listed: &Value) -> Resource {
    if let Some(d) = text(listed, "description") {
        resource = resource.description(d);
    }
    if let Some(t) = text(listed, "title") {
        resource = resource.title(t);
    }
    if let Some(m) = text(listed, "mimeType") {
        resource = resource.mime_type(m);
    }
    resource
}
