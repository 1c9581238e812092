//! dbt's `return()` in macros. minijinja macros only produce text, so `return(x)` keeps
//! `x` aside and writes a marker into the macro's output, and every call of a macro that
//! returns is rewritten to `__dango_returned(name(…))`, which swaps that output for the
//! kept value. Line numbers are unchanged by the rewrite (no newlines are added).

use std::collections::HashSet;

use minijinja::{State, Value as JValue};

const MARKER: &str = "\u{1}dango-return:";

/// The values `return()` kept during one render, in the render's own state (a macro call
/// runs in its caller's state, so they all land in the same list).
#[derive(Default)]
struct Returned(Vec<JValue>);

/// `return(value)`: keeps `value`, outputs its marker.
pub fn return_fn(state: &mut State, value: JValue) -> JValue {
    let value = resolve(kept(state), value);
    let kept = &mut state.get_or_insert_extension(Returned::default()).0;
    kept.push(value);
    JValue::from_safe_string(format!("{MARKER}{}\u{1}", kept.len() - 1))
}

/// `__dango_returned(output)`: the value the macro returned, or its output if it did not.
pub fn returned_fn(state: &State, output: JValue) -> JValue {
    resolve(kept(state), output)
}

/// The values kept so far in `state`'s render.
pub fn kept<'a>(state: &'a State) -> &'a [JValue] {
    state
        .get_extension::<Returned>()
        .map(|r| r.0.as_slice())
        .unwrap_or_default()
}

/// The first returned value in a text (macros reached through `adapter.dispatch(...)()`
/// are not rewritten, so their markers can travel inside another macro's value).
fn resolve(returned: &[JValue], value: JValue) -> JValue {
    let mut value = value;
    for _ in 0..32 {
        let Some(index) = value.as_str().and_then(first_marker) else {
            return value;
        };
        match returned.get(index) {
            Some(kept) => value = kept.clone(),
            None => return value,
        }
    }
    value
}

fn first_marker(text: &str) -> Option<usize> {
    let start = text.find(MARKER)? + MARKER.len();
    let end = text[start..].find('\u{1}')?;
    text[start..start + end].parse().ok()
}

