//! Ad-hoc read-only SQL over the warehouse (`POST /api/query`, the query page, agents).
//! A query passes two checks before it runs — sqlparser's view of the text ([`guard`]) and
//! DuckDB's own parse tree ([`catalog_check`]) — then runs on a connection of its own
//! with a row limit, a byte limit, a deadline that interrupts DuckDB, and a per-user
//! number of queries at a time. Readers never wait for writers, so syncs go on.

pub mod catalog_check;
pub mod encode;
pub mod guard;
pub mod history;
pub mod mask;
pub mod schema;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use duckdb::Connection;
use sea_orm::DatabaseConnection;
use serde_json::{Value as Json, json};

use crate::auth::Principal;
use crate::auth::audit::{self, AuditEvent};
use crate::config::project::ApiConfig;
use crate::error::code;
use crate::warehouse::{Interrupter, Warehouse};
use crate::{Error, ErrorKind, Result};

pub use mask::PiiColumns;

/// How long a query that was interrupted may take to stop before it is left to finish.
const INTERRUPT_GRACE: Duration = Duration::from_secs(5);

/// What a query may use.
#[derive(Clone, Debug)]
pub struct QueryLimits {
    pub max_rows: usize,
    pub export_max_rows: usize,
    pub timeout: Duration,
    pub max_concurrent: usize,
    pub max_result_bytes: usize,
}

impl QueryLimits {
    pub fn of(config: &ApiConfig) -> Self {
        Self {
            max_rows: config.query_max_rows.max(1),
            export_max_rows: config.query_export_max_rows.max(1),
            timeout: Duration::from_secs(config.query_timeout_seconds.max(1)),
            max_concurrent: config.query_max_concurrent.max(1),
            max_result_bytes: config.query_max_result_bytes.max(1024),
        }
    }
}

/// Queries running per user, so one person's dashboard cannot take every reader.
#[derive(Default)]
pub struct RunningQueries {
    by_user: Arc<Mutex<HashMap<String, usize>>>,
}

/// A taken place among a user's running queries, given back when dropped.
struct Slot {
    by_user: Arc<Mutex<HashMap<String, usize>>>,
    user: String,
}

impl RunningQueries {
    /// Queries running now, over all users.
    pub fn total(&self) -> usize {
        let by_user = self.by_user.lock().unwrap_or_else(|e| e.into_inner());
        by_user.values().sum()
    }

    fn take(&self, user: &str, max: usize) -> Option<Slot> {
        let mut by_user = self.by_user.lock().unwrap_or_else(|e| e.into_inner());
        let running = by_user.entry(user.to_string()).or_default();
        if *running >= max {
            return None;
        }
        *running += 1;
        Some(Slot {
            by_user: self.by_user.clone(),
            user: user.to_string(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut by_user = self.by_user.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(running) = by_user.get_mut(&self.user) {
            *running = running.saturating_sub(1);
            if *running == 0 {
                by_user.remove(&self.user);
            }
        }
    }
}

/// What a query reads and where it reports.
pub struct QueryDeps<'a> {
    pub warehouse: &'a Arc<Warehouse>,
    pub db: &'a DatabaseConnection,
    pub running: &'a RunningQueries,
    pub limits: QueryLimits,
    /// Columns to mask for this caller (`api.mask_pii` and no `governance.manage`).
    pub masked: Option<Arc<mask::Flags>>,
    /// Where exports are written before they are sent.
    pub export_dir: PathBuf,
    /// Statements DuckDB's parser already passed.
    pub passed: Arc<catalog_check::Passed>,
}

/// Who asks, for the per-user limit and the audit log.
pub struct Asker<'a> {
    pub principal: &'a Principal,
    pub ip: String,
}

/// A result column: its name and DuckDB type.
#[derive(Clone, Debug, serde::Serialize, poem_openapi::Object)]
pub struct QueryColumn {
    pub name: String,
    /// DuckDB's type name, such as `BIGINT`, `DECIMAL(18,2)`, `VARCHAR[]` or
    /// `TIMESTAMP WITH TIME ZONE`.
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub data_type: String,
}

/// The rows of a query, each value as JSON that loses nothing.
#[derive(Clone, Debug, serde::Serialize, poem_openapi::Object)]
pub struct QueryResult {
    pub columns: Vec<QueryColumn>,
    /// One array per row, values in column order. DECIMAL values and integers beyond
    /// ±2^53 are strings; timestamps are ISO 8601 (`Z` for `TIMESTAMP WITH TIME ZONE`),
    /// dates `YYYY-MM-DD`, intervals ISO 8601 durations, blobs base64; NaN and infinities
    /// are the strings `NaN`, `Infinity`, `-Infinity`; lists are arrays, structs and maps
    /// objects.
    pub rows: Vec<Vec<Json>>,
    pub row_count: usize,
    /// More rows exist than were returned (the limit or the size cap was reached).
    pub truncated: bool,
    /// Why the result was cut, when it was.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// Time from receiving the query to the last row, in milliseconds.
    pub elapsed_ms: f64,
}

/// The format of a whole-result download.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Ndjson,
}

