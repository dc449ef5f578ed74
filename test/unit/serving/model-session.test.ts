import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { FramewormError } from '../../../main/common/errors.js';
import { ModelSession, TEST_HOOKS_ENV } from '../../../main/serving/model-session.js';
import { encodeTensor } from '../../../main/serving/schemas/tensor-codec.js';
import { makeModelDir, referenceMlp, type ModelDir } from './model-fixtures.js';

let models: ModelDir;
beforeAll(() => {
  models = makeModelDir({ slow: true });
});
afterAll(() => models.cleanup());

const x1 = (): Float32Array => new Float32Array([0.5, -1, 2, 0.25]);

/** Loads with the fault-injection hooks enabled (they are read once, at load). */
async function withTestHooks<T>(load: () => Promise<T>): Promise<T> {
  process.env[TEST_HOOKS_ENV] = '1';
  try {
    return await load();
  } finally {
    delete process.env[TEST_HOOKS_ENV];
  }
}

describe('ModelSession', () => {
  it('loads in a worker, reports the graph I/O and runs like the reference MLP', async () => {
    const session = await ModelSession.load({ modelPath: models.mlp, threads: 1 });
    try {
      expect(session.io).toEqual({
        inputs: [{ name: 'x', dtype: 'float32', shape: ['batch', 4] }],
        outputs: [{ name: 'y', dtype: 'float32', shape: ['batch', 3] }],
      });
      expect(session.warmupMs).toBeGreaterThanOrEqual(0);
      const out = await session.run({ x: { dtype: 'float32', dims: [1, 4], data: x1() } });
      expect(out.y!.dims).toEqual([1, 3]);
      expect(out.y!.dtype).toBe('float32');
      const ref = referenceMlp([[0.5, -1, 2, 0.25]])[0]!;
      [...(out.y!.data as Float32Array)].forEach((v, i) => expect(v).toBeCloseTo(ref[i]!, 5));
    } finally {
      await session.dispose();
    }
  });

  it('carries int64 and bool tensors both ways', async () => {
    const session = await ModelSession.load({ modelPath: models.multi });
    try {
      expect(session.io.inputs.map((i) => i.dtype)).toEqual(['int64', 'bool']);
      const out = await session.run({
        ids: { dtype: 'int64', dims: [2, 2], data: new BigInt64Array([1n, 2n, 3n, 9007199254740993n]) },
        mask: { dtype: 'bool', dims: [2, 2], data: new Uint8Array([1, 0, 0, 1]) },
      });
      expect([...(out.out!.data as BigInt64Array)]).toEqual([1n, 0n, 0n, 9007199254740993n]);
    } finally {
      await session.dispose();
    }
  });

  it('encodes the outputs it is asked for as JSON text in the worker, byte-identical to the main thread', async () => {
    const session = await ModelSession.load({ modelPath: models.multi, encodeFrom: 0 });
    try {
      const out = await session.run(
        {
          ids: { dtype: 'int64', dims: [2, 2], data: new BigInt64Array([1n, 2n, 3n, 9007199254740993n]) },
          mask: { dtype: 'bool', dims: [2, 2], data: new Uint8Array([1, 0, 0, 1]) },
        },
        { out: 'json' },
      );
      const text = Buffer.from(out.out!.encoded!).toString('latin1');
      expect(text).toBe(JSON.stringify(encodeTensor(out.out!)));
      expect(JSON.parse(text)).toEqual([[1, 0], [0, 9007199254740992]]);
      const plain = await session.run({ x: { dtype: 'float32', dims: [1, 4], data: x1() } } as never).catch((e: unknown) => e);
      expect(plain).toBeInstanceOf(FramewormError); // wrong feeds still fail as before
    } finally {
      await session.dispose();
    }
    const mlp = await ModelSession.load({ modelPath: models.mlp, encodeFrom: 0 });
    try {
      const [a, b] = await Promise.all([
        mlp.run({ x: { dtype: 'float32', dims: [1, 4], data: x1() } }, { y: 'json' }),
        mlp.run({ x: { dtype: 'float32', dims: [1, 4], data: x1() } }),
      ]);
      expect(Buffer.from(a.y!.encoded!).toString('latin1')).toBe(JSON.stringify(encodeTensor(b.y!)));
      expect(b.y!.encoded).toBeUndefined();
    } finally {
      await mlp.dispose();
    }
    // By default outputs under 4096 elements are left to the caller (cheaper than the hand-off).
    const small = await ModelSession.load({ modelPath: models.mlp });
    try {
      const c = await small.run({ x: { dtype: 'float32', dims: [1, 4], data: x1() } }, { y: 'json' });
      expect(c.y!.encoded).toBeUndefined();
    } finally {
      await small.dispose();
    }
  });

  it('spreads concurrent runs over a pool and answers each with its own result', async () => {
    const session = await ModelSession.load({ modelPath: models.mlp, workers: 2 });
    try {
      expect(session.liveWorkers).toBe(2);
      const inputs = Array.from({ length: 40 }, (_, i) => [i / 10, 1 - i / 20, 0.5, -i / 7]);
      const outs = await Promise.all(inputs.map((row) => session.run({ x: { dtype: 'float32', dims: [1, 4], data: new Float32Array(row) } })));
      const ref = referenceMlp(inputs);
      outs.forEach((o, k) => [...(o.y!.data as Float32Array)].forEach((v, i) => expect(v).toBeCloseTo(ref[k]![i]!, 5)));
    } finally {
      await session.dispose();
    }
  });

  it('copies views instead of detaching memory the caller still uses', async () => {
    const session = await ModelSession.load({ modelPath: models.mlp });
    try {
      const big = new Float32Array(8).fill(1);
      const view = big.subarray(4);
      await session.run({ x: { dtype: 'float32', dims: [1, 4], data: view } });
      expect(big.length).toBe(8); // not detached
      const own = x1();
      await session.run({ x: { dtype: 'float32', dims: [1, 4], data: own } });
      expect(own.length).toBe(0); // transferred, as documented
    } finally {
      await session.dispose();
    }
  });

  it('turns an onnxruntime error into E_RUNTIME and keeps serving', async () => {
    const session = await ModelSession.load({ modelPath: models.mlp });
    try {
      const bad = session.run({ x: { dtype: 'float32', dims: [1, 5], data: new Float32Array(5) } });
      await expect(bad).rejects.toMatchObject({ name: 'FramewormError', code: 'E_RUNTIME' });
      const ok = await session.run({ x: { dtype: 'float32', dims: [1, 4], data: x1() } });
      expect(ok.y!.dims).toEqual([1, 3]);
    } finally {
      await session.dispose();
    }
  });

  it('refuses the crash test hook unless FRAMEWORM_TEST_HOOKS=1 was set at load', async () => {
    expect(process.env[TEST_HOOKS_ENV]).toBeUndefined();
    const session = await ModelSession.load({ modelPath: models.mlp });
    try {
      await expect(session.crashWorker(0)).rejects.toMatchObject({ code: 'E_USAGE', message: expect.stringMatching(/FRAMEWORM_TEST_HOOKS=1/) });
      const out = await session.run({ x: { dtype: 'float32', dims: [1, 4], data: x1() } });
      expect(out.y!.dims).toEqual([1, 3]);
      expect(session.liveWorkers).toBe(1);
    } finally {
      await session.dispose();
    }
  });

  it('fails pending runs with E_RUNTIME when the worker dies, then restarts it', async () => {
    const session = await withTestHooks(() => ModelSession.load({ modelPath: models.slow }));
    try {
      const n = 16384;
      const slow = session.run({ x: { dtype: 'float32', dims: [n, 4], data: new Float32Array(n * 4) } }).then(() => 'ok', (e: unknown) => e);
      await new Promise((r) => setTimeout(r, 30));
      const crashed = session.crashWorker(0);
      // Queued behind the crash on the same worker: must fail, not hang.
      const queued = session.run({ x: { dtype: 'float32', dims: [1, 4], data: x1() } }).then(() => 'ok', (e: unknown) => e);
      await crashed;
      const err = await queued;
      expect(err).toBeInstanceOf(FramewormError);
      expect((err as FramewormError).code).toBe('E_RUNTIME');
      expect((err as FramewormError).message).toMatch(/crashed .*simulated inference worker crash/);
      const first = await slow; // finished before the crash was read, or failed with it
      expect(first === 'ok' || (first instanceof FramewormError && first.code === 'E_RUNTIME')).toBe(true);
      // The replacement worker loads and serves the next request.
      const out = await session.run({ x: { dtype: 'float32', dims: [1, 4], data: x1() } });
      expect(out.y!.dims).toEqual([1, 3]);
      expect(session.liveWorkers).toBe(1);
    } finally {
      await session.dispose();
    }
  });

  it('dispose() lets in-flight runs finish, then refuses new ones', async () => {
    const session = await ModelSession.load({ modelPath: models.mlp });
    const inFlight = session.run({ x: { dtype: 'float32', dims: [1, 4], data: x1() } });
    const disposed = session.dispose();
    await expect(inFlight).resolves.toHaveProperty('y');
    await disposed;
    await expect(session.run({ x: { dtype: 'float32', dims: [1, 4], data: x1() } })).rejects.toMatchObject({ code: 'E_RUNTIME' });
    expect(session.liveWorkers).toBe(0);
  });

  it('reports a missing file as E_INPUT and a corrupt model as E_RUNTIME', async () => {
    await expect(ModelSession.load({ modelPath: path.join(models.dir, 'nope.onnx') })).rejects.toMatchObject({ code: 'E_INPUT' });
    const corrupt = path.join(models.dir, 'corrupt.onnx');
    fs.writeFileSync(corrupt, 'this is not a protobuf');
    await expect(ModelSession.load({ modelPath: corrupt })).rejects.toMatchObject({ code: 'E_RUNTIME', message: expect.stringMatching(/cannot load ONNX model/) });
    await expect(ModelSession.load({ modelPath: models.mlp, threads: 0 })).rejects.toMatchObject({ code: 'E_USAGE' });
  });
});
