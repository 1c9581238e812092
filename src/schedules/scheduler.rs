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
use crate::config::schedules::{ScheduleDef, ScheduleKind};
use crate::jobs::transform::TransformSpec;
use crate::jobs::{Requester, RunDeps, RunRequest, SyncRequest};
use crate::runs;
use crate::state::AppState;

/// How often the scheduler looks: a schedule fires at most this late.
pub const TICK_SECONDS: u64 = 10;

/// What the scheduler remembers between ticks: each schedule's definition as it last read
/// it and when it fires next.
#[derive(Default)]
pub struct Memory {
    planned: HashMap<String, Planned>,
}

struct Planned {
    definition: String,
    next: Option<DateTime<Utc>>,
}

/// What a tick did about one schedule that was due.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Started { schedule: String, run_id: String },
    Skipped { schedule: String, reason: String },
}

/// Starts the scheduler in the background.
pub fn spawn(state: Arc<AppState>) {
    tokio::spawn(async move {
        let mut memory = Memory::default();
        loop {
            tick(&state, &mut memory, Utc::now()).await;
            tokio::time::sleep(std::time::Duration::from_secs(TICK_SECONDS)).await;
        }
    });
}

/// One look at the schedules at `now`: starts what is due, plans the next firings.
pub async fn tick(state: &AppState, memory: &mut Memory, now: DateTime<Utc>) -> Vec<Outcome> {
    let file = match super::load(&state.paths) {
        Ok(file) => file,
        Err(err) => {
            // Keep what was planned; nothing fires from a file that does not validate.
            tracing::warn!("schedules are not read: {}", err.message);
            return vec![];
        }
    };
    let mut outcomes = Vec::new();
    let mut seen = Vec::new();
    for schedule in file.schedules.iter().filter(|s| s.enabled) {
        seen.push(schedule.name.clone());
        let definition = serde_json::to_string(schedule).unwrap_or_default();
        let next = match memory.planned.get(&schedule.name) {
            Some(planned) if planned.definition == definition => planned.next,
            // A changed definition plans from now: an edit never fires at once.
            Some(_) => super::next_run(schedule, now),
            // First sight (a new schedule, or after a restart): from its last firing.
            None => {
                let last = last_fired(state, &schedule.name).await;
                super::next_run(schedule, last.unwrap_or(now))
            }
        };
        let next = match next {
            Some(due) if due <= now => {
                outcomes.push(fire(state, schedule, due, now).await);
                // Every firing missed until now is covered by this one.
                super::next_run(schedule, now)
            }
            other => other,
        };
        memory
            .planned
            .insert(schedule.name.clone(), Planned { definition, next });
    }
    memory.planned.retain(|name, _| seen.contains(name));
    outcomes
}

/// When `schedule` last ran: its newest run.
async fn last_fired(state: &AppState, schedule: &str) -> Option<DateTime<Utc>> {
    match runs::of_schedule(&state.db, schedule, 1).await {
        Ok(runs) => runs.first().map(|r| r.created_at),
        Err(err) => {
            tracing::warn!(schedule, "cannot read the schedule's runs: {err}");
            None
        }
    }
}

/// The firing due at `due`, at `now`: a run, or why not.
async fn fire(
    state: &AppState,
    schedule: &ScheduleDef,
    due: DateTime<Utc>,
    now: DateTime<Utc>,
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
                if run.created_at >= due {
                    return skipped(format!("run {} already covers this firing", run.id));
                }
            }
        }
        Err(err) => return skipped(format!("its runs cannot be read: {err}")),
    }
    match start(state, schedule, Requester::scheduler(&name)).await {
        Ok(run) => {
            note(
                state,
                Level::Info,
                &name,
                &format!("Schedule {name} started run {}", run.id),
            )
            .await;
            Outcome::Started {
                schedule: name,
                run_id: run.id,
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
/// pressing "run now").
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
        ScheduleKind::Script => {
            return Err(crate::Error::bad_request(
                "Script schedules do not run yet: this version has no script runner",
            ));
        }
    };
    crate::jobs::start(RunDeps::of(state), request, &requester).await
}