/// A result written out for download: an open file (already unlinked) and its size.
pub struct Export {
    pub file: std::fs::File,
    pub rows: usize,
    /// The export cap was reached: there may be more rows.
    pub capped: bool,
}

/// Runs one read-only query and returns at most `limit` rows (default and maximum
/// `api.query_max_rows`). The asker's history keeps it ([`history`]).
pub async fn run(
    deps: QueryDeps<'_>,
    sql: &str,
    limit: Option<usize>,
    asker: &Asker<'_>,
) -> Result<QueryResult> {
    let started = Instant::now();
    let db = deps.db.clone();
    let result = run_checked(deps, sql, limit, asker, started).await;
    remember(
        &db,
        asker,
        sql,
        started,
        result.as_ref().map(|r| r.row_count),
    );
    result
}

/// Keeps the outcome in the asker's history ([`history`]).
fn remember(
    db: &DatabaseConnection,
    asker: &Asker<'_>,
    sql: &str,
    started: Instant,
    rows: std::result::Result<usize, &Error>,
) {
    let outcome = history::Outcome {
        succeeded: rows.is_ok(),
        row_count: *rows.as_ref().unwrap_or(&0),
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
        error: rows.err().map(|err| err.message.as_str()),
    };
    history::record_in_background(db, asker.principal, sql, outcome);
}

async fn run_checked(
    deps: QueryDeps<'_>,
    sql: &str,
    limit: Option<usize>,
    asker: &Asker<'_>,
    started: Instant,
) -> Result<QueryResult> {
    let max_rows = deps.limits.max_rows;
    let limit = match limit {
        None => max_rows,
        Some(0) => return Err(Error::bad_request("`limit` must be at least 1")),
        Some(n) if n > max_rows => {
            return Err(Error::bad_request(format!(
                "`limit` may be at most {max_rows} (api.query_max_rows); download the whole result with Accept: text/csv"
            )));
        }
        Some(n) => n,
    };
    let prepared = prepare(&deps, sql, asker)?;
    let max_bytes = deps.limits.max_result_bytes;
    let (passed, generation) = (deps.passed.clone(), deps.warehouse.generation());
    let outcome = on_reader(&deps, asker, move |conn| {
        passed
            .check(conn, &prepared, generation)
            .map_err(finding_error)?;
        execute(conn, &prepared, limit, max_bytes)
    })
    .await;
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    match outcome {
        Ok(mut result) => {
            result.elapsed_ms = (elapsed_ms * 1000.0).round() / 1000.0;
            audited(
                &deps,
                asker,
                "query_executed",
                json!({"sql_sha256": crate::util::sha256_hex(sql), "rows": result.row_count,
                       "truncated": result.truncated, "elapsed_ms": result.elapsed_ms}),
            );
            Ok(result)
        }
        Err(err) => Err(refused(&deps, asker, sql, err)),
    }
}

/// Runs one read-only query and writes its whole result (up to `api.query_export_max_rows`)
/// for download. The asker's history keeps it ([`history`]).
pub async fn export(
    deps: QueryDeps<'_>,
    sql: &str,
    format: ExportFormat,
    asker: &Asker<'_>,
) -> Result<Export> {
    let started = Instant::now();
    let db = deps.db.clone();
    let result = export_checked(deps, sql, format, asker, started).await;
    remember(&db, asker, sql, started, result.as_ref().map(|e| e.rows));
    result
}

