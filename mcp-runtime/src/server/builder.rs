//! [`McpServer`], the builder: it selects tools, resources and prompts (by domain, by
//! function, or built by hand), gathers the shared state, and checks everything at once.

use crate::catalog::prompt::{self, Prompt};
use crate::catalog::resource::{self, Resource};
use crate::catalog::tool::{self, StateRequirement, Tool, ToolSchemas};
use crate::catalog::{Catalog, Entries, ListSettings};
use crate::core::{Dispatcher, ServerInfo};
use crate::transport::admission::AuthState;
use serde_json::Value;
use std::any::{Any, TypeId};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::Server;

enum Selection {
    Domain(String),
    All,
    Function {
        type_id: TypeId,
        type_name: &'static str,
        /// `tool`, `resource` or `prompt`: the builder method it was passed to.
        via: &'static str,
    },
    Tool(Box<Tool>),
    Resource(Box<Resource>),
    Prompt(Box<Prompt>),
}

pub(super) type StateMap = HashMap<TypeId, (Arc<dyn Any + Send + Sync>, &'static str)>;

/// Builds an MCP server: its name, its tools, resources and prompts, and its shared state.
///
/// ```
/// use mcp_runtime::{McpServer, tool};
///
/// /// Multiply two numbers.
/// #[tool(domain = "arithmetic")]
/// fn multiply(a: i64, b: i64) -> i64 {
///     a * b
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let server = McpServer::new("Arithmetic").domain("arithmetic").build().unwrap();
/// let result = server.call_tool("multiply", serde_json::json!({"a": 2, "b": 3})).await.unwrap();
/// assert_eq!(result.structured_content, Some(serde_json::json!({"result": 6})));
/// # }
/// ```
pub struct McpServer {
    info: ServerInfo,
    selections: Vec<Selection>,
    states: StateMap,
    page_size: Option<usize>,
    list_ttl: Duration,
    auth: Option<crate::auth::SharedAuth>,
    tool_schemas: ToolSchemas,
    request_state_key: Option<crate::core::state::StateKey>,
    task_store: Option<Arc<dyn crate::store::tasks::TaskStore>>,
    task_ttl: Option<Duration>,
    subscriptions: Option<crate::catalog::resource::SubscriptionCheck>,
    layers: Vec<crate::core::middleware::Stacked>,
    tool_timeout: Option<Duration>,
    client_request_timeout: Duration,
    /// The servers nested in this one, with their namespaces (empty when merged).
    parts: Vec<(String, Server)>,
    transforms: Vec<(String, crate::catalog::ToolTransform)>,
    visibility: Option<crate::catalog::VisibilityCheck>,
    search: Option<crate::catalog::ToolSearch>,
    skills: Vec<crate::catalog::Skill>,
    uis: Vec<crate::catalog::UiResource>,
}

impl McpServer {
    /// A server with this name (`serverInfo.name`) and nothing to offer yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            info: ServerInfo {
                name: name.into(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                title: None,
                instructions: None,
                website_url: None,
                description: None,
                icons: Vec::new(),
                registry_name: None,
            },
            selections: Vec::new(),
            states: HashMap::new(),
            page_size: None,
            list_ttl: Duration::from_secs(300),
            auth: None,
            tool_schemas: ToolSchemas::default(),
            request_state_key: None,
            task_store: None,
            task_ttl: None,
            tool_timeout: None,
            client_request_timeout: Duration::from_secs(300),
            subscriptions: None,
            layers: Vec::new(),
            parts: Vec::new(),
            transforms: Vec::new(),
            visibility: None,
            search: None,
            skills: Vec::new(),
            uis: Vec::new(),
        }
    }

    /// Lists two tools instead of every tool: one that searches the server's tools (ranked
    /// by BM25 over names, titles and descriptions, each caller's own: scopes and visibility
    /// hold) and one that calls a tool by its name, through the same path as a direct call.
    /// For servers with hundreds of tools, which overwhelm a model's context. Every tool stays
    /// callable directly; [`ToolSearch::always_list`](crate::catalog::ToolSearch::always_list)
    /// keeps a few listed.
    #[must_use]
    pub fn tool_search(mut self, search: crate::catalog::ToolSearch) -> Self {
        self.search = Some(search);
        self
    }

    /// Decides per caller which tools, resources, templates and prompts it sees, beyond
    /// scopes: `shown` gets the caller (its principal, its session) and one item; `false`
    /// hides the item from that caller's lists and answers its calls, reads and completions
    /// as for an item that does not exist (unknown, not forbidden). Lists are then written for
    /// each caller (and marked private in 2026-07-28). Keep it fast: it runs for every item of
    /// a list.
    ///
    /// ```
    /// use mcp_runtime::{McpServer, catalog::ItemKind};
    ///
    /// // Tools named `beta_…` only for the tenant `acme`.
    /// let server = McpServer::new("S").visibility(|v| {
    ///     !(v.kind == ItemKind::Tool && v.name.starts_with("beta_"))
    ///         || v.principal.is_some_and(|p| p.claims.get("tenant") == Some(&"acme".into()))
    /// });
    /// ```
    #[must_use]
    pub fn visibility<F>(mut self, shown: F) -> Self
    where
        F: Fn(&crate::catalog::Visibility<'_>) -> bool + Send + Sync + 'static,
    {
        self.visibility = Some(Arc::new(shown));
        self
    }

    /// Shows the tool `name` (a nested server's by its namespaced name) as `transform` says:
    /// another name, title, description or annotations, arguments renamed, hidden behind a
    /// fixed value or given a default. The function is untouched: the arguments clients send
    /// are mapped back to its own before it runs. A transform of a tool the server lacks, of
    /// an argument the tool lacks, or a second transform of one tool is a build error.
    ///
    /// ```
    /// use mcp_runtime::{McpServer, catalog::{Tool, ToolTransform}};
    /// use serde_json::json;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let search = Tool::new("search", |_, args| async move { format!("{args:?}") })
    ///     .input_schema(json!({"type": "object", "required": ["q", "scope"],
    ///         "properties": {"q": {"type": "string"}, "scope": {"type": "string"}}}));
    /// let server = McpServer::new("S")
    ///     .add_tool(search)
    ///     .transform_tool("search", ToolTransform::new()
    ///         .name("find")
    ///         .rename_argument("q", "query")
    ///         .hide_argument("scope", json!("public")))
    ///     .build()
    ///     .unwrap();
    /// let found = server.call_tool("find", json!({"query": "rust"})).await.unwrap();
    /// assert_eq!(found.content, [mcp_runtime::content::Content::text(
    ///     r#"{"q": String("rust"), "scope": String("public")}"#)]);
    /// # }
    /// ```
    #[must_use]
    pub fn transform_tool(
        mut self,
        name: impl Into<String>,
        transform: crate::catalog::ToolTransform,
    ) -> Self {
        self.transforms.push((name.into(), transform));
        self
    }

    /// Nests another server in this one under `namespace`: its tools and prompts are listed
    /// as `namespace_name`, its resources and templates at `scheme://namespace/rest` (for
    /// `scheme://rest`; `scheme:namespace/rest` for `scheme:rest`), and completions of its
    /// prompts and templates go to it. A request for one of its items is answered by that
    /// server, under its own name for it: through its layers, with its state, scopes,
    /// timeouts and subscription check (this server's layers and auth come first). Its list
    /// changes and resource updates reach this server's clients. Resource URIs in its answers
    /// (contents, links, embedded resources it serves) are given in this server's form.
    ///
    /// `namespace` uses ASCII letters, digits and `-`. Two parts under one namespace, or a
    /// name or URI this server already uses, are build errors naming both. A nested server
    /// that authenticates its callers needs this server to authenticate them too.
    ///
    /// ```
    /// use mcp_runtime::{McpServer, catalog::Tool};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let crm = McpServer::new("CRM").add_tool(Tool::new("list", |_, _| async { "projects" }));
    /// let slack = McpServer::new("Slack").add_tool(Tool::new("list", |_, _| async { "channels" }));
    /// let all = McpServer::new("All")
    ///     .nest("crm", crm.build().unwrap())
    ///     .nest("slack", slack.build().unwrap())
    ///     .build()
    ///     .unwrap();
    /// let names: Vec<_> = all.tools().iter().map(|t| t.name().to_owned()).collect();
    /// assert_eq!(names, ["crm_list", "slack_list"]);
    /// let result = all.call_tool("slack_list", serde_json::json!({})).await.unwrap();
    /// assert_eq!(result.content, [mcp_runtime::content::Content::text("channels")]);
    /// # }
    /// ```
    #[must_use]
    pub fn nest(mut self, namespace: impl Into<String>, server: Server) -> Self {
        self.parts.push((namespace.into(), server));
        self
    }

    /// Adds another server's items to this one as they are named there (no namespace),
    /// answered by that server as with [`McpServer::nest`]. A name or URI both use is a
    /// build error.
    #[must_use]
    pub fn merge(mut self, server: Server) -> Self {
        self.parts.push((String::new(), server));
        self
    }

    /// Adds MCP middleware: a tower [`Layer`](tower::Layer) over every request this server
    /// answers ([`crate::middleware::McpRequest`], of every transport, after admission and
    /// before the method table). Layers added first run first (outermost). A layer may refuse
    /// a request (answer [`crate::middleware::McpResponse::error`] without calling the inner
    /// service), rewrite it, or observe its outcome and duration. The policies in
    /// [`crate::middleware`] (rate limits, concurrency caps, audit, a response cache) are such
    /// layers; tower's own (`tower::timeout` and the like) fit through
    /// [`middleware::answering`](crate::middleware::answering), which makes their failures
    /// answers.
    #[must_use]
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: crate::middleware::McpLayer,
    {
        self.layers
            .push(crate::core::middleware::Stacked::new(layer, None));
        self
    }

    /// [`McpServer::layer`] for the requests `select` accepts only: one tool
    /// ([`Select::tool`](crate::middleware::Select::tool)), several, a method, or any rule.
    /// The other requests skip the layer.
    #[must_use]
    pub fn layer_on<L>(mut self, select: crate::middleware::Select, layer: L) -> Self
    where
        L: crate::middleware::McpLayer,
    {
        self.layers
            .push(crate::core::middleware::Stacked::new(layer, Some(select)));
        self
    }

    /// Decides who may follow which resource's updates (`resources/subscribe`, and the URIs
    /// of a 2026-07-28 `subscriptions/listen`), beyond what the runtime checks itself: the URI
    /// must be one this server serves, of bounded length, and the caller must hold the
    /// resource's scopes. `check` gets the caller and the URI; `false` refuses the
    /// subscription as if the resource did not exist, so a caller learns nothing of resources
    /// it may not read. Without a check, any caller that may read a resource may subscribe.
    ///
    /// ```
    /// use mcp_runtime::{McpServer, catalog::Subscription};
    ///
    /// // Each user follows only the projects under their own id.
    /// let server = McpServer::new("CRM").authorize_subscriptions(|s: Subscription| async move {
    ///     let Some(user) = s.principal else { return false };
    ///     s.uri.starts_with(&format!("crm://users/{}/", user.subject))
    /// });
    /// ```
    pub fn authorize_subscriptions<F, Fut>(mut self, check: F) -> Self
    where
        F: Fn(crate::catalog::resource::Subscription) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = bool> + Send + 'static,
    {
        self.subscriptions = Some(Arc::new(move |s| Box::pin(check(s))));
        self
    }

    /// The longest a tool, resource, prompt or completion may run when it sets no timeout of
    /// its own (`#[tool(timeout_ms = …)]`), on every transport; past it the call is cancelled
    /// and answered with an error. Default: none.
    #[must_use]
    pub fn tool_timeout(mut self, timeout: Duration) -> Self {
        self.tool_timeout = Some(timeout);
        self
    }

    /// How long a handler waits for the client to answer a question (elicitation, sampling,
    /// roots) before it gets a time-out error, on every transport. Default 5 minutes: a person
    /// may be answering.
    #[must_use]
    pub fn client_request_timeout(mut self, timeout: Duration) -> Self {
        self.client_request_timeout = timeout;
        self
    }

    /// How long an ended task stays readable with `tasks/get` (its `ttlMs`). Default 1 hour;
    /// at most ten years.
    pub fn task_ttl(mut self, ttl: Duration) -> Self {
        self.task_ttl = Some(ttl.min(crate::bounds::LONGEST));
        self
    }

    /// Where the records of tasks are kept (default: in memory, [`crate::store::MemoryTaskStore`]).
    /// A shared store lets every instance of an app answer `tasks/get` for every task.
    pub fn task_store(mut self, store: impl crate::store::tasks::TaskStore) -> Self {
        self.task_store = Some(Arc::new(store));
        self
    }

    /// The secret that seals the `requestState` of 2026-07-28 input-required rounds (HMAC-SHA256;
    /// any length, hashed to a 256-bit key). Default: random per process. Give every instance
    /// of an app the same secret so that they accept each other's states.
    pub fn request_state_key(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.request_state_key = Some(crate::core::state::StateKey::from_secret(secret.as_ref()));
        self
    }

    /// How derived tool schemas are listed (default [`ToolSchemas::Compatible`]).
    pub fn tool_schemas(mut self, form: ToolSchemas) -> Self {
        self.tool_schemas = form;
        self
    }

    /// Authenticates every request to this server with `auth` ([`crate::auth::ApiKeyAuth`],
    /// [`crate::auth::JwtVerifier`], or an [`crate::auth::Authenticator`] of the app), before any
    /// session is created or tool runs. Tools, resources and prompts with `scopes` are then
    /// refused (403) to callers that lack them, and lists show each caller only what it may use.
    pub fn auth(mut self, auth: impl crate::auth::Authenticator) -> Self {
        self.auth = Some(Arc::new(auth));
        self
    }

    /// Sets `serverInfo.version` (default: this crate's version).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.info.version = version.into();
        self
    }

    /// Sets `serverInfo.title`, the name shown to people.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.info.title = Some(title.into());
        self
    }

    /// Sets the instructions clients may give their model.
    pub fn instructions(mut self, instructions: impl Into<String>) -> Self {
        self.info.instructions = Some(instructions.into());
        self
    }

    /// Sets `serverInfo.websiteUrl`.
    pub fn website_url(mut self, url: impl Into<String>) -> Self {
        self.info.website_url = Some(url.into());
        self
    }

    /// Serves an app (the `io.modelcontextprotocol/ui` extension, MCP Apps): its `ui://` page
    /// as a resource (`text/html;profile=mcp-app`, with its `_meta.ui`), named in the listing of
    /// each tool it links (`_meta.ui.resourceUri`), so that hosts show it beside their results.
    /// A linked tool the server does not have is a build error. See
    /// [`UiResource`](crate::catalog::UiResource).
    pub fn ui(mut self, page: crate::catalog::UiResource) -> Self {
        self.uis.push(page);
        self
    }

    /// Serves a skill (the `io.modelcontextprotocol/skills` extension): listed with
    /// `skills/list`, given with `skills/get`, its files read as `skill://` resources and its
    /// folders with `resources/directory/read`. See [`Skill`](crate::catalog::Skill).
    pub fn skill(mut self, skill: crate::catalog::Skill) -> Self {
        self.skills.push(skill);
        self
    }

    /// Serves these skills: `server.skills(mcp_runtime::include_skills!("skills"))` serves
    /// every skill of the crate's `skills` folder, embedded at build time.
    pub fn skills(mut self, skills: impl IntoIterator<Item = crate::catalog::Skill>) -> Self {
        self.skills.extend(skills);
        self
    }

    /// Sets `serverInfo.description` (2025-11-25+), what the server offers in a sentence; the
    /// server card and the AI catalog show it too (a card cuts it at 100 characters).
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.info.description = Some(description.into());
        self
    }

    /// Adds an icon to `serverInfo.icons` (2025-11-25+) and the server card.
    pub fn icon(mut self, icon: crate::catalog::Icon) -> Self {
        self.info.icons.push(icon);
        self
    }

    /// The server's name in registries and in its server card: a reverse-DNS namespace, a
    /// slash, a name (`com.example/crm`; letters, digits, `.` and `-`, then `_` too after the
    /// slash; 3 to 200 characters). Without it, the card names the server after the host it
    /// was asked on (`com.example.api/crm` for `api.example.com` and a server named `CRM`).
    pub fn registry_name(mut self, name: impl Into<String>) -> Self {
        self.info.registry_name = Some(name.into());
        self
    }

    /// Adds every `#[tool]`, `#[resource]` and `#[prompt]` that names this domain
    /// (`#[tool(domain = "crm")]`).
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.selections.push(Selection::Domain(domain.into()));
        self
    }

    /// Adds every `#[tool]`, `#[resource]` and `#[prompt]` registered in the binary, whatever
    /// its domain.
    pub fn all_tools(mut self) -> Self {
        self.selections.push(Selection::All);
        self
    }

    /// Adds one `#[tool]` function by naming it: `McpServer::new("CRM").tool(list_projects)`.
    /// A function without `#[tool]` is reported when the server is built.
    pub fn tool<F: 'static>(self, function: F) -> Self {
        self.function(function, "tool")
    }

    /// Adds one `#[resource]` function by naming it.
    pub fn resource<F: 'static>(self, function: F) -> Self {
        self.function(function, "resource")
    }

    /// Adds one `#[prompt]` function by naming it.
    pub fn prompt<F: 'static>(self, function: F) -> Self {
        self.function(function, "prompt")
    }

    fn function<F: 'static>(mut self, function: F, via: &'static str) -> Self {
        let _ = function;
        self.selections.push(Selection::Function {
            type_id: TypeId::of::<F>(),
            type_name: std::any::type_name::<F>(),
            via,
        });
        self
    }

    /// Adds a tool built by hand with [`Tool::new`].
    pub fn add_tool(mut self, tool: Tool) -> Self {
        self.selections.push(Selection::Tool(Box::new(tool)));
        self
    }

    /// Adds several tools built by hand (the app's routes as tools, for one:
    /// [`crate::routes::RouteTools::tools`]).
    pub fn add_tools(self, tools: impl IntoIterator<Item = Tool>) -> Self {
        tools.into_iter().fold(self, Self::add_tool)
    }

    /// Adds a resource or template built by hand with [`Resource::new`] or
    /// [`Resource::template`].
    pub fn add_resource(mut self, resource: Resource) -> Self {
        self.selections
            .push(Selection::Resource(Box::new(resource)));
        self
    }

    /// Adds a prompt built by hand with [`Prompt::new`].
    pub fn add_prompt(mut self, prompt: Prompt) -> Self {
        self.selections.push(Selection::Prompt(Box::new(prompt)));
        self
    }

    /// Shares a value with the tools: a tool takes it as `State<T>` (or `ctx.state::<T>()`).
    /// One value per type; a later call with the same type replaces the earlier one.
    pub fn state<T: Send + Sync + 'static>(self, value: T) -> Self {
        self.state_arc(Arc::new(value))
    }

    /// Like [`McpServer::state`], for a value already in an `Arc`.
    pub fn state_arc<T: Send + Sync + 'static>(mut self, value: Arc<T>) -> Self {
        self.states.insert(
            TypeId::of::<T>(),
            (
                value as Arc<dyn Any + Send + Sync>,
                std::any::type_name::<T>(),
            ),
        );
        self
    }

    /// Splits every list (`tools/list`, `resources/list`, …) into pages of this many items
    /// (default: one page with every item).
    pub fn page_size(mut self, items_per_page: usize) -> Self {
        self.page_size = Some(items_per_page.max(1));
        self
    }

    /// How long 2026-07-28 clients may cache lists and `server/discover` (`ttlMs`; default 5
    /// minutes).
    pub fn list_ttl(mut self, ttl: Duration) -> Self {
        self.list_ttl = ttl;
        self
    }

    /// Builds the server: resolves what is selected, checks it, and prepares the catalog.
    /// Every problem is reported at once.
    pub fn build(self) -> Result<Server, BuildError> {
        let mut problems = Vec::new();
        // A server serves apps when it or a server nested in it has some.
        let apps = !self.uis.is_empty() || self.parts.iter().any(|(_, p)| p.shared.apps);
        let mut entries = Entries::default();
        let mut seen = HashSet::new();
        // One schema generator for every tool: each input schema takes its definitions out.
        let mut schemas = tool::generator();
        let mut found = Found {
            entries: &mut entries,
            seen: &mut seen,
            schemas: &mut schemas,
        };
        for selection in self.selections {
            match selection {
                Selection::Domain(domain) => {
                    let d = domain.as_str();
                    let n = found.select(|domains| domains.contains(&d));
                    if n == 0 {
                        let mut known: Vec<&str> = tool::registrations()
                            .flat_map(|r| r.domains.iter().copied())
                            .chain(
                                resource::registrations().flat_map(|r| r.domains.iter().copied()),
                            )
                            .chain(prompt::registrations().flat_map(|r| r.domains.iter().copied()))
                            .collect();
                        known.sort_unstable();
                        known.dedup();
                        problems.push(format!(
                            "server `{}` selects domain `{domain}`, but no `#[tool]`, \
                             `#[resource]` or `#[prompt]` declares `domain = \"{domain}\"` \
                             (domains in this binary: {})",
                            self.info.name,
                            if known.is_empty() {
                                "none".to_owned()
                            } else {
                                known.join(", ")
                            }
                        ));
                    }
                }
                Selection::All => {
                    found.select(|_| true);
                }
                Selection::Function {
                    type_id,
                    type_name,
                    via,
                } => {
                    if !found.function(type_id) {
                        let built = match via {
                            "tool" => "Tool::new",
                            "resource" => "Resource::new",
                            _ => "Prompt::new",
                        };
                        problems.push(format!(
                            "`{type_name}` was passed to `McpServer::{via}` in server `{}`, but it \
                             is not a `#[{via}]` function; annotate it with `#[{via}]` or build it \
                             with `{built}` and pass it to `add_{via}`",
                            self.info.name
                        ));
                    }
                }
                Selection::Tool(tool) => found.entries.tools.push((Arc::new(*tool), true)),
                Selection::Resource(r) => found.entries.resources.push((Arc::new(*r), true)),
                Selection::Prompt(p) => found.entries.prompts.push((Arc::new(*p), true)),
            }
        }
        for skill in &self.skills {
            problems.extend(
                skill
                    .problems()
                    .into_iter()
                    .map(|p| format!("skill `{}`: {p}", crate::bounds::shown(&skill.uri()))),
            );
            for resource in skill.resources() {
                found.entries.resources.push((Arc::new(resource), true));
            }
        }
        for page in &self.uis {
            if let Some(p) = page.problem() {
                problems.push(format!("ui `{}`: {p}", crate::bounds::shown(&page.uri)));
                continue;
            }
            found
                .entries
                .resources
                .push((Arc::new(page.resource()), true));
            for (tool, app_only) in &page.tools {
                match found
                    .entries
                    .tools
                    .iter_mut()
                    .find(|(t, _)| t.name == *tool)
                {
                    Some((t, _)) => {
                        if let Err(p) = crate::catalog::ui::link(
                            &mut Arc::make_mut(t).meta,
                            &page.uri,
                            *app_only,
                        ) {
                            problems.push(format!(
                                "ui `{}` links tool `{tool}`, which {p}",
                                crate::bounds::shown(&page.uri)
                            ));
                        }
                    }
                    None => problems.push(format!(
                        "ui `{}` links tool `{tool}`, which server `{}` does not have",
                        crate::bounds::shown(&page.uri),
                        self.info.name
                    )),
                }
            }
        }
        if let Some(name) = &self.info.registry_name
            && let Some(p) = crate::transport::card::registry_name_problem(name)
        {
            problems.push(format!(
                "server `{}`: registry name `{}` {p}",
                self.info.name,
                crate::bounds::shown(name)
            ));
        }
        let mut namespaces: HashMap<&str, &str> = HashMap::new();
        for (index, (namespace, part)) in self.parts.iter().enumerate() {
            let part_name = part.name();
            let nested_as = if namespace.is_empty() {
                format!("server `{part_name}` merged into `{}`", self.info.name)
            } else {
                format!("server `{part_name}` nested as `{namespace}`")
            };
            if !namespace.is_empty() {
                if let Some(p) = crate::catalog::nest::namespace_problem(namespace) {
                    problems.push(format!("{nested_as}: {p}"));
                    continue;
                }
                if let Some(first) = namespaces.insert(namespace, part_name) {
                    problems.push(format!(
                        "namespace `{namespace}` of server `{}` is given to two servers: \
                         `{first}` and `{part_name}`",
                        self.info.name
                    ));
                    continue;
                }
            }
            if part.shared.authenticated && self.auth.is_none() {
                problems.push(format!(
                    "{nested_as} authenticates its callers, but `{}` does not: its callers \
                     would reach the nested server's items unauthenticated; give `{}` an \
                     `auth` too",
                    self.info.name, self.info.name
                ));
            }
            let (nested, part_problems) = part.shared.catalog.nested_entries(index, namespace);
            problems.extend(
                part_problems
                    .into_iter()
                    .map(|p| format!("{nested_as}: {p}")),
            );
            entries.tools.extend(nested.tools);
            entries.resources.extend(nested.resources);
            entries.prompts.extend(nested.prompts);
        }
        if let Some(search) = &self.search {
            for tool in search.tools() {
                entries.tools.push((Arc::new(tool), true));
            }
        }
        let mut transformed = HashSet::new();
        for (name, _) in &self.transforms {
            if !transformed.insert(name.as_str()) {
                problems.push(format!(
                    "tool `{name}` is transformed twice in server `{}`; give it one \
                     `ToolTransform` with every change",
                    self.info.name
                ));
            }
        }
        problems.extend(crate::catalog::transform::apply_all(
            &mut entries.tools,
            &self.transforms,
            true,
        ));
        problems.extend(check(&entries, &self.info.name, &self.states));
        if !problems.is_empty() {
            return Err(BuildError { problems });
        }
        let scoped = entries.tools.iter().any(|(t, _)| !t.scopes.is_empty())
            || entries.resources.iter().any(|(r, _)| !r.scopes.is_empty())
            || entries.prompts.iter().any(|(p, _)| !p.scopes.is_empty());
        if scoped && self.auth.is_none() {
            tracing::warn!(
                server = %self.info.name,
                "items of this server require scopes, but it has no `auth`: scopes are not enforced"
            );
        }
        let settings = ListSettings {
            page_size: self.page_size,
            ttl_ms: self.list_ttl.as_millis().try_into().unwrap_or(u64::MAX),
            auth: self.auth.is_some(),
            compatible_schemas: self.tool_schemas == ToolSchemas::Compatible,
            search_listed: self.search.as_ref().map(|s| s.listed.clone()),
        };
        let authenticated = self.auth.is_some();
        let mut states: HashMap<TypeId, Arc<dyn Any + Send + Sync>> =
            self.states.into_iter().map(|(k, (v, _))| (k, v)).collect();
        if let Some(auth) = self.auth {
            states.insert(TypeId::of::<AuthState>(), Arc::new(AuthState(auth)));
        }
        // The server's layers; each tool's own apply to its calls, inside them.
        let layers = self.layers;
        let parts = self
            .parts
            .into_iter()
            .map(|(namespace, server)| crate::core::nest::Part {
                namespace,
                server: server.shared,
            })
            .collect();
        let server = Server {
            shared: Arc::new(Dispatcher {
                info: self.info,
                catalog: Catalog::new(entries, settings),
                states,
                authenticated,
                state_key: self
                    .request_state_key
                    .unwrap_or_else(crate::core::state::StateKey::process),
                tasks: crate::core::tasks::Tasks::new(
                    self.task_store.unwrap_or_else(|| {
                        Arc::new(crate::store::tasks::MemoryTaskStore::default())
                    }),
                    crate::core::tasks::TaskSettings {
                        ttl: self.task_ttl.unwrap_or(Duration::from_secs(3600)),
                        ..crate::core::tasks::TaskSettings::default()
                    },
                ),
                subscriptions: self.subscriptions,
                layers: crate::core::middleware::stack(&layers),
                tool_timeout: self.tool_timeout,
                ask_timeout: self.client_request_timeout,
                parts,
                transforms: self.transforms.into(),
                search_max: self.search.as_ref().map_or(0, |s| s.max_results),
                visibility: self.visibility,
                skills: crate::catalog::skill::Skills::new(&self.skills),
                apps,
            }),
        };
        server.shared.watch_parts();
        Ok(server)
    }
}

