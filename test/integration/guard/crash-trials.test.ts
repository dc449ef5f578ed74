/**
 * Crash safety of automatic rollbacks (issue 9 §3): the control plane is killed with SIGKILL at
 * every named step of a rollback the watcher started, and the next agent must reconcile:
 * exactly one production version in the registry, the stable endpoint serving what the registry
 * says, every `rollback_started` closed by a later `rollback` line (success true or false), the
 * pending Slack alerts of those lines still delivered, and the JSONL log holding exactly the
 * events of the registry's events table.
 *
 * Each trial: deploy two fresh versions (v_{k-1} archived, v_k production), restart the agent
 * with FRAMEWORM_TEST_HOOKS=1 + FRAMEWORM_TEST_PAUSE=<step> (main/common/test-pause.ts), drill
 * v_k with 300 ms of latency so three probe-driven checks breach, wait for the pause file, kill
 * -9 the agent (pid from .frameworm/agent.json), start a new agent without the pause switch,
 * check. 4 trials × 5 steps on the embedded target, in one reused workspace; 3 on the docker
 * target (one new version per trial, so 4 image builds in all) at the steps where a container
 * of each version exists.
 *
 * Every wait polls files or the registry; no assertion is about elapsed time.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processAlive } from '../../../main/agent/agent-files.js';
import { ensureOfflineBaseImage } from '../../../main/docker/base-image.js';
import { DEFAULT_SOCKET, DockerClient } from '../../../main/docker/docker-client.js';
import { compatPath } from '../../fixtures/inspect/compat.js';
import { SlackReceiver } from '../alerts/slack-receiver.js';
import { disposeWorkspace, makeWorkspace, runCli, type CliResult } from '../cli/cli-harness.js';
import {
  MLP_BODY,
  PROBES_ON,
  agentPid,
  fastWatcherConfig,
  jsonlEvents,
  lastEventId,
  openRollbacks,
  postOnce,
  readRegistry,
  slackOutbox,
  waitFor,
  waitForEvent,
  writeMlpVersions,
  type GuardEvent,
} from './guard-harness.js';

/** The pause points of a rollback, in the order the rollback passes them. */
const STEPS = ['rollback:started', 'rollback:loaded', 'rollback:committed', 'switch:draining', 'rollback:switched'] as const;
type Step = (typeof STEPS)[number];
const TRIALS_PER_STEP = 4;
const NAME = 'm';

let receiver: SlackReceiver;
beforeAll(async () => {
  receiver = await new SlackReceiver().start();
});
afterAll(async () => {
  await receiver.stop();
});

/** Runs the CLI and fails the test on a non-zero exit, showing its stderr. */
async function ok(ws: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const r = await runCli(ws, args, env);
  if (r.code !== 0) {
    // The agent's own log says why it failed to start or stopped answering.
    const log = path.join(ws, '.frameworm/agent.log');
    const tail = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').slice(-30).join('\n') : '(no agent log)';
    throw new Error(`frameworm ${args.join(' ')} exited ${r.code}: ${r.stderr}\nagent.log:\n${tail}`);
  }
  return r;
}

/** The pause environment of one trial; the CLI passes it on to the agent it starts. */
function pauseEnv(step: Step, file: string): NodeJS.ProcessEnv {
  return { FRAMEWORM_TEST_HOOKS: '1', FRAMEWORM_TEST_PAUSE: step, FRAMEWORM_TEST_PAUSE_FILE: file };
}

/** What a trial learned, for the assertions after the restart. */
interface Killed {
  readonly step: Step;
  readonly breaching: string;
  readonly drillId: number;
  readonly started: GuardEvent;
}

/**
 * From "v_k is production, the agent runs without the switch": restart it paused at `step`,
 * drill v_k, wait until it pauses there, kill -9 it and wait until it is gone.
 */
async function killDuringRollback(ws: string, name: string, step: Step, breaching: string, drillMs: number): Promise<Killed> {
  const pauseFile = path.join(ws, 'pause-reached');
  fs.rmSync(pauseFile, { force: true });
  await ok(ws, ['agent', 'stop']);
  await ok(ws, ['agent', 'start'], pauseEnv(step, pauseFile));
  const pid = agentPid(ws);
  expect(pid).not.toBeNull();
  const before = lastEventId(ws, name);
  await ok(ws, ['deploy', 'drill', '--name', name, '--latency-ms', String(drillMs)]);
  const drill = await waitForEvent(ws, name, 'the drill start', (e) => e.event === 'drill' && e.action === 'start', before);
  expect(drill.version).toBe(breaching);
  await waitFor(`the agent to pause at ${step}`, () => (fs.existsSync(pauseFile) && fs.readFileSync(pauseFile, 'utf8') === step ? true : null), 120_000);
  process.kill(pid as number, 'SIGKILL');
  await waitFor('the killed agent to be gone', () => (processAlive(pid as number) ? null : true), 30_000);
  const started = jsonlEvents(ws, name).find((e) => e.id > drill.id && e.event === 'rollback_started');
  expect(started).toMatchObject({ from_version: breaching, actor: 'watcher' });
  return { step, breaching, drillId: drill.id, started: started! };
}

