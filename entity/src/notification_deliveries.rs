use sea_orm::entity::prelude::*;

/// One webhook delivery: an event sent (or not) to one target.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `sync_completed`, `sync_failed`, `sync_retrying`, `sync_stale`.
    pub event: String,
    /// The webhook's name in schedules.yml.
    pub webhook: String,
    /// The target, masked (scheme and host only).
    pub url: String,
    pub run_id: Option<String>,
    /// The source a staleness notice is about.
    pub source: Option<String>,
    /// `delivered` or `failed`.
    pub status: String,
    pub attempts: i32,
    /// The last HTTP status the target answered, if it answered.
    pub http_status: Option<i32>,
    pub error: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
