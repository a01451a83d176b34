//! Tools: the link-time registration that `#[tool]` emits, the [`Tool`] a server holds, and
//! its schemas. What a `#[tool]` expansion calls (reading arguments, the return kinds) is in
//! `expansion.rs`.

use crate::call::context::Context;
use crate::content::{CallToolResult, IntoToolResult};
use futures_util::future::BoxFuture;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use std::any::TypeId;
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;

/// The arguments of a `tools/call`, as sent.
pub type Arguments = Map<String, Value>;

/// How derived tool schemas (those `#[tool]` makes from Rust types) are listed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ToolSchemas {
    /// For clients before 2026-07-28, a form strict clients accept: no `$schema`, `$ref`s
    /// inlined, `Option<T>` described as `T` (it is simply not required), integer formats as
    /// `minimum`/`maximum`, root `type: object`. 2026-07-28 clients get the full 2020-12
    /// schema. Schemas given by hand (`Tool::input_schema`) are always sent as they are.
    #[default]
    Compatible,
    /// The full JSON Schema 2020-12, as schemars derives it, for every revision.
    Full,
}

/// What a tool's call function yields.
#[doc(hidden)]
pub enum ToolOutput {
    /// A finished result.
    Result(CallToolResult),
    /// A structured value; the server adds the text block and wraps non-objects.
    Structured(Value),
    /// The arguments did not fit the tool's parameters; the message names the field.
    InvalidArguments(String),
}

/// The type-erased call function of a registered tool.
#[doc(hidden)]
pub type ToolFuture = BoxFuture<'static, ToolOutput>;
pub(crate) type CallFn = fn(Context, Arguments) -> ToolFuture;

/// Shared state a tool takes as a parameter: `State<Db>` is the value given to
/// [`McpServer::state`](crate::McpServer::state). Injected, never part of the schema; it
/// dereferences to `T`.
pub struct State<T: ?Sized>(Arc<T>);

impl<T: ?Sized> State<T> {
    pub(crate) fn from_arc(value: Arc<T>) -> Self {
        Self(value)
    }

    /// The shared `Arc`.
    pub fn arc(&self) -> &Arc<T> {
        &self.0
    }
}

impl<T: ?Sized> Deref for State<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: ?Sized> Clone for State<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for State<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("State").field(&&*self.0).finish()
    }
}

/// A `State<T>` a tool needs, checked when the server is built.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct StateRequirement {
    pub(crate) type_id: fn() -> TypeId,
    pub(crate) type_name: fn() -> &'static str,
}

impl StateRequirement {
    /// The requirement for `State<T>`.
    pub const fn of<T: Send + Sync + 'static>() -> Self {
        Self {
            type_id: TypeId::of::<T>,
            type_name: std::any::type_name::<T>,
        }
    }
}

/// The annotation hints as written in `#[tool(...)]`.
#[doc(hidden)]
#[derive(Clone, Copy, Default)]
pub struct AnnotationDefs {
    pub read_only: Option<bool>,
    pub destructive: Option<bool>,
    pub idempotent: Option<bool>,
    pub open_world: Option<bool>,
}

/// An icon as written in `#[tool(...)]`.
#[doc(hidden)]
pub struct IconDef {
    pub src: &'static str,
    pub mime_type: Option<&'static str>,
    pub sizes: &'static [&'static str],
    pub theme: Option<&'static str>,
}

impl IconDef {
    pub(crate) fn to_icon(&self) -> Icon {
        Icon {
            src: self.src.to_owned(),
            mime_type: self.mime_type.map(str::to_owned),
            sizes: self.sizes.iter().map(|s| (*s).to_owned()).collect(),
            theme: self.theme.map(str::to_owned),
        }
    }
}

/// The `meta` of an attribute, parsed: the object, or the problem to report at build.
pub(crate) fn parse_meta(meta: Option<&str>) -> (Option<Map<String, Value>>, Option<String>) {
    match meta.map(serde_json::from_str::<Map<String, Value>>) {
        None => (None, None),
        Some(Ok(m)) => (Some(m), None),
        Some(Err(e)) => (None, Some(format!("`meta` is not a JSON object: {e}"))),
    }
}

