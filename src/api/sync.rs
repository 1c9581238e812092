//! Sync endpoints: start a sync of one or several sources, poll a run.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::ApiTag;
use super::context::Caller;
use super::sources::HistoryEntry;
use crate::auth::Principal;
use crate::error::code;
use crate::jobs::{Requester, RunDeps, RunRequest, SyncRequest};
use crate::runs;
use crate::sources::history;
use crate::state::AppState;
use crate::{Error, Result, jobs};

pub struct SyncApi;

#[derive(Object, Default)]
pub struct SourceSyncRequest {
    /// Reload everything instead of only what changed.
    #[oai(default)]
    pub full_refresh: bool,
    /// `YYYY-MM-DD`; for sources that support date ranges.
    pub start_date: Option<String>,
    /// `YYYY-MM-DD`.
    pub end_date: Option<String>,
    /// Allow a sync to leave a table that has rows empty.
    #[oai(default)]
    pub allow_empty_replace: bool,
}

#[derive(Object)]
pub struct SourceSyncResponse {
    pub success: bool,
    pub message: String,
    pub source_name: String,
    pub started_at: DateTime<Utc>,
    /// Poll `GET /api/sync/status/{record_id}` with this.
    pub record_id: String,
    pub run_id: String,
}

#[derive(Object)]
pub struct TriggerRequest {
    pub sources: Vec<String>,
    #[oai(default)]
    pub full_refresh: bool,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    #[oai(default)]
    pub allow_empty_replace: bool,
}

#[derive(Object)]
pub struct TriggerResponse {
    pub job_id: String,
    pub run_id: String,
    pub sources: Vec<String>,
    pub status: String,
}

#[derive(Object)]
pub struct RunStatus {
    pub id: String,
    /// `sync` or `transform`.
    pub kind: String,
    /// `ui`, `api`, `schedule`, `watcher` or `cli`.
    pub trigger: String,
    pub sources: Vec<String>,
    /// `queued`, `running`, `success`, `failed` or `cancelled`.
    pub status: String,
    pub phase: Option<String>,
    pub message: Option<String>,
    /// 0.0 – 1.0 within the current phase.
    pub progress: Option<f64>,
    pub rows_processed: Option<i64>,
    pub error: Option<String>,
    pub full_refresh: bool,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub duration_seconds: Option<f64>,
    /// Per-source outcomes so far.
    pub results: Vec<SourceResult>,
}

#[derive(Object)]
pub struct SourceResult {
    pub source: String,
    #[oai(flatten)]
    pub entry: HistoryEntry,
}

fn parse_date(value: Option<&str>, field: &str) -> Result<Option<NaiveDate>> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
                Error::bad_request(format!("{field} '{v}' is not a date in YYYY-MM-DD form"))
                    .with_code(code::INVALID_DATE_RANGE)
            })
        })
        .transpose()
}

/// Parses the dates and starts a sync of `names` (checked by `jobs::start`).
async fn start_sync(
    state: &AppState,
    principal: &Principal,
    names: &[String],
    request: &SourceSyncRequest,
) -> Result<dango_entity::job_runs::Model> {
    let start_date = parse_date(request.start_date.as_deref(), "start_date")?;
    let end_date = parse_date(request.end_date.as_deref(), "end_date")?;
    jobs::start(
        RunDeps::of(state),
        RunRequest::Sync(SyncRequest {
            sources: names.to_vec(),
            full_refresh: request.full_refresh,
            start_date,
            end_date,
            allow_empty_replace: request.allow_empty_replace,
            ..Default::default()
        }),
        &Requester::principal(principal),
    )
    .await
}

