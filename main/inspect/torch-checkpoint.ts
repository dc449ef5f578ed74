/**
 * Reads a PyTorch zip checkpoint (torch >= 1.6) without torch: finds `data.pkl`, interprets it
 * with the restricted unpickler, locates every state-dict tensor's bytes inside the file and
 * classifies the checkpoint layout. No tensor data is copied.
 */
import { FramewormError } from '../common/errors.js';
import { DTYPE_SIZE, type PickleDict, type PickleValue, type StorageRef, type TensorRef, isDict, isTensor } from './pickle-types.js';
import { type JsonValue, toJson } from './pickle-json.js';
import { printable } from './printable.js';
import { unpickleCheckpoint } from './restricted-unpickler.js';
import { type ZipArchive, crc32, deflateRefusal, readZip, readZipEntry } from './zip-reader.js';

export type CheckpointFormat = 'trainer' | 'state_dict+config' | 'state_dict';

/** A state-dict tensor and where its bytes are in the file. */
export interface TensorLocation extends TensorRef {
  readonly name: string;
  /** Absolute byte offset of the tensor's first element in the file. */
  readonly offset: number;
  /** numel × element size. */
  readonly nbytes: number;
  /** Row-major with no gaps, so [offset, offset + nbytes) is exactly the tensor. */
  readonly contiguous: boolean;
}

export interface OptimizerSummary {
  /** A guess from the param-group fields (torch does not store the class name). */
  readonly kind: 'Adam' | 'SGD' | 'unknown';
  readonly lr?: number;
  readonly param_groups: number;
  readonly params: number;
  readonly state_entries: number;
  readonly hyper_parameters: { [key: string]: JsonValue };
}

export interface CheckpointMetadata {
  epoch?: number;
  training_state?: JsonValue;
  config?: JsonValue;
  optimizer?: OptimizerSummary;
  /** Keys of the top-level dict, in file order; absent for a bare state dict. */
  top_level_keys?: string[];
  /** Where the state dict was found: `model_state_dict`, `state_dict`, or `null` for the root. */
  state_dict_key?: string | null;
}

export interface TorchCheckpoint {
  readonly format: CheckpointFormat;
  /** The archive's top-level folder (`best`, `archive`, …). */
  readonly prefix: string;
  readonly tensors: readonly TensorLocation[];
  readonly metadata: CheckpointMetadata;
  readonly warnings: readonly string[];
}

/**
 * A state dict's pickle is ~100 bytes per tensor; this only stops a hostile declared size.
 * templates/frameworm/safe_load.py applies the same cap (MAX_PICKLE_BYTES).
 */
export const MAX_PICKLE_BYTES = 256 * 1024 * 1024;
const STATE_DICT_KEYS = ['model_state_dict', 'state_dict'] as const;
const TRAINER_KEYS = ['training_state', 'epoch', 'optimizer_state_dict', 'global_step'];

function findPickle(zip: ZipArchive, label: string): string {
  if (zip.entries.some((e) => e.name.endsWith('/constants.pkl')) && zip.entries.some((e) => e.name.includes('/code/'))) {
    throw new FramewormError(
      'E_INPUT',
      `${label} is a TorchScript archive (torch.jit.save), not a state-dict checkpoint: re-save it with torch.save(model.state_dict(), path)`,
    );
  }
  const candidates = zip.entries.filter((e) => e.name === 'data.pkl' || e.name.endsWith('/data.pkl'));
  if (candidates.length === 0) {
    const names = zip.entries.slice(0, 5).map((e) => printable(e.name, 60));
    throw new FramewormError(
      'E_INPUT',
      `${label} is a ZIP archive but not a PyTorch checkpoint: it has no data.pkl entry (entries: ${names.join(', ') || 'none'})`,
    );
  }
  if (candidates.length > 1) {
    throw new FramewormError('E_INPUT', `${label} holds ${candidates.length} data.pkl entries; expected one PyTorch checkpoint`);
  }
  return candidates[0]!.name.slice(0, -'data.pkl'.length);
}

function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expected) return false;
    expected *= shape[i]!;
  }
  return true;
}

/** Elements of the storage a tensor can touch: offset + Σ (size−1)·stride + 1. */
function storageSpan(t: TensorRef): number {
  if (t.numel === 0) return 0;
  let last = t.storageOffset;
  for (let i = 0; i < t.shape.length; i++) last += (t.shape[i]! - 1) * t.stride[i]!;
  return last + 1;
}

