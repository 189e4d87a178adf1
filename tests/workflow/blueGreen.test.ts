/**
 * Blue-green releases of deployEnvironment against a real Temporal server, with stubbed
 * activities that model the hosts: each host's routing weights, its release records, and per
 * colour the files it was given, the containers it runs and its own release record. Every stub
 * records its call (with the workflow that made it), so the tests assert what the deployment
 * and its retireColour child did, in order, and the state they left the hosts in.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { DeployActivities } from '../../src/activities';
import { createLockActivities } from '../../src/activities/locks';
import type { ColourStepInput } from '../../src/activities/colours';
import type { HealthInput } from '../../src/activities/health';
import type { HostStepInput } from '../../src/activities/hostStep';
import { resolveImages } from '../../src/activities/plan';
import type { SwitchInput } from '../../src/activities/traffic';
import { loadEnvironment } from '../../src/config/load';
import type { DeployRequest } from '../../src/config/request';
import type { Colour, EnvironmentConfig, MigrationPhase, Strategy } from '../../src/config/schema';
import type {
  DeploymentStatus,
  DeployPlan,
  PendingMigration,
  ReleaseRecord,
} from '../../src/shared/deployment';
import { allOn, liveColour, type Weights } from '../../src/traffic/colours';
import type { deployEnvironment } from '../../src/workflows/deployEnvironment';
import type { retireColour, RetireOutcome } from '../../src/workflows/retireColour';
import { startLocalTemporal } from './testEnv';

const production = loadEnvironment(join(__dirname, '..', 'fixtures', 'environments'), 'production');
const SERVICES = production.services.map((s) => s.name);
const PREVIEW = 'X-Deploy-Colour';

/** A release record as a host keeps it; every image is tagged `tag`. */
function releaseRecord(release: string, tag: string): ReleaseRecord {
  return {
    release,
    images: { site: `ghcr.io/acme/site:${tag}`, api: `ghcr.io/acme/api:${tag}` },
    deployedAt: '2026-01-01T00:00:00.000Z',
    deployedBy: 'ci',
    deploymentId: `deploy-production-${release}`,
  };
}
const r1 = releaseRecord('r1', 'v1');
const r2 = releaseRecord('r2', 'v2');
const r3 = releaseRecord('r3', 'v3');

// ---------------------------------------------------------------------------------------------
// The fake hosts

interface Running {
  release: string;
  images: Record<string, string>;
  services: string[];
}

/** One colour on one host. */
interface ColourOnHost {
  /** Its compose and env files (uploadColour): the release and images they name. */
  files?: { release: string; images: Record<string, string> };
  /** Its containers: startColour runs what the files name, stopColour removes them. */
  running?: Running;
  /** Its release record (recordColour): what inspectColour and stopColour read. */
  record?: ReleaseRecord;
}

interface FakeHost {
  /** The routing file's weights; undefined: no routing file yet. */
  routing?: Weights;
  blue: ColourOnHost;
  green: ColourOnHost;
  /** current.json and previous.json, written by recordRelease. */
  current?: ReleaseRecord;
  previous?: ReleaseRecord;
}

/** A colour deployed with `record` that runs it (all services, unless fewer are given). */
function runs(record: ReleaseRecord, services = SERVICES): ColourOnHost {
  const { release, images } = record;
  return { files: { release, images }, running: { release, images, services }, record };
}

/** A host whose users all reach `colour`, which runs `record`, the release current.json names. */
function liveOn(colour: Colour, record: ReleaseRecord, more: Partial<FakeHost> = {}): Partial<FakeHost> {
  return { routing: allOn(colour), [colour]: runs(record), current: record, ...more };
}

interface LabOptions {
  /** The hosts and their state, in order; default one host web-1 with nothing on it. */
  hosts?: Record<string, Partial<FakeHost>>;
  /** The plan's strategy (the real resolvePlan takes the request's, else the environment's). */
  strategy?: Strategy;
  switchBackWindowSeconds?: number;
  /** waitForHealth fails for these releases, whatever runs. */
  unhealthy?: string[];
  /** postDeployChecks fail for these releases. */
  failingChecks?: string[];
  /** switchTraffic is refused by Traefik (RoutingRefused, the routing stays as it was). */
  refuseSwitch?: (hostName: string, weights: Weights) => boolean;
  failRecordRelease?: boolean;
  /** A database: backups and migrations in expand/contract form run. */
  database?: boolean;
  /** What listPendingMigrations finds; default one expand migration. */
  pending?: PendingMigration[];
}

interface Deployment {
  workflowId: string;
  /** The activities this deployment called, in order. */
  calls: string[];
  result?: DeploymentStatus;
  failure?: { type?: string | null; message: string; status: DeploymentStatus };
}

const nonRetryable = (message: string, type: string, ...details: unknown[]) =>
  ApplicationFailure.nonRetryable(message, type, ...details);

/** One environment of fake hosts, its stub activities and a worker on its own task queue. */
class Lab {
  readonly name = `bg-${randomUUID().slice(0, 8)}`;
  readonly taskQueue = `blue-green-${randomUUID()}`;
  readonly hosts: Record<string, FakeHost> = {};
  readonly environment: EnvironmentConfig;
  /** Every activity call, with the workflow that made it. */
  readonly log: { by: string; call: string }[] = [];
  readonly healthInputs: HealthInput[] = [];
  readonly checkInputs: { plan: DeployPlan; colour?: Colour; httpOnly?: boolean }[] = [];

