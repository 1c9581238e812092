//! The scheduler: every few seconds it reads `.dango/schedules.yml` and starts an
//! ordinary run for each enabled schedule whose time has come, through the same use case
//! as every other run (so history, live events and the activity log are the same). A
//! schedule's last firing is its newest run in the metadata DB, so after downtime a
//! missed firing runs once (all missed ones coalesced), unless it is later than its
//! `misfire_grace_time`. At most one run of a schedule at a time. Time is a parameter of
//! [`tick`], so tests move it.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::activity::{self, Level};
use crate::config::schedules::{ScheduleDef, ScheduleKind, SchedulesFile};
use crate::jobs::transform::TransformSpec;
use crate::jobs::{Requester, RunDeps, RunRequest, ScriptRequest, SyncRequest};
use crate::runs::{self, RunStatus};
use crate::schedules::{self, Memory, Planned, Retry, Watched};
use crate::state::AppState;

/// How often the scheduler looks: a schedule fires at most this late.
pub const TICK_SECONDS: u64 = 10;

/// What a tick did about one schedule that was due.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `attempt` 1 is a firing of the cron expression, later ones retries after failures.
    Started {
        schedule: String,
        run_id: String,
        attempt: u32,
    },
    Skipped {
        schedule: String,
        reason: String,
    },
}

/// The lease that makes one process of those sharing a metadata DB the scheduler.
pub const LEASE: &str = "scheduler";

/// How long a scheduler's lease lasts unless renewed: three rounds, so a holder that
/// stops (dies, or hangs) is replaced within half a minute.
const LEASE_SECONDS: i64 = 3 * TICK_SECONDS as i64;

/// Starts the scheduler in the background.
pub fn spawn(state: Arc<AppState>) {
    tokio::spawn(async move {
        loop {
            {
                let mut memory = state.scheduler.lock().await;
                tick(&state, &mut memory, Utc::now()).await;
            }
            tokio::time::sleep(std::time::Duration::from_secs(TICK_SECONDS)).await;
        }
    });
}

/// Gives the scheduler's lease up (at shutdown), so another process takes over at once.
pub async fn stop(state: &AppState) {
    let memory = state.scheduler.lock().await;
    if let Err(err) = crate::lease::release(&state.db, LEASE, &memory.holder).await {
        tracing::warn!("cannot give the scheduler's lease up: {err}");
    }
}

/// One look at the schedules at `now`: starts what is due (firings and retries), plans
/// the next ones. Only the holder of the scheduler's lease does anything; a process that
/// is not the holder forgets its plans (the holder's runs will be its starting point if
/// it takes over).
pub async fn tick(state: &AppState, memory: &mut Memory, now: DateTime<Utc>) -> Vec<Outcome> {
    match schedules::load(&state.paths) {
        Ok(file) => tick_with(state, memory, &file, now).await,
        Err(err) => {
            // Keep what was planned; nothing fires from a file that does not validate.
            tracing::warn!("schedules are not read: {}", err.message);
            vec![]
        }
    }
}

