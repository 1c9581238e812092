//! dbt's artifacts (`manifest.json` v12, `run_results.json` v6, `catalog.json` v1), for
//! tools that read them and for Dango's own catalog, lineage and docs pages.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::TransformError;
use super::jinja::DBT_VERSION;
use super::manifest::Manifest;
use super::materialize::{RelationShape, all_relations};
use super::nodes::{ColumnInfo, Node, ResourceType, SourceTable};
use super::results::{NodeResult, RunReport, Status};

fn timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn columns_json(columns: &BTreeMap<String, ColumnInfo>) -> Value {
    let mut out = Map::new();
    for (name, column) in columns {
        out.insert(
            name.clone(),
            json!({
                "name": column.name,
                "description": column.description,
                "meta": column.meta,
                "data_type": column.data_type,
                "constraints": [],
                "quote": null,
                "config": {"meta": column.meta, "tags": column.tags},
                "tags": column.tags,
                "granularity": null,
                "doc_blocks": [],
            }),
        );
    }
    Value::Object(out)
}

/// Hooks as dbt's manifest lists them.
fn hooks_json(node: &Node, key: &str) -> Value {
    node.config
        .hooks(key)
        .into_iter()
        .map(|sql| json!({"sql": sql, "transaction": true, "index": null}))
        .collect()
}

fn node_config(node: &Node) -> Value {
    let mut config = json!({
        "enabled": true,
        "alias": node.config.str("alias"),
        "schema": node.config.str("schema"),
        "database": node.config.str("database"),
        "tags": node.config.tags(),
        "meta": node.config.get("meta").cloned().unwrap_or(json!({})),
        "group": null,
        "materialized": node.materialized(),
        "persist_docs": {},
        "post-hook": hooks_json(node, "post_hook"),
        "pre-hook": hooks_json(node, "pre_hook"),
        "quoting": {},
        "column_types": node.config.get("column_types").cloned().unwrap_or(json!({})),
        "full_refresh": node.config.get("full_refresh").cloned(),
        "unique_key": node.config.get("unique_key").cloned(),
        "on_schema_change": node.config.str("on_schema_change").unwrap_or_else(|| "ignore".into()),
        "grants": {},
        "packages": [],
        "docs": {"show": true, "node_color": null},
        "contract": {"enforced": false, "alias_types": true},
    });
    if let Some(map) = config.as_object_mut() {
        match node.resource_type {
            ResourceType::Model => {
                map.insert(
                    "incremental_strategy".into(),
                    json!(node.config.str("incremental_strategy")),
                );
                map.insert("access".into(), json!("protected"));
            }
            ResourceType::Seed => {
                map.insert(
                    "delimiter".into(),
                    json!(node.config.str("delimiter").unwrap_or_else(|| ",".into())),
                );
                map.insert(
                    "quote_columns".into(),
                    json!(node.config.bool("quote_columns")),
                );
            }
            ResourceType::Snapshot => {
                for key in [
                    "strategy",
                    "target_schema",
                    "target_database",
                    "updated_at",
                    "check_cols",
                    "dbt_valid_to_current",
                ] {
                    map.insert(
                        key.into(),
                        node.config.get(key).cloned().unwrap_or(Value::Null),
                    );
                }
            }
            ResourceType::Test => {
                map.insert("materialized".into(), json!("test"));
                map.insert(
                    "severity".into(),
                    json!(
                        node.config
                            .str("severity")
                            .unwrap_or_else(|| "error".into())
                            .to_uppercase()
                    ),
                );
                map.insert("store_failures".into(), json!(null));
                map.insert("where".into(), json!(node.config.str("where")));
                map.insert(
                    "limit".into(),
                    node.config.get("limit").cloned().unwrap_or(Value::Null),
                );
                map.insert(
                    "fail_calc".into(),
                    json!(
                        node.config
                            .str("fail_calc")
                            .unwrap_or_else(|| "count(*)".into())
                    ),
                );
                map.insert(
                    "warn_if".into(),
                    json!(node.config.str("warn_if").unwrap_or_else(|| "!= 0".into())),
                );
                map.insert(
                    "error_if".into(),
                    json!(node.config.str("error_if").unwrap_or_else(|| "!= 0".into())),
                );
            }
            ResourceType::Analysis => {}
        }
    }
    config
}