  constructor(private readonly options: LabOptions) {
    for (const [name, state] of Object.entries(options.hosts ?? { 'web-1': {} })) {
      this.hosts[name] = structuredClone({ blue: {}, green: {}, ...state });
    }
    this.environment = {
      ...production,
      name: this.name,
      hosts: Object.keys(this.hosts).map((name, i) => ({
        ...production.hosts[0],
        name,
        address: `10.0.0.${7 + i}`,
      })),
      ...(options.database
        ? {
            database: { service: 'db', user: 'app', name: 'app' },
            migrations: {
              service: 'api',
              command: ['node', 'server.js', 'migrate'],
              phases: {
                pending: ['node', 'server.js', 'migrate', '--pending'],
                expand: ['node', 'server.js', 'migrate', '--phase=expand'],
                contract: ['node', 'server.js', 'migrate', '--phase=contract'],
              },
            },
          }
        : {}),
      traffic: {
        ...production.traffic!,
        drainSeconds: 1,
        switchBackWindowSeconds: options.switchBackWindowSeconds ?? 2,
      },
    };
  }

  /** All calls of every workflow, in order. */
  get calls(): string[] {
    return this.log.map((l) => l.call);
  }

  callsBy(workflowId: string): string[] {
    return this.log.filter((l) => l.by === workflowId).map((l) => l.call);
  }

  /** What the real resolvePlan resolves, from the first host's release records. */
  plan(request: DeployRequest, deploymentId: string): DeployPlan {
    const first = this.hosts[this.environment.hosts[0].name];
    const previous = first.current;
    if (request.rollback) {
      if (!first.previous) throw nonRetryable('nothing to roll back to', 'InvalidInput');
      request = { ...request, release: first.previous.release, images: first.previous.images };
    }
    return {
      deploymentId,
      request,
      environment: this.environment,
      images: resolveImages(request, this.environment, previous),
      previous,
      strategy: request.strategy ?? this.options.strategy ?? 'blue-green',
    };
  }

  activities() {
    const o = this.options;
    const call = (text: string) =>
      this.log.push({ by: Context.current().info.workflowExecution?.workflowId ?? '?', call: text });
    const host = (i: HostStepInput) => this.hosts[i.hostName];
    const colourOf = (i: ColourStepInput) => host(i)[i.colour];
    const release = (i: { plan: DeployPlan }) => i.plan.request.release;
    const recordOf = (plan: DeployPlan): ReleaseRecord => ({
      release: plan.request.release,
      images: plan.images,
      deployedAt: new Date().toISOString(),
      deployedBy: plan.request.requestedBy,
      deploymentId: plan.deploymentId,
    });
    return {
      ...createLockActivities(),
      async auditDecision() {},
      resolvePlan: async ({ request, deploymentId }: { request: DeployRequest; deploymentId: string }) => {
        call('resolvePlan');
        return this.plan(request, deploymentId);
      },
      readRouting: async (i: HostStepInput) => {
        call(`read-routing ${i.hostName}`);
        return host(i).routing;
      },
      switchTraffic: async (i: SwitchInput) => {
        call(`route ${i.hostName} blue ${i.weights.blue} green ${i.weights.green}`);
        // The real activity puts the last confirmed routing file back: nothing changes.
        if (o.refuseSwitch?.(i.hostName, i.weights))
          throw nonRetryable('Traefik did not take the new routing within 15 s', 'RoutingRefused');
        host(i).routing = { ...i.weights };
        return { weights: i.weights, confirmedAfterMs: 1, written: true };
      },
      inspectColour: async (i: ColourStepInput) => {
        call(`inspect ${i.colour} ${i.hostName}`);
        const { record, running } = colourOf(i);
        return { record, runningServices: record ? (running?.services ?? []) : [] };
      },
      uploadRelease: async (i: HostStepInput) => {
        call(`upload ${i.hostName} ${release(i)}`);
      },
      uploadColour: async (i: ColourStepInput) => {
        call(`upload ${i.colour} ${i.hostName} ${release(i)}`);
        colourOf(i).files = { release: release(i), images: i.plan.images };
      },
      pullColour: async (i: ColourStepInput) => {
        call(`pull ${i.colour} ${i.hostName} ${release(i)}`);
      },
      startSharedStack: async (i: HostStepInput) => {
        call(`start shared ${i.hostName}`);
      },
      startColour: async (i: ColourStepInput) => {
        call(`start ${i.colour} ${i.hostName} ${release(i)}`);
        const c = colourOf(i);
        if (!c.files) throw nonRetryable(`no files for ${i.colour} on ${i.hostName}`, 'Test');
        c.running = { ...c.files, services: [...SERVICES] };
      },
      stopColour: async (i: ColourStepInput & { onlyRelease?: string }) => {
        call(`stop ${i.colour} ${i.hostName}${i.onlyRelease !== undefined ? ` only ${i.onlyRelease}` : ''}`);
        const c = colourOf(i);
        if (i.onlyRelease !== undefined && c.record?.release !== i.onlyRelease) return 'taken-over' as const;
        c.running = undefined;
        return 'stopped' as const;
      },
      recordColour: async (i: ColourStepInput) => {
        call(`record ${i.colour} ${i.hostName} ${release(i)}`);
        colourOf(i).record = recordOf(i.plan);
      },
      waitForHealth: async (i: HealthInput) => {
        const preview = i.headers?.[PREVIEW] as Colour | undefined;
        call(`health ${i.release}${preview ? ` via ${preview}` : ''}`);
        this.healthInputs.push(i);
        // What answers on each host: the previewed colour, else the one users are routed to;
        // both need Traefik's routers, which come from the routing file.
        const answers = Object.values(this.hosts).every((h) => {
          if (!h.routing) return false;
          const colour = preview ?? liveColour(h.routing);
          const running = colour ? h[colour].running : undefined;
          return running?.release === i.release && SERVICES.every((s) => running.services.includes(s));
        });
        if (!answers || o.unhealthy?.includes(i.release))
          throw nonRetryable('not healthy after 1 s: /health/ready HTTP 503', 'HealthDeadlineExceeded');
        return { elapsedMs: 1, attempts: 1, probes: [] };
      },
      postDeployChecks: async (i: { plan: DeployPlan; colour?: Colour; httpOnly?: boolean }) => {
        call(`checks ${release(i)}${i.colour ? ` via ${i.colour}` : ''}${i.httpOnly ? ' (http only)' : ''}`);
        this.checkInputs.push(i);
        const result = { name: 'services-running', host: 'web-1', ok: true, detail: 'running: api, site' };
        if (o.failingChecks?.includes(release(i))) {
          throw nonRetryable(
            'post-deploy checks failed: services-running@web-1 not running: api',
            'PostDeployChecksFailed',
            [{ ...result, ok: false, detail: 'not running: api' }],
          );
        }
        return [result];
      },
      backupDatabase: async (i: HostStepInput) => {
        call(`backup ${i.hostName}`);
        const path = `/srv/apps/shop/backups/${i.plan.deploymentId}.dump`;
        return { path, sha256: 'ab', sizeBytes: 1, durationMs: 1, createdAt: new Date().toISOString() };
      },
      listPendingMigrations: async (i: HostStepInput) => {
        call(`pending migrations ${i.hostName} ${release(i)}`);
        return o.pending ?? [{ id: '002_add_column', phase: 'expand' }];
      },
      runMigrations: async (i: HostStepInput & { phase?: MigrationPhase }) => {
        call(`migrate ${i.hostName} ${release(i)}${i.phase ? ` ${i.phase}` : ''}`);
        const pending = o.pending ?? [{ id: '002_add_column', phase: 'expand' }];
        return {
          applied: pending
            .filter((m) => !i.phase || m.phase === i.phase)
            .map((m) => ({ id: m.id, backwardCompatible: m.phase !== 'contract' })),
        };
      },
      recordRelease: async (i: HostStepInput) => {
        call(`record release ${i.hostName} ${release(i)}`);
        if (o.failRecordRelease) throw nonRetryable('disk full', 'Test');
        const h = host(i);
        h.previous = h.current;
        h.current = recordOf(i.plan);
        return h.current;
      },
    } satisfies Partial<DeployActivities>;
  }

