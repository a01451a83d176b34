//! `include_skills!`: a folder's files as `(relative path, include_bytes!(…))` pairs, handed to
//! `Skill::from_files`.

use proc_macro2::TokenStream;
use quote::quote;
use std::path::{Path, PathBuf};

/// The most files the macro embeds (a skill has at most 512; a folder may hold several).
const MAX_FILES: usize = 16_384;

pub(crate) fn include(input: TokenStream) -> TokenStream {
    let lit: syn::LitStr = match syn::parse2(input) {
        Ok(l) => l,
        Err(e) => return e.to_compile_error(),
    };
    let Some(manifest) = std::env::var_os("CARGO_MANIFEST_DIR") else {
        return error(&lit, "CARGO_MANIFEST_DIR is not set: build with cargo");
    };
    let root = PathBuf::from(manifest).join(lit.value());
    let mut files = Vec::new();
    if let Err(e) = walk(&root, &root, &mut files) {
        return error(
            &lit,
            &format!("cannot read the skills folder {}: {e}", root.display()),
        );
    }
    if files.len() > MAX_FILES {
        return error(
            &lit,
            &format!("the skills folder has more than {MAX_FILES} files"),
        );
    }
    files.sort();
    let pairs = files.iter().map(|(rel, abs)| {
        let abs = abs.to_string_lossy();
        quote!((#rel, ::core::include_bytes!(#abs) as &'static [u8]))
    });
    quote! {
        ::mcp_runtime::catalog::Skill::from_files(&[#(#pairs),*])
    }
}

fn error(lit: &syn::LitStr, message: &str) -> TokenStream {
    syn::Error::new(lit.span(), message).to_compile_error()
}

/// Every regular file below `dir` (hidden ones and symbolic links left out), as its path
/// relative to `root` with `/` between segments, and its absolute path.
fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') {
            continue;
        }
        let kind = entry.file_type()?;
        let path = entry.path();
        if kind.is_dir() {
            walk(root, &path, out)?;
        } else if kind.is_file() {
            let rel = path
                .strip_prefix(root)
                .expect("below the root")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.push((rel, path));
        }
        if out.len() > MAX_FILES {
            return Ok(());
        }
    }
    Ok(())
}
