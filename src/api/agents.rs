//! The operations offered to AI agents as tools, described from the published OpenAPI
//! document (the same operation metadata people and generated clients read): `GET
//! /api/tools` lists them, and the MCP server (`api/mcp.rs`) offers and calls them. A
//! tool is a named operation; calling one is a request to that operation with the
//! caller's own credentials, so permissions, limits and audit are the REST API's.

use std::sync::{Arc, OnceLock};

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::{Map, Value, json};

use super::ApiTag;
use super::context::Caller;
use crate::auth::Permission;
use crate::catalog::{CatalogDeps, CatalogSummary};
use crate::state::AppState;

/// (tool, operation id, what the tool is for, whether it only reads).
const TOOLS: &[(&str, &str, &str, bool)] = &[
    (
        "list_sources",
        "list_sources",
        "List the configured data sources with their sync status, freshness and row counts.",
        true,
    ),
    (
        "get_source_details",
        "source_details",
        "One source in detail: configuration, tables, recent syncs and freshness.",
        true,
    ),
    (
        "describe_table",
        "catalog_table_columns",
        "The columns of a table (a source's raw table, its staging view, or a dbt model by schema) with types, documentation and profile statistics.",
        true,
    ),
    (
        "search_catalog",
        "catalog_search",
        "Search sources, tables, models and columns by name, tag or description (typo-tolerant).",
        true,
    ),
    (
        "get_lineage",
        "catalog_impact",
        "Everything downstream of a model or source: the dependency tree with counts.",
        true,
    ),
    (
        "run_query",
        "run_query",
        "Run one read-only SQL query (DuckDB dialect) on the warehouse; tables are schema.table (raw_<source>.<table>, staging.stg_…, marts.…). At most 10,000 rows.",
        true,
    ),
    (
        "list_models",
        "list_dbt_models",
        "List the dbt models with their materialization, schema and last build status.",
        true,
    ),
    (
        "get_model",
        "catalog_model",
        "One dbt model or source: SQL, compiled SQL, columns, tests, parents and children.",
        true,
    ),
    (
        "trigger_sync",
        "sync_source",
        "Start a sync of one source (needs source.sync); returns the run id to follow with get_run_status.",
        false,
    ),
    (
        "run_models",
        "run_dbt",
        "Start a dbt run, build or test (needs dbt.run), optionally with a selector; returns the run id.",
        false,
    ),
    (
        "get_run_status",
        "sync_status",
        "The status of a sync or dbt run by its id: phase, progress, results, error.",
        true,
    ),
    (
        "list_schedules",
        "list_schedules",
        "List the schedules: what each syncs or builds, its cron expression in words, time zone and next firing.",
        true,
    ),
    (
        "preview_schedule",
        "preview_schedule",
        "When one schedule fires next: its next firings in UTC and on its own clock.",
        true,
    ),
];

/// One tool, described from its operation.
#[derive(Debug, Clone)]
pub struct ToolSpec {
    pub name: &'static str,
    pub description: &'static str,
    pub read_only: bool,
    pub method: String,
    /// The path template (`/api/sources/{source_name}/sync`).
    pub path: String,
    pub permission: String,
    /// Arguments that fill the path.
    pub path_params: Vec<String>,
    /// Arguments sent in the query string.
    pub query_params: Vec<String>,
    /// JSON Schema of the arguments (path, query and body fields together).
    pub input_schema: Value,
    /// Whether the operation takes a JSON body (the remaining arguments).
    pub has_body: bool,
}

/// Every tool, described from the published document (built once).
pub fn tools() -> &'static [ToolSpec] {
    static SPECS: OnceLock<Vec<ToolSpec>> = OnceLock::new();
    SPECS.get_or_init(|| describe(&super::spec::document(&super::service())))
}