  /** Run one deployment to its end (the worker keeps running for the retirement child). */
  async deploy(overrides: Partial<DeployRequest> = {}): Promise<Deployment> {
    const request: DeployRequest = {
      environment: this.name,
      release: 'r2',
      images: { site: 'v2', api: 'v2' },
      requestedBy: 'ci',
      ...overrides,
    };
    const workflowId = `deploy-${this.name}-${request.release}-${randomUUID().slice(0, 8)}`;
    try {
      const result = await env.client.workflow.execute<typeof deployEnvironment>('deployEnvironment', {
        taskQueue: this.taskQueue,
        workflowId,
        args: [request],
      });
      return { workflowId, calls: this.callsBy(workflowId), result };
    } catch (err) {
      if (!(err instanceof WorkflowFailedError)) throw err;
      const cause = err.cause;
      if (!(cause instanceof ApplicationFailure)) throw new Error(`expected an ApplicationFailure: ${err}`);
      const failure = {
        type: cause.type,
        message: cause.message,
        status: cause.details?.[0] as DeploymentStatus,
      };
      return { workflowId, calls: this.callsBy(workflowId), failure };
    }
  }

  /** The deployment's retireColour child: wait for its result; its calls. */
  async retirement(d: Deployment): Promise<{ outcome: Record<string, RetireOutcome>; calls: string[] }> {
    const id = `retire-${d.workflowId}`;
    const outcome = await env.client.workflow.getHandle<typeof retireColour>(id).result();
    return { outcome, calls: this.callsBy(id) };
  }

  /** Run retireColour alone, as a deployment would have started it. */
  async retire(
    colour: Colour,
    release: string,
  ): Promise<{ outcome: Record<string, RetireOutcome>; calls: string[] }> {
    const id = `retire-test-${randomUUID()}`;
    const plan = this.plan(
      { environment: this.name, release: 'r2', images: { site: 'v2', api: 'v2' }, requestedBy: 'ci' },
      'deploy-test',
    );
    const outcome = await env.client.workflow.execute<typeof retireColour>('retireColour', {
      taskQueue: this.taskQueue,
      workflowId: id,
      args: [{ plan, colour, release, afterSeconds: 0 }],
    });
    return { outcome, calls: this.callsBy(id) };
  }
}

let env: TestWorkflowEnvironment;
let workflowBundle: WorkflowBundleWithSourceMap;

beforeAll(async () => {
  env = await startLocalTemporal();
  workflowBundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../../src/workflows') });
}, 120_000);

afterAll(async () => {
  await env?.teardown();
});

/** A lab and a worker that serves it (deployments, their locks and retirements) while `fn` runs. */
async function withLab(options: LabOptions, fn: (lab: Lab) => Promise<void>): Promise<void> {
  const lab = new Lab(options);
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: lab.taskQueue,
    workflowBundle,
    activities: lab.activities(),
    // A non-determinism bug fails the workflow (and the test) instead of retrying forever.
    workflowFailureErrorTypes: { '*': ['NondeterminismError', 'DeterminismViolationError'] },
  });
  await worker.runUntil(() => fn(lab));
}

