#!/usr/bin/env bash
# Serve the example project on a scratch SQLite database and let schemathesis throw
# requests generated from openapi.yaml at it: no 5xx, status codes, content types and
# bodies as documented, valid data accepted and invalid data refused.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${BIN:-.venv/bin}"
PORT="${SCHEMA_PORT:-8791}"
scratch="$(mktemp -d)"
export DATABASE_URL="sqlite:///$scratch/schema.sqlite3"

"$BIN/python" manage.py migrate --noinput -v0
"$BIN/python" manage.py runserver "127.0.0.1:$PORT" --noreload >"$scratch/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$scratch"' EXIT
for _ in $(seq 50); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/imcallback/" && break
    sleep 0.2
done

"$BIN/st" run openapi.yaml --url "http://127.0.0.1:$PORT" --checks all \
    --max-examples "${SCHEMA_EXAMPLES:-100}" --seed "${SCHEMA_SEED:-1}"
