use sea_orm::entity::prelude::*;

/// The outcome of one source within one sync run.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sync_history")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub run_id: String,
    pub source: String,
    /// `success`, `failed` or `cancelled`.
    pub status: String,
    pub started_at: DateTimeUtc,
    pub finished_at: DateTimeUtc,
    pub duration_seconds: f64,
    /// Rows written by this run.
    pub rows_processed: i64,
    /// Rows in the source's raw tables after the run.
    pub total_row_count: Option<i64>,
    pub full_refresh: bool,
    pub error_message: Option<String>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    /// JSON with per-run details (files new/updated/deleted, tables).
    pub details: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