/**
 * After `agent start` (no switch): the registry, the endpoint, the event lines and the alerts
 * are consistent. Returns the production version.
 */
async function expectReconciled(ws: string, name: string, k: Killed, body: unknown): Promise<string> {
  const reg = readRegistry(ws, name);
  // Exactly one production version, and it is the version rolled back to: the killed rollback
  // either committed, or the next agent carried the interrupted automatic rollback out.
  expect(reg.production, `after a kill at ${k.step}`).toEqual([k.started.to_version]);
  expect(reg.stages.get(k.breaching)).toBe('archived');
  const production = reg.production[0]!;
  const answer = await postOnce(`http://127.0.0.1:${reg.port}/predict`, body);
  expect(answer.status).toBe(200);
  expect((JSON.parse(answer.text) as { version: string }).version).toBe(production);

  const events = jsonlEvents(ws, name);
  expect(openRollbacks(events), `open rollback_started after a kill at ${k.step}`).toEqual([]);
  const lines = events.filter((e) => e.id > k.drillId && e.event === 'rollback');
  expect(lines.length).toBeGreaterThanOrEqual(1);
  // The last word on this rollback is a success; a kill before the commit leaves a `false` line first.
  expect(lines.at(-1)).toMatchObject({ from_version: k.breaching, to_version: production, success: true, actor: 'watcher' });
  if (k.step === 'rollback:started' || k.step === 'rollback:loaded') {
    expect(lines[0]).toMatchObject({ success: false });
    expect(String(lines[0]?.error)).toContain('the control plane stopped before the rollback committed');
  } else {
    expect(lines).toHaveLength(1);
  }
  // No alert is lost: each rollback line is in the Slack outbox, sent or still pending (a send the
  // kill cut short waits for its claim lease to end; the last test checks it was delivered).
  for (const line of lines) {
    const state = await waitFor(`the Slack outbox row of rollback ${line.id}`, () => slackOutbox(ws).get(line.id), 30_000);
    expect(['pending', 'sent'], `outbox row of rollback ${line.id}`).toContain(state);
  }
  return production;
}

/**
 * With an agent running: every rollback line of the model reaches Slack in the end (the new
 * agents deliver what the killed ones left pending), with one `sent` alert event per line, and
 * the receiver saw each line's message. `successes` automatic rollbacks ended in success.
 */
async function expectAlertsDelivered(ws: string, name: string, successes: number): Promise<void> {
  await ok(ws, ['agent', 'start']);
  const lines = jsonlEvents(ws, name).filter((e) => e.event === 'rollback');
  expect(lines.filter((e) => e.success === true && e.actor === 'watcher')).toHaveLength(successes);
  await waitFor('every rollback alert sent', () => {
    const outbox = slackOutbox(ws);
    return lines.every((l) => outbox.get(l.id) === 'sent') ? true : null;
  }, 150_000, 250);
  const sent = await waitFor('the alert events of every rollback line', () => {
    const alerts = jsonlEvents(ws, name).filter((e) => e.event === 'alert' && e.channel === 'slack');
    return lines.every((l) => alerts.some((a) => a.about_event_id === l.id)) ? alerts : null;
  });
  for (const l of lines) {
    expect(sent.filter((a) => a.about_event_id === l.id).map((a) => a.outcome), `alert events of rollback ${l.id}`).toEqual(['sent']);
    const title = l.success === true ? `rolled back ${name} ${String(l.from_version)} → ${String(l.to_version)}` : `rollback of ${name} ${String(l.from_version)} → ${String(l.to_version)} failed`;
    // At least once: a message whose send a kill interrupted may arrive twice.
    expect(receiver.requests.some((r) => r.body.blocks?.[0]?.text?.text === title), title).toBe(true);
  }
}

/** With the agent stopped (nothing writes): the JSONL log holds exactly the registry's events. */
async function expectLogMatchesRegistry(ws: string, name: string): Promise<void> {
  await ok(ws, ['agent', 'stop']);
  const ids = jsonlEvents(ws, name).map((e) => e.id);
  expect(ids).toEqual(readRegistry(ws, name).eventIds);
}

