//! The activity log (metadata DB): what happened, for people. Recording never fails
//! the work it records.

use chrono::Utc;
use dango_entity::activity_log;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

#[derive(Clone, Copy, Debug)]
pub enum Level {
    Info,
    Success,
    Warning,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Success => "success",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

pub async fn record(db: &DatabaseConnection, level: Level, source: Option<&str>, message: &str) {
    let message: String = message.trim().chars().take(4000).collect();
    let row = activity_log::ActiveModel {
        timestamp: Set(Utc::now()),
        level: Set(level.as_str().into()),
        source: Set(source.map(str::to_string)),
        message: Set(message),
        category: Set("core".into()),
        ..Default::default()
    };
    if let Err(err) = row.insert(db).await {
        tracing::warn!("could not write activity log: {err}");
    }
}

/// Newest first.
pub async fn list(
    db: &DatabaseConnection,
    source: Option<&str>,
    category: Option<&str>,
    limit: u64,
) -> crate::Result<Vec<activity_log::Model>> {
    let mut select = activity_log::Entity::find();
    if let Some(source) = source {
        select = select.filter(activity_log::Column::Source.eq(source));
    }
    if let Some(category) = category {
        select = select.filter(activity_log::Column::Category.eq(category));
    }
    Ok(select
        .order_by_desc(activity_log::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}
