//! Column lineage over the whole project: every model's columns traced
//! ([`super::column_lineage`]) with the warehouse's column lists, then inverted for what
//! each column feeds. `GET /api/catalog/models/{name}/columns` and the column impact of
//! `GET /api/catalog/impact/{name}?column=`.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use poem_openapi::Object;

use super::column_lineage::{ColumnRef, Known, TracedColumn, trace};
use super::{CatalogDeps, nodes, sources};
use crate::Error;
use crate::transform::artifact_model::Artifacts;

#[derive(Debug, Object)]
pub struct ModelColumns {
    pub model: String,
    pub unique_id: String,
    pub columns: Vec<ModelColumn>,
    /// Why the model's SQL could not be traced at all (it does not parse, no compiled SQL).
    pub error: Option<String>,
}

#[derive(Debug, Object)]
pub struct ModelColumn {
    pub name: String,
    /// The columns it is computed from.
    pub upstream: Vec<ColumnEdge>,
    /// The columns computed from it, one step down.
    pub downstream: Vec<ColumnEdge>,
    /// References in its expression that could not be traced, as written.
    pub unresolved: Vec<String>,
}

#[derive(Debug, Clone, Object, PartialEq, Eq, PartialOrd, Ord)]
pub struct ColumnEdge {
    pub unique_id: String,
    /// The model's or source table's name.
    pub name: String,
    pub column: String,
}

/// A column downstream of the one asked about, with how many steps away it is.
#[derive(Debug, Clone, Object)]
pub struct ColumnImpact {
    pub unique_id: String,
    pub name: String,
    pub column: String,
    pub depth: u32,
}

/// Every traced model: its columns, or why it could not be traced.
pub struct ProjectColumns {
    pub models: BTreeMap<String, Result<Vec<TracedColumn>, String>>,
    downstream: HashMap<ColumnRef, BTreeSet<ColumnRef>>,
    names: HashMap<String, String>,
}

/// Traces every model of the project, with the warehouse's column lists.
pub async fn project_columns(deps: &CatalogDeps<'_>, artifacts: &Artifacts) -> ProjectColumns {
    let warehouse_columns = warehouse_columns(deps).await;
    trace_project(artifacts, &warehouse_columns)
}

/// [`project_columns`] on given warehouse columns ((schema, relation) → columns).
pub fn trace_project(
    artifacts: &Artifacts,
    warehouse_columns: &HashMap<(String, String), Vec<String>>,
) -> ProjectColumns {
    let mut known = Known::default();
    let mut names = HashMap::new();
    for (id, node) in nodes(artifacts).chain(sources(artifacts)) {
        if node.resource_type == "test" {
            continue;
        }
        names.insert(id.clone(), node.name.clone());
        let key = (node.schema.to_lowercase(), node.relation().to_lowercase());
        let columns = warehouse_columns
            .get(&key)
            .cloned()
            .or_else(|| (!node.columns.is_empty()).then(|| node.columns.keys().cloned().collect()));
        if let Some(columns) = columns {
            known.columns.insert(id.clone(), columns);
        }
        if node.config.materialized.as_deref() == Some("ephemeral") {
            known.ephemeral.insert(
                format!("__dbt__cte__{}", node.relation().to_lowercase()),
                id.clone(),
            );
        } else {
            known.relations.insert(key, id.clone());
        }
    }
    let mut models = BTreeMap::new();
    let mut downstream: HashMap<ColumnRef, BTreeSet<ColumnRef>> = HashMap::new();
    for (id, node) in nodes(artifacts).filter(|(_, n)| n.resource_type == "model") {
        let traced = match &node.compiled_code {
            Some(sql) if !sql.trim().is_empty() => {
                let own = known.columns.get(id).cloned();
                trace(sql, &known, own.as_deref())
            }
            _ => Err("the model has not been compiled yet".to_string()),
        };
        if let Ok(columns) = &traced {
            for column in columns {
                for upstream in &column.upstream {
                    downstream
                        .entry(upstream.clone())
                        .or_default()
                        .insert(ColumnRef {
                            node: id.clone(),
                            column: column.name.clone(),
                        });
                }
            }
        }
        models.insert(id.clone(), traced);
    }
    ProjectColumns {
        models,
        downstream,
        names,
    }
}

impl ProjectColumns {
    fn edge(&self, column: &ColumnRef) -> ColumnEdge {
        ColumnEdge {
            unique_id: column.node.clone(),
            name: self.names.get(&column.node).cloned().unwrap_or_default(),
            column: column.column.clone(),
        }
    }

    /// The columns of model `id` with their upstream and downstream columns.
    pub fn model(&self, id: &str) -> ModelColumns {
        let model = self.names.get(id).cloned().unwrap_or_default();
        let (columns, error) = match self.models.get(id) {
            Some(Ok(columns)) => (columns.as_slice(), None),
            Some(Err(err)) => (&[][..], Some(err.clone())),
            None => (&[][..], Some("not a model".to_string())),
        };
        ModelColumns {
            model,
            unique_id: id.to_string(),
            columns: columns
                .iter()
                .map(|column| {
                    let me = ColumnRef {
                        node: id.to_string(),
                        column: column.name.clone(),
                    };
                    ModelColumn {
                        name: column.name.clone(),
                        upstream: column.upstream.iter().map(|c| self.edge(c)).collect(),
                        downstream: self
                            .downstream
                            .get(&me)
                            .into_iter()
                            .flatten()
                            .map(|c| self.edge(c))
                            .collect(),
                        unresolved: column.unresolved.clone(),
                    }
                })
                .collect(),
            error,
        }
    }

    /// Everything computed from column `column` of node `id`, nearest first.
    pub fn impact(&self, id: &str, column: &str) -> Vec<ColumnImpact> {
        let start = ColumnRef {
            node: id.to_string(),
            column: column.to_string(),
        };
        let mut seen = BTreeSet::from([start.clone()]);
        let mut queue = VecDeque::from([(start, 0u32)]);
        let mut out = Vec::new();
        while let Some((current, depth)) = queue.pop_front() {
            for next in self.downstream.get(&current).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    let edge = self.edge(next);
                    out.push(ColumnImpact {
                        unique_id: edge.unique_id,
                        name: edge.name,
                        column: edge.column,
                        depth: depth + 1,
                    });
                    queue.push_back((next.clone(), depth + 1));
                }
            }
        }
        out
    }
}

/// The id of the model (or, for impact, any node) called `name`.
pub fn node_id(artifacts: &Artifacts, name: &str, models_only: bool) -> crate::Result<String> {
    let found = nodes(artifacts)
        .filter(|(_, n)| n.resource_type != "test")
        .filter(|(_, n)| !models_only || n.resource_type == "model")
        .chain(sources(artifacts).filter(|_| !models_only))
        .find(|(_, n)| n.name == name)
        .map(|(id, _)| id.clone());
    found.ok_or_else(|| Error::not_found(format!("Model '{name}' not found in manifest.")))
}

/// Every relation's column names, in order, by lowercase (schema, name).
pub fn column_names(
    conn: &duckdb::Connection,
) -> crate::Result<HashMap<(String, String), Vec<String>>> {
    Ok(crate::profiling::all_columns(conn)?
        .into_iter()
        .map(|((schema, table), columns)| {
            let names = columns.into_iter().map(|c| c.name).collect();
            ((schema.to_lowercase(), table.to_lowercase()), names)
        })
        .collect())
}

async fn warehouse_columns(deps: &CatalogDeps<'_>) -> HashMap<(String, String), Vec<String>> {
    deps.warehouse.read(column_names).await.unwrap_or_default()
}
