use sea_orm::entity::prelude::*;

/// The last profile of one warehouse relation (a raw table, a staging view, a dbt model).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "table_profiles")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub schema_name: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub table_name: String,
    pub row_count: i64,
    /// JSON: the profiled columns in order, each with its type and statistics.
    #[sea_orm(column_type = "Text")]
    pub columns: String,
    pub profiled_at: DateTimeUtc,
    pub duration_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
