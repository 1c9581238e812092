//! `transform.engine: dbt`: runs a real `dbt` executable (dbt-core + dbt-duckdb) on the
//! project. DuckDB lets one process open the file, so the server closes the warehouse
//! for the run and reopens it afterwards; dbt's `run_results.json` then becomes the
//! run's report, exactly as for the built-in engine.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::RunContext;
use super::transform::{TransformOutcome, TransformSpec, finished_event, publish};
use crate::error::code;
use crate::events::{DbtRunStartedEvent, Event};
use crate::transform::project::DbtProject;
use crate::transform::runner::{NodeResult, RunReport, Status};
use crate::transform::status;
use crate::{Error, ErrorKind};

/// Lines of dbt's output kept in an error message.
const OUTPUT_TAIL_LINES: usize = 25;

pub async fn execute(
    ctx: &RunContext<'_>,
    run_id: Option<&str>,
    spec: &TransformSpec,
) -> crate::Result<TransformOutcome> {
    let command = spec.command()?;
    let config = &ctx.config;
    let executable = config
        .transform
        .dbt_executable
        .clone()
        .unwrap_or_else(|| "dbt".into());
    let dbt_dir = absolute(&ctx.paths.dbt_dir());
    let database = warehouse_stem(ctx.warehouse.path());
    let project = DbtProject::load(&dbt_dir, &database).map_err(Error::from)?;
    let threads = config.transform.threads.unwrap_or(project.target.threads);
    let profiles_dir = ctx.paths.state_dir().join("dbt_profiles");
    write_profiles(
        &profiles_dir,
        &project,
        &absolute(ctx.warehouse.path()),
        threads,
    )?;

    let mut args: Vec<String> = vec![
        command.as_str().into(),
        "--project-dir".into(),
        dbt_dir.display().to_string(),
        "--profiles-dir".into(),
        profiles_dir.display().to_string(),
        "--target".into(),
        project.target.name.clone(),
        "--threads".into(),
        threads.to_string(),
    ];
    for (flag, values) in [("--select", &spec.select), ("--exclude", &spec.exclude)] {
        if !values.is_empty() {
            args.push(flag.into());
            args.extend(values.iter().cloned());
        }
    }
    if spec.full_refresh && matches!(command.as_str(), "build" | "run" | "seed") {
        args.push("--full-refresh".into());
    }
    if !spec.vars.is_empty() {
        args.push("--vars".into());
        args.push(Value::Object(spec.vars.clone()).to_string());
    }

    let results_path = dbt_dir.join(&project.target_path).join("run_results.json");
    // A stale file from an earlier run must not pass for this run's results.
    let _ = std::fs::remove_file(&results_path);
    publish(
        ctx.events,
        run_id,
        Event::new(DbtRunStartedEvent {
            model: None,
            message: Some(format!("dbt {}", args.join(" "))),
        }),
    );
    let started = Utc::now();
    let mut process = tokio::process::Command::new(&executable);
    process
        .args(&args)
        .current_dir(&dbt_dir)
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        .env("DBT_USE_COLORS", "false")
        .env("DBT_PARTIAL_PARSE", "false")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let control = ctx.control.clone();
    let finished = async {
        tokio::select! {
            output = process.output() => Some(output),
            // Dropping the running `output` kills dbt (kill_on_drop).
            _ = control.stopped() => None,
        }
    };
    let output = ctx
        .warehouse
        .release_during(finished)
        .await?
        .ok_or_else(|| Error::new(ErrorKind::Unavailable, "dbt was stopped before it finished"))?
        .map_err(|e| {
            Error::new(
                ErrorKind::Unavailable,
                format!(
                    "cannot start the dbt executable '{executable}' (transform.dbt_executable): {e}"
                ),
            )
        })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    save_log(ctx, run_id, &args, &text);

    let report = match std::fs::read_to_string(&results_path) {
        Ok(contents) => parse_run_results(&contents, command, started).map_err(|message| {
            Error::internal(anyhow::anyhow!(
                "dbt wrote an unreadable {}: {message}",
                results_path.display()
            ))
        })?,
        // dbt exits 2 without results when the project does not parse.
        Err(_) => {
            return Err(Error::unprocessable(format!(
                "dbt {} failed (exit code {}):\n{}",
                command.as_str(),
                output
                    .status
                    .code()
                    .map_or("signal".to_string(), |c| c.to_string()),
                tail(&text, OUTPUT_TAIL_LINES)
            ))
            .with_code(code::TRANSFORM_FAILED));
        }
    };
    for result in &report.results {
        if let Some(event) = finished_event(result) {
            publish(ctx.events, run_id, event);
        }
    }
    status::record(&ctx.paths.dango_dir(), &report);
    // dbt leaves its own manifest; ours adds the catalog (dbt only writes one on `docs generate`).
    if let Err(err) = super::transform::refresh_manifest(ctx).await {
        tracing::warn!("cannot refresh dbt artifacts after the dbt run: {err}");
    }
    Ok(TransformOutcome::from_report(report))
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// dbt-duckdb names the database after the file stem, as DuckDB does.
fn warehouse_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "warehouse".into())
}

