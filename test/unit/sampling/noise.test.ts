import { describe, expect, it } from 'vitest';
import { SamplerInputError } from '../../../main/sampling/errors.js';
import { gaussianTensor, normals, rawWords, stepNoiseStream, streamKey, uniforms } from '../../../main/sampling/noise.js';

// ---- A slow, obviously-correct reference: BigInt SplitMix64 and Box–Muller with Math.* ----
const MASK = (1n << 64n) - 1n;
function fmix(z: bigint): bigint {
  z ^= z >> 30n;
  z = (z * 0xbf58476d1ce4e5b9n) & MASK;
  z ^= z >> 27n;
  z = (z * 0x94d049bb133111ebn) & MASK;
  return z ^ (z >> 31n);
}
const slowKey = (seed: number, stream: number): bigint => fmix(BigInt(seed)) ^ fmix((BigInt(stream) + 0x632be59bd9b4e019n) & MASK);
const slowWord = (key: bigint, i: number): bigint => fmix((key + BigInt(i + 1) * 0x9e3779b97f4a7c15n) & MASK);
const slowUniform = (w: bigint): number => Number((w >> 11n) + 1n) * 2 ** -53;
function slowNormals(seed: number, stream: number, count: number): Float32Array {
  const key = slowKey(seed, stream);
  const out = new Float32Array(count);
  for (let j = 0; j < count; j += 2) {
    const r = Math.sqrt(-2 * Math.log(slowUniform(slowWord(key, j))));
    const theta = 2 * Math.PI * slowUniform(slowWord(key, j + 1));
    out[j] = r * Math.cos(theta);
    if (j + 1 < count) out[j + 1] = r * Math.sin(theta);
  }
  return out;
}

// Golden vectors, computed once with the slow reference above (words) and with noise.py (normals).
const WORDS_SEED0_STREAM0 = [
  0xf5dd724ff3b8a536n, 0x7c6ede0099d1dac1n, 0x09f2c7599678a38en, 0x7f0826b1a0a9165dn,
  0x1e6873c009ddf61bn, 0x9e4b946c3b401171n, 0x246fa77bdffff2dfn, 0x3095542c19c75073n,
];
const NORMALS_SEED0_STREAM0 = [
  -0.28314635157585144, 0.024851715192198753, -2.547915458679199, 0.060555506497621536,
  -1.5193901062011719, -1.3972816467285156, 0.7294697761535645, 1.8349676132202148,
];
const NORMALS_SEED42_STREAM1 = [1.5228688716888428, -0.39584484696388245, -1.262671947479248, 2.6345441341400146, 1.7818893194198608, -0.2613394856452942];
const NORMALS_MAXSEED_STREAM1000 = [3.0145392417907715, 0.17387418448925018, 0.339059978723526, 2.0790016651153564];

describe('noise generator: golden vectors', () => {
  it('the first 8 words of seed 0 / stream 0 are the pinned constants and the BigInt reference', () => {
    expect([...rawWords(0, 0, 8)]).toEqual(WORDS_SEED0_STREAM0);
    const key = slowKey(0, 0);
    expect(WORDS_SEED0_STREAM0).toEqual(Array.from({ length: 8 }, (_, i) => slowWord(key, i)));
  });

  it('the fast uint32-pair words equal the BigInt reference for many seeds, streams and counters', () => {
    const cases: [number, number][] = [[0, 0], [1, 0], [0, 1], [12345, 7], [2 ** 32 - 1, 2 ** 32], [2 ** 53 - 1, 2 ** 53 - 1], [2 ** 40 + 3, 99]];
    for (const [seed, stream] of cases) {
      const fast = rawWords(seed, stream, 5000); // crosses the 2048-word block boundary twice
      const key = slowKey(seed, stream);
      expect(streamKey(seed, stream)).toBe(key);
      for (let i = 0; i < fast.length; i += 1) {
        if (fast[i] !== slowWord(key, i)) expect.fail(`seed ${seed} stream ${stream} word ${i}`);
      }
    }
  });

  it('uniforms are ((w >> 11) + 1)·2^-53 exactly', () => {
    const key = slowKey(9, 3);
    const u = uniforms(9, 3, 3000);
    for (let i = 0; i < u.length; i++) expect(u[i]).toBe(slowUniform(slowWord(key, i)));
  });

  it('normals are the pinned float32 constants', () => {
    expect([...normals(0, 0, 8)]).toEqual(NORMALS_SEED0_STREAM0);
    expect([...normals(42, 1, 6)]).toEqual(NORMALS_SEED42_STREAM1);
    expect([...normals(2 ** 53 - 1, 1000, 4)]).toEqual(NORMALS_MAXSEED_STREAM1000);
  });

  it('normals agree with textbook Box–Muller (Math.log/cos/sin) to within one float32 ulp', () => {
    // The spec's own ln/sin/cos kernels are accurate to ~1 float64 ulp, so after rounding to
    // float32 they may differ from Math.* only on values that sit on a float32 rounding boundary.
    const n = 200_000;
    const fast = normals(77, 5, n);
    const slow = slowNormals(77, 5, n);
    let differing = 0;
    for (let i = 0; i < n; i++) {
      const a = fast[i] as number;
      const b = slow[i] as number;
      if (a === b) continue;
      differing++;
      expect(Math.abs(a - b)).toBeLessThanOrEqual(Math.max(Math.abs(b) * 2 ** -23, 2 ** -60));
    }
    expect(differing).toBeLessThan(5);
  });
});

