//! The DuckDB warehouse `data/warehouse.duckdb`, owned by one process: the file is opened
//! once (a second `open` in the same process would create a diverging instance), an
//! advisory lock on `.dango/state/warehouse.lock` tells other processes the server has
//! it, readers work on cloned connections, and writers take turns.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use duckdb::{Config, Connection};
use fs2::FileExt;

use crate::Error;
use crate::config::ProjectPaths;

/// Schemas every warehouse has, besides one `raw_<source>` per source.
pub const LAYER_SCHEMAS: &[&str] = &["raw", "staging", "intermediate", "marts"];

pub struct Warehouse {
    path: PathBuf,
    root: Mutex<Connection>,
    writer: tokio::sync::Mutex<()>,
    _lock: File,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "the warehouse is in use by another dango process (lock {0}); talk to the running server instead"
    )]
    Busy(PathBuf),
    #[error("cannot open warehouse {path}: {message}")]
    Failed { path: PathBuf, message: String },
}

/// Takes the advisory lock without opening the warehouse; `Busy` when a server holds it.
pub fn try_lock(paths: &ProjectPaths) -> Result<File, OpenError> {
    let lock_path = paths.warehouse_lock();
    let failed = |message: String| OpenError::Failed {
        path: lock_path.clone(),
        message,
    };
    if let Some(dir) = lock_path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| failed(e.to_string()))?;
    }
    // The lock file is never deleted: unlinking a held lock lets a second process lock a new inode.
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| failed(e.to_string()))?;
    match file.try_lock_exclusive() {
        Ok(()) => Ok(file),
        Err(_) => Err(OpenError::Busy(lock_path)),
    }
}

/// DuckDB settings for every connection we open: no extension autoloading (it would
/// try the network and stall), UTC only (no ICU is compiled in).
fn duckdb_config() -> duckdb::Result<Config> {
    Config::default().enable_autoload_extension(false)
}

impl Warehouse {
    pub fn open(paths: &ProjectPaths) -> Result<Self, OpenError> {
        let lock = try_lock(paths)?;
        let path = paths.warehouse();
        let failed = |message: String| OpenError::Failed {
            path: path.clone(),
            message,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| failed(e.to_string()))?;
        }
        let config = duckdb_config().map_err(|e| failed(e.to_string()))?;
        let conn = Connection::open_with_flags(&path, config).map_err(|e| failed(e.to_string()))?;
        for schema in LAYER_SCHEMAS {
            conn.execute_batch(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .map_err(|e| failed(e.to_string()))?;
        }
        Ok(Self {
            path,
            root: Mutex::new(conn),
            writer: tokio::sync::Mutex::new(()),
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A new connection to the same database instance (cheap; one per task).
    pub fn connection(&self) -> crate::Result<Connection> {
        let root = self.root.lock().unwrap_or_else(|e| e.into_inner());
        root.try_clone().map_err(Error::internal)
    }

    /// Runs `work` on a fresh connection on the blocking pool.
    pub async fn read<T, F>(self: &Arc<Self>, work: F) -> crate::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> crate::Result<T> + Send + 'static,
    {
        let conn = self.connection()?;
        tokio::task::spawn_blocking(move || work(&conn)).await?
    }

    /// Like [`Warehouse::read`], but only one writer runs at a time.
    pub async fn write<T, F>(self: &Arc<Self>, work: F) -> crate::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> crate::Result<T> + Send + 'static,
    {
        let _turn = self.writer.lock().await;
        let conn = self.connection()?;
        tokio::task::spawn_blocking(move || work(&conn)).await?
    }

    /// Size of the database file in bytes (0 before the first checkpoint).
    pub fn file_size(&self) -> u64 {
        std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0)
            + std::fs::metadata(self.path.with_extension("duckdb.wal"))
                .map(|m| m.len())
                .unwrap_or(0)
    }

    /// Tables (and views) per schema.
    pub async fn table_counts(self: &Arc<Self>) -> crate::Result<Vec<(String, u64)>> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT table_schema, count(*) FROM information_schema.tables \
                     WHERE table_catalog = current_database() GROUP BY table_schema ORDER BY 1",
                )
                .map_err(Error::internal)?;
            let rows = stmt
                .query_map([], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)? as u64))
                })
                .map_err(Error::internal)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(Error::internal)
        })
        .await
    }
}

/// Quotes an identifier for DuckDB SQL.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn opens_once_and_locks_out_a_second_owner() {
        let dir = tempfile::tempdir().unwrap();
        let paths = ProjectPaths::new(dir.path());
        let warehouse = Arc::new(Warehouse::open(&paths).unwrap());
        assert!(matches!(try_lock(&paths), Err(OpenError::Busy(_))));
        warehouse
            .write(|c| {
                c.execute_batch("CREATE TABLE marts.t AS SELECT 1 AS x")
                    .map_err(Error::internal)
            })
            .await
            .unwrap();
        let counts = warehouse.table_counts().await.unwrap();
        assert!(counts.contains(&("marts".to_string(), 1)));
        drop(warehouse);
        assert!(try_lock(&paths).is_ok());
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
