//! Cancelling a run: a queued one never starts; a running one is stopped where it is (the
//! warehouse statement interrupted, its transaction rolled back) and ends `cancelled`,
//! keeping what it finished before.

use std::time::Duration;

use dango_entity::job_runs;
use sea_orm::DatabaseConnection;

use crate::auth::Principal;
use crate::auth::audit::{self, AuditEvent};
use crate::error::code;
use crate::runs::control::{RunControls, StopReason};
use crate::runs::{self, RunStatus};
use crate::{Error, ErrorKind, Result};

/// How long a cancel waits for the run to reach its end before answering.
const SETTLE: Duration = Duration::from_secs(5);

/// What cancelling needs.
pub struct CancelDeps<'a> {
    pub db: &'a DatabaseConnection,
    pub controls: &'a RunControls,
}

impl<'a> CancelDeps<'a> {
    pub fn of(state: &'a crate::state::AppState) -> Self {
        Self {
            db: &state.db,
            controls: &state.run_controls,
        }
    }
}

/// Cancels run `run_id` for `principal`; answers with the run as it ended (or, if it
/// takes longer than a few seconds to stop, as it is). 404 when it is not queued or running.
pub async fn cancel(
    deps: CancelDeps<'_>,
    run_id: &str,
    principal: &Principal,
) -> Result<job_runs::Model> {
    let not_running = || {
        Error::not_found(format!("Job '{run_id}' is not currently running."))
            .with_code(code::JOB_NOT_RUNNING)
    };
    let run = runs::get(deps.db, run_id)
        .await
        .map_err(|_| not_running())?;
    let by = principal.email.clone();
    match RunStatus::parse(&run.status) {
        Some(RunStatus::Queued) => {
            let message = format!("Cancelled by {by} before it started");
            // False when the worker took it meanwhile: then it is running, stopped below.
            if runs::finish(deps.db, run_id, RunStatus::Cancelled, None, Some(&message)).await? {
                audit_cancel(deps.db, principal, &run, "queued").await;
                return runs::get(deps.db, run_id).await;
            }
        }
        Some(RunStatus::Running) => {}
        _ => return Err(not_running()),
    }
    let Some(control) = deps.controls.get(run_id) else {
        let current = runs::get(deps.db, run_id).await?;
        if runs::is_terminal(&current.status) {
            return Err(not_running());
        }
        return Err(Error::new(
            ErrorKind::Conflict,
            format!(
                "Run {run_id} is executing in another server process ({}); cancel it there",
                current.worker.as_deref().unwrap_or("unknown")
            ),
        ));
    };
    control.stop(StopReason::Cancelled { by });
    audit_cancel(deps.db, principal, &run, "running").await;
    runs::wait_end(deps.db, run_id, Some(SETTLE)).await
}

async fn audit_cancel(
    db: &DatabaseConnection,
    principal: &Principal,
    run: &job_runs::Model,
    was: &str,
) {
    audit::record(
        db,
        AuditEvent::new(if run.kind == crate::runs::RunKind::Script.as_str() {
            "script_cancelled"
        } else {
            "job_cancelled"
        })
        .actor(principal)
        .details(serde_json::json!({
            "job_id": run.id,
            "kind": run.kind,
            "schedule": run.schedule,
            "was": was,
        })),
    )
    .await;
}
