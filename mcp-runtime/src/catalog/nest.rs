//! Servers nested in a server under a namespace ([`crate::McpServer::nest`]): the naming rule,
//! and the entries of a part as the whole lists them.
//!
//! The rule, which a client can reverse:
//! - a tool or prompt `name` of the part nested as `ns` is `ns_name`;
//! - a resource URI or template `scheme://rest` is `scheme://ns/rest`, and one without an
//!   authority, `scheme:rest`, is `scheme:ns/rest` (the namespace is the first path segment;
//!   the scheme stays, so `ui://`, `file://` and `https://` keep their meaning).
//!
//! A part merged without a namespace ([`crate::McpServer::merge`]) keeps every name and URI.

use std::sync::Arc;

use super::{Entries, Snapshot};

/// Where an entry of the whole comes from: which part, and its name (or URI, or template) there.
#[derive(Debug)]
pub(crate) struct Nested {
    /// The part's index among the whole's parts.
    pub(crate) part: usize,
    /// The tool's or prompt's name, or the resource's URI or template, in the part.
    pub(crate) original: String,
}

/// Whether `namespace` may name a part: ASCII letters, digits and `-`, at most 64 of them (no
/// `_`, `.` or `/`, so that no namespaced name or URI can be read two ways).
pub(crate) fn namespace_problem(namespace: &str) -> Option<String> {
    if namespace.is_empty() {
        return Some(
            "a namespace cannot be empty (use `merge` to add a server's items as they are)".into(),
        );
    }
    if namespace.len() > 64 {
        return Some(format!(
            "a namespace has at most 64 characters; `{}` has {}",
            crate::bounds::shown(namespace),
            namespace.len()
        ));
    }
    namespace
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        .map(|c| {
            format!(
                "namespace `{namespace}` may use only ASCII letters, digits and `-`; found {c:?}"
            )
        })
}

/// The name of a part's tool or prompt in the whole.
pub fn nested_name(namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        return name.to_owned();
    }
    format!("{namespace}_{name}")
}

/// The length of the scheme and what follows it (`://` or `:`) at the start of `uri`, if it
/// starts with a scheme.
fn scheme_end(uri: &str) -> Option<usize> {
    let colon = uri.find(':')?;
    let scheme = &uri[..colon];
    let mut chars = scheme.chars();
    let first = chars.next()?;
    if !first.is_ascii_alphabetic()
        || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    Some(if uri[colon..].starts_with("://") {
        colon + 3
    } else {
        colon + 1
    })
}

/// The URI (or URI template) of a part's resource in the whole: `scheme://ns/rest`; `None` when
/// it does not start with a scheme (a template that starts with a variable).
pub fn nested_uri(namespace: &str, uri: &str) -> Option<String> {
    if namespace.is_empty() {
        return Some(uri.to_owned());
    }
    let at = scheme_end(uri)?;
    Some(format!("{}{namespace}/{}", &uri[..at], &uri[at..]))
}

/// The URI in the part of a URI of the whole (the reverse of [`nested_uri`]); `None` when `uri`
/// is not under `namespace`.
pub(crate) fn original_uri(namespace: &str, uri: &str) -> Option<String> {
    if namespace.is_empty() {
        return Some(uri.to_owned());
    }
    let at = scheme_end(uri)?;
    let rest = uri[at..].strip_prefix(namespace)?.strip_prefix('/')?;
    Some(format!("{}{rest}", &uri[..at]))
}

/// The enabled items of a part (its current snapshot) as the whole lists them, named by the
/// rule, each marked with where it comes from. Items that cannot be named (a template without
/// a scheme) are left out with a problem each.
pub(crate) fn entries_of(
    part: usize,
    namespace: &str,
    snapshot: &Snapshot,
) -> (Entries, Vec<String>) {
    let mut entries = Entries::default();
    let mut problems = Vec::new();
    let nested = |original: &str| {
        Arc::new(Nested {
            part,
            original: original.to_owned(),
        })
    };
    for t in &snapshot.tools {
        let name = nested_name(namespace, &t.name);
        if let Some(p) = crate::tool_name_problem(&name) {
            problems.push(format!("tool `{}` nested as `{name}`: {p}", t.name));
            continue;
        }
        let mut tool = t.nested_as(name, nested(&t.name));
        // A link to one of the part's apps names the app's URI in the whole.
        super::ui::relink(&mut tool.meta, |u| nested_uri(namespace, u));
        entries.tools.push((Arc::new(tool), true));
    }
    for r in snapshot.resources.iter().chain(&snapshot.templates) {
        let original = r.address_str();
        let Some(address) = nested_uri(namespace, original) else {
            problems.push(format!(
                "resource `{original}` cannot be nested as `{namespace}`: it does not start with a \
                 scheme (`scheme:` or `scheme://`) to put the namespace after"
            ));
            continue;
        };
        match r.nested_as(&address, nested(original)) {
            Ok(r) => entries.resources.push((Arc::new(r), true)),
            Err(p) => problems.push(format!("resource `{original}` nested as `{address}`: {p}")),
        }
    }
    for p in &snapshot.prompts {
        let name = nested_name(namespace, &p.name);
        entries
            .prompts
            .push((Arc::new(p.nested_as(name, nested(&p.name))), true));
    }
    (entries, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_nest_after_the_scheme_and_come_back() {
        for (uri, nested) in [
            ("crm://projects/1", "crm://ns/projects/1"),
            ("crm://projects/{id}", "crm://ns/projects/{id}"),
            ("ui://widget", "ui://ns/widget"),
            ("file:///etc/hosts", "file://ns//etc/hosts"),
            ("urn:isbn:123", "urn:ns/isbn:123"),
            ("https://example.com/a?b", "https://ns/example.com/a?b"),
        ] {
            assert_eq!(nested_uri("ns", uri).as_deref(), Some(nested), "{uri}");
            assert_eq!(original_uri("ns", nested).as_deref(), Some(uri), "{nested}");
        }
        assert_eq!(nested_uri("ns", "{scheme}://x"), None);
        assert_eq!(nested_uri("ns", "no-scheme"), None);
        assert_eq!(original_uri("ns", "crm://other/projects/1"), None);
        assert_eq!(original_uri("ns", "crm://nsx/projects/1"), None);
        assert_eq!(original_uri("", "crm://a"), Some("crm://a".into()));
    }

    #[test]
    fn namespaces_are_checked() {
        assert!(namespace_problem("crm").is_none());
        assert!(namespace_problem("team-2").is_none());
        assert!(namespace_problem("").is_some());
        assert!(namespace_problem("a_b").unwrap().contains("'_'"));
        assert!(namespace_problem("a/b").is_some());
        assert!(namespace_problem(&"x".repeat(65)).is_some());
    }
}
