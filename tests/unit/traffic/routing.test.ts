import { loadEnvironment } from '../../../src/config/load';
import {
  allOn,
  colourAlias,
  colourProject,
  liveColour,
  otherColour,
  split,
} from '../../../src/traffic/colours';
import { parse } from 'yaml';
import { buildRoutingFile, PREVIEW_PRIORITY, readRoutingWeights } from '../../../src/traffic/routing';
import { FIXTURES, stagingFixture } from '../helpers';

const env = loadEnvironment(FIXTURES, 'production');
const FILE = '/srv/apps/shop/routing/production.yml';

const router = (name: string, rule: string, service: string) => [
  `    ${name}:`,
  '      entryPoints:',
  '        - web',
  `      rule: ${rule}`,
  `      service: ${service}`,
];
const preview = (name: string, rule: string, service: string, priority: number) => [
  `    ${name}:`,
  '      entryPoints:',
  '        - web',
  `      rule: ${rule}`,
  `      priority: ${priority}`,
  `      service: ${service}`,
];
const weighted = (name: string, blue: number, green: number) => [
  `    ${name}:`,
  '      weighted:',
  '        services:',
  `          - name: ${name}-blue`,
  `            weight: ${blue}`,
  `          - name: ${name}-green`,
  `            weight: ${green}`,
];
const server = (name: string, url: string) => [
  `    ${name}:`,
  '      loadBalancer:',
  '        servers:',
  `          - url: ${url}`,
];

describe('routing file', () => {
  test('a user router and two preview routers per service, a weighted service over both colours', () => {
    const text = buildRoutingFile({
      environment: env,
      weights: split('green', 10),
      writtenBy: 'deploy-production-r2',
    });
    const apiRule = 'Host(`api.example.com`) || PathPrefix(`/api`)';
    expect(text.split('\n')).toEqual([
      '# Routing of environment production: blue 90 %, green 10 %.',
      '# Written by durable-deploy (deploy-production-r2); every deployment rewrites it whole, so do not edit it.',
      'http:',
      '  routers:',
      ...router('shop-site', 'PathPrefix(`/`)', 'shop-site'),
      ...preview(
        'shop-site-blue-preview',
        'Header(`X-Deploy-Colour`, `blue`) && (PathPrefix(`/`))',
        'shop-site-blue',
        100015,
      ),
      ...preview(
        'shop-site-green-preview',
        'Header(`X-Deploy-Colour`, `green`) && (PathPrefix(`/`))',
        'shop-site-green',
        100015,
      ),
      ...router('shop-api', apiRule, 'shop-api'),
      ...preview(
        'shop-api-blue-preview',
        `Header(\`X-Deploy-Colour\`, \`blue\`) && (${apiRule})`,
        'shop-api-blue',
        100045,
      ),
      ...preview(
        'shop-api-green-preview',
        `Header(\`X-Deploy-Colour\`, \`green\`) && (${apiRule})`,
        'shop-api-green',
        100045,
      ),
      '  services:',
      ...weighted('shop-site', 90, 10),
      ...server('shop-site-blue', 'http://shop-blue-site:8080'),
      ...server('shop-site-green', 'http://shop-green-site:8080'),
      ...weighted('shop-api', 90, 10),
      ...server('shop-api-blue', 'http://shop-blue-api:3000'),
      ...server('shop-api-green', 'http://shop-green-api:3000'),
      '',
    ]);
  });

  test("previews keep the user rules' order: the catch-all site never takes a preview of /api", () => {
    const text = buildRoutingFile({ environment: env, weights: allOn('blue'), writtenBy: 't' });
    const routers = (parse(text) as { http: { routers: Record<string, { priority?: number }> } }).http
      .routers;
    expect(routers['shop-api-green-preview'].priority).toBeGreaterThan(
      routers['shop-site-green-preview'].priority!,
    );
    expect(routers['shop-site-green-preview'].priority).toBeGreaterThan(PREVIEW_PRIORITY);
  });

  test('what was written is what is read back, for every split', () => {
    for (const weights of [
      allOn('blue'),
      allOn('green'),
      split('green', 25),
      split('blue', 50),
      { blue: 0, green: 0 },
    ]) {
      const text = buildRoutingFile({ environment: env, weights, writtenBy: 'test' });
      expect(readRoutingWeights(text, env, FILE)).toEqual(weights);
    }
  });

  test('weights must be whole percentages adding up to 100', () => {
    expect(() =>
      buildRoutingFile({ environment: env, weights: { blue: 60, green: 60 }, writtenBy: 't' }),
    ).toThrow('weights must add up to 100 (or both be 0), got blue 60 + green 60');
    expect(() =>
      buildRoutingFile({ environment: env, weights: { blue: 99.5, green: 0.5 }, writtenBy: 't' }),
    ).toThrow('weight of blue must be an integer from 0 to 100, got 99.5');
  });

  test('an environment without a traffic section has no routing', () => {
    expect(() =>
      buildRoutingFile({ environment: stagingFixture(), weights: allOn('blue'), writtenBy: 't' }),
    ).toThrow('environment staging has no traffic section: nothing routes between colours');
  });

  test('a file that is not ours, is torn or disagrees with itself is refused naming the file', () => {
    expect(() => readRoutingWeights('http: [', env, FILE)).toThrow(`${FILE} is not valid YAML`);
    expect(() => readRoutingWeights('http:\n  services: {}\n', env, FILE)).toThrow(
      `${FILE} has no weighted service "shop-site": it was not written by this environment's deployments`,
    );
    const good = buildRoutingFile({ environment: env, weights: allOn('blue'), writtenBy: 't' });
    const apiOnGreen = good.replace(
      /(shop-api:\n {6}weighted:\n {8}services:\n {10}- name: shop-api-blue\n {12}weight: )100(\n {10}- name: shop-api-green\n {12}weight: )0/,
      '$10$2100',
    );
    expect(apiOnGreen).not.toEqual(good);
    expect(() => readRoutingWeights(apiOnGreen, env, FILE)).toThrow(
      `${FILE}: services disagree on the weights (blue 100/green 0 vs 0/100 for "shop-api")`,
    );
    const noGreen = good.replace(/ {10}- name: shop-site-green\n {12}weight: 0\n/, '');
    expect(() => readRoutingWeights(noGreen, env, FILE)).toThrow(
      `${FILE}: service "shop-site" has no weight for green`,
    );
  });
});

describe('colour names', () => {
  test('projects, aliases and the live colour', () => {
    expect(colourProject(env, 'blue')).toBe('shop-blue');
    expect(colourAlias(env, 'green', 'api')).toBe('shop-green-api');
    expect(otherColour('blue')).toBe('green');
    expect(split('blue', 25)).toEqual({ blue: 25, green: 75 });
    expect(liveColour({ blue: 10, green: 90 })).toBe('green');
    expect(liveColour({ blue: 50, green: 50 })).toBe('blue');
    expect(liveColour({ blue: 0, green: 0 })).toBeUndefined();
  });
});
