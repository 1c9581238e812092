//! Platform health (behaviour §18.3): warehouse size and tables per layer, disk space,
//! recent failures, and the issues they add up to.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use sea_orm::DatabaseConnection;

use crate::config::ProjectPaths;
use crate::sources::facts::FactsCache;
use crate::state::AppState;
use crate::transform::artifact_model::{Artifacts, RunResults};
use crate::warehouse::Warehouse;

const GB: f64 = 1024.0 * 1024.0 * 1024.0;
const MB: f64 = 1024.0 * 1024.0;

#[derive(Object, Debug, Clone)]
pub struct DatabaseHealth {
    pub size_gb: f64,
    pub size_mb: f64,
    /// Tables in the raw, staging, intermediate and marts layers.
    pub tables: u64,
    /// `new` (no data yet), `healthy` (< 50 GB), `large` (< 100 GB), `critical`, or `error`.
    pub status: String,
    pub raw_tables: u64,
    pub staging_tables: u64,
    pub intermediate_tables: u64,
    pub marts_tables: u64,
}

#[derive(Object, Debug, Clone)]
pub struct DiskHealth {
    /// `healthy` (> 10 GB free), `warning` (> 5 GB), `critical`, or `unknown`.
    pub status: String,
    pub free_gb: f64,
    pub total_gb: f64,
    pub used_gb: f64,
    pub used_pct: f64,
}

#[derive(Object, Debug, Clone)]
pub struct SyncFailure {
    pub source: String,
    /// Failed syncs of the source in the last 24 hours.
    pub count: u64,
    pub last_error: String,
}

#[derive(Object, Debug, Clone)]
pub struct DbtFailure {
    pub run_time: Option<String>,
    pub failed_models: u64,
    pub models: Vec<String>,
}

#[derive(Object, Debug, Clone)]
pub struct PlatformHealth {
    /// `healthy`, `warning` or `critical`.
    pub status: String,
    pub timestamp: DateTime<Utc>,
    pub database: DatabaseHealth,
    pub disk: DiskHealth,
    pub sync_failures: Vec<SyncFailure>,
    pub dbt_failures: Vec<DbtFailure>,
    pub total_sources: u64,
    pub enabled_sources: u64,
    pub critical_issues: Vec<String>,
    pub warnings: Vec<String>,
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// Classifies a warehouse by its size in bytes.
pub fn database_status(size_bytes: u64) -> &'static str {
    let gb = size_bytes as f64 / GB;
    if gb < 50.0 {
        "healthy"
    } else if gb < 100.0 {
        "large"
    } else {
        "critical"
    }
}

/// Classifies free disk space in bytes.
pub fn disk_status(free_bytes: u64) -> &'static str {
    let gb = free_bytes as f64 / GB;
    if gb > 10.0 {
        "healthy"
    } else if gb > 5.0 {
        "warning"
    } else {
        "critical"
    }
}

pub fn disk_health(path: &Path) -> DiskHealth {
    match (fs2::available_space(path), fs2::total_space(path)) {
        (Ok(free), Ok(total)) if total > 0 => {
            let used = total.saturating_sub(free);
            DiskHealth {
                status: disk_status(free).into(),
                free_gb: round2(free as f64 / GB),
                total_gb: round2(total as f64 / GB),
                used_gb: round2(used as f64 / GB),
                used_pct: round2(used as f64 / total as f64 * 100.0),
            }
        }
        _ => DiskHealth {
            status: "unknown".into(),
            free_gb: 0.0,
            total_gb: 0.0,
            used_gb: 0.0,
            used_pct: 0.0,
        },
    }
}

fn layer_of(schema: &str) -> Option<&'static str> {
    let matches = |layer: &str| schema == layer || schema.starts_with(&format!("{layer}_"));
    ["raw", "staging", "intermediate", "marts"]
        .into_iter()
        .find(|layer| matches(layer))
}

