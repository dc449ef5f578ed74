/**
 * `deploy inspect`: identifies a model file (PyTorch zip checkpoint or ONNX), its FRAMEWORM
 * architecture and hyper-parameters, without executing anything from the file. The report uses
 * snake_case keys because it is printed as-is by `frameworm deploy inspect --json`.
 */
import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { constants as bufferConstants } from 'node:buffer';
import { FramewormError } from '../common/errors.js';
import { type ModelType, isModelType } from '../common/types.js';
import { type HyperParameters, type HyperParameterValue, type StructureCheck, countParameters, detect } from './fingerprint.js';
import { type OnnxDim, type OnnxModelInfo, type OnnxOpset, type OnnxValueInfo, looksLikeOnnx, readOnnxModel } from './onnx-reader.js';
import { describeSchedule } from './schedule.js';
import { readTensorNumbers } from './tensor-data.js';
import { type CheckpointFormat, type CheckpointMetadata, type TorchCheckpoint, readTorchCheckpoint } from './torch-checkpoint.js';

export { formatInspection } from './format-inspection.js';
export type { HyperParameters, HyperParameterValue, StructureCheck, CheckpointFormat, CheckpointMetadata, OnnxDim, OnnxValueInfo, OnnxOpset };

export interface TensorSummary {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: string;
  /** Absolute byte offset of the tensor's first element in the file. */
  readonly offset: number;
  readonly nbytes: number;
}

export interface OnnxSummary {
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
  readonly opset: readonly OnnxOpset[];
  readonly producer: string;
  readonly producer_version: string;
  readonly ir_version: number;
  readonly graph_name: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly n_nodes: number;
  readonly op_types: readonly string[];
}

export interface InspectionReport {
  /** Absolute path of the inspected file. */
  readonly path: string;
  readonly format: 'pytorch' | 'onnx';
  /** PyTorch only: how the state dict is wrapped. */
  readonly checkpoint_format?: CheckpointFormat;
  readonly type: ModelType;
  /** FRAMEWORM's names (compat/README.md); empty for generic. */
  readonly hyper_parameters: HyperParameters;
  /** Why `type` is generic. */
  readonly reason?: string;
  readonly warnings: readonly string[];
  /** PyTorch FRAMEWORM types only: comparison with the architecture's full layout. */
  readonly structure?: StructureCheck;
  readonly n_tensors: number;
  /** Trainable parameters (BatchNorm statistics and diffusion schedules excluded). */
  readonly n_params: number;
  /** State-dict tensors in file order (PyTorch); empty for ONNX. */
  readonly tensors: readonly TensorSummary[];
  readonly metadata: CheckpointMetadata;
  readonly onnx?: OnnxSummary;
  readonly sha256: string;
  readonly size_bytes: number;
}

const ZIP_MAGIC = [Buffer.from('PK\x03\x04', 'latin1'), Buffer.from('PK\x05\x06', 'latin1')];
/** torch < 1.6 began with a pickled magic number 0x1950a86a20f9469cfc6c (protocol 2, LONG1). */
const LEGACY_TORCH_MAGIC = Buffer.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]);
const FLOAT_DTYPES = new Set(['float32', 'float64', 'float16', 'bfloat16']);
const ONNX_GENERIC_REASON = 'ONNX graph; architecture-specific schemas need a FRAMEWORM checkpoint';

async function readModelFile(file: string): Promise<Buffer> {
  let info: Stats;
  try {
    info = await stat(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new FramewormError('E_INPUT', `no such file: ${file}`);
    throw new FramewormError('E_INPUT', `cannot read ${file}: ${(err as Error).message}`);
  }
  if (info.isDirectory()) {
    throw new FramewormError('E_INPUT', `${file} is a directory, expected a checkpoint (.pt/.pth/.ckpt) or .onnx file`);
  }
  if (!info.isFile()) throw new FramewormError('E_INPUT', `${file} is not a regular file`);
  if (info.size === 0) throw new FramewormError('E_INPUT', `${file} is empty`);
  if (info.size > bufferConstants.MAX_LENGTH) throw new FramewormError('E_INPUT', `${file} is too large to inspect (${info.size} bytes)`);
  try {
    return await readFile(file);
  } catch (err) {
    throw new FramewormError('E_INPUT', `cannot read ${file}: ${(err as Error).message}`);
  }
}

/**
 * safetensors: an 8-byte little-endian header length, then that many bytes of JSON header.
 * Checked from the structure, so an ONNX or pickle file can never be mistaken for one.
 */
function looksLikeSafetensors(buf: Buffer): boolean {
  if (buf.length < 10) return false;
  const headerLength = buf.readBigUInt64LE(0);
  return headerLength >= 2n && headerLength <= BigInt(buf.length - 8) && buf[8] === 0x7b /* { */;
}

function scheduleFor(buf: Buffer, ck: TorchCheckpoint, type: ModelType): { hp: HyperParameters; warnings: readonly string[] } {
  if (type !== 'ddpm' && type !== 'cfg_ddpm') return { hp: {}, warnings: [] };
  const betas = ck.tensors.find((t) => t.name === 'betas');
  if (!betas || betas.shape.length !== 1 || !FLOAT_DTYPES.has(betas.dtype)) {
    return { hp: {}, warnings: ['betas is missing or not a 1-D float tensor; the schedule could not be read'] };
  }
  const info = describeSchedule(type, readTensorNumbers(buf, betas));
  return { hp: info.hyper_parameters, warnings: info.warnings };
}

function inspectTorch(buf: Buffer, label: string): Omit<InspectionReport, 'path' | 'sha256' | 'size_bytes'> {
  const ck = readTorchCheckpoint(buf, label);
  const det = detect(ck.tensors);
  const schedule = scheduleFor(buf, ck, det.type);
  return {
    format: 'pytorch',
    checkpoint_format: ck.format,
    type: det.type,
    hyper_parameters: { ...det.hyper_parameters, ...schedule.hp },
    ...(det.reason !== undefined ? { reason: det.reason } : {}),
    warnings: [...ck.warnings, ...det.warnings, ...schedule.warnings],
    ...(det.structure ? { structure: det.structure } : {}),
    n_tensors: ck.tensors.length,
    n_params: countParameters(ck.tensors, det.type),
    tensors: ck.tensors.map((t) => ({ name: t.name, shape: t.shape, dtype: t.dtype, offset: t.offset, nbytes: t.nbytes })),
    metadata: ck.metadata,
  };
}

/** Hyper-parameters an exporter may have stored as JSON in the `frameworm_hyper_parameters` property. */
function onnxHyperParameters(meta: Readonly<Record<string, string>>, warnings: string[]): HyperParameters {
  const raw = meta['frameworm_hyper_parameters'];
  if (raw === undefined) return {};
  try {
    const parsed: unknown = JSON.parse(raw);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    const out: HyperParameters = {};
    for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
      if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') out[k] = v;
      else if (Array.isArray(v) && v.every((x) => typeof x === 'number')) out[k] = v as number[];
    }
    return out;
  } catch {
    warnings.push('metadata frameworm_hyper_parameters is not a JSON object; ignored');
    return {};
  }
}

