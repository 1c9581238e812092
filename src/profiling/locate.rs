//! Which warehouse relation `/api/catalog/{source}/{table}` means: a raw table of a
//! source (`raw_<source>.<table>`), a staging view of it (`staging.stg_<source>__…`), or a
//! dbt relation named by its schema (`marts.orders`).

use duckdb::Connection;

use crate::{Error, Result};

/// A table or view in the warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Relation {
    pub schema: String,
    pub name: String,
}

impl Relation {
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            schema: schema.into(),
            name: name.into(),
        }
    }
}

/// Names in catalog paths: what sources and dbt relations are called.
fn is_plain_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Every user table and view of the warehouse.
fn relations(conn: &Connection) -> Result<Vec<Relation>> {
    let mut stmt = conn
        .prepare(
            "SELECT schema_name, table_name FROM duckdb_tables() \
               WHERE NOT internal AND database_name = current_database() \
             UNION ALL SELECT schema_name, view_name FROM duckdb_views() \
               WHERE NOT internal AND database_name = current_database()",
        )
        .map_err(Error::internal)?;
    let rows = stmt
        .query_map([], |row| {
            Ok(Relation::new(
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
            ))
        })
        .map_err(Error::internal)?;
    rows.collect::<std::result::Result<_, _>>()
        .map_err(Error::internal)
}

/// The relation `source`/`table` names, or why there is none.
pub fn locate(conn: &Connection, source: &str, table: &str) -> Result<Relation> {
    let (source, table) = (source.to_ascii_lowercase(), table.to_ascii_lowercase());
    if !is_plain_name(&source) || !is_plain_name(&table) {
        return Err(Error::bad_request(
            "Source and table names are lowercase letters, digits and underscores",
        ));
    }
    let all = relations(conn)?;
    let raw = format!("raw_{source}");
    let candidates = [
        (raw.as_str(), true),
        ("staging", table.starts_with(&format!("stg_{source}__"))),
        (source.as_str(), true),
    ];
    for (schema, applies) in candidates {
        if let Some(found) = all.iter().find(|r| {
            applies && r.schema.eq_ignore_ascii_case(schema) && r.name.eq_ignore_ascii_case(&table)
        }) {
            return Ok(found.clone());
        }
    }
    let has_data = all
        .iter()
        .any(|r| r.schema.eq_ignore_ascii_case(&raw) || r.schema.eq_ignore_ascii_case(&source));
    Err(if has_data {
        Error::not_found(format!("Table '{table}' not found in source '{source}'."))
    } else {
        Error::not_found(format!("Source '{source}' has no data. Run a sync first."))
    })
}

/// What a sync of `sources` changed: their raw tables (dlt's bookkeeping left out) and
/// their staging views.
pub fn relations_of_sources(conn: &Connection, sources: &[String]) -> Result<Vec<Relation>> {
    let all = relations(conn)?;
    Ok(all
        .into_iter()
        .filter(|r| {
            sources.iter().any(|source| {
                let raw = r.schema.eq_ignore_ascii_case(&format!("raw_{source}"))
                    && !r.name.starts_with("_dlt_");
                let staging = r.schema.eq_ignore_ascii_case("staging")
                    && r.name.starts_with(&format!("stg_{source}__"));
                raw || staging
            })
        })
        .collect())
}
