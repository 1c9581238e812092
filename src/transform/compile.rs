//! Compiling a node: rendering its Jinja with real relations, then injecting the CTEs of
//! the ephemeral models it uses (as dbt does, `__dbt__cte__<name>`).

use std::sync::Arc;

use super::TransformError;
use super::jinja::{Mode, Resolver};
use super::manifest::Manifest;
use super::nodes::Node;

pub struct Compiled {
    pub sql: String,
    /// Ephemeral models whose CTEs were injected.
    pub ephemerals: Vec<String>,
}

/// Compiles `node`; `connection` serves `run_query`/`adapter` during rendering.
pub fn compile(
    manifest: &Manifest,
    resolver: &Arc<Resolver>,
    node: &Node,
    is_incremental: bool,
    connection: Option<duckdb::Connection>,
) -> Result<Compiled, TransformError> {
    let mut ctes: Vec<(String, String)> = Vec::new();
    let (sql, ephemerals, _connection) =
        render(manifest, resolver, node, is_incremental, connection)?;
    let mut conn_slot = _connection;
    collect_ctes(
        manifest,
        resolver,
        &ephemerals,
        &mut ctes,
        &mut conn_slot,
        0,
    )?;
    let names: Vec<String> = ctes.iter().map(|(name, _)| name.clone()).collect();
    Ok(Compiled {
        sql: inject_ctes(&sql, &ctes),
        ephemerals: names,
    })
}

/// A node's SQL, the ephemeral models it uses, and the connection lent to the render.
type CompiledNode = (String, Vec<String>, Option<duckdb::Connection>);

fn render(
    manifest: &Manifest,
    resolver: &Arc<Resolver>,
    node: &Node,
    is_incremental: bool,
    connection: Option<duckdb::Connection>,
) -> Result<CompiledNode, TransformError> {
    let mut scope = manifest.scope(node, Mode::Compile, resolver.clone());
    scope.is_incremental = is_incremental;
    scope.connection = connection.map(std::sync::Mutex::new);
    let (result, rendered) = manifest.templates.render(
        &node.original_file_path,
        &node.raw_code,
        node.line_offset,
        scope,
    );
    let sql = result.map_err(|err| TransformError::Compilation {
        node: node.unique_id.clone(),
        file: err.file,
        line: err.line,
        message: err.message,
    })?;
    Ok((sql, rendered.captured.ephemerals, rendered.connection))
}

/// Depth-first: an ephemeral's own ephemerals come before it.
fn collect_ctes(
    manifest: &Manifest,
    resolver: &Arc<Resolver>,
    ephemerals: &[String],
    out: &mut Vec<(String, String)>,
    connection: &mut Option<duckdb::Connection>,
    depth: usize,
) -> Result<(), TransformError> {
    if depth > 50 {
        return Err(TransformError::Parse(
            "ephemeral models nest too deeply (a cycle?)".into(),
        ));
    }
    for id in ephemerals {
        let Some(node) = manifest.nodes.get(id) else {
            continue;
        };
        let cte_name = format!("__dbt__cte__{}", node.alias);
        if out.iter().any(|(name, _)| name == &cte_name) {
            continue;
        }
        let (sql, nested, conn) = render(manifest, resolver, node, false, connection.take())?;
        *connection = conn;
        collect_ctes(manifest, resolver, &nested, out, connection, depth + 1)?;
        if !out.iter().any(|(name, _)| name == &cte_name) {
            out.push((cte_name, sql));
        }
    }
    Ok(())
}

/// Skips leading whitespace and comments; returns the byte offset of the first token.
fn first_token(sql: &str) -> usize {
    let bytes = sql.as_bytes();
    let mut i = 0;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if sql[i..].starts_with("--") {
            i = sql[i..]
                .find('\n')
                .map(|n| i + n + 1)
                .unwrap_or(bytes.len());
        } else if sql[i..].starts_with("/*") {
            i = sql[i..]
                .find("*/")
                .map(|n| i + n + 2)
                .unwrap_or(bytes.len());
        } else {
            return i;
        }
    }
}

pub fn inject_ctes(sql: &str, ctes: &[(String, String)]) -> String {
    if ctes.is_empty() {
        return sql.to_string();
    }
    let definitions = ctes
        .iter()
        .map(|(name, body)| format!(" {name} as (\n{body}\n)"))
        .collect::<Vec<_>>()
        .join(", ");
    let start = first_token(sql);
    let rest = &sql[start..];
    let starts_with_with = rest.len() > 4
        && rest[..4].eq_ignore_ascii_case("with")
        && rest.as_bytes()[4].is_ascii_whitespace();
    if starts_with_with {
        let mut after = start + 4;
        // `with recursive`
        let tail = sql[after..].trim_start();
        if tail.len() > 9 && tail[..9].eq_ignore_ascii_case("recursive") {
            after = sql.len() - tail.len() + 9;
        }
        format!("{}{definitions}, {}", &sql[..after], &sql[after..])
    } else {
        format!("{}with{definitions}\n{}", &sql[..start], &sql[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::inject_ctes;

    #[test]
    fn ctes_go_after_an_existing_with_or_start_one() {
        let ctes = vec![("__dbt__cte__a".to_string(), "select 1 as x".to_string())];
        let plain = inject_ctes("select * from __dbt__cte__a", &ctes);
        assert!(
            plain.starts_with("with __dbt__cte__a as (\nselect 1 as x\n)\nselect"),
            "{plain}"
        );
        let with = inject_ctes(
            "-- c\nWITH b AS (select 2) select * from b, __dbt__cte__a",
            &ctes,
        );
        assert!(
            with.starts_with("-- c\nWITH __dbt__cte__a as (\nselect 1 as x\n),  b AS"),
            "{with}"
        );
    }
}
