//! Column profiles of warehouse relations (behaviour §9.2, done in fewer passes): per
//! column its null and distinct counts, min/max, mean, spread and quartiles of numbers,
//! lengths of strings, the most frequent values and a few samples. One aggregate query
//! covers every column; the top values take one grouped query per column that has
//! repeated values. Profiles are cached in the metadata DB (`table_profiles`) and
//! refreshed in the background after each sync.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use dango_entity::table_profiles;
use duckdb::Connection;
use duckdb::types::Value;
use poem_openapi::Object;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait};
use serde::{Deserialize, Serialize};

use crate::warehouse::{Warehouse, quote_ident};
use crate::{Error, Result};

mod locate;
pub use locate::{Relation, locate, relations_of_sources};

/// Above this many rows distinct counts are estimated (HyperLogLog), and say so.
pub const EXACT_DISTINCT_MAX_ROWS: u64 = 1_000_000;
/// Most frequent values kept per column.
const TOP_VALUES: usize = 5;
/// Sample values kept per column.
const SAMPLES: usize = 5;

/// A column as the warehouse describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveColumn {
    pub name: String,
    pub data_type: String,
    pub nullable: bool,
}

/// How often one value occurs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Object)]
pub struct ValueCount {
    pub value: String,
    pub count: u64,
}

/// What a profile found in one column. Which statistics are present depends on the type:
/// numbers have mean, spread and quartiles; strings have lengths; every orderable type
/// has min and max (as text, exactly as DuckDB prints them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Object)]
pub struct ColumnStats {
    pub null_count: u64,
    /// Nulls as a percentage of the rows, one decimal.
    pub null_pct: f64,
    pub distinct_count: u64,
    /// Whether `distinct_count` is an estimate (tables above 1,000,000 rows).
    pub distinct_approximate: bool,
    pub min: Option<String>,
    pub max: Option<String>,
    pub mean: Option<f64>,
    pub stddev: Option<f64>,
    pub p25: Option<f64>,
    pub median: Option<f64>,
    pub p75: Option<f64>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub mean_length: Option<f64>,
    /// The most frequent values with their counts, most frequent first (empty when
    /// every value is distinct: none is more frequent than another).
    pub top_values: Vec<ValueCount>,
    /// Up to five distinct values as text.
    pub sample_values: Vec<String>,
}

/// One profiled column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfiledColumn {
    pub name: String,
    pub data_type: String,
    pub stats: ColumnStats,
}

/// The profile of a relation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableProfile {
    pub row_count: u64,
    pub columns: Vec<ProfiledColumn>,
    pub profiled_at: DateTime<Utc>,
    pub duration_ms: u64,
}

impl TableProfile {
    /// The statistics of `column`, if it was profiled with the same type.
    pub fn stats_of(&self, column: &LiveColumn) -> Option<&ColumnStats> {
        self.columns
            .iter()
            .find(|c| c.name == column.name && c.data_type == column.data_type)
            .map(|c| &c.stats)
    }
}

/// What profiling reads and where it keeps its results.
#[derive(Clone)]
pub struct ProfileDeps {
    pub warehouse: Arc<Warehouse>,
    pub db: DatabaseConnection,
}

