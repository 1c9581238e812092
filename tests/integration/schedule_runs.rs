//! What happens to a scheduled run once it is going: a run past its time limit is
//! stopped in the middle of a DuckDB statement and recorded `timeout`; a running job
//! can be cancelled (recorded `cancelled`, the worker free at once); a failed run is
//! tried again after each configured delay and then given up. The scheduler's clock is
//! the test's (`tick(.., now)`); runs really execute.

use chrono::Duration;
use dango::auth::Role;
use dango::jobs::scheduler::{Outcome, tick};
use dango::schedules::Memory;
use serde_json::Value;

use crate::common::{TestApp, error_body, json, new_year};

/// A model that would take minutes: a cross join of a billion rows with a thousand.
const SLOW_MODEL: &str = "{{ config(materialized='table') }}\nselect sum(a.range * b.range) as total from range(1000000000) a, range(1000) b\n";

fn project(app: &TestApp, schedules: &str, models: &[(&str, &str)]) {
    app.csv_source_with("orders", "id,amount\n1,2.5\n");
    for (name, sql) in models {
        std::fs::write(app.root().join(format!("dbt/models/{name}.sql")), sql)
            .expect("write model");
    }
    std::fs::write(app.root().join(".dango/schedules.yml"), schedules).expect("write schedules");
}

fn started(outcomes: &[Outcome]) -> (String, u32) {
    match outcomes {
        [
            Outcome::Started {
                run_id, attempt, ..
            },
        ] => (run_id.clone(), *attempt),
        other => panic!("expected one run to start: {other:?}"),
    }
}

async fn relation_exists(app: &TestApp, name: &str) -> bool {
    let found = app
        .query(&format!(
            "select count(*) from information_schema.tables where table_name = '{name}'"
        ))
        .await;
    found.first().map(String::as_str) != Some("0")
}

#[tokio::test]
async fn a_scheduled_run_past_its_time_limit_is_stopped_mid_statement_and_recorded_timeout() {
    let app = TestApp::start().await;
    project(
        &app,
        "schedules:\n- {name: slow, type: dbt, cron: '0 0 1 1 *', dbt_command: slow, timeout_minutes: 0.02}\n",
        &[("slow", SLOW_MODEL)],
    );
    let state = app.server.state.clone();
    let mut memory =
        crate::common::scheduler_seeing(&state, new_year() - chrono::Duration::seconds(5)).await;
    let (run_id, attempt) = started(&tick(&state, &mut memory, new_year()).await);
    assert_eq!(attempt, 1);

    let editor = app.login_as(Role::Editor).await;
    let run = app.wait_run(&editor, &run_id).await;
    assert_eq!(run["status"], "timeout", "{run}");
    let error = run["error"].as_str().unwrap_or_default();
    assert!(error.contains("time limit of 1.2 s"), "{error}");
    assert!(!relation_exists(&app, "slow").await, "nothing half-built");

    // the worker and the warehouse's writer are free again: the next sync runs
    let next = app.sync(&editor, "orders", serde_json::json!({})).await;
    assert_eq!(next["status"], "success", "{next}");

    // a timed-out run is not retried (it would most likely run out of time again)
    let later = new_year() + Duration::minutes(10);
    assert!(tick(&state, &mut memory, later).await.is_empty());
    let history = app
        .get_json(&editor, "/api/schedules/slow/history?status=timeout")
        .await;
    assert_eq!(history["total"], 1, "{history}");
}