/// What `#[tool]` registers at link time. Built only by the macro.
#[doc(hidden)]
pub struct ToolRegistration {
    pub name: &'static str,
    pub rust_path: &'static str,
    pub title: Option<&'static str>,
    pub description: Option<&'static str>,
    pub domains: &'static [&'static str],
    pub tags: &'static [&'static str],
    pub scopes: &'static [&'static str],
    pub annotations: AnnotationDefs,
    pub icons: &'static [IconDef],
    pub meta: Option<&'static str>,
    pub timeout_ms: Option<u64>,
    /// Whether calls may run as tasks.
    pub task: TaskSupport,
    /// `#[tool(layer = f)]`: the MCP middleware of this tool's calls.
    pub layers: &'static [fn() -> ToolLayer],
    /// The arguments struct's `JsonSchema::json_schema`: the root schema is made once per
    /// server with one generator for every tool, so the expansion carries no schema code.
    pub input_schema: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
    pub output_schema: fn() -> Option<Value>,
    pub call: fn(Context, Arguments) -> ToolFuture,
    pub type_id: fn() -> TypeId,
    pub state: &'static [StateRequirement],
    pub file: &'static str,
    pub line: u32,
    pub column: u32,
}

inventory::collect!(ToolRegistration);

/// MCP middleware of one tool's calls ([`Tool::layer`], `#[tool(layer = f)]`), kept opaque by
/// the catalog: the core applies it to the tool's calls, wherever the tool was added (when the
/// server was built, or at run time with [`crate::catalog::CatalogEdit`]).
#[derive(Clone)]
pub struct ToolLayer(pub(crate) Arc<dyn std::any::Any + Send + Sync>);

impl fmt::Debug for ToolLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ToolLayer(..)")
    }
}

/// Every tool registered with `#[tool]` in the binary.
pub(crate) fn registrations() -> impl Iterator<Item = &'static ToolRegistration> {
    inventory::iter::<ToolRegistration>.into_iter()
}

fn compact(schema: &Value) -> Box<RawValue> {
    serde_json::value::to_raw_value(schema).expect("schemas serialize")
}

fn parse(schema: &RawValue) -> Value {
    serde_json::from_str(schema.get()).expect("a schema this server serialized")
}

/// A tool as `tools/list` shows it to one revision; see [`Tool::listing`].
#[derive(Serialize)]
pub(crate) struct Listing<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(rename = "inputSchema")]
    input_schema: &'a RawValue,
    #[serde(rename = "outputSchema", skip_serializing_if = "Option::is_none")]
    output_schema: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<ListingAnnotations<'a>>,
    #[serde(skip_serializing_if = "<[Icon]>::is_empty")]
    icons: &'a [Icon],
    #[serde(skip_serializing_if = "Option::is_none")]
    execution: Option<Value>,
    #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
    meta: Option<std::borrow::Cow<'a, Map<String, Value>>>,
}

/// The hints, with the tool's title from 2025-06-18 on.
#[derive(Serialize)]
pub(crate) struct ListingAnnotations<'a> {
    #[serde(flatten)]
    hints: &'a ToolAnnotations,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
}

/// Behaviour hints for clients (`annotations` in `tools/list`). Clients treat them as untrusted.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ToolAnnotations {
    /// The tool does not modify its environment.
    #[serde(rename = "readOnlyHint", skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// The tool may perform destructive updates.
    #[serde(rename = "destructiveHint", skip_serializing_if = "Option::is_none")]
    pub destructive: Option<bool>,
    /// Calling the tool again with the same arguments has no additional effect.
    #[serde(rename = "idempotentHint", skip_serializing_if = "Option::is_none")]
    pub idempotent: Option<bool>,
    /// The tool interacts with an open world of external entities.
    #[serde(rename = "openWorldHint", skip_serializing_if = "Option::is_none")]
    pub open_world: Option<bool>,
}

