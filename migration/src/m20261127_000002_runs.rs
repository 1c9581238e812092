//! Job runs, per-source sync history, the activity log and schema-drift events.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum JobRuns {
    Table,
    Id,
    Kind,
    Trigger,
    Sources,
    Selector,
    Status,
    Phase,
    Message,
    Progress,
    RowsProcessed,
    Error,
    FullRefresh,
    StartDate,
    EndDate,
    Options,
    RequestedBy,
    CreatedAt,
    StartedAt,
    FinishedAt,
    DurationSeconds,
    Worker,
}

#[derive(DeriveIden)]
enum SyncHistory {
    Table,
    Id,
    RunId,
    Source,
    Status,
    StartedAt,
    FinishedAt,
    DurationSeconds,
    RowsProcessed,
    TotalRowCount,
    FullRefresh,
    ErrorMessage,
    StartDate,
    EndDate,
    Details,
}

#[derive(DeriveIden)]
enum ActivityLog {
    Table,
    Id,
    Timestamp,
    Level,
    Source,
    Message,
    Category,
}

#[derive(DeriveIden)]
enum SchemaDriftEvents {
    Table,
    Id,
    Source,
    TableName,
    ColumnName,
    ChangeType,
    OldType,
    NewType,
    DetectedAt,
    RunId,
    Accepted,
}

async fn index(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden,
    cols: Vec<DynIden>,
) -> Result<(), DbErr> {
    let mut statement = Index::create();
    statement.if_not_exists().name(name).table(table);
    for col in cols {
        statement.col(col);
    }
    manager.create_index(statement.to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(JobRuns::Table)
                    .if_not_exists()
                    .col(string_len(JobRuns::Id, 36).primary_key())
                    .col(string_len(JobRuns::Kind, 16))
                    .col(string_len(JobRuns::Trigger, 16))
                    .col(text(JobRuns::Sources))
                    .col(text_null(JobRuns::Selector))
                    .col(string_len(JobRuns::Status, 16))
                    .col(string_len_null(JobRuns::Phase, 32))
                    .col(text_null(JobRuns::Message))
                    .col(double_null(JobRuns::Progress))
                    .col(big_integer_null(JobRuns::RowsProcessed))
                    .col(text_null(JobRuns::Error))
                    .col(boolean(JobRuns::FullRefresh).default(false))
                    .col(string_len_null(JobRuns::StartDate, 10))
                    .col(string_len_null(JobRuns::EndDate, 10))
                    .col(text_null(JobRuns::Options))
                    .col(string_len_null(JobRuns::RequestedBy, 254))
                    .col(timestamp_with_time_zone(JobRuns::CreatedAt))
                    .col(timestamp_with_time_zone_null(JobRuns::StartedAt))
                    .col(timestamp_with_time_zone_null(JobRuns::FinishedAt))
                    .col(double_null(JobRuns::DurationSeconds))
                    .col(string_len_null(JobRuns::Worker, 128))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_job_runs_status",
            JobRuns::Table,
            vec![JobRuns::Status.into_iden()],
        )
        .await?;
        index(
            manager,
            "idx_job_runs_created",
            JobRuns::Table,
            vec![JobRuns::CreatedAt.into_iden()],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(SyncHistory::Table)
                    .if_not_exists()
                    .col(big_pk_auto(SyncHistory::Id))
                    .col(string_len(SyncHistory::RunId, 36))
                    .col(string_len(SyncHistory::Source, 128))
                    .col(string_len(SyncHistory::Status, 16))
                    .col(timestamp_with_time_zone(SyncHistory::StartedAt))
                    .col(timestamp_with_time_zone(SyncHistory::FinishedAt))
                    .col(double(SyncHistory::DurationSeconds))
                    .col(big_integer(SyncHistory::RowsProcessed).default(0))
                    .col(big_integer_null(SyncHistory::TotalRowCount))
                    .col(boolean(SyncHistory::FullRefresh).default(false))
                    .col(text_null(SyncHistory::ErrorMessage))
                    .col(string_len_null(SyncHistory::StartDate, 10))
                    .col(string_len_null(SyncHistory::EndDate, 10))
                    .col(text_null(SyncHistory::Details))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_sync_history_source",
            SyncHistory::Table,
            vec![
                SyncHistory::Source.into_iden(),
                SyncHistory::StartedAt.into_iden(),
            ],
        )
        .await?;
        index(
            manager,
            "idx_sync_history_run",
            SyncHistory::Table,
            vec![SyncHistory::RunId.into_iden()],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(ActivityLog::Table)
                    .if_not_exists()
                    .col(big_pk_auto(ActivityLog::Id))
                    .col(timestamp_with_time_zone(ActivityLog::Timestamp))
                    .col(string_len(ActivityLog::Level, 16))
                    .col(string_len_null(ActivityLog::Source, 128))
                    .col(text(ActivityLog::Message))
                    .col(string_len(ActivityLog::Category, 16).default("core"))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_activity_source",
            ActivityLog::Table,
            vec![ActivityLog::Source.into_iden()],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(SchemaDriftEvents::Table)
                    .if_not_exists()
                    .col(big_pk_auto(SchemaDriftEvents::Id))
                    .col(string_len(SchemaDriftEvents::Source, 128))
                    .col(string_len(SchemaDriftEvents::TableName, 255))
                    .col(string_len(SchemaDriftEvents::ColumnName, 255))
                    .col(string_len(SchemaDriftEvents::ChangeType, 32))
                    .col(string_len_null(SchemaDriftEvents::OldType, 128))
                    .col(string_len_null(SchemaDriftEvents::NewType, 128))
                    .col(timestamp_with_time_zone(SchemaDriftEvents::DetectedAt))
                    .col(string_len_null(SchemaDriftEvents::RunId, 36))
                    .col(boolean(SchemaDriftEvents::Accepted).default(false))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_drift_source",
            SchemaDriftEvents::Table,
            vec![SchemaDriftEvents::Source.into_iden()],
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            SchemaDriftEvents::Table.into_iden(),
            ActivityLog::Table.into_iden(),
            SyncHistory::Table.into_iden(),
            JobRuns::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