/** On web-1: the release's files, the colour's files and images, the shared stack. */
const prepared = (colour: Colour, release: string) => [
  `upload web-1 ${release}`,
  `upload ${colour} web-1 ${release}`,
  `pull ${colour} web-1 ${release}`,
  'start shared web-1',
];
/** On web-1: the colour started, healthy and checked through its preview route, recorded. */
const started = (colour: Colour, release: string) => [
  `start ${colour} web-1 ${release}`,
  `health ${release} via ${colour}`,
  `checks ${release} via ${colour}`,
  `record ${colour} web-1 ${release}`,
];
const releaseTo = (colour: Colour, release: string) => [
  ...prepared(colour, release),
  ...started(colour, release),
];
const isSwitch = (call: string) => call.startsWith('route ');

// ---------------------------------------------------------------------------------------------

describe('blue-green', () => {
  test('the first deployment starts blue, checks it through its preview route, then routes all traffic to it', async () => {
    await withLab({}, async (lab) => {
      const d = await lab.deploy();
      expect(d.calls).toEqual([
        'resolvePlan',
        'read-routing web-1',
        ...prepared('blue', 'r2'),
        // Routers for the preview, no colour live yet.
        'route web-1 blue 0 green 0',
        ...started('blue', 'r2'),
        'route web-1 blue 100 green 0',
        'record release web-1 r2',
      ]);
      expect(lab.healthInputs.map((i) => i.headers)).toEqual([{ [PREVIEW]: 'blue' }]);
      expect(lab.checkInputs.map((i) => i.colour)).toEqual(['blue']);
      expect(d.result?.outcome).toBe('succeeded');
      expect(d.result?.colours).toEqual({
        strategy: 'blue-green',
        target: 'blue',
        live: 'blue',
      });
      expect(d.result?.steps.map((s) => s.name)).toEqual([
        'validate',
        'lock',
        'colours',
        'upload web-1',
        'upload blue web-1',
        'pull blue web-1',
        'start shared web-1',
        'route (none live) web-1',
        'start blue web-1',
        'health',
        'checks',
        'record blue web-1',
        'route to blue web-1',
        'drain',
        'record web-1',
      ]);
      expect(lab.hosts['web-1'].routing).toEqual({ blue: 100, green: 0 });
      expect(lab.hosts['web-1'].blue.running?.release).toBe('r2');
      // Nothing was live before: nothing to retire.
      await expect(env.client.workflow.getHandle(`retire-${d.workflowId}`).describe()).rejects.toBeInstanceOf(
        WorkflowNotFoundError,
      );
    });
  });

  test('a first deployment that never gets healthy stops blue, no colour is live; the next one starts over in blue', async () => {
    await withLab({ unhealthy: ['r2'] }, async (lab) => {
      const failed = await lab.deploy();
      expect(failed.calls).toEqual([
        'resolvePlan',
        'read-routing web-1',
        ...prepared('blue', 'r2'),
        'route web-1 blue 0 green 0',
        'start blue web-1 r2',
        'health r2 via blue',
        'stop blue web-1',
      ]);
      const status = failed.failure!.status;
      expect(status.outcome).toBe('rolled-back');
      // No previous release: nothing to verify, and nothing answers users.
      expect(status.rollback).toEqual({
        healthy: false,
        actions: ['stopped blue on web-1'],
      });
      expect(lab.hosts['web-1'].routing).toEqual({ blue: 0, green: 0 });
      expect(lab.hosts['web-1'].blue.running).toBeUndefined();

      const next = await lab.deploy({ release: 'r3', images: { site: 'v3', api: 'v3' } });
      expect(next.calls).toEqual([
        'resolvePlan',
        'read-routing web-1',
        ...releaseTo('blue', 'r3'),
        'route web-1 blue 100 green 0',
        'record release web-1 r3',
      ]);
      expect(next.result?.colours).toEqual({
        strategy: 'blue-green',
        target: 'blue',
        live: 'blue',
      });
      expect(lab.hosts['web-1'].routing).toEqual({ blue: 100, green: 0 });
    });
  });

  test('the next release goes to the idle colour, takes the traffic, and the old colour is stopped after the window', async () => {
    await withLab({ hosts: { 'web-1': liveOn('blue', r1) } }, async (lab) => {
      const before = Date.now();
      const d = await lab.deploy();
      expect(d.calls).toEqual([
        'resolvePlan',
        'read-routing web-1',
        'inspect green web-1',
        ...releaseTo('green', 'r2'),
        'route web-1 blue 0 green 100',
        'record release web-1 r2',
      ]);
      expect(lab.healthInputs[0].headers).toEqual({ [PREVIEW]: 'green' });
      expect(lab.checkInputs[0].colour).toBe('green');
      const colours = d.result!.colours!;
      expect(colours).toEqual({
        strategy: 'blue-green',
        stable: 'blue',
        target: 'green',
        live: 'green',
        reused: false,
        retireAt: expect.any(String),
      });
      // The switch-back window (2 s) counts from the end of the deployment.
      expect(Date.parse(colours.retireAt!)).toBeGreaterThanOrEqual(before + 2_000);
      expect(Date.parse(colours.retireAt!)).toBeLessThanOrEqual(Date.now() + 2_000);
      // Requests the old colour accepted get time to finish.
      expect(d.result!.steps.find((s) => s.name === 'drain')?.durationMs).toBeGreaterThanOrEqual(1_000);
      // Within the window, blue still runs the previous release at weight 0.
      const web1 = lab.hosts['web-1'];
      expect(web1.routing).toEqual({ blue: 0, green: 100 });
      expect(web1.blue.running?.release).toBe('r1');
      expect(web1.current?.release).toBe('r2');
      expect(web1.previous?.release).toBe('r1');

      const retired = await lab.retirement(d);
      expect(retired.calls).toEqual(['read-routing web-1', 'stop blue web-1 only r1']);
      expect(retired.outcome).toEqual({ 'web-1': 'stopped' });
      expect(web1.blue.running).toBeUndefined();
      expect(web1.green.running?.release).toBe('r2');
      expect(web1.routing).toEqual({ blue: 0, green: 100 });
    });
  });

  test('a new colour that never gets healthy takes no traffic and is stopped', async () => {
    await withLab({ hosts: { 'web-1': liveOn('blue', r1) }, unhealthy: ['r2'] }, async (lab) => {
      const d = await lab.deploy();
      expect(d.calls).toEqual([
        'resolvePlan',
        'read-routing web-1',
        'inspect green web-1',
        ...releaseTo('green', 'r2').slice(0, -2), // up to the health wait
        'stop green web-1',
        'health r1',
      ]);
      expect(d.calls.filter(isSwitch)).toEqual([]);
      // The rollback's health is the users' view: the previous release, no preview header.
      const rollbackHealth = lab.healthInputs.at(-1)!;
      expect(rollbackHealth.release).toBe('r1');
      expect(rollbackHealth.headers).toBeUndefined();
      const failure = d.failure!;
      expect(failure.type).toBe('DeploymentFailed');
      expect(failure.status.outcome).toBe('rolled-back');
      expect(failure.status.failure).toEqual({
        step: 'health',
        message: 'not healthy after 1 s: /health/ready HTTP 503',
      });
      expect(failure.status.rollback).toEqual({
        restoredRelease: 'r1',
        healthy: true,
        answeringAfterMs: expect.any(Number),
        actions: ['stopped green on web-1'],
      });
      expect(failure.status.colours).toEqual({
        strategy: 'blue-green',
        stable: 'blue',
        target: 'green',
        live: 'blue',
        reused: false,
      });
      const web1 = lab.hosts['web-1'];
      expect(web1.routing).toEqual({ blue: 100, green: 0 });
      expect(web1.green.running).toBeUndefined();
      expect(web1.blue.running?.release).toBe('r1');
      expect(web1.current?.release).toBe('r1');
      await expect(env.client.workflow.getHandle(`retire-${d.workflowId}`).describe()).rejects.toBeInstanceOf(
        WorkflowNotFoundError,
      );
    });
  });

  test('failed post-deploy checks on the preview: no traffic moves, the new colour is stopped', async () => {
    await withLab({ hosts: { 'web-1': liveOn('blue', r1) }, failingChecks: ['r2'] }, async (lab) => {
      const d = await lab.deploy();
      expect(d.calls.slice(3)).toEqual([
        ...releaseTo('green', 'r2').slice(0, -1), // up to the checks
        'stop green web-1',
        'health r1',
      ]);
      expect(d.calls.filter(isSwitch)).toEqual([]);
      expect(lab.checkInputs.map((i) => i.colour)).toEqual(['green']);
      const status = d.failure!.status;
      expect(status.outcome).toBe('rolled-back');
      expect(status.failure?.step).toBe('checks');
      expect(status.checks).toEqual([
        { name: 'services-running', host: 'web-1', ok: false, detail: 'not running: api' },
      ]);
      expect(status.rollback).toMatchObject({ restoredRelease: 'r1', healthy: true });
      expect(lab.hosts['web-1'].routing).toEqual({ blue: 100, green: 0 });
      expect(lab.hosts['web-1'].green.running).toBeUndefined();
    });
  });

  test('a refused switch routes back to the stable colour and stops the new one', async () => {
    await withLab(
      {
        hosts: { 'web-1': liveOn('blue', r1) },
        refuseSwitch: (_host, weights) => weights.green === 100,
      },
      async (lab) => {
        const d = await lab.deploy();
        expect(d.calls.slice(3)).toEqual([
          ...releaseTo('green', 'r2'),
          'route web-1 blue 0 green 100', // refused
          'route web-1 blue 100 green 0',
          'stop green web-1',
          'health r1',
        ]);
        const status = d.failure!.status;
        expect(status.outcome).toBe('rolled-back');
        expect(status.failure).toEqual({
          step: 'route to green web-1',
          message: 'Traefik did not take the new routing within 15 s',
        });
        expect(status.rollback).toEqual({
          restoredRelease: 'r1',
          healthy: true,
          answeringAfterMs: expect.any(Number),
          actions: ['switched traffic back to blue', 'stopped green on web-1'],
        });
        expect(status.colours?.live).toBe('blue');
        expect(lab.hosts['web-1'].routing).toEqual({ blue: 100, green: 0 });
        expect(lab.hosts['web-1'].green.running).toBeUndefined();
      },
    );
  });

  test('a switch refused on the second host routes the first one back too', async () => {
    await withLab(
      {
        hosts: { 'web-1': liveOn('blue', r1), 'web-2': liveOn('blue', r1) },
        refuseSwitch: (host, weights) => host === 'web-2' && weights.green === 100,
      },
      async (lab) => {
        const d = await lab.deploy();
        expect(d.calls.slice(d.calls.indexOf('record green web-2 r2'))).toEqual([
          'record green web-2 r2',
          'route web-1 blue 0 green 100',
          'route web-2 blue 0 green 100', // refused
          'route web-1 blue 100 green 0',
          'route web-2 blue 100 green 0',
          'stop green web-2',
          'stop green web-1',
          'health r1',
        ]);
        expect(d.failure?.status.outcome).toBe('rolled-back');
        expect(d.failure?.status.failure?.step).toBe('route to green web-2');
        for (const h of Object.values(lab.hosts)) {
          expect(h.routing).toEqual({ blue: 100, green: 0 });
          expect(h.green.running).toBeUndefined();
        }
      },
    );
  });

  test('a failure after the switch routes traffic back before the new colour is stopped', async () => {
    await withLab({ hosts: { 'web-1': liveOn('blue', r1) }, failRecordRelease: true }, async (lab) => {
      const d = await lab.deploy();
      expect(d.calls.slice(3)).toEqual([
        ...releaseTo('green', 'r2'),
        'route web-1 blue 0 green 100',
        'record release web-1 r2', // fails
        'route web-1 blue 100 green 0',
        'stop green web-1',
        'health r1',
      ]);
      const status = d.failure!.status;
      expect(status.outcome).toBe('rolled-back');
      expect(status.failure).toEqual({ step: 'record web-1', message: 'disk full' });
      expect(status.rollback?.actions).toEqual(['switched traffic back to blue', 'stopped green on web-1']);
      expect(status.rollback?.healthy).toBe(true);
      expect(status.colours).toMatchObject({ stable: 'blue', target: 'green', live: 'blue' });
      expect(status.colours?.retireAt).toBeUndefined();
      expect(lab.hosts['web-1'].routing).toEqual({ blue: 100, green: 0 });
      expect(lab.hosts['web-1'].green.running).toBeUndefined();
      expect(lab.hosts['web-1'].blue.running?.release).toBe('r1');
    });
  });

  test('a rollback inside the window reuses the old colour (one routing write), whose retirement then leaves it alone', async () => {
    // A window long enough for the rollback to take the lock before the first retirement looks.
    await withLab({ hosts: { 'web-1': liveOn('blue', r1) }, switchBackWindowSeconds: 3 }, async (lab) => {
      const forward = await lab.deploy();
      expect(forward.result?.outcome).toBe('succeeded');
      const back = await lab.deploy({ release: 'rollback', images: {}, rollback: true });
      expect(back.calls).toEqual([
        'resolvePlan',
        'read-routing web-1',
        'inspect blue web-1',
        'health r1 via blue',
        'checks r1 via blue (http only)',
        'route web-1 blue 100 green 0',
        'record release web-1 r1',
      ]);
      expect(lab.healthInputs.at(-1)).toMatchObject({ release: 'r1', headers: { [PREVIEW]: 'blue' } });
      expect(back.result?.release).toBe('r1');
      expect(back.result?.colours).toEqual({
        strategy: 'blue-green',
        stable: 'green',
        target: 'blue',
        live: 'blue',
        reused: true,
        retireAt: expect.any(String),
      });
      const web1 = lab.hosts['web-1'];
      expect(web1.routing).toEqual({ blue: 100, green: 0 });
      expect(web1.blue.running?.images).toEqual(r1.images);

      // The first deployment's retirement finds blue live again; the rollback's stops green.
      expect(await lab.retirement(forward)).toEqual({
        outcome: { 'web-1': 'live again' },
        calls: ['read-routing web-1'],
      });
      expect(web1.blue.running?.release).toBe('r1');
      expect(await lab.retirement(back)).toEqual({
        outcome: { 'web-1': 'stopped' },
        calls: ['read-routing web-1', 'stop green web-1 only r2'],
      });
      expect(web1.green.running).toBeUndefined();
      expect(web1.blue.running?.release).toBe('r1');
    });
  });

  test('a deployment of the release the idle colour still runs (same images) reuses it', async () => {
    const hosts = { 'web-1': liveOn('green', r2, { blue: runs(r1), previous: r1 }) };
    await withLab({ hosts }, async (lab) => {
      const d = await lab.deploy({ release: 'r1', images: { site: 'v1', api: 'v1' } });
      expect(d.calls).toEqual([
        'resolvePlan',
        'read-routing web-1',
        'inspect blue web-1',
        'health r1 via blue',
        'checks r1 via blue (http only)',
        'route web-1 blue 100 green 0',
        'record release web-1 r1',
      ]);
      expect(d.result?.colours).toMatchObject({
        stable: 'green',
        target: 'blue',
        live: 'blue',
        reused: true,
      });
    });
  });

  test('a switch-back whose switch is refused routes back and leaves the reused colour running', async () => {
    const hosts = { 'web-1': liveOn('green', r2, { blue: runs(r1), previous: r1 }) };
    const refuseSwitch = (_host: string, weights: Weights) => weights.blue === 100;
    await withLab({ hosts, refuseSwitch }, async (lab) => {
      const d = await lab.deploy({ release: 'rollback', images: {}, rollback: true });
      expect(d.calls).toEqual([
        'resolvePlan',
        'read-routing web-1',
        'inspect blue web-1',
        'health r1 via blue',
        'checks r1 via blue (http only)',
        'route web-1 blue 100 green 0', // refused
        'route web-1 blue 0 green 100',
        'health r2',
      ]);
      const status = d.failure!.status;
      expect(status.outcome).toBe('rolled-back');
      expect(status.rollback).toEqual({
        restoredRelease: 'r2',
        healthy: true,
        answeringAfterMs: expect.any(Number),
        actions: ['switched traffic back to green'],
      });
      const web1 = lab.hosts['web-1'];
      expect(web1.routing).toEqual({ blue: 0, green: 100 });
      // Both colours still run: a later switch-back can still be one routing write.
      expect(web1.blue.running?.release).toBe('r1');
      expect(web1.green.running?.release).toBe('r2');
    });
  });

  test('an idle colour with the release but other images, or a service down, is deployed again', async () => {
    const hosts = {
      'web-1': liveOn('green', r2, { blue: runs(r1, ['site']), previous: r1 }),
    };
    await withLab({ hosts }, async (lab) => {
      const down = await lab.deploy({ release: 'r1', images: { site: 'v1', api: 'v1' } });
      expect(down.calls.slice(3)).toEqual([
        ...releaseTo('blue', 'r1'),
        'route web-1 blue 100 green 0',
        'record release web-1 r1',
      ]);
      expect(down.result?.colours?.reused).toBe(false);
      // green now idle with r2 running everything; r2 with another api image is not the same.
      const other = await lab.deploy({ release: 'r2', images: { site: 'v2', api: 'v2-hotfix' } });
      expect(other.calls).toContain('upload green web-1 r2');
      expect(other.calls).toContain('start green web-1 r2');
      expect(other.result?.colours?.reused).toBe(false);
      expect(lab.hosts['web-1'].green.running?.images.api).toBe('ghcr.io/acme/api:v2-hotfix');
    });
  });

  test('a canary left half-way: all traffic back on the stable colour before the target is touched', async () => {
    const hosts = { 'web-1': liveOn('blue', r1, { routing: { blue: 75, green: 25 }, green: runs(r2) }) };
    await withLab({ hosts }, async (lab) => {
      const d = await lab.deploy({ release: 'r3', images: { site: 'v3', api: 'v3' } });
      expect(d.calls).toEqual([
        'resolvePlan',
        'read-routing web-1',
        'route web-1 blue 100 green 0',
        'inspect green web-1',
        ...releaseTo('green', 'r3'),
        'route web-1 blue 0 green 100',
        'record release web-1 r3',
      ]);
      expect(d.result?.colours).toMatchObject({ stable: 'blue', target: 'green', live: 'green' });
      expect(lab.hosts['web-1'].routing).toEqual({ blue: 0, green: 100 });
      expect(lab.hosts['web-1'].green.running?.release).toBe('r3');
    });
  });

  test('hosts that disagree on the live colour are refused before anything is uploaded', async () => {
    const hosts = { 'web-1': liveOn('blue', r1), 'web-2': liveOn('green', r1) };
    await withLab({ hosts }, async (lab) => {
      const d = await lab.deploy();
      expect(d.calls).toEqual(['resolvePlan', 'read-routing web-1', 'read-routing web-2']);
      const failure = d.failure!;
      // Passed through to the client, which exits 6: refused before any host was touched.
      expect(failure.type).toBe('ColoursDisagree');
      expect(failure.status.outcome).toBe('failed');
      expect(failure.status.failure).toEqual({
        step: 'colours',
        message:
          'the hosts disagree on the live colour (web-1: blue 100 % green 0 %; web-2: blue 0 % green 100 %): ' +
          'a deployment was cut off during its switch; deploy again after routing every host to one colour',
      });
      expect(failure.message).toContain('Nothing had been changed on any host.');
      expect(failure.status.colours).toBeUndefined();
      expect(lab.hosts['web-1'].routing).toEqual({ blue: 100, green: 0 });
      expect(lab.hosts['web-2'].routing).toEqual({ blue: 0, green: 100 });
    });
  });
});

