/**
 * The guard end to end (issue 9 §2–§5) on the embedded target, through the real CLI and its
 * agent: fault drills at the stable endpoint make the watcher's checks breach, three breaches roll
 * the deployment back on their own with no failed request, a real local HTTP server standing in
 * for Slack gets one message per automatic rollback; no flapping when nothing healthy is left;
 * an idle deployment's checks are inconclusive (never a rollback) until synthetic probes make
 * them conclusive; manual rollback is never blocked by the cooldown that blocks automatic ones;
 * edited thresholds reach the watcher and a bad edit is refused with the running settings kept.
 *
 * Waits poll the model's JSONL log (event-driven); no assertion is about elapsed time.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentStatus, WatcherView } from '../../../preload/contract.js';
import { SlackReceiver } from '../alerts/slack-receiver.js';
import { cliJson, disposeWorkspace, makeWorkspace, runCli } from '../cli/cli-harness.js';
import {
  ClientLoop,
  MLP_BODY,
  PROBES_ON,
  fastWatcherConfig,
  jsonlEvents,
  lastEventId,
  postOnce,
  waitFor,
  waitForEvent,
  writeMlpVersions,
  type GuardEvent,
} from './guard-harness.js';

const NAME = 'm';
/** This file's port range: each workspace gets 20 ports of its own from here. */
const PORT_BASE = 52_600;
let models: { dir: string; files: string[] };
let receiver: SlackReceiver;
const workspaces: string[] = [];

beforeAll(async () => {
  models = writeMlpVersions(3);
  receiver = await new SlackReceiver().start();
});

afterAll(async () => {
  for (const ws of workspaces) await disposeWorkspace(ws);
  await receiver.stop();
  fs.rmSync(models.dir, { recursive: true, force: true });
});

/** A workspace with the fast watcher settings (+ extra deploy lines), with its own ports. */
function workspace(extra = '', overrides: Readonly<Record<string, number>> = {}): string {
  const ws = makeWorkspace(PORT_BASE + workspaces.length * 20, fastWatcherConfig(overrides) + extra);
  workspaces.push(ws);
  return ws;
}

/** `deploy start` of model file `i` (0-based) as the next version; returns the endpoint. */
async function deploy(ws: string, i: number): Promise<string> {
  const doc = await cliJson<{ endpoint: string; version: string }>(ws, ['deploy', 'start', '--model', models.files[i]!, '--name', NAME]);
  return doc.endpoint;
}

async function status(ws: string): Promise<DeploymentStatus & { watcher: WatcherView | null }> {
  return cliJson<DeploymentStatus & { watcher: WatcherView | null }>(ws, ['deploy', 'status', '--name', NAME]);
}

/** `deploy events --json` (NDJSON), all of them. */
async function cliEvents(ws: string): Promise<GuardEvent[]> {
  const r = await runCli(ws, ['deploy', 'events', '--name', NAME, '--json', '--limit', '10000']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as GuardEvent);
}

