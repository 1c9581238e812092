//! DuckDB values as JSON that loses nothing: exact decimals and big integers as strings
//! (a JSON number is a double to most clients), RFC 3339 timestamps, base64 blobs, NaN and
//! infinities as strings, nested lists, structs and maps as JSON structures. Column types
//! are named as DuckDB names them.

use base64::Engine;
use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta};
use duckdb::core::{LogicalTypeHandle, LogicalTypeId};
use duckdb::types::{TimeUnit, Value};
use serde_json::Value as Json;

/// The largest integer every JSON client reads exactly (2^53).
const EXACT_INTEGER: i128 = 1 << 53;

/// How a column's values are written: its logical type decides what a bare Arrow value
/// cannot tell (a timestamp with or without a zone).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shape {
    Plain,
    TimestampWithZone,
    List(Box<Shape>),
    Struct(Vec<Shape>),
    Map(Box<Shape>, Box<Shape>),
}

/// DuckDB's name for a column type (`DECIMAL(18,2)`, `VARCHAR[]`, `STRUCT(a INTEGER)`),
/// and how its values are written.
pub fn describe_type(logical: &LogicalTypeHandle) -> (String, Shape) {
    let Ok(id) = logical.try_id() else {
        return (format!("UNKNOWN({})", logical.raw_id()), Shape::Plain);
    };
    if let Some(alias) = logical.get_alias().filter(|a| !a.is_empty()) {
        return (alias.to_uppercase(), Shape::Plain);
    }
    let plain = |name: &str| (name.to_string(), Shape::Plain);
    match id {
        LogicalTypeId::Boolean => plain("BOOLEAN"),
        LogicalTypeId::Tinyint => plain("TINYINT"),
        LogicalTypeId::Smallint => plain("SMALLINT"),
        LogicalTypeId::Integer => plain("INTEGER"),
        LogicalTypeId::Bigint => plain("BIGINT"),
        LogicalTypeId::Hugeint => plain("HUGEINT"),
        LogicalTypeId::UTinyint => plain("UTINYINT"),
        LogicalTypeId::USmallint => plain("USMALLINT"),
        LogicalTypeId::UInteger => plain("UINTEGER"),
        LogicalTypeId::UBigint => plain("UBIGINT"),
        LogicalTypeId::UHugeint => plain("UHUGEINT"),
        LogicalTypeId::Float => plain("FLOAT"),
        LogicalTypeId::Double => plain("DOUBLE"),
        LogicalTypeId::Decimal => (
            format!(
                "DECIMAL({},{})",
                logical.decimal_width(),
                logical.decimal_scale()
            ),
            Shape::Plain,
        ),
        LogicalTypeId::Varchar | LogicalTypeId::StringLiteral => plain("VARCHAR"),
        LogicalTypeId::Blob => plain("BLOB"),
        LogicalTypeId::Bit => plain("BIT"),
        LogicalTypeId::Uuid => plain("UUID"),
        LogicalTypeId::Enum => plain("ENUM"),
        LogicalTypeId::Date => plain("DATE"),
        LogicalTypeId::Time | LogicalTypeId::TimeNs => plain("TIME"),
        LogicalTypeId::TimeTZ => plain("TIME WITH TIME ZONE"),
        LogicalTypeId::Timestamp => plain("TIMESTAMP"),
        LogicalTypeId::TimestampS => plain("TIMESTAMP_S"),
        LogicalTypeId::TimestampMs => plain("TIMESTAMP_MS"),
        LogicalTypeId::TimestampNs => plain("TIMESTAMP_NS"),
        LogicalTypeId::TimestampTZ => ("TIMESTAMP WITH TIME ZONE".into(), Shape::TimestampWithZone),
        LogicalTypeId::Interval => plain("INTERVAL"),
        LogicalTypeId::SqlNull => plain("NULL"),
        LogicalTypeId::IntegerLiteral => plain("INTEGER"),
        LogicalTypeId::Bignum => plain("BIGNUM"),
        LogicalTypeId::Geometry => plain("GEOMETRY"),
        LogicalTypeId::Variant => plain("VARIANT"),
        LogicalTypeId::List | LogicalTypeId::Array if logical.num_children() == 1 => {
            let (child, shape) = describe_type(&logical.child(0));
            (format!("{child}[]"), Shape::List(Box::new(shape)))
        }
        LogicalTypeId::Map if logical.num_children() == 2 => {
            let (key, key_shape) = describe_type(&logical.child(0));
            let (value, value_shape) = describe_type(&logical.child(1));
            (
                format!("MAP({key}, {value})"),
                Shape::Map(Box::new(key_shape), Box::new(value_shape)),
            )
        }
        LogicalTypeId::Struct | LogicalTypeId::Union => {
            let mut fields = Vec::new();
            let mut shapes = Vec::new();
            for index in 0..logical.num_children() {
                let name = logical.child_name(index);
                let (child, shape) = describe_type(&logical.child(index));
                fields.push(format!("{} {child}", quote_field(&name)));
                shapes.push(shape);
            }
            let kind = if id == LogicalTypeId::Union {
                "UNION"
            } else {
                "STRUCT"
            };
            (
                format!("{kind}({})", fields.join(", ")),
                Shape::Struct(shapes),
            )
        }
        other => (format!("{other:?}").to_uppercase(), Shape::Plain),
    }
}

