#!/usr/bin/env bash
# Runs one benchmark (`send` or `sync`) against the real broker and database: provisions them unless
# KAFKA_BROKERS / DATABASE_URL are set, builds, migrates a separate `<db>_bench` database, then runs
# scripts/bench/<name>.bench.ts, which starts the services it needs and writes its section of
# docs/benchmarks.md. Not a test: nothing here passes or fails on timing. BENCH_* variables pass
# through to the benchmark (bench:send's are listed in scripts/bench/send-settings.ts, bench:sync's
# in scripts/bench/sync-settings.ts).
#
# To run beside another system on the same machine, give the benchmark a broker and a database of
# its own: KAFKA_INSTANCE, KAFKA_PORT and KAFKA_CONTROLLER_PORT choose the local broker (see
# scripts/infra/up.sh), BENCH_DATABASE_URL the database, used as it is instead of `<db>_bench`.
# With such a broker instance, BENCH_FRESH=1 starts the broker empty and the database anew, so no
# figure depends on what earlier runs left (table sizes, plans); the broker of `npm run up` is never emptied.
set -euo pipefail
cd "$(dirname "$0")/../.."
name=${1:?usage: scripts/bench/run.sh send|sync}

fresh=0
if [ "${BENCH_FRESH:-0}" = 1 ]; then
  if [ -n "${KAFKA_BROKERS:-}" ] || [ "${KAFKA_INSTANCE:-kafka}" = kafka ]; then
    echo "BENCH_FRESH=1 empties the broker: only with a local broker instance of the benchmark's own (KAFKA_INSTANCE=<name>, without KAFKA_BROKERS)" >&2
    exit 1
  fi
  fresh=1
  export KAFKA_FRESH=1
fi

# The system of `npm run up` shares consumer groups with the benchmark only on the same broker.
if [ -z "${KAFKA_BROKERS:-}" ] && [ "${KAFKA_INSTANCE:-kafka}" = kafka ]; then
  # shellcheck source=scripts/require-system-stopped.sh
  source scripts/require-system-stopped.sh
fi
bash scripts/infra/up.sh >/dev/null
# up.sh writes the addresses of a broker instance other than the default one to a file of its own.
if [ "${KAFKA_INSTANCE:-kafka}" = kafka ]; then infra_env=.cache/infra/env; else infra_env=.cache/infra/$KAFKA_INSTANCE.env; fi
# shellcheck disable=SC1090
source "$infra_env"
if [ -n "${BENCH_DATABASE_URL:-}" ]; then
  DATABASE_URL=$BENCH_DATABASE_URL
else
  # A database of its own next to the system's, so benchmark data never mixes with anything else.
  DATABASE_URL=$(node -e 'const u = new URL(process.argv[1]); u.pathname += "_bench"; console.log(u.toString())' "$DATABASE_URL")
fi
if [ "$fresh" = 1 ]; then
  # The broker was emptied: checkpoints left in the database would point past its partitions' ends.
  node scripts/infra/postgres-db.js recreate "$DATABASE_URL"
else
  node scripts/infra/postgres-db.js ensure "$DATABASE_URL" >/dev/null
fi
export KAFKA_BROKERS DATABASE_URL TEST_DATABASE_URL=$DATABASE_URL

npm run build --silent
node dist/out-tsc/scripts/migrate.js >/dev/null
TS_NODE_TRANSPILE_ONLY=true TS_NODE_PROJECT=tsconfig.json \
  exec node ${BENCH_NODE_FLAGS:-} -r ts-node/register -r tsconfig-paths/register "scripts/bench/$name.bench.ts"
