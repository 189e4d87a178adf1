/**
 * No orphaned remote commands, on the lab: a worker killed mid-step leaves its command running
 * on the host (nothing hangs it up). The SSH client running a step is SIGKILLed here, as the
 * worker's death does, and the retry runs at once. Without the host lock the two run together
 * (the control case shows the hazard is real); under it, the retry waits for the orphan to end,
 * and gives up with a clear, retryable error when it outlives the wait. Real sshd on lab-2, in
 * a directory of its own. Fails (never skips) without the lab.
 */
import { spawn } from 'node:child_process';
import { join, posix } from 'node:path';
import { hostLockFile, underHostLock, HOST_LOCK_BUSY } from '../../src/commands/hostLock';
import { remoteLayout } from '../../src/commands/layout';
import { RemoteCommandError, shellLine, withHost } from '../../src/remote/executor';
import { LAB_DIR, requireLab } from './harness';

const lab = requireLab();
const stamp = Date.now().toString(36);
const labHost = lab.production.hosts[0];
const host = { ...labHost, baseDir: posix.join(labHost.baseDir, `hostlock-${stamp}`) };
const environment = { ...lab.production, project: `hostlock${stamp}`, hosts: [host] };
const lockFile = hostLockFile(remoteLayout(environment, host));
const log = posix.join(host.baseDir, 'steps.log');

/** A step that marks its start, works for a while, then marks its end. */
const step = (id: string, seconds = 3) => [
  'sh',
  '-c',
  'mkdir -p "${2%/*}"; echo "start $1" >> "$2"; sleep "$3"; echo "end $1" >> "$2"',
  'step',
  id,
  log,
  String(seconds),
];

const remote = (argv: readonly string[], timeoutMs = 60_000) =>
  withHost(host, (h) => h.run(argv, { timeoutMs })).then((r) => r.stdout);
const logLines = async () =>
  (await remote(['sh', '-c', 'cat "$1" 2>/dev/null || true', 'read-log', log]))
    .trim()
    .split('\n')
    .filter(Boolean);

/** Start argv through the system ssh client, wait until the step has started, then SIGKILL the client. */
async function killedAttempt(argv: readonly string[], id: string): Promise<void> {
  const client = spawn(
    'ssh',
    [
      '-i',
      host.privateKeyPath,
      '-p',
      String(host.port),
      '-o',
      `UserKnownHostsFile=${join(LAB_DIR, 'known_hosts')}`,
      '-o',
      'BatchMode=yes',
      `${host.user}@${host.address}`,
      shellLine(argv),
    ],
    { stdio: 'ignore' },
  );
  const deadline = Date.now() + 20_000;
  while (!(await logLines()).includes(`start ${id}`)) {
    if (Date.now() > deadline) throw new Error(`step ${id} never started on ${host.name}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  client.kill('SIGKILL');
  await new Promise((r) => client.once('exit', r));
}

async function waitForLine(line: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await logLines()).includes(line)) {
    if (Date.now() > deadline) throw new Error(`"${line}" never appeared in ${log}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

afterAll(async () => {
  await remote(['rm', '-rf', host.baseDir]);
});

test('exact argv: flock on the lock file, with its wait and busy exit code, the command as arguments', () => {
  expect(underHostLock('/srv/apps/shop/.steps.lock', 120, ['docker', 'compose', 'up'])).toEqual([
    'sh',
    '-c',
    expect.stringContaining(`flock -w "$wait" -E ${HOST_LOCK_BUSY} "$lock" "$@"`),
    'host-lock',
    '/srv/apps/shop/.steps.lock',
    '120',
    'docker',
    'compose',
    'up',
  ]);
  expect(lockFile).toBe(posix.join(host.baseDir, environment.project, '.steps.lock'));
});

test('control: without the lock, the retry runs beside the killed attempt, which lives on', async () => {
  await killedAttempt(step('a'), 'a');
  await remote(step('b'));
  await waitForLine('end a');
  const lines = await logLines();
  // The orphan outlived its client, and the retry started before it ended.
  expect(lines.indexOf('start b')).toBeLessThan(lines.indexOf('end a'));
});

test('under the host lock, the retry waits for the orphan of the killed attempt, then runs alone', async () => {
  await killedAttempt(underHostLock(lockFile, 30, step('c')), 'c');
  await remote(underHostLock(lockFile, 30, step('d')));
  const lines = (await logLines()).filter((l) => / [cd]$/.test(l));
  expect(lines).toEqual(['start c', 'end c', 'start d', 'end d']);
});

test('an orphan that outlives the wait fails the retry with a clear, retryable error naming the lock', async () => {
  await killedAttempt(underHostLock(lockFile, 30, step('e', 6)), 'e');
  const err = await remote(underHostLock(lockFile, 1, step('f'))).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RemoteCommandError);
  expect((err as RemoteCommandError).code).toBe(HOST_LOCK_BUSY);
  expect((err as Error).message).toContain(
    `an earlier attempt of this step still runs on this host: it has held ${lockFile} for over 1 s`,
  );
  await waitForLine('end e');
  expect(await logLines()).not.toContain('start f');
});
