/**
 * Canary releases of deployEnvironment on a real local Temporal server, with stubbed activities
 * that model the hosts (routing weights, colours, release records; the approach of
 * blueGreen.test.ts) and an observeCanary stub that returns scripted Traefik counters and probes
 * per weight step at once, instead of dwelling. The pause deadline and the switch-back window are
 * configured in seconds (the time-skipping test server stopped skipping time at random here, so
 * these tests run on real time, as blueGreen.test.ts does). Every stub records its call, so the tests assert what each deployment did, in order:
 * the routing writes with their weights, the observations, the compensation.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { DeployActivities } from '../../src/activities';
import { createLockActivities } from '../../src/activities/locks';
import { createNotificationActivities } from '../../src/activities/notifications';
import type { Notification } from '../../src/shared/notifications';
import { useWebhookReceiver } from '../shared/webhookReceiver';
import type { CanaryObservation, ObserveInput } from '../../src/activities/canary';
import type { ColourStepInput } from '../../src/activities/colours';
import type { HealthInput } from '../../src/activities/health';
import type { HostStepInput } from '../../src/activities/hostStep';
import { resolveImages } from '../../src/activities/plan';
import type { SwitchInput } from '../../src/activities/traffic';
import { loadEnvironment } from '../../src/config/load';
import type { DeployRequest } from '../../src/config/request';
import type { CanaryConfig, Colour, EnvironmentConfig, WebhookConfig } from '../../src/config/schema';
import type {
  CanaryStepRecord,
  DeploymentStatus,
  DeployPlan,
  ReleaseRecord,
} from '../../src/shared/deployment';
import {
  abortSignal,
  deploymentStatusQuery,
  pauseCanarySignal,
  promoteCanarySignal,
  resumeCanarySignal,
} from '../../src/shared/messages';
import type { ServiceSnapshot } from '../../src/traffic/analysis';
import { allOn, liveColour, type Weights } from '../../src/traffic/colours';
import type { deployEnvironment } from '../../src/workflows/deployEnvironment';
import type { retireColour, RetireOutcome } from '../../src/workflows/retireColour';
import { saveHistory, startLocalTemporal } from './testEnv';

const production = loadEnvironment(join(__dirname, '..', 'fixtures', 'environments'), 'production');
const SERVICES = production.services.map((s) => s.name);
const PREVIEW = 'X-Deploy-Colour';
/** Short deadlines so that waits end in real time: a pause, the switch-back window. */
const MAX_PAUSE_SECONDS = 2;
const SWITCH_BACK_WINDOW_SECONDS = 1;

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

// ---------------------------------------------------------------------------------------------
// What the canary sees: Traefik's counters at the start and end of a step, and the probes

/** What reached the canary during one step. */
interface Seen {
  requests: number;
  /** 5xx answers among them. */
  errors?: number;
  /** Requests that took 4 s (the (3, 5] bucket); the others took under 0.1 s. */
  slow?: number;
  probes?: { ok: number; failed: number; proxyUnreachable?: number };
  /** Traefik restarted during the step: `after` holds only these counts, below `before`'s. */
  reset?: boolean;
}

const healthy: Seen = { requests: 100 };
const erroring: Seen = { requests: 100, errors: 10 }; // error rate 10 % > 5 %
const slow: Seen = { requests: 100, slow: 10 }; // p95 4 s > 3 s
const unavailable: Seen = { requests: 100, probes: { ok: 50, failed: 10 } }; // 83.3 % < 95 %
const quiet: Seen = { requests: 5 }; // fewer than minRequests (20)

/** Traefik's cumulative counters for the canary colour. */
function snapshot(requests: number, errors: number, slowOnes: number): ServiceSnapshot {
  const fast = requests - slowOnes;
  return {
    requests,
    errors,
    buckets: [
      { le: 0.1, count: fast },
      { le: 0.3, count: fast },
      { le: 1, count: fast },
      { le: 3, count: fast },
      { le: 5, count: requests },
      { le: null, count: requests },
    ],
  };
}

/** Counters before the step: what the colour served during the preview checks and earlier steps. */
const BEFORE = { requests: 5_000, errors: 20, slow: 40 };

function observation(seen: Seen): CanaryObservation {
  const { requests, errors = 0, slow: slowOnes = 0 } = seen;
  const probes = { proxyUnreachable: 0, ...(seen.probes ?? { ok: 60, failed: 0 }) };
  const before = snapshot(BEFORE.requests, BEFORE.errors, BEFORE.slow);
  const after = seen.reset
    ? snapshot(requests, errors, slowOnes)
    : snapshot(BEFORE.requests + requests, BEFORE.errors + errors, BEFORE.slow + slowOnes);
  const failedProbes = Array.from(
    { length: Math.min(probes.failed, 5) },
    () => 'http://10.0.0.7/health/ready: HTTP 503',
  );
  return { before, after, probes, failedProbes };
}

