//! The served OpenAPI document as a checker. A JSON value is checked against a schema of
//! the document: `$ref`, `allOf`/`anyOf`/`oneOf`, `type`, `nullable`, `enum`,
//! `required`, `properties`, `additionalProperties`, `items`, `minItems`/`maxItems`,
//! `minLength`/`maxLength`, `pattern`, `minimum`/`maximum`, and the formats `date-time`,
//! `date` and `uuid`. The request guard checks JSON bodies with it, so a body is refused
//! exactly when it contradicts the published contract (a number where a string is
//! declared, a role outside its enum); the integration suite checks every response.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;

pub struct Contract {
    spec: Value,
    /// (method, path template, JSON pointer of the operation) for every operation.
    operations: Vec<(String, String, String)>,
    patterns: Mutex<HashMap<String, Option<regex::Regex>>>,
}

impl Contract {
    pub fn new(spec: Value) -> Self {
        let mut operations = Vec::new();
        if let Some(paths) = spec.get("paths").and_then(Value::as_object) {
            for (path, item) in paths {
                for method in item.as_object().map(|m| m.keys()).into_iter().flatten() {
                    let pointer = format!(
                        "/paths/{}/{method}",
                        path.replace('~', "~0").replace('/', "~1")
                    );
                    operations.push((method.to_uppercase(), path.clone(), pointer));
                }
            }
        }
        Self {
            spec,
            operations,
            patterns: Mutex::default(),
        }
    }

    pub fn spec(&self) -> &Value {
        &self.spec
    }

    /// The operation a request is for, with its path template (literal segments win).
    pub fn operation(&self, method: &str, path: &str) -> Option<(&str, &Value)> {
        let segments: Vec<&str> = path.split('/').collect();
        let mut best: Option<(usize, &str, &str)> = None;
        for (op_method, template, pointer) in &self.operations {
            if op_method != method {
                continue;
            }
            if let Some(literals) = super::access::literal_match(template, &segments)
                && best.is_none_or(|(n, _, _)| literals > n)
            {
                best = Some((literals, template, pointer));
            }
        }
        let (_, template, pointer) = best?;
        Some((template, self.spec.pointer(pointer)?))
    }

    /// The JSON schema of an operation's request body, if it takes JSON.
    pub fn json_request_schema<'a>(&self, operation: &'a Value) -> Option<&'a Value> {
        json_schema(operation.pointer("/requestBody/content")?)
    }

    /// The JSON schema of an operation's response with `status`, if it is JSON.
    pub fn json_response_schema<'a>(&self, operation: &'a Value, status: u16) -> Option<&'a Value> {
        json_schema(
            operation
                .get("responses")?
                .get(status.to_string())?
                .get("content")?,
        )
    }

    /// Problems of `value` against `schema`, each prefixed with where it is (`body.name`).
    pub fn check(&self, schema: &Value, value: &Value, at: &str) -> Vec<String> {
        let mut problems = Vec::new();
        self.check_into(schema, value, at, &mut problems, 0);
        problems
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        let mut current = schema;
        for _ in 0..16 {
            match current
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix('#'))
                .and_then(|pointer| self.spec.pointer(pointer))
            {
                Some(target) => current = target,
                None => break,
            }
        }
        current
    }

    fn check_into(
        &self,
        schema: &Value,
        value: &Value,
        at: &str,
        problems: &mut Vec<String>,
        depth: usize,
    ) {
        if depth > 64 {
            return;
        }
        let nullable = schema.get("nullable").and_then(Value::as_bool) == Some(true);
        let schema = self.resolve(schema);
        if let Some(reference) = schema.get("$ref") {
            problems.push(format!("{at}: the document has no schema {reference}"));
            return;
        }
        if value.is_null() && (nullable || schema.get("nullable") == Some(&Value::Bool(true))) {
            return;
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for part in all {
                self.check_into(part, value, at, problems, depth + 1);
            }
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(options) = schema.get(key).and_then(Value::as_array) {
                let fits = |s: &Value| self.check(s, value, at).is_empty();
                let matching = options.iter().filter(|s| fits(s)).count();
                if matching == 0 || (key == "oneOf" && matching > 1) {
                    problems.push(format!("{at}: does not match {key} of its schema"));
                }
            }
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            let names: Vec<String> = allowed.iter().map(Value::to_string).collect();
            problems.push(format!("{at}: {value} is not one of {}", names.join(", ")));
            return;
        }
        if let Some(expected) = schema.get("type").and_then(Value::as_str)
            && !has_type(value, expected)
        {
            problems.push(format!("{at}: expected {expected}, got {}", kind(value)));
            return;
        }
        match value {
            Value::Object(map) => self.check_object(schema, map, at, problems, depth),
            Value::Array(items) => {
                let count = items.len() as u64;
                if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
                    && count < min
                {
                    problems.push(format!("{at}: needs at least {min} item(s)"));
                }
                if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
                    && count > max
                {
                    problems.push(format!("{at}: takes at most {max} item(s)"));
                }
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.check_into(
                            item_schema,
                            item,
                            &format!("{at}[{i}]"),
                            problems,
                            depth + 1,
                        );
                    }
                }
            }
            Value::String(text) => self.check_string(schema, text, at, problems),
            Value::Number(number) => {
                let n = number.as_f64().unwrap_or(0.0);
                if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
                    && n < min
                {
                    problems.push(format!("{at}: {n} is below the minimum {min}"));
                }
                if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
                    && n > max
                {
                    problems.push(format!("{at}: {n} is above the maximum {max}"));
                }
            }
            _ => {}
        }
    }

    fn check_object(
        &self,
        schema: &Value,
        map: &serde_json::Map<String, Value>,
        at: &str,
        problems: &mut Vec<String>,
        depth: usize,
    ) {
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !map.contains_key(name) {
                problems.push(format!("{at}.{name}: is required"));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (name, item) in map {
            let path = format!("{at}.{name}");
            match properties.and_then(|p| p.get(name)) {
                Some(property) => self.check_into(property, item, &path, problems, depth + 1),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        problems.push(format!("{path}: is not a known field"))
                    }
                    Some(extra @ Value::Object(_)) => {
                        self.check_into(extra, item, &path, problems, depth + 1)
                    }
                    _ => {}
                },
            }
        }
    }

    fn check_string(&self, schema: &Value, text: &str, at: &str, problems: &mut Vec<String>) {
        let length = text.chars().count() as u64;
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
            && length < min
        {
            problems.push(format!("{at}: needs at least {min} character(s)"));
        }
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
            && length > max
        {
            problems.push(format!("{at}: takes at most {max} characters"));
        }
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
            && !self.matches(pattern, text)
        {
            problems.push(format!("{at}: does not match the pattern {pattern}"));
        }
        let valid = match schema.get("format").and_then(Value::as_str) {
            Some("date-time") => chrono::DateTime::parse_from_rfc3339(text).is_ok(),
            Some("date") => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok(),
            Some("uuid") => uuid::Uuid::parse_str(text).is_ok(),
            _ => true,
        };
        if !valid {
            let format = schema["format"].as_str().unwrap_or_default();
            problems.push(format!("{at}: {text:?} is not a valid {format}"));
        }
    }

    fn matches(&self, pattern: &str, text: &str) -> bool {
        let mut cache = self.patterns.lock().unwrap_or_else(|e| e.into_inner());
        let compiled = cache
            .entry(pattern.to_string())
            .or_insert_with(|| regex::Regex::new(pattern).ok());
        compiled.as_ref().is_none_or(|re| re.is_match(text))
    }
}

