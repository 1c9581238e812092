use sea_orm::entity::prelude::*;

/// One query a user ran (or tried to): the SQL as they wrote it, kept for them only.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "query_history")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: String,
    #[sea_orm(column_type = "Text")]
    pub sql: String,
    pub succeeded: bool,
    pub row_count: i64,
    pub elapsed_ms: f64,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    pub executed_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
