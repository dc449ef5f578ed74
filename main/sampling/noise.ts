/**
 * The project's noise generator: counter-based SplitMix64 + Box–Muller, specified exactly so the
 * TypeScript runtime and the generated Python server (templates/frameworm/noise.py) draw the same
 * numbers for the same seed. DESIGN.md §5 promises that a request with a `seed` gives the same
 * output on every target, so neither language's own RNG may be used. Full spec: NOISE.md.
 *
 * Algorithm (all integer arithmetic mod 2^64):
 *   fmix(z):     z ^= z >> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >> 27; z *= 0x94D049BB133111EB;
 *                z ^= z >> 31                     (SplitMix64's output finaliser)
 *   key:         K = fmix(seed) XOR fmix(stream + 0x632BE59BD9B4E019)
 *                seed, stream: integers in [0, 2^53)
 *   word i:      w_i = fmix(K + (i + 1) * 0x9E3779B97F4A7C15)          (i = 0, 1, 2, …)
 *   uniform i:   u_i = ((w_i >> 11) + 1) * 2^-53                        in (0, 1], float64
 *   normal pair: for k = 0, 1, …:  r = sqrt(-2 * LN(u_2k)),  (c, s) = COSSIN(u_(2k+1)) ≈ (cos, sin)(2π·u)
 *                n_2k = r * c,  n_(2k+1) = r * s   in float64, then rounded to float32
 *                (an odd count drops the last sine; so every output is a prefix of a longer one)
 *   LN, COSSIN:  fixed sequences of IEEE +, −, ×, ÷ (NOISE.md §4), accurate to ~1 float64 ulp.
 *                Not Math.log/cos/sin: numpy's SIMD kernels differ from V8's in the last bit
 *                often enough to flip ~1 float32 normal in 10^8; basic IEEE operations cannot.
 *
 * Streams name the use of the noise so that uses never share numbers:
 *   stream 0      the initial state x_T of a diffusion sampler, or a GAN / VAE latent z
 *   stream k + 1  the noise added at reverse-loop iteration k (k = 0 for the first, t = T−1 step)
 *
 * The hot loop avoids BigInt: a 64-bit value is a pair of int32 halves and multiplication uses
 * Math.imul for the low words plus 16-bit partial products for the carry word.
 */
import { SamplerInputError } from './errors.js';

/** Stream of the initial diffusion state x_T (and of GAN / VAE latents). */
export const INITIAL_NOISE_STREAM = 0;

/** Stream of the noise added at reverse-loop iteration `k` (0-based) of a diffusion sampler. */
export function stepNoiseStream(k: number): number {
  return k + 1;
}