describe('blue-green with a database', () => {
  test('backup and migrations run once the new colour is pulled, before it starts; a switch-back runs neither', async () => {
    const hosts = { 'web-1': liveOn('blue', r1) };
    // Long enough for the rollback to take the lock before the first retirement looks.
    await withLab({ hosts, database: true, switchBackWindowSeconds: 4 }, async (lab) => {
      const forward = await lab.deploy();
      expect(forward.calls).toEqual([
        'resolvePlan',
        'read-routing web-1',
        'inspect green web-1',
        ...prepared('green', 'r2'),
        'pending migrations web-1 r2',
        'backup web-1',
        'migrate web-1 r2 expand',
        ...started('green', 'r2'),
        'route web-1 blue 0 green 100',
        'record release web-1 r2',
      ]);
      expect(forward.result?.migrations).toEqual([{ id: '002_add_column', backwardCompatible: true }]);
      const back = await lab.deploy({ release: 'rollback', images: {}, rollback: true });
      expect(back.calls.filter((c) => c.startsWith('backup') || c.startsWith('migrate'))).toEqual([]);
      expect(back.result?.colours?.reused).toBe(true);
      expect(back.result?.backup).toBeUndefined();
    });
  });

  test('a pending migration that is neither expand nor contract is refused before the backup; nothing else changes', async () => {
    const pending = [
      { id: '002_add_column', phase: 'expand' },
      { id: '003_drop_column', phase: 'breaking' },
    ];
    await withLab({ hosts: { 'web-1': liveOn('blue', r1) }, database: true, pending }, async (lab) => {
      const d = await lab.deploy();
      expect(d.failure?.type).toBe('IncompatibleMigration');
      expect(d.failure?.status.failure?.message).toBe(
        'migrations: 003_drop_column (phase "breaking") is neither expand nor contract; blue-green keeps the old release serving while migrations run, so only expand ones may run before traffic moves. Deploy this release with --strategy recreate, or split the migration into expand and contract',
      );
      expect(d.failure?.status.pendingMigrations).toEqual(pending);
      const calls = d.calls;
      expect(calls.slice(calls.indexOf('pending migrations web-1 r2'))).toEqual([
        'pending migrations web-1 r2',
        'stop green web-1',
        'health r1',
      ]);
      expect(calls.filter((c) => c.startsWith('backup') || c.startsWith('migrate'))).toEqual([]);
      expect(lab.hosts['web-1'].routing).toEqual({ blue: 100, green: 0 });
    });
  });

  test('contract migrations wait for the old colour to stop: the retirement runs them', async () => {
    const pending = [
      { id: '002_add_column', phase: 'expand' },
      { id: '003_drop_old_column', phase: 'contract' },
    ];
    await withLab({ hosts: { 'web-1': liveOn('blue', r1) }, database: true, pending }, async (lab) => {
      const d = await lab.deploy();
      expect(d.calls.filter((c) => c.startsWith('migrate') || c.startsWith('route'))).toEqual([
        'migrate web-1 r2 expand',
        'route web-1 blue 0 green 100',
      ]);
      expect(d.result?.migrations).toEqual([{ id: '002_add_column', backwardCompatible: true }]);
      expect(await lab.retirement(d)).toEqual({
        outcome: { 'web-1': 'stopped' },
        calls: ['read-routing web-1', 'stop blue web-1 only r1', 'migrate web-1 r2 contract'],
      });
    });
  });

  test('the first release on colours (no old colour serving) runs its contract migrations at once', async () => {
    const pending = [{ id: '003_drop_old_column', phase: 'contract' }];
    await withLab({ database: true, pending }, async (lab) => {
      const d = await lab.deploy();
      expect(d.result?.outcome).toBe('succeeded');
      expect(d.calls.filter((c) => c.startsWith('migrate'))).toEqual(['migrate web-1 r2 contract']);
      expect(d.calls.at(-1)).toBe('migrate web-1 r2 contract');
    });
  });
});