impl ToolAnnotations {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// An icon shown for a tool, a resource or a prompt (2025-11-25+).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Icon {
    /// The icon's URL (`https:` or `data:`).
    pub src: String,
    /// The MIME type.
    #[serde(rename = "mimeType", skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Sizes such as `48x48` or `any`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sizes: Vec<String>,
    /// `light` or `dark`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub theme: Option<String>,
}

type DynHandler = dyn Fn(Context, Arguments) -> ToolFuture + Send + Sync;

#[derive(Clone)]
pub(crate) enum Handler {
    Registered(CallFn),
    Dynamic(Arc<DynHandler>),
}

/// Where a tool was defined, for startup errors.
#[derive(Clone, Debug)]
pub(crate) enum Origin {
    Attribute {
        rust_path: &'static str,
        file: &'static str,
        line: u32,
        column: u32,
    },
    Manual,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Attribute {
                rust_path,
                file,
                line,
                column,
            } => write!(f, "`{rust_path}` at {file}:{line}:{column}"),
            Self::Manual => f.write_str("a tool added with `Tool::new`"),
        }
    }
}

/// Whether a tool's calls run as tasks (`#[tool(task = "optional")]`): started at once and
/// answered with a task handle, the work going on detached, the client polling `tasks/get`.
/// For 2026-07-28 clients that declared the tasks extension, and for 2025-11-25 clients that
/// ask for a task with `task` (the experimental tasks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskSupport {
    /// Never as a task (the default).
    #[default]
    Forbidden,
    /// As a task when the client declared the tasks extension; otherwise answered directly.
    Optional,
    /// Only as a task: a client without the tasks extension gets -32021.
    Required,
}

/// A tool as a server holds it: its description, schemas and handler.
///
/// Tools annotated with `#[tool]` become one of these when a server selects them. Build one by
/// hand with [`Tool::new`] for tools whose shape is only known at run time.
#[derive(Clone)]
pub struct Tool {
    pub(crate) name: String,
    pub(crate) title: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) annotations: ToolAnnotations,
    pub(crate) icons: Vec<Icon>,
    pub(crate) meta: Option<Map<String, Value>>,
    pub(crate) scopes: Vec<String>,
    pub(crate) timeout: Option<std::time::Duration>,
    pub(crate) task: TaskSupport,
    /// Kept serialized: a server holds thousands of these, and they are only ever written out.
    pub(crate) input_schema: Box<RawValue>,
    pub(crate) output_schema: Option<Box<RawValue>>,
    /// The compatible forms of derived schemas, for clients before 2026-07-28 (see
    /// `schema_compat`); `None` for schemas given by hand, which are sent as they are.
    pub(crate) compat_input_schema: Option<Box<RawValue>>,
    pub(crate) compat_output_schema: Option<Box<RawValue>>,
    /// Structured output is sent as `{"result": …}` (its schema's root is not an object).
    pub(crate) wrap_output: bool,
    pub(crate) handler: Handler,
    pub(crate) origin: Origin,
    pub(crate) state: Vec<StateRequirement>,
    pub(crate) meta_error: Option<String>,
    /// The domains the tool belongs to (for enabling and disabling by domain).
    pub(crate) domains: Vec<String>,
    /// Its tags (for enabling and disabling by tag, and for visibility hooks).
    pub(crate) tags: Vec<String>,
    /// The tool's own MCP middleware, applied to its calls (inside the server's layers).
    pub(crate) layers: Vec<ToolLayer>,
    /// `layers` built into one service around the method table, on the tool's first call.
    pub(crate) stack: std::sync::OnceLock<ToolLayer>,
    /// The arguments that travel as `Mcp-Param-*` headers, read from the input schema once.
    param_headers: std::sync::OnceLock<Result<Arc<[super::param_headers::ParamHeader]>, String>>,
    /// The part of a composed server this tool is called in, and its name there.
    pub(crate) nested: Option<Arc<super::nest::Nested>>,
    /// How the arguments clients send become the function's, for a transformed tool.
    pub(crate) arguments_map: Option<Arc<super::transform::ArgumentMap>>,
    /// One of the two tools of a server's search ([`crate::McpServer::tool_search`]).
    pub(crate) meta_tool: Option<super::search::MetaTool>,
}

