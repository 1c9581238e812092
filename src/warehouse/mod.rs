//! The DuckDB warehouse `data/warehouse.duckdb`, owned by one process: the file is opened
//! once (a second `open` in the same process would create a diverging instance), an
//! advisory lock on `.dango/state/warehouse.lock` tells other processes the server has
//! it, readers work on cloned connections, and writers take turns. For an external
//! `dbt` run the server closes the file ([`Warehouse::release_during`]) and reopens it.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use duckdb::{Config, Connection};
use fs2::FileExt;

use crate::Error;
use crate::config::ProjectPaths;

mod interrupt;
pub use interrupt::{Interrupter, Registration};

/// Schemas every warehouse has, besides one `raw_<source>` per source.
pub const LAYER_SCHEMAS: &[&str] = &["raw", "staging", "intermediate", "marts"];

pub struct Warehouse {
    path: PathBuf,
    /// `None` while the file is released to another process.
    root: Mutex<Option<Connection>>,
    writer: Arc<tokio::sync::Mutex<()>>,
    /// Held shared by every task that has a connection open, exclusively while released:
    /// DuckDB only lets go of the file when the last connection closes.
    open_gate: Arc<tokio::sync::RwLock<()>>,
    /// Advances after every write (and every connection handed out for one), so what
    /// is derived from the data can be cached until it changes.
    generation: AtomicU64,
    /// How many reads and writes ran (each on its own connection): a measure of how
    /// much request paths ask of DuckDB.
    uses: AtomicU64,
    /// Reader connections kept for [`Warehouse::read_reusing`] between calls.
    idle_readers: Mutex<Vec<Connection>>,
    _lock: File,
}

/// Reader connections kept idle at most (each holds a DuckDB client context).
const IDLE_READERS: usize = 4;

/// How long a request waits for the warehouse while an external dbt run has it.
const RELEASED_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

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

