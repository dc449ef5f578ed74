/**
 * Compat checkpoints exported once per test file, and embedded backends loaded from them with
 * or without batching, for the batching tests and benchmark.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readManifest } from '../../../main/common/export-manifest.js';
import type { ModelType } from '../../../main/common/types.js';
import { warmupDims } from '../../../main/deploy/deploy-support.js';
import { exportCheckpoint } from '../../../main/export/checkpoint-exporter.js';
import { findPython } from '../../../main/export/python-finder.js';
import type { BatchClock } from '../../../main/serving/batching/overload.js';
import { EmbeddedBackend, type BatchingOptions } from '../../../main/serving/embedded-backend.js';
import { compatPath } from '../../fixtures/inspect/compat.js';

/** Exported models by architecture, in one temp folder. */
export interface Exports {
  readonly dir: string;
  modelDir(type: ModelType): string;
  cleanup(): void;
}

/** Exports the compat checkpoints of `types` (TorchScript + ONNX + parity, as `deploy start` does). */
export async function exportCompat(types: readonly ModelType[]): Promise<Exports> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-batching-'));
  const python = await findPython(null);
  for (const type of types) {
    await exportCheckpoint({ python, checkpoint: compatPath(type, 'best.pt'), outDir: path.join(dir, type), type });
  }
  return { dir, modelDir: (type) => path.join(dir, type), cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export interface LoadOptions {
  readonly batching?: BatchingOptions;
  readonly workers?: number;
  readonly maxBatchSize?: number;
  readonly requestTimeoutMs?: number;
  readonly batchClock?: BatchClock;
  readonly version?: string;
}

/** An embedded backend of an exported model, loaded like the embedded deployment target does. */
export function loadBackend(exports: Exports, type: ModelType, options: LoadOptions = {}): Promise<EmbeddedBackend> {
  const dir = exports.modelDir(type);
  const manifest = readManifest(dir);
  return EmbeddedBackend.load({
    name: `${type}-test`,
    version: options.version ?? 'v1',
    type,
    modelPath: path.join(dir, 'model.onnx'),
    threads: 1,
    workers: options.workers ?? 1,
    maxBatchSize: options.maxBatchSize ?? 64,
    model: { hyperParameters: manifest.hyper_parameters, ...(manifest.schedule ? { schedule: manifest.schedule } : {}) },
    warmupDims: warmupDims(manifest),
    ...(options.batching ? { batching: options.batching } : {}),
    ...(options.requestTimeoutMs !== undefined ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
    ...(options.batchClock ? { batchClock: options.batchClock } : {}),
  });
}

export const BATCHING_OFF: BatchingOptions = { enabled: false, maxRows: 64, maxDelayMs: 2 };

/** Flattens a nested numeric array (a JSON tensor) into its values and shape. */
export function flatten(value: unknown): { shape: number[]; data: number[] } {
  const shape: number[] = [];
  for (let v = value; Array.isArray(v); v = v[0]) shape.push(v.length);
  return { shape, data: Array.isArray(value) ? (value.flat(Infinity) as number[]) : [] };
}

/** Largest |a − b| over two equally long arrays (Infinity when the lengths differ). */
export function maxDiff(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** A handlePredict answer as plain JSON (worker-encoded fragments parsed). */
export function plain(answer: object): Record<string, unknown> {
  return JSON.parse(JSON.stringify(answer)) as Record<string, unknown>;
}
