#!/usr/bin/env bash
# The published OpenAPI document, checked by tools nobody here wrote, against a live
# server (the debug binary) on a temporary project with one synced csv source:
#   1. a Python client generated from openapi/openapi.json by openapi-python-client
#      (no generator warnings, mypy --strict clean) drives the main flows;
#   2. the official `mcp` Python client drives the MCP server at /mcp (every tool, a
#      viewer key refused what viewers may not do);
#   3. schemathesis runs every check over every operation, with the flows' API key.
# Usage: .ci/api-contract.sh VENV (a venv of .ci/requirements-api.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="$1"
TARGET="${CARGO_TARGET_DIR:-/var/cache/dango/target}"
DANGO="$TARGET/debug/dango"
work="$(mktemp -d)"
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

EMAIL=contract@example.com
PASSWORD=Lilac-Granite-Ferry-42
export DANGO_ADMIN_EMAIL="$EMAIL" DANGO_ADMIN_PASSWORD="$PASSWORD" DANGO_LOG=warn
"$DANGO" --project "$work/project" init >/dev/null
cat > "$work/project/.dango/sources.yml" <<'YAML'
version: "1.0"
sources:
  - name: sales
    type: csv
    csv: {directory: data/uploads/sales}
YAML
"$DANGO" --project "$work/project" start --port 0 > "$work/server.log" 2>&1 &
server_pid=$!
url=""
for _ in $(seq 1 300); do
  url="$(sed -n 's/^Dango is running at \(http:[^ ]*\).*/\1/p' "$work/server.log" | head -n 1)"
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { cat "$work/server.log"; echo "the server did not start"; exit 1; }

echo "-- generated Python client"
PATH="$VENV/bin:$PATH" "$VENV/bin/openapi-python-client" generate --path openapi/openapi.json --meta none \
  --output-path "$work/dango_client" > "$work/generate.log" 2>&1 \
  || { cat "$work/generate.log"; exit 1; }
if grep -q "Warning" "$work/generate.log"; then
  cat "$work/generate.log"; echo "openapi-python-client warned about the document"; exit 1
fi
# What the document generates (models, operations) must type-check strictly; the
# generator's fixed client.py template is checked silently (its __exit__ signatures trip
# newer mypy versions whatever the document says).
(cd "$work" && "$VENV/bin/mypy" --strict --no-incremental --follow-imports=silent \
  dango_client/api dango_client/models dango_client/errors.py) \
  || { echo "the generated client does not type-check"; exit 1; }
PYTHONPATH="$work" "$VENV/bin/python" tests/clients/python_flows.py \
  "$url" "$EMAIL" "$PASSWORD" "$work/api-key"

field() { "$VENV/bin/python" -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$work/api-key" "$1"; }
echo "-- MCP: the official mcp client"
"$VENV/bin/python" tests/clients/mcp_flows.py "$url" "$EMAIL" "$PASSWORD" "$(field key)"

echo "-- schemathesis"
DANGO_API_KEY="$(field key)" DANGO_DECOY_KEY="$(field decoy_key_id)" DANGO_DECOY_USER="$(field decoy_user_id)" \
  "$VENV/bin/st" --config-file tests/clients/schemathesis.toml \
  run openapi/openapi.json --url "$url" \
  --checks all \
  --max-examples "${SCHEMATHESIS_EXAMPLES:-20}" \
  --max-time "${SCHEMATHESIS_SECONDS:-240}" \
  --workers 2 \
  --report junit --report-dir "$work/report" \
  --no-color
