//! Sources: list with status, details, logs; the activity log.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::ApiTag;
use crate::sources::{self, Freshness, SourceStatus, TableInfo};
use crate::state::AppState;
use crate::{Result, activity};

pub struct SourcesApi;

#[derive(Object)]
pub struct HistoryEntry {
    pub run_id: String,
    pub timestamp: DateTime<Utc>,
    /// `success` or `failed`.
    pub status: String,
    pub duration_seconds: f64,
    pub rows_processed: i64,
    pub total_row_count: Option<i64>,
    pub full_refresh: bool,
    pub error_message: Option<String>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub details: Option<serde_json::Value>,
}

impl From<dango_entity::sync_history::Model> for HistoryEntry {
    fn from(h: dango_entity::sync_history::Model) -> Self {
        Self {
            run_id: h.run_id,
            timestamp: h.started_at,
            status: h.status,
            duration_seconds: h.duration_seconds,
            rows_processed: h.rows_processed,
            total_row_count: h.total_row_count,
            full_refresh: h.full_refresh,
            error_message: h.error_message,
            start_date: h.start_date,
            end_date: h.end_date,
            details: h.details.and_then(|d| serde_json::from_str(&d).ok()),
        }
    }
}

#[derive(Object)]
pub struct SourceDetails {
    pub name: String,
    #[oai(rename = "type")]
    pub source_type: String,
    pub enabled: bool,
    /// The source's settings; values of keys that look secret are masked.
    pub config: serde_json::Value,
    /// Last 20 syncs, newest first.
    pub history: Vec<HistoryEntry>,
    pub row_count: Option<u64>,
    pub status: String,
    pub freshness: Freshness,
    pub tables: Vec<TableInfo>,
    pub sync_mode: String,
    pub lookback_days: Option<u32>,
    pub active_run_id: Option<String>,
}

#[derive(Object)]
pub struct LogEntry {
    /// Increases with every entry: the newest entry has the largest id.
    pub id: i64,
    pub timestamp: DateTime<Utc>,
    /// `info`, `success`, `warning` or `error`.
    pub level: String,
    pub source: Option<String>,
    pub message: String,
    pub category: String,
}

impl From<dango_entity::activity_log::Model> for LogEntry {
    fn from(e: dango_entity::activity_log::Model) -> Self {
        Self {
            id: e.id,
            timestamp: e.timestamp,
            level: e.level,
            source: e.source,
            message: e.message,
            category: e.category,
        }
    }
}

/// Masks values of keys that name secrets (`*token*`, `*secret*`, `*password*`, `*key*`
/// except `*_env`, which only name environment variables).
pub fn mask_config(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let lower = k.to_lowercase();
                    let secret = !lower.ends_with("_env")
                        && [
                            "token",
                            "secret",
                            "password",
                            "api_key",
                            "api-key",
                            "apikey",
                            "credential",
                            "authorization",
                        ]
                        .iter()
                        .any(|w| lower.contains(w));
                    let masked = if secret && v.is_string() {
                        serde_json::Value::String("********".into())
                    } else {
                        mask_config(v)
                    };
                    (k.clone(), masked)
                })
                .collect(),
        ),
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(mask_config).collect())
        }
        other => other.clone(),
    }
}

#[OpenApi(tag = "ApiTag::Sources")]
impl SourcesApi {
    /// All configured sources with status, row counts and freshness
    ///
    /// Every source in `.dango/sources.yml`, sorted by name, with its status, row counts per
    /// `raw_<source>` table, freshness, sync mode and active run, if any. It is served from a
    /// cache that is rebuilt when sources.yml, the warehouse or the sync history changes; an
    /// invalid sources.yml fails the request with `DANGO-C003`.
    #[oai(path = "/api/sources", method = "get", operation_id = "list_sources")]
    async fn list(&self, state: Data<&Arc<AppState>>) -> Result<Json<Vec<SourceStatus>>> {
        let facts = state.source_facts().await?;
        let mut list = sources::statuses(
            &facts,
            &state.active_syncs().await?,
            &sources::schedules_for_status(&state.paths),
        );
        list.sort_by_key(|s| s.name.to_lowercase());
        Ok(Json(list))
    }

