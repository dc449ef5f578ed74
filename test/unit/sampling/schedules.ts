/**
 * FRAMEWORM's noise schedules as the checkpoints store them (compat README "Noise schedules"),
 * rebuilt in float32 for sampler tests that have no checkpoint.
 */

/** DDPM: linear β from 1e-4 to 0.02, float32 cumprod, ᾱ_prev = [1, ᾱ_0 … ᾱ_{T−2}]. */
export function ddpmSchedule(timesteps: number): {
  betas: Float32Array;
  alphas_cumprod: Float32Array;
  alphas_cumprod_prev: Float32Array;
  posterior_variance: Float32Array;
} {
  const f = Math.fround;
  const betas = Float32Array.from({ length: timesteps }, (_, i) => 1e-4 + ((0.02 - 1e-4) * i) / (timesteps - 1));
  const alphasCumprod = new Float32Array(timesteps);
  let acc = 1;
  for (let i = 0; i < timesteps; i++) {
    acc = f(acc * f(1 - (betas[i] as number)));
    alphasCumprod[i] = acc;
  }
  const prev = Float32Array.from({ length: timesteps }, (_, i) => (i === 0 ? 1 : (alphasCumprod[i - 1] as number)));
  const posterior = Float32Array.from({ length: timesteps }, (_, i) =>
    f(f((betas[i] as number) * f(1 - (prev[i] as number))) / f(1 - (alphasCumprod[i] as number))),
  );
  return { betas, alphas_cumprod: alphasCumprod, alphas_cumprod_prev: prev, posterior_variance: posterior };
}

/** CFG-DDPM: cosine schedule in float64, β clipped to [0, 0.999], then float32. */
export function cfgSchedule(timesteps: number): { betas: Float32Array; alphas: Float32Array; alphas_cumprod: Float32Array } {
  const f = Math.fround;
  const g = (i: number): number => Math.cos((((i / timesteps) + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  const betas = Float32Array.from({ length: timesteps }, (_, i) => Math.min(0.999, Math.max(0, 1 - g(i + 1) / g(0) / (g(i) / g(0)))));
  const alphas = betas.map((b) => f(1 - b));
  const alphasCumprod = new Float32Array(timesteps);
  let acc = 1;
  for (let i = 0; i < timesteps; i++) {
    acc = f(acc * (alphas[i] as number));
    alphasCumprod[i] = acc;
  }
  return { betas, alphas, alphas_cumprod: alphasCumprod };
}