fn node_json(manifest: &Manifest, node: &Node, compiled: Option<&String>) -> Value {
    let mut value = json!({
        "database": node.database,
        "schema": node.schema,
        "name": node.name,
        "resource_type": node.resource_type.as_str(),
        "package_name": node.package_name,
        "path": node.path,
        "original_file_path": node.original_file_path,
        "unique_id": node.unique_id,
        "fqn": node.fqn,
        "alias": node.alias,
        "checksum": if node.checksum.is_empty() { json!({"name": "none", "checksum": ""}) } else { json!({"name": "sha256", "checksum": node.checksum}) },
        "config": node_config(node),
        "tags": node.tags(),
        "description": node.description,
        "columns": columns_json(&node.columns),
        "meta": node.config.get("meta").cloned().unwrap_or(json!({})),
        "group": null,
        "docs": {"show": true, "node_color": null},
        "patch_path": node.patch_path.as_ref().map(|p| format!("{}://{p}", manifest.project.name)),
        "build_path": null,
        "unrendered_config": {},
        "created_at": Utc::now().timestamp() as f64,
        "relation_name": if node.is_ephemeral() || node.resource_type == ResourceType::Test { Value::Null } else { json!(node.relation_name()) },
        "raw_code": node.raw_code,
        "doc_blocks": [],
        "language": node.language,
        "refs": node.refs.iter().map(|r| json!({"name": r.name, "package": r.package, "version": null})).collect::<Vec<_>>(),
        "sources": node.sources.iter().map(|(s, t)| json!([s, t])).collect::<Vec<_>>(),
        "metrics": [],
        "functions": [],
        "depends_on": {"macros": node.macros, "nodes": node.depends_on},
        "compiled_path": compiled.map(|_| format!("target/compiled/{}/{}", manifest.project.name, node.original_file_path)),
        "compiled": compiled.is_some(),
        "compiled_code": compiled,
        "extra_ctes_injected": compiled.is_some(),
        "extra_ctes": [],
        "contract": {"enforced": false, "alias_types": true, "checksum": null},
    });
    if let Some(map) = value.as_object_mut() {
        match node.resource_type {
            ResourceType::Model => {
                map.insert("access".into(), json!("protected"));
                map.insert("constraints".into(), json!([]));
                map.insert("version".into(), Value::Null);
                map.insert("latest_version".into(), Value::Null);
                map.insert("deprecation_date".into(), Value::Null);
                map.insert("primary_key".into(), json!(primary_key(manifest, node)));
                map.insert("time_spine".into(), Value::Null);
            }
            ResourceType::Seed => {
                map.insert(
                    "root_path".into(),
                    json!(manifest.project.root.to_string_lossy()),
                );
                for key in [
                    "compiled_path",
                    "compiled",
                    "compiled_code",
                    "extra_ctes_injected",
                    "extra_ctes",
                    "contract",
                    "refs",
                    "sources",
                    "metrics",
                    "functions",
                    "raw_code",
                    "language",
                ] {
                    map.remove(key);
                }
                map.insert("depends_on".into(), json!({"macros": []}));
            }
            ResourceType::Test => {
                if let Some(meta) = &node.test_metadata {
                    map.insert("column_name".into(), json!(node.column_name));
                    map.insert(
                        "file_key_name".into(),
                        json!(format!(
                            "models.{}",
                            node.attached_node
                                .as_deref()
                                .map(super::nodes::node_name)
                                .unwrap_or_default()
                        )),
                    );
                    map.insert("attached_node".into(), json!(node.attached_node));
                    map.insert("test_metadata".into(), json!({"name": meta.name, "kwargs": meta.kwargs, "namespace": meta.namespace}));
                }
            }
            _ => {}
        }
    }
    value
}

/// Columns with both a `unique` and a `not_null` test (dbt's inferred primary key).
fn primary_key(manifest: &Manifest, node: &Node) -> Vec<String> {
    let tests_on = |kind: &str| -> Vec<String> {
        manifest
            .nodes
            .values()
            .filter(|t| t.attached_node.as_deref() == Some(node.unique_id.as_str()))
            .filter(|t| t.test_metadata.as_ref().is_some_and(|m| m.name == kind))
            .filter_map(|t| t.column_name.clone())
            .collect()
    };
    let not_null = tests_on("not_null");
    let mut keys: Vec<String> = tests_on("unique")
        .into_iter()
        .filter(|c| not_null.contains(c))
        .collect();
    keys.sort();
    keys
}

fn source_json(source: &SourceTable) -> Value {
    json!({
        "database": source.database,
        "schema": source.schema,
        "name": source.name,
        "resource_type": "source",
        "package_name": source.package_name,
        "path": source.path,
        "original_file_path": source.original_file_path,
        "unique_id": source.unique_id,
        "fqn": source.fqn,
        "source_name": source.source_name,
        "source_description": source.source_description,
        "loader": "",
        "identifier": source.identifier,
        "quoting": {"database": null, "schema": null, "identifier": null, "column": null},
        "loaded_at_field": source.loaded_at_field,
        "loaded_at_query": null,
        "freshness": {"warn_after": {"count": null, "period": null}, "error_after": {"count": null, "period": null}, "filter": null},
        "external": null,
        "description": source.description,
        "columns": columns_json(&source.columns),
        "meta": source.meta,
        "source_meta": {},
        "tags": source.tags,
        "config": {"enabled": true, "event_time": null, "freshness": null},
        "patch_path": null,
        "unrendered_config": {},
        "relation_name": source.relation_name(),
        "created_at": Utc::now().timestamp() as f64,
        "unrendered_database": null,
        "unrendered_schema": null,
        "doc_blocks": [],
    })
}

