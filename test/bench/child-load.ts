/**
 * Load from a separate process for the benchmarks: the load generator (load-generator.ts) runs
 * as a child, so the clients' own HTTP and JSON work does not share an event loop (or a CPU
 * share) with the endpoint under test.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadResult } from './load-generator.js';

const GENERATOR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'load-generator.js');

/** `concurrency` keep-alive clients POST /predict on `port` for `seconds` (see load-generator.ts). */
export function loadInChild(port: number, concurrency: number, seconds: number, bodyTemplate: string): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [GENERATOR, JSON.stringify({ port, concurrency, seconds, bodyTemplate })], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as LoadResult) : reject(new Error(`load generator exited ${code}`))));
  });
}

/**
 * Loads each port in turn for `seconds / rounds`, `rounds` times, reversing the order on odd
 * rounds (so drift of the machine's load hits both alike); merges each port's rounds
 * (throughput: the mean rate; latency: the request-weighted mean of the rounds' percentiles,
 * close to the pooled one for steady load; failures summed).
 */
export async function interleavedLoad(ports: readonly number[], concurrency: number, seconds: number, rounds: number, bodyTemplate: string): Promise<LoadResult[]> {
  const parts = ports.map(() => [] as LoadResult[]);
  for (let r = 0; r < rounds; r++) {
    const order = ports.map((_, i) => i);
    if (r % 2 === 1) order.reverse();
    for (const i of order) parts[i]!.push(await loadInChild(ports[i]!, concurrency, seconds / rounds, bodyTemplate));
  }
  return parts.map((rs) => {
    const requests = rs.reduce((sum, x) => sum + x.rps, 0);
    const weighted = (f: (x: LoadResult) => number): number => (requests > 0 ? rs.reduce((sum, x) => sum + f(x) * x.rps, 0) / requests : NaN);
    return { rps: requests / rs.length, p50: weighted((x) => x.p50), p99: weighted((x) => x.p99), failed: rs.reduce((sum, x) => sum + x.failed, 0) };
  });
}
