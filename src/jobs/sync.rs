//! Executing a sync run: each source in turn, with history, activity, events and drift.

use chrono::Utc;
use dango_entity::{job_runs, schema_drift_events};
use sea_orm::{ActiveModelTrait, Set};

use super::RunContext;
use super::transform::{self, TransformSpec};
use crate::Error;
use crate::activity::{self, Level};
use crate::config::sources::SourcesFile;
use crate::error::code;
use crate::events::{
    Event, EventBody, FreshnessUpdateEvent, SchemaDriftEvent, SyncCompletedEvent, SyncFailedEvent,
    SyncStartedEvent,
};
use crate::ingest::{self, SourceOutcome, SyncOptions, files::DriftChange};
use crate::runs;
use crate::sources::history;
use crate::transform::staging;

/// Syncs every source of the run; returns rows written. Fails when any source failed
/// (the others keep their successful loads).
pub async fn run(ctx: &RunContext<'_>, run: &job_runs::Model) -> crate::Result<u64> {
    let sources = runs::sources_of(run);
    let options = runs::options_of(run);
    let config = SourcesFile::load(&ctx.paths.sources_yml())
        .map_err(|e| Error::bad_request(e.to_string()))?;
    let sync_options = SyncOptions {
        full_refresh: run.full_refresh,
        allow_empty_replace: options.allow_empty_replace,
    };
    runs::set_phase(ctx.db, &run.id, "data_load", Some("Loading data")).await?;
    let progress = spawn_progress_recorder(ctx, &run.id);
    let mut rows = 0;
    let mut failures = Vec::new();
    let mut synced: Vec<(String, String)> = Vec::new();
    for name in &sources {
        if let Some(reason) = ctx.control.reason() {
            failures.push(format!("{name}: not loaded ({})", reason.message()));
            continue;
        }
        let started = Utc::now();
        ctx.events.publish(
            Event::new(SyncStartedEvent {
                source: name.clone(),
            })
            .run(&run.id),
        );
        activity::record(ctx.db, Level::Info, Some(name), "Starting sync").await;
        let result = match config.get(name) {
            Some(source) => {
                let deps = ingest::IngestDeps {
                    warehouse: ctx.warehouse,
                    events: ctx.events,
                    root: &ctx.paths.root,
                    stop: ctx.control.interrupter(),
                };
                ingest::sync_source(deps, &run.id, source, sync_options).await
            }
            None => Err(Error::not_found(format!("Source '{name}' not found"))),
        };
        let seconds = (Utc::now() - started).num_milliseconds() as f64 / 1000.0;
        match result {
            Ok(outcome) => {
                rows += outcome.rows_processed;
                record_success(ctx, run, name, started, &outcome, seconds).await?;
                if let Some(source) = config.get(name) {
                    synced.push((source.name.clone(), source.source_type.clone()));
                }
            }
            Err(err) => {
                if err.kind == crate::ErrorKind::Internal {
                    tracing::error!("sync of {name} failed: {err:?}");
                }
                let message = match ctx.control.reason() {
                    // The load's transaction was rolled back: the previous data stands.
                    Some(reason) => format!(
                        "{}; this load was rolled back, the previous data is kept",
                        reason.message()
                    ),
                    None => err.detailed_message(),
                };
                ctx.record_history(history::Entry {
                    run_id: &run.id,
                    source: name,
                    status: "failed",
                    started_at: started,
                    rows_processed: 0,
                    total_row_count: None,
                    full_refresh: run.full_refresh,
                    error: Some(&message),
                    start_date: run.start_date.clone(),
                    end_date: run.end_date.clone(),
                    details: None,
                })
                .await?;
                ctx.events.publish(
                    Event::new(SyncFailedEvent {
                        source: name.clone(),
                        error: message.clone(),
                    })
                    .run(&run.id),
                );
                activity::record(
                    ctx.db,
                    Level::Error,
                    Some(name),
                    &format!("Sync failed: {message}"),
                )
                .await;
                failures.push(format!("{name}: {message}"));
                mark_models_stale(ctx, name);
            }
        }
    }
    progress.abort();
    if !synced.is_empty()
        && ctx.control.reason().is_none()
        && transform::has_project(ctx.paths)
        && let Err(err) = transform_after_sync(ctx, run, &synced, options.skip_transform).await
    {
        failures.push(err);
    }
    if failures.is_empty() {
        Ok(rows)
    } else {
        Err(Error::unprocessable(failures.join("; ")).with_code(code::SYNC_FAILED))
    }
}

/// After a successful load: staging models for the synced sources, then everything
/// downstream of them (`source:<name>+`). Returns the failure to report, if any.
async fn transform_after_sync(
    ctx: &RunContext<'_>,
    run: &job_runs::Model,
    synced: &[(String, String)],
    skip: bool,
) -> Result<(), String> {
    let config = &ctx.config;
    let began = std::time::Instant::now();
    if config.transform.generate_staging {
        for (source, source_type) in synced {
            let dbt_dir = ctx.paths.dbt_dir();
            let (name, kind) = (source.clone(), source_type.clone());
            match ctx
                .warehouse
                .read(move |conn| {
                    staging::generate(&dbt_dir, conn, &name, &kind)
                        .map_err(|e| Error::internal(anyhow::anyhow!(e)))
                })
                .await
            {
                Ok(generated) => {
                    for kept in &generated.kept_user_files {
                        tracing::info!("{kept} was edited by hand; not regenerated");
                    }
                    if !generated.written.is_empty() {
                        activity::record(
                            ctx.db,
                            Level::Info,
                            Some(source),
                            &format!("Generated {}", generated.written.join(", ")),
                        )
                        .await;
                    }
                }
                Err(err) => tracing::warn!("staging models for {source}: {err:?}"),
            }
        }
    }
    if skip || !config.transform.run_after_sync {
        if let Err(err) = transform::refresh_manifest(ctx).await {
            tracing::warn!("cannot refresh the dbt manifest: {err:?}");
        }
        return Ok(());
    }
    tracing::debug!("staging models generated in {:?}", began.elapsed());
    let _ = runs::set_phase(ctx.db, &run.id, "dbt_started", Some("Building models")).await;
    let spec = TransformSpec {
        select: synced
            .iter()
            .map(|(name, _)| format!("source:{name}+"))
            .collect(),
        ..Default::default()
    };
    match transform::execute(ctx, Some(&run.id), &spec).await {
        Ok(outcome) => {
            outcome
                .record_activity(
                    ctx,
                    "Data loaded, but dbt models failed",
                    "dbt build after sync",
                )
                .await
        }
        Err(err) => {
            let message = format!(
                "Data loaded, but the dbt build failed: {}",
                err.detailed_message()
            );
            activity::record(ctx.db, Level::Error, None, &message).await;
            Err(message)
        }
    }
}