pub fn manifest_json(
    manifest: &Manifest,
    compiled: &HashMap<String, String>,
    invocation_id: &str,
    started_at: DateTime<Utc>,
) -> Value {
    let nodes: Map<String, Value> = manifest
        .nodes
        .values()
        .map(|n| {
            (
                n.unique_id.clone(),
                node_json(manifest, n, compiled.get(&n.unique_id)),
            )
        })
        .collect();
    let sources: Map<String, Value> = manifest
        .sources
        .values()
        .map(|s| (s.unique_id.clone(), source_json(s)))
        .collect();
    let mut parent_map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut child_map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for id in manifest.sources.keys() {
        parent_map.insert(id.clone(), vec![]);
        child_map.insert(id.clone(), vec![]);
    }
    for node in manifest.nodes.values() {
        parent_map.insert(node.unique_id.clone(), node.depends_on.clone());
        child_map.entry(node.unique_id.clone()).or_default();
        for parent in &node.depends_on {
            child_map
                .entry(parent.clone())
                .or_default()
                .push(node.unique_id.clone());
        }
    }
    for children in child_map.values_mut() {
        children.sort();
    }
    let docs: Map<String, Value> = manifest
        .docs
        .iter()
        .map(|(name, (text, file))| {
            let id = format!("doc.{}.{name}", manifest.project.name);
            (id.clone(), json!({"name": name, "resource_type": "doc", "package_name": manifest.project.name, "path": file, "original_file_path": file, "unique_id": id, "block_contents": text}))
        })
        .collect();
    json!({
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
            "dbt_version": DBT_VERSION,
            "generated_at": timestamp(Utc::now()),
            "invocation_id": invocation_id,
            "invocation_started_at": timestamp(started_at),
            "env": {},
            "project_name": manifest.project.name,
            "project_id": hex::encode(<md5::Md5 as md5::Digest>::digest(manifest.project.name.as_bytes())),
            "user_id": null,
            "send_anonymous_usage_stats": false,
            "adapter_type": "duckdb",
            "quoting": {"database": true, "schema": true, "identifier": true, "column": null},
            "run_started_at": started_at.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string(),
        },
        "nodes": nodes,
        "sources": sources,
        "macros": {},
        "docs": docs,
        "exposures": {},
        "metrics": {},
        "groups": {},
        "selectors": {},
        "disabled": manifest.disabled.iter().map(|id| (id.clone(), json!([]))).collect::<Map<String, Value>>(),
        "parent_map": parent_map,
        "child_map": child_map,
        "group_map": {},
        "saved_queries": {},
        "semantic_models": {},
        "unit_tests": {},
        "functions": {},
    })
}

fn result_json(result: &NodeResult) -> Value {
    let adapter_response = match (result.status, &result.message) {
        (Status::Skipped, _) => json!({}),
        (_, Some(message)) if message.starts_with("INSERT") || message.starts_with("CREATE") => {
            json!({
                "_message": message,
                "code": message.split_whitespace().next(),
                "rows_affected": result.rows_affected,
            })
        }
        _ => json!({"_message": "OK"}),
    };
    json!({
        "status": result.status.as_str(),
        "timing": [
            {"name": "compile", "started_at": timestamp(result.started_at), "completed_at": timestamp(result.started_at)},
            {"name": "execute", "started_at": timestamp(result.started_at), "completed_at": timestamp(result.completed_at)},
        ],
        "thread_id": result.thread_id,
        "execution_time": result.execution_time,
        "adapter_response": adapter_response,
        "message": match result.status {
            Status::Pass | Status::Skipped => Value::Null,
            _ => json!(result.message),
        },
        "failures": result.failures,
        "unique_id": result.unique_id,
        "compiled": result.compiled_code.is_some(),
        "compiled_code": result.compiled_code,
        "relation_name": result.relation_name,
        "batch_results": null,
    })
}

