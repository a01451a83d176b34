//! Resource URI templates: any template and URI never panic; a URI built from a template by
//! putting plain values in its variables matches it and gives those values back.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Part {
    Literal(String),
    Var(u8),
}

#[derive(Arbitrary, Debug)]
struct Input {
    template: String,
    uri: String,
    parts: Vec<Part>,
    values: Vec<String>,
}

const NAMES: [&str; 4] = ["id", "name", "version", "path"];

fuzz_target!(|input: Input| {
    // Any text.
    if let Ok((names, Some(Ok(vars)))) =
        mcp_runtime::__fuzz::uri_template(&input.template, &input.uri)
    {
        let got: Vec<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(got, names.iter().map(String::as_str).collect::<Vec<_>>());
    }
    // A template built from parts, and a URI built from it with plain values.
    let mut template = String::new();
    let mut uri = String::new();
    let mut expected = Vec::new();
    let mut values = input.values.iter();
    let mut last_was_var = false;
    let mut used = Vec::new();
    for part in &input.parts {
        match part {
            Part::Literal(l) => {
                if l.contains(['{', '}']) || l.is_empty() {
                    return;
                }
                template.push_str(l);
                uri.push_str(l);
                last_was_var = false;
            }
            Part::Var(i) => {
                let name = NAMES[usize::from(*i) % NAMES.len()];
                if last_was_var || used.contains(&name) {
                    return;
                }
                used.push(name);
                let value: String = values
                    .next()
                    .map(|v| v.chars().filter(char::is_ascii_alphanumeric).collect())
                    .unwrap_or_default();
                if value.is_empty() {
                    return;
                }
                template.push_str(&format!("{{{name}}}"));
                uri.push_str(&value);
                expected.push((name.to_owned(), value));
                last_was_var = true;
            }
        }
    }
    // The shortest match rule: a value ends where the literal that follows it first occurs.
    let mut rest = input.parts.iter().peekable();
    let mut k = 0;
    while let Some(p) = rest.next() {
        if let Part::Var(_) = p {
            if let Some(Part::Literal(next)) = rest.peek()
                && format!("{}{next}", expected[k].1).find(next.as_str())
                    != Some(expected[k].1.len())
            {
                return;
            }
            k += 1;
        }
    }
    match mcp_runtime::__fuzz::uri_template(&template, &uri) {
        Err(_) => {} // A template the parser refuses (a literal it does not take, say).
        Ok((_, matched)) => {
            let vars = matched
                .unwrap_or_else(|| panic!("{uri:?} does not match {template:?}"))
                .unwrap_or_else(|e| panic!("{uri:?} against {template:?}: {e}"));
            assert_eq!(vars, expected, "{uri:?} against {template:?}");
        }
    }
});
