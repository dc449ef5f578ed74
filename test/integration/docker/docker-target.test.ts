/**
 * `frameworm deploy … --build-docker` end to end through the real CLI and its agent, against a
 * real dockerd (DESIGN §3–§6): build on the offline base image, serve the container behind the
 * stable endpoint, staging → promote, rollback with no failed request while traffic flows, a
 * container killed from outside (/ready turns 503, `backend_lost`, then a new container of the
 * same version: self-healing), a rollback to a version whose image was deleted (rebuilt), a
 * killed agent's unregistered images removed by the next one, stop removes the container;
 * model names differing only in case get images of their own. Faults: dead daemon, bad base image mid-build, a taken port, a container that is
 * never healthy — each a one-line error that leaves the registry, the logs and Docker as they were.
 *
 * Needs dockerd: scripts/setup.sh --test installs and starts it. Fails (never skips) without it.
 */
import { spawn } from 'node:child_process';
import type { DeployStartResult as StartDoc, DeploymentStatus as StatusDoc } from '../../../preload/contract.js';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOTFS_IMAGE, ensureOfflineBaseImage } from '../../../main/docker/base-image.js';
import { DEFAULT_SOCKET, DockerClient } from '../../../main/docker/docker-client.js';
import { CONTAINER_PIDS_LIMIT } from '../../../main/docker/hardening.js';
import { cliJson, disposeWorkspace, makeWorkspace, postJson, repoRoot, runCli, snapshotState } from '../cli/cli-harness.js';
import { compatPath } from '../../fixtures/inspect/compat.js';


const PORT_BASE = 24000;
const NAME = 'dcgan-docker';
const BEST = compatPath('dcgan', 'best.pt');
const FINAL = compatPath('dcgan', 'final.pt');
let ws = '';
let client: DockerClient;
let workspaceLabel = '';

/** Containers of this test's workspace, running or not. */
async function ourContainers(): Promise<{ id: string; version: string; state: string }[]> {
  const list = await client.docker.listContainers({ all: true, filters: { label: [`frameworm.workspace=${workspaceLabel}`] } });
  return list.map((c) => ({ id: c.Id, version: c.Labels['frameworm.version'] ?? '?', state: c.State }));
}

