/**
 * The operator's path in a real browser: a production deployment waits for approval; in the
 * real Temporal Web UI (served by the dev server, opened in headless Chromium) the operator
 * uses "Send a Signal" on the workflow page with the one JSON argument, and the deployment
 * finishes. Activities are stubbed (as in deployEnvironment.test.ts); Temporal, the UI and the
 * browser are real. A failing step leaves a screenshot in .data/ (named in the error).
 *
 * The same operator then approves another with "Send an Update", after a malformed one is
 * refused in the dialog by the workflow's validator.
 *
 * The same server then serves deployctl itself, run as CI and operators run it: approve/abort
 * refuse bad input and unknown deployments, `deploy` prints the approve hint and exits 3 when
 * aborted, `history` lists what happened.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { type Client, type WorkflowHandle } from '@temporalio/client';
import type { BrowserContext, Page } from 'playwright-core';
import { startOrAttach } from '../../src/client/deploy';
import type { DeployRequest } from '../../src/config/request';
import type { DeploymentStatus } from '../../src/shared/deployment';
import { deploymentStatusQuery } from '../../src/shared/messages';
import { workflowUiLink, type Settings } from '../../src/shared/settings';
import { startApprovalStack, type ApprovalStack } from './approvalStack';
import { browserStep, launchBrowser, openWorkflowPage, waitForText } from './browser';

jest.setTimeout(240_000);

const ROOT = join(__dirname, '..', '..');
const SHOTS = join(ROOT, '.data', 'ui-approval');

let stack: ApprovalStack;
let settings: Settings;
let client: Client;
let browser: BrowserContext;
let userDataDir: string;

beforeAll(async () => {
  stack = await startApprovalStack({ name: 'ui-approval', ui: true });
  ({ settings, client } = stack);
  ({ browser, userDataDir } = await launchBrowser('ui-approval'));
}, 180_000);

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  await stack?.stop();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
}, 60_000);

/** Poll the status query until `ok` holds; every poll and the whole wait are bounded. */
async function until(
  handle: WorkflowHandle,
  ok: (s: DeploymentStatus) => boolean,
  timeoutMs = 30_000,
): Promise<DeploymentStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: DeploymentStatus | undefined;
  while (Date.now() < deadline) {
    try {
      last = await handle.query(deploymentStatusQuery);
      if (ok(last)) return last;
    } catch {
      // Not picked up by the worker yet.
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`condition not reached within ${timeoutMs} ms; last status: ${JSON.stringify(last)}`);
}

/** `promise`, or a failure naming `what` after `ms`; the timer never outlives it. */
async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function request(release: string): DeployRequest {
  return { environment: 'production', release, images: { site: 'v2', api: 'v2' }, requestedBy: 'ci' };
}

async function openTab(page: Page, name: string): Promise<void> {
  await page
    .getByRole('link', { name, exact: true })
    .or(page.getByRole('tab', { name, exact: true }))
    .first()
    .click({
      timeout: 15_000,
    });
}

