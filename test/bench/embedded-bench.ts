/**
 * Benchmark of the embedded runtime against raw onnxruntime on the same model.
 *
 * The raw baseline is onnxruntime-node `session.run` on worker threads (raw-ort-worker.ts), as
 * many as the embedded backend has and with the same intra-op threads and wake-up spin, so it
 * gets the same concurrency: the two paths differ only by the serving stack (HTTP, JSON,
 * validation, metrics). The paths are measured in alternating rounds (raw, embedded, embedded,
 * raw, …), so a change in the machine's other load during the run falls on both alike.
 *
 * Measures: raw and `/predict` latency (keep-alive, one client) and the overhead between them;
 * throughput with 1 and 16 concurrent callers, raw vs embedded; for information, raw
 * `session.run` on the main thread; the cost of recording one latency; memory of a
 * LatencyRecorder after 1k vs 1M requests. Prints a markdown table with targets and pass/fail.
 *
 * Run: `npm run build && node dist/test/bench/embedded-bench.js [--sizes 512x2048x1024x256]`
 * (about 40 s). The load generator runs in this process on node:http keep-alive agents, so the
 * embedded numbers also pay for the client's own work: a conservative measurement.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { buildMlp } from '../../scripts/lib/onnx-builder.js';
import { LatencyRecorder } from '../../main/metrics/latency-recorder.js';
import { EmbeddedBackend } from '../../main/serving/embedded-backend.js';
import { StableEndpoint } from '../../main/serving/stable-endpoint.js';
import type { RawAnswer, RawRequest, RawWorkerInit } from './raw-ort-worker.js';

export interface BenchResult {
  readonly metric: string;
  readonly value: number;
  readonly unit: string;
  /** Human-readable target, e.g. "≤ 0.5"; null when the row is informational. */
  readonly target: string | null;
  readonly pass: boolean | null;
}

export interface BenchOptions {
  /**
   * MLP layer sizes. The default (21 MB of weights) takes about 0.5 ms per batch-1 inference on
   * one core of the dev machine, the middle of the 0.2–1 ms range the benchmark is specified for.
   */
  readonly sizes?: readonly number[];
  /** Sequential requests for the latency rows (default 2000). */
  readonly latencyRequests?: number;
  /** Seconds per throughput measurement and path, split over the rounds (default 3). */
  readonly throughputSeconds?: number;
  /** Inference worker threads of both paths (default 1, as EmbeddedBackend). */
  readonly workers?: number;
  /** Alternating rounds each measurement is split into (default 4). */
  readonly rounds?: number;
}

const DEFAULT_SIZES = [512, 2048, 2048, 256] as const;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function summarize(samples: number[]): { p50: number; p99: number } {
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

/**
 * Calls `fn` back to back for `ms`: the JIT needs a few thousand requests to settle (measured:
 * the first second of HTTP traffic is up to 2× slower than the next).
 */
async function warmUp(ms: number, fn: () => Promise<unknown>): Promise<void> {
  const until = performance.now() + ms;
  while (performance.now() < until) await fn();
}

/** Times `n` sequential calls of `fn`; returns per-call ms. */
async function timeSequential(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

/**
 * The order of the paths in round `r`: forwards on even rounds, backwards on odd ones (A B, B A,
 * …), so neither path is always the one measured right after the other.
 */
function roundOrder<T>(paths: readonly T[], r: number): T[] {
  return r % 2 === 0 ? [...paths] : [...paths].reverse();
}

/** Per-call latencies of each path, `n` calls each, measured in `rounds` alternating rounds. */
async function interleavedLatency(paths: readonly (() => Promise<unknown>)[], n: number, rounds: number): Promise<number[][]> {
  const samples = paths.map(() => [] as number[]);
  const per = Math.ceil(n / rounds);
  for (let r = 0; r < rounds; r++) {
    for (const i of roundOrder(paths.map((_, k) => k), r)) samples[i]!.push(...(await timeSequential(per, paths[i]!)));
  }
  return samples;
}

/** Runs `concurrency` loops of `fn` for `seconds`; returns the calls completed and the seconds taken. */
async function timedLoops(concurrency: number, seconds: number, fn: () => Promise<unknown>): Promise<{ calls: number; seconds: number }> {
  const counter = { n: 0 };
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        await fn();
        counter.n++;
      }
    }),
  );
  return { calls: counter.n, seconds: (performance.now() - t0) / 1000 };
}

