#!/usr/bin/env bash
# The whole test suite, as CI runs it: real Kafka and Postgres (provisioned unless KAFKA_BROKERS /
# DATABASE_URL are given), lint with enforced module boundaries, proto lint, typecheck + build,
# migrations, then every jest project (unit, integration and end-to-end tiers).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "dependencies"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm install --no-audit --no-fund
fi

step "tools"
# kcat is the independent Kafka client the integration tests produce commands with.
if ! command -v kcat >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get install -y -qq kcat >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq kcat; })
  else
    echo "kcat is required by the integration tests: install it (Debian/Ubuntu: sudo apt-get install kcat)" >&2
    exit 1
  fi
fi

step "infrastructure"
fresh=()
if [ -z "${KAFKA_BROKERS:-}" ]; then
  # The suite's own broker beside (never instead of) the one `npm run up` runs, started empty on
  # every run, with a test database created anew to match: every run starts from the same state,
  # and a running system is left alone. KAFKA_FRESH goes to this call only.
  export KAFKA_INSTANCE=kafka-test KAFKA_PORT=${TEST_KAFKA_PORT:-19192} KAFKA_CONTROLLER_PORT=${TEST_KAFKA_CONTROLLER_PORT:-19193}
  KAFKA_FRESH=1 bash scripts/infra/up.sh
  fresh=(--fresh)
  env_file=.cache/infra/kafka-test.env
else
  bash scripts/infra/up.sh
  env_file=.cache/infra/env
fi
# shellcheck disable=SC1090
source "$env_file"

# Tests get their own database on the same server unless one was given explicitly.
if [ -z "${TEST_DATABASE_URL:-}" ]; then
  TEST_DATABASE_URL=$(node scripts/test-database.js "$DATABASE_URL" "${fresh[@]}")
fi
export TEST_DATABASE_URL DATABASE_URL="$TEST_DATABASE_URL" KAFKA_BROKERS

step "lint (eslint + module boundaries, buf lint)"
npx nx run-many -t lint --outputStyle=static
npx buf lint

step "typecheck and build"
npm run build --silent

step "migrations"
node dist/out-tsc/scripts/migrate.js

step "tests"
# One worker: the integration tiers share one broker and database, and start real service processes.
npx jest --runInBand --ci "$@"
