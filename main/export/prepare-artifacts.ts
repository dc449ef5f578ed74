import fs from 'node:fs';
import path from 'node:path';
import type { ProgressEvent } from '../../preload/contract.js';
import { FramewormError } from '../common/errors.js';
import type { ModelType } from '../common/types.js';
import type { InspectionReport } from '../inspect/inspect.js';
import { exportCheckpoint, removeCreatedDirs } from './checkpoint-exporter.js';
import { sha256File, writeManifest, type ExportManifest } from '../common/export-manifest.js';
import { QUANTIZED_FILE, quantizationRefusal, quantizeExport, type QuantizationReport } from './quantize.js';
import { checkOnnxParity, PARITY_TOLERANCE } from './onnx-parity.js';
import { importOnnxModel } from './onnx-import.js';
import { findPython } from './python-finder.js';
import { snapshotCheckpoint } from './source-snapshot.js';

/** The private copy of the checkpoint inside the export folder; removed once the export ends. */
export const CHECKPOINT_SNAPSHOT = '.checkpoint-snapshot.pt';

export interface PreparedArtifacts {
  readonly manifest: ExportManifest;
  readonly modelPath: string;
  readonly files: Readonly<Record<string, string>>;
}

/**
 * Turns an inspected model file into served artifacts in `exportDir`: a ready ONNX model is
 * imported as is; a FRAMEWORM checkpoint is exported to TorchScript + ONNX by the Python side,
 * then checked in onnxruntime-node against the eager outputs (eager ↔ TorchScript ↔ ONNX).
 *
 * Both paths work from a private copy verified against `report.sha256` (the bytes inspection
 * read), never from `source` again, so a file rewritten meanwhile is refused (E_INPUT) rather
 * than served under the inspected checksum.
 */
export async function prepareArtifacts(args: {
  readonly report: InspectionReport;
  readonly source: string;
  readonly exportDir: string;
  readonly type: ModelType;
  readonly pythonPath: string | null;
  readonly imageSize?: number;
  /** `required` (--quantize) refuses what cannot be quantized; `preferred` (config) says so and goes on. */
  readonly quantize: 'required' | 'preferred' | 'no';
  readonly progress: (event: ProgressEvent) => void;
  /** Cancels the export (the Python exporter is killed). */
  readonly signal?: AbortSignal;
}): Promise<PreparedArtifacts> {
  const modelPath = path.join(args.exportDir, 'model.onnx');
  const refusal =
    args.quantize === 'no'
      ? null
      : (quantizationRefusal(args.type) ??
        (args.report.format === 'onnx' ? 'a ready ONNX model is not quantized: the quantized model is checked against eager PyTorch outputs, which only a checkpoint export provides' : null));
  if (refusal && args.quantize === 'required') throw new FramewormError('E_USAGE', `--quantize: ${refusal}`);
  if (refusal) args.progress({ step: 'quantize', message: `deploy.quantize is on, but ${refusal}; serving float32` });
  const quantize = args.quantize !== 'no' && refusal === null;
  if (args.report.format === 'onnx') {
    const manifest = importOnnxModel(args.exportDir, { type: args.type, source: args.source, report: args.report });
    return { manifest, modelPath, files: { onnx: modelPath, manifest: path.join(args.exportDir, 'manifest.json') } };
  }
  if (args.report.structure && !args.report.structure.complete) {
    const s = args.report.structure;
    const first = s.mismatched[0];
    const what = first
      ? `${first.name} is [${first.expected.join(',')}] in a ${args.type} but [${first.actual.join(',')}] here`
      : `${s.missing.length} missing and ${s.unexpected.length} unexpected tensors (e.g. ${[...s.missing, ...s.unexpected].slice(0, 2).join(', ')})`;
    throw new FramewormError('E_INPUT', `${args.source} has ${args.type} tensor names but does not fit a ${args.type}: ${what}`);
  }
  const exported = await exportSnapshot(args);
  args.progress({ step: 'parity', message: 'checking the ONNX model in onnxruntime-node against eager PyTorch', value: 0.45 });
  const onnxErrors = await checkOnnxParity(args.exportDir);
  let quantization: QuantizationReport | null = null;
  if (quantize) {
    args.progress({ step: 'quantize', message: 'quantizing weights to int8 and measuring the error', value: 0.5 });
    quantization = await quantizeExport(await findPython(args.pythonPath), args.exportDir, args.type);
  }
  const manifest: ExportManifest = {
    ...exported,
    parity: { ...exported.parity, onnxruntime_node_max_abs_err: onnxErrors, tolerance: PARITY_TOLERANCE },
    ...(refusal ? { quantization: { skipped: refusal } } : {}),
    ...(quantization ? { quantization, files: { ...exported.files, [QUANTIZED_FILE]: { sha256: sha256File(path.join(args.exportDir, QUANTIZED_FILE)), size_bytes: quantization.size_bytes } } } : {}),
  };
  writeManifest(args.exportDir, manifest);
  const served = quantization ? path.join(args.exportDir, QUANTIZED_FILE) : modelPath;
  return {
    manifest,
    modelPath: served,
    files: {
      onnx: served,
      ...(quantization ? { onnx_float: modelPath } : {}),
      torchscript: path.join(args.exportDir, 'model.torchscript.pt'),
      manifest: path.join(args.exportDir, 'manifest.json'),
    },
  };
}

/**
 * Exports the checkpoint from its private copy: snapshot (hashed and verified), Python export,
 * then the copy is removed, on success and on failure alike. The manifest names the user's
 * path, and its checkpoint sha256 (the exporter's own hash of what it read) must be the
 * inspected one.
 */
async function exportSnapshot(args: {
  readonly report: InspectionReport;
  readonly source: string;
  readonly exportDir: string;
  readonly type: ModelType;
  readonly pythonPath: string | null;
  readonly imageSize?: number;
  readonly progress: (event: ProgressEvent) => void;
  readonly signal?: AbortSignal;
}): Promise<ExportManifest> {
  // The first folder created here (undefined if exportDir existed): removed again on failure.
  const created = fs.mkdirSync(args.exportDir, { recursive: true });
  const snapshot = path.join(args.exportDir, CHECKPOINT_SNAPSHOT);
  try {
    await snapshotCheckpoint(args.source, snapshot, args.report.sha256);
    const python = await findPython(args.pythonPath);
    args.progress({ step: 'export', message: `exporting with Python ${python.python}, torch ${python.torch}`, value: 0.2 });
    const exported = await exportCheckpoint({
      python,
      checkpoint: snapshot,
      outDir: args.exportDir,
      type: args.type,
      ...(args.imageSize !== undefined ? { imageSize: args.imageSize } : {}),
      ...(args.signal ? { signal: args.signal } : {}),
      onProgress: (step, message) => args.progress({ step: `export:${step}`, message, value: 0.3 }),
    });
    const recorded = exported.checkpoint?.['sha256'];
    if (recorded !== args.report.sha256) {
      throw new FramewormError('E_RUNTIME', `the exporter read a checkpoint with sha256 ${String(recorded)}, not the inspected ${args.report.sha256}`);
    }
    return { ...exported, checkpoint: { ...exported.checkpoint, path: path.resolve(args.source) } };
  } catch (err) {
    fs.rmSync(snapshot, { force: true });
    removeCreatedDirs(args.exportDir, created);
    throw err;
  } finally {
    fs.rmSync(snapshot, { force: true });
  }
}
