//! dbt's artifacts as the readers see them: the part of `manifest.json` (v12) and
//! `run_results.json` (v6) that the catalog, lineage, docs and dbt endpoints use, typed.
//! The writer is [`super::artifacts`]; a test here reads back what it writes. Real dbt
//! writes the same files (`transform.engine: dbt`), so every field is tolerant: absent
//! or `null` reads as empty, unknown fields are ignored.
//!
//! [`ArtifactsCache`] keeps the parsed files until they change on disk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Deserializer};

use crate::util::{FileStamp, file_stamp};

/// `null` (or absent, with `#[serde(default)]`) reads as the type's default.
fn or_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[derive(Debug, Default, Deserialize)]
pub struct Manifest {
    #[serde(default, deserialize_with = "or_default")]
    pub nodes: BTreeMap<String, Node>,
    #[serde(default, deserialize_with = "or_default")]
    pub sources: BTreeMap<String, Node>,
    /// Every node and source → the nodes that depend on it (tests included).
    #[serde(default, deserialize_with = "or_default")]
    pub child_map: BTreeMap<String, Vec<String>>,
}

/// A node (model, seed, snapshot, test, …) or a source table: the fields both carry.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Node {
    #[serde(default, deserialize_with = "or_default")]
    pub unique_id: String,
    #[serde(default, deserialize_with = "or_default")]
    pub name: String,
    /// `model`, `seed`, `snapshot`, `test`, `analysis`, `operation`, `source`.
    #[serde(default, deserialize_with = "or_default")]
    pub resource_type: String,
    #[serde(default, deserialize_with = "or_default")]
    pub database: String,
    #[serde(default, deserialize_with = "or_default")]
    pub schema: String,
    /// The relation's name for nodes (absent: the node's name).
    #[serde(default)]
    pub alias: Option<String>,
    /// The relation's name for source tables.
    #[serde(default)]
    pub identifier: Option<String>,
    #[serde(default, deserialize_with = "or_default")]
    pub description: String,
    #[serde(default, deserialize_with = "or_default")]
    pub original_file_path: String,
    #[serde(default)]
    pub raw_code: Option<String>,
    #[serde(default)]
    pub compiled_code: Option<String>,
    /// Source tables: the source they belong to.
    #[serde(default)]
    pub source_name: Option<String>,
    /// Generic tests: the column tested, if any.
    #[serde(default)]
    pub column_name: Option<String>,
    /// Generic tests: which test (`unique`, `not_null`, …).
    #[serde(default)]
    pub test_metadata: Option<TestMetadata>,
    #[serde(default, deserialize_with = "or_default")]
    pub depends_on: DependsOn,
    #[serde(default, deserialize_with = "or_default")]
    pub config: NodeConfig,
    #[serde(default, deserialize_with = "or_default")]
    pub tags: Vec<String>,
    #[serde(default, deserialize_with = "or_default")]
    pub columns: BTreeMap<String, Column>,
}

impl Node {
    /// The relation's name in the warehouse.
    pub fn relation(&self) -> &str {
        self.alias
            .as_deref()
            .or(self.identifier.as_deref())
            .unwrap_or(&self.name)
    }

