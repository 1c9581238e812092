//! Background work: every sync and transform is a recorded run (`job_runs`) executed by
//! the apalis worker.

pub mod cancel;
mod dbt_cli;
pub mod initial_sync;
pub mod scheduler;
pub mod script;
pub mod start;
pub mod sync;
pub mod transform;

use std::path::PathBuf;
use std::sync::Arc;

use dango_entity::{job_runs, sync_history};
use sea_orm::DatabaseConnection;

use crate::config::{ProjectConfig, ProjectPaths};
use crate::events::EventBus;
use crate::profiling::{self, ProfileDeps, Relation};
use crate::runs::control::{RunControl, RunControls};
use crate::runs::{self, RunKind, RunStatus};
use crate::sources::{facts::FactsCache, history};
use crate::state::AppState;
use crate::transform::artifact_model::{Artifacts, ArtifactsCache};
use crate::warehouse::Warehouse;
pub use start::{Requester, RunDeps, RunRequest, ScriptRequest, SyncRequest, start};

/// What executing a run needs: the stores it writes, the bus it announces on, the
/// project's files, and the configuration as it was when the run began.
#[derive(Clone)]
pub struct RunContext<'a> {
    pub db: &'a DatabaseConnection,
    pub warehouse: &'a Arc<Warehouse>,
    pub events: &'a EventBus,
    pub paths: &'a ProjectPaths,
    pub config: Arc<ProjectConfig>,
    /// Told when a sync is recorded, so source statuses show it.
    facts: &'a FactsCache,
    artifacts: &'a ArtifactsCache,
    target_dir: PathBuf,
    /// Where executing runs register, so they can be cancelled.
    controls: &'a RunControls,
    /// The stop switch of the run being executed.
    pub control: Arc<RunControl>,
    /// Where the end of a run is announced.
    notify: crate::notifications::NotifyDeps,
    /// Where a script's run key is issued.
    run_keys: &'a crate::auth::run_keys::RunKeys,
    /// Where this server listens, told to scripts (none when no server runs).
    local_url: Option<String>,
}

