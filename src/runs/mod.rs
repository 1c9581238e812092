//! `job_runs`: one row per sync or transform run, moving queued → running → exactly one
//! terminal state (success, failed, cancelled), whatever happens to the process; and the
//! queue that hands recorded runs to a worker ([`queue`]). Executing a run is `jobs`'s.

pub mod control;
pub mod initial_sync;
pub mod queue;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use dango_entity::job_runs;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::auth::{AuthMethod, Principal};
use crate::error::code;

/// Gives a fieldless enum its stored names, which are also the values the OpenAPI
/// document publishes: `as_str`, `parse`, every variant (`ALL`) and every name (`NAMES`).
macro_rules! stored_names {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];
            pub const NAMES: &'static [&'static str] = &[$($name),+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }

            pub fn parse(stored: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == stored)
            }
        }
    };
}

/// Where a run is; stored in `job_runs.status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    Queued,
    Running,
    Success,
    Failed,
    Cancelled,
    /// Stopped at its time limit.
    Timeout,
}

stored_names!(RunStatus {
    Queued => "queued",
    Running => "running",
    Success => "success",
    Failed => "failed",
    Cancelled => "cancelled",
    Timeout => "timeout",
});

impl RunStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Success | RunStatus::Failed | RunStatus::Cancelled | RunStatus::Timeout
        )
    }
}

/// What started a run; stored in `job_runs.trigger`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Ui,
    Api,
    Schedule,
    Watcher,
    Cli,
}

stored_names!(Trigger {
    Ui => "ui",
    Api => "api",
    Schedule => "schedule",
    Watcher => "watcher",
    Cli => "cli",
});

impl Trigger {
    /// How a signed-in caller's runs are recorded: API keys are `api`, the `dango` CLI
    /// talking to the server is `cli`, a browser session (or disabled auth) is `ui`.
    pub fn of(principal: &Principal) -> Self {
        match principal.method {
            AuthMethod::ApiKey { .. } | AuthMethod::RunKey { .. } => Trigger::Api,
            AuthMethod::LocalCli => Trigger::Cli,
            AuthMethod::Session { .. } | AuthMethod::Disabled => Trigger::Ui,
        }
    }
}

/// What a run does; stored in `job_runs.kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunKind {
    Sync,
    Transform,
    /// A program of `scripts/` (its name in `job_runs.selector`).
    Script,
}

stored_names!(RunKind {
    Sync => "sync",
    Transform => "transform",
    Script => "script",
});

impl RunKind {
    pub fn of(run: &job_runs::Model) -> Option<Self> {
        Self::parse(&run.kind)
    }
}

/// Options stored with a run (JSON in `job_runs.options`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunOptions {
    #[serde(default)]
    pub allow_empty_replace: bool,
    /// Script runs: the program's exit code, once it has exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Transform runs: also build what depends on the selection.
    #[serde(default)]
    pub cascade: bool,
    /// Sync runs: skip the transform step afterwards.
    #[serde(default)]
    pub skip_transform: bool,
    /// Stopped (and recorded `timeout`) when it runs longer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<f64>,
    /// A schedule's retries count up from 1 (the first try).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// The scheduler's clock when it started the run (what it plans the next firing from).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fired_at: Option<DateTime<Utc>>,
}

#[derive(Debug)]
pub struct NewRun {
    pub kind: RunKind,
    pub trigger: Trigger,
    pub sources: Vec<String>,
    pub selector: Option<String>,
    pub full_refresh: bool,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    pub options: RunOptions,
    pub requested_by: Option<String>,
    /// The schedule this run is for.
    pub schedule: Option<String>,
}

pub fn sources_of(run: &job_runs::Model) -> Vec<String> {
    serde_json::from_str(&run.sources).unwrap_or_default()
}

pub fn options_of(run: &job_runs::Model) -> RunOptions {
    run.options
        .as_deref()
        .and_then(|o| serde_json::from_str(o).ok())
        .unwrap_or_default()
}

/// Whether a stored status is a terminal one.
pub fn is_terminal(status: &str) -> bool {
    RunStatus::parse(status).is_some_and(RunStatus::is_terminal)
}

const UNFINISHED: [&str; 2] = [RunStatus::Queued.as_str(), RunStatus::Running.as_str()];

/// Advances after every write to `job_runs` this process makes (after it commits), so
/// a cached list of active runs knows it is out of date.
static WRITES: AtomicU64 = AtomicU64::new(0);

fn written() {
    WRITES.fetch_add(1, Ordering::AcqRel);
}

