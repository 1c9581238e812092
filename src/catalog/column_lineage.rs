//! Column-level lineage: from a model's compiled SQL (sqlparser, DuckDB dialect), which
//! upstream columns each output column is derived from, through CTEs, subqueries, joins,
//! aliases, `SELECT *` (expanded with the warehouse's real column lists), set operations
//! and ephemeral models (`__dbt__cte__<name>`, attributed to the ephemeral model). What
//! cannot be traced (an unknown relation, an ambiguous column) is reported as such,
//! never guessed.

use std::collections::{BTreeSet, HashMap};
use std::ops::ControlFlow;

use sqlparser::ast::{
    ExcludeSelectItem, Expr, ObjectName, Query, Select, SelectItem,
    SelectItemQualifiedWildcardKind, SetExpr, Statement, TableAlias, TableFactor, TableWithJoins,
    Visit, Visitor, WildcardAdditionalOptions,
};
use sqlparser::dialect::DuckDbDialect;
use sqlparser::parser::Parser;

/// A column of a node (`model.shop.orders`, `source.shop.raw.orders`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ColumnRef {
    pub node: String,
    pub column: String,
}

/// Where one output column comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TracedColumn {
    pub name: String,
    pub upstream: BTreeSet<ColumnRef>,
    /// References that could not be traced, as written.
    pub unresolved: Vec<String>,
}

/// What the tracer knows of the project: relations by (schema, name), their columns,
/// and the ephemeral models by their CTE name.
#[derive(Debug, Default)]
pub struct Known {
    /// (schema, relation name), lowercase → node id.
    pub relations: HashMap<(String, String), String>,
    /// Node id → its columns in order (from the warehouse; the manifest's otherwise).
    pub columns: HashMap<String, Vec<String>>,
    /// `__dbt__cte__<name>`, lowercase → the ephemeral model's id.
    pub ephemeral: HashMap<String, String>,
}

/// Traces every output column of `sql`; `own_columns` (the model's columns in the
/// warehouse, in order) names the outputs DuckDB named from an expression.
pub fn trace(
    sql: &str,
    known: &Known,
    own_columns: Option<&[String]>,
) -> Result<Vec<TracedColumn>, String> {
    let statements = Parser::new(&DuckDbDialect {})
        .with_recursion_limit(100)
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| format!("the compiled SQL does not parse: {e}"))?;
    let query = statements
        .iter()
        .find_map(|s| match s {
            Statement::Query(q) => Some(q),
            _ => None,
        })
        .ok_or("the compiled SQL has no query")?;
    let mut tracer = Tracer {
        known,
        ctes: Vec::new(),
    };
    let mut columns = tracer.query(query);
    if let Some(own) = own_columns
        && own.len() == columns.len()
    {
        for (column, name) in columns.iter_mut().zip(own) {
            column.name = name.clone();
        }
    }
    Ok(columns)
}

/// A relation in a FROM clause, as far as it is known.
#[derive(Debug, Clone)]
enum Source {
    /// Its columns, each already traced.
    Columns(Vec<TracedColumn>),
    /// A node whose column list is unknown: any column named is taken as its.
    Open(String),
    /// Not traceable (a table function, an unknown relation).
    Opaque(String),
}

struct Tracer<'a> {
    known: &'a Known,
    /// CTEs visible here, innermost scope last.
    ctes: Vec<HashMap<String, Vec<TracedColumn>>>,
}

