import { buildEnvFile, imageVariable } from '../../../src/activities/envFile';
import { auditLine } from '../../../src/activities/audit';
import { redact } from '../../../src/remote/redact';
import { parseDeployRequest } from '../../../src/config/request';
import { loadEnvironment } from '../../../src/config/load';
import { FIXTURES, stagingFixture } from '../helpers';

const environment = stagingFixture();
const request = parseDeployRequest({
  environment: 'staging',
  release: 'r42',
  images: { site: 'v2', api: 'v2' },
  requestedBy: 'ci',
});
const images = { site: 'ghcr.io/acme/site:v2', api: 'ghcr.io/acme/api:v2' };

describe('env file', () => {
  test('settings, images, release and secrets, one per line', () => {
    const { content, secretValues } = buildEnvFile({ environment, images, request }, environment.hosts[0], {
      DB_PASSWORD: 's3cr3t-pw',
    });
    expect(content).toBe(
      [
        '# Written by deployctl; every deployment replaces it.',
        'APP_RELEASE=r42',
        'BIND_ADDRESS=0.0.0.0',
        'SITE_IMAGE=ghcr.io/acme/site:v2',
        'API_IMAGE=ghcr.io/acme/api:v2',
        'DB_PASSWORD=s3cr3t-pw',
        '',
      ].join('\n'),
    );
    expect(secretValues).toEqual(['s3cr3t-pw']);
  });

  test('with colours, the shared network the compose files name', () => {
    const colourEnv = loadEnvironment(FIXTURES, 'production');
    const { content } = buildEnvFile({ environment: colourEnv, images, request }, colourEnv.hosts[0], {});
    expect(content.split('\n').slice(1, 3)).toEqual([
      'APP_RELEASE=r42',
      `TRAFFIC_NETWORK=${colourEnv.traffic!.network}`,
    ]);
  });

  test('image variables follow the service name', () => {
    expect(imageVariable('my-api')).toBe('MY_API_IMAGE');
  });
});

describe('redaction and audit', () => {
  test('secrets are replaced wherever they appear', () => {
    expect(redact('DB_PASSWORD=s3cr3t-pw and again s3cr3t-pw', ['s3cr3t-pw'])).toBe(
      'DB_PASSWORD=[REDACTED] and again [REDACTED]',
    );
  });
  test('very short values are not treated as secrets', () => {
    expect(redact('a b c', ['a'])).toBe('a b c');
  });
  test('an audit line says what, who, when and the result', () => {
    const line = auditLine(
      { deploymentId: 'deploy-staging-r42', request },
      { step: 'pull', result: 'succeeded' },
      new Date('2026-01-02T03:04:05Z'),
    );
    expect(JSON.parse(line)).toEqual({
      at: '2026-01-02T03:04:05.000Z',
      deployment: 'deploy-staging-r42',
      environment: 'staging',
      release: 'r42',
      by: 'ci',
      step: 'pull',
      result: 'succeeded',
    });
  });
});
