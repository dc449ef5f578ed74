/**
 * HTTP load generator for the benchmarks, run as its own process (see container-bench.ts):
 * `node load-generator.js '{"port":…,"concurrency":16,"seconds":10,"bodyTemplate":"{…{k}…}"}'`.
 * `concurrency` keep-alive loops POST /predict for `seconds` after a one-second warm-up; `{k}` in
 * the body becomes a fresh number per request (a new seed). Prints one JSON line
 * `{rps, p50, p99, failed}`; non-200 answers and socket errors count as failed.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';

export interface LoadConfig {
  readonly port: number;
  readonly concurrency: number;
  readonly seconds: number;
  readonly bodyTemplate: string;
}

export interface LoadResult {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly failed: number;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? NaN : (sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN);
}

function post(agent: http.Agent, port: number, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: '/predict', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export async function runLoad(config: LoadConfig): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: config.concurrency });
  let k = 0;
  const run = async (ms: number, latencies: number[] | null): Promise<number> => {
    let failed = 0;
    const until = performance.now() + ms;
    await Promise.all(
      Array.from({ length: config.concurrency }, async () => {
        while (performance.now() < until) {
          const t0 = performance.now();
          const ok = await post(agent, config.port, config.bodyTemplate.replace('{k}', String(k++))).then(
            (s) => s === 200,
            () => false,
          );
          if (!ok) failed++;
          else latencies?.push(performance.now() - t0);
        }
      }),
    );
    return failed;
  };
  try {
    await run(1000, null);
    const latencies: number[] = [];
    const t0 = performance.now();
    const failed = await run(config.seconds * 1000, latencies);
    const elapsed = (performance.now() - t0) / 1000;
    latencies.sort((a, b) => a - b);
    return { rps: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), failed };
  } finally {
    agent.destroy();
  }
}

const arg = process.argv[2];
if (arg) process.stdout.write(`${JSON.stringify(await runLoad(JSON.parse(arg) as LoadConfig))}\n`);
