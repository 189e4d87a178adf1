import { parseDeployRequest, parseImageRef, requestFlagName } from '../../../src/config/request';
import { resolveImages } from '../../../src/activities/plan';
import { ConfigError } from '../../../src/config/errors';
import { stagingFixture } from '../helpers';

const ok = {
  environment: 'staging',
  release: '3f2a9c1',
  images: { site: 'v2', api: 'v2' },
  requestedBy: 'ci-bot',
};

describe('deploy request', () => {
  test('a good request passes unchanged', () => {
    expect(parseDeployRequest(ok)).toEqual(ok);
  });

  test.each([
    ['environment', { environment: 'prod;reboot' }, 'environment: value "prod;reboot" must be lowercase'],
    ['environment traversal', { environment: '../../etc' }, 'environment: value "../../etc"'],
    [
      'release with spaces',
      { release: 'v1 && curl x' },
      'release: value "v1 && curl x" must be letters, digits',
    ],
    ['release with newline', { release: 'v1\nv2' }, 'release: value "v1\\nv2"'],
    ['overlong release', { release: 'a'.repeat(65) }, 'release: value "aaaa'],
    ['image with $()', { images: { api: '$(id)' } }, 'images.api: value "$(id)" must be a tag'],
    ['image with backtick', { images: { api: 'ghcr.io/acme/api:`id`' } }, 'images.api'],
    ['service name with a slash', { images: { '../api': 'v2' } }, 'images.../api'],
    ['no images', { images: {} }, 'images: value {} must name at least one service image'],
    ['actor with a space', { requestedBy: 'a b' }, 'requestedBy: value "a b"'],
  ])('%s is rejected', (_label, change, expected) => {
    let caught: unknown;
    try {
      parseDeployRequest({ ...ok, ...change });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).message).toContain(expected);
  });

  test('rollbackTo names a release and belongs to a rollback only', () => {
    const rollback = { ...ok, images: {}, rollback: true as const, rollbackTo: 'v1.4' };
    expect(parseDeployRequest(rollback)).toEqual(rollback);
    expect(() => parseDeployRequest({ ...ok, rollbackTo: 'v1.4' })).toThrow(
      'rollbackTo: value "v1.4" is only allowed in a rollback',
    );
    expect(() => parseDeployRequest({ ...rollback, rollbackTo: '../v1' })).toThrow(
      'rollbackTo: value "../v1" must be letters, digits',
    );
  });

  test('an override of the deploy windows carries a one-line reason, refused as --reason', () => {
    const override = { ...ok, overrideFreeze: { reason: 'hotfix for INC-42' } };
    expect(parseDeployRequest(override)).toEqual(override);
    for (const reason of ['', 'two\nlines', 'x'.repeat(501)]) {
      expect(() =>
        parseDeployRequest({ ...ok, overrideFreeze: { reason } }, 'deploy flags', requestFlagName),
      ).toThrow(
        `--reason: value ${JSON.stringify(reason.length > 100 ? reason.slice(0, 20) : reason).slice(0, -1)}`,
      );
    }
  });

  test('refusals of the CLI name the flags the user typed, not the request keys', () => {
    let message = '';
    try {
      parseDeployRequest(
        { ...ok, release: 'a b', requestedBy: 'x$y', images: { api: 'bad ref' }, environment: 'Prod' },
        'deploy flags',
        requestFlagName,
      );
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message.split('\n').slice(1)).toEqual([
      expect.stringMatching(/^ {2}--env: value "Prod" must be lowercase/),
      expect.stringMatching(/^ {2}--release: value "a b" must be letters/),
      expect.stringMatching(/^ {2}--image api=: value "bad ref" must be a tag/),
      expect.stringMatching(/^ {2}--by: value "x\$y" must be a user name/),
    ]);
  });

  test.each([
    ['v2', { tag: 'v2' }],
    ['ghcr.io/acme/api:v2', { repository: 'ghcr.io/acme/api', tag: 'v2' }],
    ['127.0.0.1:5000/demo/api:v1', { repository: '127.0.0.1:5000/demo/api', tag: 'v1' }],
    [
      `ghcr.io/acme/api@sha256:${'a'.repeat(64)}`,
      { repository: 'ghcr.io/acme/api', digest: `sha256:${'a'.repeat(64)}` },
    ],
    ['Api:V2', undefined],
    ['api:v2;x', undefined],
    ['ghcr.io/acme/api:', undefined],
  ])('image ref %s', (ref, expected) => {
    expect(parseImageRef(ref)).toEqual(expected);
  });
});

describe('image resolution against the environment', () => {
  const env = stagingFixture();
  const request = parseDeployRequest(ok);

  test('tags become full references in the configured repository', () => {
    expect(resolveImages(request, env, undefined)).toEqual({
      site: 'ghcr.io/acme/site:v2',
      api: 'ghcr.io/acme/api:v2',
    });
  });

  test('services not named keep the image that runs', () => {
    const previous = {
      release: 'r1',
      images: { site: 'ghcr.io/acme/site:v1', api: 'ghcr.io/acme/api:v1' },
      deployedAt: '',
      deployedBy: '',
      deploymentId: '',
    };
    expect(resolveImages({ ...request, images: { api: 'v3' } }, env, previous)).toEqual({
      site: 'ghcr.io/acme/site:v1',
      api: 'ghcr.io/acme/api:v3',
    });
  });

  test('unknown services, foreign repositories and missing images are all named', () => {
    let caught: ConfigError | undefined;
    try {
      resolveImages({ ...request, images: { web: 'v1', api: 'docker.io/evil/api:v1' } }, env, undefined);
    } catch (err) {
      caught = err as ConfigError;
    }
    expect(caught?.problems).toEqual([
      'images.web: service "web" is not in environment "staging" (known: site, api)',
      'images.api: value "docker.io/evil/api:v1" must come from the configured repository "ghcr.io/acme/api"',
      'images.site: no image given and none is deployed yet in "staging"',
    ]);
  });
});