fn describe(document: &Value) -> Vec<ToolSpec> {
    let mut operations = Vec::new();
    if let Some(paths) = document["paths"].as_object() {
        for (path, methods) in paths {
            for (method, operation) in methods.as_object().into_iter().flatten() {
                operations.push((path.clone(), method.to_uppercase(), operation));
            }
        }
    }
    TOOLS
        .iter()
        .filter_map(|(name, operation_id, description, read_only)| {
            let (path, method, operation) = operations
                .iter()
                .find(|(_, _, op)| op["operationId"] == *operation_id)?;
            let mut properties = Map::new();
            let mut required = Vec::new();
            let (mut path_params, mut query_params) = (Vec::new(), Vec::new());
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let Some(param) = parameter["name"].as_str() else {
                    continue;
                };
                let mut schema = parameter["schema"].clone();
                if let Some(text) = parameter["description"].as_str() {
                    schema["description"] = text.into();
                }
                properties.insert(param.to_string(), schema);
                if parameter["required"] == true {
                    required.push(Value::from(param));
                }
                match parameter["in"].as_str() {
                    Some("path") => path_params.push(param.to_string()),
                    Some("query") => query_params.push(param.to_string()),
                    _ => {}
                }
            }
            let body = operation["requestBody"]["content"]
                .as_object()
                .and_then(|content| content.values().next())
                .map(|media| resolve(document, &media["schema"]));
            if let Some(body) = &body {
                for (field, schema) in body["properties"].as_object().into_iter().flatten() {
                    properties.insert(field.clone(), resolve(document, schema));
                }
                required.extend(body["required"].as_array().cloned().unwrap_or_default());
            }
            Some(ToolSpec {
                name,
                description,
                read_only: *read_only,
                method: method.clone(),
                path: path.clone(),
                permission: operation["x-dango-permission"]
                    .as_str()
                    .unwrap_or("authenticated")
                    .to_string(),
                path_params,
                query_params,
                input_schema: json!({
                    "type": "object",
                    "properties": properties,
                    "required": required,
                }),
                has_body: body.is_some(),
            })
        })
        .collect()
}

/// `schema` with a top-level `$ref` (or a one-element `allOf` of one) replaced by its
/// target, so a tool's argument schema stands alone.
fn resolve(document: &Value, schema: &Value) -> Value {
    let reference = schema["$ref"]
        .as_str()
        .or_else(|| schema["allOf"][0]["$ref"].as_str());
    match reference.and_then(|r| r.strip_prefix("#/components/schemas/")) {
        Some(name) => {
            let mut target = document["components"]["schemas"][name].clone();
            if let Some(text) = schema["description"].as_str() {
                target["description"] = text.into();
            }
            target
        }
        None => schema.clone(),
    }
}

/// The request a tool call makes: method, path with its query string, JSON body.
pub fn request_for(
    tool: &ToolSpec,
    arguments: &Map<String, Value>,
) -> Result<(String, String, Option<Value>), String> {
    let mut path = tool.path.clone();
    for param in &tool.path_params {
        let value = arguments
            .get(param)
            .map(argument_text)
            .ok_or_else(|| format!("missing argument '{param}'"))?;
        path = path.replace(&format!("{{{param}}}"), &urlencoding::encode(&value));
    }
    let query: Vec<String> = tool
        .query_params
        .iter()
        .filter_map(|param| {
            let value = arguments.get(param).filter(|v| !v.is_null())?;
            Some(format!(
                "{param}={}",
                urlencoding::encode(&argument_text(value))
            ))
        })
        .collect();
    if !query.is_empty() {
        path = format!("{path}?{}", query.join("&"));
    }
    let body = tool.has_body.then(|| {
        let fields: Map<String, Value> = arguments
            .iter()
            .filter(|(k, _)| !tool.path_params.contains(k) && !tool.query_params.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Value::Object(fields)
    });
    Ok((tool.method.clone(), path, body))
}

fn argument_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

pub struct AgentsApi;

#[derive(Object)]
pub struct ToolList {
    pub description: String,
    pub tools: Vec<ToolDescription>,
    /// The caller's role: tools needing a permission it lacks answer 403 when called.
    pub user_role: String,
}

#[derive(Object)]
pub struct ToolDescription {
    pub name: String,
    pub description: String,
    /// The operation the tool calls (`/api/sources/{source_name}/sync`).
    pub endpoint: String,
    pub method: String,
    pub parameters: Vec<ToolParameter>,
    pub permissions_required: Vec<String>,
    pub is_read_only: bool,
    pub is_safe_to_retry: bool,
    /// JSON Schema of the arguments, as the MCP server publishes it.
    pub input_schema: Value,
}

#[derive(Object)]
pub struct ToolParameter {
    pub name: String,
    /// The JSON type (`string`, `integer`, `boolean`, `object`, …).
    #[oai(rename = "type")]
    pub kind: String,
    pub required: bool,
    pub description: Option<String>,
    /// The allowed values, when there are few.
    #[oai(rename = "enum")]
    pub allowed: Option<Vec<String>>,
}

#[OpenApi(tag = "ApiTag::Agents")]
impl AgentsApi {
    /// The whole catalog in one answer, for agents
    ///
    /// Every configured source with its status, freshness, row count and raw tables (each
    /// with its columns), quality signals (for callers with `governance.view`; zero
    /// otherwise), and every dbt model with its schema, materialization, dependencies and
    /// last build status.
    #[oai(
        path = "/api/catalog/summary",
        method = "get",
        operation_id = "catalog_summary"
    )]
    async fn summary(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
    ) -> crate::Result<Json<CatalogSummary>> {
        let facts = state.source_facts().await?;
        let mut sources = crate::sources::statuses(
            &facts,
            &state.active_syncs().await?,
            &crate::sources::schedules_for_status(&state.paths),
        );
        sources.sort_by_key(|s| s.name.to_lowercase());
        let with_quality = caller.0.can(Permission::GovernanceView);
        let summary =
            crate::catalog::summary(CatalogDeps::of(&state), sources, with_quality).await?;
        audit(
            &state,
            &caller,
            "ai_catalog_viewed",
            json!({"endpoint": "summary"}),
        );
        Ok(Json(summary))
    }

    /// The API operations offered to AI agents as tools
    ///
    /// Each tool maps to one operation of this API (the same ones the MCP server at `/mcp`
    /// offers): its endpoint, parameters, the permission it needs, and whether it only
    /// reads. Every tool is listed to every caller; calling one needs its permission.
    #[oai(path = "/api/tools", method = "get", operation_id = "list_agent_tools")]
    async fn tools(&self, state: Data<&Arc<AppState>>, caller: Caller) -> Json<ToolList> {
        audit(
            &state,
            &caller,
            "ai_catalog_viewed",
            json!({"endpoint": "tools"}),
        );
        Json(ToolList {
            description: "Available Dango API tools. Each tool maps to an API endpoint. Check \
                          permissions_required before calling mutating endpoints."
                .into(),
            tools: tools().iter().map(description_of).collect(),
            user_role: caller.0.role.as_str().to_string(),
        })
    }
}

