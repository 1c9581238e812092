//! Executing a script run: the program started in its own process group with the
//! project root as its working directory, told where it is and how to call the API (a
//! run key that dies with the run), its output kept; stopped (cancel, time limit) by
//! terminating the whole group, then killing what is left after a grace period.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use dango_entity::job_runs;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use super::RunContext;
use crate::activity::{self, Level};
use crate::error::code;
use crate::events::{Event, ScriptFinishedEvent, ScriptStartedEvent};
use crate::runs::{self, RunStatus};
use crate::scripts::output::{self, Stream};
use crate::scripts::{self, Launch, Script};
use crate::{Error, ErrorKind, Result};

/// How long a stopped script has to exit after SIGTERM before its group is killed.
const GRACE: Duration = Duration::from_secs(5);
/// How long the output is still read once the program is gone (a process that left the
/// group may hold the pipes open).
const DRAIN: Duration = Duration::from_secs(2);

/// Runs the script of `run` to its end; a non-zero exit is an error naming the code and
/// the last line the program wrote to stderr.
pub async fn run(ctx: &RunContext<'_>, run: &job_runs::Model) -> Result<u64> {
    let name = run.selector.clone().unwrap_or_default();
    // The file may have changed or gone since the run was requested.
    let script = scripts::resolve(ctx.paths, &name)?;
    let dir = output::run_dir(ctx.paths, &run.id);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| Error::internal(anyhow::anyhow!("creating {}: {e}", dir.display())))?;
    let key = ctx.run_keys.issue(&run.id, &script.name);
    let mut command = command_for(&script, ctx.paths.root.as_path());
    command
        .env("DANGO_SCRIPT_RUN_ID", &run.id)
        .env("DANGO_API_KEY", &key.token);
    if let Some(url) = &ctx.local_url {
        command.env("DANGO_API_URL", url);
    }
    let started = Instant::now();
    let mut child = command.spawn().map_err(|err| {
        let what = match script.launch {
            Launch::Python => format!("python3 {}", script.name),
            Launch::Executable => script.name.clone(),
        };
        Error::new(
            ErrorKind::Unprocessable,
            format!("Could not start {what}: {err}"),
        )
        .with_code(code::SCRIPT_LAUNCH_FAILED)
    })?;
    let group = child
        .id()
        .and_then(|pid| i32::try_from(pid).ok())
        .map(Pid::from_raw);
    let source = format!("script:{}", script.name);
    runs::set_phase(ctx.db, &run.id, "running", Some("Running")).await?;
    ctx.events.publish(
        Event::new(ScriptStartedEvent {
            script: script.name.clone(),
        })
        .run(&run.id),
    );
    activity::record(
        ctx.db,
        Level::Info,
        Some(&source),
        &format!("Script {} started (run {})", script.name, run.id),
    )
    .await;

    let captures = [
        (child.stdout.take().map(boxed), Stream::Stdout),
        (child.stderr.take().map(boxed), Stream::Stderr),
    ]
    .map(|(pipe, stream)| {
        let to = output::file(ctx.paths, &run.id, stream);
        tokio::spawn(async move {
            match pipe {
                Some(pipe) => output::capture(pipe, &to).await.map(|_| ()),
                None => Ok(()),
            }
        })
    });
    let exit = tokio::select! {
        status = child.wait() => status,
        _ = ctx.control.stopped() => terminate(&mut child, group).await,
    };
    // Whatever the program left running in its group goes with it.
    if let Some(group) = group {
        let _ = killpg(group, Signal::SIGKILL);
    }
    for capture in captures {
        let abort = capture.abort_handle();
        match tokio::time::timeout(DRAIN, capture).await {
            Ok(Ok(Err(err))) => tracing::warn!("script {} output not kept: {err}", script.name),
            Ok(_) => {}
            Err(_) => abort.abort(),
        }
    }
    drop(key);

    let exit_code = exit.as_ref().ok().and_then(ExitStatus::code);
    if let Some(exit_code) = exit_code {
        runs::record_exit_code(ctx.db, &run.id, exit_code).await?;
    }
    let failure = match (&exit, ctx.control.reason()) {
        (_, Some(_)) => None,
        (Ok(status), None) if status.success() => None,
        (Ok(status), None) => Some(failure_message(status, ctx, &run.id)),
        (Err(err), None) => Some(format!("Could not wait for the script: {err}")),
    };
    let (status, message) = match (ctx.control.reason(), &failure) {
        (Some(reason), _) => (reason.status(), reason.message()),
        (None, Some(failure)) => (RunStatus::Failed, failure.clone()),
        (None, None) => (RunStatus::Success, "Exit code 0".to_string()),
    };
    let seconds = (started.elapsed().as_secs_f64() * 10.0).round() / 10.0;
    ctx.events.publish(
        Event::new(ScriptFinishedEvent {
            script: script.name.clone(),
            status: status.as_str().to_string(),
            exit_code,
            duration_seconds: seconds,
            message: message.clone(),
        })
        .run(&run.id),
    );
    let level = if status == RunStatus::Success {
        Level::Info
    } else {
        Level::Error
    };
    activity::record(
        ctx.db,
        level,
        Some(&source),
        &format!(
            "Script {} {}: {message} ({seconds} s)",
            script.name,
            status.as_str()
        ),
    )
    .await;
    match failure {
        Some(failure) => Err(Error::new(ErrorKind::Unprocessable, failure)),
        None => Ok(0),
    }
}

fn boxed(pipe: impl tokio::io::AsyncRead + Unpin + Send + 'static) -> output::Pipe {
    Box::new(pipe)
}

/// The program's command: `python3 <file>` or the file itself, in its own process group,
/// the project root its working directory.
fn command_for(script: &Script, root: &Path) -> Command {
    let mut command = match script.launch {
        Launch::Python => {
            let mut command = Command::new("python3");
            command.arg(&script.file);
            command
        }
        Launch::Executable => Command::new(&script.file),
    };
    command
        .current_dir(root)
        .env("DANGO_PROJECT_ROOT", root)
        .env("DANGO_SCRIPT_NAME", &script.name)
        // Python writes as it goes, so a running script's log shows its output.
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    command
}

/// SIGTERM to the whole group, SIGKILL after [`GRACE`].
async fn terminate(child: &mut Child, group: Option<Pid>) -> std::io::Result<ExitStatus> {
    if let Some(group) = group {
        let _ = killpg(group, Signal::SIGTERM);
    }
    match tokio::time::timeout(GRACE, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            if let Some(group) = group {
                let _ = killpg(group, Signal::SIGKILL);
            }
            child.kill().await?;
            child.wait().await
        }
    }
}

/// "Exit code 3: ValueError: no rows" — the code and the last line of stderr.
fn failure_message(status: &ExitStatus, ctx: &RunContext<'_>, run_id: &str) -> String {
    use std::os::unix::process::ExitStatusExt;
    let what = match (status.code(), status.signal()) {
        (Some(code), _) => format!("Exit code {code}"),
        (None, Some(signal)) => format!("Killed by signal {signal}"),
        (None, None) => "Ended abnormally".to_string(),
    };
    let (stderr, _) = output::read(ctx.paths, run_id, Stream::Stderr);
    let last = stderr
        .trim_end_matches(output::TRUNCATED_MARK)
        .lines()
        .rev()
        .map(str::trim)
        .find(|line| !line.is_empty());
    match last {
        Some(line) => format!("{what}: {}", line.chars().take(300).collect::<String>()),
        None => what,
    }
}
