import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { parseEnvironment } from '../../../src/config/load';
import { secretChecks } from '../../../src/activities/configCheck';
import { ConfigError } from '../../../src/config/errors';
import { retryableStatus, signature, slackText, webhookRequest } from '../../../src/notifications/webhook';
import type { DeliveredNotification } from '../../../src/shared/notifications';
import { FIXTURES } from '../helpers';

const notification: DeliveredNotification = {
  event: 'approved',
  environment: 'production',
  summary: 'r7 approved by alice',
  workflowId: 'deploy-production-r7',
  deliveryId: 'deploy-production-r7/3-approved',
  at: '2026-12-05T10:00:00.000Z',
  release: 'r7',
  by: 'alice',
  detail: 'after <INC-42> & the fix',
  link: 'http://ui.example/namespaces/default/workflows/deploy-production-r7',
};

describe('webhook requests', () => {
  test('json: the notification as it is, with event and delivery headers, signed when a key is given', () => {
    const request = webhookRequest('json', notification, 'Jefe');
    expect(JSON.parse(request.body)).toEqual(notification);
    expect(request.headers).toEqual({
      'content-type': 'application/json',
      'user-agent': 'deployctl-worker',
      'x-deploy-event': 'approved',
      'x-deploy-delivery': 'deploy-production-r7/3-approved',
      'x-deploy-signature': signature(request.body, 'Jefe'),
    });
    expect(webhookRequest('json', notification).headers).not.toHaveProperty('x-deploy-signature');
  });

  test("slack: an incoming-webhook {text} with Slack's markup characters escaped and a link to the UI", () => {
    const request = webhookRequest('slack', notification);
    expect(JSON.parse(request.body)).toEqual({
      text:
        '*production*: r7 approved by alice\nafter &lt;INC-42&gt; &amp; the fix\n' +
        '<http://ui.example/namespaces/default/workflows/deploy-production-r7|Open in Temporal>',
    });
    expect(slackText({ ...notification, detail: undefined })).not.toContain('\nafter');
  });

  test('the signature is HMAC-SHA256 over the body (RFC 4231 test case 2)', () => {
    expect(signature('what do ya want for nothing?', 'Jefe')).toBe(
      'sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
  });

  test.each([
    [200, false],
    [404, false],
    [401, false],
    [408, true],
    [429, true],
    [500, true],
    [503, true],
  ])('HTTP %i is retried: %s', (status, retried) => {
    expect(retryableStatus(status)).toBe(retried);
  });
});

describe('notifications config', () => {
  const good = parse(readFileSync(join(FIXTURES, 'staging.yaml'), 'utf8'));
  function problemsOf(notifications: unknown): string[] {
    try {
      parseEnvironment(stringify({ ...good, notifications }), 'envs/staging.yaml', 'staging');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).problems;
    }
    throw new Error('expected the config to be rejected');
  }

  test('webhooks with their secret sources, formats and events load', () => {
    const env = parseEnvironment(
      stringify({
        ...good,
        notifications: {
          webhooks: [
            {
              name: 'chat',
              format: 'slack',
              url: { fromEnv: 'SLACK_URL' },
              events: ['failed', 'rolled-back'],
            },
            { name: 'audit', url: { fromFile: '/run/secrets/hook' }, signingKey: { fromEnv: 'HOOK_KEY' } },
          ],
        },
      }),
      'envs/staging.yaml',
      'staging',
    );
    expect(env.notifications?.webhooks.map((w) => [w.name, w.format, w.events])).toEqual([
      ['chat', 'slack', ['failed', 'rolled-back']],
      ['audit', 'json', undefined],
    ]);
  });

  test.each([
    [
      'a URL written in the config (a secret belongs in the worker)',
      { webhooks: [{ name: 'chat', url: 'https://hooks.example/T0/B0/x' }] },
      'notifications.webhooks.0.url: value "https://hooks.example/T0/B0/x"',
    ],
    [
      'an unknown event',
      { webhooks: [{ name: 'chat', url: { fromEnv: 'U' }, events: ['deployed'] }] },
      'notifications.webhooks.0.events.0: value "deployed"',
    ],
    [
      'two webhooks of one name',
      {
        webhooks: [
          { name: 'chat', url: { fromEnv: 'U' } },
          { name: 'chat', url: { fromEnv: 'V' } },
        ],
      },
      'notifications.webhooks.1.name: value "chat" names a webhook already listed (names must be unique)',
    ],
    [
      'an unknown format',
      { webhooks: [{ name: 'chat', url: { fromEnv: 'U' }, format: 'teams' }] },
      'notifications.webhooks.0.format: value "teams"',
    ],
  ])('refused: %s', (_what, notifications, problem) => {
    expect(problemsOf(notifications).join('\n')).toContain(problem);
  });
});

describe('config check of webhooks', () => {
  const environment = (webhooks: unknown) =>
    parseEnvironment(
      stringify({
        ...parse(readFileSync(join(FIXTURES, 'staging.yaml'), 'utf8')),
        notifications: { webhooks },
      }),
      'envs/staging.yaml',
      'staging',
    );

  test('a readable http(s) URL and key pass; the values are never shown', async () => {
    const checks = await secretChecks(
      environment([{ name: 'ops', url: { fromEnv: 'HOOK' }, signingKey: { fromEnv: 'HOOK_KEY' } }]),
      { STAGING_DB_PASSWORD: 'pw-123456', HOOK: 'https://hooks.example/T0/secret-path', HOOK_KEY: 'k3y' },
    );
    expect(checks.filter((c) => c.check === 'webhook')).toEqual([
      {
        check: 'webhook',
        where: 'ops',
        verdict: 'ok',
        detail:
          "json to the URL from the worker's environment variable HOOK, signed with the key from the worker's environment variable HOOK_KEY (nothing sent)",
      },
    ]);
    expect(JSON.stringify(checks)).not.toContain('secret-path');
  });

  test.each([
    [{}, 'webhook "ops": its url cannot be read from the worker\'s environment variable HOOK on this worker'],
    [
      { HOOK: 'ftp://hooks.example/secret-path' },
      'webhook "ops": the url read from the worker\'s environment variable HOOK must be an http(s) URL (not shown: it is a secret)',
    ],
    [
      { HOOK: 'https://hooks.example/x' },
      'webhook "ops": its signingKey cannot be read from the worker\'s environment variable HOOK_KEY on this worker',
    ],
  ])('fails naming the webhook and the source: %j', async (workerEnv, detail) => {
    const checks = await secretChecks(
      environment([{ name: 'ops', url: { fromEnv: 'HOOK' }, signingKey: { fromEnv: 'HOOK_KEY' } }]),
      { STAGING_DB_PASSWORD: 'pw-123456', ...workerEnv },
    );
    expect(checks.filter((c) => c.check === 'webhook')).toEqual([
      { check: 'webhook', where: 'ops', verdict: 'failed', detail },
    ]);
  });
});
