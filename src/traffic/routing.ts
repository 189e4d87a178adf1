import { parse, stringify } from 'yaml';
import { COLOURS, type EnvironmentConfig } from '../config/schema';
import { colourAlias, colourService, routedService, type Weights } from './colours';

/**
 * Preview routers win over every user rule (Traefik's default priority is the rule's length).
 * Among themselves they keep the user rules' order: the preview of a catch-all `/` service
 * must not take the requests meant for the preview of `/api`.
 */
export const PREVIEW_PRIORITY = 100_000;

/** A preview router's priority: above every user rule, ordered like the user rules. */
export const previewPriority = (rule: string) => PREVIEW_PRIORITY + rule.length;

export interface RoutingFileInput {
  environment: EnvironmentConfig;
  weights: Weights;
  /** Named in the header comment, so whoever opens the file on a host sees who wrote it. */
  writtenBy: string;
}

/**
 * Traefik's dynamic configuration for one environment: per web service a router users reach
 * (the service's rule) to a weighted service over the two colours, and per colour a preview
 * router (the same rule plus the preview header) straight to that colour. Both colours are
 * always present, so a preview reaches the idle colour before it gets a single user request.
 */
export function buildRoutingFile(input: RoutingFileInput): string {
  const { environment: env, weights } = input;
  const traffic = env.traffic;
  if (!traffic)
    throw new Error(`environment ${env.name} has no traffic section: nothing routes between colours`);
  assertWeights(weights);
  const routers: Record<string, unknown> = {};
  const services: Record<string, unknown> = {};
  for (const service of env.services) {
    const rule = service.rule!;
    routers[routedService(env, service.name)] = {
      entryPoints: traffic.entryPoints,
      rule,
      service: routedService(env, service.name),
    };
    for (const colour of COLOURS) {
      routers[`${colourService(env, service.name, colour)}-preview`] = {
        entryPoints: traffic.entryPoints,
        rule: `Header(\`${traffic.previewHeader}\`, \`${colour}\`) && (${rule})`,
        priority: previewPriority(rule),
        service: colourService(env, service.name, colour),
      };
    }
    services[routedService(env, service.name)] = {
      weighted: {
        services: COLOURS.map((colour) => ({
          name: colourService(env, service.name, colour),
          weight: weights[colour],
        })),
      },
    };
    for (const colour of COLOURS) {
      services[colourService(env, service.name, colour)] = {
        loadBalancer: {
          servers: [{ url: `http://${colourAlias(env, colour, service.name)}:${service.port}` }],
        },
      };
    }
  }
  const header = [
    `# Routing of environment ${env.name}: blue ${weights.blue} %, green ${weights.green} %.`,
    `# Written by durable-deploy (${input.writtenBy}); every deployment rewrites it whole, so do not edit it.`,
  ].join('\n');
  return `${header}\n${stringify({ http: { routers, services } }, { lineWidth: 0, aliasDuplicateObjects: false })}`;
}

function assertWeights(weights: Weights): void {
  for (const colour of COLOURS) {
    const w = weights[colour];
    if (!Number.isInteger(w) || w < 0 || w > 100)
      throw new Error(`weight of ${colour} must be an integer from 0 to 100, got ${JSON.stringify(w)}`);
  }
  // 0 + 0: no colour is live yet (previews only), before the first release took traffic.
  if (weights.blue + weights.green !== 100 && weights.blue + weights.green !== 0)
    throw new Error(
      `weights must add up to 100 (or both be 0), got blue ${weights.blue} + green ${weights.green}`,
    );
}

/**
 * The weights a routing file on a host holds: the truth about which colour is live, read at
 * every start so a crash between two steps is reconciled, not guessed. Every service must
 * agree; anything else (a hand edit, a file from another tool) is refused, naming the file.
 */
export function readRoutingWeights(text: string, env: EnvironmentConfig, file: string): Weights {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new Error(`${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const services = (doc as { http?: { services?: Record<string, unknown> } } | null)?.http?.services ?? {};
  let found: Weights | undefined;
  for (const service of env.services) {
    const name = routedService(env, service.name);
    const children = (services[name] as { weighted?: { services?: unknown } } | undefined)?.weighted
      ?.services;
    if (!Array.isArray(children))
      throw new Error(
        `${file} has no weighted service "${name}": it was not written by this environment's deployments`,
      );
    const weights: Weights = { blue: 0, green: 0 };
    for (const colour of COLOURS) {
      const child = children.find(
        (c: { name?: unknown }) => c?.name === colourService(env, service.name, colour),
      ) as { weight?: unknown } | undefined;
      const weight = child?.weight;
      if (typeof weight !== 'number')
        throw new Error(`${file}: service "${name}" has no weight for ${colour}`);
      weights[colour] = weight;
    }
    if (found && (found.blue !== weights.blue || found.green !== weights.green))
      throw new Error(
        `${file}: services disagree on the weights (blue ${found.blue}/green ${found.green} vs ${weights.blue}/${weights.green} for "${name}")`,
      );
    found = weights;
  }
  assertWeights(found!);
  return found!;
}
