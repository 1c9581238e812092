use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(unique)]
    pub email: String,
    pub display_name: Option<String>,
    pub password_hash: Option<String>,
    pub role: String,
    pub is_active: bool,
    pub totp_secret: Option<String>,
    pub totp_enabled: bool,
    /// Last accepted TOTP time step; a code of this step or earlier is a replay.
    pub totp_last_step: Option<i64>,
    /// JSON array of argon2 hashes of unused recovery codes.
    pub recovery_codes: Option<String>,
    pub oauth_provider: Option<String>,
    pub oauth_id: Option<String>,
    pub failed_login_attempts: i32,
    pub locked_until: Option<DateTimeUtc>,
    pub must_change_password: bool,
    pub last_login: Option<DateTimeUtc>,
    pub invite_token_hash: Option<String>,
    pub invite_expires_at: Option<DateTimeUtc>,
    pub password_changed_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::sessions::Entity")]
    Sessions,
    #[sea_orm(has_many = "super::api_keys::Entity")]
    ApiKeys,
}

impl Related<super::sessions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Sessions.def()
    }
}

impl Related<super::api_keys::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ApiKeys.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
