//! The project's graph nodes: models, seeds, snapshots, tests, and sources.

use std::collections::BTreeMap;

use serde_json::Value;

use super::config::NodeConfig;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceType {
    Model,
    Seed,
    Snapshot,
    Test,
    Analysis,
}

impl ResourceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Model => "model",
            ResourceType::Seed => "seed",
            ResourceType::Snapshot => "snapshot",
            ResourceType::Test => "test",
            ResourceType::Analysis => "analysis",
        }
    }
}

/// The name dbt shows for a node, from its unique id: `model.pkg.orders` → `orders`,
/// `test.pkg.not_null_orders_id.dd91cd1c8d` → `not_null_orders_id` (generic tests end in a
/// hash), `source.pkg.shop.orders` → `shop.orders`, `model.pkg.orders.v2` → `orders.v2`.
pub fn node_name(unique_id: &str) -> &str {
    let mut parts = unique_id.splitn(3, '.');
    let (Some(kind), Some(_package), Some(rest)) = (parts.next(), parts.next(), parts.next())
    else {
        return unique_id;
    };
    match kind {
        "test" => rest.split('.').next().unwrap_or(rest),
        _ => rest,
    }
}

#[derive(Clone, Debug, Default)]
pub struct ColumnInfo {
    pub name: String,
    pub description: String,
    pub data_type: Option<String>,
    pub meta: Value,
    pub tags: Vec<String>,
}

/// A `ref(...)` as written: optional package, name, optional version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefCall {
    pub package: Option<String>,
    pub name: String,
}

/// What a generic test is (`unique`, `not_null`, …) and how it was configured.
#[derive(Clone, Debug)]
pub struct TestMetadata {
    pub name: String,
    pub namespace: Option<String>,
    pub kwargs: serde_json::Map<String, Value>,
}

#[derive(Clone, Debug)]
pub struct Node {
    pub unique_id: String,
    pub resource_type: ResourceType,
    pub name: String,
    pub package_name: String,
    /// Path relative to its resource directory.
    pub path: String,
    /// Path relative to the project root (what error messages show).
    pub original_file_path: String,
    pub fqn: Vec<String>,
    pub raw_code: String,
    pub language: String,
    pub config: NodeConfig,
    pub refs: Vec<RefCall>,
    pub sources: Vec<(String, String)>,
    /// unique ids of upstream nodes and sources
    pub depends_on: Vec<String>,
    pub macros: Vec<String>,
    pub description: String,
    pub columns: BTreeMap<String, ColumnInfo>,
    pub patch_path: Option<String>,
    pub database: String,
    pub schema: String,
    pub alias: String,
    pub checksum: String,
    /// Generic tests: what they test.
    pub test_metadata: Option<TestMetadata>,
    pub column_name: Option<String>,
    pub attached_node: Option<String>,
    /// Snapshots: the body between `{% snapshot %}` and `{% endsnapshot %}`.
    pub snapshot_body: Option<String>,
    /// Line of the node's code where its body starts in the file (snapshots, tests).
    pub line_offset: usize,
}

impl Node {
    pub fn materialized(&self) -> String {
        match self.resource_type {
            ResourceType::Seed => "seed".into(),
            ResourceType::Snapshot => "snapshot".into(),
            ResourceType::Test => "test".into(),
            _ => self.config.materialized(),
        }
    }

    pub fn is_ephemeral(&self) -> bool {
        self.resource_type == ResourceType::Model && self.config.materialized() == "ephemeral"
    }

    /// `"database"."schema"."alias"`, as dbt-duckdb renders relations.
    pub fn relation_name(&self) -> String {
        relation(&self.database, &self.schema, &self.alias)
    }

    pub fn tags(&self) -> Vec<String> {
        self.config.tags()
    }
}

pub fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// `"schema"."name"` in the current database.
pub fn relation_of_parts(schema: &str, name: &str) -> String {
    format!("{}.{}", quote(schema), quote(name))
}

pub fn relation(database: &str, schema: &str, identifier: &str) -> String {
    format!(
        "{}.{}.{}",
        quote(database),
        quote(schema),
        quote(identifier)
    )
}

#[derive(Clone, Debug)]
pub struct SourceTable {
    pub unique_id: String,
    pub source_name: String,
    pub name: String,
    pub identifier: String,
    pub database: String,
    pub schema: String,
    pub description: String,
    pub source_description: String,
    pub columns: BTreeMap<String, ColumnInfo>,
    pub loaded_at_field: Option<String>,
    pub original_file_path: String,
    pub path: String,
    pub fqn: Vec<String>,
    pub meta: Value,
    pub tags: Vec<String>,
    pub package_name: String,
}

impl SourceTable {
    pub fn relation_name(&self) -> String {
        relation(&self.database, &self.schema, &self.identifier)
    }
}

#[cfg(test)]
mod tests {
    use super::node_name;

    #[test]
    fn node_names_as_dbt_shows_them() {
        for (id, name) in [
            ("model.shop.orders", "orders"),
            (
                "test.shop.not_null_orders_id.dd91cd1c8d",
                "not_null_orders_id",
            ),
            ("test.shop.assert_positive_totals", "assert_positive_totals"),
            ("source.shop.raw.orders", "raw.orders"),
            ("seed.shop.countries", "countries"),
            ("model.shop.orders.v2", "orders.v2"),
            ("operation.shop.shop-on-run-start-0", "shop-on-run-start-0"),
            ("odd", "odd"),
        ] {
            assert_eq!(node_name(id), name, "{id}");
        }
    }
}