describe('recreate in an environment with colours', () => {
  test('replaces the live colour in place, without any switch', async () => {
    await withLab({ hosts: { 'web-1': liveOn('blue', r1) }, strategy: 'recreate' }, async (lab) => {
      const d = await lab.deploy();
      expect(d.calls).toEqual([
        'resolvePlan',
        'read-routing web-1',
        ...releaseTo('blue', 'r2'),
        'record release web-1 r2',
      ]);
      expect(d.result?.colours).toEqual({
        strategy: 'recreate',
        stable: 'blue',
        target: 'blue',
        live: 'blue',
      });
      expect(d.result?.steps.map((s) => s.name)).not.toContain('drain');
      expect(lab.hosts['web-1'].routing).toEqual({ blue: 100, green: 0 });
      expect(lab.hosts['web-1'].blue.running?.release).toBe('r2');
      expect(lab.hosts['web-1'].green).toEqual({});
      await expect(env.client.workflow.getHandle(`retire-${d.workflowId}`).describe()).rejects.toBeInstanceOf(
        WorkflowNotFoundError,
      );
    });
  });

  test('a failure puts the previous release back into the live colour', async () => {
    await withLab(
      { hosts: { 'web-1': liveOn('blue', r1) }, strategy: 'recreate', unhealthy: ['r2'] },
      async (lab) => {
        const d = await lab.deploy();
        expect(d.calls).toEqual([
          'resolvePlan',
          'read-routing web-1',
          ...releaseTo('blue', 'r2').slice(0, -2),
          'upload blue web-1 r1',
          'start blue web-1 r1',
          'record blue web-1 r1',
          'health r1',
        ]);
        expect(d.calls.filter(isSwitch)).toEqual([]);
        const status = d.failure!.status;
        expect(status.outcome).toBe('rolled-back');
        expect(status.rollback).toEqual({
          restoredRelease: 'r1',
          healthy: true,
          answeringAfterMs: expect.any(Number),
          actions: ['restored release r1 in blue on web-1'],
        });
        const blue = lab.hosts['web-1'].blue;
        expect(blue.running).toEqual({ release: 'r1', images: r1.images, services: SERVICES });
        expect(blue.record?.release).toBe('r1');
        expect(lab.hosts['web-1'].routing).toEqual({ blue: 100, green: 0 });
      },
    );
  });
});

