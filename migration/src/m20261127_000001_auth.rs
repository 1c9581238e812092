//! Users, sessions, API keys, login attempts and the audit log.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    DisplayName,
    PasswordHash,
    Role,
    IsActive,
    TotpSecret,
    TotpEnabled,
    TotpLastStep,
    RecoveryCodes,
    OauthProvider,
    OauthId,
    FailedLoginAttempts,
    LockedUntil,
    MustChangePassword,
    LastLogin,
    InviteTokenHash,
    InviteExpiresAt,
    PasswordChangedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    UserId,
    TokenHash,
    IsPartial,
    FailedAttempts,
    CreatedAt,
    ExpiresAt,
    LastActivity,
    IpAddress,
    UserAgent,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    UserId,
    Name,
    KeyHash,
    KeyPrefix,
    RoleCap,
    IsActive,
    CreatedAt,
    LastUsedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum LoginAttempts {
    Table,
    Key,
    Email,
    Attempts,
    LockedUntil,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    Timestamp,
    Event,
    UserId,
    Email,
    Ip,
    Details,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .if_not_exists()
                    .col(string_len(Users::Id, 36).primary_key())
                    .col(string_len_uniq(Users::Email, 254))
                    .col(string_len_null(Users::DisplayName, 200))
                    .col(text_null(Users::PasswordHash))
                    .col(string_len(Users::Role, 16))
                    .col(boolean(Users::IsActive).default(true))
                    .col(string_len_null(Users::TotpSecret, 64))
                    .col(boolean(Users::TotpEnabled).default(false))
                    .col(big_integer_null(Users::TotpLastStep))
                    .col(text_null(Users::RecoveryCodes))
                    .col(string_len_null(Users::OauthProvider, 64))
                    .col(string_len_null(Users::OauthId, 255))
                    .col(integer(Users::FailedLoginAttempts).default(0))
                    .col(timestamp_with_time_zone_null(Users::LockedUntil))
                    .col(boolean(Users::MustChangePassword).default(false))
                    .col(timestamp_with_time_zone_null(Users::LastLogin))
                    .col(string_len_null(Users::InviteTokenHash, 64))
                    .col(timestamp_with_time_zone_null(Users::InviteExpiresAt))
                    .col(timestamp_with_time_zone_null(Users::PasswordChangedAt))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_users_oauth")
                    .table(Users::Table)
                    .col(Users::OauthProvider)
                    .col(Users::OauthId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_users_invite")
                    .table(Users::Table)
                    .col(Users::InviteTokenHash)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .if_not_exists()
                    .col(string_len(Sessions::Id, 36).primary_key())
                    .col(string_len(Sessions::UserId, 36))
                    .col(string_len_uniq(Sessions::TokenHash, 64))
                    .col(boolean(Sessions::IsPartial).default(false))
                    .col(integer(Sessions::FailedAttempts).default(0))
                    .col(timestamp_with_time_zone(Sessions::CreatedAt))
                    .col(timestamp_with_time_zone(Sessions::ExpiresAt))
                    .col(timestamp_with_time_zone(Sessions::LastActivity))
                    .col(string_len_null(Sessions::IpAddress, 64))
                    .col(string_len_null(Sessions::UserAgent, 512))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_sessions_user")
                            .from(Sessions::Table, Sessions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_sessions_user")
                    .table(Sessions::Table)
                    .col(Sessions::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .if_not_exists()
                    .col(string_len(ApiKeys::Id, 36).primary_key())
                    .col(string_len(ApiKeys::UserId, 36))
                    .col(string_len(ApiKeys::Name, 128))
                    .col(string_len_uniq(ApiKeys::KeyHash, 64))
                    .col(string_len(ApiKeys::KeyPrefix, 16))
                    .col(string_len_null(ApiKeys::RoleCap, 16))
                    .col(boolean(ApiKeys::IsActive).default(true))
                    .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::LastUsedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_api_keys_user")
                            .from(ApiKeys::Table, ApiKeys::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_api_keys_user")
                    .table(ApiKeys::Table)
                    .col(ApiKeys::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(LoginAttempts::Table)
                    .if_not_exists()
                    .col(string_len(LoginAttempts::Key, 64).primary_key())
                    .col(string_len(LoginAttempts::Email, 254))
                    .col(integer(LoginAttempts::Attempts).default(0))
                    .col(timestamp_with_time_zone_null(LoginAttempts::LockedUntil))
                    .col(timestamp_with_time_zone(LoginAttempts::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_login_attempts_email")
                    .table(LoginAttempts::Table)
                    .col(LoginAttempts::Email)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .if_not_exists()
                    .col(big_pk_auto(AuditEvents::Id))
                    .col(timestamp_with_time_zone(AuditEvents::Timestamp))
                    .col(string_len(AuditEvents::Event, 64))
                    .col(string_len_null(AuditEvents::UserId, 36))
                    .col(string_len_null(AuditEvents::Email, 254))
                    .col(string_len_null(AuditEvents::Ip, 64))
                    .col(text_null(AuditEvents::Details))
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("idx_audit_timestamp", AuditEvents::Timestamp),
            ("idx_audit_event", AuditEvents::Event),
            ("idx_audit_user", AuditEvents::UserId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .if_not_exists()
                        .name(name)
                        .table(AuditEvents::Table)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditEvents::Table.into_iden(),
            LoginAttempts::Table.into_iden(),
            ApiKeys::Table.into_iden(),
            Sessions::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