/** The status record of one analysed step, as the pure analysis computes it from `Seen`. */
function record(weight: number, fields: Partial<CanaryStepRecord>): CanaryStepRecord {
  return {
    weight,
    verdict: 'passed',
    requests: 100,
    errors: 0,
    errorRate: 0,
    p95Seconds: 0.095,
    availability: 1,
    reasons: [],
    countersReset: false,
    proxyUnreachableProbes: 0,
    failedProbes: [],
    ...fields,
  };
}

// ---------------------------------------------------------------------------------------------
// The fake hosts (as in blueGreen.test.ts)

interface Running {
  release: string;
  images: Record<string, string>;
  services: string[];
}

interface ColourOnHost {
  files?: { release: string; images: Record<string, string> };
  running?: Running;
  record?: ReleaseRecord;
}

interface FakeHost {
  routing?: Weights;
  blue: ColourOnHost;
  green: ColourOnHost;
  current?: ReleaseRecord;
  previous?: ReleaseRecord;
}

function runs(rec: ReleaseRecord): ColourOnHost {
  const { release, images } = rec;
  return { files: { release, images }, running: { release, images, services: [...SERVICES] }, record: rec };
}

function liveOn(colour: Colour, rec: ReleaseRecord, more: Partial<FakeHost> = {}): Partial<FakeHost> {
  return { routing: allOn(colour), [colour]: runs(rec), current: rec, ...more };
}

/** What observeCanary does at a weight, the nth time (0-based) it observes that weight. */
type ObserveScript = (weight: number, nth: number) => Seen | 'hang' | Promise<Seen>;

interface LabOptions {
  /** The hosts and their state; default web-1 with blue live on r1. */
  hosts?: Record<string, Partial<FakeHost>>;
  canary?: Partial<CanaryConfig>;
  /** Default: every step is healthy. */
  observe?: ObserveScript;
  /** Notify this webhook through the real sendWebhook activity. */
  webhook?: { config: WebhookConfig; workerEnv: NodeJS.ProcessEnv };
}

interface Deployment {
  workflowId: string;
  calls: string[];
  result?: DeploymentStatus;
  failure?: { type?: string | null; message: string; status: DeploymentStatus };
}

const nonRetryable = (message: string, type: string) => ApplicationFailure.nonRetryable(message, type);

class Lab {
  readonly name = `cn-${randomUUID().slice(0, 8)}`;
  readonly taskQueue = `canary-${randomUUID()}`;
  readonly hosts: Record<string, FakeHost> = {};
  readonly environment: EnvironmentConfig;
  readonly log: { by: string; call: string }[] = [];
  readonly observeInputs: ObserveInput[] = [];
  readonly deployments: string[] = [];
  private readonly observed = new Map<number, number>();

  constructor(private readonly options: LabOptions) {
    for (const [name, state] of Object.entries(options.hosts ?? { 'web-1': liveOn('blue', r1) })) {
      this.hosts[name] = structuredClone({ blue: {}, green: {}, ...state });
    }
    const traffic = production.traffic!;
    this.environment = {
      ...production,
      name: this.name,
      hosts: Object.keys(this.hosts).map((name, i) => ({
        ...production.hosts[0],
        name,
        address: `10.0.0.${7 + i}`,
      })),
      traffic: {
        ...traffic,
        drainSeconds: 0,
        switchBackWindowSeconds: SWITCH_BACK_WINDOW_SECONDS,
        canary: { ...traffic.canary, maxPauseSeconds: MAX_PAUSE_SECONDS, ...options.canary },
      },
      ...(options.webhook ? { notifications: { webhooks: [options.webhook.config] } } : {}),
    };
  }