    /// How many columns there are, and how many have a description.
    pub fn documented_columns(&self) -> (u64, u64) {
        let documented = self
            .columns
            .values()
            .filter(|c| !c.description.trim().is_empty())
            .count();
        (self.columns.len() as u64, documented as u64)
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct TestMetadata {
    #[serde(default, deserialize_with = "or_default")]
    pub name: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct DependsOn {
    #[serde(default, deserialize_with = "or_default")]
    pub nodes: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct NodeConfig {
    #[serde(default)]
    pub materialized: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Column {
    #[serde(default, deserialize_with = "or_default")]
    pub description: String,
    #[serde(default)]
    pub data_type: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RunResults {
    #[serde(default, deserialize_with = "or_default")]
    pub metadata: RunResultsMetadata,
    #[serde(default, deserialize_with = "or_default")]
    pub results: Vec<RunResult>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RunResultsMetadata {
    /// When the run finished (RFC 3339).
    #[serde(default)]
    pub generated_at: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RunResult {
    #[serde(default, deserialize_with = "or_default")]
    pub unique_id: String,
    /// `success`, `error`, `skipped` (models); `pass`, `fail`, `warn`, `error` (tests).
    #[serde(default, deserialize_with = "or_default")]
    pub status: String,
}

/// The last run's manifest and results.
#[derive(Debug, Default)]
pub struct Artifacts {
    pub manifest: Manifest,
    /// Empty until something has run.
    pub run_results: RunResults,
}

impl Artifacts {
    /// Reads `manifest.json` and `run_results.json` from dbt's target directory; `None`
    /// without a readable manifest.
    pub fn read(target_dir: &Path) -> Option<Artifacts> {
        let manifest = read_json(&target_dir.join("manifest.json"))?;
        let run_results = read_json(&target_dir.join("run_results.json")).unwrap_or_default();
        Some(Artifacts {
            manifest,
            run_results,
        })
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    let text = std::fs::read(path).ok()?;
    match serde_json::from_slice(&text) {
        Ok(value) => Some(value),
        Err(err) => {
            tracing::warn!("{} cannot be read: {err}", path.display());
            None
        }
    }
}

/// The artifacts of one target directory, parsed once per change of either file.
#[derive(Default)]
pub struct ArtifactsCache {
    current: Mutex<Option<(Stamp, Arc<Artifacts>)>>,
}

/// What tells two versions of the files apart: the directory and each file's stamp.
#[derive(Clone, PartialEq, Eq)]
struct Stamp(PathBuf, FileStamp, FileStamp);

impl ArtifactsCache {
    pub fn get(&self, target_dir: &Path) -> Option<Arc<Artifacts>> {
        let stamp = Stamp(
            target_dir.to_path_buf(),
            file_stamp(&target_dir.join("manifest.json")),
            file_stamp(&target_dir.join("run_results.json")),
        );
        stamp.1?;
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((seen, artifacts)) = current.as_ref()
            && *seen == stamp
        {
            return Some(artifacts.clone());
        }
        let artifacts = Arc::new(Artifacts::read(target_dir)?);
        *current = Some((stamp, artifacts.clone()));
        Some(artifacts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the engine writes is what the readers read.
    #[test]
    fn the_written_manifest_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("models")).unwrap();
        std::fs::write(
            root.join("dbt_project.yml"),
            "name: shop\nprofile: shop\nconfig-version: 2\n",
        )
        .unwrap();
        std::fs::write(
            root.join("models/orders.sql"),
            "{{ config(materialized='table', alias='all_orders', tags=['daily']) }}\nselect * from {{ source('raw', 'orders') }}",
        )
        .unwrap();
        std::fs::write(
            root.join("models/schema.yml"),
            "version: 2\nsources:\n  - name: raw\n    tables:\n      - name: orders\n        description: Orders as loaded\nmodels:\n  - name: orders\n    description: Every order\n    columns:\n      - name: id\n        description: The order\n        tests: [not_null]\n",
        )
        .unwrap();
        let written =
            super::super::manifest::Manifest::load(root, "warehouse", &Default::default()).unwrap();
        let json = super::super::artifacts::manifest_json(
            &written,
            &Default::default(),
            "invocation",
            chrono::Utc::now(),
        );
        let read: Manifest = serde_json::from_value(json).unwrap();

        let model = &read.nodes["model.shop.orders"];
        assert_eq!(model.name, "orders");
        assert_eq!(model.resource_type, "model");
        assert_eq!(model.relation(), "all_orders");
        assert_eq!(model.description, "Every order");
        assert_eq!(model.config.materialized.as_deref(), Some("table"));
        assert_eq!(model.tags, ["daily"]);
        assert_eq!(model.depends_on.nodes, ["source.shop.raw.orders"]);
        assert_eq!(model.documented_columns(), (1, 1));
        assert_eq!(model.original_file_path, "models/orders.sql");

        let source = &read.sources["source.shop.raw.orders"];
        assert_eq!(source.resource_type, "source");
        assert_eq!(source.source_name.as_deref(), Some("raw"));
        assert_eq!(source.relation(), "orders");
        assert_eq!(source.description, "Orders as loaded");

        let (test_id, test) = read
            .nodes
            .iter()
            .find(|(_, n)| n.resource_type == "test")
            .unwrap();
        assert_eq!(test.test_metadata.as_ref().unwrap().name, "not_null");
        assert_eq!(test.column_name.as_deref(), Some("id"));
        assert_eq!(test.depends_on.nodes, ["model.shop.orders"]);
        assert!(read.child_map["model.shop.orders"].contains(test_id));
        assert_eq!(
            read.child_map["source.shop.raw.orders"],
            ["model.shop.orders"]
        );
    }

    #[test]
    fn nulls_and_missing_fields_read_as_empty() {
        let manifest: Manifest = serde_json::from_str(
            r#"{"nodes": {"model.p.a": {"name": "a", "resource_type": "model", "database": null,
                 "description": null, "columns": {"id": {"description": null}},
                 "depends_on": {"nodes": null}, "config": {"materialized": null}, "extra": 1}},
                "sources": null}"#,
        )
        .unwrap();
        let node = &manifest.nodes["model.p.a"];
        assert_eq!(node.relation(), "a");
        assert_eq!(node.database, "");
        assert!(node.depends_on.nodes.is_empty() && manifest.sources.is_empty());
        assert_eq!(node.documented_columns(), (1, 0));
    }
}
