/**
 * The values the restricted unpickler can produce. Only plain data, OrderedDicts, tensor
 * descriptors and storage references exist here: there is no way to represent an arbitrary
 * Python object, which is the point.
 */

export const DTYPES = ['float32', 'float64', 'float16', 'bfloat16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool'] as const;
export type Dtype = (typeof DTYPES)[number];

/** Bytes per element of each dtype. */
export const DTYPE_SIZE: Readonly<Record<Dtype, number>> = {
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

/** torch's legacy typed-storage class names, as they appear in GLOBAL opcodes, and their dtypes. */
export const STORAGE_DTYPES: Readonly<Record<string, Dtype>> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
};

/** A callable or class the pickle named through GLOBAL and that passed the allow-list. */
export interface PickleGlobal {
  readonly kind: 'global';
  /** `module.name`, e.g. `collections.OrderedDict`. */
  readonly qualifiedName: string;
  /** Set for storage classes only. */
  readonly storageDtype?: Dtype;
}

/** A `('storage', <class>, key, location, numel)` persistent id, resolved to a data/<key> entry later. */
export interface StorageRef {
  readonly kind: 'storage';
  readonly dtype: Dtype;
  readonly key: string;
  readonly location: string;
  /** Elements in the storage, as torch declared it. */
  readonly numel: number;
}

/** A tensor as `_rebuild_tensor_v2` describes it; no data is copied. */
export interface TensorRef {
  readonly kind: 'tensor';
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  readonly stride: readonly number[];
  readonly storageKey: string;
  /** Offset into the storage, in elements. */
  readonly storageOffset: number;
  readonly numel: number;
  readonly requiresGrad: boolean;
}

export interface PickleTuple {
  readonly kind: 'tuple';
  readonly items: readonly PickleValue[];
}

export interface PickleList {
  readonly kind: 'list';
  readonly items: PickleValue[];
}

/** A bytes or bytearray object (protocol 3+); only its length is kept, never the content. */
export interface PickleBytes {
  readonly kind: 'bytes';
  readonly length: number;
}

export type DictKey = string | number | bigint | boolean | null;

export interface PickleDict {
  readonly kind: 'dict';
  /** True for collections.OrderedDict (what state dicts are). */
  readonly ordered: boolean;
  readonly entries: Map<DictKey, PickleValue>;
}

export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | PickleTuple
  | PickleList
  | PickleDict
  | TensorRef
  | StorageRef
  | PickleGlobal
  | PickleBytes;

/** Narrows a value to a dict (plain or ordered). */
export function isDict(value: PickleValue | undefined): value is PickleDict {
  return typeof value === 'object' && value !== null && value.kind === 'dict';
}

/** Narrows a value to a tensor descriptor. */
export function isTensor(value: PickleValue | undefined): value is TensorRef {
  return typeof value === 'object' && value !== null && value.kind === 'tensor';
}