  callsBy(workflowId: string): string[] {
    return this.log.filter((l) => l.by === workflowId).map((l) => l.call);
  }

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
      strategy: request.strategy ?? this.environment.strategy,
    };
  }

  activities() {
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
        host(i).routing = { ...i.weights };
        return { weights: i.weights, confirmedAfterMs: 1, written: true };
      },
      inspectColour: async (i: ColourStepInput) => {
        call(`inspect ${i.colour} ${i.hostName}`);
        const { record: rec, running } = colourOf(i);
        return { record: rec, runningServices: rec ? (running?.services ?? []) : [] };
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
        const answers = Object.values(this.hosts).every((h) => {
          if (!h.routing) return false;
          const colour = preview ?? liveColour(h.routing);
          const running = colour ? h[colour].running : undefined;
          return running?.release === i.release;
        });
        if (!answers)
          throw nonRetryable('not healthy after 1 s: /health/ready HTTP 503', 'HealthDeadlineExceeded');
        return { elapsedMs: 1, attempts: 1, probes: [] };
      },
      postDeployChecks: async (i: { plan: DeployPlan; colour?: Colour; httpOnly?: boolean }) => {
        call(`checks ${release(i)}${i.colour ? ` via ${i.colour}` : ''}${i.httpOnly ? ' (http only)' : ''}`);
        return [{ name: 'services-running', host: 'web-1', ok: true, detail: 'running: api, site' }];
      },
      recordRelease: async (i: HostStepInput) => {
        call(`record release ${i.hostName} ${release(i)}`);
        const h = host(i);
        h.previous = h.current;
        h.current = recordOf(i.plan);
        return h.current;
      },
      observeCanary: async (i: ObserveInput): Promise<CanaryObservation> => {
        // The weight users see now, on the first host (every host has the same).
        const weight = host({ ...i, hostName: i.plan.environment.hosts[0].name }).routing?.[i.colour] ?? 0;
        const nth = this.observed.get(weight) ?? 0;
        this.observed.set(weight, nth + 1);
        this.observeInputs.push(i);
        call(`observe ${i.colour} ${weight}`);
        const scripted = (this.options.observe ?? (() => healthy))(weight, nth);
        if (scripted !== 'hang') return observation(await scripted);
        // Only a step that hangs heartbeats (throttled to 200 ms by the worker), to receive the
        // workflow's cancellation.
        const ctx = Context.current();
        const beat = setInterval(() => ctx.heartbeat(), 50);
        try {
          return await ctx.cancelled;
        } catch (err) {
          call(`observe ${i.colour} ${weight} cancelled`);
          throw err;
        } finally {
          clearInterval(beat);
        }
      },
    } satisfies Partial<DeployActivities>;
  }

  /**
   * Start a deployment; `during` runs while it goes on, then its result is awaited.
   */
  async deploy(
    overrides: Partial<DeployRequest> = {},
    during?: (handle: WorkflowHandle<typeof deployEnvironment>, d: Deployment) => Promise<void>,
  ): Promise<Deployment> {
    const request: DeployRequest = {
      environment: this.name,
      release: 'r2',
      images: { site: 'v2', api: 'v2' },
      requestedBy: 'ci',
      ...overrides,
    };
    const workflowId = `deploy-${this.name}-${request.release}-${randomUUID().slice(0, 8)}`;
    this.deployments.push(workflowId);
    const callsBy = (id: string) => this.callsBy(id);
    const d: Deployment = {
      workflowId,
      get calls() {
        return callsBy(workflowId);
      },
    };
    const handle = await env.client.workflow.start<typeof deployEnvironment>('deployEnvironment', {
      taskQueue: this.taskQueue,
      workflowId,
      args: [request],
    });
    await during?.(handle, d);
    try {
      d.result = await handle.result();
    } catch (err) {
      if (!(err instanceof WorkflowFailedError)) throw err;
      const cause = err.cause;
      if (!(cause instanceof ApplicationFailure)) throw new Error(`expected an ApplicationFailure: ${err}`);
      d.failure = {
        type: cause.type,
        message: cause.message,
        status: cause.details?.[0] as DeploymentStatus,
      };
    }
    return d;
  }

  /** The deployment's retireColour child, run to its end (its window is a second). */
  async retirement(d: Deployment): Promise<{ outcome: Record<string, RetireOutcome>; calls: string[] }> {
    const id = `retire-${d.workflowId}`;
    const outcome = await env.client.workflow.getHandle<typeof retireColour>(id).result();
    return { outcome, calls: this.callsBy(id) };
  }

  /** Wait until a stub was called. */
  async called(d: Deployment, call: string): Promise<void> {
    const deadline = Date.now() + 20_000;
    while (!d.calls.includes(call)) {
      if (Date.now() > deadline) throw new Error(`"${call}" never came; calls: ${d.calls.join(', ')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** Poll the status query until `ok` holds. */
async function until(
  handle: WorkflowHandle,
  ok: (s: DeploymentStatus) => boolean,
): Promise<DeploymentStatus> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const status = await handle.query(deploymentStatusQuery);
    if (ok(status)) return status;
    if (Date.now() > deadline) throw new Error(`the deployment never got there: ${JSON.stringify(status)}`);
    await new Promise((r) => setTimeout(r, 50));
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

/** A lab and a worker serving it while `fn` runs; retirements still waiting are terminated after. */
async function withLab(options: LabOptions, fn: (lab: Lab) => Promise<void>): Promise<void> {
  const lab = new Lab(options);
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: lab.taskQueue,
    workflowBundle,
    activities: {
      ...lab.activities(),
      ...(options.webhook
        ? createNotificationActivities({
            workerEnv: options.webhook.workerEnv,
            workflowLink: (id) => `http://ui.test/workflows/${id}`,
          })
        : {}),
    },
    maxHeartbeatThrottleInterval: '200ms',
    workflowFailureErrorTypes: { '*': ['NondeterminismError', 'DeterminismViolationError'] },
  });
  try {
    await worker.runUntil(() => fn(lab));
  } finally {
    for (const id of lab.deployments) {
      await env.client.workflow
        .getHandle(`retire-${id}`)
        .terminate('test over')
        .catch(() => undefined);
    }
  }
}

