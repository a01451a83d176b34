//! Doc comments as descriptions: `///` lines joined, one leading space stripped per line, blank
//! edges trimmed (the rule clap uses).

use syn::{Attribute, Expr, ExprLit, Lit, Meta};

/// The text of the `#[doc = "…"]` attributes, or `None` when there are none (or only blanks).
pub(crate) fn extract(attrs: &[Attribute]) -> Option<String> {
    let mut lines = Vec::new();
    for attr in attrs {
        if !attr.path().is_ident("doc") {
            continue;
        }
        if let Meta::NameValue(nv) = &attr.meta
            && let Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) = &nv.value
        {
            let value = s.value();
            for line in value.split('\n') {
                let line = line.strip_prefix(' ').unwrap_or(line);
                lines.push(line.trim_end().to_owned());
            }
        }
    }
    while lines.first().is_some_and(|l| l.trim().is_empty()) {
        lines.remove(0);
    }
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    if lines.is_empty() {
        None
    } else {
        Some(lines.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::extract;
    use syn::parse_quote;

    #[test]
    fn strips_one_space_and_blank_edges() {
        let f: syn::ItemFn = parse_quote! {
            ///
            /// Adds two numbers.
            ///
            ///   Indented detail.
            ///
            fn f() {}
        };
        assert_eq!(
            extract(&f.attrs).as_deref(),
            Some("Adds two numbers.\n\n  Indented detail.")
        );
    }

    #[test]
    fn none_without_docs() {
        let f: syn::ItemFn = parse_quote! { #[inline] fn f() {} };
        assert_eq!(extract(&f.attrs), None);
    }
}