fn quote_field(name: &str) -> String {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// One value as JSON.
pub fn to_json(value: Value, shape: &Shape) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Boolean(b) => Json::Bool(b),
        Value::TinyInt(n) => n.into(),
        Value::SmallInt(n) => n.into(),
        Value::Int(n) => n.into(),
        Value::UTinyInt(n) => n.into(),
        Value::USmallInt(n) => n.into(),
        Value::UInt(n) => n.into(),
        Value::BigInt(n) => integer(n.into()),
        Value::UBigInt(n) => integer(n.into()),
        Value::HugeInt(n) => integer(n),
        Value::UHugeInt(n) => match i128::try_from(n) {
            Ok(n) => integer(n),
            Err(_) => Json::String(n.to_string()),
        },
        Value::Float(x) => float(f64::from(x)),
        Value::Double(x) => float(x),
        Value::Decimal(d) => Json::String(d.to_string()),
        Value::Text(s) | Value::Enum(s) => Json::String(s),
        Value::Blob(bytes) | Value::Geometry(bytes) => {
            Json::String(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        Value::Date32(days) => Json::String(date(days)),
        Value::Time64(unit, t) => Json::String(time(unit, t)),
        Value::Timestamp(unit, t) => {
            Json::String(timestamp(unit, t, *shape == Shape::TimestampWithZone))
        }
        Value::Interval {
            months,
            days,
            nanos,
        } => Json::String(interval(months, days, nanos)),
        Value::List(items) | Value::Array(items) => {
            let child = match shape {
                Shape::List(child) => child.as_ref(),
                _ => &Shape::Plain,
            };
            Json::Array(items.into_iter().map(|v| to_json(v, child)).collect())
        }
        Value::Struct(fields) => {
            let shapes: &[Shape] = match shape {
                Shape::Struct(shapes) => shapes,
                _ => &[],
            };
            let object = fields
                .iter()
                .enumerate()
                .map(|(index, (name, value))| {
                    let shape = shapes.get(index).unwrap_or(&Shape::Plain);
                    (name.clone(), to_json(value.clone(), shape))
                })
                .collect();
            Json::Object(object)
        }
        Value::Map(entries) => {
            let (key_shape, value_shape) = match shape {
                Shape::Map(k, v) => (k.as_ref(), v.as_ref()),
                _ => (&Shape::Plain, &Shape::Plain),
            };
            // An object keeps keys in order and reads naturally; keys that are not text
            // are written as their JSON text.
            let object = entries
                .iter()
                .map(|(key, value)| {
                    let key = match to_json(key.clone(), key_shape) {
                        Json::String(s) => s,
                        other => other.to_string(),
                    };
                    (key, to_json(value.clone(), value_shape))
                })
                .collect();
            Json::Object(object)
        }
        Value::Union(inner) => to_json(*inner, &Shape::Plain),
        other => Json::String(format!("{other:?}")),
    }
}

/// A value as one CSV field: what JSON would say, without JSON's quotes for text.
pub fn to_text(value: Value, shape: &Shape) -> Option<String> {
    match to_json(value, shape) {
        Json::Null => None,
        Json::String(s) => Some(s),
        other => Some(other.to_string()),
    }
}

fn integer(n: i128) -> Json {
    if (-EXACT_INTEGER..=EXACT_INTEGER).contains(&n) {
        // In range: an i64 always fits.
        Json::Number((n as i64).into())
    } else {
        Json::String(n.to_string())
    }
}

fn float(x: f64) -> Json {
    match serde_json::Number::from_f64(x) {
        Some(n) => Json::Number(n),
        None if x.is_nan() => Json::String("NaN".into()),
        None if x > 0.0 => Json::String("Infinity".into()),
        None => Json::String("-Infinity".into()),
    }
}

fn date(days: i32) -> String {
    match NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|epoch| epoch.checked_add_signed(TimeDelta::days(days.into())))
    {
        Some(date) => iso_date(date),
        None if days > 0 => "infinity".into(),
        None => "-infinity".into(),
    }
}

