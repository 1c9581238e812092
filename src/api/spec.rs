//! The OpenAPI document as served and committed: poem-openapi's generated document,
//! completed with what the handler types cannot say by themselves, each rule derived
//! from the code that enforces it:
//!
//! - who may call each operation (`x-dango-permission`, `security`) from [`access::ROUTES`];
//! - exactly the statuses each operation can answer: those the request guard can give
//!   (authentication, permission, CSRF, body limits, content type, rate limits) derived
//!   from the same rules the guard applies, plus the handler's own from [`HANDLER_ERRORS`];
//! - the headers that come with them (`Retry-After`, `Set-Cookie`, `Location`);
//! - `nullable` on every optional field (they are sent as `null`), so generated clients
//!   accept what the server really sends.

use std::collections::BTreeMap;

use poem_openapi::OpenApiService;
use poem_openapi::registry::Registry;
use poem_openapi::types::Type;
use serde_json::{Value, json};

use super::access::{self, Access};
use super::error::ErrorBody;
use super::guard::{
    ALLOWED_BEFORE_PASSWORD_CHANGE, JSON_BODY_LIMIT, UPLOAD_BODY_LIMIT, rate_group,
};
use super::{Api, handler_errors::HANDLER_ERRORS};
use crate::events;
use crate::runs;

/// The document as pretty JSON with a final newline (`openapi/openapi.json`).
pub fn spec_json(service: &OpenApiService<Api, ()>) -> String {
    serde_json::to_string_pretty(&document(service)).unwrap_or_default() + "\n"
}

pub fn document(service: &OpenApiService<Api, ()>) -> Value {
    let mut spec: Value = serde_json::from_str(&service.spec()).unwrap_or_else(|_| json!({}));
    spec["components"]["securitySchemes"] = json!({
        "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "dango_session",
                          "description": "Session cookie set by POST /api/auth/login"},
        "apiKey": {"type": "http", "scheme": "bearer", "bearerFormat": "dango_ak_...",
                   "description": "API key from POST /api/auth/api-keys"},
        "partialSession": {"type": "apiKey", "in": "cookie", "name": "dango_session",
                           "description": "The 5-minute partial session POST /api/auth/login \
                                           sets when a second factor is required"}
    });
    // Every error answer's body; no handler type names it, so register it here.
    let mut registry = Registry::new();
    ErrorBody::register(&mut registry);
    // What `/ws` sends (no operation describes a WebSocket): the event catalogue.
    events::EventBody::register(&mut registry);
    events::Envelope::register(&mut registry);
    for (name, schema) in registry.schemas {
        spec["components"]["schemas"][name] = serde_json::to_value(schema).unwrap_or_default();
    }
    if let Some(schemas) = spec
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for schema in schemas.values_mut() {
            mark_optional_nullable(schema);
        }
        // Error bodies are built by hand (`api::error`): no field beyond the declared ones.
        if let Some(error_body) = schemas.get_mut("ErrorBody") {
            error_body["additionalProperties"] = json!(false);
        }
        constrain_fields(schemas);
        with_event_envelope(schemas);
        unwrap_enum_defaults(schemas);
    }
    integer_bounds(&mut spec);
    if let Some(paths) = spec.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(operations) = item.as_object_mut() else {
                continue;
            };
            for (method, operation) in operations.iter_mut() {
                complete_operation(&method.to_uppercase(), path, operation);
            }
        }
    }
    spec
}

/// A field of an enum type with a default comes out as `allOf: [{$ref}, {default}]`, and
/// generated clients cannot take `allOf` of a non-object: the field becomes the `$ref` (with
/// its default beside it, for people).
fn unwrap_enum_defaults(schemas: &mut serde_json::Map<String, Value>) {
    let enums: Vec<String> = schemas
        .iter()
        .filter(|(_, schema)| schema.get("enum").is_some())
        .map(|(name, _)| format!("#/components/schemas/{name}"))
        .collect();
    for schema in schemas.values_mut() {
        let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
            continue;
        };
        for property in properties.values_mut() {
            let reference = property
                .get("allOf")
                .and_then(Value::as_array)
                .and_then(|parts| parts.first())
                .and_then(|first| first.get("$ref"))
                .and_then(Value::as_str)
                .filter(|r| enums.iter().any(|e| e == r))
                .map(str::to_string);
            if let (Some(reference), Some(default)) = (reference, property.get("default").cloned())
            {
                *property = json!({"$ref": reference, "default": default});
            }
        }
    }
}