async fn database_health(warehouse: &Arc<Warehouse>) -> DatabaseHealth {
    let size = warehouse.file_size();
    let mut health = DatabaseHealth {
        size_gb: round2(size as f64 / GB),
        size_mb: round2(size as f64 / MB),
        tables: 0,
        status: database_status(size).into(),
        raw_tables: 0,
        staging_tables: 0,
        intermediate_tables: 0,
        marts_tables: 0,
    };
    match warehouse.table_counts().await {
        Ok(counts) => {
            for (schema, count) in counts {
                match layer_of(&schema) {
                    Some("raw") => health.raw_tables += count,
                    Some("staging") => health.staging_tables += count,
                    Some("intermediate") => health.intermediate_tables += count,
                    Some("marts") => health.marts_tables += count,
                    _ => {}
                }
            }
            health.tables = health.raw_tables
                + health.staging_tables
                + health.intermediate_tables
                + health.marts_tables;
            if health.tables == 0 {
                health.status = "new".into();
            }
        }
        Err(err) => {
            tracing::warn!("warehouse health check failed: {err:?}");
            health.status = "error".into();
        }
    }
    health
}

/// Failed nodes of the last dbt run (its `run_results.json`).
pub fn dbt_failures(results: &RunResults) -> Vec<DbtFailure> {
    let failed: Vec<String> = results
        .results
        .iter()
        .filter(|r| r.status == "error")
        .map(|r| r.unique_id.clone())
        .collect();
    if failed.is_empty() {
        return vec![];
    }
    vec![DbtFailure {
        run_time: results.metadata.generated_at.clone(),
        failed_models: failed.len() as u64,
        models: failed.into_iter().take(5).collect(),
    }]
}

/// Sources whose latest sync failed within the last 24 hours.
async fn recent_sync_failures(db: &DatabaseConnection) -> Vec<SyncFailure> {
    crate::sources::history::recent_failures(db)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|(row, count)| SyncFailure {
            source: row.source,
            count,
            last_error: row.error_message.unwrap_or_else(|| "Unknown error".into()),
        })
        .collect()
}

/// What the platform's health is judged from.
pub struct HealthInputs {
    pub database: DatabaseHealth,
    pub disk: DiskHealth,
    pub sources: crate::sources::SourceSummary,
    pub sync_failures: Vec<SyncFailure>,
    pub dbt_failures: Vec<DbtFailure>,
    /// Problems noticed elsewhere (an untrusted proxy forwarding requests).
    pub other_warnings: Vec<String>,
}

/// Where health is gathered from.
pub struct HealthDeps<'a> {
    pub db: &'a DatabaseConnection,
    pub warehouse: &'a Arc<Warehouse>,
    pub paths: &'a ProjectPaths,
    pub facts: &'a FactsCache,
    pub artifacts: Option<Arc<Artifacts>>,
    /// Problems noticed elsewhere in the server.
    pub other_warnings: Vec<String>,
}

impl<'a> HealthDeps<'a> {
    /// The server's.
    pub fn of(state: &'a AppState) -> Self {
        Self {
            db: &state.db,
            warehouse: &state.warehouse,
            paths: &state.paths,
            facts: &state.source_facts,
            artifacts: state.dbt_artifacts(),
            other_warnings: state.untrusted_forwarders.warnings(),
        }
    }
}

/// Gathers the inputs from the stores, then [`assess`]es them.
pub async fn platform_health(deps: HealthDeps<'_>) -> PlatformHealth {
    let sources = match deps.facts.get(deps.paths, deps.db, deps.warehouse).await {
        Ok(facts) => crate::sources::SourceSummary::of(&facts),
        Err(err) => {
            tracing::warn!("{}", err.message);
            Default::default()
        }
    };
    assess(HealthInputs {
        database: database_health(deps.warehouse).await,
        disk: disk_health(&deps.paths.root),
        sources,
        sync_failures: recent_sync_failures(deps.db).await,
        dbt_failures: deps
            .artifacts
            .map(|a| dbt_failures(&a.run_results))
            .unwrap_or_default(),
        other_warnings: deps.other_warnings,
    })
}

