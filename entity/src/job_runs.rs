use sea_orm::entity::prelude::*;

/// One sync or transform run, from request to its single terminal state.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "job_runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `sync` or `transform`.
    pub kind: String,
    /// `ui`, `api`, `schedule`, `watcher` or `cli`.
    pub trigger: String,
    /// JSON array of source names.
    pub sources: String,
    /// dbt selection for transform runs.
    pub selector: Option<String>,
    /// `queued`, `running`, `success`, `failed` or `cancelled`.
    pub status: String,
    pub phase: Option<String>,
    pub message: Option<String>,
    pub progress: Option<f64>,
    pub rows_processed: Option<i64>,
    pub error: Option<String>,
    pub full_refresh: bool,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    /// JSON object of other options (allow_empty_replace, cascade, …).
    pub options: Option<String>,
    pub requested_by: Option<String>,
    pub created_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    pub duration_seconds: Option<f64>,
    pub worker: Option<String>,
    /// The schedule the run was started for (by the scheduler or a "run now").
    pub schedule: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
