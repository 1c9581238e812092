//! Scripts: the programs of `scripts/`, running one (a recorded run like any other),
//! cancelling it, its history and what it printed.
//!
//! A script's name is its path under `scripts/` and may hold `/`: in a URL it is one
//! segment, percent-encoded (`reports%2Fdaily.py`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use dango_entity::job_runs;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::ApiTag;
use super::context::Caller;
use crate::error::code;
use crate::jobs::{Requester, RunDeps, RunRequest, ScriptRequest};
use crate::runs::{self, RunKind};
use crate::scripts::output::{self, Stream};
use crate::scripts::{self, Script};
use crate::state::AppState;
use crate::{Error, Result};

pub struct ScriptsApi;

#[derive(Object)]
pub struct ScriptInfo {
    /// The path under `scripts/`, the script's name everywhere (`reports/daily.py`).
    pub name: String,
    /// The path from the project root (`scripts/reports/daily.py`).
    pub path: String,
    /// `python` (run with `python3`) or `executable` (run as it is).
    pub launch: String,
    /// Whether a run of it is queued or running now.
    pub running: bool,
    pub last_run: Option<ScriptRun>,
}

#[derive(Object)]
pub struct ScriptRun {
    pub run_id: String,
    pub script_name: String,
    /// `queued`, `running`, `success`, `failed`, `cancelled` or `timeout`.
    pub status: String,
    /// `schedule`, or how the person who ran it signed in (`ui`, `api`, `cli`).
    pub trigger: String,
    pub requested_by: Option<String>,
    /// The schedule that fired it, if one did.
    pub schedule: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<f64>,
    /// The program's exit code once it has exited (none when it was killed).
    pub exit_code: Option<i32>,
    /// Why it did not succeed: `Exit code 3: <last line of stderr>`, the time limit, who
    /// cancelled it.
    pub error: Option<String>,
    /// Its time limit.
    pub timeout_seconds: Option<f64>,
}

impl ScriptRun {
    fn of(run: &job_runs::Model) -> Self {
        let options = runs::options_of(run);
        Self {
            run_id: run.id.clone(),
            script_name: run.selector.clone().unwrap_or_default(),
            status: run.status.clone(),
            trigger: run.trigger.clone(),
            requested_by: run.requested_by.clone(),
            schedule: run.schedule.clone(),
            created_at: run.created_at,
            started_at: run.started_at,
            finished_at: run.finished_at,
            duration_seconds: run.duration_seconds,
            exit_code: options.exit_code,
            error: run.error.clone(),
            timeout_seconds: options.timeout_seconds,
        }
    }
}

#[derive(Object)]
pub struct ScriptDetail {
    #[oai(flatten)]
    pub script: ScriptInfo,
    /// Its 30 newest runs, newest first.
    pub recent_runs: Vec<ScriptRun>,
}

#[derive(Object)]
pub struct ScriptStarted {
    /// `started`.
    pub status: String,
    /// Follow it with `GET /api/scripts/{name}/runs/{run_id}` or `GET /api/sync/status/{run_id}`.
    pub run_id: String,
    pub script_name: String,
    pub timeout_seconds: Option<f64>,
}

#[derive(Object)]
pub struct ScriptCancelled {
    /// The run's status now: `cancelled` (or still `running` if it takes longer than a few
    /// seconds to stop).
    pub status: String,
    pub run: ScriptRun,
}

#[derive(Object)]
pub struct ScriptHistory {
    pub script_name: String,
    /// Newest first.
    pub items: Vec<ScriptRun>,
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
}

#[derive(Object)]
pub struct ScriptRunLog {
    pub run: ScriptRun,
    /// What it wrote to stdout (so far, while it runs), its first MiB.
    pub stdout: String,
    pub stderr: String,
    /// The stream went past 1 MiB and was cut (marked at its end).
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
}