/// [`tick`] with the schedules file as just read.
async fn tick_with(
    state: &AppState,
    memory: &mut Memory,
    file: &SchedulesFile,
    now: DateTime<Utc>,
) -> Vec<Outcome> {
    let ttl = chrono::Duration::seconds(LEASE_SECONDS);
    match crate::lease::hold(&state.db, LEASE, &memory.holder, now, ttl).await {
        Ok(true) => {}
        Ok(false) => {
            memory.planned.clear();
            return vec![];
        }
        Err(err) => {
            tracing::warn!("cannot take the scheduler's lease: {err}");
            return vec![];
        }
    }
    let ended = ended_runs(state, memory).await;
    let mut outcomes = Vec::new();
    let mut seen = Vec::new();
    for schedule in file.schedules.iter().filter(|s| s.enabled) {
        seen.push(schedule.name.clone());
        let definition = definition_of(schedule);
        let mut planned = match memory.planned.remove(&schedule.name) {
            Some(planned) if planned.definition == definition => planned,
            // A changed definition plans from now: an edit never fires at once.
            Some(planned) => Planned {
                definition,
                next: schedules::next_run(schedule, now),
                ..planned
            },
            // First sight (a new schedule, or after a restart): from its last firing.
            None => first_sight(state, schedule, definition, now).await,
        };
        if let Some(run) = planned
            .watching
            .as_ref()
            .and_then(|watched| ended.get(&watched.run_id))
        {
            let attempt = planned.watching.take().map_or(1, |w| w.attempt);
            planned.retry = plan_retry(state, schedule, run, attempt, now).await;
        }
        match planned.next {
            Some(due) if due <= now => {
                // A firing of the expression replaces a retry still waiting.
                planned.retry = None;
                let outcome = fire(state, schedule, due, now, 1).await;
                planned.watch(&outcome);
                outcomes.push(outcome);
                // Every firing missed until now is covered by this one.
                planned.next = schedules::next_run(schedule, now);
            }
            _ => {
                if let Some(retry) = planned.retry.filter(|r| r.due <= now) {
                    planned.retry = None;
                    let outcome = fire(state, schedule, retry.due, now, retry.attempt).await;
                    planned.watch(&outcome);
                    outcomes.push(outcome);
                }
            }
        }
        memory.planned.insert(schedule.name.clone(), planned);
    }
    memory.planned.retain(|name, _| seen.contains(name));
    outcomes
}

/// What a reload changed, compared with what the scheduler had read before.
#[derive(Debug, Default, serde::Serialize, poem_openapi::Object)]
pub struct Reloaded {
    /// Enabled schedules it had not planned.
    pub added: Vec<String>,
    /// Schedules whose definition changed (`changes` says how): planned afresh from now.
    pub updated: Vec<String>,
    /// Schedules gone from the file or disabled.
    pub removed: Vec<String>,
    pub unchanged: Vec<String>,
    /// For each updated schedule, the keys that changed.
    pub changes: Vec<ScheduleChange>,
    /// Runs the reload started (schedules that were due).
    pub started: Vec<String>,
    /// Whether this process is the scheduler (holds its lease); another process sharing
    /// the metadata DB may be, and reads the file itself within 10 s.
    pub active: bool,
}

#[derive(Debug, serde::Serialize, poem_openapi::Object)]
pub struct ScheduleChange {
    pub name: String,
    pub fields: Vec<String>,
}

/// Reads the schedules file now (rather than within the next 10 s) and says what changed;
/// every key of a definition counts. 400 when the file does not validate (the scheduler
/// then keeps what it had).
pub async fn reload(state: &AppState, now: DateTime<Utc>) -> crate::Result<Reloaded> {
    let file = schedules::load(&state.paths)?;
    let mut memory = state.scheduler.lock().await;
    let mut reloaded = Reloaded::default();
    let before: HashMap<String, String> = memory
        .definitions()
        .map(|(name, definition)| (name.to_string(), definition.to_string()))
        .collect();
    for schedule in file.schedules.iter().filter(|s| s.enabled) {
        let definition = definition_of(schedule);
        match before.get(&schedule.name) {
            None => reloaded.added.push(schedule.name.clone()),
            Some(old) if *old == definition => reloaded.unchanged.push(schedule.name.clone()),
            Some(old) => {
                reloaded.updated.push(schedule.name.clone());
                reloaded.changes.push(ScheduleChange {
                    name: schedule.name.clone(),
                    fields: changed_keys(old, &definition),
                });
            }
        }
    }
    reloaded.removed = before
        .keys()
        .filter(|name| !file.schedules.iter().any(|s| s.enabled && &s.name == *name))
        .cloned()
        .collect();
    reloaded.removed.sort();
    for outcome in tick_with(state, &mut memory, &file, now).await {
        if let Outcome::Started { run_id, .. } = outcome {
            reloaded.started.push(run_id);
        }
    }
    reloaded.active = crate::lease::holder(&state.db, LEASE, now)
        .await?
        .as_deref()
        == Some(memory.holder.as_str());
    Ok(reloaded)
}

