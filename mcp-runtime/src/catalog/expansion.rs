//! What a `#[tool]` expansion calls: the output schema of a return type, the arguments read
//! one by one (naming the field at fault), the shared state, and the return kinds that turn a
//! function's value into a tool result (chosen by autoref specialization).

use super::tool::{Arguments, State, ToolOutput, WRAPPED_MARKER, generator};
use crate::call::context::Context;
use crate::content::{CallToolResult, IntoToolResult};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::any::TypeId;
use std::fmt;
use std::marker::PhantomData;

/// The output schema of a structured return type. A schema whose root is not an object is
/// wrapped as `{"result": …}` so that every revision's clients accept it.
#[doc(hidden)]
pub fn output_schema<T: JsonSchema>() -> Value {
    let mut schema = generator().into_root_schema_for::<T>().to_value();
    let Some(o) = schema.as_object_mut() else {
        return json!({"type": "object"});
    };
    o.remove("title");
    if o.get("type") == Some(&Value::String("object".into())) {
        return schema;
    }
    let dialect = o.remove("$schema");
    let defs = o.remove("$defs");
    let mut wrapped = Map::new();
    if let Some(d) = dialect {
        wrapped.insert("$schema".into(), d);
    }
    wrapped.insert("type".into(), "object".into());
    wrapped.insert("properties".into(), json!({ "result": schema }));
    wrapped.insert("required".into(), json!(["result"]));
    if let Some(d) = defs {
        wrapped.insert("$defs".into(), d);
    }
    wrapped.insert(WRAPPED_MARKER.into(), Value::Bool(true));
    Value::Object(wrapped)
}

/// Deserializes the arguments, naming the field at fault.
#[doc(hidden)]
pub fn parse_arguments<T: DeserializeOwned>(args: Arguments) -> Result<T, ToolOutput> {
    serde_path_to_error::deserialize(Value::Object(args)).map_err(|e| invalid_at(None, e))
}

/// The message of an argument that did not deserialize, naming where: `` `a.b[1]`: … ``. `field`
/// is the argument the path is inside, when the value was read on its own.
fn invalid_at(field: Option<&str>, e: serde_path_to_error::Error<serde_json::Error>) -> ToolOutput {
    let path = e.path().to_string();
    let path = match (field, path.as_str()) {
        (None, "." | "") => None,
        (None, p) => Some(p.to_owned()),
        (Some(f), "." | "") => Some(f.to_owned()),
        (Some(f), p) if p.starts_with('[') => Some(format!("{f}{p}")),
        (Some(f), p) => Some(format!("{f}.{p}")),
    };
    let inner = e.into_inner();
    ToolOutput::InvalidArguments(match path {
        Some(p) => format!("`{p}`: {inner}"),
        None => inner.to_string(),
    })
}

/// Takes one argument out of the arguments by name and deserializes it, naming the field (and
/// the path inside it) at fault. A missing argument is `None` for `Option` and an error for
/// other types, exactly as serde's derive treats a missing field.
///
/// `#[tool]` parses the arguments of a function whose parameters carry no `#[serde]` or
/// `#[schemars]` attributes with one call of this per parameter: generic over the argument's
/// type alone, so its code is shared by every tool with an argument of that type, instead of a
/// derived `Deserialize` per tool.
#[doc(hidden)]
pub fn argument<T: DeserializeOwned>(
    args: &mut Arguments,
    name: &'static str,
) -> Result<T, ToolOutput> {
    match args.remove(name) {
        Some(value) => {
            serde_path_to_error::deserialize(value).map_err(|e| invalid_at(Some(name), e))
        }
        None => T::deserialize(MissingField(name))
            .map_err(|e| ToolOutput::InvalidArguments(e.to_string())),
    }
}

/// The value of an absent field: `None` for an `Option`, `missing field` for anything else.
pub(crate) struct MissingField(pub(crate) &'static str);

impl<'de> serde::Deserializer<'de> for MissingField {
    type Error = serde_json::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::missing_field(self.0))
    }

    fn deserialize_option<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_none()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

/// The shared state of type `T`, or an error result naming the missing type.
#[doc(hidden)]
pub fn state<T: Send + Sync + 'static>(ctx: &Context) -> Result<State<T>, ToolOutput> {
    ctx.state::<T>().map(State::from_arc).ok_or_else(|| {
        ToolOutput::Result(CallToolResult::error(format!(
            "the server has no state of type `{}`; add it with `McpServer::state`",
            std::any::type_name::<T>()
        )))
    })
}

#[doc(hidden)]
pub fn type_id_of_val<T: 'static>(_: &T) -> TypeId {
    TypeId::of::<T>()
}

/// Checks that a parameter type can be a tool argument.
#[doc(hidden)]
pub fn assert_argument<T: ToolArgument>() {}

