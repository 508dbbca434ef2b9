#!/usr/bin/env bash
# Brings the whole system up on this machine: installs dependencies, provisions Kafka and Postgres
# (unless KAFKA_BROKERS / DATABASE_URL are given), builds, migrates, starts every service in the
# background and prints where they listen. `npm run down` stops the services (and what up started).
set -euo pipefail
cd "$(dirname "$0")/.."

RUN_DIR=.cache/run
SERVICES=(channels subscriptions fanout conversations)
declare -A GRPC_PORTS=([channels]=50051 [subscriptions]=50052 [fanout]=50053 [conversations]=50054)
declare -A HTTP_PORTS=([channels]=9091 [subscriptions]=9092 [fanout]=9093 [conversations]=9094)

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm install --no-audit --no-fund
fi
# shellcheck source=scripts/project-node.sh
source scripts/project-node.sh

bash scripts/infra/up.sh
# shellcheck disable=SC1091
source .cache/infra/env
export KAFKA_BROKERS DATABASE_URL

npm run build --silent
node dist/out-tsc/scripts/migrate.js

mkdir -p "$RUN_DIR"
for name in "${SERVICES[@]}"; do
  pid_file="$RUN_DIR/$name.pid"
  if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
    echo "$name already running (pid $(cat "$pid_file")); restarting it on the new build"
    kill "$(cat "$pid_file")" && while kill -0 "$(cat "$pid_file")" 2>/dev/null; do sleep 0.2; done
  fi
  GRPC_PORT=${GRPC_PORTS[$name]} HTTP_PORT=${HTTP_PORTS[$name]} \
    nohup node "dist/out-tsc/apps/$name/src/main.js" >"$RUN_DIR/$name.log" 2>&1 &
  echo $! >"$pid_file"
done

for name in "${SERVICES[@]}"; do
  port=${HTTP_PORTS[$name]}
  for _ in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$(cat "$RUN_DIR/$name.pid")" 2>/dev/null; then
      echo "$name failed to start; its log ($RUN_DIR/$name.log) ends with:" >&2
      tail -n 30 "$RUN_DIR/$name.log" >&2
      exit 1
    fi
    sleep 0.5
  done
  if ! curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1; then
    # The readiness body names what is not ready: a dependency, or a consumer (restarting, or halted
    # with the admin command that fixes it).
    echo "$name did not become ready: $(curl -sS "http://127.0.0.1:$port/health/ready" 2>&1); see $RUN_DIR/$name.log" >&2
    exit 1
  fi
done

# Ready means serving; a projection may still be replaying older records (after a rebuild, or on a
# new database), and reads through it answer UNAVAILABLE PROJECTION_BEHIND until it has. Wait for that
# here, showing what is left, so the addresses printed below answer every call.
lag_of() { curl -fsS "http://127.0.0.1:$1/metrics" 2>/dev/null | awk '/^im_kafka_consumer_lag\{/ { n++; s += $NF } END { if (n) print s; else print "?" }'; }
deadline=$((SECONDS + ${UP_CATCH_UP_TIMEOUT_S:-900}))
while :; do
  behind=0 report=""
  for name in "${SERVICES[@]}"; do
    lag=$(lag_of "${HTTP_PORTS[$name]}")
    if [ "$lag" != 0 ]; then behind=1 report="$report $name:$lag"; fi
  done
  [ "$behind" = 0 ] && break
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "projections still replaying after ${UP_CATCH_UP_TIMEOUT_S:-900} s (records left:$report); the services are up and catch up on their own" >&2
    break
  fi
  echo "replaying older records (records left:$report)"
  sleep 2
done

echo
echo "IM backend is up."
echo "  Kafka       $KAFKA_BROKERS"
echo "  Postgres    $DATABASE_URL"
for name in "${SERVICES[@]}"; do
  printf '  %-13s gRPC 127.0.0.1:%s   health/metrics http://127.0.0.1:%s/health/ready  /metrics   log %s\n' \
    "$name" "${GRPC_PORTS[$name]}" "${HTTP_PORTS[$name]}" "$RUN_DIR/$name.log"
done
echo "Stop with: npm run down"
