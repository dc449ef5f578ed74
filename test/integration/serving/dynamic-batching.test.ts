/**
 * Dynamic batching on the embedded runtime (issue 12 §1), against real onnxruntime-node workers
 * running the exported compat checkpoints, and over real HTTP where the answer's form matters.
 */
import { describe, expect, it } from 'vitest';
import type { ModelType } from '../../../main/common/types.js';
import { FramewormError } from '../../../main/common/errors.js';
import { OverloadedError, type BatchClock } from '../../../main/serving/batching/overload.js';
import { TEST_HOOKS_ENV } from '../../../main/serving/model-session.js';
import { RequestError } from '../../../main/serving/schemas/types.js';
import { StableEndpoint } from '../../../main/serving/stable-endpoint.js';
import { BATCHING_OFF, flatten, maxDiff, plain } from './batching-fixtures.js';
import { compatBackends } from './batching-suite.js';
import { predict, request } from './http-client.js';

const ON = { enabled: true, maxRows: 64, maxDelayMs: 2 };
const TOLERANCE = 1e-5;

const backend = compatBackends(['dcgan', 'vitgan', 'vae', 'vqvae2'], {
  before: () => (process.env[TEST_HOOKS_ENV] = '1'),
  after: () => delete process.env[TEST_HOOKS_ENV],
});

/** Deterministic pseudo-random values in [lo, hi] (a linear congruential generator). */
function values(n: number, seed: number, lo: number, hi: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return lo + ((hi - lo) * s) / 2 ** 32;
  });
}

function nest(data: readonly number[], shape: readonly number[]): unknown {
  if (shape.length === 0) return data[0];
  const [head, ...rest] = shape;
  const inner = rest.reduce((a, b) => a * b, 1);
  return Array.from({ length: head! }, (_, i) => nest(data.slice(i * inner, (i + 1) * inner), rest));
}

/** Request bodies of mixed batch sizes for one architecture, and the output fields to compare. */
function mixedRequests(type: ModelType): { bodies: Record<string, unknown>[]; fields: string[] } {
  const sizes = [1, 3, 16, 2, 1, 5, 1, 4];
  switch (type) {
    case 'dcgan':
    case 'vitgan':
      // Half seeded latents (drawn on the host), half explicit z.
      return {
        bodies: sizes.map((b, i) => (i % 2 === 0 ? { batch_size: b, seed: 100 + i } : { z: nest(values(b * 32, i, -2, 2), [b, 32]) })),
        fields: ['images'],
      };
    case 'vae':
      return { bodies: sizes.map((b, i) => ({ x: nest(values(b * 3 * 32 * 32, i, 0, 1), [b, 3, 32, 32]) })), fields: ['reconstruction', 'mu', 'log_var'] };
    default:
      // VQ-VAE-2 takes any size that is a multiple of 16: two sizes, which cannot share a call.
      return {
        bodies: sizes.map((b, i) => {
          const s = i % 3 === 0 ? 32 : 16;
          return { x: nest(values(b * 3 * s * s, i, -1, 1), [b, 3, s, s]) };
        }),
        fields: ['reconstruction', 'commitment_loss'],
      };
  }
}

