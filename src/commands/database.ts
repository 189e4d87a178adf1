import { posix } from 'node:path';
import type {
  DatabaseConfig,
  EnvironmentConfig,
  HostConfig,
  MigrationPhase,
  MigrationsConfig,
} from '../config/schema';
import { DEFAULT_DUMP_COMPRESSION } from '../config/schema';
import type { Argv } from './argv';
import { composeBase, execInService } from './compose';
import { remoteLayout } from './layout';
import { firstMissingFile } from './files';

/**
 * Database commands: backup before migrations, migrations in a one-off container of the new
 * image, restore as the compensation. Scripts are constants; every value (paths, checksums,
 * the inner argv) travels as a positional argument, so nothing user-controlled is interpreted.
 */

/** Deployment ids name files on the host: a safe alphabet and no "..", or the path could escape. */
const DEPLOYMENT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;
const TABLE = /^[a-z_][a-z0-9_]{0,62}$/;

export interface BackupPaths {
  dir: string;
  dump: string;
  checksum: string;
}

/** `<appDir>/backups/<deploymentId>.dump` and its `.sha256`: one backup per deployment, found again by a retry. */
export function backupPaths(env: EnvironmentConfig, host: HostConfig, deploymentId: string): BackupPaths {
  if (!DEPLOYMENT_ID.test(deploymentId) || deploymentId.includes('..')) {
    throw new Error(`deployment id ${JSON.stringify(deploymentId)} cannot name a backup file`);
  }
  const dir = posix.join(remoteLayout(env, host).appDir, 'backups');
  const dump = posix.join(dir, `${deploymentId}.dump`);
  return { dir, dump, checksum: `${dump}.sha256` };
}

/** Pre-deploy dumps kept on a host when the environment has no backups section. */
export const DEFAULT_HOST_DUMPS_KEPT = 3;

/**
 * $1 = the backups directory, $2 = how many pre-deploy dumps to keep. Deletes the older
 * deployments' and rollbacks' dumps with their .sha256 files, newest kept (by mtime), and
 * prints each it removed. Dumps of other operations (drills, emergency deploys) are left alone.
 */
export const PRUNE_DUMPS_SCRIPT = [
  'set -eu',
  'dir=$1; keep=$2',
  'ls -1t -- "$dir"/deploy-*.dump "$dir"/rollback-*.dump 2>/dev/null | tail -n +"$((keep + 1))" |',
  '  while IFS= read -r f; do rm -f -- "$f" "$f.sha256" "$f.verified"; echo "pruned $f"; done',
].join('\n');

/**
 * Keep the newest pre-deploy dumps on the host and delete the rest: as many as the store
 * keeps (`backups.retention.keepLast`), otherwise DEFAULT_HOST_DUMPS_KEPT.
 */
export function pruneHostDumps(env: EnvironmentConfig, host: HostConfig): Argv {
  const keep = env.backups?.retention.keepLast ?? DEFAULT_HOST_DUMPS_KEPT;
  const { dir } = backupPaths(env, host, 'prune');
  return ['sh', '-c', PRUNE_DUMPS_SCRIPT, 'prune-dumps', dir, String(keep)];
}

function database(env: EnvironmentConfig): DatabaseConfig {
  if (!env.database) throw new Error(`environment "${env.name}" has no database section`);
  return env.database;
}

function migrations(env: EnvironmentConfig): MigrationsConfig {
  if (!env.migrations) throw new Error(`environment "${env.name}" has no migrations section`);
  return env.migrations;
}

/** A command inside the running database container, stdin attached (no TTY). */
function inDatabase(env: EnvironmentConfig, ...argv: string[]): Argv {
  return execInService(env.project, database(env).service, argv);
}

/**
 * Start the database service (only it) if it is not running. Never recreates it: the env file
 * may already name a new POSTGRES image, and a backup must not be preceded by a database restart.
 */
export function databaseUp(env: EnvironmentConfig, host: HostConfig): Argv {
  return [...composeBase(env, host), 'up', '--detach', '--no-recreate', database(env).service];
}

/** Exit 0 when the env file and every compose file are on the host; else exit 1, printing the first missing one. */
export function missingStackFile(env: EnvironmentConfig, host: HostConfig): Argv {
  const layout = remoteLayout(env, host);
  return firstMissingFile([layout.envFile, ...layout.composeFiles]);
}

