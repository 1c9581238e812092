//! The file loader for `csv` and `local_files` sources: DuckDB's native readers, per-file
//! tracking (path, size, mtime, content hash) so a sync loads only new and changed files
//! and removes the rows of deleted ones, schema evolution recorded as drift, and one
//! transaction per sync so a failure changes nothing.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use duckdb::Connection;

use crate::Error;
use crate::error::code;
use crate::util::glob;
use crate::warehouse::quote_ident;

/// Per-file tracking table, in the warehouse so it commits together with the data.
pub const METADATA_TABLE: &str = "main._dango_file_metadata";
pub const FILENAME_COLUMN: &str = "_dango_filename";
pub const LOADED_AT_COLUMN: &str = "_dango_loaded_at";
pub const SUPPORTED_EXTENSIONS: &[&str] = &["csv", "json", "jsonl", "ndjson", "parquet"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskFile {
    /// Path relative to the source directory, `/`-separated: the file's identity.
    pub relative: String,
    pub absolute: PathBuf,
    pub size: u64,
    /// Seconds since the epoch.
    pub mtime: i64,
}

#[derive(Clone, Debug)]
struct TrackedFile {
    size: u64,
    mtime: i64,
    hash: String,
    status: String,
}

/// A schema change between a file and the existing table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriftChange {
    pub table: String,
    pub column: String,
    /// `column_added` or `type_changed`.
    pub change: &'static str,
    pub old_type: Option<String>,
    pub new_type: String,
}

#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    pub new_files: Vec<String>,
    pub updated_files: Vec<String>,
    pub deleted_files: Vec<String>,
    pub unchanged_files: usize,
    /// Changed files that came out empty: their previous rows were kept.
    pub kept_empty_files: Vec<String>,
    pub rows_inserted: u64,
    pub rows_deleted: u64,
    pub total_rows: u64,
    pub drift: Vec<DriftChange>,
    pub warnings: Vec<String>,
}

impl LoadReport {
    pub fn changed(&self) -> bool {
        !(self.new_files.is_empty()
            && self.updated_files.is_empty()
            && self.deleted_files.is_empty())
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct LoadOptions {
    pub full_refresh: bool,
    pub allow_empty_replace: bool,
}

/// Progress callback: (files done, files to load, current file).
pub type Progress<'a> = &'a (dyn Fn(usize, usize, &str) + Sync);

fn extension(path: &str) -> Option<String> {
    Path::new(path)
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
}

/// Files under `dir` matching `pattern`, sorted; hidden files (and upload temp files) skipped.
pub fn list_files(dir: &Path, pattern: &str) -> crate::Result<(Vec<DiskFile>, Vec<String>)> {
    if !dir.is_dir() {
        return Err(Error::bad_request(format!(
            "Source directory not found: {}",
            dir.display()
        )));
    }
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let recursive = glob::is_recursive(pattern);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            let file_type = entry.file_type()?;
            if file_type.is_dir() {
                if recursive {
                    stack.push(path);
                }
                continue;
            }
            if !file_type.is_file() {
                continue;
            }
            let relative = path
                .strip_prefix(dir)
                .map(|p| {
                    p.components()
                        .map(|c| c.as_os_str().to_string_lossy())
                        .collect::<Vec<_>>()
                        .join("/")
                })
                .unwrap_or(name);
            if !glob::matches(pattern, &relative) {
                continue;
            }
            if !extension(&relative).is_some_and(|e| SUPPORTED_EXTENSIONS.contains(&e.as_str())) {
                skipped.push(relative);
                continue;
            }
            let meta = entry.metadata()?;
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            files.push(DiskFile {
                relative,
                absolute: path,
                size: meta.len(),
                mtime,
            });
        }
    }
    files.sort_by(|a, b| a.relative.cmp(&b.relative));
    skipped.sort();
    Ok((files, skipped))
}

/// Content hash (xxh3-128, hex) of a file, streamed.
pub fn hash_file(path: &Path) -> crate::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:032x}", hasher.digest128()))
}

