#!/usr/bin/env bash
# Re-vendors DuckDB's ICU extension from the official DuckDB source distribution on PyPI
# (the `duckdb` sdist carries the full DuckDB tree under external/duckdb). The version
# must match the DuckDB that the `duckdb` crate bundles (duckdb =1.20000.1 → v2.0.0).
set -euo pipefail
cd "$(dirname "$0")"
VERSION=2.0.0
SHA256=09de511ef0dc76a5213e8d3d87a8b89bb4d3e8a6fe73a9f60dc001269946b44f
URL=https://files.pythonhosted.org/packages/c2/7c/dfdf5e9cebefd032f57f09b224993e861ecb55f61e36c709544b04b44f70/duckdb-$VERSION.tar.gz
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
curl -fsSL "$URL" -o "$work/duckdb.tar.gz"
echo "$SHA256  $work/duckdb.tar.gz" | sha256sum -c -
tar xzf "$work/duckdb.tar.gz" -C "$work" \
  "duckdb-$VERSION/external/duckdb/extension/icu" "duckdb-$VERSION/external/duckdb/LICENSE"
rm -rf duckdb
mkdir -p duckdb/extension
cp -r "$work/duckdb-$VERSION/external/duckdb/extension/icu" duckdb/extension/icu
cp "$work/duckdb-$VERSION/external/duckdb/LICENSE" duckdb/LICENSE
# Generators and their inputs are not needed to build.
rm -rf duckdb/extension/icu/scripts duckdb/extension/icu/icu_config.py
echo "vendored DuckDB $VERSION's ICU extension into $(pwd)/duckdb"