/** Exit 0 once the server accepts connections (1: rejecting, 2: no response yet). */
export function databaseReady(env: EnvironmentConfig): Argv {
  const db = database(env);
  return inDatabase(env, 'pg_isready', '--quiet', '-U', db.user, '-d', db.name);
}

/** One SQL statement through psql inside the database container (quiet, unaligned, stops on error). */
export function psql(env: EnvironmentConfig, sql: string): Argv {
  const db = database(env);
  return inDatabase(
    env,
    'psql',
    '-X',
    '-At',
    '-v',
    'ON_ERROR_STOP=1',
    '-U',
    db.user,
    '-d',
    db.name,
    '-c',
    sql,
  );
}

const COUNT_USER_TABLES_SQL =
  "select count(*) from pg_catalog.pg_tables where schemaname not in ('pg_catalog', 'information_schema')";

/**
 * Exit code of DUMP_IF_TABLES_SCRIPT on a database without user tables: nothing to back up. It
 * counts only with NO_USER_TABLES_MARKER on stderr: flock, for one, exits 66 when it cannot open
 * its lock file, and that must fail the backup, never skip it.
 */
export const NO_USER_TABLES = 79;
export const NO_USER_TABLES_MARKER = 'dump-if-tables: no user tables, nothing to back up';

/**
 * Runs inside the database container: $1 user, $2 database, $3 the table-count SQL, $4 the
 * compression level (`database.dumpCompression`). Dumps
 * (custom format, to stdout) unless the database has no user tables (exit NO_USER_TABLES). The
 * count and the dump share one `compose exec`: every compose call costs the host about a second.
 */
export const DUMP_IF_TABLES_SCRIPT = [
  'set -eu',
  'user=$1; db=$2; sql=$3; level=$4',
  'tables=$(psql -X -At -v ON_ERROR_STOP=1 -U "$user" -d "$db" -c "$sql") || exit 1',
  // Only a count of 0 means "nothing to back up"; anything unexpected fails the backup.
  'case "$tables" in "" | *[!0-9]*) echo "the table count was not a number: $tables" >&2; exit 1 ;; esac',
  `[ "$tables" -gt 0 ] || { echo "${NO_USER_TABLES_MARKER}" >&2; exit ${NO_USER_TABLES}; }`,
  'exec pg_dump -U "$user" -Fc -Z "$level" "$db"',
].join('\n');

/** pg_dump of a database that has user tables, inside the database container (DUMP_IF_TABLES_SCRIPT). */
export function dumpIfTables(env: EnvironmentConfig): Argv {
  const db = database(env);
  return inDatabase(
    env,
    'sh',
    '-c',
    DUMP_IF_TABLES_SCRIPT,
    'dump-if-tables',
    db.user,
    db.name,
    COUNT_USER_TABLES_SQL,
    String(db.dumpCompression ?? DEFAULT_DUMP_COMPRESSION),
  );
}

/** pg_restore of a custom-format dump read from stdin, all or nothing. */
export function pgRestore(env: EnvironmentConfig): Argv {
  const db = database(env);
  return inDatabase(
    env,
    'pg_restore',
    '--clean',
    '--if-exists',
    '--single-transaction',
    '-U',
    db.user,
    '-d',
    db.name,
  );
}

/**
 * $1 = dump path, then the pg_dump argv. Prints one line: `backup created|reused <sha256> <bytes> <mtime>`.
 * Idempotent: a dump whose checksum file matches is kept as is. Atomic: the dump and its
 * checksum are written under temporary names and renamed; the dump first, so a crash between
 * the two renames leaves a dump without a matching checksum, which the next attempt redoes.
 */
export const BACKUP_SCRIPT = [
  'set -eu',
  'umask 077',
  'dump=$1; shift',
  'sum() { sha256sum "$1" | cut -d " " -f 1; }',
  // Each dump is read for its checksum once: on a big database that read is seconds.
  'report() { printf "backup %s %s %s %s\\n" "$1" "$2" "$(wc -c < "$dump" | tr -d " ")" "$(date -u -r "$dump" +%Y-%m-%dT%H:%M:%SZ)"; }',
  'if [ -f "$dump" ] && [ -f "$dump.sha256" ]; then',
  '  have=$(sum "$dump")',
  '  if [ "$have" = "$(cut -d " " -f 1 "$dump.sha256")" ]; then report reused "$have"; exit 0; fi',
  'fi',
  'mkdir -p "${dump%/*}"',
  'tmp="$dump.$$.tmp"',
  'trap \'rm -f "$tmp" "$tmp.sha256"\' EXIT',
  '"$@" > "$tmp"',
  'have=$(sum "$tmp")',
  'printf "%s  %s\\n" "$have" "${dump##*/}" > "$tmp.sha256"',
  'mv -f "$tmp" "$dump"',
  'mv -f "$tmp.sha256" "$dump.sha256"',
  'report created "$have"',
].join('\n');