async fn export_checked(
    deps: QueryDeps<'_>,
    sql: &str,
    format: ExportFormat,
    asker: &Asker<'_>,
    started: Instant,
) -> Result<Export> {
    let prepared = prepare(&deps, sql, asker)?;
    let cap = deps.limits.export_max_rows;
    std::fs::create_dir_all(&deps.export_dir)?;
    let path = deps
        .export_dir
        .join(format!("{}.part", uuid::Uuid::new_v4().simple()));
    let target = path.clone();
    let outcome = on_reader(&deps, asker, move |conn| {
        let result = write_export(conn, &prepared, cap, format, &target);
        if result.is_err() {
            std::fs::remove_file(&target).ok();
        }
        result
    })
    .await;
    let outcome = outcome.and_then(|rows| {
        let file = std::fs::File::open(&path)?;
        // Unlinked at once: the open handle streams it, nothing is left behind.
        std::fs::remove_file(&path).ok();
        Ok(Export {
            file,
            rows,
            capped: rows >= cap,
        })
    });
    match outcome {
        Ok(export) => {
            audited(
                &deps,
                asker,
                "query_exported",
                json!({"sql_sha256": crate::util::sha256_hex(sql), "rows": export.rows,
                       "format": if format == ExportFormat::Csv { "csv" } else { "ndjson" },
                       "elapsed_ms": started.elapsed().as_millis() as u64}),
            );
            Ok(export)
        }
        Err(err) => {
            std::fs::remove_file(&path).ok();
            Err(refused(&deps, asker, sql, err))
        }
    }
}

/// The statement to run: checked, and with masked columns rewritten for this caller.
fn prepare(deps: &QueryDeps<'_>, sql: &str, asker: &Asker<'_>) -> Result<String> {
    guard::check(sql).map_err(|refusal| refused(deps, asker, sql, refusal_error(refusal)))?;
    let statement = &sql[..guard::statement_end(sql)];
    match &deps.masked {
        Some(flags) if !flags.is_empty() => {
            mask::rewrite(statement, flags).map_err(|err| refused(deps, asker, sql, err))
        }
        _ => Ok(statement.to_string()),
    }
}

/// Runs `work` on a reader of its own, within the caller's concurrency limit and the
/// deadline; at the deadline DuckDB is interrupted and the reader waited for.
async fn on_reader<T, F>(deps: &QueryDeps<'_>, asker: &Asker<'_>, work: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T> + Send + 'static,
{
    let max = deps.limits.max_concurrent;
    let slot = deps
        .running
        .take(&asker.principal.user_id, max)
        .ok_or_else(|| {
            Error::new(
                ErrorKind::TooManyRequests,
                format!("You already have {max} queries running; wait for one to finish"),
            )
            .with_code(code::QUERY_CONCURRENCY)
            .with_retry_after(1)
        })?;
    let stopper = Interrupter::new();
    // If this future is dropped (the server shutting down, a cancelled caller) the query stops too.
    let _stop_on_drop = StopOnDrop(stopper.clone());
    let inside = stopper.clone();
    // Guarded queries leave no session state: their connections are kept and reused.
    let reading = deps.warehouse.read_reusing(move |conn| {
        let _slot = slot;
        let Some(reachable) = inside.register(conn) else {
            return Err(
                Error::new(ErrorKind::Timeout, "The query was stopped before it began")
                    .with_code(code::QUERY_TIMEOUT),
            );
        };
        let result = work(conn);
        // From here the connection may serve someone else's query: no interrupt after.
        drop(reachable);
        result
    });
    tokio::pin!(reading);
    let timeout = deps.limits.timeout;
    match tokio::time::timeout(timeout, &mut reading).await {
        Ok(result) => result,
        Err(_) => {
            stopper.interrupt();
            if tokio::time::timeout(INTERRUPT_GRACE, &mut reading)
                .await
                .is_err()
            {
                tracing::warn!("an interrupted query did not stop within {INTERRUPT_GRACE:?}");
            }
            Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "The query was stopped after {} s (api.query_timeout_seconds)",
                    timeout.as_secs()
                ),
            )
            .with_code(code::QUERY_TIMEOUT))
        }
    }
}

struct StopOnDrop(Arc<Interrupter>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.interrupt();
    }
}

/// The query as DuckDB runs it: the user's statement under our row limit.
fn limited(sql: &str, limit: usize) -> String {
    format!("SELECT * FROM (\n{sql}\n) AS dango_query LIMIT {limit}")
}

