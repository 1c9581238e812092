//! Schedules as `.dango/schedules.yml` defines them: listed with their timing in words
//! and their next firing, previewed in their own time zone, the sources no schedule
//! covers, and the schedule label on each source. A file that does not validate is
//! named precisely and does not take the source list down with it.

use chrono::{DateTime, Utc};
use dango::auth::Role;
use serde_json::Value;

use crate::common::{TestApp, error_body};

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
    assert_eq!(nightly["timeout_minutes"], 60);
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
