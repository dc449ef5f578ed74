/**
 * Bounds on elapsed time that used to be asserted inside ordinary tests. A test checks what
 * happens (the 504, the 413, the refusal); how fast it happens depends on the machine and its
 * other tenants, so it is measured here, beside the other speeds, and reported against targets.
 *
 * Rows: the 504 after a request timeout (a 16,384-row body included), the 500 of a request
 * queued behind a crashed inference worker, close() with an idle keep-alive client, the 413 of a
 * 100 MB upload (declared and chunked), inspecting the 5.6 MB VAE checkpoint, the noise
 * generator's throughput and, with Docker, `deploy start --build-docker` refusing a taken port.
 *
 * Run alone: `npm run build && node dist/test/bench/timing-bench.js` (about 20 s without Docker).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { inspectModelFile } from '../../main/inspect/inspect.js';
import { normals } from '../../main/sampling/noise.js';
import { EmbeddedBackend } from '../../main/serving/embedded-backend.js';
import { TEST_HOOKS_ENV } from '../../main/serving/model-session.js';
import { StableEndpoint } from '../../main/serving/stable-endpoint.js';
import { REPO_ROOT, compatPath } from '../fixtures/inspect/compat.js';
import { predict } from '../integration/serving/http-client.js';
import { makeModelDir, type ModelDir } from '../unit/serving/model-fixtures.js';
import { formatBenchTable, type BenchResult } from './embedded-bench.js';

export interface TimingBenchOptions {
  /** Also time the Docker refusal of a taken port (needs a reachable dockerd). */
  readonly docker?: boolean;
}

const X = [[0.5, -1, 2, 0.25]];
/** A batch that takes the slow fixture model about a second on one core. */
const BIG = { inputs: { x: Array.from({ length: 16384 }, () => [0, 0, 0, 0]) } };

function row(metric: string, value: number, unit: string, max: number): BenchResult {
  return { metric, value, unit, target: `≤ ${max}`, pass: value <= max };
}

/** Runs `fn` on a fresh endpoint + embedded backend and disposes both afterwards. */
async function withEndpoint<T>(
  modelPath: string,
  options: { requestTimeoutMs?: number; maxBatchSize?: number; testHooks?: boolean },
  fn: (ep: StableEndpoint, backend: EmbeddedBackend) => Promise<T>,
): Promise<T> {
  const ep = new StableEndpoint({ name: 'mlp', port: 0, ...(options.requestTimeoutMs ? { requestTimeoutMs: options.requestTimeoutMs } : {}) });
  await ep.listen();
  // The crash hook is obeyed only by workers loaded with the test switch on; it is set just for this load.
  if (options.testHooks) process.env[TEST_HOOKS_ENV] = '1';
  const backend = await EmbeddedBackend.load({ name: 'mlp', version: 'v1', type: 'generic', modelPath, threads: 1, maxBatchSize: options.maxBatchSize ?? 64 }).finally(() => {
    if (options.testHooks) delete process.env[TEST_HOOKS_ENV];
  });
  try {
    await ep.switchBackend(backend);
    return await fn(ep, backend);
  } finally {
    await ep.close();
    await backend.dispose();
  }
}

/** Streams `total` bytes at /predict; resolves with the status and the ms until the answer ended. */
function upload(url: string, total: number, declareLength: boolean): Promise<{ status: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (declareLength) headers['content-length'] = String(total);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    let sent = 0;
    let done = false;
    const t0 = performance.now();
    const req = http.request(`${url}/predict`, { method: 'POST', headers, agent }, (res) => {
      res.resume();
      res.on('end', () => {
        done = true;
        req.destroy();
        agent.destroy();
        resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 });
      });
    });
    req.on('error', (err) => {
      if (!done) reject(err);
    });
    const pump = (): void => {
      while (!done && sent < total) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      if (!done) req.end();
    };
    pump();
  });
}