/// A failed source makes the models that read it stale (their data is not current).
fn mark_models_stale(ctx: &RunContext<'_>, source: &str) {
    let Some(artifacts) = ctx.dbt_artifacts() else {
        return;
    };
    let prefix = format!(".{source}.");
    let models: Vec<String> = artifacts
        .manifest
        .nodes
        .iter()
        .filter(|(id, _)| id.starts_with("model."))
        .filter(|(_, node)| {
            node.depends_on
                .nodes
                .iter()
                .any(|d| d.starts_with("source.") && d.contains(&prefix))
        })
        .map(|(id, _)| id.clone())
        .collect();
    if !models.is_empty() {
        crate::transform::status::mark_stale(&ctx.paths.dango_dir(), &models);
    }
}

/// Copies this run's `sync_progress` events into its record (at most 4 times a second),
/// so pollers of `GET /api/sync/status` see progress too.
fn spawn_progress_recorder(ctx: &RunContext<'_>, run_id: &str) -> tokio::task::JoinHandle<()> {
    let mut events = ctx.events.subscribe();
    let db = ctx.db.clone();
    let run_id = run_id.to_string();
    tokio::spawn(async move {
        let mut last_write = std::time::Instant::now() - std::time::Duration::from_secs(1);
        while let Ok(event) = events.recv().await {
            if event.run_id.as_deref() != Some(run_id.as_str()) {
                continue;
            }
            let EventBody::SyncProgress(progress) = event.body else {
                continue;
            };
            if last_write.elapsed() < std::time::Duration::from_millis(250)
                && progress.progress < 1.0
            {
                continue;
            }
            last_write = std::time::Instant::now();
            let message = progress
                .message
                .as_ref()
                .map(|message| format!("{}: {message}", progress.source));
            if let Err(err) =
                runs::set_progress(&db, &run_id, progress.progress, message.as_deref()).await
            {
                tracing::warn!("cannot record progress of {run_id}: {err:?}");
            }
        }
    })
}

async fn record_success(
    ctx: &RunContext<'_>,
    run: &job_runs::Model,
    name: &str,
    started: chrono::DateTime<Utc>,
    outcome: &SourceOutcome,
    seconds: f64,
) -> crate::Result<()> {
    ctx.record_history(history::Entry {
        run_id: &run.id,
        source: name,
        status: "success",
        started_at: started,
        rows_processed: outcome.rows_processed,
        total_row_count: Some(outcome.total_rows),
        full_refresh: run.full_refresh,
        error: None,
        start_date: run.start_date.clone(),
        end_date: run.end_date.clone(),
        details: Some(outcome.details.clone()),
    })
    .await?;
    record_drift(ctx, &run.id, name, &outcome.drift).await;
    for warning in &outcome.warnings {
        activity::record(ctx.db, Level::Warning, Some(name), warning).await;
    }
    activity::record(
        ctx.db,
        Level::Success,
        Some(name),
        &format!(
            "Sync completed in {seconds:.1}s - {} rows",
            outcome.rows_processed
        ),
    )
    .await;
    ctx.events.publish(
        Event::new(SyncCompletedEvent {
            source: name.to_string(),
            rows: outcome.rows_processed,
            message: format!("{} rows in the table", outcome.total_rows),
        })
        .run(&run.id),
    );
    ctx.events.publish(Event::new(FreshnessUpdateEvent {
        source: name.to_string(),
    }));
    Ok(())
}

/// Schema changes are recorded and announced, never a failure.
async fn record_drift(ctx: &RunContext<'_>, run_id: &str, source: &str, drift: &[DriftChange]) {
    for change in drift {
        let row = schema_drift_events::ActiveModel {
            source: Set(source.to_string()),
            table_name: Set(change.table.clone()),
            column_name: Set(change.column.clone()),
            change_type: Set(change.change.to_string()),
            old_type: Set(change.old_type.clone()),
            new_type: Set(Some(change.new_type.clone())),
            detected_at: Set(Utc::now()),
            run_id: Set(Some(run_id.to_string())),
            accepted: Set(false),
            ..Default::default()
        };
        if let Err(err) = row.insert(ctx.db).await {
            tracing::warn!("could not record schema drift: {err}");
        }
        let message = match &change.old_type {
            Some(old) => format!(
                "Column {}.{} changed type from {old} to {}",
                change.table, change.column, change.new_type
            ),
            None => format!(
                "New column {}.{} ({})",
                change.table, change.column, change.new_type
            ),
        };
        activity::record(ctx.db, Level::Warning, Some(source), &message).await;
        ctx.events.publish(
            Event::new(SchemaDriftEvent {
                source: source.to_string(),
                message,
            })
            .run(run_id),
        );
    }
}
