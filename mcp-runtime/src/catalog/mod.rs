//! What a server offers, as values: [`Tool`], [`Resource`] (and templates), [`Prompt`], the
//! [`Completion`]s of their arguments, and [`CatalogEdit`], the change a running server makes
//! with [`Server::change`](crate::Server::change).
//!
//! `#[tool]`, `#[resource]` and `#[prompt]` make these from functions; build them by hand for
//! what is only known at run time ([`Tool::new`] with a call function) and add
//! them with [`McpServer::add_tool`](crate::McpServer::add_tool) and its siblings.

// Inside: an immutable `Snapshot` of the catalog that requests read without locks. A change
// (enable, disable, add, remove) builds the next snapshot once, swaps it in atomically and
// broadcasts which lists changed; calls in flight keep the snapshot they started with. List
// pages are written once per snapshot and revision, on first use.

/// The setters every kind of item has (icons, scopes, domains, tags), written once: `$item`
/// names it in the docs ("tool"), `$attr` is its attribute (`#[tool]`).
macro_rules! item_setters {
    ($item:literal, $attr:literal) => {
        /// Adds an icon.
        pub fn icon(mut self, icon: crate::catalog::Icon) -> Self {
            self.icons.push(icon);
            self
        }
        /// Requires these scopes of callers.
        pub fn require_scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
            self.scopes = scopes.into_iter().map(Into::into).collect();
            self
        }
        #[doc = concat!("Tags the ", $item, " with a domain (for enabling and disabling by domain).")]
        pub fn domain(mut self, domain: impl Into<String>) -> Self {
            self.domains.push(domain.into());
            self
        }
        #[doc = concat!("Tags the ", $item, " (`#[", $attr, "(tags = [\"beta\"])]`): enable or disable every item of a tag")]
        /// at run time ([`CatalogEdit::set_tag_enabled`](crate::catalog::CatalogEdit::set_tag_enabled)),
        /// and decide by tag in a visibility hook ([`crate::catalog::Visibility::tags`]).
        pub fn tag(mut self, tag: impl Into<String>) -> Self {
            self.tags.push(tag.into());
            self
        }
    };
}

pub(crate) mod completion;
mod edit;
pub(crate) mod expansion;
pub(crate) mod nest;
pub(crate) mod param_headers;
pub(crate) mod prompt;
pub(crate) mod resource;
pub(crate) mod search;
pub(crate) mod skill;
pub(crate) mod tool;
pub(crate) mod transform;
pub(crate) mod ui;
pub(crate) mod uri_template;

pub use completion::{Completion, CompletionRequest, IntoCompletion};
pub use edit::CatalogEdit;
pub use nest::{nested_name, nested_uri};
pub use prompt::{Prompt, PromptArgument};
pub use resource::{Resource, ResourceAnnotations, Subscription};
pub use search::ToolSearch;
pub use skill::Skill;
pub use tool::{Arguments, Icon, TaskSupport, Tool, ToolAnnotations, ToolSchemas};
pub use transform::ToolTransform;
pub use ui::{UiCsp, UiPermissions, UiResource};
// `Visibility` and `ItemKind` are defined below.

use crate::protocol::ProtocolVersion;
use arc_swap::ArcSwap;
use resource::Address;
use serde_json::Value;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::broadcast;

/// The lists a client can page through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ListKind {
    Tools,
    Resources,
    Templates,
    Prompts,
}

impl ListKind {
    fn index(self) -> usize {
        self as usize
    }

    /// The result field holding the items.
    fn field(self) -> &'static str {
        match self {
            Self::Tools => "tools",
            Self::Resources => "resources",
            Self::Templates => "resourceTemplates",
            Self::Prompts => "prompts",
        }
    }
}

/// What changed in a catalog, as clients are told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// The tool list changed (`notifications/tools/list_changed`).
    Tools,
    /// The resource or template list changed (`notifications/resources/list_changed`).
    Resources,
    /// The prompt list changed (`notifications/prompts/list_changed`).
    Prompts,
    /// A resource's contents changed (`notifications/resources/updated`).
    Updated(Arc<str>),
}

/// How lists are paged and cached.
#[derive(Clone, Debug)]
pub(crate) struct ListSettings {
    pub(crate) page_size: Option<usize>,
    /// `ttlMs` of lists (2026-07-28).
    pub(crate) ttl_ms: u64,
    /// Whether the server authenticates callers: lists with scoped items then vary by caller.
    pub(crate) auth: bool,
    /// Whether derived tool schemas are listed in their compatible form before 2026-07-28.
    pub(crate) compatible_schemas: bool,
    /// With search ([`crate::McpServer::tool_search`]): the tools listed beside its two;
    /// the others are found by searching.
    pub(crate) search_listed: Option<Vec<String>>,
}

