//! Background work: every sync and transform is a recorded run (`job_runs`) executed by
//! the apalis worker.

mod dbt_cli;
pub mod queue;
pub mod runs;
pub mod sync;
pub mod transform;

use std::sync::Arc;

use dango_entity::job_runs;

use crate::app::AppState;
use runs::NewRun;

/// Records a run and queues it. Conflicting runs are refused with 409.
pub async fn submit(state: &AppState, new: NewRun) -> crate::Result<job_runs::Model> {
    let run = {
        let _turn = state.jobs.submit_lock.lock().await;
        runs::create(&state.db, new).await?
    };
    if let Err(err) = state.jobs.push(&run.id).await {
        runs::finish(
            &state.db,
            &run.id,
            runs::FAILED,
            None,
            Some("Could not queue the run"),
        )
        .await?;
        return Err(err);
    }
    Ok(run)
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
    let outcome = match run.kind.as_str() {
        "sync" => sync::run(state, &run).await,
        "transform" => transform::run(state, &run).await,
        other => Err(crate::Error::internal(anyhow::anyhow!(
            "unknown run kind {other}"
        ))),
    };
    let finished = match outcome {
        Ok(rows) => runs::finish(&state.db, run_id, runs::SUCCESS, Some(rows), None).await,
        Err(err) => {
            if err.kind == crate::ErrorKind::Internal {
                tracing::error!("run {run_id} failed: {err:?}");
            }
            runs::finish(&state.db, run_id, runs::FAILED, None, Some(&err.message)).await
        }
    };
    if let Err(err) = finished {
        tracing::error!("cannot record the end of run {run_id}: {err:?}");
    }
}
