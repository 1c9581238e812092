//! Background work: every sync and transform is a recorded run (`job_runs`) executed by
//! the apalis worker.

mod dbt_cli;
pub mod start;
pub mod sync;
pub mod transform;

use std::sync::Arc;

use crate::runs::{self, RunKind, RunStatus};
use crate::state::AppState;
pub use start::{Requester, RunDeps, RunRequest, SyncRequest, start};

/// Starts the worker that executes this process's queued runs.
pub fn spawn_worker(state: &Arc<AppState>) {
    let shared = state.clone();
    state
        .jobs
        .spawn_worker(crate::runs::queue::Executor::new(move |run_id: String| {
            let state = shared.clone();
            Box::pin(async move { execute(&state, &run_id).await })
        }));
}

/// Executes a queued run to its terminal state. Never panics the worker: every failure
/// ends in the run's record.
pub async fn execute(state: &Arc<AppState>, run_id: &str) {
    let worker = format!("pid-{}", std::process::id());
    match runs::start(&state.db, run_id, &worker).await {
        Ok(true) => {}
        Ok(false) => return, // cancelled or already handled
        Err(err) => {
            tracing::error!("cannot start run {run_id}: {err:?}");
            return;
        }
    }
    let run = match runs::get(&state.db, run_id).await {
        Ok(run) => run,
        Err(err) => {
            tracing::error!("run {run_id} vanished: {err:?}");
            return;
        }
    };
    let outcome = match RunKind::of(&run) {
        Some(RunKind::Sync) => sync::run(state, &run).await,
        Some(RunKind::Transform) => transform::run(state, &run).await,
        None => Err(crate::Error::internal(anyhow::anyhow!(
            "unknown run kind {}",
            run.kind
        ))),
    };
    let finished = match outcome {
        Ok(rows) => runs::finish(&state.db, run_id, RunStatus::Success, Some(rows), None).await,
        Err(err) => {
            if err.kind == crate::ErrorKind::Internal {
                tracing::error!("run {run_id} failed: {err:?}");
            }
            runs::finish(
                &state.db,
                run_id,
                RunStatus::Failed,
                None,
                Some(&err.message),
            )
            .await
        }
    };
    if let Err(err) = finished {
        tracing::error!("cannot record the end of run {run_id}: {err:?}");
    }
}
