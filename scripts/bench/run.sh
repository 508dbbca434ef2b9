#!/usr/bin/env bash
# Runs one benchmark (`send` or `sync`) against the real broker and database: provisions them unless
# KAFKA_BROKERS / DATABASE_URL are set, builds, migrates a separate `<db>_bench` database, then runs
# scripts/bench/<name>.bench.ts, which starts the services it needs and writes its section of
# docs/benchmarks.md. Not a test: nothing here passes or fails on timing. BENCH_* variables pass
# through to the benchmark (bench:send's are listed in scripts/bench/send-settings.ts).
set -euo pipefail
cd "$(dirname "$0")/../.."
name=${1:?usage: scripts/bench/run.sh send|sync}

if [ -z "${KAFKA_BROKERS:-}" ]; then
  # shellcheck source=scripts/require-system-stopped.sh
  source scripts/require-system-stopped.sh
fi
bash scripts/infra/up.sh >/dev/null
# shellcheck disable=SC1091
source .cache/infra/env
# A database of its own next to the system's, so benchmark data never mixes with anything else.
DATABASE_URL=$(node -e 'const u = new URL(process.argv[1]); u.pathname += "_bench"; console.log(u.toString())' "$DATABASE_URL")
node scripts/infra/postgres-db.js ensure "$DATABASE_URL" >/dev/null
export KAFKA_BROKERS DATABASE_URL TEST_DATABASE_URL=$DATABASE_URL

npm run build --silent
node dist/out-tsc/scripts/migrate.js >/dev/null
TS_NODE_TRANSPILE_ONLY=true TS_NODE_PROJECT=tsconfig.json \
  exec node -r ts-node/register -r tsconfig-paths/register "scripts/bench/$name.bench.ts"
