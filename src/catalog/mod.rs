//! The data catalog over dbt's artifacts: models, sources, tests, lineage and impact
//! (behaviour §6.2, §6.6, §9.3), with live row counts and column types from the warehouse.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use poem_openapi::Object;

use crate::Error;
use crate::config::ProjectPaths;
use crate::state::AppState;
use crate::transform::artifact_model::{Artifacts, Node};
use crate::transform::status::{self, ModelStatus};
use crate::warehouse::Warehouse;

pub mod column_lineage;
mod columns;
mod lineage;
mod model_columns;
mod search;
mod summary;
pub use columns::{CatalogColumn, TableColumns, profile_now, table_columns};
pub use lineage::{Impact, ImpactTree, Lineage, LineageEdge, LineageNode, impact, lineage};
pub use model_columns::{
    ColumnImpact, ModelColumns, ProjectColumns, column_names, node_id, project_columns,
    trace_project,
};
pub use search::{SearchHit, SearchResults, search};
pub use summary::{CatalogSummary, summary};

/// What the catalog reads: the last run's artifacts, the warehouse (row counts, live
/// columns) and the project (model statuses, configured sources).
pub struct CatalogDeps<'a> {
    pub artifacts: Option<Arc<Artifacts>>,
    pub warehouse: &'a Arc<Warehouse>,
    pub paths: &'a ProjectPaths,
    /// Where column profiles are cached.
    pub db: &'a sea_orm::DatabaseConnection,
}

impl<'a> CatalogDeps<'a> {
    pub fn of(state: &'a AppState) -> Self {
        Self {
            artifacts: state.dbt_artifacts(),
            warehouse: &state.warehouse,
            paths: &state.paths,
            db: &state.db,
        }
    }
}

/// The last run's artifacts, or 404 when nothing has been built yet.
pub fn require(artifacts: Option<Arc<Artifacts>>) -> crate::Result<Arc<Artifacts>> {
    artifacts.ok_or_else(|| {
        Error::not_found("No dbt manifest found. Run dbt first to generate lineage data.")
    })
}

/// Whether the project has a model named `name`.
pub fn has_model(artifacts: &Artifacts, name: &str) -> bool {
    of_type(artifacts, "model").any(|(_, node)| node.name == name)
}

pub(crate) fn nodes(artifacts: &Artifacts) -> impl Iterator<Item = (&String, &Node)> {
    artifacts.manifest.nodes.iter()
}

pub(crate) fn sources(artifacts: &Artifacts) -> impl Iterator<Item = (&String, &Node)> {
    artifacts.manifest.sources.iter()
}

fn of_type<'a>(
    artifacts: &'a Artifacts,
    kind: &'a str,
) -> impl Iterator<Item = (&'a String, &'a Node)> + 'a {
    nodes(artifacts).filter(move |(_, n)| n.resource_type == kind)
}

/// What depends on `id`, tests left out.
pub(crate) fn children(artifacts: &Artifacts, id: &str) -> Vec<String> {
    artifacts
        .manifest
        .child_map
        .get(id)
        .into_iter()
        .flatten()
        .filter(|c| !c.starts_with("test."))
        .cloned()
        .collect()
}

/// Tests attached to each node id, with their last status.
pub(crate) fn tests_by_node(artifacts: &Artifacts) -> HashMap<String, Vec<TestInfo>> {
    let statuses: HashMap<&str, &str> = artifacts
        .run_results
        .results
        .iter()
        .map(|r| {
            let status = match r.status.as_str() {
                "success" => "pass",
                other => other,
            };
            (r.unique_id.as_str(), status)
        })
        .collect();
    let mut map: HashMap<String, Vec<TestInfo>> = HashMap::new();
    for (id, test) in of_type(artifacts, "test") {
        let info = TestInfo {
            unique_id: id.clone(),
            name: test.name.clone(),
            test_type: test.test_metadata.as_ref().map(|m| m.name.clone()),
            column_name: test.column_name.clone(),
            status: statuses.get(id.as_str()).map(|s| s.to_string()),
        };
        for parent in &test.depends_on.nodes {
            map.entry(parent.clone()).or_default().push(info.clone());
        }
    }
    map
}

