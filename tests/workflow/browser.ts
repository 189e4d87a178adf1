/**
 * The real Web UI in headless Chromium, for the workflow tests that drive it: launching the
 * browser, opening a workflow's page (reloading the UI's occasional 500 page), reading what the
 * page shows, and keeping a screenshot of a failed step in .data/<test>/.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

const ROOT = join(__dirname, '..', '..');

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
];

/** A headless Chromium with its own profile; screenshots of failed steps go to .data/<name>/. */
export async function launchBrowser(name: string): Promise<{ browser: BrowserContext; userDataDir: string }> {
  shotsDir = join(ROOT, '.data', name);
  mkdirSync(shotsDir, { recursive: true });
  const userDataDir = mkdtempSync(join(tmpdir(), `${name}-chromium-`));
  const browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    headless: true,
    viewport: { width: 1400, height: 1000 },
    timeout: 30_000,
  });
  return { browser, userDataDir };
}

let shotsDir = join(ROOT, '.data', 'browser');

/**
 * Open a workflow's page in the UI. Under CI's load the UI server has answered a page load with
 * its "500 Internal Error" page; an operator would reload, and so does this, at most 3 times.
 */
export async function openWorkflowPage(page: Page, link: string, workflowId: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    await page.goto(link, { timeout: 30_000 });
    const heading = page.getByRole('heading', { name: workflowId });
    await heading.or(page.getByText('Internal Error')).first().waitFor({ timeout: 30_000 });
    if (await heading.isVisible()) return;
    if (attempt === 3) throw new Error(`the Web UI answered "Internal Error" ${attempt} times`);
    await new Promise((r) => setTimeout(r, 2_000));
  }
}

/** Run one browser step; on failure keep a screenshot and name it in the error. */
export async function browserStep<T>(page: Page, name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const path = join(shotsDir, `${name}.png`);
    await page.screenshot({ path, fullPage: true, timeout: 10_000 }).catch(() => undefined);
    (err as Error).message = `${name}: ${(err as Error).message}\n(screenshot: ${path})`;
    throw err;
  }
}

/** The visible text of the page and of its frames (the UI renders markdown details in a frame). */
export async function pageText(page: Page): Promise<string> {
  const texts = await Promise.all(
    page.frames().map((f) =>
      f
        .locator('body')
        .innerText({ timeout: 5_000 })
        .catch(() => ''),
    ),
  );
  return texts.join('\n');
}

/** Wait until the page shows every pattern (the UI refreshes itself); bounded. */
export async function waitForText(page: Page, patterns: RegExp[], timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let text = '';
  for (;;) {
    text = await pageText(page);
    if (patterns.every((p) => p.test(text))) return text;
    if (Date.now() >= deadline) {
      const missing = patterns.filter((p) => !p.test(text)).map(String);
      throw new Error(`the page does not show ${missing.join(', ')} within ${timeoutMs} ms`);
    }
    await page.waitForTimeout(500);
  }
}
