//! DuckDB's ICU extension, compiled into the binary: `current_date`, `now()`,
//! `date_trunc`/`date_part` on `TIMESTAMP WITH TIME ZONE`, `AT TIME ZONE`, time-zone
//! casts, `strftime`/`strptime` with zones, non-Gregorian calendars and collations,
//! exactly as in a DuckDB with ICU linked in (dbt-duckdb's). The crates.io DuckDB
//! sources lack the extension; `duckdb/` holds it, from DuckDB 2.0.0's source
//! distribution (see `update.sh`).

use std::sync::OnceLock;

unsafe extern "C" {
    fn dango_duckdb_icu_register() -> i32;
}

/// Registers the extension for every DuckDB database opened afterwards in this process.
/// Call it before the first open; calling it again does nothing.
pub fn register() -> Result<(), String> {
    static REGISTERED: OnceLock<i32> = OnceLock::new();
    // SAFETY: a C function without arguments; DuckDB serializes registrations itself.
    let status = *REGISTERED.get_or_init(|| unsafe { dango_duckdb_icu_register() });
    if status == 0 {
        Ok(())
    } else {
        Err("DuckDB refused to register the ICU extension (opening a database reports why)".into())
    }
}
