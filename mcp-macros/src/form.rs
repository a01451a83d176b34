//! `#[derive(Form)]`: a type an elicitation form can be made from, checked when it compiles.
//!
//! On a struct with named fields: every field's type must be a form value (strings, numbers,
//! booleans, `Option`s of these, enums that derive `Form`, `Vec`s of such enums), which is
//! checked with one assertion per field, pointing at the field's type. On an enum with unit
//! variants only: the enum becomes a form value (a single or, in a `Vec`, multiple choice).

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields};

pub(crate) fn derive(input: TokenStream) -> TokenStream {
    let input: DeriveInput = match syn::parse2(input) {
        Ok(i) => i,
        Err(e) => return e.to_compile_error(),
    };
    if !input.generics.params.is_empty() {
        return syn::Error::new(
            input.generics.span(),
            "`#[derive(Form)]` types cannot be generic: the form's fields must be known",
        )
        .to_compile_error();
    }
    let name = &input.ident;
    let rt = quote!(::mcp_runtime::__private);
    match &input.data {
        Data::Struct(s) => {
            let Fields::Named(fields) = &s.fields else {
                return syn::Error::new(
                    name.span(),
                    "a form is a struct with named fields: each field is one question of the form",
                )
                .to_compile_error();
            };
            let checks = fields.named.iter().map(|f| {
                let ty = &f.ty;
                quote_spanned!(ty.span()=> #rt::assert_form_value::<#ty>();)
            });
            quote! {
                impl #rt::Form for #name {}
                const _: () = {
                    #[allow(dead_code)]
                    fn __mcp_form_checks() {
                        #(#checks)*
                    }
                };
            }
        }
        Data::Enum(e) => {
            if let Some(v) = e
                .variants
                .iter()
                .find(|v| !matches!(v.fields, Fields::Unit))
            {
                return syn::Error::new(
                    v.span(),
                    "a `Form` enum has unit variants only: its variants are the choices",
                )
                .to_compile_error();
            }
            quote! {
                impl #rt::FormValue for #name {}
                impl #rt::FormChoice for #name {}
            }
        }
        Data::Union(u) => syn::Error::new(
            u.union_token.span(),
            "`#[derive(Form)]` goes on a struct (the form) or an enum (a choice)",
        )
        .to_compile_error(),
    }
}