/// Everything a server offers, enabled or not.
#[derive(Clone, Default)]
pub(crate) struct Entries {
    pub(crate) tools: Vec<(Arc<Tool>, bool)>,
    pub(crate) resources: Vec<(Arc<Resource>, bool)>,
    pub(crate) prompts: Vec<(Arc<Prompt>, bool)>,
}

/// One immutable state of the catalog: the enabled items, sorted, indexed by name or URI.
pub(crate) struct Snapshot {
    pub(crate) tools: Vec<Arc<Tool>>,
    tool_index: NameIndex,
    /// Static resources, sorted by URI.
    pub(crate) resources: Vec<Arc<Resource>>,
    resource_index: NameIndex,
    /// Resource templates, sorted by template.
    pub(crate) templates: Vec<Arc<Resource>>,
    pub(crate) prompts: Vec<Arc<Prompt>>,
    prompt_index: NameIndex,
    /// Prebuilt list pages, `pages[kind][revision][page]`, written on first use.
    pages: [Vec<OnceLock<Vec<Box<RawValue>>>>; 4],
    /// Whether a list varies by caller (items with scopes behind auth).
    private: [bool; 4],
    /// Whether a tool declares arguments sent as headers (so 2026 calls need the check).
    param_headers: bool,
    /// Whether a tool has MCP middleware of its own (so calls look for it).
    tool_layers: bool,
    /// The search index of the tools, built on the first search.
    search: OnceLock<search::Index>,
    settings: Arc<ListSettings>,
}

/// Positions by name or URI. Every call looks its tool up here with the name a client sent, so
/// the hash is a fast one (foldhash, seeded per process) rather than SipHash: the keys are the
/// server's own, which a client's lookups cannot make collide.
type NameIndex = HashMap<String, u32, foldhash::fast::RandomState>;

fn index_by<T>(items: &[T], key: impl Fn(&T) -> &str) -> NameIndex {
    items
        .iter()
        .enumerate()
        .map(|(i, t)| (key(t).to_owned(), i as u32))
        .collect()
}

impl Snapshot {
    fn new(entries: &Entries, settings: Arc<ListSettings>) -> Self {
        let enabled = |v: &[(Arc<Resource>, bool)], template: bool| -> Vec<Arc<Resource>> {
            let mut out: Vec<Arc<Resource>> = v
                .iter()
                .filter(|(r, on)| *on && r.is_template() == template)
                .map(|(r, _)| r.clone())
                .collect();
            out.sort_by(|a, b| a.address_str().cmp(b.address_str()));
            out
        };
        let mut tools: Vec<Arc<Tool>> = entries
            .tools
            .iter()
            .filter(|(_, on)| *on)
            .map(|(t, _)| t.clone())
            .collect();
        tools.sort_by(|a, b| a.name.cmp(&b.name));
        let mut prompts: Vec<Arc<Prompt>> = entries
            .prompts
            .iter()
            .filter(|(_, on)| *on)
            .map(|(p, _)| p.clone())
            .collect();
        prompts.sort_by(|a, b| a.name.cmp(&b.name));
        let resources = enabled(&entries.resources, false);
        let templates = enabled(&entries.resources, true);
        let scoped = [
            tools.iter().any(|t| !t.scopes.is_empty()),
            resources.iter().any(|r| !r.scopes.is_empty()),
            templates.iter().any(|r| !r.scopes.is_empty()),
            prompts.iter().any(|p| !p.scopes.is_empty()),
        ];
        let revisions = || {
            ProtocolVersion::ALL
                .iter()
                .map(|_| OnceLock::new())
                .collect()
        };
        let param_headers = tools
            .iter()
            .any(|t| t.param_headers().is_ok_and(|p| !p.is_empty()));
        let tool_layers = tools.iter().any(|t| !t.layers.is_empty());
        Self {
            param_headers,
            tool_layers,
            tool_index: index_by(&tools, |t| &t.name),
            resource_index: index_by(&resources, |r| r.address_str()),
            prompt_index: index_by(&prompts, |p| &p.name),
            tools,
            resources,
            templates,
            prompts,
            pages: [revisions(), revisions(), revisions(), revisions()],
            search: OnceLock::new(),
            private: scoped.map(|s| s && settings.auth),
            settings,
        }
    }

