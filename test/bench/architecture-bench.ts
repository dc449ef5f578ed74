/**
 * Issue-3 benchmarks on the real FRAMEWORM compat checkpoints: export time per architecture,
 * the DDPM host sampler's overhead per step against bare ε-network calls, and DCGAN batch-16
 * generation through HTTP against raw `session.run`. Ratios are measured side by side.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import { exportCheckpoint } from '../../main/export/checkpoint-exporter.js';
import { readManifest } from '../../main/common/export-manifest.js';
import { findPython } from '../../main/export/python-finder.js';
import { sampleDdpm, type DdpmSchedule } from '../../main/sampling/diffusion-sampler.js';
import { normals } from '../../main/sampling/noise.js';
import { EmbeddedBackend } from '../../main/serving/embedded-backend.js';
import { ModelSession } from '../../main/serving/model-session.js';
import { StableEndpoint } from '../../main/serving/stable-endpoint.js';
import { compatPath } from '../fixtures/inspect/compat.js';
import type { BenchResult } from './embedded-bench.js';

const ARCHS = ['vae', 'dcgan', 'ddpm', 'vqvae2', 'vitgan', 'cfg_ddpm'] as const;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function rawSession(modelPath: string): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential' });
}

/** Runs every architecture measurement; exports land in a temporary folder that is removed. */
export async function runArchitectureBench(): Promise<BenchResult[]> {
  const rows: BenchResult[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-arch-bench-'));
  try {
    const python = await findPython(null);
    for (const arch of ARCHS) {
      const t0 = performance.now();
      await exportCheckpoint({ python, checkpoint: compatPath(arch, 'best.pt'), outDir: path.join(dir, arch), type: 'auto' });
      const wall = (performance.now() - t0) / 1000;
      const inside = readManifest(path.join(dir, arch)).export_seconds;
      rows.push({ metric: `export ${arch} (TorchScript + ONNX + parity; Python-side ${inside.toFixed(2)} s)`, value: wall, unit: 's', target: null, pass: null });
    }
    rows.push(...(await samplerOverhead(path.join(dir, 'ddpm'))));
    rows.push(...(await dcganHttp(path.join(dir, 'dcgan'))));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

/**
 * DDPM: a full sampler run vs the same number of bare ε calls, both through the embedded
 * runtime's worker-thread session (the path requests take).
 */
async function samplerOverhead(exportDir: string): Promise<BenchResult[]> {
  const manifest = readManifest(exportDir);
  const schedule = manifest.schedule as unknown as DdpmSchedule;
  const dims = [4, 3, 32, 32] as const;
  const session = await ModelSession.load({ modelPath: path.join(exportDir, 'model.onnx'), threads: 1, warmupDims: { x_t: [...dims], t: [dims[0]] } });
  const size = dims.reduce((a, b) => a * b, 1);
  const x = normals(1, 0, size);
  const runEps = async (xt: Float32Array, d: readonly number[], tt: BigInt64Array): Promise<Float32Array> =>
    (await session.run({ x_t: { dtype: 'float32', dims: [...d], data: xt.slice() }, t: { dtype: 'int64', dims: [tt.length], data: tt.slice() } }))['eps']!.data as Float32Array;
  const t = new BigInt64Array(dims[0]).fill(10n);
  const steps = schedule.betas.length;
  const bareTimes: number[] = [];
  const samplerTimes: number[] = [];
  try {
    for (let round = 0; round < 6; round++) {
      let t0 = performance.now();
      for (let i = 0; i < steps; i++) await runEps(x, dims, t);
      bareTimes.push((performance.now() - t0) / steps);
      t0 = performance.now();
      await sampleDdpm({ eps: runEps, schedule, shape: dims, numSteps: steps, seed: round });
      samplerTimes.push((performance.now() - t0) / steps);
    }
  } finally {
    await session.dispose();
  }
  // The first round warms both paths up.
  const b = median(bareTimes.slice(1));
  const s = median(samplerTimes.slice(1));
  const overhead = (s - b) / b;
  return [
    { metric: 'DDPM ε-network call through the runtime, batch 4 × 3×32×32', value: b, unit: 'ms/step', target: null, pass: null },
    { metric: `DDPM host sampler, same batch (${steps} steps: noise + update + ε)`, value: s, unit: 'ms/step', target: null, pass: null },
    { metric: 'DDPM sampler overhead per step vs bare ε call', value: overhead * 100, unit: '%', target: '≤ 5', pass: overhead <= 0.05 },
  ];
}

function post(agent: http.Agent, port: number, body: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/predict', method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** DCGAN batch 16 from `batch_size` + `seed` over HTTP vs raw session.run on a batch-16 z. */
async function dcganHttp(exportDir: string): Promise<BenchResult[]> {
  const manifest = readManifest(exportDir);
  const modelPath = path.join(exportDir, 'model.onnx');
  const latent = manifest.hyper_parameters['latent_dim'] as number;
  const raw = await rawSession(modelPath);
  const z = new ort.Tensor('float32', normals(5, 0, 16 * latent), [16, latent]);
  const backend = await EmbeddedBackend.load({ name: 'dcgan', version: 'v1', type: 'dcgan', modelPath, threads: 1, model: { hyperParameters: manifest.hyper_parameters } });
  const endpoint = new StableEndpoint({ name: 'dcgan', port: 0 });
  const { port } = await endpoint.listen();
  await endpoint.switchBackend(backend);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const body = JSON.stringify({ batch_size: 16, seed: 5 });
  const pngBody = JSON.stringify({ batch_size: 16, seed: 5, output_format: 'png' });
  try {
    for (let i = 0; i < 5; i++) {
      await raw.run({ z });
      await post(agent, port, body);
    }
    const rawTimes: number[] = [];
    const httpTimes: number[] = [];
    const pngTimes: number[] = [];
    for (let i = 0; i < 30; i++) {
      let t0 = performance.now();
      await raw.run({ z });
      rawTimes.push(performance.now() - t0);
      t0 = performance.now();
      await post(agent, port, body);
      httpTimes.push(performance.now() - t0);
      t0 = performance.now();
      await post(agent, port, pngBody);
      pngTimes.push(performance.now() - t0);
    }
    const r = median(rawTimes);
    const h = median(httpTimes);
    const p = median(pngTimes);
    return [
      { metric: 'DCGAN batch 16, raw session.run p50', value: r, unit: 'ms', target: null, pass: null },
      { metric: 'DCGAN batch 16 via HTTP (batch_size + seed, JSON images) p50', value: h, unit: 'ms', target: null, pass: null },
      { metric: 'DCGAN batch 16: HTTP / raw (JSON arrays: 196,608 floats to text)', value: h / r, unit: '×', target: null, pass: null },
      { metric: 'DCGAN batch 16 via HTTP, output_format png, p50', value: p, unit: 'ms', target: null, pass: null },
      { metric: 'DCGAN batch 16: HTTP png / raw', value: p / r, unit: '×', target: null, pass: null },
    ];
  } finally {
    agent.destroy();
    await endpoint.close();
    await backend.dispose();
    await raw.release();
  }
}
