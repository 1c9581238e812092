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
        let mut list = Vec::with_capacity(file.schedules.len());
        for schedule in &file.schedules {
            list.push(ScheduleInfo::with_last_run(schedule, now, &state).await?);
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
        let names: Vec<String> = crate::sources::load(&state.paths)?
            .sources
            .into_iter()
            .map(|s| s.name)
            .collect();
        Ok(Json(UnscheduledSources {
            sources: schedules::unscheduled(&file, &names),
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
        let schedule = schedules::get(&state.paths, &name)?;
        Ok(Json(
            ScheduleInfo::with_last_run(&schedule, Utc::now(), &state).await?,
        ))
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

fn ten() -> u64 {
    10
}