/** Up to the preview checks on web-1: green gets r2 next to blue's r1. */
const greenReady = [
  'resolvePlan',
  'read-routing web-1',
  'inspect green web-1',
  'upload web-1 r2',
  'upload green web-1 r2',
  'pull green web-1 r2',
  'start shared web-1',
  'start green web-1 r2',
  'health r2 via green',
  'checks r2 via green',
  'record green web-1 r2',
];
const route = (weight: number) => `route web-1 blue ${100 - weight} green ${weight}`;
/** After a failure on web-1: all traffic back on blue, green stopped, r1 verified. */
const rolledBack = ['route web-1 blue 100 green 0', 'stop green web-1', 'health r1'];

/**
 * The calls without the stub's cancellation mark: the workflow does not wait for a cancelled
 * observation (read-only) to acknowledge, so that mark lands anywhere after the cancellation.
 */
const inOrder = (calls: string[]) => calls.filter((c) => !c.endsWith(' cancelled'));

/** The same routing write on every host, in host order. */
const onHosts = (hosts: string[], weight: number) =>
  hosts.map((h) => `route ${h} blue ${100 - weight} green ${weight}`);
const TWO_HOSTS = { 'web-1': liveOn('blue', r1), 'web-2': liveOn('blue', r1) };
/** The names of the deployment's routing and analysis steps, in order. */
const canarySteps = (s: DeploymentStatus | undefined) =>
  s?.steps.map((step) => step.name).filter((n) => n.startsWith('route') || n.startsWith('analyse'));

// ---------------------------------------------------------------------------------------------

describe('a canary that passes', () => {
  test('routes 10 → 50 → 100 % on every host with an analysis before each move; blue is retired after the window', async () => {
    await withLab({ hosts: TWO_HOSTS }, async (lab) => {
      const d = await lab.deploy();
      await saveHistory(env, 'canary-promoted', d.workflowId);
      const hosts = ['web-1', 'web-2'];
      expect(d.calls.slice(d.calls.indexOf('record green web-2 r2') + 1)).toEqual([
        ...onHosts(hosts, 10),
        'observe green 10',
        ...onHosts(hosts, 50),
        'observe green 50',
        ...onHosts(hosts, 100),
        'record release web-1 r2',
        'record release web-2 r2',
      ]);
      // Each step dwells as configured, on the canary colour.
      expect(lab.observeInputs.map((i) => [i.colour, i.dwellSeconds])).toEqual([
        ['green', 30],
        ['green', 30],
      ]);
      const status = d.result!;
      expect(status.outcome).toBe('succeeded');
      expect(status.canary).toEqual({
        plan: [10, 50, 100],
        weight: 100,
        steps: [record(10, {}), record(50, {})],
      });
      expect(canarySteps(status)).toEqual([
        'route 10 % to green web-1',
        'route 10 % to green web-2',
        'analyse 10 %',
        'route 50 % to green web-1',
        'route 50 % to green web-2',
        'analyse 50 %',
        'route 100 % to green web-1',
        'route 100 % to green web-2',
      ]);
      expect(status.colours).toEqual({
        strategy: 'canary',
        stable: 'blue',
        target: 'green',
        live: 'green',
        reused: false,
        retireAt: expect.any(String),
      });
      for (const h of Object.values(lab.hosts)) {
        expect(h.routing).toEqual({ blue: 0, green: 100 });
        expect(h.blue.running?.release).toBe('r1'); // kept for the switch-back window
      }
      // After the window: blue is stopped on both hosts.
      expect(await lab.retirement(d)).toEqual({
        outcome: { 'web-1': 'stopped', 'web-2': 'stopped' },
        calls: [
          'read-routing web-1',
          'stop blue web-1 only r1',
          'read-routing web-2',
          'stop blue web-2 only r1',
        ],
      });
    });
  });

  test('Traefik restarted during a step: the verdict uses the later snapshot alone and leaves out the probes that found no proxy', async () => {
    const observe = (weight: number): Seen =>
      weight === 10
        ? { requests: 200, errors: 2, reset: true, probes: { ok: 40, failed: 0, proxyUnreachable: 12 } }
        : healthy;
    await withLab({ observe }, async (lab) => {
      const d = await lab.deploy();
      expect(d.calls.slice(greenReady.length)).toEqual([
        route(10),
        'observe green 10',
        route(50),
        'observe green 50',
        route(100),
        'record release web-1 r2',
      ]);
      expect(d.result?.outcome).toBe('succeeded');
      expect(d.result?.canary?.steps).toEqual([
        record(10, {
          requests: 200,
          errors: 2,
          errorRate: 0.01,
          countersReset: true,
          proxyUnreachableProbes: 12,
          failedProbes: [],
        }),
        record(50, {}),
      ]);
    });
  });

  test('probes failing while Traefik restarts make the step inconclusive, not failed: it runs again and the canary goes on', async () => {
    let observed = 0;
    const observe = (weight: number): Seen =>
      weight === 10 && observed++ === 0
        ? { requests: 120, reset: true, probes: { ok: 40, failed: 8, proxyUnreachable: 3 } }
        : healthy;
    await withLab({ observe }, async (lab) => {
      const d = await lab.deploy();
      expect(d.calls.slice(greenReady.length)).toEqual([
        route(10),
        'observe green 10',
        'observe green 10',
        route(50),
        'observe green 50',
        route(100),
        'record release web-1 r2',
      ]);
      expect(d.result?.outcome).toBe('succeeded');
      expect(d.result?.canary?.steps?.[0]).toMatchObject({
        weight: 10,
        verdict: 'inconclusive',
        availability: 0.8333,
        countersReset: true,
        proxyUnreachableProbes: 3,
        reasons: ['availability 83.3 % < 95.0 % while Traefik restarted'],
      });
      expect(d.result?.canary?.steps?.map((x) => x.verdict)).toEqual(['inconclusive', 'passed', 'passed']);
    });
  });
});

