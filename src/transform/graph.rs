//! The dependency graph: topological order, cycles, and dbt's selection syntax
//! (`name`, `+name`, `name+`, `2+name`, `tag:x`, `source:x+`, `path:models/marts`,
//! `config.materialized:view`, `resource_type:test`, unions by space or list).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use super::TransformError;
use super::manifest::Manifest;
use super::nodes::{Node, ResourceType};

pub struct Graph {
    /// node or source id → ids it depends on
    pub parents: BTreeMap<String, Vec<String>>,
    /// id → ids that depend on it
    pub children: BTreeMap<String, Vec<String>>,
}

impl Graph {
    pub fn new(manifest: &Manifest) -> Graph {
        let mut parents: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut children: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for id in manifest.sources.keys() {
            parents.entry(id.clone()).or_default();
            children.entry(id.clone()).or_default();
        }
        for node in manifest.nodes.values() {
            parents
                .entry(node.unique_id.clone())
                .or_default()
                .extend(node.depends_on.iter().cloned());
            children.entry(node.unique_id.clone()).or_default();
            for parent in &node.depends_on {
                children
                    .entry(parent.clone())
                    .or_default()
                    .push(node.unique_id.clone());
            }
        }
        for list in children.values_mut() {
            list.sort();
            list.dedup();
        }
        Graph { parents, children }
    }

    /// Nodes on a cycle, each with the message naming the cycle; empty when there is none.
    pub fn cycles(&self, manifest: &Manifest) -> BTreeMap<String, TransformError> {
        let mut found = BTreeMap::new();
        let mut remaining: BTreeSet<String> = self.parents.keys().cloned().collect();
        while !remaining.is_empty() {
            let sub = Graph {
                parents: self
                    .parents
                    .iter()
                    .filter(|(k, _)| remaining.contains(*k))
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.iter()
                                .filter(|p| remaining.contains(*p))
                                .cloned()
                                .collect(),
                        )
                    })
                    .collect(),
                children: self
                    .children
                    .iter()
                    .filter(|(k, _)| remaining.contains(*k))
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.iter()
                                .filter(|c| remaining.contains(*c))
                                .cloned()
                                .collect(),
                        )
                    })
                    .collect(),
            };
            let cycle = sub.find_cycle_ids();
            if cycle.is_empty() {
                break;
            }
            let names: Vec<String> = cycle
                .iter()
                .map(|id| match manifest.nodes.get(id) {
                    Some(node) => format!("{} ({})", node.name, node.original_file_path),
                    None => id.clone(),
                })
                .collect();
            for id in &cycle {
                remaining.remove(id);
                found.insert(id.clone(), TransformError::Cycle(names.clone()));
            }
        }
        found
    }

    /// Every node in dependency order (parents first); a cycle is an error naming it.
    pub fn order(&self, manifest: &Manifest) -> Result<Vec<String>, TransformError> {
        let mut indegree: BTreeMap<&String, usize> =
            self.parents.iter().map(|(k, v)| (k, v.len())).collect();
        let mut ready: VecDeque<&String> = indegree
            .iter()
            .filter(|(_, d)| **d == 0)
            .map(|(k, _)| *k)
            .collect();
        let mut order = Vec::new();
        while let Some(id) = ready.pop_front() {
            order.push(id.clone());
            for child in self.children.get(id).into_iter().flatten() {
                if let Some(d) = indegree.get_mut(child) {
                    *d -= 1;
                    if *d == 0 {
                        ready.push_back(child);
                    }
                }
            }
        }
        if order.len() < self.parents.len() {
            return Err(TransformError::Cycle(self.find_cycle(manifest)));
        }
        Ok(order)
    }

    /// One cycle, as `name (file)` entries, for the error message.
    fn find_cycle(&self, manifest: &Manifest) -> Vec<String> {
        self.find_cycle_ids()
            .into_iter()
            .map(|id| match manifest.nodes.get(&id) {
                Some(node) => format!("{} ({})", node.name, node.original_file_path),
                None => id,
            })
            .collect()
    }

    /// One cycle as unique ids, first repeated at the end.
    fn find_cycle_ids(&self) -> Vec<String> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            Visiting,
            Done,
        }
        fn visit<'a>(
            graph: &'a Graph,
            id: &'a String,
            marks: &mut HashMap<&'a String, Mark>,
            stack: &mut Vec<&'a String>,
        ) -> Option<Vec<String>> {
            marks.insert(id, Mark::Visiting);
            stack.push(id);
            for parent in graph.parents.get(id).into_iter().flatten() {
                match marks.get(parent) {
                    Some(Mark::Visiting) => {
                        let start = stack.iter().position(|s| *s == parent).unwrap_or(0);
                        let mut cycle: Vec<String> =
                            stack[start..].iter().map(|s| s.to_string()).collect();
                        cycle.push(parent.clone());
                        return Some(cycle);
                    }
                    Some(Mark::Done) => {}
                    None => {
                        if let Some(cycle) = visit(graph, parent, marks, stack) {
                            return Some(cycle);
                        }
                    }
                }
            }
            stack.pop();
            marks.insert(id, Mark::Done);
            None
        }
        let mut marks = HashMap::new();
        for id in self.parents.keys() {
            if marks.contains_key(id) {
                continue;
            }
            if let Some(mut cycle) = visit(self, id, &mut marks, &mut Vec::new()) {
                cycle.reverse();
                return cycle;
            }
        }
        vec![]
    }

    fn walk(&self, start: &str, up: bool, depth: Option<usize>) -> BTreeSet<String> {
        let edges = if up { &self.parents } else { &self.children };
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::from([(start.to_string(), 0usize)]);
        while let Some((id, level)) = queue.pop_front() {
            if depth.is_some_and(|d| level >= d) {
                continue;
            }
            for next in edges.get(&id).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    queue.push_back((next.clone(), level + 1));
                }
            }
        }
        seen
    }

    pub fn descendants(&self, id: &str) -> BTreeSet<String> {
        self.walk(id, false, None)
    }

    pub fn ancestors(&self, id: &str) -> BTreeSet<String> {
        self.walk(id, true, None)
    }
}