/// The active runs, kept between requests: source statuses, which every dashboard and
/// script polls, show which sources are syncing. Reloaded after any write to `job_runs`
/// in this process, and at least every [`ActiveRunsCache::MAX_AGE`] for writes made
/// elsewhere. The counter is process-wide, so with several databases in one process a
/// write to one only costs the others a reload.
#[derive(Default)]
pub struct ActiveRunsCache {
    current: tokio::sync::Mutex<Option<ActiveSnapshot>>,
}

struct ActiveSnapshot {
    writes: u64,
    loaded: Instant,
    runs: Arc<Vec<job_runs::Model>>,
}

impl ActiveRunsCache {
    pub const MAX_AGE: Duration = Duration::from_secs(2);

    pub async fn get(&self, db: &DatabaseConnection) -> crate::Result<Arc<Vec<job_runs::Model>>> {
        // Read the counter before the query: a write committed during it makes the next
        // call reload rather than keep what this one read.
        let writes = WRITES.load(Ordering::Acquire);
        let mut current = self.current.lock().await;
        if let Some(snapshot) = current
            .as_ref()
            .filter(|s| s.writes == writes && s.loaded.elapsed() < Self::MAX_AGE)
        {
            return Ok(snapshot.runs.clone());
        }
        let runs = Arc::new(active(db).await?);
        *current = Some(ActiveSnapshot {
            writes,
            loaded: Instant::now(),
            runs: runs.clone(),
        });
        Ok(runs)
    }
}

/// Of these unfinished runs, the sync run of each source that has one: source → run id.
pub fn syncs_by_source(active: &[job_runs::Model]) -> HashMap<String, String> {
    let mut syncing = HashMap::new();
    for run in active
        .iter()
        .filter(|r| RunKind::of(r) == Some(RunKind::Sync))
    {
        for source in sources_of(run) {
            syncing.entry(source).or_insert_with(|| run.id.clone());
        }
    }
    syncing
}

/// Runs not yet finished, oldest first.
pub async fn active(db: &DatabaseConnection) -> crate::Result<Vec<job_runs::Model>> {
    Ok(job_runs::Entity::find()
        .filter(job_runs::Column::Status.is_in(UNFINISHED))
        .order_by_asc(job_runs::Column::CreatedAt)
        .all(db)
        .await?)
}

/// Records a queued run. Sync runs conflict (409) with an unfinished sync of any of
/// their sources, transform runs with any unfinished transform, script runs with an
/// unfinished run of the same script. Callers serialize
/// creation (`start::record` holds the queue's submit lock around it).
pub async fn create(db: &DatabaseConnection, new: NewRun) -> crate::Result<job_runs::Model> {
    let unfinished = active(db).await?;
    // one transform at a time: they write the same relations
    if new.kind == RunKind::Transform
        && let Some(run) = unfinished
            .iter()
            .find(|r| RunKind::of(r) == Some(RunKind::Transform))
    {
        return Err(Error::conflict("A dbt run is already in progress")
            .with_code(code::TRANSFORM_IN_PROGRESS)
            .with_extra("run_id", run.id.clone()));
    }
    if new.kind == RunKind::Script
        && let Some(run) = unfinished
            .iter()
            .find(|r| RunKind::of(r) == Some(RunKind::Script) && r.selector == new.selector)
    {
        return Err(Error::conflict(format!(
            "Script '{}' is already running (run {})",
            new.selector.as_deref().unwrap_or_default(),
            run.id
        ))
        .with_code(code::SCRIPT_RUNNING)
        .with_extra("run_id", run.id.clone()));
    }
    if new.kind == RunKind::Sync {
        for run in unfinished
            .iter()
            .filter(|r| RunKind::of(r) == Some(RunKind::Sync))
        {
            let busy: Vec<String> = sources_of(run)
                .into_iter()
                .filter(|s| new.sources.contains(s))
                .collect();
            if !busy.is_empty() {
                return Err(Error::conflict(format!(
                    "A sync of {} is already {} (run {})",
                    busy.join(", "),
                    run.status,
                    run.id
                ))
                .with_code(code::SYNC_IN_PROGRESS)
                .with_extra("run_id", run.id.clone()));
            }
        }
    }
    let model = job_runs::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        kind: Set(new.kind.as_str().into()),
        trigger: Set(new.trigger.as_str().into()),
        sources: Set(serde_json::to_string(&new.sources).unwrap_or_else(|_| "[]".into())),
        selector: Set(new.selector),
        status: Set(RunStatus::Queued.as_str().into()),
        phase: Set(Some("queued".into())),
        message: Set(None),
        progress: Set(None),
        rows_processed: Set(None),
        error: Set(None),
        full_refresh: Set(new.full_refresh),
        start_date: Set(new.start_date.map(|d| d.to_string())),
        end_date: Set(new.end_date.map(|d| d.to_string())),
        options: Set(serde_json::to_string(&new.options).ok()),
        requested_by: Set(new.requested_by),
        created_at: Set(Utc::now()),
        started_at: Set(None),
        finished_at: Set(None),
        duration_seconds: Set(None),
        worker: Set(None),
        schedule: Set(new.schedule),
    }
    .insert(db)
    .await?;
    written();
    Ok(model)
}

