//! Notifications (behaviour §12.6): the webhooks of `schedules.yml` told when a run ends
//! (once per run: completed, failed, or failed with a retry coming) and when a scheduled
//! source has not synced for too long. Generic targets get JSON signed with HMAC-SHA256
//! (`X-Dango-Signature: t=<unix>,v1=<hex>` over `<t>.<body>`, the secret from `.env`);
//! Slack URLs get Slack's format. 10 s per attempt, further attempts after a 5xx, a
//! timeout or a refused connection, never after a 4xx. Every delivery is logged in the
//! metadata DB. Never fails: a broken target cannot break a run.

mod payload;
pub mod stale;

use std::time::Duration;

use chrono::{DateTime, Utc};
use dango_entity::notification_deliveries;
use hmac::{Hmac, Mac};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TryIntoModel,
};
use serde::Serialize;
use sha2::Sha256;

use crate::config::ProjectPaths;
use crate::config::schedules::{Notifications, SchedulesFile, Webhook};
pub use payload::{generic_body, slack_body};

/// How long one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// What sending needs.
#[derive(Clone)]
pub struct NotifyDeps {
    pub db: DatabaseConnection,
    pub http: reqwest::Client,
    pub paths: ProjectPaths,
    /// Where people open the platform (the `dashboard_url` of payloads).
    pub dashboard_url: String,
}

impl NotifyDeps {
    pub fn of(state: &crate::state::AppState) -> Self {
        let config = state.config();
        Self {
            db: state.db.clone(),
            http: state.http.clone(),
            paths: state.paths.clone(),
            dashboard_url: format!("http://localhost:{}", config.platform.port),
        }
    }
}

/// What happened, in the original's event names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    SyncCompleted,
    SyncFailed,
    SyncRetrying,
    SyncStale,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::SyncCompleted => "sync_completed",
            EventKind::SyncFailed => "sync_failed",
            EventKind::SyncRetrying => "sync_retrying",
            EventKind::SyncStale => "sync_stale",
        }
    }

    /// The `notify_on` word and the `on_*` switch it falls under.
    fn category(self) -> &'static str {
        match self {
            EventKind::SyncCompleted => "success",
            EventKind::SyncFailed | EventKind::SyncRetrying => "failure",
            EventKind::SyncStale => "stale",
        }
    }

    fn allowed_by(self, config: &Notifications) -> bool {
        match self.category() {
            "success" => config.on_success,
            "failure" => config.on_failure,
            _ => config.on_stale,
        }
    }
}

/// One notice, sent to every webhook that wants it.
#[derive(Clone, Debug, Default)]
pub struct Notice {
    pub event: Option<EventKind>,
    /// The schedule the run was for; how it was started otherwise (`manual`, `watcher`).
    pub schedule: String,
    pub sources: Vec<String>,
    pub error: Option<String>,
    pub duration_seconds: Option<f64>,
    pub rows_loaded: Option<i64>,
    pub stale_hours: Option<f64>,
    pub attempt_number: Option<u32>,
    pub next_retry_at: Option<DateTime<Utc>>,
    pub run_id: Option<String>,
    /// The source a staleness notice is about.
    pub source: Option<String>,
    /// A schedule's own `notify_on`: when not empty, only these categories are sent.
    pub notify_on: Vec<String>,
}

/// The one notice a run that ended gets: completed, failed, or failed with a retry coming
/// (`schedule` is its schedule's definition, if it has one). None for a cancelled run
/// (someone stopped it on purpose) and one that has not ended.
pub fn run_notice(
    run: &dango_entity::job_runs::Model,
    schedule: Option<&crate::config::schedules::ScheduleDef>,
    now: DateTime<Utc>,
) -> Option<Notice> {
    use crate::runs::RunStatus;
    let attempt = crate::runs::options_of(run).attempt.unwrap_or(1);
    let retry_delay = schedule
        .filter(|_| run.trigger == "schedule")
        .and_then(|s| s.retry_delays_seconds().get(attempt as usize - 1).copied());
    let event = match RunStatus::parse(&run.status)? {
        RunStatus::Success => EventKind::SyncCompleted,
        RunStatus::Failed if retry_delay.is_some() => EventKind::SyncRetrying,
        RunStatus::Failed | RunStatus::Timeout => EventKind::SyncFailed,
        RunStatus::Cancelled | RunStatus::Queued | RunStatus::Running => return None,
    };
    Some(Notice {
        event: Some(event),
        schedule: run.schedule.clone().unwrap_or_else(|| run.trigger.clone()),
        sources: crate::runs::sources_of(run),
        error: run.error.clone(),
        duration_seconds: run.duration_seconds,
        rows_loaded: run.rows_processed,
        attempt_number: (event == EventKind::SyncRetrying).then_some(attempt),
        next_retry_at: retry_delay
            .filter(|_| event == EventKind::SyncRetrying)
            .map(|delay| now + chrono::Duration::seconds(delay as i64)),
        run_id: Some(run.id.clone()),
        notify_on: schedule.map(|s| s.notify_on.clone()).unwrap_or_default(),
        ..Default::default()
    })
}