fn sql_string(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// The DuckDB table function reading a file, by extension.
pub fn reader_sql(path: &Path) -> crate::Result<String> {
    let literal = sql_string(&path.to_string_lossy());
    let ext = extension(&path.to_string_lossy()).unwrap_or_default();
    Ok(match ext.as_str() {
        "csv" => format!("read_csv({literal}, auto_detect = true)"),
        "json" => format!("read_json_auto({literal})"),
        "jsonl" | "ndjson" => format!("read_json_auto({literal}, format = 'newline_delimited')"),
        "parquet" => format!("read_parquet({literal})"),
        other => {
            return Err(Error::bad_request(format!(
                "Unsupported file type '.{other}'"
            )));
        }
    })
}

/// `reader_sql`, with a CSV's dialect and column types detected once: DuckDB's sniffer
/// costs ~100 ms even on a small file, and describing then inserting would pay it twice.
fn resolved_reader(conn: &Connection, file: &DiskFile) -> crate::Result<String> {
    let reader = reader_sql(&file.absolute)?;
    if !reader.starts_with("read_csv(") {
        return Ok(reader);
    }
    let literal = sql_string(&file.absolute.to_string_lossy());
    let prompt: String = conn
        .query_row(
            &format!("SELECT Prompt FROM sniff_csv({literal})"),
            [],
            |row| row.get(0),
        )
        .map_err(|e| file_error(&file.relative, e))?;
    // The prompt is `FROM read_csv('…', auto_detect=false, …, columns={…});`
    Ok(prompt
        .trim()
        .strip_prefix("FROM ")
        .map(|call| call.trim_end_matches(';').trim().to_string())
        .filter(|call| call.starts_with("read_csv("))
        .unwrap_or(reader))
}

fn db(err: duckdb::Error) -> Error {
    Error::internal(err)
}

/// A readable failure naming the file.
fn file_error(file: &str, err: duckdb::Error) -> Error {
    let text = err.to_string();
    let reason = text.lines().take(6).collect::<Vec<_>>().join("\n");
    Error::unprocessable(format!("Could not load file '{file}': {reason}"))
        .with_code(code::FILE_NOT_LOADABLE)
}

pub fn ensure_metadata_table(conn: &Connection) -> crate::Result<()> {
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {METADATA_TABLE} (
            source_name VARCHAR NOT NULL,
            file_path VARCHAR NOT NULL,
            file_size BIGINT,
            file_mtime BIGINT,
            content_hash VARCHAR,
            rows_loaded BIGINT,
            status VARCHAR,
            loaded_at TIMESTAMP,
            PRIMARY KEY (source_name, file_path))"
    ))
    .map_err(db)
}

fn tracked_files(conn: &Connection, source: &str) -> crate::Result<HashMap<String, TrackedFile>> {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT file_path, file_size, file_mtime, content_hash, status FROM {METADATA_TABLE} WHERE source_name = ?"
        ))
        .map_err(db)?;
    let rows = stmt
        .query_map([source], |row| {
            Ok((
                row.get::<_, String>(0)?,
                TrackedFile {
                    size: row.get::<_, Option<i64>>(1)?.unwrap_or(0) as u64,
                    mtime: row.get::<_, Option<i64>>(2)?.unwrap_or(0),
                    hash: row.get::<_, Option<String>>(3)?.unwrap_or_default(),
                    status: row.get::<_, Option<String>>(4)?.unwrap_or_default(),
                },
            ))
        })
        .map_err(db)?;
    rows.collect::<Result<HashMap<_, _>, _>>().map_err(db)
}

/// Column names and types of a table, in order (empty when it does not exist).
pub fn table_columns(
    conn: &Connection,
    schema: &str,
    table: &str,
) -> crate::Result<Vec<(String, String)>> {
    let mut stmt = conn
        .prepare(
            "SELECT column_name, data_type FROM information_schema.columns \
             WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        )
        .map_err(db)?;
    let rows = stmt
        .query_map([schema, table], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })
        .map_err(db)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(db)
}

fn describe(conn: &Connection, reader: &str, file: &str) -> crate::Result<Vec<(String, String)>> {
    let mut stmt = conn
        .prepare(&format!("DESCRIBE SELECT * FROM {reader}"))
        .map_err(|e| file_error(file, e))?;
    let rows = stmt
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })
        .map_err(|e| file_error(file, e))?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(file, e))
}

fn count(conn: &Connection, sql: &str) -> crate::Result<u64> {
    conn.query_row(sql, [], |row| row.get::<_, i64>(0))
        .map(|n| n as u64)
        .map_err(db)
}

/// The narrowest type both values fit, as DuckDB's UNION would choose it.
fn common_type(conn: &Connection, a: &str, b: &str) -> crate::Result<String> {
    conn.query_row(
        &format!(
            "SELECT typeof(c) FROM (SELECT NULL::{a} AS c UNION ALL SELECT NULL::{b}) LIMIT 1"
        ),
        [],
        |row| row.get::<_, String>(0),
    )
    .map_err(db)
}

