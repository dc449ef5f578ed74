import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { InspectionReport } from '../inspect/inspect.js';
import type { ModelType } from '../common/types.js';

/** What `manifest.json` in an export folder records about the artifacts beside it. */
export interface ExportManifest {
  readonly name: string;
  readonly version: string;
  readonly type: ModelType;
  readonly format: 'onnx';
  readonly created_at: string;
  readonly source: { readonly path: string; readonly sha256: string; readonly size_bytes: number };
  readonly files: Readonly<Record<string, { readonly sha256: string; readonly size_bytes: number }>>;
  readonly io: { readonly inputs: unknown; readonly outputs: unknown } | null;
  readonly hyper_parameters: Readonly<Record<string, unknown>>;
  readonly exporter: string;
}

export function sha256File(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/**
 * Places an ONNX model into `experiments/deploy_exports/<name>/<version>/` with its manifest.
 *
 * The copy is verified against the inspected sha256, so what is served is exactly what was
 * inspected even if the source file changes afterwards.
 */
export function storeOnnxArtifact(
  exportDir: string,
  args: { name: string; version: string; type: ModelType; source: string; report: InspectionReport },
): ExportManifest {
  fs.mkdirSync(exportDir, { recursive: true });
  const target = path.join(exportDir, 'model.onnx');
  fs.copyFileSync(args.source, target);
  const digest = sha256File(target);
  if (digest !== args.report.sha256) {
    throw new Error(`${args.source} changed while it was being deployed (sha256 ${digest} ≠ inspected ${args.report.sha256})`);
  }
  const size = fs.statSync(target).size;
  const manifest: ExportManifest = {
    name: args.name,
    version: args.version,
    type: args.type,
    format: 'onnx',
    created_at: new Date().toISOString(),
    source: { path: path.resolve(args.source), sha256: args.report.sha256, size_bytes: args.report.size_bytes },
    files: { 'model.onnx': { sha256: digest, size_bytes: size } },
    io: args.report.onnx ? { inputs: args.report.onnx.inputs, outputs: args.report.onnx.outputs } : null,
    hyper_parameters: args.report.hyper_parameters,
    exporter: 'copy of a ready ONNX model',
  };
  fs.writeFileSync(path.join(exportDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}
