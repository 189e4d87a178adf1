import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseSetupOutput, SERVER_SETUP_SCRIPT, serverSetup } from '../../../src/commands/serverSetup';
import { shellLine } from '../../../src/remote/executor';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const SCRIPT = fs.readFileSync(path.join(ROOT, SERVER_SETUP_SCRIPT), 'utf8');

describe('serverSetup argv', () => {
  test('the script text and every option are separate arguments', () => {
    expect(
      serverSetup('echo hi', {
        baseDir: '/srv/apps',
        project: 'shop',
        composeCommand: ['docker', 'compose'],
        deployUser: 'deploy',
        openPorts: [18080, 18081],
      }),
    ).toEqual([
      'sh',
      '-c',
      'echo hi',
      'server-setup',
      '--base-dir',
      '/srv/apps',
      '--project',
      'shop',
      '--compose',
      'docker compose',
      '--deploy-user',
      'deploy',
      '--open-ports',
      '18080 18081',
    ]);
  });

  test('no --open-ports without ports', () => {
    const opts = { baseDir: '/srv', project: 'demo', composeCommand: ['docker-compose'], deployUser: 'root' };
    const want = [
      'sh',
      '-c',
      'x',
      'server-setup',
      '--base-dir',
      '/srv',
      '--project',
      'demo',
      '--compose',
      'docker-compose',
      '--deploy-user',
      'root',
    ];
    expect(serverSetup('x', opts)).toEqual(want);
    expect(serverSetup('x', { ...opts, openPorts: [] })).toEqual(want);
  });
});

describe('parseSetupOutput', () => {
  test('one step per setup line, in order; other lines are not steps', () => {
    const out = [
      'Welcome to a login banner',
      'setup engine skipped docker 24.0.7 answers',
      'setup compose done installed docker-compose, docker-compose answers: docker-compose version 1.29.2',
      'setup directories done created /srv/demo/releases and /srv/demo/backups (0750, owner root)\r',
      'setup firewall skipped',
      'setup engine failed: not a step',
      '',
    ].join('\n');
    expect(parseSetupOutput(out)).toEqual([
      { step: 'engine', result: 'skipped', detail: 'docker 24.0.7 answers' },
      {
        step: 'compose',
        result: 'done',
        detail: 'installed docker-compose, docker-compose answers: docker-compose version 1.29.2',
      },
      {
        step: 'directories',
        result: 'done',
        detail: 'created /srv/demo/releases and /srv/demo/backups (0750, owner root)',
      },
      { step: 'firewall', result: 'skipped', detail: '' },
    ]);
    expect(parseSetupOutput('')).toEqual([]);
  });
});

/**
 * The real script on this machine, on a PATH made only of stubs and the few system tools it
 * uses: no real docker, ufw or apt-get is ever reachable, so the outcome does not depend on
 * what this machine has installed and nothing on it is changed (SERVER_SETUP_NO_INSTALL too).
 */
