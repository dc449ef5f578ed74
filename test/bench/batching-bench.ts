/**
 * Issue-12 batching benchmarks on the real compat checkpoints, batching on vs off measured in the
 * same run, in alternating rounds (so a change in the machine's other load falls on both alike):
 *
 * - DCGAN batch-1 requests at 16 concurrent clients over HTTP: throughput with dynamic batching /
 *   without (goal ≥ 2×), and p99 of both; JSON answers, and safetensors where the endpoint
 *   already answers `output_format: "safetensors"`.
 * - 1 client: /predict p50 with batching on vs off (goal ≤ +0.2 ms), and the same without HTTP.
 * - 8 concurrent DDPM requests of 50 steps: throughput with continuous batching / sequential
 *   (batching off: one request per worker at a time; goal ≥ 2×).
 *
 * The HTTP load runs in a child process (load-generator.ts). Both backends have the deployment
 * default of min(2, cores) workers. Server CPU time per request is reported beside each
 * throughput: on a machine shared with other work, wall-clock throughput follows the CPU share
 * the server happens to get, CPU per request does not. (Measured here: the compat DCGAN's and
 * DDPM ε-network's CPU time per row is the same at batch 1 and 16 on this CPU, so batching can
 * save only per-call and per-request overhead, not model work.)
 *
 * Run: `npm run build && node dist/test/bench/batching-bench.js` (about 2 minutes).
 */
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import type { ModelType } from '../../main/common/types.js';
import type { BatchingOptions, EmbeddedBackend } from '../../main/serving/embedded-backend.js';
import { StableEndpoint } from '../../main/serving/stable-endpoint.js';
import { BATCHING_OFF, exportCompat, loadBackend, type Exports } from '../integration/serving/batching-fixtures.js';
import { formatBenchTable, type BenchResult } from './embedded-bench.js';
import { loadInChild } from './child-load.js';
import type { LoadResult } from './load-generator.js';

const ON: BatchingOptions = { enabled: true, maxRows: 64, maxDelayMs: 2 };
const WORKERS = Math.min(2, os.availableParallelism());

/** A load result plus the server's CPU time per request (this process: HTTP, batcher, inference workers). */
interface Measured extends LoadResult {
  readonly cpuMsPerRequest: number;
}

/** CPU time of this process (all its threads) since `start`, ms. */
function cpuMsSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}

/**
 * `rounds` alternating rounds on the two ports; throughput pooled, latencies request-weighted.
 * The server's CPU time per request is measured too: on a machine shared with other work the
 * wall-clock throughput follows whatever CPU share the server gets, CPU per request does not.
 */
async function alternating(ports: readonly [number, number], concurrency: number, seconds: number, rounds: number, body: string): Promise<[Measured, Measured]> {
  const parts: [LoadResult[], LoadResult[]] = [[], []];
  const cpu: [number, number] = [0, 0];
  const requests: [number, number] = [0, 0];
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? [0, 1] : [1, 0];
    for (const i of order as (0 | 1)[]) {
      const c0 = process.cpuUsage();
      const result = await loadInChild(ports[i], concurrency, seconds / rounds, body);
      cpu[i] += cpuMsSince(c0);
      // The generator's one-second warm-up is served too: count its requests at the same rate.
      requests[i] += result.rps * (seconds / rounds + 1);
      parts[i].push(result);
    }
  }
  const merge = (rs: readonly LoadResult[], i: 0 | 1): Measured => {
    const n = rs.reduce((a, x) => a + x.rps, 0);
    return {
      rps: n / rs.length,
      p50: rs.reduce((a, x) => a + x.p50 * x.rps, 0) / n,
      p99: rs.reduce((a, x) => a + x.p99 * x.rps, 0) / n,
      failed: rs.reduce((a, x) => a + x.failed, 0),
      cpuMsPerRequest: cpu[i] / requests[i],
    };
  };
  return [merge(parts[0], 0), merge(parts[1], 1)];
}

interface Served {
  readonly endpoint: StableEndpoint;
  readonly backend: EmbeddedBackend;
  readonly port: number;
}

async function serve(exports: Exports, type: ModelType, batching: BatchingOptions, name: string): Promise<Served> {
  const backend = await loadBackend(exports, type, { batching, workers: WORKERS });
  const endpoint = new StableEndpoint({ name, port: 0 });
  await endpoint.switchBackend(backend);
  const { port } = await endpoint.listen();
  return { endpoint, backend, port };
}