/// Each result column's DuckDB type name and how its values are encoded.
fn column_shapes(stmt: &duckdb::Statement<'_>) -> Vec<(String, encode::Shape)> {
    (0..stmt.column_count())
        .map(|index| encode::describe_type(&stmt.column_logical_type(index)))
        .collect()
}

/// Runs `sql` (checked by DuckDB's parser already) with at most `limit` rows.
fn execute(conn: &Connection, sql: &str, limit: usize, max_bytes: usize) -> Result<QueryResult> {
    // Kept per connection (connections are reused): a repeated query skips DuckDB's
    // parse, bind and optimize; DuckDB re-binds it itself when the catalog changed.
    let mut stmt = conn
        .prepare_cached(&limited(sql, limit + 1))
        .map_err(duckdb_error)?;
    let shapes = column_shapes(&stmt);
    let mut rows = stmt.query([]).map_err(duckdb_error)?;
    let names = rows.as_ref().map(|s| s.column_names()).unwrap_or_default();
    let mut out = Vec::new();
    let mut bytes = 0usize;
    let mut truncated = false;
    let mut warning = None;
    while let Some(row) = rows.next().map_err(duckdb_error)? {
        if out.len() == limit {
            truncated = true;
            warning = Some(format!(
                "The result has more than {limit} rows; only the first {limit} are returned"
            ));
            break;
        }
        let mut values = Vec::with_capacity(shapes.len());
        for (index, (_, shape)) in shapes.iter().enumerate() {
            let value: duckdb::types::Value = row.get(index).map_err(duckdb_error)?;
            let value = encode::to_json(value, shape);
            bytes += approximate_size(&value);
            values.push(value);
        }
        out.push(values);
        if bytes > max_bytes {
            truncated = true;
            warning = Some(format!(
                "The result is larger than {} MB; only the first {} rows are returned",
                max_bytes / (1024 * 1024),
                out.len()
            ));
            break;
        }
    }
    let columns = names
        .into_iter()
        .zip(shapes)
        .map(|(name, (data_type, _))| QueryColumn { name, data_type })
        .collect();
    Ok(QueryResult {
        columns,
        row_count: out.len(),
        rows: out,
        truncated,
        warning,
        elapsed_ms: 0.0,
    })
}

/// Roughly how many bytes a value takes as JSON, without writing it.
fn approximate_size(value: &Json) -> usize {
    match value {
        Json::Null | Json::Bool(_) => 5,
        Json::Number(_) => 12,
        Json::String(s) => s.len() + 3,
        Json::Array(items) => 2 + items.iter().map(approximate_size).sum::<usize>(),
        Json::Object(map) => {
            2 + map
                .iter()
                .map(|(k, v)| k.len() + 4 + approximate_size(v))
                .sum::<usize>()
        }
    }
}

fn write_export(
    conn: &Connection,
    sql: &str,
    cap: usize,
    format: ExportFormat,
    path: &std::path::Path,
) -> Result<usize> {
    catalog_check::check(conn, sql).map_err(finding_error)?;
    let limited = limited(sql, cap);
    match format {
        ExportFormat::Csv => {
            // DuckDB's own CSV writer: quoting and every type's text as DuckDB gives it, at
            // millions of rows a second. The path is ours, never the user's.
            let target = path.display().to_string().replace('\'', "''");
            let copy = format!("COPY ({limited}) TO '{target}' (FORMAT CSV, HEADER)");
            let rows = conn.execute(&copy, []).map_err(duckdb_error)?;
            Ok(rows)
        }
        ExportFormat::Ndjson => {
            use std::io::Write;
            let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
            let mut stmt = conn.prepare(&limited).map_err(duckdb_error)?;
            let shapes = column_shapes(&stmt);
            let mut rows = stmt.query([]).map_err(duckdb_error)?;
            let names = rows.as_ref().map(|s| s.column_names()).unwrap_or_default();
            let mut count = 0;
            while let Some(row) = rows.next().map_err(duckdb_error)? {
                let mut object = serde_json::Map::with_capacity(names.len());
                for (index, (name, (_, shape))) in names.iter().zip(&shapes).enumerate() {
                    let value: duckdb::types::Value = row.get(index).map_err(duckdb_error)?;
                    object.insert(name.clone(), encode::to_json(value, shape));
                }
                serde_json::to_writer(&mut out, &Json::Object(object)).map_err(Error::internal)?;
                out.write_all(b"\n")?;
                count += 1;
            }
            out.flush()?;
            Ok(count)
        }
    }
}

