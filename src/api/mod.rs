//! The REST API (poem-openapi). Handlers are thin: extract, call a service, map the result.
//! Authorization is enforced by [`guard`] from the table in [`access`].

pub mod access;
pub mod context;
pub mod error;
pub mod guard;
pub mod models;

mod audit;
mod auth;
mod catalog;
mod dbt;
mod files;
mod health;
mod oauth;
mod settings;
mod sources;
mod sync;
mod two_factor;
mod users;
pub mod ws;

use poem_openapi::{OpenApiService, Tags};
use serde_json::{Value, json};

use crate::app::VERSION;

#[derive(Tags)]
pub enum ApiTag {
    /// Service health and platform status.
    #[oai(rename = "Health & Status")]
    Health,
    /// Project configuration and service URLs.
    Configuration,
    /// Login, sessions, API keys, invites and OAuth login.
    Authentication,
    /// TOTP second factor and recovery codes.
    #[oai(rename = "Two-Factor Authentication")]
    TwoFactor,
    /// Admin user management.
    #[oai(rename = "User Management")]
    Users,
    /// The security audit log.
    Audit,
    /// Configured sources, their status and activity.
    Sources,
    /// Running syncs and following them.
    Sync,
    /// Files of `csv` and `local_files` sources.
    #[oai(rename = "CSV Operations")]
    Files,
    /// dbt models: list and run.
    #[oai(rename = "dbt Operations")]
    Dbt,
    /// Models, sources, lineage and impact from the dbt artifacts.
    #[oai(rename = "Data Catalog")]
    Catalog,
}

pub type Api = (
    health::HealthApi,
    settings::SettingsApi,
    auth::AuthApi,
    oauth::OAuthApi,
    two_factor::TwoFactorApi,
    users::UsersApi,
    audit::AuditApi,
    sources::SourcesApi,
    sync::SyncApi,
    files::FilesApi,
    dbt::DbtApi,
    catalog::CatalogApi,
);

pub fn service() -> OpenApiService<Api, ()> {
    OpenApiService::new(
        (
            health::HealthApi,
            settings::SettingsApi,
            auth::AuthApi,
            oauth::OAuthApi,
            two_factor::TwoFactorApi,
            users::UsersApi,
            audit::AuditApi,
            sources::SourcesApi,
            sync::SyncApi,
            files::FilesApi,
            dbt::DbtApi,
            catalog::CatalogApi,
        ),
        "Dango API",
        VERSION,
    )
    .description(
        "REST API of Dango, a self-hosted data platform. Authenticate with the `dango_session` \
         cookie from `POST /api/auth/login` (mutating requests then need an `X-Requested-With` \
         header) or with `Authorization: Bearer dango_ak_...`. Every operation states who may \
         call it in `x-dango-permission`. Errors are `{\"detail\", \"code\"}`.",
    )
}

/// The OpenAPI document as served and committed: poem-openapi's spec plus, per
/// operation, the access rule from [`access::ROUTES`] and the security schemes.
pub fn spec_json(service: &OpenApiService<Api, ()>) -> String {
    let mut spec: Value = serde_json::from_str(&service.spec()).unwrap_or_else(|_| json!({}));
    spec["components"]["securitySchemes"] = json!({
        "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "dango_session",
                          "description": "Session cookie set by POST /api/auth/login"},
        "apiKey": {"type": "http", "scheme": "bearer", "bearerFormat": "dango_ak_...",
                   "description": "API key from POST /api/auth/api-keys"}
    });
    if let Some(paths) = spec.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(operations) = item.as_object_mut() else {
                continue;
            };
            for (method, operation) in operations.iter_mut() {
                let access = access::lookup(&method.to_uppercase(), &concrete(path))
                    .unwrap_or(access::Access::Authenticated);
                let label = access.label();
                operation["x-dango-permission"] = json!(label);
                operation["security"] = match access {
                    access::Access::Public | access::Access::PartialSession => json!([]),
                    _ => json!([{"sessionCookie": []}, {"apiKey": []}]),
                };
                let who = match access {
                    access::Access::Public => "Public.".to_string(),
                    access::Access::PartialSession => {
                        "Needs a partial (2FA-pending) session cookie.".to_string()
                    }
                    access::Access::Authenticated => "Any signed-in user.".to_string(),
                    access::Access::Permission(p) => format!("Permission `{p}`."),
                };
                let description = operation
                    .get("description")
                    .and_then(Value::as_str)
                    .map(|d| format!("{d}\n\n"))
                    .unwrap_or_default();
                operation["description"] = json!(format!("{description}**Access:** {who}"));
            }
        }
    }
    serde_json::to_string_pretty(&spec).unwrap_or_default() + "\n"
}

/// A concrete path for a template (`{x}` → `x`), for looking up its access rule.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|s| if s.starts_with('{') { "x" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}
