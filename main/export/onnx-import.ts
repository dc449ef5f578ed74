import fs from 'node:fs';
import path from 'node:path';
import { FramewormError } from '../common/errors.js';
import type { ModelType } from '../common/types.js';
import type { InspectionReport } from '../inspect/inspect.js';
import { sha256File, writeManifest, type ExportManifest } from '../common/export-manifest.js';

/**
 * Places a ready ONNX model into an export folder with its manifest.
 *
 * The copy is verified against the inspected sha256, so what is served is exactly what was
 * inspected even if the source file changes meanwhile.
 */
export function importOnnxModel(exportDir: string, args: { type: ModelType; source: string; report: InspectionReport }): ExportManifest {
  const started = Date.now();
  fs.mkdirSync(exportDir, { recursive: true });
  const target = path.join(exportDir, 'model.onnx');
  fs.copyFileSync(args.source, target);
  const digest = sha256File(target);
  if (digest !== args.report.sha256) {
    throw new FramewormError('E_INPUT', `${args.source} changed while it was being deployed (sha256 ${digest} ≠ inspected ${args.report.sha256})`);
  }
  const onnx = args.report.onnx;
  const manifest: ExportManifest = {
    format_version: 1,
    type: args.type,
    hyper_parameters: args.report.hyper_parameters,
    inputs: (onnx?.inputs ?? []).map((i) => ({ name: i.name, shape: [...(i.shape ?? [])], dtype: i.dtype })),
    outputs: (onnx?.outputs ?? []).map((o) => ({ name: o.name, shape: [...(o.shape ?? [])], dtype: o.dtype })),
    files: { 'model.onnx': { sha256: digest, size_bytes: fs.statSync(target).size } },
    parity: {},
    opset: onnx?.opset.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? null,
    torch_version: null,
    export_seconds: (Date.now() - started) / 1000,
    exporter: 'import of a ready ONNX model',
    source: { path: path.resolve(args.source), sha256: args.report.sha256, size_bytes: args.report.size_bytes },
  };
  writeManifest(exportDir, manifest);
  return manifest;
}
