/**
 * After a full test run: no secret value may appear in what the run left behind (test and lab
 * logs, the integration tests' workflow histories, the hosts' audit logs and app directories,
 * workspaces, backup catalogs), except where
 * secrets belong: the lab's secrets file and the env files deployctl writes for compose on each
 * host. Secret values are those of the lab's secrets file; a finding names the file and the
 * variable, never the value.
 *
 *   npx tsx scripts/sweep-secrets.ts [DIR|FILE ...]   # default: .data and the lab dir
 *
 * Exit codes: 0 nothing found, 1 a secret value was found, 2 the secrets file is missing.
 */
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { labDir, PROJECT_ROOT } from '../lab/paths';

/** Directories of the lab's engines (container storage, runtime state): the servers' own disks. */
const ENGINE_DIRS = new Set(['storage', 'run', 'tmp', 'netavark-run', 'networks', 'registry']);
const MIN_SECRET_LENGTH = 8;
const EXPORT_FAILED = '.export-failed';
const MAX_FILE_BYTES = 256 * 1024 * 1024;

function secretValues(file: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (m && m[2].length >= MIN_SECRET_LENGTH) values.set(m[1], m[2]);
  }
  return values;
}

/** Where a secret is meant to be: the source, and the env files compose reads on the hosts. */
function isSecretStore(file: string, secretsFile: string): boolean {
  return file === secretsFile || basename(file) === '.env';
}

function* files(path: string): Generator<string> {
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    return;
  }
  if (stat.isDirectory()) {
    if (ENGINE_DIRS.has(basename(path))) return;
    for (const entry of readdirSync(path)) yield* files(join(path, entry));
  } else if (stat.isFile() && stat.size <= MAX_FILE_BYTES) yield path;
}

function main(): void {
  const lab = labDir();
  const secretsFile = join(lab, 'secrets.env');
  let secrets: Map<string, string>;
  try {
    secrets = secretValues(secretsFile);
  } catch {
    console.error(`sweep-secrets: ${secretsFile} is missing: nothing says which values are secret`);
    process.exit(2);
  }
  const roots = process.argv.slice(2).length
    ? process.argv.slice(2).map((p) => resolve(p))
    : [join(PROJECT_ROOT, '.data'), lab];
  let swept = 0;
  let histories = 0;
  const found: string[] = [];
  for (const root of roots)
    for (const file of files(root)) {
      if (isSecretStore(file, secretsFile)) continue;
      // Written by tests/integration/historyExport.ts: a history it could not read is not one without secrets.
      if (basename(file) === EXPORT_FAILED) {
        found.push(
          `${relative(PROJECT_ROOT, file) || file}: workflow histories not all exported: ${readFileSync(file, 'utf8').trim()}`,
        );
        continue;
      }
      if (basename(dirname(dirname(file))) === 'histories') histories++;
      swept++;
      let bytes: Buffer;
      try {
        bytes = readFileSync(file);
      } catch {
        continue;
      }
      for (const [name, value] of secrets)
        if (bytes.includes(value))
          found.push(`${relative(PROJECT_ROOT, file) || file}: holds the value of ${name}`);
    }
  for (const line of found) console.error(`sweep-secrets: ${line}`);
  console.log(
    `sweep-secrets: ${swept} file(s) under ${roots.map((r) => relative(PROJECT_ROOT, r) || r).join(', ')} (${histories} of them workflow histories) swept for ${secrets.size} secret value(s): ${found.length ? `${found.length} finding(s)` : 'none found'}`,
  );
  process.exit(found.length ? 1 : 0);
}

main();
