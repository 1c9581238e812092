//! Schedules: what `.dango/schedules.yml` defines, when each schedule fires next (in its
//! own time zone), and which sources no schedule covers.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::ApiTag;
use super::context::Caller;
use super::schedule_changes::{Created, Removed, ScheduleChanged, changed_view, save};
use crate::Result;
use crate::auth::audit::{self, AuditEvent};
use crate::config::schedules::{ScheduleDef, ScheduleKind};
use crate::jobs::scheduler::{self, Reloaded};
use crate::schedules;
use crate::state::AppState;

pub struct SchedulesApi;

#[derive(Object)]
pub struct ScheduleInfo {
    pub name: String,
    #[oai(rename = "type")]
    pub kind: ScheduleKind,
    /// The 5-field cron expression (presets resolved).
    pub cron: String,
    /// The expression in words (`Daily at 6 AM`), or the expression itself.
    pub cron_label: String,
    /// The IANA time zone the expression is read in.
    pub timezone: String,
    pub sources: Vec<String>,
    pub dbt_command: Option<String>,
    pub script_path: Option<String>,
    pub enabled: bool,
    pub start_date: Option<DateTime<Utc>>,
    /// A run missed by more than this many seconds is skipped; none: run however late.
    pub misfire_grace_time: Option<u64>,
    /// Runs are stopped after this long (recorded `timeout`).
    pub timeout_minutes: f64,
    /// A failed run is tried again after each of these delays in turn.
    pub retry_delays_seconds: Vec<u64>,
    pub notify_on: Vec<String>,
    /// When the expression fires next; none when the schedule is disabled or never fires.
    pub next_run_time: Option<DateTime<Utc>>,
    /// Its newest run (fired by the scheduler or started with "run now").
    pub last_run: Option<ScheduleRun>,
    /// What is probably not meant: sources that are not configured, a shared source
    /// synced by another schedule within the same minute.
    pub warnings: Vec<String>,
}

#[derive(Object)]
pub struct ScheduleRun {
    pub run_id: String,
    /// `queued`, `running`, `success`, `failed`, `cancelled` or `timeout`.
    pub status: String,
    /// `schedule` when the scheduler fired it; how the person signed in for "run now".
    pub trigger: String,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    /// 1 for a firing or a "run now"; 2 and up for the retries after a failure.
    pub attempt: u32,
}

impl ScheduleRun {
    fn of(run: &dango_entity::job_runs::Model) -> Self {
        Self {
            run_id: run.id.clone(),
            status: run.status.clone(),
            trigger: run.trigger.clone(),
            created_at: run.created_at,
            finished_at: run.finished_at,
            error: run.error.clone(),
            attempt: crate::runs::options_of(run).attempt.unwrap_or(1),
        }
    }
}

/// A run status to filter a history by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "snake_case")]
pub enum RunStatusFilter {
    Queued,
    Running,
    Success,
    Failed,
    Cancelled,
    Timeout,
}

impl RunStatusFilter {
    fn status(self) -> crate::runs::RunStatus {
        use crate::runs::RunStatus;
        match self {
            RunStatusFilter::Queued => RunStatus::Queued,
            RunStatusFilter::Running => RunStatus::Running,
            RunStatusFilter::Success => RunStatus::Success,
            RunStatusFilter::Failed => RunStatus::Failed,
            RunStatusFilter::Cancelled => RunStatus::Cancelled,
            RunStatusFilter::Timeout => RunStatus::Timeout,
        }
    }
}

#[derive(Object)]
pub struct ScheduleHistoryRun {
    /// The schedule the run was for.
    pub schedule_name: String,
    #[oai(flatten)]
    pub run: ScheduleRun,
    pub sources: Vec<String>,
    pub rows_processed: Option<i64>,
    pub duration_seconds: Option<f64>,
}

#[derive(Object)]
pub struct ScheduleHistory {
    pub schedule_name: String,
    /// Newest first.
    pub items: Vec<ScheduleHistoryRun>,
    /// Runs matching the filters in all.
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
}

