//! Node configuration: the merged result of `dbt_project.yml` (per folder, `+key`),
//! property files (`config:` in schema.yml) and `{{ config(...) }}` in the SQL, in
//! that order of precedence. `tags` accumulate and `meta` merges, as in dbt.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Keys accepted without a `+` prefix in `dbt_project.yml` (anything else that maps to a
/// mapping is a sub-folder).
const KNOWN_KEYS: &[&str] = &[
    "materialized",
    "schema",
    "alias",
    "database",
    "tags",
    "enabled",
    "unique_key",
    "incremental_strategy",
    "on_schema_change",
    "full_refresh",
    "pre-hook",
    "post-hook",
    "pre_hook",
    "post_hook",
    "column_types",
    "quote_columns",
    "delimiter",
    "meta",
    "docs",
    "persist_docs",
    "grants",
    "contract",
    "sql_header",
    "strategy",
    "updated_at",
    "check_cols",
    "target_schema",
    "target_database",
    "invalidate_hard_deletes",
    "hard_deletes",
    "severity",
    "where",
    "warn_if",
    "error_if",
    "limit",
    "store_failures",
    "quoting",
    "group",
    "access",
    "docs",
    "bind",
    "snapshot_meta_column_names",
    "dbt_valid_to_current",
    "event_time",
];

#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeConfig {
    pub values: Map<String, Value>,
}

fn normalize_key(key: &str) -> String {
    key.trim_start_matches('+').replace('-', "_")
}

impl NodeConfig {
    /// Applies one layer of configuration on top of this one.
    pub fn apply(&mut self, layer: &Map<String, Value>) {
        for (key, value) in layer {
            let key = normalize_key(key);
            match key.as_str() {
                "tags" => {
                    let mut tags = self.tags();
                    for tag in as_string_list(value) {
                        if !tags.contains(&tag) {
                            tags.push(tag);
                        }
                    }
                    self.values.insert("tags".into(), Value::from(tags));
                }
                // Hooks accumulate from the project down to the model, as in dbt.
                "pre_hook" | "post_hook" => {
                    let mut hooks = self.hooks(&key);
                    hooks.extend(hook_list(value));
                    self.values.insert(key, Value::from(hooks));
                }
                "meta" => {
                    let mut meta = self
                        .values
                        .get("meta")
                        .and_then(Value::as_object)
                        .cloned()
                        .unwrap_or_default();
                    if let Some(layer_meta) = value.as_object() {
                        meta.extend(layer_meta.clone());
                    }
                    self.values.insert("meta".into(), Value::Object(meta));
                }
                _ => {
                    self.values.insert(key, value.clone());
                }
            }
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    pub fn str(&self, key: &str) -> Option<String> {
        match self.values.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.values.get(key)? {
            Value::Bool(b) => Some(*b),
            Value::String(s) => Some(s.eq_ignore_ascii_case("true")),
            _ => None,
        }
    }

    /// `pre_hook` or `post_hook` statements, in the order they run.
    pub fn hooks(&self, key: &str) -> Vec<String> {
        self.values.get(key).map(as_string_list).unwrap_or_default()
    }

    pub fn tags(&self) -> Vec<String> {
        self.values
            .get("tags")
            .map(as_string_list)
            .unwrap_or_default()
    }

    pub fn materialized(&self) -> String {
        self.str("materialized").unwrap_or_else(|| "view".into())
    }

    pub fn enabled(&self) -> bool {
        self.bool("enabled").unwrap_or(true)
    }

    /// `unique_key` as a list of column expressions (string or list in the config).
    pub fn unique_key(&self) -> Vec<String> {
        self.values
            .get("unique_key")
            .map(as_string_list)
            .unwrap_or_default()
    }

    pub fn to_json(&self) -> Value {
        Value::Object(self.values.clone())
    }
}

/// A string or a list of strings as a list.
/// Hook SQL from a config value: a string, `{sql: …}`, or a list of either.
fn hook_list(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items.iter().flat_map(hook_list).collect(),
        Value::Object(map) => map
            .get("sql")
            .and_then(Value::as_str)
            .map(|s| vec![s.to_string()])
            .unwrap_or_default(),
        Value::String(s) => vec![s.clone()],
        _ => vec![],
    }
}

pub fn as_string_list(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Null => None,
                other => Some(other.to_string()),
            })
            .collect(),
        Value::Null => vec![],
        other => vec![other.to_string()],
    }
}

