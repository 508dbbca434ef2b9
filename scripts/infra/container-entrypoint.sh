#!/bin/sh
# Entrypoint of the service image. Secrets arrive as files (compose or Kubernetes secrets), never as
# image layers or plain compose environment: for each supported NAME, NAME_FILE=path sets NAME to the
# file's content. PGPASSWORD is what the pg driver uses when DATABASE_URL carries no password;
# GRPC_AUTH_TOKENS are the bearer tokens gateway clients present.
# Then runs the given command, or the app chosen at build time (IM_APP).
set -eu

for name in PGPASSWORD DATABASE_URL KAFKA_SASL_PASSWORD GRPC_AUTH_TOKENS; do
  eval "file=\${${name}_FILE:-}"
  [ -n "$file" ] || continue
  if [ ! -r "$file" ]; then
    echo "entrypoint: ${name}_FILE=$file is not readable" >&2
    exit 1
  fi
  value=$(cat "$file")
  export "$name=$value"
  unset "${name}_FILE"
done
unset file value

if [ "$#" -eq 0 ]; then
  set -- node "dist/out-tsc/apps/${IM_APP:?IM_APP is not set: build with --build-arg APP=<service> or pass a command}/src/main.js"
fi
exec "$@"