/// Each kind of `PlatformEvent` is its `type`, its own fields and the envelope every event
/// carries (`event`, `run_id`, `timestamp`).
fn with_event_envelope(schemas: &mut serde_json::Map<String, Value>) {
    let envelope = json!({"$ref": "#/components/schemas/PlatformEventEnvelope"});
    for (name, schema) in schemas.iter_mut() {
        if name.starts_with("PlatformEvent_")
            && let Some(parts) = schema.get_mut("allOf").and_then(Value::as_array_mut)
        {
            parts.push(envelope.clone());
        }
    }
}

/// poem-openapi writes integer formats (`uint64`, `int32`, …) without their bounds: a
/// negative or too large number would look valid (and is refused when parsed).
fn integer_bounds(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let bounds = match map.get("format").and_then(Value::as_str) {
                Some("uint8") => Some((json!(0), json!(u8::MAX))),
                Some("uint16") => Some((json!(0), json!(u16::MAX))),
                Some("uint32") => Some((json!(0), json!(u32::MAX))),
                Some("uint64") => Some((json!(0), json!(u64::MAX))),
                Some("int8") => Some((json!(i8::MIN), json!(i8::MAX))),
                Some("int16") => Some((json!(i16::MIN), json!(i16::MAX))),
                Some("int32") => Some((json!(i32::MIN), json!(i32::MAX))),
                Some("int64") => Some((json!(i64::MIN), json!(i64::MAX))),
                _ => None,
            };
            if let Some((minimum, maximum)) = bounds
                && map.get("type") == Some(&json!("integer"))
            {
                map.entry("minimum").or_insert(minimum);
                map.entry("maximum").or_insert(maximum);
            }
            map.values_mut().for_each(integer_bounds);
        }
        Value::Array(items) => items.iter_mut().for_each(integer_bounds),
        _ => {}
    }
}

/// Optional fields (not required, no default) are serialized as `null` when absent.
fn mark_optional_nullable(schema: &mut Value) {
    let required: Vec<String> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    for (name, property) in properties.iter_mut() {
        if required.contains(name) || property.get("default").is_some() {
            continue;
        }
        if let Some(reference) = property.get("$ref").cloned() {
            // OpenAPI 3.0 ignores siblings of `$ref`: wrap it to say it may be null.
            let mut wrapped = json!({"allOf": [{"$ref": reference}], "nullable": true});
            if let Some(description) = property.get("description") {
                wrapped["description"] = description.clone();
            }
            *property = wrapped;
        } else if let Some(object) = property.as_object_mut() {
            object.insert("nullable".into(), json!(true));
        }
    }
}

const ROLES: &[&str] = &["admin", "editor", "viewer"];
const SYNC_OUTCOMES: &[&str] = &["success", "failed"];
const SOURCE_STATES: &[&str] = &[
    "syncing",
    "failed",
    "not_synced",
    "empty",
    "synced",
    "stale",
];
const SYNC_MODES: &[&str] = &["incremental", "full_refresh"];
const MODEL_STATES: &[&str] = &["success", "error", "skipped", "stale"];
/// dbt's generated source identifier rule, also the project's source names.
pub const IDENTIFIER_PATTERN: &str = "^[A-Za-z0-9_]{1,128}$";

