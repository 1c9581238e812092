use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "schema_drift_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub source: String,
    pub table_name: String,
    pub column_name: String,
    /// `column_added`, `type_changed` or `column_removed`.
    pub change_type: String,
    pub old_type: Option<String>,
    pub new_type: Option<String>,
    pub detected_at: DateTimeUtc,
    pub run_id: Option<String>,
    pub accepted: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