/// The configuration a `dbt_project.yml` tree (`models:`, `seeds:` …) gives the node at
/// `fqn` (`[project, folder…, name]`): every level on the path, outermost first.
pub fn from_project_tree(tree: &Value, fqn: &[String]) -> Map<String, Value> {
    let mut merged = NodeConfig::default();
    collect(tree, fqn, &mut merged);
    merged.values
}

fn collect(tree: &Value, fqn: &[String], out: &mut NodeConfig) {
    let Some(map) = tree.as_object() else { return };
    let mut layer = Map::new();
    for (key, value) in map {
        let is_config = key.starts_with('+')
            || (KNOWN_KEYS.contains(&key.as_str()) && !value.is_object())
            || matches!(
                key.as_str(),
                "meta"
                    | "docs"
                    | "persist_docs"
                    | "column_types"
                    | "grants"
                    | "contract"
                    | "quoting"
            );
        if is_config {
            layer.insert(key.clone(), value.clone());
        }
    }
    out.apply(&layer);
    if let Some((first, rest)) = fqn.split_first()
        && let Some(child) = map.get(first)
        && child.is_object()
        && !first.starts_with('+')
    {
        collect(child, rest, out);
    }
}

/// Converts YAML (serde_norway) into JSON values.
pub fn yaml_to_json(value: &serde_norway::Value) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

pub type ColumnMap = BTreeMap<String, Value>;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn folder_configs_apply_outermost_first() {
        let tree = json!({
            "+materialized": "view",
            "shop": {
                "+tags": ["all"],
                "staging": {"+materialized": "table", "+schema": "staging", "+tags": "stg"},
                "marts": {"materialized": "table", "finance": {"+schema": "finance"}}
            }
        });
        let fqn = |parts: &[&str]| parts.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut config = NodeConfig::default();
        config.apply(&from_project_tree(
            &tree,
            &fqn(&["shop", "staging", "stg_x"]),
        ));
        assert_eq!(config.materialized(), "table");
        assert_eq!(config.str("schema").as_deref(), Some("staging"));
        assert_eq!(config.tags(), ["all", "stg"]);
        let mut config = NodeConfig::default();
        config.apply(&from_project_tree(
            &tree,
            &fqn(&["shop", "marts", "finance", "rev"]),
        ));
        assert_eq!(config.materialized(), "table");
        assert_eq!(config.str("schema").as_deref(), Some("finance"));
        let mut config = NodeConfig::default();
        config.apply(&from_project_tree(&tree, &fqn(&["shop", "other"])));
        assert_eq!(config.materialized(), "view");
    }

    #[test]
    fn later_layers_win_tags_accumulate_meta_merges() {
        let mut config = NodeConfig::default();
        config.apply(
            json!({"materialized": "view", "tags": ["a"], "meta": {"x": 1}})
                .as_object()
                .unwrap(),
        );
        config.apply(
            json!({"materialized": "table", "tags": "b", "meta": {"y": 2}})
                .as_object()
                .unwrap(),
        );
        assert_eq!(config.materialized(), "table");
        assert_eq!(config.tags(), ["a", "b"]);
        assert_eq!(config.get("meta"), Some(&json!({"x": 1, "y": 2})));
        config.apply(json!({"unique_key": ["id", "day"]}).as_object().unwrap());
        assert_eq!(config.unique_key(), ["id", "day"]);
    }
}