/// Fields the handlers fill from a closed set of strings: (schema, field, values). The
/// guard refuses other values in request bodies; the integration suite checks that
/// responses stay inside them.
const CLOSED_SETS: &[(&str, &str, &[&str])] = &[
    ("CreateUserRequest", "role", ROLES),
    ("RoleRequest", "role", ROLES),
    ("CreateApiKeyRequest", "role", ROLES),
    ("UserResponse", "role", ROLES),
    ("ApiKeyInfo", "role", ROLES),
    ("CreatedApiKey", "role", ROLES),
    ("MeResponse", "role", ROLES),
    (
        "MeResponse",
        "auth_method",
        &["session", "api_key", "disabled", "cli", "run_key"],
    ),
    ("LoginResponse", "status", &["ok", "2fa_required"]),
    (
        "DbtRunRequest",
        "command",
        &["build", "run", "seed", "snapshot", "test"],
    ),
    ("RunStatus", "status", runs::RunStatus::NAMES),
    ("RunStatus", "kind", runs::RunKind::NAMES),
    ("RunStatus", "trigger", runs::Trigger::NAMES),
    (
        "RunStatus",
        "phase",
        &[
            "queued",
            "starting",
            "data_load",
            "dbt_started",
            "running",
            "completed",
            "failed",
            "cancelled",
            "timeout",
        ],
    ),
    ("TriggerResponse", "status", &["started"]),
    ("DbtRunResponse", "status", &["started"]),
    ("HistoryEntry", "status", SYNC_OUTCOMES),
    ("SourceResult", "status", SYNC_OUTCOMES),
    ("Freshness", "last_sync_status", SYNC_OUTCOMES),
    ("Freshness", "status", &["synced", "failed", "never_synced"]),
    ("SourceStatus", "status", SOURCE_STATES),
    ("SourceDetails", "status", SOURCE_STATES),
    ("SourceStatus", "sync_mode", SYNC_MODES),
    ("SourceDetails", "sync_mode", SYNC_MODES),
    ("SourceStatus", "write_disposition", &["merge", "replace"]),
    (
        "FileEntry",
        "status",
        &["loaded", "updated", "pending", "file_deleted"],
    ),
    (
        "LogEntry",
        "level",
        &["info", "success", "warning", "error"],
    ),
    ("LogEntry", "category", &["core", "auxiliary"]),
    (
        "PlatformHealth",
        "status",
        &["healthy", "warning", "critical"],
    ),
    (
        "DatabaseHealth",
        "status",
        &["new", "healthy", "large", "critical", "error"],
    ),
    (
        "DiskHealth",
        "status",
        &["healthy", "warning", "critical", "unknown"],
    ),
    ("StatusResponse", "status", &["healthy"]),
    ("ServiceStates", "api", &["running"]),
    ("ServiceStates", "duckdb", &["healthy", "busy"]),
    ("ServiceStates", "metabase", &["not_configured"]),
    ("ServiceStates", "dbt_docs", &["healthy", "not_generated"]),
    ("DbtModel", "status", MODEL_STATES),
    ("CatalogEntry", "status", MODEL_STATES),
    ("ModelDetail", "status", MODEL_STATES),
    (
        "TestInfo",
        "status",
        &["pass", "fail", "warn", "error", "skipped"],
    ),
    (
        "CatalogEntry",
        "type",
        &["staging", "intermediate", "marts", "seed", "source"],
    ),
    (
        "ModelDetail",
        "type",
        &[
            "staging",
            "intermediate",
            "marts",
            "seed",
            "snapshot",
            "source",
        ],
    ),
    (
        "LineageNode",
        "type",
        &["model", "seed", "snapshot", "source"],
    ),
];

/// String fields with a format: (schema, field, format).
const STRING_FORMATS: &[(&str, &str, &str)] = &[
    ("SourceSyncRequest", "start_date", "date"),
    ("SourceSyncRequest", "end_date", "date"),
    ("TriggerRequest", "start_date", "date"),
    ("TriggerRequest", "end_date", "date"),
    ("HistoryEntry", "start_date", "date"),
    ("HistoryEntry", "end_date", "date"),
    ("SourceResult", "start_date", "date"),
    ("SourceResult", "end_date", "date"),
    ("FileEntry", "loaded_at", "date-time"),
    ("DbtModel", "last_run", "date-time"),
    ("CatalogEntry", "last_run", "date-time"),
    ("ModelDetail", "last_run", "date-time"),
    ("DbtFailure", "run_time", "date-time"),
];