    /// One source: masked config, history, tables, freshness
    ///
    /// The source's settings (values of secret-looking keys masked as `********`), its last
    /// 20 syncs (newest first), its tables, status and freshness.
    #[oai(
        path = "/api/sources/:source_name/details",
        method = "get",
        operation_id = "source_details"
    )]
    async fn details(
        &self,
        state: Data<&Arc<AppState>>,
        /// Name of a configured source (letters, digits and underscores, at most 128;
        /// case-insensitive); an invalid name gets 400, an unknown one 404.
        source_name: Path<String>,
    ) -> Result<Json<SourceDetails>> {
        let source = sources::get(&state.paths, &source_name)?;
        let facts = state.source_facts().await?;
        let status = sources::status(
            &source,
            &facts,
            &state.active_syncs().await?,
            &sources::schedules_for_status(&state.paths),
        );
        let history = facts.history(&source.name).to_vec();
        let config = mask_config(&serde_json::to_value(&source).unwrap_or_default());
        Ok(Json(SourceDetails {
            name: source.name,
            source_type: source.source_type,
            enabled: source.enabled,
            config,
            history: history.into_iter().map(HistoryEntry::from).collect(),
            row_count: status.row_count,
            status: status.status,
            freshness: status.freshness,
            tables: status.tables,
            sync_mode: status.sync_mode,
            lookback_days: status.lookback_days,
            active_run_id: status.active_run_id,
        }))
    }

    /// Activity of one source, newest first
    ///
    /// Activity-log lines recorded for this source (sync start and end, warnings, schema
    /// drift, uploads and deletions), newest first.
    #[oai(
        path = "/api/sources/:source_name/logs",
        method = "get",
        operation_id = "source_logs"
    )]
    async fn source_logs(
        &self,
        state: Data<&Arc<AppState>>,
        /// Name of a configured source (letters, digits and underscores, at most 128;
        /// case-insensitive); an invalid name gets 400, an unknown one 404.
        source_name: Path<String>,
        /// At most this many entries, newest first (1–10000, default 100).
        #[oai(
            default = "default_source_limit",
            validator(minimum(value = "1"), maximum(value = "10000"))
        )]
        limit: Query<u64>,
    ) -> Result<Json<Vec<LogEntry>>> {
        let source = sources::get(&state.paths, &source_name)?;
        let filter = activity::Filter {
            source: Some(&source.name),
            ..Default::default()
        };
        let entries = activity::list(&state.db, &filter, limit.0).await?;
        Ok(Json(entries.into_iter().map(LogEntry::from).collect()))
    }

    /// All activity, newest first
    ///
    /// The activity log of the whole project (syncs, dbt runs, uploads, warnings), newest
    /// first.
    #[oai(path = "/api/logs", method = "get", operation_id = "activity_logs")]
    #[allow(clippy::too_many_arguments)] // one parameter per filter of the query string
    async fn logs(
        &self,
        state: Data<&Arc<AppState>>,
        /// At most this many entries, newest first (1–10000, default 1000).
        #[oai(
            default = "default_all_limit",
            validator(minimum(value = "1"), maximum(value = "10000"))
        )]
        limit: Query<u64>,
        category: Query<Option<activity::Category>>,
        level: Query<Option<activity::Level>>,
        /// Only entries about this source.
        source: Query<Option<String>>,
        /// Only entries whose message contains this text (case-insensitive).
        #[oai(validator(max_length = 200))]
        q: Query<Option<String>>,
        /// Only entries at or after this instant (RFC 3339).
        since: Query<Option<DateTime<Utc>>>,
        /// Only entries at or before this instant (RFC 3339).
        until: Query<Option<DateTime<Utc>>>,
        /// Entries to skip from the newest, for paging (at most 1,000,000).
        #[oai(default, validator(maximum(value = "1000000")))]
        offset: Query<u64>,
    ) -> Result<Json<Vec<LogEntry>>> {
        let filter = activity::Filter {
            category: category.0,
            level: level.0,
            source: source.0.as_deref(),
            text: q.0.as_deref(),
            since: since.0,
            until: until.0,
            offset: offset.0,
        };
        let entries = activity::list(&state.db, &filter, limit.0).await?;
        Ok(Json(entries.into_iter().map(LogEntry::from).collect()))
    }
}

fn default_source_limit() -> u64 {
    100
}

fn default_all_limit() -> u64 {
    1000
}

#[cfg(test)]
mod tests {
    #[test]
    fn masks_secret_values_but_not_env_names() {
        let masked = super::mask_config(&serde_json::json!({
            "rest_api": {"auth_token_env": "MY_TOKEN", "token": "abc", "headers": {"X-Api-Key": "k"}, "base_url": "u"}
        }));
        assert_eq!(masked["rest_api"]["auth_token_env"], "MY_TOKEN");
        assert_eq!(masked["rest_api"]["token"], "********");
        assert_eq!(masked["rest_api"]["headers"]["X-Api-Key"], "********");
        assert_eq!(masked["rest_api"]["base_url"], "u");
    }
}