impl Tracer<'_> {
    fn query(&mut self, query: &Query) -> Vec<TracedColumn> {
        self.ctes.push(HashMap::new());
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                let name = cte.alias.name.value.to_lowercase();
                let mut columns = self.query(&cte.query);
                rename(&mut columns, &cte.alias);
                if let Some(id) = self.known.ephemeral.get(&name) {
                    // An ephemeral model: its columns are the model's, traced on its own.
                    columns = columns
                        .into_iter()
                        .map(|c| TracedColumn {
                            upstream: BTreeSet::from([ColumnRef {
                                node: id.clone(),
                                column: c.name.clone(),
                            }]),
                            name: c.name,
                            unresolved: Vec::new(),
                        })
                        .collect();
                }
                if let Some(current) = self.ctes.last_mut() {
                    current.insert(name, columns);
                }
            }
        }
        let columns = self.set_expr(&query.body);
        self.ctes.pop();
        columns
    }

    fn set_expr(&mut self, body: &SetExpr) -> Vec<TracedColumn> {
        match body {
            SetExpr::Select(select) => self.select(select),
            SetExpr::Query(query) => self.query(query),
            SetExpr::SetOperation { left, right, .. } => {
                let mut left = self.set_expr(left);
                let right = self.set_expr(right);
                for (l, r) in left.iter_mut().zip(right) {
                    l.upstream.extend(r.upstream);
                    l.unresolved.extend(r.unresolved);
                }
                left
            }
            SetExpr::Values(values) => (0..values.rows.first().map_or(0, |row| row.content.len()))
                .map(|i| TracedColumn {
                    name: format!("col{i}"),
                    ..TracedColumn::default()
                })
                .collect(),
            other => vec![TracedColumn {
                name: "?".into(),
                unresolved: vec![other.to_string()],
                ..TracedColumn::default()
            }],
        }
    }

    fn cte(&self, name: &str) -> Option<&Vec<TracedColumn>> {
        self.ctes.iter().rev().find_map(|scope| scope.get(name))
    }

    fn sources_of(&mut self, from: &[TableWithJoins]) -> Vec<(String, Source)> {
        let mut sources = Vec::new();
        for table in from {
            self.factor(&table.relation, &mut sources);
            for join in &table.joins {
                self.factor(&join.relation, &mut sources);
            }
        }
        sources
    }

    fn factor(&mut self, factor: &TableFactor, out: &mut Vec<(String, Source)>) {
        match factor {
            TableFactor::Table {
                name, alias, args, ..
            } => {
                let parts: Vec<String> = name
                    .0
                    .iter()
                    .filter_map(|p| p.as_ident().map(|i| i.value.to_lowercase()))
                    .collect();
                let last = parts.last().cloned().unwrap_or_default();
                let alias_name = alias
                    .as_ref()
                    .map_or(last.clone(), |a| a.name.value.to_lowercase());
                let source = if args.is_some() {
                    Source::Opaque(format!("{name}(…)"))
                } else if let Some(columns) = (parts.len() == 1).then(|| self.cte(&last)).flatten()
                {
                    Source::Columns(columns.clone())
                } else {
                    self.relation(&parts)
                };
                let source = match (source, alias) {
                    (Source::Columns(mut columns), Some(alias)) if !alias.columns.is_empty() => {
                        rename(&mut columns, alias);
                        Source::Columns(columns)
                    }
                    (source, _) => source,
                };
                out.push((alias_name, source));
            }
            TableFactor::Derived {
                subquery, alias, ..
            } => {
                let mut columns = self.query(subquery);
                let name = alias
                    .as_ref()
                    .map(|a| a.name.value.to_lowercase())
                    .unwrap_or_default();
                if let Some(alias) = alias {
                    rename(&mut columns, alias);
                }
                out.push((name, Source::Columns(columns)));
            }
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => {
                self.factor(&table_with_joins.relation, out);
                for join in &table_with_joins.joins {
                    self.factor(&join.relation, out);
                }
            }
            other => out.push((String::new(), Source::Opaque(other.to_string()))),
        }
    }

    /// A relation named `schema.name` (or `db.schema.name`, or `name`).
    fn relation(&self, parts: &[String]) -> Source {
        let name = parts.last().cloned().unwrap_or_default();
        let id = match parts.len() {
            0 | 1 => {
                let mut matches = self.known.relations.iter().filter(|((_, n), _)| *n == name);
                match (matches.next(), matches.next()) {
                    (Some((_, id)), None) => Some(id.clone()),
                    _ => None,
                }
            }
            n => self
                .known
                .relations
                .get(&(parts[n - 2].clone(), name.clone()))
                .cloned(),
        };
        match id {
            Some(id) => match self.known.columns.get(&id) {
                Some(columns) => Source::Columns(
                    columns
                        .iter()
                        .map(|c| TracedColumn {
                            name: c.clone(),
                            upstream: BTreeSet::from([ColumnRef {
                                node: id.clone(),
                                column: c.clone(),
                            }]),
                            unresolved: Vec::new(),
                        })
                        .collect(),
                ),
                None => Source::Open(id),
            },
            None => Source::Opaque(parts.join(".")),
        }
    }

    fn select(&mut self, select: &Select) -> Vec<TracedColumn> {
        let sources = self.sources_of(&select.from);
        let mut out = Vec::new();
        for item in &select.projection {
            match item {
                SelectItem::UnnamedExpr(expr) => {
                    let name = match expr {
                        Expr::Identifier(ident) => ident.value.clone(),
                        Expr::CompoundIdentifier(parts) => {
                            parts.last().map(|p| p.value.clone()).unwrap_or_default()
                        }
                        other => other.to_string(),
                    };
                    out.push(self.expression(expr, name, &sources));
                }
                SelectItem::ExprWithAlias { expr, alias } => {
                    out.push(self.expression(expr, alias.value.clone(), &sources));
                }
                SelectItem::ExprWithAliases { expr, aliases } => {
                    for alias in aliases {
                        out.push(self.expression(expr, alias.value.clone(), &sources));
                    }
                }
                SelectItem::Wildcard(options) => {
                    for (_, source) in &sources {
                        out.extend(self.expand(source, options, &sources));
                    }
                }
                SelectItem::QualifiedWildcard(kind, options) => {
                    let qualifier = match kind {
                        SelectItemQualifiedWildcardKind::ObjectName(name) => name
                            .0
                            .last()
                            .and_then(|p| p.as_ident())
                            .map(|i| i.value.to_lowercase())
                            .unwrap_or_default(),
                        SelectItemQualifiedWildcardKind::Expr(expr) => expr.to_string(),
                    };
                    match sources.iter().find(|(alias, _)| *alias == qualifier) {
                        Some((_, source)) => out.extend(self.expand(source, options, &sources)),
                        None => out.push(TracedColumn {
                            name: format!("{qualifier}.*"),
                            unresolved: vec![format!("{qualifier}.*")],
                            ..TracedColumn::default()
                        }),
                    }
                }
            }
        }
        out
    }

    /// The columns `*` brings from `source`, less EXCLUDE/EXCEPT, with REPLACE applied.
    fn expand(
        &mut self,
        source: &Source,
        options: &WildcardAdditionalOptions,
        sources: &[(String, Source)],
    ) -> Vec<TracedColumn> {
        let columns = match source {
            Source::Columns(columns) => columns.clone(),
            Source::Open(id) => {
                return vec![TracedColumn {
                    name: "*".into(),
                    unresolved: vec![format!("* of {id} (its columns are not known)")],
                    ..TracedColumn::default()
                }];
            }
            Source::Opaque(what) => {
                return vec![TracedColumn {
                    name: "*".into(),
                    unresolved: vec![format!("* of {what}")],
                    ..TracedColumn::default()
                }];
            }
        };
        let mut excluded: Vec<String> = Vec::new();
        let last_part = |name: &ObjectName| {
            name.0
                .last()
                .and_then(|p| p.as_ident())
                .map(|i| i.value.to_lowercase())
                .unwrap_or_default()
        };
        match &options.opt_exclude {
            Some(ExcludeSelectItem::Single(name)) => excluded.push(last_part(name)),
            Some(ExcludeSelectItem::Multiple(names)) => {
                excluded.extend(names.iter().map(last_part))
            }
            None => {}
        }
        if let Some(except) = &options.opt_except {
            excluded.push(except.first_element.value.to_lowercase());
            excluded.extend(
                except
                    .additional_elements
                    .iter()
                    .map(|i| i.value.to_lowercase()),
            );
        }
        let replaced: Vec<(String, &Expr)> = options
            .opt_replace
            .iter()
            .flat_map(|r| &r.items)
            .map(|item| (item.column_name.value.to_lowercase(), &item.expr))
            .collect();
        columns
            .into_iter()
            .filter(|c| !excluded.contains(&c.name.to_lowercase()))
            .map(|c| {
                match replaced
                    .iter()
                    .find(|(name, _)| *name == c.name.to_lowercase())
                {
                    Some((_, expr)) => self.expression(expr, c.name.clone(), sources),
                    None => c,
                }
            })
            .collect()
    }

    /// An output column computed by `expr`: the union of what its columns come from.
    fn expression(
        &mut self,
        expr: &Expr,
        name: String,
        sources: &[(String, Source)],
    ) -> TracedColumn {
        let mut references = References::default();
        let _ = expr.visit(&mut references);
        let mut traced = TracedColumn {
            name,
            ..TracedColumn::default()
        };
        for parts in references.columns {
            if references.lambda_params.contains(&parts[0].to_lowercase()) {
                continue;
            }
            match resolve(&parts, sources) {
                Ok(upstream) => traced.upstream.extend(upstream),
                Err(reference) => traced.unresolved.push(reference),
            }
        }
        for subquery in references.subqueries {
            for column in self.query(&subquery) {
                traced.upstream.extend(column.upstream);
                traced.unresolved.extend(column.unresolved);
            }
        }
        traced
    }
}