    /// The tools matching `query`, best first (see [`search::Index`]), the search's own two
    /// left out.
    pub(crate) fn search_tools(&self, query: &str, want: usize) -> Vec<&Tool> {
        self.search
            .get_or_init(|| search::Index::new(&self.tools))
            .search(query, want)
            .into_iter()
            .map(|(i, _)| &*self.tools[i])
            .filter(|t| t.meta_tool.is_none())
            .collect()
    }

    pub(crate) fn tool(&self, name: &str) -> Option<&Tool> {
        self.tool_index.get(name).map(|&i| &*self.tools[i as usize])
    }

    pub(crate) fn prompt(&self, name: &str) -> Option<&Prompt> {
        self.prompt_index
            .get(name)
            .map(|&i| &*self.prompts[i as usize])
    }

    /// The static resource at `uri`, else the first template that matches it with the
    /// variables it yields (or the variable it refused).
    pub(crate) fn resource(&self, uri: &str) -> Option<(&Resource, ResourceMatch)> {
        if let Some(&i) = self.resource_index.get(uri) {
            return Some((&*self.resources[i as usize], ResourceMatch::Exact));
        }
        self.templates.iter().find_map(|t| match &t.address {
            Address::Template(tpl) => tpl.matches(uri).map(|m| (&**t, ResourceMatch::Template(m))),
            Address::Uri(_) => None,
        })
    }

    /// The template whose text is `uri_template`.
    pub(crate) fn template(&self, uri_template: &str) -> Option<&Resource> {
        self.templates
            .iter()
            .find(|t| t.address_str() == uri_template)
            .map(|t| &**t)
    }

    /// Whether the server offers anything of this kind (for capabilities).
    pub(crate) fn has_prompts(&self) -> bool {
        !self.prompts.is_empty()
    }

    /// Whether a tool has MCP middleware of its own.
    pub(crate) fn has_tool_layers(&self) -> bool {
        self.tool_layers
    }

    /// Whether a tool declares arguments sent as `Mcp-Param-*` headers.
    pub(crate) fn has_param_headers(&self) -> bool {
        self.param_headers
    }

    /// Whether a tool may run as a task.
    pub(crate) fn has_task_tools(&self) -> bool {
        self.tools
            .iter()
            .any(|t| t.task != tool::TaskSupport::Forbidden)
    }

    /// One page of a list for a client of `version` holding `scopes`: prebuilt, unless the
    /// list varies by caller and this caller may not see every item.
    ///
    /// With `shown` (the server's visibility hook, asked for this caller) the list is written
    /// for this caller alone, of the items it may see.
    pub(crate) fn page(
        &self,
        kind: ListKind,
        version: ProtocolVersion,
        cursor: Option<&str>,
        scopes: &[String],
        shown: Option<&Shown<'_>>,
    ) -> Result<Box<RawValue>, crate::protocol::RpcError> {
        let private = self.private[kind.index()];
        if let Some(shown) = shown {
            let items = self.listings(kind, version, &|s, item| {
                crate::protocol::scopes_cover(scopes, s) && shown(item)
            });
            let mut pages = build_pages(kind, &items, version, &self.settings, true);
            let i = page_index(cursor, pages.len())?;
            return Ok(pages.swap_remove(i));
        }
        if private {
            let hidden =
                |item_scopes: &[String]| !crate::protocol::scopes_cover(scopes, item_scopes);
            let any_hidden = match kind {
                ListKind::Tools => self.tools.iter().any(|t| hidden(&t.scopes)),
                ListKind::Resources => self.resources.iter().any(|r| hidden(&r.scopes)),
                ListKind::Templates => self.templates.iter().any(|r| hidden(&r.scopes)),
                ListKind::Prompts => self.prompts.iter().any(|p| hidden(&p.scopes)),
            };
            if any_hidden {
                let items = self.listings(kind, version, &|s, _| !hidden(s));
                let mut pages = build_pages(kind, &items, version, &self.settings, true);
                let i = page_index(cursor, pages.len())?;
                return Ok(pages.swap_remove(i));
            }
        }
        let revision = ProtocolVersion::ALL
            .iter()
            .position(|v| *v == version)
            .expect("every revision has lists");
        let pages = self.pages[kind.index()][revision].get_or_init(|| {
            let items = self.listings(kind, version, &|_, _| true);
            build_pages(kind, &items, version, &self.settings, private)
        });
        Ok(pages[page_index(cursor, pages.len())?].clone())
    }

