/**
 * The dev server manager against the real Temporal CLI (no download): a throwaway server on free
 * ports with a temporary data dir. Fails, never skips, when the binary is missing.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { ALL_SEARCH_ATTRIBUTES } from '../../src/shared/searchAttributes';
import { MissingBinaryError, resolveTemporalCli, resolveTestServer } from '../../src/devserver/binaries';
import {
  devServerStatus,
  PortInUseError,
  startDevServer,
  StartResult,
  stopDevServer,
} from '../../src/devserver/devServer';
import { httpStatus } from '../../src/devserver/health';
import { readPidFile } from '../../src/devserver/pidFile';
import { findFreePort } from '../../src/devserver/ports';
import { isAlive } from '../../src/devserver/processes';

jest.setTimeout(90_000);

const tmpDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'devserver-test-'));
  tmpDirs.push(dir);
  return dir;
}

describe('binaries', () => {
  test('the Temporal CLI and the test server are installed (npm run bootstrap)', () => {
    // Throws MissingBinaryError("... Run \"npm run bootstrap\" ...") when they are not: the test fails.
    expect(existsSync(resolveTemporalCli())).toBe(true);
    expect(existsSync(resolveTestServer())).toBe(true);
  });

  test('a missing binary gives an error naming the variable and the fix', () => {
    const env = { PATH: '/nonexistent' };
    expect(() => resolveTemporalCli(env, '/nonexistent/bin')).toThrow(MissingBinaryError);
    expect(() => resolveTemporalCli(env, '/nonexistent/bin')).toThrow(
      /TEMPORAL_CLI_PATH.*npm run bootstrap/s,
    );
    expect(() => resolveTestServer(env, '/nonexistent/bin')).toThrow(
      /TEMPORAL_TEST_SERVER_PATH.*npm run bootstrap/s,
    );
  });

  test('an explicit path must be an executable file', () => {
    const dir = tempDir();
    const notExecutable = join(dir, 'temporal');
    writeFileSync(notExecutable, '#!/bin/sh\n', { mode: 0o644 });
    expect(() => resolveTemporalCli({ TEMPORAL_CLI_PATH: notExecutable })).toThrow(/not an executable file/);
    const cli = resolveTemporalCli();
    expect(resolveTemporalCli({ TEMPORAL_CLI_PATH: cli })).toBe(cli);
  });
});

describe('dev server lifecycle', () => {
  let cliPath: string;
  let dataDir: string;
  let port: number;
  let uiPort: number;
  let started: StartResult;
  const opts = () => ({ cliPath, dataDir, port, uiPort });

  beforeAll(async () => {
    cliPath = resolveTemporalCli();
    dataDir = tempDir();
    port = await findFreePort();
    uiPort = await findFreePort();
  });

  afterAll(async () => {
    await stopDevServer({ dataDir, stopTimeoutMs: 2_000 }).catch(() => undefined);
    for (const dir of tmpDirs) rmSync(dir, { recursive: true, force: true });
  });

  test('starts, answers, writes its pid file and serves the Web UI', async () => {
    started = await startDevServer(opts());
    expect(started.alreadyRunning).toBe(false);
    expect(started.address).toBe(`127.0.0.1:${port}`);
    expect(started.dbFilename).toBe(join(dataDir, 'temporal.sqlite'));
    expect(isAlive(started.pid)).toBe(true);
    expect(readPidFile(join(dataDir, 'server.pid'))?.pid).toBe(started.pid);
    expect(existsSync(started.dbFilename)).toBe(true);
    expect(await httpStatus(`http://127.0.0.1:${uiPort}/`)).toBe(200);
    console.log(`dev server answered ${started.startupMs} ms after spawn`);
  });

  test('registers the custom search attributes as Keyword', async () => {
    const connection = await Connection.connect({ address: started.address });
    try {
      const { customAttributes } = await connection.operatorService.listSearchAttributes({
        namespace: 'default',
      });
      const keyword = 2; // temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
      const registered = Object.fromEntries(
        ALL_SEARCH_ATTRIBUTES.map((key) => [key.name, customAttributes?.[key.name]]),
      );
      expect(registered).toEqual(Object.fromEntries(ALL_SEARCH_ATTRIBUTES.map((key) => [key.name, keyword])));
    } finally {
      await connection.close();
    }
  });

  test('starting again is a no-op that reports the running server', async () => {
    const again = await startDevServer(opts());
    expect(again.alreadyRunning).toBe(true);
    expect(again.pid).toBe(started.pid);
    const status = await devServerStatus({ dataDir });
    expect(status.state).toBe('running');
    expect(status.server?.uiUrl).toBe(`http://127.0.0.1:${uiPort}`);
  });

  test('a taken gRPC port is refused before spawning, naming the port and TEMPORAL_PORT', async () => {
    const otherDir = tempDir();
    const attempt = startDevServer({ cliPath, dataDir: otherDir, port, uiPort: await findFreePort() });
    await expect(attempt).rejects.toThrow(PortInUseError);
    await expect(attempt).rejects.toThrow(
      new RegExp(`gRPC port ${port} on 127\\.0\\.0\\.1 is already in use.*TEMPORAL_PORT`),
    );
    expect(existsSync(join(otherDir, 'server.pid'))).toBe(false);
  });

  test('a taken UI port is refused too, naming TEMPORAL_UI_PORT', async () => {
    const blocker: Server = createServer();
    const blockedPort = await findFreePort();
    await new Promise<void>((r) => blocker.listen(blockedPort, '127.0.0.1', r));
    try {
      const attempt = startDevServer({
        cliPath,
        dataDir: tempDir(),
        port: await findFreePort(),
        uiPort: blockedPort,
      });
      await expect(attempt).rejects.toThrow(new RegExp(`UI port ${blockedPort} .*TEMPORAL_UI_PORT`));
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()));
    }
  });

  test('workflows survive a stop and a start on the same database file', async () => {
    const workflowId = `persisted-${Date.now()}`;
    let connection = await Connection.connect({ address: started.address });
    try {
      await new Client({ connection }).workflow.start('NotRegisteredAnywhere', {
        taskQueue: 'nobody-polls-this',
        workflowId,
        workflowExecutionTimeout: '1 day',
      });
    } finally {
      await connection.close();
    }

    const stopped = await stopDevServer({ dataDir });
    expect(stopped).toMatchObject({ wasRunning: true, pid: started.pid, killed: false });
    expect(isAlive(started.pid)).toBe(false);

    started = await startDevServer(opts());
    expect(started.alreadyRunning).toBe(false);
    connection = await Connection.connect({ address: started.address });
    try {
      const description = await new Client({ connection }).workflow.getHandle(workflowId).describe();
      expect(description.status.name).toBe('RUNNING');
      expect(description.type).toBe('NotRegisteredAnywhere');
    } finally {
      await connection.close();
    }
  });

  test('stop sends SIGKILL when SIGTERM is not enough in time, and leaves no process or pid file', async () => {
    const pid = started.pid;
    const result = await stopDevServer({ dataDir, stopTimeoutMs: 1 });
    expect(result).toMatchObject({ wasRunning: true, pid, killed: true });
    expect(isAlive(pid)).toBe(false);
    expect(existsSync(join(dataDir, 'server.pid'))).toBe(false);
    expect((await devServerStatus({ dataDir })).state).toBe('stopped');
    expect(await stopDevServer({ dataDir })).toMatchObject({ wasRunning: false });
  });

  test('a stale pid file (dead process) is ignored and removed', async () => {
    const dir = tempDir();
    const pidFile = join(dir, 'server.pid');
    // A pid that cannot be alive: beyond the kernel's pid_max.
    writeFileSync(pidFile, JSON.stringify({ pid: 99_999_999, dbFilename: join(dir, 'temporal.sqlite') }));
    expect((await devServerStatus({ dataDir: dir })).state).toBe('stopped');
    expect(existsSync(pidFile)).toBe(false);
  });
});
