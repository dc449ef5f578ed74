/**
 * Continuous batching of diffusion sampling (issue 12 §1): requests that arrive while others
 * sample join the running ε-network batch at the next step, with their own step counts, and
 * leave when done; every answer equals sampling alone with the same seed. Real onnxruntime-node
 * workers running the exported compat DDPM and CFG-DDPM checkpoints.
 */
import { describe, expect, it } from 'vitest';
import { OverloadedError, type BatchClock } from '../../../main/serving/batching/overload.js';
import type { EmbeddedBackend } from '../../../main/serving/embedded-backend.js';
import { BATCHING_OFF, flatten, maxDiff, plain } from './batching-fixtures.js';
import { compatBackends } from './batching-suite.js';

const ON = { enabled: true, maxRows: 64, maxDelayMs: 2 };
const TOLERANCE = 1e-5;

const backend = compatBackends(['ddpm', 'cfg_ddpm']);

/** Resolves once the backend's batchers have made at least `calls` model calls. */
async function untilCalls(b: EmbeddedBackend, calls: number): Promise<void> {
  while ((b.batchingSnapshot()?.calls ?? 0) < calls) await new Promise((r) => setImmediate(r));
}

/** Sends the bodies in waves: each wave once the model has made `after` calls; returns the answers and the finishing order. */
async function staggered(b: EmbeddedBackend, waves: readonly { after: number; body: Record<string, unknown> }[]): Promise<{ answers: Record<string, unknown>[]; finished: number[] }> {
  const finished: number[] = [];
  const pending: Promise<Record<string, unknown>>[] = [];
  for (const [i, wave] of waves.entries()) {
    await untilCalls(b, wave.after);
    pending.push(
      b.handlePredict(wave.body).then((a) => {
        finished.push(i);
        return plain(a);
      }),
    );
  }
  return { answers: await Promise.all(pending), finished };
}