impl fmt::Debug for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tool")
            .field("name", &self.name)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Tool {
    /// A tool built by hand. The handler gets the [`Context`] and the raw arguments and returns
    /// anything that implements [`IntoToolResult`]. The input schema defaults to an object with
    /// any properties; set it with [`Tool::input_schema`].
    ///
    /// ```
    /// use mcp_runtime::{catalog::Tool, content::CallToolResult};
    /// use serde_json::json;
    ///
    /// let echo = Tool::new("echo", |_ctx, args| async move {
    ///     let text = args.get("text").and_then(|t| t.as_str()).unwrap_or_default().to_owned();
    ///     CallToolResult::text(text)
    /// })
    /// .description("Echo the text back")
    /// .input_schema(json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}));
    /// ```
    pub fn new<F, Fut, R>(name: impl Into<String>, handler: F) -> Self
    where
        F: Fn(Context, Arguments) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoToolResult,
    {
        let handler: Arc<DynHandler> = Arc::new(move |ctx, args| {
            let fut = handler(ctx, args);
            Box::pin(async move { ToolOutput::Result(fut.await.into_tool_result()) })
        });
        Self {
            name: name.into(),
            title: None,
            description: None,
            annotations: ToolAnnotations::default(),
            icons: Vec::new(),
            meta: None,
            scopes: Vec::new(),
            timeout: None,
            task: TaskSupport::Forbidden,
            input_schema: compact(&json!({ "type": "object" })),
            output_schema: None,
            compat_input_schema: None,
            compat_output_schema: None,
            wrap_output: false,
            handler: Handler::Dynamic(handler),
            origin: Origin::Manual,
            state: Vec::new(),
            meta_error: None,
            domains: Vec::new(),
            tags: Vec::new(),
            layers: Vec::new(),
            stack: std::sync::OnceLock::new(),
            param_headers: std::sync::OnceLock::new(),
            nested: None,
            arguments_map: None,
            meta_tool: None,
        }
    }

    /// Sets the description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
    /// Sets the title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }
    /// Sets the input schema (a JSON Schema whose root is `type: object`).
    pub fn input_schema(mut self, schema: Value) -> Self {
        self.input_schema = compact(&schema);
        self.param_headers = std::sync::OnceLock::new();
        self
    }
    /// Sets the output schema (a JSON Schema whose root is `type: object`).
    pub fn output_schema(mut self, schema: Value) -> Self {
        self.output_schema = Some(compact(&schema));
        self
    }
    /// Sets the annotations.
    pub fn annotations(mut self, annotations: ToolAnnotations) -> Self {
        self.annotations = annotations;
        self
    }
    /// Sets the longest the tool may run; past it the call is cancelled and answered with an
    /// `isError` result.
    pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
    /// Whether calls may (or must) run as tasks.
    pub fn task_support(mut self, support: TaskSupport) -> Self {
        self.task = support;
        self
    }
    item_setters!("tool", "tool");

    /// The arguments declared with `x-mcp-header` in the input schema (sent as `Mcp-Param-*`
    /// headers too), or what is wrong with the declarations.
    pub(crate) fn param_headers(&self) -> Result<&[super::param_headers::ParamHeader], &str> {
        let found = self.param_headers.get_or_init(|| {
            if !self.input_schema.get().contains("x-mcp-header") {
                return Ok(Arc::from([]));
            }
            super::param_headers::scan(&parse(&self.input_schema)).map(Arc::from)
        });
        match found {
            Ok(list) => Ok(list),
            Err(e) => Err(e),
        }
    }

    /// The tool's MCP name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The input schema (parsed from the serialized form the server keeps).
    pub fn get_input_schema(&self) -> Value {
        parse(&self.input_schema)
    }
    /// The scopes a caller needs to call the tool.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }
    /// The output schema, for tools with structured output (parsed from the serialized form
    /// the server keeps).
    pub fn get_output_schema(&self) -> Option<Value> {
        self.output_schema.as_deref().map(parse)
    }

    pub(crate) fn from_registration(
        reg: &'static ToolRegistration,
        schemas: &mut schemars::SchemaGenerator,
    ) -> Self {
        let (meta, meta_error) = parse_meta(reg.meta);
        let mut output_schema = (reg.output_schema)();
        let wrap_output = output_schema
            .as_mut()
            .and_then(Value::as_object_mut)
            .is_some_and(|o| o.remove(WRAPPED_MARKER).is_some());
        let input_schema = root_input_schema(schemas, reg.input_schema);
        let (compat_input, recursive_input) = crate::schema_compat::compatible(&input_schema);
        let compat = output_schema.as_ref().map(crate::schema_compat::compatible);
        let recursive_output = compat.as_ref().is_some_and(|(_, r)| *r);
        let compat_output = compat.map(|(s, _)| s);
        if recursive_input || recursive_output {
            tracing::warn!(
                tool = reg.name,
                "the schema of this tool describes a recursive type: its `$defs` are kept in the \
                 compatible form too, which some clients (Gemini) refuse"
            );
        }
        Self {
            name: reg.name.to_owned(),
            title: reg.title.map(str::to_owned),
            description: reg.description.map(str::to_owned),
            annotations: ToolAnnotations {
                read_only: reg.annotations.read_only,
                destructive: reg.annotations.destructive,
                idempotent: reg.annotations.idempotent,
                open_world: reg.annotations.open_world,
            },
            icons: reg.icons.iter().map(IconDef::to_icon).collect(),
            domains: reg.domains.iter().map(|s| (*s).to_owned()).collect(),
            tags: reg.tags.iter().map(|s| (*s).to_owned()).collect(),
            meta,
            scopes: reg.scopes.iter().map(|s| (*s).to_owned()).collect(),
            timeout: reg.timeout_ms.map(std::time::Duration::from_millis),
            task: reg.task,
            input_schema: compact(&input_schema),
            output_schema: output_schema.as_ref().map(compact),
            compat_input_schema: Some(compact(&compat_input)),
            compat_output_schema: compat_output.as_ref().map(compact),
            wrap_output,
            handler: Handler::Registered(reg.call),
            origin: Origin::Attribute {
                rust_path: reg.rust_path,
                file: reg.file,
                line: reg.line,
                column: reg.column,
            },
            state: reg.state.to_vec(),
            meta_error,
            layers: reg.layers.iter().map(|f| f()).collect(),
            stack: std::sync::OnceLock::new(),
            param_headers: std::sync::OnceLock::new(),
            nested: None,
            arguments_map: None,
            meta_tool: None,
        }
    }

    /// This item as a visibility hook is asked about it.
    pub(crate) fn item(&self) -> super::Item<'_> {
        super::Item {
            kind: super::ItemKind::Tool,
            name: &self.name,
            tags: &self.tags,
            nested: self.nested.as_deref(),
        }
    }

    /// This tool as a composed server lists it: named `name`, called in the part `nested`
    /// names (whose layers and state apply there, so none are kept here).
    pub(crate) fn nested_as(&self, name: String, nested: Arc<super::nest::Nested>) -> Self {
        Self {
            name,
            layers: Vec::new(),
            stack: std::sync::OnceLock::new(),
            state: Vec::new(),
            nested: Some(nested),
            ..self.clone()
        }
    }

    /// The compatible form of the input schema, when it has one.
    pub(crate) fn compat_input_schema_value(&self) -> Option<Value> {
        self.compat_input_schema.as_deref().map(parse)
    }

    /// This tool as a transform shows it (see [`super::transform::ToolTransform`]).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn transformed(
        &self,
        name: String,
        title: Option<String>,
        description: Option<String>,
        annotations: Option<ToolAnnotations>,
        input_schema: Value,
        compat_input_schema: Option<Value>,
        arguments_map: Option<Arc<super::transform::ArgumentMap>>,
    ) -> Self {
        Self {
            name,
            title: title.or_else(|| self.title.clone()),
            description: description.or_else(|| self.description.clone()),
            annotations: annotations.unwrap_or_else(|| self.annotations.clone()),
            input_schema: compact(&input_schema),
            compat_input_schema: compat_input_schema.as_ref().map(compact),
            param_headers: std::sync::OnceLock::new(),
            stack: std::sync::OnceLock::new(),
            arguments_map,
            ..self.clone()
        }
    }

    pub(crate) fn call(&self, ctx: Context, args: Arguments) -> ToolFuture {
        match &self.handler {
            Handler::Registered(f) => f(ctx, args),
            Handler::Dynamic(f) => f(ctx, args),
        }
    }

    /// The `Tool` object of `tools/list`, shaped for a client of `version`, borrowing from the
    /// tool: serialized straight into the prebuilt pages.
    pub(crate) fn listing(
        &self,
        version: crate::protocol::ProtocolVersion,
        compatible: bool,
    ) -> Listing<'_> {
        let structured = version.has_structured_output();
        let compat = compatible && !version.is_stateless();
        let input_schema = match &self.compat_input_schema {
            Some(s) if compat => s,
            _ => &self.input_schema,
        };
        let output_schema = match &self.compat_output_schema {
            Some(s) if compat => Some(s),
            _ => self.output_schema.as_ref(),
        };
        let title = self.title.as_deref().filter(|_| structured);
        Listing {
            name: &self.name,
            title,
            description: self.description.as_deref(),
            input_schema,
            output_schema: output_schema.map(|s| &**s).filter(|_| structured),
            annotations: (version.has_annotations() && !self.annotations.is_empty()).then_some(
                ListingAnnotations {
                    hints: &self.annotations,
                    title,
                },
            ),
            icons: if version.has_icons() {
                &self.icons
            } else {
                &[]
            },
            // 2025-11-25's experimental tasks: which tools may run as tasks.
            execution: match self.task {
                TaskSupport::Optional if version.has_experimental_tasks() => {
                    Some(json!({ "taskSupport": "optional" }))
                }
                TaskSupport::Required if version.has_experimental_tasks() => {
                    Some(json!({ "taskSupport": "required" }))
                }
                _ => None,
            },
            meta: super::listed_meta(self.meta.as_ref(), &self.scopes).filter(|_| structured),
        }
    }
}