test('an operator approves a waiting deployment with "Send a Signal" in the Web UI', async () => {
  const started = Date.now();
  const { handle } = await startOrAttach(client, settings, request('ui1'));
  const waiting = await until(handle, (s) => s.approval?.state === 'waiting');
  expect(waiting.stage).toBe('approval');

  const page = await browser.newPage();
  page.setDefaultTimeout(15_000);
  const link = workflowUiLink(settings, handle.workflowId);

  await browserStep(page, '1-open-workflow', async () => {
    await openWorkflowPage(page, link, handle.workflowId);
    await waitForText(page, [/RUNNING/]);
  });

  await browserStep(page, '2-current-details', async () => {
    await openTab(page, 'User Metadata');
    // The summary given at start, and the details the workflow sets as its steps change.
    await waitForText(page, [
      /Deploy ui1 to production \(requested by ci\)/,
      /stage: approval \(running\)/,
      /approval: running/,
    ]);
  });

  await browserStep(page, '3-search-attributes', async () => {
    await openTab(page, 'Search Attributes');
    await waitForText(page, [
      /"DeployStage": "approval"/,
      /"DeployStatus": "running"/,
      /"DeployEnvironment": "production"/,
    ]);
  });

  await browserStep(page, '4-send-signal-dialog', async () => {
    await page.getByRole('button', { name: 'More Actions' }).click();
    await page.getByRole('menuitem', { name: 'Send a Signal' }).click();
    const dialog = page.getByRole('dialog').filter({ hasText: 'Send a Signal' });
    await dialog.waitFor();
    // The worker reports the workflow's signals: pick "approve" (its description is shown too).
    await dialog.getByTestId('signal-select-button').click();
    const option = dialog.getByRole('option').filter({ has: page.getByText('approve', { exact: true }) });
    await waitForText(page, [/Approve this deployment\. Argument: \{"by": "<who>", "comment": "<why>"\}/]);
    await option.click();
    await expect(dialog.getByTestId('signal-select').inputValue()).resolves.toBe('approve');
    const data = dialog.getByRole('textbox', { name: 'Data' });
    await data.click();
    // insertText, not typed keys: the editor would auto-close brackets and quotes as they are typed.
    await page.keyboard.insertText('{"by":"ui-operator","comment":"approved in browser"}');
    expect(await data.innerText()).toBe('{"by":"ui-operator","comment":"approved in browser"}');
    expect(await dialog.getByLabel('json/plain').isChecked()).toBe(true);
    await page.screenshot({ path: join(SHOTS, 'signal-dialog-filled.png') });
    const submit = dialog.getByTestId('confirm-modal-button');
    await expect(submit.isEnabled()).resolves.toBe(true);
    await submit.click();
    await dialog.waitFor({ state: 'hidden' });
  });

  const result = await withDeadline(handle.result() as Promise<DeploymentStatus>, 60_000, 'the result');
  expect(result.outcome).toBe('succeeded');
  expect(result.approval?.state).toBe('approved');
  expect(result.approval?.decision).toMatchObject({ by: 'ui-operator', comment: 'approved in browser' });
  expect(result.ignoredSignals).toEqual([]);

  await browserStep(page, '5-completed', async () => {
    await openWorkflowPage(page, link, handle.workflowId);
    await waitForText(page, [/COMPLETED/]);
    await openTab(page, 'User Metadata');
    await waitForText(page, [/stage: done \(succeeded\)/, /approval: succeeded/]);
    await page.screenshot({ path: join(SHOTS, 'completed.png') });
  });
  await page.close();
  console.log(`approved through the Web UI; deployment took ${Date.now() - started} ms`);
});