/** A pre-deploy backup: BACKUP_SCRIPT around a dump that exits NO_USER_TABLES on an empty database. */
export function backupDatabaseArgv(env: EnvironmentConfig, host: HostConfig, deploymentId: string): Argv {
  const { dump } = backupPaths(env, host, deploymentId);
  return ['sh', '-c', BACKUP_SCRIPT, 'backup', dump, ...dumpIfTables(env)];
}

/** Exit code of RESTORE_SCRIPT when the dump is missing or does not match its checksum. */
export const RESTORE_REFUSED = 65;

/**
 * $1 = dump path, $2 = the sha256 recorded at backup time, then the pg_restore argv. The dump is
 * checked against both the recorded checksum and its .sha256 file before anything is touched.
 * A copy that VERIFY_HOST_COPY_SCRIPT checked on this host is not read again while its
 * `.verified` mark still names it (same checksum, size, modification and change times, inode): on a big
 * database that read is a second of the recovery time, and it was done beside the image pull.
 */
export const RESTORE_SCRIPT = [
  'set -eu',
  'dump=$1; want=$2; shift 2',
  'refuse() { echo "restore refused: $*" >&2; exit 65; }',
  '[ -f "$dump" ] || refuse "$dump does not exist"',
  'if [ "$(cat "$dump.verified" 2>/dev/null || true)" != "$want $(stat -c "%s %Y %Z %i" "$dump")" ]; then',
  '  have=$(sha256sum "$dump" | cut -d " " -f 1)',
  '  [ "$have" = "$want" ] || refuse "$dump has sha256 $have, the backup recorded $want (corrupt or replaced)"',
  'fi',
  'if [ -f "$dump.sha256" ] && [ "$(cut -d " " -f 1 "$dump.sha256")" != "$want" ]; then refuse "$dump.sha256 does not match the recorded checksum"; fi',
  '"$@" < "$dump"',
  'echo "restored $dump"',
].join('\n');

/** Exit code of VERIFY_HOST_COPY_SCRIPT when the copy is damaged (and was removed). */
export const HOST_COPY_DAMAGED = 66;

/**
 * $1 = the path of a backup just copied to a host, $2 = its sha256. Reads the copy once: a
 * damaged one is removed (exit HOST_COPY_DAMAGED); a good one gets its `.sha256` and a
 * `.verified` mark (checksum, size, modification and change times, inode) that RESTORE_SCRIPT trusts.
 */
export const VERIFY_HOST_COPY_SCRIPT = [
  'set -eu',
  'dump=$1; want=$2',
  // A copy that cannot be read is a failure, not a damaged copy: it stays, and the error says why.
  'have=$(sha256sum "$dump") || exit 1',
  'have=${have%% *}',
  `[ "$have" = "$want" ] || { rm -f "$dump" "$dump.verified"; echo "the copy on this host has sha256 $have, the backup $want: removed" >&2; exit ${HOST_COPY_DAMAGED}; }`,
  'printf "%s  %s\\n" "$want" "${dump##*/}" > "$dump.sha256"',
  'printf "%s %s\\n" "$want" "$(stat -c "%s %Y %Z %i" "$dump")" > "$dump.verified"',
].join('\n');

export function verifyHostCopy(dumpPath: string, sha256: string): Argv {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`${JSON.stringify(sha256)} is not a sha256 checksum`);
  return ['sh', '-c', VERIFY_HOST_COPY_SCRIPT, 'verify-host-copy', dumpPath, sha256];
}

export function restoreDatabaseArgv(env: EnvironmentConfig, dumpPath: string, sha256: string): Argv {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`${JSON.stringify(sha256)} is not a sha256 checksum`);
  return ['sh', '-c', RESTORE_SCRIPT, 'restore', dumpPath, sha256, ...pgRestore(env)];
}

/** The configured migration command in a one-off container of the service's image (the new one, from the env file). */
/**
 * The migration command in a one-off container of the new image: every pending migration
 * (`all`, recreate), one phase of them, or the list of pending ones (`pending`, applies nothing).
 */