async function servingRows(models: ModelDir): Promise<BenchResult[]> {
  const rows: BenchResult[] = [];
  rows.push(
    await withEndpoint(models.slow, { requestTimeoutMs: 150, maxBatchSize: 20_000 }, async (ep) => {
      const t0 = performance.now();
      const res = await predict(ep.url, BIG);
      if (res.status !== 504) throw new Error(`expected 504 after the 150 ms timeout, got ${res.status}`);
      return row('504 after a 150 ms request timeout (16,384-row body included)', performance.now() - t0, 'ms', 1000);
    }),
  );
  rows.push(
    await withEndpoint(models.slow, { maxBatchSize: 20_000, testHooks: true }, async (ep, backend) => {
      const slow = predict(ep.url, BIG);
      await new Promise((r) => setTimeout(r, 100)); // the big batch is now inside onnxruntime
      const crashed = backend.session.crashWorker(0);
      const t0 = performance.now();
      const queued = await predict(ep.url, { inputs: { x: X } });
      const ms = performance.now() - t0;
      await crashed;
      await slow;
      if (queued.status !== 500) throw new Error(`expected 500 behind a crashed worker, got ${queued.status}`);
      return row('500 for a request queued behind a crashed inference worker', ms, 'ms', 15_000);
    }),
  );
  {
    const ep = new StableEndpoint({ name: 'mlp', port: 0 });
    await ep.listen();
    const backend = await EmbeddedBackend.load({ name: 'mlp', version: 'v1', type: 'generic', modelPath: models.mlp, threads: 1 });
    await ep.switchBackend(backend);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    await predict(ep.url, { inputs: { x: X } }, agent);
    const t0 = performance.now();
    await ep.close();
    rows.push(row('close() with an idle keep-alive client (no wait for its 30 s timeout)', performance.now() - t0, 'ms', 2000));
    agent.destroy();
    await backend.dispose();
  }
  for (const [what, declared] of [['Content-Length', true], ['chunked', false]] as const) {
    rows.push(
      await withEndpoint(models.mlp, {}, async (ep) => {
        const r = await upload(ep.url, 100 * 1024 * 1024, declared);
        if (r.status !== 413) throw new Error(`expected 413 for a 100 MB body, got ${r.status}`);
        return row(`413 for a 100 MB body (${what})`, r.ms, 'ms', 5000);
      }),
    );
  }
  return rows;
}

async function inspectRow(): Promise<BenchResult> {
  const file = compatPath('vae', 'best.pt');
  await inspectModelFile(file); // warm the JIT and the page cache
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await inspectModelFile(file);
    times.push(performance.now() - t0);
  }
  return row('inspect the 5.6 MB vae checkpoint (best of 5)', Math.min(...times), 'ms', 100);
}

function noiseRow(): BenchResult {
  const n = 4_000_000;
  normals(1, 0, n); // warm the JIT
  let best = 0;
  for (let rep = 0; rep < 3; rep++) {
    const t0 = performance.now();
    normals(1, rep, n);
    best = Math.max(best, n / ((performance.now() - t0) / 1000));
  }
  // The floor is far below the target: it catches BigInt arithmetic creeping into the hot loop.
  return { metric: 'noise.normals throughput (best of 3 × 4M)', value: best / 1e6, unit: 'M/s', target: '≥ 2', pass: best >= 2e6 };
}

/** `deploy start --build-docker --port P` with P taken: exit 7 before anything is built. */
async function takenPortRow(): Promise<BenchResult> {
  const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-timing-bench-'));
  fs.mkdirSync(path.join(ws, 'configs'));
  fs.writeFileSync(path.join(ws, 'configs', 'deploy_config.yaml'), 'deploy:\n  port_range_start: 47300\n');
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as net.AddressInfo).port;
  const cli = (args: readonly string[]): Promise<number> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin', 'frameworm.js'), ...args, '--workspace', ws], { stdio: 'ignore' });
      child.on('error', reject);
      child.on('close', (code) => resolve(code ?? -1));
    });
  try {
    const t0 = performance.now();
    const code = await cli(['deploy', 'start', '--model', compatPath('dcgan', 'best.pt'), '--name', 'faulty', '--build-docker', '--port', String(port)]);
    const ms = performance.now() - t0;
    if (code !== 7) throw new Error(`expected exit 7 for a taken port, got ${code}`);
    return row('deploy start --build-docker refusing a taken --port (exit 7)', ms, 'ms', 30_000);
  } finally {
    blocker.close();
    await cli(['agent', 'stop']);
    fs.rmSync(ws, { recursive: true, force: true });
  }
}

/** Runs every timing measurement and returns the table rows. */
export async function runTimingBench(options: TimingBenchOptions = {}): Promise<BenchResult[]> {
  const models = makeModelDir({ slow: true });
  try {
    const rows = [...(await servingRows(models)), await inspectRow(), noiseRow()];
    if (options.docker) rows.push(await takenPortRow());
    return rows;
  } finally {
    models.cleanup();
  }
}

const entry = process.argv[1];
if (entry && import.meta.url === pathToFileURL(path.resolve(entry)).href) {
  console.log(formatBenchTable(await runTimingBench({ docker: process.argv.includes('--docker') })));
}