describe('noise generator: structure', () => {
  it('every output is a prefix of a longer one, across blocks and odd counts', () => {
    const long = normals(5, 2, 10_001);
    for (const n of [0, 1, 7, 2048, 2049, 4097, 10_001]) expect(normals(5, 2, n)).toEqual(long.subarray(0, n));
    expect(uniforms(5, 2, 4099)).toEqual(uniforms(5, 2, 5000).subarray(0, 4099));
  });

  it('gaussianTensor fills its shape row-major with normals of the same seed and stream', () => {
    const t = gaussianTensor(3, stepNoiseStream(4), [2, 3, 4, 5]);
    expect(t.dtype).toBe('float32');
    expect(t.dims).toEqual([2, 3, 4, 5]);
    expect(t.data).toEqual(normals(3, 5, 120));
    expect(gaussianTensor(3, 0, []).data.length).toBe(1);
  });

  it('different seeds and streams give unrelated sequences', () => {
    const n = 200_000;
    const pairs: [Float32Array, Float32Array][] = [
      [normals(0, 0, n), normals(0, 1, n)],
      [normals(0, 0, n), normals(1, 0, n)],
      [normals(1, 0, n), normals(0, 1, n)],
    ];
    for (const [a, b] of pairs) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += (a[i] as number) * (b[i] as number);
      expect(Math.abs(dot / n)).toBeLessThan(0.015); // 5σ for n = 2e5
    }
  });

  it('rejects seeds and streams that are not integers in [0, 2^53)', () => {
    for (const bad of [-1, 1.5, 2 ** 53, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => normals(bad, 0, 4)).toThrow(SamplerInputError);
      expect(() => normals(0, bad, 4)).toThrow(SamplerInputError);
    }
    expect(() => normals(0, 0, -1)).toThrow(SamplerInputError);
    expect(() => gaussianTensor(0, 0, [2, -1])).toThrow(SamplerInputError);
    try {
      normals(-1, 0, 1);
    } catch (err) {
      expect(err).toBeInstanceOf(RangeError);
      expect((err as SamplerInputError).code).toBe('E_INPUT');
    }
  });
});

describe('noise generator: distribution', () => {
  it('1M normals have mean ≈ 0, std ≈ 1, no skew, kurtosis ≈ 3 and normal tails', () => {
    const n = 1_000_000;
    const x = normals(2024, 0, n);
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let s4 = 0;
    let tail = 0;
    for (let i = 0; i < n; i++) {
      const v = x[i] as number;
      s1 += v;
      s2 += v * v;
      s3 += v * v * v;
      s4 += v * v * v * v;
      if (Math.abs(v) > 3) tail++;
    }
    const mean = s1 / n;
    const std = Math.sqrt(s2 / n - mean * mean);
    expect(Math.abs(mean)).toBeLessThan(0.005); // σ/√n = 0.001
    expect(Math.abs(std - 1)).toBeLessThan(0.004);
    expect(Math.abs(s3 / n)).toBeLessThan(0.015);
    expect(Math.abs(s4 / n - 3)).toBeLessThan(0.05);
    expect(Math.abs(tail / n - 0.0026998)).toBeLessThan(0.0003);
  });

  it('1M uniforms lie in (0, 1] with mean ≈ 1/2 and flat deciles', () => {
    const n = 1_000_000;
    const u = uniforms(11, 0, n);
    const deciles = new Array<number>(10).fill(0);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const v = u[i] as number;
      if (!(v > 0 && v <= 1)) expect.fail(`uniform ${i} = ${v}`);
      sum += v;
      deciles[Math.min(9, Math.floor(v * 10))]! += 1;
    }
    expect(Math.abs(sum / n - 0.5)).toBeLessThan(0.002);
    for (const d of deciles) expect(Math.abs(d / n - 0.1)).toBeLessThan(0.002);
  });

  // Throughput (normals/s, which would collapse if BigInt crept in) is in test/bench/timing-bench.ts.
});