/// One selector term: optional graph operators around a method:value.
#[derive(Debug, PartialEq)]
struct Term {
    parents: Option<Option<usize>>,
    children: Option<Option<usize>>,
    method: String,
    value: String,
}

fn parse_term(raw: &str) -> Term {
    let mut text = raw.trim();
    let mut parents = None;
    if let Some(plus) = text.find('+')
        && text[..plus].chars().all(|c| c.is_ascii_digit())
    {
        let digits = &text[..plus];
        parents = Some(digits.parse().ok());
        text = &text[plus + 1..];
    }
    let mut children = None;
    if let Some(plus) = text.rfind('+')
        && text[plus + 1..].chars().all(|c| c.is_ascii_digit())
    {
        let digits = &text[plus + 1..];
        children = Some(digits.parse().ok());
        text = &text[..plus];
    }
    let (method, value) = match text.split_once(':') {
        Some((m, v)) => (m.to_string(), v.to_string()),
        None if text.contains('/') || text.ends_with(".sql") => {
            ("path".to_string(), text.to_string())
        }
        None => ("fqn".to_string(), text.to_string()),
    };
    Term {
        parents,
        children,
        method,
        value,
    }
}

fn matches(manifest: &Manifest, node: &Node, method: &str, value: &str) -> bool {
    match method {
        "fqn" => {
            node.name == value
                || node.fqn.join(".") == value
                || (value.contains('.') && node.fqn.join(".").starts_with(&format!("{value}.")))
                || (value == manifest.project.name)
                || (value.contains('*') && crate::util::glob::matches(value, &node.name))
        }
        "tag" => node.tags().iter().any(|t| t == value),
        "path" => {
            let value = value.trim_end_matches('/');
            node.original_file_path == value
                || node.original_file_path.starts_with(&format!("{value}/"))
        }
        "resource_type" => node.resource_type.as_str() == value,
        "package" => node.package_name == value,
        "test_type" => match value {
            "generic" => node.test_metadata.is_some(),
            "singular" | "data" => {
                node.resource_type == ResourceType::Test && node.test_metadata.is_none()
            }
            _ => false,
        },
        "test_name" => node.test_metadata.as_ref().is_some_and(|m| m.name == value),
        m if m.starts_with("config.") => node
            .config
            .str(&m["config.".len()..])
            .is_some_and(|v| v == value),
        _ => false,
    }
}