async function close(s: Served): Promise<void> {
  await s.endpoint.close();
  await s.backend.dispose();
}

/** Whether the endpoint answers `output_format: "safetensors"` (H-tensors' work) yet. */
async function safetensorsWorks(port: number): Promise<boolean> {
  const res = await fetch(`http://127.0.0.1:${port}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ batch_size: 1, seed: 1, output_format: 'safetensors' }) });
  await res.arrayBuffer();
  return res.status === 200;
}

async function dcgan(exports: Exports): Promise<BenchResult[]> {
  const on = await serve(exports, 'dcgan', ON, 'dcgan-batched');
  const off = await serve(exports, 'dcgan', BATCHING_OFF, 'dcgan-unbatched');
  const rows: BenchResult[] = [];
  try {
    const formats: [string, string][] = [['JSON', '{"batch_size":1,"seed":{k}}']];
    if (await safetensorsWorks(on.port)) formats.unshift(['safetensors', '{"batch_size":1,"seed":{k},"output_format":"safetensors"}']);
    for (const [format, body] of formats) {
      const [b, u] = await alternating([on.port, off.port], 16, 12, 4, body);
      rows.push(
        { metric: `DCGAN batch-1 requests, 16 clients, ${format}: throughput without batching`, value: u.rps, unit: 'req/s', target: null, pass: null },
        { metric: `DCGAN batch-1 requests, 16 clients, ${format}: throughput with batching`, value: b.rps, unit: 'req/s', target: null, pass: null },
        { metric: `DCGAN 16 clients, ${format}: throughput with / without batching`, value: b.rps / u.rps, unit: '×', target: '≥ 2', pass: b.rps / u.rps >= 2 },
        { metric: `DCGAN 16 clients, ${format}: p99 without batching`, value: u.p99, unit: 'ms', target: null, pass: null },
        { metric: `DCGAN 16 clients, ${format}: p99 with batching (goal: no worse)`, value: b.p99, unit: 'ms', target: `≤ ${u.p99.toFixed(1)}`, pass: b.p99 <= u.p99 },
        { metric: `DCGAN 16 clients, ${format}: server CPU per request without batching`, value: u.cpuMsPerRequest, unit: 'ms', target: null, pass: null },
        { metric: `DCGAN 16 clients, ${format}: server CPU per request with batching`, value: b.cpuMsPerRequest, unit: 'ms', target: null, pass: null },
        { metric: `DCGAN 16 clients, ${format}: CPU-bound throughput with / without batching (CPU per request, without / with)`, value: u.cpuMsPerRequest / b.cpuMsPerRequest, unit: '×', target: null, pass: null },
        { metric: `DCGAN 16 clients, ${format}: failed requests (both)`, value: b.failed + u.failed, unit: '', target: '≤ 0', pass: b.failed + u.failed === 0 },
      );
      if (format === 'JSON') {
        const s = on.backend.batchingSnapshot()!;
        rows.push({ metric: 'DCGAN 16 clients: mean requests per model call with batching (all runs so far)', value: s.requests / s.calls, unit: 'req', target: null, pass: null });
      }
    }
    const [b1, u1] = await alternating([on.port, off.port], 1, 12, 6, '{"batch_size":1,"seed":{k}}');
    rows.push(
      { metric: 'DCGAN batch 1, 1 client: p50 without batching', value: u1.p50, unit: 'ms', target: null, pass: null },
      { metric: 'DCGAN batch 1, 1 client: p50 with batching', value: b1.p50, unit: 'ms', target: null, pass: null },
      { metric: 'DCGAN batch 1, 1 client: p50 with − without batching', value: b1.p50 - u1.p50, unit: 'ms', target: '≤ 0.2', pass: b1.p50 - u1.p50 <= 0.2 },
    );
  } finally {
    await close(on);
    await close(off);
  }
  return rows;
}

/** Wall time and CPU time of 8 concurrent DDPM requests of 50 steps on `backend`, ms. */
async function ddpmWave(backend: EmbeddedBackend, wave: number, cpu?: number[]): Promise<number> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await Promise.all(Array.from({ length: 8 }, (_, i) => backend.handlePredict({ batch_size: 1, num_steps: 50, seed: wave * 8 + i })));
  cpu?.push(cpuMsSince(c0));
  return performance.now() - t0;
}

async function ddpm(exports: Exports): Promise<BenchResult[]> {
  const on = await loadBackend(exports, 'ddpm', { batching: ON, workers: WORKERS });
  const off = await loadBackend(exports, 'ddpm', { batching: BATCHING_OFF, workers: WORKERS });
  try {
    await ddpmWave(on, 0);
    await ddpmWave(off, 0);
    const tOn: number[] = [];
    const tOff: number[] = [];
    const cOn: number[] = [];
    const cOff: number[] = [];
    for (let r = 1; r <= 4; r++) {
      if (r % 2 === 1) {
        tOn.push(await ddpmWave(on, r, cOn));
        tOff.push(await ddpmWave(off, r, cOff));
      } else {
        tOff.push(await ddpmWave(off, r, cOff));
        tOn.push(await ddpmWave(on, r, cOn));
      }
    }
    const mOn = median(tOn);
    const mOff = median(tOff);
    const s = on.batchingSnapshot()!;
    return [
      { metric: `8 concurrent DDPM requests, 50 steps, sequential (${WORKERS} at a time): throughput`, value: 8000 / mOff, unit: 'req/s', target: null, pass: null },
      { metric: '8 concurrent DDPM requests, 50 steps, continuous batching: throughput', value: 8000 / mOn, unit: 'req/s', target: null, pass: null },
      { metric: 'DDPM ×8: continuous / sequential throughput', value: mOff / mOn, unit: '×', target: '≥ 2', pass: mOff / mOn >= 2 },
      { metric: 'DDPM ×8: server CPU per request, sequential', value: median(cOff) / 8, unit: 'ms', target: null, pass: null },
      { metric: 'DDPM ×8: server CPU per request, continuous', value: median(cOn) / 8, unit: 'ms', target: null, pass: null },
      { metric: 'DDPM ×8: CPU-bound throughput, continuous / sequential', value: median(cOff) / median(cOn), unit: '×', target: null, pass: null },
      { metric: 'DDPM ×8, continuous: mean rows per ε call', value: s.rows / s.calls, unit: 'rows', target: null, pass: null },
    ];
  } finally {
    await on.dispose();
    await off.dispose();
  }
}

/**
 * The batcher's own cost for a lone caller, without HTTP: backend.handlePredict of a DCGAN
 * batch-1 request, batching on and off alternately, 1500 each (HTTP's noise on a shared
 * machine is larger than the difference).
 */
async function loneCaller(exports: Exports): Promise<BenchResult[]> {
  const on = await loadBackend(exports, 'dcgan', { batching: ON, workers: WORKERS });
  const off = await loadBackend(exports, 'dcgan', { batching: BATCHING_OFF, workers: WORKERS });
  try {
    const tOn: number[] = [];
    const tOff: number[] = [];
    for (let i = 0; i < 1600; i++) {
      for (const [b, times] of i % 2 ? ([[on, tOn], [off, tOff]] as const) : ([[off, tOff], [on, tOn]] as const)) {
        const t0 = performance.now();
        await b.handlePredict({ batch_size: 1, seed: i });
        if (i >= 100) times.push(performance.now() - t0);
      }
    }
    return [
      { metric: 'DCGAN batch 1, one caller in process (no HTTP): handlePredict p50 without batching', value: median(tOff), unit: 'ms', target: null, pass: null },
      { metric: 'DCGAN batch 1, one caller in process: p50 with − without batching', value: median(tOn) - median(tOff), unit: 'ms', target: '≤ 0.2', pass: median(tOn) - median(tOff) <= 0.2 },
    ];
  } finally {
    await on.dispose();
    await off.dispose();
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Every batching measurement; the exports land in a temporary folder that is removed. */
export async function runBatchingBench(): Promise<BenchResult[]> {
  const exports = await exportCompat(['dcgan', 'ddpm']);
  try {
    return [...(await dcgan(exports)), ...(await loneCaller(exports)), ...(await ddpm(exports))];
  } finally {
    exports.cleanup();
  }
}

const entry = process.argv[1];
if (entry && import.meta.url === pathToFileURL(path.resolve(entry)).href) {
  const t0 = performance.now();
  console.log(formatBenchTable(await runBatchingBench()));
  console.log(`\n${os.cpus().length} CPUs, Node ${process.version}; took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
