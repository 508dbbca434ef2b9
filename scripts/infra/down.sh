#!/usr/bin/env bash
# Stops what scripts/infra/up.sh started: the local Kafka broker (SIGTERM, so it shuts down in a
# controlled way, and waits for it to exit) and the embedded Postgres. Servers that up.sh merely
# used (KAFKA_BROKERS, DATABASE_URL, a Postgres on 5432) are never touched. Data stays in .cache/.
#   --keep-postgres   leave the embedded Postgres running (another system may be using it)
set -euo pipefail
keep_postgres=false
[ "${1:-}" = --keep-postgres ] && keep_postgres=true
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=scripts/infra/common.sh
source scripts/infra/common.sh

mkdir -p "$CACHE_DIR/infra"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE_DIR/infra/up.lock"
  flock 9
fi

pid=$(broker_pid)
if is_our_broker "$pid"; then
  info "stopping Kafka (pid $pid)"
  stop_broker_pid "$pid" "${KAFKA_STOP_TIMEOUT:-60}"
  info "Kafka stopped"
elif [ -n "$pid" ]; then
  info "Kafka (pid $pid) is not running"
fi
rm -f "$KAFKA_PID_FILE"

# The SCRAM test broker, if a test run left it behind.
if [ -f "$CACHE_DIR/kafka-scram/kafka.pid" ]; then
  bash scripts/infra/scram-broker.sh down 9>&-
fi

# Only a cluster in our own .cache/postgres is ever stopped.
if [ "$keep_postgres" = false ] && [ -f "$PG_HOME/data/PG_VERSION" ]; then
  node scripts/infra/embedded-postgres.js stop
fi

rm -f "$INFRA_ENV_FILE"
