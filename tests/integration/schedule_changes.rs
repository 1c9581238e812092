//! Changing schedules while the server runs: through the API (the file's comments and
//! other schedules kept), by editing the file and reloading (every changed key named),
//! and with two schedulers sharing one metadata DB (one lease: each firing runs once, and
//! the survivor takes over when the holder dies).

use chrono::Duration;
use dango::auth::Role;
use dango::jobs::scheduler::{Outcome, tick};
use dango::schedules::Memory;
use serde_json::{Value, json};

use crate::common::{TestApp, error_body, instant, json};

const COMMENTED: &str = "# Ask Ann before changing these.
schedules:
  # after the shop closes
  - name: nightly
    cron: '0 2 * * *'   # 02:00 Berlin
    timezone: Europe/Berlin
    sources: [orders]
";

fn schedules_file(app: &TestApp) -> String {
    std::fs::read_to_string(app.root().join(".dango/schedules.yml")).expect("schedules.yml")
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .expect("a list")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect()
}

fn project(app: &TestApp, schedules: &str) {
    app.csv_source_with("orders", "id,amount\n1,2.5\n");
    std::fs::write(app.root().join(".dango/schedules.yml"), schedules).expect("write");
}

#[tokio::test]
async fn an_admin_adds_changes_and_removes_a_schedule_and_the_files_comments_stay() {
    let app = TestApp::start().await;
    project(&app, COMMENTED);
    let admin = app.login_as(Role::Admin).await;

    let weekly = json!({"name": "weekly", "cron": "weekly", "sources": ["orders"]});
    let created = app
        .post_json(&admin, "/api/schedules", weekly.clone())
        .await;
    assert_eq!(created.status(), 201);
    let created = json(created).await;
    assert_eq!(created["schedule"]["cron"], "0 6 * * 1");
    assert_eq!(created["schedule"]["cron_label"], "Weekly (Monday at 6 AM)");
    assert_eq!(created["reload"]["added"], json!(["weekly"]), "{created}");
    let text = schedules_file(&app);
    assert!(
        text.starts_with("# Ask Ann before changing these."),
        "{text}"
    );
    assert!(
        text.contains("    cron: '0 2 * * *'   # 02:00 Berlin\n"),
        "{text}"
    );
    assert_eq!(
        names(&app.get_json(&admin, "/api/schedules").await),
        ["nightly", "weekly"]
    );

    // a second one of the name, an invalid one, an unknown source: refused, nothing written
    let again = app.post_json(&admin, "/api/schedules", weekly).await;
    assert_eq!(again.status(), 409);
    let bad_cron = json!({"name": "bad", "cron": "61 * * * *", "sources": ["orders"]});
    let refused = error_body(app.post_json(&admin, "/api/schedules", bad_cron).await, 400).await;
    let message = refused["detail"].as_str().unwrap_or_default();
    assert!(
        message.contains("'bad'") && message.contains("cron"),
        "{refused}"
    );
    let unknown = json!({"name": "other", "cron": "daily", "sources": ["nowhere"]});
    let refused = error_body(app.post_json(&admin, "/api/schedules", unknown).await, 400).await;
    assert!(
        refused["detail"].as_str().unwrap().contains("'nowhere'"),
        "{refused}"
    );
    assert_eq!(schedules_file(&app), text);

    // replaced whole: the change is named and the schedule planned from it
    let paused =
        json!({"name": "weekly", "cron": "0 7 * * 1", "sources": ["orders"], "enabled": false});
    let replaced = json(app.put_json(&admin, "/api/schedules/weekly", paused).await).await;
    assert_eq!(replaced["schedule"]["enabled"], false, "{replaced}");
    assert_eq!(
        replaced["reload"]["removed"],
        json!(["weekly"]),
        "disabled: {replaced}"
    );
    let renamed = json!({"name": "monthly", "cron": "daily", "sources": ["orders"]});
    let refused = app.put_json(&admin, "/api/schedules/weekly", renamed).await;
    assert_eq!(refused.status(), 400);

    // an editor may run schedules but not change them
    let editor = app.login_as(Role::Editor).await;
    assert_eq!(
        app.delete(&editor, "/api/schedules/weekly").await.status(),
        403
    );

    assert_eq!(
        app.delete(&admin, "/api/schedules/weekly").await.status(),
        204
    );
    assert_eq!(
        app.delete(&admin, "/api/schedules/weekly").await.status(),
        404
    );
    assert_eq!(
        schedules_file(&app),
        COMMENTED,
        "back to the file as Ann wrote it"
    );
    let audit = app
        .get_json(&admin, "/api/audit?event=schedule_created")
        .await;
    assert_eq!(audit["total"], 1, "{audit}");
}