/// A profiles.yml pointing dbt-duckdb at the warehouse, with the target name and schema
/// the built-in engine would use (so `target.name` and schemas agree between engines).
fn write_profiles(
    dir: &Path,
    project: &DbtProject,
    warehouse: &Path,
    threads: usize,
) -> crate::Result<()> {
    let profiles = json!({
        project.profile.clone(): {
            "target": project.target.name,
            "outputs": {
                project.target.name.clone(): {
                    "type": "duckdb",
                    "path": warehouse.display().to_string(),
                    "schema": project.target.schema,
                    "threads": threads,
                }
            }
        }
    });
    let yaml = serde_norway::to_string(&profiles).map_err(Error::internal)?;
    std::fs::create_dir_all(dir).map_err(Error::internal)?;
    crate::config::write_atomic(&dir.join("profiles.yml"), yaml.as_bytes()).map_err(Error::internal)
}

fn save_log(ctx: &RunContext<'_>, run_id: Option<&str>, args: &[String], output: &str) {
    let dir = ctx.paths.state_dir().join("dbt_logs");
    let name = format!("{}.log", run_id.unwrap_or("cli"));
    let contents = format!("$ dbt {}\n{output}", args.join(" "));
    if let Err(err) =
        std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(dir.join(name), contents))
    {
        tracing::warn!("cannot keep the dbt log: {err}");
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// dbt's `run_results.json` (v6) as a [`RunReport`].
fn parse_run_results(
    contents: &str,
    command: crate::transform::runner::Command,
    started: DateTime<Utc>,
) -> Result<RunReport, String> {
    let doc: Value = serde_json::from_str(contents).map_err(|e| e.to_string())?;
    let time = |value: &Value| {
        value
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let mut results = Vec::new();
    for entry in doc["results"].as_array().ok_or("no results array")? {
        let unique_id = entry["unique_id"]
            .as_str()
            .ok_or("a result without unique_id")?;
        let status = match entry["status"].as_str().unwrap_or_default() {
            "success" => Status::Success,
            "skipped" => Status::Skipped,
            "pass" => Status::Pass,
            "fail" => Status::Fail,
            "warn" => Status::Warn,
            _ => Status::Error,
        };
        let execute = entry["timing"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["name"] == "execute"));
        let started_at = execute
            .and_then(|t| time(&t["started_at"]))
            .unwrap_or(started);
        let completed_at = execute
            .and_then(|t| time(&t["completed_at"]))
            .unwrap_or(started_at);
        results.push(NodeResult {
            unique_id: unique_id.to_string(),
            status,
            message: entry["message"].as_str().map(str::to_string),
            failures: entry["failures"].as_u64(),
            rows_affected: entry["adapter_response"]["rows_affected"].as_i64(),
            started_at,
            completed_at,
            execution_time: entry["execution_time"].as_f64().unwrap_or_default(),
            compiled_code: entry["compiled_code"].as_str().map(str::to_string),
            relation_name: entry["relation_name"].as_str().map(str::to_string),
            thread_id: entry["thread_id"].as_str().unwrap_or_default().to_string(),
        });
    }
    Ok(RunReport {
        invocation_id: doc["metadata"]["invocation_id"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        command,
        generated_at: time(&doc["metadata"]["generated_at"]).unwrap_or_else(Utc::now),
        elapsed_time: doc["elapsed_time"].as_f64().unwrap_or_default(),
        results,
        args: doc["args"].clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_real_dbt_run_results() {
        let contents = include_str!(
            "../../tests/conformance/reference-artifacts/run_results_with_failures.json"
        );
        let report = parse_run_results(
            contents,
            crate::transform::runner::Command::Build,
            Utc::now(),
        )
        .unwrap();
        assert!(!report.results.is_empty());
        assert!(
            report
                .results
                .iter()
                .any(|r| r.status == Status::Fail || r.status == Status::Error)
        );
        assert!(report.results.iter().all(|r| !r.unique_id.is_empty()));
        assert!(!report.invocation_id.is_empty());
    }

    #[test]
    fn keeps_the_end_of_long_output() {
        let text = (1..=40)
            .map(|i| format!("line {i}"))
            .collect::<Vec<_>>()
            .join("\n");
        let kept = tail(&text, 3);
        assert_eq!(kept, "line 38\nline 39\nline 40");
    }
}
