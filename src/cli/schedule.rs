//! `dango schedule list|add|remove|trigger|validate`: the schedules of
//! `.dango/schedules.yml`. Changes are written into the file (comments kept) and, when a
//! server runs, it is told to reload at once; listing and triggering go through the
//! running server when there is one.

use std::path::PathBuf;

use anyhow::{Context, bail};
use chrono::Utc;
use clap::Subcommand;
use serde_json::Value;

use super::server::RunningServer;
use crate::config::ProjectPaths;
use crate::config::schedules::{ScheduleDef, ScheduleKind};
use crate::schedules::{self, Edit};
use crate::warehouse::{self, OpenError};

#[derive(Subcommand)]
pub enum ScheduleCommand {
    /// List the schedules with their timing and next firing
    List,
    /// Add a schedule (or replace the one of this name with --replace)
    Add {
        /// Lowercase letters, digits and underscores
        name: String,
        /// 5-field cron expression or preset (every_15m, every_hour, every_6h, daily, weekly)
        #[arg(long)]
        cron: String,
        /// sync (default), sync_only, dbt or script
        #[arg(long = "type", default_value = "sync")]
        kind: String,
        /// Sources to sync (sync and sync_only), comma-separated
        #[arg(long, value_delimiter = ',')]
        sources: Vec<String>,
        /// dbt selector to build (dbt schedules), such as tag:daily
        #[arg(long)]
        dbt_command: Option<String>,
        /// The program under scripts/ to run (script schedules), such as reports/daily.py
        #[arg(long)]
        script_path: Option<String>,
        /// IANA time zone the expression is read in (default UTC)
        #[arg(long)]
        timezone: Option<String>,
        /// Stop a run after this many minutes (default 60)
        #[arg(long)]
        timeout_minutes: Option<f64>,
        /// Add it disabled
        #[arg(long)]
        disabled: bool,
        /// Replace an existing schedule of this name
        #[arg(long)]
        replace: bool,
    },
    /// Remove a schedule
    Remove { name: String },
    /// Run a schedule now (needs the running server)
    Trigger { name: String },
    /// Check schedules.yml: errors, and warnings about what is probably not meant
    Validate,
}

pub async fn run(root: PathBuf, command: ScheduleCommand) -> anyhow::Result<()> {
    let paths = ProjectPaths::new(&root);
    match command {
        ScheduleCommand::List => list(&paths).await,
        ScheduleCommand::Add {
            name,
            cron,
            kind,
            sources,
            dbt_command,
            script_path,
            timezone,
            timeout_minutes,
            disabled,
            replace,
        } => {
            let kind = match kind.as_str() {
                "sync" => ScheduleKind::Sync,
                "sync_only" => ScheduleKind::SyncOnly,
                "dbt" => ScheduleKind::Dbt,
                "script" => ScheduleKind::Script,
                other => bail!("--type '{other}' is not one of: sync, sync_only, dbt, script"),
            };
            let exists = schedules::load(&paths)
                .map_err(|e| anyhow::anyhow!(e.message))?
                .get(&name)
                .is_some();
            if exists && !replace {
                bail!("Schedule '{name}' exists; pass --replace to change it");
            }
            let schedule = ScheduleDef {
                name: name.clone(),
                kind,
                cron,
                sources,
                enabled: !disabled,
                timezone,
                start_date: None,
                misfire_grace_time: None,
                timeout_minutes,
                retry_delays_seconds: None,
                notify_on: vec![],
                dbt_command,
                script_path,
                run_on: None,
                script_args: None,
            };
            change(&paths, Edit::Upsert(Box::new(schedule))).await?;
            println!(
                "{} schedule '{name}'",
                if exists { "Replaced" } else { "Added" }
            );
            Ok(())
        }
        ScheduleCommand::Remove { name } => {
            schedules::get(&paths, &name).map_err(|e| anyhow::anyhow!(e.message))?;
            change(&paths, Edit::Remove(name.clone())).await?;
            println!("Removed schedule '{name}'");
            Ok(())
        }
        ScheduleCommand::Trigger { name } => {
            schedules::get(&paths, &name).map_err(|e| anyhow::anyhow!(e.message))?;
            let Some(server) = running_server(&paths, &format!("run schedule {name}"))? else {
                bail!(
                    "No server is running: start it with `dango start` (schedules run in the server), or sync the schedule's sources with `dango sync`"
                );
            };
            let run_id = server
                .start(
                    &format!("/api/schedules/{name}/trigger"),
                    &serde_json::json!({}),
                    "the server refused to run the schedule",
                )
                .await?;
            println!("Started run {run_id}");
            let status = server.wait(&run_id, |_| {}).await?;
            let outcome = status["status"].as_str().unwrap_or("unknown");
            println!("Run {run_id}: {outcome}");
            if outcome != "success" {
                bail!("{}", status["error"].as_str().unwrap_or(outcome));
            }
            Ok(())
        }
        ScheduleCommand::Validate => validate(&paths),
    }
}

