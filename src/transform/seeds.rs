//! Seeds, as dbt-duckdb loads them: column types inferred like dbt's agate (numbers with
//! no decimal places are 32-bit `integer`, others `float8`; `%Y-%m-%d` dates; timestamps;
//! `true`/`false` booleans; text; an all-empty column is `integer`), `column_types`
//! overrides; the values themselves are parsed by DuckDB's CSV reader (`COPY`).
//! A re-run truncates and reloads; a full refresh recreates the table.

use duckdb::Connection;

use super::manifest::Manifest;
use super::materialize::relation_type;
use super::nodes::{Node, quote};

fn is_null(value: &str) -> bool {
    value.is_empty() || value.eq_ignore_ascii_case("null")
}

/// agate's Number: `Decimal(value)` after dropping whitespace, currency symbols,
/// `%`, and `,` group separators. Returns the number of decimal places.
fn number_places(value: &str) -> Option<u32> {
    let cleaned: String = value
        .trim()
        .chars()
        .filter(|c| !matches!(c, ',' | '%' | '$' | '€' | '£' | '¥' | '₹' | '₽' | '¢' | '₩'))
        .collect();
    let cleaned = cleaned.trim();
    let body = cleaned.strip_prefix(['-', '+']).unwrap_or(cleaned);
    if body.is_empty() {
        return None;
    }
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], body[i + 1..].parse::<i64>().ok()?),
        None => (body, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (int_part.is_empty() && frac_part.is_empty())
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    Some((frac_part.len() as i64 - exponent).max(0) as u32)
}

fn is_date(value: &str) -> bool {
    chrono::NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").is_ok()
}

fn is_datetime(value: &str) -> bool {
    chrono::NaiveDateTime::parse_from_str(value.trim(), "%Y-%m-%d %H:%M:%S").is_ok()
}

/// ISO 8601 date-times with a `T` (what `isodate.parse_datetime` accepts).
fn is_iso_datetime(value: &str) -> bool {
    let value = value.trim();
    value.contains('T')
        && (chrono::DateTime::parse_from_rfc3339(value).is_ok()
            || [
                "%Y-%m-%dT%H:%M:%S",
                "%Y-%m-%dT%H:%M:%S%.f",
                "%Y-%m-%dT%H:%M",
            ]
            .iter()
            .any(|f| chrono::NaiveDateTime::parse_from_str(value, f).is_ok())
            || chrono::DateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%z").is_ok())
}

fn is_boolean(value: &str) -> bool {
    let cleaned = value.replace(',', "");
    matches!(cleaned.trim().to_lowercase().as_str(), "true" | "false")
}

/// The DDL type dbt would give a column with these values.
pub fn infer_type(values: &[&str]) -> &'static str {
    let present: Vec<&str> = values.iter().copied().filter(|v| !is_null(v)).collect();
    if present.is_empty() {
        return "integer";
    }
    if let Some(places) = present
        .iter()
        .map(|v| number_places(v))
        .collect::<Option<Vec<u32>>>()
    {
        return if places.into_iter().max().unwrap_or(0) == 0 {
            "integer"
        } else {
            "float8"
        };
    }
    if present.iter().all(|v| is_date(v)) {
        return "date";
    }
    if present.iter().all(|v| is_datetime(v) || is_iso_datetime(v)) {
        return "timestamp without time zone";
    }
    if present.iter().all(|v| is_boolean(v)) {
        return "boolean";
    }
    "text"
}

/// agate renames repeated header names: `id, id` → `id, id_2`.
fn dedupe_headers(headers: Vec<String>) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    headers
        .into_iter()
        .map(|h| {
            let mut name = h.clone();
            let mut n = 2;
            while seen.contains(&name) {
                name = format!("{h}_{n}");
                n += 1;
            }
            seen.push(name.clone());
            name
        })
        .collect()
}

fn run(conn: &Connection, sql: &str) -> Result<(), String> {
    conn.execute_batch(sql).map_err(|e| e.to_string())
}