describe('dynamic batching', () => {
  it.each(['dcgan', 'vitgan', 'vae', 'vqvae2'] as const)('%s: concurrent requests of mixed batch sizes each get exactly their own rows (≤1e-5 of unbatched)', async (type) => {
    const batched = await backend(type, { batching: ON });
    const alone = await backend(type, { batching: BATCHING_OFF });
    const { bodies, fields } = mixedRequests(type);
    // All sent at once: the first runs alone at once, the others gather behind it.
    const answers = await Promise.all(bodies.map((b) => batched.handlePredict(structuredClone(b))));
    const snapshot = batched.batchingSnapshot()!;
    expect(snapshot.mode).toBe('dynamic');
    expect(snapshot.requests).toBe(bodies.length);
    expect(snapshot.calls).toBeLessThan(bodies.length);
    expect(snapshot.rows).toBe(bodies.reduce((a, b) => a + (flatten(b['z'] ?? b['x']).shape[0] ?? (b['batch_size'] as number)), 0));
    for (let i = 0; i < bodies.length; i++) {
      const want = plain(await alone.handlePredict(structuredClone(bodies[i]!)));
      const got = plain(answers[i]!);
      for (const field of fields) {
        const w = flatten(want[field]);
        const g = flatten(got[field]);
        expect(g.shape, `${type} request ${i} ${field}`).toEqual(w.shape);
        expect(maxDiff(g.data, w.data), `${type} request ${i} ${field}`).toBeLessThanOrEqual(TOLERANCE);
      }
      if (bodies[i]!['seed'] !== undefined) expect(got['seed']).toBe(bodies[i]!['seed']);
    }
    expect(alone.batchingSnapshot()).toBeNull();
  }, 120_000);

  it('with two workers, both take calls and every request still gets exactly its own rows', async () => {
    const batched = await backend('dcgan', { batching: ON, workers: 2 });
    const alone = await backend('dcgan', { batching: BATCHING_OFF });
    const bodies = Array.from({ length: 24 }, (_, i) => ({ batch_size: 1 + (i % 4), seed: 500 + i }));
    const answers = await Promise.all(bodies.map((b) => batched.handlePredict(b)));
    const snapshot = batched.batchingSnapshot()!;
    expect(snapshot.requests).toBe(24);
    // Two calls go out at once (one per worker); the rest gather behind them.
    expect(snapshot.calls).toBeLessThan(24);
    for (const [i, body] of bodies.entries()) {
      const want = flatten(plain(await alone.handlePredict(body))['images']);
      const got = flatten(plain(answers[i]!)['images']);
      expect(got.shape).toEqual(want.shape);
      expect(maxDiff(got.data, want.data)).toBeLessThanOrEqual(TOLERANCE);
    }
  }, 60_000);

  it('PNG and array answers in the same call are each encoded on their own', async () => {
    const batched = await backend('dcgan', { batching: ON });
    const alone = await backend('dcgan', { batching: BATCHING_OFF });
    const bodies = [{ batch_size: 2, seed: 1 }, { batch_size: 3, seed: 2, output_format: 'png' }, { batch_size: 1, seed: 3 }, { batch_size: 2, seed: 4, output_format: 'png' }];
    const answers = await Promise.all(bodies.map((b) => batched.handlePredict(b)));
    expect(batched.batchingSnapshot()!.calls).toBe(2);
    for (let i = 0; i < bodies.length; i++) {
      const want = plain(await alone.handlePredict(bodies[i]!));
      const got = plain(answers[i]!);
      if (bodies[i]!.output_format === 'png') expect(got['images']).toEqual(want['images']);
      else expect(maxDiff(flatten(got['images']).data, flatten(want['images']).data)).toBeLessThanOrEqual(TOLERANCE);
    }
  }, 60_000);

  it('over HTTP, safetensors answers of one batched call each hold exactly their own rows', async () => {
    const batched = await backend('dcgan', { batching: ON });
    const alone = await backend('dcgan', { batching: BATCHING_OFF });
    const endpoints = [new StableEndpoint({ name: 'st-on', port: 0 }), new StableEndpoint({ name: 'st-off', port: 0 })];
    await endpoints[0]!.switchBackend(batched);
    await endpoints[1]!.switchBackend(alone);
    const [on, off] = [(await endpoints[0]!.listen()).url, (await endpoints[1]!.listen()).url];
    const images = (text: string): { shape: number[]; data: Float32Array } => {
      const buf = Buffer.from(text, 'latin1');
      const n = Number(buf.readBigUInt64LE(0));
      const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { shape: number[]; data_offsets: [number, number] }>;
      const t = header['images']!;
      const bytes = buf.subarray(8 + n + t.data_offsets[0], 8 + n + t.data_offsets[1]);
      return { shape: t.shape, data: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)) };
    };
    const post = async (url: string, body: object): Promise<{ shape: number[]; data: Float32Array }> => {
      const res = await fetch(`${url}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(res.status).toBe(200);
      return images(Buffer.from(await res.arrayBuffer()).toString('latin1'));
    };
    try {
      const bodies = [1, 2, 3, 1, 4].map((n, i) => ({ batch_size: n, seed: 40 + i, output_format: 'safetensors' }));
      const got = await Promise.all(bodies.map((b) => post(on, b)));
      expect(batched.batchingSnapshot()!.requests).toBe(5);
      for (const [i, body] of bodies.entries()) {
        const want = await post(off, body);
        expect(got[i]!.shape).toEqual([body.batch_size, 3, 64, 64]);
        expect(maxDiff([...got[i]!.data], [...want.data])).toBeLessThanOrEqual(TOLERANCE);
      }
    } finally {
      await Promise.all(endpoints.map((e) => e.close()));
    }
  }, 60_000);

  it('invalid requests are refused (4xx) before they join a batch', async () => {
    const batched = await backend('dcgan', { batching: ON, maxBatchSize: 8 });
    const bodies: unknown[] = [
      { batch_size: 2, seed: 1 },
      { batch_size: 9 },
      { z: [[1, 2, 3]] },
      { batch_size: 1, seed: 2 },
      { z: nest(values(32, 3, -1, 1), [1, 32]), seed: 4 },
      { batch_size: 3, seed: 5, colour: 'blue' },
      'not an object',
      { batch_size: 1, seed: 6 },
    ];
    const settled = await Promise.allSettled(bodies.map((b) => batched.handlePredict(b)));
    const ok = settled.filter((s) => s.status === 'fulfilled').length;
    const refused = settled.filter((s) => s.status === 'rejected' && s.reason instanceof RequestError && s.reason.status === 400).length;
    expect(ok).toBe(3);
    expect(refused).toBe(5);
    const snapshot = batched.batchingSnapshot()!;
    // Only the valid requests reached the model: 2 + 1 + 1 rows.
    expect(snapshot.requests).toBe(3);
    expect(snapshot.rows).toBe(4);
  }, 60_000);

  it('a failing model call fails every request in it with a 5xx each', async () => {
    const batched = await backend('dcgan', { batching: ON });
    // The first call carries request 0 alone; requests 1 to 4 gather behind it into call 2.
    batched.session.failRuns(2);
    const settled = await Promise.allSettled([0, 1, 2, 3, 4].map((i) => batched.handlePredict({ batch_size: 1 + (i % 2), seed: i })));
    expect(settled.every((s) => s.status === 'rejected' && s.reason instanceof FramewormError && s.reason.code === 'E_RUNTIME')).toBe(true);
    const snapshot = batched.batchingSnapshot()!;
    expect(snapshot.calls).toBe(2);
    expect(snapshot.requests).toBe(5);
    // The worker keeps serving after failed calls.
    const after = plain(await batched.handlePredict({ batch_size: 1, seed: 9 }));
    expect(flatten(after['images']).shape).toEqual([1, 3, 64, 64]);
  }, 60_000);

  it('over HTTP, each request of a failed batch is a 500 and the error rate counts each once', async () => {
    const batched = await backend('dcgan', { batching: ON });
    const endpoint = new StableEndpoint({ name: 'batch-fail', port: 0 });
    await endpoint.switchBackend(batched);
    const { url } = await endpoint.listen();
    try {
      batched.session.failRuns(1000);
      const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => predict(url, { batch_size: 1, seed: i })));
      expect(answers.map((a) => a.status)).toEqual(new Array(12).fill(500));
      batched.session.failRuns(0);
      const ok = await predict(url, { batch_size: 2, seed: 1 });
      expect(ok.status).toBe(200);
      const metrics = (await request(`${url}/metrics?format=json`)).json<{ requests: number; server_errors: number; batching: { requests: number } }>();
      expect(metrics.requests).toBe(13);
      expect(metrics.server_errors).toBe(12);
      expect(metrics.batching.requests).toBe(13);
    } finally {
      await endpoint.close();
    }
  }, 60_000);

  it('beyond max_rows requests wait first come, first served', async () => {
    const batched = await backend('dcgan', { batching: { enabled: true, maxRows: 4, maxDelayMs: 2 } });
    const order: string[] = [];
    const send = (name: string, rows: number): Promise<void> => batched.handlePredict({ batch_size: rows, seed: rows }).then(() => void order.push(name));
    // a runs at once; b (3 rows) heads the queue; c (2) does not fit beside it and must not be overtaken by d (1).
    await Promise.all([send('a', 4), send('b', 3), send('c', 2), send('d', 1), send('e', 2)]);
    expect(order).toEqual(['a', 'b', 'c', 'd', 'e']);
    const snapshot = batched.batchingSnapshot()!;
    // Calls [a] [b] [c d] [e]: e (2 rows) does not fit beside c and d (3).
    expect(snapshot.calls).toBe(4);
    expect(snapshot.batch_rows.buckets.find((b) => b.le === 4)!.count).toBe(4);
  }, 60_000);

  it('a request that cannot meet its deadline at the measured rate is answered 503 with Retry-After before it costs work', async () => {
    let now = 0;
    const clock: BatchClock = { now: () => now, setTimer: (fn, ms) => setTimeout(fn, ms), clearTimer: (h) => clearTimeout(h as NodeJS.Timeout) };
    const batched = await backend('dcgan', { batching: ON, requestTimeoutMs: 500, batchClock: clock });
    // No rate measured yet: admitted. The injected clock says the call took 1200 ms for 2 rows.
    const first = batched.handlePredict({ batch_size: 2, seed: 1 });
    now = 1200;
    await first;
    // 600 ms a row: one row (600 ms) misses a 500 ms deadline.
    await expect(batched.handlePredict({ batch_size: 1, seed: 2 })).rejects.toBeInstanceOf(OverloadedError);
    expect(batched.batchingSnapshot()!.calls).toBe(1);

    const endpoint = new StableEndpoint({ name: 'batch-overload', port: 0 });
    await endpoint.switchBackend(batched);
    const { url } = await endpoint.listen();
    try {
      const answer = await predict(url, { batch_size: 3, seed: 3 });
      expect(answer.status).toBe(503);
      // 3 rows at 600 ms = 1800 ms, 1300 ms past the deadline: retry after 2 s.
      expect(answer.headers['retry-after']).toBe('2');
      expect(answer.json()).toMatchObject({ code: 'E_OVERLOADED', detail: { retry_after_s: 2, timeout_ms: 500 } });
      const metrics = (await request(`${url}/metrics?format=json`)).json<{ batching: { calls: number; overload_rejections: number } }>();
      expect(metrics.batching).toMatchObject({ calls: 1, overload_rejections: 2 });
    } finally {
      await endpoint.close();
    }
  }, 60_000);

  it('/metrics and describe() report batch sizes, queue delay and the batching state', async () => {
    const batched = await backend('vae', { batching: ON, version: 'v7' });
    const endpoint = new StableEndpoint({ name: 'batch-metrics', port: 0 });
    await endpoint.switchBackend(batched);
    const { url } = await endpoint.listen();
    try {
      const x = nest(values(2 * 3 * 32 * 32, 1, 0, 1), [2, 3, 32, 32]);
      const answers = await Promise.all(Array.from({ length: 6 }, () => predict(url, { x })));
      expect(answers.every((a) => a.status === 200)).toBe(true);
      const json = (await request(`${url}/metrics?format=json`)).json<{ batching: { mode: string; max_rows: number; rows: number; requests: number; batch_rows: { count: number }; queue_delay_ms: { count: number } } }>();
      expect(json.batching).toMatchObject({ mode: 'dynamic', max_rows: 64, rows: 12, requests: 6 });
      expect(json.batching.queue_delay_ms.count).toBe(6);
      expect(json.batching.batch_rows.count).toBeGreaterThanOrEqual(1);
      const text = (await request(`${url}/metrics?format=prometheus`)).text;
      expect(text).toContain('# TYPE frameworm_batch_rows histogram');
      expect(text).toContain('frameworm_batch_rows_bucket{model="batch-metrics",version="v7",le="+Inf"}');
      expect(text).toMatch(/frameworm_batch_queue_delay_seconds_count\{model="batch-metrics",version="v7"\} 6\n/);
      expect(text).toMatch(/frameworm_batch_rows_sum\{model="batch-metrics",version="v7"\} 12\n/);
      const described = batched.describe() as { batching: { enabled: boolean; mode: string; max_delay_ms: number } };
      expect(described.batching).toMatchObject({ enabled: true, mode: 'dynamic', max_delay_ms: 2 });
    } finally {
      await endpoint.close();
    }
    const off = await backend('vae', { batching: BATCHING_OFF });
    expect((off.describe() as { batching: unknown }).batching).toEqual({ enabled: false, reason: 'batching.enabled is false' });
  }, 60_000);
});
