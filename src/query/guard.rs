//! The first look at a query, before anything reaches DuckDB: the text must be one
//! read-only query, and nothing inside it may touch files, the network, settings or the
//! catalog. Parsing is sqlparser's (DuckDB dialect); [`super::catalog_check`] then looks
//! again through DuckDB's own parser, so a trick that fools one parser still meets the
//! other. Where the two parsers could read the same text differently (nested comments,
//! dollar quotes, backslash escapes, look-alike characters) the text is refused before
//! either parses it: an allow-list of what is plainly SQL, not a list of known tricks.

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, Function, ObjectName, Query, Select, SetExpr, Statement, TableFactor, Visit, Visitor,
};
use sqlparser::dialect::DuckDbDialect;
use sqlparser::parser::{Parser, ParserError};

/// Queries longer than this are refused without being read.
pub const MAX_SQL_BYTES: usize = 100 * 1024;

/// How deeply expressions and subqueries may nest (sqlparser's own default).
const MAX_NESTING: usize = 50;

/// Longer texts are checked on a thread with a large stack: a 100 KB chain of `a + a + …`
/// is a tree tens of thousands of nodes deep, and walking or dropping it recurses.
const INLINE_CHECK_BYTES: usize = 4 * 1024;
const CHECK_STACK_BYTES: usize = 256 * 1024 * 1024;

/// Table functions a query may call: they compute rows and read nothing.
const ALLOWED_TABLE_FUNCTIONS: &[&str] = &["range", "generate_series", "unnest"];

/// Why a query is refused. The message never repeats the SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Empty,
    TooLarge {
        bytes: usize,
    },
    Syntax {
        message: String,
        line: u64,
        column: u64,
    },
    MultipleStatements,
    NotAQuery {
        kind: String,
    },
    Forbidden {
        what: String,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Empty => write!(f, "The query is empty"),
            Self::TooLarge { bytes } => write!(
                f,
                "The query is {bytes} bytes; at most {MAX_SQL_BYTES} bytes of SQL are accepted"
            ),
            Self::Syntax { message, .. } => write!(f, "The query does not parse: {message}"),
            Self::MultipleStatements => {
                write!(
                    f,
                    "Only one statement can run at a time; remove the extra statements"
                )
            }
            Self::NotAQuery { kind } => write!(
                f,
                "Only read-only queries (SELECT, WITH, FROM, VALUES) can run here, not {kind}"
            ),
            Self::Forbidden { what } => write!(f, "Not allowed in a query: {what}"),
        }
    }
}

/// What a query that passed reads.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Checked {
    /// Tables and views named in the query (lowercase, dotted), CTEs excluded.
    pub relations: Vec<String>,
    pub ctes: Vec<String>,
}

/// Checks that `sql` is exactly one read-only query that reads only tables, views and
/// the allow-listed table functions.
pub fn check(sql: &str) -> Result<Checked, Refusal> {
    if sql.len() > MAX_SQL_BYTES {
        return Err(Refusal::TooLarge { bytes: sql.len() });
    }
    scan_text(sql)?;
    if sql.len() <= INLINE_CHECK_BYTES {
        return parse_and_walk(sql);
    }
    let owned = sql.to_string();
    std::thread::Builder::new()
        .name("dango-query-check".into())
        .stack_size(CHECK_STACK_BYTES)
        .spawn(move || parse_and_walk(&owned))
        .ok()
        .and_then(|handle| handle.join().ok())
        .unwrap_or_else(|| {
            Err(Refusal::Forbidden {
                what: "a query too complex to check".into(),
            })
        })
}

fn parse_and_walk(sql: &str) -> Result<Checked, Refusal> {
    let statements = Parser::new(&DuckDbDialect {})
        .with_recursion_limit(MAX_NESTING)
        .try_with_sql(sql)
        .and_then(|mut parser| parser.parse_statements())
        .map_err(parse_refusal)?;
    let statement = match statements.as_slice() {
        [] => return Err(Refusal::Empty),
        [one] => one,
        _ => return Err(Refusal::MultipleStatements),
    };
    if !matches!(statement, Statement::Query(_)) {
        return Err(Refusal::NotAQuery {
            kind: statement_kind(statement),
        });
    }
    let mut walk = Walk::default();
    if let ControlFlow::Break(refusal) = statement.visit(&mut walk) {
        return Err(refusal);
    }
    walk.checked.relations.sort();
    walk.checked.relations.dedup();
    Ok(walk.checked)
}