async function drill(ws: string, args: readonly string[]): Promise<GuardEvent> {
  const before = lastEventId(ws, NAME);
  const r = await runCli(ws, ['deploy', 'drill', '--name', NAME, ...args]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return waitForEvent(ws, NAME, 'the drill start event', (e) => e.event === 'drill' && e.action === 'start', before);
}

/** The watcher's own events (checks and rollbacks) after `afterId`, in order. */
function guardEvents(events: readonly GuardEvent[], afterId: number): GuardEvent[] {
  return events.filter((e) => e.id > afterId && (e.event === 'check' || e.event === 'rollback_started' || e.event === 'rollback'));
}

/** Asserts: optional leading passes, then breach checks with streak 1, 2, 3, then the rollback pair. */
function expectBreachThenRollback(seq: readonly GuardEvent[], from: string, to: string): { started: GuardEvent; done: GuardEvent } {
  const firstBreach = seq.findIndex((e) => e.event === 'check' && e.verdict === 'breach');
  expect(firstBreach).toBeGreaterThanOrEqual(0);
  // The interval in which the drill started may still be fast enough to pass.
  for (const e of seq.slice(0, firstBreach)) expect(e).toMatchObject({ event: 'check', verdict: 'pass', streak: 0, version: from });
  const [c1, c2, c3, started, done] = seq.slice(firstBreach, firstBreach + 5);
  expect([c1, c2, c3].map((c) => [c?.event, c?.verdict, c?.streak, c?.version])).toEqual([
    ['check', 'breach', 1, from],
    ['check', 'breach', 2, from],
    ['check', 'breach', 3, from],
  ]);
  expect(started).toMatchObject({ event: 'rollback_started', from_version: from, to_version: to, actor: 'watcher', streak: 3 });
  expect(done).toMatchObject({ event: 'rollback', from_version: from, to_version: to, actor: 'watcher', success: true, streak: 3 });
  expect(done?.reason).toBe(started?.reason);
  expect(String(done?.reason)).toMatch(/^automatic: 3 consecutive breaching checks/);
  return { started: started!, done: done! };
}

describe('latency drill → automatic rollback, Slack, and no flapping (one workspace)', () => {
  let ws = '';
  let endpoint = '';
  let firstRollback: GuardEvent | null = null;

  beforeAll(async () => {
    ws = workspace(`  slack_webhook_url: ${receiver.url}\n`);
    await deploy(ws, 0);
    endpoint = await deploy(ws, 1);
  });

  it('rolls v2 back to v1 after 3 breaching checks, with the exact event sequence and no failed request', async () => {
    const slackBefore = receiver.requests.length;
    const load = new ClientLoop(endpoint, 4);
    await load.answers(20);
    const start = await drill(ws, ['--latency-ms', '300']);
    expect(start).toMatchObject({ version: 'v2', action: 'start', latency_ms: 300, error_rate: null });
    const done = await waitForEvent(ws, NAME, 'the automatic rollback', (e) => e.event === 'rollback', start.id);
    // Traffic keeps flowing on v1 after the switch.
    await waitFor('answers from v1', () => (load.lastVersion === 'v1' ? true : null));
    await load.answers(20);
    const report = await load.stop();
    expect(report.failures).toEqual([]);
    expect([...report.statuses.keys()]).toEqual([200]);
    expect(report.versions).toEqual(new Set(['v1', 'v2']));

    const events = await cliEvents(ws);
    const { started, done: rollback } = expectBreachThenRollback(guardEvents(events, start.id), 'v2', 'v1');
    expect(rollback.id).toBe(done.id);
    expect(String(rollback.reason)).toContain('p95');
    expect(rollback.id).toBeGreaterThan(started.id);
    // The drill stays with v2: it ended when v2 left production.
    const drillEnd = events.find((e) => e.id > start.id && e.event === 'drill' && e.action !== 'start');
    expect(drillEnd).toMatchObject({ version: 'v2', action: 'version_left', latency_ms: 300 });
    // Every check after the rollback judges v1 and passes.
    const after = events.filter((e) => e.id > rollback.id && e.event === 'check');
    for (const c of after) expect(c).toMatchObject({ version: 'v1', verdict: 'pass' });

    // The watcher's streak belongs to v1 from its first check of v1 on.
    await waitForEvent(ws, NAME, 'a check of v1', (e) => e.event === 'check' && e.version === 'v1', rollback.id);
    const s = await status(ws);
    expect(s).toMatchObject({ production: 'v1', serving_version: 'v1', drill: null });
    expect(s.versions.find((v) => v.version === 'v2')?.stage).toBe('archived');
    expect(s.watcher).toMatchObject({ required: 3, streak: 0 });

    // Exactly one Slack message, for the automatic rollback, delivered as an `alert` event.
    const sent = await waitForEvent(ws, NAME, 'the Slack alert', (e) => e.event === 'alert' && e.channel === 'slack' && e.about_event_id === rollback.id);
    expect(sent).toMatchObject({ outcome: 'sent', about_event: 'rollback' });
    const messages = receiver.requests.slice(slackBefore);
    expect(messages).toHaveLength(1);
    expect(messages[0]?.path).toBe(receiver.secretPath);
    expect(messages[0]?.body.blocks?.[0]).toMatchObject({ type: 'header', text: { text: 'rolled back m v2 → v1' } });
    expect(messages[0]?.body.text).toContain('rolled back m v2 → v1');
    firstRollback = rollback;
  }, 120_000);

  it('after the rollback, a drill on v1 (v2 failed, nothing healthy left) gives one rollback line with success false, one alert, and no loop', async () => {
    expect(firstRollback).not.toBeNull();
    const slackBefore = receiver.requests.length;
    const load = new ClientLoop(endpoint, 4);
    const start = await drill(ws, ['--latency-ms', '300']);
    expect(start).toMatchObject({ version: 'v1' });
    const refused = await waitForEvent(ws, NAME, 'the refused rollback', (e) => e.event === 'rollback', start.id);
    expect(refused).toMatchObject({ from_version: 'v1', to_version: null, success: false, actor: 'watcher', streak: 3 });
    expect(String(refused.reason)).toContain('nothing healthy to roll back to: v2 was rolled back automatically before');
    // Several more intervals of breaching checks: no second attempt.
    const laterCheck = await waitForEvent(ws, NAME, 'four more breaching checks', (e) => e.event === 'check' && e.verdict === 'breach' && Number(e.streak) >= 7, refused.id);
    const report = await load.stop();
    expect(report.failures).toEqual([]);
    expect(report.versions).toEqual(new Set(['v1']));

    const events = await cliEvents(ws);
    const seq = guardEvents(events, start.id).filter((e) => e.id <= laterCheck.id);
    expect(seq.filter((e) => e.event === 'rollback')).toEqual([expect.objectContaining({ id: refused.id })]);
    expect(seq.filter((e) => e.event === 'rollback_started')).toEqual([]);
    const breaches = seq.filter((e) => e.event === 'check' && e.verdict === 'breach');
    expect(breaches.map((e) => e.streak)).toEqual(Array.from({ length: breaches.length }, (_, i) => i + 1));

    const s = await status(ws);
    expect(s).toMatchObject({ production: 'v1', serving_version: 'v1' });
    expect(s.drill).toMatchObject({ version: 'v1', latency_ms: 300 });
    expect(s.watcher?.streak).toBeGreaterThanOrEqual(7);

    await waitForEvent(ws, NAME, 'the Slack alert of the refused rollback', (e) => e.event === 'alert' && e.channel === 'slack' && e.about_event_id === refused.id);
    const messages = receiver.requests.slice(slackBefore);
    expect(messages).toHaveLength(1);
    expect(messages[0]?.body.blocks?.[0]?.text?.text).toMatch(/^rollback of m v1 → .+ failed$/);
    // Over the whole history: Slack heard of the two rollback lines only, once each.
    const slackAlerts = events.filter((e) => e.event === 'alert' && e.channel === 'slack');
    expect(slackAlerts.map((e) => [e.about_event_id, e.outcome])).toEqual([
      [firstRollback?.id, 'sent'],
      [refused.id, 'sent'],
    ]);
  }, 120_000);
});

describe('error-rate drill', () => {
  it('a seeded 50 % error drill breaches on the Wilson lower bound and rolls back to v1; v1 then answers every request', async () => {
    const ws = workspace();
    await deploy(ws, 0);
    const endpoint = await deploy(ws, 1);
    const load = new ClientLoop(endpoint, 2);
    await load.answers(10);
    const start = await drill(ws, ['--error-rate', '0.5', '--seed', '3']);
    expect(start).toMatchObject({ version: 'v2', error_rate: 0.5, seed: 3, latency_ms: null });
    const done = await waitForEvent(ws, NAME, 'the automatic rollback', (e) => e.event === 'rollback', start.id);
    await waitFor('answers from v1', () => (load.lastVersion === 'v1' ? true : null));
    const during = await load.stop();
    // Injected 500s only: nothing else failed.
    expect([...during.statuses.keys()].sort()).toEqual([200, 500]);
    for (const f of during.failures) expect(f).toMatch(/^500: /);

    const seq = guardEvents(await cliEvents(ws), start.id);
    const { done: rollback } = expectBreachThenRollback(seq, 'v2', 'v1');
    expect(rollback.id).toBe(done.id);
    expect(String(rollback.reason)).toContain('error rate');
    for (const c of seq.filter((e) => e.event === 'check' && e.verdict === 'breach')) {
      expect(Number(c.error_rate_lower)).toBeGreaterThan(0.1);
      expect(Number(c.p95_ms)).toBeLessThan(100);
    }

    const after = new ClientLoop(endpoint, 2);
    await after.answers(30);
    const clean = await after.stop();
    expect(clean.failures).toEqual([]);
    expect(clean.versions).toEqual(new Set(['v1']));
  }, 120_000);
});

describe('idle deployments', () => {
  it('without traffic every check is inconclusive, even during a latency drill, and nothing is rolled back', async () => {
    const ws = workspace();
    await deploy(ws, 0);
    await deploy(ws, 1);
    const start = await drill(ws, ['--latency-ms', '300']);
    const fourth = await waitFor('four checks after the drill started', () => {
      const checks = jsonlEvents(ws, NAME).filter((e) => e.id > start.id && e.event === 'check');
      return checks.length >= 4 ? checks : null;
    });
    for (const c of fourth) expect(c).toMatchObject({ version: 'v2', verdict: 'inconclusive', requests: 0, in_flight: 0, streak: 0, probes: 0 });
    const events = await cliEvents(ws);
    expect(events.filter((e) => e.event === 'rollback_started' || e.event === 'rollback')).toEqual([]);
    const s = await status(ws);
    expect(s).toMatchObject({ production: 'v2', serving_version: 'v2' });
    expect(s.watcher?.streak).toBe(0);
    expect(s.watcher?.last_checks.at(-1)).toMatchObject({ event: 'check', verdict: 'inconclusive' });
  }, 120_000);

  it('with probe.enabled an idle deployment is checked conclusively with probes (counted apart in /metrics), and a drill then rolls it back', async () => {
    const ws = workspace(PROBES_ON);
    await deploy(ws, 0);
    const endpoint = await deploy(ws, 1);
    const deployed = lastEventId(ws, NAME);
    const passes = await waitFor('two passing checks', () => {
      const checks = jsonlEvents(ws, NAME).filter((e) => e.id > deployed && e.event === 'check');
      return checks.length >= 2 ? checks.slice(0, 2) : null;
    });
    for (const c of passes) {
      expect(c).toMatchObject({ version: 'v2', verdict: 'pass', streak: 0 });
      expect(Number(c.requests)).toBeGreaterThanOrEqual(5);
      expect(c.probes).toBe(c.requests);
    }
    const metrics = JSON.parse((await (await fetch(`${endpoint}/metrics`)).text())) as { version_metrics: { probe_requests: number; requests: number } };
    expect(metrics.version_metrics.probe_requests).toBeGreaterThanOrEqual(10);
    expect(metrics.version_metrics.probe_requests).toBe(metrics.version_metrics.requests);

    const start = await drill(ws, ['--latency-ms', '300']);
    await waitForEvent(ws, NAME, 'the automatic rollback', (e) => e.event === 'rollback', start.id);
    const seq = guardEvents(await cliEvents(ws), start.id);
    expectBreachThenRollback(seq, 'v2', 'v1');
    for (const c of seq.filter((e) => e.event === 'check' && e.verdict === 'breach')) expect(Number(c.probes)).toBeGreaterThanOrEqual(5);
    const answer = await postOnce(`${endpoint}/predict`, MLP_BODY);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)).toMatchObject({ version: 'v1' });
  }, 120_000);
});

