/**
 * Benchmark of the GUI (issue 11): the built renderer, served by `frameworm ui --web` (real CLI,
 * real agent), in Debian's headless Chromium driven by playwright-core.
 *
 * Rows:
 * - renderer bundle size: every file of renderer/dist gzipped (level 9), JS, CSS and in total;
 * - first contentful paint and time to interactive (median of fresh browser contexts, cold
 *   cache): FCP from the Performance API; TTI ≈ the time until the main landmark is shown and the
 *   answer of the first RPC (the model list) is on screen (the first model entry in the sidebar);
 * - event → UI latency: a committed event's `ts` (the agent's clock; same machine) to the moment
 *   its timeline entry is added to the DOM, seen by a MutationObserver in the page — the watcher's
 *   1 Hz `check` events of the selected model, pushed over the WebSocket (goal ≤ 100 ms);
 * - main-thread cost of the live charts with 10 serving deployments under a paced load
 *   (metric samples at 1 Hz for each, one model's charts on screen): Chromium's own TaskDuration
 *   (DevTools `Performance.getMetrics`) per second — every task of the page's main thread, so an
 *   upper bound on what one 1 Hz update costs (goal ≤ 4 ms), read once a second: the median
 *   second (a plain update: the lines repainted on their canvas), the worst second (a recharts
 *   frame redraw, when the window steps) and the amortised ms/s — and the long tasks (> 50 ms).
 *
 *   The same is measured with the charts unmounted (import view), to show the charts' share
 *   (lines painted each second, recharts frames only when their window steps).
 *
 * Run alone: `npm run build && node dist/test/bench/gui-bench.js` (about 1–2 min).
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import zlib from 'node:zlib';
import type { Browser, Page } from 'playwright-core';
import { cliJson, disposeWorkspace, makeWorkspace, repoRoot } from '../integration/cli/cli-harness.js';
import { MLP_BODY, fastWatcherConfig, postOnce, waitFor, writeMlpVersions } from '../integration/guard/guard-harness.js';
import { launchChromium, startWebUi, type WebUi } from '../e2e/gui-harness.js';
import { formatBenchTable, type BenchResult } from './embedded-bench.js';

export interface GuiBenchOptions {
  /** Page loads for FCP / TTI, each in a fresh context (default 5). */
  readonly loads?: number;
  /** Timeline events timed for the event → UI latency (default 20). */
  readonly events?: number;
  /** Seconds of the main-thread measurement (default 20). */
  readonly chartSeconds?: number;
  /** Serving deployments (default 10). */
  readonly deployments?: number;
  /** Requests per second sent to each deployment during the chart measurement (default 4). */
  readonly ratePerDeployment?: number;
  /** Writes a CPU profile of the charts-shown seconds here (env FW_GUI_BENCH_PROFILE when run alone). */
  readonly profileTo?: string;
  /**
   * Writes a Chromium trace (devtools.timeline: paint, layout, script per task) of the
   * charts-shown seconds here (env FW_GUI_BENCH_TRACE when run alone): where non-script main
   * thread time goes.
   */
  readonly traceTo?: string;
  /** Saves screenshots of the charts (light and dark) after the measurement, with this path prefix (env FW_GUI_BENCH_SCREENSHOT). */
  readonly screenshotTo?: string;
}

const PORT_BASE = 44_610;
const RENDERER_DIST = path.join(repoRoot, 'renderer/dist');

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

/** gzip -9 sizes of renderer/dist, by kind, in KiB. */
export function bundleSizes(dist = RENDERER_DIST): BenchResult[] {
  if (!fs.existsSync(path.join(dist, 'index.html'))) throw new Error(`${dist} is not built: npm run build:renderer`);
  const sums = { js: 0, css: 0, all: 0, raw: 0 };
  for (const file of filesUnder(dist)) {
    const raw = fs.readFileSync(file);
    const gz = zlib.gzipSync(raw, { level: 9 }).length;
    sums.all += gz;
    sums.raw += raw.length;
    if (file.endsWith('.js')) sums.js += gz;
    if (file.endsWith('.css')) sums.css += gz;
  }
  const kib = (n: number): number => n / 1024;
  return [
    { metric: 'renderer bundle, JS (gzip -9)', value: kib(sums.js), unit: 'KiB', target: null, pass: null },
    { metric: 'renderer bundle, CSS (gzip -9)', value: kib(sums.css), unit: 'KiB', target: null, pass: null },
    { metric: 'renderer bundle, all of renderer/dist (gzip -9)', value: kib(sums.all), unit: 'KiB', target: null, pass: null },
    { metric: 'renderer bundle, all of renderer/dist (uncompressed)', value: kib(sums.raw), unit: 'KiB', target: null, pass: null },
  ];
}

