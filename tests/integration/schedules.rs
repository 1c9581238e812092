//! Schedules as `.dango/schedules.yml` defines them: listed with their timing in words
//! and their next firing, previewed in their own time zone, the sources no schedule
//! covers, and the schedule label on each source. A file that does not validate is
//! named precisely and does not take the source list down with it.

use chrono::{DateTime, Utc};
use dango::auth::Role;
use serde_json::{Value, json};

use crate::common::{TestApp, error_body, instant};

const SOURCES: &str = "  - name: orders\n    type: csv\n    csv: {directory: data/uploads/orders}\n  - name: archive\n    type: csv\n    csv: {directory: data/uploads/archive}\n";

const SCHEDULES: &str = "schedules:
- name: nightly
  cron: daily
  timezone: Europe/Berlin
  sources: [orders]
- name: quarter_hourly
  type: sync_only
  cron: '*/15 * * * *'
  sources: [orders]
  enabled: false
- name: models
  type: dbt
  cron: '0 */6 * * *'
  dbt_command: 'tag:daily'
";

fn at(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .expect("a timestamp")
        .parse()
        .expect("RFC 3339")
}

fn write_schedules(app: &TestApp, text: &str) {
    std::fs::write(app.root().join(".dango/schedules.yml"), text).expect("write schedules.yml");
}

#[tokio::test]
async fn schedules_are_listed_with_their_timing_and_next_firing() {
    let app = TestApp::start().await;
    app.write_sources(SOURCES);
    write_schedules(&app, SCHEDULES);
    let viewer = app.login_as(Role::Viewer).await;

    let list = app.get_json(&viewer, "/api/schedules").await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 3);
    let nightly = &list[0];
    assert_eq!(nightly["name"], "nightly");
    assert_eq!(nightly["type"], "sync");
    assert_eq!(nightly["cron"], "0 6 * * *", "the preset is resolved");
    assert_eq!(nightly["cron_label"], "Daily at 6 AM");
    assert_eq!(nightly["timezone"], "Europe/Berlin");
    assert_eq!(nightly["timeout_minutes"], 60.0);
    assert_eq!(nightly["retry_delays_seconds"], json!([30, 120, 300]));
    let next = at(&nightly["next_run_time"]);
    assert!(
        next > Utc::now() && next < Utc::now() + chrono::Duration::hours(25),
        "{next}"
    );
    let berlin: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
    assert_eq!(
        next.with_timezone(&berlin).format("%H:%M").to_string(),
        "06:00"
    );
    assert_eq!(list[1]["enabled"], false);
    assert_eq!(
        list[1]["next_run_time"],
        Value::Null,
        "a disabled schedule does not fire"
    );
    assert_eq!(list[2]["dbt_command"], "tag:daily");
    assert_eq!(nightly["warnings"], serde_json::json!([]));

    let one = app.get_json(&viewer, "/api/schedules/models").await;
    assert_eq!(one["cron_label"], "Every 6 hours");
    let preview = app
        .get_json(&viewer, "/api/schedules/nightly/preview?count=3")
        .await;
    let times: Vec<DateTime<Utc>> = preview["fire_times"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| at(&t["at"]))
        .collect();
    assert_eq!(times.len(), 3);
    assert!(
        times
            .windows(2)
            .all(|w| w[1] - w[0] >= chrono::Duration::hours(23)),
        "{times:?}"
    );
    let local = preview["fire_times"][0]["local"].as_str().unwrap();
    assert!(
        local.contains("T06:00:00+0"),
        "the schedule's own clock: {local}"
    );

    let unscheduled = app.get_json(&viewer, "/api/sources/unscheduled").await;
    assert_eq!(unscheduled["sources"], serde_json::json!(["archive"]));
    let sources = app.get_json(&viewer, "/api/sources").await;
    let orders = sources
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "orders")
        .unwrap();
    assert_eq!(
        orders["schedule_display"], "Daily at 6 AM",
        "the disabled schedule does not count"
    );
    assert_eq!(orders["has_schedule"], true);
    let archive = sources
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "archive")
        .unwrap();
    assert_eq!(archive["has_schedule"], false);

    let missing = app.get(&viewer, "/api/schedules/nope").await;
    assert_eq!(
        error_body(missing, 404).await["detail"],
        "Schedule 'nope' not found"
    );
}

#[tokio::test]
async fn a_schedule_of_an_unknown_source_is_flagged() {
    let app = TestApp::start().await;
    app.write_sources(SOURCES);
    write_schedules(
        &app,
        "schedules:\n- {name: typo, cron: daily, sources: [ordrs]}\n",
    );
    let viewer = app.login_as(Role::Viewer).await;
    let one = app.get_json(&viewer, "/api/schedules/typo").await;
    let warning = one["warnings"][0].as_str().unwrap();
    assert!(warning.contains("'ordrs' is not configured"), "{warning}");
}

