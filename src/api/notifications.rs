//! Notifications: where they go (URLs masked), a test send, and the log of deliveries.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::ApiTag;
use super::context::Caller;
use crate::auth::audit::{self, AuditEvent};
use crate::error::code;
use crate::notifications::{self, DeliveryFilter, EventKind, Notice, NotifyDeps};
use crate::{Error, Result};

pub struct NotificationsApi;

#[derive(Object)]
pub struct WebhookInfo {
    pub name: String,
    /// Scheme and host only: the rest of a webhook URL is a credential.
    pub url: String,
    /// `generic` or `slack`.
    pub format: String,
    /// Whether generic payloads are signed (`X-Dango-Signature`): its secret is in `.env`.
    pub signed: bool,
    /// The `.env` variable the signing secret is read from.
    pub secret_env: String,
}

#[derive(Object)]
pub struct NotificationConfig {
    pub webhooks: Vec<WebhookInfo>,
    pub on_failure: bool,
    pub on_success: bool,
    pub on_stale: bool,
    pub on_governance: bool,
    pub on_analysis: bool,
    pub stale_threshold_hours: f64,
    /// Seconds before each further attempt after a 5xx, a timeout or no connection.
    pub retry_delays_seconds: Vec<u64>,
}

#[derive(Object)]
pub struct Delivery {
    pub id: String,
    /// `sync_completed`, `sync_failed`, `sync_retrying` or `sync_stale`.
    pub event: String,
    pub webhook: String,
    pub url: String,
    pub run_id: Option<String>,
    pub source: Option<String>,
    /// `delivered` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub http_status: Option<i32>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl Delivery {
    fn of(row: dango_entity::notification_deliveries::Model) -> Self {
        Self {
            id: row.id,
            event: row.event,
            webhook: row.webhook,
            url: row.url,
            run_id: row.run_id,
            source: row.source,
            status: row.status,
            attempts: row.attempts,
            http_status: row.http_status,
            error: row.error,
            created_at: row.created_at,
        }
    }
}

#[derive(Object)]
pub struct Deliveries {
    /// Newest first.
    pub items: Vec<Delivery>,
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
}

#[derive(Object)]
pub struct TestSent {
    /// `sent` when every webhook took it, `failed` when one did not.
    pub status: String,
    pub deliveries: Vec<Delivery>,
}

/// A delivery outcome to filter by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Delivered,
    Failed,
}

#[OpenApi(tag = "ApiTag::Schedules")]
impl NotificationsApi {
    /// Where notifications go
    ///
    /// The `notifications` section of `.dango/schedules.yml`: the webhooks (URLs masked to
    /// scheme and host) and which events are sent. Without the section nothing is sent.
    #[oai(
        path = "/api/notifications/config",
        method = "get",
        operation_id = "notification_config"
    )]
    async fn config(
        &self,
        state: Data<&Arc<crate::state::AppState>>,
    ) -> Result<Json<NotificationConfig>> {
        let file = crate::schedules::load(&state.paths)?;
        let config = file.notifications.unwrap_or_default();
        let secrets = crate::config::env_file::load(&state.paths.env_file());
        Ok(Json(NotificationConfig {
            webhooks: config
                .webhooks
                .iter()
                .map(|hook| WebhookInfo {
                    name: hook.name.clone(),
                    url: notifications::masked_url(&hook.url),
                    format: if hook.is_slack() { "slack" } else { "generic" }.into(),
                    signed: !hook.is_slack() && secrets.contains_key(&hook.secret_variable()),
                    secret_env: hook.secret_variable(),
                })
                .collect(),
            on_failure: config.on_failure,
            on_success: config.on_success,
            on_stale: config.on_stale,
            on_governance: config.on_governance,
            on_analysis: config.on_analysis,
            stale_threshold_hours: config.stale_threshold_hours,
            retry_delays_seconds: config.retry_delays_seconds(),
        }))
    }

    /// Send a test notification
    ///
    /// A `sync_completed` for schedule `test` and source `test` to every webhook, whatever
    /// the `on_*` switches say; answers when every delivery has ended (with its attempts).
    /// 400 when no webhook is configured.
    #[oai(
        path = "/api/notifications/test",
        method = "post",
        operation_id = "test_notification"
    )]
    async fn test(
        &self,
        state: Data<&Arc<crate::state::AppState>>,
        caller: Caller,
    ) -> Result<Json<TestSent>> {
        let Caller(principal, _) = caller;
        let file = crate::schedules::load(&state.paths)?;
        let config = file.notifications.filter(|c| !c.webhooks.is_empty()).ok_or_else(|| {
            Error::bad_request(
                "No webhooks configured: add one under notifications.webhooks in .dango/schedules.yml",
            )
            .with_code(code::NO_WEBHOOKS)
        })?;
        let notice = Notice {
            event: Some(EventKind::SyncCompleted),
            schedule: "test".into(),
            sources: vec!["test".into()],
            rows_loaded: Some(0),
            duration_seconds: Some(0.0),
            ..Default::default()
        };
        let deliveries =
            notifications::deliver_all(&NotifyDeps::of(&state), &config, &notice, Utc::now()).await;
        audit::record(
            &state.db,
            AuditEvent::new("schedule_triggered")
                .actor(&principal)
                .details(serde_json::json!({"action": "test_notification"})),
        )
        .await;
        let all_delivered = deliveries.iter().all(|d| d.status == "delivered");
        Ok(Json(TestSent {
            status: if all_delivered { "sent" } else { "failed" }.into(),
            deliveries: deliveries.into_iter().map(Delivery::of).collect(),
        }))
    }

    /// Deliveries of notifications
    ///
    /// Every webhook delivery attempted, newest first, with its attempts and outcome.
    #[oai(
        path = "/api/notifications/deliveries",
        method = "get",
        operation_id = "notification_deliveries"
    )]
    async fn deliveries(
        &self,
        state: Data<&Arc<crate::state::AppState>>,
        /// Only this event (`sync_completed`, `sync_failed`, `sync_retrying`, `sync_stale`).
        #[oai(validator(max_length = 64))]
        event: Query<Option<String>>,
        status: Query<Option<DeliveryStatus>>,
        /// Only the deliveries about this run.
        #[oai(validator(max_length = 64))]
        run_id: Query<Option<String>>,
        /// At most this many (1–200, default 50).
        #[oai(
            default = "fifty",
            validator(minimum(value = "1"), maximum(value = "200"))
        )]
        limit: Query<u64>,
        /// Deliveries to skip from the newest (at most 1,000,000).
        #[oai(default, validator(maximum(value = "1000000")))]
        offset: Query<u64>,
    ) -> Result<Json<Deliveries>> {
        let filter = DeliveryFilter {
            event: event.0,
            status: status.0.map(|s| match s {
                DeliveryStatus::Delivered => "delivered".to_string(),
                DeliveryStatus::Failed => "failed".to_string(),
            }),
            run_id: run_id.0,
            source: None,
        };
        let (rows, total) =
            notifications::deliveries(&state.db, &filter, limit.0, offset.0).await?;
        Ok(Json(Deliveries {
            items: rows.into_iter().map(Delivery::of).collect(),
            total,
            limit: limit.0,
            offset: offset.0,
        }))
    }
}

fn fifty() -> u64 {
    50
}
