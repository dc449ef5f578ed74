/**
 * The GUI end to end (issue 11, "Tests"): playwright-core drives Debian's Chromium against
 * `frameworm ui --web`, started through the real CLI on a fresh workspace, with a real agent, the
 * compat DCGAN checkpoints and a real local HTTP server standing in for Slack.
 *
 * One walk, step by step (the steps share the page, so they run in order): open the printed URL
 * (token → cookie) → empty state → drop a checkpoint → inspection card → deploy with progress →
 * second version (staging) → promote with confirmation → manual rollback → the live chart moves
 * under a bounded load → a latency drill makes the watcher roll back on its own (timeline, toast,
 * one Slack message) → no traffic shows "inconclusive" → try-it renders pictures → the drift panel
 * draws its histograms (light and dark) → settings save a
 * threshold and "send test" reaches the receiver → a bad checkpoint shows a clear error → a
 * keyboard walk. No uncaught page error; console errors only in the step that provokes them.
 * A screenshot of each step goes to test-artifacts/gui/.
 *
 * Waits are event-driven (locators, the model's JSONL log); their bounds only end a hang.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlackReceiver } from '../integration/alerts/slack-receiver.js';
import { cliJson, disposeWorkspace, makeWorkspace, repoRoot, runCli } from '../integration/cli/cli-harness.js';
import { ClientLoop, fastWatcherConfig, lastEventId, slackOutbox, waitFor, waitForEvent, type GuardEvent } from '../integration/guard/guard-harness.js';
import { launchChromium, randomBytesFile, startWebUi, type WebUi } from './gui-harness.js';

const NAME = 'gan';
/** This file's port range for deployments. */
const PORT_BASE = 43_870;
const ARTIFACTS = path.join(repoRoot, 'test-artifacts/gui');
const BEST = path.join(repoRoot, 'test/fixtures/compat/dcgan/best.pt');
const FINAL = path.join(repoRoot, 'test/fixtures/compat/dcgan/final.pt');
/** A DCGAN /predict body: one image from a seed. */
const DCGAN_BODY = { batch_size: 1, seed: 1 };
/** Bounds of waits that include a checkpoint export (python + torch on 2 shared cores). */
const DEPLOY_BOUND_MS = 240_000;
const STEP_BOUND_MS = 120_000;
/** Vitest's limit per step: a bound above every wait inside it. */
const STEP_TIMEOUT_MS = 300_000;

let receiver: SlackReceiver;
let ws = '';
let ui: WebUi;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let load: ClientLoop | null = null;
let badFile = '';
let step = 'start';
let shot = 0;
const pageErrors: string[] = [];
const consoleErrors: { step: string; text: string }[] = [];

/**
 * Saves a screenshot of the current step as NN-<name>.png; `focus` is scrolled into view first
 * (the main pane scrolls inside the window, so a full-page shot alone would miss it).
 */
async function screenshot(name: string, focus?: Locator): Promise<void> {
  await focus?.first().scrollIntoViewIfNeeded();
  shot += 1;
  await page.screenshot({ path: path.join(ARTIFACTS, `${String(shot).padStart(2, '0')}-${name}.png`), fullPage: false });
}

/** The versions table row of `version`. */
function versionRow(version: string): Locator {
  return page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: version, exact: true }) });
}

/** The timeline entries whose event name is exactly `event`. */
function timelineEntries(event: string): Locator {
  return page.getByRole('list', { name: `Events of ${NAME}, newest first` }).getByRole('listitem').filter({ has: page.locator('strong', { hasText: new RegExp(`^${event}$`) }) });
}

/** Confirms the open lifecycle dialog with a reason; returns the effect sentence it stated. */
async function confirmDialog(title: string, reason: string): Promise<string> {
  const dialog = page.getByRole('dialog', { name: title });
  await expect.poll(() => dialog.isVisible()).toBe(true);
  const effect = (await dialog.locator('.effect').textContent()) ?? '';
  await dialog.getByLabel('Reason').fill(reason);
  await dialog.getByRole('button', { name: 'Confirm' }).click();
  await dialog.waitFor({ state: 'detached', timeout: DEPLOY_BOUND_MS });
  return effect;
}

