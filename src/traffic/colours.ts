import type { Colour, EnvironmentConfig } from '../config/schema';
import { COLOURS } from '../config/schema';

/**
 * Names of one colour of an environment: its compose project, the network alias each web
 * service gets on the shared network, and the Traefik objects that route to it. Pure, so the
 * workflow, the activities and the tests agree on every name.
 */
export function colourProject(env: EnvironmentConfig, colour: Colour): string {
  return `${env.project}-${colour}`;
}

/** The DNS name Traefik reaches one colour's service by, unique on the shared network. */
export function colourAlias(env: EnvironmentConfig, colour: Colour, service: string): string {
  return `${env.project}-${colour}-${service}`;
}

/** Traefik's name of the weighted service users reach, and of each colour's own service. */
export function routedService(env: EnvironmentConfig, service: string): string {
  return `${env.project}-${service}`;
}

export function colourService(env: EnvironmentConfig, service: string, colour: Colour): string {
  return `${env.project}-${service}-${colour}`;
}

export function otherColour(colour: Colour): Colour {
  return colour === 'blue' ? 'green' : 'blue';
}

/** Share of user traffic per colour, in percent; the two add up to 100. */
export type Weights = Record<Colour, number>;

/** All traffic on one colour. */
export function allOn(colour: Colour): Weights {
  return { blue: colour === 'blue' ? 100 : 0, green: colour === 'green' ? 100 : 0 };
}

/** `percent` of the traffic on `canary`, the rest on the other colour. */
export function split(canary: Colour, percent: number): Weights {
  const other = otherColour(canary);
  return { [canary]: percent, [other]: 100 - percent } as Weights;
}

/** No colour takes user traffic (Traefik answers 503); previews work. Before the first release. */
export const NONE_LIVE: Weights = { blue: 0, green: 0 };

/**
 * The colour with most of the traffic (blue on a tie, which only a hand edit can make), or
 * undefined when no colour takes any.
 */
export function liveColour(weights: Weights): Colour | undefined {
  if (weights.blue === 0 && weights.green === 0) return undefined;
  return weights.green > weights.blue ? 'green' : 'blue';
}

export function isColour(value: unknown): value is Colour {
  return (COLOURS as readonly unknown[]).includes(value);
}