/// DuckDB settings for every database we open: ICU compiled in (time zones, calendars,
/// collations: what real dbt projects' SQL expects), no extension autoloading (it would
/// try the network and stall).
fn duckdb_config() -> duckdb::Result<Config> {
    if let Err(err) = dango_duckdb_icu::register() {
        tracing::error!("{err}");
    }
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
        let conn = open_file(&path).map_err(failed)?;
        for schema in LAYER_SCHEMAS {
            conn.execute_batch(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .map_err(|e| failed(e.to_string()))?;
        }
        Ok(Self {
            path,
            root: Mutex::new(Some(conn)),
            writer: Arc::new(tokio::sync::Mutex::new(())),
            open_gate: Arc::new(tokio::sync::RwLock::new(())),
            generation: AtomicU64::new(0),
            uses: AtomicU64::new(0),
            idle_readers: Mutex::new(Vec::new()),
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A new connection to the same database instance (cheap). Only for synchronous
    /// tools that own the warehouse (CLI, tests): server code goes through
    /// [`Warehouse::read`] / [`Warehouse::write`], which keep the file from being
    /// released under them.
    pub fn connection(&self) -> crate::Result<Connection> {
        // The holder may write at any time.
        self.advance();
        self.clone_root()
    }

    /// The data's version: different after any write since it was read.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Reads and writes run so far.
    pub fn uses(&self) -> u64 {
        self.uses.load(Ordering::Relaxed)
    }

    fn advance(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn clone_root(&self) -> crate::Result<Connection> {
        let root = self.root.lock().unwrap_or_else(|e| e.into_inner());
        match root.as_ref() {
            Some(root) => root.try_clone().map_err(Error::internal),
            None => Err(released_error()),
        }
    }

    /// Whether the file is open here (false while an external dbt run has it).
    pub fn is_open(&self) -> bool {
        self.root.lock().map(|r| r.is_some()).unwrap_or(false)
    }

    /// Waits (bounded) until the file is not released to another process.
    async fn enter(&self) -> crate::Result<tokio::sync::OwnedRwLockReadGuard<()>> {
        tokio::time::timeout(RELEASED_WAIT, self.open_gate.clone().read_owned())
            .await
            .map_err(|_| released_error())
    }

    /// Runs `work` on a fresh connection on the blocking pool.
    pub async fn read<T, F>(self: &Arc<Self>, work: F) -> crate::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> crate::Result<T> + Send + 'static,
    {
        self.on_connection((), work).await
    }

    /// Like [`Warehouse::read`], stopped at `limit`: DuckDB is interrupted and the
    /// connection waited for, and the answer is a timeout naming `what`.
    pub async fn read_within<T, F>(
        self: &Arc<Self>,
        limit: std::time::Duration,
        what: &str,
        work: F,
    ) -> crate::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> crate::Result<T> + Send + 'static,
    {
        let stop = Interrupter::new();
        let inside = stop.clone();
        let reading = self.read(move |conn| {
            let _reachable = inside.register(conn).ok_or_else(stopped_error)?;
            work(conn)
        });
        tokio::pin!(reading);
        match tokio::time::timeout(limit, &mut reading).await {
            Ok(result) => result,
            Err(_) => {
                let _ = stop.interrupt_until(reading).await;
                Err(Error::new(
                    crate::ErrorKind::Timeout,
                    format!("{what} was stopped after {} s", limit.as_secs()),
                ))
            }
        }
    }

    /// Like [`Warehouse::read`], on a connection kept from an earlier call when there
    /// is one (DuckDB sets up a client context per connection: a dashboard's queries
    /// skip that). Only for work that leaves nothing behind in the session (no `SET`,
    /// `USE`, temporary objects, open transaction): the guarded query endpoint. A
    /// connection left inside a transaction is closed instead of kept.
    pub async fn read_reusing<T, F>(self: &Arc<Self>, work: F) -> crate::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> crate::Result<T> + Send + 'static,
    {
        let open = self.enter().await?;
        let kept = self
            .idle_readers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop();
        let conn = match kept {
            Some(conn) => conn,
            None => self.clone_root()?,
        };
        self.uses.fetch_add(1, Ordering::Relaxed);
        let warehouse = self.clone();
        tokio::task::spawn_blocking(move || {
            let result = work(&conn);
            if conn.is_autocommit() {
                let mut idle = warehouse
                    .idle_readers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                if idle.len() < IDLE_READERS {
                    idle.push(conn);
                }
            }
            // Kept connections are closed by `release_during` before the file is let go.
            drop(open);
            result
        })
        .await?
    }

    /// Like [`Warehouse::read`], but only one writer runs at a time.
    pub async fn write<T, F>(self: &Arc<Self>, work: F) -> crate::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> crate::Result<T> + Send + 'static,
    {
        let turn = self.writer.clone().lock_owned().await;
        let warehouse = self.clone();
        self.on_connection(turn, move |conn| {
            let result = work(conn);
            warehouse.advance();
            result
        })
        .await
    }

    /// Like [`Warehouse::write`], within reach of `stop`: stopping it interrupts the
    /// statement running, and work that has not begun yet does not begin.
    pub async fn write_stoppable<T, F>(
        self: &Arc<Self>,
        stop: &Arc<Interrupter>,
        work: F,
    ) -> crate::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> crate::Result<T> + Send + 'static,
    {
        let stop = stop.clone();
        self.write(move |conn| {
            let _reachable = stop.register(conn).ok_or_else(stopped_error)?;
            work(conn)
        })
        .await
    }

    /// Runs `work` on a fresh connection on the blocking pool, keeping `held` (a writer's
    /// turn) and the open file's guard as long as the connection, even if the caller goes
    /// away.
    async fn on_connection<T, F, H>(self: &Arc<Self>, held: H, work: F) -> crate::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> crate::Result<T> + Send + 'static,
        H: Send + 'static,
    {
        let open = self.enter().await?;
        let conn = self.clone_root()?;
        self.uses.fetch_add(1, Ordering::Relaxed);
        tokio::task::spawn_blocking(move || {
            let result = work(&conn);
            drop((conn, open, held));
            result
        })
        .await?
    }

    /// Runs `work` on the blocking pool as the only writer, with a way to open as many
    /// connections as it needs (the transformation engine runs models in parallel). Every
    /// connection is within reach of `stop`; once stopped, no new one opens.
    pub async fn write_with<T, F>(
        self: &Arc<Self>,
        stop: &Arc<Interrupter>,
        work: F,
    ) -> crate::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&(dyn Fn() -> Result<Connection, String> + Sync)) -> T + Send + 'static,
    {
        let turn = self.writer.clone().lock_owned().await;
        let open = self.enter().await?;
        self.uses.fetch_add(1, Ordering::Relaxed);
        let warehouse = self.clone();
        let stop = stop.clone();
        Ok(tokio::task::spawn_blocking(move || {
            // Registrations outlive the connections (the engine owns those); interrupting a
            // closed connection does nothing, and there is one per model at most.
            let registrations = Mutex::new(Vec::new());
            let connect = || {
                let conn = warehouse.clone_root().map_err(|e| e.detailed_message())?;
                let registration = stop
                    .register(&conn)
                    .ok_or_else(|| stopped_error().message)?;
                registrations
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(registration);
                Ok(conn)
            };
            let result = work(&connect);
            drop(registrations);
            warehouse.advance();
            drop((open, turn));
            result
        })
        .await?)
    }

    /// Closes the database file, runs `work` (another process, such as `dbt`, may then
    /// open it) and reopens it. Waits for running readers and writers to finish; new
    /// ones wait for the reopen (up to 30 s, then "unavailable").
    pub async fn release_during<T>(
        &self,
        work: impl std::future::Future<Output = T>,
    ) -> crate::Result<T> {
        let _turn = self.writer.lock().await;
        let _closed = self.open_gate.write().await;
        let root = self.root.lock().unwrap_or_else(|e| e.into_inner()).take();
        // No reader is running (the gate is ours): the kept ones are idle.
        self.idle_readers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        // Dropping the last connection checkpoints the WAL and closes the file.
        drop(root);
        let result = work.await;
        let reopened = open_file(&self.path).map_err(|message| {
            Error::internal(anyhow::anyhow!(
                "cannot reopen warehouse {}: {message}",
                self.path.display()
            ))
        })?;
        *self.root.lock().unwrap_or_else(|e| e.into_inner()) = Some(reopened);
        // Another process (dbt) had the file.
        self.advance();
        Ok(result)
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

/// Opens a DuckDB file with the settings the warehouse uses (also for tools and
/// benchmarks that open a database of their own).
pub fn open_file(path: &Path) -> Result<Connection, String> {
    let config = duckdb_config().map_err(|e| e.to_string())?;
    let conn = Connection::open_with_flags(path, config).map_err(|e| e.to_string())?;
    // With ICU, DuckDB's default zone is the host's: the data would depend on where the
    // server runs (a timestamp cast to TIMESTAMP, `current_date`). The warehouse is UTC;
    // a model or query can still `SET TimeZone` for its own session.
    conn.execute_batch("SET GLOBAL TimeZone = 'UTC'")
        .map_err(|e| e.to_string())?;
    Ok(conn)
}

/// What stopped work sees when it asks for a connection.
fn stopped_error() -> Error {
    Error::new(
        crate::ErrorKind::Unavailable,
        "Stopped before it finished (cancelled or out of time)",
    )
}

fn released_error() -> Error {
    Error::new(
        crate::ErrorKind::Unavailable,
        "The warehouse is in use by a dbt run; try again when it finishes",
    )
}

/// Quotes an identifier for DuckDB SQL.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn time_zone_functions_work_as_with_icu() {
        let dir = tempfile::tempdir().unwrap();
        let warehouse = Arc::new(Warehouse::open(&ProjectPaths::new(dir.path())).unwrap());
        let row: (String, String, String, bool) = warehouse
            .read(|c| {
                c.query_row(
                    "SELECT strftime(TIMESTAMPTZ '2025-03-30 01:30:00+00' AT TIME ZONE 'Europe/Berlin', '%H:%M'), \
                            CAST(date_trunc('day', TIMESTAMPTZ '2025-10-26 23:30:00+00' AT TIME ZONE 'Asia/Tokyo') AS VARCHAR), \
                            typeof(current_date), \
                            CAST(current_timestamp AS DATE) = current_date",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .map_err(Error::internal)
            })
            .await
            .unwrap();
        assert_eq!(
            row,
            (
                "03:30".into(),
                "2025-10-27 00:00:00".into(),
                "DATE".into(),
                true
            )
        );
    }

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

    #[tokio::test]
    async fn another_process_can_write_while_released() {
        let dir = tempfile::tempdir().unwrap();
        let paths = ProjectPaths::new(dir.path());
        let warehouse = Arc::new(Warehouse::open(&paths).unwrap());
        warehouse
            .write(|c| {
                c.execute_batch("CREATE TABLE raw.t AS SELECT 1 AS x")
                    .map_err(Error::internal)
            })
            .await
            .unwrap();
        let path = warehouse.path().to_path_buf();
        let outside = warehouse
            .release_during(async {
                // While released, the file opens from scratch, as `dbt` would open it.
                let other = open_file(&path).unwrap();
                other.execute_batch("INSERT INTO raw.t VALUES (2)").unwrap();
                drop(other);
                warehouse.is_open()
            })
            .await
            .unwrap();
        assert!(!outside);
        assert!(warehouse.is_open());
        let total: i64 = warehouse
            .read(|c| {
                c.query_row("SELECT sum(x) FROM raw.t", [], |r| r.get(0))
                    .map_err(Error::internal)
            })
            .await
            .unwrap();
        assert_eq!(total, 3);
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
