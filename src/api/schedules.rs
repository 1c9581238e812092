//! Schedules: what `.dango/schedules.yml` defines, when each schedule fires next (in its
//! own time zone), and which sources no schedule covers.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::ApiTag;
use crate::Result;
use crate::config::schedules::{ScheduleDef, ScheduleKind};
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
    pub timeout_minutes: u64,
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
    /// `queued`, `running`, `success`, `failed` or `cancelled`.
    pub status: String,
    /// `schedule` when the scheduler fired it; how the person signed in for "run now".
    pub trigger: String,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
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
    async fn with_last_run(
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
        let mut warnings = schedules::warnings(&file, &configured_sources(&state)?, now);
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
            sources: schedules::unscheduled(&file, &configured_sources(&state)?),
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
        info.warnings = schedules::warnings(&file, &configured_sources(&state)?, now)
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
    /// built; or its dbt selection built), recorded as a run of the schedule. 409 while a
    /// sync of one of its sources or a dbt run is going; 400 for a script schedule (no
    /// script runner yet).
    #[oai(
        path = "/api/schedules/:name/trigger",
        method = "post",
        operation_id = "trigger_schedule"
    )]
    async fn trigger(
        &self,
        state: Data<&Arc<AppState>>,
        caller: super::context::Caller,
        #[oai(validator(pattern = r"^[a-z][a-z0-9_]{0,127}$"))] name: Path<String>,
    ) -> Result<Json<TriggeredSchedule>> {
        let super::context::Caller(principal, _) = caller;
        let schedule = schedules::get(&state.paths, &name)?;
        let requester = crate::jobs::Requester::principal(&principal).for_schedule(&schedule.name);
        let run = schedules::scheduler::start(&state, &schedule, requester).await?;
        Ok(Json(TriggeredSchedule {
            status: "triggered".into(),
            name: schedule.name.clone(),
            job_id: run.id.clone(),
            run_id: run.id,
        }))
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

/// The names of the sources `sources.yml` configures.
fn configured_sources(state: &AppState) -> Result<Vec<String>> {
    Ok(crate::sources::load(&state.paths)?
        .sources
        .into_iter()
        .map(|s| s.name)
        .collect())
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
