//! The data catalog over dbt's artifacts: models, sources, tests, lineage and impact
//! (behaviour §6.2, §6.6, §9.3), with live row counts and column types from the warehouse.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use poem_openapi::Object;

use crate::Error;
use crate::state::AppState;
use crate::transform::artifact_model::{Artifacts, Node};
use crate::transform::status::{self, ModelStatus};

/// The last run's artifacts, or 404 when nothing has been built yet.
pub fn require(state: &AppState) -> crate::Result<Arc<Artifacts>> {
    state.dbt_artifacts().ok_or_else(|| {
        Error::not_found("No dbt manifest found. Run dbt first to generate lineage data.")
    })
}

/// Whether the project has a model named `name`.
pub fn has_model(artifacts: &Artifacts, name: &str) -> bool {
    of_type(artifacts, "model").any(|(_, node)| node.name == name)
}

fn nodes(artifacts: &Artifacts) -> impl Iterator<Item = (&String, &Node)> {
    artifacts.manifest.nodes.iter()
}

fn sources(artifacts: &Artifacts) -> impl Iterator<Item = (&String, &Node)> {
    artifacts.manifest.sources.iter()
}

fn of_type<'a>(
    artifacts: &'a Artifacts,
    kind: &'a str,
) -> impl Iterator<Item = (&'a String, &'a Node)> + 'a {
    nodes(artifacts).filter(move |(_, n)| n.resource_type == kind)
}