/// Adds the file's new columns to the table and widens columns whose type changed.
fn evolve_schema(
    conn: &Connection,
    schema: &str,
    table: &str,
    file_columns: &[(String, String)],
    record_drift: bool,
    drift: &mut Vec<DriftChange>,
) -> crate::Result<()> {
    let existing: BTreeMap<String, String> =
        table_columns(conn, schema, table)?.into_iter().collect();
    let target = format!("{}.{}", quote_ident(schema), quote_ident(table));
    for (column, file_type) in file_columns {
        match existing.get(column) {
            None => {
                conn.execute_batch(&format!(
                    "ALTER TABLE {target} ADD COLUMN {} {file_type}",
                    quote_ident(column)
                ))
                .map_err(db)?;
                if record_drift {
                    drift.push(DriftChange {
                        table: table.into(),
                        column: column.clone(),
                        change: "column_added",
                        old_type: None,
                        new_type: file_type.clone(),
                    });
                }
            }
            Some(current) if current != file_type => {
                let widened = common_type(conn, current, file_type)?;
                if &widened != current {
                    conn.execute_batch(&format!(
                        "ALTER TABLE {target} ALTER COLUMN {} SET DATA TYPE {widened}",
                        quote_ident(column)
                    ))
                    .map_err(db)?;
                    if record_drift {
                        drift.push(DriftChange {
                            table: table.into(),
                            column: column.clone(),
                            change: "type_changed",
                            old_type: Some(current.clone()),
                            new_type: widened,
                        });
                    }
                }
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn table_exists(conn: &Connection, schema: &str, table: &str) -> crate::Result<bool> {
    Ok(count(
        conn,
        &format!(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = {} AND table_name = {}",
            sql_string(schema),
            sql_string(table)
        ),
    )? > 0)
}

/// Loads one file into `target` (creating it from the file when absent); returns rows inserted.
fn load_file(
    conn: &Connection,
    schema: &str,
    table: &str,
    file: &DiskFile,
    record_drift: bool,
    drift: &mut Vec<DriftChange>,
) -> crate::Result<u64> {
    let target = format!("{}.{}", quote_ident(schema), quote_ident(table));
    let select = |reader: &str| {
        format!(
            "SELECT *, {} AS {FILENAME_COLUMN}, now()::TIMESTAMP AS {LOADED_AT_COLUMN} FROM {reader}",
            sql_string(&file.relative)
        )
    };
    if !table_exists(conn, schema, table)? {
        let select = select(&reader_sql(&file.absolute)?);
        conn.execute_batch(&format!("CREATE TABLE {target} AS {select}"))
            .map_err(|e| file_error(&file.relative, e))?;
        return count(conn, &format!("SELECT count(*) FROM {target}"));
    }
    let started = std::time::Instant::now();
    let reader = resolved_reader(conn, file)?;
    let select = select(&reader);
    let columns = describe(conn, &reader, &file.relative)?;
    let described = started.elapsed();
    evolve_schema(conn, schema, table, &columns, record_drift, drift)?;
    tracing::debug!(
        file = file.relative,
        "described in {described:?}, schema checked after {:?}",
        started.elapsed()
    );
    let inserted = conn
        .execute(&format!("INSERT INTO {target} BY NAME {select}"), [])
        .map_err(|e| file_error(&file.relative, e))?;
    Ok(inserted as u64)
}

fn upsert_metadata(
    conn: &Connection,
    source: &str,
    file: &DiskFile,
    hash: &str,
    rows: u64,
    status: &str,
) -> crate::Result<()> {
    conn.execute(
        &format!(
            "INSERT OR REPLACE INTO {METADATA_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, now()::TIMESTAMP)"
        ),
        duckdb::params![
            source,
            file.relative,
            file.size as i64,
            file.mtime,
            hash,
            rows as i64,
            status
        ],
    )
    .map_err(db)?;
    Ok(())
}

/// What a sync has to do, decided before anything is written.
struct Plan {
    to_load: Vec<(DiskFile, String, bool)>,
    unchanged: Vec<(DiskFile, String)>,
    deleted: Vec<String>,
}

fn plan(
    conn: &Connection,
    source: &str,
    files: Vec<DiskFile>,
    full_refresh: bool,
) -> crate::Result<Plan> {
    let tracked = tracked_files(conn, source)?;
    let mut plan = Plan {
        to_load: vec![],
        unchanged: vec![],
        deleted: vec![],
    };
    for file in &files {
        let previous = tracked
            .get(&file.relative)
            .filter(|t| t.status != "deleted");
        match previous {
            Some(t) if !full_refresh && t.size == file.size && t.mtime == file.mtime => {
                plan.unchanged.push((file.clone(), t.hash.clone()))
            }
            _ => {
                let hash = hash_file(&file.absolute)?;
                match previous {
                    Some(t) if !full_refresh && t.hash == hash => {
                        plan.unchanged.push((file.clone(), hash))
                    }
                    Some(_) => plan.to_load.push((file.clone(), hash, true)),
                    None => plan.to_load.push((file.clone(), hash, false)),
                }
            }
        }
    }
    let on_disk: std::collections::HashSet<&str> =
        files.iter().map(|f| f.relative.as_str()).collect();
    let mut deleted: Vec<String> = tracked
        .iter()
        .filter(|(path, t)| t.status != "deleted" && !on_disk.contains(path.as_str()))
        .map(|(path, _)| path.clone())
        .collect();
    deleted.sort();
    plan.deleted = deleted;
    Ok(plan)
}

/// Syncs a file source into `raw_<source>.<source>` inside one transaction.
pub fn sync(
    conn: &Connection,
    source: &str,
    dir: &Path,
    pattern: &str,
    options: LoadOptions,
    progress: Progress<'_>,
) -> crate::Result<LoadReport> {
    let began = std::time::Instant::now();
    let (files, skipped) = list_files(dir, pattern)?;
    ensure_metadata_table(conn)?;
    let schema = format!("raw_{source}");
    let table = source.to_string();
    let plan = plan(conn, source, files, options.full_refresh)?;
    tracing::debug!(
        source,
        to_load = plan.to_load.len(),
        unchanged = plan.unchanged.len(),
        deleted = plan.deleted.len(),
        "planned in {:?}",
        began.elapsed()
    );
    let mut report = LoadReport {
        unchanged_files: plan.unchanged.len(),
        warnings: skipped
            .iter()
            .map(|f| format!("Skipped {f}: unsupported file type"))
            .collect(),
        ..Default::default()
    };
    if plan.to_load.is_empty() && plan.deleted.is_empty() && !options.full_refresh {
        report.total_rows = if table_exists(conn, &schema, &table)? {
            count(
                conn,
                &format!(
                    "SELECT count(*) FROM {}.{}",
                    quote_ident(&schema),
                    quote_ident(&table)
                ),
            )?
        } else {
            0
        };
        return Ok(report);
    }

    conn.execute_batch("BEGIN TRANSACTION").map_err(db)?;
    match apply(
        conn,
        source,
        &schema,
        &table,
        plan,
        options,
        progress,
        &mut report,
    ) {
        Ok(()) => {
            let applied = began.elapsed();
            conn.execute_batch("COMMIT").map_err(db)?;
            tracing::debug!(
                source,
                "applied after {applied:?}, committed after {:?}",
                began.elapsed()
            );
            Ok(report)
        }
        Err(err) => {
            if let Err(rollback) = conn.execute_batch("ROLLBACK") {
                tracing::error!("rollback failed after a failed load: {rollback}");
            }
            Err(err)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn apply(
    conn: &Connection,
    source: &str,
    schema: &str,
    table: &str,
    plan: Plan,
    options: LoadOptions,
    progress: Progress<'_>,
    report: &mut LoadReport,
) -> crate::Result<()> {
    conn.execute_batch(&format!(
        "CREATE SCHEMA IF NOT EXISTS {}",
        quote_ident(schema)
    ))
    .map_err(db)?;
    let existed = table_exists(conn, schema, table)?;
    let target = format!("{}.{}", quote_ident(schema), quote_ident(table));
    let rows_before = if existed {
        count(conn, &format!("SELECT count(*) FROM {target}"))?
    } else {
        0
    };
    let columns_before = table_columns(conn, schema, table)?;

    // A full refresh rebuilds the table under a new name and swaps it in at the end.
    let build_table = if options.full_refresh {
        format!("{table}__dango_rebuild")
    } else {
        table.to_string()
    };
    if options.full_refresh {
        conn.execute_batch(&format!(
            "DROP TABLE IF EXISTS {}.{}",
            quote_ident(schema),
            quote_ident(&build_table)
        ))
        .map_err(db)?;
        conn.execute_batch(&format!(
            "DELETE FROM {METADATA_TABLE} WHERE source_name = {}",
            sql_string(source)
        ))
        .map_err(db)?;
    }
    let build_target = format!("{}.{}", quote_ident(schema), quote_ident(&build_table));
    let record_drift = existed && !options.full_refresh;

    let mut files: Vec<(DiskFile, String, bool)> = plan.to_load;
    if options.full_refresh {
        // Everything is loaded afresh into the new table.
        files = files
            .into_iter()
            .map(|(f, h, _)| (f, h, false))
            .chain(plan.unchanged.into_iter().map(|(f, h)| (f, h, false)))
            .collect();
        files.sort_by(|a, b| a.0.relative.cmp(&b.0.relative));
    }
    let total = files.len();
    for (index, (file, hash, is_update)) in files.iter().enumerate() {
        progress(index, total, &file.relative);
        let had_rows = if *is_update {
            count(
                conn,
                &format!(
                    "SELECT count(*) FROM {build_target} WHERE {FILENAME_COLUMN} = {}",
                    sql_string(&file.relative)
                ),
            )?
        } else {
            0
        };
        // Load into a savepoint-like scratch: delete the old version only if the new one has rows.
        let loaded = if *is_update {
            let scratch = format!(
                "{}.{}",
                quote_ident(schema),
                quote_ident(&format!("{table}__dango_file"))
            );
            conn.execute_batch(&format!("DROP TABLE IF EXISTS {scratch}"))
                .map_err(db)?;
            let reader = reader_sql(&file.absolute)?;
            conn.execute_batch(&format!(
                "CREATE TABLE {scratch} AS SELECT *, {} AS {FILENAME_COLUMN}, now()::TIMESTAMP AS {LOADED_AT_COLUMN} FROM {reader}",
                sql_string(&file.relative)
            ))
            .map_err(|e| file_error(&file.relative, e))?;
            let new_rows = count(conn, &format!("SELECT count(*) FROM {scratch}"))?;
            if new_rows == 0 && had_rows > 0 && !options.allow_empty_replace {
                conn.execute_batch(&format!("DROP TABLE {scratch}"))
                    .map_err(db)?;
                report.kept_empty_files.push(file.relative.clone());
                report.warnings.push(format!(
                    "{} changed but has no rows; its previous {had_rows} rows were kept",
                    file.relative
                ));
                continue;
            }
            let scratch_columns: Vec<(String, String)> =
                table_columns(conn, schema, &format!("{table}__dango_file"))?
                    .into_iter()
                    .filter(|(c, _)| c != FILENAME_COLUMN && c != LOADED_AT_COLUMN)
                    .collect();
            evolve_schema(
                conn,
                schema,
                &build_table,
                &scratch_columns,
                record_drift,
                &mut report.drift,
            )?;
            let deleted = conn
                .execute(
                    &format!("DELETE FROM {build_target} WHERE {FILENAME_COLUMN} = ?"),
                    [file.relative.as_str()],
                )
                .map_err(db)?;
            report.rows_deleted += deleted as u64;
            let inserted = conn
                .execute(
                    &format!("INSERT INTO {build_target} BY NAME SELECT * FROM {scratch}"),
                    [],
                )
                .map_err(|e| file_error(&file.relative, e))?;
            conn.execute_batch(&format!("DROP TABLE {scratch}"))
                .map_err(db)?;
            report.updated_files.push(file.relative.clone());
            inserted as u64
        } else {
            let started = std::time::Instant::now();
            let inserted = load_file(
                conn,
                schema,
                &build_table,
                file,
                record_drift,
                &mut report.drift,
            )?;
            tracing::debug!(
                file = file.relative,
                inserted,
                "loaded in {:?}",
                started.elapsed()
            );
            report.new_files.push(file.relative.clone());
            inserted
        };
        report.rows_inserted += loaded;
        upsert_metadata(
            conn,
            source,
            file,
            hash,
            loaded,
            if *is_update { "updated" } else { "loaded" },
        )?;
    }
    progress(total, total, "");

    if !options.full_refresh {
        for path in &plan.deleted {
            if table_exists(conn, schema, table)? {
                let deleted = conn
                    .execute(
                        &format!("DELETE FROM {target} WHERE {FILENAME_COLUMN} = ?"),
                        [path.as_str()],
                    )
                    .map_err(db)?;
                report.rows_deleted += deleted as u64;
            }
            conn.execute(
                &format!("UPDATE {METADATA_TABLE} SET status = 'deleted', rows_loaded = 0, loaded_at = now()::TIMESTAMP WHERE source_name = ? AND file_path = ?"),
                [source, path.as_str()],
            )
            .map_err(db)?;
            report.deleted_files.push(path.clone());
        }
    }

    let rows_after = if table_exists(conn, schema, &build_table)? {
        count(conn, &format!("SELECT count(*) FROM {build_target}"))?
    } else {
        0
    };
    // Never replace a table that has rows with nothing, unless asked to.
    if rows_before > 0 && rows_after == 0 && !options.allow_empty_replace {
        return Err(Error::conflict(format!(
            "Sync would leave {schema}.{table} empty: its {rows_before} existing rows were preserved. \
             To replace them with nothing, sync with allow_empty_replace."
        ))
        .with_code(code::EMPTY_REPLACE_REFUSED));
    }

    if options.full_refresh {
        if table_exists(conn, schema, &build_table)? {
            conn.execute_batch(&format!("DROP TABLE IF EXISTS {target}"))
                .map_err(db)?;
            conn.execute_batch(&format!(
                "ALTER TABLE {build_target} RENAME TO {}",
                quote_ident(table)
            ))
            .map_err(db)?;
            // Report what a full refresh changed about the schema.
            if existed {
                let before: BTreeMap<String, String> = columns_before.into_iter().collect();
                for (column, new_type) in table_columns(conn, schema, table)? {
                    match before.get(&column) {
                        None => report.drift.push(DriftChange {
                            table: table.into(),
                            column,
                            change: "column_added",
                            old_type: None,
                            new_type,
                        }),
                        Some(old) if *old != new_type => report.drift.push(DriftChange {
                            table: table.into(),
                            column,
                            change: "type_changed",
                            old_type: Some(old.clone()),
                            new_type,
                        }),
                        Some(_) => {}
                    }
                }
            }
        } else if existed {
            // no files at all and allowed to be empty: keep an empty table of the old shape
            conn.execute_batch(&format!("DELETE FROM {target}"))
                .map_err(db)?;
        }
    }
    report.total_rows = rows_after;
    Ok(())
}

/// Removes one file's rows and tracking (used when a file is deleted through the API).
pub fn forget_file(conn: &Connection, source: &str, relative: &str) -> crate::Result<u64> {
    ensure_metadata_table(conn)?;
    let schema = format!("raw_{source}");
    let mut deleted = 0;
    conn.execute_batch("BEGIN TRANSACTION").map_err(db)?;
    let result = (|| {
        if table_exists(conn, &schema, source)? {
            deleted = conn
                .execute(
                    &format!(
                        "DELETE FROM {}.{} WHERE {FILENAME_COLUMN} = ?",
                        quote_ident(&schema),
                        quote_ident(source)
                    ),
                    [relative],
                )
                .map_err(db)? as u64;
        }
        conn.execute(
            &format!("UPDATE {METADATA_TABLE} SET status = 'deleted', rows_loaded = 0, loaded_at = now()::TIMESTAMP WHERE source_name = ? AND file_path = ?"),
            [source, relative],
        )
        .map_err(db)?;
        Ok::<_, Error>(())
    })();
    match result {
        Ok(()) => conn.execute_batch("COMMIT").map_err(db)?,
        Err(err) => {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(err);
        }
    }
    Ok(deleted)
}

/// A file as the tracking table knows it.
#[derive(Clone, Debug)]
pub struct TrackedListing {
    pub path: String,
    pub rows_loaded: i64,
    pub status: String,
    /// RFC 3339.
    pub loaded_at: Option<String>,
}

/// Tracking rows of a source, most recently loaded first.
pub fn tracked_for_listing(conn: &Connection, source: &str) -> crate::Result<Vec<TrackedListing>> {
    ensure_metadata_table(conn)?;
    let mut stmt = conn
        .prepare(&format!(
            "SELECT file_path, coalesce(rows_loaded, 0), coalesce(status, ''), strftime(loaded_at, '%Y-%m-%dT%H:%M:%SZ') \
             FROM {METADATA_TABLE} WHERE source_name = ? ORDER BY loaded_at DESC"
        ))
        .map_err(db)?;
    let rows = stmt
        .query_map([source], |row| {
            Ok(TrackedListing {
                path: row.get(0)?,
                rows_loaded: row.get(1)?,
                status: row.get(2)?,
                loaded_at: row.get(3)?,
            })
        })
        .map_err(db)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(db)
}
