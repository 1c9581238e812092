//! Each user's own recent queries, for the query page's history.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum QueryHistory {
    Table,
    Id,
    UserId,
    Sql,
    Succeeded,
    RowCount,
    ElapsedMs,
    Error,
    ExecutedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(QueryHistory::Table)
                    .if_not_exists()
                    .col(big_integer(QueryHistory::Id).auto_increment().primary_key())
                    .col(string_len(QueryHistory::UserId, 64))
                    .col(text(QueryHistory::Sql))
                    .col(boolean(QueryHistory::Succeeded))
                    .col(big_integer(QueryHistory::RowCount))
                    .col(double(QueryHistory::ElapsedMs))
                    .col(text_null(QueryHistory::Error))
                    .col(timestamp_with_time_zone(QueryHistory::ExecutedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_query_history_user")
                    .table(QueryHistory::Table)
                    .col(QueryHistory::UserId)
                    .col(QueryHistory::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(QueryHistory::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