fn materialization(node: &Node) -> String {
    node.config
        .materialized
        .clone()
        .unwrap_or_else(|| "view".into())
}

#[derive(Object, Clone, Debug)]
pub struct TestInfo {
    pub unique_id: String,
    pub name: String,
    /// `unique`, `not_null`, … (none for singular tests)
    pub test_type: Option<String>,
    pub column_name: Option<String>,
    /// Last result: `pass`, `fail`, `warn`, `error`, `skipped`, or none if never run.
    pub status: Option<String>,
}

#[derive(Object, Clone, Debug)]
pub struct DbtModel {
    pub name: String,
    pub unique_id: String,
    pub path: String,
    pub materialization: String,
    pub schema: String,
    pub database: String,
    pub depends_on: Vec<String>,
    pub description: String,
    pub tags: Vec<String>,
    pub row_count: Option<i64>,
    pub last_run: Option<String>,
    /// `success`, `error`, `skipped`, `stale`, or none if never run.
    pub status: Option<String>,
}

#[derive(Object)]
pub struct DbtModelList {
    pub models: Vec<DbtModel>,
}

/// Estimated row counts of every table (`duckdb_tables().estimated_size`).
async fn row_counts(warehouse: &Arc<Warehouse>) -> HashMap<(String, String), i64> {
    warehouse
        .read(|conn| {
            let mut stmt = conn
                .prepare("SELECT schema_name, table_name, estimated_size FROM duckdb_tables() WHERE database_name = current_database()")
                .map_err(Error::internal)?;
            let rows = stmt
                .query_map([], |r| Ok(((r.get::<_, String>(0)?, r.get::<_, String>(1)?), r.get::<_, i64>(2)?)))
                .map_err(Error::internal)?;
            rows.collect::<Result<HashMap<_, _>, _>>().map_err(Error::internal)
        })
        .await
        .unwrap_or_default()
}

pub async fn dbt_models(deps: CatalogDeps<'_>) -> DbtModelList {
    let Some(artifacts) = deps.artifacts else {
        return DbtModelList { models: vec![] };
    };
    let counts = row_counts(deps.warehouse).await;
    let statuses: BTreeMap<String, ModelStatus> = status::load(&deps.paths.dango_dir());
    let mut models: Vec<DbtModel> = of_type(&artifacts, "model")
        .map(|(id, node)| {
            let status = statuses.get(id);
            DbtModel {
                name: node.name.clone(),
                unique_id: id.clone(),
                path: node.original_file_path.clone(),
                materialization: materialization(node),
                database: node.database.clone(),
                depends_on: node.depends_on.nodes.clone(),
                description: node.description.clone(),
                tags: node.tags.clone(),
                row_count: counts
                    .get(&(node.schema.clone(), node.relation().to_string()))
                    .copied(),
                last_run: status.and_then(|s| s.last_run.clone()),
                status: status.map(|s| s.status.clone()),
                schema: node.schema.clone(),
            }
        })
        .collect();
    models.sort_by_key(|m| (m.schema.to_lowercase(), m.name.to_lowercase()));
    DbtModelList { models }
}

/// The layer a model belongs to, for grouping (behaviour §9.3).
pub fn model_type(schema: &str, name: &str) -> &'static str {
    match schema {
        "staging" => "staging",
        "intermediate" => "intermediate",
        "marts" => "marts",
        _ if name.starts_with("stg_") => "staging",
        _ if name.starts_with("fct_") || name.starts_with("dim_") => "marts",
        _ => "intermediate",
    }
}

#[derive(Object, Clone, Debug)]
pub struct CatalogEntry {
    pub unique_id: String,
    pub name: String,
    /// `staging`, `intermediate`, `marts`, `seed` or `source`.
    #[oai(rename = "type")]
    pub kind: String,
    pub schema: String,
    pub materialization: Option<String>,
    pub description: String,
    pub source_name: Option<String>,
    pub test_count: u64,
    pub tests_passing: u64,
    pub tests_warning: u64,
    pub tests_failing: u64,
    pub columns_total: u64,
    pub columns_documented: u64,
    pub tags: Vec<String>,
    pub last_run: Option<String>,
    pub status: Option<String>,
    pub row_count: Option<i64>,
}

