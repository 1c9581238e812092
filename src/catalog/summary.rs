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
    let columns = deps.warehouse.read(crate::profiling::all_columns).await?;
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
                        .get(&(table.schema.clone(), table.name.clone()))
                        .into_iter()
                        .flatten()
                        .map(|column| SummaryColumn {
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

/// Unaccepted schema-drift events per source, counted by the database.
async fn drift_counts(
    db: &sea_orm::DatabaseConnection,
) -> crate::Result<std::collections::HashMap<String, u64>> {
    use dango_entity::schema_drift_events::{Column, Entity};
    use sea_orm::sea_query::{Expr, ExprTrait};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
    let counts: Vec<(String, i64)> = Entity::find()
        .select_only()
        .column(Column::Source)
        .column_as(Expr::col(Column::Id).count(), "events")
        .filter(Column::Accepted.eq(false))
        .group_by(Column::Source)
        .into_tuple()
        .all(db)
        .await?;
    Ok(counts
        .into_iter()
        .map(|(source, events)| (source, u64::try_from(events).unwrap_or_default()))
        .collect())
}
