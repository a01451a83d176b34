//! Resources and resource templates: what `#[resource]` registers, the [`Resource`] a server
//! holds, reading, and the typed variables of templates.

use super::completion::{CompleteFn, CompletionHandler};
use super::tool::{Icon, IconDef, Origin, StateRequirement};
use super::uri_template::UriTemplate;
use crate::call::context::Context;
use crate::content::{
    IntoResourceContents, ReadTarget, RequestError, ResourceContents, Role, json_contents,
};
use crate::protocol::ProtocolVersion;
use futures_util::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::any::TypeId;
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

/// What a resource read yields.
#[doc(hidden)]
pub type ReadOutput = Result<Vec<ResourceContents>, RequestError>;
#[doc(hidden)]
pub type ReadFuture = BoxFuture<'static, ReadOutput>;

/// The request a resource function serves: the URI read, the template's variables (decoded and
/// checked), and the resource's declared MIME type.
#[doc(hidden)]
pub struct ReadRequest {
    pub uri: String,
    pub vars: Vec<(String, String)>,
    pub mime_type: Option<Arc<str>>,
}

impl ReadRequest {
    /// Where plain returned values go.
    pub fn target(&self) -> ReadTarget<'_> {
        ReadTarget {
            uri: &self.uri,
            mime_type: self.mime_type.as_deref(),
        }
    }
}

pub(crate) type ReadFn = fn(Context, ReadRequest) -> ReadFuture;
type DynRead = dyn Fn(Context, ReadRequest) -> ReadFuture + Send + Sync;

#[derive(Clone)]
enum Handler {
    Registered(ReadFn),
    Dynamic(Arc<DynRead>),
}

/// What `#[resource]` registers at link time. Built only by the macro.
#[doc(hidden)]
pub struct ResourceRegistration {
    pub uri: Option<&'static str>,
    pub uri_template: Option<&'static str>,
    pub name: &'static str,
    pub rust_path: &'static str,
    pub title: Option<&'static str>,
    pub description: Option<&'static str>,
    pub mime_type: Option<&'static str>,
    pub audience: &'static [&'static str],
    pub priority: Option<f64>,
    pub last_modified: Option<&'static str>,
    pub size: Option<u64>,
    pub icons: &'static [IconDef],
    pub domains: &'static [&'static str],
    pub tags: &'static [&'static str],
    pub scopes: &'static [&'static str],
    pub meta: Option<&'static str>,
    pub read: ReadFn,
    pub completions: &'static [(&'static str, CompleteFn)],
    pub type_id: fn() -> TypeId,
    pub state: &'static [StateRequirement],
    pub file: &'static str,
    pub line: u32,
    pub column: u32,
}

inventory::collect!(ResourceRegistration);

pub(crate) fn registrations() -> impl Iterator<Item = &'static ResourceRegistration> {
    inventory::iter::<ResourceRegistration>.into_iter()
}

/// Hints about a resource for clients: who it is for, how important it is, when it changed.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ResourceAnnotations {
    /// Who the resource is for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub audience: Vec<Role>,
    /// How important it is, from 0 (least) to 1 (most).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<f64>,
    /// When it last changed (ISO 8601; 2025-06-18+).
    #[serde(rename = "lastModified", skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
}

impl ResourceAnnotations {
    fn is_empty(&self) -> bool {
        self.audience.is_empty() && self.priority.is_none() && self.last_modified.is_none()
    }
}

/// Where a resource is: one URI, or a template of URIs.
#[derive(Clone, Debug)]
pub(crate) enum Address {
    Uri(String),
    Template(UriTemplate),
}

/// A resource, or a resource template, as a server holds it.
///
/// `#[resource]` functions become one of these when a server selects them; build one by hand
/// with [`Resource::new`] or [`Resource::template`].
#[derive(Clone)]
pub struct Resource {
    pub(crate) address: Address,
    pub(crate) name: String,
    pub(crate) title: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) mime_type: Option<Arc<str>>,
    pub(crate) annotations: ResourceAnnotations,
    pub(crate) size: Option<u64>,
    pub(crate) icons: Vec<Icon>,
    pub(crate) meta: Option<Map<String, Value>>,
    pub(crate) scopes: Vec<String>,
    pub(crate) domains: Vec<String>,
    /// Its tags (for enabling and disabling by tag, and for visibility hooks).
    pub(crate) tags: Vec<String>,
    handler: Handler,
    pub(crate) completions: HashMap<String, CompletionHandler>,
    pub(crate) origin: Origin,
    pub(crate) state: Vec<StateRequirement>,
    pub(crate) problems: Vec<String>,
    /// The part of a composed server this is served by, and its URI, template or name there.
    pub(crate) nested: Option<Arc<super::nest::Nested>>,
    /// Whether `resources/list` lists it (a skill's files other than its `SKILL.md` are read,
    /// not listed).
    pub(crate) listed: bool,
    /// The `_meta` each of its contents carries (an app's `_meta.ui`), unless the read gave one.
    pub(crate) contents_meta: Option<Arc<Map<String, Value>>>,
}