pub async fn get(db: &DatabaseConnection, id: &str) -> crate::Result<job_runs::Model> {
    job_runs::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .ok_or_else(|| {
            Error::not_found(format!("Run '{id}' not found")).with_code(code::RUN_NOT_FOUND)
        })
}

/// queued → running; false when the run is no longer queued (cancelled, or already taken).
pub async fn start(db: &DatabaseConnection, id: &str, worker: &str) -> crate::Result<bool> {
    let result = job_runs::Entity::update_many()
        .col_expr(
            job_runs::Column::Status,
            Expr::value(RunStatus::Running.as_str()),
        )
        .col_expr(job_runs::Column::StartedAt, Expr::value(Some(Utc::now())))
        .col_expr(
            job_runs::Column::Worker,
            Expr::value(Some(worker.to_string())),
        )
        .col_expr(
            job_runs::Column::Phase,
            Expr::value(Some("starting".to_string())),
        )
        .filter(job_runs::Column::Id.eq(id))
        .filter(job_runs::Column::Status.eq(RunStatus::Queued.as_str()))
        .exec(db)
        .await?;
    written();
    Ok(result.rows_affected == 1)
}

pub async fn set_phase(
    db: &DatabaseConnection,
    id: &str,
    phase: &str,
    message: Option<&str>,
) -> crate::Result<()> {
    let update = job_runs::Entity::update_many()
        .col_expr(
            job_runs::Column::Phase,
            Expr::value(Some(phase.to_string())),
        )
        .col_expr(
            job_runs::Column::Message,
            Expr::value(message.map(str::to_string)),
        );
    update_running(db, id, update).await
}

/// Live progress within the current phase (0.0 – 1.0) and what is happening.
pub async fn set_progress(
    db: &DatabaseConnection,
    id: &str,
    progress: f64,
    message: Option<&str>,
) -> crate::Result<()> {
    let update = job_runs::Entity::update_many()
        .col_expr(job_runs::Column::Progress, Expr::value(Some(progress)))
        .col_expr(
            job_runs::Column::Message,
            Expr::value(message.map(str::to_string)),
        );
    update_running(db, id, update).await
}

/// Applies `update` to the run if it is still running (a finished run is not touched).
async fn update_running(
    db: &DatabaseConnection,
    id: &str,
    update: sea_orm::UpdateMany<job_runs::Entity>,
) -> crate::Result<()> {
    update
        .filter(job_runs::Column::Id.eq(id))
        .filter(job_runs::Column::Status.eq(RunStatus::Running.as_str()))
        .exec(db)
        .await?;
    written();
    Ok(())
}

/// Moves a run to its terminal state, once: a run already finished is left alone.
pub async fn finish(
    db: &DatabaseConnection,
    id: &str,
    status: RunStatus,
    rows: Option<u64>,
    error: Option<&str>,
) -> crate::Result<bool> {
    let run = get(db, id).await?;
    if is_terminal(&run.status) {
        return Ok(false);
    }
    let now = Utc::now();
    let duration = run
        .started_at
        .map(|t| (now - t).num_milliseconds() as f64 / 1000.0);
    let result = job_runs::Entity::update_many()
        .col_expr(job_runs::Column::Status, Expr::value(status.as_str()))
        .col_expr(
            job_runs::Column::Phase,
            Expr::value(Some(
                if status == RunStatus::Success {
                    "completed"
                } else {
                    status.as_str()
                }
                .to_string(),
            )),
        )
        .col_expr(job_runs::Column::FinishedAt, Expr::value(Some(now)))
        .col_expr(job_runs::Column::DurationSeconds, Expr::value(duration))
        .col_expr(
            job_runs::Column::RowsProcessed,
            Expr::value(rows.map(|r| r as i64)),
        )
        .col_expr(
            job_runs::Column::Error,
            Expr::value(error.map(|e| e.chars().take(4000).collect::<String>())),
        )
        .filter(job_runs::Column::Id.eq(id))
        .filter(job_runs::Column::Status.is_in(UNFINISHED))
        .exec(db)
        .await?;
    written();
    Ok(result.rows_affected == 1)
}