describe('a canary told to a webhook', () => {
  const hooks = useWebhookReceiver();

  test('each analysed step sends its verdict, a failed one with its reasons, then the rollback', async () => {
    const webhook = {
      config: { name: 'ops', format: 'json' as const, url: { fromEnv: 'HOOK_OPS' } },
      workerEnv: { HOOK_OPS: `${hooks.receiver.base}/hooks/${hooks.secrets.LAB_WEBHOOK_TOKEN}/ops` },
    };
    // Healthy at 10 %, erroring at 50 %.
    const observe: ObserveScript = (weight) => (weight === 50 ? erroring : healthy);
    await withLab({ observe, webhook }, async (lab) => {
      const d = await lab.deploy();
      expect(d.failure?.status.outcome).toBe('rolled-back');
      const got = await hooks.receiver.waitFor('rolled-back', (r) =>
        r.some((x) => x.event === 'rolled-back' && (x.body as Notification).workflowId === d.workflowId),
      );
      const verdicts = got
        .map((x) => x.body as Notification)
        .filter((b) => b.workflowId === d.workflowId && b.event === 'canary-verdict')
        .sort((a, b) => a.deliveryId.localeCompare(b.deliveryId));
      expect(verdicts.map((v) => [v.summary, v.outcome, v.detail])).toEqual([
        ['canary of r2 at 10 %: passed', 'passed', undefined],
        ['canary of r2 at 50 %: failed', 'failed', 'error rate 10.0 % > 5.0 %'],
      ]);
    });
  });
});