/** Calls per second of each path with `concurrency` callers, `seconds` each, in alternating rounds. */
async function interleavedThroughput(paths: readonly (() => Promise<unknown>)[], concurrency: number, seconds: number, rounds: number): Promise<number[]> {
  const totals = paths.map(() => ({ calls: 0, seconds: 0 }));
  for (let r = 0; r < rounds; r++) {
    for (const i of roundOrder(paths.map((_, k) => k), r)) {
      const t = await timedLoops(concurrency, seconds / rounds, paths[i]!);
      totals[i]!.calls += t.calls;
      totals[i]!.seconds += t.seconds;
    }
  }
  return totals.map((t) => t.calls / t.seconds);
}

/**
 * Raw onnxruntime on `workers` worker threads (raw-ort-worker.ts); each call goes to the worker
 * with the fewest calls in flight, as ModelSession dispatches.
 */
class RawWorkerPool {
  private readonly workers: { worker: Worker; inFlight: number }[] = [];
  private readonly pending = new Map<number, (data: Float32Array) => void>();
  private nextId = 0;

  static async start(count: number, init: RawWorkerInit): Promise<RawWorkerPool> {
    const pool = new RawWorkerPool();
    const url = new URL('./raw-ort-worker.js', import.meta.url);
    await Promise.all(
      Array.from({ length: count }, async () => {
        const worker = new Worker(url, { workerData: init });
        const entry = { worker, inFlight: 0 };
        await new Promise<void>((resolve, reject) => {
          worker.once('error', reject);
          worker.on('message', (msg: RawAnswer) => {
            if (msg.type === 'ready') return resolve();
            entry.inFlight--;
            const done = pool.pending.get(msg.id);
            pool.pending.delete(msg.id);
            done?.(msg.data);
          });
        });
        pool.workers.push(entry);
      }),
    );
    return pool;
  }

