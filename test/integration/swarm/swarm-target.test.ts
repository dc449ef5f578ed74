/**
 * `frameworm deploy … --target swarm` end to end through the real CLI and its agent, against a
 * real dockerd in swarm mode (issue 12 §3): a version as a Swarm service of 2 hardened,
 * health-gated replicas on per-task host ports behind the stable endpoint; `deploy status`
 * with tasks and update state; scale 2 → 3 → 1; a rolling update (promote) and a task killed
 * from outside with no failed request at the stable endpoint under load (with 2 replicas the
 * request goes to the other one; with 1 it waits for the replacement); an update that never
 * becomes healthy is rolled back by Swarm and recorded as a failed promotion while the previous
 * version keeps serving; rollback to a version the registry (not Swarm) remembers; stop.
 * Faults: a daemon not in swarm mode (the real 503 of the live daemon after `swarm leave`),
 * scale to 0 and to more than the limit.
 *
 * The test makes this machine a one-node swarm when it is not one (`docker swarm init
 * --advertise-addr 127.0.0.1`); plain containers of the other Docker tests are not affected.
 * Needs dockerd (scripts/setup.sh --test). Fails (never skips) without it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeployStartResult as StartDoc, DeploymentStatus as StatusDoc, ScaleResult } from '../../../preload/contract.js';
import { ensureOfflineBaseImage } from '../../../main/docker/base-image.js';
import { DEFAULT_SOCKET, DockerClient } from '../../../main/docker/docker-client.js';
import { CONTAINER_PIDS_LIMIT } from '../../../main/docker/hardening.js';
import { cliJson, disposeWorkspace, makeWorkspace, postJson, runCli, snapshotState } from '../cli/cli-harness.js';
import { compatPath } from '../../fixtures/inspect/compat.js';
import { ensureSwarm, readEventLog, swarmActive as isSwarmActive, workspaceServices, type ServiceDoc } from './swarm-fixtures.js';

const PORT_BASE = 47_300;
const NAME = 'dcgan-swarm';
const BEST = compatPath('dcgan', 'best.pt');
const FINAL = compatPath('dcgan', 'final.pt');
let ws = '';
let client: DockerClient;
let workspaceLabel = '';
let offlineBase = '';
let brokenBase = '';

const swarmActive = (): Promise<boolean> => isSwarmActive(client);
const swarmInit = (): Promise<void> => ensureSwarm(client);
/** This workspace's swarm services. */
const ourServices = (): Promise<ServiceDoc[]> => workspaceServices(client, workspaceLabel);
const jsonl = (name = NAME): Record<string, unknown>[] => readEventLog(ws, name);

async function status(): Promise<StatusDoc> {
  return cliJson<StatusDoc>(ws, ['deploy', 'status', '--name', NAME]);
}

