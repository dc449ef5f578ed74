/**
 * Benchmark of the docker target on the compat DCGAN: the generated image's size against its
 * offline base, a clean build (no cache) against a rebuild after a weights-only change, and the
 * container against the embedded runtime under 16 concurrent keep-alive clients.
 *
 * The gated comparison is like with like: the embedded backend with W inference workers
 * (W = min(2, cores), what `deploy start` gives) of one intra-op thread each, against a container
 * of the same image told FRAMEWORM_WORKERS=W and FRAMEWORM_THREADS=1. The runtimes cannot match
 * here: the offline base image has no onnxruntime (no PyPI), so the container serves the
 * TorchScript file while the embedded side serves the ONNX file of the same export; the rows say
 * so. The container as deployed (its defaults: one worker, one thread) is reported beside it,
 * for information only. The targets are measured in alternating rounds (A B C, C B A, …), each
 * from a load generator in its own process, so neither side owns a quiet stretch of the run.
 *
 * Everything it creates carries LABEL=RUN and is removed at the end; cached base images stay.
 * Run alone: `npm run build && node dist/test/bench/container-bench.js` (about 3 min with the
 * base image cached; its first build takes ~5 min more).
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import type { ModelType } from '../../main/common/types.js';
import { ensureOfflineBaseImage } from '../../main/docker/base-image.js';
import { DockerClient, dockerSocketPath, type BuildProgress } from '../../main/docker/docker-client.js';
import { exportCheckpoint } from '../../main/export/checkpoint-exporter.js';
import { findPython } from '../../main/export/python-finder.js';
import { interleavedLoad } from './child-load.js';
import { generateServer } from '../../main/generate/server-generator.js';
import { ContainerBackend } from '../../main/docker/container-backend.js';
import { EmbeddedBackend } from '../../main/serving/embedded-backend.js';
import { StableEndpoint } from '../../main/serving/stable-endpoint.js';
import { compatPath } from '../fixtures/inspect/compat.js';
import { formatBenchTable, type BenchResult } from './embedded-bench.js';

const LABEL = 'frameworm.test';

export interface ContainerBenchOptions {
  /** A connected client; default DockerClient.connect() (E_RUNTIME when dockerd is absent). */
  readonly client?: DockerClient;
  /** Seconds per throughput measurement (default 10). */
  readonly seconds?: number;
  /** Concurrent keep-alive clients (default 16). */
  readonly concurrency?: number;
  /** Alternating rounds each throughput measurement is split into (default 3). */
  readonly rounds?: number;
}


const secondsSince = (t0: number): number => (performance.now() - t0) / 1000;


/** A build that reuses no cached layer except the base image; returns the ids of the images it created (to remove the intermediate stage's). */
async function buildWithoutCache(client: DockerClient, dir: string, tag: string, buildArgs: Record<string, string>, labels: Record<string, string>): Promise<string[]> {
  const ids: string[] = [];
  await client.buildImage(dir, {
    tag,
    buildArgs,
    labels,
    nocache: true,
    onProgress: (e: BuildProgress) => {
      for (const m of (e.stream ?? '').matchAll(/^ ---> ([0-9a-f]{12})$/gm)) ids.push(m[1]!);
    },
  });
  return ids;
}

/** Removes untagged images a build left behind (never forced: one with children or a tag stays). */
async function removeLeftovers(client: DockerClient, ids: readonly string[], keep: ReadonlySet<string>): Promise<void> {
  for (const id of [...ids].reverse()) {
    const info = await client.docker
      .getImage(id)
      .inspect()
      .catch(() => null);
    if (!info || keep.has(info.Id) || (info.RepoTags ?? []).some((t) => t !== '<none>:<none>')) continue;
    await client.docker
      .getImage(info.Id)
      .remove()
      .catch(() => undefined);
  }
}