    /// The list objects of one kind for which `visible(scopes, item)` holds.
    fn listings(
        &self,
        kind: ListKind,
        version: ProtocolVersion,
        visible: &Listed<'_>,
    ) -> Vec<Box<RawValue>> {
        let raw = |v: &Value| serde_json::value::to_raw_value(v).expect("lists serialize");
        match kind {
            ListKind::Tools => self
                .tools
                .iter()
                .filter(|t| visible(&t.scopes, t.item()))
                // With search, only its two and the chosen few are listed.
                .filter(|t| {
                    self.settings.search_listed.as_ref().is_none_or(|listed| {
                        t.meta_tool.is_some() || listed.iter().any(|n| *n == t.name)
                    })
                })
                .map(|t| {
                    serde_json::value::to_raw_value(
                        &t.listing(version, self.settings.compatible_schemas),
                    )
                    .expect("lists serialize")
                })
                .collect(),
            ListKind::Resources => self
                .resources
                .iter()
                .filter(|r| r.listed && visible(&r.scopes, r.item()))
                .map(|r| raw(&r.listing(version)))
                .collect(),
            ListKind::Templates => self
                .templates
                .iter()
                .filter(|r| visible(&r.scopes, r.item()))
                .map(|r| raw(&r.listing(version)))
                .collect(),
            ListKind::Prompts => self
                .prompts
                .iter()
                .filter(|p| visible(&p.scopes, p.item()))
                .map(|p| raw(&p.listing(version)))
                .collect(),
        }
    }
}

/// What a visibility hook ([`crate::McpServer::visibility`]) is asked: whether one item is
/// shown to one caller.
#[derive(Debug)]
#[non_exhaustive]
pub struct Visibility<'a> {
    /// The caller, when the server authenticates callers.
    pub principal: Option<&'a crate::call::context::Principal>,
    /// The session the request came in, in the handshake era.
    pub session: Option<&'a str>,
    /// What the item is.
    pub kind: ItemKind,
    /// The tool's or prompt's name, the resource's URI or the template's text, as listed.
    pub name: &'a str,
    /// The item's tags.
    pub tags: &'a [String],
}

/// The kinds of items a server lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ItemKind {
    /// A tool.
    Tool,
    /// A resource at one URI.
    Resource,
    /// A resource template.
    Template,
    /// A prompt.
    Prompt,
}

/// An item a visibility hook is asked about: its kind, its listed name (URI, template), its
/// tags, and where it comes from when a nested server serves it.
#[derive(Clone, Copy)]
pub(crate) struct Item<'a> {
    pub(crate) kind: ItemKind,
    pub(crate) name: &'a str,
    pub(crate) tags: &'a [String],
    pub(crate) nested: Option<&'a nest::Nested>,
}

/// Whether an item is shown to the caller a list is written for.
pub(crate) type Shown<'a> = dyn Fn(Item<'_>) -> bool + 'a;

/// Whether an item is listed, from its scopes and the item.
type Listed<'a> = dyn Fn(&[String], Item<'_>) -> bool + 'a;

/// The app's visibility hook.
pub(crate) type VisibilityCheck = Arc<dyn Fn(&Visibility<'_>) -> bool + Send + Sync>;

/// How a URI was found.
pub(crate) enum ResourceMatch {
    Exact,
    Template(Result<Vec<(String, String)>, uri_template::VarProblem>),
}

fn page_index(cursor: Option<&str>, pages: usize) -> Result<usize, crate::protocol::RpcError> {
    match cursor {
        None => Ok(0),
        Some(c) => c
            .strip_prefix('p')
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n < pages)
            .ok_or_else(|| {
                crate::protocol::RpcError::invalid_params(format!(
                    "invalid cursor `{}`",
                    crate::bounds::shown(c)
                ))
            }),
    }
}

/// Writes the pages of a list straight from the serialized items.
fn build_pages(
    kind: ListKind,
    items: &[Box<RawValue>],
    version: ProtocolVersion,
    settings: &ListSettings,
    private: bool,
) -> Vec<Box<RawValue>> {
    let size = settings.page_size.unwrap_or(items.len()).max(1);
    let chunks: Vec<&[Box<RawValue>]> = if items.is_empty() {
        vec![&[]]
    } else {
        items.chunks(size).collect()
    };
    let last = chunks.len() - 1;
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let mut out =
                Vec::with_capacity(64 + chunk.iter().map(|c| c.get().len() + 1).sum::<usize>());
            out.extend_from_slice(b"{\"");
            out.extend_from_slice(kind.field().as_bytes());
            out.extend_from_slice(b"\":[");
            for (j, item) in chunk.iter().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(item.get().as_bytes());
            }
            out.push(b']');
            if i < last {
                out.extend_from_slice(format!(r#","nextCursor":"p{}""#, i + 1).as_bytes());
            }
            if version.is_stateless() {
                let scope = if private { "private" } else { "public" };
                out.extend_from_slice(
                    format!(
                        r#","resultType":"complete","ttlMs":{},"cacheScope":"{scope}""#,
                        settings.ttl_ms
                    )
                    .as_bytes(),
                );
            }
            out.push(b'}');
            let text = String::from_utf8(out).expect("JSON is UTF-8");
            RawValue::from_string(text).expect("lists serialize")
        })
        .collect()
}

