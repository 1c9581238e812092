//! What a query can read: every table and view of the warehouse with its columns (but
//! Dango's own bookkeeping tables), for
//! the query page's table browser and for editors' completion.

use std::collections::HashMap;
use std::sync::Arc;

use crate::warehouse::Warehouse;
use crate::{Error, Result};

/// A relation a query may name as `schema.name`.
#[derive(Clone, Debug, serde::Serialize, poem_openapi::Object)]
pub struct QueryableTable {
    pub schema: String,
    pub name: String,
    /// `TABLE` or `VIEW`.
    pub kind: String,
    pub columns: Vec<QueryableColumn>,
}

#[derive(Clone, Debug, serde::Serialize, poem_openapi::Object)]
pub struct QueryableColumn {
    pub name: String,
    /// DuckDB's type name.
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub data_type: String,
    pub nullable: bool,
}

#[derive(Clone, Debug, serde::Serialize, poem_openapi::Object)]
pub struct QueryableTables {
    pub tables: Vec<QueryableTable>,
}

/// Every table and view, by schema and name.
pub async fn tables(warehouse: &Arc<Warehouse>) -> Result<QueryableTables> {
    warehouse
        .read(|conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT table_schema, table_name, table_type FROM information_schema.tables",
                )
                .map_err(Error::internal)?;
            let kinds: HashMap<(String, String), String> = stmt
                .query_map([], |row| Ok(((row.get(0)?, row.get(1)?), row.get(2)?)))
                .map_err(Error::internal)?
                .collect::<std::result::Result<_, _>>()
                .map_err(Error::internal)?;
            let tables = crate::profiling::all_columns(conn)?
                .into_iter()
                // Dango's own bookkeeping (`_dango_file_metadata`) is not data to query.
                .filter(|((_, name), _)| !name.starts_with("_dango"))
                .map(|((schema, name), columns)| {
                    let kind = match kinds
                        .get(&(schema.clone(), name.clone()))
                        .map(String::as_str)
                    {
                        Some("VIEW") => "VIEW",
                        _ => "TABLE",
                    };
                    QueryableTable {
                        schema,
                        name,
                        kind: kind.to_string(),
                        columns: columns
                            .into_iter()
                            .map(|c| QueryableColumn {
                                name: c.name,
                                data_type: c.data_type,
                                nullable: c.nullable,
                            })
                            .collect(),
                    }
                })
                .collect();
            Ok(QueryableTables { tables })
        })
        .await
}