/// Announces the end of `run_id` in the background.
pub fn announce_run_end(deps: &NotifyDeps, run_id: &str) {
    let deps = deps.clone();
    let run_id = run_id.to_string();
    tokio::spawn(async move {
        let run = match crate::runs::get(&deps.db, &run_id).await {
            Ok(run) => run,
            Err(err) => {
                tracing::warn!("cannot read run {run_id} to announce it: {err}");
                return;
            }
        };
        // One read of the file: where notices go, and the run's schedule.
        let file = match SchedulesFile::load(&deps.paths.schedules_yml()) {
            Ok(file) => file,
            Err(err) => {
                tracing::warn!("notifications are not sent: {err}");
                return;
            }
        };
        let Some(config) = &file.notifications else {
            return;
        };
        let schedule = run.schedule.as_deref().and_then(|name| file.get(name));
        let now = Utc::now();
        if let Some(notice) = run_notice(&run, schedule, now) {
            send(&deps, config, &notice, now).await;
        }
    });
}

/// Sends `notice` to the webhooks of `config` that want it and logs each delivery; `at`
/// is its time.
pub async fn send(deps: &NotifyDeps, config: &Notifications, notice: &Notice, at: DateTime<Utc>) {
    let Some(event) = notice.event else { return };
    if !event.allowed_by(config)
        || (!notice.notify_on.is_empty() && !notice.notify_on.iter().any(|n| n == event.category()))
    {
        return;
    }
    deliver_all(deps, config, notice, at).await;
}

/// Sends `notice` to every webhook regardless of the switches (the test button).
pub async fn deliver_all(
    deps: &NotifyDeps,
    config: &Notifications,
    notice: &Notice,
    at: DateTime<Utc>,
) -> Vec<notification_deliveries::Model> {
    let secrets = crate::config::env_file::load(&deps.paths.env_file());
    let delays = config.retry_delays_seconds();
    let mut deliveries = Vec::new();
    for webhook in &config.webhooks {
        let secret = secrets.get(&webhook.secret_variable()).map(String::as_str);
        let delivery = deliver(deps, webhook, secret, notice, at, &delays).await;
        deliveries.push(delivery);
    }
    deliveries
}

/// The signature header's value for `body` sent at unix time `t`.
pub fn sign(secret: &str, t: i64, body: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this cannot happen.
        Err(_) => return String::new(),
    };
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The webhook's URL with only its scheme and host: the rest is a credential for Slack.
pub fn masked_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) => format!(
            "{}://{}{}/…",
            parsed.scheme(),
            parsed.host_str().unwrap_or(""),
            parsed.port().map(|p| format!(":{p}")).unwrap_or_default()
        ),
        Err(_) => "(not a URL)".into(),
    }
}

