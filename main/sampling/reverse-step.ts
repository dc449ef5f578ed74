/**
 * Timesteps and per-step float32 coefficients of the reverse diffusion loops.
 *
 * Mirrors templates/frameworm/diffusion_reference.py, the executable specification: each scalar
 * below is rounded to float32 after every operation, in the order the reference writes it,
 * because that is what torch does with 0-d float32 tensors. `Math.fround(a ∘ b)` of float32
 * inputs equals the float32 operation exactly (float64 has more than 2·24 + 2 bits, so the double
 * rounding is innocuous for +, −, ×, ÷ and √).
 */
import { SamplerInputError } from './errors.js';

const f = Math.fround;

/** The arithmetic of one sampler family: 'ddpm' (DDPM.p_sample) or 'cfg' (CFGDDPM.sample). */
export type SamplerKind = 'ddpm' | 'cfg';

/** Schedule buffers as float32, read from the checkpoint (never recomputed). */
export interface Float32Schedule {
  readonly betas: Float32Array;
  readonly alphasCumprod: Float32Array;
  /** DDPM only: β_t(1−ᾱ_{t−1})/(1−ᾱ_t). */
  readonly posteriorVariance?: Float32Array;
  /** CFG only: the stored 1 − β_t. */
  readonly alphas?: Float32Array;
}

/** Scalar terms of one reverse step; all float32 values held in numbers. */
export interface StepTerms {
  /** 1/√α_t (full schedule) or 1/√α_eff (strided). */
  readonly c1: number;
  /** β_t or β_eff. */
  readonly beta: number;
  /** √(1 − ᾱ_t). */
  readonly s: number;
  /** Noise scale σ (not used on the last step). */
  readonly sigma: number;
}

/**
 * The timesteps visited, T−1 down to 0.
 *
 * S = T: every timestep. 1 < S < T: τ_i = round_half_up((T−1)(S−1−i)/(S−1)), computed in exact
 * integer arithmetic like the reference (no float ties to break). S = 1: the single step T−1.
 */
export function stridedTimesteps(total: number, numSteps: number = total): number[] {
  if (!Number.isInteger(total) || total < 1) {
    throw new SamplerInputError(`the schedule must have at least 1 timestep, got ${String(total)}`);
  }
  if (!Number.isInteger(numSteps) || numSteps < 1 || numSteps > total) {
    throw new SamplerInputError(`num_steps must be an integer in [1, ${total}], got ${String(numSteps)}`, { num_steps: numSteps });
  }
  if (numSteps === total) return Array.from({ length: total }, (_, i) => total - 1 - i);
  if (numSteps === 1) return [total - 1];
  const span = numSteps - 1;
  // Products stay far below 2^53 for any realistic T, so the integer division is exact.
  return Array.from({ length: numSteps }, (_, i) => Math.floor((2 * (total - 1) * (span - i) + span) / (2 * span)));
}

function at(buffer: Float32Array, t: number): number {
  return buffer[t] as number;
}

/**
 * Coefficients of the step at `t`; `prev` is the next timestep visited (null on the last step).
 *
 * `full` (S = T) selects upstream's per-timestep formulas, which read β_t, α_t and the posterior
 * variance directly; the strided path derives α_eff = ᾱ_t/ᾱ_prev instead.
 */
export function stepTerms(kind: SamplerKind, sched: Float32Schedule, t: number, prev: number | null, full: boolean): StepTerms {
  const acT = at(sched.alphasCumprod, t);
  const s = f(Math.sqrt(f(1 - acT)));
  if (full) {
    const beta = at(sched.betas, t);
    if (kind === 'ddpm') {
      // Upstream DDPM recomputes α_t as 1 − β_t and uses the stored posterior variance.
      const pv = sched.posteriorVariance as Float32Array;
      return { c1: f(1 / f(Math.sqrt(f(1 - beta)))), beta, s, sigma: f(Math.sqrt(at(pv, t))) };
    }
    // Upstream CFG reads the stored `alphas` buffer and adds √β_t·z.
    const alphas = sched.alphas as Float32Array;
    return { c1: f(1 / f(Math.sqrt(at(alphas, t)))), beta, s, sigma: f(Math.sqrt(beta)) };
  }
  const acP = prev === null ? 1 : at(sched.alphasCumprod, prev);
  const alphaEff = f(acT / acP);
  const betaEff = f(1 - alphaEff);
  const sigma = kind === 'ddpm' ? f(Math.sqrt(f(f(betaEff * f(1 - acP)) / f(1 - acT)))) : f(Math.sqrt(betaEff));
  return { c1: f(1 / f(Math.sqrt(alphaEff))), beta: betaEff, s, sigma };
}

/**
 * One reverse update into `out`: out = mean + σ·z, or out = mean on the last step (z = null).
 *
 * DDPM: mean = c1·(x − (β·ε)/s). CFG: mean = c1·(x − (β/s)·ε) — the two upstream samplers
 * group the terms differently, and the float32 results differ, so both orders are kept.
 */
export function applyStep(kind: SamplerKind, terms: StepTerms, x: Float32Array, eps: Float32Array, z: Float32Array | null, out: Float32Array): void {
  const { c1, beta, s, sigma } = terms;
  const n = x.length;
  // Writing to a Float32Array rounds each stored value; the inner f() calls round the rest.
  if (kind === 'ddpm') {
    for (let i = 0; i < n; i++) out[i] = c1 * f((x[i] as number) - f(f(beta * (eps[i] as number)) / s));
  } else {
    const c2 = f(beta / s);
    for (let i = 0; i < n; i++) out[i] = c1 * f((x[i] as number) - f(c2 * (eps[i] as number)));
  }
  if (z === null) return;
  for (let i = 0; i < n; i++) out[i] = (out[i] as number) + f(sigma * (z[i] as number));
}
