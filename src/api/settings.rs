//! Configuration endpoints: project settings and service URLs.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::ApiTag;
use super::context::Ctx;
use crate::state::AppState;

pub struct SettingsApi;

#[derive(Object)]
pub struct ConfigResponse {
    pub web_port: u16,
    pub web_url: String,
    /// Metabase through our proxy, when one is configured.
    pub metabase_url: Option<String>,
    /// dbt docs, served by Dango itself.
    pub dbt_docs_url: String,
    pub api_url: String,
    pub project_name: String,
    pub organization: Option<String>,
}

#[derive(Object)]
pub struct MetabaseConfig {
    pub database_id: Option<i64>,
    pub configured: bool,
}

#[OpenApi(tag = "ApiTag::Configuration")]
impl SettingsApi {
    /// Project name and service URLs
    ///
    /// The project name and organization, the configured port, and the URLs of the web app,
    /// the API and the dbt docs. The URLs are built from `platform.public_url`, or from the
    /// request's origin when that is not set; `metabase_url` is currently always absent.
    #[oai(path = "/api/config", method = "get", operation_id = "get_config")]
    async fn config(&self, state: Data<&Arc<AppState>>, Ctx(ctx): Ctx) -> Json<ConfigResponse> {
        let config = state.config();
        let web_url = config
            .platform
            .public_url
            .clone()
            .unwrap_or(ctx.origin)
            .trim_end_matches('/')
            .to_string();
        Json(ConfigResponse {
            web_port: config.platform.port,
            metabase_url: None,
            dbt_docs_url: format!("{web_url}/dbt-docs/"),
            api_url: format!("{web_url}/api"),
            web_url,
            project_name: config.project.name.clone(),
            organization: config.project.organization.clone(),
        })
    }

    /// Metabase connection (none unless Metabase is set up)
    ///
    /// Whether Metabase is connected: `database_id` comes from `database.id` in
    /// `.dango/metabase.yml`. `configured` is false, with no id, when the file or key is
    /// missing or not an integer.
    #[oai(
        path = "/api/metabase-config",
        method = "get",
        operation_id = "get_metabase_config"
    )]
    async fn metabase(&self, state: Data<&Arc<AppState>>) -> Json<MetabaseConfig> {
        let file = state.paths.dango_dir().join("metabase.yml");
        let database_id = std::fs::read_to_string(file)
            .ok()
            .and_then(|text| serde_norway::from_str::<serde_json::Value>(&text).ok())
            .and_then(|v| v["database"]["id"].as_i64());
        Json(MetabaseConfig {
            configured: database_id.is_some(),
            database_id,
        })
    }
}
