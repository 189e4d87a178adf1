import type { ReleaseRecord } from '../shared/deployment';
import type { Argv } from './argv';
import { releaseHistoryRecord, type RemoteLayout } from './layout';

/**
 * $1 current.json, $2 previous.json, $3 the release's history file, $4 this deployment's marker
 * (`"deploymentId":"…"`), $5 the record. current.json becomes previous.json and the record the
 * new current.json, unless current.json already is this deployment's: a retry after the rename
 * must not push the new record into previous.json. The history file is written every time.
 * Every file is written under a temporary name and renamed, so none is ever half written; one
 * command where the steps were five round trips.
 */
export const RECORD_RELEASE_SCRIPT = [
  'set -eu',
  'current=$1; previous=$2; history=$3; marker=$4; record=$5',
  'mkdir -p "${current%/*}" "${history%/*}"',
  'put() { printf "%s" "$record" > "$1.$$.tmp" && mv -f "$1.$$.tmp" "$1"; }',
  'if ! grep -qF -e "$marker" "$current" 2>/dev/null; then',
  '  if [ -f "$current" ]; then cp -f "$current" "$previous.$$.tmp" && mv -f "$previous.$$.tmp" "$previous"; fi',
  '  put "$current"',
  'fi',
  'put "$history"',
].join('\n');

/** Record on a host that `record` is its live release (RECORD_RELEASE_SCRIPT). */
export function recordReleaseArgv(layout: RemoteLayout, record: ReleaseRecord): Argv {
  return [
    'sh',
    '-c',
    RECORD_RELEASE_SCRIPT,
    'record-release',
    layout.currentRelease,
    layout.previousRelease,
    releaseHistoryRecord(layout, record.release),
    `"deploymentId":${JSON.stringify(record.deploymentId)}`,
    JSON.stringify(record),
  ];
}
