#!/usr/bin/env bash
# The Python client integrators generate from openapi/schema.yaml works: openapi-python-client
# (pinned) generates it into a temp dir, every module imports (clients/import_all.py), and one
# evaluation cycle runs through it against a live server over a fresh SQLite database, with
# API keys only (clients/drive_cycle.py). About 40 seconds; network for the first pip install.
#
# Knobs: PYTHON (python3), CLIENTS_VENV (a venv kept between runs; default: a temp one),
# CLIENT_CHECK_KEEP=1 keeps the temp dir (generated client, server log).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

PYTHON="${PYTHON:-python3}"
OPC_VERSION="$(sed -n 's/.*"openapi-python-client==\([^"]*\)".*/\1/p' pyproject.toml)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/dxapi-client.XXXXXX")"
SERVER_PID=""
STATUS=1
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  if [ "$STATUS" -eq 0 ] && [ "${CLIENT_CHECK_KEEP:-0}" != 1 ]; then
    rm -rf "$WORK"
  else
    echo "generated client and server log kept in $WORK"
  fi
}
trap cleanup EXIT

# --- openapi-python-client, pinned by the `clients` extra, in its own venv -------------------
VENV="${CLIENTS_VENV:-$WORK/venv}"
if [ ! -x "$VENV/bin/openapi-python-client" ] \
  || ! "$VENV/bin/python" -m pip show openapi-python-client 2>/dev/null | grep -qx "Version: $OPC_VERSION"; then
  echo "== installing openapi-python-client $OPC_VERSION"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet "openapi-python-client==$OPC_VERSION"
fi

# --- generate, install, import every module --------------------------------------------------
# The xlsx media type is binary to the client (bytes), as the schema says.
cat >"$WORK/config.yaml" <<'YAML'
package_name_override: dxapi_client
project_name_override: dxapi-client
post_hooks: []
content_type_overrides:
  application/vnd.openxmlformats-officedocument.spreadsheetml.sheet: application/octet-stream
YAML
echo "== generating the client from openapi/schema.yaml"
"$VENV/bin/openapi-python-client" generate --path openapi/schema.yaml --config "$WORK/config.yaml" \
  --output-path "$WORK/dxapi-client" --fail-on-warning >"$WORK/generate.log" 2>&1 \
  || { grep -v '^WARNING: Location' "$WORK/generate.log"; exit 1; }
"$VENV/bin/python" -m pip install --quiet "$WORK/dxapi-client"
"$VENV/bin/python" clients/import_all.py dxapi_client

# --- a live server over a fresh SQLite database, and API keys ----------------------------------
export DJANGO_SETTINGS_MODULE=dxapi.settings
export DATABASE_URL="sqlite:///$WORK/db.sqlite3" DEBUG=0 ALLOWED_HOSTS=127.0.0.1
export SECURE_SSL_REDIRECT=0 LOG_FORMAT=plain
export THROTTLE_ANON=1000000/minute THROTTLE_USER=1000000/minute THROTTLE_API_KEY=1000000/minute
SECRET_KEY="$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(50))')"
export SECRET_KEY
unset REDIS_URL CSRF_TRUSTED_ORIGINS CORS_ALLOWED_ORIGINS
# No Redis here: a memory cache per worker (no key is revoked while the cycle runs).
export ALLOW_LOCAL_CACHE=1
.venv/bin/python manage.py migrate --no-input -v 0
.venv/bin/python manage.py load_plan >/dev/null
DXAPI_SECRETARIAT_KEY="$(.venv/bin/python manage.py create_api_key --plan akita-dx --role secretariat | tail -1)"
DXAPI_EDITOR_KEY="$(.venv/bin/python manage.py create_api_key --plan akita-dx --role editor --department kikaku-shinko | tail -1)"
export DXAPI_SECRETARIAT_KEY DXAPI_EDITOR_KEY
PORT="$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
.venv/bin/gunicorn dxapi.wsgi -b "127.0.0.1:$PORT" -w 2 --timeout 60 >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$PORT/api/v1/plans/" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
  sleep 0.2
done

echo "== one evaluation cycle through the generated client"
(cd "$WORK" && env -u DJANGO_SETTINGS_MODULE "$VENV/bin/python" "$ROOT/clients/drive_cycle.py" \
  "http://127.0.0.1:$PORT") || { tail -30 "$WORK/server.log"; exit 1; }
STATUS=0
echo "Python client: OK"