/// Loads the seed; returns (rows, whether the table was created).
pub fn load(
    manifest: &Manifest,
    node: &Node,
    conn: &Connection,
    full_refresh: bool,
) -> Result<(i64, bool), String> {
    let path = manifest.project.root.join(&node.original_file_path);
    let delimiter = node.config.str("delimiter").unwrap_or_else(|| ",".into());
    let delimiter_byte = delimiter.as_bytes().first().copied().unwrap_or(b',');
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter_byte)
        .flexible(true)
        .from_path(&path)
        .map_err(|e| format!("{}: {e}", node.original_file_path))?;
    let headers = dedupe_headers(
        reader
            .headers()
            .map_err(|e| format!("{}: {e}", node.original_file_path))?
            .iter()
            .map(|h| h.trim_start_matches('\u{feff}').to_string())
            .collect(),
    );
    let mut rows: Vec<Vec<String>> = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| format!("{}: {e}", node.original_file_path))?;
        if record.iter().all(|v| v.is_empty()) && record.len() <= 1 {
            continue; // blank line
        }
        rows.push(record.iter().map(str::to_string).collect());
    }
    let overrides = node
        .config
        .get("column_types")
        .and_then(|v| v.as_object())
        .cloned()
        .unwrap_or_default();
    let quote_columns = node.config.bool("quote_columns").unwrap_or(true);
    let columns: Vec<String> = headers
        .iter()
        .enumerate()
        .map(|(index, header)| {
            let declared = overrides
                .get(header)
                .and_then(|v| v.as_str().map(str::to_string));
            let ty = declared.unwrap_or_else(|| {
                let values: Vec<&str> = rows
                    .iter()
                    .map(|r| r.get(index).map(String::as_str).unwrap_or(""))
                    .collect();
                infer_type(&values).to_string()
            });
            let name = if quote_columns {
                quote(header)
            } else {
                header.clone()
            };
            format!("{name} {ty}")
        })
        .collect();
    let relation = node.relation_name();
    let existing = relation_type(conn, &node.schema, &node.alias)?;
    if existing.as_deref() == Some("VIEW") {
        return Err(format!(
            "Compilation Error: {relation} is a view, not a table; cannot load the seed into it"
        ));
    }
    let recreate = full_refresh || existing.is_none();
    if full_refresh && existing.is_some() {
        run(conn, &format!("DROP TABLE IF EXISTS {relation} CASCADE"))?;
    }
    run(conn, "BEGIN TRANSACTION")?;
    let work = || -> Result<i64, String> {
        if recreate {
            run(
                conn,
                &format!("CREATE TABLE {relation} ({})", columns.join(",")),
            )?;
        } else {
            run(conn, &format!("TRUNCATE TABLE {relation}"))?;
        }
        if !rows.is_empty() {
            let literal = path.to_string_lossy().replace('\'', "''");
            let delimiter = delimiter.replace('\'', "''");
            run(
                conn,
                &format!(
                    "COPY {relation} FROM '{literal}' (FORMAT CSV, HEADER TRUE, DELIMITER '{delimiter}')"
                ),
            )?;
        }
        Ok(rows.len() as i64)
    };
    match work() {
        Ok(n) => {
            run(conn, "COMMIT")?;
            Ok((n, recreate && full_refresh))
        }
        Err(err) => {
            let _ = run(conn, "ROLLBACK");
            Err(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inference_follows_dbt() {
        assert_eq!(infer_type(&["1", "2", ""]), "integer");
        assert_eq!(infer_type(&["1", "2.5"]), "float8");
        assert_eq!(infer_type(&["3.0"]), "float8");
        assert_eq!(infer_type(&["1e3", "007", " 5 "]), "integer");
        assert_eq!(infer_type(&["$5", "1,000", "50%"]), "integer");
        assert_eq!(infer_type(&["", "null"]), "integer");
        assert_eq!(infer_type(&["2024-01-01", "2024-1-6"]), "date");
        assert_eq!(
            infer_type(&["2024-01-01 10:00:00"]),
            "timestamp without time zone"
        );
        assert_eq!(
            infer_type(&["2024-01-05T10:11:12Z", "2024-01-05T10:11:12+02:00"]),
            "timestamp without time zone"
        );
        assert_eq!(
            infer_type(&["2024-01-05T10:11:12", "2024-01-05 10:11:12.123"]),
            "text"
        );
        assert_eq!(infer_type(&["true", "False", "TRUE"]), "boolean");
        assert_eq!(infer_type(&["yes", "no"]), "text");
        assert_eq!(infer_type(&["10:11:12"]), "text");
        assert_eq!(
            dedupe_headers(vec!["id".into(), "id".into()]),
            ["id", "id_2"]
        );
    }
}