#[tokio::test]
async fn an_admin_cancels_a_running_job_and_the_worker_is_free_at_once() {
    let app = TestApp::start().await;
    project(
        &app,
        "schedules:\n- {name: slow, type: dbt, cron: '0 0 1 1 *', dbt_command: slow}\n",
        &[("slow", SLOW_MODEL)],
    );
    let editor = app.login_as(Role::Editor).await;
    let triggered = json(app.post(&editor, "/api/schedules/slow/trigger").await).await;
    let run_id = triggered["run_id"].as_str().unwrap().to_string();
    app.wait_status(&editor, &run_id, "running").await;

    // cancelling takes scheduler.manage: an editor may run schedules, not stop them
    let cancel = format!("/api/schedules/jobs/{run_id}/cancel");
    let refused = app.post(&editor, &cancel).await;
    assert_eq!(refused.status(), 403);

    let admin = app.login_as(Role::Admin).await;
    let cancelled = json(app.post(&admin, &cancel).await).await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert_eq!(cancelled["job_id"], run_id.as_str());
    let run = app.wait_run(&admin, &run_id).await;
    assert_eq!(run["status"], "cancelled");
    let error = run["error"].as_str().unwrap_or_default();
    assert!(error.starts_with("Cancelled by "), "{error}");
    assert!(!relation_exists(&app, "slow").await);

    // once it has ended there is nothing to cancel
    let again = error_body(app.post(&admin, &cancel).await, 404).await;
    assert_eq!(again["code"], "DANGO-SYNC-004", "{again}");
    let unknown = app
        .post(&admin, "/api/schedules/jobs/no-such-run/cancel")
        .await;
    assert_eq!(unknown.status(), 404);

    let audit = app.get_json(&admin, "/api/audit?event=job_cancelled").await;
    assert_eq!(audit["total"], 1, "{audit}");
    let history = app
        .get_json(&admin, "/api/schedules/slow/history?status=cancelled")
        .await;
    assert_eq!(history["total"], 1, "{history}");

    let next = app.sync(&admin, "orders", serde_json::json!({})).await;
    assert_eq!(next["status"], "success", "{next}");
}

#[tokio::test]
async fn a_failed_scheduled_run_is_tried_again_after_each_delay_then_given_up() {
    let app = TestApp::start().await;
    project(
        &app,
        "schedules:\n- {name: flaky, type: dbt, cron: '0 0 1 1 *', dbt_command: broken, retry_delays_seconds: [30, 120]}\n",
        &[("broken", "select * from a_table_that_is_not_there\n")],
    );
    let state = app.server.state.clone();
    let editor = app.login_as(Role::Editor).await;
    let mut memory =
        crate::common::scheduler_seeing(&state, new_year() - chrono::Duration::seconds(5)).await;
    let mut now = new_year();

    let (first, attempt) = started(&tick(&state, &mut memory, now).await);
    assert_eq!(attempt, 1);
    assert_eq!(app.wait_run(&editor, &first).await["status"], "failed");

    // the tick that sees the failure plans the retry 30 s later
    now += Duration::seconds(10);
    assert!(tick(&state, &mut memory, now).await.is_empty());
    assert!(
        tick(&state, &mut memory, now + Duration::seconds(29))
            .await
            .is_empty()
    );
    now += Duration::seconds(30);
    let (second, attempt) = started(&tick(&state, &mut memory, now).await);
    assert_eq!(attempt, 2);
    assert_eq!(app.wait_run(&editor, &second).await["status"], "failed");

    // then 2 minutes later, the last try; a restart in between (the old scheduler's lease
    // long run out) keeps the plan: it is derived from the runs
    now += Duration::seconds(10);
    assert!(tick(&state, &mut memory, now).await.is_empty());
    drop(memory);
    let mut restarted = Memory::default();
    now += Duration::seconds(120);
    let (third, attempt) = started(&tick(&state, &mut restarted, now).await);
    assert_eq!(attempt, 3);
    assert_eq!(app.wait_run(&editor, &third).await["status"], "failed");

    // retries used up: nothing more until the next firing
    for _ in 0..3 {
        now += Duration::minutes(10);
        assert!(tick(&state, &mut restarted, now).await.is_empty());
    }
    let history = app.get_json(&editor, "/api/schedules/flaky/history").await;
    let attempts: Vec<&Value> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| &item["attempt"])
        .collect();
    assert_eq!(attempts, [3, 2, 1], "{history}");
    let logs = app.get_json(&editor, "/api/logs?q=trying%20again").await;
    assert_eq!(logs.as_array().unwrap().len(), 2, "{logs}");
}
