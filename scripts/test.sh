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

mkdir -p .data
# The lab starts while the static checks and the build run: it needs neither, and it is mostly
# waiting on the container engine.
step "lab up (in the background, log in .data/lab-up.log)"
npx tsx lab/main.ts up >.data/lab-up.log 2>&1 &
lab_pid=$!
if [ "$keep_lab" = 0 ]; then
  # A failed static check exits here too: the lab is brought down once it has finished coming up.
  trap 'wait "$lab_pid" 2>/dev/null || true; step "lab down"; npx tsx lab/main.ts down || true' EXIT
fi

step "static checks: types, lint, format, shell scripts"
npx tsc --noEmit -p .
npx eslint .
npx prettier --check .
"$SHELLCHECK_PATH" scripts/*.sh scripts/bench/*.sh .ci/run

step "build"
npm run --silent build

# Unit and workflow tests need no lab: they run alongside the lab's start and the integration
# tests. --forceExit: a handle some library leaves open must not hold CI until its time limit.
step "tests: unit and workflow (in the background, log in .data/jest-unit-workflow.log)"
npx jest --ci --runInBand --forceExit --selectProjects unit workflow \
  --json --outputFile=.data/jest-unit-workflow.json >.data/jest-unit-workflow.log 2>&1 &
unit_workflow_pid=$!

step "lab up (waiting for it)"
lab_status=0
wait "$lab_pid" || lab_status=$?
cat .data/lab-up.log

# Two integration shards at once, on different lab hosts: the files that use only lab-2 (or no
# host, or spare hosts of their own: lab-4, fleet-1 … fleet-4) under their own projects and
# addresses, and the rest (lab-staging on lab-1, whose SSH
# durability cuts; drills on lab-2 under their own project). Each shard runs its files one at
# a time.
lab2_files='tests/integration/(colours|colourFailures|traffic|configCheck|temporalRestart|database|gates|releaseFiles|hostLock|firstDay|labReclaim|encryption|rollingWaves)\.test\.ts$'
integration_status=0
lab2_status=0
if [ "$lab_status" = 0 ]; then
  step "tests: integration (lab-2 files in the background, log in .data/jest-integration-lab2.log)"
  npx jest --ci --runInBand --forceExit --selectProjects integration --testPathPattern "$lab2_files" \
    --json --outputFile=.data/jest-integration-lab2.json >.data/jest-integration-lab2.log 2>&1 &
  lab2_pid=$!
  # Shown as it runs and kept in .data/jest-integration.log, which the secrets sweep reads.
  set +e
  npx jest --ci --runInBand --forceExit --selectProjects integration --testPathIgnorePatterns "$lab2_files" \
    --json --outputFile=.data/jest-integration.json 2>&1 | tee .data/jest-integration.log
  integration_status=${PIPESTATUS[0]}
  set -e
  step "tests: integration, lab-2 files (waiting for them)"
  wait "$lab2_pid" || lab2_status=$?
  cat .data/jest-integration-lab2.log
else
  echo "lab up failed (exit $lab_status): the integration tests cannot run" >&2
  integration_status=$lab_status
fi

step "tests: unit and workflow (waiting for them)"
unit_workflow_status=0
wait "$unit_workflow_pid" || unit_workflow_status=$?
cat .data/jest-unit-workflow.log

# The summary is JavaScript: its ${...} are template literals, not shell expansions.
# shellcheck disable=SC2016
node -e '
  for (const [what, file] of [["unit and workflow", "./.data/jest-unit-workflow.json"], ["integration", "./.data/jest-integration.json"], ["integration, lab-2 files", "./.data/jest-integration-lab2.json"]]) {
    try {
      const r = require(file);
      console.log(`${what}: ${r.numPassedTests} passed, ${r.numFailedTests} failed` + (r.numPendingTests ? `, ${r.numPendingTests} skipped` : ""));
      // The failures again, short, at the end where a reader of the log tail finds them.
      for (const file of r.testResults) {
        const failed = file.assertionResults.filter((a) => a.status === "failed");
        if (file.status === "failed" && failed.length === 0) console.log(`  FAILED ${file.name.replace(process.cwd() + "/", "")}: ${(file.message || "").split("\n").slice(0, 20).join("\n    ")}`);
        for (const a of failed) {
          console.log(`  FAILED ${file.name.replace(process.cwd() + "/", "")} > ${a.fullName}`);
          console.log("    " + a.failureMessages.join("\n").split("\n").slice(0, 20).join("\n    "));
        }
      }
    } catch {
      console.log(`${what}: no results (${file} missing)`);
    }
  }
' || true
# Nothing the run left behind (test and lab logs, the hosts' audit logs and app directories,
# workspaces, backup stores) may hold a secret's value.
step "secrets sweep"
sweep_status=0
npx tsx scripts/sweep-secrets.ts || sweep_status=$?

step "done"
if [ "$unit_workflow_status" != 0 ]; then exit "$unit_workflow_status"; fi
if [ "$sweep_status" != 0 ]; then exit "$sweep_status"; fi
if [ "$lab2_status" != 0 ]; then exit "$lab2_status"; fi
exit "$integration_status"
