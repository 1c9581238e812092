//! The data catalog over dbt's artifacts: models, sources, tests, lineage and impact
//! (behaviour §6.2, §6.6, §9.3), with live row counts and column types from the warehouse.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use poem_openapi::Object;
use serde_json::Value;

use crate::Error;
use crate::state::AppState;
use crate::transform::status::{self, ModelStatus};

/// `dbt/target/manifest.json` and `run_results.json`, as written by the last run.
pub struct Artifacts {
    pub manifest: Value,
    pub run_results: Value,
}

impl Artifacts {
    pub fn load(state: &AppState) -> Option<Artifacts> {
        let target = state.paths.dbt_target_dir();
        let manifest =
            serde_json::from_str(&std::fs::read_to_string(target.join("manifest.json")).ok()?)
                .ok()?;
        let run_results = std::fs::read_to_string(target.join("run_results.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null);
        Some(Artifacts {
            manifest,
            run_results,
        })
    }

    pub fn require(state: &AppState) -> crate::Result<Artifacts> {
        Self::load(state).ok_or_else(|| {
            Error::not_found("No dbt manifest found. Run dbt first to generate lineage data.")
        })
    }

    /// Whether the project has a model named `name`.
    pub fn has_model(&self, name: &str) -> bool {
        self.of_type("model").any(|(_, node)| node["name"] == name)
    }

    fn nodes(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.manifest["nodes"].as_object().into_iter().flatten()
    }

    fn sources(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.manifest["sources"].as_object().into_iter().flatten()
    }

    fn of_type<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = (&'a String, &'a Value)> + 'a {
        self.nodes()
            .filter(move |(_, n)| n["resource_type"] == kind)
    }

    /// Tests attached to each node id, with their last status.
    fn tests_by_node(&self) -> HashMap<String, Vec<TestInfo>> {
        let statuses: HashMap<String, String> = self.run_results["results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| {
                let status = match r["status"].as_str()? {
                    "success" => "pass",
                    other => other,
                };
                Some((r["unique_id"].as_str()?.to_string(), status.to_string()))
            })
            .collect();
        let mut map: HashMap<String, Vec<TestInfo>> = HashMap::new();
        for (id, test) in self.of_type("test") {
            let info = TestInfo {
                unique_id: id.clone(),
                name: test["name"].as_str().unwrap_or_default().to_string(),
                test_type: test["test_metadata"]["name"].as_str().map(str::to_string),
                column_name: test["column_name"].as_str().map(str::to_string),
                status: statuses.get(id).cloned(),
            };
            for parent in test["depends_on"]["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                map.entry(parent.to_string())
                    .or_default()
                    .push(info.clone());
            }
        }
        map
    }
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

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
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
    let Some(artifacts) = Artifacts::load(state) else {
        return DbtModelList { models: vec![] };
    };
    let counts = row_counts(state).await;
    let statuses: BTreeMap<String, ModelStatus> = status::load(&state.paths.dango_dir());
    let mut models: Vec<DbtModel> = artifacts
        .of_type("model")
        .map(|(id, node)| {
            let schema = node["schema"].as_str().unwrap_or_default().to_string();
            let alias = node["alias"]
                .as_str()
                .or(node["name"].as_str())
                .unwrap_or_default()
                .to_string();
            let status = statuses.get(id);
            DbtModel {
                name: node["name"].as_str().unwrap_or_default().to_string(),
                unique_id: id.clone(),
                path: node["original_file_path"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                materialization: node["config"]["materialized"]
                    .as_str()
                    .unwrap_or("view")
                    .to_string(),
                database: node["database"].as_str().unwrap_or_default().to_string(),
                depends_on: strings(&node["depends_on"]["nodes"]),
                description: node["description"].as_str().unwrap_or_default().to_string(),
                tags: strings(&node["tags"]),
                row_count: counts.get(&(schema.clone(), alias)).copied(),
                last_run: status.and_then(|s| s.last_run.clone()),
                status: status.map(|s| s.status.clone()),
                schema,
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

fn documented(columns: &Value) -> (u64, u64) {
    let columns = columns.as_object();
    let total = columns.map(|c| c.len()).unwrap_or(0) as u64;
    let documented = columns
        .map(|c| {
            c.values()
                .filter(|col| {
                    col["description"]
                        .as_str()
                        .is_some_and(|d| !d.trim().is_empty())
                })
                .count()
        })
        .unwrap_or(0) as u64;
    (total, documented)
}

pub async fn catalog_models(state: &Arc<AppState>) -> CatalogModels {
    let configured_sources = crate::sources::load(&state.paths)
        .map(|f| f.sources.len() as u64)
        .unwrap_or(0);
    let Some(artifacts) = Artifacts::load(state) else {
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
    let tests = artifacts.tests_by_node();
    let entry = |id: &String, node: &Value, kind: String| {
        let (test_count, tests_passing, tests_warning, tests_failing) = test_counts(tests.get(id));
        let (columns_total, columns_documented) = documented(&node["columns"]);
        let schema = node["schema"].as_str().unwrap_or_default().to_string();
        let relation = node["alias"]
            .as_str()
            .or(node["identifier"].as_str())
            .or(node["name"].as_str())
            .unwrap_or_default()
            .to_string();
        CatalogEntry {
            unique_id: id.clone(),
            name: node["name"].as_str().unwrap_or_default().to_string(),
            materialization: match kind.as_str() {
                "source" => None,
                "seed" => Some("table".into()),
                _ => Some(
                    node["config"]["materialized"]
                        .as_str()
                        .unwrap_or("view")
                        .to_string(),
                ),
            },
            kind,
            description: node["description"].as_str().unwrap_or_default().to_string(),
            source_name: node["source_name"].as_str().map(str::to_string),
            test_count,
            tests_passing,
            tests_warning,
            tests_failing,
            columns_total,
            columns_documented,
            tags: strings(&node["tags"]),
            last_run: statuses.get(id).and_then(|s| s.last_run.clone()),
            status: statuses.get(id).map(|s| s.status.clone()),
            row_count: counts.get(&(schema.clone(), relation)).copied(),
            schema,
        }
    };
    let mut models: Vec<CatalogEntry> = artifacts
        .of_type("model")
        .map(|(id, node)| {
            let kind = model_type(
                node["schema"].as_str().unwrap_or_default(),
                node["name"].as_str().unwrap_or_default(),
            )
            .to_string();
            entry(id, node, kind)
        })
        .chain(
            artifacts
                .of_type("seed")
                .map(|(id, node)| entry(id, node, "seed".into())),
        )
        .collect();
    let order = |kind: &str| match kind {
        "staging" => 0,
        "intermediate" => 1,
        "marts" => 2,
        _ => 3,
    };
    models.sort_by_key(|m| (order(&m.kind), m.name.to_lowercase()));
    let mut sources: Vec<CatalogEntry> = artifacts
        .sources()
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
    let artifacts = Artifacts::load(state)
        .ok_or_else(|| Error::not_found("No dbt manifest found. Run dbt first."))?;
    let found = artifacts
        .nodes()
        .find(|(_, n)| {
            n["name"] == name
                && (n["resource_type"] == "model"
                    || n["resource_type"] == "seed"
                    || n["resource_type"] == "snapshot")
        })
        .or_else(|| artifacts.sources().find(|(_, n)| n["name"] == name))
        .map(|(id, n)| (id.clone(), n.clone()))
        .ok_or_else(|| {
            Error::not_found(format!("Model or source '{name}' not found in manifest."))
        })?;
    let (id, node) = found;
    let tests = artifacts.tests_by_node().remove(&id).unwrap_or_default();
    let children: Vec<String> = artifacts.manifest["child_map"][id.as_str()]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|c| !c.starts_with("test."))
        .map(str::to_string)
        .collect();
    let schema = node["schema"].as_str().unwrap_or_default().to_string();
    let relation = node["alias"]
        .as_str()
        .or(node["identifier"].as_str())
        .or(node["name"].as_str())
        .unwrap_or_default()
        .to_string();
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
    let documented = node["columns"].as_object().cloned().unwrap_or_default();
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
                data_type: c["data_type"].as_str().map(str::to_string),
                nullable: None,
                description: c["description"]
                    .as_str()
                    .filter(|d| !d.is_empty())
                    .map(str::to_string),
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
                    .and_then(|c| c["description"].as_str())
                    .filter(|d| !d.is_empty())
                    .map(str::to_string),
                tests: column_tests(name),
            })
            .collect()
    };
    let status = status::load(&state.paths.dango_dir()).remove(&id);
    let resource = node["resource_type"].as_str().unwrap_or_default();
    Ok(ModelDetail {
        kind: match resource {
            "source" => "source".to_string(),
            "seed" => "seed".to_string(),
            "snapshot" => "snapshot".to_string(),
            _ => model_type(&schema, name).to_string(),
        },
        unique_id: id.clone(),
        name: name.to_string(),
        database: node["database"].as_str().unwrap_or_default().to_string(),
        description: node["description"].as_str().unwrap_or_default().to_string(),
        tags: strings(&node["tags"]),
        materialization: (resource != "source").then(|| {
            node["config"]["materialized"]
                .as_str()
                .unwrap_or("view")
                .to_string()
        }),
        source_name: node["source_name"].as_str().map(str::to_string),
        columns,
        depends_on: strings(&node["depends_on"]["nodes"]),
        depended_on_by: children,
        tests,
        row_count,
        raw_code: node["raw_code"].as_str().map(str::to_string),
        compiled_code: node["compiled_code"].as_str().map(str::to_string),
        status: status.as_ref().map(|s| s.status.clone()),
        last_run: status.and_then(|s| s.last_run),
        path: node["original_file_path"].as_str().map(str::to_string),
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
    let tests = artifacts.tests_by_node();
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    let children = |id: &str| -> Vec<String> {
        artifacts.manifest["child_map"][id]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|c| !c.starts_with("test."))
            .map(str::to_string)
            .collect()
    };
    for (id, node) in artifacts.nodes().filter(|(_, n)| {
        matches!(
            n["resource_type"].as_str(),
            Some("model" | "seed" | "snapshot")
        )
    }) {
        let depends = strings(&node["depends_on"]["nodes"]);
        for parent in &depends {
            edges.push(LineageEdge {
                source: parent.clone(),
                target: id.clone(),
            });
        }
        let node_tests = tests.get(id).cloned().unwrap_or_default();
        let (total, documented) = documented(&node["columns"]);
        let description = node["description"].as_str().unwrap_or_default().to_string();
        nodes.push(LineageNode {
            id: id.clone(),
            name: node["name"].as_str().unwrap_or_default().to_string(),
            kind: node["resource_type"]
                .as_str()
                .unwrap_or("model")
                .to_string(),
            schema: node["schema"].as_str().unwrap_or_default().to_string(),
            materialization: node["config"]["materialized"].as_str().map(str::to_string),
            has_description: !description.trim().is_empty(),
            description,
            depends_on: depends,
            depended_on_by: children(id),
            test_count: node_tests.len() as u64,
            test_names: node_tests.iter().map(|t| t.name.clone()).collect(),
            columns_documented: documented,
            columns_total: total,
            source_name: None,
        });
    }
    for (id, source) in artifacts.sources() {
        let source_tests = tests.get(id).cloned().unwrap_or_default();
        let (total, documented) = documented(&source["columns"]);
        let description = source["description"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        nodes.push(LineageNode {
            id: id.clone(),
            name: source["name"].as_str().unwrap_or_default().to_string(),
            kind: "source".into(),
            schema: source["schema"].as_str().unwrap_or_default().to_string(),
            materialization: None,
            has_description: !description.trim().is_empty(),
            description,
            depends_on: vec![],
            depended_on_by: children(id),
            test_count: source_tests.len() as u64,
            test_names: source_tests.iter().map(|t| t.name.clone()).collect(),
            columns_documented: documented,
            columns_total: total,
            source_name: source["source_name"].as_str().map(str::to_string),
        });
    }
    nodes.sort_by(|a, b| a.id.cmp(&b.id));
    edges.sort_by(|a, b| (&a.source, &a.target).cmp(&(&b.source, &b.target)));
    Lineage { nodes, edges }
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
    let (id, kind) = artifacts
        .nodes()
        .find(|(_, n)| n["name"] == name && n["resource_type"] != "test")
        .map(|(id, n)| {
            (
                id.clone(),
                n["resource_type"].as_str().unwrap_or("model").to_string(),
            )
        })
        .or_else(|| {
            artifacts
                .sources()
                .find(|(_, n)| n["name"] == name)
                .map(|(id, _)| (id.clone(), "source".to_string()))
        })
        .ok_or_else(|| {
            Error::not_found(format!("Model or source '{name}' not found in manifest."))
        })?;
    // reverse map from every node's depends_on
    let mut dependents: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut names: HashMap<String, (String, String)> = HashMap::new();
    for (node_id, node) in artifacts
        .nodes()
        .filter(|(_, n)| n["resource_type"] != "test")
    {
        names.insert(
            node_id.clone(),
            (
                node["name"].as_str().unwrap_or_default().to_string(),
                node["resource_type"]
                    .as_str()
                    .unwrap_or("model")
                    .to_string(),
            ),
        );
        for parent in strings(&node["depends_on"]["nodes"]) {
            dependents
                .entry(parent)
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
