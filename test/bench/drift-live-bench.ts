/**
 * Drift monitoring on a real generator (issue 10): power on DCGAN outputs and the cost of live
 * monitoring to `/predict` throughput.
 *
 * Power (and false alarms) on 64×64 DCGAN outputs at n = 200: images come from the demo DCGAN
 * (examples/models/demo-dcgan/model.onnx, 64×64 RGB in [-1, 1]) run by onnxruntime-node on the
 * latents the server itself draws for `{batch_size, seed}` (gaussianTensor, stream 0). Every
 * trial feeds a fresh DriftTracker — the live monitor's own state machine — 25 requests of
 * batch 8 from seeds A (the traffic reference, 200 rows) and then 25 requests from seeds B (one
 * 200-row window), each turned into feature groups by FeatureExtractor.fromTraffic exactly as the
 * drift worker does (z rebuilt from the seed, batch_size, output image statistics, the ONNX
 * embedding, non-finite counts; Bonferroni over all of them). The window's images are perturbed
 * in [0, 1] pixel space before the features: none (false alarms), brightness × 1.1 clipped at 1,
 * or a separable Gaussian blur with σ = 1 per channel (kernel radius 3, edges replicated). The
 * three scenarios of a trial share its reference and its B seeds (a paired design; each rate is
 * still a fraction of independent trials). Permutations default to 200 instead of the live
 * default 500 to keep the runtime sane (B sets the p-value's resolution, not the test's level).
 *
 * Throughput: two workspaces whose configs differ only in `drift_enabled`, each with its own
 * real agent started by the CLI (`deploy start` of the demo DCGAN on the embedded runtime), and
 * the load generator (load-generator.ts) in a process of its own: 16 keep-alive clients POST
 * `{batch_size, seed}`. Runs alternate off/on, on/off, … five pairs; the row is the median of the
 * five per-pair ratios on/off. After each run the next starts only when the drift worker has
 * handled what it was sent (a `shift status` query is answered after the queued samples), so a
 * drift-on backlog never slows a drift-off run. The requests the monitor sampled in each on run
 * are reported too (a row with target > 0): a ratio means nothing if the monitor did no work.
 *
 * Run alone: `npx tsc -p tsconfig.json && node dist/test/bench/drift-live-bench.js
 * [--trials 40] [--permutations 200] [--seconds 8] [--batches 16,1] [--only power|throughput]`.
 */
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-node';
import { FeatureExtractor } from '../../main/drift/features/feature-extractor.js';
import { DriftTracker } from '../../main/drift/live/drift-tracker.js';
import type { DriftResult, GroupSamples } from '../../main/drift/stats/types.js';
import { gaussianTensor, INITIAL_NOISE_STREAM } from '../../main/sampling/noise.js';
import type { DeployStartResult, ShiftStatusView } from '../../preload/contract.js';
import { formatBenchTable, type BenchResult } from './embedded-bench.js';
import { loadInChild } from './child-load.js';
import type { LoadResult } from './load-generator.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** dist/test/bench → repository root. */
const REPO_ROOT = path.resolve(HERE, '../../..');
const MODEL = path.join(REPO_ROOT, 'examples/models/demo-dcgan/model.onnx');
const CLI = path.join(REPO_ROOT, 'bin/frameworm.js');
const LATENT_DIM = 32;
const SIDE = 64;
const CHANNELS = 3;
const WINDOW = 200;
/** Requests per window in the power trials (WINDOW / POWER_BATCH of them). */
const POWER_BATCH = 8;

export interface DriftLiveBenchOptions {
  /** Trials per power scenario (default 40). */
  readonly trials?: number;
  /** Permutations of each MMD test in the power trials (default 200). */
  readonly permutations?: number;
  /** Seconds per throughput run (default 8, after the load generator's 1 s warm-up). */
  readonly seconds?: number;
  /** Request batch sizes of the throughput rows (default [16, 1]). */
  readonly batches?: readonly number[];
  /** Pairs of on/off runs (default 5). */
  readonly pairs?: number;
  /** Concurrent clients (default 16). */
  readonly concurrency?: number;
}

type Perturbation = 'none' | 'brightness' | 'blur';

/** 95 % Wilson interval of a proportion, as "a–b %". */
function wilson(p: number, n: number): string {
  const z = 1.96;
  const centre = (p + (z * z) / (2 * n)) / (1 + (z * z) / n);
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / (1 + (z * z) / n);
  return `${(100 * Math.max(0, centre - half)).toFixed(1)}–${(100 * Math.min(1, centre + half)).toFixed(1)} %`;
}