describe('server-setup.sh', () => {
  let tmp: string;
  let base: string;
  let tools: string;
  let stubs: string;

  /** util-linux's setpriv runs the script as `nobody` (65534 on Debian), a user that is not root. */
  const SETPRIV = '/usr/bin/setpriv';
  const NOBODY = 65534;
  const TOOLS = ['sh', 'id', 'mkdir', 'chmod', 'chown', 'grep', 'sleep', 'timeout'];
  const SYSTEM_DIRS = ['/usr/bin', '/bin', '/usr/sbin', '/sbin'];

  function stub(name: string, body: string): void {
    const file = path.join(stubs, name);
    fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  }

  const answeringDocker = 'case "$1" in version) echo 24.0.7-stub ;; info) exit 0 ;; *) exit 1 ;; esac';
  const answeringCompose = '[ "$1" = version ] && echo "docker-compose version 1.29.2-stub, build stub"';

  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'server-setup-'));
    base = path.join(tmp, 'srv');
    tools = path.join(tmp, 'tools');
    stubs = path.join(tmp, 'stubs');
    fs.mkdirSync(tools);
    fs.mkdirSync(stubs);
    for (const t of TOOLS) {
      const found = SYSTEM_DIRS.map((d) => path.join(d, t)).find((f) => fs.existsSync(f));
      if (!found) throw new Error(`${t} is not installed; the script needs it`);
      fs.symlinkSync(found, path.join(tools, t));
    }
    stub('docker', answeringDocker);
    stub('docker-compose', answeringCompose);
  });

  afterEach(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  function runArgv(argv: string[]) {
    const r = spawnSync(argv[0], argv.slice(1), {
      cwd: tmp,
      env: { PATH: `${stubs}:${tools}`, SERVER_SETUP_NO_INSTALL: '1' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (r.error) throw r.error;
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  const argv = (over: Partial<Parameters<typeof serverSetup>[1]> = {}) =>
    serverSetup(SCRIPT, {
      baseDir: base,
      project: 'demo',
      composeCommand: ['docker-compose'],
      deployUser: 'root',
      ...over,
    });

  const lines = (stdout: string) => stdout.split('\n').filter(Boolean);

  test('first run creates the directories, the second only skips', () => {
    const first = runArgv(argv());
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const app = path.join(base, 'demo');
    expect(lines(first.stdout)).toEqual([
      'setup engine skipped docker 24.0.7-stub answers',
      'setup compose skipped docker-compose answers: docker-compose version 1.29.2-stub, build stub',
      'setup deploy-user skipped user root exists',
      `setup directories done created ${app}/releases and ${app}/backups (0750, owner root)`,
      'setup firewall skipped no ufw on this host',
    ]);
    for (const d of ['releases', 'backups']) {
      expect(fs.statSync(path.join(app, d)).mode & 0o777).toBe(0o750);
    }

    const second = runArgv(argv());
    expect(second.code).toBe(0);
    const steps = parseSetupOutput(second.stdout);
    expect(steps.map((s) => `${s.step} ${s.result}`)).toEqual([
      'engine skipped',
      'compose skipped',
      'deploy-user skipped',
      'directories skipped',
      'firewall skipped',
    ]);
    expect(lines(second.stdout)).toHaveLength(5);
    expect(steps[3].detail).toBe(`${app} exists`);
  });

  /** An active ufw that keeps its rules in `rules`, one "PORT/tcp" per line. */
  function activeUfw(rules: string): void {
    stub(
      'ufw',
      [
        `rules=${rules}`,
        'case "$1" in',
        'status)',
        '  echo "Status: active"; echo; echo "To                         Action      From"',
        '  if [ -f "$rules" ]; then while read -r r; do',
        '    echo "$r                     ALLOW       Anywhere"',
        '    echo "$r (v6)                ALLOW       Anywhere (v6)"',
        '  done < "$rules"; fi ;;',
        'allow) echo "$2" >> "$rules"; echo "Rule added" ;;',
        '*) exit 1 ;;',
        'esac',
      ].join('\n'),
    );
  }

  test('an active ufw gets 22 and the open ports once', () => {
    const rules = path.join(tmp, 'ufw-rules');
    activeUfw(rules);
    const first = runArgv(argv({ openPorts: [18080, 22] }));
    expect(first.code).toBe(0);
    expect(lines(first.stdout).pop()).toBe('setup firewall done allowed tcp 22 18080');
    expect(fs.readFileSync(rules, 'utf8')).toBe('22/tcp\n18080/tcp\n');

    const second = runArgv(argv({ openPorts: [18080, 22] }));
    expect(second.code).toBe(0);
    expect(lines(second.stdout).pop()).toBe('setup firewall skipped tcp 22 18080 already allowed');
    expect(fs.readFileSync(rules, 'utf8')).toBe('22/tcp\n18080/tcp\n');
  });

  test('root creates the directories for a non-root deploy user, whose own runs then only skip', () => {
    const rules = path.join(tmp, 'ufw-rules');
    activeUfw(rules);
    const asRoot = runArgv(argv({ deployUser: 'nobody', openPorts: [18080] }));
    expect(asRoot.code).toBe(0);
    const app = path.join(base, 'demo');
    expect(lines(asRoot.stdout)).toContain(
      `setup directories done created ${app}/releases and ${app}/backups (0750, owner nobody)`,
    );
    for (const d of ['', 'releases', 'backups']) expect(fs.statSync(path.join(app, d)).uid).toBe(NOBODY);
    // The deploy user itself, as `deployctl setup` logs in once root is no longer used.
    fs.chmodSync(tmp, 0o755);
    const asUser = runArgv([
      SETPRIV,
      `--reuid=${NOBODY}`,
      `--regid=${NOBODY}`,
      '--clear-groups',
      ...argv({ deployUser: 'nobody', openPorts: [18080] }),
    ]);
    expect(asUser.stderr).toBe('');
    expect(asUser.code).toBe(0);
    expect(parseSetupOutput(asUser.stdout).map((s) => `${s.step} ${s.result}`)).toEqual([
      'engine skipped',
      'compose skipped',
      'deploy-user skipped',
      'directories skipped',
      'firewall skipped',
    ]);
    expect(lines(asUser.stdout).pop()).toBe(
      'setup firewall skipped ufw needs root, not nobody: a run as root allows tcp 22 18080',
    );
    expect(fs.readFileSync(rules, 'utf8')).toBe('22/tcp\n18080/tcp\n');
  });

  test('through the executor quoting (a remote login shell parses the line) it runs the same', () => {
    const r = runArgv(['sh', '-c', shellLine(argv())]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(parseSetupOutput(r.stdout).map((s) => s.result)).toEqual([
      'skipped',
      'skipped',
      'skipped',
      'done',
      'skipped',
    ]);
  });

  test.each([
    ['--base-dir', { baseDir: 'relative' }, 'relative', 'must be an absolute path'],
    ['--base-dir', { baseDir: '/srv/../etc' }, '/srv/../etc', 'without ".." segments'],
    ['--base-dir', { baseDir: '/srv/$(touch PWNED)' }, '/srv/$(touch PWNED)', 'must be an absolute path'],
    ['--project', { project: 'demo;touch PWNED' }, 'demo;touch PWNED', 'lowercase letters'],
    [
      '--compose',
      { composeCommand: ['docker', 'compose;', 'id'] },
      'docker compose; id',
      'plain command words',
    ],
    ['--compose', { composeCommand: ['a', 'b', 'c', 'd'] }, 'a b c d', 'one to three'],
    ['--deploy-user', { deployUser: '-o' }, '-o', 'a Unix user name'],
    ['--open-ports', { openPorts: [80, 65536] }, '80 65536', 'TCP port numbers 1-65535'],
  ])('%s %j exits 2 naming the flag, the value and the rule', (flag, over, value, rule) => {
    for (const run of [argv(over), ['sh', '-c', shellLine(argv(over))]]) {
      const r = runArgv(run);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`${flag} '${value}' is invalid: must be`);
      expect(r.stderr).toContain(rule);
    }
    expect(fs.existsSync(base)).toBe(false);
    expect(fs.existsSync(path.join(tmp, 'PWNED'))).toBe(false);
  });

  test('missing or unknown flags exit 2', () => {
    const missing = runArgv(['sh', '-c', SCRIPT, 'server-setup', '--base-dir', base, '--project', 'demo']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--compose is required');
    const unknown = runArgv([...argv(), '--force']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown argument '--force'");
  });

  test('an engine that does not answer fails the engine step, before anything is created', () => {
    stub('docker', 'echo "Cannot connect to the Docker daemon" >&2; exit 1');
    const r = runArgv(argv());
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('setup engine failed: docker does not answer');
    expect(r.stderr).toContain('SERVER_SETUP_NO_INSTALL=1');
    expect(fs.existsSync(base)).toBe(false);
  });

  test('no docker command at all fails the engine step too', () => {
    fs.rmSync(path.join(stubs, 'docker'));
    const r = runArgv(argv());
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('setup engine failed');
  });

  test('a compose command that does not answer fails the compose step', () => {
    const r = runArgv(argv({ composeCommand: ['docker', 'compose'] }));
    expect(r.code).toBe(1);
    expect(lines(r.stdout)).toEqual(['setup engine skipped docker 24.0.7-stub answers']);
    expect(r.stderr).toContain("setup compose failed: 'docker compose version' does not answer");
  });
});