/** A float32 tensor, structurally a serving `TensorValue`. */
export interface Float32Tensor {
  readonly dtype: 'float32';
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

// Constants as (hi, lo) 32-bit halves, held as int32 (`| 0`) so V8 keeps every value in an
// integer register: uint32 values of 2^31 and above would otherwise be float64s, a slower path.
const GAMMA_HI = 0x9e3779b9 | 0;
const GAMMA_LO = 0x7f4a7c15 | 0;
const M1_HI = 0xbf58476d | 0;
const M1_LO = 0x1ce4e5b9 | 0;
const M2_HI = 0x94d049bb | 0;
const M2_LO = 0x133111eb | 0;
const STREAM_OFFSET = 0x632be59bd9b4e019n;
// 16-bit halves of the low words, for the carry word of lo × lo.
const M1_LO_0 = M1_LO & 0xffff;
const M1_LO_1 = M1_LO >>> 16;
const M2_LO_0 = M2_LO & 0xffff;
const M2_LO_1 = M2_LO >>> 16;

const TWO_POW_21 = 2097152;
const TWO_POW_MINUS_32 = 2.3283064365386963e-10;
const TWO_POW_MINUS_53 = 1.1102230246251565e-16;

// Kernel constants (NOISE.md). Each literal is the shortest decimal of one float64, which
// JavaScript and Python parse to the same bits.
const SQRT2 = 1.4142135623730951;
const LN2 = 0.6931471805599453;
const PI_2 = 1.5707963267948966;
// ln series: L_k = 2/(2k+1).
const L0 = 2.0;
const L1 = 0.6666666666666666;
const L2 = 0.4;
const L3 = 0.2857142857142857;
const L4 = 0.2222222222222222;
const L5 = 0.18181818181818182;
const L6 = 0.15384615384615385;
const L7 = 0.13333333333333333;
const L8 = 0.11764705882352941;
const L9 = 0.10526315789473684;
const L10 = 0.09523809523809523;
// fdlibm k_sin.c / k_cos.c.
const S1 = -0.16666666666666632;
const S2 = 0.00833333333332249;
const S3 = -0.0001984126982985795;
const S4 = 2.7557313707070068e-6;
const S5 = -2.5050760253406863e-8;
const S6 = 1.58969099521155e-10;
const C1 = 0.0416666666666666;
const C2 = -0.001388888888887411;
const C3 = 2.480158728947673e-5;
const C4 = -2.7557314351390663e-7;
const C5 = 2.087572321298175e-9;
const C6 = -1.1359647557788195e-11;

/** POW2_NEG[e] = 2^-e for e = 0 … 53, by exact halving. */
const POW2_NEG = Float64Array.from({ length: 54 }, (_, e) => {
  let v = 1;
  for (let k = 0; k < e; k++) v *= 0.5;
  return v;
});

/** Words are made in blocks of this many, so the buffers stay in L1 cache. */
const BLOCK = 2048;
const HI = new Int32Array(BLOCK);
const LO = new Int32Array(BLOCK);

/**
 * Writes fmix(z) for the next `n` counter values z = K + (i+1)·γ to HI/LO and advances `state`.
 *
 * `state` holds the last counter term [hi, lo]: a running sum (one 64-bit add of γ per word) is
 * the same value mod 2^64 as the multiplication in the spec. The finaliser is written out inline
 * (no helper calls) because this loop is the whole cost of the generator.
 */
function fillWords(state: Int32Array, n: number): void {
  let hi = state[0] as number;
  let lo = state[1] as number;
  for (let i = 0; i < n; i++) {
    const nextLo = (lo + GAMMA_LO) | 0;
    hi = (hi + GAMMA_HI + (nextLo >>> 0 < lo >>> 0 ? 1 : 0)) | 0; // unsigned wrap = carry
    lo = nextLo;
    // z ^= z >> 30
    let zl = lo ^ ((lo >>> 30) | (hi << 2));
    let zh = hi ^ (hi >>> 30);
    // z *= M1 (mod 2^64) = lo·lo (full 64 bits) + (lo·hi' + hi·lo') << 32. The carry word of
    // lo·lo comes from 16-bit partial products; Math.imul keeps each one in int32 (their bits
    // are what matter, and `>>>` / `&` read them unsigned).
    let a0 = zl & 0xffff;
    let a1 = zl >>> 16;
    let p00 = Math.imul(a0, M1_LO_0);
    let p01 = Math.imul(a0, M1_LO_1);
    let p10 = Math.imul(a1, M1_LO_0);
    let mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
    let carryWord = Math.imul(a1, M1_LO_1) + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16);
    zh = (carryWord + Math.imul(zl, M1_HI) + Math.imul(zh, M1_LO)) | 0;
    zl = Math.imul(zl, M1_LO);
    // z ^= z >> 27
    zl = zl ^ ((zl >>> 27) | (zh << 5));
    zh = zh ^ (zh >>> 27);
    // z *= M2
    a0 = zl & 0xffff;
    a1 = zl >>> 16;
    p00 = Math.imul(a0, M2_LO_0);
    p01 = Math.imul(a0, M2_LO_1);
    p10 = Math.imul(a1, M2_LO_0);
    mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
    carryWord = Math.imul(a1, M2_LO_1) + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16);
    zh = (carryWord + Math.imul(zl, M2_HI) + Math.imul(zh, M2_LO)) | 0;
    zl = Math.imul(zl, M2_LO);
    // z ^= z >> 31
    LO[i] = zl ^ ((zl >>> 31) | (zh << 1));
    HI[i] = zh ^ (zh >>> 31);
  }
  state[0] = hi;
  state[1] = lo;
}

