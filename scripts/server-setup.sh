#!/bin/sh
# Prepares a brand-new server for an emergency deploy: container engine, compose, deploy user,
# the app's directories, firewall. The worker runs it over SSH as
#   sh -c "<this text>" server-setup --base-dir DIR --project NAME --compose "docker compose" \
#     --deploy-user USER [--open-ports "18080 18081"]
# so every value arrives as an argument and is validated here before it is used; nothing is
# ever evaluated as shell text.
#
# Each step prints exactly one line on stdout, `setup <step> done <detail>` or
# `setup <step> skipped <detail>`; installer output goes to stderr. A second run on the same
# host prints only `skipped` lines.
#
# Exit codes: 0 ready; 1 a step failed (stderr: `setup <step> failed: <why>`); 2 bad arguments.
# SERVER_SETUP_NO_INSTALL=1: never install packages or start services (a missing engine or
# compose command fails instead), for tests and for hosts where that is somebody else's job.
set -eu
# Globbing is never wanted: the compose words and ports are split on spaces below.
set -f
# English tool output (ufw status is parsed) and ASCII ranges in the validation patterns.
LC_ALL=C
export LC_ALL

NL='
'

usage_error() {
  printf 'server-setup: %s\n' "$1" >&2
  exit 2
}

fail() {
  printf 'setup %s failed: %s\n' "$1" "$2" >&2
  exit 1
}

# did STEP DETAIL / skipped STEP DETAIL: the one stdout line of a step.
did() {
  printf 'setup %s done %s\n' "$1" "$2"
}

skipped() {
  printf 'setup %s skipped %s\n' "$1" "$2"
}

# bad FLAG VALUE RULE
bad() {
  usage_error "$1 '$2' is invalid: must be $3"
}

base_dir=
project=
compose=
deploy_user=
open_ports=
while [ $# -gt 0 ]; do
  case $1 in
  --base-dir | --project | --compose | --deploy-user | --open-ports)
    [ $# -ge 2 ] || usage_error "$1 needs a value"
    case $1 in
    --base-dir) base_dir=$2 ;;
    --project) project=$2 ;;
    --compose) compose=$2 ;;
    --deploy-user) deploy_user=$2 ;;
    --open-ports) open_ports=$2 ;;
    esac
    shift 2
    ;;
  *)
    usage_error "unknown argument '$1' (flags: --base-dir --project --compose --deploy-user --open-ports)"
    ;;
  esac
done

for required in base-dir project compose deploy-user; do
  case $required in
  base-dir) value=$base_dir ;;
  project) value=$project ;;
  compose) value=$compose ;;
  deploy-user) value=$deploy_user ;;
  esac
  [ -n "$value" ] || usage_error "--$required is required"
done