#[tokio::test]
async fn a_broken_schedules_file_is_named_precisely_and_sources_still_list() {
    let app = TestApp::start().await;
    app.write_sources(SOURCES);
    write_schedules(
        &app,
        "schedules:\n- {name: nightly, cron: '0 25 * * *', sources: [orders]}\n",
    );
    let viewer = app.login_as(Role::Viewer).await;
    let refused = app.get(&viewer, "/api/schedules").await;
    let detail = error_body(refused, 400).await["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        detail.contains("schedules.yml")
            && detail.contains("schedules[0] ('nightly'): cron: hour: 25"),
        "{detail}"
    );
    let sources = app.get_json(&viewer, "/api/sources").await;
    assert_eq!(sources.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn without_a_schedules_file_nothing_is_scheduled() {
    let app = TestApp::start().await;
    app.write_sources(SOURCES);
    let viewer = app.login_as(Role::Viewer).await;
    assert_eq!(
        app.get_json(&viewer, "/api/schedules").await,
        serde_json::json!([])
    );
    let unscheduled = app.get_json(&viewer, "/api/sources/unscheduled").await;
    assert_eq!(
        unscheduled["sources"],
        serde_json::json!(["archive", "orders"])
    );
}

/// A csv source `orders` with one file, and `schedules` as the schedules file.
fn scheduled_project(app: &TestApp, schedules: &str) {
    app.csv_source_with("orders", "id,amount\n1,2.5\n");
    write_schedules(app, schedules);
}

/// Once a year, at a time the real clock of the test does not reach: only the ticks of
/// the test fire it.
const YEARLY: &str = "schedules:\n- {name: yearly, cron: '0 0 1 1 *', sources: [orders]}\n";

#[tokio::test]
async fn a_due_schedule_fires_once_and_its_run_is_an_ordinary_run() {
    use dango::jobs::scheduler::{Outcome, tick};
    let app = TestApp::start().await;
    scheduled_project(&app, YEARLY);
    let state = app.server.state.clone();
    // before its time nothing happens; at its time it fires, once
    let before = instant("2027-01-01T00:00:00Z") - chrono::Duration::seconds(5);
    let mut memory = crate::common::scheduler_seeing(&state, before).await;
    let fired = tick(&state, &mut memory, instant("2027-01-01T00:00:04Z")).await;
    let [
        Outcome::Started {
            schedule, run_id, ..
        },
    ] = fired.as_slice()
    else {
        panic!("one run: {fired:?}");
    };
    assert_eq!(schedule, "yearly");
    assert!(
        tick(&state, &mut memory, instant("2027-01-01T00:00:14Z"))
            .await
            .is_empty(),
        "not twice"
    );

    let editor = app.login_as(Role::Editor).await;
    let run = app.wait_run(&editor, run_id).await;
    assert_eq!(run["status"], "success", "{run}");
    assert_eq!(run["trigger"], "schedule");
    assert_eq!(app.count("raw_orders.orders").await, 1);
    let listed = app.get_json(&editor, "/api/schedules/yearly").await;
    assert_eq!(listed["last_run"]["run_id"], run_id.as_str());
    assert_eq!(listed["last_run"]["trigger"], "schedule");
    assert_eq!(listed["last_run"]["status"], "success");
}

#[tokio::test]
async fn after_downtime_missed_firings_run_once_unless_past_their_grace() {
    use dango::jobs::scheduler::{Outcome, tick};
    use dango::schedules::Memory;
    let app = TestApp::start().await;
    scheduled_project(&app, YEARLY);
    let state = app.server.state.clone();
    let editor = app.login_as(Role::Editor).await;
    let mut memory = crate::common::scheduler_seeing(&state, instant("2026-12-31T23:59:55Z")).await;
    let first = tick(&state, &mut memory, instant("2027-01-01T00:00:01Z")).await;
    let [Outcome::Started { run_id, .. }] = first.as_slice() else {
        panic!("{first:?}")
    };
    app.wait_run(&editor, run_id).await;

    // down for years: a fresh scheduler (a restart) fires the missed firings once
    let mut restarted = Memory::default();
    let caught_up = tick(&state, &mut restarted, instant("2030-06-01T12:00:00Z")).await;
    assert!(
        matches!(caught_up.as_slice(), [Outcome::Started { .. }]),
        "{caught_up:?}"
    );
    if let [Outcome::Started { run_id, .. }] = caught_up.as_slice() {
        app.wait_run(&editor, run_id).await;
    }
    assert!(
        tick(&state, &mut restarted, instant("2030-06-01T12:00:10Z"))
            .await
            .is_empty(),
        "coalesced into one"
    );

    // with a grace of a minute, a firing missed by more is skipped and said so
    write_schedules(
        &app,
        "schedules:\n- {name: yearly, cron: '0 0 1 1 *', sources: [orders], misfire_grace_time: 60}\n",
    );
    let mut again = Memory::default();
    let late = tick(&state, &mut again, instant("2031-01-01T00:05:00Z")).await;
    let [Outcome::Skipped { reason, .. }] = late.as_slice() else {
        panic!("{late:?}")
    };
    assert!(reason.contains("misfire_grace_time"), "{reason}");
    let logs = app
        .get_json(&editor, "/api/logs?q=misfire_grace_time")
        .await;
    assert_eq!(logs.as_array().unwrap().len(), 1, "{logs}");
}

#[tokio::test]
async fn a_disabled_schedule_does_not_fire_and_an_edit_plans_from_now() {
    use dango::jobs::scheduler::tick;
    use dango::schedules::Memory;
    let app = TestApp::start().await;
    scheduled_project(
        &app,
        "schedules:\n- {name: yearly, cron: '0 0 1 1 *', sources: [orders], enabled: false}\n",
    );
    let state = app.server.state.clone();
    let mut memory = Memory::default();
    assert!(
        tick(&state, &mut memory, instant("2027-01-01T00:00:01Z"))
            .await
            .is_empty()
    );
    // enabled and moved to the 2nd: nothing fires at once, then on the 2nd it does
    write_schedules(
        &app,
        "schedules:\n- {name: yearly, cron: '0 0 2 1 *', sources: [orders]}\n",
    );
    assert!(
        tick(&state, &mut memory, instant("2027-01-01T00:00:11Z"))
            .await
            .is_empty()
    );
    assert_eq!(
        tick(&state, &mut memory, instant("2027-01-02T00:00:05Z"))
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn run_now_starts_the_schedules_run_for_whoever_may_sync() {
    let app = TestApp::start().await;
    scheduled_project(&app, YEARLY);
    let viewer = app.login_as(Role::Viewer).await;
    let refused = app.post(&viewer, "/api/schedules/yearly/trigger").await;
    assert_eq!(refused.status(), 403);
    let editor = app.login_as(Role::Editor).await;
    let started =
        crate::common::json(app.post(&editor, "/api/schedules/yearly/trigger").await).await;
    assert_eq!(started["status"], "triggered");
    let run = app
        .wait_run(&editor, started["run_id"].as_str().unwrap())
        .await;
    assert_eq!(run["status"], "success", "{run}");
    let listed = app.get_json(&editor, "/api/schedules").await;
    assert_eq!(listed[0]["last_run"]["run_id"], started["run_id"]);
    assert_eq!(listed[0]["last_run"]["trigger"], "ui");
    let missing = app.post(&editor, "/api/schedules/nope/trigger").await;
    assert_eq!(missing.status(), 404);

    // the history lists it, and filters
    let history = app.get_json(&editor, "/api/schedules/yearly/history").await;
    assert_eq!(history["total"], 1, "{history}");
    assert_eq!(history["items"][0]["run_id"], started["run_id"]);
    assert_eq!(
        history["items"][0]["sources"],
        serde_json::json!(["orders"])
    );
    let failed = app
        .get_json(&editor, "/api/schedules/yearly/history?status=failed")
        .await;
    assert_eq!(failed["total"], 0);
    let later = app
        .get_json(
            &editor,
            "/api/schedules/yearly/history?since=2999-01-01T00:00:00Z",
        )
        .await;
    assert_eq!(later["items"], serde_json::json!([]));
    let recent = app.get_json(&editor, "/api/schedules/history/recent").await;
    assert_eq!(recent[0]["schedule_name"], "yearly");
    let refused = app
        .get(&editor, "/api/schedules/yearly/history?status=bogus")
        .await;
    assert_eq!(refused.status(), 400);
}

#[tokio::test]
async fn a_scheduled_source_not_synced_for_twice_its_interval_is_stale() {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    let app = TestApp::start().await;
    let editor = app.login_as(Role::Editor).await;
    app.synced_csv_source(&editor, "orders", "id\n1\n").await;
    write_schedules(
        &app,
        "schedules:\n- {name: quarter_hourly, cron: every_15m, sources: [orders]}\n",
    );
    let sources = app.get_json(&editor, "/api/sources").await;
    assert_eq!(sources[0]["status"], "synced", "{sources}");
    assert_eq!(sources[0]["schedule_display"], "Every 15 minutes");

    // the last sync was 40 minutes ago: more than twice the schedule's 15 minutes
    let earlier = chrono::Utc::now() - chrono::Duration::minutes(40);
    dango_entity::sync_history::Entity::update_many()
        .col_expr(
            dango_entity::sync_history::Column::StartedAt,
            Expr::value(earlier),
        )
        .col_expr(
            dango_entity::sync_history::Column::FinishedAt,
            Expr::value(earlier),
        )
        .filter(dango_entity::sync_history::Column::Source.eq("orders"))
        .exec(app.db())
        .await
        .unwrap();
    app.server.state.source_facts.history_recorded();
    let sources = app.get_json(&editor, "/api/sources").await;
    assert_eq!(sources[0]["status"], "stale", "{sources}");

    // a daily schedule instead: 40 minutes is fresh again
    write_schedules(
        &app,
        "schedules:\n- {name: nightly, cron: daily, sources: [orders]}\n",
    );
    let sources = app.get_json(&editor, "/api/sources").await;
    assert_eq!(sources[0]["status"], "synced", "{sources}");
}