const MASK64 = (1n << 64n) - 1n;

/** SplitMix64's finaliser on a BigInt; used once per call for the key, never per word. */
function fmix64(z: bigint): bigint {
  z ^= z >> 30n;
  z = (z * 0xbf58476d1ce4e5b9n) & MASK64;
  z ^= z >> 27n;
  z = (z * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

function checkInteger(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new SamplerInputError(`${name} must be an integer in [0, ${max}], got ${String(value)}`, { [name]: value });
  }
}

/** The key K = fmix(seed) XOR fmix(stream + 0x632BE59BD9B4E019) of (seed, stream), validated. */
export function streamKey(seed: number, stream: number): bigint {
  // Integers up to 2^53 − 1: every such value survives JSON and a float64 exactly.
  checkInteger('seed', seed, Number.MAX_SAFE_INTEGER);
  checkInteger('stream', stream, Number.MAX_SAFE_INTEGER);
  // The offset keeps fmix's fixed point fmix(0) = 0 from making seed 0 / stream 0 degenerate,
  // and it exceeds 2^53, so the seed and stream inputs can never be the same number.
  return fmix64(BigInt(seed)) ^ fmix64((BigInt(stream) + STREAM_OFFSET) & MASK64);
}

/** Calls `visit(n, first)` for each block of words; HI/LO then hold words first … first+n−1. */
function forEachBlock(seed: number, stream: number, count: number, visit: (n: number, first: number) => void): void {
  const key = streamKey(seed, stream);
  // Counter term before word 0 is K itself; Int32Array stores wrap the halves to int32.
  const state = Int32Array.of(Number(key >> 32n), Number(key & 0xffffffffn));
  for (let first = 0; first < count; first += BLOCK) {
    const n = Math.min(BLOCK, count - first);
    fillWords(state, n);
    visit(n, first);
  }
}

function checkCount(count: number): void {
  // 2^31 − 1 keeps every typed array allocatable; real requests are far smaller.
  checkInteger('count', count, 0x7fffffff);
}

/**
 * The raw 64-bit words w_0 … w_(count−1) of (seed, stream).
 *
 * For golden vectors and debugging only; uses BigInt per word, so it is slow.
 */
export function rawWords(seed: number, stream: number, count: number): BigUint64Array {
  checkCount(count);
  const out = new BigUint64Array(count);
  forEachBlock(seed, stream, count, (n, first) => {
    for (let i = 0; i < n; i++) {
      out[first + i] = (BigInt((HI[i] as number) >>> 0) << 32n) | BigInt((LO[i] as number) >>> 0);
    }
  });
  return out;
}

/**
 * Uniform variates u_0 … u_(count−1) in (0, 1] of (seed, stream), as float64.
 *
 * Every value is a multiple of 2^-53; 0 never occurs, so ln(u) is always finite.
 */
export function uniforms(seed: number, stream: number, count: number): Float64Array {
  checkCount(count);
  const out = new Float64Array(count);
  forEachBlock(seed, stream, count, (n, first) => {
    for (let i = 0; i < n; i++) {
      // (w >> 11) + 1 ≤ 2^53 is exact in a float64, and so is the scaling by 2^-53.
      out[first + i] = (((HI[i] as number) >>> 0) * TWO_POW_21 + ((LO[i] as number) >>> 11) + 1) * TWO_POW_MINUS_53;
    }
  });
  return out;
}

/**
 * ln(N · 2^-53) for an integer 1 ≤ N ≤ 2^53, using only IEEE +, −, ×, ÷ (NOISE.md "ln").
 *
 * Not Math.log: numpy's SIMD log and V8's fdlibm log disagree in the last bit for ~20% of inputs,
 * which after float32 rounding still left ~1 wrong normal in 10^8. Basic operations are correctly
 * rounded everywhere, so this sequence gives the same bits in numpy on any CPU.
 */
function lnOfCount(count: number): number {
  // count = m · 2^e with m in [1, 2): exponent from the integer bits, m by an exact power of two.
  const top = Math.floor(count * TWO_POW_MINUS_32);
  let e = top > 0 ? 63 - Math.clz32(top) : 31 - Math.clz32(count);
  let m = count * (POW2_NEG[e] as number);
  if (m > SQRT2) {
    m *= 0.5;
    e += 1;
  }
  // ln m = 2·atanh(s), s = (m−1)/(m+1), |s| ≤ 0.172: the series to s^21 is exact to ~1e-18.
  const s = (m - 1) / (m + 1);
  const z = s * s;
  const p = L0 + z * (L1 + z * (L2 + z * (L3 + z * (L4 + z * (L5 + z * (L6 + z * (L7 + z * (L8 + z * (L9 + z * L10)))))))));
  return s * p + (e - 53) * LN2;
}

/**
 * Standard normal variates of (seed, stream): Box–Muller on word pairs, rounded to float32.
 *
 * normals(s, k, n) is a prefix of normals(s, k, m) for n ≤ m.
 */
export function normals(seed: number, stream: number, count: number): Float32Array {
  checkCount(count);
  const out = new Float32Array(count);
  // Words 2k and 2k+1 make normals 2k and 2k+1; BLOCK is even, so pairs never straddle blocks.
  forEachBlock(seed, stream, count + (count & 1), (n, first) => {
    for (let i = 0; i < n; i += 2) {
      const n1 = ((HI[i] as number) >>> 0) * TWO_POW_21 + ((LO[i] as number) >>> 11) + 1;
      const r = Math.sqrt(-2 * lnOfCount(n1));
      // θ = 2π·u2 is reduced in turns, where it is exact: 4·u2 = q + f with q an integer
      // (quadrant) and |f| ≤ 1/2, so θ = q·π/2 + x with x = f·π/2 in [−π/4, π/4].
      const t = ((((HI[i + 1] as number) >>> 0) * TWO_POW_21 + ((LO[i + 1] as number) >>> 11) + 1) * TWO_POW_MINUS_53) * 4;
      const q = Math.floor(t + 0.5);
      const x = (t - q) * PI_2;
      const z = x * x;
      // fdlibm's __kernel_sin / __kernel_cos polynomials (|error| < 2^-58 on [−π/4, π/4]).
      const sx = x + z * x * (S1 + z * (S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)))));
      const cx = 1 - (0.5 * z - z * (z * (C1 + z * (C2 + z * (C3 + z * (C4 + z * (C5 + z * C6)))))));
      const quadrant = q & 3;
      // (cos θ, sin θ) for quadrants 0..3: (c, s), (−s, c), (−c, −s), (s, −c).
      let cosTheta = quadrant & 1 ? -sx : cx;
      let sinTheta = quadrant & 1 ? cx : sx;
      if (quadrant & 2) {
        cosTheta = -cosTheta;
        sinTheta = -sinTheta;
      }
      const j = first + i;
      out[j] = r * cosTheta;
      if (j + 1 < count) out[j + 1] = r * sinTheta;
    }
  });
  return out;
}

/**
 * A float32 tensor of standard normals of (seed, stream), filled in row-major order.
 *
 * The data is exactly normals(seed, stream, product(shape)).
 */
export function gaussianTensor(seed: number, stream: number, shape: readonly number[]): Float32Tensor {
  let size = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new SamplerInputError(`tensor dimensions must be non-negative integers, got [${shape.join(', ')}]`, { shape });
    }
    size *= d;
  }
  checkCount(size);
  return { dtype: 'float32', dims: [...shape], data: normals(seed, stream, size) };
}