/** The Production card's version. */
async function productionShown(): Promise<string> {
  return ((await page.getByRole('region', { name: 'Overview' }).locator('.card').first().locator('.big').textContent()) ?? '').trim();
}

/** Fills the deploy form and starts it; returns once the success line shows. */
async function deployFromForm(stage: 'production' | 'staging', expected: RegExp): Promise<void> {
  const form = page.getByRole('form', { name: 'Deploy' });
  await form.getByLabel('Name', { exact: true }).fill(NAME);
  await form.getByLabel('Stage').selectOption(stage);
  await form.getByRole('button', { name: 'Deploy', exact: true }).click();
  const progress = page.getByRole('region', { name: 'Progress' });
  // Per-step progress: at least one named step with a bar shows while the deploy runs.
  await progress.getByRole('progressbar').first().waitFor({ timeout: STEP_BOUND_MS });
  await screenshot(`deploy-${stage}-progress`, progress);
  await progress.getByText(expected).waitFor({ timeout: DEPLOY_BOUND_MS });
  expect(await progress.getByRole('listitem').count()).toBeGreaterThan(1);
}

beforeAll(async () => {
  fs.rmSync(ARTIFACTS, { recursive: true, force: true });
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  receiver = await new SlackReceiver().start();
  ws = makeWorkspace(PORT_BASE, fastWatcherConfig() + `  slack_webhook_url: ${receiver.url}\n`);
  badFile = randomBytesFile('broken.pt', 64 * 1024);
  ui = await startWebUi(ws);
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'light', reducedMotion: 'reduce' });
  page = await context.newPage();
  page.setDefaultTimeout(STEP_BOUND_MS);
  page.on('pageerror', (err) => pageErrors.push(`${step}: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push({ step, text: msg.text() });
  });
}, 180_000);

afterAll(async () => {
  await load?.stop();
  await context?.close();
  await browser?.close();
  await ui?.stop();
  if (ws) await disposeWorkspace(ws);
  await receiver?.stop();
  if (badFile) fs.rmSync(path.dirname(badFile), { recursive: true, force: true });
}, 120_000);

describe('the GUI in Chromium over frameworm ui --web', () => {
  it('opens the printed URL: the token becomes an HttpOnly cookie and leaves the address bar', async () => {
    step = 'open';
    await page.goto(ui.url);
    expect(page.url()).toBe(`${ui.origin}/`);
    const cookies = await context.cookies(ui.origin);
    expect(cookies).toEqual([expect.objectContaining({ name: `frameworm_${ui.port}`, value: ui.token, httpOnly: true, sameSite: 'Strict' })]);
    await page.getByRole('main').waitFor();
  }, STEP_TIMEOUT_MS);

  it('shows the empty state: no models, the import view', async () => {
    step = 'empty';
    await page.getByRole('navigation', { name: 'Models' }).getByText('No models yet').waitFor();
    await page.getByRole('heading', { name: 'Import a checkpoint', level: 1 }).waitFor();
    expect(await page.getByRole('status').filter({ hasText: /connecting|disconnected/ }).count()).toBe(0);
    await screenshot('empty-state');
  }, STEP_TIMEOUT_MS);

  it('a checkpoint dropped on the window is uploaded and inspected: the card shows the architecture', async () => {
    step = 'drop';
    // A real drop event carrying a File, built in the page from the checkpoint's bytes (a
    // browser has no paths: the GUI uploads it).
    const b64 = fs.readFileSync(BEST).toString('base64');
    const dataTransfer = await page.evaluateHandle(`(() => {
      const bin = atob(${JSON.stringify(b64)});
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], 'best.pt', { type: 'application/octet-stream' }));
      return dt;
    })()`);
    await page.dispatchEvent('main', 'dragover', { dataTransfer });
    await page.dispatchEvent('main', 'drop', { dataTransfer });
    const card = page.getByRole('region', { name: 'Inspection' });
    await card.waitFor({ timeout: STEP_BOUND_MS });
    await expect.poll(() => card.textContent()).toContain('dcgan');
    const params = (await card.locator('dt', { hasText: 'Parameters' }).locator('xpath=following-sibling::dd').textContent()) ?? '';
    expect(params).toMatch(/^\d{1,3}(,\d{3})+$/);
    expect(await card.getByRole('table', { name: 'Hyper-parameters' }).getByRole('row').count()).toBeGreaterThan(0);
    await screenshot('inspection-card');
  }, STEP_TIMEOUT_MS);

  it('deploys v1 to production with per-step progress', async () => {
    step = 'deploy-v1';
    await deployFromForm('production', /Deployed gan v1 \(production\) at http:\/\/127\.0\.0\.1:\d+/);
    await screenshot('deployed-v1');
    await page.getByRole('button', { name: `Open ${NAME}` }).click();
    await page.getByRole('heading', { name: NAME, level: 1 }).waitFor();
    await expect.poll(productionShown).toBe('v1');
    await page.getByRole('navigation', { name: 'Models' }).getByRole('button', { name: new RegExp(`^health: [a-z ]+ ${NAME} v\\d+$`) }).waitFor();
  }, STEP_TIMEOUT_MS);

  it('deploys a second version (staging) picked with Browse', async () => {
    step = 'deploy-v2';
    await page.getByRole('button', { name: 'Import a checkpoint…' }).click();
    await page.getByLabel('Browse for a checkpoint').setInputFiles(FINAL);
    await expect.poll(() => page.getByRole('region', { name: 'Inspection' }).textContent(), { timeout: STEP_BOUND_MS }).toContain('dcgan');
    await deployFromForm('staging', /Deployed gan v2 \(staging\)/);
    await page.getByRole('button', { name: `Open ${NAME}` }).click();
    await expect.poll(() => versionRow('v2').locator('.badge').textContent()).toBe('staging');
    expect(await productionShown()).toBe('v1');
    await screenshot('two-versions');
  }, STEP_TIMEOUT_MS);

  it('promotes v2 after a confirmation that states the effect', async () => {
    step = 'promote';
    // Only legal moves are offered: a staging version cannot be rolled back to.
    expect(await page.getByRole('button', { name: 'Roll back to this: v2' }).isDisabled()).toBe(true);
    await page.getByRole('button', { name: 'Promote to production: v2' }).click();
    await screenshot('promote-dialog');
    const effect = await confirmDialog(`Promote to production: ${NAME} v2`, 'e2e: promote');
    expect(effect).toMatch(/^v2 → production, v1 → archived, endpoint unchanged/);
    await expect.poll(productionShown).toBe('v2');
    await expect.poll(() => versionRow('v1').locator('.badge').textContent()).toBe('archived');
    await timelineEntries('promote').first().waitFor();
    await screenshot('promoted-v2');
  }, STEP_TIMEOUT_MS);

  it('rolls back to v1 by hand', async () => {
    step = 'manual-rollback';
    await page.getByRole('button', { name: 'Roll back to this: v1' }).click();
    const effect = await confirmDialog(`Roll back to this: ${NAME} v1`, 'e2e: manual rollback');
    expect(effect).toMatch(/^rolls back: v1 → production, v2 → archived/);
    await expect.poll(productionShown).toBe('v1');
    await timelineEntries('rollback').filter({ hasText: 'Rolled back v2 → v1 by gui' }).first().waitFor();
    await screenshot('manual-rollback', timelineEntries('rollback'));
  }, STEP_TIMEOUT_MS);

  it('the live charts move under a bounded load', async () => {
    step = 'live-chart';
    const status = await cliJson<{ endpoint: string }>(ws, ['deploy', 'status', '--name', NAME]);
    // Four keep-alive clients: enough requests for every 1 s check to be conclusive.
    load = new ClientLoop(status.endpoint, 4, DCGAN_BODY);
    await load.answers(8, STEP_BOUND_MS);
    const rate = page.getByRole('img', { name: new RegExp(`^Request rate of ${NAME}: \\d+(\\.\\d)? per second$`) });
    await rate.waitFor();
    const latency = page.getByRole('img', { name: new RegExp(`^Latency of ${NAME} over`) });
    // The lines are painted on a canvas over recharts' frame: its pixels change as new samples
    // arrive (1 Hz), and it lies inside the frame's SVG (over the plot area, not beside it).
    const lines = latency.locator('canvas.chart-lines');
    const pixels = (): Promise<string> => lines.evaluate((c) => (c as unknown as { toDataURL(): string }).toDataURL());
    const before = await pixels();
    await expect.poll(pixels, { timeout: STEP_BOUND_MS }).not.toBe(before);
    const [canvasBox, svgBox] = [await lines.boundingBox(), await latency.locator('svg.recharts-surface').boundingBox()];
    expect(canvasBox!.x).toBeGreaterThan(svgBox!.x);
    expect(canvasBox!.x + canvasBox!.width).toBeLessThan(svgBox!.x + svgBox!.width);
    expect(canvasBox!.y + canvasBox!.height).toBeLessThan(svgBox!.y + svgBox!.height);
    expect(await latency.getAttribute('aria-label')).toMatch(/, p95 \d+(\.\d)? ms, p99 \d+(\.\d)? ms, threshold 100 ms$/);
    expect(await page.getByText('No requests in this range').count()).toBe(0);
    await screenshot('live-chart', latency);
  }, STEP_TIMEOUT_MS);

  it('a latency drill makes the watcher roll back on its own: timeline, toast, banner, one Slack message', async () => {
    step = 'drill';
    const before = lastEventId(ws, NAME);
    // The manual rollback before this one was alerted too: count from here.
    const slackBefore = receiver.requests.length;
    const r = await runCli(ws, ['deploy', 'drill', '--name', NAME, '--latency-ms', '300']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    await page.getByRole('status').filter({ hasText: 'Fault drill running on v1' }).waitFor();
    await screenshot('drill-running', page.getByRole('status').filter({ hasText: 'Fault drill running' }));
    const rolled: GuardEvent = await waitForEvent(ws, NAME, 'the automatic rollback', (e) => e.event === 'rollback' && e.actor === 'watcher', before, STEP_BOUND_MS);
    expect(rolled).toMatchObject({ from_version: 'v1', to_version: 'v2', success: true });
    const entry = timelineEntries('rollback').filter({ hasText: 'by the watcher' });
    await entry.first().waitFor();
    expect(await entry.first().textContent()).toContain('Rolled back v1 → v2 by the watcher');
    // The toast of the same event: it names the model and says what happened, with a way to open it.
    const toast = page.getByRole('region', { name: 'Notifications' }).getByRole('status').filter({ hasText: `Rollback: ${NAME}` });
    await toast.first().waitFor();
    expect(await toast.first().textContent()).toContain('Rolled back v1 → v2 by the watcher');
    expect(await toast.first().getByRole('button', { name: `Open ${NAME}` }).count()).toBe(1);
    await screenshot('rollback-toast', toast);
    await expect.poll(productionShown).toBe('v2');
    // The receiver's message: wait until the outbox has delivered every alert it holds.
    await waitFor('the Slack alert', () => (receiver.requests.length > slackBefore ? true : null), STEP_BOUND_MS);
    await waitFor('an empty alert outbox', () => ([...slackOutbox(ws).values()].every((s) => s !== 'pending') ? true : null), STEP_BOUND_MS);
    const sent = receiver.requests.slice(slackBefore);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.path).toBe(receiver.secretPath);
    expect(JSON.stringify(sent[0]?.body)).toMatch(/rolled back|rollback/i);
    expect(JSON.stringify(sent[0]?.body)).toContain(NAME);
    await screenshot('automatic-rollback', entry);
  }, STEP_TIMEOUT_MS);

  it('with no traffic the watcher card shows its checks as inconclusive', async () => {
    step = 'inconclusive';
    const report = await load?.stop();
    load = null;
    expect(report?.total).toBeGreaterThan(0);
    const after = lastEventId(ws, NAME);
    await waitForEvent(ws, NAME, 'an inconclusive check', (e) => e.event === 'check' && e.verdict === 'inconclusive', after, STEP_BOUND_MS);
    const verdicts = page.getByRole('list', { name: 'Last verdicts, newest first' });
    await verdicts.getByText('inconclusive (too few requests)').first().waitFor();
    await screenshot('inconclusive', verdicts);
  }, STEP_TIMEOUT_MS);

  it('try-it generates pictures from the production version, with a copyable curl command', async () => {
    step = 'try-it';
    const panel = page.getByRole('region', { name: 'Try it' });
    const form = panel.getByRole('form', { name: `Try ${NAME}` });
    await form.waitFor();
    await form.getByLabel('Batch size').fill('2');
    await form.getByLabel('Seed').fill('7');
    await form.getByRole('button', { name: 'Generate' }).click();
    const pictures = panel.getByRole('figure', { name: `Results of ${NAME}` }).getByRole('img');
    await pictures.first().waitFor({ timeout: STEP_BOUND_MS });
    expect(await pictures.count()).toBe(2);
    expect(await pictures.first().getAttribute('alt')).toBe(`Result 1 of 2 from ${NAME} v2`);
    // Real decoded PNGs (the compat DCGAN makes 32×32 or 64×64 images), not broken images.
    const sizes = await pictures.evaluateAll((imgs) => imgs.map((i) => (i as unknown as { naturalWidth: number }).naturalWidth));
    expect(sizes.every((w) => w >= 16)).toBe(true);
    const curl = (await panel.locator('pre code').textContent()) ?? '';
    expect(curl).toMatch(new RegExp(`^curl -s -X POST 'http://127\\.0\\.0\\.1:\\d+/predict' -H 'content-type: application/json' -d '\\{"batch_size":2,"seed":7,"output_format":"png"\\}'$`));
    expect(await panel.getByRole('button', { name: 'Copy curl command' }).count()).toBe(1);
    await screenshot('try-it', panel.getByRole('figure', { name: `Results of ${NAME}` }));
  }, STEP_TIMEOUT_MS);

  it('the drift panel shows the reference and its histograms (in the dark theme too)', async () => {
    step = 'drift';
    const panel = page.getByRole('region', { name: 'Drift' });
    // The load above was sampled: the reference (complete or still filling) has rows.
    await expect.poll(() => panel.textContent(), { timeout: STEP_BOUND_MS }).toMatch(/Reference: .+, [1-9]\d* rows/);
    await panel.getByRole('button', { name: /^Show reference/ }).click();
    const figures = panel.getByRole('img', { name: /: reference \(bars\)/ });
    await figures.first().waitFor();
    expect(await figures.count()).toBeGreaterThan(0);
    await screenshot('drift-panel', figures.first());
    await page.getByRole('button', { name: 'Switch to dark theme' }).click();
    await screenshot('drift-panel-dark', figures.first());
    await page.getByRole('button', { name: 'Switch to light theme' }).click();
  }, STEP_TIMEOUT_MS);

  it('settings save a threshold through the config schema, and "send test" reaches the Slack receiver', async () => {
    step = 'settings';
    await page.getByRole('button', { name: 'Settings', exact: true }).click();
    await page.getByRole('heading', { name: 'Settings', level: 1 }).waitFor();
    const form = page.getByRole('form', { name: 'Watcher settings' });
    // The URL is write-only: the page knows that one is set, never which.
    expect(await page.getByRole('main').textContent()).toContain('A webhook URL is set (in the config file)');
    expect(await page.content()).not.toContain(receiver.secretPath);
    const threshold = form.getByLabel('Latency threshold (ms)');
    expect(await threshold.inputValue()).toBe('100');
    // A value the schema refuses is reported with its accepted form; nothing is written.
    await form.getByLabel('Error-rate threshold (0–1)').fill('2');
    await form.getByRole('button', { name: 'Save settings' }).click();
    await page.getByRole('alert').filter({ hasText: 'deploy.error_rate_threshold must be a number from 0 to 1 (got 2)' }).waitFor();
    await form.getByLabel('Error-rate threshold (0–1)').fill('0.1');
    await threshold.fill('150');
    await form.getByRole('button', { name: 'Save settings' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved to configs/deploy_config.yaml' }).waitFor();
    expect(fs.readFileSync(path.join(ws, 'configs/deploy_config.yaml'), 'utf8')).toMatch(/^ {2}latency_threshold_ms: 150$/m);
    await screenshot('settings-saved');
    // The test message is counted on its own: the drill's "exactly one message" stays about alerts.
    const before = receiver.requests.length;
    await form.getByRole('button', { name: 'Send test message' }).click();
    await page.getByRole('status').filter({ hasText: /^Test message sent to Slack \(\d+ ms\)\.$/ }).waitFor();
    const sent = receiver.requests.slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.path).toBe(receiver.secretPath);
    expect(sent[0]?.body.text).toMatch(/^Frameworm Deploy: test message: /);
    await screenshot('settings-test-sent');
    // Back to the model: its watcher card states the new rule.
    await page.getByRole('navigation', { name: 'Models' }).getByRole('button', { name: new RegExp(`^health: [a-z ]+ ${NAME} v\\d+$`) }).click();
    await expect.poll(() => page.getByRole('region', { name: 'Overview' }).textContent()).toContain('threshold 150 ms');
  }, STEP_TIMEOUT_MS);

  it('a file that is not a checkpoint is refused with a clear message', async () => {
    step = 'bad-checkpoint';
    await page.getByRole('button', { name: 'Import a checkpoint…' }).click();
    await page.getByLabel('Browse for a checkpoint').setInputFiles(badFile);
    const alert = page.getByRole('region', { name: 'Import a checkpoint' }).getByRole('alert');
    await alert.waitFor({ timeout: STEP_BOUND_MS });
    const text = (await alert.textContent()) ?? '';
    expect(text).toMatch(/^Refused: /);
    expect(text.length).toBeLessThan(400);
    expect(await page.getByRole('region', { name: 'Inspection' }).count()).toBe(0);
    expect(await page.getByRole('form', { name: 'Deploy' }).count()).toBe(0);
    await screenshot('bad-checkpoint');
  }, STEP_TIMEOUT_MS);

  it('Tab reaches the main controls, each with an accessible name', async () => {
    step = 'keyboard';
    await page.getByRole('navigation', { name: 'Models' }).getByRole('button', { name: new RegExp(`^health: [a-z ]+ ${NAME} v\\d+$`) }).click();
    await page.getByRole('heading', { name: NAME, level: 1 }).waitFor();
    // A fresh load: Tab starts from the top of the document, as for a keyboard user arriving.
    await page.reload();
    await page.getByRole('heading', { name: NAME, level: 1 }).waitFor();
    const reached: string[] = [];
    for (let i = 0; i < 200; i++) {
      await page.keyboard.press('Tab');
      const focused = page.locator(':focus');
      if ((await focused.count()) === 0) break; // past the last control: focus left the page
      const snapshot = (await focused.ariaSnapshot()).split('\n')[0] ?? '';
      // `- role "name"` (a control with a name) — the name part is what a screen reader says. YAML
      // single-quotes the whole key when the name holds a colon: `- 'button "Archive: v2"': …`.
      const m = /^- '?([a-z]+) "((?:[^"\\]|\\.)+)"/.exec(snapshot);
      expect(m, `focused element ${i + 1} has no accessible name: ${snapshot}`).not.toBeNull();
      const entry = `${m?.[1] ?? ''} ${m?.[2] ?? ''}`;
      if (reached.includes(entry)) break; // wrapped around to the top
      reached.push(entry);
    }
    await screenshot('keyboard-walk');
    for (const wanted of [
      'link Skip to content',
      'button Settings',
      'button Switch to dark theme',
      'button Import a checkpoint…',
      'button 5 m',
      'button Archive: v2',
      'button Roll back to this: v1',
      'button Lineage of v1',
      'checkbox Compare v1',
      'searchbox Search events',
      'button Generate',
      'button Copy curl command',
      'spinbutton Seed',
    ]) {
      expect(reached, `Tab never reached ${wanted}; it reached: ${reached.join(' | ')}`).toContain(wanted);
    }
    expect(reached.some((r) => /^button health: [a-z ]+ gan v2$/.test(r))).toBe(true);
    expect(reached.some((r) => r.startsWith('button Copy endpoint http://127.0.0.1:'))).toBe(true);
  }, STEP_TIMEOUT_MS);

  it('raised no uncaught page error, and console errors only where a step provoked them', () => {
    expect(pageErrors).toEqual([]);
    expect(consoleErrors.filter((c) => c.step !== 'bad-checkpoint')).toEqual([]);
    expect(fs.readdirSync(ARTIFACTS).filter((f) => f.endsWith('.png')).length).toBeGreaterThanOrEqual(20);
  }, STEP_TIMEOUT_MS);
});
