/** Names fixed by DESIGN.md that every part of the control plane shares. */

export const MODEL_TYPES = ['vae', 'dcgan', 'ddpm', 'vqvae2', 'vitgan', 'cfg_ddpm', 'generic'] as const;
export type ModelType = (typeof MODEL_TYPES)[number];

export const STAGES = ['dev', 'staging', 'production', 'archived'] as const;
export type Stage = (typeof STAGES)[number];

export const TARGETS = ['embedded', 'docker', 'swarm'] as const;
export type Target = (typeof TARGETS)[number];

export function isModelType(value: string): value is ModelType {
  return (MODEL_TYPES as readonly string[]).includes(value);
}

export function isStage(value: string): value is Stage {
  return (STAGES as readonly string[]).includes(value);
}

export function isTarget(value: string): value is Target {
  return (TARGETS as readonly string[]).includes(value);
}