/// Registrations found while building, each taken once.
struct Found<'a> {
    entries: &'a mut Entries,
    seen: &'a mut HashSet<usize>,
    schemas: &'a mut schemars::SchemaGenerator,
}

impl Found<'_> {
    fn first_time<T>(&mut self, reg: &'static T) -> bool {
        self.seen.insert(std::ptr::from_ref(reg) as usize)
    }

    /// Takes every registration whose domains pass `keep`; returns how many matched.
    fn select(&mut self, keep: impl Fn(&[&str]) -> bool) -> usize {
        let mut n = 0;
        for reg in tool::registrations().filter(|r| keep(r.domains)) {
            n += 1;
            if self.first_time(reg) {
                let t = Tool::from_registration(reg, self.schemas);
                self.entries.tools.push((Arc::new(t), true));
            }
        }
        for reg in resource::registrations().filter(|r| keep(r.domains)) {
            n += 1;
            if self.first_time(reg) {
                let r = Resource::from_registration(reg);
                self.entries.resources.push((Arc::new(r), true));
            }
        }
        for reg in prompt::registrations().filter(|r| keep(r.domains)) {
            n += 1;
            if self.first_time(reg) {
                let p = Prompt::from_registration(reg);
                self.entries.prompts.push((Arc::new(p), true));
            }
        }
        n
    }

    /// Takes the registration of the function with this type; false when there is none.
    fn function(&mut self, type_id: TypeId) -> bool {
        if let Some(reg) = tool::registrations().find(|r| (r.type_id)() == type_id) {
            if self.first_time(reg) {
                let t = Tool::from_registration(reg, self.schemas);
                self.entries.tools.push((Arc::new(t), true));
            }
            return true;
        }
        if let Some(reg) = resource::registrations().find(|r| (r.type_id)() == type_id) {
            if self.first_time(reg) {
                self.entries
                    .resources
                    .push((Arc::new(Resource::from_registration(reg)), true));
            }
            return true;
        }
        if let Some(reg) = prompt::registrations().find(|r| (r.type_id)() == type_id) {
            if self.first_time(reg) {
                self.entries
                    .prompts
                    .push((Arc::new(Prompt::from_registration(reg)), true));
            }
            return true;
        }
        false
    }
}