fn refusal_error(refusal: guard::Refusal) -> Error {
    use guard::Refusal;
    let message = refusal.to_string();
    match refusal {
        Refusal::TooLarge { .. } => Error::too_large(message).with_code(code::QUERY_TOO_LARGE),
        Refusal::Empty | Refusal::Syntax { .. } => {
            let mut err = Error::bad_request(message).with_code(code::QUERY_SYNTAX);
            if let Refusal::Syntax { line, column, .. } = refusal
                && line > 0
            {
                err = err.with_extra("line", line).with_extra("column", column);
            }
            err
        }
        Refusal::MultipleStatements | Refusal::NotAQuery { .. } => {
            Error::bad_request(message).with_code(code::QUERY_NOT_READ_ONLY)
        }
        Refusal::Forbidden { .. } => Error::bad_request(message).with_code(code::QUERY_FORBIDDEN),
    }
}

fn finding_error(finding: catalog_check::Finding) -> Error {
    use catalog_check::Finding;
    match finding {
        Finding::NotASelect(message) => {
            Error::bad_request(format!("Only a single read-only query can run: {message}"))
                .with_code(code::QUERY_NOT_READ_ONLY)
        }
        Finding::Forbidden(what) => Error::bad_request(format!("Not allowed in a query: {what}"))
            .with_code(code::QUERY_FORBIDDEN),
        Finding::UnknownRelation(name) => Error::bad_request(format!(
            "Table or view {name} does not exist (files cannot be read by queries)"
        ))
        .with_code(code::QUERY_FAILED),
    }
}

/// DuckDB's own message (a missing column, a type error) is what the user needs to fix
/// the query; an interrupt is reported by the caller as a timeout.
fn duckdb_error(err: duckdb::Error) -> Error {
    Error::bad_request(format!("The query failed: {err}")).with_code(code::QUERY_FAILED)
}

/// Audits a refused or failed query and passes the error on.
fn refused(deps: &QueryDeps<'_>, asker: &Asker<'_>, sql: &str, err: Error) -> Error {
    audited(
        deps,
        asker,
        "query_refused",
        json!({"sql_sha256": crate::util::sha256_hex(sql), "code": err.code,
               "status": err.kind.status()}),
    );
    err
}

/// Records the audit entry after the answer is on its way: the log never slows a query.
fn audited(deps: &QueryDeps<'_>, asker: &Asker<'_>, event: &'static str, details: Json) {
    let record = AuditEvent::new(event)
        .actor(asker.principal)
        .ip(&asker.ip)
        .details(details);
    audit::record_in_background(deps.db, record);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_per_user_and_given_back() {
        let running = RunningQueries::default();
        let first = running.take("a", 2).unwrap();
        let _second = running.take("a", 2).unwrap();
        assert!(running.take("a", 2).is_none());
        assert!(running.take("b", 2).is_some());
        drop(first);
        assert!(running.take("a", 2).is_some());
    }

    #[test]
    fn results_keep_order_types_and_the_limit() {
        let conn = Connection::open_in_memory().unwrap();
        let result = execute(
            &conn,
            "SELECT n, n::DECIMAL(10,2) AS d, [n] AS l FROM range(5) t(n) ORDER BY n DESC",
            3,
            1 << 20,
        )
        .unwrap();
        assert_eq!(result.row_count, 3);
        assert!(result.truncated);
        let types: Vec<_> = result
            .columns
            .iter()
            .map(|c| c.data_type.as_str())
            .collect();
        assert_eq!(types, ["BIGINT", "DECIMAL(10,2)", "BIGINT[]"]);
        assert_eq!(result.rows[0], vec![json!(4), json!("4.00"), json!([4])]);
    }

    #[test]
    fn the_byte_cap_cuts_the_result() {
        let conn = Connection::open_in_memory().unwrap();
        let result = execute(
            &conn,
            "SELECT repeat('x', 1000) FROM range(100)",
            100,
            10_000,
        )
        .unwrap();
        assert!(result.truncated);
        assert!(result.row_count < 100);
        assert!(result.warning.unwrap().contains("larger than"));
    }
}
