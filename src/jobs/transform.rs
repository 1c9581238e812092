//! Transform runs: the dbt project built by the native engine (or a real `dbt`
//! executable when `transform.engine: dbt`), as the warehouse's only writer, with live
//! `dbt_run_*` events, dbt artifacts and per-model status afterwards.

use chrono::Utc;
use dango_entity::job_runs;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::RunContext;
use crate::Error;
use crate::activity::{self, Level};
use crate::error::code;
use crate::events::{
    DbtRunCompletedEvent, DbtRunFailedEvent, DbtRunSkippedEvent, DbtRunStartedEvent,
    DbtTestFailedEvent, Event, EventBus,
};
use crate::runs;
use crate::transform::nodes::node_name;
use crate::transform::runner::{Command, NodeResult, Progress, Request, RunReport, Status};
use crate::transform::{TransformError, artifacts, manifest::Manifest, status};

/// What a transform run builds; stored as JSON in `job_runs.selector`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TransformSpec {
    #[serde(default = "default_command")]
    pub command: String,
    #[serde(default)]
    pub select: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub full_refresh: bool,
    #[serde(default)]
    pub vars: Map<String, Value>,
}

fn default_command() -> String {
    "build".into()
}

impl Default for TransformSpec {
    fn default() -> Self {
        Self {
            command: default_command(),
            select: Vec::new(),
            exclude: Vec::new(),
            full_refresh: false,
            vars: Map::new(),
        }
    }
}

impl TransformSpec {
    pub fn command(&self) -> crate::Result<Command> {
        Ok(match self.command.as_str() {
            "build" => Command::Build,
            "run" => Command::Run,
            "seed" => Command::Seed,
            "snapshot" => Command::Snapshot,
            "test" => Command::Test,
            other => {
                return Err(Error::bad_request(format!(
                    "'{other}' is not a dbt command (build, run, seed, snapshot, test)"
                )));
            }
        })
    }
}

/// A finished transform, summarised.
#[derive(Debug, Default)]
pub struct TransformOutcome {
    pub report: Option<RunReport>,
    pub failed_models: Vec<String>,
    pub failed_tests: Vec<String>,
    pub rows: u64,
}

impl TransformOutcome {
    pub(super) fn from_report(report: RunReport) -> Self {
        let name = |id: &str| node_name(id).to_string();
        let failed_models = report
            .results
            .iter()
            .filter(|r| r.status == Status::Error && !r.unique_id.starts_with("test."))
            .map(|r| name(&r.unique_id))
            .collect();
        let failed_tests = report
            .results
            .iter()
            .filter(|r| {
                r.unique_id.starts_with("test.") && matches!(r.status, Status::Fail | Status::Error)
            })
            .map(|r| name(&r.unique_id))
            .collect();
        let rows = report
            .results
            .iter()
            .filter_map(|r| r.rows_affected)
            .filter(|n| *n > 0)
            .sum::<i64>() as u64;
        Self {
            report: Some(report),
            failed_models,
            failed_tests,
            rows,
        }
    }

    /// Writes the outcome to the activity log: an error naming the failed models (also
    /// returned), else a success line (a warning when tests failed).
    pub async fn record_activity(
        &self,
        ctx: &RunContext<'_>,
        failed: &str,
        done: &str,
    ) -> Result<(), String> {
        let summary = self.summary();
        if !self.failed_models.is_empty() {
            let message = format!("{failed}: {} ({summary})", self.failed_models.join(", "));
            activity::record(ctx.db, Level::Error, None, &message).await;
            return Err(message);
        }
        let level = if self.failed_tests.is_empty() {
            Level::Success
        } else {
            Level::Warning
        };
        activity::record(ctx.db, level, None, &format!("{done}: {summary}")).await;
        Ok(())
    }

    /// One line for logs and run records.
    pub fn summary(&self) -> String {
        let Some(report) = &self.report else {
            return "nothing to build".into();
        };
        format!(
            "{} ok, {} errors, {} skipped, {} tests passed, {} tests failed, {} warnings",
            report.count(Status::Success),
            report.count(Status::Error),
            report.count(Status::Skipped),
            report.count(Status::Pass),
            report.count(Status::Fail),
            report.count(Status::Warn)
        )
    }
}

/// Whether the project has a dbt project at all.
pub fn has_project(paths: &crate::config::ProjectPaths) -> bool {
    paths.dbt_dir().join("dbt_project.yml").is_file()
}

/// The live event for a finished node (passing tests have none).
pub(super) fn finished_event(result: &NodeResult) -> Option<Event> {
    let model = node_name(&result.unique_id).to_string();
    let message = result.message.as_deref();
    // on-run-start/end hooks: only a failure is news
    if result.unique_id.starts_with("operation.") {
        return (result.status == Status::Error).then(|| {
            Event::new(DbtRunFailedEvent {
                model: model.clone(),
                error: message.unwrap_or("failed").into(),
            })
        });
    }
    if result.unique_id.starts_with("test.") {
        return matches!(result.status, Status::Fail | Status::Error).then(|| {
            Event::new(DbtTestFailedEvent {
                model: model.clone(),
                error: message.unwrap_or("failed").into(),
            })
        });
    }
    Some(match result.status {
        Status::Success => Event::new(DbtRunCompletedEvent { model }),
        Status::Skipped => Event::new(DbtRunSkippedEvent {
            model,
            message: message.unwrap_or_default().into(),
        }),
        _ => Event::new(DbtRunFailedEvent {
            model,
            error: message.unwrap_or("failed").into(),
        }),
    })
}

