//! Per-model status kept between runs (`.dango/dbt_model_status.json`, behaviour §6.5):
//! `unique_id → {status, last_run}`, updated from each run; models downstream of a
//! failed source become `stale` (unless they are in `error`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::results::RunReport;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ModelStatus {
    pub status: String,
    pub last_run: Option<String>,
}

pub fn path(dango_dir: &Path) -> PathBuf {
    dango_dir.join("dbt_model_status.json")
}

pub fn load(dango_dir: &Path) -> BTreeMap<String, ModelStatus> {
    std::fs::read_to_string(path(dango_dir))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

fn save(dango_dir: &Path, statuses: &BTreeMap<String, ModelStatus>) {
    let text = serde_json::to_string_pretty(statuses).unwrap_or_default();
    if let Err(err) = crate::util::write_atomic(&path(dango_dir), text.as_bytes()) {
        tracing::warn!("cannot save model status: {err}");
    }
}

/// Records the outcome of every model in the run (others keep their entry).
pub fn record(dango_dir: &Path, report: &RunReport) {
    let mut statuses = load(dango_dir);
    for result in &report.results {
        if !(result.unique_id.starts_with("model.")
            || result.unique_id.starts_with("seed.")
            || result.unique_id.starts_with("snapshot."))
        {
            continue;
        }
        let previous_run = statuses
            .get(&result.unique_id)
            .and_then(|s| s.last_run.clone());
        let last_run = match result.status {
            super::results::Status::Skipped => previous_run,
            _ => Some(result.started_at.to_rfc3339()),
        };
        statuses.insert(
            result.unique_id.clone(),
            ModelStatus {
                status: result.status.as_str().to_string(),
                last_run,
            },
        );
    }
    save(dango_dir, &statuses);
}

/// Marks the given models stale (a source they read failed to sync), except errors.
pub fn mark_stale(dango_dir: &Path, models: &[String]) {
    let mut statuses = load(dango_dir);
    for id in models {
        let entry = statuses.entry(id.clone()).or_insert(ModelStatus {
            status: "stale".into(),
            last_run: None,
        });
        if entry.status != "error" {
            entry.status = "stale".into();
        }
    }
    save(dango_dir, &statuses);
}
