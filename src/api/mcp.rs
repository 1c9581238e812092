//! The MCP server at `/mcp` (Model Context Protocol, Streamable HTTP transport: JSON-RPC
//! 2.0 messages POSTed, answered as `application/json`; no server-initiated stream, so
//! GET answers 405). Its tools are the agent tools of `api/agents.rs`: a call is an
//! in-process request to the tool's REST operation, through the same request guard, with
//! the caller's own credentials, so an MCP client can do exactly what its key can do in
//! the REST API. Every tool call is audited (`mcp_tool_called`).

use std::sync::Arc;

use poem::endpoint::BoxEndpoint;
use poem::http::{HeaderValue, Method, StatusCode};
use poem::web::Data;
use poem::{Body, Endpoint, IntoResponse, Request, RequestParts, Response, handler};
use serde_json::{Map, Value, json};

use super::agents::{self, ToolSpec};
use super::context::Caller;
use crate::state::AppState;

/// Protocol revisions this server speaks, newest first.
pub const PROTOCOL_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// Resources offered: the catalog as agents read it.
const RESOURCES: &[(&str, &str, &str, &str)] = &[
    (
        "dango://catalog/summary",
        "catalog-summary",
        "Every source with its tables and columns, freshness and quality, and every dbt model",
        "/api/catalog/summary",
    ),
    (
        "dango://catalog/models",
        "catalog-models",
        "Every dbt model, seed and source with tests, documentation and row counts",
        "/api/catalog/models",
    ),
    (
        "dango://sources",
        "sources",
        "The configured data sources with status and freshness",
        "/api/sources",
    ),
];

/// The guarded API that tool calls are sent to (the whole surface but `/mcp` itself).
#[derive(Clone)]
pub struct Dispatch(pub Arc<BoxEndpoint<'static, Response>>);

/// `POST /mcp`: one JSON-RPC message or a batch.
#[handler]
pub async fn post(
    req: &Request,
    body: Vec<u8>,
    caller: Caller,
    state: Data<&Arc<AppState>>,
    dispatch: Data<&Dispatch>,
) -> Response {
    if let Some(version) = req.header("mcp-protocol-version")
        && !PROTOCOL_VERSIONS.contains(&version)
    {
        return rpc_failure(
            StatusCode::BAD_REQUEST,
            Value::Null,
            -32600,
            &format!("Unsupported MCP-Protocol-Version {version}"),
        );
    }
    let message: Value = match serde_json::from_slice(&body) {
        Ok(message) => message,
        Err(err) => {
            return rpc_failure(
                StatusCode::BAD_REQUEST,
                Value::Null,
                -32700,
                &format!("Parse error: {err}"),
            );
        }
    };
    let session = Session {
        req,
        caller: &caller,
        state: &state,
        dispatch: &dispatch,
    };
    let answer = match message {
        Value::Array(batch) if !batch.is_empty() => {
            let mut answers = Vec::new();
            for message in batch {
                if let Some(answer) = session.handle(message).await {
                    answers.push(answer);
                }
            }
            (!answers.is_empty()).then_some(Value::Array(answers))
        }
        message => session.handle(message).await,
    };
    match answer {
        Some(answer) => json_response(StatusCode::OK, &answer),
        // Only notifications and responses: accepted, nothing to answer.
        None => StatusCode::ACCEPTED.into_response(),
    }
}

/// `GET` and `DELETE /mcp`: this server keeps no streams and no sessions.
#[handler]
pub async fn unsupported() -> Response {
    let mut response = crate::Error::new(
        crate::ErrorKind::MethodNotAllowed,
        "This MCP server answers POSTed JSON-RPC messages only",
    )
    .to_response();
    response
        .headers_mut()
        .insert("Allow", HeaderValue::from_static("POST"));
    response
}

struct Session<'a> {
    req: &'a Request,
    caller: &'a Caller,
    state: &'a Arc<AppState>,
    dispatch: &'a Dispatch,
}

