/**
 * Swarm target benchmark (issue 12): the compat DCGAN deployed through the real CLI and agent as
 * a Swarm service on this machine (a one-node swarm; made one when it is not).
 *
 * - Throughput at the stable endpoint, 16 keep-alive clients, batch-1 requests: 2 replicas vs 1,
 *   measured in interleaved rounds in the same run (reported; this machine's few cores bound it).
 * - Failed requests at the stable endpoint during a rolling update (promote v2) and during a task
 *   killed from outside (`docker kill` of one task's container), each under a steady load of
 *   4 clients (goal 0).
 *
 * The HTTP load for throughput runs in a child process (load-generator.ts); the fault loads are
 * in-process loops that count every non-200 answer and every socket error.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureOfflineBaseImage } from '../../main/docker/base-image.js';
import { DockerClient, dockerSocketPath } from '../../main/docker/docker-client.js';
import { SWARM_LABEL_WORKSPACE } from '../../main/docker/swarm-spec.js';
import type { DeployStartResult, DeploymentStatus } from '../../preload/contract.js';
import { compatPath } from '../fixtures/inspect/compat.js';
import { cliJson, disposeWorkspace, makeWorkspace } from '../integration/cli/cli-harness.js';
import type { BenchResult } from './embedded-bench.js';
import { loadInChild } from './child-load.js';
import type { LoadResult } from './load-generator.js';

export interface SwarmBenchOptions {
  readonly client?: DockerClient;
  /** Seconds of load per configuration (split into rounds; default 12). */
  readonly seconds?: number;
  readonly rounds?: number;
}

const NAME = 'bench-swarm';
const BODY = '{"batch_size":1,"seed":{k}}';

/** `clients` keep-alive loops until stop(); counts answers and failures (non-200 or no answer). */
function steadyLoad(port: number, clients: number): { stop: () => Promise<{ ok: number; failed: number }> } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  let running = true;
  let ok = 0;
  let failed = 0;
  let k = 0;
  const one = (): Promise<number> =>
    new Promise((resolve) => {
      const body = BODY.replace('{k}', String(k++));
      const req = http.request({ host: '127.0.0.1', port, path: '/predict', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', () => resolve(-1));
      });
      req.on('error', () => resolve(-1));
      req.end(body);
    });
  const loops = Array.from({ length: clients }, async () => {
    while (running) {
      if ((await one()) === 200) ok++;
      else failed++;
    }
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      agent.destroy();
      return { ok, failed };
    },
  };
}

