import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configFileChecks } from '../../../src/activities/configCheck';
import { configCheckExitCode, configCheckTable } from '../../../src/client/configCheck';
import { ExitCode } from '../../../src/client/exitCodes';

const example = readFileSync(
  join(__dirname, '..', '..', '..', 'config', 'environments', 'example.yaml'),
  'utf8',
);

describe('config files', () => {
  test('valid files pass together; other files are warned about, dot files ignored', () => {
    const dir = mkdtempSync(join(tmpdir(), 'check-'));
    writeFileSync(join(dir, 'example.yaml'), example);
    writeFileSync(join(dir, 'example.yaml.bak'), example);
    writeFileSync(join(dir, '.keep'), '');
    expect(configFileChecks(dir)).toEqual([
      {
        check: 'config file',
        where: 'example.yaml.bak',
        verdict: 'warn',
        detail: `ignored: only *.yaml and *.yml files in ${dir} are environments`,
      },
      { check: 'config files', where: dir, verdict: 'ok', detail: '1 environment(s) valid: example' },
    ]);
  });

  test('each bad file is named with its own problems; both spellings of one name are refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'check-'));
    writeFileSync(join(dir, 'example.yaml'), example);
    writeFileSync(join(dir, 'other.yml'), example);
    writeFileSync(join(dir, 'twice.yaml'), example.replace('name: example', 'name: twice'));
    writeFileSync(join(dir, 'twice.yml'), example.replace('name: example', 'name: twice'));
    const checks = configFileChecks(dir);
    expect(checks.map((c) => [c.verdict, c.where])).toEqual([
      ['failed', 'other.yml'],
      ['failed', 'twice.yaml'],
      ['failed', 'twice.yml'],
    ]);
    expect(checks[0].detail).toContain('name: value "example" must equal the file name "other"');
    expect(checks[1].detail).toContain('environment "twice" is configured twice');
  });

  test('a config dir that does not exist is one failed check', () => {
    expect(configFileChecks('/nonexistent/configs')).toEqual([
      {
        check: 'config dir',
        where: '/nonexistent/configs',
        verdict: 'failed',
        detail: '/nonexistent/configs does not exist (the worker reads DEPLOY_CONFIG_DIR)',
      },
    ]);
  });
});

test('the table aligns verdict, check and where; a detail over several lines stays indented', () => {
  const checks = [
    { check: 'ssh', where: 'web-1', verdict: 'ok' as const, detail: 'connected' },
    {
      check: 'config file',
      where: 'a.yaml',
      verdict: 'failed' as const,
      detail: 'a.yaml is invalid:\n  name: bad',
    },
  ];
  expect(configCheckTable(checks).split('\n')).toEqual([
    'OK      ssh          web-1   connected',
    'FAILED  config file  a.yaml  a.yaml is invalid:',
    '                               name: bad',
  ]);
  expect(configCheckExitCode({ environment: 'e', checks })).toBe(ExitCode.invalidInput);
  expect(
    configCheckExitCode({ environment: 'e', checks: [checks[0], { ...checks[1], verdict: 'warn' }] }),
  ).toBe(ExitCode.succeeded);
});
