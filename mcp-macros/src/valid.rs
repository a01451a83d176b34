//! Semantic checks that parsing cannot express. Each error has the tightest span and says the fix.

use crate::ast::{ParamKind, ToolFn};
use crate::attr::{Attrs, Errors};
use syn::spanned::Spanned;
use syn::{ReturnType, Type};

/// The MCP tool-name rule (SEP-986): 1–128 characters of `[A-Za-z0-9_.-]`.
pub(crate) fn tool_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("tool names cannot be empty".into());
    }
    if name.len() > 128 {
        return Some(format!(
            "tool names have at most 128 characters; this one has {}",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Some(format!(
            "tool names use only ASCII letters, digits, `_`, `-` and `.`; found {c:?}"
        ));
    }
    None
}

pub(crate) fn check(attrs: &Attrs, tool: &ToolFn, errors: &mut Errors) {
    let sig = &tool.item.sig;
    if let Some(span) = tool.receiver {
        errors.push_at(
            span,
            "`#[tool]` cannot be used on methods with `self`; move it to a free fn and pass \
             what it needs as `State<T>` or arguments",
        );
    }
    if !sig.generics.params.is_empty() {
        errors.push_at(
            sig.generics.params.span(),
            "`#[tool]` functions cannot be generic: the input schema must be known when the \
             tool is registered; use concrete types",
        );
    }
    if let Some(wc) = &sig.generics.where_clause {
        errors.push_at(
            wc.span(),
            "`#[tool]` functions cannot have a `where` clause",
        );
    }
    if let Some(u) = &sig.unsafety {
        errors.push_at(u.span(), "`#[tool]` functions cannot be `unsafe`");
    }
    if let Some(c) = &sig.constness {
        errors.push_at(
            c.span(),
            "`#[tool]` functions cannot be `const`; remove `const`",
        );
    }
    if let Some(abi) = &sig.abi {
        errors.push_at(abi.span(), "`#[tool]` functions cannot be `extern`");
    }
    if let Some(v) = &sig.variadic {
        errors.push_at(v.span(), "`#[tool]` functions cannot be variadic");
    }

    let mut contexts = 0;
    for p in &tool.params {
        match &p.kind {
            ParamKind::Context { .. } => {
                contexts += 1;
                if contexts > 1 {
                    errors.push_at(p.ty.span(), "a `#[tool]` function takes `Context` once");
                }
            }
            ParamKind::State(_) => {}
            ParamKind::Arg => {
                if p.ident.is_none() {
                    errors.push_at(
                        p.pat.span(),
                        "tool arguments need a plain name (like `limit: u32`), since the name \
                         is the property of the input schema",
                    );
                }
                check_arg_type(&p.ty, errors);
            }
        }
    }

    if let ReturnType::Type(_, ty) = &sig.output
        && contains_impl_trait(ty)
    {
        errors.push_at(
            ty.span(),
            "`#[tool]` functions cannot return `impl Trait`; name the type (e.g. `String`, \
                 a `Serialize + JsonSchema` struct, or `CallToolResult`)",
        );
    }

    if let Some(name) = &attrs.name {
        if let Some(problem) = tool_name_problem(&name.value()) {
            errors.push_at(name.span(), format!("invalid tool name: {problem}"));
        }
    } else {
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

#[cfg(test)]
mod tests {
    use super::tool_name_problem;

    #[test]
    fn names() {
        assert!(tool_name_problem("get_status").is_none());
        assert!(tool_name_problem("crm.list-projects_2").is_none());
        assert!(tool_name_problem("").is_some());
        assert!(tool_name_problem("has space").is_some());
        assert!(tool_name_problem("café").is_some());
        assert!(tool_name_problem(&"a".repeat(128)).is_none());
        assert!(tool_name_problem(&"a".repeat(129)).is_some());
    }
}