fn nanos_of(unit: TimeUnit, value: i64) -> Option<i128> {
    let value = i128::from(value);
    Some(match unit {
        TimeUnit::Second => value * 1_000_000_000,
        TimeUnit::Millisecond => value * 1_000_000,
        TimeUnit::Microsecond => value * 1_000,
        TimeUnit::Nanosecond => value,
    })
}

fn time(unit: TimeUnit, value: i64) -> String {
    let nanos = nanos_of(unit, value).unwrap_or(0);
    let seconds = u32::try_from(nanos.div_euclid(1_000_000_000)).unwrap_or(0);
    let fraction = u32::try_from(nanos.rem_euclid(1_000_000_000)).unwrap_or(0);
    match NaiveTime::from_num_seconds_from_midnight_opt(seconds, fraction) {
        Some(t) => {
            let mut out = String::with_capacity(18);
            push_time(&mut out, t);
            out
        }
        // 24:00:00 is a valid DuckDB time.
        None => "24:00:00".into(),
    }
}

fn timestamp(unit: TimeUnit, value: i64, with_zone: bool) -> String {
    // DuckDB's infinite timestamps are the extreme values of the type.
    if value == i64::MAX {
        return "infinity".into();
    }
    if value == -i64::MAX {
        return "-infinity".into();
    }
    let nanos = nanos_of(unit, value).unwrap_or(0);
    let seconds = i64::try_from(nanos.div_euclid(1_000_000_000)).unwrap_or(0);
    let fraction = u32::try_from(nanos.rem_euclid(1_000_000_000)).unwrap_or(0);
    match DateTime::from_timestamp(seconds, fraction) {
        Some(t) => {
            let t = t.naive_utc();
            let mut out = iso_date(t.date());
            out.push('T');
            push_time(&mut out, t.time());
            if with_zone {
                out.push('Z');
            }
            out
        }
        None => value.to_string(),
    }
}

/// `YYYY-MM-DD` (chrono's `%Y` rules for years outside 0–9999). Written by hand: chrono's
/// `format` parses its pattern for every value, a tenth of a large result's time.
fn iso_date(date: NaiveDate) -> String {
    use chrono::Datelike;
    use std::fmt::Write;
    let year = date.year();
    if !(0..=9999).contains(&year) {
        return date.format("%Y-%m-%d").to_string();
    }
    let mut out = String::with_capacity(26);
    let _ = write!(out, "{year:04}-{:02}-{:02}", date.month(), date.day());
    out
}

/// `HH:MM:SS` and the fraction as chrono's `%.f` writes it: none, or 3, 6 or 9 digits.
fn push_time(out: &mut String, time: NaiveTime) {
    use chrono::Timelike;
    use std::fmt::Write;
    let _ = write!(
        out,
        "{:02}:{:02}:{:02}",
        time.hour(),
        time.minute(),
        time.second()
    );
    let nanos = time.nanosecond();
    let _ = match nanos {
        0 => Ok(()),
        n if n % 1_000_000 == 0 => write!(out, ".{:03}", n / 1_000_000),
        n if n % 1_000 == 0 => write!(out, ".{:06}", n / 1_000),
        n => write!(out, ".{n:09}"),
    };
}

