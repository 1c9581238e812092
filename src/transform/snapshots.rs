//! Snapshots (type-2 slowly changing dimensions), following dbt-core's snapshot macros as
//! dbt-duckdb runs them: `timestamp` and `check` strategies, `hard_deletes`
//! (ignore / invalidate / new_record), `dbt_valid_to_current`, the staging table of
//! insertions, updates and deletes, then close-and-insert.

use duckdb::Connection;

use super::config::as_string_list;
use super::materialize::{columns, relation_type, temp_columns};
use super::nodes::{Node, quote};

const SNAPSHOT_TIME: &str = "now()::timestamp";

fn run(conn: &Connection, sql: &str) -> Result<(), String> {
    conn.execute_batch(sql).map_err(|e| e.to_string())
}

fn hash_arguments(args: &[String]) -> String {
    let parts: Vec<String> = args
        .iter()
        .map(|a| format!("coalesce(cast({a} as varchar ), '')"))
        .collect();
    format!("md5({})", parts.join(" || '|' || "))
}

struct Strategy {
    unique_key: Vec<String>,
    key_is_list: bool,
    updated_at: String,
    row_changed: String,
    scd_id: String,
    hard_deletes: String,
}

fn columns_of_query(conn: &Connection, sql: &str) -> Result<Vec<String>, String> {
    let mut stmt = conn
        .prepare(&format!("DESCRIBE SELECT * FROM (\n{sql}\n) __dbt_sbq"))
        .map_err(|e| e.to_string())?;
    let rows = stmt
        .query_map([], |row| row.get::<_, String>(0))
        .map_err(|e| e.to_string())?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}

fn strategy(
    conn: &Connection,
    node: &Node,
    sql: &str,
    target_exists: bool,
) -> Result<Strategy, String> {
    let config = &node.config;
    let key_value = config
        .get("unique_key")
        .cloned()
        .ok_or("snapshots need a unique_key")?;
    let key_is_list = key_value.is_array();
    let unique_key = as_string_list(&key_value);
    let hard_deletes = match (
        config.str("hard_deletes"),
        config.bool("invalidate_hard_deletes"),
    ) {
        (Some(_), Some(true)) => {
            return Err("set either hard_deletes or invalidate_hard_deletes, not both".into());
        }
        (Some(mode), _) => mode,
        (None, Some(true)) => "invalidate".into(),
        _ => "ignore".into(),
    };
    let (updated_at, row_changed) = match config.str("strategy").as_deref() {
        Some("timestamp") => {
            let updated_at = config
                .str("updated_at")
                .ok_or("the timestamp strategy needs updated_at")?;
            let changed = format!("(snapshotted_data.dbt_valid_from < source_data.{updated_at})");
            (updated_at, changed)
        }
        Some("check") => {
            let updated_at = config
                .str("updated_at")
                .unwrap_or_else(|| SNAPSHOT_TIME.into());
            let mut column_added = false;
            let mut check_cols = Vec::new();
            if target_exists {
                let query_columns = match config.get("check_cols") {
                    Some(serde_json::Value::String(s)) if s == "all" => {
                        columns_of_query(conn, sql)?
                    }
                    Some(v) => {
                        let list = as_string_list(v);
                        if list.is_empty() {
                            return Err(format!("Invalid value for 'check_cols': {v}"));
                        }
                        columns_of_query(
                            conn,
                            &format!("select {} from (\n{sql}\n) subq", list.join(", ")),
                        )?
                    }
                    None => return Err("the check strategy needs check_cols".into()),
                };
                let existing: Vec<String> = columns(conn, &node.schema, &node.alias)?
                    .into_iter()
                    .map(|(c, _)| c)
                    .collect();
                for column in query_columns {
                    if existing.contains(&column) {
                        check_cols.push(quote(&column));
                    } else {
                        column_added = true;
                    }
                }
            }
            let changed = if column_added {
                "(TRUE)".to_string()
            } else {
                let parts: Vec<String> = check_cols
                    .iter()
                    .map(|c| {
                        format!(
                            "snapshotted_data.{c} != source_data.{c}\n        or\n        (\n            ((snapshotted_data.{c} is null) and not (source_data.{c} is null))\n            or\n            ((not snapshotted_data.{c} is null) and (source_data.{c} is null))\n        )"
                        )
                    })
                    .collect();
                format!("({})", parts.join(" or "))
            };
            (updated_at, changed)
        }
        other => {
            return Err(format!(
                "snapshot strategy {other:?} is not supported (use timestamp or check)"
            ));
        }
    };
    let mut scd_args = unique_key.clone();
    scd_args.push(updated_at.clone());
    Ok(Strategy {
        scd_id: hash_arguments(&scd_args),
        unique_key,
        key_is_list,
        updated_at,
        row_changed,
        hard_deletes,
    })
}

