/**
 * Small pure helpers of the deployment manager: type resolution, registry views, warm-up
 * shapes and clean-up after a failed deploy.
 */
import fs from 'node:fs';
import type { VersionView } from '../../preload/contract.js';
import { FramewormError } from '../common/errors.js';
import { isModelType, type ModelType } from '../common/types.js';
import type { ExportManifest } from '../common/export-manifest.js';
import type { InspectionReport } from '../inspect/inspect.js';
import type { VersionRecord } from '../registry/registry.js';

/** The architecture to serve: the detected one, or the requested one when they agree. */
export function resolveType(requested: string, detected: ModelType, file: string): ModelType {
  if (requested === 'auto') return detected;
  if (!isModelType(requested)) {
    throw new FramewormError('E_USAGE', `--type must be auto or one of vae, dcgan, ddpm, vqvae2, vitgan, cfg_ddpm, generic (got "${requested}")`);
  }
  if (requested !== detected) {
    throw new FramewormError('E_INPUT', `--type ${requested} contradicts ${file}: it looks like ${detected}`);
  }
  return requested;
}

/** Removes a folder only when nothing is in it (a model folder whose first deploy failed). */
export function removeIfEmpty(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch {
    /* not empty or already gone */
  }
}

/** Warm-up shapes: batch 1 and, where H/W are dynamic, the model's image size. */
export function warmupDims(manifest: ExportManifest): Record<string, number[]> {
  const size = typeof manifest.hyper_parameters['image_size'] === 'number' ? manifest.hyper_parameters['image_size'] : 32;
  return Object.fromEntries(manifest.inputs.map((i) => [i.name, i.shape.map((d, axis) => (typeof d === 'number' ? d : axis === 0 ? 1 : size))]));
}

export function trainingMetricsOf(report: InspectionReport): Record<string, unknown> | null {
  const state = report.metadata.training_state;
  return state && typeof state === 'object' ? (state as Record<string, unknown>) : null;
}

export function epochOf(report: InspectionReport): number | null {
  return typeof report.metadata.epoch === 'number' ? report.metadata.epoch : null;
}

export function toView(v: VersionRecord): VersionView {
  return {
    version: v.version,
    stage: v.stage,
    type: v.type,
    target: v.target,
    created_at: v.created_at,
    deployed_at: v.deployed_at,
    archived_at: v.archived_at,
    lineage: v.lineage,
    artifacts: v.artifacts,
  };
}