/**
 * Page script installed before the app's own: records when the main landmark and the first model
 * entry (the first RPC's answer, rendered) appear, counts long tasks, and times timeline entries.
 */
const PAGE_PROBES = `(() => {
  const probes = { mainAt: null, modelAt: null, longTasks: 0, longTaskMs: 0, eventLatencies: [], timing: false };
  window.__fwProbes = probes;
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) { probes.longTasks += 1; probes.longTaskMs += e.duration; }
    }).observe({ type: 'longtask', buffered: true });
  } catch { /* no longtask support: the count stays 0 */ }
  const seen = new WeakSet();
  const observer = new MutationObserver((records) => {
    const now = performance.now();
    if (probes.mainAt === null && document.querySelector('main#main')) probes.mainAt = now;
    if (probes.modelAt === null && document.querySelector('nav[aria-label="Models"] button.model-entry')) probes.modelAt = now;
    if (!probes.timing) return;
    const wall = Date.now();
    for (const r of records) {
      for (const n of r.addedNodes) {
        if (!(n instanceof HTMLLIElement) || !n.classList.contains('event') || seen.has(n)) continue;
        seen.add(n);
        const t = n.querySelector('time');
        const ts = t ? Date.parse(t.getAttribute('datetime') || '') : NaN;
        if (Number.isFinite(ts) && ts >= probes.timingSince) probes.eventLatencies.push(wall - ts);
      }
    }
  });
  const start = () => observer.observe(document, { childList: true, subtree: true });
  if (document.documentElement) start(); else document.addEventListener('readystatechange', start, { once: true });
})();`;

/**
 * Polls a page expression until it is truthy. Not `page.waitForFunction`: a string predicate is
 * run through eval in the page, which the renderer's CSP (no 'unsafe-eval') rightly refuses. The
 * probes record their own times in the page, so the polling interval does not enter the numbers.
 */
async function pageCondition(page: Page, what: string, expression: string, boundMs: number): Promise<void> {
  await waitFor(what, async () => ((await page.evaluate(expression)) ? true : null), boundMs, 50);
}

interface LoadTimes {
  readonly fcp: number;
  readonly tti: number;
}

/** One cold load of the GUI in a fresh context: FCP and TTI in ms after navigation start. */
async function timeLoad(browser: Browser, ui: WebUi): Promise<LoadTimes> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  try {
    await context.addCookies([{ name: `frameworm_${ui.port}`, value: ui.token, url: ui.origin, httpOnly: true, sameSite: 'Strict' }]);
    await context.addInitScript({ content: PAGE_PROBES });
    const page = await context.newPage();
    await page.goto(`${ui.origin}/`);
    await pageCondition(page, 'the first model entry and the first paint', 'window.__fwProbes.modelAt !== null && performance.getEntriesByName("first-contentful-paint").length > 0', 60_000);
    const t = (await page.evaluate(`(() => {
      const p = window.__fwProbes;
      const rpc = performance.getEntriesByType('resource').filter((e) => e.name.includes('/rpc/')).map((e) => e.responseEnd);
      return { fcp: performance.getEntriesByName('first-contentful-paint')[0].startTime, main: p.mainAt, model: p.modelAt, rpc: rpc.length ? Math.min(...rpc) : null };
    })()`)) as { fcp: number; main: number; model: number; rpc: number | null };
    return { fcp: t.fcp, tti: Math.max(t.main, t.model, t.rpc ?? 0) };
  } finally {
    await context.close();
  }
}

