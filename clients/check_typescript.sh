#!/usr/bin/env bash
# TypeScript integrators' types from openapi/schema.yaml compile: openapi-typescript generates
# them (pinned, with openapi-fetch and typescript, installed by npm in a temp dir) and
# clients/ts/example.ts type-checks against them with `tsc --strict --noEmit`. About 20
# seconds; network for npm.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

OPENAPI_TYPESCRIPT=7.13.0
OPENAPI_FETCH=0.17.0
TYPESCRIPT=5.9.3

WORK="$(mktemp -d "${TMPDIR:-/tmp}/dxapi-ts.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
echo '{"name": "dxapi-ts-check", "private": true, "type": "module"}' >package.json
echo "== npm install openapi-typescript@$OPENAPI_TYPESCRIPT openapi-fetch@$OPENAPI_FETCH typescript@$TYPESCRIPT"
npm install --silent --no-audit --no-fund --save-exact \
  "openapi-typescript@$OPENAPI_TYPESCRIPT" "openapi-fetch@$OPENAPI_FETCH" "typescript@$TYPESCRIPT"
npx --no-install openapi-typescript "$ROOT/openapi/schema.yaml" -o schema.d.ts
cp "$ROOT/clients/ts/example.ts" .
npx --no-install tsc --strict --noEmit --target es2022 --module esnext \
  --moduleResolution bundler --lib es2022,dom example.ts
echo "TypeScript client: OK"
