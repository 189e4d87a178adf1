import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeSSH } from 'node-ssh';
import type { HostConfig } from '../../../src/config/schema';
import { ConnectionPool } from '../../../src/remote/connectionPool';
import {
  closeIdleConnections,
  HostKeyMismatchError,
  RemoteCommandError,
  withHost,
} from '../../../src/remote/executor';

/** A stand-in for node-ssh: no server, just the state withHost and RemoteHost look at. */
jest.mock('node-ssh', () => {
  const { EventEmitter } = jest.requireActual<typeof import('node:events')>('node:events');
  class FakeSSH {
    static made: FakeSSH[] = [];
    static presentedKey = Buffer.alloc(0);
    connection: InstanceType<typeof EventEmitter> | null = null;
    disposed = false;
    commands: string[] = [];
    async connect(cfg: { hostVerifier: (key: Buffer) => boolean }) {
      if (!cfg.hostVerifier(FakeSSH.presentedKey)) throw new Error('Handshake failed: host key rejected');
      FakeSSH.made.push(this);
      this.connection = new EventEmitter();
      return this;
    }
    isConnected() {
      return this.connection !== null;
    }
    async execCommand(line: string) {
      if (!this.connection) throw new Error('Not connected to server');
      this.commands.push(line);
      return { code: line === 'false' ? 1 : 0, signal: null, stdout: '', stderr: '' };
    }
    dispose() {
      this.disposed = true;
      this.connection = null;
    }
  }
  return { NodeSSH: FakeSSH };
});

interface Fake {
  connection: { emit(event: string, ...args: unknown[]): boolean } | null;
  disposed: boolean;
  commands: string[];
}
const FakeSSH = NodeSSH as unknown as { made: Fake[]; presentedKey: Buffer };

/** A connection as the pool sees it: which one it is, and whether it broke or was closed. */
interface Conn {
  id: number;
  broken: boolean;
  closed: boolean;
}

function testPool(opts: { idleMs?: number; maxIdlePerKey?: number } = {}) {
  const made: Conn[] = [];
  const pool = new ConnectionPool<Conn>({
    close: (c) => {
      c.closed = true;
    },
    isBroken: (c) => c.broken,
    survives: (err) => err instanceof RemoteCommandError && err.code !== null,
    idleMs: opts.idleMs ?? 1_000,
    maxIdlePerKey: opts.maxIdlePerKey ?? 4,
  });
  const connect = async () => {
    const c = { id: made.length + 1, broken: false, closed: false };
    made.push(c);
    return c;
  };
  const idOf = (key: string) => pool.use(key, connect, async (c) => c.id);
  return { pool, made, connect, idOf };
}

