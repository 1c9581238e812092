#!/usr/bin/env bash
# Re-creates reference/<name>.json for example/ and every fixtures/<name>/ by running
# real dbt-core + dbt-duckdb (the venv of .ci/requirements-dbt.txt) through
# dbt_reference.py. Usage: generate.sh [OUT_DIR] (default: reference/).
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
  # keep the comparison data only (the run's artifacts and logs are for debugging)
  rm -rf "$out/$name.json.artifacts"
  echo "reference: $name"
done
