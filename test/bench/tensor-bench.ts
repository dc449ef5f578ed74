/**
 * Binary tensors and forwarding (issue 12 §2 and the docker-target line of its benchmark).
 *
 * 1. DCGAN batch 16 over HTTP (embedded runtime, one keep-alive client) against raw
 *    onnxruntime-node `session.run` on the same model and batch, in alternating order: the
 *    answer as safetensors (the gated ratio), as JSON arrays and as PNGs (reported).
 * 2. The docker target as deployed (stable endpoint → ContainerBackend → container) against the
 *    same container called directly, 16 concurrent keep-alive clients from a load generator in its
 *    own process, in alternating rounds; batch-1 JSON (the gated ratio) and batch-16 safetensors.
 *    A bare streaming proxy is measured beside them: the cost of any extra hop on this machine.
 *
 * Run alone: `npm run build && node dist/test/bench/tensor-bench.js [--no-docker]` (about a
 * minute for part 1; part 2 builds the compat DCGAN image on the cached offline base, ~2 min).
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-node';
import { decodeSafetensors } from '../../main/common/safetensors.js';
import { ensureOfflineBaseImage } from '../../main/docker/base-image.js';
import { ContainerBackend } from '../../main/docker/container-backend.js';
import { DockerClient, dockerSocketPath } from '../../main/docker/docker-client.js';
import { exportCheckpoint } from '../../main/export/checkpoint-exporter.js';
import { findPython } from '../../main/export/python-finder.js';
import { generateServer } from '../../main/generate/server-generator.js';
import { normals } from '../../main/sampling/noise.js';
import { EmbeddedBackend } from '../../main/serving/embedded-backend.js';
import { StableEndpoint } from '../../main/serving/stable-endpoint.js';
import { compatPath } from '../fixtures/inspect/compat.js';
import { formatBenchTable, type BenchResult } from './embedded-bench.js';
import { interleavedLoad } from './child-load.js';

const LABEL = 'frameworm.test';
const ST = 'application/vnd.safetensors';

export interface TensorBenchOptions {
  /** A connected docker client for part 2; null leaves part 2 out. */
  readonly docker: DockerClient | null;
  /** Timed requests per path in part 1 (default 60). */
  readonly requests?: number;
  /** Seconds per throughput measurement in part 2, split over the rounds (default 12). */
  readonly seconds?: number;
  /** Alternating rounds in part 2 (default 4). */
  readonly rounds?: number;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** POSTs and reads the whole answer; rejects on a non-200. */
