//! Semantic checks that parsing cannot express. Each error has the tightest span and says the fix.

use crate::ast::{ParamKind, ToolFn};
use crate::attr::{Attrs, Errors, Kind};
use syn::spanned::Spanned;
use syn::{ReturnType, Type};

use mcp_runtime_rules::tool_name_problem;

pub(crate) fn check(kind: Kind, attrs: &Attrs, tool: &ToolFn, errors: &mut Errors) {
    let a = kind.name();
    let sig = &tool.item.sig;
    if let Some(span) = tool.receiver {
        errors.push_at(
            span,
            format!(
                "`#[{a}]` cannot be used on methods with `self`; move it to a free fn and pass \
                 what it needs as `State<T>` or arguments"
            ),
        );
    }
    if !sig.generics.params.is_empty() {
        let why = match kind {
            Kind::Tool => "the input schema must be known when the tool is registered",
            Kind::Resource => "its variables must be known when the resource is registered",
            Kind::Prompt => "its arguments must be known when the prompt is registered",
        };
        errors.push_at(
            sig.generics.params.span(),
            format!("`#[{a}]` functions cannot be generic: {why}; use concrete types"),
        );
    }
    if let Some(wc) = &sig.generics.where_clause {
        errors.push_at(
            wc.span(),
            format!("`#[{a}]` functions cannot have a `where` clause"),
        );
    }
    if let Some(u) = &sig.unsafety {
        errors.push_at(u.span(), format!("`#[{a}]` functions cannot be `unsafe`"));
    }
    if let Some(c) = &sig.constness {
        errors.push_at(
            c.span(),
            format!("`#[{a}]` functions cannot be `const`; remove `const`"),
        );
    }
    if let Some(abi) = &sig.abi {
        errors.push_at(abi.span(), format!("`#[{a}]` functions cannot be `extern`"));
    }
    if let Some(v) = &sig.variadic {
        errors.push_at(v.span(), format!("`#[{a}]` functions cannot be variadic"));
    }

    let mut contexts = 0;
    for p in &tool.params {
        match &p.kind {
            ParamKind::Context { .. } => {
                contexts += 1;
                if contexts > 1 {
                    errors.push_at(
                        p.ty.span(),
                        format!("a `#[{a}]` function takes `Context` once"),
                    );
                }
            }
            ParamKind::State(_) => {}
            ParamKind::Arg => {
                if p.ident.is_none() {
                    let what = match kind {
                        Kind::Tool => {
                            "tool arguments need a plain name (like `limit: u32`), since the name \
                             is the property of the input schema"
                        }
                        Kind::Resource => {
                            "template variables need a plain name (like `id: i64`), since the \
                             name is the variable of the URI template"
                        }
                        Kind::Prompt => {
                            "prompt arguments need a plain name (like `topic: String`), since the \
                             name is the argument's name"
                        }
                    };
                    errors.push_at(p.pat.span(), what);
                }
                check_arg_type(&p.ty, errors);
                if kind != Kind::Tool {
                    for attr in p.field_attrs.iter().filter(|at| !at.path().is_ident("doc")) {
                        if let Err(e) = wire_rename(attr) {
                            errors.push(e);
                        }
                    }
                }
            }
        }
    }

    if let ReturnType::Type(_, ty) = &sig.output
        && contains_impl_trait(ty)
    {
        let examples = match kind {
            Kind::Tool => "`String`, a `Serialize + JsonSchema` struct, or `CallToolResult`",
            Kind::Resource => "`String`, `Vec<u8>`, a `Serialize` struct, or `ResourceContents`",
            Kind::Prompt => "`String`, `Vec<PromptMessage>`, or `GetPromptResult`",
        };
        errors.push_at(
            ty.span(),
            format!(
                "`#[{a}]` functions cannot return `impl Trait`; name the type (e.g. {examples})"
            ),
        );
    }

    if let Some(name) = &attrs.name {
        if kind == Kind::Tool
            && let Some(problem) = tool_name_problem(&name.value())
        {
            errors.push_at(name.span(), format!("invalid tool name: {problem}"));
        }
        if name.value().is_empty() {
            errors.push_at(name.span(), "a name cannot be empty");
        }
    } else if kind == Kind::Tool {
        let ident = sig.ident.to_string();
        let ident = ident.strip_prefix("r#").unwrap_or(&ident);
        if let Some(problem) = tool_name_problem(ident) {
            errors.push_at(
                sig.ident.span(),
                format!("invalid tool name: {problem}; set one with `#[tool(name = \"…\")]`"),
            );
        }
    }
    for domain in attrs.domains.iter().flatten() {
        if domain.value().trim().is_empty() {
            errors.push_at(domain.span(), "a domain cannot be empty");
        }
    }
    if let Some(meta) = &attrs.meta {
        match serde_json::from_str::<serde_json::Value>(&meta.value()) {
            Ok(serde_json::Value::Object(_)) => {}
            Ok(_) => errors.push_at(meta.span(), "`meta` must be a JSON object, like `\"{}\"`"),
            Err(e) => errors.push_at(meta.span(), format!("`meta` is not valid JSON: {e}")),
        }
    }
    match kind {
        Kind::Resource => check_resource(attrs, tool, errors),
        Kind::Prompt => {
            for (name, _) in &attrs.complete {
                let n = name.to_string();
                if !tool
                    .args()
                    .any(|p| p.ident.as_ref().is_some_and(|i| unraw(i) == n))
                {
                    errors.push_at(
                        name.span(),
                        format!(
                            "`{n}` is not an argument of this prompt, so it cannot be completed"
                        ),
                    );
                }
            }
        }
        Kind::Tool => {}
    }
}

