//! Tool transforms ([`crate::McpServer::transform_tool`]): a tool listed under another name,
//! title, description or annotations, with arguments renamed, hidden behind a fixed value or
//! given a default, without touching its function. The arguments a client sends are mapped
//! back to the tool's own just before it runs (or before the nested server it belongs to is
//! asked), so layers, tasks and input-required rounds see the tool as clients see it.

use serde_json::{Map, Value};

use super::tool::{Tool, ToolAnnotations};

/// How a tool is shown and called: give it to
/// [`McpServer::transform_tool`](crate::McpServer::transform_tool) with the name the tool has
/// in the server (a nested server's tool by its namespaced name).
///
/// ```
/// use mcp_runtime::catalog::ToolTransform;
/// use serde_json::json;
///
/// let projects = ToolTransform::new()
///     .name("projects")
///     .description("The caller's projects, newest first.")
///     .rename_argument("limit", "max")
///     .default_argument("max", json!(10))
///     .hide_argument("include_archived", json!(false));
/// ```
#[derive(Clone, Debug, Default)]
pub struct ToolTransform {
    name: Option<String>,
    title: Option<String>,
    description: Option<String>,
    annotations: Option<ToolAnnotations>,
    /// In the order given; names are the tool's own unless renamed before.
    arguments: Vec<(String, Change)>,
}

#[derive(Clone, Debug)]
enum Change {
    Rename(String),
    Hide(Value),
    Default(Value),
    Describe(String),
}

impl ToolTransform {
    /// A transform that changes nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lists the tool under `name` (the old name is no longer served).
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the title shown to people.
    #[must_use]
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Sets the description.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets the annotations (read-only, destructive, … hints).
    #[must_use]
    pub fn annotations(mut self, annotations: ToolAnnotations) -> Self {
        self.annotations = Some(annotations);
        self
    }

    /// Lists the argument `from` as `to`; a client's `to` reaches the tool as `from`.
    #[must_use]
    pub fn rename_argument(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.arguments
            .push((from.into(), Change::Rename(to.into())));
        self
    }

    /// Removes the argument `name` from the schema; the tool always gets `value` for it,
    /// whatever a client sends.
    #[must_use]
    pub fn hide_argument(mut self, name: impl Into<String>, value: Value) -> Self {
        self.arguments.push((name.into(), Change::Hide(value)));
        self
    }

    /// Makes the argument `name` optional with `value` as its default (listed as the schema's
    /// `default`); the tool gets `value` when a client leaves it out. `name` is the listed name
    /// (after a rename given before).
    #[must_use]
    pub fn default_argument(mut self, name: impl Into<String>, value: Value) -> Self {
        self.arguments.push((name.into(), Change::Default(value)));
        self
    }

    /// Sets the description of the argument `name` (the listed name).
    #[must_use]
    pub fn describe_argument(
        mut self,
        name: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        self.arguments
            .push((name.into(), Change::Describe(description.into())));
        self
    }

    /// `tool` as this transform shows it, with the map of its arguments.
    pub(crate) fn apply(&self, tool: &Tool) -> Result<Tool, String> {
        let mut schema = tool.get_input_schema();
        let mut compat = tool.compat_input_schema_value();
        let mut map = ArgumentMap::default();
        for (arg, change) in &self.arguments {
            edit(&mut schema, arg, change)?;
            if let Some(c) = &mut compat {
                edit(c, arg, change)?;
            }
            match change {
                Change::Rename(to) => {
                    // A rename of an argument renamed before keeps its first name as the tool's.
                    let own = map
                        .renamed
                        .iter()
                        .position(|(listed, _)| listed == arg)
                        .map_or_else(|| arg.clone(), |i| map.renamed.remove(i).1);
                    map.renamed.push((to.clone(), own));
                }
                Change::Hide(value) => {
                    let own = map.own_name(arg);
                    map.fixed.push((own, value.clone()));
                }
                Change::Default(value) => {
                    let own = map.own_name(arg);
                    map.defaults.push((own, value.clone()));
                }
                Change::Describe(_) => {}
            }
        }
        let name = self.name.clone().unwrap_or_else(|| tool.name.clone());
        if let Some(p) = crate::tool_name_problem(&name) {
            return Err(format!("invalid tool name `{name}`: {p}"));
        }
        Ok(tool.transformed(
            name,
            self.title.clone(),
            self.description.clone(),
            self.annotations.clone(),
            schema,
            compat,
            (!map.is_empty()).then(|| std::sync::Arc::new(map)),
        ))
    }
}

