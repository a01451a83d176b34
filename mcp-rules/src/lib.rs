//! The rules that `mcp-runtime` checks when a server is built and its attribute macros check
//! at compile time, written once so that the two cannot drift: a name `#[tool]` accepts is one
//! the runtime accepts, and so is a URI template of `#[resource]`. Use them through
//! `mcp-runtime`; this crate has no other API.

#![forbid(unsafe_code)]

/// The MCP tool-name rule (SEP-986): 1–128 characters of `[A-Za-z0-9_.-]`. `None` when `name`
/// follows it, else what is wrong with it.
pub fn tool_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("tool names cannot be empty".into());
    }
    if name.len() > 128 {
        return Some(format!(
            "tool names have at most 128 characters; this one has {}",
            name.len()
        ));
    }
    name.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
        .map(|c| {
            format!("tool names use only ASCII letters, digits, `_`, `-` and `.`; found {c:?}")
        })
}

/// One part of a URI template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    /// Text matched as written.
    Literal(String),
    /// A variable: `{name}` (simple expansion: its value stops at `/`, `?`, `#`) or `{+name}`
    /// (reserved expansion: its value may hold `/`).
    Var {
        /// The variable's name.
        name: String,
        /// Whether it is `{+name}`.
        reserved: bool,
    },
}

/// Parses a URI template of the subset of RFC 6570 resource templates use here: literal text,
/// `{name}` and `{+name}`, names of ASCII letters, digits and `_`, each variable once, literal
/// text between two variables (`{a}{b}` cannot be matched back). The error says what is wrong,
/// quoting the template.
pub fn parse_uri_template(text: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        match rest.find('{') {
            Some(0) => {
                let end = rest
                    .find('}')
                    .ok_or_else(|| format!("`{text}`: `{{` without a closing `}}`"))?;
                let expr = &rest[1..end];
                let (reserved, name) = match expr.strip_prefix('+') {
                    Some(n) => (true, n),
                    None => (false, expr),
                };
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(format!(
                        "`{text}`: `{{{expr}}}` is not supported; use `{{name}}` or `{{+name}}` \
                         with a name of letters, digits and `_`"
                    ));
                }
                if matches!(parts.last(), Some(Part::Var { .. })) {
                    return Err(format!(
                        "`{text}`: two variables next to each other cannot be told apart; put \
                         literal text between them"
                    ));
                }
                if parts
                    .iter()
                    .any(|p| matches!(p, Part::Var { name: n, .. } if n == name))
                {
                    return Err(format!("`{text}`: variable `{name}` appears twice"));
                }
                parts.push(Part::Var {
                    name: name.to_owned(),
                    reserved,
                });
                rest = &rest[end + 1..];
            }
            Some(i) => {
                let literal = &rest[..i];
                if literal.contains('}') {
                    return Err(format!("`{text}`: `}}` without an opening `{{`"));
                }
                parts.push(Part::Literal(literal.to_owned()));
                rest = &rest[i..];
            }
            None => {
                if rest.contains('}') {
                    return Err(format!("`{text}`: `}}` without an opening `{{`"));
                }
                parts.push(Part::Literal(rest.to_owned()));
                rest = "";
            }
        }
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names() {
        assert!(tool_name_problem("get_status").is_none());
        assert!(tool_name_problem("crm.list-projects_2").is_none());
        assert!(tool_name_problem(&"a".repeat(128)).is_none());
        assert!(tool_name_problem("").is_some());
        assert!(tool_name_problem("has space").is_some());
        assert!(tool_name_problem("café").is_some());
        assert!(tool_name_problem(&"a".repeat(129)).is_some());
    }

    #[test]
    fn templates() {
        let var = |name: &str, reserved| Part::Var {
            name: name.into(),
            reserved,
        };
        assert_eq!(
            parse_uri_template("crm://p/{id}/x").unwrap(),
            [
                Part::Literal("crm://p/".into()),
                var("id", false),
                Part::Literal("/x".into())
            ]
        );
        assert_eq!(
            parse_uri_template("file:///{+path}").unwrap(),
            [Part::Literal("file:///".into()), var("path", true)]
        );
        for bad in [
            "crm://{a}{b}",
            "crm://{a",
            "crm://a}",
            "crm://a}/{b}",
            "crm://{?q}",
            "crm://{}",
            "crm://{a}/{a}",
        ] {
            assert!(parse_uri_template(bad).is_err(), "{bad}");
        }
        let e = parse_uri_template("crm://{a}{b}").unwrap_err();
        assert!(e.contains("next to each other"), "{e}");
    }
}