describe('cooldown', () => {
  it('blocks a second automatic rollback within cooldown_s while manual deploy rollback still works', async () => {
    const ws = workspace(PROBES_ON, { cooldown_s: 3600 });
    await deploy(ws, 0);
    const endpoint = await deploy(ws, 1);
    const first = await drill(ws, ['--latency-ms', '300']);
    const auto = await waitForEvent(ws, NAME, 'the first automatic rollback', (e) => e.event === 'rollback', first.id);
    expect(auto).toMatchObject({ from_version: 'v2', to_version: 'v1', success: true, actor: 'watcher' });
    const s1 = await status(ws);
    expect(s1.watcher?.cooldown_until).not.toBeNull();
    expect(Date.parse(String(s1.watcher?.cooldown_until))).toBeGreaterThan(Date.parse(auto.ts) + 3_000_000);

    await deploy(ws, 2);
    const second = await drill(ws, ['--latency-ms', '300']);
    expect(second).toMatchObject({ version: 'v3' });
    // The streak goes past rollback_checks; the cooldown holds the rollback back.
    const fifth = await waitForEvent(ws, NAME, 'a fifth breaching check of v3', (e) => e.event === 'check' && e.version === 'v3' && e.streak === 5, second.id);
    const between = jsonlEvents(ws, NAME).filter((e) => e.id > second.id && e.id <= fifth.id);
    expect(between.filter((e) => e.event === 'rollback_started' || e.event === 'rollback')).toEqual([]);

    const manual = await runCli(ws, ['deploy', 'rollback', '--name', NAME, '--json']);
    expect(manual.stderr).toBe('');
    expect(manual.code).toBe(0);
    const doc = JSON.parse(manual.stdout) as { from_version: string; to_version: string };
    expect(doc.from_version).toBe('v3');
    const events = await cliEvents(ws);
    const line = events.filter((e) => e.event === 'rollback' && e.id > fifth.id);
    expect(line).toEqual([expect.objectContaining({ from_version: 'v3', to_version: doc.to_version, success: true, actor: 'cli', reason: 'manual rollback' })]);
    const s2 = await status(ws);
    expect(s2).toMatchObject({ production: doc.to_version, serving_version: doc.to_version });
    const answer = await postOnce(`${endpoint}/predict`, MLP_BODY);
    expect(JSON.parse(answer.text)).toMatchObject({ version: doc.to_version });
  }, 120_000);
});

