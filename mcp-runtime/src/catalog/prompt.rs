//! Prompts: what `#[prompt]` registers, the [`Prompt`] a server holds, and `prompts/get`.

use super::completion::{CompleteFn, CompletionHandler};
use super::tool::{Icon, IconDef, Origin, StateRequirement};
use crate::call::context::Context;
use crate::content::{GetPromptResult, IntoPromptResult, RequestError};
use crate::protocol::ProtocolVersion;
use futures_util::future::BoxFuture;
use serde_json::{Map, Value, json};
use std::any::TypeId;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// What a prompt function yields.
#[doc(hidden)]
pub type PromptOutput = Result<GetPromptResult, RequestError>;
#[doc(hidden)]
pub type PromptFuture = BoxFuture<'static, PromptOutput>;
/// The arguments of a `prompts/get`: every value is a string on the wire.
#[doc(hidden)]
pub type PromptArgs = Vec<(String, String)>;

pub(crate) type GetFn = fn(Context, PromptArgs) -> PromptFuture;
type DynGet = dyn Fn(Context, PromptArgs) -> PromptFuture + Send + Sync;

#[derive(Clone)]
enum Handler {
    Registered(GetFn),
    Dynamic(Arc<DynGet>),
}

/// An argument as written on a `#[prompt]` function. Built only by the macro.
#[doc(hidden)]
pub struct PromptArgDef {
    pub name: &'static str,
    pub description: Option<&'static str>,
    pub required: bool,
}

/// What `#[prompt]` registers at link time. Built only by the macro.
#[doc(hidden)]
pub struct PromptRegistration {
    pub name: &'static str,
    pub rust_path: &'static str,
    pub title: Option<&'static str>,
    pub description: Option<&'static str>,
    pub arguments: &'static [PromptArgDef],
    pub icons: &'static [IconDef],
    pub domains: &'static [&'static str],
    pub tags: &'static [&'static str],
    pub scopes: &'static [&'static str],
    pub meta: Option<&'static str>,
    pub get: GetFn,
    pub completions: &'static [(&'static str, CompleteFn)],
    pub type_id: fn() -> TypeId,
    pub state: &'static [StateRequirement],
    pub file: &'static str,
    pub line: u32,
    pub column: u32,
}

inventory::collect!(PromptRegistration);

pub(crate) fn registrations() -> impl Iterator<Item = &'static PromptRegistration> {
    inventory::iter::<PromptRegistration>.into_iter()
}

/// One argument of a prompt.
#[derive(Clone, Debug, PartialEq)]
pub struct PromptArgument {
    /// The name.
    pub name: String,
    /// A human-readable title (2025-06-18+).
    pub title: Option<String>,
    /// What to give.
    pub description: Option<String>,
    /// Whether `prompts/get` must give it.
    pub required: bool,
}

impl PromptArgument {
    /// A required argument.
    pub fn required(name: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            title: None,
            description: Some(description.into()),
            required: true,
        }
    }
    /// An optional argument.
    pub fn optional(name: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            required: false,
            ..Self::required(name, description)
        }
    }
}

/// A prompt as a server holds it. `#[prompt]` functions become one of these when a server
/// selects them; build one by hand with [`Prompt::new`].
#[derive(Clone)]
pub struct Prompt {
    pub(crate) name: String,
    pub(crate) title: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) arguments: Vec<PromptArgument>,
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
}

