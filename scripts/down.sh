#!/usr/bin/env bash
# Stops the services started by `npm run up` (gracefully: SIGTERM), then the infrastructure it provisioned.
set -euo pipefail
cd "$(dirname "$0")/.."
for pid_file in .cache/run/*.pid; do
  [ -e "$pid_file" ] || continue
  pid=$(cat "$pid_file")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  fi
  rm -f "$pid_file"
done
bash scripts/infra/down.sh