/// A schedule's whole definition as the scheduler compares it between reads: any key
/// that changes makes it a changed schedule.
fn definition_of(schedule: &ScheduleDef) -> String {
    serde_json::to_string(schedule).unwrap_or_default()
}

/// The top-level keys whose values differ between two JSON objects.
fn changed_keys(old: &str, new: &str) -> Vec<String> {
    let object = |text: &str| match serde_json::from_str(text) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let (old, new) = (object(old), object(new));
    let mut keys: Vec<String> = old
        .keys()
        .chain(new.keys())
        .filter(|key| old.get(*key) != new.get(*key))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

impl Planned {
    fn watch(&mut self, outcome: &Outcome) {
        if let Outcome::Started {
            run_id, attempt, ..
        } = outcome
        {
            self.watching = Some(Watched {
                run_id: run_id.clone(),
                attempt: *attempt,
            });
        }
    }
}

/// The watched runs that have ended since the last tick (one query for all of them).
async fn ended_runs(
    state: &AppState,
    memory: &Memory,
) -> HashMap<String, dango_entity::job_runs::Model> {
    let ids: Vec<String> = memory
        .planned
        .values()
        .filter_map(|p| p.watching.as_ref().map(|w| w.run_id.clone()))
        .collect();
    if ids.is_empty() {
        return HashMap::new();
    }
    match runs::get_many(&state.db, &ids).await {
        Ok(found) => found
            .into_iter()
            .filter(|run| runs::is_terminal(&run.status))
            .map(|run| (run.id.clone(), run))
            .collect(),
        Err(err) => {
            tracing::warn!("cannot read the scheduled runs: {err}");
            HashMap::new()
        }
    }
}

/// A schedule seen for the first time: planned from its newest run (so a restart catches
/// up once), which is watched if it has not ended and may still be retried if it failed.
async fn first_sight(
    state: &AppState,
    schedule: &ScheduleDef,
    definition: String,
    now: DateTime<Utc>,
) -> Planned {
    let last = match runs::of_schedule(&state.db, &schedule.name, 1).await {
        Ok(mut runs) => runs.pop(),
        Err(err) => {
            tracing::warn!(
                schedule = schedule.name,
                "cannot read the schedule's runs: {err}"
            );
            None
        }
    };
    let mut planned = Planned {
        definition,
        next: schedules::next_run(schedule, last.as_ref().map_or(now, fired_at)),
        watching: None,
        retry: None,
    };
    if let Some(run) = last {
        let attempt = runs::options_of(&run).attempt.unwrap_or(1);
        if runs::is_terminal(&run.status) {
            // When it ended on the scheduler's clock.
            let took = run
                .finished_at
                .map_or(chrono::Duration::zero(), |f| f - run.created_at);
            planned.retry = retry_after(schedule, &run, attempt, fired_at(&run) + took);
        } else {
            planned.watching = Some(Watched {
                run_id: run.id,
                attempt,
            });
        }
    }
    planned
}

/// When the scheduler fired `run`, on its own clock (the creation time for runs started
/// otherwise).
fn fired_at(run: &dango_entity::job_runs::Model) -> DateTime<Utc> {
    runs::options_of(run).fired_at.unwrap_or(run.created_at)
}

/// When a run that ended should be tried again: after a failure, while retries are left.
fn retry_after(
    schedule: &ScheduleDef,
    run: &dango_entity::job_runs::Model,
    attempt: u32,
    ended: DateTime<Utc>,
) -> Option<Retry> {
    if run.status != RunStatus::Failed.as_str() {
        return None;
    }
    let delay = *schedule
        .retry_delays_seconds()
        .get(usize::try_from(attempt).ok()?.checked_sub(1)?)?;
    Some(Retry {
        due: ended + chrono::Duration::seconds(i64::try_from(delay).ok()?),
        attempt: attempt + 1,
    })
}

/// Plans the retry of a run seen ended at `now`, and says so in the activity log.
async fn plan_retry(
    state: &AppState,
    schedule: &ScheduleDef,
    run: &dango_entity::job_runs::Model,
    attempt: u32,
    now: DateTime<Utc>,
) -> Option<Retry> {
    // Seen ended at this tick: within one tick of its end.
    let retry = retry_after(schedule, run, attempt, now)?;
    let tries = schedule.retry_delays_seconds().len() + 1;
    let message = format!(
        "Schedule {} failed (try {attempt} of {tries}); trying again at {}",
        schedule.name,
        retry.due.format("%H:%M:%S UTC")
    );
    note(state, Level::Warning, &schedule.name, &message).await;
    Some(retry)
}

/// The firing due at `due`, at `now`, as try `attempt`: a run, or why not.
async fn fire(
    state: &AppState,
    schedule: &ScheduleDef,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
    attempt: u32,
) -> Outcome {
    let name = schedule.name.clone();
    let skipped = |reason: String| Outcome::Skipped {
        schedule: name.clone(),
        reason,
    };
    let late = (now - due).num_seconds().max(0) as u64;
    if let Some(grace) = schedule.misfire_grace_time
        && late > grace
    {
        let reason = format!("missed by {late} s, more than its misfire_grace_time of {grace} s");
        return skipped_noted(state, &name, reason).await;
    }
    match runs::of_schedule(&state.db, &name, 1).await {
        Ok(latest) => {
            if let Some(run) = latest.first() {
                if !runs::is_terminal(&run.status) {
                    let reason = format!("its previous run ({}) is still {}", run.id, run.status);
                    return skipped_noted(state, &name, reason).await;
                }
                // Another server on the same metadata DB fired it already.
                if fired_at(run) >= due {
                    return skipped(format!("run {} already covers this firing", run.id));
                }
            }
        }
        Err(err) => return skipped(format!("its runs cannot be read: {err}")),
    }
    let requester = Requester::scheduler(&name).fired(now, attempt);
    match start(state, schedule, requester).await {
        Ok(run) => {
            let what = if attempt > 1 {
                format!("run {} (try {attempt})", run.id)
            } else {
                format!("run {}", run.id)
            };
            note(
                state,
                Level::Info,
                &name,
                &format!("Schedule {name} started {what}"),
            )
            .await;
            Outcome::Started {
                schedule: name,
                run_id: run.id,
                attempt,
            }
        }
        Err(err) => {
            let reason = err.message.clone();
            note(
                state,
                Level::Warning,
                &name,
                &format!("Schedule {name} could not start: {reason}"),
            )
            .await;
            skipped(reason)
        }
    }
}

/// A firing left out, and the activity log says why.
async fn skipped_noted(state: &AppState, name: &str, reason: String) -> Outcome {
    let message = format!("Schedule {name} skipped: {reason}");
    note(state, Level::Warning, name, &message).await;
    Outcome::Skipped {
        schedule: name.to_string(),
        reason,
    }
}

async fn note(state: &AppState, level: Level, schedule: &str, message: &str) {
    tracing::info!(schedule, "{message}");
    activity::record(&state.db, level, None, message).await;
}

/// Starts the run `schedule` stands for, asked by `requester` (the scheduler, or someone
/// pressing "run now"), with the schedule's time limit.
pub async fn start(
    state: &AppState,
    schedule: &ScheduleDef,
    requester: Requester<'_>,
) -> crate::Result<dango_entity::job_runs::Model> {
    let request = match schedule.kind {
        ScheduleKind::Sync | ScheduleKind::SyncOnly => RunRequest::Sync(SyncRequest {
            sources: schedule.sources.clone(),
            skip_transform: schedule.kind == ScheduleKind::SyncOnly,
            ..Default::default()
        }),
        ScheduleKind::Dbt => RunRequest::Transform(TransformSpec {
            command: "build".into(),
            select: schedule.dbt_command.iter().cloned().collect(),
            ..Default::default()
        }),
        ScheduleKind::Script => RunRequest::Script(ScriptRequest {
            name: schedule.script_path.clone().unwrap_or_default(),
        }),
    };
    let requester = requester.limited(Some(schedule.timeout_minutes() * 60.0));
    crate::jobs::start(RunDeps::of(state), request, &requester).await
}
