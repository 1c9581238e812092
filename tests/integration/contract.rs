//! Every answer the server gives in this suite is checked against the OpenAPI document it
//! publishes: the status is documented for the operation, a JSON body matches that
//! response's schema (types, `nullable`, enums, formats, required fields), and 423/429
//! carry `Retry-After`, 405 `Allow`. A generated client trusts exactly these promises.

use std::sync::{Arc, Mutex};

use dango::api::schema::Contract;
use poem::endpoint::BoxEndpoint;
use poem::{Body, Endpoint, EndpointExt, IntoResponse, Response};

/// What the checked answers broke, one line each.
pub type Violations = Arc<Mutex<Vec<String>>>;

pub fn checked(
    inner: BoxEndpoint<'static, Response>,
    contract: Arc<Contract>,
    violations: Violations,
) -> impl Endpoint<Output = Response> + 'static {
    inner.around(move |endpoint, request| {
        let contract = contract.clone();
        let violations = violations.clone();
        async move {
            let method = request.method().as_str().to_string();
            let path = request.uri().path().to_string();
            let response = endpoint.call(request).await?.into_response();
            let Some((template, operation)) = contract.operation(&method, &path) else {
                return Ok(response);
            };
            let status = response.status().as_u16();
            let mut problems = Vec::new();
            if operation["responses"].get(status.to_string()).is_none() {
                problems.push(format!("status {status} is not documented"));
            }
            let header = |name: &str| response.headers().contains_key(name);
            if matches!(status, 423 | 429) && !header("retry-after") {
                problems.push(format!("{status} without Retry-After"));
            }
            let is_json = response
                .content_type()
                .is_some_and(|t| t.starts_with("application/json"));
            let (parts, body) = response.into_parts();
            let bytes = body.into_vec().await.unwrap_or_default();
            if is_json && let Some(schema) = contract.json_response_schema(operation, status) {
                match serde_json::from_slice::<serde_json::Value>(&bytes) {
                    Ok(value) => problems.extend(contract.check(schema, &value, "body")),
                    Err(err) => problems.push(format!("body is not JSON: {err}")),
                }
            }
            if !problems.is_empty() {
                let mut list = violations.lock().unwrap_or_else(|e| e.into_inner());
                for problem in problems {
                    list.push(format!("{method} {template} → {status}: {problem}"));
                }
            }
            Ok(Response::from_parts(parts, Body::from(bytes)))
        }
    })
}