describe('continuous batching of diffusion sampling', () => {
  it('ddpm: requests joining mid-run with different num_steps share calls and each equals sampling alone (≤1e-5)', async () => {
    const batched = await backend('ddpm', { batching: ON });
    const alone = await backend('ddpm', { batching: BATCHING_OFF });
    const waves = [
      { after: 0, body: { batch_size: 2, num_steps: 50, seed: 11 } },
      { after: 5, body: { batch_size: 1, num_steps: 20, seed: 22 } },
      { after: 12, body: { batch_size: 3, num_steps: 7, seed: 33 } },
      { after: 14, body: { batch_size: 1, num_steps: 1, seed: 44 } },
    ];
    const { answers, finished } = await staggered(batched, waves);
    // The long first request finishes last: the others left the batch as soon as they were done.
    expect(finished.at(-1)).toBe(0);
    const snapshot = batched.batchingSnapshot()!;
    expect(snapshot.mode).toBe('continuous');
    const sequentialCalls = waves.reduce((a, w) => a + w.body.num_steps, 0);
    expect(snapshot.calls).toBeLessThan(sequentialCalls);
    // Some call carried rows of three requests at once (2 + 1 + 3 rows).
    expect(snapshot.batch_rows.buckets.find((x) => x.le === 4)!.count).toBeLessThan(snapshot.calls);
    for (const [i, wave] of waves.entries()) {
      const want = plain(await alone.handlePredict(wave.body));
      const got = answers[i]!;
      expect(flatten(got['images']).shape).toEqual([wave.body.batch_size, 3, 32, 32]);
      expect(maxDiff(flatten(got['images']).data, flatten(want['images']).data), `request ${i}`).toBeLessThanOrEqual(TOLERANCE);
      expect(got['num_steps']).toBe(wave.body.num_steps);
    }
  }, 240_000);

  it('cfg_ddpm: guided, unguided and unconditional requests share calls and each equals sampling alone (≤1e-5)', async () => {
    const batched = await backend('cfg_ddpm', { batching: ON });
    const alone = await backend('cfg_ddpm', { batching: BATCHING_OFF });
    const waves = [
      { after: 0, body: { class_labels: [0, 3], guidance_scale: 2.5, num_steps: 30, seed: 5 } },
      { after: 4, body: { batch_size: 2, num_steps: 12, seed: 6 } },
      { after: 9, body: { class_labels: [1, null, 2], guidance_scale: 0, num_steps: 50, seed: 7 } },
    ];
    const { answers } = await staggered(batched, waves);
    const snapshot = batched.batchingSnapshot()!;
    expect(snapshot.calls).toBeLessThan(30 + 12 + 50);
    for (const [i, wave] of waves.entries()) {
      const want = plain(await alone.handlePredict(wave.body));
      expect(maxDiff(flatten(answers[i]!['images']).data, flatten(want['images']).data), `request ${i}`).toBeLessThanOrEqual(TOLERANCE);
      expect(answers[i]!['class_labels']).toEqual(want['class_labels']);
    }
  }, 240_000);

  it('with two workers, requests are spread over two lanes and each still equals sampling alone', async () => {
    const batched = await backend('ddpm', { batching: ON, workers: 2 });
    const alone = await backend('ddpm', { batching: BATCHING_OFF });
    const bodies = Array.from({ length: 6 }, (_, i) => ({ batch_size: 1 + (i % 2), num_steps: 5 + 3 * i, seed: 70 + i }));
    const answers = await Promise.all(bodies.map((b) => batched.handlePredict(b)));
    const snapshot = batched.batchingSnapshot()!;
    expect(snapshot.calls).toBeLessThan(bodies.reduce((a, b) => a + b.num_steps, 0));
    for (const [i, body] of bodies.entries()) {
      const want = flatten(plain(await alone.handlePredict(body))['images']);
      expect(maxDiff(flatten(plain(answers[i]!)['images']).data, want.data), `request ${i}`).toBeLessThanOrEqual(TOLERANCE);
    }
  }, 120_000);

  it('beyond max_rows sampling requests wait first come, first served, and a call never exceeds max_rows', async () => {
    const batched = await backend('ddpm', { batching: { enabled: true, maxRows: 3, maxDelayMs: 2 } });
    const finished: string[] = [];
    const send = (name: string, body: Record<string, unknown>): Promise<unknown> => batched.handlePredict(body).then(() => void finished.push(name));
    // a (2 rows) runs; b (2) does not fit beside it and waits; c (1) fits beside a but must not overtake b.
    await Promise.all([send('a', { batch_size: 2, num_steps: 10, seed: 1 }), send('b', { batch_size: 2, num_steps: 3, seed: 2 }), send('c', { batch_size: 1, num_steps: 2, seed: 3 })]);
    expect(finished).toEqual(['a', 'c', 'b']);
    const snapshot = batched.batchingSnapshot()!;
    // Nothing above 3 rows; b and c (3 rows) shared calls after a left.
    expect(snapshot.batch_rows.buckets.find((x) => x.le === 4)!.count).toBe(snapshot.calls);
    expect(snapshot.calls).toBe(10 + 3);
  }, 120_000);

  it('a waiting sampling request whose caller gives up leaves the queue without running', async () => {
    const batched = await backend('ddpm', { batching: { enabled: true, maxRows: 2, maxDelayMs: 2 } });
    const a = batched.handlePredict({ batch_size: 2, num_steps: 20, seed: 1 });
    const gone = new AbortController();
    const b = batched.handlePredict({ batch_size: 1, num_steps: 20, seed: 2 }, gone.signal).catch((err: unknown) => err);
    expect((batched.describe() as { sampling: { waiting: number } }).sampling.waiting).toBe(1);
    gone.abort(new Error('client left'));
    expect(((await b) as Error).message).toBe('client left');
    await a;
    const snapshot = batched.batchingSnapshot()!;
    // Only a's 20 steps ran, 2 rows each.
    expect(snapshot.calls).toBe(20);
    expect(snapshot.rows).toBe(40);
  }, 120_000);

  it('a sampling request that cannot finish before its deadline at the measured step time is refused with 503 before it runs', async () => {
    // A clock where every real millisecond counts as a second, so the measured step is far slower than the deadline allows.
    const clock: BatchClock = { now: () => performance.now() * 1000, setTimer: (fn, ms) => setTimeout(fn, ms / 1000), clearTimer: (h) => clearTimeout(h as NodeJS.Timeout) };
    const batched = await backend('ddpm', { batching: ON, requestTimeoutMs: 5_000, batchClock: clock });
    // Nothing measured yet: admitted.
    const first = plain(await batched.handlePredict({ batch_size: 1, num_steps: 10, seed: 1 }));
    expect(flatten(first['images']).shape).toEqual([1, 3, 32, 32]);
    const callsBefore = batched.batchingSnapshot()!.calls;
    // 50 steps of at least a "second" each cannot finish within 5 "seconds".
    const refused = await batched.handlePredict({ batch_size: 1, num_steps: 50, seed: 2 }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(OverloadedError);
    expect((refused as OverloadedError).retryAfterS).toBeGreaterThanOrEqual(1);
    const snapshot = batched.batchingSnapshot()!;
    expect(snapshot.calls).toBe(callsBefore);
    expect(snapshot.overload_rejections).toBe(1);
  }, 120_000);
});
