/**
 * `frameworm deploy … --build-docker` end to end through the real CLI and its agent, against a
 * real dockerd (DESIGN §3–§6): build on the offline base image, serve the container behind the
 * stable endpoint, staging → promote, rollback with no failed request while traffic flows, a
 * container killed from outside (status shows it, the error rate sees it), stop removes the
 * container. Faults: dead daemon, bad base image mid-build, a taken port, a container that is
 * never healthy — each a one-line error that leaves the registry, the logs and Docker as they were.
 *
 * Needs dockerd: scripts/setup.sh --test installs and starts it. Fails (never skips) without it.
 */
import { spawn } from 'node:child_process';
import type { DeployStartResult as StartDoc, DeploymentStatus as StatusDoc } from '../../../preload/contract.js';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureOfflineBaseImage } from '../../../main/docker/base-image.js';
import { DEFAULT_SOCKET, DockerClient } from '../../../main/docker/docker-client.js';
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
    expect(info.Config.User).toBe('10001:10001');
    const bindings = Object.values(info.HostConfig.PortBindings ?? {}).flat() as { HostIp: string }[];
    expect(bindings.every((b) => b.HostIp === '127.0.0.1')).toBe(true);
    const image = await client.docker.getImage(v1Digest).inspect();
    expect(image.Config.Labels).toMatchObject({ 'frameworm.model': NAME, 'frameworm.version': 'v1', 'frameworm.type': 'dcgan' });
    expect(image.Config.Labels['frameworm.checkpoint_sha256']).toBe(s.versions[0]?.lineage['checkpoint_sha256']);

    // The generated folder is what a user would build by hand.
    const gen = path.join(ws, 'deploy/generated', NAME);
    for (const f of ['server.py', 'requirements.txt', 'Dockerfile', 'docker-compose.yml', 'model/model.torchscript.pt']) expect(fs.existsSync(path.join(gen, f)), f).toBe(true);
    expect(fs.readFileSync(path.join(gen, 'docker-compose.yml'), 'utf8')).toContain(`127.0.0.1:${new URL(endpoint).port}:8080`);

    const human = await runCli(ws, ['deploy', 'status', '--name', NAME]);
    expect(human.stdout).toMatch(/container fw-[0-9a-f]{12}-dcgan-docker-v1 \([0-9a-f]{12}\): running, health healthy/);
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
    const agent = JSON.parse(fs.readFileSync(path.join(ws, '.frameworm/agent.json'), 'utf8')) as { pid: number };
    process.kill(agent.pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
    expect((await ourContainers()).map((c) => c.id)).toEqual([before.container?.id]);
    const s = await status();
    expect(s.container?.state).toBe('running');
    expect(s.container?.id).not.toBe(before.container?.id);
    expect((await ourContainers()).map((c) => c.id)).toEqual([s.container?.id]);
    const events = fs.readFileSync(path.join(ws, 'experiments/deploy_logs', `${NAME}.jsonl`), 'utf8');
    expect(events.match(/"event":"restore"/g)).toHaveLength(2);
  }, 300_000);

  it('a container killed from outside shows in status and in the error rate', async () => {
    const before = await status();
    await client.docker.getContainer(before.container?.id ?? '').kill();
    const p = await postJson(`${endpoint}/predict`, { batch_size: 1, seed: 1 });
    expect(p.status).toBe(500);
    expect(String(p.json['error'])).toMatch(/container fw-.*-v1 \(v1\) is not answering/);
    const s = await status();
    expect(s.container).toMatchObject({ state: 'exited', running: false });
    expect(s.metrics?.error_rate).toBeGreaterThan(0);
    const human = await runCli(ws, ['deploy', 'status', '--name', NAME]);
    expect(human.stdout).toMatch(/container fw-.*: exited exit \d+/);
  }, 120_000);

  it('stop removes the container and archives the version', async () => {
    const r = await cliJson<{ stopped_version: string; archived: boolean }>(ws, ['deploy', 'stop', '--name', NAME]);
    expect(r).toMatchObject({ stopped_version: 'v1', archived: true });
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
      const t0 = Date.now();
      await expectUntouched(['deploy', 'start', '--model', BEST, '--name', 'faulty', '--build-docker', '--port', String(PORT_BASE + 50)], 7, /port 24050 on 127\.0\.0\.1 is already in use/);
      expect(Date.now() - t0).toBeLessThan(30_000);
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
