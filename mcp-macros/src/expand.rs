//! Code generation: the user's function, unchanged but for parameter attributes, followed by a
//! hidden `const _: () = { … };` block holding the arguments struct, the type-erased call
//! function, the schema functions and the `inventory` registration.

use crate::ast::{self, ParamKind, ToolFn};
use crate::attr::{self, Attrs, Errors, Kind};
use crate::{fallback, valid};
use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ItemFn, LitStr};

/// Expands `#[tool]`, `#[resource]` or `#[prompt]`: one pipeline for every kind.
pub(crate) fn attribute(kind: Kind, args: TokenStream, input: TokenStream) -> TokenStream {
    let a = kind.name();
    let item: ItemFn = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(e) => {
            let example = match kind {
                Kind::Tool => "`#[tool] fn add(a: i64, b: i64) -> i64`",
                Kind::Resource => "`#[resource(uri = \"docs://readme\")] fn readme() -> String`",
                Kind::Prompt => "`#[prompt] fn review(code: String) -> String`",
            };
            let msg = syn::Error::new(
                e.span(),
                format!("`#[{a}]` goes on a free `fn` or `async fn`, like {example}"),
            )
            .to_compile_error();
            return quote!(#msg #input);
        }
    };
    let mut errors = Errors::default();
    let attrs = attr::parse(args, kind, &mut errors);
    let tool = ast::analyse(item, &mut errors);
    valid::check(kind, &attrs, &tool, &mut errors);
    let out = match errors.finish() {
        Ok(()) => match kind {
            Kind::Tool => expand(&attrs, &tool),
            Kind::Resource => expand_resource(&attrs, &tool),
            Kind::Prompt => expand_prompt(&attrs, &tool),
        },
        Err(e) => fallback::expand(&tool, e),
    };
    if let Ok(filter) = std::env::var("MCP_MACROS_DEBUG") {
        let ident = tool.item.sig.ident.to_string();
        if filter == "1" || filter == ident {
            eprintln!("// #[{a}] expansion of `{ident}`\n{out}");
        }
    }
    out
}

/// The name an identifier stands for, as serde and MCP see it: `r#type` is `type`.
fn unraw(ident: &syn::Ident) -> LitStr {
    let s = ident.to_string();
    LitStr::new(s.strip_prefix("r#").unwrap_or(&s), ident.span())
}