describe('a canary that fails its analysis', () => {
  test('an error rate over the threshold at 10 %: all traffic back on blue in one write per host, then green stops', async () => {
    const observe = (): Seen => erroring;
    await withLab({ hosts: TWO_HOSTS, observe }, async (lab) => {
      const d = await lab.deploy();
      const hosts = ['web-1', 'web-2'];
      expect(d.calls.slice(d.calls.indexOf('record green web-2 r2') + 1)).toEqual([
        ...onHosts(hosts, 10),
        'observe green 10',
        ...onHosts(hosts, 0),
        'stop green web-2',
        'stop green web-1',
        'health r1',
      ]);
      const reason = 'canary at 10 % failed its analysis: error rate 10.0 % > 5.0 %';
      const failure = d.failure!;
      expect(failure.type).toBe('CanaryFailed');
      expect(failure.message).toBe(
        `deployment of r2 to ${lab.name} failed at "analyse 10 %": ${reason}. ` +
          'Rolled back: switched traffic back to blue; stopped green on web-2; stopped green on web-1; ' +
          'environment is healthy on release r1.',
      );
      const status = failure.status;
      expect(status.outcome).toBe('rolled-back');
      expect(status.failure).toEqual({ step: 'analyse 10 %', message: reason });
      expect(status.canary).toEqual({
        plan: [10, 50, 100],
        weight: 10,
        steps: [
          record(10, {
            verdict: 'failed',
            errors: 10,
            errorRate: 0.1,
            reasons: ['error rate 10.0 % > 5.0 %'],
          }),
        ],
      });
      expect(status.colours).toMatchObject({ stable: 'blue', target: 'green', live: 'blue' });
      expect(status.colours?.retireAt).toBeUndefined();
      for (const h of Object.values(lab.hosts)) {
        expect(h.routing).toEqual({ blue: 100, green: 0 });
        expect(h.green.running).toBeUndefined();
        expect(h.current?.release).toBe('r1');
      }
    });
  });

  test('a p95 over the threshold at 50 %', async () => {
    const observe = (weight: number): Seen => (weight === 50 ? slow : healthy);
    await withLab({ observe }, async (lab) => {
      const d = await lab.deploy();
      expect(d.calls.slice(greenReady.length)).toEqual([
        route(10),
        'observe green 10',
        route(50),
        'observe green 50',
        ...rolledBack,
      ]);
      const { type, status } = d.failure!;
      expect(type).toBe('CanaryFailed');
      expect(status.failure).toEqual({
        step: 'analyse 50 %',
        message: 'canary at 50 % failed its analysis: p95 4.00 s > 3.00 s',
      });
      expect(status.outcome).toBe('rolled-back');
      expect(status.canary?.weight).toBe(50);
      expect(status.canary?.steps).toEqual([
        record(10, {}),
        record(50, { verdict: 'failed', p95Seconds: 4, reasons: ['p95 4.00 s > 3.00 s'] }),
      ]);
      expect(lab.hosts['web-1'].routing).toEqual({ blue: 100, green: 0 });
    });
  });

  test('readiness probes failing (availability under the threshold), with the failed probes shown', async () => {
    const observe = (): Seen => unavailable;
    await withLab({ observe }, async (lab) => {
      const d = await lab.deploy();
      expect(d.calls.slice(greenReady.length)).toEqual([route(10), 'observe green 10', ...rolledBack]);
      const { type, status } = d.failure!;
      expect(type).toBe('CanaryFailed');
      expect(status.failure?.message).toBe(
        'canary at 10 % failed its analysis: availability 83.3 % < 95.0 %',
      );
      expect(status.outcome).toBe('rolled-back');
      expect(status.canary?.steps).toEqual([
        record(10, {
          verdict: 'failed',
          availability: 0.8333,
          reasons: ['availability 83.3 % < 95.0 %'],
          failedProbes: Array(5).fill('http://10.0.0.7/health/ready: HTTP 503'),
        }),
      ]);
      expect(lab.hosts['web-1'].routing).toEqual({ blue: 100, green: 0 });
    });
  });
});

describe('an inconclusive canary', () => {
  const inconclusive = record(10, {
    verdict: 'inconclusive',
    requests: 5,
    reasons: ['only 5 requests < 20 minimum'],
  });

  test('is observed once more, and goes on when the extension passes', async () => {
    const observe = (weight: number, nth: number): Seen => (weight === 10 && nth === 0 ? quiet : healthy);
    await withLab({ observe }, async (lab) => {
      const d = await lab.deploy();
      expect(d.calls.slice(greenReady.length)).toEqual([
        route(10),
        'observe green 10',
        'observe green 10',
        route(50),
        'observe green 50',
        route(100),
        'record release web-1 r2',
      ]);
      expect(d.result?.outcome).toBe('succeeded');
      expect(d.result?.canary?.steps).toEqual([inconclusive, record(10, {}), record(50, {})]);
      expect(canarySteps(d.result)).toEqual([
        'route 10 % to green web-1',
        'analyse 10 %',
        'analyse 10 % (extended 1)',
        'route 50 % to green web-1',
        'analyse 50 %',
        'route 100 % to green web-1',
      ]);
    });
  });

  test('fails once it stays inconclusive past maxExtensions (2)', async () => {
    const observe = (): Seen => quiet;
    await withLab({ observe }, async (lab) => {
      const d = await lab.deploy();
      expect(d.calls.slice(greenReady.length)).toEqual([
        route(10),
        'observe green 10',
        'observe green 10',
        'observe green 10',
        ...rolledBack,
      ]);
      const { type, status } = d.failure!;
      expect(type).toBe('CanaryFailed');
      expect(status.failure).toEqual({
        step: 'analyse 10 % (extended 2)',
        message: 'canary at 10 % stayed inconclusive (only 5 requests < 20 minimum) after 2 extension(s)',
      });
      expect(status.outcome).toBe('rolled-back');
      expect(status.canary?.steps).toEqual([inconclusive, inconclusive, inconclusive]);
      expect(lab.hosts['web-1'].routing).toEqual({ blue: 100, green: 0 });
    });
  });

  test("with onInconclusive 'fail', fails at once", async () => {
    const noProbes: Seen = { requests: 100, probes: { ok: 0, failed: 0 } };
    await withLab({ canary: { onInconclusive: 'fail' }, observe: () => noProbes }, async (lab) => {
      const d = await lab.deploy();
      expect(d.calls.slice(greenReady.length)).toEqual([route(10), 'observe green 10', ...rolledBack]);
      const { type, status } = d.failure!;
      expect(type).toBe('CanaryFailed');
      expect(status.failure?.message).toBe('canary at 10 % stayed inconclusive (no readiness probes)');
      expect(status.outcome).toBe('rolled-back');
      expect(status.canary?.steps).toEqual([
        record(10, { verdict: 'inconclusive', availability: null, reasons: ['no readiness probes'] }),
      ]);
    });
  });
});

