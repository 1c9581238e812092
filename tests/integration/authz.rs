//! The authorization matrix, generated from the served OpenAPI document: every
//! operation × {anonymous, viewer, editor, admin, admin's API key capped at viewer}
//! must answer exactly what its `x-dango-permission` implies (401 / 403 / allowed),
//! and never a 5xx. Operations added later are covered automatically.

use crate::common::TestApp;
use dango::auth::{Permission, Role};
use serde_json::{Map, Value, json};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Identity {
    Anonymous,
    Session(Role),
    KeyCappedAtViewer,
}

impl Identity {
    fn role(self) -> Option<Role> {
        match self {
            Identity::Anonymous => None,
            Identity::Session(role) => Some(role),
            Identity::KeyCappedAtViewer => Some(Role::Viewer),
        }
    }
}

#[derive(Debug, PartialEq)]
enum Expected {
    Unauthenticated,
    Forbidden,
    Allowed,
}

fn expected(access: &str, identity: Identity) -> Expected {
    match (access, identity.role()) {
        ("public", _) => Expected::Allowed,
        // Only a partial (2FA-pending) session may call these; nobody here has one.
        ("partial_session", _) => Expected::Unauthenticated,
        // Nobody here holds the deploy token: an admin may, others are refused.
        ("deploy_token_or_admin", None) => Expected::Unauthenticated,
        ("deploy_token_or_admin", Some(Role::Admin)) => Expected::Allowed,
        ("deploy_token_or_admin", Some(_)) => Expected::Forbidden,
        (_, None) => Expected::Unauthenticated,
        ("authenticated", Some(_)) => Expected::Allowed,
        (token, Some(role)) => {
            let permission =
                Permission::parse(token).unwrap_or_else(|| panic!("unknown permission {token}"));
            if role.can(permission) {
                Expected::Allowed
            } else {
                Expected::Forbidden
            }
        }
    }
}

fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap_or_default();
            &spec["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// A value of the schema's type with every required property filled in.
fn sample(spec: &Value, schema: &Value) -> Value {
    let schema = resolve(spec, schema);
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        return all.first().map(|s| sample(spec, s)).unwrap_or(Value::Null);
    }
    match schema["type"].as_str() {
        Some("object") | None if schema.get("properties").is_some() => {
            let mut object = Map::new();
            for name in schema["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                object.insert(name.to_string(), sample(spec, &schema["properties"][name]));
            }
            Value::Object(object)
        }
        Some("object") => json!({}),
        Some("array") => json!([]),
        Some("integer") | Some("number") => json!(1),
        Some("boolean") => json!(false),
        _ => json!("x"),
    }
}

struct Operation {
    method: String,
    path: String,
    access: String,
    body: Option<Value>,
    query: Vec<(String, String)>,
}

fn operations(spec: &Value) -> Vec<Operation> {
    let mut list = vec![];
    for (template, item) in spec["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let access = operation["x-dango-permission"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {template} has no x-dango-permission"))
                .to_string();
            let path = template
                .split('/')
                .map(|s| if s.starts_with('{') { "x" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            let mut query = vec![];
            for param in operation["parameters"].as_array().into_iter().flatten() {
                if param["in"] == "query" && param["required"] == true {
                    let value = match sample(spec, &param["schema"]) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    query.push((
                        param["name"].as_str().unwrap_or_default().to_string(),
                        value,
                    ));
                }
            }
            let body = operation["requestBody"]["content"]
                .as_object()
                .and_then(|content| {
                    content
                        .iter()
                        .find(|(kind, _)| kind.starts_with("application/json"))
                })
                .map(|(_, media)| sample(spec, &media["schema"]));
            list.push(Operation {
                method: method.to_uppercase(),
                path,
                access,
                body,
                query,
            });
        }
    }
    // Logging out ends the identity's session: do it last.
    list.sort_by_key(|op| op.path == "/api/auth/logout");
    list
}

#[tokio::test]
async fn every_operation_answers_as_its_permission_says() {
    let app = TestApp::start().await;
    let spec: Value = app
        .anonymous()
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let operations = operations(&spec);
    assert!(
        operations.len() >= 35,
        "only {} operations",
        operations.len()
    );

    let viewer = app.login_as(Role::Viewer).await;
    let editor = app.login_as(Role::Editor).await;
    let admin = app.login_as(Role::Admin).await;
    let capped_key = app.api_key(Role::Admin, Some(Role::Viewer)).await;
    let anonymous = app.anonymous();
    let identities = [
        (Identity::Anonymous, &anonymous),
        (Identity::Session(Role::Viewer), &viewer),
        (Identity::Session(Role::Editor), &editor),
        (Identity::Session(Role::Admin), &admin),
        (Identity::KeyCappedAtViewer, &anonymous),
    ];

    let mut failures = vec![];
    for operation in &operations {
        for (identity, client) in identities {
            let method = reqwest::Method::from_bytes(operation.method.as_bytes()).unwrap();
            let mut request = client
                .request(method, app.url(&operation.path))
                .query(&operation.query);
            if identity == Identity::KeyCappedAtViewer {
                request = request.bearer_auth(&capped_key);
            }
            if let Some(body) = &operation.body {
                request = request.json(body);
            }
            let status = request.send().await.unwrap().status().as_u16();
            let want = expected(&operation.access, identity);
            let ok = match want {
                Expected::Unauthenticated => status == 401,
                Expected::Forbidden => status == 403,
                Expected::Allowed => status != 401 && status != 403,
            } && status < 500;
            if !ok {
                failures.push(format!(
                    "{} {} ({}) as {identity:?}: got {status}, want {want:?}",
                    operation.method, operation.path, operation.access
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_documented_operation_has_an_access_rule() {
    let spec: Value = serde_json::from_str(&dango::api::spec_json(&dango::api::service())).unwrap();
    for (template, item) in spec["paths"].as_object().unwrap() {
        let concrete = template
            .split('/')
            .map(|s| if s.starts_with('{') { "x" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().unwrap().keys() {
            assert!(
                dango::api::access::lookup(&method.to_uppercase(), &concrete).is_some(),
                "{method} {template} is missing from api::access::ROUTES"
            );
        }
    }
}
