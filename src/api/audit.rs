//! The audit log API (permission `audit.view`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::ApiTag;
use crate::Result;
use crate::auth::audit::{self, AuditFilter};
use crate::state::AppState;

pub struct AuditApi;

#[derive(Object)]
pub struct AuditEventResponse {
    pub id: i64,
    pub timestamp: DateTime<Utc>,
    pub event: String,
    pub user_id: Option<String>,
    pub email: Option<String>,
    pub ip: Option<String>,
    pub details: Option<serde_json::Value>,
}

#[derive(Object)]
pub struct AuditPage {
    pub events: Vec<AuditEventResponse>,
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
}

#[OpenApi(tag = "ApiTag::Audit")]
impl AuditApi {
    /// Security audit events, newest first
    ///
    /// A page of the security audit log (logins and failures, lockouts, API key, user and 2FA
    /// changes, syncs, uploads, permission denials), newest first. Filter by event name, by
    /// user (id or email) and by time; `total` counts all matches, for paging with `limit`
    /// and `offset`.
    #[oai(
        path = "/api/audit",
        method = "get",
        operation_id = "list_audit_events"
    )]
    async fn list(
        &self,
        state: Data<&Arc<AppState>>,
        /// Only this event type (e.g. `login_failure`).
        event: Query<Option<String>>,
        /// Only events of this user (id or email).
        user: Query<Option<String>>,
        /// Only events at or after this time.
        since: Query<Option<DateTime<Utc>>>,
        /// At most this many events per page (1–1000, default 100).
        #[oai(
            default = "default_limit",
            validator(minimum(value = "1"), maximum(value = "1000"))
        )]
        limit: Query<u64>,
        /// Matching events to skip, counted from the newest (default 0); use with `total` to
        /// page.
        #[oai(default, validator(maximum(value = "1000000000000000")))]
        offset: Query<u64>,
    ) -> Result<Json<AuditPage>> {
        let filter = AuditFilter {
            event: event.0,
            user: user.0,
            since: since.0,
            limit: limit.0,
            offset: offset.0,
        };
        let (rows, total) = audit::query(&state.db, &filter).await?;
        Ok(Json(AuditPage {
            events: rows
                .into_iter()
                .map(|r| AuditEventResponse {
                    id: r.id,
                    timestamp: r.timestamp,
                    event: r.event,
                    user_id: r.user_id,
                    email: r.email,
                    ip: r.ip,
                    details: r.details.and_then(|d| serde_json::from_str(&d).ok()),
                })
                .collect(),
            total,
            limit: filter.limit,
            offset: filter.offset,
        }))
    }
}

fn default_limit() -> u64 {
    100
}