fn parse_refusal(err: ParserError) -> Refusal {
    let text = match err {
        ParserError::RecursionLimitExceeded => {
            return Refusal::Forbidden {
                what: format!("nesting deeper than {MAX_NESTING} levels"),
            };
        }
        ParserError::TokenizerError(text) | ParserError::ParserError(text) => text,
    };
    // sqlparser ends its messages with " at Line: L, Column: C".
    let (message, line, column) = match text.rfind(" at Line: ") {
        Some(at) => {
            let (line, column) = parse_position(&text[at + " at Line: ".len()..]);
            (text[..at].to_string(), line, column)
        }
        None => (text, 0, 0),
    };
    Refusal::Syntax {
        message,
        line,
        column,
    }
}

fn parse_position(tail: &str) -> (u64, u64) {
    let mut parts = tail.split(", Column: ");
    let line = parts
        .next()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    let column = parts
        .next()
        .and_then(|c| {
            c.trim()
                .trim_end_matches(|ch: char| !ch.is_ascii_digit())
                .parse()
                .ok()
        })
        .unwrap_or(0);
    (line, column)
}

/// The statement's leading keywords, for the message (never its arguments).
fn statement_kind(statement: &Statement) -> String {
    let text = statement.to_string();
    let words: Vec<&str> = text
        .split_whitespace()
        .take_while(|w| w.chars().all(|c| c.is_ascii_alphabetic()))
        .take(2)
        .collect();
    match words.as_slice() {
        [] => "this statement".to_string(),
        [first, second]
            if ["CREATE", "DROP", "ALTER"].contains(&first.to_ascii_uppercase().as_str()) =>
        {
            format!(
                "{} {}",
                first.to_ascii_uppercase(),
                second.to_ascii_uppercase()
            )
        }
        [first, ..] => first.to_ascii_uppercase(),
    }
}

