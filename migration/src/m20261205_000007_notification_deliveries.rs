//! Every webhook delivery attempted: which event went where, how many attempts it took
//! and how it ended, so "did the alert go out?" has an answer.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum NotificationDeliveries {
    Table,
    Id,
    Event,
    Webhook,
    Url,
    RunId,
    Source,
    Status,
    Attempts,
    HttpStatus,
    Error,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use NotificationDeliveries as D;
        manager
            .create_table(
                Table::create()
                    .table(D::Table)
                    .if_not_exists()
                    .col(string_len(D::Id, 36).primary_key())
                    .col(string_len(D::Event, 64))
                    .col(string_len(D::Webhook, 128))
                    // Masked: a webhook URL is a credential.
                    .col(string_len(D::Url, 512))
                    .col(string_len_null(D::RunId, 36))
                    .col(string_len_null(D::Source, 128))
                    .col(string_len(D::Status, 16))
                    .col(integer(D::Attempts))
                    .col(integer_null(D::HttpStatus))
                    .col(text_null(D::Error))
                    .col(timestamp_with_time_zone(D::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_notification_deliveries_created")
                    .table(D::Table)
                    .col(D::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(NotificationDeliveries::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