/** Paced POST loops, `rate` per second to each endpoint, until stopped. */
class PacedLoad {
  private running = true;
  private readonly agent = new http.Agent({ keepAlive: true });
  private readonly loops: Promise<void>[];
  sent = 0;

  constructor(endpoints: readonly string[], rate: number) {
    this.loops = endpoints.map((e, i) => this.loop(e, 1000 / rate, (i * 1000) / rate / endpoints.length));
  }

  private async loop(endpoint: string, everyMs: number, offsetMs: number): Promise<void> {
    await new Promise((r) => setTimeout(r, offsetMs));
    let next = performance.now();
    while (this.running) {
      await postOnce(`${endpoint}/predict`, MLP_BODY, this.agent).catch(() => null);
      this.sent += 1;
      next += everyMs;
      await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.agent.destroy();
  }
}

/** DevTools' cumulative main-thread durations of the page (seconds), from one enabled session. */
async function mainThreadMeter(page: Page): Promise<{ read(): Promise<Record<string, number>>; close(): Promise<void> }> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  return {
    read: async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value])),
    close: () => cdp.detach(),
  };
}

/** Main-thread time over a run, per second and in total. */
interface MainThreadRun {
  /** All page tasks, ms per second over the whole run (the amortised cost). */
  readonly task: number;
  readonly script: number;
  readonly layout: number;
  /** All page tasks in each one-second interval of the run (ms): one 1 Hz update each. */
  readonly perSecond: readonly number[];
  readonly seconds: number;
}

/**
 * Main-thread time over `seconds`: all tasks, script, layout + style, read from DevTools' own
 * counters once a second, so each interval holds one 1 Hz update of the charts — its median is
 * what a plain update costs, its max shows the seconds where the recharts frame was redrawn too
 * (a window step). With `profileTo`, a V8 CPU profile of the same seconds is written there (open
 * it in DevTools' Performance panel, or sum self time per function) — to see where the time
 * goes, not counted.
 */
async function measureMainThread(page: Page, seconds: number, profileTo?: string): Promise<MainThreadRun> {
  const meter = await mainThreadMeter(page);
  const profiler = profileTo ? await page.context().newCDPSession(page) : null;
  if (profiler) {
    await profiler.send('Profiler.enable');
    await profiler.send('Profiler.start');
  }
  const m0 = await meter.read();
  const t0 = performance.now();
  const perSecond: number[] = [];
  let prev = m0;
  let prevAt = t0;
  for (let i = 1; i <= seconds; i++) {
    await new Promise((r) => setTimeout(r, Math.max(0, t0 + i * 1000 - performance.now())));
    const m = await meter.read();
    const at = performance.now();
    // Per wall second, so a late read does not inflate an interval.
    perSecond.push((((m['TaskDuration'] ?? 0) - (prev['TaskDuration'] ?? 0)) * 1000) / ((at - prevAt) / 1000));
    prev = m;
    prevAt = at;
  }
  const m1 = prev;
  await meter.close();
  if (profiler && profileTo) {
    const { profile } = await profiler.send('Profiler.stop');
    fs.writeFileSync(profileTo, JSON.stringify(profile));
    await profiler.detach();
  }
  const took = (prevAt - t0) / 1000;
  const rate = (key: string): number => (((m1[key] ?? 0) - (m0[key] ?? 0)) * 1000) / took;
  return { task: rate('TaskDuration'), script: rate('ScriptDuration'), layout: rate('LayoutDuration') + rate('RecalcStyleDuration'), perSecond, seconds: took };
}

