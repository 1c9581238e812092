//! Webhook notifications, received by small servers the tests run on loopback: a run's
//! end is announced exactly once, signed so the receiver can verify it; a retry coming is
//! announced instead of the failure; deliveries are tried again after a 5xx or no
//! connection and never after a 4xx; a source that has not synced for too long is
//! announced once; and every delivery is in the log.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use dango::auth::Role;
use dango::jobs::scheduler::{Outcome, tick};
use dango::notifications::NotifyDeps;
use hmac::{Hmac, Mac};
use serde_json::Value;

use crate::common::{TestApp, error_body, json, new_year};

/// What a receiver was sent: the signature header and the body.
#[derive(Clone, Debug)]
struct Received {
    signature: Option<String>,
    body: Value,
}

/// A webhook target on loopback answering with `statuses` in turn (then 200).
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(statuses: &[u16]) -> Self {
        use poem::listener::{Acceptor, Listener};
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let answers = Arc::new(Mutex::new(
            statuses.iter().copied().collect::<VecDeque<u16>>(),
        ));
        let (log, queue) = (received.clone(), answers.clone());
        let endpoint = poem::endpoint::make(move |request: poem::Request| {
            let (log, queue) = (log.clone(), queue.clone());
            async move {
                let signature = request
                    .headers()
                    .get("x-dango-signature")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let text = request.into_body().into_string().await.unwrap_or_default();
                let body = serde_json::from_str(&text).unwrap_or(Value::Null);
                log.lock().unwrap().push(Received { signature, body });
                let status = queue.lock().unwrap().pop_front().unwrap_or(200);
                poem::Response::builder()
                    .status(poem::http::StatusCode::from_u16(status).unwrap())
                    .body("ok")
            }
        });
        let acceptor = poem::listener::TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .expect("bind receiver");
        let addr = *acceptor.local_addr()[0].as_socket_addr().expect("address");
        tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(endpoint));
        Self {
            url: format!("http://{addr}/hook/secret-path"),
            received,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `count` requests came (10 s at most), then a moment more for extras.
    async fn wait_for(&self, count: usize) -> Vec<Received> {
        for _ in 0..200 {
            if self.received().len() >= count {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.received()
    }
}

/// Checks a signature as a receiver would: `t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`.
fn verifies(secret: &str, header: &str, body: &str) -> bool {
    let Some((t, v1)) = header
        .split_once(',')
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v.strip_prefix("v1=")?)))
    else {
        return false;
    };
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    hex::decode(v1).is_ok_and(|tag| mac.verify_slice(&tag).is_ok())
}

fn write_schedules(app: &TestApp, text: &str) {
    std::fs::write(app.root().join(".dango/schedules.yml"), text).expect("schedules.yml");
}

fn started(outcomes: &[Outcome]) -> String {
    match outcomes {
        [Outcome::Started { run_id, .. }] => run_id.clone(),
        other => panic!("one run should start: {other:?}"),
    }
}

#[tokio::test]
async fn a_scheduled_run_is_announced_once_signed_so_the_receiver_can_verify_it() {
    let app = TestApp::start().await;
    let receiver = Receiver::start(&[]).await;
    app.csv_source_with("orders", "id,amount\n1,2.5\n");
    write_schedules(
        &app,
        &format!(
            "schedules:\n- {{name: yearly, cron: '0 0 1 1 *', sources: [orders]}}\nnotifications:\n  webhooks:\n  - {{name: ops, url: '{}'}}\n",
            receiver.url
        ),
    );
    std::fs::write(
        app.root().join(".env"),
        "DANGO_WEBHOOK_SECRET_OPS=\"s3cret\"\n",
    )
    .unwrap();
    let state = app.server.state.clone();
    let mut memory =
        crate::common::scheduler_seeing(&state, new_year() - chrono::Duration::seconds(5)).await;
    let run_id = started(&tick(&state, &mut memory, new_year()).await);
    let editor = app.login_as(Role::Editor).await;
    assert_eq!(app.wait_run(&editor, &run_id).await["status"], "success");

    let got = receiver.wait_for(1).await;
    assert_eq!(got.len(), 1, "exactly one notification per run: {got:?}");
    let notice = &got[0];
    assert_eq!(notice.body["event"], "sync_completed");
    assert_eq!(notice.body["schedule"], "yearly");
    assert_eq!(notice.body["sources"], serde_json::json!(["orders"]));
    assert_eq!(notice.body["rows_loaded"], 1);
    assert_eq!(notice.body["metadata"]["run_id"], run_id.as_str());
    let header = notice.signature.as_deref().expect("signed");
    let body = notice.body.to_string();
    assert!(verifies("s3cret", header, &body), "{header}");
    assert!(!verifies("guess", header, &body));

    let log = app
        .get_json(
            &editor,
            &format!("/api/notifications/deliveries?run_id={run_id}"),
        )
        .await;
    assert_eq!(log["total"], 1, "{log}");
    assert_eq!(log["items"][0]["status"], "delivered");
    assert_eq!(log["items"][0]["attempts"], 1);
    let url = log["items"][0]["url"].as_str().unwrap();
    assert!(!url.contains("secret-path"), "the URL is masked: {url}");

    let config = app.get_json(&editor, "/api/notifications/config").await;
    assert_eq!(config["webhooks"][0]["signed"], true, "{config}");
    assert_eq!(
        config["webhooks"][0]["secret_env"],
        "DANGO_WEBHOOK_SECRET_OPS"
    );
    assert!(!config.to_string().contains("secret-path"), "{config}");
}

