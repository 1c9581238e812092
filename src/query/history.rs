//! Each person's recent queries, for the query page: what they ran from the web UI (a
//! browser session, or the local admin when authentication is off), with its outcome.
//! Scripts and agents with API keys keep their own SQL; their queries are audited, not
//! kept here. Only the owner reads or clears their history.

use chrono::Utc;
use dango_entity::query_history::{self, Entity as QueryHistory};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use crate::Result;
use crate::auth::{AuthMethod, Principal};

/// Entries kept per user; older ones are dropped as new ones arrive.
pub const KEPT_PER_USER: u64 = 200;

/// A query someone ran, as the history lists it.
#[derive(Clone, Debug, serde::Serialize, poem_openapi::Object)]
#[oai(rename = "QueryHistoryEntry")]
pub struct HistoryEntry {
    pub id: i64,
    pub sql: String,
    pub succeeded: bool,
    pub row_count: u64,
    pub elapsed_ms: f64,
    /// Why it failed, when it did.
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<String>,
    pub executed_at: chrono::DateTime<Utc>,
}

/// How a query ended, for its history entry.
pub struct Outcome<'a> {
    pub succeeded: bool,
    pub row_count: usize,
    pub elapsed_ms: f64,
    pub error: Option<&'a str>,
}

/// Whether `principal`'s queries are kept: people at the web UI, not API keys.
pub fn keeps(principal: &Principal) -> bool {
    matches!(
        principal.method,
        AuthMethod::Session { .. } | AuthMethod::Disabled
    )
}

/// Adds an entry after the answer is on its way, and drops the user's oldest beyond
/// [`KEPT_PER_USER`].
pub fn record_in_background(
    db: &DatabaseConnection,
    principal: &Principal,
    sql: &str,
    outcome: Outcome<'_>,
) {
    // SQL over the limit was refused unread (413, never echoed): nothing to keep.
    if !keeps(principal) || sql.len() > super::guard::MAX_SQL_BYTES {
        return;
    }
    let row = query_history::ActiveModel {
        user_id: Set(principal.user_id.clone()),
        sql: Set(sql.to_string()),
        succeeded: Set(outcome.succeeded),
        row_count: Set(i64::try_from(outcome.row_count).unwrap_or(i64::MAX)),
        elapsed_ms: Set(outcome.elapsed_ms),
        error: Set(outcome.error.map(str::to_string)),
        executed_at: Set(Utc::now()),
        ..Default::default()
    };
    let db = db.clone();
    let user = principal.user_id.clone();
    tokio::spawn(async move {
        if let Err(err) = add(&db, row, &user).await {
            tracing::warn!(%err, "a query history entry was not kept");
        }
    });
}

async fn add(db: &DatabaseConnection, row: query_history::ActiveModel, user: &str) -> Result<()> {
    row.insert(db).await?;
    let oldest_kept = QueryHistory::find()
        .select_only()
        .column(query_history::Column::Id)
        .filter(query_history::Column::UserId.eq(user))
        .order_by_desc(query_history::Column::Id)
        .offset(KEPT_PER_USER - 1)
        .limit(1)
        .into_tuple::<i64>()
        .one(db)
        .await?;
    if let Some(oldest_kept) = oldest_kept {
        QueryHistory::delete_many()
            .filter(query_history::Column::UserId.eq(user))
            .filter(query_history::Column::Id.lt(oldest_kept))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// The user's latest `limit` entries, newest first.
pub async fn recent(db: &DatabaseConnection, user: &str, limit: u64) -> Result<Vec<HistoryEntry>> {
    let rows = QueryHistory::find()
        .filter(query_history::Column::UserId.eq(user))
        // Entries are written in the background, so ids may not follow the answers.
        .order_by_desc(query_history::Column::ExecutedAt)
        .order_by_desc(query_history::Column::Id)
        .limit(limit.clamp(1, KEPT_PER_USER))
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| HistoryEntry {
            id: row.id,
            sql: row.sql,
            succeeded: row.succeeded,
            row_count: u64::try_from(row.row_count).unwrap_or(0),
            elapsed_ms: row.elapsed_ms,
            error: row.error,
            executed_at: row.executed_at,
        })
        .collect())
}

/// Forgets the user's history; the number of entries removed.
pub async fn clear(db: &DatabaseConnection, user: &str) -> Result<u64> {
    let removed = QueryHistory::delete_many()
        .filter(query_history::Column::UserId.eq(user))
        .exec(db)
        .await?;
    Ok(removed.rows_affected)
}
