//! The `#[tool]`, `#[resource]` and `#[prompt]` attributes of [`mcp-runtime`](https://docs.rs/mcp-runtime).
//!
//! Depend on `mcp-runtime`, which re-exports this macro and everything its expansion needs;
//! the reference of the attribute lives there. This crate is an implementation detail.
//!
//! The pipeline is one module per step: `attr` parses the attribute arguments, `ast` analyses
//! the function, `valid` checks what the two cannot express, `expand` writes the code, and
//! `fallback` keeps the user's function compiling next to the errors. Set `MCP_MACROS_DEBUG=1`
//! (or to a tool name) to print expansions while building.

mod ast;
mod attr;
mod doc;
mod expand;
mod fallback;
mod form;
mod skills;
mod valid;

use proc_macro::TokenStream;

#[doc = include_str!("../docs/tool.md")]
#[proc_macro_attribute]
pub fn tool(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::attribute(attr::Kind::Tool, args.into(), input.into()).into()
}

#[doc = include_str!("../docs/resource.md")]
#[proc_macro_attribute]
pub fn resource(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::attribute(attr::Kind::Resource, args.into(), input.into()).into()
}

#[doc = include_str!("../docs/prompt.md")]
#[proc_macro_attribute]
pub fn prompt(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::attribute(attr::Kind::Prompt, args.into(), input.into()).into()
}

/// Marks a struct as an elicitation form (or an enum as a choice in one), checking when it
/// compiles that every field is something a form can ask.
///
/// See the `mcp-runtime` crate documentation for the full reference.
#[proc_macro_derive(Form)]
pub fn derive_form(input: TokenStream) -> TokenStream {
    form::derive(input.into()).into()
}

/// The skills of a folder of the crate, embedded at build time: `include_skills!("skills")`
/// is a `Vec<mcp_runtime::catalog::Skill>`, one per folder holding a `SKILL.md` (with every
/// file below it), for `McpServer::skills`. The path is relative to the crate's
/// `Cargo.toml`; hidden files are left out. Each file is embedded with `include_bytes!`, so a
/// changed file rebuilds the crate (a file added to the folder is seen at the next build of
/// the crate).
#[proc_macro]
pub fn include_skills(input: TokenStream) -> TokenStream {
    skills::include(input.into()).into()
}