fn constrain_fields(schemas: &mut serde_json::Map<String, Value>) {
    let permissions: Vec<&str> = crate::auth::Permission::ALL
        .iter()
        .map(|p| p.as_str())
        .collect();
    let source_types = crate::config::sources::KNOWN_TYPES;
    let mut sets: Vec<(&str, &str, &[&str])> = CLOSED_SETS.to_vec();
    sets.push(("MeResponse", "permissions", &permissions));
    sets.push(("SourceStatus", "type", source_types));
    sets.push(("SourceDetails", "type", source_types));
    for (schema, field, values) in sets {
        if let Some(property) = property_mut(schemas, schema, field) {
            let target = if property["type"] == "array" {
                &mut property["items"]
            } else {
                property
            };
            // OpenAPI 3.0: a nullable enum lists null among its values.
            let mut allowed = json!(values);
            if target["nullable"] == true
                && let Some(list) = allowed.as_array_mut()
            {
                list.push(Value::Null);
            }
            target["enum"] = allowed;
        }
    }
    for (schema, field, format) in STRING_FORMATS {
        if let Some(property) = property_mut(schemas, schema, field) {
            property["format"] = json!(format);
        }
    }
    // Free-form values the handler needs to be an object.
    if let Some(vars) = property_mut(schemas, "DbtRunRequest", "vars") {
        vars["type"] = json!("object");
    }
    if let Some(sources) = property_mut(schemas, "TriggerRequest", "sources") {
        sources["minItems"] = json!(1);
        sources["items"]["pattern"] = json!(IDENTIFIER_PATTERN);
    }
}

fn property_mut<'a>(
    schemas: &'a mut serde_json::Map<String, Value>,
    schema: &str,
    field: &str,
) -> Option<&'a mut Value> {
    schemas
        .get_mut(schema)?
        .get_mut("properties")?
        .get_mut(field)
}

/// Path and query parameters the handlers check by rule: (name, constraint).
fn constrain_parameters(operation: &mut Value) {
    let Some(parameters) = operation
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for parameter in parameters {
        let name = parameter["name"].as_str().unwrap_or_default().to_string();
        let schema = &mut parameter["schema"];
        match name.as_str() {
            "source_name" | "model_name" => schema["pattern"] = json!(IDENTIFIER_PATTERN),
            "category" => schema["enum"] = json!(["core", "auxiliary"]),
            _ => {}
        }
    }
}