impl ScheduleHistoryRun {
    fn of(run: &dango_entity::job_runs::Model) -> Self {
        Self {
            schedule_name: run.schedule.clone().unwrap_or_default(),
            run: ScheduleRun::of(run),
            sources: crate::runs::sources_of(run),
            rows_processed: run.rows_processed,
            duration_seconds: run.duration_seconds,
        }
    }
}

#[derive(Object)]
pub struct CancelledJob {
    /// The run's status now: `cancelled` (or still `running` if it takes longer than a few
    /// seconds to stop).
    pub status: String,
    pub job_id: String,
    pub run: ScheduleRun,
}

#[derive(Object)]
pub struct TriggeredSchedule {
    /// `triggered`.
    pub status: String,
    pub name: String,
    /// The run started; follow it with `GET /api/sync/status/{run_id}`.
    pub run_id: String,
    /// The same id, under the original's name.
    pub job_id: String,
}

impl ScheduleInfo {
    pub(super) async fn with_last_run(
        schedule: &ScheduleDef,
        now: DateTime<Utc>,
        state: &AppState,
    ) -> Result<Self> {
        let mut info = Self::of(schedule, now);
        info.last_run = crate::runs::of_schedule(&state.db, &schedule.name, 1)
            .await?
            .first()
            .map(ScheduleRun::of);
        Ok(info)
    }

    fn of(schedule: &ScheduleDef, now: DateTime<Utc>) -> Self {
        Self {
            name: schedule.name.clone(),
            kind: schedule.kind,
            cron: schedule.cron.clone(),
            cron_label: schedules::cron::label(&schedule.cron),
            timezone: schedule.zone().name().to_string(),
            sources: schedule.sources.clone(),
            dbt_command: schedule.dbt_command.clone(),
            script_path: schedule.script_path.clone(),
            enabled: schedule.enabled,
            start_date: schedule.start_date,
            misfire_grace_time: schedule.misfire_grace_time,
            timeout_minutes: schedule.timeout_minutes(),
            retry_delays_seconds: schedule.retry_delays_seconds(),
            notify_on: schedule.notify_on.clone(),
            next_run_time: schedule
                .enabled
                .then(|| schedules::next_run(schedule, now))
                .flatten(),
            last_run: None,
            warnings: vec![],
        }
    }
}

#[derive(Object)]
pub struct FireTime {
    pub at: DateTime<Utc>,
    /// The same instant on the schedule's own clock, with its UTC offset.
    pub local: String,
}

#[derive(Object)]
pub struct SchedulePreview {
    pub name: String,
    pub cron: String,
    pub timezone: String,
    /// The next firings, earliest first (fewer when the expression stops firing).
    pub fire_times: Vec<FireTime>,
}

#[derive(Object)]
pub struct UnscheduledSources {
    /// Configured sources no schedule names, sorted.
    pub sources: Vec<String>,
}

