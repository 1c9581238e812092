//! Sources: configuration, live status (rows, freshness, last sync) and history.

pub mod facts;
pub mod history;

use chrono::{DateTime, Utc};
use dango_entity::sync_history;
use poem_openapi::Object;

use std::collections::HashMap;

use crate::Error;
use crate::config::ProjectPaths;
use crate::config::schedules::SchedulesFile;
use crate::config::sources::{SourceConfig, SourcesFile};
use crate::error::code;

/// Loads `sources.yml`, turning problems into a 400 that names the file and key.
pub fn load(paths: &ProjectPaths) -> crate::Result<SourcesFile> {
    SourcesFile::load(&paths.sources_yml())
        .map_err(|e| Error::bad_request(e.to_string()).with_code(code::CONFIG_INVALID))
}

/// The names of the configured sources, in the file's order.
pub fn names(paths: &ProjectPaths) -> crate::Result<Vec<String>> {
    Ok(load(paths)?.sources.into_iter().map(|s| s.name).collect())
}

/// The configured source called `name` (404 otherwise); names follow the identifier rule.
pub fn get(paths: &ProjectPaths, name: &str) -> crate::Result<SourceConfig> {
    if !crate::config::sources::is_valid_identifier(name) {
        return Err(Error::bad_request(format!(
            "Source name '{name}' is invalid. Use only letters, numbers, and underscores."
        ))
        .with_code(code::INVALID_NAME));
    }
    load(paths)?
        .get(name)
        .cloned()
        .ok_or_else(|| Error::not_found(format!("Source '{name}' not found")))
}

/// Counts of configured sources.
#[derive(Debug, Default, Clone)]
pub struct SourceSummary {
    pub total: u64,
    pub enabled: u64,
    pub never_synced: u64,
}

impl SourceSummary {
    pub fn of(facts: &facts::Facts) -> Self {
        let mut summary = Self {
            total: facts.sources.sources.len() as u64,
            ..Default::default()
        };
        for source in facts.sources.sources.iter().filter(|s| s.enabled) {
            summary.enabled += 1;
            if facts.history(&source.name).is_empty() {
                summary.never_synced += 1;
            }
        }
        summary
    }
}

#[derive(Object, Clone, Debug)]
pub struct TableInfo {
    pub name: String,
    pub row_count: u64,
    pub schema: String,
}

#[derive(Object, Clone, Debug)]
pub struct Freshness {
    /// `synced`, `failed`, `never_synced`.
    pub status: String,
    pub hours_since_sync: Option<f64>,
    pub last_sync_time: Option<DateTime<Utc>>,
    pub last_sync_status: Option<String>,
    /// The reference's shape: time of the last successful update …
    pub last_update: Option<DateTime<Utc>>,
    /// … and whole days since then.
    pub days_old: Option<i64>,
}

#[derive(Object, Clone, Debug)]
pub struct SourceStatus {
    pub name: String,
    #[oai(rename = "type")]
    pub source_type: String,
    pub enabled: bool,
    pub description: Option<String>,
    pub last_sync: Option<DateTime<Utc>>,
    pub last_sync_duration_seconds: Option<f64>,
    pub row_count: Option<u64>,
    /// `synced`, `syncing`, `failed`, `empty`, `not_synced` or `stale` (synced, but its
    /// schedules should have synced it again: older than twice their shortest interval).
    pub status: String,
    pub freshness: Freshness,
    pub tables: Vec<TableInfo>,
    pub has_multiple_tables: bool,
    /// `full_refresh` or `incremental`.
    pub sync_mode: String,
    pub write_disposition: String,
    pub supports_incremental: bool,
    pub supports_date_range: bool,
    pub lookback_days: Option<u32>,
    /// The running or queued sync, if any.
    pub active_run_id: Option<String>,
    pub needs_attention: bool,
    pub attention_reason: Option<String>,
    /// An enabled schedule syncs this source.
    pub has_schedule: bool,
    /// The timing of those schedules in words (`Daily at 6 AM, Every hour`).
    pub schedule_display: Option<String>,
}

fn freshness(
    latest: Option<&sync_history::Model>,
    last_success: Option<&sync_history::Model>,
) -> Freshness {
    let now = Utc::now();
    let last_update = last_success.map(|h| h.finished_at);
    let base = Freshness {
        status: "never_synced".into(),
        hours_since_sync: None,
        last_sync_time: latest.map(|h| h.started_at),
        last_sync_status: latest.map(|h| h.status.clone()),
        last_update,
        days_old: last_update.map(|t| (now - t).num_days()),
    };
    match latest {
        None => base,
        Some(h) if h.status != "success" => Freshness {
            status: "failed".into(),
            ..base
        },
        Some(h) => Freshness {
            status: "synced".into(),
            hours_since_sync: Some(
                ((now - h.started_at).num_seconds() as f64 / 360.0).round() / 10.0,
            ),
            ..base
        },
    }
}