pub fn run_results_json(report: &RunReport, started_at: DateTime<Utc>) -> Value {
    json!({
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json",
            "dbt_version": DBT_VERSION,
            "generated_at": timestamp(report.generated_at),
            "invocation_id": report.invocation_id,
            "invocation_started_at": timestamp(started_at),
            "env": {},
        },
        "results": report.results.iter().map(result_json).collect::<Vec<_>>(),
        "elapsed_time": report.elapsed_time,
        "args": report.args,
    })
}

fn catalog_entry(
    relations: &HashMap<(String, String), RelationShape>,
    unique_id: &str,
    database: &str,
    schema: &str,
    name: &str,
) -> Option<Value> {
    let (kind, columns) = relations.get(&(schema.to_string(), name.to_string()))?;
    let columns: Map<String, Value> = columns
        .iter()
        .enumerate()
        .map(|(i, (column, ty))| {
            (
                column.clone(),
                json!({"type": ty, "index": i + 1, "name": column, "comment": null}),
            )
        })
        .collect();
    Some(json!({
        "metadata": {"type": kind, "schema": schema, "name": name, "database": database, "comment": null, "owner": null},
        "columns": columns,
        "stats": {"has_stats": {"id": "has_stats", "label": "Has Stats?", "value": false, "include": false, "description": "Indicates whether there are statistics for this table"}},
        "unique_id": unique_id,
    }))
}

pub fn catalog_json(conn: &duckdb::Connection, manifest: &Manifest, invocation_id: &str) -> Value {
    let relations = all_relations(conn).unwrap_or_else(|err| {
        tracing::warn!("cannot read the warehouse's catalog: {err}");
        HashMap::new()
    });
    let mut nodes = Map::new();
    for node in manifest.nodes.values() {
        if node.resource_type == ResourceType::Test || node.is_ephemeral() {
            continue;
        }
        if let Some(entry) = catalog_entry(
            &relations,
            &node.unique_id,
            &node.database,
            &node.schema,
            &node.alias,
        ) {
            nodes.insert(node.unique_id.clone(), entry);
        }
    }
    let mut sources = Map::new();
    for source in manifest.sources.values() {
        if let Some(entry) = catalog_entry(
            &relations,
            &source.unique_id,
            &source.database,
            &source.schema,
            &source.identifier,
        ) {
            sources.insert(source.unique_id.clone(), entry);
        }
    }
    json!({
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/catalog/v1.json",
            "dbt_version": DBT_VERSION,
            "generated_at": timestamp(Utc::now()),
            "invocation_id": invocation_id,
            "invocation_started_at": timestamp(Utc::now()),
            "env": {},
        },
        "nodes": nodes,
        "sources": sources,
        "errors": null,
    })
}

/// Compiled SQL of every node (for the manifest), reusing what the run produced.
pub fn compile_all(
    manifest: &Manifest,
    report: Option<&RunReport>,
    conn: &duckdb::Connection,
) -> HashMap<String, String> {
    let mut compiled: HashMap<String, String> = report
        .map(|r| {
            r.results
                .iter()
                .filter_map(|res| {
                    res.compiled_code
                        .clone()
                        .map(|c| (res.unique_id.clone(), c))
                })
                .collect()
        })
        .unwrap_or_default();
    let resolver = manifest.resolver();
    for node in manifest.nodes.values() {
        if compiled.contains_key(&node.unique_id) || node.resource_type == ResourceType::Seed {
            continue;
        }
        if let Ok(result) =
            super::compile::compile(manifest, &resolver, node, false, conn.try_clone().ok())
        {
            compiled.insert(node.unique_id.clone(), result.sql);
        }
    }
    compiled
}

fn write_json(path: &std::path::Path, value: &Value) -> Result<(), TransformError> {
    let text = serde_json::to_string(value).map_err(|e| TransformError::Io(e.to_string()))?;
    crate::util::write_atomic(path, text.as_bytes()).map_err(|e| TransformError::io(path, e))
}

/// Writes `manifest.json`, `run_results.json` (when there was a run) and `catalog.json`.
pub fn write(
    manifest: &Manifest,
    report: Option<&RunReport>,
    conn: &duckdb::Connection,
    started_at: DateTime<Utc>,
) -> Result<(), TransformError> {
    let target = manifest.project.target_dir();
    std::fs::create_dir_all(&target).map_err(|e| TransformError::io(&target, e))?;
    let invocation_id = report
        .map(|r| r.invocation_id.clone())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let compiled = compile_all(manifest, report, conn);
    write_json(
        &target.join("manifest.json"),
        &manifest_json(manifest, &compiled, &invocation_id, started_at),
    )?;
    if let Some(report) = report {
        write_json(
            &target.join("run_results.json"),
            &run_results_json(report, started_at),
        )?;
    }
    write_json(
        &target.join("catalog.json"),
        &catalog_json(conn, manifest, &invocation_id),
    )?;
    Ok(())
}