export function runMigrationsArgv(
  env: EnvironmentConfig,
  host: HostConfig,
  which: 'all' | 'pending' | MigrationPhase = 'all',
): Argv {
  const m = migrations(env);
  let command = m.command;
  if (which !== 'all') {
    if (!m.phases) throw new Error(`environment ${env.name}: migrations.phases is needed to run "${which}"`);
    command = m.phases[which];
  }
  return [...composeBase(env, host), 'run', '--rm', '--no-deps', '-T', m.service, ...command];
}

/**
 * How a backup's tables were fingerprinted; a restore of it is checked the same way.
 * `content-hash`, now: the sum of every row's 64-bit hashtextextended (PostgreSQL's own hash,
 * the one hash partitioning keeps stable across versions) over the row as text in byte order
 * (collation "C"), as `hash64:<decimal>` (`hash64:0` for no rows): order-free, so nothing is
 * sorted, and streamed, so no table is ever one string in memory. Twice as quick as `sum60`,
 * the sum of the first 60 bits of every row's md5, which backups took before it; backups older
 * still hold `ordered-md5`, the md5 over the rows in order, which fails on a table of more than
 * 1 GB of text (PostgreSQL's limit for one string).
 */
export type FingerprintScheme = 'content-hash' | 'sum60' | 'ordered-md5';

export const CONTENT_HASH_PREFIX = 'hash64:';
export const SUM60_PREFIX = 'sum60:';
// The row alias must not be a column name of any table: `t::text` would read that column.
const CONTENT_HASH_SQL = `'${CONTENT_HASH_PREFIX}' || coalesce(sum(hashtextextended(fingerprinted_row::text collate "C", 0)), 0)`;
const SUM60_SQL = `'${SUM60_PREFIX}' || coalesce(sum(('x' || substr(md5(fingerprinted_row::text), 1, 15))::bit(60)::bigint), 0)`;

/** One table's content hash (CONTENT_HASH_PREFIX): compares contents across steps. */
export function tableChecksum(env: EnvironmentConfig, table: string): Argv {
  if (!TABLE.test(table)) throw new Error(`${JSON.stringify(table)} is not a plain table name`);
  return psql(env, `select ${CONTENT_HASH_SQL} from ${table} fingerprinted_row`);
}

/**
 * Row count and hash (`hashSql`) of every user table, one `schema.table|rows|hash` line each, in
 * one statement and one scan per table (query_to_xml runs the per-table queries, so no table
 * name is ever spliced into SQL by us).
 */
function perTableFingerprintSql(hashSql: string): string {
  return [
    "select format('%I.%I', schemaname, tablename) || '|' || (xpath('/row/n/text()', x))[1]::text || '|' || (xpath('/row/h/text()', x))[1]::text",
    `from (select schemaname, tablename, query_to_xml(format('select count(*) as n, ${hashSql.replace(/'/g, "''")} as h from %I.%I fingerprinted_row', schemaname, tablename), false, true, '') as x`,
    "  from pg_catalog.pg_tables where schemaname not in ('pg_catalog', 'information_schema')) tables",
    'order by schemaname, tablename',
  ].join('\n');
}

/** Every user table's row count and content hash: a drill compares them with the backup's. */
export const FINGERPRINT_SQL = perTableFingerprintSql(CONTENT_HASH_SQL);

/** The fingerprints of a backup taken with `sum60`. */
export const SUM60_FINGERPRINT_SQL = perTableFingerprintSql(SUM60_SQL);

/** The fingerprints of a backup taken with `ordered-md5` ('' for no rows). */
export const ORDERED_MD5_FINGERPRINT_SQL = [
  "select format('%I.%I', schemaname, tablename) || '|' ||",
  "  (xpath('/row/n/text()', query_to_xml(format('select count(*) as n from %I.%I', schemaname, tablename), false, true, '')))[1]::text || '|' ||",
  "  coalesce((xpath('/row/h/text()', query_to_xml(format('select md5(string_agg(t::text, '','' order by t::text)) as h from %I.%I t', schemaname, tablename), false, true, '')))[1]::text, '')",
  "from pg_catalog.pg_tables where schemaname not in ('pg_catalog', 'information_schema')",
  'order by schemaname, tablename',
].join('\n');

const FINGERPRINT_SQL_OF: Record<FingerprintScheme, string> = {
  'content-hash': FINGERPRINT_SQL,
  sum60: SUM60_FINGERPRINT_SQL,
  'ordered-md5': ORDERED_MD5_FINGERPRINT_SQL,
};