fn unique_key_fields(strategy: &Strategy) -> String {
    if strategy.key_is_list {
        strategy
            .unique_key
            .iter()
            .enumerate()
            .map(|(i, k)| format!("{k} as dbt_unique_key_{}", i + 1))
            .collect::<Vec<_>>()
            .join(", ")
    } else {
        format!("{} as dbt_unique_key", strategy.unique_key.join(""))
    }
}

fn key_join(strategy: &Strategy, left: &str, right: &str) -> String {
    if strategy.key_is_list {
        (1..=strategy.unique_key.len())
            .map(|i| format!("{left}.dbt_unique_key_{i} = {right}.dbt_unique_key_{i}"))
            .collect::<Vec<_>>()
            .join(" and ")
    } else {
        format!("{left}.dbt_unique_key = {right}.dbt_unique_key")
    }
}

fn key_is_null(strategy: &Strategy, side: &str, null: bool) -> String {
    let column = if strategy.key_is_list {
        "dbt_unique_key_1"
    } else {
        "dbt_unique_key"
    };
    format!("{side}.{column} is {}null", if null { "" } else { "not " })
}

fn valid_to_current(node: &Node, updated_at: &str) -> String {
    let current = node
        .config
        .str("dbt_valid_to_current")
        .unwrap_or_else(|| "null".into());
    format!("coalesce(nullif({updated_at}, {updated_at}), {current})\n  as dbt_valid_to")
}

