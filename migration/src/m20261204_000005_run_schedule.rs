//! Which schedule a run was started for: the scheduler finds a schedule's last firing
//! (and whether a run of it is still going) from the runs themselves.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum JobRuns {
    Table,
    Schedule,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(JobRuns::Table)
                    .add_column(string_len_null(JobRuns::Schedule, 128))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_job_runs_schedule")
                    .table(JobRuns::Table)
                    .col(JobRuns::Schedule)
                    .col(JobRuns::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name("idx_job_runs_schedule").to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(JobRuns::Table)
                    .drop_column(JobRuns::Schedule)
                    .to_owned(),
            )
            .await
    }
}
