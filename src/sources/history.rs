//! Per-source sync history (`sync_history`): one row per source per run.

use chrono::{DateTime, Duration, Utc};
use dango_entity::sync_history;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

pub struct Entry<'a> {
    pub run_id: &'a str,
    pub source: &'a str,
    pub status: &'a str,
    pub started_at: DateTime<Utc>,
    pub rows_processed: u64,
    pub total_row_count: Option<u64>,
    pub full_refresh: bool,
    pub error: Option<&'a str>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub details: Option<serde_json::Value>,
}

pub async fn record(
    db: &DatabaseConnection,
    entry: Entry<'_>,
) -> crate::Result<sync_history::Model> {
    let finished = Utc::now();
    let recorded = sync_history::ActiveModel {
        run_id: Set(entry.run_id.to_string()),
        source: Set(entry.source.to_string()),
        status: Set(entry.status.to_string()),
        started_at: Set(entry.started_at),
        finished_at: Set(finished),
        duration_seconds: Set((finished - entry.started_at).num_milliseconds() as f64 / 1000.0),
        rows_processed: Set(entry.rows_processed as i64),
        total_row_count: Set(entry.total_row_count.map(|n| n as i64)),
        full_refresh: Set(entry.full_refresh),
        error_message: Set(entry.error.map(|e| e.chars().take(4000).collect())),
        start_date: Set(entry.start_date),
        end_date: Set(entry.end_date),
        details: Set(entry.details.map(|d| d.to_string())),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(recorded)
}

/// The newest `limit` entries of a source, newest first.
pub async fn latest(
    db: &DatabaseConnection,
    source: &str,
    limit: u64,
) -> crate::Result<Vec<sync_history::Model>> {
    Ok(sync_history::Entity::find()
        .filter(sync_history::Column::Source.eq(source))
        .order_by_desc(sync_history::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// Each source's average successful sync, in seconds, over the syncs since `since`.
pub async fn typical_seconds(
    db: &DatabaseConnection,
    since: chrono::DateTime<chrono::Utc>,
) -> crate::Result<std::collections::HashMap<String, f64>> {
    let rows = sync_history::Entity::find()
        .filter(sync_history::Column::Status.eq("success"))
        .filter(sync_history::Column::StartedAt.gte(since))
        .all(db)
        .await?;
    let mut sums: std::collections::HashMap<String, (f64, u32)> = Default::default();
    for row in rows {
        let seconds = (row.finished_at - row.started_at).num_milliseconds() as f64 / 1000.0;
        let entry = sums.entry(row.source).or_default();
        entry.0 += seconds.max(0.0);
        entry.1 += 1;
    }
    Ok(sums
        .into_iter()
        .map(|(source, (sum, count))| (source, sum / f64::from(count)))
        .collect())
}

/// When `source` last synced successfully.
pub async fn last_success(
    db: &DatabaseConnection,
    source: &str,
) -> crate::Result<Option<sync_history::Model>> {
    Ok(sync_history::Entity::find()
        .filter(sync_history::Column::Source.eq(source))
        .filter(sync_history::Column::Status.eq("success"))
        .order_by_desc(sync_history::Column::Id)
        .one(db)
        .await?)
}

/// Entries of one run.
pub async fn of_run(
    db: &DatabaseConnection,
    run_id: &str,
) -> crate::Result<Vec<sync_history::Model>> {
    Ok(sync_history::Entity::find()
        .filter(sync_history::Column::RunId.eq(run_id))
        .order_by_asc(sync_history::Column::Id)
        .all(db)
        .await?)
}

/// Sources whose newest entry failed within the last 24 hours, with that entry and how
/// many of their syncs failed in those hours.
pub async fn recent_failures(
    db: &DatabaseConnection,
) -> crate::Result<Vec<(sync_history::Model, u64)>> {
    let since = Utc::now() - Duration::hours(24);
    let rows = sync_history::Entity::find()
        .filter(sync_history::Column::StartedAt.gte(since))
        .order_by_desc(sync_history::Column::Id)
        .all(db)
        .await?;
    let mut failed = std::collections::HashMap::<&str, u64>::new();
    for row in rows.iter().filter(|r| r.status == "failed") {
        *failed.entry(row.source.as_str()).or_default() += 1;
    }
    let mut seen = std::collections::HashSet::new();
    let newest_failed: Vec<&sync_history::Model> = rows
        .iter()
        .filter(|r| seen.insert(r.source.clone()))
        .filter(|r| r.status == "failed")
        .collect();
    Ok(newest_failed
        .into_iter()
        .map(|r| {
            (
                r.clone(),
                failed.get(r.source.as_str()).copied().unwrap_or(1),
            )
        })
        .collect())
}