/// The relation's columns in order.
pub fn live_columns(conn: &Connection, relation: &Relation) -> Result<Vec<LiveColumn>> {
    let mut stmt = conn
        .prepare(
            "SELECT column_name, data_type, is_nullable = 'YES' FROM information_schema.columns \
             WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        )
        .map_err(Error::internal)?;
    let rows = stmt
        .query_map([&relation.schema, &relation.name], |row| {
            Ok(LiveColumn {
                name: row.get(0)?,
                data_type: row.get(1)?,
                nullable: row.get(2)?,
            })
        })
        .map_err(Error::internal)?;
    rows.collect::<std::result::Result<_, _>>()
        .map_err(Error::internal)
}

/// Every column of every table and view, by (schema, relation), each list in order.
pub fn all_columns(
    conn: &Connection,
) -> Result<std::collections::BTreeMap<(String, String), Vec<LiveColumn>>> {
    let mut stmt = conn
        .prepare(
            "SELECT table_schema, table_name, column_name, data_type, is_nullable = 'YES' \
             FROM information_schema.columns \
             ORDER BY table_schema, table_name, ordinal_position",
        )
        .map_err(Error::internal)?;
    let rows = stmt
        .query_map([], |row| {
            Ok((
                (row.get::<_, String>(0)?, row.get::<_, String>(1)?),
                LiveColumn {
                    name: row.get(2)?,
                    data_type: row.get(3)?,
                    nullable: row.get(4)?,
                },
            ))
        })
        .map_err(Error::internal)?;
    let mut columns: std::collections::BTreeMap<_, Vec<LiveColumn>> = Default::default();
    for row in rows {
        let (relation, column) = row.map_err(Error::internal)?;
        columns.entry(relation).or_default().push(column);
    }
    Ok(columns)
}

/// How long profiling one relation may take: a view over an expensive query is stopped
/// rather than left running in the background.
pub const PROFILE_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Profiles `relation` now and caches the result.
pub async fn profile(deps: &ProfileDeps, relation: &Relation) -> Result<TableProfile> {
    let target = relation.clone();
    let what = format!("Profiling {}.{}", relation.schema, relation.name);
    let profile = deps
        .warehouse
        .read_within(PROFILE_LIMIT, &what, move |conn| compute(conn, &target))
        .await?;
    store(&deps.db, relation, &profile).await?;
    Ok(profile)
}

/// The cached profile of `relation`, if it was profiled (an unreadable cache entry
/// counts as none: it is recomputed at the next profile).
pub async fn cached(db: &DatabaseConnection, relation: &Relation) -> Result<Option<TableProfile>> {
    let row = table_profiles::Entity::find_by_id((relation.schema.clone(), relation.name.clone()))
        .one(db)
        .await?;
    Ok(row.and_then(|row| {
        let columns = serde_json::from_str(&row.columns).ok()?;
        Some(TableProfile {
            row_count: u64::try_from(row.row_count).unwrap_or_default(),
            columns,
            profiled_at: row.profiled_at,
            duration_ms: u64::try_from(row.duration_ms).unwrap_or_default(),
        })
    }))
}

async fn store(db: &DatabaseConnection, relation: &Relation, profile: &TableProfile) -> Result<()> {
    let row = table_profiles::ActiveModel {
        schema_name: Set(relation.schema.clone()),
        table_name: Set(relation.name.clone()),
        row_count: Set(i64::try_from(profile.row_count).unwrap_or(i64::MAX)),
        columns: Set(serde_json::to_string(&profile.columns).map_err(Error::internal)?),
        profiled_at: Set(profile.profiled_at),
        duration_ms: Set(i64::try_from(profile.duration_ms).unwrap_or(i64::MAX)),
    };
    use table_profiles::Column;
    table_profiles::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([Column::SchemaName, Column::TableName])
                .update_columns([
                    Column::RowCount,
                    Column::Columns,
                    Column::ProfiledAt,
                    Column::DurationMs,
                ])
                .to_owned(),
        )
        .exec(db)
        .await?;
    Ok(())
}

/// Profiles `relations` one after another; a relation that fails is logged and skipped.
pub async fn refresh(deps: &ProfileDeps, relations: Vec<Relation>) {
    for relation in relations {
        if let Err(err) = profile(deps, &relation).await {
            tracing::warn!(
                "profiling {}.{} failed: {}",
                relation.schema,
                relation.name,
                err.detailed_message()
            );
        }
    }
}

/// How a column is summarised, from its DuckDB type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Number,
    Text,
    Blob,
    /// Dates, times, booleans, UUIDs: min and max only.
    Ordered,
    /// Lists, structs, maps, unions: counts and samples only.
    Nested,
}

