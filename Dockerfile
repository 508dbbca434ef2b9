# syntax=docker/dockerfile:1
# One image per service, from the same build (docs/adr/0007-one-dockerfile-image-per-service.md):
# APP (channels | subscriptions | fanout | conversations) picks the default command; any image also
# runs the migrations with
#   node dist/out-tsc/scripts/migrate.js
#   docker build --build-arg APP=channels -t im-backend/channels:local .
ARG NODE_IMAGE=node:24-bookworm-slim

# ---- build: full dependencies from the lockfile, compile TypeScript ----
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# ---- production dependencies only; no install scripts needed at run time ----
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# ---- runtime ----
FROM ${NODE_IMAGE} AS runtime
ARG APP=channels
LABEL org.opencontainers.image.title="im-backend-${APP}" \
      org.opencontainers.image.description="Event-sourced instant-messaging backend: ${APP} service" \
      org.opencontainers.image.licenses="MIT"
ENV NODE_ENV=production \
    IM_APP=${APP}
# The services need node only: package managers are attack surface and weight at run time.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
      /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-*
WORKDIR /app
COPY --from=prod-deps /src/node_modules ./node_modules
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/dist ./dist
# Loaded at run time by @grpc/proto-loader, found by walking up from dist/ (libs/contracts/src/grpc.ts).
COPY --from=build /src/libs/contracts/proto ./libs/contracts/proto
COPY --chmod=0755 scripts/infra/container-entrypoint.sh scripts/infra/healthcheck.js ./scripts/infra/
# The image's `node` user, by number so Kubernetes' runAsNonRoot can verify it without a passwd
# lookup. Everything under /app belongs to root: the process cannot modify its own code.
USER 1000:1000
EXPOSE 50051-50054 9091-9094
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["node", "scripts/infra/healthcheck.js"]
ENTRYPOINT ["/app/scripts/infra/container-entrypoint.sh"]