  run(data: Float32Array, dims: readonly number[]): Promise<Float32Array> {
    const entry = this.workers.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    const id = this.nextId++;
    entry.inFlight++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      entry.worker.postMessage({ id, data, dims } satisfies RawRequest);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}

/** One POST over a keep-alive agent; resolves when the whole answer is read, rejects on non-200. */
function post(agent: http.Agent, port: number, body: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: '/predict', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } },
      (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A `gc()` without --expose-gc, so the memory rows compare like with like. */
function getGc(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

function memoryRows(): BenchResult[] {
  const gc = getGc();
  const rec = new LatencyRecorder();
  const feed = (from: number, to: number): void => {
    for (let i = from; i < to; i++) rec.record(0.2 + (i % 5000) / 100, i % 100 === 0 ? 'server_error' : 'ok');
  };
  feed(0, 1000);
  gc();
  const a = process.memoryUsage();
  feed(1000, 1_000_000);
  gc();
  const b = process.memoryUsage();
  const heapDeltaMb = (b.heapUsed - a.heapUsed) / 2 ** 20;
  const rssDeltaMb = (b.rss - a.rss) / 2 ** 20;
  return [
    { metric: 'recorder heap after 1k requests', value: a.heapUsed / 2 ** 20, unit: 'MiB', target: null, pass: null },
    { metric: 'recorder heap after 1M requests', value: b.heapUsed / 2 ** 20, unit: 'MiB', target: null, pass: null },
    { metric: 'heap growth 1k → 1M requests', value: heapDeltaMb, unit: 'MiB', target: '≤ 1 (flat)', pass: heapDeltaMb <= 1 },
    { metric: 'RSS growth 1k → 1M requests', value: rssDeltaMb, unit: 'MiB', target: '≤ 8 (flat)', pass: rssDeltaMb <= 8 },
  ];
}

function recordCostRow(): BenchResult {
  const rec = new LatencyRecorder();
  for (let i = 0; i < 100_000; i++) rec.record((i % 997) / 10, 'ok');
  const n = 1_000_000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) rec.record((i % 997) / 10, i % 50 === 0 ? 'server_error' : 'ok');
  const ns = Number(process.hrtime.bigint() - t0) / n;
  return { metric: 'cost of recording one latency (1M records)', value: ns, unit: 'ns', target: '≤ 1000', pass: ns <= 1000 };
}

/** Runs every measurement and returns the table rows. */
export async function runEmbeddedBench(options: BenchOptions = {}): Promise<BenchResult[]> {
  const sizes = options.sizes ?? DEFAULT_SIZES;
  const n = options.latencyRequests ?? 2000;
  const seconds = options.throughputSeconds ?? 3;
  const workers = options.workers ?? 1;
  const rounds = options.rounds ?? 4;
  // The product's default (main/serving/model-session.ts): spin only where a core is left over.
  const spinMs = workers < os.availableParallelism() ? 1 : 0;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-bench-'));
  const modelPath = path.join(dir, 'mlp.onnx');
  fs.writeFileSync(modelPath, buildMlp(sizes));
  const inputSize = sizes[0]!;
  const row = Array.from({ length: inputSize }, (_, i) => Math.round(Math.sin(i) * 1000) / 1000);
  const body = Buffer.from(JSON.stringify({ inputs: { x: [row] } }));
  const rows: BenchResult[] = [];

  const mainThread = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential' });
  const mainInput = new ort.Tensor('float32', Float32Array.from(row), [1, inputSize]);
  const runMainThread = (): Promise<unknown> => mainThread.run({ x: mainInput });
  const pool = await RawWorkerPool.start(workers, { modelPath, spinMs });
  // A fresh input per call, as the embedded path decodes one from each request.
  const runRaw = (): Promise<unknown> => pool.run(Float32Array.from(row), [1, inputSize]);

  const backend = await EmbeddedBackend.load({ name: 'bench', version: 'v1', type: 'generic', modelPath, threads: 1, workers, spinMs });
  const endpoint = new StableEndpoint({ name: 'bench', port: 0 });
  const { port } = await endpoint.listen();
  await endpoint.switchBackend(backend);
  const agent1 = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const agent16 = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const embedded1 = (): Promise<void> => post(agent1, port, body);
  const embedded16 = (): Promise<void> => post(agent16, port, body);

  try {
    // Every path gets the JIT warm before anything is measured (HTTP needs a few thousand requests).
    await timedLoops(16, 2, embedded16);
    await warmUp(1000, embedded1);
    await timedLoops(16, 1, runRaw);
    await warmUp(500, runRaw);
    await warmUp(500, runMainThread);
    const [rawSamples, embSamples, mainSamples] = await interleavedLatency([runRaw, embedded1, runMainThread], n, rounds);
    const rawLat = summarize(rawSamples!);
    const embLat = summarize(embSamples!);
    const mainLat = summarize(mainSamples!);
    const overhead = embLat.p50 - rawLat.p50;
    endpoint.recorder().reset();
    await timeSequential(Math.min(n, 1000), embedded1);
    const serverSide = endpoint.recorder().snapshot();
    const where = `${workers} worker thread${workers === 1 ? '' : 's'}`;
    rows.push(
      { metric: `model: MLP ${sizes.join('×')}, batch 1, 1 intra-op thread, ${where} on both paths, ${rounds} alternating rounds`, value: NaN, unit: '', target: null, pass: null },
      { metric: `raw session.run p50 (${where})`, value: rawLat.p50, unit: 'ms', target: null, pass: null },
      { metric: `raw session.run p99 (${where})`, value: rawLat.p99, unit: 'ms', target: null, pass: null },
      { metric: 'embedded /predict p50 (keep-alive, 1 client)', value: embLat.p50, unit: 'ms', target: null, pass: null },
      { metric: 'embedded /predict p99 (keep-alive, 1 client)', value: embLat.p99, unit: 'ms', target: null, pass: null },
      { metric: 'overhead p50 (embedded − raw)', value: overhead, unit: 'ms', target: '≤ 0.5', pass: overhead <= 0.5 },
      { metric: 'embedded /predict p50 seen by the server (arrival → response end)', value: serverSide.p50_ms, unit: 'ms', target: null, pass: null },
      { metric: 'overhead p99 (embedded − raw)', value: embLat.p99 - rawLat.p99, unit: 'ms', target: null, pass: null },
      { metric: 'for information: raw session.run p50 on the main thread (no worker hand-off)', value: mainLat.p50, unit: 'ms', target: null, pass: null },
    );

    for (const c of [1, 16]) {
      const [rawRps, embRps] = await interleavedThroughput([runRaw, c === 1 ? embedded1 : embedded16], c, seconds, rounds);
      const ratio = embRps! / rawRps!;
      rows.push(
        { metric: `raw throughput, ${c} concurrent (${where})`, value: rawRps!, unit: 'req/s', target: null, pass: null },
        { metric: `embedded throughput, ${c} concurrent`, value: embRps!, unit: 'req/s', target: null, pass: null },
        { metric: `embedded / raw throughput, ${c} concurrent`, value: ratio, unit: '×', target: c === 16 ? '≥ 0.9' : null, pass: c === 16 ? ratio >= 0.9 : null },
      );
    }
    const m = endpoint.snapshot();
    rows.push({ metric: 'failed requests during the run (5xx + timeouts)', value: m.errors, unit: '', target: '= 0', pass: m.errors === 0 });
    // On a shared machine other tenants' load moves every number; a drift here says so.
    const rawAgain = summarize(await timeSequential(n, runRaw));
    rows.push({ metric: 'raw session.run p50 re-measured at the end (noise check)', value: rawAgain.p50, unit: 'ms', target: null, pass: null });
  } finally {
    agent1.destroy();
    agent16.destroy();
    await endpoint.close();
    await backend.dispose();
    await pool.close();
    await mainThread.release();
    fs.rmSync(dir, { recursive: true, force: true });
  }

  rows.push(recordCostRow(), ...memoryRows());
  return rows;
}

function fmt(v: number): string {
  if (Number.isNaN(v)) return '';
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(3);
}

/** Renders the rows as a markdown table. */
export function formatBenchTable(rows: readonly BenchResult[]): string {
  const lines = ['| metric | measured | target | result |', '|---|---:|---|---|'];
  for (const r of rows) {
    const result = r.pass === null ? '' : r.pass ? 'pass' : 'FAIL';
    lines.push(`| ${r.metric} | ${fmt(r.value)} ${r.unit} | ${r.target ? `${r.target} ${r.unit}` : ''} | ${result} |`);
  }
  return lines.join('\n');
}

/** `--sizes 512x1024x256` → [512, 1024, 256]. */
function sizesFromArgv(argv: readonly string[]): number[] | undefined {
  const i = argv.indexOf('--sizes');
  if (i < 0) return undefined;
  const sizes = (argv[i + 1] ?? '').split('x').map(Number);
  if (sizes.length < 2 || sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--sizes wants layer sizes like 512x2048x256');
  return sizes;
}

const entry = process.argv[1];
if (entry && import.meta.url === pathToFileURL(path.resolve(entry)).href) {
  const t0 = performance.now();
  const rows = await runEmbeddedBench({ sizes: sizesFromArgv(process.argv) });
  console.log(formatBenchTable(rows));
  console.log(`\n${os.cpus().length} CPUs, Node ${process.version}, onnxruntime-node ${ort.env.versions.node ?? '?'}; took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  // Informational: on a shared 2-core machine timings swing ±30 %, so a miss is reported, not fatal.
  const misses = rows.filter((r) => r.pass === false).length;
  if (misses > 0) console.log(`${misses} target(s) missed`);
}
