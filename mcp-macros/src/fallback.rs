//! The error path: the user's function is still emitted next to the errors, so its callers and
//! IDEs see it and no cascade of "cannot find function" follows.

use crate::ast::ToolFn;
use proc_macro2::TokenStream;
use quote::quote;

pub(crate) fn expand(tool: &ToolFn, errors: syn::Error) -> TokenStream {
    let errors = errors.to_compile_error();
    let item = &tool.item;
    quote! {
        #errors
        #item
    }
}