function inspectOnnx(model: OnnxModelInfo): Omit<InspectionReport, 'path' | 'sha256' | 'size_bytes'> {
  const warnings: string[] = [];
  const declared = model.metadata['frameworm_type'];
  let type: ModelType = 'generic';
  if (declared !== undefined) {
    if (isModelType(declared)) type = declared;
    else warnings.push(`metadata frameworm_type "${declared}" is not a FRAMEWORM architecture; treated as generic`);
  }
  return {
    format: 'onnx',
    type,
    hyper_parameters: type === 'generic' ? {} : onnxHyperParameters(model.metadata, warnings),
    ...(type === 'generic' ? { reason: ONNX_GENERIC_REASON } : {}),
    warnings,
    n_tensors: model.n_initializers,
    n_params: model.n_params,
    tensors: [],
    metadata: {},
    onnx: {
      inputs: model.inputs,
      outputs: model.outputs,
      opset: model.opset,
      producer: model.producer_name,
      producer_version: model.producer_version,
      ir_version: model.ir_version,
      graph_name: model.graph_name,
      metadata: model.metadata,
      n_nodes: model.n_nodes,
      op_types: model.op_types,
    },
  };
}

function sniffAndRead(buf: Buffer, label: string): Omit<InspectionReport, 'path' | 'sha256' | 'size_bytes'> {
  if (ZIP_MAGIC.some((m) => buf.subarray(0, 4).equals(m))) return inspectTorch(buf, label);
  if (buf.subarray(0, LEGACY_TORCH_MAGIC.length).equals(LEGACY_TORCH_MAGIC)) {
    throw new FramewormError(
      'E_INPUT',
      `${label} uses the legacy (pre-1.6, non-zip) PyTorch format, which is not supported: re-save it with torch>=1.6 (torch.save(torch.load(path), path))`,
    );
  }
  if (buf[0] === 0x80 && buf.length > 1 && buf[1]! >= 2 && buf[1]! <= 5) {
    throw new FramewormError('E_INPUT', `${label} is a plain Python pickle, not a PyTorch checkpoint: re-save it with torch.save (torch>=1.6)`);
  }
  if (looksLikeSafetensors(buf)) {
    throw new FramewormError(
      'E_INPUT',
      `${label} is a safetensors file, which holds tensors without the model that uses them; deploy a PyTorch checkpoint instead: load it into your model (model.load_state_dict(safetensors.torch.load_file(path))) and save it with torch.save(model.state_dict(), 'best.pt'), or export the model to ONNX with torch.onnx.export`,
    );
  }
  if (looksLikeOnnx(buf)) return inspectOnnx(readOnnxModel(buf, label));
  try {
    return inspectOnnx(readOnnxModel(buf, label));
  } catch (err) {
    if (!(err instanceof FramewormError)) throw err;
    // The file's own bytes are never echoed: they may be anything, terminal escapes included.
    throw new FramewormError('E_INPUT', `${label} is neither a PyTorch checkpoint nor an ONNX model (expected a .pt/.pth/.ckpt file written by torch.save, or an .onnx file)`);
  }
}

/**
 * Inspects a model file and reports its format, FRAMEWORM architecture and hyper-parameters.
 *
 * Reads the file once, executes nothing from it, and throws FramewormError E_INPUT for
 * missing, empty, unreadable or unrecognised files and E_UNSAFE for pickles that reference
 * anything outside the checkpoint allow-list.
 */
export async function inspectModelFile(file: string): Promise<InspectionReport> {
  const buf = await readModelFile(file);
  const body = sniffAndRead(buf, file);
  return {
    path: path.resolve(file),
    ...body,
    sha256: createHash('sha256').update(buf).digest('hex'),
    size_bytes: buf.length,
  };
}