pub(super) fn publish(events: &EventBus, run_id: Option<&str>, mut event: Event) {
    if let Some(run) = run_id {
        event = event.run(run);
    }
    events.publish(event);
}

/// Builds `spec` on the warehouse; `run_id` tags the live events.
pub async fn execute(
    ctx: &RunContext<'_>,
    run_id: Option<&str>,
    spec: &TransformSpec,
) -> crate::Result<TransformOutcome> {
    if !has_project(ctx.paths) {
        return Err(Error::bad_request(
            "This project has no dbt project (dbt/dbt_project.yml)",
        ));
    }
    let config = &ctx.config;
    if config.transform.engine == "dbt" {
        return super::dbt_cli::execute(ctx, run_id, spec).await;
    }
    let request = Request {
        command: spec.command()?,
        select: spec.select.clone(),
        exclude: spec.exclude.clone(),
        full_refresh: spec.full_refresh,
        threads: config.transform.threads,
    };
    let dbt_dir = ctx.paths.dbt_dir();
    let dango_dir = ctx.paths.dango_dir();
    let vars = spec.vars.clone();
    let events = ctx.events.clone();
    let run = run_id.map(str::to_string);
    let started = Utc::now();
    let outcome = ctx
        .warehouse
        .write_with(
            ctx.control.interrupter(),
            move |connect| -> Result<(Manifest, RunReport), TransformError> {
                let progress = |event: Progress| {
                    let message = match event {
                        Progress::Started {
                            unique_id,
                            index,
                            total,
                        } => {
                            if !(unique_id.starts_with("model.")
                                || unique_id.starts_with("snapshot.")
                                || unique_id.starts_with("seed."))
                            {
                                return;
                            }
                            Event::new(DbtRunStartedEvent {
                                model: Some(node_name(&unique_id).to_string()),
                                message: Some(format!("{index} of {total}")),
                            })
                        }
                        Progress::Finished(result) => match finished_event(&result) {
                            Some(event) => event,
                            None => return,
                        },
                    };
                    publish(&events, run.as_deref(), message);
                };
                let began = std::time::Instant::now();
                let (manifest, report) =
                    crate::transform::run_project(&dbt_dir, &vars, &request, connect, &progress)?;
                let built = began.elapsed();
                let conn = connect().map_err(TransformError::Io)?;
                if let Err(err) = artifacts::write(&manifest, Some(&report), &conn, started) {
                    tracing::warn!("cannot write dbt artifacts: {err}");
                }
                status::record(&dango_dir, &report);
                tracing::debug!(
                    nodes = report.results.len(),
                    "built in {built:?} (run {:.3} s), artifacts written after {:?}",
                    report.elapsed_time,
                    began.elapsed()
                );
                Ok((manifest, report))
            },
        )
        .await?;
    let (_, report) = outcome.map_err(Error::from)?;
    Ok(TransformOutcome::from_report(report))
}

/// Re-reads the project and rewrites `manifest.json` and `catalog.json` without building
/// (after staging models were generated without a build, and after a run of real dbt):
/// what the catalog and docs show.
pub async fn refresh_manifest(ctx: &RunContext<'_>) -> crate::Result<()> {
    if !has_project(ctx.paths) {
        return Ok(());
    }
    let dbt_dir = ctx.paths.dbt_dir();
    ctx.warehouse
        .read(move |conn| {
            let database = crate::transform::database_name(conn)?;
            let manifest = Manifest::load(&dbt_dir, &database, &Map::new())?;
            artifacts::write(&manifest, None, conn, Utc::now())?;
            Ok(())
        })
        .await
}

/// Executes a transform run record.
pub async fn run(ctx: &RunContext<'_>, run: &job_runs::Model) -> crate::Result<u64> {
    let spec: TransformSpec = run
        .selector
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    runs::set_phase(ctx.db, &run.id, "dbt_started", Some("Building models")).await?;
    let label = if spec.select.is_empty() {
        "all models".to_string()
    } else {
        spec.select.join(" ")
    };
    activity::record(
        ctx.db,
        Level::Info,
        None,
        &format!("dbt {} started: {label}", spec.command),
    )
    .await;
    let outcome = execute(ctx, Some(&run.id), &spec).await?;
    outcome
        .record_activity(
            ctx,
            "dbt models failed",
            &format!("dbt {} finished", spec.command),
        )
        .await
        .map_err(|message| Error::unprocessable(message).with_code(code::MODELS_FAILED))?;
    Ok(outcome.rows)
}
