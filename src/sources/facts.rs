//! What source statuses are computed from, kept between requests: the parsed
//! `sources.yml`, the tables of every `raw_<source>` schema with their row counts, and
//! each source's recent sync history. `GET /api/sources` is what dashboards and scripts
//! poll; it answers from here and rebuilds only when an input changed: the file's
//! contents, a warehouse write ([`Warehouse::generation`]) or a sync recorded in the
//! history ([`FactsCache::history_recorded`]).
//!
//! [`Warehouse::generation`]: crate::warehouse::Warehouse::generation

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dango_entity::sync_history;
use sea_orm::DatabaseConnection;

use super::{TableInfo, history};
use crate::Error;
use crate::config::ProjectPaths;
use crate::config::sources::SourcesFile;
use crate::error::code;
use crate::warehouse::{Warehouse, quote_ident};

/// How many syncs per source are kept (the details page shows 20).
pub const HISTORY_DEPTH: u64 = 20;

pub struct Facts {
    pub sources: Arc<SourcesFile>,
    /// Tables of `raw_<source>`, by source name.
    tables: HashMap<String, Vec<TableInfo>>,
    /// Newest first, at most [`HISTORY_DEPTH`], by source name.
    history: HashMap<String, Vec<sync_history::Model>>,
    key: Key,
}

impl Facts {
    pub fn tables(&self, source: &str) -> &[TableInfo] {
        self.tables.get(source).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn history(&self, source: &str) -> &[sync_history::Model] {
        self.history.get(source).map(Vec::as_slice).unwrap_or(&[])
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Key {
    /// xxh3 of `sources.yml` (its mtime is too coarse to tell two quick edits apart).
    sources: u128,
    warehouse: u64,
    history: u64,
}

#[derive(Default)]
pub struct FactsCache {
    /// One rebuild at a time; requests that arrive during it use its result.
    current: tokio::sync::Mutex<Option<Arc<Facts>>>,
    /// Advances with every sync history entry this server records.
    history: AtomicU64,
}

impl FactsCache {
    /// A sync history entry was written: statuses change.
    pub fn history_recorded(&self) {
        self.history.fetch_add(1, Ordering::AcqRel);
    }

    /// The facts as they are now, rebuilt if an input changed since the last call.
    pub async fn get(
        &self,
        paths: &ProjectPaths,
        db: &DatabaseConnection,
        warehouse: &Arc<Warehouse>,
    ) -> crate::Result<Arc<Facts>> {
        // Read the inputs' versions before building, so a change during the build makes
        // the next call build again rather than keep what this one read.
        let text = read_sources(paths)?;
        let key = Key {
            sources: xxhash_rust::xxh3::xxh3_128(text.as_bytes()),
            warehouse: warehouse.generation(),
            history: self.history.load(Ordering::Acquire),
        };
        let mut current = self.current.lock().await;
        if let Some(facts) = current.as_ref().filter(|f| f.key == key) {
            return Ok(facts.clone());
        }
        let sources = match current.as_ref().filter(|f| f.key.sources == key.sources) {
            Some(facts) => facts.sources.clone(),
            None => Arc::new(parse_sources(paths, &text)?),
        };
        let tables = raw_tables(warehouse).await?;
        let mut recent = HashMap::new();
        for source in &sources.sources {
            let entries = history::latest(db, &source.name, HISTORY_DEPTH).await?;
            recent.insert(source.name.clone(), entries);
        }
        let facts = Arc::new(Facts {
            sources,
            tables,
            history: recent,
            key,
        });
        *current = Some(facts.clone());
        Ok(facts)
    }
}

fn read_sources(paths: &ProjectPaths) -> crate::Result<String> {
    match std::fs::read_to_string(paths.sources_yml()) {
        Ok(text) => Ok(text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(err) => Err(
            Error::bad_request(format!("{}: {err}", paths.sources_yml().display()))
                .with_code(code::CONFIG_INVALID),
        ),
    }
}

fn parse_sources(paths: &ProjectPaths, text: &str) -> crate::Result<SourcesFile> {
    SourcesFile::parse(text).map_err(|message| {
        Error::bad_request(format!("{}: {message}", paths.sources_yml().display()))
            .with_code(code::CONFIG_INVALID)
    })
}

/// Every table of every `raw_<source>` schema with its row count, in one pass (the
/// loaders' own bookkeeping tables left out).
async fn raw_tables(warehouse: &Arc<Warehouse>) -> crate::Result<HashMap<String, Vec<TableInfo>>> {
    warehouse
        .read(|conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT schema_name, table_name FROM duckdb_tables() \
                     WHERE database_name = current_database() AND NOT temporary \
                     AND schema_name LIKE 'raw\\_%' ESCAPE '\\' \
                     AND table_name NOT LIKE '\\_dlt\\_%' ESCAPE '\\' \
                     AND table_name NOT LIKE '%\\_\\_dango\\_%' ESCAPE '\\' \
                     ORDER BY schema_name, table_name",
                )
                .map_err(Error::internal)?;
            let names = stmt
                .query_map([], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                })
                .map_err(Error::internal)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(Error::internal)?;
            let mut tables: HashMap<String, Vec<TableInfo>> = HashMap::new();
            for (schema, name) in names {
                let rows: i64 = conn
                    .query_row(
                        &format!(
                            "SELECT count(*) FROM {}.{}",
                            quote_ident(&schema),
                            quote_ident(&name)
                        ),
                        [],
                        |row| row.get(0),
                    )
                    .map_err(Error::internal)?;
                let source = schema.strip_prefix("raw_").unwrap_or(&schema).to_string();
                tables.entry(source).or_default().push(TableInfo {
                    name,
                    row_count: rows.max(0) as u64,
                    schema,
                });
            }
            Ok(tables)
        })
        .await
}