/// Refuses characters and constructs the two parsers could read differently.
fn scan_text(sql: &str) -> Result<(), Refusal> {
    #[derive(PartialEq)]
    enum In {
        Code,
        String,
        Identifier,
        LineComment,
        BlockComment,
    }
    let refuse = |what: &str| {
        Err(Refusal::Forbidden {
            what: what.to_string(),
        })
    };
    let mut state = In::Code;
    let mut chars = sql.chars().peekable();
    let (mut previous, mut before_previous) = (' ', ' ');
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        if c == '\0' {
            return refuse("a NUL character");
        }
        if c == '\r' && next != Some('\n') {
            return refuse("a carriage return that does not end a line");
        }
        match state {
            In::Code => match c {
                '\'' => {
                    if previous == '&' {
                        return refuse("a Unicode-escaped string (U&'…')");
                    }
                    if matches!(previous, 'e' | 'E') && !is_word_char(before_previous) {
                        return refuse("an escape string (E'…'); write the character itself");
                    }
                    state = In::String;
                }
                '"' => {
                    if previous == '&' {
                        return refuse("a Unicode-escaped identifier (U&\"…\")");
                    }
                    state = In::Identifier;
                }
                '-' if next == Some('-') => state = In::LineComment,
                '/' if next == Some('*') => {
                    chars.next();
                    state = In::BlockComment;
                }
                '`' => return refuse("a backtick; quote identifiers with double quotes"),
                '$' => {
                    return refuse(
                        "a dollar sign (dollar quotes and parameters are not supported)",
                    );
                }
                '\\' => return refuse("a backslash outside a string"),
                c if c.is_ascii() => {}
                c if c.is_alphanumeric() => {}
                _ => {
                    return refuse(
                        "a non-ASCII character that is not a letter outside strings and quoted names",
                    );
                }
            },
            In::String => match c {
                '\'' if next == Some('\'') => {
                    chars.next();
                }
                '\'' => state = In::Code,
                '\\' if next == Some('\'') => {
                    return refuse("a backslash before a quote inside a string");
                }
                _ => {}
            },
            In::Identifier => match c {
                '"' if next == Some('"') => {
                    chars.next();
                }
                '"' => state = In::Code,
                _ => {}
            },
            In::LineComment => {
                if c == '\n' || c == '\r' {
                    state = In::Code;
                }
            }
            In::BlockComment => match c {
                '*' if next == Some('/') => {
                    chars.next();
                    state = In::Code;
                }
                '/' if next == Some('*') => return refuse("a nested block comment"),
                _ => {}
            },
        }
        before_previous = previous;
        previous = c;
    }
    match state {
        In::BlockComment => refuse("an unterminated block comment"),
        _ => Ok(()),
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

#[derive(Default)]
struct Walk {
    checked: Checked,
}

impl Walk {
    fn forbid(what: impl Into<String>) -> ControlFlow<Refusal> {
        ControlFlow::Break(Refusal::Forbidden { what: what.into() })
    }

    fn table(&mut self, name: &ObjectName, is_function: bool) -> ControlFlow<Refusal> {
        let mut parts = Vec::with_capacity(name.0.len());
        for part in &name.0 {
            let Some(ident) = part.as_ident() else {
                return Self::forbid("a computed table name");
            };
            if ident.quote_style.is_some_and(|q| q != '"') {
                return Self::forbid("a quoted string used as a table (files cannot be read)");
            }
            if ident
                .value
                .contains(['/', '\\', '.', ':', '*', '?', '~', '\'', '\0'])
            {
                return Self::forbid("a table name that looks like a path (files cannot be read)");
            }
            parts.push(ident.value.to_lowercase());
        }
        let Some(last) = parts.last() else {
            return Self::forbid("an empty table name");
        };
        if is_function {
            if parts.len() > 1 || !is_allowed_table_function(last) {
                return Self::forbid(format!(
                    "the table function {last}() (only {} can be called)",
                    ALLOWED_TABLE_FUNCTIONS.join(", ")
                ));
            }
            return ControlFlow::Continue(());
        }
        if parts.len() > 3 {
            return Self::forbid("a table name with more than three parts");
        }
        if let Some(reason) = system_relation(&parts) {
            return Self::forbid(reason);
        }
        let dotted = parts.join(".");
        if !(parts.len() == 1 && self.checked.ctes.contains(&dotted)) {
            self.checked.relations.push(dotted);
        }
        ControlFlow::Continue(())
    }

    fn function(&self, function: &Function) -> ControlFlow<Refusal> {
        let parts: Vec<String> = function
            .name
            .0
            .iter()
            .map(|part| {
                part.as_ident()
                    .map(|i| i.value.to_lowercase())
                    .unwrap_or_default()
            })
            .collect();
        let Some(last) = parts.last() else {
            return Self::forbid("a function without a name");
        };
        if parts.len() > 2 || (parts.len() == 2 && parts[0] != "main") {
            return Self::forbid(format!("the schema-qualified function {}", parts.join(".")));
        }
        if let Some(reason) = denied_function(last) {
            return Self::forbid(format!("{last}() ({reason})"));
        }
        ControlFlow::Continue(())
    }
}

/// A relation in DuckDB's or the host's internals, refused whatever it is called through.
fn system_relation(parts: &[String]) -> Option<&'static str> {
    let internal = |name: &str| {
        name.starts_with("duckdb_") || name.starts_with("pragma_") || name.starts_with("sqlite_")
    };
    if parts.iter().any(|p| internal(p)) {
        return Some("DuckDB's internal catalog tables");
    }
    if parts.len() > 1 && matches!(parts[0].as_str(), "system" | "temp" | "pg_catalog") {
        return Some("DuckDB's system catalogs");
    }
    None
}

