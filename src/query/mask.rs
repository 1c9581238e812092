//! Masking of PII columns in query results (`api.mask_pii`). Governance flags columns of
//! warehouse tables; for a caller without `governance.manage`, every reference to a
//! flagged table in the query is replaced by a derived table that masks those columns, so
//! whatever the query computes from them (a join key, `upper(email)`, a CTE) sees only
//! the mask. A reference that cannot be rewritten refuses the query: it never leaks.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::sync::{Arc, RwLock};

use sqlparser::ast::{
    Ident, ObjectNamePart, Statement, TableAlias, TableFactor, VisitMut, VisitorMut,
};
use sqlparser::dialect::DuckDbDialect;
use sqlparser::parser::Parser;

use crate::error::code;
use crate::{Error, Result};

/// What replaces a masked value (NULL stays NULL).
pub const MASK: &str = "***";

/// Flagged columns by `(schema, table)`, all lower-case.
pub type Flags = BTreeMap<(String, String), BTreeSet<String>>;

/// The PII flags governance maintains, shared by every query.
#[derive(Default)]
pub struct PiiColumns {
    current: RwLock<Arc<Flags>>,
}

impl PiiColumns {
    pub fn snapshot(&self) -> Arc<Flags> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the flags (governance, or a test).
    pub fn set(&self, flags: Flags) {
        let lowered = flags
            .into_iter()
            .map(|((schema, table), columns)| {
                (
                    (schema.to_lowercase(), table.to_lowercase()),
                    columns.into_iter().map(|c| c.to_lowercase()).collect(),
                )
            })
            .collect();
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(lowered);
    }
}

/// `statement` with every flagged table read through a masking subquery; unchanged when
/// it reads none.
/// Every reference is found by walking the query's syntax tree (not from a list of names),
/// so none slips past.
pub fn rewrite(statement: &str, flags: &Flags) -> Result<String> {
    let refuse = |why: String| {
        Error::bad_request(format!(
            "This query reads masked columns in a way that cannot be masked: {why}"
        ))
        .with_code(code::QUERY_FORBIDDEN)
    };
    let mut statements =
        Parser::parse_sql(&DuckDbDialect {}, statement).map_err(|e| refuse(e.to_string()))?;
    let [Statement::Query(_)] = statements.as_slice() else {
        return Err(refuse("not a single query".into()));
    };
    let mut masker = Masker {
        flags,
        replaced: false,
    };
    if let ControlFlow::Break(why) = statements.visit(&mut masker) {
        return Err(refuse(why));
    }
    if !masker.replaced {
        return Ok(statement.to_string());
    }
    Ok(statements
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(";"))
}

/// `(schema, table)` of a dotted name; unqualified names are in `main`.
fn key_of(parts: &[String]) -> (String, String) {
    match parts {
        [table] => ("main".into(), table.clone()),
        [.., schema, table] => (schema.clone(), table.clone()),
        [] => (String::new(), String::new()),
    }
}

struct Masker<'a> {
    flags: &'a Flags,
    replaced: bool,
}

impl VisitorMut for Masker<'_> {
    type Break = String;

    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<String> {
        let TableFactor::Table {
            name, alias, args, ..
        } = factor
        else {
            return ControlFlow::Continue(());
        };
        let mut parts = Vec::new();
        for part in &name.0 {
            match part {
                ObjectNamePart::Identifier(ident) => parts.push(ident.value.to_lowercase()),
                ObjectNamePart::Function(_) => {
                    return ControlFlow::Break(format!("the table name {name}"));
                }
            }
        }
        let key = key_of(&parts);
        let Some(columns) = self.flags.get(&key) else {
            return ControlFlow::Continue(());
        };
        if args.is_some() {
            return ControlFlow::Break(format!("{name} called like a function"));
        }
        let replaced = columns
            .iter()
            .map(|c| {
                let column = Ident::with_quote('"', c.clone());
                format!("CASE WHEN {column} IS NULL THEN NULL ELSE '{MASK}' END AS {column}")
            })
            .collect::<Vec<_>>()
            .join(", ");
        let inner = format!(
            "SELECT * REPLACE ({replaced}) FROM {}.{}",
            Ident::with_quote('"', key.0.clone()),
            Ident::with_quote('"', key.1.clone())
        );
        let subquery = match Parser::new(&DuckDbDialect {})
            .try_with_sql(&inner)
            .and_then(|mut p| p.parse_query())
        {
            Ok(query) => query,
            Err(err) => return ControlFlow::Break(err.to_string()),
        };
        let alias = alias.clone().or_else(|| {
            Some(TableAlias {
                explicit: true,
                name: Ident::with_quote('"', key.1.clone()),
                columns: Vec::new(),
                at: None,
            })
        });
        *factor = TableFactor::Derived {
            lateral: false,
            subquery,
            alias,
            sample: None,
        };
        self.replaced = true;
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> Flags {
        let mut flags = Flags::new();
        flags.insert(
            ("raw_crm".into(), "people".into()),
            ["email".to_string()].into_iter().collect(),
        );
        flags
    }

    #[test]
    fn flagged_tables_are_read_through_the_mask() {
        let sql = "SELECT p.email, upper(email) FROM raw_crm.people p";
        let out = rewrite(sql, &flags()).unwrap();
        assert!(out.contains("REPLACE"), "{out}");
        assert!(out.contains("'***'"), "{out}");
        assert!(out.contains(") AS p") || out.contains(") p"), "{out}");
    }

    #[test]
    fn other_queries_are_untouched() {
        let sql = "SELECT 1 FROM raw_crm.orders";
        assert_eq!(rewrite(sql, &flags()).unwrap(), sql);
    }
}