fn staging_sql(
    node: &Node,
    strategy: &Strategy,
    source_sql: &str,
    target: &str,
    source_columns: &[String],
    snapshotted: &[String],
) -> String {
    let keys = unique_key_fields(strategy);
    let current_filter = match node.config.str("dbt_valid_to_current") {
        Some(expr) => format!("( dbt_valid_to = {expr} or dbt_valid_to is null )"),
        None => "dbt_valid_to is null".into(),
    };
    let hard = strategy.hard_deletes.as_str();
    let with_deletes = hard == "invalidate" || hard == "new_record";
    let new_record = hard == "new_record";
    let u = &strategy.updated_at;
    let mut sql = format!(
        "with snapshot_query as (\n{source_sql}\n),\nsnapshotted_data as (\n    select *, {keys}\n    from {target}\n    where {current_filter}\n),\n\
         insertions_source_data as (\n    select *, {keys},\n        {u} as dbt_updated_at,\n        {u} as dbt_valid_from,\n        {vtc},\n        {scd} as dbt_scd_id\n    from snapshot_query\n),\n\
         updates_source_data as (\n    select *, {keys},\n        {u} as dbt_updated_at,\n        {u} as dbt_valid_from,\n        {u} as dbt_valid_to\n    from snapshot_query\n),\n",
        vtc = valid_to_current(node, u),
        scd = strategy.scd_id,
    );
    if with_deletes {
        sql.push_str(&format!(
            "deletes_source_data as (\n    select *, {keys}\n    from snapshot_query\n),\n"
        ));
    }
    let deleted_flag = if new_record {
        " or snapshotted_data.dbt_is_deleted = 'True'"
    } else {
        ""
    };
    sql.push_str(&format!(
        "insertions as (\n    select 'insert' as dbt_change_type, source_data.*{is_deleted}\n    from insertions_source_data as source_data\n    left outer join snapshotted_data\n        on {join}\n        where {target_null}\n        or ({target_not_null} and (\n           {changed}{deleted_flag}\n        ))\n),\n\
         updates as (\n    select 'update' as dbt_change_type, source_data.*, snapshotted_data.dbt_scd_id{upd_deleted}\n    from updates_source_data as source_data\n    join snapshotted_data\n        on {join}\n    where (\n        {changed}{deleted_flag}\n    )\n)",
        is_deleted = if new_record { ",'False' as dbt_is_deleted" } else { "" },
        upd_deleted = if new_record { ", snapshotted_data.dbt_is_deleted" } else { "" },
        join = key_join(strategy, "snapshotted_data", "source_data"),
        target_null = key_is_null(strategy, "snapshotted_data", true),
        target_not_null = key_is_null(strategy, "snapshotted_data", false),
        changed = strategy.row_changed,
    ));
    let not_already_deleted = match node.config.str("dbt_valid_to_current") {
        Some(expr) => format!("snapshotted_data.dbt_valid_to = {expr}"),
        None => "snapshotted_data.dbt_valid_to is null".into(),
    };
    if with_deletes {
        sql.push_str(&format!(
            ",\ndeletes as (\n    select 'delete' as dbt_change_type, source_data.*,\n        {t} as dbt_valid_from,\n        {t} as dbt_updated_at,\n        {t} as dbt_valid_to,\n        snapshotted_data.dbt_scd_id{del_deleted}\n    from snapshotted_data\n    left join deletes_source_data as source_data\n        on {join}\n        where {source_null}{guard}\n)",
            t = SNAPSHOT_TIME,
            del_deleted = if new_record { ", snapshotted_data.dbt_is_deleted" } else { "" },
            join = key_join(strategy, "snapshotted_data", "source_data"),
            source_null = key_is_null(strategy, "source_data", true),
            guard = if new_record {
                format!("\n        and not (snapshotted_data.dbt_is_deleted = 'True' and {not_already_deleted})")
            } else {
                String::new()
            },
        ));
    }
    if new_record {
        let mut cols = Vec::new();
        for column in source_columns {
            let side = if snapshotted.contains(column) {
                "snapshotted_data"
            } else {
                "source_data"
            };
            cols.push(format!("{side}.{}", quote(column)));
        }
        if strategy.key_is_list {
            for (i, key) in strategy.unique_key.iter().enumerate() {
                cols.push(format!(
                    "snapshotted_data.{key} as dbt_unique_key_{}",
                    i + 1
                ));
            }
        } else {
            cols.push("snapshotted_data.dbt_unique_key as dbt_unique_key".into());
        }
        sql.push_str(&format!(
            ",\ndeletion_records as (\n    select 'insert' as dbt_change_type, {cols},\n        {t} as dbt_valid_from,\n        {t} as dbt_updated_at,\n        snapshotted_data.dbt_valid_to as dbt_valid_to,\n        {new_scd} as dbt_scd_id,\n        'True' as dbt_is_deleted\n    from snapshotted_data\n    left join deletes_source_data as source_data\n        on {join}\n    where {source_null}\n    and not (snapshotted_data.dbt_is_deleted = 'True' and {not_already_deleted})\n)",
            cols = cols.join(", "),
            t = SNAPSHOT_TIME,
            new_scd = hash_arguments(&["dbt_scd_id".to_string(), SNAPSHOT_TIME.to_string()]),
            join = key_join(strategy, "snapshotted_data", "source_data"),
            source_null = key_is_null(strategy, "source_data", true),
        ));
    }
    sql.push_str("\nselect * from insertions\nunion all\nselect * from updates");
    if with_deletes {
        sql.push_str("\nunion all\nselect * from deletes");
    }
    if new_record {
        sql.push_str("\nunion all\nselect * from deletion_records");
    }
    sql
}