describe("operators' controls", () => {
  /** observeCanary at 10 % waits for the test to let it finish (healthy); other steps are healthy. */
  function heldFirstStep() {
    let finish!: () => void;
    const first = new Promise<Seen>((resolve) => (finish = () => resolve(healthy)));
    const observe = (weight: number) => (weight === 10 ? first : healthy);
    return { observe, finish };
  }
  const alice = { by: 'alice', comment: 'watch the dashboards' };

  test('a pause during a step holds at that weight after its analysis, until resumed', async () => {
    const { observe, finish } = heldFirstStep();
    await withLab({ observe }, async (lab) => {
      const d = await lab.deploy({}, async (handle, d) => {
        await lab.called(d, 'observe green 10');
        await handle.signal(pauseCanarySignal, alice);
        finish();
        const held = await until(handle, (s) => s.stage.includes('paused'));
        expect(held.stage).toBe('canary paused at 10 % by alice');
        expect(held.canary).toEqual({
          plan: [10, 50, 100],
          weight: 10,
          steps: [record(10, {})],
          paused: { ...alice, at: expect.any(String) },
        });
        expect(lab.hosts['web-1'].routing).toEqual({ blue: 90, green: 10 });
        expect(d.calls.at(-1)).toBe('observe green 10');
        await handle.signal(resumeCanarySignal, { by: 'bob' });
      });
      expect(d.calls.slice(greenReady.length)).toEqual([
        route(10),
        'observe green 10',
        route(50),
        'observe green 50',
        route(100),
        'record release web-1 r2',
      ]);
      expect(d.result?.outcome).toBe('succeeded');
      expect(d.result?.canary).toEqual({
        plan: [10, 50, 100],
        weight: 100,
        steps: [record(10, {}), record(50, {})],
      });
      expect(d.result?.canary?.paused).toBeUndefined();
    });
  });

  test('a pause never resumed fails the canary after maxPauseSeconds and rolls back', async () => {
    const { observe, finish } = heldFirstStep();
    await withLab({ observe }, async (lab) => {
      const d = await lab.deploy({}, async (handle, d) => {
        await lab.called(d, 'observe green 10');
        await handle.signal(pauseCanarySignal, alice);
        finish();
        await until(handle, (s) => s.stage.includes('paused'));
      });
      expect(d.calls.slice(greenReady.length)).toEqual([route(10), 'observe green 10', ...rolledBack]);
      const { type, status } = d.failure!;
      expect(type).toBe('CanaryFailed');
      expect(status.failure).toEqual({
        step: 'canary paused at 10 % by alice',
        message: `canary paused at 10 % for more than ${MAX_PAUSE_SECONDS} s`,
      });
      expect(status.outcome).toBe('rolled-back');
      expect(status.canary?.paused?.by).toBe('alice');
      // The deadline is a workflow timer of maxPauseSeconds.
      const at = (name: string, key: 'startedAt' | 'endedAt') =>
        Date.parse(status.steps.find((s) => s.name === name)![key]!);
      expect(
        at('rollback: switched traffic back to blue', 'startedAt') - at('analyse 10 %', 'endedAt'),
      ).toBeGreaterThanOrEqual(MAX_PAUSE_SECONDS * 1000);
      expect(lab.hosts['web-1'].routing).toEqual({ blue: 100, green: 0 });
    });
  });

  test('a promotion during a step cancels its observation and sends all traffic to green at once', async () => {
    await withLab({ observe: () => 'hang' }, async (lab) => {
      const d = await lab.deploy({}, async (handle, d) => {
        await lab.called(d, 'observe green 10');
        await handle.signal(promoteCanarySignal, alice);
      });
      expect(inOrder(d.calls.slice(greenReady.length))).toEqual([
        route(10),
        'observe green 10',
        route(100),
        'record release web-1 r2',
      ]);
      // The observation itself saw the cancellation (heartbeats bring it).
      await lab.called(d, 'observe green 10 cancelled');
      const status = d.result!;
      expect(status.outcome).toBe('succeeded');
      expect(status.canary).toEqual({
        plan: [10, 50, 100],
        weight: 100,
        steps: [],
        promoted: { ...alice, at: expect.any(String) },
      });
      expect(canarySteps(status)).toEqual([
        'route 10 % to green web-1',
        'analyse 10 %',
        'route 100 % to green web-1',
      ]);
      expect(status.colours?.live).toBe('green');
      expect(lab.hosts['web-1'].routing).toEqual({ blue: 0, green: 100 });
    });
  });

  test('a promotion sent before the canary starts skips every step and shows who promoted', async () => {
    await withLab({}, async (lab) => {
      const d = await lab.deploy({}, async (handle) => {
        await handle.signal(promoteCanarySignal, alice);
      });
      expect(d.calls.slice(greenReady.length)).toEqual([route(100), 'record release web-1 r2']);
      expect(d.result?.canary).toEqual({
        plan: [10, 50, 100],
        weight: 100,
        steps: [],
        promoted: { ...alice, at: expect.any(String) },
      });
    });
  });

  test('an abort during a step cancels it: traffic back on blue, green stopped, outcome aborted', async () => {
    await withLab({ observe: () => 'hang' }, async (lab) => {
      const d = await lab.deploy({}, async (handle, d) => {
        await lab.called(d, 'observe green 10');
        await handle.signal(abortSignal, { by: 'carol', comment: 'bad numbers on the dashboard' });
      });
      await saveHistory(env, 'canary-aborted', d.workflowId);
      expect(inOrder(d.calls.slice(greenReady.length))).toEqual([
        route(10),
        'observe green 10',
        ...rolledBack,
      ]);
      // The observation itself saw the cancellation (heartbeats bring it).
      await lab.called(d, 'observe green 10 cancelled');
      const { type, status } = d.failure!;
      expect(type).toBe('DeploymentAborted');
      expect(status.outcome).toBe('aborted');
      expect(status.failure).toEqual({
        step: 'analyse 10 %',
        message: 'aborted by carol: bad numbers on the dashboard',
      });
      expect(status.rollback).toEqual({
        restoredRelease: 'r1',
        healthy: true,
        answeringAfterMs: expect.any(Number),
        actions: ['switched traffic back to blue', 'stopped green on web-1'],
      });
      expect(status.canary).toEqual({ plan: [10, 50, 100], weight: 10, steps: [] });
      expect(status.colours?.live).toBe('blue');
      expect(lab.hosts['web-1'].routing).toEqual({ blue: 100, green: 0 });
      expect(lab.hosts['web-1'].green.running).toBeUndefined();
    });
  });
});