function locate(zip: ZipArchive, prefix: string, name: string, t: TensorRef, label: string): TensorLocation {
  // checkStorages has already matched every storage with a stored entry of exactly its size.
  const entry = zip.byName.get(`${prefix}data/${t.storageKey}`)!;
  const size = DTYPE_SIZE[t.dtype];
  const needed = storageSpan(t) * size;
  if (needed > entry.uncompressedSize) {
    throw new FramewormError(
      'E_INPUT',
      `${label} is truncated or corrupt: tensor ${printable(name)} needs ${needed} bytes of storage data/${printable(t.storageKey)} but the entry holds ${entry.uncompressedSize}`,
    );
  }
  return {
    ...t,
    name,
    offset: entry.dataOffset + t.storageOffset * size,
    nbytes: t.numel * size,
    contiguous: isContiguous(t.shape, t.stride),
  };
}

/**
 * Checks every storage the pickle references — the model's and the optimizer's alike — against
 * its archive entry, from the central directory only, before anything reads tensor data: the
 * entry must exist, be stored (torch never compresses tensor data; a deflated one is either a
 * repacked file or a deflate bomb, and is named as the latter when its ratio says so) and hold
 * exactly the pickle's declared numel × element size. The Python exporter applies the same
 * rules to the storages it reads (templates/frameworm/safe_load.py).
 */
function checkStorages(zip: ZipArchive, prefix: string, storages: ReadonlyMap<string, StorageRef>, stateDict: PickleDict, label: string): void {
  // A model tensor's name says more to the user than a storage key does.
  const tensorOf = new Map<string, string>();
  for (const [key, value] of stateDict.entries) if (isTensor(value) && !tensorOf.has(value.storageKey)) tensorOf.set(value.storageKey, String(key));
  for (const ref of storages.values()) {
    const key = printable(ref.key);
    const entry = zip.byName.get(`${prefix}data/${ref.key}`);
    if (!entry) {
      const tensor = tensorOf.get(ref.key);
      const who = tensor !== undefined ? `tensor ${printable(tensor)}` : 'the pickle';
      throw new FramewormError('E_INPUT', `${label} is corrupt: ${who} refers to storage data/${key}, which is missing from the archive`);
    }
    const declared = ref.numel * DTYPE_SIZE[ref.dtype];
    if (!Number.isSafeInteger(declared)) throw new FramewormError('E_INPUT', `${label} is corrupt: storage data/${key} declares an impossible size`);
    if (entry.method !== 0) {
      // Over the cap of what the pickle declares, or a bomb-like ratio: say it is a bomb.
      const bomb = deflateRefusal(entry, declared);
      throw new FramewormError(
        'E_INPUT',
        bomb
          ? `refused ${label}: storage data/${key} is a deflate bomb (${entry.compressedSize} compressed bytes declare ${entry.uncompressedSize}, the pickle declares ${declared}); nothing was inflated`
          : `${label} stores tensor data compressed (data/${key}); torch never does, so the file was repacked: re-save it with torch.save`,
      );
    }
    if (entry.uncompressedSize !== entry.compressedSize || entry.uncompressedSize !== declared) {
      const tensor = tensorOf.get(ref.key);
      throw new FramewormError(
        'E_INPUT',
        tensor !== undefined
          ? `${label} is truncated or corrupt: tensor ${printable(tensor)} needs ${declared} bytes of storage data/${key} but the entry holds ${entry.compressedSize}`
          : `${label} is truncated or corrupt: storage data/${key} is declared as ${ref.numel} × ${ref.dtype} = ${declared} bytes but its archive entry holds ${entry.compressedSize}`,
      );
    }
  }
}

function describe(value: PickleValue | undefined): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'None';
  if (typeof value !== 'object') return `a ${typeof value}`;
  return value.kind === 'tensor' ? 'a single tensor' : `a ${value.kind}`;
}

function get(dict: PickleDict, key: string): PickleValue | undefined {
  return dict.entries.get(key);
}

interface Located {
  readonly stateDict: PickleDict;
  readonly key: string | null;
  readonly format: CheckpointFormat;
}

function findStateDict(root: PickleValue, label: string): Located {
  if (!isDict(root)) throw new FramewormError('E_INPUT', `${label} is a PyTorch file but holds no state dict (it holds ${describe(root)})`);
  for (const key of STATE_DICT_KEYS) {
    const sd = get(root, key);
    if (isDict(sd)) {
      const format: CheckpointFormat = TRAINER_KEYS.some((k) => root.entries.has(k))
        ? 'trainer'
        : root.entries.has('config')
          ? 'state_dict+config'
          : 'state_dict';
      return { stateDict: sd, key, format };
    }
  }
  const values = [...root.entries.values()];
  if (values.length > 0 && values.every(isTensor)) return { stateDict: root, key: null, format: 'state_dict' };
  const keys = [...root.entries.keys()].slice(0, 8).map((k) => printable(String(k), 60));
  throw new FramewormError(
    'E_INPUT',
    `${label} is a PyTorch file but holds no state dict (top-level keys: ${keys.join(', ') || 'none'})`,
  );
}