/** Runs every GUI measurement; returns its table rows. */
export async function runGuiBench(options: GuiBenchOptions = {}): Promise<BenchResult[]> {
  const loads = options.loads ?? 5;
  const eventCount = options.events ?? 20;
  const chartSeconds = options.chartSeconds ?? 20;
  const count = options.deployments ?? 10;
  const rate = options.ratePerDeployment ?? 4;
  const rows: BenchResult[] = bundleSizes();

  const ws = makeWorkspace(PORT_BASE, fastWatcherConfig());
  const models = writeMlpVersions(count, 'fw-gui-bench-');
  let ui: WebUi | null = null;
  let browser: Browser | null = null;
  let paced: PacedLoad | null = null;
  try {
    const endpoints: string[] = [];
    for (let i = 0; i < count; i++) {
      const doc = await cliJson<{ endpoint: string }>(ws, ['deploy', 'start', '--model', models.files[i]!, '--name', `m${i}`]);
      endpoints.push(doc.endpoint);
    }
    ui = await startWebUi(ws);
    browser = await launchChromium();

    // First paint and time to interactive, cold, in fresh contexts.
    const times: LoadTimes[] = [];
    for (let i = 0; i < loads; i++) times.push(await timeLoad(browser, ui));
    rows.push({ metric: `first contentful paint (median of ${loads} cold loads)`, value: median(times.map((t) => t.fcp)), unit: 'ms', target: null, pass: null });
    rows.push({ metric: `time to interactive: main landmark shown + first RPC answer on screen (median of ${loads})`, value: median(times.map((t) => t.tti)), unit: 'ms', target: null, pass: null });

    // One long-lived page for the rest, showing m0 (the first model: selected by default).
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.addInitScript({ content: PAGE_PROBES });
    const page = await context.newPage();
    await page.goto(ui.url);
    await page.getByRole('heading', { name: 'm0', level: 1 }).waitFor({ timeout: 60_000 });
    await page.getByRole('list', { name: 'Events of m0, newest first' }).getByRole('listitem').first().waitFor({ timeout: 60_000 });

    // Event → UI: the watcher's checks of m0 arrive once a second.
    await page.evaluate('(() => { window.__fwProbes.timingSince = Date.now(); window.__fwProbes.timing = true; })()');
    await pageCondition(page, `${eventCount} timeline entries`, `window.__fwProbes.eventLatencies.length >= ${eventCount}`, eventCount * 5000 + 30_000);
    const latencies = (await page.evaluate('window.__fwProbes.eventLatencies')) as number[];
    const p50 = median(latencies);
    const p95 = percentile(latencies, 95);
    rows.push({ metric: `event → timeline entry in the DOM, median of ${latencies.length} events`, value: p50, unit: 'ms', target: '≤ 100', pass: p50 <= 100 });
    rows.push({ metric: `event → timeline entry in the DOM, p95`, value: p95, unit: 'ms', target: null, pass: null });
    rows.push({ metric: `event → timeline entry in the DOM, worst`, value: Math.max(...latencies), unit: 'ms', target: null, pass: null });

    // Main-thread cost of the live charts: 10 deployments under a paced load.
    paced = new PacedLoad(endpoints, rate);
    await page.getByRole('img', { name: /^Request rate of m0: \d/ }).waitFor({ timeout: 60_000 });
    const longBefore = (await page.evaluate('window.__fwProbes.longTasks')) as number;
    if (options.traceTo) await browser.startTracing(page, { path: options.traceTo, categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'toplevel', 'blink', 'cc', 'v8'] });
    const charts = await measureMainThread(page, chartSeconds, options.profileTo);
    if (options.traceTo) await browser.stopTracing();
    const longAfter = (await page.evaluate('window.__fwProbes.longTasks')) as number;
    if (options.screenshotTo) {
      await page.locator('section.charts').screenshot({ path: `${options.screenshotTo}-light.png` });
      await page.getByRole('button', { name: 'Switch to dark theme' }).click();
      await new Promise((r) => setTimeout(r, 1500));
      await page.locator('section.charts').screenshot({ path: `${options.screenshotTo}-dark.png` });
      await page.getByRole('button', { name: 'Switch to light theme' }).click();
    }
    const perUpdate = median(charts.perSecond);
    rows.push({ metric: `main thread per 1 Hz update, ${count} deployments × ${rate} req/s, charts shown: median second (all page tasks)`, value: perUpdate, unit: 'ms', target: '≤ 4', pass: perUpdate <= 4 });
    rows.push({ metric: `… worst second of ${charts.perSecond.length} (a recharts frame redraw: window step every 10 s)`, value: Math.max(...charts.perSecond), unit: 'ms', target: null, pass: null });
    rows.push({ metric: '… amortised over the run (all page tasks / s)', value: charts.task, unit: 'ms/s', target: null, pass: null });
    rows.push({ metric: '… of which script', value: charts.script, unit: 'ms/s', target: null, pass: null });
    rows.push({ metric: '… of which layout + style', value: charts.layout, unit: 'ms/s', target: null, pass: null });
    rows.push({ metric: `long tasks (> 50 ms) in ${charts.seconds.toFixed(0)} s, charts shown`, value: longAfter - longBefore, unit: '', target: '0', pass: longAfter === longBefore });
    // The charts' own cost, A/B on the same page: blocks of 5 s with the charts' section shown and
    // hidden (display: none, set through the CSSOM, which the CSP allows: the charts' box measures
    // 0 wide, so their frames unmount and no line is painted, while the store, the clock and the
    // model view's other panels run as before), alternated so both see the same machine load;
    // the first 2 s after each switch (unmount / remount) are not counted.
    const section = page.locator('section.charts');
    const setShown = (shown: boolean): Promise<unknown> => section.evaluate((el, d) => ((el as unknown as { style: { display: string } }).style.display = d), shown ? '' : 'none');
    const abShown: number[] = [];
    const abHidden: number[] = [];
    for (let round = 0; round < Math.ceil(chartSeconds / 5); round++) {
      for (const shown of [false, true]) {
        await setShown(shown);
        await new Promise((r) => setTimeout(r, 2000));
        (shown ? abShown : abHidden).push(...(await measureMainThread(page, 5)).perSecond);
      }
    }
    rows.push({ metric: `… A/B, same page: median second, charts shown (${abShown.length} s)`, value: median(abShown), unit: 'ms', target: null, pass: null });
    rows.push({ metric: `… A/B, same page: median second, charts hidden (${abHidden.length} s)`, value: median(abHidden), unit: 'ms', target: null, pass: null });
    rows.push({ metric: "… the charts' own cost of a plain 1 Hz update (A/B: shown − hidden)", value: median(abShown) - median(abHidden), unit: 'ms', target: '≤ 4', pass: median(abShown) - median(abHidden) <= 4 });
    // The same pushes with the charts unmounted (the import view): what the model view adds.
    await page.getByRole('button', { name: 'Import a checkpoint…' }).click();
    await page.getByRole('heading', { name: 'Import a checkpoint', level: 1 }).waitFor();
    const without = await measureMainThread(page, chartSeconds);
    rows.push({ metric: '… same pushes, charts not shown (import view): median second', value: median(without.perSecond), unit: 'ms', target: null, pass: null });
    rows.push({ metric: '… same pushes, charts not shown: amortised', value: without.task, unit: 'ms/s', target: null, pass: null });
    // What the whole model view (charts and every other panel) adds to a second over the same
    // pushes: the import view is the baseline measured in the same run.
    const above = perUpdate - median(without.perSecond);
    rows.push({ metric: '… the model view above the import view: median second, charts shown − import view', value: above, unit: 'ms', target: '≤ 4', pass: above <= 4 });
    // The lines are painted every second, the recharts frames only when the window steps (or
    // the value axis, markers, threshold or size change): the difference is the charts' share.
    rows.push({ metric: "… the charts' own share, amortised (shown − not shown)", value: charts.task - without.task, unit: 'ms/s', target: null, pass: null });
    await context.close();
  } finally {
    await paced?.stop();
    await browser?.close();
    await ui?.stop();
    await disposeWorkspace(ws);
    fs.rmSync(models.dir, { recursive: true, force: true });
  }
  return rows;
}

const entry = process.argv[1];
if (entry && import.meta.url === pathToFileURL(path.resolve(entry)).href) {
  const t0 = performance.now();
  console.log(formatBenchTable(await runGuiBench({ profileTo: process.env['FW_GUI_BENCH_PROFILE'] || undefined, traceTo: process.env['FW_GUI_BENCH_TRACE'] || undefined, screenshotTo: process.env['FW_GUI_BENCH_SCREENSHOT'] || undefined })));
  console.log(`\n${os.cpus().length} CPUs, Node ${process.version}, Chromium (Debian); took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
