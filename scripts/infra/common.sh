# Shared by up.sh and down.sh: where the locally provisioned infrastructure keeps its state.
# Everything lives under the git-ignored .cache/ of the repository, so `rm -rf .cache` resets it.
# Sourced, not executed; the caller has already cd'ed to the repository root.
# shellcheck shell=bash disable=SC2034 # the variables are used by the scripts that source this

KAFKA_VERSION=4.3.1
KAFKA_PORT=${KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-19093}

# Absolute because the JVM and Postgres resolve relative paths against their own working directory.
CACHE_DIR="$PWD/.cache"
# The jars are shared; each broker instance keeps its state in a folder of its own, so the test
# suite's broker (KAFKA_INSTANCE=kafka-test) never touches the one `npm run up` runs.
KAFKA_HOME="$CACHE_DIR/kafka"
KAFKA_LIB="$KAFKA_HOME/lib"
KAFKA_INSTANCE=${KAFKA_INSTANCE:-kafka}
KAFKA_STATE="$CACHE_DIR/$KAFKA_INSTANCE"
KAFKA_DATA="$KAFKA_STATE/data"
KAFKA_LOGS="$KAFKA_STATE/logs"
KAFKA_PID_FILE="$KAFKA_STATE/kafka.pid"
KAFKA_OUT="$KAFKA_STATE/kafka.out"
KAFKA_SERVER_PROPS="$KAFKA_STATE/server.properties"
KAFKA_CLUSTER_ID_FILE="$KAFKA_STATE/cluster.id"

PG_HOME="$CACHE_DIR/postgres"
if [ "$KAFKA_INSTANCE" = kafka ]; then INFRA_ENV_FILE="$CACHE_DIR/infra/env"; else INFRA_ENV_FILE="$CACHE_DIR/infra/$KAFKA_INSTANCE.env"; fi

info() { printf '[infra] %s\n' "$*" >&2; }
die() {
  printf '[infra] error: %s\n' "$*" >&2
  exit 1
}

# kill -0 alone counts a zombie as alive: a broker that this very shell started and that died is one
# until it is reaped.
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  [ -r "/proc/$1/stat" ] || return 0
  [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

# True when $1 is a live java process started with our server.properties, so a recycled pid never
# makes us adopt or signal somebody else's process. Reads the argument vector itself rather than
# grepping it: a grep for the path would match its own command line.
is_our_broker() {
  local pid=$1 i args=()
  [ -n "$pid" ] && alive "$pid" || return 1
  [ -r "/proc/$pid/cmdline" ] || return 0 # no procfs (macOS): the pid check is all we have
  mapfile -d '' args <"/proc/$pid/cmdline" 2>/dev/null || return 1
  [[ "${args[0]:-}" == *java ]] || return 1
  for ((i = 1; i + 1 < ${#args[@]}; i++)); do
    if [ "${args[i]}" = kafka.Kafka ] && [ "${args[i + 1]}" = "$KAFKA_SERVER_PROPS" ]; then return 0; fi
  done
  return 1
}

broker_pid() {
  if [ -f "$KAFKA_PID_FILE" ]; then cat "$KAFKA_PID_FILE"; fi
}

# SIGTERM makes the broker do a controlled shutdown (flush, close logs cleanly); only if it is
# stuck past the grace period is it killed.
stop_broker_pid() {
  local pid=$1 grace=${2:-60}
  kill -TERM "$pid" 2>/dev/null || return 0
  local waited=0
  while alive "$pid"; do
    if [ "$waited" -ge $((grace * 5)) ]; then
      info "broker (pid $pid) still running after ${grace}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
    waited=$((waited + 1))
  done
}

# Runs a Kafka tool or the broker from the fetched jars (LOG4J_CONFIG and KAFKA_LOGS set by the caller).
kafka_java() {
  java -Dlog4j2.configurationFile="$LOG4J_CONFIG" -Dkafka.logs.dir="$KAFKA_LOGS" -cp "$KAFKA_LIB/*" "$@"
}

# The server.properties lines every single-node broker of ours shares: one replica of every internal
# topic (or the group coordinator never becomes available), no rebalance delay, no auto-created topics.
single_node_settings() {
  cat <<EOF
log.dirs=$KAFKA_DATA
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
auto.create.topics.enable=false
EOF
}