#[OpenApi(tag = "ApiTag::Schedules")]
impl SchedulesApi {
    /// All schedules
    ///
    /// Every schedule of `.dango/schedules.yml` with its cron expression in words, time
    /// zone, what it runs, and when it fires next. A file that does not validate gets 400
    /// naming the schedule and the key.
    #[oai(
        path = "/api/schedules",
        method = "get",
        operation_id = "list_schedules"
    )]
    async fn list(&self, state: Data<&Arc<AppState>>) -> Result<Json<Vec<ScheduleInfo>>> {
        let file = schedules::load(&state.paths)?;
        let now = Utc::now();
        let mut warnings = all_warnings(&state, &file, now).await?;
        let mut list = Vec::with_capacity(file.schedules.len());
        for schedule in &file.schedules {
            let mut info = ScheduleInfo::with_last_run(schedule, now, &state).await?;
            info.warnings = warnings.remove(&schedule.name).unwrap_or_default();
            list.push(info);
        }
        Ok(Json(list))
    }

    /// Configured sources that no schedule syncs
    #[oai(
        path = "/api/sources/unscheduled",
        method = "get",
        operation_id = "unscheduled_sources"
    )]
    async fn unscheduled(&self, state: Data<&Arc<AppState>>) -> Result<Json<UnscheduledSources>> {
        let file = schedules::load(&state.paths)?;
        Ok(Json(UnscheduledSources {
            sources: schedules::unscheduled(&file, &crate::sources::names(&state.paths)?),
        }))
    }

    /// One schedule
    #[oai(
        path = "/api/schedules/:name",
        method = "get",
        operation_id = "get_schedule"
    )]
    async fn get(
        &self,
        state: Data<&Arc<AppState>>,
        /// Name of a schedule (lowercase letters, digits and underscores); 404 if unknown.
        #[oai(validator(pattern = r"^[a-z][a-z0-9_]{0,127}$"))]
        name: Path<String>,
    ) -> Result<Json<ScheduleInfo>> {
        // One read of the file serves the schedule and its warnings.
        let file = schedules::load(&state.paths)?;
        let schedule = schedules::find(&file, &name)?;
        let now = Utc::now();
        let mut info = ScheduleInfo::with_last_run(schedule, now, &state).await?;
        info.warnings = all_warnings(&state, &file, now)
            .await?
            .remove(&schedule.name)
            .unwrap_or_default();
        Ok(Json(info))
    }

    /// Runs of one schedule
    ///
    /// Newest first, filtered by status and by when they were started.
    #[oai(
        path = "/api/schedules/:name/history",
        method = "get",
        operation_id = "schedule_history"
    )]
    #[allow(clippy::too_many_arguments)] // one parameter per filter of the query string
    async fn history(
        &self,
        state: Data<&Arc<AppState>>,
        #[oai(validator(pattern = r"^[a-z][a-z0-9_]{0,127}$"))] name: Path<String>,
        status: Query<Option<RunStatusFilter>>,
        /// Runs started at or after this instant (RFC 3339).
        since: Query<Option<DateTime<Utc>>>,
        /// Runs started at or before this instant (RFC 3339).
        until: Query<Option<DateTime<Utc>>>,
        /// At most this many (1–200, default 50).
        #[oai(
            default = "fifty",
            validator(minimum(value = "1"), maximum(value = "200"))
        )]
        limit: Query<u64>,
        /// Runs to skip from the newest (at most 1,000,000).
        #[oai(default, validator(maximum(value = "1000000")))]
        offset: Query<u64>,
    ) -> Result<Json<ScheduleHistory>> {
        let schedule = schedules::get(&state.paths, &name)?;
        let filter = crate::runs::ScheduleRunFilter {
            schedule: Some(&schedule.name),
            status: status.0.map(RunStatusFilter::status),
            since: since.0,
            until: until.0,
        };
        let (runs, total) =
            crate::runs::schedule_history(&state.db, &filter, limit.0, offset.0).await?;
        Ok(Json(ScheduleHistory {
            schedule_name: schedule.name,
            items: runs.iter().map(ScheduleHistoryRun::of).collect(),
            total,
            limit: limit.0,
            offset: offset.0,
        }))
    }

    /// The newest runs of every schedule
    #[oai(
        path = "/api/schedules/history/recent",
        method = "get",
        operation_id = "recent_schedule_runs"
    )]
    async fn recent(
        &self,
        state: Data<&Arc<AppState>>,
        /// At most this many (1–200, default 20).
        #[oai(
            default = "twenty",
            validator(minimum(value = "1"), maximum(value = "200"))
        )]
        limit: Query<u64>,
    ) -> Result<Json<Vec<ScheduleHistoryRun>>> {
        let filter = crate::runs::ScheduleRunFilter::default();
        let (runs, _) = crate::runs::schedule_history(&state.db, &filter, limit.0, 0).await?;
        Ok(Json(runs.iter().map(ScheduleHistoryRun::of).collect()))
    }

    /// Run a schedule now
    ///
    /// Starts the run the schedule stands for (its sources synced, then what is downstream
    /// built; its dbt selection built; or its script run), recorded as a run of the
    /// schedule. 409 while a sync of one of its sources, a dbt run or a run of its script
    /// is going.
    #[oai(
        path = "/api/schedules/:name/trigger",
        method = "post",
        operation_id = "trigger_schedule"
    )]
    async fn trigger(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        #[oai(validator(pattern = r"^[a-z][a-z0-9_]{0,127}$"))] name: Path<String>,
    ) -> Result<Json<TriggeredSchedule>> {
        let Caller(principal, _) = caller;
        let schedule = schedules::get(&state.paths, &name)?;
        let requester = crate::jobs::Requester::principal(&principal).for_schedule(&schedule.name);
        let run = crate::jobs::scheduler::start(&state, &schedule, requester).await?;
        Ok(Json(TriggeredSchedule {
            status: "triggered".into(),
            name: schedule.name.clone(),
            job_id: run.id.clone(),
            run_id: run.id,
        }))
    }

    /// Cancel a run
    ///
    /// Stops a queued or running run (of a schedule, or any other: a job is a run): a
    /// queued one never starts; a running one is interrupted where it is, the load in
    /// progress rolled back (that source keeps its previous data) and what finished before
    /// kept. Answers once the run has ended (within a few seconds), with `status`
    /// `cancelled`. 404 when the run is not queued or running; 409 when another server
    /// process executes it.
    #[oai(
        path = "/api/schedules/jobs/:job_id/cancel",
        method = "post",
        operation_id = "cancel_job"
    )]
    async fn cancel(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        #[oai(validator(max_length = 64))] job_id: Path<String>,
    ) -> Result<Json<CancelledJob>> {
        let Caller(principal, _) = caller;
        let run = crate::jobs::cancel::cancel(
            crate::jobs::cancel::CancelDeps::of(&state),
            &job_id,
            &principal,
        )
        .await?;
        Ok(Json(CancelledJob {
            status: run.status.clone(),
            job_id: run.id.clone(),
            run: ScheduleRun::of(&run),
        }))
    }

    /// Read the schedules file again
    ///
    /// The scheduler reads `.dango/schedules.yml` every 10 s by itself; this makes it do
    /// so now and says what changed: schedules added, updated (every key counts: cron,
    /// time zone, sources, time limit, enabled, …, named in `changes`; an updated
    /// schedule is planned afresh from now), removed or disabled, and unchanged.
    /// Schedules that were due start. 400 when the file does not validate (the
    /// scheduler keeps what it had).
    #[oai(
        path = "/api/schedules/reload",
        method = "post",
        operation_id = "reload_schedules"
    )]
    async fn reload(&self, state: Data<&Arc<AppState>>, caller: Caller) -> Result<Json<Reloaded>> {
        let Caller(principal, _) = caller;
        let reloaded = scheduler::reload(&state, Utc::now()).await?;
        audit::record(
            &state.db,
            AuditEvent::new("schedules_reloaded")
                .actor(&principal)
                .details(serde_json::to_value(&reloaded).unwrap_or_default()),
        )
        .await;
        Ok(Json(reloaded))
    }

    /// Add a schedule
    ///
    /// Validated as the file is (cron expression or preset, IANA time zone, what the type
    /// needs), its sources must be configured; appended to `.dango/schedules.yml` and
    /// planned at once. 409 when a schedule of this name exists.
    #[oai(
        path = "/api/schedules",
        method = "post",
        operation_id = "create_schedule"
    )]
    async fn create(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        body: Json<ScheduleDef>,
    ) -> Result<Created> {
        let Caller(principal, _) = caller;
        let schedule = body.0;
        if schedules::load(&state.paths)?.get(&schedule.name).is_some() {
            return Err(crate::Error::conflict(format!(
                "Schedule '{}' exists; change it with PUT /api/schedules/{}",
                schedule.name, schedule.name
            )));
        }
        let changed = save(
            &state,
            &principal,
            schedules::Edit::Upsert(Box::new(schedule.clone())),
            "schedule_created",
        )
        .await?;
        Ok(Created::Created(Json(
            changed_view(&state, &schedule.name, changed).await?,
        )))
    }

    /// Replace a schedule
    ///
    /// The whole definition is replaced by the body (its `name` must be the one in the
    /// path); the other schedules and the file's comments stay. 404 when there is no
    /// schedule of this name.
    #[oai(
        path = "/api/schedules/:name",
        method = "put",
        operation_id = "replace_schedule"
    )]
    async fn replace(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        #[oai(validator(pattern = r"^[a-z][a-z0-9_]{0,127}$"))] name: Path<String>,
        body: Json<ScheduleDef>,
    ) -> Result<Json<ScheduleChanged>> {
        let Caller(principal, _) = caller;
        let schedule = body.0;
        if schedule.name != name.0 {
            return Err(crate::Error::bad_request(format!(
                "name: the body names '{}' but the path '{}' (a schedule is renamed by adding the new one and removing the old)",
                schedule.name, name.0
            )));
        }
        schedules::get(&state.paths, &name)?;
        let changed = save(
            &state,
            &principal,
            schedules::Edit::Upsert(Box::new(schedule)),
            "schedule_updated",
        )
        .await?;
        Ok(Json(changed_view(&state, &name, changed).await?))
    }

    /// Remove a schedule
    #[oai(
        path = "/api/schedules/:name",
        method = "delete",
        operation_id = "delete_schedule"
    )]
    async fn delete(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        #[oai(validator(pattern = r"^[a-z][a-z0-9_]{0,127}$"))] name: Path<String>,
    ) -> Result<Removed> {
        let Caller(principal, _) = caller;
        schedules::get(&state.paths, &name)?;
        save(
            &state,
            &principal,
            schedules::Edit::Remove(name.0.clone()),
            "schedule_deleted",
        )
        .await?;
        Ok(Removed::Removed)
    }

    /// When a schedule fires next
    ///
    /// The next `count` firings of its cron expression in its time zone, whether or not
    /// the schedule is enabled: across a daylight-saving change a skipped time fires once
    /// right after the change, and a repeated time fires only the first time.
    #[oai(
        path = "/api/schedules/:name/preview",
        method = "get",
        operation_id = "preview_schedule"
    )]
    async fn preview(
        &self,
        state: Data<&Arc<AppState>>,
        #[oai(validator(pattern = r"^[a-z][a-z0-9_]{0,127}$"))] name: Path<String>,
        /// How many firings (1–100, default 10).
        #[oai(
            default = "ten",
            validator(minimum(value = "1"), maximum(value = "100"))
        )]
        count: Query<u64>,
    ) -> Result<Json<SchedulePreview>> {
        let schedule = schedules::get(&state.paths, &name)?;
        let zone = schedule.zone();
        let fire_times = schedules::upcoming(&schedule, Utc::now(), count.0 as usize)
            .into_iter()
            .map(|at| FireTime {
                local: at.with_timezone(&zone).to_rfc3339(),
                at,
            })
            .collect();
        Ok(Json(SchedulePreview {
            name: schedule.name.clone(),
            cron: schedule.cron.clone(),
            timezone: zone.name().to_string(),
            fire_times,
        }))
    }
}

/// What to tell about each schedule: the file's own warnings and the sources too slow
/// for their schedule's interval (from the last 7 days of syncs).
async fn all_warnings(
    state: &AppState,
    file: &crate::config::schedules::SchedulesFile,
    now: DateTime<Utc>,
) -> Result<std::collections::HashMap<String, Vec<String>>> {
    let mut warnings = schedules::warnings(file, &crate::sources::names(&state.paths)?, now);
    let since = now - chrono::Duration::days(7);
    let typical = crate::sources::history::typical_seconds(&state.db, since).await?;
    for (name, mut slow) in schedules::slow_for_interval(file, &typical, now) {
        warnings.entry(name).or_default().append(&mut slow);
    }
    for schedule in file
        .schedules
        .iter()
        .filter(|s| s.kind == ScheduleKind::Script)
    {
        let path = schedule.script_path.as_deref().unwrap_or_default();
        if let Err(err) = crate::scripts::resolve(&state.paths, path) {
            warnings
                .entry(schedule.name.clone())
                .or_default()
                .push(format!("script_path: {}", err.message));
        }
    }
    Ok(warnings)
}

fn ten() -> u64 {
    10
}

fn twenty() -> u64 {
    20
}

fn fifty() -> u64 {
    50
}
