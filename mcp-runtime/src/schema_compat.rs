//! Tool schemas every client accepts: the form of a derived JSON Schema that strict clients of
//! the handshake era take (Gemini CLI, Copilot, draft-07 clients such as Kiro), made once when a
//! tool is built.
//!
//! - `$schema` is left out (the dialect is then the client's default).
//! - `$ref`s into `$defs` are inlined; a recursive type keeps its `$defs` and the `$ref`s that
//!   recurse (reported once, when the server is built).
//! - An `Option<T>` is described as `T`: `type: ["T", "null"]` becomes `type: "T"`, a `null`
//!   branch of `anyOf`/`oneOf` is dropped, and `null` leaves `enum`. An optional parameter is
//!   simply not `required`; the server still accepts `null` for it.
//! - Integer formats that are not JSON Schema's (`uint32`, `int64`, …) become `minimum` and
//!   `maximum`; other non-standard numeric formats (`double`, `float`) are dropped.
//! - The root is always `type: object`.

use serde_json::{Map, Value, json};

/// The compatible form of `schema`, and whether it had to keep `$defs` (a recursive type).
pub(crate) fn compatible(schema: &Value) -> (Value, bool) {
    let defs = schema
        .get("$defs")
        .or_else(|| schema.get("definitions"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut kept = Map::new();
    let mut stack = Vec::new();
    let mut out = inline(schema, &defs, &mut stack, &mut kept);
    if let Some(o) = out.as_object_mut() {
        o.remove("$schema");
        o.remove("$defs");
        o.remove("definitions");
        if o.get("type") != Some(&Value::String("object".into())) {
            o.insert("type".into(), json!("object"));
        }
        let recursive = !kept.is_empty();
        if recursive {
            o.insert("$defs".into(), Value::Object(kept));
        }
        return (out, recursive);
    }
    (out, false)
}

fn def_name(reference: &str) -> Option<&str> {
    reference
        .strip_prefix("#/$defs/")
        .or_else(|| reference.strip_prefix("#/definitions/"))
}

/// Rewrites one schema node: inlines references, drops `null` branches, maps formats.
fn inline(
    node: &Value,
    defs: &Map<String, Value>,
    stack: &mut Vec<String>,
    kept: &mut Map<String, Value>,
) -> Value {
    match node {
        Value::Array(items) => {
            Value::Array(items.iter().map(|i| inline(i, defs, stack, kept)).collect())
        }
        Value::Object(o) => {
            if let Some(name) = o.get("$ref").and_then(Value::as_str).and_then(def_name)
                && let Some(target) = defs.get(name)
            {
                if stack.iter().any(|s| s == name) {
                    // Recursion: keep the reference, and the definition (once, rewritten).
                    if !kept.contains_key(name) {
                        kept.insert(name.to_owned(), Value::Null);
                        let body = inline(target, defs, stack, kept);
                        kept.insert(name.to_owned(), body);
                    }
                    let mut r = o.clone();
                    r.insert("$ref".into(), json!(format!("#/$defs/{name}")));
                    return Value::Object(r);
                }
                stack.push(name.to_owned());
                let mut merged = match inline(target, defs, stack, kept) {
                    Value::Object(t) => t,
                    other => {
                        stack.pop();
                        return other;
                    }
                };
                stack.pop();
                // Sibling keywords of the reference (a description) win over the target's.
                for (k, v) in o {
                    if k != "$ref" {
                        merged.insert(k.clone(), inline(v, defs, stack, kept));
                    }
                }
                return simplify(merged);
            }
            let mut out = Map::new();
            for (k, v) in o {
                if k == "$defs" || k == "definitions" {
                    continue;
                }
                out.insert(k.clone(), inline(v, defs, stack, kept));
            }
            simplify(out)
        }
        other => other.clone(),
    }
}

fn is_null_schema(v: &Value) -> bool {
    v.get("type") == Some(&Value::String("null".into()))
        || v.get("const") == Some(&Value::Null)
        || v.get("enum") == Some(&json!([null]))
}

/// Drops `null` from a node and maps its numeric format.
fn simplify(mut o: Map<String, Value>) -> Value {
    if let Some(Value::Array(types)) = o.get("type") {
        let rest: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        match rest.len() {
            0 => {}
            1 => {
                o.insert("type".into(), rest[0].clone());
            }
            _ => {
                o.insert("type".into(), Value::Array(rest));
            }
        }
    }
    if let Some(Value::Array(values)) = o.get("enum")
        && values.iter().any(Value::is_null)
        && values.len() > 1
    {
        let rest: Vec<Value> = values.iter().filter(|v| !v.is_null()).cloned().collect();
        o.insert("enum".into(), Value::Array(rest));
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = o.get(key)
            && branches.iter().any(is_null_schema)
        {
            let rest: Vec<Value> = branches
                .iter()
                .filter(|b| !is_null_schema(b))
                .cloned()
                .collect();
            if rest.len() == 1 {
                o.remove(key);
                let Value::Object(inner) = rest.into_iter().next().expect("one branch") else {
                    continue;
                };
                for (k, v) in inner {
                    o.entry(k).or_insert(v);
                }
            } else if !rest.is_empty() {
                o.insert(key.into(), Value::Array(rest));
            }
        }
    }
    if let Some(Value::String(format)) = o.get("format") {
        let range: Option<(i128, i128)> = match format.as_str() {
            "uint8" => Some((0, u8::MAX.into())),
            "uint16" => Some((0, u16::MAX.into())),
            "uint32" => Some((0, u32::MAX.into())),
            "uint64" | "uint" | "uint128" => Some((0, u64::MAX.into())),
            "int8" => Some((i8::MIN.into(), i8::MAX.into())),
            "int16" => Some((i16::MIN.into(), i16::MAX.into())),
            "int32" => Some((i32::MIN.into(), i32::MAX.into())),
            "int64" | "int" | "int128" => Some((i64::MIN.into(), i64::MAX.into())),
            _ => None,
        };
        let drop = range.is_some() || matches!(format.as_str(), "double" | "float");
        if let Some((min, max)) = range {
            let int = |x: i128| match u64::try_from(x) {
                Ok(u) => json!(u),
                Err(_) => json!(i64::try_from(x).unwrap_or(i64::MIN)),
            };
            #[allow(clippy::cast_precision_loss)]
            let (fmin, fmax) = (min as f64, max as f64);
            let tighter_min = o
                .get("minimum")
                .and_then(Value::as_f64)
                .is_some_and(|m| m >= fmin);
            if !tighter_min {
                o.insert("minimum".into(), int(min));
            }
            let tighter_max = o
                .get("maximum")
                .and_then(Value::as_f64)
                .is_some_and(|m| m <= fmax);
            if !tighter_max {
                o.insert("maximum".into(), int(max));
            }
        }
        if drop {
            o.remove("format");
        }
    }
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_refs_formats_and_dialect() {
        let full = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "limit": {"type": ["integer", "null"], "format": "uint32", "minimum": 0, "description": "At most."},
                "kind": {"anyOf": [{"$ref": "#/$defs/Kind"}, {"type": "null"}], "description": "Which."},
                "point": {"$ref": "#/$defs/Point"},
                "ratio": {"type": "number", "format": "double"},
                "when": {"type": "string", "format": "date-time"},
                "tag": {"type": ["string", "null"], "enum": ["a", "b", null]}
            },
            "required": ["point"],
            "$defs": {
                "Kind": {"type": "string", "enum": ["x", "y"]},
                "Point": {"type": "object", "properties": {"x": {"type": "integer", "format": "int64"}}, "required": ["x"]}
            }
        });
        let (compat, recursive) = compatible(&full);
        assert!(!recursive);
        assert_eq!(
            compat,
            json!({
                "type": "object",
                "properties": {
                    "limit": {"type": "integer", "minimum": 0, "maximum": 4294967295_u64, "description": "At most."},
                    "kind": {"type": "string", "enum": ["x", "y"], "description": "Which."},
                    "point": {"type": "object", "properties": {"x": {"type": "integer", "minimum": i64::MIN, "maximum": i64::MAX}}, "required": ["x"]},
                    "ratio": {"type": "number"},
                    "when": {"type": "string", "format": "date-time"},
                    "tag": {"type": "string", "enum": ["a", "b"]}
                },
                "required": ["point"]
            })
        );
    }

    #[test]
    fn recursive_types_keep_their_defs() {
        let full = json!({
            "type": "object",
            "properties": {"root": {"$ref": "#/$defs/Node"}},
            "$defs": {"Node": {"type": "object", "properties": {
                "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}}}
        });
        let (compat, recursive) = compatible(&full);
        assert!(recursive);
        assert_eq!(
            compat["properties"]["root"]["properties"]["children"]["items"],
            json!({"$ref": "#/$defs/Node"})
        );
        assert_eq!(
            compat["$defs"]["Node"]["properties"]["children"]["items"],
            json!({"$ref": "#/$defs/Node"})
        );
    }
}