#[tokio::test]
async fn a_reload_names_every_changed_key_and_hand_edits_take_effect() {
    let app = TestApp::start().await;
    app.csv_source_with("archive", "id\n1\n");
    project(
        &app,
        "schedules:\n- {name: a, cron: daily, sources: [orders]}\n- {name: b, cron: every_hour, sources: [orders]}\n",
    );
    let admin = app.login_as(Role::Admin).await;
    let first = json(app.post(&admin, "/api/schedules/reload").await).await;
    assert_eq!(first["active"], true, "{first}");
    let known: Vec<&str> = [&first["added"], &first["unchanged"]]
        .iter()
        .flat_map(|list| list.as_array().unwrap().iter().filter_map(Value::as_str))
        .collect();
    assert!(known.contains(&"a") && known.contains(&"b"), "{first}");

    // by hand: a gets another source, zone and time limit; b is disabled; c is new
    std::fs::write(
        app.root().join(".dango/schedules.yml"),
        "schedules:\n- {name: a, cron: daily, sources: [orders, archive], timezone: Asia/Tokyo, timeout_minutes: 5}\n- {name: b, cron: every_hour, sources: [orders], enabled: false}\n- {name: c, type: dbt, cron: weekly, dbt_command: 'tag:x'}\n",
    )
    .unwrap();
    let reloaded = json(app.post(&admin, "/api/schedules/reload").await).await;
    assert_eq!(reloaded["updated"], json!(["a"]), "{reloaded}");
    assert_eq!(
        reloaded["changes"],
        json!([{"name": "a", "fields": ["sources", "timeout_minutes", "timezone"]}])
    );
    assert_eq!(reloaded["removed"], json!(["b"]));
    assert_eq!(reloaded["added"], json!(["c"]));
    assert_eq!(reloaded["unchanged"], json!([]));

    // a file that does not validate: 400, and the scheduler keeps what it had
    std::fs::write(
        app.root().join(".dango/schedules.yml"),
        "schedules:\n- {name: a, cron: 'every tuesday', sources: [orders]}\n",
    )
    .unwrap();
    let refused = error_body(app.post(&admin, "/api/schedules/reload").await, 400).await;
    assert!(
        refused["detail"].as_str().unwrap().contains("cron"),
        "{refused}"
    );
    let viewer = app.login_as(Role::Viewer).await;
    assert_eq!(
        app.post(&viewer, "/api/schedules/reload").await.status(),
        403
    );
}

fn started(outcomes: &[Outcome]) -> usize {
    outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Started { .. }))
        .count()
}

#[tokio::test]
async fn of_two_schedulers_on_one_metadata_db_one_fires_and_the_other_takes_over_when_it_dies() {
    let app = TestApp::start().await;
    project(
        &app,
        "schedules:\n- {name: hourly, cron: '0 * * * *', sources: [orders]}\n",
    );
    let state = app.server.state.clone();
    let editor = app.login_as(Role::Editor).await;
    let (mut first, mut second) = (Memory::default(), Memory::default());
    let noon = instant("2027-03-01T12:00:02Z");

    // both have seen the schedule before noon; at noon they look at the same instant
    let before = noon - Duration::seconds(10);
    let (a, b) = tokio::join!(
        tick(&state, &mut first, before),
        tick(&state, &mut second, before)
    );
    assert!(a.is_empty() && b.is_empty());
    let (a, b) = tokio::join!(
        tick(&state, &mut first, noon),
        tick(&state, &mut second, noon)
    );
    assert_eq!(started(&a) + started(&b), 1, "{a:?} {b:?}");
    let (mut holder, mut other) = if started(&a) == 1 {
        (first, second)
    } else {
        (second, first)
    };
    for outcome in a.iter().chain(&b) {
        if let Outcome::Started { run_id, .. } = outcome {
            assert_eq!(app.wait_run(&editor, run_id).await["status"], "success");
        }
    }

    // the holder keeps its lease by ticking; the other stays idle
    let later = noon + Duration::seconds(10);
    tick(&state, &mut holder, later).await;
    assert!(tick(&state, &mut other, later).await.is_empty());

    // the holder dies at 12:00:12; at 13:00 the other has taken over and fires, once
    let one = noon + Duration::hours(1);
    let taken = tick(&state, &mut other, one).await;
    assert_eq!(started(&taken), 1, "{taken:?}");
    drop(holder);
    let history = app.get_json(&editor, "/api/schedules/hourly/history").await;
    assert_eq!(history["total"], 2, "{history}");
}