async function waitReady(port: number, timeoutMs: number): Promise<void> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    const status = await new Promise<number>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/ready', agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', () => resolve(0));
    });
    if (status === 200) return;
    if (performance.now() > until) throw new Error(`the container on port ${port} was not ready within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs every docker-target measurement and returns the table rows. */
export async function runContainerBench(options: ContainerBenchOptions = {}): Promise<BenchResult[]> {
  const seconds = options.seconds ?? 10;
  const concurrency = options.concurrency ?? 16;
  const rounds = options.rounds ?? 3;
  const client = options.client ?? (await DockerClient.connect(dockerSocketPath()));
  const run = `container-bench-${process.pid}`;
  const labels = { [LABEL]: run };
  const tag = `frameworm-bench/compat-dcgan:${process.pid}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-container-bench-'));
  const rows: BenchResult[] = [];
  const row = (metric: string, value: number, unit: string, target: string | null = null, pass: boolean | null = null): void => {
    rows.push({ metric, value, unit, target, pass });
  };
  let endpoint: StableEndpoint | null = null;
  let proxy: StableEndpoint | null = null;
  let backend: EmbeddedBackend | null = null;
  let created: string[] = [];
  let baseId = '';
  try {
    let t0 = performance.now();
    const base = await ensureOfflineBaseImage(client);
    baseId = base.id;
    const baseInfo = await client.docker.getImage(base.tag).inspect();
    row(base.built ? `offline base image ${base.tag} built (cold)` : `offline base image ${base.tag} found in the cache`, secondsSince(t0), 's');

    const workspace = path.join(dir, 'ws');
    const name = 'compat-dcgan';
    const exportDir = path.join(workspace, 'experiments', 'deploy_exports', name, 'v1');
    const manifest = await exportCheckpoint({ python: await findPython(null), checkpoint: compatPath('dcgan', 'best.pt'), outDir: exportDir, type: 'auto' });
    const gen = generateServer({ workspace, name, version: 'v1', runtime: 'torch', docker: { baseImage: base.tag, installDeps: false } });
    const buildArgs = { BASE_IMAGE: base.tag, INSTALL_DEPS: '0' };

    // (1)+(2) Clean build: every instruction of the generated Dockerfile runs, only FROM is reused.
    t0 = performance.now();
    created = await buildWithoutCache(client, gen.dir, tag, buildArgs, labels);
    const clean = secondsSince(t0);
    const image = await client.docker.getImage(tag).inspect();
    row('base image size', baseInfo.Size / 1e6, 'MB');
    row('generated DCGAN image size', image.Size / 1e6, 'MB');
    row('generated layers on top of the base (server + model/)', (image.Size - baseInfo.Size) / 1e6, 'MB');
    row('clean build of the generated image (no cache, base present)', clean, 's');

    t0 = performance.now();
    await client.buildImage(gen.dir, { tag, buildArgs, labels });
    row('rebuild with nothing changed (all layers cached)', secondsSince(t0), 's');

    // A weights-only change: one byte of model.onnx's weights flipped (the container serves the
    // TorchScript file, so the image stays valid); every other file is unchanged.
    const onnx = path.join(gen.dir, 'model', 'model.onnx');
    const bytes = fs.readFileSync(onnx);
    const at = Math.floor(bytes.length * 0.75);
    bytes[at] = bytes[at]! ^ 0x01;
    fs.writeFileSync(onnx, bytes);
    let steps = '';
    t0 = performance.now();
    await client.buildImage(gen.dir, { tag: `${tag}-weights`, buildArgs, labels, onProgress: (e) => {
        steps += e.stream ?? '';
      } });
    const rebuild = secondsSince(t0);
    const executed = steps.split(/\nStep /).filter((s) => !/Using cache/.test(s) && /^\d+\/\d+ : (COPY|RUN)/.test(s)).length;
    row('rebuild after a weights-only change (model/ layer)', rebuild, 's', '≤ 15', rebuild <= 15);
    row('COPY/RUN steps re-run by that rebuild', executed, '', '= 1', executed === 1);

    // (3) Container vs embedded runtime, same export, same requests.
    // As `deploy start` loads it (deploy.inference_workers: null → min(2, cores)).
    const workers = Math.min(2, os.availableParallelism());
    const network = `fw-bench-net-${process.pid}`;
    await client.ensureNetwork(network, labels);
    t0 = performance.now();
    const id = await client.runContainer({ image: tag, name: `fw-bench-dcgan-${process.pid}`, hostPort: 0, labels, network });
    const port = await client.publishedPort(id);
    await waitReady(port, 240_000);
    row('container create → /ready 200', secondsSince(t0), 's');
    // The like-with-like container: as many inference threads as the embedded backend has workers.
    const matchedId = await client.runContainer({
      image: tag,
      name: `fw-bench-dcgan-w${workers}-${process.pid}`,
      hostPort: 0,
      labels,
      network,
      env: { FRAMEWORM_WORKERS: String(workers), FRAMEWORM_THREADS: '1', OMP_NUM_THREADS: '1' },
    });
    const matchedPort = await client.publishedPort(matchedId);
    await waitReady(matchedPort, 240_000);

    endpoint = new StableEndpoint({ name, port: 0 });
    const embeddedPort = (await endpoint.listen()).port;
    backend = await EmbeddedBackend.load({ name, version: 'v1', type: manifest.type as ModelType, modelPath: path.join(exportDir, 'model.onnx'), threads: 1, workers, model: { hyperParameters: manifest.hyper_parameters } });
    await endpoint.switchBackend(backend);

    const cases: readonly { label: string; body: string; gate: boolean }[] = [
      { label: 'batch 1, JSON', body: '{"batch_size":1,"seed":{k}}', gate: true },
      { label: 'batch 16, PNG', body: '{"batch_size":16,"seed":{k},"output_format":"png"}', gate: false },
    ];
    // The docker target as deployed: the stable endpoint (latency tracking) in front of the container.
    proxy = new StableEndpoint({ name, port: 0 });
    const proxyPort = (await proxy.listen()).port;
    await proxy.switchBackend(
      new ContainerBackend({ name, version: 'v1', type: manifest.type as ModelType, client, containerId: id, containerName: `fw-bench-dcgan-${process.pid}`, image: tag, imageId: image.Id, hostPort: port, requestTimeoutMs: 30_000 }),
    );
    const w = `${workers} worker${workers === 1 ? '' : 's'} × 1 thread`;
    const targets = [
      { who: `embedded (onnxruntime-node, ${w})`, port: embeddedPort },
      { who: `container (TorchScript, ${w})`, port: matchedPort },
      { who: 'container as deployed (TorchScript, defaults: 1 worker × 1 thread)', port },
      { who: 'docker target as deployed (endpoint → default container)', port: proxyPort },
    ] as const;
    for (const c of cases) {
      const results = await interleavedLoad(targets.map((t) => t.port), concurrency, seconds, rounds, c.body);
      targets.forEach((t, i) => {
        const r = results[i]!;
        row(`${t.who} ${c.label}, ${concurrency} clients: throughput`, r.rps, 'req/s');
        row(`${t.who} ${c.label}, ${concurrency} clients: p50 latency`, r.p50, 'ms');
        row(`${t.who} ${c.label}, ${concurrency} clients: p99 latency`, r.p99, 'ms');
      });
      const [embedded, matched, deployed] = results;
      // Like with like (same workers and threads; only the runtime differs, see the file comment).
      const ratio = embedded!.rps / matched!.rps;
      row(`embedded / container throughput, same ${w}, ${c.label}`, ratio, '×', c.gate ? '≥ 1' : null, c.gate ? ratio >= 1 : null);
      // Unequal resources (the embedded deploy default against the container's): information only.
      row(`for information: embedded (${w}) / container as deployed (1 × 1), ${c.label}`, embedded!.rps / deployed!.rps, '×');
      const failed = results.reduce((sum, r) => sum + r.failed, 0);
      row(`failed requests, ${c.label} (non-200 or socket errors)`, failed, '', '= 0', failed === 0);
    }
    const stats = (await client.docker.getContainer(id).stats({ stream: false })) as { memory_stats?: { usage?: number } };
    row('container memory after the load', (stats.memory_stats?.usage ?? NaN) / 2 ** 20, 'MiB');
  } finally {
    if (endpoint) await endpoint.close();
    if (proxy) await proxy.close();
    if (backend) await backend.dispose();
    await client.removeLabelled(LABEL, run);
    await removeLeftovers(client, created, new Set([baseId]));
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

const entry = process.argv[1];
if (entry && import.meta.url === pathToFileURL(path.resolve(entry)).href) {
  const t0 = performance.now();
  console.log(formatBenchTable(await runContainerBench()));
  console.log(`\n${os.cpus().length} CPUs, Node ${process.version}; took ${secondsSince(t0).toFixed(1)} s`);
}