/// Status rules (behaviour §3.11): a running sync shows `syncing`; else the newest
/// history entry decides (`failed`, `not_synced`, `empty`, `synced`); a synced source its
/// schedules should have synced again by now is `stale` (see [`crate::schedules`]).
pub fn status_of(
    active: bool,
    latest: Option<&sync_history::Model>,
    rows: Option<u64>,
) -> &'static str {
    if active {
        return "syncing";
    }
    match latest {
        Some(h) if h.status == "failed" => "failed",
        None => "not_synced",
        Some(_) if rows.unwrap_or(0) == 0 => "empty",
        Some(_) => "synced",
    }
}

/// The sync run in progress for each source that has one: source name → run id.
pub type ActiveSyncs = HashMap<String, String>;

/// Every configured source's status, in `sources.yml` order.
pub fn statuses(
    facts: &facts::Facts,
    active: &ActiveSyncs,
    schedules: &SchedulesFile,
) -> Vec<SourceStatus> {
    facts
        .sources
        .sources
        .iter()
        .map(|source| status(source, facts, active, schedules))
        .collect()
}

/// `schedules.yml` as the source listings read it: a file that does not validate is
/// reported where schedules are listed, and here counts as no schedules.
pub fn schedules_for_status(paths: &ProjectPaths) -> SchedulesFile {
    SchedulesFile::load(&paths.schedules_yml()).unwrap_or_else(|err| {
        tracing::warn!("schedules.yml is ignored for source status: {err}");
        SchedulesFile::default()
    })
}

/// One source's status, from what is known of it, the syncs in progress and the
/// schedules that sync it.
pub fn status(
    source: &SourceConfig,
    facts: &facts::Facts,
    active: &ActiveSyncs,
    schedules: &SchedulesFile,
) -> SourceStatus {
    let recent = facts.history(&source.name);
    let latest = recent.first();
    let last_success = recent.iter().find(|h| h.status == "success");
    let tables = facts.tables(&source.name).to_vec();
    let row_count = (!tables.is_empty()).then(|| tables.iter().map(|t| t.row_count).sum());
    let active_run = active.get(&source.name);
    let mut status = status_of(active_run.is_some(), latest, row_count);
    let freshness = freshness(latest, last_success);
    let stale_after = crate::schedules::stale_after_hours(schedules, &source.name, Utc::now());
    if status == "synced"
        && let (Some(limit), Some(hours)) = (stale_after, freshness.hours_since_sync)
        && hours > limit
    {
        status = "stale";
    }
    let schedule_display = crate::schedules::display_for(schedules, &source.name);
    let incremental = source.is_file_source();
    SourceStatus {
        name: source.name.clone(),
        source_type: source.source_type.clone(),
        enabled: source.enabled,
        description: source.description.clone(),
        last_sync: latest.map(|h| h.started_at),
        last_sync_duration_seconds: latest.map(|h| h.duration_seconds),
        row_count,
        status: status.into(),
        freshness,
        has_multiple_tables: tables.len() > 1,
        tables,
        sync_mode: if incremental {
            "incremental"
        } else {
            "full_refresh"
        }
        .into(),
        write_disposition: if incremental { "merge" } else { "replace" }.into(),
        supports_incremental: incremental,
        supports_date_range: false,
        lookback_days: source.lookback_days,
        active_run_id: active_run.cloned(),
        needs_attention: false,
        attention_reason: None,
        has_schedule: schedule_display.is_some(),
        schedule_display,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(status: &str) -> sync_history::Model {
        sync_history::Model {
            id: 1,
            run_id: "r".into(),
            source: "s".into(),
            status: status.into(),
            started_at: Utc::now(),
            finished_at: Utc::now(),
            duration_seconds: 1.0,
            rows_processed: 0,
            total_row_count: None,
            full_refresh: false,
            error_message: None,
            start_date: None,
            end_date: None,
            details: None,
        }
    }

    #[test]
    fn status_rules() {
        assert_eq!(status_of(true, None, None), "syncing");
        assert_eq!(status_of(false, None, None), "not_synced");
        assert_eq!(status_of(false, Some(&entry("failed")), Some(10)), "failed");
        assert_eq!(status_of(false, Some(&entry("success")), Some(0)), "empty");
        assert_eq!(status_of(false, Some(&entry("success")), Some(5)), "synced");
        let f = freshness(Some(&entry("success")), Some(&entry("success")));
        assert_eq!(f.status, "synced");
        assert_eq!(f.days_old, Some(0));
        assert_eq!(freshness(None, None).status, "never_synced");
    }
}