#[OpenApi(tag = "ApiTag::Scripts")]
impl ScriptsApi {
    /// All scripts
    ///
    /// The programs of `scripts/` (`*.py` files, run with `python3`, and executable
    /// files), with subdirectories; hidden and `_`-prefixed files and directories are
    /// helpers, not scripts.
    #[oai(path = "/api/scripts", method = "get", operation_id = "list_scripts")]
    async fn list(&self, state: Data<&Arc<AppState>>) -> Result<Json<Vec<ScriptInfo>>> {
        let found = scripts::list(&state.paths)?;
        let active = runs::active(&state.db).await?;
        let mut list = Vec::with_capacity(found.len());
        for script in &found {
            let (last, _) = runs::of_script(&state.db, &script.name, 1, 0).await?;
            list.push(info(script, &active, last.first()));
        }
        Ok(Json(list))
    }

    /// One script and its recent runs
    #[oai(
        path = "/api/scripts/:name",
        method = "get",
        operation_id = "get_script"
    )]
    async fn get(
        &self,
        state: Data<&Arc<AppState>>,
        /// The script's path under `scripts/`, percent-encoded (`reports%2Fdaily.py`).
        #[oai(validator(max_length = 512))]
        name: Path<String>,
    ) -> Result<Json<ScriptDetail>> {
        let script = scripts::resolve(&state.paths, &name)?;
        let active = runs::active(&state.db).await?;
        let (recent, _) = runs::of_script(&state.db, &script.name, 30, 0).await?;
        Ok(Json(ScriptDetail {
            script: info(&script, &active, recent.first()),
            recent_runs: recent.iter().map(ScriptRun::of).collect(),
        }))
    }

    /// Run a script
    ///
    /// Starts the program at once (it does not wait behind syncs) with the project root
    /// as its working directory and, in its environment, `DANGO_PROJECT_ROOT`,
    /// `DANGO_SCRIPT_RUN_ID`, `DANGO_SCRIPT_NAME`, `DANGO_API_URL` and `DANGO_API_KEY`: an
    /// editor's key that works only while this run lasts. Its stdout and stderr are kept
    /// (1 MiB each). It is stopped (its whole process group) after `timeout_seconds`
    /// (default 300) and recorded `timeout`. 400 for a name outside `scripts/`, 404 for
    /// an unknown script, 409 while a run of it is going.
    #[oai(
        path = "/api/scripts/:name/run",
        method = "post",
        operation_id = "run_script"
    )]
    async fn run(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        #[oai(validator(max_length = 512))] name: Path<String>,
        /// Stop it after this many seconds (1–86,400; default 300).
        #[oai(validator(minimum(value = "1"), maximum(value = "86400")))]
        timeout_seconds: Query<Option<f64>>,
    ) -> Result<Json<ScriptStarted>> {
        let Caller(principal, _) = caller;
        let requester = Requester::principal(&principal).limited(timeout_seconds.0);
        let request = RunRequest::Script(ScriptRequest { name: name.0 });
        let run = crate::jobs::start(RunDeps::of(&state), request, &requester).await?;
        Ok(Json(ScriptStarted {
            status: "started".into(),
            script_name: run.selector.clone().unwrap_or_default(),
            timeout_seconds: runs::options_of(&run).timeout_seconds,
            run_id: run.id,
        }))
    }

    /// Cancel a script's run
    ///
    /// Terminates the running program's whole process group (SIGTERM, then SIGKILL after
    /// 5 s) and records the run `cancelled`; answers once it has ended. 404 when no run of
    /// the script is going.
    #[oai(
        path = "/api/scripts/:name/cancel",
        method = "post",
        operation_id = "cancel_script"
    )]
    async fn cancel(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        #[oai(validator(max_length = 512))] name: Path<String>,
    ) -> Result<Json<ScriptCancelled>> {
        let Caller(principal, _) = caller;
        let script = scripts::resolve(&state.paths, &name)?;
        let active = runs::active(&state.db).await?;
        let not_running = || {
            Error::not_found(format!("Script '{}' is not running", script.name))
                .with_code(code::SCRIPT_NOT_RUNNING)
        };
        let run = running_run(&script, &active).ok_or_else(not_running)?;
        let deps = crate::jobs::cancel::CancelDeps::of(&state);
        let ended = crate::jobs::cancel::cancel(deps, &run.id, &principal)
            .await
            .map_err(|err| {
                if err.code == code::JOB_NOT_RUNNING {
                    not_running()
                } else {
                    err
                }
            })?;
        Ok(Json(ScriptCancelled {
            status: ended.status.clone(),
            run: ScriptRun::of(&ended),
        }))
    }

    /// A script's runs
    #[oai(
        path = "/api/scripts/:name/history",
        method = "get",
        operation_id = "script_history"
    )]
    async fn history(
        &self,
        state: Data<&Arc<AppState>>,
        #[oai(validator(max_length = 512))] name: Path<String>,
        /// At most this many (1–200, default 30).
        #[oai(
            default = "thirty",
            validator(minimum(value = "1"), maximum(value = "200"))
        )]
        limit: Query<u64>,
        /// Runs to skip from the newest (at most 1,000,000).
        #[oai(default, validator(maximum(value = "1000000")))]
        offset: Query<u64>,
    ) -> Result<Json<ScriptHistory>> {
        let script = scripts::resolve(&state.paths, &name)?;
        let (page, total) = runs::of_script(&state.db, &script.name, limit.0, offset.0).await?;
        Ok(Json(ScriptHistory {
            script_name: script.name,
            items: page.iter().map(ScriptRun::of).collect(),
            total,
            limit: limit.0,
            offset: offset.0,
        }))
    }

    /// What a run printed
    ///
    /// The run and its stdout and stderr (so far, while it runs). Kept for runs of a
    /// script that no longer exists, too. 404 when the run is not one of this script.
    #[oai(
        path = "/api/scripts/:name/runs/:run_id",
        method = "get",
        operation_id = "script_run_log"
    )]
    async fn run_log(
        &self,
        state: Data<&Arc<AppState>>,
        #[oai(validator(max_length = 512))] name: Path<String>,
        #[oai(validator(max_length = 64))] run_id: Path<String>,
    ) -> Result<Json<ScriptRunLog>> {
        let not_found = || {
            Error::not_found(format!("Script '{}' has no run '{}'", name.0, run_id.0))
                .with_code(code::RUN_NOT_FOUND)
        };
        let run = runs::get(&state.db, &run_id)
            .await
            .map_err(|_| not_found())?;
        if RunKind::of(&run) != Some(RunKind::Script) || run.selector.as_deref() != Some(&name) {
            return Err(not_found());
        }
        let (stdout, stdout_truncated) = output::read(&state.paths, &run.id, Stream::Stdout);
        let (stderr, stderr_truncated) = output::read(&state.paths, &run.id, Stream::Stderr);
        Ok(Json(ScriptRunLog {
            run: ScriptRun::of(&run),
            stdout,
            stderr,
            stdout_truncated,
            stderr_truncated,
        }))
    }
}

/// The unfinished run of `script` among the active runs.
fn running_run<'a>(script: &Script, active: &'a [job_runs::Model]) -> Option<&'a job_runs::Model> {
    active.iter().find(|r| {
        RunKind::of(r) == Some(RunKind::Script) && r.selector.as_deref() == Some(&script.name)
    })
}

fn info(script: &Script, active: &[job_runs::Model], last: Option<&job_runs::Model>) -> ScriptInfo {
    ScriptInfo {
        name: script.name.clone(),
        path: format!("scripts/{}", script.name),
        launch: script.launch.as_str().to_string(),
        running: running_run(script, active).is_some(),
        last_run: last.map(ScriptRun::of),
    }
}

fn thirty() -> u64 {
    30
}
