//! `dango run`: build the dbt project (or a selection), through the running server when
//! there is one, otherwise in this process.

use std::path::PathBuf;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::server::RunningServer;
use crate::App;
use crate::config::ProjectPaths;
use crate::events::EventBody;
use crate::jobs::transform::{self, TransformSpec};
use crate::transform::runner::Status;
use crate::warehouse::{self, OpenError};

pub struct RunArgs {
    pub command: String,
    pub select: Vec<String>,
    pub exclude: Vec<String>,
    pub full_refresh: bool,
    pub vars: Option<String>,
}

fn vars(text: &Option<String>) -> anyhow::Result<serde_json::Map<String, Value>> {
    let Some(text) = text else {
        return Ok(Default::default());
    };
    let parsed: serde_norway::Value =
        serde_norway::from_str(text).context("--vars is not YAML or JSON")?;
    match serde_json::to_value(parsed)? {
        Value::Object(map) => Ok(map),
        _ => bail!("--vars must be a mapping, e.g. '{{key: value}}'"),
    }
}

pub async fn run(root: PathBuf, args: RunArgs) -> anyhow::Result<()> {
    let paths = ProjectPaths::new(&root);
    if !paths.is_project() {
        bail!("no Dango project at {} (run `dango init`)", root.display());
    }
    if !paths.dbt_dir().join("dbt_project.yml").is_file() {
        bail!("no dbt project in {}", paths.dbt_dir().display());
    }
    let spec = TransformSpec {
        command: args.command.clone(),
        select: args.select.clone(),
        exclude: args.exclude.clone(),
        full_refresh: args.full_refresh,
        vars: vars(&args.vars)?,
    };
    spec.command().map_err(|e| anyhow::anyhow!(e.message))?;
    match warehouse::try_lock(&paths) {
        Ok(lock) => {
            drop(lock);
            in_process(&root, spec).await
        }
        Err(OpenError::Busy(_)) => through_server(&paths, spec).await,
        Err(err) => Err(err.into()),
    }
}

async fn in_process(root: &std::path::Path, spec: TransformSpec) -> anyhow::Result<()> {
    let app = App::open(root).await?;
    let state = app.state().clone();
    let mut events = state.events.subscribe();
    let (finished, mut finished_signal) = tokio::sync::oneshot::channel::<()>();
    // Prints each node as it finishes; once the run has ended, prints what is still
    // queued and stops (every result is printed, with no wait).
    let printer = tokio::spawn(async move {
        loop {
            tokio::select! {
                biased;
                event = events.recv() => match event {
                    Ok(event) => print_node(&event),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => break,
                },
                _ = &mut finished_signal => {
                    while let Ok(event) = events.try_recv() {
                        print_node(&event);
                    }
                    break;
                }
            }
        }
    });
    let outcome = transform::execute(&crate::jobs::RunContext::of(&state), None, &spec).await;
    let _ = finished.send(());
    let _ = printer.await;
    let outcome = outcome.map_err(|e| anyhow::anyhow!(e.detailed_message()))?;
    let Some(report) = &outcome.report else {
        println!("Nothing to do.");
        return Ok(());
    };
    if report.results.is_empty() {
        println!("Nothing to do: the selection matched no nodes.");
        return Ok(());
    }
    println!("Done in {:.2}s: {}", report.elapsed_time, outcome.summary());
    let failed: Vec<&str> = report
        .results
        .iter()
        .filter(|r| matches!(r.status, Status::Error | Status::Fail))
        .map(|r| r.unique_id.as_str())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        bail!("{} node(s) failed", failed.len())
    }
}

fn print_node(event: &crate::events::Event) {
    match &event.body {
        EventBody::DbtRunCompleted(done) => println!("  OK       {}", done.model),
        EventBody::DbtRunFailed(failed) => {
            println!("  ERROR    {}: {}", failed.model, failed.error)
        }
        EventBody::DbtRunSkipped(skipped) => println!("  SKIP     {}", skipped.model),
        EventBody::DbtTestFailed(failed) => {
            println!("  FAIL     {}: {}", failed.model, failed.error)
        }
        _ => {}
    }
}

async fn through_server(paths: &ProjectPaths, spec: TransformSpec) -> anyhow::Result<()> {
    let server = RunningServer::connect(paths, "run dbt")?;
    let body = json!({"command": spec.command, "select": spec.select, "exclude": spec.exclude,
                      "full_refresh": spec.full_refresh, "vars": spec.vars});
    let run_id = server
        .start("/api/dbt/run", &body, "the server refused the run")
        .await?;
    let status = server.wait(&run_id, |_| {}).await?;
    if status["status"] == "success" {
        println!(
            "dbt {} finished ({} rows written)",
            spec.command, status["rows_processed"]
        );
        return Ok(());
    }
    bail!(
        "{}",
        status["error"].as_str().unwrap_or("the dbt run failed")
    )
}