#[tokio::test]
async fn deliveries_are_tried_again_after_a_5xx_or_no_connection_but_never_after_a_4xx() {
    let app = TestApp::start().await;
    let flaky = Receiver::start(&[500, 503]).await;
    let refusing = Receiver::start(&[400]).await;
    // a port nothing listens on
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hook", listener.local_addr().unwrap())
    };
    app.csv_source_with("orders", "id\n1\n");
    write_schedules(
        &app,
        &format!(
            "schedules: []\nnotifications:\n  retry_delays_seconds: [0, 0]\n  webhooks:\n  - {{name: flaky, url: '{}'}}\n  - {{name: refusing, url: '{}', format: slack}}\n  - {{name: closed, url: '{closed}'}}\n",
            flaky.url, refusing.url
        ),
    );
    let viewer = app.login_as(Role::Viewer).await;
    assert_eq!(
        app.post(&viewer, "/api/notifications/test").await.status(),
        403
    );
    let admin = app.login_as(Role::Admin).await;
    let sent = json(app.post(&admin, "/api/notifications/test").await).await;
    assert_eq!(sent["status"], "failed", "not every target took it: {sent}");
    let by_name = |name: &str| {
        sent["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["webhook"] == name)
            .cloned()
            .unwrap()
    };
    let delivered = by_name("flaky");
    assert_eq!(delivered["status"], "delivered");
    assert_eq!(delivered["attempts"], 3);
    let refused = by_name("refusing");
    assert_eq!(refused["status"], "failed");
    assert_eq!(refused["attempts"], 1, "a 4xx is not tried again");
    assert_eq!(refused["http_status"], 400);
    let unreachable = by_name("closed");
    assert_eq!(unreachable["attempts"], 3);
    assert!(
        unreachable["error"]
            .as_str()
            .unwrap()
            .contains("cannot reach")
    );
    assert_eq!(flaky.received().len(), 3);
    assert_eq!(refusing.received().len(), 1);
    // the Slack target got Slack's format, unsigned
    let slack = &refusing.received()[0];
    assert_eq!(
        slack.body["attachments"][0]["blocks"][0]["text"]["text"],
        "Sync Completed"
    );
    assert!(slack.signature.is_none());

    let failed = app
        .get_json(&admin, "/api/notifications/deliveries?status=failed")
        .await;
    assert_eq!(failed["total"], 2, "{failed}");

    write_schedules(&app, "schedules: []\n");
    let none = error_body(app.post(&admin, "/api/notifications/test").await, 400).await;
    assert_eq!(none["code"], "DANGO-SCH-008");
}

#[tokio::test]
async fn a_failed_scheduled_run_announces_its_retry_and_the_last_try_its_failure() {
    let app = TestApp::start().await;
    let receiver = Receiver::start(&[]).await;
    app.csv_source_with("orders", "id\n1\n");
    std::fs::write(
        app.root().join("dbt/models/broken.sql"),
        "select * from a_table_that_is_not_there\n",
    )
    .unwrap();
    write_schedules(
        &app,
        &format!(
            "schedules:\n- {{name: flaky, type: dbt, cron: '0 0 1 1 *', dbt_command: broken, retry_delays_seconds: [30]}}\nnotifications:\n  on_success: false\n  webhooks:\n  - {{name: ops, url: '{}'}}\n",
            receiver.url
        ),
    );
    let state = app.server.state.clone();
    let editor = app.login_as(Role::Editor).await;
    let mut memory =
        crate::common::scheduler_seeing(&state, new_year() - chrono::Duration::seconds(5)).await;
    let first = started(&tick(&state, &mut memory, new_year()).await);
    assert_eq!(app.wait_run(&editor, &first).await["status"], "failed");
    let got = receiver.wait_for(1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].body["event"], "sync_retrying");
    assert_eq!(got[0].body["attempt_number"], 1);
    assert!(got[0].body["next_retry_at"].is_string());

    let later = new_year() + chrono::Duration::seconds(10);
    assert!(tick(&state, &mut memory, later).await.is_empty());
    let second = started(&tick(&state, &mut memory, later + chrono::Duration::seconds(31)).await);
    assert_eq!(app.wait_run(&editor, &second).await["status"], "failed");
    let got = receiver.wait_for(2).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1].body["event"], "sync_failed");
    assert!(
        got[1].body["error"].as_str().unwrap().contains("broken"),
        "{:?}",
        got[1].body
    );
}

#[tokio::test]
async fn a_source_that_has_not_synced_for_too_long_is_announced_once() {
    let app = TestApp::start().await;
    let receiver = Receiver::start(&[]).await;
    let editor = app.login_as(Role::Editor).await;
    app.synced_csv_source(&editor, "orders", "id\n1\n").await;
    write_schedules(
        &app,
        &format!(
            "schedules:\n- {{name: nightly, cron: daily, sources: [orders]}}\nnotifications:\n  stale_threshold_hours: 1\n  webhooks:\n  - {{name: ops, url: '{}'}}\n",
            receiver.url
        ),
    );
    let deps = NotifyDeps::of(&app.server.state);
    let check = dango::notifications::stale::check;
    assert!(check(&deps, Utc::now()).await.is_empty(), "fresh");
    let later = Utc::now() + chrono::Duration::hours(2);
    assert_eq!(check(&deps, later).await, ["orders"]);
    assert!(
        check(&deps, later + chrono::Duration::minutes(5))
            .await
            .is_empty(),
        "once"
    );
    let got = receiver.wait_for(1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body["event"], "sync_stale");
    assert_eq!(got[0].body["sources"], serde_json::json!(["orders"]));
    let hours = got[0].body["stale_hours"].as_f64().unwrap();
    assert!((1.9..=2.1).contains(&hours), "{hours}");
}