fn kind_of(data_type: &str) -> Kind {
    let upper = data_type.to_ascii_uppercase();
    if upper.ends_with(']')
        || ["STRUCT", "MAP", "UNION", "LIST"]
            .iter()
            .any(|p| upper.starts_with(p))
    {
        return Kind::Nested;
    }
    let base = upper.split('(').next().unwrap_or_default().trim();
    match base {
        "TINYINT" | "SMALLINT" | "INTEGER" | "BIGINT" | "HUGEINT" | "UTINYINT" | "USMALLINT"
        | "UINTEGER" | "UBIGINT" | "UHUGEINT" | "FLOAT" | "DOUBLE" | "REAL" | "DECIMAL"
        | "NUMERIC" | "INT" | "INT1" | "INT2" | "INT4" | "INT8" => Kind::Number,
        "VARCHAR" | "TEXT" | "STRING" | "CHAR" | "BPCHAR" => Kind::Text,
        "BLOB" | "BYTEA" | "BIT" => Kind::Blob,
        _ => Kind::Ordered,
    }
}

/// The aggregate expressions for one column, in the order [`read_stats`] reads them.
fn aggregates(column: &str, kind: Kind, approximate: bool) -> Vec<String> {
    let q = quote_ident(column);
    let distinct = if approximate {
        format!("approx_count_distinct({q})")
    } else {
        format!("count(DISTINCT {q})")
    };
    let mut items = vec![format!("count({q})"), distinct];
    match kind {
        Kind::Number => items.extend([
            format!("min({q})::VARCHAR"),
            format!("max({q})::VARCHAR"),
            format!("avg({q})::DOUBLE"),
            format!("stddev_samp({q})::DOUBLE"),
            // Exact quartiles sort every value; estimates are as good for a profile.
            if approximate {
                format!("approx_quantile({q}::DOUBLE, [0.25, 0.5, 0.75])")
            } else {
                format!("quantile_cont({q}::DOUBLE, [0.25, 0.5, 0.75])")
            },
        ]),
        Kind::Text | Kind::Blob => {
            let length = if kind == Kind::Text {
                format!("length({q})")
            } else {
                format!("octet_length({q}::BLOB)")
            };
            items.extend([
                format!("min({q})::VARCHAR"),
                format!("max({q})::VARCHAR"),
                format!("min({length})"),
                format!("max({length})"),
                format!("avg({length})::DOUBLE"),
            ]);
        }
        Kind::Ordered => items.extend([format!("min({q})::VARCHAR"), format!("max({q})::VARCHAR")]),
        Kind::Nested => {}
    }
    items
}