/// Runs the snapshot; returns rows written (first run: the table's rows).
pub fn run_snapshot(conn: &Connection, node: &Node, sql: &str) -> Result<i64, String> {
    let relation = node.relation_name();
    let exists = relation_type(conn, &node.schema, &node.alias)?.is_some();
    run(conn, "BEGIN TRANSACTION")?;
    let result = (|| {
        let strategy = strategy(conn, node, sql, exists)?;
        if !exists {
            let deleted = if strategy.hard_deletes == "new_record" {
                ", 'False' as dbt_is_deleted"
            } else {
                ""
            };
            run(
                conn,
                &format!(
                    "create table {relation} as (\n    select *,\n        {scd} as dbt_scd_id,\n        {u} as dbt_updated_at,\n        {u} as dbt_valid_from,\n        {vtc}{deleted}\n    from (\n{sql}\n    ) sbq\n)",
                    scd = strategy.scd_id,
                    u = strategy.updated_at,
                    vtc = valid_to_current(node, &strategy.updated_at),
                ),
            )?;
            return conn
                .query_row(&format!("select count(*) from {relation}"), [], |r| {
                    r.get::<_, i64>(0)
                })
                .map_err(|e| e.to_string());
        }
        let source_columns = columns_of_query(conn, sql)?;
        let snapshotted: Vec<String> = columns(conn, &node.schema, &node.alias)?
            .into_iter()
            .map(|(c, _)| c)
            .collect();
        let staging_name = format!("{}__dbt_tmp", node.alias);
        let staging = quote(&staging_name);
        run(
            conn,
            &format!(
                "create or replace temporary table {staging} as (\n{}\n)",
                staging_sql(
                    node,
                    &strategy,
                    sql,
                    &relation,
                    &source_columns,
                    &snapshotted
                )
            ),
        )?;
        // New columns of the query become columns of the snapshot.
        let staging_columns = temp_columns(conn, &staging_name)?;
        let target_columns = columns(conn, &node.schema, &node.alias)?;
        for (name, ty) in &staging_columns {
            if name == "dbt_change_type" || name.starts_with("dbt_unique_key") {
                continue;
            }
            if !target_columns.iter().any(|(t, _)| t == name) {
                run(
                    conn,
                    &format!("alter table {relation} add column {} {ty}", quote(name)),
                )?;
            }
        }
        let updated = conn
            .execute(
                &format!(
                    "update {relation} as DBT_INTERNAL_TARGET\n    set dbt_valid_to = DBT_INTERNAL_SOURCE.dbt_valid_to\n    from {staging} as DBT_INTERNAL_SOURCE\n    where DBT_INTERNAL_SOURCE.dbt_scd_id::text = DBT_INTERNAL_TARGET.dbt_scd_id::text\n      and DBT_INTERNAL_SOURCE.dbt_change_type::text in ('update'::text, 'delete'::text)\n      and {}",
                    match node.config.str("dbt_valid_to_current") {
                        Some(expr) => format!("DBT_INTERNAL_TARGET.dbt_valid_to = {expr}"),
                        None => "DBT_INTERNAL_TARGET.dbt_valid_to is null".into(),
                    }
                ),
                [],
            )
            .map_err(|e| e.to_string())?;
        let insert_columns: Vec<String> = staging_columns
            .iter()
            .map(|(c, _)| c.clone())
            .filter(|c| c != "dbt_change_type" && !c.starts_with("dbt_unique_key"))
            .collect();
        let list = insert_columns
            .iter()
            .map(|c| quote(c))
            .collect::<Vec<_>>()
            .join(", ");
        let source_list = insert_columns
            .iter()
            .map(|c| format!("DBT_INTERNAL_SOURCE.{}", quote(c)))
            .collect::<Vec<_>>()
            .join(", ");
        let inserted = conn
            .execute(
                &format!(
                    "insert into {relation} ({list})\n    select {source_list}\n    from {staging} as DBT_INTERNAL_SOURCE\n    where DBT_INTERNAL_SOURCE.dbt_change_type::text = 'insert'::text"
                ),
                [],
            )
            .map_err(|e| e.to_string())?;
        run(conn, &format!("drop table if exists {staging}"))?;
        Ok((updated + inserted) as i64)
    })();
    match result {
        Ok(n) => {
            run(conn, "COMMIT")?;
            Ok(n)
        }
        Err(err) => {
            let _ = run(conn, "ROLLBACK");
            Err(err)
        }
    }
}
