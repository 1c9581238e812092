//! The second look at a query, through DuckDB's own parser (`json_serialize_sql`): what
//! DuckDB will execute is what is checked, whatever sqlparser made of the text. Every table
//! function must be on the allow-list, no denied function may appear, and every table
//! reference must name a CTE in scope or a table or view that exists — a name that is
//! neither would make DuckDB try it as a file (a replacement scan).

use std::collections::HashSet;
use std::sync::Mutex;

use duckdb::Connection;
use serde_json::Value;

use super::guard;

/// Why DuckDB's view of the query refuses it.
#[derive(Debug, PartialEq, Eq)]
pub enum Finding {
    /// DuckDB cannot parse it, or it is not a single SELECT.
    NotASelect(String),
    Forbidden(String),
    /// A relation that is not a table, view or CTE (DuckDB would try it as a file).
    UnknownRelation(String),
}

/// Statements that passed, by the warehouse generation they passed at and their SHA-256:
/// a dashboard asking the same question again skips DuckDB's parse (any write, which
/// could drop a relation, starts a new generation).
#[derive(Default)]
pub struct Passed {
    seen: Mutex<HashSet<(u64, String)>>,
}

/// Statements remembered at most; the set is emptied when full.
const PASSED_MAX: usize = 4096;

impl Passed {
    /// [`check`], unless `sql` already passed at `generation`.
    pub fn check(&self, conn: &Connection, sql: &str, generation: u64) -> Result<(), Finding> {
        let key = (generation, crate::util::sha256_hex(sql));
        if self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&key)
        {
            return Ok(());
        }
        check(conn, sql)?;
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= PASSED_MAX {
            seen.clear();
        }
        seen.insert(key);
        Ok(())
    }
}

/// Checks `sql` (one statement, already through [`guard::check`]) on `conn`.
pub fn check(conn: &Connection, sql: &str) -> Result<(), Finding> {
    let serialized: String = conn
        .query_row("SELECT json_serialize_sql(?)", [sql], |row| row.get(0))
        .map_err(|e| Finding::NotASelect(e.to_string()))?;
    let tree: Value = serde_json::from_str(&serialized)
        .map_err(|e| Finding::NotASelect(format!("unreadable parse tree: {e}")))?;
    if tree.get("error").and_then(Value::as_bool) != Some(false) {
        let message = tree
            .get("error_message")
            .and_then(Value::as_str)
            .unwrap_or("not a query");
        return Err(Finding::NotASelect(message.to_string()));
    }
    let statements = tree
        .get("statements")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if statements.len() != 1 {
        return Err(Finding::NotASelect(format!(
            "{} statements where one query was expected",
            statements.len()
        )));
    }
    let mut walk = Walk {
        conn,
        scopes: Vec::new(),
    };
    walk.visit(&statements[0])
}

struct Walk<'a> {
    conn: &'a Connection,
    /// CTE names visible at this point of the tree, innermost last.
    scopes: Vec<Vec<String>>,
}