impl Visitor for Walk {
    type Break = Refusal;

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<Refusal> {
        match statement {
            Statement::Query(_) => ControlFlow::Continue(()),
            other => Self::forbid(format!("{} inside a query", statement_kind(other))),
        }
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<Refusal> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.checked.ctes.push(cte.alias.name.value.to_lowercase());
            }
        }
        if matches!(
            *query.body,
            SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_)
        ) {
            return Self::forbid("a write inside a query");
        }
        if !query.locks.is_empty() {
            return Self::forbid("row locks (FOR UPDATE)");
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<Refusal> {
        if select.into.is_some() {
            return Self::forbid("SELECT … INTO (queries cannot create tables)");
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<Refusal> {
        match factor {
            TableFactor::Table { name, args, .. } => self.table(name, args.is_some()),
            TableFactor::Function { name, .. } => self.table(name, true),
            TableFactor::Derived { .. }
            | TableFactor::NestedJoin { .. }
            | TableFactor::UNNEST { .. }
            | TableFactor::Pivot { .. }
            | TableFactor::Unpivot { .. } => ControlFlow::Continue(()),
            _ => Self::forbid("this kind of table expression"),
        }
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<Refusal> {
        match expr {
            Expr::Function(function) => self.function(function),
            _ => ControlFlow::Continue(()),
        }
    }
}

/// Whether `name` (lowercase, unqualified) is a table function queries may call.
pub fn is_allowed_table_function(name: &str) -> bool {
    ALLOWED_TABLE_FUNCTIONS.contains(&name)
}

/// Why a function may not appear anywhere in a query, if it may not.
pub fn denied_function(name: &str) -> Option<&'static str> {
    let name = name.to_ascii_lowercase();
    let name = name.as_str();
    const HOST: &str = "it reveals facts about the server";
    const FILES: &str = "queries cannot read files or URLs";
    const STATE: &str = "queries cannot change the database or its settings";
    const CATALOG: &str = "queries cannot read DuckDB's internals";
    let reason = match name {
        "getenv" | "current_setting" | "getvariable" | "which_secret" | "version"
        | "pragma_version" | "platform" => HOST,
        "set_variable" | "nextval" | "setval" | "currval" | "setseed" | "checkpoint"
        | "force_checkpoint" | "install_extension" | "load_extension" => STATE,
        "query"
        | "query_table"
        | "read_text"
        | "read_blob"
        | "glob"
        | "sniff_csv"
        | "read_csv"
        | "read_csv_auto"
        | "read_json"
        | "read_json_auto"
        | "read_json_objects"
        | "read_json_objects_auto"
        | "read_ndjson"
        | "read_ndjson_auto"
        | "read_ndjson_objects"
        | "read_parquet"
        | "parquet_scan"
        | "delta_scan"
        | "iceberg_scan"
        | "read_xlsx"
        | "st_read" => FILES,
        "current_database" | "current_catalog" | "current_schemas" => return None,
        _ if name.starts_with("duckdb_") || name.starts_with("pragma_") => CATALOG,
        _ if name.starts_with("enable_") || name.starts_with("disable_") => STATE,
        _ if name.starts_with("read_")
            || name.starts_with("parquet_")
            || name.starts_with("export_")
            || name.starts_with("sqlite_")
            || name.starts_with("postgres_")
            || name.starts_with("mysql_")
            || name.starts_with("iceberg_")
            || name.starts_with("http") =>
        {
            FILES
        }
        _ => return None,
    };
    Some(reason)
}

/// Where the statement ends: trailing semicolons, whitespace and comments are cut, so
/// the statement can be wrapped (`SELECT * FROM (…) LIMIT n`).
pub fn statement_end(sql: &str) -> usize {
    let mut end = sql.len();
    loop {
        let trimmed = sql[..end].trim_end();
        let trimmed = trimmed.strip_suffix(';').unwrap_or(trimmed).trim_end();
        let trimmed = strip_trailing_comment(trimmed);
        if trimmed.len() == end {
            return end;
        }
        end = trimmed.len();
    }
}

/// Cuts one trailing `-- …` line comment or `/* … */` block comment, if the text ends
/// with one that starts outside a string.
fn strip_trailing_comment(sql: &str) -> &str {
    if sql.ends_with("*/")
        && let Some(start) = comment_starts(sql).into_iter().rfind(|&(_, block)| block)
    {
        return &sql[..start.0];
    }
    let last_line_start = sql.rfind('\n').map_or(0, |i| i + 1);
    match comment_starts(sql)
        .into_iter()
        .find(|&(at, block)| !block && at >= last_line_start)
    {
        Some((at, _)) => &sql[..at],
        None => sql,
    }
}

/// Where comments start in `sql` (byte offset, whether it is a block comment).
fn comment_starts(sql: &str) -> Vec<(usize, bool)> {
    let bytes = sql.as_bytes();
    let mut starts = Vec::new();
    let (mut i, mut quote) = (0, None::<u8>);
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'\'' || b == b'"' => quote = Some(b),
            None if b == b'-' && bytes.get(i + 1) == Some(&b'-') => {
                starts.push((i, false));
                match sql[i..].find('\n') {
                    Some(nl) => i += nl,
                    None => break,
                }
            }
            None if b == b'/' && bytes.get(i + 1) == Some(&b'*') => {
                starts.push((i, true));
                match sql[i + 2..].find("*/") {
                    Some(close) => i += close + 3,
                    None => break,
                }
            }
            None => {}
        }
        i += 1;
    }
    starts
}

#[cfg(test)]
#[path = "guard_tests.rs"]
mod tests;