/// Replaces markers left in a final render with their values' text.
pub fn finish(text: &str, returned: &[JValue], show: impl Fn(&JValue) -> String) -> String {
    if !text.contains(MARKER) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(MARKER) {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        match (first_marker(after), after[MARKER.len()..].find('\u{1}')) {
            (Some(index), Some(end)) => {
                if let Some(value) = returned.get(index) {
                    out.push_str(&show(&resolve(returned, value.clone())));
                }
                rest = &after[MARKER.len() + end + 1..];
            }
            _ => {
                out.push_str(MARKER);
                rest = &after[MARKER.len()..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Macros whose body calls `return(`, from macro file sources.
pub fn returning_macros<'a>(sources: impl IntoIterator<Item = &'a str>) -> HashSet<String> {
    let mut names = HashSet::new();
    for source in sources {
        let mut rest = source;
        while let Some(pos) = rest.find("{%") {
            rest = &rest[pos + 2..];
            let tag = rest.trim_start_matches(['-', '+']).trim_start();
            let Some(after) = tag.strip_prefix("macro") else {
                continue;
            };
            if !after.starts_with(char::is_whitespace) {
                continue;
            }
            let name: String = after
                .trim_start()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let body_end = rest.find("endmacro").unwrap_or(rest.len());
            if !name.is_empty() && rest[..body_end].contains("return(") {
                names.insert(name);
            }
        }
    }
    names
}

/// Rewrites the Jinja blocks of `source`: `{% do return(x) %}` becomes `{{ return(x) }}`
/// and calls of `names` are wrapped in `__dango_returned(…)`.
pub fn rewrite(source: &str, names: &HashSet<String>) -> String {
    if names.is_empty() && !source.contains("return(") {
        return source.to_string();
    }
    let mut out = String::with_capacity(source.len() + 64);
    let mut rest = source;
    loop {
        let Some(open) = find_block_start(rest) else {
            out.push_str(rest);
            break;
        };
        out.push_str(&rest[..open]);
        let statement = rest[open..].starts_with("{%");
        let close_token = if statement { "%}" } else { "}}" };
        let inner_start = open + 2;
        let Some(close) = find_outside_strings(&rest[inner_start..], close_token) else {
            out.push_str(&rest[open..]);
            break;
        };
        let inner = &rest[inner_start..inner_start + close];
        let after = inner_start + close + 2;
        if statement {
            out.push_str(&rewrite_statement(inner, names));
        } else {
            out.push_str("{{");
            out.push_str(&wrap_calls(inner, names));
            out.push_str("}}");
        }
        rest = &rest[after..];
    }
    out
}

fn find_block_start(text: &str) -> Option<usize> {
    match (text.find("{{"), text.find("{%")) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn rewrite_statement(inner: &str, names: &HashSet<String>) -> String {
    let lead_len = inner.len() - inner.trim_start_matches(['-', '+']).len();
    let (lead, body) = inner.split_at(lead_len);
    let trail_len = body.len() - body.trim_end_matches(['-', '+']).len();
    let (body, trail) = body.split_at(body.len() - trail_len);
    let trimmed = body.trim_start();
    if let Some(call) = trimmed.strip_prefix("do")
        && call.trim_start().starts_with("return(")
    {
        return format!("{{{{{lead} {} {trail}}}}}", wrap_calls(call.trim(), names));
    }
    // A macro's own definition line is not a call.
    if trimmed.starts_with("macro ") || trimmed.starts_with("call ") {
        return format!("{{%{inner}%}}");
    }
    format!("{{%{lead}{}{trail}%}}", wrap_calls(body, names))
}

/// Wraps `name(args)` for every returning macro `name` in an expression.
fn wrap_calls(expression: &str, names: &HashSet<String>) -> String {
    if names.is_empty() {
        return expression.to_string();
    }
    let bytes = expression.as_bytes();
    let mut out = String::with_capacity(expression.len() + 32);
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\'' || c == b'"' {
            let end = string_end(expression, i);
            out.push_str(&expression[i..end]);
            i = end;
            continue;
        }
        let starts_word = (c.is_ascii_alphabetic() || c == b'_')
            && (i == 0
                || !(bytes[i - 1].is_ascii_alphanumeric() || matches!(bytes[i - 1], b'_' | b'.')));
        if !starts_word {
            out.push(c as char);
            i += 1;
            continue;
        }
        let word_end = expression[i..]
            .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
            .map_or(expression.len(), |n| i + n);
        let word = &expression[i..word_end];
        let paren = expression[word_end..]
            .find(|ch: char| !ch.is_whitespace())
            .map(|n| word_end + n);
        match paren {
            Some(p) if bytes[p] == b'(' && names.contains(word) => {
                let close = matching_paren(expression, p);
                out.push_str("__dango_returned(");
                out.push_str(word);
                out.push_str(&expression[word_end..p + 1]);
                out.push_str(&wrap_calls(&expression[p + 1..close], names));
                out.push(')');
                if close < expression.len() {
                    out.push(')');
                }
                i = (close + 1).min(expression.len());
            }
            _ => {
                out.push_str(word);
                i = word_end;
            }
        }
    }
    out
}

/// The index just past the string literal starting at `start`.
fn string_end(text: &str, start: usize) -> usize {
    let bytes = text.as_bytes();
    let quote = bytes[start];
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b if b == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The index of the `)` closing the `(` at `open` (or the end of the text).
fn matching_paren(text: &str, open: usize) -> usize {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = open;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' | b'"' => {
                i = string_end(text, i);
                continue;
            }
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

fn find_outside_strings(text: &str, token: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' | b'"' => i = string_end(text, i),
            _ if text[i..].starts_with(token) => return Some(i),
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_calls_and_do_return() {
        let names: HashSet<String> = ["cols".to_string()].into();
        let cases = [
            (
                "{% set c = cols('a', \"x)\") %}{{ c }}",
                "{% set c = __dango_returned(cols('a', \"x)\")) %}{{ c }}",
            ),
            (
                "{%- do return(cols(1)) -%}",
                "{{- return(__dango_returned(cols(1))) -}}",
            ),
            (
                "{% macro cols(x) %}{{ x.cols(1) }}{% endmacro %}",
                "{% macro cols(x) %}{{ x.cols(1) }}{% endmacro %}",
            ),
            ("select 1 -- cols(2)", "select 1 -- cols(2)"),
        ];
        for (source, expected) in cases {
            assert_eq!(rewrite(source, &names), expected);
        }
    }

    #[test]
    fn finds_returning_macros() {
        let names = returning_macros([
            "{% macro a() %}{{ return(1) }}{% endmacro %}\n{% macro b() %}x{% endmacro %}",
        ]);
        assert!(names.contains("a") && !names.contains("b"));
    }
}

#[cfg(test)]
mod render_tests {
    use super::*;

    #[test]
    fn a_macro_returns_a_value() {
        let mut env = minijinja::Environment::new();
        env.add_function("return", return_fn);
        env.add_function("__dango_returned", returned_fn);
        let macros =
            "{% macro kinds() %}\n  {%- set k = ['A', 'B'] -%}\n  {{ return(k) }}\n{% endmacro %}";
        let names = returning_macros([macros]);
        env.add_template_owned("m", rewrite(macros, &names))
            .unwrap();
        let source = rewrite(
            "{% from 'm' import kinds %}{% for x in kinds() %}{{ x }}{% endfor %}",
            &names,
        );
        let out = env.render_str(&source, ()).unwrap();
        assert_eq!(out, "AB");
    }
}