function post(agent: http.Agent, port: number, body: string, headers: Record<string, string> = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/predict', method: 'POST', agent, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`HTTP ${res.statusCode}: ${Buffer.concat(chunks).toString().slice(0, 200)}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Part 1: DCGAN batch 16, HTTP answer formats against raw session.run. */
async function dcganFormats(exportDir: string, latent: number, hp: Record<string, unknown>, n: number): Promise<BenchResult[]> {
  const modelPath = path.join(exportDir, 'model.onnx');
  const raw = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential' });
  const z = new ort.Tensor('float32', normals(5, 0, 16 * latent), [16, latent]);
  const backend = await EmbeddedBackend.load({ name: 'dcgan', version: 'v1', type: 'dcgan', modelPath, threads: 1, model: { hyperParameters: hp } });
  const endpoint = new StableEndpoint({ name: 'dcgan', port: 0 });
  const { port } = await endpoint.listen();
  await endpoint.switchBackend(backend);
  // For information: the same with dynamic batching off (a lone request then never waits for company).
  const unbatched = await EmbeddedBackend.load({ name: 'dcgan', version: 'v1', type: 'dcgan', modelPath, threads: 1, model: { hyperParameters: hp }, batching: { enabled: false, maxRows: 64, maxDelayMs: 0 } });
  const unbatchedEndpoint = new StableEndpoint({ name: 'dcgan', port: 0 });
  const unbatchedPort = (await unbatchedEndpoint.listen()).port;
  await unbatchedEndpoint.switchBackend(unbatched);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const paths: { label: string; run: () => Promise<unknown> }[] = [
    { label: 'raw', run: () => raw.run({ z }) },
    { label: 'safetensors', run: () => post(agent, port, '{"batch_size":16,"seed":5,"output_format":"safetensors"}') },
    { label: 'safetensors (Accept)', run: () => post(agent, port, '{"batch_size":16,"seed":5}', { accept: ST }) },
    { label: 'json', run: () => post(agent, port, '{"batch_size":16,"seed":5}') },
    { label: 'png', run: () => post(agent, port, '{"batch_size":16,"seed":5,"output_format":"png"}') },
    { label: 'safetensors, batching off', run: () => post(agent, unbatchedPort, '{"batch_size":16,"seed":5,"output_format":"safetensors"}') },
  ];
  try {
    const answer = decodeSafetensors(await post(agent, port, '{"batch_size":16,"seed":5,"output_format":"safetensors"}'));
    if (answer.tensors.get('images')?.shape.join('x') !== '16x3x64x64') throw new Error('unexpected safetensors answer');
    for (let i = 0; i < 10; i++) for (const p of paths) await p.run();
    const times = paths.map(() => [] as number[]);
    for (let i = 0; i < n; i++) {
      // Alternating order, so a change in the machine's load falls on every path alike.
      const order = i % 2 === 0 ? paths.map((_, k) => k) : paths.map((_, k) => paths.length - 1 - k);
      for (const k of order) {
        const t0 = performance.now();
        await paths[k]!.run();
        times[k]!.push(performance.now() - t0);
      }
    }
    const [r, st, acc, json, png, off] = times.map(median) as [number, number, number, number, number, number];
    const ratio = st / r;
    return [
      { metric: 'DCGAN batch 16, raw session.run p50', value: r, unit: 'ms', target: null, pass: null },
      { metric: 'DCGAN batch 16 via HTTP, safetensors answer (output_format) p50', value: st, unit: 'ms', target: null, pass: null },
      { metric: 'DCGAN batch 16: HTTP safetensors / raw session.run', value: ratio, unit: '×', target: '≤ 1.5', pass: ratio <= 1.5 },
      { metric: 'DCGAN batch 16: HTTP safetensors (Accept header) / raw', value: acc / r, unit: '×', target: null, pass: null },
      { metric: 'DCGAN batch 16: HTTP JSON arrays / raw', value: json / r, unit: '×', target: null, pass: null },
      { metric: 'DCGAN batch 16: HTTP PNG / raw', value: png / r, unit: '×', target: null, pass: null },
      { metric: 'for information: DCGAN batch 16, HTTP safetensors with batching off / raw', value: off / r, unit: '×', target: null, pass: null },
    ];
  } finally {
    agent.destroy();
    await endpoint.close();
    await backend.dispose();
    await unbatchedEndpoint.close();
    await unbatched.dispose();
    await raw.release();
  }
}

/** Part 2: the docker target's stable endpoint against its container, same load. */
async function forwarding(client: DockerClient, workspace: string, seconds: number, rounds: number): Promise<BenchResult[]> {
  const run = `tensor-bench-${process.pid}`;
  const labels = { [LABEL]: run };
  const tag = `frameworm-bench/tensor-dcgan:${process.pid}`;
  let proxy: StableEndpoint | null = null;
  let bare: http.Server | null = null;
  let bareAgent: http.Agent | null = null;
  try {
    const base = await ensureOfflineBaseImage(client);
    const gen = generateServer({ workspace, name: 'compat-dcgan', version: 'v1', runtime: 'torch', docker: { baseImage: base.tag, installDeps: false } });
    const image = await client.buildImage(gen.dir, { tag, buildArgs: { BASE_IMAGE: base.tag, INSTALL_DEPS: '0' }, labels });
    const network = `fw-tensor-bench-${process.pid}`;
    await client.ensureNetwork(network, labels);
    const name = `fw-tensor-bench-${process.pid}`;
    const id = await client.runContainer({ image: tag, name, hostPort: 0, labels, network });
    const port = await client.publishedPort(id);
    await client.waitHealthy(id, 240_000);
    proxy = new StableEndpoint({ name: 'compat-dcgan', port: 0, maxConnections: 1024 });
    const proxyPort = (await proxy.listen()).port;
    await proxy.switchBackend(new ContainerBackend({ name: 'compat-dcgan', version: 'v1', type: 'dcgan', client, containerId: id, containerName: name, image: tag, imageId: image.id, hostPort: port, requestTimeoutMs: 30_000 }));
    // The floor for any forwarder on this machine: a bare streaming proxy (no parsing, no
    // measuring, no buffering), measured beside ours so the extra hop's own cost is visible.
    bareAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    const upstreamAgent = bareAgent;
    bare = http.createServer({ keepAlive: true }, (req, res) => {
      const headers: http.OutgoingHttpHeaders = { 'content-type': req.headers['content-type'] ?? 'application/json', 'content-length': req.headers['content-length'] ?? '0' };
      if (req.headers.accept) headers['accept'] = req.headers.accept;
      const up = http.request({ host: '127.0.0.1', port, path: '/predict', method: 'POST', agent: upstreamAgent, headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    await new Promise<void>((resolve) => bare!.listen(0, '127.0.0.1', resolve));
    const barePort = (bare.address() as AddressInfo).port;
    const rows: BenchResult[] = [];
    const cases = [
      { label: 'batch 1, JSON', body: '{"batch_size":1,"seed":{k}}', gate: true },
      { label: 'batch 16, safetensors', body: '{"batch_size":16,"seed":{k},"output_format":"safetensors"}', gate: false },
    ];
    for (const c of cases) {
      const [direct, viaEndpoint, viaBare] = await interleavedLoad([port, proxyPort, barePort], 16, seconds, rounds, c.body);
      const ratio = viaEndpoint!.rps / direct!.rps;
      rows.push(
        { metric: `container directly, ${c.label}, 16 clients: throughput`, value: direct!.rps, unit: 'req/s', target: null, pass: null },
        { metric: `docker target (stable endpoint → container), ${c.label}, 16 clients: throughput`, value: viaEndpoint!.rps, unit: 'req/s', target: null, pass: null },
        { metric: `docker target / container directly, ${c.label}: p50 ${viaEndpoint!.p50.toFixed(1)} vs ${direct!.p50.toFixed(1)} ms`, value: ratio, unit: '×', target: c.gate ? '≥ 0.95' : null, pass: c.gate ? ratio >= 0.95 : null },
        { metric: `for information: bare streaming proxy / container directly, ${c.label} (the floor of one extra hop here)`, value: viaBare!.rps / direct!.rps, unit: '×', target: null, pass: null },
        { metric: `failed requests, ${c.label}`, value: direct!.failed + viaEndpoint!.failed, unit: '', target: '= 0', pass: direct!.failed + viaEndpoint!.failed === 0 },
      );
    }
    return rows;
  } finally {
    if (proxy) await proxy.close();
    bareAgent?.destroy();
    if (bare) {
      bare.closeAllConnections();
      bare.close();
    }
    await client.removeLabelled(LABEL, run);
    await client.docker
      .getImage(tag)
      .remove()
      .catch(() => undefined);
  }
}

/** Runs both parts; the compat DCGAN is exported once into a temporary workspace that is removed. */
export async function runTensorBench(options: TensorBenchOptions): Promise<BenchResult[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-tensor-bench-'));
  try {
    const workspace = path.join(dir, 'ws');
    const exportDir = path.join(workspace, 'experiments', 'deploy_exports', 'compat-dcgan', 'v1');
    const manifest = await exportCheckpoint({ python: await findPython(null), checkpoint: compatPath('dcgan', 'best.pt'), outDir: exportDir, type: 'auto' });
    const rows = await dcganFormats(exportDir, manifest.hyper_parameters['latent_dim'] as number, manifest.hyper_parameters, options.requests ?? 100);
    if (options.docker) rows.push(...(await forwarding(options.docker, workspace, options.seconds ?? 12, options.rounds ?? 4)));
    return rows;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const entry = process.argv[1];
if (entry && import.meta.url === pathToFileURL(path.resolve(entry)).href) {
  const t0 = performance.now();
  const docker = process.argv.includes('--no-docker') ? null : await DockerClient.connect(dockerSocketPath());
  console.log(formatBenchTable(await runTensorBench({ docker })));
  console.log(`\n${os.cpus().length} CPUs, Node ${process.version}; took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
