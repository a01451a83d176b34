//! The analysed tool function: which parameters are arguments and which are injected, keeping
//! the original tokens so errors and type checks point at the user's code.
//!
//! The injection rule: a parameter is injected, and left out of the schema, when its type is
//! `Context` or `&Context`, or `State<T>` (the last path segment decides, so
//! `mcp_runtime::Context` and a re-exported path both count). Every other parameter is an
//! argument of the tool.

use crate::attr::Errors;
use syn::{Attribute, FnArg, GenericArgument, Ident, ItemFn, Pat, PathArguments, ReturnType, Type};

/// What one parameter of the tool function is.
pub(crate) enum ParamKind {
    /// `Context`, passed by value (`by_ref == false`) or by reference.
    Context { by_ref: bool },
    /// `State<T>`, with `T`.
    State(Box<Type>),
    /// A tool argument, part of the input schema.
    Arg,
}

pub(crate) struct Param {
    pub(crate) kind: ParamKind,
    /// The binding name (`None` when the pattern is not a plain identifier).
    pub(crate) ident: Option<Ident>,
    pub(crate) pat: Pat,
    pub(crate) ty: Type,
    /// `#[doc]`, `#[serde]` and `#[schemars]` attributes, moved to the arguments struct.
    pub(crate) field_attrs: Vec<Attribute>,
}

pub(crate) struct ToolFn {
    /// The function with the parameter attributes it cannot keep removed.
    pub(crate) item: ItemFn,
    pub(crate) params: Vec<Param>,
    pub(crate) receiver: Option<proc_macro2::Span>,
    pub(crate) doc: Option<String>,
}

impl ToolFn {
    pub(crate) fn ret_ty(&self) -> Type {
        match &self.item.sig.output {
            ReturnType::Default => syn::parse_quote!(()),
            ReturnType::Type(_, ty) => (**ty).clone(),
        }
    }

    pub(crate) fn args(&self) -> impl Iterator<Item = &Param> {
        self.params
            .iter()
            .filter(|p| matches!(p.kind, ParamKind::Arg))
    }
}

/// Is this attribute one that belongs on the generated argument field?
fn is_field_attr(attr: &Attribute) -> bool {
    let p = attr.path();
    p.is_ident("doc") || p.is_ident("serde") || p.is_ident("schemars")
}

/// Splits the function into its parts; never fails, so the fallback can always emit the fn.
pub(crate) fn analyse(mut item: ItemFn, errors: &mut Errors) -> ToolFn {
    let doc = crate::doc::extract(&item.attrs);
    let mut params = Vec::new();
    let mut receiver = None;
    for input in &mut item.sig.inputs {
        match input {
            FnArg::Receiver(r) => {
                receiver = Some(syn::spanned::Spanned::span(r));
            }
            FnArg::Typed(pt) => {
                let (mut field_attrs, kept): (Vec<_>, Vec<_>) =
                    pt.attrs.drain(..).partition(is_field_attr);
                let (headers, kept): (Vec<_>, Vec<_>) =
                    kept.into_iter().partition(|a| a.path().is_ident("header"));
                pt.attrs = kept;
                let ident = match &*pt.pat {
                    Pat::Ident(pi) if pi.subpat.is_none() => Some(pi.ident.clone()),
                    _ => None,
                };
                for h in &headers {
                    if let Some(attr) = header_attr(h, ident.as_ref(), errors) {
                        field_attrs.push(attr);
                    }
                }
                let kind = classify(&pt.ty);
                if !matches!(kind, ParamKind::Arg) && !field_attrs.is_empty() {
                    // (also `#[header]`, which became a `#[schemars]` attribute above)
                    errors.push_at(
                        syn::spanned::Spanned::span(&field_attrs[0]),
                        "injected parameters (`Context`, `State<T>`) are not tool arguments \
                         and take no `#[doc]`, `#[serde]` or `#[schemars]` attributes",
                    );
                }
                params.push(Param {
                    kind,
                    ident,
                    pat: (*pt.pat).clone(),
                    ty: (*pt.ty).clone(),
                    field_attrs,
                });
            }
        }
    }
    ToolFn {
        item,
        params,
        receiver,
        doc,
    }
}

/// `#[header]`, `#[header("Region")]` or `#[header = "Region"]` on an argument: the argument
/// also travels as the `Mcp-Param-<Name>` header (SEP-2243), declared in the input schema as
/// `x-mcp-header` (the name defaults to the parameter's). The runtime checks the name and the
/// argument's type when the server is built.
fn header_attr(attr: &Attribute, ident: Option<&Ident>, errors: &mut Errors) -> Option<Attribute> {
    let span = syn::spanned::Spanned::span(attr);
    let name = match &attr.meta {
        syn::Meta::Path(_) => match ident {
            Some(i) => i.to_string().trim_start_matches("r#").to_owned(),
            None => {
                errors.push_at(
                    span,
                    "`#[header]` on a pattern needs a name: `#[header(\"Name\")]`",
                );
                return None;
            }
        },
        syn::Meta::List(list) => match syn::parse2::<syn::LitStr>(list.tokens.clone()) {
            Ok(lit) => lit.value(),
            Err(_) => {
                errors.push_at(span, "expected `#[header(\"Name\")]`");
                return None;
            }
        },
        syn::Meta::NameValue(nv) => match &nv.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(lit),
                ..
            }) => lit.value(),
            _ => {
                errors.push_at(span, "expected `#[header = \"Name\"]`");
                return None;
            }
        },
    };
    Some(syn::parse_quote_spanned!(span=> #[schemars(extend("x-mcp-header" = #name))]))
}

fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(tp) if tp.qself.is_none() => tp.path.segments.last(),
        Type::Group(g) => last_segment(&g.elem),
        Type::Paren(p) => last_segment(&p.elem),
        _ => None,
    }
}

fn classify(ty: &Type) -> ParamKind {
    if let Type::Reference(r) = ty {
        if r.mutability.is_none()
            && last_segment(&r.elem).is_some_and(|s| s.ident == "Context" && s.arguments.is_none())
        {
            return ParamKind::Context { by_ref: true };
        }
        return ParamKind::Arg;
    }
    let Some(seg) = last_segment(ty) else {
        return ParamKind::Arg;
    };
    if seg.ident == "Context" && seg.arguments.is_none() {
        return ParamKind::Context { by_ref: false };
    }
    if seg.ident == "State"
        && let PathArguments::AngleBracketed(ab) = &seg.arguments
        && let [GenericArgument::Type(inner)] = ab.args.iter().collect::<Vec<_>>()[..]
    {
        return ParamKind::State(Box::new(inner.clone()));
    }
    ParamKind::Arg
}
