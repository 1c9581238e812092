//! `.dango/project.yml`: project metadata and platform, auth and API settings.
//! Every setting has a default, so a minimal file (or only `project.name`) is valid.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{ConfigError, write_atomic};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ProjectConfig {
    #[serde(default)]
    pub project: ProjectInfo,
    #[serde(default)]
    pub platform: PlatformSettings,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub api: ApiConfig,
    #[serde(default)]
    pub transform: TransformConfig,
}

/// How dbt models are built.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct TransformConfig {
    /// `native` (the built-in engine) or `dbt` (a real `dbt` executable).
    pub engine: String,
    /// The `dbt` executable for `engine: dbt` (default: `dbt` on PATH).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dbt_executable: Option<String>,
    /// Models built at once (default: profiles.yml `threads`, else 4).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    /// Build downstream models after every successful sync.
    pub run_after_sync: bool,
    /// Generate `stg_<source>__<table>` models after every successful sync.
    pub generate_staging: bool,
}

impl Default for TransformConfig {
    fn default() -> Self {
        Self {
            engine: "native".into(),
            dbt_executable: None,
            threads: None,
            run_after_sync: true,
            generate_staging: true,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProjectInfo {
    #[serde(default = "default_project_name")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dango_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default = "default_created_by")]
    pub created_by: String,
    #[serde(default = "default_purpose")]
    pub purpose: String,
    #[serde(default)]
    pub stakeholders: Vec<Stakeholder>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limitations: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub getting_started: Option<String>,
}

impl Default for ProjectInfo {
    fn default() -> Self {
        Self {
            name: default_project_name(),
            organization: None,
            dango_version: None,
            created: None,
            created_by: default_created_by(),
            purpose: default_purpose(),
            stakeholders: Vec::new(),
            sla: None,
            limitations: None,
            getting_started: None,
        }
    }
}

fn default_project_name() -> String {
    "Dango Project".into()
}
fn default_created_by() -> String {
    "Unknown".into()
}
fn default_purpose() -> String {
    "Data analytics project".into()
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Stakeholder {
    pub name: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub contact: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct PlatformSettings {
    pub duckdb_path: String,
    pub dbt_project_dir: String,
    pub data_dir: String,
    pub host: String,
    pub port: u16,
    /// The address users reach the server at (`https://dango.example.com`), used for
    /// invite links and OAuth redirects; defaults to the request's own host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    pub metabase_port: u16,
    pub dbt_docs_port: u16,
    pub marimo_port: u16,
    pub auto_sync: bool,
    pub auto_dbt: bool,
    pub debounce_seconds: u64,
    pub watch_patterns: Vec<String>,
    pub watch_directories: Vec<String>,
    pub dbt_coalesce_seconds: u64,
}

impl Default for PlatformSettings {
    fn default() -> Self {
        Self {
            duckdb_path: "./data/warehouse.duckdb".into(),
            dbt_project_dir: "./dbt".into(),
            data_dir: "./data".into(),
            host: "127.0.0.1".into(),
            port: 8800,
            public_url: None,
            metabase_port: 3000,
            dbt_docs_port: 8081,
            marimo_port: 7805,
            auto_sync: true,
            auto_dbt: true,
            debounce_seconds: 600,
            watch_patterns: ["*.csv", "*.json", "*.jsonl", "*.ndjson", "*.parquet"]
                .map(String::from)
                .to_vec(),
            watch_directories: vec!["data/uploads".into()],
            dbt_coalesce_seconds: 10,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    pub enabled: bool,
    pub idle_timeout_minutes: u64,
    pub session_max_days: u64,
    pub password_max_age_days: u64,
    pub require_2fa: bool,
    pub rate_limit: RateLimitConfig,
    pub lockout: LockoutConfig,
    pub oauth_providers: BTreeMap<String, OAuthProviderConfig>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            idle_timeout_minutes: 1440,
            session_max_days: 30,
            password_max_age_days: 0,
            require_2fa: false,
            rate_limit: RateLimitConfig::default(),
            lockout: LockoutConfig::default(),
            oauth_providers: BTreeMap::new(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimitConfig {
    pub enabled: bool,
    pub login: RateWindow,
    pub api: RateWindow,
    /// Peers whose `X-Forwarded-For` header is believed.
    pub trusted_proxies: Vec<String>,
    /// Clients on the loopback address are not rate limited (local scripts, the CLI).
    pub exempt_loopback: bool,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            login: RateWindow {
                requests: 10,
                window_seconds: 60,
            },
            api: RateWindow {
                requests: 200,
                window_seconds: 60,
            },
            trusted_proxies: Vec::new(),
            exempt_loopback: true,
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct RateWindow {
    pub requests: u32,
    pub window_seconds: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct LockoutConfig {
    pub max_attempts: u32,
    pub lockout_minutes: u64,
}

impl Default for LockoutConfig {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            lockout_minutes: 15,
        }
    }
}

/// An OAuth login provider. `google` and `github` need only the client credentials;
/// any other name is a generic OIDC/OAuth2 provider and needs the three URLs.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct OAuthProviderConfig {
    pub client_id: String,
    /// The secret itself, or empty when `client_secret_env` names an environment variable.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_secret: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorize_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiConfig {
    /// Rows a query answers with at most (and by default).
    pub query_max_rows: usize,
    pub query_timeout_seconds: u64,
    /// Rows a CSV or NDJSON download of a query holds at most.
    pub query_export_max_rows: usize,
    /// Queries one user may have running at once.
    pub query_max_concurrent: usize,
    /// Bytes of JSON a query answers with at most (the rows after that are cut).
    pub query_max_result_bytes: usize,
    /// Columns flagged as PII come back masked to users without `governance.manage`.
    pub mask_pii: bool,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            query_max_rows: 10_000,
            query_timeout_seconds: 30,
            query_export_max_rows: 10_000_000,
            query_max_concurrent: 4,
            query_max_result_bytes: 64 * 1024 * 1024,
            mask_pii: false,
        }
    }
}

impl ProjectConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        super::read_config(path, Self::parse)
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let config: Self = serde_norway::from_str(text).map_err(|e| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        if self.platform.port == 0 {
            return Err("platform.port: must be between 1 and 65535".into());
        }
        if self.auth.lockout.max_attempts == 0 {
            return Err("auth.lockout.max_attempts: must be at least 1".into());
        }
        if !matches!(self.transform.engine.as_str(), "native" | "dbt") {
            return Err(format!(
                "transform.engine: '{}' is not an engine (use native or dbt)",
                self.transform.engine
            ));
        }
        if self.auth.session_max_days == 0 || self.auth.idle_timeout_minutes == 0 {
            return Err(
                "auth.session_max_days and auth.idle_timeout_minutes must be positive".into(),
            );
        }
        for (name, provider) in &self.auth.oauth_providers {
            if provider.client_id.is_empty() {
                return Err(format!("auth.oauth_providers.{name}.client_id: required"));
            }
            let preset = matches!(name.as_str(), "google" | "github");
            if !preset
                && (provider.authorize_url.is_none()
                    || provider.token_url.is_none()
                    || provider.userinfo_url.is_none())
            {
                return Err(format!(
                    "auth.oauth_providers.{name}: a custom provider needs authorize_url, token_url and userinfo_url"
                ));
            }
        }
        Ok(())
    }

    pub fn to_yaml(&self) -> String {
        serde_norway::to_string(self).unwrap_or_default()
    }

    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        write_atomic(path, self.to_yaml().as_bytes()).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_file_gets_all_defaults() {
        let config = ProjectConfig::parse("project:\n  name: Shop\n").unwrap();
        assert_eq!(config.project.name, "Shop");
        assert_eq!(config.platform.port, 8800);
        assert_eq!(config.auth.lockout.max_attempts, 5);
        assert_eq!(config.auth.rate_limit.login.requests, 10);
        assert_eq!(config.api.query_max_rows, 10_000);
    }

    #[test]
    fn unknown_top_level_keys_are_ignored_and_round_trip_keeps_values() {
        let config =
            ProjectConfig::parse("project: {name: A}\nextra: 1\nplatform: {port: 9000}\n").unwrap();
        let again = ProjectConfig::parse(&config.to_yaml()).unwrap();
        assert_eq!(again.platform.port, 9000);
    }

    #[test]
    fn custom_oauth_provider_needs_urls() {
        let err = ProjectConfig::parse(
            "auth:\n  oauth_providers:\n    acme: {client_id: x, client_secret: y}\n",
        )
        .unwrap_err();
        assert!(err.contains("acme"), "{err}");
    }

    #[test]
    fn invalid_yaml_is_an_error() {
        assert!(ProjectConfig::parse("platform: {port: nope}").is_err());
    }
}
