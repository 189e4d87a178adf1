import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..');
const SECRET = 'pw-7c1e5a9b3d';

/** A lab dir with a secrets file, and a tree to sweep holding `files`. */
function sweep(files: Record<string, string>) {
  const lab = mkdtempSync(join(tmpdir(), 'sweep-lab-'));
  writeFileSync(join(lab, 'secrets.env'), `LAB_DB_PASSWORD=${SECRET}\nSHORT=abc\n`);
  const tree = mkdtempSync(join(tmpdir(), 'sweep-tree-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(tree, path, '..'), { recursive: true });
    writeFileSync(join(tree, path), text);
  }
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/sweep-secrets.ts', tree], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, LAB_DIR: lab },
  });
  return { status: run.status, out: `${run.stdout}${run.stderr}` };
}

test('a secret value in a log is found and named by its variable, never shown', () => {
  const { status, out } = sweep({
    'logs/worker.log': `connecting with password ${SECRET}\n`,
    'ok.log': 'nothing',
  });
  expect(out).toMatch(/sweep-tree-\w+\/logs\/worker\.log: holds the value of LAB_DB_PASSWORD/);
  expect(out).toContain('2 file(s)');
  expect(out).not.toContain(SECRET);
  expect(status).toBe(1);
});

test("the hosts' env files, where secrets belong, and the engines' storage are not swept", () => {
  const { status, out } = sweep({
    'hosts/lab-1/srv/demo/.env': `DB_PASSWORD=${SECRET}\n`,
    'hosts/lab-1/storage/overlay/config.json': `{"Env":["POSTGRES_PASSWORD=${SECRET}"]}`,
    'audit.log': '{"step":"upload","result":"succeeded"}\n',
  });
  expect(out).toContain('1 file(s)');
  expect(out).toContain('none found');
  expect(status).toBe(0);
});

test('exported workflow histories are swept, and a history that could not be exported fails the sweep', () => {
  const found = sweep({
    'histories/pipeline.test-abc/deploy-x-run1.json': `{"events":[{"input":{"payloads":[{"data":"{\\"password\\":\\"${SECRET}\\"}"}]}}]}`,
    'histories/pipeline.test-abc/deploy-y-run2.json': '{"events":[]}',
  });
  expect(found.out).toContain('(2 of them workflow histories)');
  expect(found.out).toMatch(
    /histories\/pipeline\.test-abc\/deploy-x-run1\.json: holds the value of LAB_DB_PASSWORD/,
  );
  expect(found.status).toBe(1);

  const failed = sweep({ 'histories/deploy.test-abc/.export-failed': 'not done within 60000 ms\n' });
  expect(failed.out).toMatch(
    /histories\/deploy\.test-abc\/\.export-failed: workflow histories not all exported: not done within 60000 ms/,
  );
  expect(failed.status).toBe(1);
});