/** Polls `probe` every 200 ms until it returns non-null (a bounded wait, not a timing assertion). */
async function pollUntil<T>(probe: () => Promise<T | null>, boundMs = 180_000): Promise<T> {
  for (const until = Date.now() + boundMs; ; ) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > until) throw new Error(`condition not reached within ${boundMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** DCGAN requests from `clients` loops until `stop()`; answers counted by status (-1: no answer). */
function traffic(endpoint: string, clients = 3): { stop: () => Promise<Map<number, number>>; versions: Set<string>; failures: string[] } {
  const counts = new Map<number, number>();
  const versions = new Set<string>();
  const failures: string[] = [];
  let running = true;
  const loops = Array.from({ length: clients }, async (_, c) => {
    for (let i = 0; running; i++) {
      try {
        const r = await postJson(`${endpoint}/predict`, { batch_size: 1, seed: c * 10_000 + i });
        counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
        if (r.status === 200) versions.add(String(r.json['version']));
        else failures.push(JSON.stringify(r.json).slice(0, 300));
      } catch (err) {
        counts.set(-1, (counts.get(-1) ?? 0) + 1);
        failures.push(String(err));
      }
    }
  });
  return {
    versions,
    failures,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return counts;
    },
  };
}

/** Builds a base image (labelled like the offline one) whose Python cannot start: a server on it never becomes healthy. */
async function buildBrokenBase(): Promise<string> {
  const ctx = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-broken-base-'));
  try {
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), `FROM ${offlineBase}\nENV PYTHONHOME=/nonexistent\nLABEL frameworm.base=offline\n`);
    const tag = `frameworm-test/broken-base:${process.pid}`;
    await client.buildImage(ctx, { tag });
    return tag;
  } finally {
    fs.rmSync(ctx, { recursive: true, force: true });
  }
}

beforeAll(async () => {
  if (!fs.existsSync(DEFAULT_SOCKET)) {
    throw new Error(`${DEFAULT_SOCKET} is missing: dockerd is not running. Run scripts/setup.sh --test before the Docker tests.`);
  }
  client = await DockerClient.connect();
  offlineBase = (await ensureOfflineBaseImage(client)).tag;
  brokenBase = await buildBrokenBase();
  ws = makeWorkspace(PORT_BASE, '  docker_base_image: offline\n  monitor_interval_s: 3600\n');
  workspaceLabel = crypto.createHash('sha256').update(fs.realpathSync(ws)).digest('hex').slice(0, 12);
}, 40 * 60_000);

afterAll(async () => {
  if (ws) await disposeWorkspace(ws);
  if (client) {
    if (workspaceLabel && (await swarmActive())) for (const s of await ourServices()) await client.docker.getService(s.ID).remove().catch(() => undefined);
    if (workspaceLabel) {
      const images = await client.docker.listImages({ filters: { label: [`frameworm.workspace=${workspaceLabel}`] } });
      for (const i of images) await client.docker.getImage(i.Id).remove({ force: true }).catch(() => undefined);
    }
    if (brokenBase) await client.docker.getImage(brokenBase).remove({ force: true }).catch(() => undefined);
  }
}, 300_000);

describe('deploy --target swarm through the CLI', () => {
  let endpoint = '';

  it('a daemon that is not a swarm manager: one line naming docker swarm init, nothing registered', async () => {
    // The live daemon's own 503 ("This node is not a swarm manager"), not a simulated one.
    if (await swarmActive()) await client.docker.swarmLeave({ force: true });
    try {
      const before = await snapshotState(ws);
      const r = await runCli(ws, ['deploy', 'start', '--model', BEST, '--name', NAME, '--target', 'swarm']);
      expect(r.code).toBe(8);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain('Docker is not in swarm mode');
      expect(r.stderr).toContain('docker swarm init --advertise-addr 127.0.0.1');
      expect(await snapshotState(ws)).toBe(before);
      expect(fs.existsSync(path.join(ws, 'experiments/deploy_exports', NAME))).toBe(false);
    } finally {
      await swarmInit();
    }
  }, 120_000);

  it('runs the version as a hardened service of 2 health-gated replicas behind the stable endpoint', async () => {
    const doc = await cliJson<StartDoc>(ws, ['deploy', 'start', '--model', BEST, '--name', NAME, '--target', 'swarm']);
    expect(doc).toMatchObject({ name: NAME, version: 'v1', type: 'dcgan', target: 'swarm', stage: 'production' });
    endpoint = doc.endpoint ?? '';
    const p = await postJson(`${endpoint}/predict`, { batch_size: 2, seed: 7 });
    expect(p.status).toBe(200);
    expect(p.json).toMatchObject({ model: NAME, version: 'v1', seed: 7 });
    expect(await postJson(`${endpoint}/predict`, { batch_size: 'two' })).toMatchObject({ status: 400 });

    const s = await status();
    expect(s).toMatchObject({ production: 'v1', serving_version: 'v1', target: 'swarm', container: null });
    expect(s.swarm).toMatchObject({ version: 'v1', replicas: 2, running: 2, update_order: 'stop-first' });
    expect(s.swarm?.tasks.map((t) => [t.slot, t.state, t.health, t.version])).toEqual([[1, 'running', 'healthy', 'v1'], [2, 'running', 'healthy', 'v1']]);
    const ports = s.swarm?.tasks.map((t) => t.port) ?? [];
    expect(new Set(ports).size).toBe(2);
    // Each task answers on its own host port.
    for (const port of ports) expect((await postJson(`http://127.0.0.1:${port}/predict`, { batch_size: 1, seed: 1 })).status).toBe(200);

    const [service] = await ourServices();
    const spec = service?.Spec as unknown as {
      TaskTemplate: { ContainerSpec: Record<string, unknown>; Resources: { Limits: Record<string, number> }; RestartPolicy: Record<string, unknown>; Networks: { Target: string }[] };
      UpdateConfig: Record<string, unknown>; RollbackConfig: Record<string, unknown>; Mode: { Replicated: { Replicas: number } };
    };
    expect(spec.Mode.Replicated.Replicas).toBe(2);
    expect(spec.TaskTemplate.ContainerSpec).toMatchObject({ ReadOnly: true, CapabilityDrop: ['ALL'], User: '10001:10001', Image: s.versions[0]?.lineage['image_digest'] });
    expect(spec.TaskTemplate.Resources.Limits).toMatchObject({ MemoryBytes: 2048 * 1024 * 1024, Pids: CONTAINER_PIDS_LIMIT });
    expect(spec.TaskTemplate.RestartPolicy).toMatchObject({ Condition: 'any' });
    expect(spec.UpdateConfig).toMatchObject({ Parallelism: 1, Order: 'stop-first', FailureAction: 'rollback' });
    expect(spec.RollbackConfig).toMatchObject({ Parallelism: 1, Order: 'stop-first' });

    const human = await runCli(ws, ['deploy', 'status', '--name', NAME]);
    expect(human.stdout).toMatch(/swarm service fw-[0-9a-f]{12}-dcgan-swarm \([0-9a-z]{12}\): v1, 2\/2 replica\(s\) running, order stop-first/);
    expect(human.stdout).toMatch(/task 1 [0-9a-z]{12}: running \(desired running\), health healthy, v1, 127\.0\.0\.1:\d+/);

    // Generated next to the Dockerfile: the stack file and the Kubernetes manifests.
    const gen = path.join(ws, 'deploy/generated', NAME);
    for (const f of ['Dockerfile', 'stack.yml', 'k8s/deployment.yaml', 'k8s/service.yaml']) expect(fs.existsSync(path.join(gen, f)), f).toBe(true);
  }, 900_000);

  it('scale 2 → 3 → 1; 0 and more than the limit are refused with what to do', async () => {
    const up = await cliJson<ScaleResult>(ws, ['deploy', 'scale', '--name', NAME, '--replicas', '3']);
    expect(up).toMatchObject({ name: NAME, version: 'v1', from_replicas: 2, replicas: 3, running: 3 });
    expect((await status()).swarm?.tasks.filter((t) => t.state === 'running').map((t) => t.slot)).toEqual([1, 2, 3]);
    const down = await cliJson<ScaleResult>(ws, ['deploy', 'scale', '--name', NAME, '--replicas', '1']);
    expect(down).toMatchObject({ from_replicas: 3, replicas: 1, running: 1 });
    expect((await status()).swarm).toMatchObject({ replicas: 1, running: 1 });
    expect((await postJson(`${endpoint}/predict`, { batch_size: 1, seed: 2 })).status).toBe(200);

    const before = await snapshotState(ws);
    const zero = await runCli(ws, ['deploy', 'scale', '--name', NAME, '--replicas', '0']);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toContain('frameworm deploy stop');
    const huge = await runCli(ws, ['deploy', 'scale', '--name', NAME, '--replicas', '100000']);
    expect(huge.code).toBe(2);
    expect(huge.stderr).toContain('from 1 to 32');
    const embedded = await runCli(ws, ['deploy', 'start', '--model', BEST, '--name', 'other', '--replicas', '2']);
    expect(embedded.code).toBe(2);
    expect(embedded.stderr).toContain('--replicas applies to --target swarm only');
    expect(await snapshotState(ws)).toBe(before);
    expect(jsonl().filter((e) => e['event'] === 'scale').map((e) => [e['from_replicas'], e['replicas']])).toEqual([[2, 3], [3, 1]]);
  }, 600_000);

  it('a task killed from outside: no failed request, with 1 replica (requests wait) and with 2 (another answers)', async () => {
    for (const replicas of [1, 2]) {
      if (replicas === 2) await cliJson<ScaleResult>(ws, ['deploy', 'scale', '--name', NAME, '--replicas', '2']);
      const before = (await status()).swarm?.tasks.find((t) => t.slot === 1);
      expect(before?.container_id).toBeTruthy();
      const load = traffic(endpoint);
      await new Promise((r) => setTimeout(r, 500));
      await client.docker.getContainer(before?.container_id ?? '').kill();
      // Swarm replaces it in the same slot (same port); the new task is healthy before it serves.
      await pollUntil(async () => {
        const t = (await status()).swarm?.tasks.find((x) => x.slot === 1 && x.state === 'running');
        return t && t.id !== before?.id && t.health === 'healthy' ? t : null;
      });
      await new Promise((r) => setTimeout(r, 500));
      const counts = await load.stop();
      expect(load.failures).toEqual([]);
      expect([...counts.keys()]).toEqual([200]);
    }
  }, 600_000);

  it('promote v2: a rolling update (stop-first, one task at a time) with no failed request under load', async () => {
    const staged = await cliJson<StartDoc>(ws, ['deploy', 'start', '--model', FINAL, '--name', NAME, '--target', 'swarm', '--stage', 'staging']);
    expect(staged).toMatchObject({ version: 'v2', stage: 'staging', target: 'swarm' });
    const load = traffic(endpoint);
    const promoted = await cliJson<{ archived_version: string | null }>(ws, ['deploy', 'promote', '--name', NAME, '--version', 'v2', '--stage', 'production']);
    await new Promise((r) => setTimeout(r, 300));
    const counts = await load.stop();
    expect(promoted).toMatchObject({ archived_version: 'v1' });
    expect(load.failures).toEqual([]);
    expect([...counts.keys()]).toEqual([200]);
    expect(load.versions).toEqual(new Set(['v1', 'v2']));
    const s = await status();
    expect(s).toMatchObject({ production: 'v2', serving_version: 'v2' });
    expect(s.swarm).toMatchObject({ version: 'v2', replicas: 2, running: 2, update: { state: 'completed' } });
    expect(s.swarm?.tasks.every((t) => t.version === 'v2' && t.health === 'healthy')).toBe(true);
  }, 900_000);

  it('an update that never becomes healthy: Swarm rolls it back, the promotion is recorded as failed, v2 keeps serving', async () => {
    const staged = await cliJson<StartDoc>(ws, ['deploy', 'start', '--model', BEST, '--name', NAME, '--target', 'swarm', '--stage', 'staging', '--base-image', brokenBase]);
    expect(staged).toMatchObject({ version: 'v3', stage: 'staging' });
    const load = traffic(endpoint);
    const r = await runCli(ws, ['deploy', 'promote', '--name', NAME, '--version', 'v3', '--stage', 'production']);
    const counts = await load.stop();
    expect(r.code).toBe(8);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('Swarm rolled back the update of dcgan-swarm to v3');
    expect(r.stderr).toContain('v2 keeps serving');
    expect(load.failures).toEqual([]);
    expect([...counts.keys()]).toEqual([200]);
    expect(load.versions).toEqual(new Set(['v2']));

    const s = await status();
    expect(s).toMatchObject({ production: 'v2', serving_version: 'v2' });
    expect(s.versions.find((v) => v.version === 'v3')?.stage).toBe('staging');
    expect(s.swarm).toMatchObject({ version: 'v2', running: 2, update: { state: 'rollback_completed' } });
    const failed = jsonl().filter((e) => e['event'] === 'promote' && e['success'] === false);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ version: 'v3', stage: 'production', from_version: 'v2' });
    expect(String(failed[0]?.['reason'])).toMatch(/task \d+ (failed|rejected)/);
  }, 900_000);

  it('rollback goes to the version the registry names (Swarm kept no history after its own rollback)', async () => {
    const r = await cliJson<{ from_version: string; to_version: string }>(ws, ['deploy', 'rollback', '--name', NAME, '--reason', 'test']);
    expect(r).toMatchObject({ from_version: 'v2', to_version: 'v1' });
    const s = await status();
    expect(s).toMatchObject({ production: 'v1', serving_version: 'v1' });
    expect(s.swarm).toMatchObject({ version: 'v1', running: 2 });
    expect((await postJson(`${endpoint}/predict`, { batch_size: 1, seed: 3 })).json['version']).toBe('v1');
  }, 600_000);

  it('stop removes the service and archives the version', async () => {
    await cliJson(ws, ['deploy', 'stop', '--name', NAME]);
    expect(await ourServices()).toEqual([]);
    expect((await status()).production).toBeNull();
  }, 300_000);
});