/// A change to one argument of an input schema; the problem when the argument is not there.
fn edit(schema: &mut Value, arg: &str, change: &Change) -> Result<(), String> {
    let missing = || format!("the tool has no argument `{arg}`");
    let properties = schema
        .get_mut("properties")
        .and_then(Value::as_object_mut)
        .ok_or_else(missing)?;
    match change {
        Change::Rename(to) => {
            if properties.contains_key(to) {
                return Err(format!(
                    "cannot rename `{arg}` to `{to}`: the tool has an argument `{to}`"
                ));
            }
            let property = properties.remove(arg).ok_or_else(missing)?;
            properties.insert(to.clone(), property);
            for r in required(schema).into_iter().flatten() {
                if r == arg {
                    *r = Value::String(to.clone());
                }
            }
        }
        Change::Hide(_) => {
            properties.remove(arg).ok_or_else(missing)?;
            if let Some(r) = required(schema) {
                r.retain(|r| r != arg);
            }
        }
        Change::Default(value) => {
            let property = properties.get_mut(arg).ok_or_else(missing)?;
            if let Value::Object(p) = property {
                p.insert("default".into(), value.clone());
            }
            if let Some(r) = required(schema) {
                r.retain(|r| r != arg);
            }
        }
        Change::Describe(text) => {
            let property = properties.get_mut(arg).ok_or_else(missing)?;
            if let Value::Object(p) = property {
                p.insert("description".into(), Value::String(text.clone()));
            }
        }
    }
    Ok(())
}

/// The schema's `required` list, if it has one.
fn required(schema: &mut Value) -> Option<&mut Vec<Value>> {
    schema.get_mut("required").and_then(Value::as_array_mut)
}

/// How the arguments a client sends become the tool's own.
#[derive(Debug, Default)]
pub(crate) struct ArgumentMap {
    /// (listed name, the tool's name)
    renamed: Vec<(String, String)>,
    /// Hidden arguments and their values, by the tool's names.
    fixed: Vec<(String, Value)>,
    /// Defaults, by the tool's names.
    defaults: Vec<(String, Value)>,
}

impl ArgumentMap {
    fn is_empty(&self) -> bool {
        self.renamed.is_empty() && self.fixed.is_empty() && self.defaults.is_empty()
    }

    /// The tool's own name of an argument listed as `listed`.
    fn own_name(&self, listed: &str) -> String {
        self.renamed
            .iter()
            .find(|(l, _)| l == listed)
            .map_or_else(|| listed.to_owned(), |(_, own)| own.clone())
    }

    /// The tool's arguments for the arguments a client sent: listed names become the tool's,
    /// names the client cannot see (a renamed argument's old name, a hidden one) are dropped,
    /// hidden values are set, and defaults fill what is missing.
    pub(crate) fn apply(&self, sent: Map<String, Value>) -> Map<String, Value> {
        let mut args = Map::new();
        for (k, v) in sent {
            if let Some((_, own)) = self.renamed.iter().find(|(listed, _)| *listed == k) {
                args.insert(own.clone(), v);
            } else if self.renamed.iter().any(|(_, own)| *own == k)
                || self.fixed.iter().any(|(own, _)| *own == k)
            {
                continue;
            } else {
                args.insert(k, v);
            }
        }
        for (own, value) in &self.fixed {
            args.insert(own.clone(), value.clone());
        }
        for (own, value) in &self.defaults {
            if !args.contains_key(own) {
                args.insert(own.clone(), value.clone());
            }
        }
        args
    }
}

/// Applies `transforms` (by the name each tool has before it) to `tools`; the problems of the
/// ones that cannot apply. `missing`: whether a transform of a tool that is not there is a
/// problem (at build) or not (a nested server's tools refreshed, which may have lost it).
pub(crate) fn apply_all(
    tools: &mut [(std::sync::Arc<Tool>, bool)],
    transforms: &[(String, ToolTransform)],
    missing: bool,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, transform) in transforms {
        match tools.iter_mut().find(|(t, _)| t.name == *name) {
            Some((tool, _)) => match transform.apply(tool) {
                Ok(t) => *tool = std::sync::Arc::new(t),
                Err(p) => problems.push(format!("the transform of tool `{name}`: {p}")),
            },
            None if missing => problems.push(format!(
                "a transform names tool `{name}`, which this server does not have"
            )),
            None => {}
        }
    }
    problems
}
