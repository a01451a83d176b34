//! Parsing of the attribute arguments. The keys each attribute takes are those of its
//! reference, `docs/<kind>.md` (the macro's documentation): [`Kind::key_names`] reads them
//! there, so the docs, the list in an "unknown option" error and what is accepted are one list.

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::{Expr, ExprArray, ExprLit, Lit, LitBool, LitInt, LitStr, Path, Token};

/// Which attribute is being parsed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Tool,
    Resource,
    Prompt,
}

impl Kind {
    /// The attribute's name, as users write it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Tool => "tool",
            Self::Resource => "resource",
            Self::Prompt => "prompt",
        }
    }

    /// The reference of this attribute (`docs/<kind>.md`): the macro's documentation, and the
    /// one list of the keys it takes (the first column of its table).
    pub(crate) fn reference(self) -> &'static str {
        match self {
            Self::Tool => include_str!("../docs/tool.md"),
            Self::Resource => include_str!("../docs/resource.md"),
            Self::Prompt => include_str!("../docs/prompt.md"),
        }
    }

    /// The keys this attribute takes, as its reference lists them.
    pub(crate) fn key_names(self) -> Vec<&'static str> {
        table_keys(self.reference())
    }

    /// The keys this attribute knows, listed in errors about unknown keys.
    fn keys(self) -> String {
        self.key_names()
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn accepts(self, key: &str) -> bool {
        self.key_names().contains(&key)
    }
}

