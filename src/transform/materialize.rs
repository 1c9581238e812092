//! The SQL each materialization runs on DuckDB, following dbt-duckdb's end state:
//! views and tables are replaced atomically, incremental models merge new rows by
//! `unique_key` (append, delete+insert, merge) with `on_schema_change` handling.

use std::collections::HashMap;

use duckdb::Connection;

use super::config::NodeConfig;
use super::nodes::{Node, quote, relation};

pub type SqlResult<T> = Result<T, String>;

fn run(conn: &Connection, sql: &str) -> SqlResult<()> {
    conn.execute_batch(sql).map_err(|e| e.to_string())
}

/// `BASE TABLE`, `VIEW`, or `None` when the relation does not exist.
pub fn relation_type(conn: &Connection, schema: &str, name: &str) -> SqlResult<Option<String>> {
    let mut stmt = conn
        .prepare("SELECT table_type FROM information_schema.tables WHERE table_schema = ? AND table_name = ?")
        .map_err(|e| e.to_string())?;
    let mut rows = stmt.query([schema, name]).map_err(|e| e.to_string())?;
    match rows.next().map_err(|e| e.to_string())? {
        Some(row) => Ok(Some(row.get::<_, String>(0).map_err(|e| e.to_string())?)),
        None => Ok(None),
    }
}

/// Column names and types, in order.
pub fn columns(conn: &Connection, schema: &str, name: &str) -> SqlResult<Vec<(String, String)>> {
    let mut stmt = conn
        .prepare(
            "SELECT column_name, data_type FROM information_schema.columns \
             WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        )
        .map_err(|e| e.to_string())?;
    let rows = stmt
        .query_map([schema, name], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })
        .map_err(|e| e.to_string())?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}

/// A relation's type (`BASE TABLE` or `VIEW`) and its columns in order.
pub type RelationShape = (String, Vec<(String, String)>);

/// Every relation of the database with its columns, in one catalog query (a query
/// per relation costs ~9 ms, which adds up over a project's models).
pub fn all_relations(conn: &Connection) -> SqlResult<HashMap<(String, String), RelationShape>> {
    let mut stmt = conn
        .prepare(
            "SELECT t.table_schema, t.table_name, t.table_type, c.column_name, c.data_type \
             FROM information_schema.tables t \
             LEFT JOIN information_schema.columns c ON c.table_catalog = t.table_catalog \
               AND c.table_schema = t.table_schema AND c.table_name = t.table_name \
             ORDER BY t.table_schema, t.table_name, c.ordinal_position",
        )
        .map_err(|e| e.to_string())?;
    let rows = stmt
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, Option<String>>(4)?,
            ))
        })
        .map_err(|e| e.to_string())?;
    let mut relations: HashMap<(String, String), RelationShape> = HashMap::new();
    for row in rows {
        let (schema, name, kind, column, ty) = row.map_err(|e| e.to_string())?;
        let entry = relations
            .entry((schema, name))
            .or_insert_with(|| (kind, Vec::new()));
        if let (Some(column), Some(ty)) = (column, ty) {
            entry.1.push((column, ty));
        }
    }
    Ok(relations)
}

fn transaction<T>(conn: &Connection, work: impl FnOnce() -> SqlResult<T>) -> SqlResult<T> {
    run(conn, "BEGIN TRANSACTION")?;
    match work() {
        Ok(value) => {
            run(conn, "COMMIT")?;
            Ok(value)
        }
        Err(err) => {
            let _ = run(conn, "ROLLBACK");
            Err(err)
        }
    }
}

/// Drops whatever is at `schema.name` when it is of the other kind.
fn clear_other_kind(conn: &Connection, node: &Node, keep: &str) -> SqlResult<()> {
    match relation_type(conn, &node.schema, &node.alias)?.as_deref() {
        Some("VIEW") if keep != "VIEW" => run(conn, &format!("DROP VIEW {}", node.relation_name())),
        Some(kind) if kind != "VIEW" && keep == "VIEW" => {
            run(conn, &format!("DROP TABLE {}", node.relation_name()))
        }
        _ => Ok(()),
    }
}

