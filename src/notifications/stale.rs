//! The staleness check, on a timer of its own (the original only looked right after a
//! successful sync, so it practically never fired): a source an enabled schedule syncs
//! whose last successful sync is older than `stale_threshold_hours` is announced once,
//! and again only after it has synced and gone stale anew.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{EventKind, Notice, NotifyDeps};
use crate::config::schedules::SchedulesFile;
use crate::sources::history;

/// How often the check runs.
pub const EVERY: Duration = Duration::from_secs(5 * 60);

/// Starts the check in the background.
pub fn spawn(deps: NotifyDeps) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(EVERY).await;
            check(&deps, Utc::now()).await;
        }
    });
}

/// Announces the sources stale at `now`; returns their names.
pub async fn check(deps: &NotifyDeps, now: DateTime<Utc>) -> Vec<String> {
    let Ok(file) = SchedulesFile::load(&deps.paths.schedules_yml()) else {
        return vec![];
    };
    let Some(config) = &file.notifications else {
        return vec![];
    };
    if config.webhooks.is_empty() || !config.on_stale {
        return vec![];
    }
    let mut sources: Vec<(&str, &str)> = file
        .schedules
        .iter()
        .filter(|s| s.enabled)
        .flat_map(|s| {
            s.sources
                .iter()
                .map(move |source| (source.as_str(), s.name.as_str()))
        })
        .collect();
    sources.sort();
    sources.dedup_by(|a, b| a.0 == b.0);
    let mut announced = Vec::new();
    for (source, schedule) in sources {
        let last = match history::last_success(&deps.db, source).await {
            Ok(Some(last)) => last,
            // Never synced: nothing was ever fresh, so nothing went stale.
            Ok(None) => continue,
            Err(err) => {
                tracing::warn!(source, "cannot read the sync history: {err}");
                continue;
            }
        };
        let hours = (now - last.finished_at).num_seconds() as f64 / 3600.0;
        if hours <= config.stale_threshold_hours
            || already_told(deps, source, last.finished_at).await
        {
            continue;
        }
        let notice = Notice {
            event: Some(EventKind::SyncStale),
            schedule: schedule.to_string(),
            sources: vec![source.to_string()],
            stale_hours: Some((hours * 10.0).round() / 10.0),
            source: Some(source.to_string()),
            error: Some(format!(
                "No successful sync of {source} for {hours:.1} hours (threshold {} h)",
                config.stale_threshold_hours
            )),
            ..Default::default()
        };
        super::deliver_all(deps, config, &notice, now).await;
        announced.push(source.to_string());
    }
    announced
}

/// Whether a staleness notice about `source` went out since its sync at `synced`.
async fn already_told(deps: &NotifyDeps, source: &str, synced: DateTime<Utc>) -> bool {
    let filter = super::DeliveryFilter {
        event: Some(EventKind::SyncStale.as_str().into()),
        source: Some(source.into()),
        ..Default::default()
    };
    match super::deliveries(&deps.db, &filter, 1, 0).await {
        Ok((latest, _)) => latest.first().is_some_and(|d| d.created_at > synced),
        Err(_) => false,
    }
}