impl Session<'_> {
    /// The answer to one message; none for a notification or a response.
    async fn handle(&self, message: Value) -> Option<Value> {
        let id = message.get("id").cloned();
        let Some(method) = message.get("method").and_then(Value::as_str) else {
            // A response to something we never asked, or not JSON-RPC at all.
            return id.map(|id| failure(id, -32600, "Invalid Request: no method"));
        };
        let id = id?; // a notification (`notifications/initialized`, …): nothing to answer
        let params = message.get("params").cloned().unwrap_or(Value::Null);
        let result = match method {
            "initialize" => Ok(initialize(&params)),
            "ping" => Ok(json!({})),
            "tools/list" => {
                Ok(json!({"tools": agents::tools().iter().map(tool_listing).collect::<Vec<_>>()}))
            }
            "tools/call" => self.call_tool(&params).await,
            "resources/list" => Ok(
                json!({"resources": RESOURCES.iter().map(|(uri, name, description, _)| json!({
                "uri": uri, "name": name, "description": description, "mimeType": "application/json"
            })).collect::<Vec<_>>()}),
            ),
            "resources/read" => self.read_resource(&params).await,
            "prompts/list" => Ok(json!({"prompts": []})),
            other => Err((-32601, format!("Method not found: {other}"))),
        };
        Some(match result {
            Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
            Err((code, message)) => failure(id, code, &message),
        })
    }

    async fn call_tool(&self, params: &Value) -> Result<Value, (i64, String)> {
        let name = params["name"]
            .as_str()
            .ok_or((-32602, "tools/call needs a tool name".to_string()))?;
        let tool = agents::tools()
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| (-32602, format!("Unknown tool: {name}")))?;
        let empty = Map::new();
        let arguments = match &params["arguments"] {
            Value::Object(arguments) => arguments,
            Value::Null => &empty,
            _ => return Err((-32602, "arguments must be an object".to_string())),
        };
        let (status, answer) = match agents::request_for(tool, arguments) {
            Ok((method, path, body)) => self.send(&method, &path, body).await,
            Err(message) => (400, json!({"detail": message})),
        };
        agents::audit(
            self.state,
            self.caller,
            "mcp_tool_called",
            json!({"tool": name, "status": status}),
        );
        Ok(tool_result(status, answer))
    }

    async fn read_resource(&self, params: &Value) -> Result<Value, (i64, String)> {
        let uri = params["uri"].as_str().unwrap_or_default();
        let (_, _, _, path) = RESOURCES
            .iter()
            .find(|(known, ..)| *known == uri)
            .ok_or_else(|| (-32002, format!("Resource not found: {uri}")))?;
        let (status, answer) = self.send("GET", path, None).await;
        if status >= 400 {
            let detail = answer["detail"].as_str().unwrap_or("refused").to_string();
            return Err((-32603, format!("{uri}: {detail}")));
        }
        Ok(
            json!({"contents": [{"uri": uri, "mimeType": "application/json", "text": answer.to_string()}]}),
        )
    }

    /// Sends a request to the REST API as the caller: same credentials, same address.
    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut builder = poem::http::Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET))
            .uri(path);
        for name in [
            "authorization",
            "cookie",
            "user-agent",
            "host",
            "x-forwarded-for",
            "x-forwarded-proto",
            "x-forwarded-host",
        ] {
            if let Some(value) = self.req.headers().get(name) {
                builder = builder.header(name, value.clone());
            }
        }
        // The MCP request itself passed the guard's CSRF check.
        builder = builder.header("x-requested-with", "mcp");
        let bytes = match &body {
            Some(body) => {
                builder = builder.header("content-type", "application/json");
                body.to_string().into_bytes()
            }
            None => Vec::new(),
        };
        let (parts, ()) = match builder.body(()) {
            Ok(request) => request.into_parts(),
            Err(err) => {
                return (
                    400,
                    json!({"detail": format!("cannot build the request: {err}")}),
                );
            }
        };
        let parts = RequestParts::from((
            parts,
            self.req.local_addr().clone(),
            self.req.remote_addr().clone(),
            self.req.scheme().clone(),
        ));
        let request = Request::from_parts(parts, Body::from(bytes));
        let response = match self.dispatch.0.call(request).await {
            Ok(response) => response,
            Err(err) => err.into_response(),
        };
        let status = response.status().as_u16();
        let text = response.into_body().into_string().await.unwrap_or_default();
        let answer = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, answer)
    }
}

fn initialize(params: &Value) -> Value {
    let asked = params["protocolVersion"].as_str().unwrap_or_default();
    let version = PROTOCOL_VERSIONS
        .iter()
        .find(|v| **v == asked)
        .unwrap_or(&PROTOCOL_VERSIONS[0]);
    json!({
        "protocolVersion": version,
        "capabilities": {"tools": {"listChanged": false}, "resources": {"listChanged": false, "subscribe": false}, "prompts": {"listChanged": false}},
        "serverInfo": {"name": "dango", "title": "Dango data platform", "version": env!("CARGO_PKG_VERSION")},
        "instructions": "Dango's warehouse and catalog. Start with list_sources or search_catalog, \
                         read a table with describe_table, ask with run_query (read-only DuckDB SQL, \
                         tables as schema.table). trigger_sync and run_models start runs; follow them \
                         with get_run_status."
    })
}

fn tool_listing(tool: &ToolSpec) -> Value {
    json!({
        "name": tool.name,
        "description": format!("{} (permission: {})", tool.description, tool.permission),
        "inputSchema": tool.input_schema,
        "annotations": {
            "readOnlyHint": tool.read_only,
            "destructiveHint": false,
            "idempotentHint": tool.read_only,
            "openWorldHint": false,
        },
    })
}

/// A tool's outcome: the REST answer as text and structured content; a refusal (4xx,
/// 5xx) is a tool error the agent can read and act on, not a protocol error.
fn tool_result(status: u16, answer: Value) -> Value {
    let text = match &answer {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let mut result = json!({
        "content": [{"type": "text", "text": if status >= 400 { format!("HTTP {status}: {text}") } else { text }}],
        "isError": status >= 400,
    });
    if status < 400 {
        // Structured content must be an object; lists are wrapped.
        result["structuredContent"] = match answer {
            Value::Object(object) => Value::Object(object),
            other => json!({"result": other}),
        };
    }
    result
}

fn failure(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn rpc_failure(status: StatusCode, id: Value, code: i64, message: &str) -> Response {
    json_response(status, &failure(id, code, message))
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = Response::builder().status(status).body(body.to_string());
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}