/// An ISO 8601 duration (`P1Y2M3DT4H5M6.5S`), which clients can parse.
fn interval(months: i32, days: i32, nanos: i64) -> String {
    let mut out = String::from("P");
    let (years, months) = (months / 12, months % 12);
    if years != 0 {
        out.push_str(&format!("{years}Y"));
    }
    if months != 0 {
        out.push_str(&format!("{months}M"));
    }
    if days != 0 {
        out.push_str(&format!("{days}D"));
    }
    if nanos != 0 {
        out.push('T');
        let hours = nanos / 3_600_000_000_000;
        let minutes = (nanos % 3_600_000_000_000) / 60_000_000_000;
        let rest = nanos % 60_000_000_000;
        if hours != 0 {
            out.push_str(&format!("{hours}H"));
        }
        if minutes != 0 {
            out.push_str(&format!("{minutes}M"));
        }
        if rest != 0 {
            let seconds = format!("{:.9}", rest as f64 / 1e9);
            let seconds = seconds.trim_end_matches('0').trim_end_matches('.');
            out.push_str(&format!("{seconds}S"));
        }
    }
    if out == "P" {
        out.push_str("T0S");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times_are_written_as_chrono_would() {
        let micros = [
            0i64,
            1,
            999,
            1_000,
            1_500_000,
            86_399_999_999,
            1_709_296_200_500_000,
            -1,
            -62_135_596_800_000_000, // 0001-01-01
            253_402_300_799_999_999, // 9999-12-31 23:59:59.999999
            -62_198_755_200_000_000, // year 0 (1 BC)
        ];
        for value in micros {
            let t = DateTime::from_timestamp_micros(value).unwrap();
            assert_eq!(
                timestamp(TimeUnit::Microsecond, value, true),
                t.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string()
            );
            assert_eq!(
                timestamp(TimeUnit::Microsecond, value, false),
                t.naive_utc().format("%Y-%m-%dT%H:%M:%S%.f").to_string()
            );
        }
        for days in [0, 1, -1, 19_782, -719_162, 2_932_896, -800_000, 3_000_000] {
            let expected = NaiveDate::from_ymd_opt(1970, 1, 1)
                .unwrap()
                .checked_add_signed(TimeDelta::days(days.into()))
                .unwrap()
                .format("%Y-%m-%d")
                .to_string();
            assert_eq!(date(days), expected, "{days}");
        }
        assert_eq!(
            time(TimeUnit::Nanosecond, 3_723_000_000_123),
            "01:02:03.000000123"
        );
        assert_eq!(time(TimeUnit::Microsecond, 45_296_000_000), "12:34:56");
    }

    #[test]
    fn numbers_keep_their_precision() {
        assert_eq!(
            to_json(Value::BigInt(1 << 53), &Shape::Plain),
            9007199254740992i64
        );
        assert_eq!(
            to_json(Value::BigInt((1 << 53) + 1), &Shape::Plain),
            "9007199254740993"
        );
        assert_eq!(
            to_json(Value::UBigInt(u64::MAX), &Shape::Plain),
            "18446744073709551615"
        );
        assert_eq!(to_json(Value::Double(f64::NAN), &Shape::Plain), "NaN");
        assert_eq!(
            to_json(Value::Float(f32::NEG_INFINITY), &Shape::Plain),
            "-Infinity"
        );
        assert_eq!(to_json(Value::Double(1.5), &Shape::Plain), 1.5);
    }

    #[test]
    fn times_are_iso() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(-1), "1969-12-31");
        assert_eq!(
            timestamp(TimeUnit::Microsecond, 1_500_000, false),
            "1970-01-01T00:00:01.500"
        );
        assert_eq!(timestamp(TimeUnit::Second, 0, true), "1970-01-01T00:00:00Z");
        assert_eq!(
            timestamp(TimeUnit::Microsecond, i64::MAX, false),
            "infinity"
        );
        assert_eq!(time(TimeUnit::Microsecond, 3_723_000_000), "01:02:03");
        assert_eq!(
            interval(14, 3, 3_600_000_000_000 + 1_500_000_000),
            "P1Y2M3DT1H1.5S"
        );
        assert_eq!(interval(0, 0, 0), "PT0S");
    }
}