fn opt_str(lit: Option<&LitStr>) -> TokenStream {
    match lit {
        Some(l) => quote!(::core::option::Option::Some(#l)),
        None => quote!(::core::option::Option::None),
    }
}

fn opt_bool(lit: Option<&syn::LitBool>) -> TokenStream {
    match lit {
        Some(l) => quote!(::core::option::Option::Some(#l)),
        None => quote!(::core::option::Option::None),
    }
}

fn expand(attrs: &Attrs, tool: &ToolFn) -> TokenStream {
    let krate = attrs
        .krate
        .as_ref()
        .map_or_else(|| quote!(::mcp_runtime), ToTokens::to_token_stream);
    let krate_str = krate.to_string().replace(' ', "");
    let serde_crate = format!("{krate_str}::__private::serde");
    let schemars_crate = format!("{krate_str}::__private::schemars");

    let item = &tool.item;
    let fn_ident = &item.sig.ident;
    let name = attrs
        .name
        .as_ref()
        .map_or_else(|| unraw(fn_ident), Clone::clone);
    let description = attrs
        .description
        .clone()
        .or_else(|| tool.doc.as_ref().map(|d| LitStr::new(d, fn_ident.span())));
    let description = opt_str(description.as_ref());
    let title = opt_str(attrs.title.as_ref());
    let meta = opt_str(attrs.meta.as_ref());
    let timeout_ms = match &attrs.timeout_ms {
        Some(t) => quote!(::core::option::Option::Some(#t)),
        None => quote!(::core::option::Option::None),
    };
    let task = match attrs.task.as_ref().map(LitStr::value).as_deref() {
        Some("optional") => quote!(__mcp::TaskSupport::Optional),
        Some("required") => quote!(__mcp::TaskSupport::Required),
        _ => quote!(__mcp::TaskSupport::Forbidden),
    };
    let domains = attrs.domains.iter().flatten();
    let tags = attrs.tags.iter().flatten();
    let scopes = attrs.scopes.iter().flatten();
    let layers = attrs.layers.iter();
    let read_only = opt_bool(attrs.read_only.as_ref());
    let destructive = opt_bool(attrs.destructive.as_ref());
    let idempotent = opt_bool(attrs.idempotent.as_ref());
    let open_world = opt_bool(attrs.open_world.as_ref());
    let icons = attrs.icons.iter().map(|icon| {
        let src = &icon.src;
        let mime = opt_str(icon.mime_type.as_ref());
        let theme = opt_str(icon.theme.as_ref());
        let sizes = &icon.sizes;
        quote!(__mcp::IconDef { src: #src, mime_type: #mime, sizes: &[#(#sizes),*], theme: #theme })
    });

    // The arguments struct: one field per argument, with its doc/serde/schemars attributes.
    let fields = tool.args().map(|p| {
        let ident = p.ident.as_ref().expect("checked in valid");
        let ty = &p.ty;
        let attrs = &p.field_attrs;
        quote!(#(#attrs)* #ident: #ty)
    });
    let arg_idents: Vec<_> = tool.args().filter_map(|p| p.ident.as_ref()).collect();
    // Arguments without `#[serde]`/`#[schemars]` attributes are taken out one by one with a
    // function generic over the argument's type only, shared by every tool: a derived
    // `Deserialize` per tool would be most of the code a tool compiles to. Attributes that
    // change how an argument is read keep the derive, which honours all of them.
    let plain = tool
        .args()
        .all(|p| p.field_attrs.iter().all(|a| a.path().is_ident("doc")));
    let deserialize = (!plain).then(|| {
        quote! {
            #[derive(__mcp::serde::Deserialize)]
            #[serde(crate = #serde_crate)]
        }
    });
    let args_struct = quote! {
        #deserialize
        #[derive(__mcp::schemars::JsonSchema)]
        #[schemars(crate = #schemars_crate)]
        #[allow(non_camel_case_types, non_snake_case, dead_code)]
        struct __McpArgs {
            #(#fields,)*
        }
    };
    let parse = if plain {
        let takes = tool.args().filter_map(|p| {
            let ident = p.ident.as_ref()?;
            let ty = &p.ty;
            let name = unraw(ident);
            Some(quote_spanned! {ty.span()=>
                let #ident = match __mcp::argument::<#ty>(&mut __mcp_args, #name) {
                    ::core::result::Result::Ok(v) => v,
                    ::core::result::Result::Err(e) => return e,
                };
            })
        });
        quote!(#(#takes)*)
    } else {
        quote! {
            let __McpArgs { #(#arg_idents,)* } = match __mcp::parse_arguments::<__McpArgs>(__mcp_args) {
                ::core::result::Result::Ok(args) => args,
                ::core::result::Result::Err(e) => return e,
            };
        }
    };
    let arg_checks = tool.args().map(|p| {
        let ty = &p.ty;
        quote_spanned!(ty.span()=> __mcp::assert_argument::<#ty>();)
    });

    // Injected values and the call.
    let ctx = format_ident!("__mcp_ctx");
    let mut prelude = Vec::new();
    let mut state_reqs = Vec::new();
    let mut call_args = Vec::new();
    for (i, p) in tool.params.iter().enumerate() {
        match &p.kind {
            ParamKind::Context { by_ref: false } => call_args.push(quote!(#ctx.clone())),
            ParamKind::Context { by_ref: true } => call_args.push(quote!(&#ctx)),
            ParamKind::State(inner) => {
                let var = format_ident!("__mcp_state_{}", i);
                prelude.push(quote_spanned! {p.ty.span()=>
                    let #var = match __mcp::state::<#inner>(&#ctx) {
                        ::core::result::Result::Ok(s) => s,
                        ::core::result::Result::Err(e) => return e,
                    };
                });
                state_reqs
                    .push(quote_spanned!(p.ty.span()=> __mcp::StateRequirement::of::<#inner>()));
                call_args.push(quote!(#var));
            }
            ParamKind::Arg => {
                let ident = p.ident.as_ref().expect("checked in valid");
                call_args.push(quote!(#ident));
            }
        }
    }
    let await_ = item.sig.asyncness.map(|_| quote!(.await));
    let ret_ty = tool.ret_ty();
    let ret_span = match &item.sig.output {
        syn::ReturnType::Default => fn_ident.span(),
        syn::ReturnType::Type(_, ty) => ty.span(),
    };
    // Spanned at the return type, so that an unsupported one is reported there.
    let output_schema = quote_spanned!(ret_span=>
        (&&&&__mcp::Returns::<#ret_ty>::new()).__mcp_kind().output_schema()
    );
    let convert = quote_spanned!(ret_span=>
        (&&&&__mcp::Returns::<#ret_ty>::new()).__mcp_kind().convert(__mcp_ret)
    );
    let location = quote_spanned!(fn_ident.span()=> file: ::core::file!(), line: ::core::line!(), column: ::core::column!());

    quote! {
        #item

        #[doc(hidden)]
        const _: () = {
            use #krate::__private as __mcp;
            #[allow(unused_imports)]
            use __mcp::{ViaIntoToolResult as _, ViaStructuredResult as _, ViaStructured as _, ViaUnsupported as _};

            // First, so that a missing impl is reported with its fix before the derives' errors.
            #[allow(dead_code)]
            fn __mcp_checks() {
                #(#arg_checks)*
            }

            #args_struct

            fn __mcp_output_schema() -> ::core::option::Option<__mcp::serde_json::Value> {
                #output_schema
            }

            fn __mcp_type_id() -> ::core::any::TypeId {
                __mcp::type_id_of_val(&#fn_ident)
            }

            #[allow(unused_variables, unused_mut, clippy::redundant_clone)]
            fn __mcp_call(#ctx: #krate::Context, mut __mcp_args: __mcp::Arguments) -> __mcp::ToolFuture {
                ::std::boxed::Box::pin(async move {
                    #parse
                    #(#prelude)*
                    let __mcp_ret = #fn_ident(#(#call_args),*) #await_;
                    #convert
                })
            }

            __mcp::inventory::submit! {
                __mcp::ToolRegistration {
                    name: #name,
                    rust_path: ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#fn_ident)),
                    title: #title,
                    description: #description,
                    domains: &[#(#domains),*],
                    tags: &[#(#tags),*],
                    scopes: &[#(#scopes),*],
                    annotations: __mcp::AnnotationDefs {
                        read_only: #read_only,
                        destructive: #destructive,
                        idempotent: #idempotent,
                        open_world: #open_world,
                    },
                    icons: &[#(#icons),*],
                    meta: #meta,
                    timeout_ms: #timeout_ms,
                    task: #task,
                    layers: &[#(|| __mcp::tool_layer(#layers())),*],
                    input_schema: <__McpArgs as __mcp::schemars::JsonSchema>::json_schema,
                    output_schema: __mcp_output_schema,
                    call: __mcp_call,
                    type_id: __mcp_type_id,
                    state: &[#(#state_reqs),*],
                    #location,
                }
            }
        };
    }
}

/// What every kind's expansion shares: the runtime path, the icons, the domains and scopes,
/// the source location, and the injected values of the call.
struct Common {
    krate: TokenStream,
    name: LitStr,
    title: TokenStream,
    description: TokenStream,
    meta: TokenStream,
    icons: Vec<TokenStream>,
    domains: Vec<LitStr>,
    tags: Vec<LitStr>,
    scopes: Vec<LitStr>,
    location: TokenStream,
    /// Statements binding `State<T>` values; each returns `Err(RequestError)` when missing.
    prelude: Vec<TokenStream>,
    state_reqs: Vec<TokenStream>,
    /// The call's arguments, in order.
    call_args: Vec<TokenStream>,
    await_: Option<TokenStream>,
    ret_ty: syn::Type,
    ret_span: proc_macro2::Span,
}

fn common(attrs: &Attrs, tool: &ToolFn, ctx: &syn::Ident) -> Common {
    let krate = attrs
        .krate
        .as_ref()
        .map_or_else(|| quote!(::mcp_runtime), ToTokens::to_token_stream);
    let item = &tool.item;
    let fn_ident = &item.sig.ident;
    let name = attrs
        .name
        .as_ref()
        .map_or_else(|| unraw(fn_ident), Clone::clone);
    let description = attrs
        .description
        .clone()
        .or_else(|| tool.doc.as_ref().map(|d| LitStr::new(d, fn_ident.span())));
    let icons = attrs
        .icons
        .iter()
        .map(|icon| {
            let src = &icon.src;
            let mime = opt_str(icon.mime_type.as_ref());
            let theme = opt_str(icon.theme.as_ref());
            let sizes = &icon.sizes;
            quote!(__mcp::IconDef { src: #src, mime_type: #mime, sizes: &[#(#sizes),*], theme: #theme })
        })
        .collect();
    let mut prelude = Vec::new();
    let mut state_reqs = Vec::new();
    let mut call_args = Vec::new();
    for (i, p) in tool.params.iter().enumerate() {
        match &p.kind {
            ParamKind::Context { by_ref: false } => call_args.push(quote!(#ctx.clone())),
            ParamKind::Context { by_ref: true } => call_args.push(quote!(&#ctx)),
            ParamKind::State(inner) => {
                let var = format_ident!("__mcp_state_{}", i);
                prelude.push(quote_spanned! {p.ty.span()=>
                    let #var = __mcp::state_for::<#inner>(&#ctx)?;
                });
                state_reqs
                    .push(quote_spanned!(p.ty.span()=> __mcp::StateRequirement::of::<#inner>()));
                call_args.push(quote!(#var));
            }
            ParamKind::Arg => {
                let ident = p.ident.as_ref().expect("checked in valid");
                call_args.push(quote!(#ident));
            }
        }
    }
    let ret_span = match &item.sig.output {
        syn::ReturnType::Default => fn_ident.span(),
        syn::ReturnType::Type(_, ty) => ty.span(),
    };
    Common {
        krate,
        name,
        title: opt_str(attrs.title.as_ref()),
        description: opt_str(description.as_ref()),
        meta: opt_str(attrs.meta.as_ref()),
        icons,
        domains: attrs.domains.clone().unwrap_or_default(),
        tags: attrs.tags.clone().unwrap_or_default(),
        scopes: attrs.scopes.clone().unwrap_or_default(),
        location: quote_spanned!(fn_ident.span()=> file: ::core::file!(), line: ::core::line!(), column: ::core::column!()),
        prelude,
        state_reqs,
        call_args,
        await_: item.sig.asyncness.map(|_| quote!(.await)),
        ret_ty: tool.ret_ty(),
        ret_span,
    }
}

/// The completion fns of `complete(name = path, …)`, and the registration list.
fn completions(attrs: &Attrs, krate: &TokenStream) -> (Vec<TokenStream>, TokenStream) {
    let mut fns = Vec::new();
    let mut entries = Vec::new();
    for (i, (name, path)) in attrs.complete.iter().enumerate() {
        let f = format_ident!("__mcp_complete_{}", i);
        let key = LitStr::new(&name.to_string(), name.span());
        // Named with the macro's own span: the user's span would make `unused_qualifications`
        // blame the user's code when it imports the type.
        let request = quote!(__mcp::CompletionRequest);
        fns.push(quote_spanned! {path.span()=>
            fn #f(ctx: #krate::Context, req: #request) -> __mcp::CompleteFuture {
                ::std::boxed::Box::pin(async move { __mcp::completion_output(#path(ctx, req).await) })
            }
        });
        entries.push(quote!((#key, #f as __mcp::CompleteFn)));
    }
    (fns, quote!(&[#(#entries),*]))
}

/// Writes a registration, given the names of the call fn and of the completion list.
type Register = Box<dyn Fn(&TokenStream, &TokenStream) -> TokenStream>;

/// What differs between the expansions of `#[resource]` and `#[prompt]`.
struct Handler {
    /// The call fn's second parameter, whose string arguments the parameters are taken from.
    input: TokenStream,
    /// Where `string_argument` takes each parameter from.
    source: TokenStream,
    /// The call fn's return type.
    output: TokenStream,
    /// Extra imports (the return-type dispatch traits).
    imports: TokenStream,
    /// Turns `__mcp_ret` into the output.
    convert: TokenStream,
    /// The registration, given the names of the call fn and the completion list.
    register: Register,
}

/// The expansion shared by `#[resource]` and `#[prompt]`: the fn, then a hidden block with the
/// type checks, the call fn taking typed parameters from their text, the completion fns and
/// the registration.
fn expand_handler(attrs: &Attrs, tool: &ToolFn, h: &Handler) -> TokenStream {
    let ctx = format_ident!("__mcp_ctx");
    let c = common(attrs, tool, &ctx);
    let item = &tool.item;
    let fn_ident = &item.sig.ident;
    let source = &h.source;
    let takes = tool.args().filter_map(|p| {
        let ident = p.ident.as_ref()?;
        let ty = &p.ty;
        let name = LitStr::new(&valid::wire_name(p)?, ident.span());
        Some(quote_spanned! {ty.span()=>
            let #ident = __mcp::string_argument::<#ty>(&mut #source, #name)?;
        })
    });
    let arg_checks = tool.args().map(|p| {
        let ty = &p.ty;
        quote_spanned!(ty.span()=> __mcp::assert_string_argument::<#ty>();)
    });
    let krate = &c.krate;
    let (prelude, call_args, await_) = (&c.prelude, &c.call_args, &c.await_);
    let (input, output, imports, convert) = (&h.input, &h.output, &h.imports, &h.convert);
    let (complete_fns, complete_list) = completions(attrs, krate);
    let call_fn = quote!(__mcp_call);
    let register = (h.register)(&call_fn, &complete_list);
    quote! {
        #item

        #[doc(hidden)]
        const _: () = {
            use #krate::__private as __mcp;
            #imports

            #[allow(dead_code)]
            fn __mcp_checks() {
                #(#arg_checks)*
            }

            fn __mcp_type_id() -> ::core::any::TypeId {
                __mcp::type_id_of_val(&#fn_ident)
            }

            #[allow(unused_variables, unused_mut, clippy::redundant_clone)]
            fn #call_fn(#ctx: #krate::Context, #input) -> #output {
                ::std::boxed::Box::pin(async move {
                    #(#takes)*
                    #(#prelude)*
                    let __mcp_ret = #fn_ident(#(#call_args),*) #await_;
                    #convert
                })
            }

            #(#complete_fns)*

            __mcp::inventory::submit! { #register }
        };
    }
}

fn expand_resource(attrs: &Attrs, tool: &ToolFn) -> TokenStream {
    let c = common(attrs, tool, &format_ident!("__mcp_ctx"));
    let fn_ident = tool.item.sig.ident.clone();
    let (ret_ty, ret_span) = (c.ret_ty.clone(), c.ret_span);
    let Common {
        name,
        title,
        description,
        meta,
        icons,
        domains,
        tags,
        scopes,
        location,
        state_reqs,
        ..
    } = c;
    let uri = opt_str(attrs.uri.as_ref());
    let uri_template = opt_str(attrs.uri_template.as_ref());
    let mime_type = opt_str(attrs.mime_type.as_ref());
    let last_modified = opt_str(attrs.last_modified.as_ref());
    let audience: Vec<LitStr> = attrs.audience.clone().unwrap_or_default();
    let priority = match &attrs.priority {
        Some(p) => quote!(::core::option::Option::Some(#p)),
        None => quote!(::core::option::Option::None),
    };
    let size = match &attrs.size {
        Some(s) => quote!(::core::option::Option::Some(#s)),
        None => quote!(::core::option::Option::None),
    };
    let handler = Handler {
        input: quote!(mut __mcp_req: __mcp::ReadRequest),
        source: quote!(__mcp_req.vars),
        output: quote!(__mcp::ReadFuture),
        imports: quote! {
            #[allow(unused_imports)]
            use __mcp::{ViaContents as _, ViaJsonResult as _, ViaJson as _};
        },
        convert: quote_spanned!(ret_span=>
            (&&&__mcp::ReadReturns::<#ret_ty>::new()).__mcp_read_kind().convert(__mcp_ret, &__mcp_req)
        ),
        register: Box::new(move |call, completions| {
            quote! {
                __mcp::ResourceRegistration {
                    uri: #uri,
                    uri_template: #uri_template,
                    name: #name,
                    rust_path: ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#fn_ident)),
                    title: #title,
                    description: #description,
                    mime_type: #mime_type,
                    audience: &[#(#audience),*],
                    priority: #priority,
                    last_modified: #last_modified,
                    size: #size,
                    icons: &[#(#icons),*],
                    domains: &[#(#domains),*],
                    tags: &[#(#tags),*],
                    scopes: &[#(#scopes),*],
                    meta: #meta,
                    read: #call,
                    completions: #completions,
                    type_id: __mcp_type_id,
                    state: &[#(#state_reqs),*],
                    #location,
                }
            }
        }),
    };
    expand_handler(attrs, tool, &handler)
}

/// Whether a type is `Option<…>` (an optional prompt argument).
fn is_option(ty: &syn::Type) -> bool {
    match ty {
        syn::Type::Path(tp) => tp.path.segments.last().is_some_and(|s| s.ident == "Option"),
        syn::Type::Group(g) => is_option(&g.elem),
        syn::Type::Paren(p) => is_option(&p.elem),
        _ => false,
    }
}

fn expand_prompt(attrs: &Attrs, tool: &ToolFn) -> TokenStream {
    let c = common(attrs, tool, &format_ident!("__mcp_ctx"));
    let fn_ident = tool.item.sig.ident.clone();
    let ret_span = c.ret_span;
    let Common {
        name,
        title,
        description,
        meta,
        icons,
        domains,
        tags,
        scopes,
        location,
        state_reqs,
        ..
    } = c;
    let arg_defs: Vec<TokenStream> = tool
        .args()
        .filter_map(|p| {
            let ident = p.ident.as_ref()?;
            let arg = LitStr::new(&valid::wire_name(p)?, ident.span());
            let desc = opt_str(
                crate::doc::extract(&p.field_attrs)
                    .map(|d| LitStr::new(&d, ident.span()))
                    .as_ref(),
            );
            let required = !is_option(&p.ty);
            Some(
                quote!(__mcp::PromptArgDef { name: #arg, description: #desc, required: #required }),
            )
        })
        .collect();
    let handler = Handler {
        input: quote!(mut __mcp_args: __mcp::PromptArgs),
        source: quote!(__mcp_args),
        output: quote!(__mcp::PromptFuture),
        imports: TokenStream::new(),
        convert: quote_spanned!(ret_span=> __mcp::IntoPromptResult::into_prompt_result(__mcp_ret)),
        register: Box::new(move |call, completions| {
            quote! {
                __mcp::PromptRegistration {
                    name: #name,
                    rust_path: ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#fn_ident)),
                    title: #title,
                    description: #description,
                    arguments: &[#(#arg_defs),*],
                    icons: &[#(#icons),*],
                    domains: &[#(#domains),*],
                    tags: &[#(#tags),*],
                    scopes: &[#(#scopes),*],
                    meta: #meta,
                    get: #call,
                    completions: #completions,
                    type_id: __mcp_type_id,
                    state: &[#(#state_reqs),*],
                    #location,
                }
            }
        }),
    };
    expand_handler(attrs, tool, &handler)
}