/// Computes the profile of `relation` on `conn`.
pub fn compute(conn: &Connection, relation: &Relation) -> Result<TableProfile> {
    let started = Instant::now();
    let columns = live_columns(conn, relation)?;
    let from = format!(
        "{}.{}",
        quote_ident(&relation.schema),
        quote_ident(&relation.name)
    );
    let row_count: u64 = conn
        .query_row(&format!("SELECT count(*) FROM {from}"), [], |row| {
            row.get(0)
        })
        .map_err(Error::internal)?;
    let approximate = row_count > EXACT_DISTINCT_MAX_ROWS;
    let kinds: Vec<Kind> = columns.iter().map(|c| kind_of(&c.data_type)).collect();
    let mut select = Vec::new();
    for (column, kind) in columns.iter().zip(&kinds) {
        select.extend(aggregates(&column.name, *kind, approximate));
    }
    let mut stats: Vec<ColumnStats> = Vec::with_capacity(columns.len());
    if !select.is_empty() {
        let sql = format!("SELECT {} FROM {from}", select.join(", "));
        let values: Vec<Value> = conn
            .query_row(&sql, [], |row| {
                (0..select.len()).map(|i| row.get::<_, Value>(i)).collect()
            })
            .map_err(Error::internal)?;
        let mut values = values.into_iter();
        for kind in &kinds {
            stats.push(read_stats(&mut values, *kind, row_count, approximate));
        }
    }
    for ((column, kind), stats) in columns.iter().zip(&kinds).zip(stats.iter_mut()) {
        let non_null = row_count - stats.null_count;
        let all_distinct = stats.distinct_count >= non_null;
        if *kind != Kind::Nested && !all_distinct && non_null > 0 {
            stats.top_values = top_values(conn, &from, &column.name)?;
            stats.sample_values = stats.top_values.iter().map(|v| v.value.clone()).collect();
        } else if non_null > 0 {
            stats.sample_values = samples(conn, &from, &column.name)?;
        }
    }
    Ok(TableProfile {
        row_count,
        columns: columns
            .into_iter()
            .zip(stats)
            .map(|(column, stats)| ProfiledColumn {
                name: column.name,
                data_type: column.data_type,
                stats,
            })
            .collect(),
        profiled_at: Utc::now(),
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

fn read_stats(
    values: &mut impl Iterator<Item = Value>,
    kind: Kind,
    row_count: u64,
    approximate: bool,
) -> ColumnStats {
    let mut next = || values.next().unwrap_or(Value::Null);
    let non_null = as_u64(next());
    let null_count = row_count.saturating_sub(non_null);
    let mut stats = ColumnStats {
        null_count,
        null_pct: if row_count == 0 {
            0.0
        } else {
            (null_count as f64 * 1000.0 / row_count as f64).round() / 10.0
        },
        distinct_count: as_u64(next()),
        distinct_approximate: approximate,
        ..ColumnStats::default()
    };
    match kind {
        Kind::Number => {
            stats.min = as_text(next());
            stats.max = as_text(next());
            stats.mean = as_f64(next());
            stats.stddev = as_f64(next());
            if let Value::List(quartiles) = next() {
                let mut quartiles = quartiles.into_iter().map(as_f64);
                stats.p25 = quartiles.next().flatten();
                stats.median = quartiles.next().flatten();
                stats.p75 = quartiles.next().flatten();
            }
        }
        Kind::Text | Kind::Blob => {
            stats.min = as_text(next());
            stats.max = as_text(next());
            stats.min_length = Some(as_u64(next())).filter(|_| non_null > 0);
            stats.max_length = Some(as_u64(next())).filter(|_| non_null > 0);
            stats.mean_length = as_f64(next());
        }
        Kind::Ordered => {
            stats.min = as_text(next());
            stats.max = as_text(next());
        }
        Kind::Nested => {}
    }
    stats
}

fn top_values(conn: &Connection, from: &str, column: &str) -> Result<Vec<ValueCount>> {
    let q = quote_ident(column);
    let sql = format!(
        "SELECT {q}::VARCHAR, count(*) AS n FROM {from} WHERE {q} IS NOT NULL \
         GROUP BY {q} ORDER BY n DESC, 1 LIMIT {TOP_VALUES}"
    );
    let mut stmt = conn.prepare(&sql).map_err(Error::internal)?;
    let rows = stmt
        .query_map([], |row| {
            Ok(ValueCount {
                value: row.get(0)?,
                count: row.get(1)?,
            })
        })
        .map_err(Error::internal)?;
    rows.collect::<std::result::Result<_, _>>()
        .map_err(Error::internal)
}

fn samples(conn: &Connection, from: &str, column: &str) -> Result<Vec<String>> {
    let q = quote_ident(column);
    let sql = format!("SELECT {q}::VARCHAR FROM {from} WHERE {q} IS NOT NULL LIMIT {SAMPLES}");
    let mut stmt = conn.prepare(&sql).map_err(Error::internal)?;
    let rows = stmt
        .query_map([], |row| row.get::<_, String>(0))
        .map_err(Error::internal)?;
    rows.collect::<std::result::Result<_, _>>()
        .map_err(Error::internal)
}

fn as_u64(value: Value) -> u64 {
    match value {
        Value::BigInt(n) => u64::try_from(n).unwrap_or_default(),
        Value::Int(n) => u64::try_from(n).unwrap_or_default(),
        Value::UBigInt(n) => n,
        Value::HugeInt(n) => u64::try_from(n).unwrap_or(u64::MAX),
        Value::Double(n) if n.is_finite() && n >= 0.0 => n as u64,
        _ => 0,
    }
}

fn as_f64(value: Value) -> Option<f64> {
    match value {
        Value::Double(n) if n.is_finite() => Some(n),
        Value::Float(n) if n.is_finite() => Some(f64::from(n)),
        Value::BigInt(n) => Some(n as f64),
        _ => None,
    }
}

fn as_text(value: Value) -> Option<String> {
    match value {
        Value::Text(text) => Some(text),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