/// Records an agent-facing event in the audit log without holding up the answer.
pub fn audit(state: &AppState, caller: &Caller, event: &'static str, details: Value) {
    let record = crate::auth::audit::AuditEvent::new(event)
        .actor(&caller.0)
        .ip(caller.1.ip())
        .details(details);
    crate::auth::audit::record_in_background(&state.db, record);
}

fn description_of(tool: &ToolSpec) -> ToolDescription {
    let properties = tool.input_schema["properties"].as_object();
    let required = tool.input_schema["required"].as_array();
    ToolDescription {
        name: tool.name.to_string(),
        description: tool.description.to_string(),
        endpoint: tool.path.clone(),
        method: tool.method.clone(),
        parameters: properties
            .into_iter()
            .flatten()
            .map(|(name, schema)| ToolParameter {
                name: name.clone(),
                kind: schema["type"].as_str().unwrap_or("object").to_string(),
                required: required.is_some_and(|r| r.iter().any(|n| n == name)),
                description: schema["description"].as_str().map(str::to_string),
                allowed: schema["enum"]
                    .as_array()
                    .map(|values| values.iter().map(argument_text).collect()),
            })
            .collect(),
        permissions_required: vec![tool.permission.clone()],
        is_read_only: tool.read_only,
        is_safe_to_retry: tool.read_only,
        input_schema: tool.input_schema.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_names_a_published_operation() {
        let specs = tools();
        assert_eq!(
            specs.len(),
            TOOLS.len(),
            "a tool names an unknown operation"
        );
        let sync = specs.iter().find(|t| t.name == "trigger_sync").unwrap();
        assert_eq!(
            (sync.method.as_str(), sync.path.as_str()),
            ("POST", "/api/sources/{source_name}/sync")
        );
        assert_eq!(sync.permission, "source.sync");
        assert_eq!(sync.input_schema["required"], json!(["source_name"]));
        let query = specs.iter().find(|t| t.name == "run_query").unwrap();
        assert_eq!(query.input_schema["properties"]["sql"]["type"], "string");
        assert_eq!(query.input_schema["required"], json!(["sql"]));
    }

    #[test]
    fn a_call_fills_the_path_query_and_body() {
        let specs = tools();
        let describe = specs.iter().find(|t| t.name == "describe_table").unwrap();
        let args = json!({"source": "sales", "table": "a b"});
        let (method, path, body) = request_for(describe, args.as_object().unwrap()).unwrap();
        assert_eq!(
            (method.as_str(), path.as_str()),
            ("GET", "/api/catalog/sales/a%20b/columns")
        );
        assert_eq!(body, None);
        let search = specs.iter().find(|t| t.name == "search_catalog").unwrap();
        let (_, path, _) =
            request_for(search, json!({"q": "orders & co"}).as_object().unwrap()).unwrap();
        assert_eq!(path, "/api/catalog/search?q=orders%20%26%20co");
        let query = specs.iter().find(|t| t.name == "run_query").unwrap();
        let (_, _, body) =
            request_for(query, json!({"sql": "SELECT 1"}).as_object().unwrap()).unwrap();
        assert_eq!(body, Some(json!({"sql": "SELECT 1"})));
        assert!(request_for(describe, &Map::new()).is_err());
    }
}
