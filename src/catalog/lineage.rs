//! Lineage (every model, seed, snapshot and source with its edges) and impact (everything
//! downstream of one node, as a tree), from the artifacts alone.

use std::collections::{BTreeSet, HashMap};

use poem_openapi::Object;

use super::{children, nodes, sources, tests_by_node};
use crate::Error;
use crate::transform::artifact_model::{Artifacts, Node};

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
    /// With `?column=`: every column computed from that column, nearest first.
    pub column_impact: Option<Vec<super::ColumnImpact>>,
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
        column_impact: None,
        tree,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// raw.orders → stg_orders → fct_orders, a test on stg_orders, and a cycle back from
    /// fct_orders into stg_orders (a manifest can hold one even if a run refuses it).
    fn artifacts() -> Artifacts {
        let manifest = serde_json::from_value(serde_json::json!({
            "nodes": {
                "model.p.stg_orders": {"name": "stg_orders", "resource_type": "model", "schema": "staging",
                    "depends_on": {"nodes": ["source.p.raw.orders", "model.p.fct_orders"]},
                    "columns": {"id": {"description": "The order"}, "amount": {}}},
                "model.p.fct_orders": {"name": "fct_orders", "resource_type": "model", "schema": "marts",
                    "config": {"materialized": "table"}, "depends_on": {"nodes": ["model.p.stg_orders"]}},
                "test.p.not_null_stg_orders_id.1a": {"name": "not_null_stg_orders_id", "resource_type": "test",
                    "column_name": "id", "test_metadata": {"name": "not_null"},
                    "depends_on": {"nodes": ["model.p.stg_orders"]}}
            },
            "sources": {"source.p.raw.orders": {"name": "orders", "resource_type": "source",
                "source_name": "raw", "schema": "raw_shop", "identifier": "orders"}},
            "child_map": {"source.p.raw.orders": ["model.p.stg_orders"],
                          "model.p.stg_orders": ["model.p.fct_orders", "test.p.not_null_stg_orders_id.1a"]}
        }))
        .unwrap();
        let run_results = serde_json::from_value(serde_json::json!({
            "results": [{"unique_id": "test.p.not_null_stg_orders_id.1a", "status": "fail"}]
        }))
        .unwrap();
        Artifacts {
            manifest,
            run_results,
        }
    }

    #[test]
    fn lineage_has_every_node_and_edge_with_tests_and_docs() {
        let lineage = lineage(&artifacts());
        let ids: Vec<&str> = lineage.nodes.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "model.p.fct_orders",
                "model.p.stg_orders",
                "source.p.raw.orders"
            ]
        );
        let staging = &lineage.nodes[1];
        assert_eq!(staging.test_names, ["not_null_stg_orders_id"]);
        assert_eq!((staging.columns_total, staging.columns_documented), (2, 1));
        assert_eq!(
            staging.depended_on_by,
            ["model.p.fct_orders"],
            "tests left out"
        );
        assert_eq!(lineage.nodes[2].source_name.as_deref(), Some("raw"));
        assert_eq!(lineage.edges.len(), 3);
        let tests = tests_by_node(&artifacts());
        assert_eq!(
            tests["model.p.stg_orders"][0].status.as_deref(),
            Some("fail")
        );
    }

    #[test]
    fn impact_counts_downstream_and_marks_the_cycle() {
        let downstream = impact(&artifacts(), "orders").unwrap();
        assert_eq!(downstream.kind, "source");
        assert_eq!(downstream.direct_dependents, ["stg_orders"]);
        assert_eq!(downstream.total_downstream_count, 2);
        let back_edge = &downstream.tree.children[0].children[0].children[0];
        assert!(back_edge.cycle && back_edge.name == "stg_orders");
        let unknown = impact(&artifacts(), "nope");
        assert!(unknown.is_err_and(|e| e.kind == crate::ErrorKind::NotFound));
    }
}
