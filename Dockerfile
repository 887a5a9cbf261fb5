# syntax=docker/dockerfile:1
#
# One image for both processes of dbaccess:
#   API (default):  node dist/src/api/server.js
#   worker:         node dist/src/worker/index.js
#   dev-stack seed: node dist/scripts/seed.js   (docker-compose.yml only)
#
# Debian (glibc), not Alpine: the Temporal worker's native core (@temporalio/core-bridge)
# ships Linux binaries for glibc only, and the workflow bundler's @swc/core is
# installed per libc from the lock file.
# Node 24 is the active LTS line; the major tag keeps receiving its security
# fixes on rebuild. Pin a digest here if builds must be byte-for-byte reproducible.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
# Dependencies first, so that a source change does not reinstall them.
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts ./scripts
# Build with the dev dependencies (TypeScript), then drop them: the runtime stage
# copies node_modules as it is after the prune.
RUN npm run build \
 && test -f dist/src/workflows/index.js \
 && test -f dist/workflows.bundle.js \
 && npm prune --omit=dev

FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
# --enable-source-maps: stack traces name the TypeScript lines (the maps carry
# their sources, see tsconfig.build.json).
# MALLOC_*: glibc's allocator gives memory back after a burst instead of keeping
# it in per-thread arenas (src/worker/process-tuning.ts; docs/performance.md). The worker
# also runs with --max-semi-space-size=4 (its command in docker-compose.yml).
ENV NODE_ENV=production \
    NODE_OPTIONS=--enable-source-maps \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=131072 \
    MALLOC_TRIM_THRESHOLD_=131072
# Owned by root and read-only for the process: the service never writes its own
# code or dependencies. The worker loads dist/workflows.bundle.js, the workflow code
# `npm run build` bundled (dist/src/workflows, dist/src/contract and dist/src/domain are its sources,
# kept for a worker that must bundle them itself when the bundle is missing).
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The `node` user of the official image, by number so that Kubernetes'
# runAsNonRoot can verify it without reading /etc/passwd.
USER 1000:1000
EXPOSE 3000
# For the API only (the worker serves no HTTP: docker-compose.yml disables it
# there). Plain node, no curl in the image; the port follows API_PORT.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.API_PORT || '3000') + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/src/api/server.js"]
