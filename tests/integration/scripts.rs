//! Scripts of `scripts/`: a run executes the real program (python3 or an executable
//! file) in the project root with its own API key, keeps what it printed, ends `failed`
//! with its exit code, is stopped with its whole process group at its time limit or on
//! cancel, refuses names that leave `scripts/`, and runs from a schedule like any run.

use std::os::unix::fs::PermissionsExt;

use dango::auth::Role;
use dango::jobs::scheduler::{Outcome, tick};
use serde_json::Value;

use crate::common::{TestApp, error_body, json, new_year};

impl TestApp {
    /// Writes `scripts/{name}` with `body`, executable when `executable`.
    fn script(&self, name: &str, body: &str, executable: bool) {
        let file = self.root().join("scripts").join(name);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("scripts dir");
        std::fs::write(&file, body).expect("write script");
        let mode = if executable { 0o755 } else { 0o644 };
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    /// `client` runs script `name` (`query` added to the URL); the run that started.
    async fn run_script(&self, client: &reqwest::Client, name: &str, query: &str) -> Value {
        let path = format!("/api/scripts/{}/run{query}", urlencoding::encode(name));
        json(self.post(client, &path).await).await
    }

    /// What run `run_id` of script `name` printed, and the run.
    async fn script_log(&self, client: &reqwest::Client, name: &str, run_id: &str) -> Value {
        let path = format!("/api/scripts/{}/runs/{run_id}", urlencoding::encode(name));
        self.get_json(client, &path).await
    }
}

/// A process id the test can ask about: gone, or a zombie nobody reaped (in a container
/// the first process may not reap orphans).
fn process_is_gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

async fn wait_gone(pid: &str) -> bool {
    for _ in 0..100 {
        if process_is_gone(pid) {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

const REPORT: &str = r#"import json, os, sys, urllib.request
print("cwd=" + os.getcwd())
print("root=" + os.environ["DANGO_PROJECT_ROOT"])
print("run=" + os.environ["DANGO_SCRIPT_RUN_ID"])
request = urllib.request.Request(os.environ["DANGO_API_URL"] + "/api/auth/me",
    headers={"Authorization": "Bearer " + os.environ["DANGO_API_KEY"]})
me = json.load(urllib.request.urlopen(request))
print("role=" + me["role"] + " via " + me["auth_method"])
with open("key.txt", "w") as f:
    f.write(os.environ["DANGO_API_KEY"])
print("a warning", file=sys.stderr)
"#;

#[tokio::test]
async fn a_script_runs_in_the_project_keeps_its_output_and_calls_the_api_with_a_key_of_its_run() {
    let app = TestApp::start().await;
    app.script("reports/daily.py", REPORT, false);
    let editor = app.login_as(Role::Editor).await;

    let listed = app.get_json(&editor, "/api/scripts").await;
    assert_eq!(listed[0]["name"], "reports/daily.py", "{listed}");
    assert_eq!(listed[0]["launch"], "python");
    assert_eq!(listed[0]["running"], false);

    let started = app.run_script(&editor, "reports/daily.py", "").await;
    assert_eq!(started["status"], "started", "{started}");
    assert_eq!(started["timeout_seconds"], 300.0);
    let run_id = started["run_id"].as_str().expect("run id").to_string();
    let run = app.wait_run(&editor, &run_id).await;
    assert_eq!(run["status"], "success", "{run}");

    let log = app.script_log(&editor, "reports/daily.py", &run_id).await;
    let stdout = log["stdout"].as_str().unwrap_or_default();
    let root = app.root().display().to_string();
    assert!(stdout.contains(&format!("cwd={root}\n")), "{stdout}");
    assert!(stdout.contains(&format!("root={root}\n")), "{stdout}");
    assert!(stdout.contains(&format!("run={run_id}\n")), "{stdout}");
    assert!(stdout.contains("role=editor via run_key"), "{stdout}");
    assert_eq!(log["stderr"], "a warning\n");
    assert_eq!(log["run"]["exit_code"], 0);
    assert!(
        log["run"]["requested_by"]
            .as_str()
            .is_some_and(|by| by.starts_with("editor-")),
        "{log}"
    );

    // the key died with the run
    let key = std::fs::read_to_string(app.root().join("key.txt")).expect("key written");
    assert!(key.starts_with("dango_rk_"));
    let after = app.get_with_key(&key, "/api/sources").await;
    error_body(after, 401).await;

    let detail = app
        .get_json(&editor, "/api/scripts/reports%2Fdaily.py")
        .await;
    assert_eq!(detail["last_run"]["status"], "success", "{detail}");
    assert_eq!(detail["recent_runs"].as_array().map(Vec::len), Some(1));
    let history = app
        .get_json(&editor, "/api/scripts/reports%2Fdaily.py/history?limit=5")
        .await;
    assert_eq!(history["total"], 1, "{history}");

    let admin = app.login_as(Role::Admin).await;
    let audit = app.get_json(&admin, "/api/audit?event=script_run").await;
    let recorded = audit["events"].as_array().cloned().unwrap_or_default();
    assert!(
        recorded
            .iter()
            .any(|e| e["details"]["run_id"] == run_id.as_str()
                && e["details"]["script_name"] == "reports/daily.py"),
        "{audit}"
    );
    // a viewer sees scripts but may not run them
    let viewer = app.login_as(Role::Viewer).await;
    app.get_json(&viewer, "/api/scripts").await;
    let refused = app
        .post(&viewer, "/api/scripts/reports%2Fdaily.py/run")
        .await;
    error_body(refused, 403).await;
}

#[tokio::test]
async fn a_failing_script_is_recorded_failed_with_its_exit_code_and_last_error_line() {
    let app = TestApp::start().await;
    app.script(
        "load.sh",
        "#!/bin/sh\necho working\necho 'reading orders' >&2\necho 'no rows in orders.csv' >&2\nexit 3\n",
        true,
    );
    app.script(
        "chatty.sh",
        "#!/bin/sh\nhead -c 3000000 /dev/zero | tr '\\0' x\n",
        true,
    );
    let editor = app.login_as(Role::Editor).await;
    let started = app.run_script(&editor, "load.sh", "").await;
    let run_id = started["run_id"].as_str().expect("run id");
    let run = app.wait_run(&editor, run_id).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["error"], "Exit code 3: no rows in orders.csv");
    let log = app.script_log(&editor, "load.sh", run_id).await;
    assert_eq!(log["run"]["exit_code"], 3);
    assert_eq!(log["stdout"], "working\n");

    // output past a mebibyte is cut and marked; the program is not blocked by it
    let started = app.run_script(&editor, "chatty.sh", "").await;
    let run_id = started["run_id"].as_str().expect("run id");
    assert_eq!(app.wait_run(&editor, run_id).await["status"], "success");
    let log = app.script_log(&editor, "chatty.sh", run_id).await;
    assert_eq!(log["stdout_truncated"], true);
    let stdout = log["stdout"].as_str().unwrap_or_default();
    assert!(stdout.ends_with("[TRUNCATED at 1MB]\n"));
    assert!(stdout.len() < 1024 * 1024 + 100, "{}", stdout.len());
}

#[tokio::test]
async fn a_script_past_its_time_limit_is_stopped_with_every_process_it_started() {
    let app = TestApp::start().await;
    // ignores SIGTERM (so it is killed after the grace period) and leaves a child behind
    app.script(
        "stubborn.sh",
        "#!/bin/sh\ntrap '' TERM\nsleep 300 &\necho $! > child.pid\necho started\nwait\n",
        true,
    );
    let editor = app.login_as(Role::Editor).await;
    let started = app
        .run_script(&editor, "stubborn.sh", "?timeout_seconds=1")
        .await;
    let run_id = started["run_id"].as_str().expect("run id");
    let run = app.wait_run(&editor, run_id).await;
    assert_eq!(run["status"], "timeout", "{run}");
    assert!(
        run["error"]
            .as_str()
            .is_some_and(|e| e.contains("time limit of 1 s")),
        "{run}"
    );
    let child = std::fs::read_to_string(app.root().join("child.pid")).expect("child pid");
    assert!(wait_gone(child.trim()).await, "the script's child survived");
    let log = app.script_log(&editor, "stubborn.sh", run_id).await;
    assert_eq!(log["stdout"], "started\n");
}

#[tokio::test]
async fn a_running_script_runs_once_at_a_time_and_can_be_cancelled() {
    let app = TestApp::start().await;
    app.script(
        "long.sh",
        "#!/bin/sh\nsleep 300 &\necho $! > long.pid\necho going\nwait\n",
        true,
    );
    let editor = app.login_as(Role::Editor).await;
    let started = app.run_script(&editor, "long.sh", "").await;
    let run_id = started["run_id"].as_str().expect("run id").to_string();
    app.wait_status(&editor, &run_id, "running").await;
    let pid_file = app.root().join("long.pid");
    for _ in 0..100 {
        if pid_file.exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let again = app.post(&editor, "/api/scripts/long.sh/run").await;
    let body = error_body(again, 409).await;
    assert_eq!(body["code"], "DANGO-SC003", "{body}");
    let listed = app.get_json(&editor, "/api/scripts").await;
    assert_eq!(listed[0]["running"], true, "{listed}");

    let viewer = app.login_as(Role::Viewer).await;
    error_body(app.post(&viewer, "/api/scripts/long.sh/cancel").await, 403).await;

    let cancelled = json(app.post(&editor, "/api/scripts/long.sh/cancel").await).await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert!(
        cancelled["run"]["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("Cancelled by editor-")),
        "{cancelled}"
    );
    let child = std::fs::read_to_string(&pid_file).expect("child pid");
    assert!(wait_gone(child.trim()).await, "the script's child survived");

    let not_running = app.post(&editor, "/api/scripts/long.sh/cancel").await;
    let body = error_body(not_running, 404).await;
    assert_eq!(body["code"], "DANGO-SC005", "{body}");
}

#[tokio::test]
async fn names_that_leave_scripts_are_refused_and_nothing_runs() {
    let app = TestApp::start().await;
    app.script("ok.sh", "#!/bin/sh\necho ok\n", true);
    let outside = app.root().join("outside.sh");
    std::fs::write(&outside, "#!/bin/sh\ntouch escaped\n").expect("write");
    std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::os::unix::fs::symlink(&outside, app.root().join("scripts/link.sh")).expect("symlink");
    let editor = app.login_as(Role::Editor).await;

    for escape in [
        "..%2Foutside.sh",
        "%2Fbin%2Fsh",
        "sub%2F..%2F..%2Foutside.sh",
        "link.sh",
    ] {
        let refused = app
            .post(&editor, &format!("/api/scripts/{escape}/run"))
            .await;
        let body = error_body(refused, 400).await;
        assert_eq!(body["code"], "DANGO-SC001", "{escape}: {body}");
    }
    for missing in ["nope.sh", "_helper.sh"] {
        let refused = app
            .post(&editor, &format!("/api/scripts/{missing}/run"))
            .await;
        let body = error_body(refused, 404).await;
        assert_eq!(body["code"], "DANGO-SC002", "{missing}: {body}");
    }
    let missing_log = app.get(&editor, "/api/scripts/ok.sh/runs/nope").await;
    error_body(missing_log, 404).await;
    assert!(!app.root().join("escaped").exists());
    let runs = dango::runs::recent(app.db(), 10).await.expect("runs");
    assert!(runs.is_empty(), "nothing was recorded: {runs:?}");
    let listed = app.get_json(&editor, "/api/scripts").await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
}

#[tokio::test]
async fn a_script_schedule_runs_its_script_as_a_run_of_the_schedule() {
    let app = TestApp::start().await;
    app.script(
        "hello.sh",
        "#!/bin/sh\necho hello from $DANGO_SCRIPT_NAME\n",
        true,
    );
    std::fs::write(
        app.root().join(".dango/schedules.yml"),
        "schedules:\n- {name: nightly, type: script, cron: '0 0 1 1 *', script_path: hello.sh, timeout_minutes: 2}\n- {name: broken, type: script, cron: '0 6 * * *', script_path: gone.py}\n",
    )
    .expect("schedules");
    let state = app.server.state.clone();
    let mut memory =
        crate::common::scheduler_seeing(&state, new_year() - chrono::Duration::seconds(5)).await;
    let outcomes = tick(&state, &mut memory, new_year()).await;
    let run_id = match outcomes.as_slice() {
        [Outcome::Started { run_id, .. }] => run_id.clone(),
        other => panic!("expected the script to start: {other:?}"),
    };
    let editor = app.login_as(Role::Editor).await;
    let run = app.wait_run(&editor, &run_id).await;
    assert_eq!(run["status"], "success", "{run}");
    let history = app.get_json(&editor, "/api/scripts/hello.sh/history").await;
    let item = &history["items"][0];
    assert_eq!(item["schedule"], "nightly", "{history}");
    assert_eq!(item["trigger"], "schedule");
    assert_eq!(item["timeout_seconds"], 120.0);
    let log = app.script_log(&editor, "hello.sh", &run_id).await;
    assert_eq!(log["stdout"], "hello from hello.sh\n");
    let schedule = app.get_json(&editor, "/api/schedules/nightly").await;
    assert_eq!(schedule["last_run"]["status"], "success", "{schedule}");
    assert_eq!(schedule["warnings"], serde_json::json!([]));
    let broken = app.get_json(&editor, "/api/schedules/broken").await;
    let warnings = broken["warnings"].to_string();
    assert!(
        warnings.contains("script_path: Script 'gone.py' not found"),
        "{broken}"
    );
}