/// The catalog of a server: the current snapshot, everything it was built from, and the
/// broadcast of changes.
pub(crate) struct Catalog {
    current: ArcSwap<Snapshot>,
    entries: Mutex<Entries>,
    changes: broadcast::Sender<Change>,
    /// The changes made here (not those announced from other instances), for the instances
    /// that share a store.
    local: broadcast::Sender<Change>,
    /// Called with each change made here: the servers this one is nested in.
    watchers: Mutex<Vec<Watcher>>,
    settings: Arc<ListSettings>,
}

/// What a server this one is nested in does with its changes.
pub(crate) type Watcher = Box<dyn Fn(&Change) + Send + Sync>;

impl Catalog {
    pub(crate) fn new(entries: Entries, settings: ListSettings) -> Self {
        let settings = Arc::new(settings);
        let (changes, _) = broadcast::channel(64);
        let (local, _) = broadcast::channel(64);
        Self {
            current: ArcSwap::from_pointee(Snapshot::new(&entries, settings.clone())),
            entries: Mutex::new(entries),
            changes,
            local,
            watchers: Mutex::new(Vec::new()),
            settings,
        }
    }

    /// Calls `watcher` with every change made here from now on (not those announced from other
    /// instances: each instance's whole hears its own parts).
    pub(crate) fn watch(&self, watcher: Watcher) {
        self.watchers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(watcher);
    }

    /// The enabled entries of the current snapshot, for a server this one is nested in.
    pub(crate) fn nested_entries(&self, part: usize, namespace: &str) -> (Entries, Vec<String>) {
        nest::entries_of(part, namespace, &self.peek())
    }

    /// The current snapshot; a request keeps the one it started with.
    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// A cheap view of the current snapshot, for work that does not outlive the call.
    pub(crate) fn peek(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.current.load()
    }

    pub(crate) fn settings(&self) -> &ListSettings {
        &self.settings
    }

    /// Receives every change from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Receives the changes made in this process from now on.
    pub(crate) fn subscribe_local(&self) -> broadcast::Receiver<Change> {
        self.local.subscribe()
    }

    /// Tells listeners of a change made on another instance (this catalog is not edited: each
    /// instance builds its own from the same code).
    pub(crate) fn announce(&self, change: Change) {
        let _ = self.changes.send(change);
    }

    fn send(&self, change: Change) {
        for watcher in self
            .watchers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            watcher(&change);
        }
        // No receiver is not an error: nobody listens.
        let _ = self.local.send(change.clone());
        let _ = self.changes.send(change);
    }

    /// Applies `edit` to the entries; if it reports changed lists, builds the next snapshot
    /// once, swaps it in, and tells listeners. Returns what `edit` returned.
    pub(crate) fn change<R>(&self, edit: impl FnOnce(&mut Entries) -> (R, Vec<Change>)) -> R {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (result, changes) = edit(&mut entries);
        if !changes.is_empty() {
            self.current
                .store(Arc::new(Snapshot::new(&entries, self.settings.clone())));
            drop(entries);
            for c in changes {
                self.send(c);
            }
        }
        result
    }

    /// Tells listeners that a resource's contents changed.
    pub(crate) fn updated(&self, uri: &str) {
        self.send(Change::Updated(uri.into()));
    }
}

/// The `_meta` key under which a listed tool, resource or prompt names the scopes a caller needs
/// for it (when it needs any): clients learn what to ask for, and the catalogue page shows it.
pub(crate) const SCOPES_META: &str = "mcp-runtime/scopes";

/// The `_meta` of a listed item: the author's, with the scopes the item needs.
pub(crate) fn listed_meta<'a>(
    meta: Option<&'a serde_json::Map<String, serde_json::Value>>,
    scopes: &[String],
) -> Option<std::borrow::Cow<'a, serde_json::Map<String, serde_json::Value>>> {
    if scopes.is_empty() {
        return meta.map(std::borrow::Cow::Borrowed);
    }
    let mut merged = meta.cloned().unwrap_or_default();
    merged.insert(SCOPES_META.into(), serde_json::json!(scopes));
    Some(std::borrow::Cow::Owned(merged))
}