impl fmt::Debug for Prompt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prompt")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Prompt {
    /// A prompt built at run time. The function gets the [`Context`] and the arguments given
    /// (name → value; required ones are checked before the call) and returns anything that
    /// implements [`IntoPromptResult`].
    ///
    /// ```
    /// use mcp_runtime::{catalog::Prompt, catalog::PromptArgument};
    ///
    /// let greet = Prompt::new("greet", |_ctx, args| async move {
    ///     let name = args.get("name").cloned().unwrap_or_default();
    ///     format!("Say hello to {name}.")
    /// })
    /// .argument(PromptArgument::required("name", "Who to greet"));
    /// ```
    pub fn new<F, Fut, R>(name: impl Into<String>, get: F) -> Self
    where
        F: Fn(Context, HashMap<String, String>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoPromptResult,
    {
        let get: Arc<DynGet> = Arc::new(move |ctx, args: PromptArgs| {
            let fut = get(ctx, args.into_iter().collect());
            Box::pin(async move { fut.await.into_prompt_result() })
        });
        Self {
            name: name.into(),
            title: None,
            description: None,
            arguments: Vec::new(),
            icons: Vec::new(),
            meta: None,
            scopes: Vec::new(),
            domains: Vec::new(),
            tags: Vec::new(),
            handler: Handler::Dynamic(get),
            completions: HashMap::new(),
            origin: Origin::Manual,
            state: Vec::new(),
            problems: Vec::new(),
            nested: None,
        }
    }

    /// This item as a visibility hook is asked about it.
    pub(crate) fn item(&self) -> super::Item<'_> {
        super::Item {
            kind: super::ItemKind::Prompt,
            name: &self.name,
            tags: &self.tags,
            nested: self.nested.as_deref(),
        }
    }

    /// This prompt as a composed server lists it: named `name`, answered by the part `nested`
    /// names (whose state applies there).
    pub(crate) fn nested_as(&self, name: String, nested: Arc<super::nest::Nested>) -> Self {
        Self {
            name,
            state: Vec::new(),
            nested: Some(nested),
            ..self.clone()
        }
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
    /// Adds an argument.
    pub fn argument(mut self, argument: PromptArgument) -> Self {
        self.arguments.push(argument);
        self
    }
    item_setters!("prompt", "prompt");
    /// Completes an argument with `complete` (see [`crate::catalog::CompletionRequest`]).
    pub fn complete<F, Fut, R>(mut self, argument: impl Into<String>, complete: F) -> Self
    where
        F: Fn(Context, crate::catalog::CompletionRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: crate::catalog::IntoCompletion,
    {
        self.completions
            .insert(argument.into(), CompletionHandler::dynamic(complete));
        self
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The arguments.
    pub fn arguments(&self) -> &[PromptArgument] {
        &self.arguments
    }

    pub(crate) fn from_registration(reg: &'static PromptRegistration) -> Self {
        let (meta, meta_problem) = super::tool::parse_meta(reg.meta);
        Self {
            name: reg.name.to_owned(),
            title: reg.title.map(str::to_owned),
            description: reg.description.map(str::to_owned),
            arguments: reg
                .arguments
                .iter()
                .map(|a| PromptArgument {
                    name: a.name.to_owned(),
                    title: None,
                    description: a.description.map(str::to_owned),
                    required: a.required,
                })
                .collect(),
            icons: reg.icons.iter().map(IconDef::to_icon).collect(),
            meta,
            scopes: reg.scopes.iter().map(|s| (*s).to_owned()).collect(),
            domains: reg.domains.iter().map(|s| (*s).to_owned()).collect(),
            tags: reg.tags.iter().map(|s| (*s).to_owned()).collect(),
            handler: Handler::Registered(reg.get),
            completions: reg
                .completions
                .iter()
                .map(|(arg, f)| ((*arg).to_owned(), CompletionHandler::Registered(*f)))
                .collect(),
            origin: Origin::Attribute {
                rust_path: reg.rust_path,
                file: reg.file,
                line: reg.line,
                column: reg.column,
            },
            state: reg.state.to_vec(),
            problems: meta_problem.into_iter().collect(),
            nested: None,
        }
    }

    pub(crate) fn get(&self, ctx: Context, args: PromptArgs) -> PromptFuture {
        match &self.handler {
            Handler::Registered(f) => f(ctx, args),
            Handler::Dynamic(f) => f(ctx, args),
        }
    }

    /// The `Prompt` object of `prompts/list`, shaped for a client of `version`.
    pub(crate) fn listing(&self, version: ProtocolVersion) -> Value {
        let titled = version.has_structured_output();
        let mut o = Map::new();
        o.insert("name".into(), json!(self.name));
        if titled && let Some(t) = &self.title {
            o.insert("title".into(), json!(t));
        }
        if let Some(d) = &self.description {
            o.insert("description".into(), json!(d));
        }
        if !self.arguments.is_empty() {
            let args: Vec<Value> = self
                .arguments
                .iter()
                .map(|a| {
                    let mut arg = Map::new();
                    arg.insert("name".into(), json!(a.name));
                    if titled && let Some(t) = &a.title {
                        arg.insert("title".into(), json!(t));
                    }
                    if let Some(d) = &a.description {
                        arg.insert("description".into(), json!(d));
                    }
                    arg.insert("required".into(), json!(a.required));
                    Value::Object(arg)
                })
                .collect();
            o.insert("arguments".into(), Value::Array(args));
        }
        if version.has_icons() && !self.icons.is_empty() {
            o.insert("icons".into(), json!(self.icons));
        }
        if titled && let Some(m) = super::listed_meta(self.meta.as_ref(), &self.scopes) {
            o.insert("_meta".into(), Value::Object(m.into_owned()));
        }
        Value::Object(o)
    }
}
