/**
 * Seeded pseudo-random numbers for permutations and subsamples.
 *
 * xoshiro128** (Blackman & Vigna) on 32-bit integers, seeded through splitmix32 so that nearby
 * seeds give unrelated streams. 32-bit arithmetic keeps it fast in JS without BigInt; the period
 * (2^128 − 1) is far beyond what a permutation test draws. Not for cryptography.
 */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spareNormal: number | null = null;

  /** Seeds from any finite number (integers are used as is; fractions are hashed by their bits). */
  constructor(seed: number) {
    let x = seedToUint32(seed);
    const next = (): number => {
      // splitmix32: one well-mixed word per call.
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x21f0aaad) >>> 0;
      z = Math.imul(z ^ (z >>> 15), 0x735a2d97) >>> 0;
      return (z ^ (z >>> 15)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    // An all-zero state would stay zero forever.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Uniform integer in [0, 2^32). */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  nextFloat(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n) without modulo bias (n ≤ 2^32). */
  nextInt(n: number): number {
    if (!(n >= 1) || n > 4294967296) throw new RangeError(`nextInt needs 1 ≤ n ≤ 2^32, got ${n}`);
    // Rejection sampling: draws past the largest multiple of n are discarded.
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const r = this.nextUint32();
      if (r < limit) return r % n;
    }
  }

  /** Standard normal via Box–Muller (pairs are cached). */
  normal(): number {
    if (this.spareNormal !== null) {
      const v = this.spareNormal;
      this.spareNormal = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.nextFloat();
    const v = this.nextFloat();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Fisher–Yates: moves a uniform random k-subset of `arr` into arr[0..k) (in place). */
  partialShuffle(arr: Int32Array | number[], k: number): void {
    const n = arr.length;
    const stop = Math.min(k, n - 1);
    for (let i = 0; i < stop; i++) {
      const j = i + this.nextInt(n - i);
      const tmp = arr[i] as number;
      arr[i] = arr[j] as number;
      arr[j] = tmp;
    }
  }

  /** Uniform random permutation of `arr` in place. */
  shuffle(arr: Int32Array | number[]): void {
    this.partialShuffle(arr, arr.length);
  }

  /** k distinct indices of [0, n), uniformly, in increasing order. */
  sampleIndices(n: number, k: number): Int32Array {
    const idx = new Int32Array(n);
    for (let i = 0; i < n; i++) idx[i] = i;
    this.partialShuffle(idx, k);
    return idx.slice(0, Math.min(k, n)).sort();
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

function seedToUint32(seed: number): number {
  if (!Number.isFinite(seed)) throw new RangeError(`seed must be finite, got ${seed}`);
  if (Number.isSafeInteger(seed)) {
    // Fold high bits in so 2^32 and 0 differ.
    return ((seed >>> 0) ^ Math.floor(seed / 4294967296)) >>> 0;
  }
  const buf = new DataView(new ArrayBuffer(8));
  buf.setFloat64(0, seed);
  return (buf.getUint32(0) ^ buf.getUint32(4)) >>> 0;
}

/** Stable 32-bit FNV-1a hash of a string, used to derive per-group seeds independent of order. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}