describe('canary without a canary', () => {
  test('the first deployment (no stable colour) goes straight to 100 %, like blue-green', async () => {
    await withLab({ hosts: { 'web-1': {} } }, async (lab) => {
      const d = await lab.deploy();
      expect(d.calls).toEqual([
        'resolvePlan',
        'read-routing web-1',
        'upload web-1 r2',
        'upload blue web-1 r2',
        'pull blue web-1 r2',
        'start shared web-1',
        'route web-1 blue 0 green 0',
        'start blue web-1 r2',
        'health r2 via blue',
        'checks r2 via blue',
        'record blue web-1 r2',
        'route web-1 blue 100 green 0',
        'record release web-1 r2',
      ]);
      expect(d.result?.outcome).toBe('succeeded');
      expect(d.result?.canary).toBeUndefined();
      expect(d.result?.colours).toEqual({ strategy: 'canary', target: 'blue', live: 'blue' });
      expect(lab.observeInputs).toEqual([]);
    });
  });

  test('a switch-back to the idle colour that still runs the release is one routing write', async () => {
    const hosts = { 'web-1': liveOn('green', r2, { blue: runs(r1), previous: r1 }) };
    await withLab({ hosts }, async (lab) => {
      const d = await lab.deploy({ release: 'rollback', images: {}, rollback: true });
      expect(d.calls).toEqual([
        'resolvePlan',
        'read-routing web-1',
        'inspect blue web-1',
        'health r1 via blue',
        'checks r1 via blue (http only)',
        'route web-1 blue 100 green 0',
        'record release web-1 r1',
      ]);
      expect(d.result?.outcome).toBe('succeeded');
      expect(d.result?.canary).toBeUndefined();
      expect(d.result?.colours).toEqual({
        strategy: 'canary',
        stable: 'green',
        target: 'blue',
        live: 'blue',
        reused: true,
        retireAt: expect.any(String),
      });
      expect(lab.observeInputs).toEqual([]);
    });
  });
});