/// The schema of the `application/json` entry (with or without parameters) of `content`.
fn json_schema(content: &Value) -> Option<&Value> {
    content
        .as_object()?
        .iter()
        .find(|(media, _)| media.split(';').next() == Some("application/json"))
        .and_then(|(_, entry)| entry.get("schema"))
}

fn has_type(value: &Value, expected: &str) -> bool {
    match expected {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn contract() -> Contract {
        Contract::new(json!({
            "paths": {
                "/api/things/{id}": {"post": {"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}}},
                "/api/things/new": {"post": {"operationId": "literal"}}
            },
            "components": {"schemas": {
                "Thing": {"type": "object", "required": ["name", "role"], "properties": {
                    "name": {"type": "string", "maxLength": 5},
                    "role": {"type": "string", "enum": ["admin", "viewer"]},
                    "when": {"type": "string", "format": "date-time", "nullable": true},
                    "day": {"type": "string", "format": "date"},
                    "tags": {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": "^[a-z_]+$"}},
                    "child": {"allOf": [{"$ref": "#/components/schemas/Child"}], "nullable": true}
                }},
                "Child": {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer", "minimum": 0}}}
            }}
        }))
    }

    #[test]
    fn valid_values_pass() {
        let c = contract();
        let (_, op) = c.operation("POST", "/api/things/7").unwrap();
        let schema = c.json_request_schema(op).unwrap();
        let ok = json!({"name": "ab", "role": "admin", "when": null, "day": "2026-01-31", "tags": ["a_b"], "child": {"n": 3}});
        assert_eq!(c.check(schema, &ok, "body"), Vec::<String>::new());
        assert!(
            c.check(
                schema,
                &json!({"name": "x", "role": "viewer", "child": null}),
                "body"
            )
            .is_empty()
        );
    }

    #[test]
    fn each_rule_is_enforced() {
        let c = contract();
        let schema = json!({"$ref": "#/components/schemas/Thing"});
        let problems = c.check(
            &schema,
            &json!({"name": 123, "role": "root", "when": "yesterday", "day": "2026-02-30",
                    "tags": [], "child": {"n": -1}}),
            "body",
        );
        let text = problems.join("\n");
        for expected in [
            "body.name: expected string, got a number",
            "body.role: \"root\" is not one of",
            "body.when: \"yesterday\" is not a valid date-time",
            "body.day: \"2026-02-30\" is not a valid date",
            "body.tags: needs at least 1 item(s)",
            "body.child.n: -1 is below the minimum 0",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        let missing = c
            .check(&schema, &json!({"tags": ["BAD"]}), "body")
            .join("\n");
        assert!(
            missing.contains("body.name: is required")
                && missing.contains("body.role: is required")
        );
        assert!(missing.contains("body.tags[0]: does not match the pattern"));
        assert!(
            !c.check(&schema, &json!({"name": "toolong", "role": "admin"}), "b")
                .is_empty()
        );
    }

    #[test]
    fn literal_paths_win_over_parameters() {
        let c = contract();
        assert_eq!(
            c.operation("POST", "/api/things/new").unwrap().0,
            "/api/things/new"
        );
        assert_eq!(
            c.operation("POST", "/api/things/x").unwrap().0,
            "/api/things/{id}"
        );
        assert!(c.operation("GET", "/api/things/x").is_none());
    }
}