#[derive(Object, Clone, Debug)]
pub struct CatalogOverview {
    pub source_count: u64,
    pub table_count: u64,
    pub model_count: u64,
}

#[derive(Object)]
pub struct CatalogModels {
    pub models: Vec<CatalogEntry>,
    pub sources: Vec<CatalogEntry>,
    pub overview: CatalogOverview,
}

fn test_counts(tests: Option<&Vec<TestInfo>>) -> (u64, u64, u64, u64) {
    let tests = tests.map(Vec::as_slice).unwrap_or_default();
    let count = |wanted: &[&str]| {
        tests
            .iter()
            .filter(|t| t.status.as_deref().is_some_and(|s| wanted.contains(&s)))
            .count() as u64
    };
    (
        tests.len() as u64,
        count(&["pass"]),
        count(&["warn"]),
        count(&["fail", "error"]),
    )
}

pub async fn catalog_models(deps: CatalogDeps<'_>) -> CatalogModels {
    let configured_sources = crate::sources::load(deps.paths)
        .map(|f| f.sources.len() as u64)
        .unwrap_or(0);
    let Some(artifacts) = deps.artifacts else {
        return CatalogModels {
            models: vec![],
            sources: vec![],
            overview: CatalogOverview {
                source_count: configured_sources,
                table_count: 0,
                model_count: 0,
            },
        };
    };
    let counts = row_counts(deps.warehouse).await;
    let statuses = status::load(&deps.paths.dango_dir());
    let tests = tests_by_node(&artifacts);
    let entry = |id: &String, node: &Node, kind: String| {
        let (test_count, tests_passing, tests_warning, tests_failing) = test_counts(tests.get(id));
        let (columns_total, columns_documented) = node.documented_columns();
        CatalogEntry {
            unique_id: id.clone(),
            name: node.name.clone(),
            materialization: match kind.as_str() {
                "source" => None,
                "seed" => Some("table".into()),
                _ => Some(materialization(node)),
            },
            kind,
            description: node.description.clone(),
            source_name: node.source_name.clone(),
            test_count,
            tests_passing,
            tests_warning,
            tests_failing,
            columns_total,
            columns_documented,
            tags: node.tags.clone(),
            last_run: statuses.get(id).and_then(|s| s.last_run.clone()),
            status: statuses.get(id).map(|s| s.status.clone()),
            row_count: counts
                .get(&(node.schema.clone(), node.relation().to_string()))
                .copied(),
            schema: node.schema.clone(),
        }
    };
    let mut models: Vec<CatalogEntry> = of_type(&artifacts, "model")
        .map(|(id, node)| entry(id, node, model_type(&node.schema, &node.name).to_string()))
        .chain(of_type(&artifacts, "seed").map(|(id, node)| entry(id, node, "seed".into())))
        .collect();
    let order = |kind: &str| match kind {
        "staging" => 0,
        "intermediate" => 1,
        "marts" => 2,
        _ => 3,
    };
    models.sort_by_key(|m| (order(&m.kind), m.name.to_lowercase()));
    let mut sources: Vec<CatalogEntry> = sources(&artifacts)
        .map(|(id, node)| entry(id, node, "source".into()))
        .collect();
    sources.sort_by_key(|s| s.name.to_lowercase());
    let model_count = models.iter().filter(|m| m.kind != "seed").count() as u64;
    CatalogModels {
        overview: CatalogOverview {
            source_count: configured_sources,
            table_count: sources.len() as u64,
            model_count,
        },
        models,
        sources,
    }
}

#[derive(Object, Clone, Debug)]
pub struct ColumnDetail {
    pub name: String,
    #[oai(rename = "type")]
    pub data_type: Option<String>,
    pub nullable: Option<bool>,
    pub description: Option<String>,
    pub tests: Vec<TestInfo>,
}

#[derive(Object)]
pub struct ModelDetail {
    pub unique_id: String,
    pub name: String,
    #[oai(rename = "type")]
    pub kind: String,
    pub schema: String,
    pub database: String,
    pub description: String,
    pub tags: Vec<String>,
    pub materialization: Option<String>,
    pub source_name: Option<String>,
    pub columns: Vec<ColumnDetail>,
    pub depends_on: Vec<String>,
    pub depended_on_by: Vec<String>,
    pub tests: Vec<TestInfo>,
    pub row_count: Option<i64>,
    pub raw_code: Option<String>,
    pub compiled_code: Option<String>,
    pub status: Option<String>,
    pub last_run: Option<String>,
    pub path: Option<String>,
}