impl<'a> RunContext<'a> {
    /// The server's (or the CLI's, which opens the same stores).
    pub fn of(state: &'a AppState) -> Self {
        Self {
            db: &state.db,
            warehouse: &state.warehouse,
            events: &state.events,
            paths: &state.paths,
            config: state.config(),
            facts: &state.source_facts,
            artifacts: &state.artifacts,
            target_dir: state.dbt_target_dir(),
            controls: &state.run_controls,
            control: RunControl::unattended(),
            notify: crate::notifications::NotifyDeps::of(state),
            run_keys: &state.run_keys,
            local_url: state
                .local_url
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }

    /// Records a source's sync in the history.
    pub async fn record_history(
        &self,
        entry: history::Entry<'_>,
    ) -> crate::Result<sync_history::Model> {
        let recorded = history::record(self.db, entry).await;
        self.facts.history_recorded();
        recorded
    }

    /// dbt's artifacts as the last run left them.
    pub fn dbt_artifacts(&self) -> Option<Arc<Artifacts>> {
        self.artifacts.get(&self.target_dir)
    }
}

/// Starts the worker that executes this process's queued runs.
pub fn spawn_worker(state: &Arc<AppState>) {
    let shared = state.clone();
    state
        .jobs
        .spawn_worker(crate::runs::queue::Executor::new(move |run_id: String| {
            let state = shared.clone();
            Box::pin(async move { execute(&RunContext::of(&state), &run_id).await })
        }));
}

/// Executes a queued run to its terminal state. Never panics the worker: every failure
/// ends in the run's record.
pub async fn execute(ctx: &RunContext<'_>, run_id: &str) {
    let worker = format!("pid-{}", std::process::id());
    match runs::start(ctx.db, run_id, &worker).await {
        Ok(true) => {}
        Ok(false) => return, // cancelled or already handled
        Err(err) => {
            tracing::error!("cannot start run {run_id}: {err:?}");
            return;
        }
    }
    let run = match runs::get(ctx.db, run_id).await {
        Ok(run) => run,
        Err(err) => {
            tracing::error!("run {run_id} vanished: {err:?}");
            return;
        }
    };
    let registered = ctx.controls.register(run_id);
    let ctx = &RunContext {
        control: registered.control().clone(),
        ..ctx.clone()
    };
    let limit = runs::options_of(&run)
        .timeout_seconds
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(std::time::Duration::from_secs_f64);
    let work = async {
        match RunKind::of(&run) {
            Some(RunKind::Sync) => sync::run(ctx, &run).await,
            Some(RunKind::Transform) => transform::run(ctx, &run).await,
            Some(RunKind::Script) => script::run(ctx, &run).await,
            None => Err(crate::Error::internal(anyhow::anyhow!(
                "unknown run kind {}",
                run.kind
            ))),
        }
    };
    let outcome = ctx.control.supervise(limit, work).await;
    let finished = match (ctx.control.reason(), outcome) {
        // Stopped: whatever the work reported, the run ends as its stopper said.
        (Some(reason), outcome) => {
            let mut message = reason.message();
            if let Err(err) = &outcome {
                message = format!("{message}; {}", err.message);
            }
            runs::finish(ctx.db, run_id, reason.status(), None, Some(&message)).await
        }
        (None, Ok(rows)) => {
            // A script's "rows" mean nothing: it reports what it did itself.
            let rows = (RunKind::of(&run) != Some(RunKind::Script)).then_some(rows);
            let finished = runs::finish(ctx.db, run_id, RunStatus::Success, rows, None).await;
            refresh_profiles(ctx, &run);
            finished
        }
        (None, Err(err)) => {
            if err.kind == crate::ErrorKind::Internal {
                tracing::error!("run {run_id} failed: {err:?}");
            }
            runs::finish(ctx.db, run_id, RunStatus::Failed, None, Some(&err.message)).await
        }
    };
    match finished {
        // Exactly one notice per run: only the call that ended it announces it.
        Ok(true) => crate::notifications::announce_run_end(&ctx.notify, run_id),
        Ok(false) => {}
        Err(err) => tracing::error!("cannot record the end of run {run_id}: {err:?}"),
    }
}

/// After a run succeeded, profiles what it changed in the background (the run is already
/// recorded as done): a sync's raw tables and staging views, and every relation the last
/// dbt run built.
fn refresh_profiles(ctx: &RunContext<'_>, run: &job_runs::Model) {
    let sources = match RunKind::of(run) {
        Some(RunKind::Sync) => runs::sources_of(run),
        Some(RunKind::Transform) => Vec::new(),
        // A script changes the warehouse only through runs of its own.
        Some(RunKind::Script) | None => return,
    };
    let mut built: Vec<Relation> = ctx
        .dbt_artifacts()
        .map(|artifacts| built_relations(&artifacts))
        .unwrap_or_default();
    let deps = ProfileDeps {
        warehouse: ctx.warehouse.clone(),
        db: ctx.db.clone(),
    };
    tokio::spawn(async move {
        let synced = if sources.is_empty() {
            Ok(Vec::new())
        } else {
            deps.warehouse
                .read(move |conn| profiling::relations_of_sources(conn, &sources))
                .await
        };
        match synced {
            Ok(mut relations) => {
                relations.append(&mut built);
                relations.sort();
                relations.dedup();
                profiling::refresh(&deps, relations).await;
            }
            Err(err) => tracing::warn!("cannot list what to profile: {}", err.detailed_message()),
        }
    });
}

/// Relations the last dbt run built successfully, outside the raw and staging schemas
/// (those are profiled with their source).
fn built_relations(artifacts: &Artifacts) -> Vec<Relation> {
    artifacts
        .run_results
        .results
        .iter()
        .filter(|result| result.status == "success")
        .filter_map(|result| artifacts.manifest.nodes.get(&result.unique_id))
        .filter(|node| matches!(node.resource_type.as_str(), "model" | "seed" | "snapshot"))
        .filter(|node| node.config.materialized.as_deref() != Some("ephemeral"))
        .filter(|node| !node.schema.starts_with("raw_") && node.schema != "staging")
        .map(|node| Relation::new(node.schema.clone(), node.relation()))
        .collect()
}