/** A promise and its resolve, to hold a caller inside the pool. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

const commandFailure = (code: number | null) => new RemoteCommandError('failed', 'web1', 'cmd', code, '');

describe('ConnectionPool', () => {
  afterEach(() => jest.useRealTimers());

  test('a second call with the same key reuses the idle connection instead of connecting', async () => {
    const { pool, made, idOf } = testPool();
    expect(await idOf('a')).toBe(1);
    expect(pool.idleCount('a')).toBe(1);
    expect(await idOf('a')).toBe(1);
    expect(made).toHaveLength(1);
    expect(made[0].closed).toBe(false);
    pool.closeIdle();
  });

  test('two concurrent callers get two connections, both kept afterwards', async () => {
    const { pool, made, connect } = testPool();
    const hold = gate();
    const first = pool.use('a', connect, async (c) => {
      await hold.opened;
      return c.id;
    });
    // The first caller still holds its connection: the second must not share it.
    const second = await pool.use('a', connect, async (c) => c.id);
    hold.open();
    expect([await first, second]).toEqual([1, 2]);
    expect(made).toHaveLength(2);
    expect(pool.idleCount('a')).toBe(2);
    pool.closeIdle();
  });

  test('a connection that broke while in use is closed, not reused', async () => {
    const { pool, made, connect, idOf } = testPool();
    await pool.use('a', connect, async (c) => {
      c.broken = true;
    });
    expect(made[0].closed).toBe(true);
    expect(pool.idleCount('a')).toBe(0);
    expect(await idOf('a')).toBe(2);
    pool.closeIdle();
  });

  test('an idle connection that broke while waiting is closed and skipped', async () => {
    const { pool, made, idOf } = testPool();
    await idOf('a');
    made[0].broken = true;
    expect(await idOf('a')).toBe(2);
    expect(made[0].closed).toBe(true);
    pool.closeIdle();
  });

  test("an error the connection may not survive closes it; the caller's error comes through unchanged", async () => {
    const { pool, made, connect, idOf } = testPool();
    const lost = new Error('No response from server');
    await expect(
      pool.use('a', connect, async () => {
        throw lost;
      }),
    ).rejects.toBe(lost);
    expect(made[0].closed).toBe(true);
    expect(pool.idleCount('a')).toBe(0);
    expect(await idOf('a')).toBe(2);
    pool.closeIdle();
  });

  test('a command that exited non-zero keeps the connection; one that timed out (no code) closes it', async () => {
    const { pool, made, connect } = testPool();
    await expect(
      pool.use('a', connect, async () => {
        throw commandFailure(1);
      }),
    ).rejects.toThrow('failed');
    expect(made[0].closed).toBe(false);
    expect(pool.idleCount('a')).toBe(1);
    await expect(
      pool.use('a', connect, async () => {
        throw commandFailure(null);
      }),
    ).rejects.toThrow('failed');
    expect(made).toHaveLength(1);
    expect(made[0].closed).toBe(true);
    expect(pool.idleCount('a')).toBe(0);
  });

  test('a failed connect reaches the caller and leaves nothing in the pool', async () => {
    const { pool } = testPool();
    const refused = new HostKeyMismatchError('web1 (10.0.0.1:22)');
    const fn = jest.fn();
    await expect(pool.use('a', () => Promise.reject(refused), fn)).rejects.toBe(refused);
    expect(fn).not.toHaveBeenCalled();
    expect(pool.idleCount()).toBe(0);
  });

  test('an idle connection is closed after idleMs, and one used again in time is not', async () => {
    jest.useFakeTimers();
    const { pool, made, idOf } = testPool({ idleMs: 15_000 });
    await idOf('a');
    jest.advanceTimersByTime(14_000);
    expect(made[0].closed).toBe(false);
    // Taking it cancels its timer: the 15 s start again when it is returned.
    expect(await idOf('a')).toBe(1);
    jest.advanceTimersByTime(14_000);
    expect(made[0].closed).toBe(false);
    expect(pool.idleCount('a')).toBe(1);
    jest.advanceTimersByTime(1_000);
    expect(made[0].closed).toBe(true);
    expect(pool.idleCount('a')).toBe(0);
    expect(await idOf('a')).toBe(2);
    pool.closeIdle();
  });

  test("an idle connection's timer does not keep the process alive", async () => {
    const { pool, idOf } = testPool({ idleMs: 60_000 });
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    await idOf('a');
    expect(pool.idleCount('a')).toBe(1);
    expect(timers()).toBe(before);
    pool.closeIdle();
  });

  test('at most maxIdlePerKey connections are kept per key; the extras are closed', async () => {
    const { pool, made, connect } = testPool({ maxIdlePerKey: 2 });
    const hold = gate();
    const callers = [1, 2, 3, 4].map(() => pool.use('a', connect, () => hold.opened));
    hold.open();
    await Promise.all(callers);
    expect(made).toHaveLength(4);
    expect(pool.idleCount('a')).toBe(2);
    expect(made.filter((c) => c.closed)).toHaveLength(2);
    pool.closeIdle();
  });

  test('different keys never share a connection', async () => {
    const { pool, made, idOf } = testPool();
    expect(await idOf('a')).toBe(1);
    expect(await idOf('b')).toBe(2);
    expect(await idOf('a')).toBe(1);
    expect(await idOf('b')).toBe(2);
    expect(made).toHaveLength(2);
    expect(pool.idleCount()).toBe(2);
    pool.closeIdle();
  });

  test('closeIdle closes every idle connection, of every key, and cancels their timers', async () => {
    jest.useFakeTimers();
    const { pool, made, idOf } = testPool({ idleMs: 5_000 });
    await idOf('a');
    await idOf('b');
    pool.closeIdle();
    expect(made.map((c) => c.closed)).toEqual([true, true]);
    expect(pool.idleCount()).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
    expect(await idOf('a')).toBe(3);
    pool.closeIdle();
  });

  test('a close that throws does not replace the result', async () => {
    const pool = new ConnectionPool<Conn>({
      close: () => {
        throw new Error('already closed');
      },
      isBroken: () => true,
      survives: () => false,
      idleMs: 1_000,
      maxIdlePerKey: 4,
    });
    const connect = async () => ({ id: 1, broken: true, closed: false });
    await expect(pool.use('a', connect, async () => 'done')).resolves.toBe('done');
  });
});

describe('withHost over the pool', () => {
  const keyDir = mkdtempSync(join(tmpdir(), 'pool-test-'));
  const privateKeyPath = join(keyDir, 'id_ed25519');
  writeFileSync(privateKeyPath, 'not a real key: the fake SSH never reads it\n');
  const pinned = Buffer.from('pinned host key');
  const web1: HostConfig = {
    name: 'web1',
    address: '10.0.0.1',
    port: 22,
    user: 'deploy',
    privateKeyPath,
    hostKey: `ssh-ed25519 ${pinned.toString('base64')}`,
    baseDir: '/srv',
    env: {},
  };
  const echo = (config: HostConfig) => withHost(config, (h) => h.run(['echo', 'hi'], { timeoutMs: 1_000 }));

  beforeEach(() => {
    FakeSSH.made.length = 0;
    FakeSSH.presentedKey = pinned;
    delete process.env.DEPLOY_SSH_REUSE;
  });
  afterEach(() => {
    closeIdleConnections();
    delete process.env.DEPLOY_SSH_REUSE;
  });

  test('consecutive calls share one connection; closeIdleConnections closes it', async () => {
    await echo(web1);
    await echo(web1);
    expect(FakeSSH.made).toHaveLength(1);
    expect(FakeSSH.made[0].commands).toEqual(['echo hi', 'echo hi']);
    expect(FakeSSH.made[0].disposed).toBe(false);
    closeIdleConnections();
    expect(FakeSSH.made[0].disposed).toBe(true);
  });

  test("each caller sees its own config over a shared connection (baseDir and env are not the connection's)", async () => {
    await echo(web1);
    const other = { ...web1, baseDir: '/opt/other', env: { BIND: '127.0.0.1' } };
    const seen = await withHost(other, async (h) => h.config);
    expect(FakeSSH.made).toHaveLength(1);
    expect(seen).toBe(other);
  });

  test('another address, port, user, key file or name is another connection', async () => {
    const otherKey = join(keyDir, 'id_other');
    writeFileSync(otherKey, 'another fake key\n');
    await echo(web1);
    await echo({ ...web1, address: '10.0.0.2' });
    await echo({ ...web1, port: 2222 });
    await echo({ ...web1, user: 'root' });
    await echo({ ...web1, privateKeyPath: otherKey });
    await echo({ ...web1, name: 'web1b' });
    expect(FakeSSH.made).toHaveLength(6);
    await echo(web1);
    expect(FakeSSH.made).toHaveLength(6);
  });

  test("a connection ssh2 reported an error on is never reused (and the error is not an uncaught 'error' event)", async () => {
    await echo(web1);
    expect(() => FakeSSH.made[0].connection?.emit('error', new Error('Keepalive timeout'))).not.toThrow();
    await echo(web1);
    expect(FakeSSH.made).toHaveLength(2);
    expect(FakeSSH.made[0].disposed).toBe(true);
  });

  test('a connection that ended or closed under the caller is not put back', async () => {
    await withHost(web1, async () => {
      FakeSSH.made[0].connection?.emit('close');
    });
    await echo(web1);
    expect(FakeSSH.made).toHaveLength(2);
  });

  test('a command that exits non-zero keeps the connection; an error of the caller closes it', async () => {
    await expect(withHost(web1, (h) => h.run(['false'], { timeoutMs: 1_000 }))).rejects.toBeInstanceOf(
      RemoteCommandError,
    );
    await echo(web1);
    expect(FakeSSH.made).toHaveLength(1);
    await expect(
      withHost(web1, async () => {
        throw new Error('Channel open failure: open failed');
      }),
    ).rejects.toThrow('Channel open failure');
    expect(FakeSSH.made[0].disposed).toBe(true);
    await echo(web1);
    expect(FakeSSH.made).toHaveLength(2);
  });

  test('a command that timed out, was cancelled or ended without an exit status closes the connection', async () => {
    for (const code of [null, -1]) {
      await expect(
        withHost(web1, async () => {
          throw new RemoteCommandError('timed out after 1000 ms', 'web1', 'sleep 5', code, '');
        }),
      ).rejects.toBeInstanceOf(RemoteCommandError);
    }
    expect(FakeSSH.made).toHaveLength(2);
    expect(FakeSSH.made.every((s) => s.disposed)).toBe(true);
  });

  test('a host that calls dispose itself is not reused', async () => {
    await withHost(web1, async (h) => h.dispose());
    await echo(web1);
    expect(FakeSSH.made).toHaveLength(2);
  });

  test('DEPLOY_SSH_REUSE=0 connects and disconnects around every call', async () => {
    process.env.DEPLOY_SSH_REUSE = '0';
    await echo(web1);
    await echo(web1);
    expect(FakeSSH.made).toHaveLength(2);
    expect(FakeSSH.made.every((s) => s.disposed)).toBe(true);
  });

  test('a host presenting another key is still refused with HostKeyMismatchError, and nothing is pooled', async () => {
    FakeSSH.presentedKey = Buffer.from('some other key');
    await expect(echo(web1)).rejects.toBeInstanceOf(HostKeyMismatchError);
    FakeSSH.presentedKey = pinned;
    await echo(web1);
    expect(FakeSSH.made).toHaveLength(1);
  });
});