/** The normalised 1-D Gaussian kernel of σ, radius ⌈3σ⌉. */
function gaussianKernel(sigma: number): Float64Array {
  const radius = Math.ceil(3 * sigma);
  const k = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    k[i + radius] = Math.exp(-(i * i) / (2 * sigma * sigma));
    sum += k[i + radius]!;
  }
  return k.map((v) => v / sum);
}

const BLUR_KERNEL = gaussianKernel(1);

/** Separable Gaussian blur of one H×W plane in place (edges replicated). */
function blurPlane(plane: Float32Array, height: number, width: number): void {
  const radius = (BLUR_KERNEL.length - 1) / 2;
  const tmp = new Float64Array(height * width);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let s = 0;
      for (let k = -radius; k <= radius; k++) s += BLUR_KERNEL[k + radius]! * plane[y * width + Math.min(width - 1, Math.max(0, x + k))]!;
      tmp[y * width + x] = s;
    }
  }
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let s = 0;
      for (let k = -radius; k <= radius; k++) s += BLUR_KERNEL[k + radius]! * tmp[Math.min(height - 1, Math.max(0, y + k)) * width + x]!;
      plane[y * width + x] = s;
    }
  }
}

/**
 * A copy of a DCGAN batch [B, 3, 64, 64] in [-1, 1] with `kind` applied in [0, 1] pixel space:
 * brightness multiplies by 1.1 and clips at 1; blur is σ = 1 per channel.
 */
export function perturb(images: Float32Array, kind: Perturbation): Float32Array {
  const unit = images.map((v) => (v + 1) / 2);
  if (kind === 'brightness') for (let i = 0; i < unit.length; i++) unit[i] = Math.min(1, unit[i]! * 1.1);
  if (kind === 'blur') {
    const plane = SIDE * SIDE;
    for (let p = 0; p < unit.length / plane; p++) blurPlane(unit.subarray(p * plane, (p + 1) * plane), SIDE, SIDE);
  }
  return unit.map((v) => v * 2 - 1);
}

/** One served DCGAN request `{batch_size, seed}`: its images as the server computes them. */
async function generate(session: ort.InferenceSession, seed: number, batch: number): Promise<Float32Array> {
  const z = gaussianTensor(seed, INITIAL_NOISE_STREAM, [batch, LATENT_DIM]);
  const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', z.data, [batch, LATENT_DIM]) });
  return out[session.outputNames[0]!]!.data as Float32Array;
}

/** The drift worker's view of one request/answer pair. */
function traffic(fx: FeatureExtractor, seed: number, batch: number, images: Float32Array): Promise<GroupSamples[]> {
  const request = { batch_size: batch, seed };
  const response = { seed, batch_size: batch, images: { dims: [batch, CHANNELS, SIDE, SIDE], data: images } };
  return fx.fromTraffic('dcgan', request, response, { latentDim: LATENT_DIM });
}