/// Notes the exit code of a script run (kept with its options).
pub async fn record_exit_code(
    db: &DatabaseConnection,
    id: &str,
    exit_code: i32,
) -> crate::Result<()> {
    let run = get(db, id).await?;
    let mut options = options_of(&run);
    options.exit_code = Some(exit_code);
    job_runs::Entity::update_many()
        .col_expr(
            job_runs::Column::Options,
            Expr::value(serde_json::to_string(&options).ok()),
        )
        .filter(job_runs::Column::Id.eq(id))
        .exec(db)
        .await?;
    written();
    Ok(())
}

/// One page of the runs of script `name`, newest first, and how many there are in all.
pub async fn of_script(
    db: &DatabaseConnection,
    name: &str,
    limit: u64,
    offset: u64,
) -> crate::Result<(Vec<job_runs::Model>, u64)> {
    use sea_orm::PaginatorTrait;
    let select = job_runs::Entity::find()
        .filter(job_runs::Column::Kind.eq(RunKind::Script.as_str()))
        .filter(job_runs::Column::Selector.eq(name));
    let total = select.clone().count(db).await?;
    let page = select
        .order_by_desc(job_runs::Column::CreatedAt)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    Ok((page, total))
}

/// At startup: runs left `running` or `queued` by a process that died are failed, so
/// every run ends with exactly one terminal record.
pub async fn fail_interrupted(db: &DatabaseConnection) -> crate::Result<Vec<job_runs::Model>> {
    let stale = active(db).await?;
    for run in &stale {
        let message = if run.status == RunStatus::Running.as_str() {
            "The server stopped while this run was in progress; nothing it was writing was kept"
        } else {
            "The server stopped before this run started"
        };
        finish(db, &run.id, RunStatus::Failed, None, Some(message)).await?;
    }
    Ok(stale)
}

/// Which runs of schedules a history listing returns.
#[derive(Debug, Default)]
pub struct ScheduleRunFilter<'a> {
    /// One schedule, or every run of any schedule.
    pub schedule: Option<&'a str>,
    pub status: Option<RunStatus>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// One page of runs of schedules, newest first, and how many match in all.
pub async fn schedule_history(
    db: &DatabaseConnection,
    filter: &ScheduleRunFilter<'_>,
    limit: u64,
    offset: u64,
) -> crate::Result<(Vec<job_runs::Model>, u64)> {
    use sea_orm::PaginatorTrait;
    let mut select = job_runs::Entity::find().filter(job_runs::Column::Schedule.is_not_null());
    if let Some(schedule) = filter.schedule {
        select = select.filter(job_runs::Column::Schedule.eq(schedule));
    }
    if let Some(status) = filter.status {
        select = select.filter(job_runs::Column::Status.eq(status.as_str()));
    }
    if let Some(since) = filter.since {
        select = select.filter(job_runs::Column::CreatedAt.gte(since));
    }
    if let Some(until) = filter.until {
        select = select.filter(job_runs::Column::CreatedAt.lte(until));
    }
    let total = select.clone().count(db).await?;
    let page = select
        .order_by_desc(job_runs::Column::CreatedAt)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    Ok((page, total))
}

/// The run `id` once it has ended, polling its record; at `limit` (if any) as it is then.
pub async fn wait_end(
    db: &DatabaseConnection,
    id: &str,
    limit: Option<std::time::Duration>,
) -> crate::Result<job_runs::Model> {
    let deadline = limit.map(|limit| tokio::time::Instant::now() + limit);
    loop {
        let current = get(db, id).await?;
        if is_terminal(&current.status)
            || deadline.is_some_and(|d| tokio::time::Instant::now() >= d)
        {
            return Ok(current);
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// The runs of these ids that exist.
pub async fn get_many(
    db: &DatabaseConnection,
    ids: &[String],
) -> crate::Result<Vec<job_runs::Model>> {
    Ok(job_runs::Entity::find()
        .filter(job_runs::Column::Id.is_in(ids.iter().cloned()))
        .all(db)
        .await?)
}

/// The newest runs of `schedule`, newest first.
pub async fn of_schedule(
    db: &DatabaseConnection,
    schedule: &str,
    limit: u64,
) -> crate::Result<Vec<job_runs::Model>> {
    Ok(job_runs::Entity::find()
        .filter(job_runs::Column::Schedule.eq(schedule))
        .order_by_desc(job_runs::Column::CreatedAt)
        .limit(limit)
        .all(db)
        .await?)
}

/// Newest runs first.
pub async fn recent(db: &DatabaseConnection, limit: u64) -> crate::Result<Vec<job_runs::Model>> {
    use sea_orm::QuerySelect;
    Ok(job_runs::Entity::find()
        .order_by_desc(job_runs::Column::CreatedAt)
        .limit(limit)
        .all(db)
        .await?)
}