impl Walk<'_> {
    fn visit(&mut self, node: &Value) -> Result<(), Finding> {
        match node {
            Value::Array(items) => items.iter().try_for_each(|item| self.visit(item)),
            Value::Object(object) => {
                let ctes = object
                    .get("cte_map")
                    .and_then(|m| m.get("map"))
                    .and_then(Value::as_array)
                    .map(|entries| {
                        entries
                            .iter()
                            .filter_map(|e| e.get("key").and_then(Value::as_str))
                            .map(str::to_lowercase)
                            .collect::<Vec<_>>()
                    });
                let scoped = ctes.is_some();
                if let Some(ctes) = ctes {
                    self.scopes.push(ctes);
                }
                let result = self.check_node(object).and_then(|()| {
                    object
                        .values()
                        .filter(|v| v.is_object() || v.is_array())
                        .try_for_each(|v| self.visit(v))
                });
                if scoped {
                    self.scopes.pop();
                }
                result
            }
            _ => Ok(()),
        }
    }

    fn check_node(&self, node: &serde_json::Map<String, Value>) -> Result<(), Finding> {
        let text = |key: &str| node.get(key).and_then(Value::as_str).unwrap_or_default();
        match (text("class"), text("type")) {
            ("FUNCTION", _) => {
                let name = text("function_name").to_lowercase();
                if let Some(reason) = guard::denied_function(&name) {
                    return Err(Finding::Forbidden(format!("function {name}: {reason}")));
                }
                if !text("schema").is_empty() || !text("catalog").is_empty() {
                    let schema = text("schema").to_lowercase();
                    if !matches!(schema.as_str(), "" | "main") {
                        return Err(Finding::Forbidden(format!(
                            "function {schema}.{name}: only built-in functions may be called"
                        )));
                    }
                }
                Ok(())
            }
            (_, "TABLE_FUNCTION") => {
                let function = node.get("function");
                let name = function
                    .and_then(|f| f.get("function_name"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_lowercase();
                if guard::is_allowed_table_function(&name) {
                    Ok(())
                } else {
                    Err(Finding::Forbidden(format!(
                        "table function {name}: only range, generate_series and unnest may be used in FROM"
                    )))
                }
            }
            (_, "BASE_TABLE") => self.check_relation(
                text("catalog_name"),
                text("schema_name"),
                text("table_name"),
            ),
            _ => Ok(()),
        }
    }

    fn check_relation(&self, catalog: &str, schema: &str, table: &str) -> Result<(), Finding> {
        let (catalog, schema, table) = (
            catalog.to_lowercase(),
            schema.to_lowercase(),
            table.to_lowercase(),
        );
        let display = [catalog.as_str(), schema.as_str(), table.as_str()]
            .iter()
            .filter(|p| !p.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(".");
        if catalog.is_empty() && schema.is_empty() && self.scopes.iter().any(|s| s.contains(&table))
        {
            return Ok(());
        }
        if table.starts_with("duckdb_")
            || table.starts_with("pragma_")
            || schema == "pg_catalog"
            || catalog == "system"
            || catalog == "temp"
        {
            return Err(Finding::Forbidden(format!(
                "relation {display}: DuckDB's internal catalog is not queryable"
            )));
        }
        if !catalog.is_empty() && !self.is_current_database(&catalog) {
            return Err(Finding::Forbidden(format!(
                "relation {display}: only the warehouse can be queried"
            )));
        }
        if self.exists(&schema, &table) {
            Ok(())
        } else {
            Err(Finding::UnknownRelation(display))
        }
    }

    fn is_current_database(&self, catalog: &str) -> bool {
        self.conn
            .query_row("SELECT lower(current_database()) = ?", [catalog], |row| {
                row.get::<_, bool>(0)
            })
            .unwrap_or(false)
    }

    /// A table or view of the warehouse, or a view of its `information_schema`.
    fn exists(&self, schema: &str, table: &str) -> bool {
        let schema = if schema.is_empty() { "main" } else { schema };
        self.conn
            .query_row(
                "SELECT count(*) > 0 FROM ( \
                   SELECT schema_name, table_name FROM duckdb_tables() \
                     WHERE database_name = current_database() \
                   UNION ALL SELECT schema_name, view_name FROM duckdb_views() \
                     WHERE database_name = current_database() OR schema_name = 'information_schema' \
                 ) WHERE lower(schema_name) = ? AND lower(table_name) = ?",
                [schema, table],
                |row| row.get::<_, bool>(0),
            )
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE SCHEMA raw_sales; CREATE TABLE raw_sales.orders AS SELECT 1 AS id; \
             CREATE VIEW v AS SELECT 1 AS x",
        )
        .unwrap();
        conn
    }

    #[test]
    fn a_passed_statement_is_checked_again_after_a_write() {
        let conn = conn();
        let passed = Passed::default();
        let sql = "SELECT * FROM raw_sales.orders";
        assert_eq!(passed.check(&conn, sql, 1), Ok(()));
        conn.execute_batch("DROP TABLE raw_sales.orders").unwrap();
        assert_eq!(
            passed.check(&conn, sql, 1),
            Ok(()),
            "same generation: remembered"
        );
        assert!(matches!(
            passed.check(&conn, sql, 2),
            Err(Finding::UnknownRelation(_))
        ));
        assert!(
            passed
                .check(&conn, "SELECT * FROM read_csv('x')", 2)
                .is_err()
        );
    }

    #[test]
    fn tables_views_ctes_and_safe_functions_pass() {
        let conn = conn();
        for sql in [
            "SELECT * FROM raw_sales.orders",
            "SELECT * FROM RAW_SALES.Orders o JOIN v ON true",
            "WITH a AS (SELECT 1) SELECT * FROM a",
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r",
            "SELECT * FROM range(3), unnest([1, 2])",
            "SELECT table_name FROM information_schema.tables",
            "SELECT upper('a'), list_transform([1], x -> x + 1)",
        ] {
            assert_eq!(check(&conn, sql), Ok(()), "{sql}");
        }
    }

    #[test]
    fn readers_files_and_internals_are_refused() {
        let conn = conn();
        for sql in [
            "SELECT * FROM read_csv('x.csv')",
            "SELECT * FROM (SELECT * FROM read_text('/etc/passwd'))",
            "SELECT * FROM 'x.csv'",
            "SELECT * FROM \"data.parquet\"",
            "SELECT getenv('HOME')",
            "SELECT current_setting('threads')",
            "SELECT * FROM duckdb_databases",
            "SELECT * FROM pg_catalog.pg_class",
            "SELECT * FROM missing_table",
            "SELECT * FROM (WITH a AS (SELECT 1) SELECT 1), a",
            "INSERT INTO v VALUES (1)",
            "SELECT 1; SELECT 2",
        ] {
            assert!(check(&conn, sql).is_err(), "{sql}");
        }
    }
}
