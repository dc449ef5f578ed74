import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ModelType } from './types.js';

export const MANIFEST_FILE = 'manifest.json';

export interface ManifestTensor {
  readonly name: string;
  readonly shape: (number | string | null)[];
  readonly dtype: string;
}

/**
 * `manifest.json` beside the artifacts in `experiments/deploy_exports/<name>/<version>/`,
 * written by the Python exporter for checkpoints and by the ONNX import for ready models.
 */
export interface ExportManifest {
  readonly format_version: number;
  readonly type: ModelType;
  readonly hyper_parameters: Readonly<Record<string, unknown>>;
  readonly inputs: readonly ManifestTensor[];
  readonly outputs: readonly ManifestTensor[];
  readonly files: Readonly<Record<string, { sha256: string; size_bytes: number }>>;
  readonly parity: Readonly<Record<string, unknown>>;
  readonly opset: number | null;
  readonly torch_version: string | null;
  readonly export_seconds: number;
  /** Diffusion models: the schedule buffers read from the checkpoint, for the host sampler. */
  readonly schedule?: Readonly<Record<string, unknown>>;
  readonly checkpoint?: Readonly<Record<string, unknown>>;
  readonly exporter?: string;
  readonly [key: string]: unknown;
}

export function sha256File(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

export function readManifest(exportDir: string): ExportManifest {
  return JSON.parse(fs.readFileSync(path.join(exportDir, MANIFEST_FILE), 'utf8')) as ExportManifest;
}

export function writeManifest(exportDir: string, manifest: ExportManifest): void {
  fs.writeFileSync(path.join(exportDir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
}

/** sha256 of each artifact file, for the registry's lineage. */
export function artifactHashes(manifest: ExportManifest): Record<string, string> {
  return Object.fromEntries(Object.entries(manifest.files).map(([f, v]) => [f, v.sha256]));
}
