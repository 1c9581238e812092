//! Starting a run: the one entry point every front end calls (the HTTP API, the CLI, the
//! file watcher, the demo loader; later the scheduler, MCP and the UI). It owns the rules:
//! validation, the conflict rules (checked under one lock with the insert), the trigger
//! (derived once from who asks), the audit record, and handing the run to the queue.

use chrono::NaiveDate;
use dango_entity::job_runs;
use sea_orm::DatabaseConnection;
use serde_json::json;

use super::transform::TransformSpec;
use crate::auth::Principal;
use crate::auth::audit::{self, AuditEvent};
use crate::config::ProjectPaths;
use crate::error::code;
use crate::runs::queue::JobQueue;
use crate::runs::{self, NewRun, RunKind, RunOptions, Trigger};
use crate::{Error, Result};

/// What starting a run needs, and nothing more.
#[derive(Clone, Copy)]
pub struct RunDeps<'a> {
    pub db: &'a DatabaseConnection,
    pub queue: &'a JobQueue,
    pub paths: &'a ProjectPaths,
}

impl<'a> RunDeps<'a> {
    /// The server's.
    pub fn of(state: &'a crate::state::AppState) -> Self {
        Self {
            db: &state.db,
            queue: &state.jobs,
            paths: &state.paths,
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub enum RunRequest {
    /// Load these sources (names as the caller wrote them; resolved and checked here).
    Sync(SyncRequest),
    /// A dbt command over a selection.
    Transform(TransformSpec),
    /// A program of `scripts/`, by its name there.
    Script(ScriptRequest),
}

#[derive(Clone, Debug, Default)]
pub struct ScriptRequest {
    /// The path relative to `scripts/` (`reports/daily.py`).
    pub name: String,
}

/// How long a script may run when neither the caller nor its schedule says.
pub const DEFAULT_SCRIPT_TIMEOUT_SECONDS: f64 = 300.0;

#[derive(Clone, Debug, Default)]
pub struct SyncRequest {
    pub sources: Vec<String>,
    pub full_refresh: bool,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    pub allow_empty_replace: bool,
    /// Build nothing afterwards (a `sync_only` schedule).
    pub skip_transform: bool,
}

/// Who asks for a run: a signed-in caller (the trigger follows from how they signed in)
/// or the product itself.
pub struct Requester<'a> {
    trigger: Trigger,
    principal: Option<&'a Principal>,
    name: Option<String>,
    schedule: Option<String>,
    /// The run is stopped after this many seconds.
    timeout_seconds: Option<f64>,
    /// Which try of a schedule's firing this is (1: the first).
    attempt: Option<u32>,
    /// The scheduler's clock when it fired.
    fired_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl<'a> Requester<'a> {
    pub fn principal(principal: &'a Principal) -> Self {
        Self {
            trigger: Trigger::of(principal),
            principal: Some(principal),
            name: Some(principal.email.clone()),
            schedule: None,
            timeout_seconds: None,
            attempt: None,
            fired_at: None,
        }
    }

    /// The scheduler firing `schedule`.
    pub fn scheduler(schedule: &str) -> Self {
        Self {
            schedule: Some(schedule.to_string()),
            ..Self::system(Trigger::Schedule, Some("scheduler"))
        }
    }

    /// The same requester, asking for a run of `schedule` (a "run now").
    pub fn for_schedule(self, schedule: &str) -> Self {
        Self {
            schedule: Some(schedule.to_string()),
            ..self
        }
    }

    /// The file watcher, the demo loader, the CLI working without a server.
    pub fn system(trigger: Trigger, name: Option<&str>) -> Self {
        Self {
            trigger,
            principal: None,
            name: name.map(str::to_string),
            schedule: None,
            timeout_seconds: None,
            attempt: None,
            fired_at: None,
        }
    }

    /// The same requester, for a run stopped after `timeout_seconds`.
    pub fn limited(self, timeout_seconds: Option<f64>) -> Self {
        Self {
            timeout_seconds,
            ..self
        }
    }

    /// The same requester, for try `attempt` of a firing at `fired_at` (the scheduler's clock).
    pub fn fired(self, fired_at: chrono::DateTime<chrono::Utc>, attempt: u32) -> Self {
        Self {
            fired_at: Some(fired_at),
            attempt: Some(attempt),
            ..self
        }
    }
}

/// Records a run and hands it to the workers. Invalid requests get 400/404, conflicting
/// runs 409, and nothing is recorded for either.
pub async fn start(
    deps: RunDeps<'_>,
    request: RunRequest,
    requester: &Requester<'_>,
) -> Result<job_runs::Model> {
    let run = record(deps, request, requester).await?;
    let handed = if RunKind::of(&run) == Some(RunKind::Script) {
        deps.queue.run_now(&run.id)
    } else {
        deps.queue.push(&run.id).await
    };
    if let Err(err) = handed {
        runs::finish(
            deps.db,
            &run.id,
            runs::RunStatus::Failed,
            None,
            Some("Could not queue the run"),
        )
        .await?;
        return Err(err);
    }
    Ok(run)
}

/// Validates and records a run without queueing it, for a caller that executes it itself
/// (the CLI when no server is running).
pub async fn record(
    deps: RunDeps<'_>,
    request: RunRequest,
    requester: &Requester<'_>,
) -> Result<job_runs::Model> {
    let (mut new, audit_event, mut details) = match request {
        RunRequest::Sync(sync) => {
            let new = validate_sync(deps.paths, sync, requester)?;
            let details = json!({"sources": new.sources, "full_refresh": new.full_refresh});
            (new, "sync_triggered", details)
        }
        RunRequest::Transform(spec) => {
            let details =
                json!({"command": spec.command, "select": spec.select, "exclude": spec.exclude});
            (
                validate_transform(deps.paths, spec, requester)?,
                "dbt_run_triggered",
                details,
            )
        }
        RunRequest::Script(script) => {
            let new = validate_script(deps.paths, script, requester)?;
            let details = json!({"status": "started", "script_name": new.selector});
            (new, "script_run", details)
        }
    };
    new.options.timeout_seconds = requester.timeout_seconds;
    if new.kind == RunKind::Script && new.options.timeout_seconds.is_none() {
        new.options.timeout_seconds = Some(DEFAULT_SCRIPT_TIMEOUT_SECONDS);
    }
    new.options.attempt = requester.attempt;
    new.options.fired_at = requester.fired_at;
    let run = {
        let _turn = deps.queue.submit_lock.lock().await;
        runs::create(deps.db, new).await?
    };
    if let Some(principal) = requester.principal {
        audit::record(
            deps.db,
            AuditEvent::new(audit_event).actor(principal).details({
                details["run_id"] = json!(run.id);
                details
            }),
        )
        .await;
    }
    Ok(run)
}

fn validate_sync(
    paths: &ProjectPaths,
    sync: SyncRequest,
    requester: &Requester<'_>,
) -> Result<NewRun> {
    if let (Some(start), Some(end)) = (sync.start_date, sync.end_date)
        && start > end
    {
        return Err(Error::bad_request("start_date must not be after end_date")
            .with_code(code::INVALID_DATE_RANGE));
    }
    if sync.sources.is_empty() {
        return Err(Error::bad_request("sources: name at least one source"));
    }
    let mut resolved = Vec::with_capacity(sync.sources.len());
    for name in &sync.sources {
        let source = crate::sources::get(paths, name)?;
        if !source.enabled {
            return Err(Error::bad_request(format!(
                "Source '{}' is disabled",
                source.name
            )));
        }
        if !resolved.contains(&source.name) {
            resolved.push(source.name);
        }
    }
    Ok(NewRun {
        kind: RunKind::Sync,
        trigger: requester.trigger,
        sources: resolved,
        selector: None,
        full_refresh: sync.full_refresh,
        start_date: sync.start_date,
        end_date: sync.end_date,
        options: RunOptions {
            allow_empty_replace: sync.allow_empty_replace,
            skip_transform: sync.skip_transform,
            ..Default::default()
        },
        requested_by: requester.name.clone(),
        schedule: requester.schedule.clone(),
    })
}

fn validate_transform(
    paths: &ProjectPaths,
    spec: TransformSpec,
    requester: &Requester<'_>,
) -> Result<NewRun> {
    spec.command()?;
    if !super::transform::has_project(paths) {
        return Err(Error::bad_request(
            "This project has no dbt project (dbt/dbt_project.yml)",
        ));
    }
    let selector = serde_json::to_string(&spec).map_err(Error::internal)?;
    Ok(NewRun {
        kind: RunKind::Transform,
        trigger: requester.trigger,
        sources: vec![],
        selector: Some(selector),
        full_refresh: spec.full_refresh,
        start_date: None,
        end_date: None,
        options: RunOptions::default(),
        requested_by: requester.name.clone(),
        schedule: requester.schedule.clone(),
    })
}

fn validate_script(
    paths: &ProjectPaths,
    request: ScriptRequest,
    requester: &Requester<'_>,
) -> Result<NewRun> {
    let script = crate::scripts::resolve(paths, &request.name)?;
    Ok(NewRun {
        kind: RunKind::Script,
        trigger: requester.trigger,
        sources: vec![],
        selector: Some(script.name),
        full_refresh: false,
        start_date: None,
        end_date: None,
        options: RunOptions::default(),
        requested_by: requester.name.clone(),
        schedule: requester.schedule.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sync(start: &str, end: &str) -> SyncRequest {
        SyncRequest {
            sources: vec!["sales".into()],
            start_date: NaiveDate::parse_from_str(start, "%Y-%m-%d").ok(),
            end_date: NaiveDate::parse_from_str(end, "%Y-%m-%d").ok(),
            ..Default::default()
        }
    }

    #[test]
    fn a_sync_checks_its_dates_and_names_before_anything_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let paths = ProjectPaths::new(dir.path());
        std::fs::create_dir_all(paths.sources_yml().parent().unwrap()).unwrap();
        std::fs::write(paths.sources_yml(), "version: \"1.0\"\nsources: []\n").unwrap();
        let requester = Requester::system(Trigger::Cli, None);
        let reversed = validate_sync(&paths, sync("2026-03-01", "2026-02-01"), &requester);
        assert_eq!(reversed.unwrap_err().code, code::INVALID_DATE_RANGE);
        let none = SyncRequest::default();
        assert!(validate_sync(&paths, none, &requester).is_err());
        // in order, the dates pass and the unknown source is what is refused
        let unknown = validate_sync(&paths, sync("2026-01-01", "2026-02-01"), &requester);
        assert_eq!(unknown.unwrap_err().kind, crate::ErrorKind::NotFound);
    }
}
