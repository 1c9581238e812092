//! Compiles DuckDB's ICU extension (vendored under `duckdb/extension/icu`, from the
//! DuckDB 2.0.0 source distribution) against the headers of the DuckDB that
//! `libduckdb-sys` builds, plus the describe/register shim in `src/register.cpp`.

use std::path::{Path, PathBuf};

/// `extension/icu/CMakeLists.txt`'s ICU_EXTENSION_FILES.
const SOURCES: &[&str] = &[
    "collation/collation_collator.cpp",
    "collation/collation_loader.cpp",
    "collation/collation_normalizer.cpp",
    "collation/generated/collation_data.cpp",
    "datetime/astronomy.cpp",
    "datetime/calendar.cpp",
    "datetime/chinese.cpp",
    "datetime/coptic.cpp",
    "datetime/grego.cpp",
    "datetime/gregorian.cpp",
    "datetime/hebrew.cpp",
    "datetime/islamic.cpp",
    "datetime/japanese.cpp",
    "datetime/persian.cpp",
    "datetime/timezone.cpp",
    "datetime/tz_loader.cpp",
    "datetime/generated/tz_data.cpp",
    "icu_extension.cpp",
    "icu-current.cpp",
    "icu-dateadd.cpp",
    "icu-datefunc.cpp",
    "icu-datepart.cpp",
    "icu-datesub.cpp",
    "icu-datetrunc.cpp",
    "icu-makedate.cpp",
    "icu-list-range.cpp",
    "icu-table-range.cpp",
    "icu-strptime.cpp",
    "icu-timebucket.cpp",
    "icu-timezone.cpp",
];

fn main() {
    let include = PathBuf::from(
        std::env::var("DEP_DUCKDB_INCLUDE")
            .expect("libduckdb-sys (feature `bundled`) publishes DEP_DUCKDB_INCLUDE"),
    );
    // <unpacked>/duckdb/src/include → <unpacked>/duckdb
    let duckdb_root = include
        .parent()
        .and_then(Path::parent)
        .expect("DEP_DUCKDB_INCLUDE is <duckdb>/src/include");
    let icu = Path::new("duckdb/extension/icu");

    let mut build = cc::Build::new();
    // DuckDB's own include directories (its headers include fmt, re2, zstd, …), as listed
    // by the manifest of the sources libduckdb-sys built.
    let manifest: serde_json::Value = std::fs::read(duckdb_root.join("manifest.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .expect("libduckdb-sys's sources have a manifest.json");
    for dir in manifest["base"]["include_dirs"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(dir) = dir.as_str() {
            build.include(duckdb_root.join(dir));
        }
    }
    build
        .cpp(true)
        .std("c++17")
        .warnings(false)
        .flag_if_supported("-w")
        .include(&include)
        .include(icu)
        .include(icu.join("include"))
        .include(icu.join("collation/include"))
        .include(icu.join("datetime/include"))
        .define("EXT_VERSION_ICU", "\"v2.0.0\"");
    // Exactly as libduckdb-sys compiles DuckDB: DEBUG changes DuckDB's classes, so both
    // sides must agree (Cargo.toml gives both packages the same profile settings).
    let debug = std::env::var("DEBUG").is_ok_and(|v| v != "false" && v != "0");
    if debug {
        build.define("DEBUG", None);
    } else {
        build.define("NDEBUG", None);
    }
    for source in SOURCES {
        build.file(icu.join(source));
    }
    build.file("src/register.cpp");
    build.compile("dango_duckdb_icu");

    println!("cargo:rerun-if-changed=duckdb/extension/icu");
    println!("cargo:rerun-if-changed=src/register.cpp");
}