pub fn view(conn: &Connection, node: &Node, sql: &str) -> SqlResult<i64> {
    transaction(conn, || {
        clear_other_kind(conn, node, "VIEW")?;
        run(
            conn,
            &format!(
                "CREATE OR REPLACE VIEW {} AS (\n{sql}\n)",
                node.relation_name()
            ),
        )?;
        Ok(-1)
    })
}

pub fn table(conn: &Connection, node: &Node, sql: &str) -> SqlResult<i64> {
    transaction(conn, || {
        clear_other_kind(conn, node, "BASE TABLE")?;
        run(
            conn,
            &format!(
                "CREATE OR REPLACE TABLE {} AS (\n{sql}\n)",
                node.relation_name()
            ),
        )?;
        count(conn, &node.relation_name())
    })
}

fn count(conn: &Connection, relation: &str) -> SqlResult<i64> {
    conn.query_row(&format!("SELECT count(*) FROM {relation}"), [], |row| {
        row.get(0)
    })
    .map_err(|e| e.to_string())
}

/// Whether the next run of this incremental model is incremental (its table exists,
/// no full refresh is asked for, or the model refuses full refreshes).
pub fn is_incremental_run(conn: &Connection, node: &Node, full_refresh: bool) -> SqlResult<bool> {
    let exists_as_table = matches!(relation_type(conn, &node.schema, &node.alias)?.as_deref(), Some(t) if t != "VIEW");
    let refresh = node.config.bool("full_refresh").unwrap_or(full_refresh);
    Ok(exists_as_table && !refresh)
}