/// One delivery, with its further attempts, logged.
async fn deliver(
    deps: &NotifyDeps,
    webhook: &Webhook,
    secret: Option<&str>,
    notice: &Notice,
    at: DateTime<Utc>,
    delays: &[u64],
) -> notification_deliveries::Model {
    let body = if webhook.is_slack() {
        slack_body(notice, &deps.dashboard_url)
    } else {
        generic_body(notice, &deps.dashboard_url, at)
    }
    .to_string();
    let mut attempts = 0;
    let mut http_status;
    let mut error;
    let mut delivered;
    loop {
        attempts += 1;
        let mut request = deps
            .http
            .post(&webhook.url)
            .timeout(ATTEMPT_TIMEOUT)
            .header("Content-Type", "application/json")
            .header("User-Agent", concat!("dango/", env!("CARGO_PKG_VERSION")))
            .body(body.clone());
        if let (Some(secret), false) = (secret, webhook.is_slack()) {
            request = request.header(
                "X-Dango-Signature",
                sign(secret, Utc::now().timestamp(), &body),
            );
        }
        let again = match request.send().await {
            Ok(response) => {
                let status = response.status();
                http_status = Some(i32::from(status.as_u16()));
                delivered = status.is_success();
                if delivered {
                    error = None;
                    false
                } else {
                    error = Some(format!("the target answered {status}"));
                    status.is_server_error()
                }
            }
            Err(err) => {
                http_status = None;
                delivered = false;
                error = Some(if err.is_timeout() {
                    format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs())
                } else {
                    format!("cannot reach the target: {}", without_url(&err))
                });
                true
            }
        };
        match delays.get(attempts - 1) {
            Some(delay) if again => tokio::time::sleep(Duration::from_secs(*delay)).await,
            _ => break,
        }
    }
    if !delivered {
        tracing::warn!(
            webhook = webhook.name,
            "notification not delivered after {attempts} attempt(s): {}",
            error.as_deref().unwrap_or("")
        );
    }
    let row = notification_deliveries::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        event: Set(notice.event.map_or("", EventKind::as_str).to_string()),
        webhook: Set(webhook.name.clone()),
        url: Set(masked_url(&webhook.url)),
        run_id: Set(notice.run_id.clone()),
        source: Set(notice.source.clone()),
        status: Set(if delivered { "delivered" } else { "failed" }.to_string()),
        attempts: Set(i32::try_from(attempts).unwrap_or(i32::MAX)),
        http_status: Set(http_status),
        error: Set(error),
        created_at: Set(at),
    };
    match row.clone().insert(&deps.db).await {
        Ok(saved) => saved,
        Err(err) => {
            tracing::warn!("cannot log a notification delivery: {err}");
            row.try_into_model().unwrap_or_else(|_| empty_delivery())
        }
    }
}

/// A reqwest error without the URL it names (the URL is a credential).
fn without_url(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    if let Some(url) = err.url() {
        text = text.replace(url.as_str(), "the webhook");
    }
    text
}

fn empty_delivery() -> notification_deliveries::Model {
    notification_deliveries::Model {
        id: String::new(),
        event: String::new(),
        webhook: String::new(),
        url: String::new(),
        run_id: None,
        source: None,
        status: "failed".into(),
        attempts: 0,
        http_status: None,
        error: None,
        created_at: Utc::now(),
    }
}

/// Which deliveries a listing returns.
#[derive(Clone, Debug, Default)]
pub struct DeliveryFilter {
    pub event: Option<String>,
    pub status: Option<String>,
    pub run_id: Option<String>,
    pub source: Option<String>,
}

/// Newest first, with the number matching in all.
pub async fn deliveries(
    db: &DatabaseConnection,
    filter: &DeliveryFilter,
    limit: u64,
    offset: u64,
) -> crate::Result<(Vec<notification_deliveries::Model>, u64)> {
    use notification_deliveries::Column;
    let mut select = notification_deliveries::Entity::find();
    if let Some(event) = &filter.event {
        select = select.filter(Column::Event.eq(event.as_str()));
    }
    if let Some(status) = &filter.status {
        select = select.filter(Column::Status.eq(status.as_str()));
    }
    if let Some(run_id) = &filter.run_id {
        select = select.filter(Column::RunId.eq(run_id.as_str()));
    }
    if let Some(source) = &filter.source {
        select = select.filter(Column::Source.eq(source.as_str()));
    }
    let total = select.clone().count(db).await?;
    let rows = select
        .order_by_desc(Column::CreatedAt)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    Ok((rows, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_the_hmac_of_the_time_and_the_body() {
        // Python: hmac.new(b"s3cret", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
        let signature = sign("s3cret", 1_700_000_000, "{\"a\":1}");
        assert_eq!(
            signature,
            "t=1700000000,v1=1698a50bc74d1ff1db85c4e0a5297c2ad9fdba245d5737cdb789e4cc6e098940"
        );
        assert_ne!(signature, sign("other", 1_700_000_000, "{\"a\":1}"));
        assert_ne!(signature, sign("s3cret", 1_700_000_001, "{\"a\":1}"));
    }

    #[test]
    fn masked_urls_keep_only_scheme_and_host() {
        assert_eq!(
            masked_url("https://hooks.slack.com/services/T000/B000/XXXX"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            masked_url("http://127.0.0.1:9000/hook?k=1"),
            "http://127.0.0.1:9000/…"
        );
    }
}