/// The keys a Markdown table lists: the backticked items of the first column of its rows
/// (`name = "…"` gives `name`), each once, in order.
fn table_keys(text: &str) -> Vec<&str> {
    let mut keys = Vec::new();
    for row in text.lines().filter(|l| l.starts_with("| `")) {
        let column = row[2..].split(" | ").next().unwrap_or("");
        for written in column.split('`').skip(1).step_by(2) {
            let key = written
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .next()
                .unwrap_or("");
            if !key.is_empty() && !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    keys
}

/// One icon of the tool.
pub(crate) struct Icon {
    pub(crate) src: LitStr,
    pub(crate) mime_type: Option<LitStr>,
    pub(crate) sizes: Vec<LitStr>,
    pub(crate) theme: Option<LitStr>,
}

/// The parsed attribute arguments, each with the tokens it came from.
#[derive(Default)]
pub(crate) struct Attrs {
    pub(crate) name: Option<LitStr>,
    pub(crate) title: Option<LitStr>,
    pub(crate) description: Option<LitStr>,
    pub(crate) domains: Option<Vec<LitStr>>,
    pub(crate) tags: Option<Vec<LitStr>>,
    pub(crate) read_only: Option<LitBool>,
    pub(crate) destructive: Option<LitBool>,
    pub(crate) idempotent: Option<LitBool>,
    pub(crate) open_world: Option<LitBool>,
    pub(crate) icons: Vec<Icon>,
    icons_list_seen: bool,
    pub(crate) meta: Option<LitStr>,
    pub(crate) scopes: Option<Vec<LitStr>>,
    pub(crate) timeout_ms: Option<LitInt>,
    /// `task = "optional" | "required"`: the tool may (or must) run as a task.
    pub(crate) task: Option<LitStr>,
    pub(crate) krate: Option<Path>,
    pub(crate) uri: Option<LitStr>,
    pub(crate) uri_template: Option<LitStr>,
    pub(crate) mime_type: Option<LitStr>,
    pub(crate) audience: Option<Vec<LitStr>>,
    pub(crate) priority: Option<syn::LitFloat>,
    pub(crate) last_modified: Option<LitStr>,
    pub(crate) size: Option<LitInt>,
    /// `complete(name = path, …)`: the completion fn of each argument or variable.
    pub(crate) complete: Vec<(syn::Ident, Path)>,
    /// `layer = path`, repeatable: fns returning the MCP middleware of this tool's calls.
    pub(crate) layers: Vec<Path>,
}

/// Collects every error instead of stopping at the first, so users see all at once.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }

    pub(crate) fn push_at(&mut self, span: Span, msg: impl std::fmt::Display) {
        self.push(syn::Error::new(span, msg));
    }

    pub(crate) fn finish(self) -> Result<(), syn::Error> {
        self.0.map_or(Ok(()), Err)
    }
}

/// Parses the arguments; errors are added to `errors` and parsing goes on where it can.
pub(crate) fn parse(args: TokenStream, kind: Kind, errors: &mut Errors) -> Attrs {
    let mut attrs = Attrs::default();
    let parser = syn::meta::parser(|meta| {
        if let Err(e) = parse_one(&mut attrs, kind, &meta) {
            errors.push(e);
            skip_value(&meta);
        }
        Ok(())
    });
    if let Err(e) = parser.parse2(args) {
        errors.push(e);
    }
    attrs
}

fn parse_one(attrs: &mut Attrs, kind: Kind, meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    let path = &meta.path;
    let key = path
        .get_ident()
        .map(ToString::to_string)
        .or_else(|| path.is_ident("crate").then(|| "crate".to_owned()))
        .unwrap_or_default();
    let attr = kind.name();
    let duplicate = || meta.error(format!("duplicate `{key}` in `#[{attr}]`; give it once"));
    if !kind.accepts(&key) {
        let shown = quote::quote!(#path).to_string().replace(' ', "");
        return Err(meta.error(format!(
            "unknown `#[{attr}]` option `{shown}`; expected one of: {}",
            kind.keys()
        )));
    }
    match key.as_str() {
        "name" | "title" | "description" | "meta" | "uri" | "uri_template" | "mime_type"
        | "last_modified" => {
            let lit: LitStr = meta.value()?.parse()?;
            let slot = match key.as_str() {
                "name" => &mut attrs.name,
                "title" => &mut attrs.title,
                "description" => &mut attrs.description,
                "uri" => &mut attrs.uri,
                "uri_template" => &mut attrs.uri_template,
                "mime_type" => &mut attrs.mime_type,
                "last_modified" => &mut attrs.last_modified,
                _ => &mut attrs.meta,
            };
            if slot.is_some() {
                return Err(duplicate());
            }
            *slot = Some(lit);
        }
        "domain" | "tags" | "scopes" | "audience" => {
            let value = meta.value()?;
            let list = if value.peek(LitStr) {
                vec![value.parse()?]
            } else {
                str_list(&value.parse()?)?
            };
            if key == "audience"
                && let Some(bad) = list
                    .iter()
                    .find(|a| a.value() != "user" && a.value() != "assistant")
            {
                return Err(syn::Error::new(
                    bad.span(),
                    "`audience` lists \"user\" and/or \"assistant\"",
                ));
            }
            let slot = match key.as_str() {
                "domain" => &mut attrs.domains,
                "tags" => &mut attrs.tags,
                "audience" => &mut attrs.audience,
                _ => &mut attrs.scopes,
            };
            if slot.is_some() {
                return Err(duplicate());
            }
            *slot = Some(list);
        }
        "read_only" | "destructive" | "idempotent" | "open_world" => {
            let lit = if meta.input.peek(Token![=]) {
                meta.value()?.parse::<LitBool>()?
            } else {
                LitBool::new(
                    true,
                    path.get_ident().map_or(Span::call_site(), |i| i.span()),
                )
            };
            let slot = match key.as_str() {
                "read_only" => &mut attrs.read_only,
                "destructive" => &mut attrs.destructive,
                "idempotent" => &mut attrs.idempotent,
                _ => &mut attrs.open_world,
            };
            if slot.is_some() {
                return Err(duplicate());
            }
            *slot = Some(lit);
        }
        "icons" => {
            if attrs.icons_list_seen {
                return Err(duplicate());
            }
            attrs.icons_list_seen = true;
            for src in str_list(&meta.value()?.parse()?)? {
                attrs.icons.push(Icon {
                    src,
                    mime_type: None,
                    sizes: Vec::new(),
                    theme: None,
                });
            }
        }
        "icon" => attrs.icons.push(parse_icon(meta)?),
        "task" => {
            let lit: LitStr = meta.value()?.parse()?;
            if !matches!(lit.value().as_str(), "optional" | "required" | "forbidden") {
                return Err(syn::Error::new(
                    lit.span(),
                    "`task` is \"optional\" (the client may run the call as a task), \
                     \"required\" (only as a task) or \"forbidden\" (the default)",
                ));
            }
            if attrs.task.is_some() {
                return Err(duplicate());
            }
            attrs.task = Some(lit);
        }
        "layer" => {
            let path: Path = meta.value()?.parse()?;
            attrs.layers.push(path);
        }
        "timeout_ms" => {
            let lit: LitInt = meta.value()?.parse()?;
            match lit.base10_parse::<u64>() {
                Ok(0) | Err(_) => {
                    return Err(syn::Error::new(
                        lit.span(),
                        "`timeout_ms` is a positive number of milliseconds",
                    ));
                }
                Ok(_) => {}
            }
            if attrs.timeout_ms.is_some() {
                return Err(duplicate());
            }
            attrs.timeout_ms = Some(lit);
        }
        "priority" => {
            let value = meta.value()?;
            let lit = if value.peek(LitInt) {
                let i: LitInt = value.parse()?;
                syn::LitFloat::new(&format!("{}.0", i.base10_digits()), i.span())
            } else {
                value.parse::<syn::LitFloat>()?
            };
            match lit.base10_parse::<f64>() {
                Ok(p) if (0.0..=1.0).contains(&p) => {}
                _ => {
                    return Err(syn::Error::new(
                        lit.span(),
                        "`priority` is a number from 0 (least important) to 1 (most)",
                    ));
                }
            }
            if attrs.priority.is_some() {
                return Err(duplicate());
            }
            attrs.priority = Some(lit);
        }
        "size" => {
            let lit: LitInt = meta.value()?.parse()?;
            if lit.base10_parse::<u64>().is_err() {
                return Err(syn::Error::new(lit.span(), "`size` is a number of bytes"));
            }
            if attrs.size.is_some() {
                return Err(duplicate());
            }
            attrs.size = Some(lit);
        }
        "complete" => {
            meta.parse_nested_meta(|inner| {
                let Some(name) = inner.path.get_ident().cloned() else {
                    return Err(inner.error("expected `argument = completion_fn`"));
                };
                let value = inner.value()?;
                let f = if value.peek(LitStr) {
                    value.parse::<LitStr>()?.parse()?
                } else {
                    value.parse::<Path>()?
                };
                if attrs.complete.iter().any(|(n, _)| *n == name) {
                    return Err(inner.error(format!("`{name}` is completed twice")));
                }
                attrs.complete.push((name, f));
                Ok(())
            })?;
        }
        "crate" => {
            if attrs.krate.is_some() {
                return Err(duplicate());
            }
            let value = meta.value()?;
            let path = if value.peek(LitStr) {
                value.parse::<LitStr>()?.parse()?
            } else {
                Path::parse_mod_style(value)?
            };
            attrs.krate = Some(path);
        }
        _ => unreachable!("every accepted key is handled"),
    }
    Ok(())
}

fn parse_icon(meta: &ParseNestedMeta<'_>) -> syn::Result<Icon> {
    let mut src = None;
    let mut mime_type = None;
    let mut sizes = Vec::new();
    let mut theme = None;
    meta.parse_nested_meta(|inner| {
        if inner.path.is_ident("src") {
            src = Some(inner.value()?.parse()?);
        } else if inner.path.is_ident("mime_type") {
            mime_type = Some(inner.value()?.parse()?);
        } else if inner.path.is_ident("sizes") {
            sizes = str_list(&inner.value()?.parse()?)?;
        } else if inner.path.is_ident("theme") {
            let lit: LitStr = inner.value()?.parse()?;
            if lit.value() != "light" && lit.value() != "dark" {
                return Err(syn::Error::new(
                    lit.span(),
                    "icon `theme` must be \"light\" or \"dark\"",
                ));
            }
            theme = Some(lit);
        } else {
            return Err(inner.error(
                "unknown `icon` option; expected one of: `src`, `mime_type`, `sizes`, `theme`",
            ));
        }
        Ok(())
    })?;
    let src = src.ok_or_else(|| meta.error("`icon(...)` needs `src = \"…\"`"))?;
    Ok(Icon {
        src,
        mime_type,
        sizes,
        theme,
    })
}

/// `["a", "b"]` as string literals.
fn str_list(expr: &Expr) -> syn::Result<Vec<LitStr>> {
    let Expr::Array(ExprArray { elems, .. }) = expr else {
        return Err(syn::Error::new_spanned(
            expr,
            "expected a string or a list of strings, like `[\"a\", \"b\"]`",
        ));
    };
    elems
        .iter()
        .map(|e| match e {
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => Ok(s.clone()),
            other => Err(syn::Error::new_spanned(other, "expected a string literal")),
        })
        .collect()
}

/// After an error, consumes the rest of a key's value so the next key parses.
fn skip_value(meta: &ParseNestedMeta<'_>) {
    let input = meta.input;
    if input.peek(Token![=]) {
        let _ = input.parse::<Token![=]>();
        let _ = input.parse::<Expr>();
    } else if input.peek(syn::token::Paren) {
        let _ = input.step(|cursor| match cursor.token_tree() {
            Some((_, rest)) => Ok(((), rest)),
            None => Err(cursor.error("expected a group")),
        });
    }
    while !input.is_empty() && !input.peek(Token![,]) {
        if input
            .step(|cursor| match cursor.token_tree() {
                Some((_, rest)) => Ok(((), rest)),
                None => Err(cursor.error("end")),
            })
            .is_err()
        {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse_ok(ts: TokenStream) -> Attrs {
        let mut errors = Errors::default();
        let attrs = parse(ts, Kind::Tool, &mut errors);
        errors.finish().expect("no errors");
        attrs
    }

    #[test]
    fn all_forms() {
        let a = parse_ok(quote!(
            name = "n",
            title = "T",
            description = "d",
            domain = ["a", "b"],
            read_only,
            destructive = false,
            icons = ["x.png"],
            icon(src = "y.svg", mime_type = "image/svg+xml"),
            meta = "{}",
            scopes = ["s"],
            crate = ::my::rt
        ));
        assert_eq!(a.name.unwrap().value(), "n");
        assert_eq!(a.domains.unwrap().len(), 2);
        assert!(a.read_only.unwrap().value);
        assert!(!a.destructive.unwrap().value);
        assert_eq!(a.icons.len(), 2);
        assert!(a.krate.is_some());
    }

    #[test]
    fn collects_several_errors() {
        let mut errors = Errors::default();
        parse(
            quote!(nme = "x", name = "a", name = "b", bogus),
            Kind::Tool,
            &mut errors,
        );
        let msg = errors.finish().unwrap_err().into_iter().count();
        assert_eq!(msg, 3);
    }
}

#[cfg(test)]
mod keys {
    use super::Kind;

    #[test]
    fn the_keys_are_those_of_the_references() {
        assert_eq!(
            Kind::Tool.key_names(),
            [
                "name",
                "title",
                "description",
                "domain",
                "tags",
                "read_only",
                "destructive",
                "idempotent",
                "open_world",
                "icons",
                "icon",
                "meta",
                "scopes",
                "timeout_ms",
                "task",
                "layer",
                "crate"
            ]
        );
        assert_eq!(
            Kind::Resource.key_names(),
            [
                "uri",
                "uri_template",
                "name",
                "title",
                "description",
                "mime_type",
                "audience",
                "priority",
                "last_modified",
                "size",
                "domain",
                "tags",
                "icons",
                "icon",
                "meta",
                "scopes",
                "complete",
                "crate"
            ]
        );
        assert_eq!(
            Kind::Prompt.key_names(),
            [
                "name",
                "title",
                "description",
                "domain",
                "tags",
                "icons",
                "icon",
                "meta",
                "scopes",
                "complete",
                "crate"
            ]
        );
        assert!(Kind::Tool.accepts("timeout_ms") && !Kind::Prompt.accepts("timeout_ms"));
    }
}