# The same rules as src/config/schema.ts, so a valid environment config always passes here.
rule='an absolute path of letters, digits and _ . / - only, without ".." segments, at most 200 characters'
case $base_dir in
/*) ;;
*) bad --base-dir "$base_dir" "$rule" ;;
esac
case $base_dir in *[!A-Za-z0-9_./-]*) bad --base-dir "$base_dir" "$rule" ;; esac
case /$base_dir/ in */../*) bad --base-dir "$base_dir" "$rule" ;; esac
[ "${#base_dir}" -le 200 ] || bad --base-dir "$base_dir" "$rule"

rule='lowercase letters, digits and "-" only, starting with a letter, at most 40 characters'
case $project in
[a-z]*) ;;
*) bad --project "$project" "$rule" ;;
esac
case $project in *[!a-z0-9-]*) bad --project "$project" "$rule" ;; esac
[ "${#project}" -le 40 ] || bad --project "$project" "$rule"

rule='one to three plain command words of lowercase letters, digits and "-", e.g. "docker compose" or "docker-compose"'
case $compose in *[!a-z0-9\ -]*) bad --compose "$compose" "$rule" ;; esac
# shellcheck disable=SC2086 # splitting into words is the point; the characters were checked above
set -- $compose
[ $# -ge 1 ] && [ $# -le 3 ] || bad --compose "$compose" "$rule"
for word in "$@"; do
  case $word in
  [a-z]*) ;;
  *) bad --compose "$compose" "$rule" ;;
  esac
done

rule='a Unix user name: lowercase letters, digits, "_" and "-", starting with a letter or "_", at most 32 characters'
case $deploy_user in
[a-z_]*) ;;
*) bad --deploy-user "$deploy_user" "$rule" ;;
esac
case $deploy_user in *[!a-z0-9_-]*) bad --deploy-user "$deploy_user" "$rule" ;; esac
[ "${#deploy_user}" -le 32 ] || bad --deploy-user "$deploy_user" "$rule"

rule='TCP port numbers 1-65535 separated by spaces'
case $open_ports in *[!0-9\ ]*) bad --open-ports "$open_ports" "$rule" ;; esac
# shellcheck disable=SC2086 # see --compose
set -- $open_ports
for port in "$@"; do
  case $port in
  0*) bad --open-ports "$open_ports" "$rule" ;;
  esac
  [ "${#port}" -le 5 ] && [ "$port" -le 65535 ] || bad --open-ports "$open_ports" "$rule"
done

# with_deadline SECONDS CMD...: a hung daemon must not hang the deploy that waits for us.
with_deadline() {
  if command -v timeout >/dev/null 2>&1; then
    timeout "$@"
  else
    shift
    "$@"
  fi
}

first_line() {
  printf '%s' "${1%%"$NL"*}"
}

# Why this script may not change the system (empty when it may).
no_install_reason() {
  if [ "${SERVER_SETUP_NO_INSTALL:-0}" = 1 ]; then
    echo 'installing is disabled (SERVER_SETUP_NO_INSTALL=1)'
  elif [ "$(id -u)" != 0 ]; then
    echo 'not root, so nothing can be installed'
  elif ! command -v apt-get >/dev/null 2>&1; then
    echo 'no apt-get on this host to install it with'
  fi
}

apt_updated=0
install_package() {
  if [ "$apt_updated" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get -q -y update >&2 || return 1
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get -q -y install "$1" >&2
}

# Prints the engine's version when it answers.
engine_version() {
  command -v docker >/dev/null 2>&1 || return 1
  version=$(with_deadline 20 docker version --format '{{.Server.Version}}' 2>/dev/null) || version=
  version=$(first_line "$version")
  if [ -z "$version" ]; then
    with_deadline 20 docker info >/dev/null 2>&1 || return 1
    version='(version not reported)'
  fi
  printf '%s\n' "$version"
}

# Succeeds when a service manager accepted the start (the caller then waits for the socket).
start_engine_service() {
  if command -v systemctl >/dev/null 2>&1 && systemctl enable --now docker >&2; then
    return 0
  fi
  command -v service >/dev/null 2>&1 && service docker start >&2
}

# A freshly installed daemon takes a moment to open its socket.
wait_engine() {
  tries=0
  while [ "$tries" -lt 30 ]; do
    engine_version && return 0
    tries=$((tries + 1))
    sleep 1
  done
  return 1
}

# run_compose ARGS...: the configured compose command with ARGS.
run_compose() {
  # shellcheck disable=SC2086 # see --compose
  set -- $compose "$@"
  with_deadline 20 "$@"
}

compose_version() {
  out=$(run_compose version 2>/dev/null) || return 1
  out=$(first_line "$out")
  [ -n "$out" ] || out='(version not reported)'
  printf '%s\n' "$out"
}

step_engine() {
  if version=$(engine_version); then
    skipped engine "docker $version answers"
    return
  fi
  reason=$(no_install_reason)
  [ -z "$reason" ] || fail engine "docker does not answer (docker version / docker info) and $reason"
  if command -v docker >/dev/null 2>&1; then
    # Installed but not running, as after a reboot with the service disabled.
    if start_engine_service && version=$(wait_engine); then
      did engine "started the docker service, docker $version answers"
      return
    fi
  fi
  install_package docker.io || fail engine 'apt-get install docker.io failed (its output is on stderr)'
  # Debian starts the daemon on install where it can; where it cannot, start it ourselves.
  version=$(engine_version) || { start_engine_service && version=$(wait_engine); } ||
    fail engine 'installed docker.io, but docker still does not answer'
  did engine "installed docker.io, docker $version answers"
}

step_compose() {
  if version=$(compose_version); then
    skipped compose "$compose answers: $version"
    return
  fi
  reason=$(no_install_reason)
  [ -z "$reason" ] || fail compose "'$compose version' does not answer and $reason"
  install_package docker-compose || fail compose 'apt-get install docker-compose failed (its output is on stderr)'
  version=$(compose_version) || fail compose "installed docker-compose, but '$compose version' still does not answer"
  did compose "installed docker-compose, $compose answers: $version"
}

step_deploy_user() {
  if id -u "$deploy_user" >/dev/null 2>&1; then
    skipped deploy-user "user $deploy_user exists"
    return
  fi
  command -v useradd >/dev/null 2>&1 || fail deploy-user "user $deploy_user does not exist and there is no useradd"
  [ "$(id -u)" = 0 ] || fail deploy-user "user $deploy_user does not exist and only root can create it"
  # The deploy user runs compose, so it needs the engine's socket group when there is one.
  if grep -q '^docker:' /etc/group; then
    useradd --system --create-home --shell /bin/sh --groups docker "$deploy_user" >&2 ||
      fail deploy-user "useradd $deploy_user failed"
    did deploy-user "created system user $deploy_user (group docker)"
  else
    useradd --system --create-home --shell /bin/sh "$deploy_user" >&2 ||
      fail deploy-user "useradd $deploy_user failed"
    did deploy-user "created system user $deploy_user"
  fi
}

step_directories() {
  app_dir="${base_dir%/}/$project"
  if [ -d "$app_dir/releases" ] && [ -d "$app_dir/backups" ]; then
    skipped directories "$app_dir exists"
    return
  fi
  mkdir -p "$app_dir/releases" "$app_dir/backups" || fail directories "cannot create $app_dir"
  # Release records and database dumps are nobody else's business.
  chmod 0750 "$app_dir/releases" "$app_dir/backups" || fail directories "cannot chmod 0750 under $app_dir"
  if [ "$(id -u)" = 0 ] && [ "$deploy_user" != root ]; then
    chown "$deploy_user" "$app_dir" "$app_dir/releases" "$app_dir/backups" ||
      fail directories "cannot give $app_dir to $deploy_user"
  fi
  did directories "created $app_dir/releases and $app_dir/backups (0750, owner $deploy_user)"
}

step_firewall() {
  if ! command -v ufw >/dev/null 2>&1; then
    skipped firewall 'no ufw on this host'
    return
  fi
  # A non-root deploy user re-running setup: the first, root run did the firewall; ufw refuses
  # everyone else, even to read its status.
  if [ "$(id -u)" != 0 ]; then
    skipped firewall "ufw needs root, not $(id -un): a run as root allows tcp 22${open_ports:+ $open_ports}"
    return
  fi
  status=$(ufw status 2>&1) || fail firewall "ufw status failed: $(first_line "$status")"
  case $status in
  'Status: active'*) ;;
  *)
    skipped firewall "ufw is not active ($(first_line "$status"))"
    return
    ;;
  esac
  missing=
  present=
  # shellcheck disable=SC2086 # see --open-ports
  for port in 22 $open_ports; do
    case " $missing $present " in *" $port "*) continue ;; esac
    if printf '%s\n' "$status" | grep -Eq "^$port(/tcp)?[[:space:]]+ALLOW([[:space:]]+IN)?[[:space:]]+Anywhere([[:space:]]|\$)"; then
      present="$present $port"
    else
      ufw allow "$port/tcp" >&2 || fail firewall "ufw allow $port/tcp failed"
      missing="$missing $port"
    fi
  done
  if [ -n "$missing" ]; then
    did firewall "allowed tcp${missing}"
  else
    skipped firewall "tcp${present} already allowed"
  fi
}

step_engine
step_compose
step_deploy_user
step_directories
step_firewall
