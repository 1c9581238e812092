//! Cached column profiles of warehouse tables and views, one row per relation.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TableProfiles {
    Table,
    SchemaName,
    TableName,
    RowCount,
    Columns,
    ProfiledAt,
    DurationMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TableProfiles::Table)
                    .if_not_exists()
                    .col(string_len(TableProfiles::SchemaName, 255))
                    .col(string_len(TableProfiles::TableName, 255))
                    .col(big_integer(TableProfiles::RowCount))
                    // The columns' statistics as JSON: read and written whole, never queried.
                    .col(text(TableProfiles::Columns))
                    .col(timestamp_with_time_zone(TableProfiles::ProfiledAt))
                    .col(big_integer(TableProfiles::DurationMs))
                    .primary_key(
                        Index::create()
                            .col(TableProfiles::SchemaName)
                            .col(TableProfiles::TableName),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(TableProfiles::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