describe('retireColour', () => {
  test('leaves a colour alone when it carries traffic again or runs another release now', async () => {
    const hosts = {
      // A switch-back (or a canary) put some traffic on blue again.
      'web-1': { routing: { blue: 10, green: 90 }, blue: runs(r1), green: runs(r2) },
      // A later deployment took blue over with r3 (its switch failed: blue has no traffic).
      'web-2': { routing: allOn('green'), blue: runs(r3), green: runs(r2) },
      // Nothing changed: blue is stopped.
      'web-3': { routing: allOn('green'), blue: runs(r1), green: runs(r2) },
    };
    await withLab({ hosts }, async (lab) => {
      const retired = await lab.retire('blue', 'r1');
      expect(retired.calls).toEqual([
        'read-routing web-1',
        'read-routing web-2',
        'stop blue web-2 only r1',
        'read-routing web-3',
        'stop blue web-3 only r1',
      ]);
      expect(retired.outcome).toEqual({ 'web-1': 'live again', 'web-2': 'taken over', 'web-3': 'stopped' });
      expect(lab.hosts['web-1'].blue.running?.release).toBe('r1');
      expect(lab.hosts['web-2'].blue.running?.release).toBe('r3');
      expect(lab.hosts['web-3'].blue.running).toBeUndefined();
    });
  });
});