test('an operator approves by "Send an Update" in the Web UI; a malformed one is refused in the dialog and never enters history', async () => {
  const { handle } = await startOrAttach(client, settings, request('ui-update'));
  await until(handle, (s) => s.approval?.state === 'waiting');
  const page = await browser.newPage();
  page.setDefaultTimeout(15_000);
  const link = workflowUiLink(settings, handle.workflowId);

  await browserStep(page, '1-open-workflow-for-update', async () => {
    await openWorkflowPage(page, link, handle.workflowId);
    await waitForText(page, [/RUNNING/]);
  });

  const dialog = page.getByRole('dialog').filter({ hasText: 'Send an Update' });
  const data = dialog.getByRole('textbox', { name: 'Data' });
  const submit = dialog.getByTestId('confirm-modal-button');
  /** Open "Send an Update" and pick approveDeployment (the worker reports it, with its description). */
  const openApproveDialog = async () => {
    await page.getByRole('button', { name: 'More Actions' }).click();
    await page.getByRole('menuitem', { name: 'Send an Update' }).click();
    await dialog.waitFor();
    await dialog.getByTestId('update-select-button').click();
    await waitForText(page, [/Refused, with the reason, when it is malformed, the approver is not allowed/]);
    await dialog
      .getByRole('option')
      .filter({ has: page.getByText('approveDeployment', { exact: true }) })
      .click();
    await expect(dialog.getByTestId('update-select').inputValue()).resolves.toBe('approveDeployment');
  };
  await browserStep(page, '2-update-dialog', openApproveDialog);

  await browserStep(page, '3-update-refused', async () => {
    await data.click();
    await page.keyboard.insertText('{"comment":"no approver named"}');
    await submit.click();
    // The validator's reason, shown in the dialog, which stays open.
    await waitForText(page, [/approve at .*: argument must be \{"by": "<who>", \.\.\.\}/]);
    await page.screenshot({ path: join(SHOTS, 'update-refused.png') });
    expect(await dialog.isVisible()).toBe(true);
  });
  expect((await handle.query(deploymentStatusQuery)).approval?.state).toBe('waiting');

  await browserStep(page, '4-update-accepted', async () => {
    // The dialog stays open with what was sent: replace it.
    await data.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.insertText('{"by":"ui-operator","comment":"approved by update"}');
    expect(await data.innerText()).toBe('{"by":"ui-operator","comment":"approved by update"}');
    // Leaving the editor reformats the JSON and grows the dialog: leave it before aiming at Submit.
    await data.blur();
    await expect(data.innerText()).resolves.toContain('"by": "ui-operator"');
    await submit.click();
    await dialog.waitFor({ state: 'hidden' });
  });

  const result = await withDeadline(handle.result() as Promise<DeploymentStatus>, 60_000, 'the result');
  expect(result.outcome).toBe('succeeded');
  expect(result.approval?.decision).toMatchObject({ by: 'ui-operator', comment: 'approved by update' });
  // The refused Update left nothing in history; the accepted one is there once.
  const events = (await handle.fetchHistory()).events ?? [];
  const accepted = events.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes);
  expect(
    accepted.map((e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name),
  ).toEqual(['approveDeployment']);
  expect(events.filter((e) => e.workflowExecutionUpdateRejectedEventAttributes)).toEqual([]);
  await page.close();
});

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the real deployctl against this test's Temporal, as CI and operators do; bounded. */
function deployctl(args: string[], onOutput?: (text: string) => void): Promise<CliRun> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/client.ts', ...args], {
      cwd: ROOT,
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: settings.temporalAddress,
        DEPLOY_TASK_QUEUE: settings.taskQueue,
        TEMPORAL_UI_URL: settings.uiUrl,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
      onOutput?.(stdout + stderr);
    });
    child.stderr.on('data', (d) => {
      stderr += d;
      onOutput?.(stdout + stderr);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** `waiting` resolves once deploy printed its approval hint (on either stream); fails after `ms`. */
function approvalHint(ms: number): { onOutput: (t: string) => void; waiting: Promise<void> } {
  let resolveWaiting!: () => void;
  const waiting = new Promise<void>((r) => (resolveWaiting = r));
  return {
    onOutput: (text) => {
      if (text.includes('waiting for approval')) resolveWaiting();
    },
    waiting: withDeadline(waiting, ms, '"waiting for approval" from deployctl deploy'),
  };
}

describe('deployctl against the same server', () => {
  test('approve and abort refuse bad input and deployments that are not waiting: exit 2, nothing sent', async () => {
    const unknown = await deployctl(['approve', '--env', 'production', '--release', 'nope', '--by', 'alice']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no deployment deploy-production-nope');
    const finished = await deployctl(['abort', '--env', 'production', '--release', 'ui1', '--by', 'alice']);
    expect(finished.code).toBe(2);
    expect(finished.stderr).toContain(
      'deployment deploy-production-ui1 has already finished (COMPLETED); nothing was sent',
    );
    const bad = await deployctl([
      'approve',
      '--env',
      'production',
      '--release',
      'ui1',
      '--by',
      'alice smith',
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--by: value "alice smith" must be a user name');
  });

  test('deploy waits and says how to approve; approve from the CLI lets it finish (exit 0)', async () => {
    const hint = approvalHint(60_000);
    const deploy = deployctl(
      ['deploy', '--env', 'production', '--release', 'cli1', '--image', 'site=v3', '--by', 'ci', '--json'],
      hint.onOutput,
    );
    await hint.waiting;
    const approve = await deployctl([
      'approve',
      '--env',
      'production',
      '--release',
      'cli1',
      '--by',
      'dave',
      '--comment',
      'ok from the CLI',
      '--json',
    ]);
    expect(approve.code).toBe(0);
    expect(JSON.parse(approve.stdout)).toMatchObject({
      signal: 'approve',
      workflowId: 'deploy-production-cli1',
      sent: { by: 'dave', comment: 'ok from the CLI' },
      answer: { decision: 'approve', by: 'dave', effect: 'approved: the deployment goes on' },
      uiLink: `${settings.uiUrl}/namespaces/default/workflows/deploy-production-cli1`,
    });
    const done = await deploy;
    expect(done.code).toBe(0);
    // The hint went to stderr, once, so stdout stays one JSON document.
    expect(done.stderr.split('waiting for approval').length - 1).toBe(1);
    expect(done.stderr).toContain(
      'npx deployctl approve --env production --release cli1 --by <your-name> --comment "<why>"',
    );
    const outcome = JSON.parse(done.stdout);
    expect(outcome.status.approval.decision).toMatchObject({ by: 'dave', comment: 'ok from the CLI' });
  });

  test('abort from the CLI: deploy exits 3 and says who aborted', async () => {
    const hint = approvalHint(60_000);
    const deploy = deployctl(
      ['deploy', '--env', 'production', '--release', 'cli2', '--image', 'site=v4', '--by', 'ci'],
      hint.onOutput,
    );
    // Without --json the hint is part of the progress on stdout.
    await hint.waiting;
    const abort = await deployctl([
      'abort',
      '--env',
      'production',
      '--release',
      'cli2',
      '--by',
      'carol',
      '--reason',
      'freeze',
    ]);
    expect(abort.code).toBe(0);
    // Sent as an Update: the deployment's own answer, not just "sent".
    expect(abort.stdout).toMatch(
      /^deploy-production-cli2: aborted: the current step is cancelled and what the deployment changed is undone \(abort by carol at \S+\)$/m,
    );
    const done = await deploy;
    expect(done.code).toBe(3);
    expect(done.stdout).toContain('waiting for approval');
    expect(done.stdout).toContain('release cli2 was stopped at "approval" (aborted by carol: freeze)');
  });

  test('history lists the environment newest first with release, status and times', async () => {
    let rows: Array<{ workflowId: string; release: string; status: string; closeTime?: string }> = [];
    const deadline = Date.now() + 30_000;
    // Visibility is eventually consistent: wait (bounded) until it has all four closed.
    while (Date.now() < deadline) {
      const run = await deployctl(['history', '--env', 'production', '--json']);
      expect(run.code).toBe(0);
      rows = JSON.parse(run.stdout).deployments;
      if (rows.length === 4 && rows.every((r) => r.closeTime)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(rows.map((r) => [r.workflowId, r.release, r.status])).toEqual([
      ['deploy-production-cli2', 'cli2', 'aborted'],
      ['deploy-production-cli1', 'cli1', 'succeeded'],
      ['deploy-production-ui-update', 'ui-update', 'succeeded'],
      ['deploy-production-ui1', 'ui1', 'succeeded'],
    ]);
    const table = await deployctl(['history', '--env', 'production', '--limit', '2']);
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^WORKFLOW ID\s+RELEASE\s+STATUS\s+STARTED\s+CLOSED\s+DURATION$/);
    expect(lines.slice(1, 3).map((l) => l.split(/\s+/).slice(0, 3))).toEqual([
      ['deploy-production-cli2', 'cli2', 'aborted'],
      ['deploy-production-cli1', 'cli1', 'succeeded'],
    ]);
    expect(lines[3]).toMatch(
      /^Temporal UI: http:\/\/127\.0\.0\.1:\d+\/namespaces\/default\/workflows\?query=/,
    );
    const none = await deployctl(['history', '--env', 'qa']);
    expect(none.stdout).toContain('no deployments of qa yet');
  });
});
