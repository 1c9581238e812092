//! The REST API (poem-openapi). Handlers are thin: extract, call a service, map the result.
//! Authorization is enforced by [`guard`] from the table in [`access`].

pub mod access;
pub mod context;
pub mod error;
pub mod guard;
mod headers;
pub mod models;
pub mod schema;
pub mod spec;

mod agents;
mod audit;
mod auth;
mod catalog;
mod dbt;
mod files;
mod handler_errors;
mod health;
mod initial_sync;
pub mod mcp;
mod notifications;
mod oauth;
mod query;
mod schedule_changes;
mod schedules;
mod scripts;
mod secrets;
mod settings;
mod sources;
mod sync;
mod two_factor;
mod users;
pub mod ws;

pub use spec::spec_json;

use poem_openapi::{OpenApiService, Tags};

use crate::VERSION;

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
    /// Read-only SQL over the warehouse.
    Query,
    /// Schedules from `.dango/schedules.yml` and when they fire.
    Schedules,
    /// The programs of `scripts/`: run, cancel, history, output.
    Scripts,
    /// The variables of the project's `.env` (credentials, signing keys), by name.
    Secrets,
    /// What AI agents discover: the tools (the MCP server at `/mcp` offers the same).
    #[oai(rename = "AI / Agent")]
    Agents,
}

/// Declares the API from one list of groups of tags: the `Api` type and its value.
/// poem-openapi implements `OpenApi` for tuples of up to 16 members, so tags come in
/// groups (a tuple of tuples) and there is room for 16 groups; a new tag goes in one place.
macro_rules! api_groups {
    ($($group:ident: [$($api:path),+ $(,)?]),+ $(,)?) => {
        pub type Api = ($(($($api,)+),)+);

        fn apis() -> Api {
            ($(($($api,)+),)+)
        }
    };
}

api_groups! {
    platform: [
        health::HealthApi,
        settings::SettingsApi,
        initial_sync::DeploymentsApi,
    ],
    identity: [
        auth::AuthApi,
        oauth::OAuthApi,
        two_factor::TwoFactorApi,
        users::UsersApi,
        audit::AuditApi,
        secrets::SecretsApi,
    ],
    data: [
        sources::SourcesApi,
        sync::SyncApi,
        initial_sync::InitialSyncApi,
        files::FilesApi,
        schedules::SchedulesApi,
        scripts::ScriptsApi,
        notifications::NotificationsApi,
    ],
    transform: [dbt::DbtApi, catalog::CatalogApi, query::QueryApi, agents::AgentsApi],
}

pub fn service() -> OpenApiService<Api, ()> {
    OpenApiService::new(apis(), "Dango API", VERSION).description(
        "REST API of Dango, a self-hosted data platform. Authenticate with the `dango_session` \
         cookie from `POST /api/auth/login` (mutating requests then need an `X-Requested-With` \
         header) or with `Authorization: Bearer dango_ak_...`. Every operation states who may \
         call it in `x-dango-permission`. Errors are `{\"detail\", \"code\"}`.",
    )
}