pub(crate) fn generator() -> schemars::SchemaGenerator {
    schemars::generate::SchemaSettings::draft2020_12().into_generator()
}

/// The root schema of an arguments struct from its `json_schema` function, as
/// `SchemaGenerator::into_root_schema_for` makes it (meta-schema, `$defs`, transforms), without
/// the title. Arguments structs are never recursive, so the root needs no self-reference
/// tracking. The generator is left without definitions, ready for the next tool.
pub(crate) fn root_input_schema(
    generator: &mut schemars::SchemaGenerator,
    json_schema: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
) -> Value {
    let mut schema = json_schema(generator);
    let definitions = generator.take_definitions(false);
    let object = schema.ensure_object();
    object.remove("title");
    if let Some(meta) = &generator.settings().meta_schema {
        object.insert("$schema".into(), Value::String(meta.to_string()));
    }
    if !definitions.is_empty() {
        object
            .entry("$defs")
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .expect("`$defs` is an object")
            .extend(definitions);
    }
    for transform in generator.transforms_mut() {
        transform.transform(&mut schema);
    }
    let mut schema = schema.to_value();
    if let Some(o) = schema.as_object_mut() {
        // A tool without arguments gets the form the specification recommends.
        if o.get("properties")
            .is_none_or(|p| p.as_object().is_some_and(Map::is_empty))
        {
            o.remove("properties");
            o.insert("additionalProperties".into(), Value::Bool(false));
        }
    }
    schema
}

/// Marks a wrapped output schema between the expansion and [`Tool::from_registration`], which
/// removes it.
pub(super) const WRAPPED_MARKER: &str = "x-mcp-wrapped";