impl fmt::Debug for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resource")
            .field("address", &self.address_str())
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Resource {
    fn with_address<F, Fut, R>(address: Result<Address, String>, name: String, read: F) -> Self
    where
        F: Fn(Context, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoResourceContents,
    {
        let (address, problems) = match address {
            Ok(a) => (a, Vec::new()),
            Err(p) => (Address::Uri(String::new()), vec![p]),
        };
        let read: Arc<DynRead> = Arc::new(move |ctx, req: ReadRequest| {
            let fut = read(ctx, req.uri.clone());
            Box::pin(async move { fut.await.into_contents(&req.target()) })
        });
        Self {
            address,
            name,
            title: None,
            description: None,
            mime_type: None,
            annotations: ResourceAnnotations::default(),
            size: None,
            icons: Vec::new(),
            meta: None,
            scopes: Vec::new(),
            domains: Vec::new(),
            tags: Vec::new(),
            handler: Handler::Dynamic(read),
            completions: HashMap::new(),
            origin: Origin::Manual,
            state: Vec::new(),
            problems,
            nested: None,
            listed: true,
            contents_meta: None,
        }
    }

    /// A resource at one URI, built at run time. The function gets the [`Context`] and the URI
    /// and returns its contents (anything that implements [`IntoResourceContents`]).
    ///
    /// ```
    /// use mcp_runtime::catalog::Resource;
    ///
    /// let readme = Resource::new("docs://readme", "readme", |_ctx, _uri| async { "# Hello" })
    ///     .mime_type("text/markdown");
    /// ```
    pub fn new<F, Fut, R>(uri: impl Into<String>, name: impl Into<String>, read: F) -> Self
    where
        F: Fn(Context, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoResourceContents,
    {
        Self::with_address(Ok(Address::Uri(uri.into())), name.into(), read)
    }

    /// A resource template (RFC 6570 `{var}` and `{+var}`), built at run time. The function
    /// gets the URI read; its variables were checked (no `..` segments, no absolute paths, no
    /// control characters) before the call. A template that does not parse is reported when
    /// the server is built.
    pub fn template<F, Fut, R>(uri_template: &str, name: impl Into<String>, read: F) -> Self
    where
        F: Fn(Context, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoResourceContents,
    {
        let address = UriTemplate::parse(uri_template).map(Address::Template);
        Self::with_address(address, name.into(), read)
    }

    /// Sets the title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }
    /// Sets the description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
    /// Sets the MIME type.
    pub fn mime_type(mut self, mime_type: impl Into<String>) -> Self {
        self.mime_type = Some(mime_type.into().into());
        self
    }
    /// Sets the annotations.
    pub fn annotations(mut self, annotations: ResourceAnnotations) -> Self {
        self.annotations = annotations;
        self
    }
    /// Sets the size in bytes, when known.
    pub fn size(mut self, size: u64) -> Self {
        self.size = Some(size);
        self
    }
    item_setters!("resource", "resource");
    /// Completes a template variable with `complete` (see [`crate::catalog::CompletionRequest`]).
    pub fn complete<F, Fut, R>(mut self, variable: impl Into<String>, complete: F) -> Self
    where
        F: Fn(Context, crate::catalog::CompletionRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: crate::catalog::IntoCompletion,
    {
        self.completions
            .insert(variable.into(), CompletionHandler::dynamic(complete));
        self
    }

    /// The URI, or the URI template.
    pub fn uri(&self) -> &str {
        self.address_str()
    }
    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Whether this is a template.
    pub fn is_template(&self) -> bool {
        matches!(self.address, Address::Template(_))
    }

    pub(crate) fn address_str(&self) -> &str {
        match &self.address {
            Address::Uri(u) => u,
            Address::Template(t) => t.as_str(),
        }
    }

    pub(crate) fn from_registration(reg: &'static ResourceRegistration) -> Self {
        let mut problems = Vec::new();
        let address = match (reg.uri, reg.uri_template) {
            (Some(uri), _) => Address::Uri(uri.to_owned()),
            (None, Some(t)) => match UriTemplate::parse(t) {
                Ok(t) => Address::Template(t),
                Err(e) => {
                    problems.push(e);
                    Address::Uri(String::new())
                }
            },
            (None, None) => Address::Uri(String::new()),
        };
        let (meta, meta_problem) = super::tool::parse_meta(reg.meta);
        problems.extend(meta_problem);
        Self {
            address,
            name: reg.name.to_owned(),
            title: reg.title.map(str::to_owned),
            description: reg.description.map(str::to_owned),
            mime_type: reg.mime_type.map(Arc::from),
            annotations: ResourceAnnotations {
                audience: reg
                    .audience
                    .iter()
                    .map(|a| {
                        if *a == "assistant" {
                            Role::Assistant
                        } else {
                            Role::User
                        }
                    })
                    .collect(),
                priority: reg.priority,
                last_modified: reg.last_modified.map(str::to_owned),
            },
            size: reg.size,
            icons: reg.icons.iter().map(IconDef::to_icon).collect(),
            meta,
            scopes: reg.scopes.iter().map(|s| (*s).to_owned()).collect(),
            domains: reg.domains.iter().map(|s| (*s).to_owned()).collect(),
            tags: reg.tags.iter().map(|s| (*s).to_owned()).collect(),
            handler: Handler::Registered(reg.read),
            completions: reg
                .completions
                .iter()
                .map(|(var, f)| ((*var).to_owned(), CompletionHandler::Registered(*f)))
                .collect(),
            origin: Origin::Attribute {
                rust_path: reg.rust_path,
                file: reg.file,
                line: reg.line,
                column: reg.column,
            },
            state: reg.state.to_vec(),
            problems,
            nested: None,
            listed: true,
            contents_meta: None,
        }
    }

    /// This resource or template as a visibility hook is asked about it.
    pub(crate) fn item(&self) -> super::Item<'_> {
        super::Item {
            kind: if self.is_template() {
                super::ItemKind::Template
            } else {
                super::ItemKind::Resource
            },
            name: self.address_str(),
            tags: &self.tags,
            nested: self.nested.as_deref(),
        }
    }

    /// This resource or template as a composed server lists it: at `address` (a template when
    /// this is one), read in the part `nested` names (whose state applies there).
    pub(crate) fn nested_as(
        &self,
        address: &str,
        nested: Arc<super::nest::Nested>,
    ) -> Result<Self, String> {
        let address = match &self.address {
            Address::Uri(_) => Address::Uri(address.to_owned()),
            Address::Template(_) => Address::Template(UriTemplate::parse(address)?),
        };
        Ok(Self {
            address,
            state: Vec::new(),
            nested: Some(nested),
            ..self.clone()
        })
    }

    pub(crate) fn read(&self, ctx: Context, req: ReadRequest) -> ReadFuture {
        match &self.handler {
            Handler::Registered(f) => f(ctx, req),
            Handler::Dynamic(f) => f(ctx, req),
        }
    }

    /// The `Resource` (or `ResourceTemplate`) object of a list, shaped for a client of
    /// `version`.
    pub(crate) fn listing(&self, version: ProtocolVersion) -> Value {
        let mut o = Map::new();
        match &self.address {
            Address::Uri(u) => o.insert("uri".into(), json!(u)),
            Address::Template(t) => o.insert("uriTemplate".into(), json!(t.as_str())),
        };
        o.insert("name".into(), json!(self.name));
        if version.has_structured_output()
            && let Some(t) = &self.title
        {
            o.insert("title".into(), json!(t));
        }
        if let Some(d) = &self.description {
            o.insert("description".into(), json!(d));
        }
        if let Some(m) = &self.mime_type {
            o.insert("mimeType".into(), json!(m.as_ref()));
        }
        let mut annotations = self.annotations.clone();
        if !version.has_structured_output() {
            annotations.last_modified = None;
        }
        if !annotations.is_empty() {
            o.insert("annotations".into(), json!(annotations));
        }
        if let (Some(size), Address::Uri(_)) = (self.size, &self.address) {
            o.insert("size".into(), json!(size));
        }
        if version.has_icons() && !self.icons.is_empty() {
            o.insert("icons".into(), json!(self.icons));
        }
        if version.has_structured_output()
            && let Some(m) = super::listed_meta(self.meta.as_ref(), &self.scopes)
        {
            o.insert("_meta".into(), Value::Object(m.into_owned()));
        }
        Value::Object(o)
    }
}

/// Takes a string-valued argument (a template variable, a prompt argument) out of `args` by
/// name and converts it to `T`: as a JSON string first (`String`, enums, …), then as the JSON
/// value the text spells (numbers, booleans). A missing one is `None` for `Option` and an error
/// otherwise.
#[doc(hidden)]
pub fn string_argument<T: DeserializeOwned>(
    args: &mut Vec<(String, String)>,
    name: &'static str,
) -> Result<T, RequestError> {
    let Some(i) = args.iter().position(|(k, _)| k == name) else {
        return T::deserialize(super::expansion::MissingField(name))
            .map_err(|e| RequestError::invalid_params(format!("`{name}`: {e}")));
    };
    let (_, text) = args.swap_remove(i);
    let as_string = serde_json::from_value::<T>(Value::String(text.clone()));
    as_string.or_else(|first| {
        serde_json::from_str::<Value>(&text)
            .ok()
            .filter(|v| !v.is_string())
            .and_then(|v| serde_json::from_value::<T>(v).ok())
            .ok_or_else(|| RequestError::invalid_params(format!("`{name}` = `{text}`: {first}")))
    })
}

// ---- Return types of `#[resource]`: autoref specialisation, as for tools. ----

#[doc(hidden)]
pub struct ReadReturns<T>(PhantomData<fn() -> T>);

impl<T> ReadReturns<T> {
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T> Default for ReadReturns<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[doc(hidden)]
pub struct ContentsKind<T>(PhantomData<fn() -> T>);
#[doc(hidden)]
pub struct JsonResultKind<T>(PhantomData<fn() -> T>);
#[doc(hidden)]
pub struct JsonKind<T>(PhantomData<fn() -> T>);

#[doc(hidden)]
pub trait ViaContents<T> {
    fn __mcp_read_kind(&self) -> ContentsKind<T>;
}
impl<T: IntoResourceContents> ViaContents<T> for &&&ReadReturns<T> {
    fn __mcp_read_kind(&self) -> ContentsKind<T> {
        ContentsKind(PhantomData)
    }
}
#[doc(hidden)]
pub trait ViaJsonResult<T> {
    fn __mcp_read_kind(&self) -> JsonResultKind<T>;
}
impl<T: Serialize, E: Into<RequestError>> ViaJsonResult<Result<T, E>>
    for &&ReadReturns<Result<T, E>>
{
    fn __mcp_read_kind(&self) -> JsonResultKind<Result<T, E>> {
        JsonResultKind(PhantomData)
    }
}
#[doc(hidden)]
pub trait ViaJson<T> {
    fn __mcp_read_kind(&self) -> JsonKind<T>;
}
impl<T: Serialize> ViaJson<T> for &ReadReturns<T> {
    fn __mcp_read_kind(&self) -> JsonKind<T> {
        JsonKind(PhantomData)
    }
}

impl<T: IntoResourceContents> ContentsKind<T> {
    pub fn convert(self, value: T, req: &ReadRequest) -> ReadOutput {
        value.into_contents(&req.target())
    }
}
impl<T: Serialize, E: Into<RequestError>> JsonResultKind<Result<T, E>> {
    pub fn convert(self, value: Result<T, E>, req: &ReadRequest) -> ReadOutput {
        json_contents(&value.map_err(Into::into)?, &req.target())
    }
}
impl<T: Serialize> JsonKind<T> {
    pub fn convert(self, value: T, req: &ReadRequest) -> ReadOutput {
        json_contents(&value, &req.target())
    }
}

/// Checks that a parameter type can be a template variable or a prompt argument.
#[doc(hidden)]
pub fn assert_string_argument<T: StringArgument>() {}

/// Types that can be template variables and prompt arguments: read from their text.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a template variable or a prompt argument: it must implement `serde::Deserialize`",
    label = "this parameter type does not implement `Deserialize`",
    note = "use `String`, a number, `bool`, an enum that derives `Deserialize`, or an `Option` of one; or take `Context` / `State<T>`, which are injected"
)]
#[doc(hidden)]
pub trait StringArgument {}
impl<T: DeserializeOwned> StringArgument for T {}

/// The shared state of type `T` for a resource or prompt function, or the error naming it.
#[doc(hidden)]
pub fn state_for<T: Send + Sync + 'static>(
    ctx: &Context,
) -> Result<super::tool::State<T>, RequestError> {
    ctx.state::<T>()
        .map(super::tool::State::from_arc)
        .ok_or_else(|| {
            RequestError::internal(format!(
                "the server has no state of type `{}`; add it with `McpServer::state`",
                std::any::type_name::<T>()
            ))
        })
}

/// A caller asking to follow the updates of a resource (`resources/subscribe`, or a URI of a
/// 2026-07-28 `subscriptions/listen`), for the app's check set with
/// [`crate::McpServer::authorize_subscriptions`]. The URI is one the catalog serves and whose
/// scopes the caller holds.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Subscription {
    /// The authenticated caller; `None` on a server without auth.
    pub principal: Option<crate::call::context::Principal>,
    /// The resource's URI.
    pub uri: String,
}

/// The app's check of subscriptions: `true` lets the caller subscribe.
pub(crate) type SubscriptionCheck =
    std::sync::Arc<dyn Fn(Subscription) -> BoxFuture<'static, bool> + Send + Sync>;