/** Detection rates of each perturbation over `trials` independent reference/window pairs. */
async function powerRows(options: DriftLiveBenchOptions): Promise<BenchResult[]> {
  const trials = options.trials ?? 40;
  const permutations = options.permutations ?? 200;
  const session = await ort.InferenceSession.create(MODEL, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const fx = await FeatureExtractor.create();
  const kinds: Perturbation[] = ['none', 'brightness', 'blur'];
  const flagged = new Map<Perturbation, number>(kinds.map((k) => [k, 0]));
  const missedBy = new Map<Perturbation, Map<string, number>>(kinds.map((k) => [k, new Map()]));
  const requests = WINDOW / POWER_BATCH;
  const t0 = performance.now();
  try {
    for (let t = 0; t < trials; t++) {
      const refGroups: GroupSamples[][] = [];
      for (let i = 0; i < requests; i++) {
        const seed = 1_000_000 + t * 1000 + i;
        refGroups.push(await traffic(fx, seed, POWER_BATCH, await generate(session, seed, POWER_BATCH)));
      }
      const current: { seed: number; images: Float32Array }[] = [];
      for (let i = 0; i < requests; i++) {
        const seed = 2_000_000 + t * 1000 + i;
        current.push({ seed, images: await generate(session, seed, POWER_BATCH) });
      }
      for (const kind of kinds) {
        const tracker = new DriftTracker({ window: WINDOW, referenceSize: WINDOW, alpha: 0.05, permutations, seed: 7919 * (t + 1) });
        for (const groups of refGroups) tracker.add(groups);
        let result: DriftResult | null = null;
        for (const c of current) {
          const out = tracker.add(await traffic(fx, c.seed, POWER_BATCH, perturb(c.images, kind)));
          if (out && out !== 'reference') result = out.result;
        }
        if (!result) throw new Error('the power trial did not complete a window');
        if (result.drifted) {
          flagged.set(kind, flagged.get(kind)! + 1);
          const m = missedBy.get(kind)!;
          for (const g of result.groups) if (g.drifted) m.set(g.name, (m.get(g.name) ?? 0) + 1);
        }
      }
    }
  } finally {
    await fx.dispose();
    await session.release();
  }
  const seconds = (performance.now() - t0) / 1000;
  const rate = (k: Perturbation): number => flagged.get(k)! / trials;
  const which = (k: Perturbation): string =>
    [...missedBy.get(k)!.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([g, n]) => `${g} ${n}`)
      .join(', ') || 'none';
  const setup = `64×64 demo DCGAN, n = 200 (25 × batch 8), B = ${permutations}, ${trials} trials`;
  return [
    { metric: `false alarms, no perturbation, ${setup} (95 % CI ${wilson(rate('none'), trials)}; drifted groups: ${which('none')})`, value: 100 * rate('none'), unit: '%', target: '≤ 7', pass: rate('none') <= 0.07 },
    { metric: `power, brightness +10 % in [0, 1], ${setup} (95 % CI ${wilson(rate('brightness'), trials)}; drifted groups: ${which('brightness')})`, value: 100 * rate('brightness'), unit: '%', target: '≥ 90', pass: rate('brightness') >= 0.9 },
    { metric: `power, Gaussian blur σ = 1, ${setup} (95 % CI ${wilson(rate('blur'), trials)}; drifted groups: ${which('blur')})`, value: 100 * rate('blur'), unit: '%', target: '≥ 90', pass: rate('blur') >= 0.9 },
    { metric: 'wall time of the DCGAN power trials (generation + features + checks)', value: seconds, unit: 's', target: null, pass: null },
  ];
}

/** Runs `frameworm ARGS --workspace WS --json` and parses its answer. */
function cliJson<T>(ws: string, args: readonly string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args, '--workspace', ws, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as T) : reject(new Error(`frameworm ${args.join(' ')} exited ${code}: ${err.trim()}`))));
  });
}