/// Renames columns positionally, as `AS t(a, b)` does.
fn rename(columns: &mut [TracedColumn], alias: &TableAlias) {
    for (column, name) in columns.iter_mut().zip(&alias.columns) {
        column.name = name.name.value.clone();
    }
}

/// What a column reference (`col`, `t.col`, `schema.t.col`) comes from.
fn resolve(parts: &[String], sources: &[(String, Source)]) -> Result<BTreeSet<ColumnRef>, String> {
    let written = parts.join(".");
    let lower: Vec<String> = parts.iter().map(|p| p.to_lowercase()).collect();
    let from_source = |source: &Source, column: &str| -> Option<BTreeSet<ColumnRef>> {
        match source {
            Source::Columns(columns) => columns
                .iter()
                .find(|c| c.name.to_lowercase() == column)
                .map(|c| c.upstream.clone()),
            Source::Open(id) => Some(BTreeSet::from([ColumnRef {
                node: id.clone(),
                column: column.to_string(),
            }])),
            Source::Opaque(_) => None,
        }
    };
    if lower.len() >= 2 {
        let (table, column) = (&lower[lower.len() - 2], &lower[lower.len() - 1]);
        if let Some((_, source)) = sources.iter().find(|(alias, _)| alias == table) {
            return from_source(source, column).ok_or(written);
        }
        // `col.field`: a struct field of an unqualified column.
        return resolve(&parts[..1], sources).map_err(|_| written);
    }
    let column = &lower[0];
    let known: Vec<_> = sources
        .iter()
        .filter_map(|(_, source)| match source {
            Source::Columns(_) => from_source(source, column),
            _ => None,
        })
        .collect();
    match known.as_slice() {
        [one] => return Ok(one.clone()),
        [_, _, ..] => return Err(format!("{written} (ambiguous)")),
        [] => {}
    }
    let open: Vec<_> = sources
        .iter()
        .filter(|(_, s)| matches!(s, Source::Open(_)))
        .collect();
    match open.as_slice() {
        [(_, source)] => from_source(source, column).ok_or(written),
        _ => Err(written),
    }
}

/// The column references of one expression, leaving its subqueries to be traced whole.
#[derive(Default)]
struct References {
    columns: Vec<Vec<String>>,
    subqueries: Vec<Query>,
    lambda_params: BTreeSet<String>,
    /// Inside a subquery: its references are its own.
    depth: usize,
}

impl Visitor for References {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if self.depth == 0 {
            self.subqueries.push(query.clone());
        }
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if self.depth > 0 {
            return ControlFlow::Continue(());
        }
        match expr {
            Expr::Identifier(ident) => self.columns.push(vec![ident.value.clone()]),
            Expr::CompoundIdentifier(parts) => self
                .columns
                .push(parts.iter().map(|p| p.value.clone()).collect()),
            Expr::Lambda(lambda) => {
                self.lambda_params
                    .extend(lambda.params.iter().map(|p| p.name.value.to_lowercase()));
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
#[path = "column_lineage_tests.rs"]
mod tests;
