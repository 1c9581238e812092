//! DuckDB values as JSON (for `run_query`, the query API and artifacts).

use duckdb::types::{TimeUnit, Value as DValue};
use serde_json::Value;

fn time_of(unit: TimeUnit, value: i64) -> Option<chrono::DateTime<chrono::Utc>> {
    let micros = match unit {
        TimeUnit::Second => value.checked_mul(1_000_000)?,
        TimeUnit::Millisecond => value.checked_mul(1_000)?,
        TimeUnit::Microsecond => value,
        TimeUnit::Nanosecond => value / 1_000,
    };
    chrono::DateTime::from_timestamp_micros(micros)
}

pub fn to_json(value: DValue) -> Value {
    match value {
        DValue::Null => Value::Null,
        DValue::Boolean(b) => Value::Bool(b),
        DValue::TinyInt(n) => n.into(),
        DValue::SmallInt(n) => n.into(),
        DValue::Int(n) => n.into(),
        DValue::BigInt(n) => n.into(),
        DValue::HugeInt(n) => i64::try_from(n).map(Value::from).unwrap_or_else(|_| Value::String(n.to_string())),
        DValue::UTinyInt(n) => n.into(),
        DValue::USmallInt(n) => n.into(),
        DValue::UInt(n) => n.into(),
        DValue::UBigInt(n) => n.into(),
        DValue::Float(f) => serde_json::Number::from_f64(f64::from(f)).map(Value::Number).unwrap_or(Value::Null),
        DValue::Double(f) => serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null),
        DValue::Decimal(d) => {
            use std::str::FromStr;
            let text = d.to_string();
            serde_json::Number::from_str(&text).map(Value::Number).unwrap_or(Value::String(text))
        }
        DValue::Timestamp(unit, v) => time_of(unit, v)
            .map(|t| Value::String(t.naive_utc().format("%Y-%m-%dT%H:%M:%S%.f").to_string()))
            .unwrap_or(Value::Null),
        DValue::Text(s) => Value::String(s),
        DValue::Blob(b) => Value::String(hex::encode(b)),
        DValue::Date32(days) => chrono::NaiveDate::from_ymd_opt(1970, 1, 1)
            .and_then(|epoch| epoch.checked_add_signed(chrono::Duration::days(i64::from(days))))
            .map(|d| Value::String(d.to_string()))
            .unwrap_or(Value::Null),
        DValue::Time64(unit, v) => {
            let micros = match unit {
                TimeUnit::Second => v * 1_000_000,
                TimeUnit::Millisecond => v * 1_000,
                TimeUnit::Microsecond => v,
                TimeUnit::Nanosecond => v / 1_000,
            };
            let secs = micros.div_euclid(1_000_000);
            chrono::NaiveTime::from_num_seconds_from_midnight_opt(secs as u32, (micros.rem_euclid(1_000_000) * 1000) as u32)
                .map(|t| Value::String(t.to_string()))
                .unwrap_or(Value::Null)
        }
        DValue::Interval { months, days, nanos } => Value::String(format!("{months} months {days} days {nanos} ns")),
        DValue::List(items) | DValue::Array(items) => Value::Array(items.into_iter().map(to_json).collect()),
        DValue::Enum(s) => Value::String(s),
        DValue::Struct(fields) => Value::Object(fields.iter().map(|(k, v)| (k.clone(), to_json(v.clone()))).collect()),
        DValue::Map(map) => Value::Array(
            map.iter()
                .map(|(k, v)| serde_json::json!({"key": to_json(k.clone()), "value": to_json(v.clone())}))
                .collect(),
        ),
        DValue::Union(inner) => to_json(*inner),
        other => Value::String(format!("{other:?}")),
    }
}