/// The problems of a set of entries: names used twice, invalid names and schemas, state the
/// server lacks. `states` is `None` at run time, when state cannot be added any more and was
/// checked for registered items at build.
pub(super) fn check(entries: &Entries, server: &str, states: &StateMap) -> Vec<String> {
    let mut problems = Vec::new();
    let need_state = |what: String, state: &[StateRequirement], problems: &mut Vec<String>| {
        for req in state {
            if !states.contains_key(&(req.type_id)()) {
                problems.push(format!(
                    "{what} takes `State<{}>`, but server `{server}` has no state of that type; \
                     add it with `.state(value)`",
                    (req.type_name)(),
                ));
            }
        }
    };
    let mut names: HashMap<&str, &tool::Origin> = HashMap::new();
    for (t, _) in &entries.tools {
        if let Some(first) = names.insert(&t.name, &t.origin) {
            problems.push(format!(
                "tool name `{}` is used twice in server `{server}`: by {first} and by {}; rename \
                 one with `#[tool(name = \"…\")]`",
                t.name, t.origin
            ));
        }
        if matches!(t.origin, tool::Origin::Manual) || t.nested.is_some() {
            if let Some(p) = crate::tool_name_problem(&t.name) {
                problems.push(format!("invalid tool name `{}`: {p}", t.name));
            }
            if t.get_input_schema().get("type") != Some(&Value::String("object".into())) {
                problems.push(format!(
                    "the input schema of tool `{}` must have `\"type\": \"object\"` at its root",
                    t.name
                ));
            }
        }
        if let Some(e) = &t.meta_error {
            problems.push(format!(
                "the `meta` of tool `{}` is not a JSON object: {e}",
                t.name
            ));
        }
        if let Err(e) = t.param_headers() {
            problems.push(format!("tool `{}` ({}): {e}", t.name, t.origin));
        }
        need_state(
            format!("tool `{}` ({})", t.name, t.origin),
            &t.state,
            &mut problems,
        );
    }
    let mut uris: HashMap<&str, &tool::Origin> = HashMap::new();
    for (r, _) in &entries.resources {
        for p in &r.problems {
            problems.push(format!("resource `{}` ({}): {p}", r.name, r.origin));
        }
        if r.address_str().is_empty() && r.problems.is_empty() {
            problems.push(format!(
                "resource `{}` ({}) needs `uri = \"…\"` or `uri_template = \"…\"`",
                r.name, r.origin
            ));
        }
        if let Some(first) = uris.insert(r.address_str(), &r.origin) {
            problems.push(format!(
                "resource `{}` is declared twice in server `{server}`: by {first} and by {}",
                r.address_str(),
                r.origin
            ));
        }
        need_state(
            format!("resource `{}` ({})", r.name, r.origin),
            &r.state,
            &mut problems,
        );
        for var in r.completions.keys() {
            let known = match &r.address {
                crate::catalog::resource::Address::Template(t) => t.variables().any(|v| v == var),
                crate::catalog::resource::Address::Uri(_) => false,
            };
            if !known {
                problems.push(format!(
                    "resource `{}` ({}) completes `{var}`, which is not a variable of its URI \
                     template `{}`",
                    r.name,
                    r.origin,
                    r.address_str()
                ));
            }
        }
    }
    let mut prompts: HashMap<&str, &tool::Origin> = HashMap::new();
    for (p, _) in &entries.prompts {
        for problem in &p.problems {
            problems.push(format!("prompt `{}` ({}): {problem}", p.name, p.origin));
        }
        if let Some(first) = prompts.insert(&p.name, &p.origin) {
            problems.push(format!(
                "prompt name `{}` is used twice in server `{server}`: by {first} and by {}",
                p.name, p.origin
            ));
        }
        need_state(
            format!("prompt `{}` ({})", p.name, p.origin),
            &p.state,
            &mut problems,
        );
        for arg in p.completions.keys() {
            if !p.arguments.iter().any(|a| a.name == *arg) {
                problems.push(format!(
                    "prompt `{}` ({}) completes `{arg}`, which is not one of its arguments",
                    p.name, p.origin
                ));
            }
        }
    }
    problems
}

/// The problems found when building a server, all at once.
#[derive(Debug, Clone)]
pub struct BuildError {
    pub(super) problems: Vec<String>,
}

impl BuildError {
    /// Each problem, as a sentence.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let [one] = &self.problems[..] {
            return f.write_str(one);
        }
        writeln!(
            f,
            "{} problems building the MCP server:",
            self.problems.len()
        )?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for BuildError {}