/// The ids a selection names (nodes and sources), before exclusion.
fn select_terms(
    manifest: &Manifest,
    graph: &Graph,
    selectors: &[String],
) -> Result<BTreeSet<String>, TransformError> {
    let mut selected = BTreeSet::new();
    for selector in selectors.iter().flat_map(|s| s.split_whitespace()) {
        // `a,b` is an intersection
        let mut intersection: Option<BTreeSet<String>> = None;
        for part in selector.split(',') {
            let term = parse_term(part);
            let mut hits: BTreeSet<String> = BTreeSet::new();
            if term.method == "source" {
                let (source, table) = term
                    .value
                    .split_once('.')
                    .map(|(s, t)| (s, Some(t)))
                    .unwrap_or((&term.value, None));
                for s in manifest.sources.values() {
                    if s.source_name == source && table.is_none_or(|t| t == s.name || t == "*") {
                        hits.insert(s.unique_id.clone());
                    }
                }
            } else {
                for node in manifest.nodes.values() {
                    if matches(manifest, node, &term.method, &term.value) {
                        hits.insert(node.unique_id.clone());
                    }
                }
            }
            if hits.is_empty() {
                // as in dbt: a warning, not an error
                tracing::warn!("The selection criterion '{part}' does not match any enabled nodes");
            }
            let mut expanded = hits.clone();
            for id in &hits {
                if let Some(depth) = term.parents {
                    expanded.extend(graph.walk(id, true, depth));
                }
                if let Some(depth) = term.children {
                    expanded.extend(graph.walk(id, false, depth));
                }
            }
            intersection = Some(match intersection {
                None => expanded,
                Some(previous) => previous.intersection(&expanded).cloned().collect(),
            });
        }
        selected.extend(intersection.unwrap_or_default());
    }
    Ok(selected)
}

/// Tests with at least one parent in `ids` (dbt's "eager" indirect selection).
fn attached_tests(manifest: &Manifest, ids: &BTreeSet<String>) -> Vec<String> {
    manifest
        .nodes
        .values()
        .filter(|n| n.resource_type == ResourceType::Test)
        .filter(|n| n.depends_on.iter().any(|p| ids.contains(p)))
        .map(|n| n.unique_id.clone())
        .collect()
}

/// The nodes to run: everything (no selectors) or the selection, minus exclusions;
/// like dbt, the tests of selected nodes come along and the tests of excluded ones go.
pub fn select(
    manifest: &Manifest,
    graph: &Graph,
    selectors: &[String],
    exclude: &[String],
) -> Result<BTreeSet<String>, TransformError> {
    let mut selected: BTreeSet<String> = if selectors.iter().all(|s| s.trim().is_empty()) {
        manifest.nodes.keys().cloned().collect()
    } else {
        select_terms(manifest, graph, selectors)?
    };
    let tests = attached_tests(manifest, &selected);
    selected.extend(tests);
    if !exclude.iter().all(|s| s.trim().is_empty()) {
        let mut excluded = select_terms(manifest, graph, exclude)?;
        excluded.extend(attached_tests(manifest, &excluded));
        for id in &excluded {
            selected.remove(id);
        }
    }
    selected.retain(|id| manifest.nodes.contains_key(id));
    Ok(selected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_terms() {
        assert_eq!(
            parse_term("+orders"),
            Term {
                parents: Some(None),
                children: None,
                method: "fqn".into(),
                value: "orders".into()
            }
        );
        assert_eq!(
            parse_term("2+orders+"),
            Term {
                parents: Some(Some(2)),
                children: Some(None),
                method: "fqn".into(),
                value: "orders".into()
            }
        );
        assert_eq!(
            parse_term("source:shop+"),
            Term {
                parents: None,
                children: Some(None),
                method: "source".into(),
                value: "shop".into()
            }
        );
        assert_eq!(parse_term("tag:nightly").method, "tag");
        assert_eq!(parse_term("models/marts").method, "path");
    }
}
