#!/usr/bin/env bash
# Sourced by the test and benchmark commands. They start their own service processes on the local
# broker, in the same consumer groups as the system `npm run up` started: with both running, Kafka
# would split the partitions between them and each would miss records. So they refuse, clearly.
# shellcheck shell=bash
for pid_file in .cache/run/*.pid; do
  [ -e "$pid_file" ] || continue
  if kill -0 "$(cat "$pid_file")" 2>/dev/null; then
    echo "The system started by \`npm run up\` is running ($(basename "$pid_file" .pid) and maybe others) on the broker these" >&2
    echo "tests would use; both would share consumer groups. Stop it first with \`npm run down\`, or point this" >&2
    echo "command at another broker and database with KAFKA_BROKERS and DATABASE_URL." >&2
    exit 1
  fi
done
