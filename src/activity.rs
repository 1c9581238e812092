//! The activity log (metadata DB): what happened, for people. Recording never fails
//! the work it records.

use chrono::Utc;
use dango_entity::activity_log;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "snake_case")]
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

/// `core` (syncs, builds, uploads) or `auxiliary` (everything else).
#[derive(Clone, Copy, Debug, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "snake_case")]
pub enum Category {
    Core,
    Auxiliary,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Core => "core",
            Category::Auxiliary => "auxiliary",
        }
    }
}

/// Which entries a listing returns (every field optional: no filter).
#[derive(Debug, Default)]
pub struct Filter<'a> {
    pub source: Option<&'a str>,
    pub category: Option<Category>,
    pub level: Option<Level>,
    /// Case-insensitive substring of the message.
    pub text: Option<&'a str>,
    pub since: Option<chrono::DateTime<Utc>>,
    pub until: Option<chrono::DateTime<Utc>>,
    /// Entries skipped from the newest (pagination).
    pub offset: u64,
}

/// Newest first.
pub async fn list(
    db: &DatabaseConnection,
    filter: &Filter<'_>,
    limit: u64,
) -> crate::Result<Vec<activity_log::Model>> {
    let mut select = activity_log::Entity::find();
    if let Some(source) = filter.source {
        select = select.filter(activity_log::Column::Source.eq(source));
    }
    if let Some(category) = filter.category {
        select = select.filter(activity_log::Column::Category.eq(category.as_str()));
    }
    if let Some(level) = filter.level {
        select = select.filter(activity_log::Column::Level.eq(level.as_str()));
    }
    if let Some(text) = filter.text.filter(|t| !t.is_empty()) {
        // LIKE is case-insensitive for ASCII on SQLite; lower() makes Postgres agree.
        use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
        let pattern = format!("%{}%", escape_like(&text.to_lowercase()));
        let message = Func::lower(Expr::col(activity_log::Column::Message));
        select = select.filter(Expr::expr(message).like(LikeExpr::new(pattern).escape('\\')));
    }
    if let Some(since) = filter.since {
        select = select.filter(activity_log::Column::Timestamp.gte(since));
    }
    if let Some(until) = filter.until {
        select = select.filter(activity_log::Column::Timestamp.lte(until));
    }
    Ok(select
        .order_by_desc(activity_log::Column::Id)
        .offset(filter.offset)
        .limit(limit)
        .all(db)
        .await?)
}

/// `text` with LIKE's wildcards taken literally.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}