/** Every user table's fingerprint, by the scheme of the backup it is compared with. */
export function tableFingerprints(env: EnvironmentConfig, scheme: FingerprintScheme = 'content-hash'): Argv {
  return psql(env, FINGERPRINT_SQL_OF[scheme]);
}

/**
 * Runs inside the database container: $1 user, $2 database, $3 the fingerprint SQL, $4 the
 * compression level (`database.dumpCompression`). One psql
 * session opens a REPEATABLE READ transaction and exports its snapshot; pg_dump dumps that
 * snapshot (to stdout) while the same session runs the fingerprint query in it. So the
 * fingerprints describe exactly the rows the dump holds, however busy the database is. They go
 * to stderr as "fingerprint schema.table|rows|hash" lines.
 */
export const SNAPSHOT_DUMP_SCRIPT = [
  'set -eu',
  'user=$1; db=$2; sql=$3; level=$4',
  'dir=$(mktemp -d)',
  'session=',
  // Whatever ends the script also ends the session's query (SIGINT: psql cancels it on the
  // server), so a failed dump does not leave a scan holding the snapshot.
  'trap \'[ -z "$session" ] || kill -INT "$session" 2>/dev/null || true; rm -rf "$dir"\' EXIT',
  // A session that died makes writes to it fail instead of killing the script unreported.
  "trap '' PIPE",
  'mkfifo "$dir/in"',
  'psql -X -At -q -v ON_ERROR_STOP=1 -U "$user" -d "$db" < "$dir/in" > "$dir/out" 2> "$dir/err" &',
  'session=$!',
  'exec 3> "$dir/in"',
  "printf '%s\\n' 'begin transaction isolation level repeatable read, read only;' 'select pg_export_snapshot();' >&3",
  'i=0',
  'while [ ! -s "$dir/out" ]; do',
  '  kill -0 "$session" 2>/dev/null || { cat "$dir/err" >&2; echo "the snapshot session ended early" >&2; exit 1; }',
  '  i=$((i + 1)); [ "$i" -le 600 ] || { echo "no snapshot after 60 s" >&2; exit 1; }',
  '  sleep 0.1',
  'done',
  'snapshot=$(head -n 1 "$dir/out")',
  // The fingerprints are read beside the dump (another core), in the same snapshot, which stays
  // exported until the commit after the dump: on a big database both take a while.
  'printf \'%s;\\n\' "$sql" >&3',
  'pg_dump --snapshot="$snapshot" -U "$user" -Fc -Z "$level" "$db" || { cat "$dir/err" >&2; echo "pg_dump failed" >&2; exit 1; }',
  "printf '%s\\n' 'commit;' >&3 2>/dev/null || true",
  'exec 3>&-',
  'wait "$session" || { cat "$dir/err" >&2; exit 1; }',
  'session=',
  'tail -n +2 "$dir/out" | sed "s/^/fingerprint /" >&2',
].join('\n');

/**
 * A verified backup's dump: BACKUP_SCRIPT (atomic, with its .sha256) around a pg_dump of one
 * exported snapshot, with the table fingerprints of that snapshot on stderr.
 */
export function snapshotBackup(env: EnvironmentConfig, host: HostConfig, backupId: string): Argv {
  const { dump } = backupPaths(env, host, backupId);
  const db = database(env);
  return [
    'sh',
    '-c',
    BACKUP_SCRIPT,
    'backup',
    dump,
    ...inDatabase(
      env,
      'sh',
      '-c',
      SNAPSHOT_DUMP_SCRIPT,
      'snapshot-dump',
      db.user,
      db.name,
      FINGERPRINT_SQL,
      String(db.dumpCompression ?? DEFAULT_DUMP_COMPRESSION),
    ),
  ];
}

/** Remove a dump and its checksum file from the host (after its copy in the store is verified). */
export function removeBackupFiles(dumpPath: string): Argv {
  if (
    !dumpPath.startsWith('/') ||
    !dumpPath.endsWith('.dump') ||
    dumpPath.split('/').some((s) => s === '..' || s === '.')
  )
    throw new Error(`${JSON.stringify(dumpPath)} is not an absolute .dump path`);
  return ['rm', '-f', '--', dumpPath, `${dumpPath}.sha256`, `${dumpPath}.verified`];
}

/** Run on the worker: lists the table of contents of a custom-format dump; fails on a damaged one. */
export function pgRestoreList(localDumpPath: string): Argv {
  return ['pg_restore', '--list', localDumpPath];
}