async function waitFor<T>(probe: () => Promise<T | null>, boundMs = 180_000): Promise<T> {
  for (const until = Date.now() + boundMs; ; ) {
    const v = await probe();
    if (v !== null) return v;
    if (Date.now() > until) throw new Error(`condition not reached within ${boundMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function runSwarmBench(options: SwarmBenchOptions = {}): Promise<BenchResult[]> {
  const seconds = options.seconds ?? 12;
  const rounds = options.rounds ?? 2;
  const client = options.client ?? (await DockerClient.connect(dockerSocketPath()));
  const rows: BenchResult[] = [];
  const row = (metric: string, value: number, unit: string, target: string | null = null, pass: boolean | null = null): void => {
    rows.push({ metric, value, unit, target, pass });
  };
  await ensureOfflineBaseImage(client);
  const info = (await client.docker.info()) as { Swarm?: { LocalNodeState?: string } };
  if (info.Swarm?.LocalNodeState !== 'active') await client.docker.swarmInit({ ListenAddr: '127.0.0.1:2377', AdvertiseAddr: '127.0.0.1' });
  const ws = makeWorkspace(20_000 + Math.floor(Math.random() * 30_000), '  docker_base_image: offline\n  monitor_interval_s: 3600\n  drift_enabled: false\n');
  const workspaceLabel = crypto.createHash('sha256').update(fs.realpathSync(ws)).digest('hex').slice(0, 12);
  const status = (): Promise<DeploymentStatus> => cliJson<DeploymentStatus>(ws, ['deploy', 'status', '--name', NAME]);
  try {
    const started = await cliJson<DeployStartResult>(ws, ['deploy', 'start', '--model', compatPath('dcgan', 'best.pt'), '--name', NAME, '--target', 'swarm', '--replicas', '1']);
    const port = Number(new URL(started.endpoint ?? '').port);

    // Throughput: 1 replica vs 2, interleaved rounds (scale between them).
    const by = new Map<number, LoadResult[]>([[1, []], [2, []]]);
    for (let r = 0; r < rounds; r++) {
      for (const replicas of r % 2 === 0 ? [1, 2] : [2, 1]) {
        await cliJson(ws, ['deploy', 'scale', '--name', NAME, '--replicas', String(replicas)]).catch(() => undefined);
        by.get(replicas)?.push(await loadInChild(port, 16, seconds / rounds, BODY));
      }
    }
    const merged = (list: readonly LoadResult[]): { rps: number; p99: number; failed: number } => ({
      rps: list.reduce((s, x) => s + x.rps, 0) / list.length,
      p99: list.reduce((s, x) => s + x.p99, 0) / list.length,
      failed: list.reduce((s, x) => s + x.failed, 0),
    });
    const one = merged(by.get(1) ?? []);
    const two = merged(by.get(2) ?? []);
    row('swarm, 1 replica: DCGAN batch-1 throughput at 16 clients', one.rps, 'req/s');
    row('swarm, 2 replicas: DCGAN batch-1 throughput at 16 clients', two.rps, 'req/s');
    row('swarm throughput 2 replicas / 1 (reported; bounded by this machine\'s cores)', two.rps / one.rps, '×');
    row('swarm p99 at 16 clients, 1 replica / 2 replicas', one.p99 / two.p99, '×');
    row('failed requests in the throughput runs', one.failed + two.failed, '', '= 0', one.failed + two.failed === 0);

    // A rolling update under load.
    await cliJson(ws, ['deploy', 'scale', '--name', NAME, '--replicas', '2']);
    await cliJson(ws, ['deploy', 'start', '--model', compatPath('dcgan', 'final.pt'), '--name', NAME, '--target', 'swarm', '--stage', 'staging']);
    let traffic = steadyLoad(port, 4);
    const t0 = Date.now();
    await cliJson(ws, ['deploy', 'promote', '--name', NAME, '--version', 'v2', '--stage', 'production']);
    const updateS = (Date.now() - t0) / 1000;
    let counts = await traffic.stop();
    row('rolling update (promote v2, 2 replicas): duration', updateS, 's');
    row(`failed requests during the rolling update (of ${counts.ok + counts.failed})`, counts.failed, '', '= 0', counts.failed === 0);

    // A task killed from outside under load.
    const victim = (await status()).swarm?.tasks.find((t) => t.slot === 1);
    traffic = steadyLoad(port, 4);
    await new Promise((r) => setTimeout(r, 1000));
    const t1 = Date.now();
    await client.docker.getContainer(victim?.container_id ?? '').kill();
    await waitFor(async () => {
      const t = (await status()).swarm?.tasks.find((x) => x.slot === 1 && x.state === 'running');
      return t && t.id !== victim?.id && t.health === 'healthy' ? t : null;
    });
    const replaceS = (Date.now() - t1) / 1000;
    await new Promise((r) => setTimeout(r, 1000));
    counts = await traffic.stop();
    row('task killed (docker kill, 2 replicas): until its replacement is healthy', replaceS, 's');
    row(`failed requests during the task kill (of ${counts.ok + counts.failed})`, counts.failed, '', '= 0', counts.failed === 0);
  } finally {
    await disposeWorkspace(ws);
    const services = await client.docker.listServices({ filters: { label: [`${SWARM_LABEL_WORKSPACE}=${workspaceLabel}`] } }).catch(() => []);
    for (const s of services) await client.docker.getService(s.ID).remove().catch(() => undefined);
    const images = await client.docker.listImages({ filters: { label: [`frameworm.workspace=${workspaceLabel}`] } });
    for (const i of images) await client.docker.getImage(i.Id).remove({ force: true }).catch(() => undefined);
  }
  return rows;
}

// `node dist/test/bench/swarm-bench.js`: this benchmark alone.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { formatBenchTable } = await import('./embedded-bench.js');
  console.log(formatBenchTable(await runSwarmBench()));
}
