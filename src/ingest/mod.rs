//! Extractors and loaders: from a source's configuration to rows in `raw_<source>`.

pub mod files;

use std::path::Path;
use std::sync::Arc;

use crate::Error;
use crate::config::sources::SourceConfig;
use crate::events::{Event, EventBus, SyncProgressEvent};
use crate::warehouse::{Interrupter, Warehouse};

/// What one source's sync did.
#[derive(Debug, Default)]
pub struct SourceOutcome {
    pub rows_processed: u64,
    pub total_rows: u64,
    pub drift: Vec<files::DriftChange>,
    pub warnings: Vec<String>,
    pub details: serde_json::Value,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct SyncOptions {
    pub full_refresh: bool,
    pub allow_empty_replace: bool,
}

/// What a sync writes to and tells.
pub struct IngestDeps<'a> {
    pub warehouse: &'a Arc<Warehouse>,
    pub events: &'a EventBus,
    /// The project root, which source directories are relative to.
    pub root: &'a Path,
    /// Stops the load (the run was cancelled or ran out of time).
    pub stop: &'a Arc<Interrupter>,
}

/// Syncs one source into the warehouse. Every write happens in one warehouse
/// transaction: on any error the previous data is untouched.
pub async fn sync_source(
    deps: IngestDeps<'_>,
    run_id: &str,
    source: &SourceConfig,
    options: SyncOptions,
) -> crate::Result<SourceOutcome> {
    if !source.is_file_source() {
        return Err(Error::bad_request(format!(
            "Source '{}' has type '{}', which this version cannot sync yet",
            source.name, source.source_type
        )));
    }
    let dir = source
        .file_directory(deps.root)
        .ok_or_else(|| Error::bad_request(format!("Source '{}' has no directory", source.name)))?;
    let pattern = source.file_pattern();
    let name = source.name.clone();
    let events = deps.events.clone();
    let run = run_id.to_string();
    let load_options = files::LoadOptions {
        full_refresh: options.full_refresh,
        allow_empty_replace: options.allow_empty_replace || source.allow_empty_replace,
    };
    let report = deps
        .warehouse
        .write_stoppable(deps.stop, move |conn| {
            let progress = |done: usize, total: usize, file: &str| {
                let progress = if total == 0 {
                    1.0
                } else {
                    (done as f64 / total as f64).clamp(0.0, 1.0)
                };
                let file = (!file.is_empty()).then(|| file.to_string());
                let message = file
                    .as_ref()
                    .map(|file| format!("Loading {file} ({}/{total})", done + 1));
                let event = SyncProgressEvent {
                    source: name.clone(),
                    phase: "load".into(),
                    progress,
                    file,
                    message,
                };
                events.publish(Event::new(event).run(&run));
            };
            files::sync(conn, &name, &dir, &pattern, load_options, &progress)
        })
        .await?;
    Ok(SourceOutcome {
        rows_processed: report.rows_inserted,
        total_rows: report.total_rows,
        details: serde_json::json!({
            "files_new": report.new_files,
            "files_updated": report.updated_files,
            "files_deleted": report.deleted_files,
            "files_unchanged": report.unchanged_files,
            "files_kept_empty": report.kept_empty_files,
            "rows_inserted": report.rows_inserted,
            "rows_deleted": report.rows_deleted,
            "tables": [source.name.clone()],
        }),
        drift: report.drift,
        warnings: report.warnings,
    })
}
