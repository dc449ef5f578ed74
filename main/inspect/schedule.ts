/**
 * Reads the noise-schedule hyper-parameters of the diffusion architectures from their stored
 * `betas` buffer (compat/README.md, "Noise schedules"): DDPM is linspace(β₀, β_end, T); CFG-DDPM
 * is the cosine schedule clipped at 0.999. A schedule that matches neither is reported, not hidden.
 */
import type { HyperParameters } from './fingerprint.js';

/** Seven significant digits: what float32 holds, and how the goldens print values. */
function round7(x: number): number {
  return Number(x.toPrecision(7));
}

function close(actual: readonly number[], expected: readonly number[], rel: number): boolean {
  const scale = Math.max(...expected.map(Math.abs));
  return actual.length === expected.length && actual.every((a, i) => Math.abs(a - expected[i]!) <= rel * scale + 1e-12);
}

function linear(start: number, end: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.fround(n === 1 ? start : start + ((end - start) * i) / (n - 1)));
}

/** Cosine schedule computed in float64 and cast to float32, as upstream does. */
export function cosineBetas(timesteps: number, s = 0.008, max = 0.999): number[] {
  const f = (i: number): number => Math.cos((((i / timesteps) + s) / (1 + s)) * (Math.PI / 2)) ** 2;
  const f0 = f(0);
  return Array.from({ length: timesteps }, (_, i) => Math.fround(Math.min(max, Math.max(0, 1 - f(i + 1) / f0 / (f(i) / f0)))));
}

export interface ScheduleInfo {
  readonly hyper_parameters: HyperParameters;
  readonly warnings: readonly string[];
}

/** Describes a ddpm (linear) or cfg_ddpm (cosine) schedule from its betas. */
export function describeSchedule(type: 'ddpm' | 'cfg_ddpm', betas: readonly number[]): ScheduleInfo {
  if (betas.length === 0) return { hyper_parameters: {}, warnings: ['betas is empty'] };
  const firstBeta = betas[0]!;
  const lastBeta = betas[betas.length - 1]!;
  if (type === 'ddpm') {
    const hp: HyperParameters = { beta_start: round7(firstBeta), beta_end: round7(lastBeta) };
    if (close(betas, linear(firstBeta, lastBeta, betas.length), 1e-6)) return { hyper_parameters: hp, warnings: [] };
    return {
      hyper_parameters: { ...hp, beta_schedule: 'unknown' },
      warnings: [`betas are not a linear schedule (first ${round7(firstBeta)}, last ${round7(lastBeta)}); FRAMEWORM's ddpm uses linspace`],
    };
  }
  const hp: HyperParameters = { beta_max: round7(Math.max(...betas)) };
  if (close(betas, cosineBetas(betas.length), 1e-6)) return { hyper_parameters: hp, warnings: [] };
  return {
    hyper_parameters: { ...hp, beta_schedule: 'unknown' },
    warnings: [`betas are not FRAMEWORM's cosine schedule (first ${round7(firstBeta)}, last ${round7(lastBeta)})`],
  };
}