/// Types that can be `#[tool]` arguments.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a `#[tool]` argument: it must implement `serde::Deserialize` and `schemars::JsonSchema`",
    label = "this argument type does not implement `Deserialize` + `JsonSchema`",
    note = "derive both: `#[derive(serde::Deserialize, schemars::JsonSchema)]`, or take `Context` / `State<T>`, which are injected"
)]
#[doc(hidden)]
pub trait ToolArgument {}
impl<T: DeserializeOwned + JsonSchema> ToolArgument for T {}

// ---- Return types: autoref specialisation, resolved on the concrete type at the expansion. ----
//
// `(&&&&Returns::<R>::new()).__mcp_kind()` picks, in order: `IntoToolResult` (text, content,
// `CallToolResult`, `Result` of those), `Result<T: Serialize + JsonSchema, E: Display>`,
// `T: Serialize + JsonSchema`, and last a kind whose methods fail with a clear message.

#[doc(hidden)]
pub struct Returns<T>(PhantomData<fn() -> T>);

impl<T> Returns<T> {
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T> Default for Returns<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[doc(hidden)]
pub struct ContentKind<T>(PhantomData<fn() -> T>);
#[doc(hidden)]
pub struct StructuredResultKind<T>(PhantomData<fn() -> T>);
#[doc(hidden)]
pub struct StructuredKind<T>(PhantomData<fn() -> T>);
#[doc(hidden)]
pub struct UnsupportedKind<T>(PhantomData<fn() -> T>);

#[doc(hidden)]
pub trait ViaIntoToolResult<T> {
    fn __mcp_kind(&self) -> ContentKind<T>;
}
impl<T: IntoToolResult> ViaIntoToolResult<T> for &&&Returns<T> {
    fn __mcp_kind(&self) -> ContentKind<T> {
        ContentKind(PhantomData)
    }
}

#[doc(hidden)]
pub trait ViaStructuredResult<T> {
    fn __mcp_kind(&self) -> StructuredResultKind<T>;
}
impl<T: Serialize + JsonSchema, E: fmt::Display> ViaStructuredResult<Result<T, E>>
    for &&Returns<Result<T, E>>
{
    fn __mcp_kind(&self) -> StructuredResultKind<Result<T, E>> {
        StructuredResultKind(PhantomData)
    }
}

#[doc(hidden)]
pub trait ViaStructured<T> {
    fn __mcp_kind(&self) -> StructuredKind<T>;
}
impl<T: Serialize + JsonSchema> ViaStructured<T> for &Returns<T> {
    fn __mcp_kind(&self) -> StructuredKind<T> {
        StructuredKind(PhantomData)
    }
}

#[doc(hidden)]
pub trait ViaUnsupported<T> {
    fn __mcp_kind(&self) -> UnsupportedKind<T>;
}
impl<T> ViaUnsupported<T> for Returns<T> {
    fn __mcp_kind(&self) -> UnsupportedKind<T> {
        UnsupportedKind(PhantomData)
    }
}

impl<T: IntoToolResult> ContentKind<T> {
    pub fn output_schema(self) -> Option<Value> {
        None
    }
    pub fn convert(self, value: T) -> ToolOutput {
        ToolOutput::Result(value.into_tool_result())
    }
}

fn structured<T: Serialize>(value: &T) -> ToolOutput {
    match serde_json::to_value(value) {
        Ok(v) => ToolOutput::Structured(v),
        Err(e) => ToolOutput::Result(CallToolResult::error(format!(
            "the tool's result could not be serialized: {e}"
        ))),
    }
}

impl<T: Serialize + JsonSchema, E: fmt::Display> StructuredResultKind<Result<T, E>> {
    pub fn output_schema(self) -> Option<Value> {
        Some(output_schema::<T>())
    }
    pub fn convert(self, value: Result<T, E>) -> ToolOutput {
        match value {
            Ok(v) => structured(&v),
            Err(e) => ToolOutput::Result(CallToolResult::error(e.to_string())),
        }
    }
}

impl<T: Serialize + JsonSchema> StructuredKind<T> {
    pub fn output_schema(self) -> Option<Value> {
        Some(output_schema::<T>())
    }
    pub fn convert(self, value: T) -> ToolOutput {
        structured(&value)
    }
}

/// Return types `#[tool]` can convert. It has no impls: reaching it means the type is none of
/// the supported kinds.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned from a `#[tool]` function",
    label = "this return type is neither content nor `Serialize + JsonSchema`",
    note = "return `String`, `Content`, `Vec<Content>`, `CallToolResult`, `()`, a type that implements `serde::Serialize + schemars::JsonSchema`, or a `Result` of one of these whose error implements `Display`"
)]
#[doc(hidden)]
pub trait SupportedReturn {}

impl<T> UnsupportedKind<T> {
    pub fn output_schema(self) -> Option<Value> {
        None
    }
    pub fn convert(self, _value: T) -> ToolOutput
    where
        T: SupportedReturn,
    {
        ToolOutput::Result(CallToolResult::default())
    }
}