pub async fn model_detail(deps: CatalogDeps<'_>, name: &str) -> crate::Result<ModelDetail> {
    let artifacts = deps
        .artifacts
        .ok_or_else(|| Error::not_found("No dbt manifest found. Run dbt first."))?;
    let (id, node) = nodes(&artifacts)
        .find(|(_, n)| {
            n.name == name && matches!(n.resource_type.as_str(), "model" | "seed" | "snapshot")
        })
        .or_else(|| sources(&artifacts).find(|(_, n)| n.name == name))
        .ok_or_else(|| {
            Error::not_found(format!("Model or source '{name}' not found in manifest."))
        })?;
    let tests = tests_by_node(&artifacts).remove(id).unwrap_or_default();
    let children = children(&artifacts, id);
    let schema = node.schema.clone();
    let relation = node.relation().to_string();
    let (schema_q, relation_q) = (schema.clone(), relation.clone());
    let live = deps
        .warehouse
        .read(move |conn| {
            let columns = crate::transform::materialize::columns(conn, &schema_q, &relation_q).unwrap_or_default();
            let nullable: HashMap<String, bool> = conn
                .prepare("SELECT column_name, is_nullable FROM information_schema.columns WHERE table_schema = ? AND table_name = ?")
                .and_then(|mut s| {
                    s.query_map([&schema_q, &relation_q], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)? == "YES")))
                        .map(|rows| rows.filter_map(Result::ok).collect())
                })
                .unwrap_or_default();
            let count = if columns.is_empty() {
                None
            } else {
                conn.query_row(
                    &format!("SELECT count(*) FROM {}", crate::transform::nodes::relation_of_parts(&schema_q, &relation_q)),
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .ok()
            };
            Ok((columns, nullable, count))
        })
        .await?;
    let (live_columns, nullable, row_count) = live;
    let documented = &node.columns;
    let column_tests = |column: &str| -> Vec<TestInfo> {
        tests
            .iter()
            .filter(|t| t.column_name.as_deref() == Some(column))
            .cloned()
            .collect()
    };
    let columns: Vec<ColumnDetail> = if live_columns.is_empty() {
        documented
            .iter()
            .map(|(name, c)| ColumnDetail {
                name: name.clone(),
                data_type: c.data_type.clone(),
                nullable: None,
                description: Some(c.description.clone()).filter(|d| !d.is_empty()),
                tests: column_tests(name),
            })
            .collect()
    } else {
        live_columns
            .iter()
            .map(|(name, ty)| ColumnDetail {
                name: name.clone(),
                data_type: Some(ty.clone()),
                nullable: nullable.get(name).copied(),
                description: documented
                    .get(name)
                    .map(|c| c.description.clone())
                    .filter(|d| !d.is_empty()),
                tests: column_tests(name),
            })
            .collect()
    };
    let status = status::load(&deps.paths.dango_dir()).remove(id);
    let resource = node.resource_type.as_str();
    Ok(ModelDetail {
        kind: match resource {
            "source" => "source".to_string(),
            "seed" => "seed".to_string(),
            "snapshot" => "snapshot".to_string(),
            _ => model_type(&schema, name).to_string(),
        },
        unique_id: id.clone(),
        name: name.to_string(),
        database: node.database.clone(),
        description: node.description.clone(),
        tags: node.tags.clone(),
        materialization: (resource != "source").then(|| materialization(node)),
        source_name: node.source_name.clone(),
        columns,
        depends_on: node.depends_on.nodes.clone(),
        depended_on_by: children,
        tests,
        row_count,
        raw_code: node.raw_code.clone(),
        compiled_code: node.compiled_code.clone(),
        status: status.as_ref().map(|s| s.status.clone()),
        last_run: status.and_then(|s| s.last_run),
        path: Some(node.original_file_path.clone()).filter(|p| !p.is_empty()),
        schema,
    })
}
