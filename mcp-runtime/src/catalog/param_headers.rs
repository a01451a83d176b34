//! Tool arguments that travel as headers too (SEP-2243, 2026-07-28): an input-schema property
//! marked `"x-mcp-header": "Region"` is sent by clients as `Mcp-Param-Region`, so gateways can
//! route on it without reading bodies; the server checks that header and body agree.

use serde_json::Value;

/// One argument declared with `x-mcp-header`.
#[derive(Clone, Debug)]
pub(crate) struct ParamHeader {
    /// The property path from the arguments object (`properties` chains only).
    pub(crate) path: Vec<String>,
    /// `Mcp-Param-<name>`, as declared.
    pub(crate) header: String,
}

const ANNOTATION: &str = "x-mcp-header";

fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether a schema is of a string, a number or a boolean (or of one of them or null).
fn is_primitive(schema: &Value) -> bool {
    let one = |t: &str| matches!(t, "string" | "integer" | "number" | "boolean");
    match schema.get("type") {
        Some(Value::String(t)) => one(t),
        // `Option<T>` arguments: `["string", "null"]`.
        Some(Value::Array(ts)) => {
            let mut types = ts.iter().filter(|t| *t != "null");
            types.next().and_then(Value::as_str).is_some_and(one) && types.next().is_none()
        }
        _ => false,
    }
}

/// The arguments of an input schema that travel as headers, or what is wrong with the
/// declarations: a name that is not an HTTP token or is used twice (ignoring case), a
/// declaration on a value that is not a string, number or boolean, or one not reachable through
/// `properties` alone (under `items`, `anyOf`, `$ref`…).
pub(crate) fn scan(schema: &Value) -> Result<Vec<ParamHeader>, String> {
    let mut found = Vec::new();
    walk(schema, &mut Vec::new(), true, &mut found)?;
    let mut seen: Vec<String> = Vec::new();
    for p in &found {
        let lower = p.header.to_ascii_lowercase();
        if seen.contains(&lower) {
            return Err(format!(
                "`{ANNOTATION}` name `{}` is used twice",
                &p.header[10..]
            ));
        }
        seen.push(lower);
    }
    Ok(found)
}

