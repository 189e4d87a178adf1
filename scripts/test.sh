#!/usr/bin/env bash
# The README's test command (`npm test`), and exactly what CI runs: bootstrap, static checks,
# then unit, workflow (real local Temporal) and integration (the lab) tests.
#
#   npm test                 # everything
#   npm test -- --keep-lab   # leave the lab running afterwards
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

keep_lab=0
for arg in "$@"; do
  case "$arg" in
    --keep-lab) keep_lab=1 ;;
    -h | --help)
      sed -n '2,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "test: unknown argument: $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

started=$(date +%s)
step() { printf '\n== %s (%ss)\n' "$1" "$(($(date +%s) - started))"; }

step "bootstrap"
bash scripts/bootstrap.sh
# shellcheck source=/dev/null
source .tools/env

step "static checks: types, lint, format, shell scripts"
npx tsc --noEmit -p .
npx eslint .
npx prettier --check .
"$SHELLCHECK_PATH" scripts/*.sh .ci/run

step "build"
npm run --silent build

step "lab up"
npx tsx lab/main.ts up
if [ "$keep_lab" = 0 ]; then
  trap 'step "lab down"; npx tsx lab/main.ts down || true' EXIT
fi

step "tests: unit, workflow, integration"
mkdir -p .data
status=0
# --forceExit: a handle some library leaves open must not hold CI until its time limit.
npx jest --ci --runInBand --forceExit --json --outputFile=.data/jest-results.json || status=$?
# The summary is JavaScript: its ${...} are template literals, not shell expansions.
# shellcheck disable=SC2016
node -e '
  const r = require("./.data/jest-results.json");
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (r.numPendingTests ? `, ${r.numPendingTests} skipped` : ""));
' || true
step "done"
exit "$status"
