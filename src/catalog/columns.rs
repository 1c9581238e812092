//! The columns of one warehouse relation with their profile (behaviour §9.3):
//! `GET /api/catalog/{source}/{table}/columns` answers from the cache,
//! `POST …/profile` profiles now.

use chrono::{DateTime, Utc};
use poem_openapi::Object;

use super::CatalogDeps;
use crate::profiling::{self, ColumnStats, LiveColumn, ProfileDeps, Relation, TableProfile};
use crate::transform::artifact_model::Artifacts;

/// A relation's columns and what profiling found in them.
#[derive(Debug, Object)]
pub struct TableColumns {
    pub source: String,
    pub table: String,
    /// The warehouse schema the relation lives in (`raw_<source>`, `staging`, a dbt schema).
    pub schema: String,
    /// Rows when last profiled (null before the first profile).
    pub row_count: Option<u64>,
    pub profiled_at: Option<DateTime<Utc>>,
    /// How long the last profile took.
    pub profile_duration_ms: Option<u64>,
    pub columns: Vec<CatalogColumn>,
}

#[derive(Debug, Object)]
pub struct CatalogColumn {
    pub name: String,
    /// DuckDB's type name.
    #[oai(rename = "type")]
    pub data_type: String,
    pub nullable: bool,
    /// From the dbt project's documentation of the source or model, when there is one.
    pub description: Option<String>,
    /// Null until profiled, and for a column added or retyped since the last profile.
    pub stats: Option<ColumnStats>,
}

/// The columns of `source`/`table` with their cached profile.
pub async fn table_columns(
    deps: &CatalogDeps<'_>,
    source: &str,
    table: &str,
) -> crate::Result<TableColumns> {
    let (relation, live) = locate(deps, source, table).await?;
    let profile = profiling::cached(deps.db, &relation).await?;
    Ok(answer(
        deps,
        source,
        table,
        relation,
        live,
        profile.as_ref(),
    ))
}

/// Profiles `source`/`table` now, caches it and answers like [`table_columns`].
pub async fn profile_now(
    deps: &CatalogDeps<'_>,
    source: &str,
    table: &str,
) -> crate::Result<TableColumns> {
    let (relation, live) = locate(deps, source, table).await?;
    let profiler = ProfileDeps {
        warehouse: deps.warehouse.clone(),
        db: deps.db.clone(),
    };
    let profile = profiling::profile(&profiler, &relation).await?;
    Ok(answer(deps, source, table, relation, live, Some(&profile)))
}

async fn locate(
    deps: &CatalogDeps<'_>,
    source: &str,
    table: &str,
) -> crate::Result<(Relation, Vec<LiveColumn>)> {
    let (source, table) = (source.to_string(), table.to_string());
    deps.warehouse
        .read(move |conn| {
            let relation = profiling::locate(conn, &source, &table)?;
            let live = profiling::live_columns(conn, &relation)?;
            Ok((relation, live))
        })
        .await
}

fn answer(
    deps: &CatalogDeps<'_>,
    source: &str,
    table: &str,
    relation: Relation,
    live: Vec<LiveColumn>,
    profile: Option<&TableProfile>,
) -> TableColumns {
    let documented = deps
        .artifacts
        .as_deref()
        .map(|a| descriptions(a, &relation));
    let columns = live
        .into_iter()
        .map(|column| CatalogColumn {
            description: documented
                .as_ref()
                .and_then(|d| d.get(&column.name.to_lowercase()).cloned()),
            stats: profile.and_then(|p| p.stats_of(&column)).cloned(),
            nullable: column.nullable,
            data_type: column.data_type,
            name: column.name,
        })
        .collect();
    TableColumns {
        source: source.to_ascii_lowercase(),
        table: table.to_ascii_lowercase(),
        schema: relation.schema,
        row_count: profile.map(|p| p.row_count),
        profiled_at: profile.map(|p| p.profiled_at),
        profile_duration_ms: profile.map(|p| p.duration_ms),
        columns,
    }
}

/// Documented column descriptions of the dbt source or node that is `relation`.
fn descriptions(
    artifacts: &Artifacts,
    relation: &Relation,
) -> std::collections::HashMap<String, String> {
    super::sources(artifacts)
        .chain(super::nodes(artifacts))
        .map(|(_, node)| node)
        .find(|node| {
            node.schema.eq_ignore_ascii_case(&relation.schema)
                && node.relation().eq_ignore_ascii_case(&relation.name)
        })
        .map(|node| {
            node.columns
                .iter()
                .filter(|(_, c)| !c.description.is_empty())
                .map(|(name, c)| (name.to_lowercase(), c.description.clone()))
                .collect()
        })
        .unwrap_or_default()
}
