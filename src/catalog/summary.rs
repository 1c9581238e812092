//! `GET /api/catalog/summary` (behaviour §15.1): the whole catalog in one answer an agent
//! can read before it asks anything: every source with its tables and their columns,
//! freshness and quality signals, and the dbt models.

use chrono::{DateTime, Utc};
use poem_openapi::Object;

use super::{CatalogDeps, DbtModel, dbt_models};
use crate::sources::{Freshness, SourceStatus};

#[derive(Debug, Object)]
pub struct CatalogSummary {
    pub description: String,
    pub generated_at: DateTime<Utc>,
    pub sources: Vec<SummarySource>,
    pub dbt_models: Vec<DbtModel>,
    pub totals: SummaryTotals,
}

#[derive(Debug, Object)]
pub struct SummarySource {
    pub name: String,
    #[oai(rename = "type")]
    pub source_type: String,
    pub enabled: bool,
    /// The source's status (`synced`, `failed`, `never_synced`, `syncing`, …).
    pub status: String,
    pub last_sync_time: Option<DateTime<Utc>>,
    /// Rows over the source's raw tables.
    pub row_count: Option<u64>,
    pub freshness: Freshness,
    pub tables: Vec<SummaryTable>,
    pub quality: SummaryQuality,
}

#[derive(Debug, Object)]
pub struct SummaryTable {
    pub name: String,
    pub source: String,
    /// The warehouse schema (`raw_<source>`): query it as `raw_<source>.<name>`.
    pub schema: String,
    pub row_count: u64,
    pub columns: Vec<SummaryColumn>,
}

#[derive(Debug, Object)]
pub struct SummaryColumn {
    pub name: String,
    #[oai(rename = "type")]
    pub data_type: String,
    pub nullable: bool,
}

/// Signals from governance; zero for callers without `governance.view`.
#[derive(Debug, Object, Default)]
pub struct SummaryQuality {
    /// Schema changes recorded for this source and not accepted yet.
    pub drift_event_count: u64,
    /// Columns flagged as PII (the governance scan fills this).
    pub pii_column_count: u64,
}

#[derive(Debug, Object)]
pub struct SummaryTotals {
    pub source_count: u64,
    pub table_count: u64,
    pub model_count: u64,
}

/// The summary of `sources` (as `GET /api/sources` lists them) and the dbt project;
/// `with_quality` fills the governance signals.
pub async fn summary(
    deps: CatalogDeps<'_>,
    sources: Vec<SourceStatus>,
    with_quality: bool,
) -> crate::Result<CatalogSummary> {
    let columns = raw_columns(&deps).await?;
    let drift = if with_quality {
        drift_counts(deps.db).await?
    } else {
        Default::default()
    };
    let sources: Vec<SummarySource> = sources
        .into_iter()
        .map(|source| {
            let tables = source
                .tables
                .iter()
                .map(|table| SummaryTable {
                    name: table.name.clone(),
                    source: source.name.clone(),
                    schema: table.schema.clone(),
                    row_count: table.row_count,
                    columns: columns
                        .iter()
                        .filter(|(schema, name, _)| *schema == table.schema && *name == table.name)
                        .map(|(_, _, column)| SummaryColumn {
                            name: column.name.clone(),
                            data_type: column.data_type.clone(),
                            nullable: column.nullable,
                        })
                        .collect(),
                })
                .collect();
            SummarySource {
                quality: SummaryQuality {
                    drift_event_count: drift.get(&source.name).copied().unwrap_or_default(),
                    pii_column_count: 0,
                },
                name: source.name,
                source_type: source.source_type,
                enabled: source.enabled,
                status: source.status,
                last_sync_time: source.last_sync,
                row_count: source.row_count,
                freshness: source.freshness,
                tables,
            }
        })
        .collect();
    let dbt_models = dbt_models(deps).await.models;
    Ok(CatalogSummary {
        description: "Dango data catalog summary. Contains all configured data sources with \
                      table schemas, freshness, and quality signals, plus dbt transformation \
                      models."
            .into(),
        generated_at: Utc::now(),
        totals: SummaryTotals {
            source_count: sources.len() as u64,
            table_count: sources.iter().map(|s| s.tables.len() as u64).sum(),
            model_count: dbt_models.len() as u64,
        },
        sources,
        dbt_models,
    })
}

type RawColumn = (String, String, crate::profiling::LiveColumn);

/// Every column of every raw table, in one read.
async fn raw_columns(deps: &CatalogDeps<'_>) -> crate::Result<Vec<RawColumn>> {
    deps.warehouse
        .read(|conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT table_schema, table_name, column_name, data_type, is_nullable = 'YES' \
                     FROM information_schema.columns WHERE table_schema LIKE 'raw\\_%' ESCAPE '\\' \
                     ORDER BY table_schema, table_name, ordinal_position",
                )
                .map_err(crate::Error::internal)?;
            let rows = stmt
                .query_map([], |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        crate::profiling::LiveColumn {
                            name: row.get(2)?,
                            data_type: row.get(3)?,
                            nullable: row.get(4)?,
                        },
                    ))
                })
                .map_err(crate::Error::internal)?;
            rows.collect::<Result<_, _>>()
                .map_err(crate::Error::internal)
        })
        .await
}

/// Unaccepted schema-drift events per source.
async fn drift_counts(
    db: &sea_orm::DatabaseConnection,
) -> crate::Result<std::collections::HashMap<String, u64>> {
    use dango_entity::schema_drift_events::{Column, Entity};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let events = Entity::find()
        .filter(Column::Accepted.eq(false))
        .all(db)
        .await?;
    let mut counts = std::collections::HashMap::new();
    for event in events {
        *counts.entry(event.source).or_default() += 1;
    }
    Ok(counts)
}
