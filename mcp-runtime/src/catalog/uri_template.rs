//! URI templates (RFC 6570) as resource templates use them: parsing, and matching a URI back to
//! the values of its variables, checked before any resource function sees them.
//!
//! Supported: literal text, `{var}` (simple expansion: the value has no reserved character, so
//! it stops at `/`, `?`, `#`, …) and `{+var}` (reserved expansion: the value may contain `/`).
//! Values are percent-decoded once. A decoded value is refused when it contains a `..` path
//! segment, starts like an absolute path (`/`, `\`, `C:`), or contains NUL or another control
//! character: resource functions often turn variables into paths or keys.

use std::fmt;

use mcp_runtime_rules::Part;

/// A parsed URI template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UriTemplate {
    text: String,
    parts: Vec<Part>,
}

/// Why a URI's variable was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct VarProblem {
    pub(crate) name: String,
    pub(crate) reason: &'static str,
}

impl fmt::Display for VarProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "variable `{}` {}", self.name, self.reason)
    }
}

impl UriTemplate {
    /// Parses a template (the grammar the attribute macros check too); the error says what is
    /// wrong with it.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        Ok(Self {
            text: text.to_owned(),
            parts: mcp_runtime_rules::parse_uri_template(text)?,
        })
    }

    /// The template as written.
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// The variable names, in order.
    pub(crate) fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var { name, .. } => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// Matches a URI: `None` when it is not of this template, else the decoded variables or the
    /// first variable refused.
    pub(crate) fn matches(&self, uri: &str) -> Option<Result<Vec<(String, String)>, VarProblem>> {
        let mut vars = Vec::new();
        let mut rest = uri;
        let mut parts = self.parts.iter().peekable();
        while let Some(part) = parts.next() {
            match part {
                Part::Literal(l) => rest = rest.strip_prefix(l.as_str())?,
                Part::Var { name, reserved } => {
                    // The value runs to the next literal (or the end): the shortest such match.
                    let end = match parts.peek() {
                        Some(Part::Literal(next)) => rest.find(next.as_str())?,
                        _ => rest.len(),
                    };
                    let raw = &rest[..end];
                    let stops: &[char] = if *reserved {
                        &['?', '#']
                    } else {
                        &['/', '?', '#']
                    };
                    if raw.is_empty() || raw.contains(stops) {
                        return None;
                    }
                    vars.push((name.clone(), raw.to_owned()));
                    rest = &rest[end..];
                }
            }
        }
        if !rest.is_empty() {
            return None;
        }
        Some(
            vars.into_iter()
                .map(|(name, raw)| match decode(&raw) {
                    Ok(value) => Ok((name, value)),
                    Err(reason) => Err(VarProblem { name, reason }),
                })
                .collect(),
        )
    }
}

/// Percent-decodes once and checks the value.
fn decode(raw: &str) -> Result<String, &'static str> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("has a `%` that is not followed by two hex digits")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let value = String::from_utf8(out).map_err(|_| "is not UTF-8 once percent-decoded")?;
    if value.chars().any(char::is_control) {
        return Err("contains a control character");
    }
    if value.split(['/', '\\']).any(|seg| seg == "..") {
        return Err("contains a `..` path segment");
    }
    let b = value.as_bytes();
    if b.first().is_some_and(|c| *c == b'/' || *c == b'\\')
        || (b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':')
    {
        return Err("is an absolute path");
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(t: &str, uri: &str) -> Option<Result<Vec<(String, String)>, VarProblem>> {
        UriTemplate::parse(t).unwrap().matches(uri)
    }

    fn ok(pairs: &[(&str, &str)]) -> Option<Result<Vec<(String, String)>, VarProblem>> {
        Some(Ok(pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()))
    }

    #[test]
    fn parses_and_matches() {
        assert_eq!(
            vars("test://template/{id}/data", "test://template/123/data"),
            ok(&[("id", "123")])
        );
        assert_eq!(
            vars("crm://projects/{id}", "crm://projects/7"),
            ok(&[("id", "7")])
        );
        assert_eq!(vars("crm://projects/{id}", "crm://projects/7/x"), None);
        assert_eq!(vars("crm://projects/{id}", "crm://projects/"), None);
        assert_eq!(
            vars("crm://a/{x}-{y}", "crm://a/1-2"),
            ok(&[("x", "1"), ("y", "2")])
        );
        assert_eq!(
            vars("file:///{+path}", "file:///src/main.rs"),
            ok(&[("path", "src/main.rs")])
        );
        assert_eq!(
            vars("crm://p/{name}", "crm://p/a%20b"),
            ok(&[("name", "a b")])
        );
        let t = UriTemplate::parse("crm://{a}/{b}").unwrap();
        assert_eq!(t.variables().collect::<Vec<_>>(), ["a", "b"]);
        assert!(UriTemplate::parse("crm://{a}{b}").is_err());
        assert!(UriTemplate::parse("crm://{a").is_err());
        assert!(UriTemplate::parse("crm://a}").is_err());
        assert!(UriTemplate::parse("crm://{?q}").is_err());
        assert!(UriTemplate::parse("crm://{a}/{a}").is_err());
    }

    #[test]
    fn refuses_tricks() {
        let refused = |t: &str, uri: &str| matches!(vars(t, uri), Some(Err(_)));
        // Traversal, whether raw (reserved expansion) or percent-encoded.
        assert!(refused("file:///{+path}", "file:///a/../../etc/passwd"));
        assert!(refused("file:///{name}", "file:///..%2F..%2Fetc%2Fpasswd"));
        assert!(refused("file:///{name}", "file:///%2E%2E"));
        assert!(refused("file:///{name}", "file:///..%5Cwindows"));
        // Absolute paths.
        assert!(refused("file:///{name}", "file:///%2Fetc%2Fpasswd"));
        assert!(refused("file:///{name}", "file:///C:%5Cboot.ini"));
        assert!(refused("file:///{+path}", "file:////etc/passwd"));
        // NUL and control characters.
        assert!(refused("file:///{name}", "file:///a%00b"));
        assert!(refused("file:///{name}", "file:///a%0Ab"));
        // Decoded once: `%252E` stays `%2E`, which is harmless text.
        assert_eq!(
            vars("file:///{name}", "file:///%252E%252E"),
            ok(&[("name", "%2E%2E")])
        );
        // Bad escapes.
        assert!(refused("file:///{name}", "file:///a%zz"));
        assert!(refused("file:///{name}", "file:///a%"));
        assert!(refused("file:///{name}", "file:///%C3%28"));
        // Dots inside a name are fine.
        assert_eq!(
            vars("file:///{name}", "file:///a..b"),
            ok(&[("name", "a..b")])
        );
    }
}