/// The server, when one holds the warehouse of this project.
fn running_server(paths: &ProjectPaths, what: &str) -> anyhow::Result<Option<RunningServer>> {
    match warehouse::try_lock(paths) {
        Ok(_free) => Ok(None),
        Err(OpenError::Busy(_)) => RunningServer::connect(paths, what).map(Some),
        Err(err) => Err(err.into()),
    }
}

/// Writes `edit` into the file, then has a running server reload it.
async fn change(paths: &ProjectPaths, edit: Edit) -> anyhow::Result<()> {
    schedules::change(paths, &edit).map_err(|e| anyhow::anyhow!(e.message))?;
    if let Some(server) = running_server(paths, "reload the schedules")? {
        server
            .post_json("/api/schedules/reload", &serde_json::json!({}))
            .await
            .context(
                "the file is written, but the server did not reload it (it will within 10 s)",
            )?;
    }
    Ok(())
}

async fn list(paths: &ProjectPaths) -> anyhow::Result<()> {
    let listed: Vec<Value> = match running_server(paths, "list the schedules")? {
        Some(server) => match server.get_json("/api/schedules").await? {
            Value::Array(items) => items,
            other => bail!(
                "{}",
                other["detail"].as_str().unwrap_or("unexpected answer")
            ),
        },
        None => {
            let file = schedules::load(paths).map_err(|e| anyhow::anyhow!(e.message))?;
            let now = Utc::now();
            file.schedules
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "name": s.name,
                        "type": s.kind.as_str(),
                        "cron_label": schedules::cron::label(&s.cron),
                        "timezone": s.zone().name(),
                        "sources": s.sources,
                        "dbt_command": s.dbt_command,
                        "script_path": s.script_path,
                        "enabled": s.enabled,
                        "next_run_time": s.enabled.then(|| schedules::next_run(s, now)).flatten(),
                    })
                })
                .collect()
        }
    };
    if listed.is_empty() {
        println!(
            "No schedules. Add one with: dango schedule add NAME --cron daily --sources SOURCE"
        );
        return Ok(());
    }
    for schedule in &listed {
        let what = match schedule["type"].as_str() {
            Some("dbt") => format!(
                "dbt build {}",
                schedule["dbt_command"].as_str().unwrap_or("")
            ),
            Some("script") => format!("script {}", schedule["script_path"].as_str().unwrap_or("")),
            Some(kind) => format!("{kind} {}", join(&schedule["sources"])),
            None => String::new(),
        };
        let next = if schedule["enabled"] == false {
            "disabled".to_string()
        } else {
            schedule["next_run_time"]
                .as_str()
                .map_or("never".into(), |t| format!("next {t}"))
        };
        let last = schedule["last_run"]["status"]
            .as_str()
            .map(|s| format!(", last run {s}"))
            .unwrap_or_default();
        println!(
            "{:<20} {:<28} {:<16} {what} ({next}{last})",
            schedule["name"].as_str().unwrap_or(""),
            schedule["cron_label"].as_str().unwrap_or(""),
            schedule["timezone"].as_str().unwrap_or(""),
        );
    }
    Ok(())
}

fn join(list: &Value) -> String {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// Errors (the file does not validate, a schedule names a source that is not configured)
/// fail; warnings are printed.
fn validate(paths: &ProjectPaths) -> anyhow::Result<()> {
    let file = schedules::load(paths).map_err(|e| anyhow::anyhow!(e.message))?;
    let sources = crate::sources::names(paths).map_err(|e| anyhow::anyhow!(e.message))?;
    let errors: Vec<String> = schedules::unconfigured(&file, &sources)
        .into_iter()
        .map(|(schedule, source)| {
            format!("{schedule}: sources: '{source}' is not configured in .dango/sources.yml")
        })
        .collect();
    let warnings = schedules::overlapping(&file, Utc::now());
    let mut names: Vec<&String> = warnings.keys().collect();
    names.sort();
    for name in names {
        for warning in &warnings[name] {
            println!("warning: {name}: {warning}");
        }
    }
    if !errors.is_empty() {
        for error in &errors {
            eprintln!("error: {error}");
        }
        bail!(
            "{} problem(s) in {}",
            errors.len(),
            paths.schedules_yml().display()
        );
    }
    println!(
        "{}: {} schedule(s), valid",
        paths.schedules_yml().display(),
        file.schedules.len()
    );
    Ok(())
}
