//! `dango sync`: sync sources with a progress bar. When a server holds the warehouse
//! the CLI asks it to run the sync (with the token the server wrote for it); otherwise
//! it runs the sync in this process.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use chrono::NaiveDate;
use serde_json::{Value, json};

use super::server::RunningServer;
use crate::App;
use crate::config::ProjectPaths;
use crate::events::{EventBody, SyncCompletedEvent, SyncFailedEvent};
use crate::jobs;
use crate::runs;
use crate::warehouse::{self, OpenError};

pub struct SyncArgs {
    pub source: Option<String>,
    pub full_refresh: bool,
    pub since: Option<String>,
    pub until: Option<String>,
    pub allow_empty_replace: bool,
}

fn date(value: &Option<String>, flag: &str) -> anyhow::Result<Option<NaiveDate>> {
    value
        .as_deref()
        .map(|v| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .with_context(|| format!("{flag} '{v}' is not YYYY-MM-DD"))
        })
        .transpose()
}

/// Renders progress on one terminal line (or plain lines when not a terminal).
struct ProgressLine {
    tty: bool,
    last: String,
}

impl ProgressLine {
    fn new() -> Self {
        Self {
            tty: std::io::stderr().is_terminal(),
            last: String::new(),
        }
    }

    fn show(&mut self, progress: f64, message: &str) {
        let width = 24;
        let filled = ((progress.clamp(0.0, 1.0) * width as f64).round()) as usize;
        let line = format!(
            "[{}{}] {:>3.0}%  {}",
            "#".repeat(filled),
            "-".repeat(width - filled),
            progress * 100.0,
            message
        );
        if line == self.last {
            return;
        }
        if self.tty {
            eprint!("\r\x1b[2K{line}");
        } else if message != self.last.split("%  ").nth(1).unwrap_or_default() {
            eprintln!("{line}");
        }
        let _ = std::io::stderr().flush();
        self.last = line;
    }

    fn finish(&mut self) {
        if self.tty && !self.last.is_empty() {
            eprintln!();
        }
    }
}

pub async fn run(root: PathBuf, args: SyncArgs) -> anyhow::Result<()> {
    let paths = ProjectPaths::new(&root);
    if !paths.is_project() {
        bail!("no Dango project at {} (run `dango init`)", root.display());
    }
    let start = date(&args.since, "--since")?;
    let end = date(&args.until, "--until")?;
    if let (Some(s), Some(e)) = (start, end)
        && s > e
    {
        bail!("--since must not be after --until");
    }
    let config = crate::sources::load(&paths).map_err(|e| anyhow::anyhow!(e.message))?;
    let sources: Vec<String> = match &args.source {
        Some(name) => {
            let source = config
                .get(name)
                .with_context(|| format!("source '{name}' not found in .dango/sources.yml"))?;
            vec![source.name.clone()]
        }
        None => config
            .sources
            .iter()
            .filter(|s| s.enabled)
            .map(|s| s.name.clone())
            .collect(),
    };
    if sources.is_empty() {
        bail!("no enabled sources in .dango/sources.yml");
    }
    let status = match warehouse::try_lock(&paths) {
        Ok(lock) => {
            drop(lock);
            in_process(&root, &sources, &args, start, end).await?
        }
        Err(OpenError::Busy(_)) => through_server(&paths, &sources, &args).await?,
        Err(err) => return Err(err.into()),
    };
    report(&status)
}

fn report(status: &Value) -> anyhow::Result<()> {
    for result in status["results"].as_array().into_iter().flatten() {
        match result["status"].as_str() {
            Some("success") => println!(
                "✓ {}: {} rows loaded, {} in the table ({:.1}s)",
                result["source"].as_str().unwrap_or_default(),
                result["rows_processed"],
                result["total_row_count"],
                result["duration_seconds"].as_f64().unwrap_or_default()
            ),
            _ => println!(
                "✗ {}: {}",
                result["source"].as_str().unwrap_or_default(),
                result["error_message"].as_str().unwrap_or("failed")
            ),
        }
    }
    if status["status"] == "success" {
        Ok(())
    } else {
        bail!(
            "sync failed: {}",
            status["error"].as_str().unwrap_or("see above")
        )
    }
}

async fn in_process(
    root: &std::path::Path,
    sources: &[String],
    args: &SyncArgs,
    start: Option<NaiveDate>,
    end: Option<NaiveDate>,
) -> anyhow::Result<Value> {
    let app = App::open(root).await?;
    let state = app.state().clone();
    let run = jobs::start::record(
        jobs::RunDeps::of(&state),
        jobs::RunRequest::Sync(jobs::SyncRequest {
            sources: sources.to_vec(),
            full_refresh: args.full_refresh,
            start_date: start,
            end_date: end,
            allow_empty_replace: args.allow_empty_replace,
            ..Default::default()
        }),
        &jobs::Requester::system(runs::Trigger::Cli, Some("cli")),
    )
    .await
    .map_err(|e| anyhow::anyhow!(e.message))?;
    let mut events = state.events.subscribe();
    let run_id = run.id.clone();
    let printer = tokio::spawn(async move {
        let mut line = ProgressLine::new();
        while let Ok(event) = events.recv().await {
            if event.run_id.as_deref() != Some(run_id.as_str()) {
                continue;
            }
            match &event.body {
                EventBody::SyncStarted(started) => {
                    line.show(0.0, &format!("{}: starting", started.source))
                }
                EventBody::SyncProgress(progress) => line.show(
                    progress.progress,
                    &format!(
                        "{}: {}",
                        progress.source,
                        progress.message.as_deref().unwrap_or("loading")
                    ),
                ),
                EventBody::SyncCompleted(SyncCompletedEvent { source, .. })
                | EventBody::SyncFailed(SyncFailedEvent { source, .. }) => {
                    line.show(1.0, &format!("{source}: done"))
                }
                _ => {}
            }
        }
        line.finish();
    });
    jobs::execute(&jobs::RunContext::of(&state), &run.id).await;
    printer.abort();
    eprintln!();
    run_status(&state, &run.id).await
}

/// The same shape `GET /api/sync/status/{id}` answers, read directly.
async fn run_status(state: &crate::state::AppState, run_id: &str) -> anyhow::Result<Value> {
    let run = runs::get(&state.db, run_id)
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
    let results: Vec<Value> = crate::sources::history::of_run(&state.db, run_id)
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?
        .into_iter()
        .map(|h| {
            json!({"source": h.source, "status": h.status, "rows_processed": h.rows_processed,
                   "total_row_count": h.total_row_count, "duration_seconds": h.duration_seconds,
                   "error_message": h.error_message})
        })
        .collect();
    Ok(json!({"status": run.status, "error": run.error, "results": results}))
}

async fn through_server(
    paths: &ProjectPaths,
    sources: &[String],
    args: &SyncArgs,
) -> anyhow::Result<Value> {
    let server = RunningServer::connect(paths, "sync")?;
    let body = json!({
        "sources": sources,
        "full_refresh": args.full_refresh,
        "start_date": args.since,
        "end_date": args.until,
        "allow_empty_replace": args.allow_empty_replace,
    });
    let run_id = server
        .start("/api/sync/trigger", &body, "the server refused the sync")
        .await?;
    let mut line = ProgressLine::new();
    let status = server
        .wait(&run_id, |status| {
            line.show(
                status["progress"].as_f64().unwrap_or(0.0),
                status["message"].as_str().unwrap_or("queued"),
            )
        })
        .await?;
    line.finish();
    Ok(status)
}
