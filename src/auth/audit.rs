//! The security audit log (metadata DB table `audit_events`). Recording never fails
//! the action it records: errors are logged and swallowed.

use chrono::{DateTime, Utc};
use dango_entity::audit_events;
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use super::Principal;

#[derive(Debug, Default)]
pub struct AuditEvent {
    pub event: &'static str,
    pub user_id: Option<String>,
    pub email: Option<String>,
    pub ip: Option<String>,
    pub details: Option<serde_json::Value>,
}

impl AuditEvent {
    pub fn new(event: &'static str) -> Self {
        Self {
            event,
            ..Default::default()
        }
    }
    pub fn user(mut self, user_id: &str, email: &str) -> Self {
        self.user_id = Some(user_id.to_string());
        self.email = Some(email.to_string());
        self
    }
    pub fn actor(self, principal: &Principal) -> Self {
        self.user(&principal.user_id, &principal.email)
    }
    pub fn email(mut self, email: &str) -> Self {
        self.email = Some(email.to_string());
        self
    }
    pub fn ip(mut self, ip: impl ToString) -> Self {
        self.ip = Some(ip.to_string());
        self
    }
    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }
}

/// [`record`] on a task of its own, for answers that need not wait for the write.
pub fn record_in_background(db: &DatabaseConnection, event: AuditEvent) {
    let db = db.clone();
    tokio::spawn(async move { record(&db, event).await });
}

pub async fn record(db: &DatabaseConnection, event: AuditEvent) {
    tracing::info!(
        target: "dango::audit",
        event = event.event,
        user_id = event.user_id.as_deref(),
        email = event.email.as_deref(),
        ip = event.ip.as_deref(),
        details = event.details.as_ref().map(|d| d.to_string()),
        "audit"
    );
    let row = audit_events::ActiveModel {
        timestamp: Set(Utc::now()),
        event: Set(event.event.to_string()),
        user_id: Set(event.user_id),
        email: Set(event.email),
        ip: Set(event.ip),
        details: Set(event.details.map(|d| d.to_string())),
        ..Default::default()
    };
    // Nothing is read back: an insert without RETURNING is the cheaper statement.
    if let Err(err) = audit_events::Entity::insert(row)
        .exec_without_returning(db)
        .await
    {
        tracing::warn!("could not write audit event: {err}");
    }
}

#[derive(Debug, Default)]
pub struct AuditFilter {
    pub event: Option<String>,
    /// A user id or an email.
    pub user: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub limit: u64,
    pub offset: u64,
}

/// Matching events, newest first, and how many match in all.
pub async fn query(
    db: &DatabaseConnection,
    filter: &AuditFilter,
) -> crate::Result<(Vec<audit_events::Model>, u64)> {
    let mut select = audit_events::Entity::find();
    if let Some(event) = &filter.event {
        select = select.filter(audit_events::Column::Event.eq(event.as_str()));
    }
    if let Some(user) = &filter.user {
        let email = super::normalize_email(user);
        select = select.filter(
            Condition::any()
                .add(audit_events::Column::UserId.eq(user.as_str()))
                .add(audit_events::Column::Email.eq(email)),
        );
    }
    if let Some(since) = filter.since {
        select = select.filter(audit_events::Column::Timestamp.gte(since));
    }
    let total = select.clone().count(db).await?;
    let rows = select
        .order_by_desc(audit_events::Column::Id)
        // SQL takes signed 64-bit numbers; beyond that there is nothing to page to anyway.
        .offset(filter.offset.min(i64::MAX as u64))
        .limit(filter.limit.min(i64::MAX as u64))
        .all(db)
        .await?;
    Ok((rows, total))
}