function cliQuiet(ws: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args, '--workspace', ws], { stdio: 'ignore' });
    child.on('error', () => resolve());
    child.on('close', () => resolve());
  });
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** `/predict` throughput with drift on vs off, interleaved, per batch size. */
async function throughputRows(options: DriftLiveBenchOptions): Promise<BenchResult[]> {
  const seconds = options.seconds ?? 8;
  const pairs = options.pairs ?? 5;
  const concurrency = options.concurrency ?? 16;
  const batches = options.batches ?? [16, 1];
  const base = 41_000 + Math.floor(Math.random() * 200) * 20;
  const workspaces = [false, true].map((drift, i) => {
    const ws = fs.mkdtempSync(path.join(os.tmpdir(), `fw-drift-bench-${drift ? 'on' : 'off'}-`));
    fs.mkdirSync(path.join(ws, 'configs'), { recursive: true });
    fs.writeFileSync(path.join(ws, 'configs/deploy_config.yaml'), `deploy:\n  port_range_start: ${base + 10 * i}\n  drift_enabled: ${drift}\n`);
    return ws;
  });
  const [offWs, onWs] = workspaces as [string, string];
  const rows: BenchResult[] = [];
  try {
    const ports: number[] = [];
    for (const ws of workspaces) {
      const doc = await cliJson<DeployStartResult>(ws, ['deploy', 'start', '--model', MODEL, '--name', 'gan']);
      ports.push(Number(new URL(doc.endpoint ?? '').port));
    }
    const [offPort, onPort] = ports as [number, number];
    for (const batch of batches) {
      const body = `{"batch_size":${batch},"seed":{k}}`;
      const on: LoadResult[] = [];
      const off: LoadResult[] = [];
      const drains: number[] = [];
      // Samples the monitor took (and dropped) during each on run: a ratio means nothing if drift did no work.
      let statusAfter = await cliJson<ShiftStatusView>(onWs, ['shift', 'status', '--name', 'gan']);
      const sampledPerRun: number[] = [];
      const droppedPerRun: number[] = [];
      for (let p = 0; p < pairs; p++) {
        for (const which of p % 2 === 0 ? ['off', 'on'] : ['on', 'off']) {
          if (which === 'off') off.push(await loadInChild(offPort, concurrency, seconds, body));
          else {
            on.push(await loadInChild(onPort, concurrency, seconds, body));
            // Answered once the worker has handled every sample queued before it.
            const t0 = performance.now();
            const before = statusAfter;
            statusAfter = await cliJson<ShiftStatusView>(onWs, ['shift', 'status', '--name', 'gan']);
            drains.push((performance.now() - t0) / 1000);
            sampledPerRun.push(statusAfter.sampled - before.sampled);
            droppedPerRun.push(statusAfter.dropped - before.dropped);
          }
        }
      }
      const ratios = on.map((r, i) => r.rps / off[i]!.rps);
      const ratio = median(ratios);
      const failed = [...on, ...off].reduce((s, r) => s + r.failed, 0);
      const st = statusAfter;
      rows.push(
        { metric: `batch ${batch}: drift off /predict throughput (median of ${pairs} runs of ${seconds} s, ${concurrency} clients)`, value: median(off.map((r) => r.rps)), unit: 'req/s', target: null, pass: null },
        { metric: `batch ${batch}: drift on /predict throughput (median of ${pairs})`, value: median(on.map((r) => r.rps)), unit: 'req/s', target: null, pass: null },
        { metric: `batch ${batch}: drift on / off throughput, median of ${pairs} interleaved pairs (pairs: ${ratios.map((r) => r.toFixed(3)).join(', ')})`, value: ratio, unit: '×', target: '≥ 0.97', pass: ratio >= 0.97 },
        { metric: `batch ${batch}: drift off p50 latency (median of ${pairs})`, value: median(off.map((r) => r.p50)), unit: 'ms', target: null, pass: null },
        { metric: `batch ${batch}: drift on p50 latency (median of ${pairs})`, value: median(on.map((r) => r.p50)), unit: 'ms', target: null, pass: null },
        {
          metric: `batch ${batch}: requests the drift monitor sampled in each on run (${sampledPerRun.join(', ')}; dropped ${droppedPerRun.join(', ')}; ${st.tracker?.windows_checked ?? 0} windows checked so far), fewest`,
          value: Math.min(...sampledPerRun), unit: '', target: '> 0', pass: Math.min(...sampledPerRun) > 0,
        },
        { metric: `batch ${batch}: wait for the drift worker's backlog after an on run (median)`, value: median(drains), unit: 's', target: null, pass: null },
        { metric: `batch ${batch}: failed requests (all runs)`, value: failed, unit: '', target: '= 0', pass: failed === 0 },
      );
    }
  } finally {
    await Promise.all([cliQuiet(offWs, ['agent', 'stop']), cliQuiet(onWs, ['agent', 'stop'])]);
    for (const ws of workspaces) fs.rmSync(ws, { recursive: true, force: true });
  }
  return rows;
}

/** Power on DCGAN outputs, then the throughput cost of live drift monitoring. */
export async function runDriftLiveBench(options: DriftLiveBenchOptions & { readonly only?: 'power' | 'throughput' } = {}): Promise<BenchResult[]> {
  const rows: BenchResult[] = [];
  if (options.only !== 'throughput') rows.push(...(await powerRows(options)));
  if (options.only !== 'power') rows.push(...(await throughputRows(options)));
  return rows;
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const entry = process.argv[1];
if (entry && import.meta.url === pathToFileURL(path.resolve(entry)).href) {
  const num = (name: string): number | undefined => (argValue(name) === undefined ? undefined : Number(argValue(name)));
  const only = argValue('--only');
  const batches = argValue('--batches')?.split(',').map(Number);
  const rows = await runDriftLiveBench({
    ...(num('--trials') !== undefined ? { trials: num('--trials') } : {}),
    ...(num('--permutations') !== undefined ? { permutations: num('--permutations') } : {}),
    ...(num('--seconds') !== undefined ? { seconds: num('--seconds') } : {}),
    ...(num('--pairs') !== undefined ? { pairs: num('--pairs') } : {}),
    ...(batches ? { batches } : {}),
    ...(only === 'power' || only === 'throughput' ? { only } : {}),
  });
  console.log(formatBenchTable(rows));
}