#[OpenApi(tag = "ApiTag::Sync")]
impl SyncApi {
    /// Sync one source
    ///
    /// Answers at once; the sync runs in the background. 409 when this source is
    /// already syncing. Poll `GET /api/sync/status/{record_id}` or listen on `/ws`.
    #[oai(
        path = "/api/sources/:source_name/sync",
        method = "post",
        operation_id = "sync_source"
    )]
    async fn sync_source(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        /// Name of a configured, enabled source (letters, digits and underscores, at most
        /// 128; case-insensitive); an invalid or disabled source gets 400, an unknown one 404.
        source_name: Path<String>,
        body: Json<SourceSyncRequest>,
    ) -> Result<Json<SourceSyncResponse>> {
        let Caller(principal, _) = caller;
        let run = start_sync(
            &state,
            &principal,
            std::slice::from_ref(&source_name.0),
            &body,
        )
        .await?;
        let name = runs::sources_of(&run)
            .into_iter()
            .next()
            .unwrap_or_default();
        Ok(Json(SourceSyncResponse {
            success: true,
            message: format!("Sync started for {name}"),
            source_name: name,
            started_at: run.created_at,
            record_id: run.id.clone(),
            run_id: run.id,
        }))
    }

    /// Sync several sources in one run
    ///
    /// Checks every name (each source must exist and be enabled), then queues **one** run
    /// that syncs the sources in order; with a dbt project (and `transform.run_after_sync`
    /// on), the models downstream of them are built afterwards. It answers at once with the
    /// run id, and is refused while any of the sources is already in a queued or running sync.
    #[oai(
        path = "/api/sync/trigger",
        method = "post",
        operation_id = "trigger_sync"
    )]
    async fn trigger(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        body: Json<TriggerRequest>,
    ) -> Result<Json<TriggerResponse>> {
        let Caller(principal, _) = caller;
        let body = body.0;
        let request = SourceSyncRequest {
            full_refresh: body.full_refresh,
            start_date: body.start_date,
            end_date: body.end_date,
            allow_empty_replace: body.allow_empty_replace,
        };
        let run = start_sync(&state, &principal, &body.sources, &request).await?;
        Ok(Json(TriggerResponse {
            job_id: run.id.clone(),
            sources: runs::sources_of(&run),
            run_id: run.id,
            status: "started".into(),
        }))
    }

    /// Status of a sync run: phase, rows, errors, per-source results
    ///
    /// The record of any run: a sync, or a dbt transform started by `/api/dbt/...`. It gives
    /// status, phase (`queued` → `starting` → `data_load` → `dbt_started` → `completed` or
    /// `failed`), live progress and message, rows, error and timing, plus one result per
    /// source synced so far.
    #[oai(
        path = "/api/sync/status/:record_id",
        method = "get",
        operation_id = "sync_status"
    )]
    async fn status(
        &self,
        state: Data<&Arc<AppState>>,
        /// Id of a run: `record_id` or `run_id` from `sync_source`, `run_id` (= `job_id`) from
        /// `trigger_sync`, or `run_id` from `upload_file` or the dbt run endpoints; 404 if
        /// unknown.
        record_id: Path<String>,
    ) -> Result<Json<RunStatus>> {
        let run = runs::get(&state.db, &record_id).await?;
        let results = history::of_run(&state.db, &run.id)
            .await?
            .into_iter()
            .map(|h| SourceResult {
                source: h.source.clone(),
                entry: HistoryEntry::from(h),
            })
            .collect();
        Ok(Json(RunStatus {
            sources: runs::sources_of(&run),
            id: run.id,
            kind: run.kind,
            trigger: run.trigger,
            status: run.status,
            phase: run.phase,
            message: run.message,
            progress: run.progress,
            rows_processed: run.rows_processed,
            error: run.error,
            full_refresh: run.full_refresh,
            started_at: run.started_at,
            ended_at: run.finished_at,
            created_at: run.created_at,
            duration_seconds: run.duration_seconds,
            results,
        }))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert!(super::parse_date(Some("2026-01-01"), "start_date").is_ok());
        assert!(super::parse_date(Some("2026-13-01"), "start_date").is_err());
        assert!(super::parse_date(Some("01/02/2026"), "start_date").is_err());
        assert_eq!(super::parse_date(Some(""), "start_date").unwrap(), None);
        // the order of the two dates is the use case's rule (jobs::start)
    }
}