fn column_list(columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| quote(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// DuckDB reports every string type as `character varying(256)` to dbt, and dbt
/// compares types by those strings.
fn dbt_type(ty: &str) -> String {
    let upper = ty.to_uppercase();
    if upper == "VARCHAR" || upper.starts_with("VARCHAR(") || upper == "TEXT" || upper == "STRING" {
        "character varying(256)".into()
    } else {
        ty.to_string()
    }
}

/// Runs an incremental model; `incremental` says whether the table exists and is kept.
pub fn incremental(conn: &Connection, node: &Node, sql: &str, incremental: bool) -> SqlResult<i64> {
    if !incremental {
        return table(conn, node, sql);
    }
    let config: &NodeConfig = &node.config;
    let target = node.relation_name();
    let temp = format!("{}__dbt_tmp", node.alias);
    let temp_relation = quote(&temp);
    run(
        conn,
        &format!("CREATE OR REPLACE TEMPORARY TABLE {temp_relation} AS (\n{sql}\n)"),
    )?;
    let result = transaction(conn, || {
        let new_columns = temp_columns(conn, &temp)?;
        let target_columns = columns(conn, &node.schema, &node.alias)?;
        let on_schema_change = match config.str("on_schema_change").as_deref() {
            Some(mode @ ("append_new_columns" | "sync_all_columns" | "fail")) => mode.to_string(),
            _ => "ignore".to_string(),
        };
        let added: Vec<(String, String)> = new_columns
            .iter()
            .filter(|(name, _)| !target_columns.iter().any(|(t, _)| t == name))
            .cloned()
            .collect();
        let removed: Vec<String> = target_columns
            .iter()
            .filter(|(name, _)| !new_columns.iter().any(|(n, _)| n == name))
            .map(|(name, _)| name.clone())
            .collect();
        let changed: Vec<(String, String)> = new_columns
            .iter()
            .filter(|(name, ty)| {
                target_columns
                    .iter()
                    .any(|(t, tty)| t == name && dbt_type(tty) != dbt_type(ty))
            })
            .cloned()
            .collect();
        if on_schema_change != "ignore"
            && !(added.is_empty() && removed.is_empty() && changed.is_empty())
        {
            if on_schema_change == "fail" {
                return Err(format!(
                    "The source and target schemas on this incremental model are out of sync!\n\
                     They can be reconciled in several ways: set the `on_schema_change` config to \
                     `append_new_columns` or `sync_all_columns`, or re-run with --full-refresh.\n\
                     Additional troubleshooting context:\n   Source columns not in target: {:?}\n   \
                     Target columns not in source: {:?}\n   New column types: {:?}",
                    added.iter().map(|c| &c.0).collect::<Vec<_>>(),
                    removed,
                    changed
                        .iter()
                        .map(|c| format!("{} {}", c.0, c.1))
                        .collect::<Vec<_>>()
                ));
            }
            for (name, ty) in &added {
                run(
                    conn,
                    &format!(
                        "alter table {target} add column {} {}",
                        quote(name),
                        dbt_type(ty)
                    ),
                )?;
            }
            if on_schema_change == "sync_all_columns" {
                for name in &removed {
                    run(
                        conn,
                        &format!("alter table {target} drop column {}", quote(name)),
                    )?;
                }
                for (name, ty) in &changed {
                    let tmp = format!("{name}__dbt_alter");
                    run(
                        conn,
                        &format!(
                            "alter table {target} add column {} {}",
                            quote(&tmp),
                            dbt_type(ty)
                        ),
                    )?;
                    run(
                        conn,
                        &format!("update {target} set {} = {}", quote(&tmp), quote(name)),
                    )?;
                    run(
                        conn,
                        &format!("alter table {target} drop column {} cascade", quote(name)),
                    )?;
                    run(
                        conn,
                        &format!(
                            "alter table {target} rename column {} to {}",
                            quote(&tmp),
                            quote(name)
                        ),
                    )?;
                }
            }
        }
        // dbt inserts the target's columns (ignore) or the new rows' columns (otherwise)
        let dest: Vec<String> = if on_schema_change == "ignore" {
            target_columns
                .iter()
                .map(|(name, _)| name.clone())
                .collect()
        } else {
            new_columns.iter().map(|(name, _)| name.clone()).collect()
        };
        let cols = column_list(&dest);
        let unique_key = config.unique_key();
        let key_is_list = config.get("unique_key").is_some_and(|v| v.is_array());
        let strategy = config
            .str("incremental_strategy")
            .unwrap_or_else(|| "delete+insert".into());
        let insert = format!(
            "insert into {target} ({cols}) (\n    select {cols}\n    from {temp_relation}\n)"
        );
        let rows = match strategy.as_str() {
            "append" => conn.execute(&insert, []).map_err(|e| e.to_string())?,
            "delete+insert" => {
                if !unique_key.is_empty() {
                    let delete = if key_is_list {
                        let condition = unique_key
                            .iter()
                            .map(|k| format!("{temp_relation}.{k} = DBT_INCREMENTAL_TARGET.{k}"))
                            .collect::<Vec<_>>()
                            .join(" and ");
                        format!(
                            "delete from {target} as DBT_INCREMENTAL_TARGET\n    using {temp_relation}\n    where ( {condition} )"
                        )
                    } else {
                        let key = &unique_key[0];
                        format!(
                            "delete from {target}\n    where (\n    {key}) in (\n    select ({key})\n    from {temp_relation}\n    )"
                        )
                    };
                    run(conn, &delete)?;
                }
                conn.execute(&insert, []).map_err(|e| e.to_string())?
            }
            "merge" => {
                let on = if unique_key.is_empty() {
                    "(FALSE)".to_string()
                } else {
                    unique_key
                        .iter()
                        .map(|k| format!("(DBT_INTERNAL_SOURCE.{k} = DBT_INTERNAL_DEST.{k})"))
                        .collect::<Vec<_>>()
                        .join(" AND ")
                };
                let update = match (
                    config.get("merge_update_columns"),
                    config.get("merge_exclude_columns"),
                ) {
                    (Some(list), _) => Some(super::config::as_string_list(list)),
                    (None, Some(exclude)) => {
                        let exclude = super::config::as_string_list(exclude);
                        Some(
                            dest.iter()
                                .filter(|c| !exclude.iter().any(|e| e.eq_ignore_ascii_case(c)))
                                .cloned()
                                .collect(),
                        )
                    }
                    _ => None,
                };
                let matched = match update {
                    Some(columns) => format!(
                        "UPDATE SET {}",
                        columns
                            .iter()
                            .map(|c| format!("{} = DBT_INTERNAL_SOURCE.{}", quote(c), quote(c)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    None => "UPDATE BY NAME".into(),
                };
                conn.execute(
                    &format!(
                        "MERGE INTO {target} AS DBT_INTERNAL_DEST\n    USING {temp_relation} AS DBT_INTERNAL_SOURCE\n    ON {on}\n    WHEN MATCHED THEN {matched}\n    WHEN NOT MATCHED THEN INSERT BY NAME"
                    ),
                    [],
                )
                .map_err(|e| e.to_string())?
            }
            "insert_overwrite" => {
                return Err(
                    "The incremental strategy 'insert_overwrite' is not valid for this adapter"
                        .into(),
                );
            }
            other => {
                return Err(format!(
                    "The incremental strategy '{other}' is not supported (use append, delete+insert or merge)"
                ));
            }
        };
        Ok(rows as i64)
    });
    let _ = run(conn, &format!("DROP TABLE IF EXISTS {temp_relation}"));
    result
}

/// Columns of a temporary table (they live in the `temp` catalog).
pub fn temp_columns(conn: &Connection, name: &str) -> SqlResult<Vec<(String, String)>> {
    let mut stmt = conn
        .prepare(
            "SELECT column_name, data_type FROM information_schema.columns \
             WHERE table_catalog = 'temp' AND table_name = ? ORDER BY ordinal_position",
        )
        .map_err(|e| e.to_string())?;
    let rows = stmt
        .query_map([name], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })
        .map_err(|e| e.to_string())?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}

/// The outcome of a data test.
pub struct TestOutcome {
    pub failures: u64,
    pub should_warn: bool,
    pub should_error: bool,
}

/// Runs a test's compiled SQL inside dbt's wrapper (`fail_calc`, `warn_if`, `error_if`, `limit`).
pub fn test(conn: &Connection, node: &Node, sql: &str) -> SqlResult<TestOutcome> {
    let fail_calc = node
        .config
        .str("fail_calc")
        .unwrap_or_else(|| "count(*)".into());
    let warn_if = node.config.str("warn_if").unwrap_or_else(|| "!= 0".into());
    let error_if = node.config.str("error_if").unwrap_or_else(|| "!= 0".into());
    let limit = node
        .config
        .get("limit")
        .and_then(|v| v.as_i64())
        .map(|n| format!("\nlimit {n}"))
        .unwrap_or_default();
    let wrapped = format!(
        "select\n  {fail_calc} as failures,\n  {fail_calc} {warn_if} as should_warn,\n  {fail_calc} {error_if} as should_error\nfrom (\n{sql}{limit}\n) dbt_internal_test"
    );
    conn.query_row(&wrapped, [], |row| {
        Ok(TestOutcome {
            failures: row.get::<_, Option<i64>>(0)?.unwrap_or(0).max(0) as u64,
            should_warn: row.get::<_, Option<bool>>(1)?.unwrap_or(false),
            should_error: row.get::<_, Option<bool>>(2)?.unwrap_or(false),
        })
    })
    .map_err(|e| e.to_string())
}

pub fn ensure_schema(conn: &Connection, database: &str, schema: &str) -> SqlResult<()> {
    run(
        conn,
        &format!(
            "CREATE SCHEMA IF NOT EXISTS {}.{}",
            quote(database),
            quote(schema)
        ),
    )
}

pub fn relation_of(database: &str, schema: &str, name: &str) -> String {
    relation(database, schema, name)
}
