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
# shellcheck source=scripts/project-node.sh
source scripts/project-node.sh

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
  # Whatever this run starts, it stops when it ends (pass or fail): its broker, the SCRAM broker a
  # test may leave, and the embedded Postgres unless it was already running for someone else.
  keep_postgres=--keep-postgres
  if [ -z "${DATABASE_URL:-}" ] && ! node scripts/infra/embedded-postgres.js status >/dev/null 2>&1; then keep_postgres=; fi
  # KEEP_INFRA=1 leaves them running for a quicker rerun (`KAFKA_INSTANCE=kafka-test bash scripts/infra/down.sh --keep-postgres` stops them).
  if [ "${KEEP_INFRA:-}" != 1 ]; then
    trap 'step "stopping the suite'"'"'s infrastructure"; bash scripts/infra/down.sh $keep_postgres || true' EXIT
  fi
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

step "lint (prettier, eslint + module boundaries, buf lint, buf breaking against the published contract)"
npm run --silent format:check
npx nx run-many -t lint --outputStyle=static
npx buf lint
npm run --silent proto:breaking

step "typecheck and build"
npm run build --silent

step "migrations"
node dist/out-tsc/scripts/migrate.js

step "tests"
# One worker: the integration tiers share one broker and database, and start real service processes.
npx jest --runInBand --ci "$@"