/// The name a `#[resource]` or `#[prompt]` parameter has on the wire: `#[serde(rename = "…")]`
/// is the one attribute these parameters take besides doc comments.
pub(crate) fn wire_rename(attr: &syn::Attribute) -> syn::Result<Option<syn::LitStr>> {
    let wrong = || {
        syn::Error::new(
            attr.span(),
            "`#[resource]` and `#[prompt]` parameters take doc comments and \
             `#[serde(rename = \"…\")]` only",
        )
    };
    if !attr.path().is_ident("serde") {
        return Err(wrong());
    }
    let mut name = None;
    attr.parse_nested_meta(|m| {
        if m.path.is_ident("rename") {
            name = Some(m.value()?.parse::<syn::LitStr>()?);
            Ok(())
        } else {
            Err(wrong())
        }
    })?;
    name.map(Some).ok_or_else(wrong)
}

/// The wire name of a parameter of a `#[resource]` or `#[prompt]` function.
pub(crate) fn wire_name(p: &crate::ast::Param) -> Option<String> {
    let renamed = p
        .field_attrs
        .iter()
        .filter(|a| a.path().is_ident("serde"))
        .find_map(|a| wire_rename(a).ok().flatten());
    match renamed {
        Some(n) => Some(n.value()),
        None => p.ident.as_ref().map(unraw),
    }
}

fn unraw(ident: &syn::Ident) -> String {
    let s = ident.to_string();
    s.strip_prefix("r#").unwrap_or(&s).to_owned()
}

/// The variables of a URI template, by the grammar the runtime parses it with.
pub(crate) fn template_variables(template: &str) -> Result<Vec<String>, String> {
    Ok(mcp_runtime_rules::parse_uri_template(template)?
        .into_iter()
        .filter_map(|p| match p {
            mcp_runtime_rules::Part::Var { name, .. } => Some(name),
            mcp_runtime_rules::Part::Literal(_) => None,
        })
        .collect())
}

fn check_resource(attrs: &Attrs, tool: &ToolFn, errors: &mut Errors) {
    let span = tool.item.sig.ident.span();
    let args: Vec<String> = tool.args().filter_map(wire_name).collect();
    match (&attrs.uri, &attrs.uri_template) {
        (None, None) => errors.push_at(
            span,
            "`#[resource]` needs `uri = \"…\"` (one resource) or `uri_template = \"…\"` (a \
             template whose variables are the fn's parameters)",
        ),
        (Some(u), Some(_)) => errors.push_at(u.span(), "give `uri` or `uri_template`, not both"),
        (Some(uri), None) => {
            if let Some(p) = tool.args().next() {
                errors.push_at(
                    p.pat.span(),
                    "a resource with a fixed `uri` takes no arguments (only `Context` and \
                     `State<T>`); use `uri_template = \"…/{name}\"` for a parameter",
                );
            }
            if uri.value().is_empty() {
                errors.push_at(uri.span(), "`uri` cannot be empty");
            }
            if let Some((name, _)) = attrs.complete.first() {
                errors.push_at(
                    name.span(),
                    "only template variables can be completed; this resource has a fixed `uri`",
                );
            }
        }
        (None, Some(t)) => match template_variables(&t.value()) {
            Err(e) => errors.push_at(t.span(), format!("invalid URI template: {e}")),
            Ok(vars) => {
                for v in &vars {
                    if !args.contains(v) {
                        errors.push_at(
                            t.span(),
                            format!(
                                "the template variable `{v}` has no parameter; add `{v}: String` \
                                 (or another type that deserializes from its text)"
                            ),
                        );
                    }
                }
                for p in tool.args() {
                    if let (Some(i), Some(w)) = (&p.ident, wire_name(p))
                        && !vars.contains(&w)
                    {
                        errors.push_at(
                            i.span(),
                            format!(
                                "`{w}` is not a variable of the URI template `{}`",
                                t.value()
                            ),
                        );
                    }
                }
                for (name, _) in &attrs.complete {
                    if !vars.contains(&name.to_string()) {
                        errors.push_at(
                            name.span(),
                            format!("`{name}` is not a variable of the URI template, so it cannot be completed"),
                        );
                    }
                }
            }
        },
    }
}

fn check_arg_type(ty: &Type, errors: &mut Errors) {
    match ty {
        Type::Reference(r) => errors.push_at(
            r.span(),
            "tool arguments must be owned types, since they are deserialized from the request; \
             use `String` instead of `&str` and `Vec<T>` instead of `&[T]`",
        ),
        Type::ImplTrait(it) => errors.push_at(
            it.span(),
            "tool arguments cannot be `impl Trait`; use a concrete type",
        ),
        _ => {}
    }
}

fn contains_impl_trait(ty: &Type) -> bool {
    match ty {
        Type::ImplTrait(_) => true,
        Type::Reference(r) => contains_impl_trait(&r.elem),
        Type::Paren(p) => contains_impl_trait(&p.elem),
        Type::Group(g) => contains_impl_trait(&g.elem),
        Type::Tuple(t) => t.elems.iter().any(contains_impl_trait),
        Type::Path(p) => p.path.segments.iter().any(|s| match &s.arguments {
            syn::PathArguments::AngleBracketed(ab) => ab.args.iter().any(|a| match a {
                syn::GenericArgument::Type(t) => contains_impl_trait(t),
                _ => false,
            }),
            _ => false,
        }),
        _ => false,
    }
}
