#!/usr/bin/env bash
# Re-creates reference/<name>.json for example/ and every fixtures/<name>/ by running
# real dbt-core + dbt-duckdb (the venv of .ci/requirements-dbt.txt) through
# dbt_reference.py. Usage: generate.sh [OUT_DIR] (default: reference/; another
# directory also keeps each project's dbt manifest.json beside its reference).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/reference}"
mkdir -p "$out"
projects=("$here/example")
for dir in "$here"/fixtures/*/; do
  [ -d "$dir" ] && projects+=("${dir%/}")
done
for project in "${projects[@]}"; do
  name="$(basename "$project")"
  python3 "$here/dbt_reference.py" --project "$project" --out "$out/$name.json" --no-docs >/dev/null
  # Keep the comparison data only (the run's logs are for debugging); outside the
  # committed reference/ also dbt's manifest.json, which the conformance test reads
  # through the catalog's typed model and compares with ours.
  if [ "$out" != "$here/reference" ] && [ -f "$out/$name.json.artifacts/manifest.json" ]; then
    find "$out/$name.json.artifacts" -type f ! -name manifest.json -delete
  else
    rm -rf "$out/$name.json.artifacts"
  fi
  echo "reference: $name"
done