/// What depends on `id`, tests left out.
fn children(artifacts: &Artifacts, id: &str) -> Vec<String> {
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
fn tests_by_node(artifacts: &Artifacts) -> HashMap<String, Vec<TestInfo>> {
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
async fn row_counts(state: &Arc<AppState>) -> HashMap<(String, String), i64> {
    state
        .warehouse
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

pub async fn dbt_models(state: &Arc<AppState>) -> DbtModelList {
    let Some(artifacts) = state.dbt_artifacts() else {
        return DbtModelList { models: vec![] };
    };
    let counts = row_counts(state).await;
    let statuses: BTreeMap<String, ModelStatus> = status::load(&state.paths.dango_dir());
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

pub async fn catalog_models(state: &Arc<AppState>) -> CatalogModels {
    let configured_sources = crate::sources::load(&state.paths)
        .map(|f| f.sources.len() as u64)
        .unwrap_or(0);
    let Some(artifacts) = state.dbt_artifacts() else {
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
    let counts = row_counts(state).await;
    let statuses = status::load(&state.paths.dango_dir());
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

pub async fn model_detail(state: &Arc<AppState>, name: &str) -> crate::Result<ModelDetail> {
    let artifacts = state
        .dbt_artifacts()
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
    let live = state
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
    let status = status::load(&state.paths.dango_dir()).remove(id);
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

#[derive(Object, Clone, Debug)]
pub struct LineageNode {
    pub id: String,
    pub name: String,
    /// `model`, `source`, `seed` or `snapshot`.
    #[oai(rename = "type")]
    pub kind: String,
    pub schema: String,
    pub materialization: Option<String>,
    pub description: String,
    pub depends_on: Vec<String>,
    pub depended_on_by: Vec<String>,
    pub test_count: u64,
    pub test_names: Vec<String>,
    pub has_description: bool,
    pub columns_documented: u64,
    pub columns_total: u64,
    pub source_name: Option<String>,
}

#[derive(Object, Clone, Debug)]
pub struct LineageEdge {
    pub source: String,
    pub target: String,
}

#[derive(Object)]
pub struct Lineage {
    pub nodes: Vec<LineageNode>,
    pub edges: Vec<LineageEdge>,
}

pub fn lineage(artifacts: &Artifacts) -> Lineage {
    let tests = tests_by_node(artifacts);
    let mut nodes_out = Vec::new();
    let mut edges = Vec::new();
    let lineage_node = |id: &String, node: &Node, kind: &str, source_name: Option<String>| {
        let node_tests = tests.get(id).cloned().unwrap_or_default();
        let (total, documented) = node.documented_columns();
        LineageNode {
            id: id.clone(),
            name: node.name.clone(),
            kind: kind.to_string(),
            schema: node.schema.clone(),
            materialization: (kind != "source")
                .then(|| node.config.materialized.clone())
                .flatten(),
            has_description: !node.description.trim().is_empty(),
            description: node.description.clone(),
            depends_on: node.depends_on.nodes.clone(),
            depended_on_by: children(artifacts, id),
            test_count: node_tests.len() as u64,
            test_names: node_tests.iter().map(|t| t.name.clone()).collect(),
            columns_documented: documented,
            columns_total: total,
            source_name,
        }
    };
    for (id, node) in nodes(artifacts)
        .filter(|(_, n)| matches!(n.resource_type.as_str(), "model" | "seed" | "snapshot"))
    {
        for parent in &node.depends_on.nodes {
            edges.push(LineageEdge {
                source: parent.clone(),
                target: id.clone(),
            });
        }
        nodes_out.push(lineage_node(id, node, &node.resource_type, None));
    }
    for (id, source) in sources(artifacts) {
        nodes_out.push(lineage_node(
            id,
            source,
            "source",
            source.source_name.clone(),
        ));
    }
    nodes_out.sort_by(|a, b| a.id.cmp(&b.id));
    edges.sort_by(|a, b| (&a.source, &a.target).cmp(&(&b.source, &b.target)));
    Lineage {
        nodes: nodes_out,
        edges,
    }
}

#[derive(Object, Clone, Debug)]
pub struct ImpactTree {
    pub name: String,
    #[oai(rename = "type")]
    pub kind: String,
    pub children: Vec<ImpactTree>,
    pub total_downstream_count: u64,
    /// This edge closes a cycle; it is not followed.
    pub cycle: bool,
}

#[derive(Object)]
pub struct Impact {
    pub model: String,
    #[oai(rename = "type")]
    pub kind: String,
    pub direct_dependents: Vec<String>,
    pub tree: ImpactTree,
    pub total_downstream_count: u64,
}

/// Everything downstream of a model or source, as a tree; a back-edge is marked, not followed.
pub fn impact(artifacts: &Artifacts, name: &str) -> crate::Result<Impact> {
    let resource_type = |n: &Node| {
        if n.resource_type.is_empty() {
            "model".to_string()
        } else {
            n.resource_type.clone()
        }
    };
    let (id, kind) = nodes(artifacts)
        .find(|(_, n)| n.name == name && n.resource_type != "test")
        .map(|(id, n)| (id.clone(), resource_type(n)))
        .or_else(|| {
            sources(artifacts)
                .find(|(_, n)| n.name == name)
                .map(|(id, _)| (id.clone(), "source".to_string()))
        })
        .ok_or_else(|| {
            Error::not_found(format!("Model or source '{name}' not found in manifest."))
        })?;
    // reverse map from every node's depends_on
    let mut dependents: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut names: HashMap<String, (String, String)> = HashMap::new();
    for (node_id, node) in nodes(artifacts).filter(|(_, n)| n.resource_type != "test") {
        names.insert(node_id.clone(), (node.name.clone(), resource_type(node)));
        for parent in &node.depends_on.nodes {
            dependents
                .entry(parent.clone())
                .or_default()
                .insert(node_id.clone());
        }
    }
    fn walk(
        id: &str,
        dependents: &HashMap<String, BTreeSet<String>>,
        names: &HashMap<String, (String, String)>,
        ancestors: &mut Vec<String>,
        kind: &str,
        name: &str,
    ) -> ImpactTree {
        if ancestors.iter().any(|a| a == id) {
            return ImpactTree {
                name: name.to_string(),
                kind: kind.to_string(),
                children: vec![],
                total_downstream_count: 0,
                cycle: true,
            };
        }
        ancestors.push(id.to_string());
        let mut children = Vec::new();
        for child in dependents.get(id).into_iter().flatten() {
            let (child_name, child_kind) = names
                .get(child)
                .cloned()
                .unwrap_or_else(|| (child.clone(), "model".into()));
            children.push(walk(
                child,
                dependents,
                names,
                ancestors,
                &child_kind,
                &child_name,
            ));
        }
        ancestors.pop();
        let total = children
            .iter()
            .filter(|c| !c.cycle)
            .map(|c| 1 + c.total_downstream_count)
            .sum();
        ImpactTree {
            name: name.to_string(),
            kind: kind.to_string(),
            children,
            total_downstream_count: total,
            cycle: false,
        }
    }
    let tree = walk(&id, &dependents, &names, &mut Vec::new(), &kind, name);
    Ok(Impact {
        model: name.to_string(),
        kind,
        direct_dependents: tree.children.iter().map(|c| c.name.clone()).collect(),
        total_downstream_count: tree.total_downstream_count,
        tree,
    })
}