/// The issues the inputs add up to, and the overall status: `critical` with any critical
/// issue, `warning` with any warning, `healthy` otherwise.
pub fn assess(inputs: HealthInputs) -> PlatformHealth {
    let HealthInputs {
        database,
        disk,
        sources,
        sync_failures,
        dbt_failures,
        other_warnings,
    } = inputs;
    let mut critical_issues = Vec::new();
    let mut warnings = Vec::new();
    match disk.status.as_str() {
        "critical" => critical_issues.push("Critical disk space".to_string()),
        "warning" => warnings.push(format!(
            "Low disk space ({:.1} GB free) — run `dango cleanup` to free space",
            disk.free_gb
        )),
        _ => {}
    }
    match database.status.as_str() {
        "critical" => warnings.push("Very large database".into()),
        "large" => warnings.push("Large database".into()),
        "error" => warnings.push("Warehouse could not be inspected".into()),
        _ => {}
    }
    if !sync_failures.is_empty() {
        warnings.push(format!(
            "{} source(s) with recent failures",
            sync_failures.len()
        ));
    } else if sources.never_synced > 0 {
        warnings.push(format!("{} source(s) never synced", sources.never_synced));
    }
    if !dbt_failures.is_empty() {
        warnings.push("dbt run failures".into());
    }
    warnings.extend(other_warnings);
    let status = if !critical_issues.is_empty() {
        "critical"
    } else if !warnings.is_empty() {
        "warning"
    } else {
        "healthy"
    };
    PlatformHealth {
        status: status.into(),
        timestamp: Utc::now(),
        database,
        disk,
        sync_failures,
        dbt_failures,
        total_sources: sources.total,
        enabled_sources: sources.enabled,
        critical_issues,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds() {
        let gb = 1024u64 * 1024 * 1024;
        assert_eq!(database_status(49 * gb), "healthy");
        assert_eq!(database_status(50 * gb), "large");
        assert_eq!(database_status(100 * gb), "critical");
        assert_eq!(disk_status(11 * gb), "healthy");
        assert_eq!(disk_status(10 * gb), "warning");
        assert_eq!(disk_status(5 * gb), "critical");
        assert_eq!(layer_of("raw_stripe"), Some("raw"));
        assert_eq!(layer_of("rawdata"), None);
        assert_eq!(layer_of("marts"), Some("marts"));
    }

    fn inputs(disk: &str, database: &str) -> HealthInputs {
        HealthInputs {
            database: DatabaseHealth {
                size_gb: 0.0,
                size_mb: 1.0,
                tables: 3,
                status: database.into(),
                raw_tables: 1,
                staging_tables: 1,
                intermediate_tables: 0,
                marts_tables: 1,
            },
            disk: DiskHealth {
                status: disk.into(),
                free_gb: 7.5,
                total_gb: 100.0,
                used_gb: 92.5,
                used_pct: 92.5,
            },
            sources: crate::sources::SourceSummary {
                total: 2,
                enabled: 2,
                never_synced: 1,
            },
            sync_failures: vec![],
            dbt_failures: vec![],
            other_warnings: vec![],
        }
    }

    #[test]
    fn issues_add_up_to_the_status() {
        let healthy = inputs("healthy", "healthy");
        let healthy = assess(HealthInputs {
            sources: crate::sources::SourceSummary {
                never_synced: 0,
                ..healthy.sources
            },
            ..healthy
        });
        assert_eq!(
            (healthy.status.as_str(), healthy.warnings.len()),
            ("healthy", 0)
        );

        let low_disk = assess(inputs("warning", "large"));
        assert_eq!(low_disk.status, "warning");
        assert_eq!(
            low_disk.warnings,
            [
                "Low disk space (7.5 GB free) — run `dango cleanup` to free space",
                "Large database",
                "1 source(s) never synced"
            ]
        );

        let mut failing = inputs("critical", "healthy");
        failing.sync_failures.push(SyncFailure {
            source: "s".into(),
            count: 1,
            last_error: "boom".into(),
        });
        failing.other_warnings.push("proxy".into());
        let failing = assess(failing);
        assert_eq!(failing.status, "critical");
        assert_eq!(failing.critical_issues, ["Critical disk space"]);
        assert_eq!(
            failing.warnings,
            ["1 source(s) with recent failures", "proxy"]
        );
        assert_eq!((failing.total_sources, failing.enabled_sources), (2, 2));
    }

    #[test]
    fn dbt_failures_from_run_results() {
        let results: RunResults = serde_json::from_str(
            r#"{"metadata":{"generated_at":"2026-01-01T00:00:00Z"},"results":[
                {"unique_id":"model.p.a","status":"success"},{"unique_id":"model.p.b","status":"error"}]}"#,
        )
        .unwrap();
        let failures = dbt_failures(&results);
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].models, ["model.p.b"]);
        assert_eq!(
            failures[0].run_time.as_deref(),
            Some("2026-01-01T00:00:00Z")
        );
    }
}