fn complete_operation(method: &str, path: &str, operation: &mut Value) {
    constrain_parameters(operation);
    let access = access::lookup(method, &concrete(path)).unwrap_or(Access::Authenticated);
    operation["x-dango-permission"] = json!(access.label());
    operation["security"] = match access {
        Access::Public => json!([]),
        Access::PartialSession => json!([{"partialSession": []}]),
        _ => json!([{"sessionCookie": []}, {"apiKey": []}]),
    };
    let who = match access {
        Access::Public => "Public.".to_string(),
        Access::PartialSession => "Needs the partial (2FA-pending) session cookie.".to_string(),
        Access::Authenticated => "Any signed-in user.".to_string(),
        Access::Permission(p) => format!("Permission `{p}`."),
        Access::DeployTokenOrAdmin => {
            "The one-time deploy token (`Authorization: Bearer dango_deploy_…`) or an admin."
                .to_string()
        }
    };
    let description = operation
        .get("description")
        .and_then(Value::as_str)
        .map(|d| format!("{d}\n\n"))
        .unwrap_or_default();
    operation["description"] = json!(format!("{description}**Access:** {who}"));

    let operation_id = operation["operationId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let errors = statuses(method, path, access, operation, &operation_id);
    let responses = operation
        .as_object_mut()
        .and_then(|o| o.get_mut("responses"))
        .and_then(Value::as_object_mut);
    let Some(responses) = responses else {
        return;
    };
    for response in responses.values_mut() {
        if response["description"].as_str().is_none_or(str::is_empty) {
            response["description"] = json!("Success.");
        }
    }
    for (status, reasons) in errors {
        let mut response = json!({
            "description": reasons.join("; "),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        });
        if matches!(status, 423 | 429) {
            response["headers"] = json!({"Retry-After": {
                "description": "Seconds to wait before trying again",
                "schema": {"type": "integer", "minimum": 1}
            }});
        }
        responses.insert(status.to_string(), response);
    }
    for (id, status, headers) in SUCCESS_HEADERS {
        if *id == operation_id
            && let Some(response) = responses.get_mut(&status.to_string())
        {
            if !response["headers"].is_object() {
                response["headers"] = json!({});
            }
            for (name, description) in *headers {
                response["headers"][*name] =
                    json!({"description": description, "schema": {"type": "string"}});
            }
        }
    }
}

/// Every error status the operation can answer, with the reasons.
fn statuses(
    method: &str,
    path: &str,
    access: Access,
    operation: &Value,
    operation_id: &str,
) -> BTreeMap<u16, Vec<String>> {
    let mut errors: BTreeMap<u16, Vec<String>> = BTreeMap::new();
    let mut add = |status: u16, reason: &str| {
        let reasons = errors.entry(status).or_default();
        if !reasons.iter().any(|r| r == reason) {
            reasons.push(reason.to_string());
        }
    };
    let has_body = operation.get("requestBody").is_some();
    let has_parameters = operation
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|p| !p.is_empty());
    let mutating = matches!(method, "POST" | "PUT" | "PATCH" | "DELETE");
    let reads_body = matches!(method, "POST" | "PUT" | "PATCH");
    let upload = super::guard::is_upload_path(&concrete(path));

    if has_body || has_parameters {
        add(
            400,
            "A parameter or the request body does not match this operation's schema",
        );
    }
    match access {
        Access::Public => {}
        Access::PartialSession => add(
            401,
            "No pending second-factor login: the partial session is missing or expired",
        ),
        _ => add(
            401,
            "Not signed in, or the session or API key is invalid or expired",
        ),
    }
    if let Access::Permission(permission) = access {
        add(
            403,
            &format!("The caller's role lacks the `{permission}` permission"),
        );
    }
    if matches!(access, Access::Authenticated | Access::Permission(_))
        && !ALLOWED_BEFORE_PASSWORD_CHANGE.contains(&path)
    {
        add(403, "The account must change its temporary password first");
    }
    if mutating {
        add(
            403,
            "Cookie-authenticated change without an X-Requested-With header or same-origin \
             Origin (CSRF protection)",
        );
    }
    if access != Access::Public {
        add(
            403,
            "Authentication is disabled and the request does not come directly from this machine",
        );
    }
    if upload {
        add(411, "The upload has no Content-Length header");
    }
    if reads_body {
        let limit = if upload {
            UPLOAD_BODY_LIMIT
        } else {
            JSON_BODY_LIMIT
        };
        add(
            413,
            &format!("The request body is larger than {limit} bytes"),
        );
    }
    if has_body {
        add(
            415,
            "The Content-Type is not the one the request body needs",
        );
    }
    if rate_group(&concrete(path)).is_some() {
        add(429, "Too many requests from this client; see Retry-After");
    }
    if let Some((_, handler)) = HANDLER_ERRORS.iter().find(|(id, _)| *id == operation_id) {
        for (status, reason) in *handler {
            add(*status, reason);
        }
    }
    add(500, "An internal error (the cause is in the server log)");
    errors
}

/// (header, description)
type Headers = &'static [(&'static str, &'static str)];

/// Headers of success responses: (operation id, status, headers).
const SUCCESS_HEADERS: &[(&str, u16, Headers)] = &[
    (
        "login",
        200,
        &[(
            "Set-Cookie",
            "`dango_session`: the session, or a 5-minute partial session when a second factor is required (HttpOnly, SameSite=Lax, Secure over HTTPS)",
        )],
    ),
    (
        "two_factor_verify",
        200,
        &[(
            "Set-Cookie",
            "`dango_session`: the full session that replaces the partial one",
        )],
    ),
    (
        "change_password",
        200,
        &[(
            "Set-Cookie",
            "`dango_session`: a new session (every other session of the account ends)",
        )],
    ),
    ("logout", 200, &[("Set-Cookie", "`dango_session` expired")]),
    (
        "oauth_login",
        302,
        &[
            (
                "Location",
                "The provider's authorization page, or `/login?error=…` when the provider is not configured",
            ),
            (
                "Set-Cookie",
                "`dango_oauth_state`: the login's anti-forgery nonce (10 minutes)",
            ),
        ],
    ),
    (
        "oauth_callback",
        302,
        &[
            (
                "Location",
                "`/`, `/setup` (password change or 2FA enrolment due), `/login?requires_2fa=true`, or `/login?error=…` for any failure",
            ),
            (
                "Set-Cookie",
                "`dango_session` when the login completed (partial with 2FA); `dango_oauth_state` expired",
            ),
        ],
    ),
];

