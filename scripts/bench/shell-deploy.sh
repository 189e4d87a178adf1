#!/usr/bin/env bash
# The baseline of `npm run bench:overhead`: one release of a compose app, deployed the way a
# small team's folder of bash scripts would, one ssh command per step, nothing durable:
# upload, pull, backup, migrate, up per service, health, record. Prints "step <name> <ms>"
# per step. Every value comes from the environment (scripts/bench/overhead.ts sets them):
#
#   SSH_TARGET SSH_PORT SSH_KEY KNOWN_HOSTS   how to reach the host
#   REMOTE_DIR COMPOSE_COMMAND PROJECT       where the stack lives, the compose command, its name
#   LOCAL_DIR                                 the compose files and .env to upload
#   SERVICES READY_URLS                       web services, in order; readiness URLs to wait for
#   DB_SERVICE DB_USER DB_NAME                the database to dump before migrating
#   MIGRATE_SERVICE MIGRATE_COMMAND RELEASE   the one-off migration; the release to record
#   FIRST_DEPLOY=1                            the stack is new: start it and wait for the database
set -euo pipefail

ms() { date +%s%3N; }
step_started=0
begin() { step_started=$(ms); }
finish() { echo "step $1 $(($(ms) - step_started))"; }

ssh_opts=(-i "$SSH_KEY" -p "$SSH_PORT" -o "UserKnownHostsFile=$KNOWN_HOSTS" -o StrictHostKeyChecking=yes -o BatchMode=yes)
# The remote commands are built here on purpose: every value in them is quoted with q (%q).
# shellcheck disable=SC2029
on_host() { ssh "${ssh_opts[@]}" "$SSH_TARGET" "$@"; }

files=()
for f in "$LOCAL_DIR"/*.yml; do files+=(--file "$(basename "$f")"); done
q() { printf %q "$1"; }
in_dir="cd $(q "$REMOTE_DIR")"
compose="$in_dir && $COMPOSE_COMMAND --project-name $(q "$PROJECT") ${files[*]}"

begin
tar -C "$LOCAL_DIR" -cf - . | on_host "mkdir -p $(printf %q "$REMOTE_DIR") && tar -C $(printf %q "$REMOTE_DIR") -xf -"
finish upload

begin
on_host "$compose pull --quiet"
finish pull

if [ "${FIRST_DEPLOY:-0}" = 1 ]; then
  on_host "$compose up --detach && for i in \$(seq 120); do $compose exec -T $(q "$DB_SERVICE") pg_isready -q && exit 0; sleep 0.5; done; exit 1"
fi

begin
dump="backups/$(q "$RELEASE").dump"
on_host "$in_dir && mkdir -p backups && $compose exec -T $(q "$DB_SERVICE") pg_dump -U $(q "$DB_USER") -Fc $(q "$DB_NAME") > $dump && sha256sum $dump > $dump.sha256"
finish backup

begin
# MIGRATE_COMMAND is several words on purpose (the command and its arguments).
on_host "$compose run --rm --no-deps -T $(q "$MIGRATE_SERVICE") $MIGRATE_COMMAND"
finish migrate

begin
for service in $SERVICES; do on_host "$compose up --detach $(q "$service")"; done
finish up

begin
deadline=$(($(ms) + 60000))
for url in $READY_URLS; do
  until curl -fsS -o /dev/null --max-time 2 "$url"; do
    if [ "$(ms)" -gt "$deadline" ]; then
      echo "$url not ready after 60 s" >&2
      exit 1
    fi
    sleep 0.2
  done
done
finish health

begin
on_host "$in_dir && echo $(q "$RELEASE") > current-release"
finish record