/** The model's JSONL history, one object per line. */
function jsonl(name = NAME): Record<string, unknown>[] {
  const text = fs.readFileSync(path.join(ws, 'experiments/deploy_logs', `${name}.jsonl`), 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Polls `probe` every 100 ms until it returns non-null (a wait with a generous bound, not a timing assertion). */
async function pollUntil<T>(probe: () => Promise<T | null>, boundMs = 120_000): Promise<T> {
  for (const until = Date.now() + boundMs; ; ) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > until) throw new Error(`condition not reached within ${boundMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function status(): Promise<StatusDoc> {
  return cliJson<StatusDoc>(ws, ['deploy', 'status', '--name', NAME]);
}

/** Posts DCGAN requests from `clients` keep-alive loops until `stop()`; counts answers by status. */
function traffic(endpoint: string, clients = 4): { stop: () => Promise<Map<number, number>>; versions: Set<string> } {
  const counts = new Map<number, number>();
  const versions = new Set<string>();
  let running = true;
  const loops = Array.from({ length: clients }, async (_, c) => {
    for (let i = 0; running; i++) {
      try {
        const r = await postJson(`${endpoint}/predict`, { batch_size: 1, seed: c * 1000 + i });
        counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
        if (r.status === 200) versions.add(String(r.json['version']));
      } catch {
        counts.set(-1, (counts.get(-1) ?? 0) + 1);
      }
    }
  });
  return {
    versions,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return counts;
    },
  };
}

/** Builds a tiny image labelled like ours (this workspace, model, version); returns its id. */
async function ghostImage(model: string, version: string): Promise<string> {
  const ctx = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-ghost-'));
  try {
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), `FROM ${ROOTFS_IMAGE}\n`);
    const tag = `frameworm-test/ghost-${model}:${version}-${process.pid}`;
    const labels = { 'frameworm.workspace': workspaceLabel, 'frameworm.model': model, 'frameworm.version': version };
    return (await client.buildImage(ctx, { tag, labels })).id;
  } finally {
    fs.rmSync(ctx, { recursive: true, force: true });
  }
}

beforeAll(async () => {
  if (!fs.existsSync(DEFAULT_SOCKET)) {
    throw new Error(`${DEFAULT_SOCKET} is missing: dockerd is not running. Run scripts/setup.sh --test (installs docker.io + debootstrap and starts dockerd) before the Docker tests.`);
  }
  client = await DockerClient.connect();
  // Built once per machine (cached by content); the CLI below finds it with --base-image offline.
  await ensureOfflineBaseImage(client);
  ws = makeWorkspace(PORT_BASE, '  docker_base_image: offline\n');
  workspaceLabel = crypto.createHash('sha256').update(fs.realpathSync(ws)).digest('hex').slice(0, 12);
}, 40 * 60_000); // a fresh machine builds the offline base image here (minutes; more on vfs)

afterAll(async () => {
  if (ws) await disposeWorkspace(ws);
  if (client && workspaceLabel) {
    const left = await client.docker.listContainers({ all: true, filters: { label: [`frameworm.workspace=${workspaceLabel}`] } });
    for (const c of left) await client.stopAndRemove(c.Id, 1);
    const images = await client.docker.listImages({ filters: { label: [`frameworm.workspace=${workspaceLabel}`] } });
    for (const i of images) await client.docker.getImage(i.Id).remove({ force: true }).catch(() => undefined);
  }
}, 300_000);

describe('deploy start --build-docker through the CLI', () => {
  let endpoint = '';
  let v1Digest = '';

  it('builds the image, runs it hardened and serves it behind the stable endpoint', async () => {
    const r = await runCli(ws, ['deploy', 'start', '--model', BEST, '--name', NAME, '--build-docker', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as StartDoc;
    expect(doc).toMatchObject({ name: NAME, version: 'v1', type: 'dcgan', target: 'docker', stage: 'production' });
    endpoint = doc.endpoint ?? '';
    expect(endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const p = await postJson(`${endpoint}/predict`, { batch_size: 2, seed: 7 });
    expect(p.status).toBe(200);
    expect(p.json).toMatchObject({ model: NAME, version: 'v1', seed: 7 });
    const images = p.json['images'] as number[][][][];
    expect(images).toHaveLength(2);
    const bad = await postJson(`${endpoint}/predict`, { batch_size: 'two' });
    expect(bad.status).toBe(400);
    expect(typeof bad.json['error']).toBe('string');

    const s = await status();
    expect(s).toMatchObject({ production: 'v1', serving: true, serving_version: 'v1', target: 'docker' });
    expect(s.container).toMatchObject({ state: 'running', health: 'healthy', running: true, image: 'frameworm/dcgan-docker:v1' });
    v1Digest = String(s.versions[0]?.lineage['image_digest']);
    expect(v1Digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(s.container?.image_id).toBe(v1Digest);
    // The stable endpoint measured both requests; the 400 does not count as an error.
    expect(s.metrics?.requests).toBe(2);
    expect(s.metrics?.error_rate).toBe(0);

    // Hardening as the daemon reports it.
    const info = await client.docker.getContainer(s.container?.id ?? '').inspect();
    expect(info.HostConfig.ReadonlyRootfs).toBe(true);
    expect(info.HostConfig.CapDrop).toEqual(['ALL']);
    expect(info.HostConfig.SecurityOpt).toContain('no-new-privileges');
    expect(info.HostConfig.Memory).toBe(2048 * 1024 * 1024);
    expect(info.HostConfig.PidsLimit).toBe(CONTAINER_PIDS_LIMIT);
    expect(info.Config.User).toBe('10001:10001');
    const bindings = Object.values(info.HostConfig.PortBindings ?? {}).flat() as { HostIp: string }[];
    expect(bindings.every((b) => b.HostIp === '127.0.0.1')).toBe(true);
    const image = await client.docker.getImage(v1Digest).inspect();
    expect(image.Config.Labels).toMatchObject({ 'frameworm.model': NAME, 'frameworm.version': 'v1', 'frameworm.type': 'dcgan' });
    expect(image.Config.Labels['frameworm.checkpoint_sha256']).toBe(s.versions[0]?.lineage['checkpoint_sha256']);

    // The generated folder is what a user would build by hand.
    const gen = path.join(ws, 'deploy/generated', NAME);
    for (const f of ['server.py', 'requirements.txt', 'Dockerfile', 'docker-compose.yml', 'model/model.torchscript.pt']) expect(fs.existsSync(path.join(gen, f)), f).toBe(true);
    const compose = fs.readFileSync(path.join(gen, 'docker-compose.yml'), 'utf8');
    expect(compose).toContain(`127.0.0.1:${new URL(endpoint).port}:8080`);
    expect(compose).toContain(`pids_limit: ${CONTAINER_PIDS_LIMIT}\n`);

    const human = await runCli(ws, ['deploy', 'status', '--name', NAME]);
    expect(human.stdout).toMatch(/container fw-[0-9a-f]{12}-dcgan-docker-v1 \([0-9a-f]{12}\): running, health healthy/);

    // The container's log tail (the GUI's container card reads the same channel).
    const logs = await cliJson<{ name: string; container: string; lines: string[] }>(ws, ['deploy', 'logs', '--name', NAME, '--tail', '1000']);
    expect(logs.container).toBe(s.container?.name);
    expect(logs.lines.join('\n')).toMatch(/Uvicorn running on http:\/\/0\.0\.0\.0:8080/);
    const last = await cliJson<{ lines: string[] }>(ws, ['deploy', 'logs', '--name', NAME, '--tail', '2']);
    // Access-log lines of health checks keep arriving, so only the count is fixed.
    expect(last.lines).toHaveLength(2);
  }, 900_000);

  it('stages v2 (image built, nothing run), then promote switches the endpoint to its container', async () => {
    const staged = await cliJson<StartDoc>(ws, ['deploy', 'start', '--model', FINAL, '--name', NAME, '--build-docker', '--stage', 'staging']);
    expect(staged).toMatchObject({ version: 'v2', stage: 'staging', target: 'docker' });
    let s = await status();
    expect(s.serving_version).toBe('v1');
    const v2 = s.versions.find((v) => v.version === 'v2');
    expect(v2?.lineage['image_digest']).toMatch(/^sha256:/);
    expect(v2?.lineage['image_digest']).not.toBe(v1Digest);
    expect((await ourContainers()).map((c) => c.version)).toEqual(['v1']);

    const load = traffic(endpoint);
    const promoted = await cliJson<{ archived_version: string | null; endpoint: string }>(ws, ['deploy', 'promote', '--name', NAME, '--version', 'v2', '--stage', 'production']);
    await new Promise((r) => setTimeout(r, 300));
    const counts = await load.stop();
    expect(promoted).toMatchObject({ archived_version: 'v1', endpoint });
    expect([...counts.keys()]).toEqual([200]);
    expect(load.versions).toEqual(new Set(['v1', 'v2']));

    s = await status();
    expect(s).toMatchObject({ production: 'v2', serving_version: 'v2' });
    expect(s.container?.image_id).toBe(v2?.lineage['image_digest']);
    // v1's container is gone; its image stays as the rollback target.
    expect((await ourContainers()).map((c) => c.version)).toEqual(['v2']);
    expect(await client.imageId(v1Digest)).toBe(v1Digest);
  }, 900_000);

  it('rollback brings v1 up before v2 goes down: no failed request under load', async () => {
    const load = traffic(endpoint);
    await new Promise((r) => setTimeout(r, 300));
    const r = await cliJson<{ from_version: string; to_version: string; endpoint: string }>(ws, ['deploy', 'rollback', '--name', NAME, '--reason', 'test rollback']);
    await new Promise((r2) => setTimeout(r2, 300));
    const counts = await load.stop();
    expect(r).toMatchObject({ from_version: 'v2', to_version: 'v1', endpoint });
    expect([...counts.keys()]).toEqual([200]);
    expect(load.versions).toEqual(new Set(['v2', 'v1']));
    const s = await status();
    expect(s).toMatchObject({ production: 'v1', serving_version: 'v1' });
    expect(s.container?.image_id).toBe(v1Digest);
    expect((await ourContainers()).map((c) => c.version)).toEqual(['v1']);
  }, 900_000);

  it('agent stop takes the container down; the next agent brings production back on the same endpoint', async () => {
    await runCli(ws, ['agent', 'stop']);
    expect(await ourContainers()).toEqual([]);
    const s = await status(); // starts a new agent, which restores production
    expect(s).toMatchObject({ production: 'v1', serving_version: 'v1', endpoint });
    expect(s.container).toMatchObject({ state: 'running', health: 'healthy', image_id: v1Digest });
    const p = await postJson(`${endpoint}/predict`, { batch_size: 1, seed: 3 });
    expect(p.status).toBe(200);
    expect(p.json['version']).toBe('v1');
  }, 300_000);

  it('a crashed agent leaves its container; the next agent replaces it instead of adopting it', async () => {
    const before = await status();
    // What a build killed with the agent leaves: an image labelled by this workspace for a version
    // that was never registered, and its half-generated server folder.
    const ghosts = [await ghostImage(NAME, 'v9'), await ghostImage('never-registered', 'v1')];
    const building = path.join(ws, 'deploy/generated', `.${NAME}-v9.building`);
    fs.mkdirSync(building, { recursive: true });
    fs.writeFileSync(path.join(building, 'Dockerfile'), 'FROM scratch\n');
    const registered = (await status()).versions.map((v) => String(v.lineage['image_digest']));
    const agent = JSON.parse(fs.readFileSync(path.join(ws, '.frameworm/agent.json'), 'utf8')) as { pid: number };
    process.kill(agent.pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
    expect((await ourContainers()).map((c) => c.id)).toEqual([before.container?.id]);
    const s = await status();
    for (const g of ghosts) expect(await client.imageId(g)).toBeNull();
    for (const digest of registered) expect(await client.imageId(digest)).toBe(digest);
    expect(fs.existsSync(building)).toBe(false);
    expect(fs.readdirSync(path.join(ws, 'deploy/generated'))).toEqual([NAME]);
    expect(s.container?.state).toBe('running');
    expect(s.container?.id).not.toBe(before.container?.id);
    expect((await ourContainers()).map((c) => c.id)).toEqual([s.container?.id]);
    const events = fs.readFileSync(path.join(ws, 'experiments/deploy_logs', `${NAME}.jsonl`), 'utf8');
    expect(events.match(/"event":"restore"/g)).toHaveLength(2);
  }, 300_000);

  it('a container killed from outside: /ready turns 503, the loss is an event, a new container of the same version takes over', async () => {
    const before = await status();
    const killed = before.container?.id ?? '';
    expect(before.container).toMatchObject({ running: true, health: 'healthy' });
    expect((await fetch(`${endpoint}/ready`)).status).toBe(200);
    await client.docker.getContainer(killed).kill();

    // Until the replacement is healthy (its HEALTHCHECK takes seconds) the endpoint says it is not ready.
    const notReady = await pollUntil(async () => {
      const r = await fetch(`${endpoint}/ready`);
      return r.status === 503 ? ((await r.json()) as Record<string, unknown>) : null;
    });
    expect(notReady).toMatchObject({ ready: false, model: NAME, version: 'v1', backend: { healthy: false, state: 'exited' } });
    expect(String(notReady['error'])).toMatch(/the backend of v1 is not serving: the container exited with code 137/);

    // …and ready again on a new container of the same version.
    await pollUntil(async () => ((await fetch(`${endpoint}/ready`)).status === 200 ? true : null));
    const s = await status();
    expect(s).toMatchObject({ production: 'v1', serving_version: 'v1' });
    expect(s.container).toMatchObject({ state: 'running', health: 'healthy', image_id: v1Digest });
    expect(s.container?.id).not.toBe(killed);
    expect((await ourContainers()).map((c) => c.id)).toEqual([s.container?.id]);
    const p = await postJson(`${endpoint}/predict`, { batch_size: 1, seed: 1 });
    expect(p.status).toBe(200);
    expect(p.json['version']).toBe('v1');
    const health = (await (await fetch(`${endpoint}/health`)).json()) as Record<string, unknown>;
    expect(health).toMatchObject({ status: 'ok', ready: true, version: 'v1', backend: { healthy: true, state: 'running' } });

    const events = jsonl();
    const lost = events.filter((e) => e['event'] === 'backend_lost');
    expect(lost).toHaveLength(1);
    expect(lost[0]).toMatchObject({ version: 'v1', container_id: killed, reason: 'exited', exit_code: 137 });
    const restored = events.filter((e) => e['event'] === 'backend_restored');
    expect(restored).toHaveLength(1);
    expect(restored[0]).toMatchObject({ version: 'v1', container_id: s.container?.id, previous_container_id: killed });
    expect(events.some((e) => e['event'] === 'self_heal_failed')).toBe(false);
  }, 300_000);

  it('a version that keeps dying is not replaced forever: self_heal_failed, and /ready stays 503', async () => {
    // The first loss was healed above; two more are, the next one is not (SELF_HEAL_MAX_LOSSES = 3).
    const readyAgain = async (): Promise<void> => {
      await pollUntil(async () => ((await fetch(`${endpoint}/ready`)).status === 200 ? true : null));
    };
    for (let i = 0; i < 2; i++) {
      const id = (await status()).container?.id ?? '';
      await client.docker.getContainer(id).kill();
      await pollUntil(async () => (jsonl().filter((e) => e['event'] === 'backend_restored').length === i + 2 ? true : null));
      await readyAgain();
    }
    const last = (await status()).container?.id ?? '';
    await client.docker.getContainer(last).kill();
    const failed = await pollUntil(async () => jsonl().find((e) => e['event'] === 'self_heal_failed') ?? null);
    expect(failed).toMatchObject({ version: 'v1', container_id: last, attempts: 0 });
    expect(String(failed['error'])).toMatch(/dcgan-docker v1 was lost 4 times within 10 minutes; it is not replaced again/);
    const events = jsonl();
    expect(events.filter((e) => e['event'] === 'backend_lost')).toHaveLength(4);
    expect(events.filter((e) => e['event'] === 'backend_restored')).toHaveLength(3);
    const r = await fetch(`${endpoint}/ready`);
    expect(r.status).toBe(503);
    expect((await status()).container).toMatchObject({ id: last, running: false });
  }, 300_000);

  it('rollback to an archived version whose image was deleted rebuilds the image from its export', async () => {
    const before = await status();
    expect(before).toMatchObject({ production: 'v1', serving_version: 'v1' });
    const gone = String(before.versions.find((v) => v.version === 'v2')?.lineage['image_digest']);
    await client.docker.getImage(gone).remove({ force: true });
    expect(await client.imageId(gone)).toBeNull();

    const r = await cliJson<{ from_version: string; to_version: string; endpoint: string }>(ws, ['deploy', 'rollback', '--name', NAME, '--reason', 'image deleted']);
    expect(r).toMatchObject({ from_version: 'v1', to_version: 'v2', endpoint });
    const s = await status();
    const rebuilt = String(s.versions.find((v) => v.version === 'v2')?.lineage['image_digest']);
    expect(rebuilt).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(rebuilt).not.toBe(gone);
    expect(await client.imageId(rebuilt)).toBe(rebuilt);
    expect(s).toMatchObject({ production: 'v2', serving_version: 'v2' });
    expect(s.container).toMatchObject({ state: 'running', health: 'healthy', image_id: rebuilt, image: 'frameworm/dcgan-docker:v2' });
    expect((await ourContainers()).map((c) => c.version)).toEqual(['v2']);
    const event = jsonl().filter((e) => e['event'] === 'image_rebuilt');
    expect(event).toEqual([expect.objectContaining({ version: 'v2', image: 'frameworm/dcgan-docker:v2', image_digest: rebuilt, previous_digest: gone })]);
    const p = await postJson(`${endpoint}/predict`, { batch_size: 1, seed: 2 });
    expect(p.status).toBe(200);
    expect(p.json['version']).toBe('v2');
    // The rebuild's server folder is dropped: deploy/generated/<name>/ stays the last deploy's.
    expect(fs.readdirSync(path.join(ws, 'deploy/generated'))).toEqual([NAME]);
  }, 900_000);

  it('stop removes the container and archives the version', async () => {
    const r = await cliJson<{ stopped_version: string; archived: boolean }>(ws, ['deploy', 'stop', '--name', NAME]);
    expect(r).toMatchObject({ stopped_version: 'v2', archived: true });
    expect(await ourContainers()).toEqual([]);
    const s = await status();
    expect(s).toMatchObject({ production: null, serving: false, container: null });
  }, 120_000);
});

describe('docker target faults: clear error, nothing changed, nothing left', () => {
  async function expectUntouched(args: string[], exitCode: number, message: RegExp): Promise<string> {
    const before = await snapshotState(ws);
    const containersBefore = await ourContainers();
    const imagesBefore = (await client.docker.listImages({ filters: { label: [`frameworm.workspace=${workspaceLabel}`] } })).map((i) => i.Id).sort();
    const r = await runCli(ws, args);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.code).toBe(exitCode);
    expect(await snapshotState(ws)).toBe(before);
    expect(await ourContainers()).toEqual(containersBefore);
    expect((await client.docker.listImages({ filters: { label: [`frameworm.workspace=${workspaceLabel}`] } })).map((i) => i.Id).sort()).toEqual(imagesBefore);
    expect(fs.existsSync(path.join(ws, 'experiments/deploy_exports/faulty'))).toBe(false);
    expect(fs.readdirSync(path.join(ws, 'deploy/generated'))).toEqual([NAME]);
    return r.stderr;
  }

  it('a base image that does not exist fails the build with its name', async () => {
    await expectUntouched(
      ['deploy', 'start', '--model', BEST, '--name', 'faulty', '--build-docker', '--base-image', 'frameworm-test/no-such-base:0'],
      8,
      /frameworm: error: docker build of frameworm\/faulty:v1 failed: base image 'frameworm-test\/no-such-base:0' is not available locally/,
    );
  }, 300_000);

  it('a taken --port fails before anything is built', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(PORT_BASE + 50, '127.0.0.1', resolve));
    try {
      // expectUntouched proves nothing was built; the time to the refusal is in test/bench/timing-bench.ts.
      await expectUntouched(['deploy', 'start', '--model', BEST, '--name', 'faulty', '--build-docker', '--port', String(PORT_BASE + 50)], 7, /port 24050 on 127\.0\.0\.1 is already in use/);
    } finally {
      blocker.close();
    }
  }, 120_000);

  it('a container that is not healthy in time is removed with its image', async () => {
    const cfg = path.join(ws, 'configs/deploy_config.yaml');
    const original = fs.readFileSync(cfg, 'utf8');
    fs.writeFileSync(cfg, `${original}  container_ready_timeout_s: 1\n`);
    await runCli(ws, ['agent', 'stop']); // the agent reads the config when it starts
    try {
      await expectUntouched(['deploy', 'start', '--model', BEST, '--name', 'faulty', '--build-docker'], 8, /container fw-[0-9a-f]{12}-faulty-v1 was not healthy within 1000 ms/);
    } finally {
      fs.writeFileSync(cfg, original);
      await runCli(ws, ['agent', 'stop']);
    }
  }, 300_000);

  it('Ctrl-C during a deploy cancels it: the container and image are removed, nothing is registered', async () => {
    const before = await snapshotState(ws);
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin/frameworm.js'), 'deploy', 'start', '--model', BEST, '--name', 'faulty', '--build-docker', '--workspace', ws], { stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code, sig) => resolve(code ?? (sig ? -1 : null))));
    // Wait until the container of the new version exists, then interrupt the CLI.
    let seen = false;
    // (up to 10 min: on a vfs daemon the build before it copies the whole rootfs per layer)
    for (const until = Date.now() + 600_000; !seen && Date.now() < until; ) {
      const all = await client.docker.listContainers({ all: true, filters: { name: [`fw-${workspaceLabel}-faulty-v1`] } });
      seen = all.length > 0;
      if (!seen) await new Promise((r) => setTimeout(r, 100));
    }
    expect(seen).toBe(true);
    child.kill('SIGINT');
    expect(await exited).not.toBe(0);
    // The agent cleans up in the background; give it a few seconds.
    let left: string[] = [];
    for (let i = 0; i < 100; i++) {
      const containers = await client.docker.listContainers({ all: true, filters: { label: ['frameworm.model=faulty'] } });
      const images = await client.docker.listImages({ filters: { label: ['frameworm.model=faulty'] } });
      left = [...containers.map((c) => `container ${c.Names.join(',')} ${c.State}`), ...images.map((im) => `image ${im.RepoTags?.join(',') ?? im.Id}`)];
      if (left.length === 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(left).toEqual([]);
    expect(await snapshotState(ws)).toBe(before);
    const log = fs.readFileSync(path.join(ws, '.frameworm/agent.log'), 'utf8');
    expect(log).not.toMatch(/unhandled/i);
  }, 900_000);

  it('a daemon that does not answer is named, before any export', async () => {
    const cfg = path.join(ws, 'configs/deploy_config.yaml');
    const original = fs.readFileSync(cfg, 'utf8');
    fs.writeFileSync(cfg, `${original}  docker_socket: /tmp/frameworm-no-such-docker.sock\n`);
    await runCli(ws, ['agent', 'stop']);
    try {
      await expectUntouched(
        ['deploy', 'start', '--model', BEST, '--name', 'faulty', '--build-docker'],
        8,
        /Docker daemon not running \(socket \/tmp\/frameworm-no-such-docker\.sock missing\)/,
      );
    } finally {
      fs.writeFileSync(cfg, original);
      await runCli(ws, ['agent', 'stop']);
    }
  }, 120_000);
});

describe('model names that differ only in case (issue 8, defect 10)', () => {
  const h8 = (s: string): string => crypto.createHash('sha256').update(s).digest('hex').slice(0, 8);

  it('names that can never be an image reference are refused at deploy start with the rule (exit 2)', async () => {
    for (const bad of ['a.', 'a..b', 'probe_']) {
      const r = await runCli(ws, ['deploy', 'start', '--model', BEST, '--name', bad, '--build-docker']);
      expect(r.stderr).toMatch(/cannot name a Docker image: use letters and digits separated by single '\.', one or two '_' or any number of '-'/);
      expect(r.code).toBe(2);
    }
    expect(fs.existsSync(path.join(ws, 'experiments/deploy_exports/a.'))).toBe(false);
  }, 120_000);

  it('PROBE-Upper and probe-upper get distinct image tags, and each compose file names its own image', async () => {
    const names = ['PROBE-Upper', 'probe-upper'];
    const expected: Record<string, string> = { 'PROBE-Upper': `frameworm/probe-upper-${h8('PROBE-Upper')}:v1`, 'probe-upper': 'frameworm/probe-upper:v1' };
    for (const name of names) {
      const doc = await cliJson<StartDoc>(ws, ['deploy', 'start', '--model', BEST, '--name', name, '--build-docker', '--stage', 'staging']);
      expect(doc).toMatchObject({ name, version: 'v1', stage: 'staging', target: 'docker' });
    }
    const digests = new Set<string>();
    for (const name of names) {
      const s = await cliJson<StatusDoc>(ws, ['deploy', 'status', '--name', name]);
      const v1 = s.versions[0];
      expect(v1?.artifacts['image']).toBe(expected[name]);
      const digest = String(v1?.lineage['image_digest']);
      digests.add(digest);
      // The tag points at this model's image, labelled with the exact (case-kept) name.
      expect(await client.imageId(expected[name] ?? '')).toBe(digest);
      const image = await client.docker.getImage(digest).inspect();
      expect(image.Config.Labels['frameworm.model']).toBe(name);
      const compose = fs.readFileSync(path.join(ws, 'deploy/generated', name, 'docker-compose.yml'), 'utf8');
      expect(compose).toContain(`image: "${expected[name] ?? ''}"`);
      expect(compose).toContain(`FRAMEWORM_MODEL_NAME: "${name}"`);
    }
    expect(digests.size).toBe(2);
    const project = (name: string): string => /^name: "(.+)"$/m.exec(fs.readFileSync(path.join(ws, 'deploy/generated', name, 'docker-compose.yml'), 'utf8'))?.[1] ?? '';
    expect(project('PROBE-Upper')).not.toBe(project('probe-upper'));
  }, 900_000);
});