function number(value: PickleValue | undefined): number | undefined {
  return typeof value === 'number' ? value : undefined;
}

function summariseOptimizer(value: PickleValue | undefined): OptimizerSummary | undefined {
  if (!isDict(value)) return undefined;
  const groups = get(value, 'param_groups');
  const state = get(value, 'state');
  const groupList = typeof groups === 'object' && groups !== null && groups.kind === 'list' ? groups.items.filter(isDict) : [];
  const first = groupList[0];
  const hyper: { [key: string]: JsonValue } = {};
  let params = 0;
  for (const g of groupList) {
    const p = get(g, 'params');
    if (typeof p === 'object' && p !== null && p.kind === 'list') params += p.items.length;
  }
  if (first) for (const [k, v] of first.entries) if (k !== 'params') hyper[String(k)] = toJson(v);
  const kind = first?.entries.has('betas') ? 'Adam' : first?.entries.has('momentum') ? 'SGD' : 'unknown';
  const lr = first ? number(get(first, 'lr')) : undefined;
  return {
    kind,
    ...(lr !== undefined ? { lr } : {}),
    param_groups: groupList.length,
    params,
    state_entries: isDict(state) ? state.entries.size : 0,
    hyper_parameters: hyper,
  };
}

function collectMetadata(root: PickleValue, located: Located): CheckpointMetadata {
  const meta: CheckpointMetadata = { state_dict_key: located.key };
  if (!isDict(root) || located.key === null) return meta;
  meta.top_level_keys = [...root.entries.keys()].map(String);
  const epoch = number(get(root, 'epoch'));
  if (epoch !== undefined) meta.epoch = epoch;
  const training = get(root, 'training_state');
  if (training !== undefined) meta.training_state = toJson(training);
  const config = get(root, 'config');
  if (config !== undefined) meta.config = toJson(config);
  const optimizer = summariseOptimizer(get(root, 'optimizer_state_dict'));
  if (optimizer) meta.optimizer = optimizer;
  return meta;
}

/**
 * Parses a torch zip checkpoint held in `buf`.
 *
 * Throws FramewormError E_INPUT for archives that are not checkpoints, truncated tensor data
 * or files without a state dict, and E_UNSAFE for pickles outside the allow-list. `label`
 * (usually the path) names the file in messages.
 */
export function readTorchCheckpoint(buf: Buffer, label: string): TorchCheckpoint {
  const zip = readZip(buf, label);
  const prefix = findPickle(zip, label);
  const pklEntry = zip.byName.get(`${prefix}data.pkl`)!;
  if (pklEntry.uncompressedSize > MAX_PICKLE_BYTES) {
    throw new FramewormError('E_INPUT', `${label} has a ${pklEntry.uncompressedSize}-byte data.pkl, more than the ${MAX_PICKLE_BYTES} bytes allowed`);
  }
  const pkl = readZipEntry(buf, pklEntry, label, MAX_PICKLE_BYTES);
  // data.pkl is small; checking its CRC turns silent corruption into a clear message.
  if (crc32(pkl) !== pklEntry.crc32) throw new FramewormError('E_INPUT', `${label} is corrupt: data.pkl fails its CRC check`);
  const { root, storages } = unpickleCheckpoint(pkl, label);
  const located = findStateDict(root, label);
  checkStorages(zip, prefix, storages, located.stateDict, label);
  const warnings: string[] = [];
  const tensors: TensorLocation[] = [];
  const skipped: string[] = [];
  for (const [key, value] of located.stateDict.entries) {
    const name = String(key);
    if (isTensor(value)) tensors.push(locate(zip, prefix, name, value, label));
    else skipped.push(name);
  }
  if (tensors.length === 0) {
    throw new FramewormError('E_INPUT', `${label} is a PyTorch file but its state dict holds no tensors`);
  }
  if (skipped.length > 0) warnings.push(`skipped ${skipped.length} non-tensor state-dict entries: ${skipped.slice(0, 5).map((n) => printable(n, 60)).join(', ')}`);
  return {
    format: located.format,
    prefix: prefix.replace(/\/$/, ''),
    tensors,
    metadata: collectMetadata(root, located),
    warnings,
  };
}