/// A concrete path for a template (`{x}` → `x`), for looking up its rules.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|s| if s.starts_with('{') { "x" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_kind_is_published_with_the_envelope() {
        let spec = document(&super::super::service());
        let schemas = &spec["components"]["schemas"];
        let mapping = schemas["PlatformEvent"]["discriminator"]["mapping"]
            .as_object()
            .unwrap();
        let mut published: Vec<&str> = mapping.keys().map(String::as_str).collect();
        let mut kinds = events::EventBody::NAMES.to_vec();
        published.sort();
        kinds.sort();
        assert_eq!(published, kinds);
        for target in mapping.values() {
            let name = target.as_str().unwrap().rsplit('/').next().unwrap();
            let parts = schemas[name]["allOf"].to_string();
            assert!(parts.contains("PlatformEventEnvelope"), "{name}: {parts}");
        }
    }

    #[test]
    fn every_operation_declares_its_handler_errors_once() {
        let spec = document(&super::super::service());
        let mut ids = Vec::new();
        for item in spec["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                ids.push(operation["operationId"].as_str().unwrap().to_string());
            }
        }
        for id in &ids {
            assert_eq!(
                HANDLER_ERRORS.iter().filter(|(h, _)| h == id).count(),
                1,
                "{id} needs exactly one entry in HANDLER_ERRORS"
            );
        }
        for (id, _) in HANDLER_ERRORS {
            assert!(
                ids.iter().any(|i| i == id),
                "HANDLER_ERRORS lists unknown {id}"
            );
        }
    }

    #[test]
    fn optional_fields_are_nullable_and_required_ones_are_not() {
        let spec = document(&super::super::service());
        let user = &spec["components"]["schemas"]["UserResponse"]["properties"];
        assert_eq!(user["locked_until"]["nullable"], true);
        assert!(user["email"].get("nullable").is_none());
        let login = &spec["components"]["schemas"]["LoginResponse"]["properties"]["user"];
        assert_eq!(login["nullable"], true);
        assert!(login["allOf"][0]["$ref"].is_string());
    }

    #[test]
    fn every_constrained_field_exists() {
        let spec = document(&super::super::service());
        let schemas = &spec["components"]["schemas"];
        for (schema, field, _) in CLOSED_SETS {
            assert!(
                schemas[schema]["properties"][field]["enum"].is_array(),
                "{schema}.{field}"
            );
        }
        for (schema, field, format) in STRING_FORMATS {
            assert_eq!(
                schemas[schema]["properties"][field]["format"], *format,
                "{schema}.{field}"
            );
        }
        assert_eq!(
            schemas["TriggerRequest"]["properties"]["sources"]["minItems"],
            1
        );
        assert!(schemas["MeResponse"]["properties"]["permissions"]["items"]["enum"].is_array());
    }

    #[test]
    fn statuses_follow_the_guard() {
        let spec = document(&super::super::service());
        let responses = |path: &str, method: &str| -> Vec<String> {
            spec["paths"][path][method]["responses"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect()
        };
        let status = responses("/api/status", "get");
        assert!(
            !status
                .iter()
                .any(|s| ["401", "403", "413", "423", "429"].contains(&s.as_str()))
        );
        let keys = responses("/api/auth/api-keys", "post");
        for s in ["400", "401", "403", "413", "415", "429", "500"] {
            assert!(keys.contains(&s.to_string()), "create_api_key lacks {s}");
        }
        assert!(!keys.contains(&"423".to_string()));
        let login = &spec["paths"]["/api/auth/login"]["post"]["responses"];
        assert!(login["200"]["headers"]["Set-Cookie"].is_object());
        assert!(login["429"]["headers"]["Retry-After"].is_object());
        assert_eq!(
            spec["paths"]["/api/auth/2fa/verify"]["post"]["security"][0]["partialSession"],
            json!([])
        );
    }
}