describe('kill -9 during automatic rollbacks on the embedded target', () => {
  let ws = '';
  let models: { dir: string; files: string[] };
  let next = 0;

  beforeAll(() => {
    models = writeMlpVersions(2 * STEPS.length * TRIALS_PER_STEP, 'fw-crash-models-');
    ws = makeWorkspace(53_400, fastWatcherConfig() + PROBES_ON + `  slack_webhook_url: ${receiver.url}\n`);
  });
  afterAll(async () => {
    if (ws) await disposeWorkspace(ws);
    fs.rmSync(models.dir, { recursive: true, force: true });
  });

  /** Deploys the next model file as the next version; returns its version label. */
  async function deployNext(): Promise<string> {
    const r = await ok(ws, ['deploy', 'start', '--model', models.files[next++]!, '--name', NAME, '--json']);
    return (JSON.parse(r.stdout) as { version: string }).version;
  }

  // Steps interleaved (started, loaded, …, switched, started, …) so each step meets the others' aftermath.
  const trials = Array.from({ length: TRIALS_PER_STEP }, (_, round) => STEPS.map((step, i) => ({ step, n: round * STEPS.length + i + 1 }))).flat();
  it.each(trials)('trial $n: killed at $step, the next agent reconciles', async ({ step }) => {
    const previous = await deployNext();
    const breaching = await deployNext();
    const killed = await killDuringRollback(ws, NAME, step, breaching, 300);
    expect(killed.started.to_version).toBe(previous);
    await ok(ws, ['agent', 'start']);
    await expectReconciled(ws, NAME, killed, MLP_BODY);
    await expectLogMatchesRegistry(ws, NAME);
  }, 180_000);

  it('covered every step 4 times, and every rollback line of the trials reached Slack, once per line in the events', async () => {
    const kills = new Map<string, number>();
    for (const t of trials) kills.set(t.step, (kills.get(t.step) ?? 0) + 1);
    expect(Object.fromEntries(kills)).toEqual(Object.fromEntries(STEPS.map((s) => [s, TRIALS_PER_STEP])));
    await expectAlertsDelivered(ws, NAME, trials.length);
  }, 300_000);
});

describe('kill -9 during automatic rollbacks on the docker target', () => {
  const DOCKER_NAME = 'dcgan-crash';
  const DOCKER_STEPS: readonly Step[] = ['rollback:loaded', 'rollback:committed', 'switch:draining'];
  const checkpoints = [compatPath('dcgan', 'best.pt'), compatPath('dcgan', 'final.pt')];
  // A DCGAN container answers in tens of ms, over 100 ms on a busy machine: a threshold of 100 ms
  // would roll versions back before any drill. The drill stays well above this one.
  const DOCKER_THRESHOLD_MS = 1000;
  const DOCKER_DRILL_MS = 1500;
  let ws = '';
  let client: DockerClient;
  let label = '';
  let deploys = 0;

  beforeAll(async () => {
    if (!fs.existsSync(DEFAULT_SOCKET)) {
      throw new Error(`${DEFAULT_SOCKET} is missing: dockerd is not running. Run scripts/setup.sh --test before the Docker tests.`);
    }
    client = await DockerClient.connect();
    await ensureOfflineBaseImage(client);
    ws = makeWorkspace(53_600, fastWatcherConfig({ latency_threshold_ms: DOCKER_THRESHOLD_MS }) + PROBES_ON + `  slack_webhook_url: ${receiver.url}\n  docker_base_image: offline\n`);
    label = crypto.createHash('sha256').update(fs.realpathSync(ws)).digest('hex').slice(0, 12);
  }, 40 * 60_000); // a fresh machine builds the offline base image here

  afterAll(async () => {
    if (ws) await disposeWorkspace(ws);
    if (client && label) {
      const left = await client.docker.listContainers({ all: true, filters: { label: [`frameworm.workspace=${label}`] } });
      for (const c of left) await client.stopAndRemove(c.Id, 1);
      const images = await client.docker.listImages({ filters: { label: [`frameworm.workspace=${label}`] } });
      for (const i of images) await client.docker.getImage(i.Id).remove({ force: true }).catch(() => undefined);
    }
  }, 300_000);

  async function deployNext(): Promise<string> {
    const model = checkpoints[deploys++ % checkpoints.length]!;
    const r = await ok(ws, ['deploy', 'start', '--model', model, '--name', DOCKER_NAME, '--build-docker', '--json']);
    return (JSON.parse(r.stdout) as { version: string }).version;
  }

  /** Running containers of this workspace, by version. */
  async function runningVersions(): Promise<string[]> {
    const list = await client.docker.listContainers({ filters: { label: [`frameworm.workspace=${label}`] } });
    return list.map((c) => c.Labels['frameworm.version'] ?? '?').sort();
  }

  // One new version per trial (image builds are the slow part): the first trial rolls v2 back to
  // v1, later ones roll the new version back to v1 again, the newest healthy earlier production.
  it('3 trials: killed with a container of each version up, the next agent keeps one production container serving what the registry says', async () => {
    await deployNext();
    for (const step of DOCKER_STEPS) {
      const breaching = await deployNext();
      const killed = await killDuringRollback(ws, DOCKER_NAME, step, breaching, DOCKER_DRILL_MS);
      expect(killed.started.to_version).toBe('v1');
      await ok(ws, ['agent', 'start']);
      const production = await expectReconciled(ws, DOCKER_NAME, killed, { batch_size: 1, seed: 3 });
      // The killed agent's containers were replaced, not adopted: one container, of production.
      expect(await runningVersions()).toEqual([production]);
      await expectLogMatchesRegistry(ws, DOCKER_NAME);
    }
    await expectAlertsDelivered(ws, DOCKER_NAME, DOCKER_STEPS.length);
  }, 30 * 60_000);
});
