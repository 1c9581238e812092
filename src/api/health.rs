//! Health & status endpoints.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::ApiTag;
use crate::VERSION;
use crate::health::{HealthDeps, PlatformHealth, platform_health};
use crate::state::AppState;

pub struct HealthApi;

#[derive(Object)]
pub struct ServiceStates {
    pub api: String,
    pub duckdb: String,
    pub metabase: String,
    pub dbt_docs: String,
}

#[derive(Object)]
pub struct StatusResponse {
    pub status: String,
    pub dango_version: String,
    pub services: ServiceStates,
    /// Human-readable uptime, e.g. `2h 5m 3s`.
    pub uptime: String,
    pub uptime_seconds: u64,
}

#[derive(Object)]
pub struct ApiInfo {
    pub message: String,
    pub version: String,
    pub docs: String,
    pub websocket: String,
}

#[derive(Object)]
pub struct WatcherStatus {
    pub running: bool,
    /// The server's process id (the watcher runs inside it).
    pub pid: Option<u32>,
    pub auto_sync_enabled: bool,
    pub auto_dbt_enabled: bool,
    pub debounce_seconds: u64,
    pub watch_patterns: Vec<String>,
    pub watch_directories: Vec<String>,
    /// Changed files waiting for the quiet period to end.
    pub pending_files: Vec<String>,
    pub last_event_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_sync_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_run_id: Option<String>,
    pub error: Option<String>,
}

fn human_duration(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s}s"),
        _ => format!("{h}h {m}m {s}s"),
    }
}

#[OpenApi(tag = "ApiTag::Health")]
impl HealthApi {
    /// Service health (public: nothing secret in it)
    ///
    /// A liveness check with the version and uptime; `status` is always `healthy` when the
    /// server answers. `services.duckdb` is `busy` while an external dbt process holds the
    /// warehouse file, and `services.dbt_docs` is `not_generated` until a dbt manifest exists.
    #[oai(path = "/api/status", method = "get", operation_id = "status")]
    async fn status(&self, state: Data<&Arc<AppState>>) -> Json<StatusResponse> {
        let duckdb = if state.warehouse.is_open() {
            "healthy"
        } else {
            "busy"
        };
        let uptime_seconds = state.started_at.elapsed().as_secs();
        let dbt_docs = if state.dbt_target_dir().join("manifest.json").exists() {
            "healthy"
        } else {
            "not_generated"
        };
        Json(StatusResponse {
            status: "healthy".into(),
            dango_version: VERSION.into(),
            services: ServiceStates {
                api: "running".into(),
                duckdb: duckdb.into(),
                metabase: "not_configured".into(),
                dbt_docs: dbt_docs.into(),
            },
            uptime: human_duration(uptime_seconds),
            uptime_seconds,
        })
    }

    /// API entry point: version and where the docs are
    ///
    /// Static pointers for clients: the API name, the server version, where this
    /// documentation is (`/api/docs`) and the WebSocket endpoint for live events (`/ws`).
    /// Every message on `/ws` is a JSON object described by the `PlatformEvent` schema:
    /// `type` names the kind, `event` repeats it, and each kind carries its own fields.
    #[oai(path = "/api", method = "get", operation_id = "api_info")]
    async fn info(&self) -> Json<ApiInfo> {
        Json(ApiInfo {
            message: "Dango API".into(),
            version: VERSION.into(),
            docs: "/api/docs".into(),
            websocket: "/ws".into(),
        })
    }

    /// File watcher state and settings
    ///
    /// The watcher's settings from project.yml (`platform.auto_sync`, `auto_dbt`,
    /// `debounce_seconds`, patterns and directories) and its live state. `running` is false
    /// when `auto_sync` is off or no directory could be watched; `pending_files` are changes
    /// waiting for the quiet period, and `last_run_id` is the last sync the watcher started.
    #[oai(
        path = "/api/watcher/status",
        method = "get",
        operation_id = "watcher_status"
    )]
    async fn watcher_status(&self, state: Data<&Arc<AppState>>) -> Json<WatcherStatus> {
        let platform = &state.config().platform;
        let live = state.watcher.snapshot();
        Json(WatcherStatus {
            running: live.running,
            pid: live.running.then(std::process::id),
            auto_sync_enabled: platform.auto_sync,
            auto_dbt_enabled: platform.auto_dbt,
            debounce_seconds: platform.debounce_seconds,
            watch_patterns: platform.watch_patterns.clone(),
            watch_directories: platform.watch_directories.clone(),
            pending_files: live.pending_files,
            last_event_at: live.last_event_at,
            last_sync_at: live.last_sync_at,
            last_run_id: live.last_run_id,
            error: live.error,
        })
    }

    /// Platform health: warehouse, disk, failures, issues
    ///
    /// Warehouse size and tables per layer, free disk space, sources whose latest sync in the
    /// last 24 hours failed, failed nodes of the last dbt run, and the warnings and critical
    /// issues they add up to. `status` is `critical` when there is any critical issue,
    /// otherwise `warning` when there is any warning.
    #[oai(
        path = "/api/health/platform",
        method = "get",
        operation_id = "platform_health"
    )]
    async fn platform(&self, state: Data<&Arc<AppState>>) -> Json<PlatformHealth> {
        Json(platform_health(HealthDeps::of(&state)).await)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn uptime_text() {
        assert_eq!(super::human_duration(5), "5s");
        assert_eq!(super::human_duration(65), "1m 5s");
        assert_eq!(super::human_duration(3661), "1h 1m 1s");
    }
}
