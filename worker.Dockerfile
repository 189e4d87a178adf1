# The deployctl worker as a container image. Build it from a checkout at the version you pin:
#   npm ci && npm run build && npm run worker-image -- --tag ghcr.io/acme/deployctl-worker:0.1.0
# scripts/worker-image.ts stages the build context: what the package ships (dist/src, bin,
# scripts/server-setup.sh), package.json, the lockfile and the production node_modules.
ARG BASE=node:20-bookworm-slim
FROM ${BASE}

# git: quality gates and app repositories (ssh for git over SSH); pg_restore: backup verification.
# Installed only when the base lacks them (the lab's base has them; it has no package mirror).
RUN missing=''; \
    command -v git >/dev/null 2>&1 || missing="$missing git"; \
    command -v ssh >/dev/null 2>&1 || missing="$missing openssh-client"; \
    command -v pg_restore >/dev/null 2>&1 || missing="$missing postgresql-client"; \
    if [ -n "$missing" ]; then \
      apt-get update && apt-get install -y --no-install-recommends ca-certificates $missing && \
      rm -rf /var/lib/apt/lists/*; \
    fi; \
    useradd --system --create-home --uid 10001 --shell /usr/sbin/nologin deployctl && \
    mkdir -p /var/lib/deployctl /etc/deployctl/environments && chown deployctl /var/lib/deployctl

WORKDIR /opt/deployctl
COPY . .

# Mount the environment configs at /etc/deployctl/environments (read-only), the deploy key where
# the configs' privateKeyPath says, and a volume at /var/lib/deployctl: the backup store and the
# app repositories' cache must outlive the container.
ENV NODE_ENV=production \
    DEPLOY_CONFIG_DIR=/etc/deployctl/environments \
    DEPLOY_WORKSPACE_DIR=/var/lib/deployctl/workspaces \
    DEPLOY_BACKUP_DIR=/var/lib/deployctl/backups
USER deployctl
ENTRYPOINT ["node", "/opt/deployctl/dist/src/worker.js"]