fn walk(
    node: &Value,
    path: &mut Vec<String>,
    reachable: bool,
    found: &mut Vec<ParamHeader>,
) -> Result<(), String> {
    match node {
        Value::Array(items) => {
            for item in items {
                walk(item, path, false, found)?;
            }
        }
        Value::Object(map) => {
            if let Some(name) = map.get(ANNOTATION) {
                let shown = path.join(".");
                let Some(name) = name.as_str().filter(|n| is_token(n)) else {
                    return Err(format!(
                        "`{ANNOTATION}` of `{shown}` must be a header-name token (letters, digits, \
                         `-`…), got {name}"
                    ));
                };
                if !reachable || path.is_empty() {
                    return Err(format!(
                        "`{ANNOTATION}: {name}` must be on a property reached through \
                         `properties` alone (not under `items`, `anyOf`, `$ref`…)"
                    ));
                }
                if !is_primitive(node) {
                    return Err(format!(
                        "`{ANNOTATION}: {name}` is on `{shown}`, which is not a string, number or \
                         boolean"
                    ));
                }
                found.push(ParamHeader {
                    path: path.clone(),
                    header: format!("Mcp-Param-{name}"),
                });
            }
            for (key, child) in map {
                if key == "properties"
                    && let Value::Object(props) = child
                {
                    for (name, schema) in props {
                        path.push(name.clone());
                        walk(schema, path, reachable, found)?;
                        path.pop();
                    }
                } else if key != ANNOTATION {
                    walk(child, path, false, found)?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Checks the `Mcp-Param-*` headers of a `tools/call` against its arguments: an argument that is
/// present (and not null) needs its header, saying the same value (`=?base64?…?=` decoded;
/// numbers compared as numbers, see [`same_number`]). `decode` reads a header (`None` when
/// absent, `Err` when unreadable). The message of the first disagreement.
pub(crate) fn check(
    declared: &[ParamHeader],
    arguments: Option<&Value>,
    decode: impl Fn(&str) -> Option<Result<String, ()>>,
) -> Result<(), String> {
    for p in declared {
        let mut value = arguments;
        for key in &p.path {
            value = value.and_then(|v| v.get(key));
        }
        let Some(value) = value.filter(|v| !v.is_null()) else {
            continue; // No value, no header expected.
        };
        let header = &p.header;
        let said = match decode(header) {
            None => {
                return Err(format!(
                    "Header mismatch: the {header} header is missing; the argument `{}` is in the body",
                    p.path.join(".")
                ));
            }
            Some(Err(())) => {
                return Err(format!(
                    "Header mismatch: the {header} header is not valid text or base64"
                ));
            }
            Some(Ok(s)) => s,
        };
        let agrees = match value {
            Value::String(s) => *s == said,
            Value::Bool(b) => said == if *b { "true" } else { "false" },
            Value::Number(n) => same_number(&said, n),
            _ => false,
        };
        if !agrees {
            return Err(format!(
                "Header mismatch: {header} header value '{said}' does not match the argument `{}`",
                p.path.join(".")
            ));
        }
    }
    Ok(())
}

/// Whether a header's text names the body's number: exactly when both are integers (`42` is
/// not `43`, whatever their size), as `f64` when either is not (`42.0` is `42`).
fn same_number(said: &str, body: &serde_json::Number) -> bool {
    let body_integer = body
        .as_i64()
        .map(i128::from)
        .or_else(|| body.as_u64().map(i128::from));
    let digits = said.strip_prefix(['-', '+']).unwrap_or(said);
    let said_integer = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    match body_integer {
        // Past i128, the header's integer cannot be the body's (an i64 or u64).
        Some(body) if said_integer => said.parse::<i128>().is_ok_and(|said| said == body),
        _ => said
            .parse::<f64>()
            .ok()
            .zip(body.as_f64())
            .is_some_and(|(a, b)| a == b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn declarations() {
        let schema = json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "n": {"type": ["integer", "null"], "x-mcp-header": "N"},
            "deep": {"type": "object", "properties": {"on": {"type": "boolean", "x-mcp-header": "On"}}}
        }});
        let found = scan(&schema).unwrap();
        let mut names: Vec<_> = found.iter().map(|p| p.header.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["Mcp-Param-N", "Mcp-Param-On", "Mcp-Param-Region"]);
        for bad in [
            json!({"properties": {"a": {"type": "string", "x-mcp-header": "A B"}}}),
            json!({"properties": {"a": {"type": "object", "x-mcp-header": "A"}}}),
            json!({"properties": {"a": {"type": "array", "items": {"type": "string", "x-mcp-header": "A"}}}}),
            json!({"properties": {"a": {"anyOf": [{"type": "string", "x-mcp-header": "A"}]}}}),
            json!({"properties": {"a": {"type": "string", "x-mcp-header": "A"}, "b": {"type": "string", "x-mcp-header": "a"}}}),
            json!({"x-mcp-header": "Root", "type": "object"}),
        ] {
            assert!(scan(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn header_and_body_agree() {
        let declared = scan(&json!({"properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "n": {"type": "integer", "x-mcp-header": "N"},
            "on": {"type": "boolean", "x-mcp-header": "On"}
        }}))
        .unwrap();
        fn with<'a>(
            pairs: &'a [(&'a str, &'a str)],
        ) -> impl Fn(&str) -> Option<Result<String, ()>> + 'a {
            move |h: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(h))
                    .map(|(_, v)| {
                        if *v == "!" {
                            Err(())
                        } else {
                            Ok((*v).to_owned())
                        }
                    })
            }
        }
        let args = json!({"region": "eu", "n": 42, "on": true});
        let all: [(&str, &str); 3] = [
            ("mcp-param-region", "eu"),
            ("mcp-param-n", "42.0"),
            ("mcp-param-on", "true"),
        ];
        assert_eq!(check(&declared, Some(&args), with(&all)), Ok(()));
        assert!(
            check(&declared, Some(&args), with(&all[1..]))
                .unwrap_err()
                .contains("missing")
        );
        let wrong = [
            ("mcp-param-region", "us"),
            ("mcp-param-n", "42"),
            ("mcp-param-on", "true"),
        ];
        assert!(
            check(&declared, Some(&args), with(&wrong))
                .unwrap_err()
                .contains("'us'")
        );
        let unreadable = [
            ("mcp-param-region", "!"),
            ("mcp-param-n", "42"),
            ("mcp-param-on", "true"),
        ];
        assert!(
            check(&declared, Some(&args), with(&unreadable))
                .unwrap_err()
                .contains("base64")
        );
        // Absent or null arguments expect no header.
        assert_eq!(
            check(&declared, Some(&json!({"region": null})), with(&[])),
            Ok(())
        );
        assert_eq!(check(&declared, None, with(&[])), Ok(()));
    }

    #[test]
    fn integers_compare_exactly() {
        let n = |v: Value| match v {
            Value::Number(n) => n,
            _ => unreachable!(),
        };
        // Equal as f64 (2^53 + 1 rounds to 2^53), different as integers.
        assert!(!same_number(
            "9007199254740993",
            &n(json!(9007199254740992_u64))
        ));
        assert!(!same_number(
            "9007199254740992",
            &n(json!(9007199254740993_u64))
        ));
        assert!(same_number(
            "9007199254740993",
            &n(json!(9007199254740993_u64))
        ));
        assert!(!same_number(
            "-9007199254740993",
            &n(json!(-9007199254740992_i64))
        ));
        assert!(same_number(
            "-9007199254740993",
            &n(json!(-9007199254740993_i64))
        ));
        assert!(same_number("+7", &n(json!(7))));
        // u64 beyond i64, and an integer beyond u64 that rounds to it as f64.
        assert!(same_number("18446744073709551615", &n(json!(u64::MAX))));
        assert!(!same_number("18446744073709551616", &n(json!(u64::MAX))));
        assert!(!same_number("-1", &n(json!(u64::MAX))));
        // A float on either side: compared as f64.
        assert!(same_number("42.0", &n(json!(42))));
        assert!(same_number("42", &n(json!(42.0))));
        assert!(same_number("4.2e1", &n(json!(42))));
        assert!(!same_number("42.5", &n(json!(42))));
        assert!(!same_number("forty-two", &n(json!(42))));
        assert!(!same_number("", &n(json!(0))));
        // Through `check`.
        let declared = scan(&json!({"properties": {
            "id": {"type": "integer", "x-mcp-header": "Id"}
        }}))
        .unwrap();
        let said = |h: &str| {
            h.eq_ignore_ascii_case("mcp-param-id")
                .then(|| Ok("9007199254740993".to_owned()))
        };
        let args = json!({"id": 9007199254740992_u64});
        assert!(
            check(&declared, Some(&args), said)
                .unwrap_err()
                .contains("does not match the argument `id`")
        );
    }
}