describe('config reload', () => {
  it('an edited latency_threshold_ms reaches the watcher (rule and verdicts); a bad edit is a config_rejected event and the running settings stay', async () => {
    const ws = workspace(PROBES_ON);
    const file = path.join(ws, 'configs/deploy_config.yaml');
    await deploy(ws, 0);
    await deploy(ws, 1);
    const s0 = await status(ws);
    expect(s0.watcher?.rule).toContain('p95 > 100 ms');

    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('latency_threshold_ms: 100', 'latency_threshold_ms: 250'));
    const rule = await waitFor('the new rule in status', async () => {
      const r = (await status(ws)).watcher?.rule ?? '';
      return r.includes('p95 > 250 ms') ? r : null;
    }, 30_000, 250);
    expect(rule).not.toContain('p95 > 100 ms');
    expect(fs.readFileSync(path.join(ws, '.frameworm/agent.log'), 'utf8')).toContain('configs/deploy_config.yaml reloaded');

    // 150 ms is a breach under the old threshold, a pass under the new one.
    const start = await drill(ws, ['--latency-ms', '150']);
    const judged = await waitFor('two checks judged with the drill', () => {
      const checks = jsonlEvents(ws, NAME).filter((e) => e.id > start.id && e.event === 'check' && Number(e.p95_ms) >= 150);
      return checks.length >= 2 ? checks : null;
    });
    for (const c of judged) expect(c).toMatchObject({ verdict: 'pass', streak: 0 });

    // A bad edit that would also lower the threshold: refused as a whole.
    const good = fs.readFileSync(file, 'utf8');
    const before = lastEventId(ws, NAME);
    fs.writeFileSync(file, good.replace('latency_threshold_ms: 250', 'latency_threshold_ms: 50').replace('rollback_checks: 3', 'rollback_checks: 0'));
    const rejected = await waitForEvent(ws, NAME, 'config_rejected', (e) => e.event === 'config_rejected', before, 30_000);
    expect(String(rejected.error)).toContain('rollback_checks');
    const kept = await waitFor('three checks after the bad edit', () => {
      const checks = jsonlEvents(ws, NAME).filter((e) => e.id > rejected.id && e.event === 'check' && Number(e.p95_ms) >= 150);
      return checks.length >= 3 ? checks : null;
    });
    for (const c of kept) expect(c).toMatchObject({ verdict: 'pass', streak: 0 });
    expect(jsonlEvents(ws, NAME).filter((e) => e.event === 'rollback_started' || e.event === 'rollback')).toEqual([]);
    expect(fs.readFileSync(path.join(ws, '.frameworm/agent.log'), 'utf8')).toContain('config reload refused, keeping the running settings');

    // Fixed again: the CLI reads the file too, and status shows the rule that stayed in force.
    fs.writeFileSync(file, good);
    const s1 = await status(ws);
    expect(s1.watcher?.rule).toContain('p95 > 250 ms');
    expect(s1.watcher?.rule).toContain('3 consecutive breaches');
    expect(jsonlEvents(ws, NAME).filter((e) => e.event === 'config_rejected')).toHaveLength(1);
  }, 120_000);
});
