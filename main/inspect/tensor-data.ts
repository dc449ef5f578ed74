/**
 * Reads a located tensor's elements out of the checkpoint buffer as a typed array.
 *
 * torch stores storages little-endian and aligns them to 64 bytes, so on a little-endian host a
 * contiguous tensor is usually a zero-copy view; otherwise the elements are copied (and, for
 * strided tensors, gathered). float16 and bfloat16 are widened to float32 because JavaScript has
 * no typed array for them.
 */
import { endianness } from 'node:os';
import { DTYPE_SIZE, type Dtype } from './pickle-types.js';
import type { TensorLocation } from './torch-checkpoint.js';

export type TensorData = Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

export interface ReadTensorOptions {
  /** Always return a fresh copy, never a view into `buf` (use when the result is mutated). */
  readonly copy?: boolean;
}

const LITTLE_ENDIAN_HOST = endianness() === 'LE';

type Ctor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => TensorData;

const VIEW_CTORS: Partial<Record<Dtype, Ctor>> = {
  float32: Float32Array,
  float64: Float64Array,
  int64: BigInt64Array,
  int32: Int32Array,
  int16: Int16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 0x1f) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

const F32_SCRATCH = new Float32Array(1);
const U32_SCRATCH = new Uint32Array(F32_SCRATCH.buffer);

function bfloat16ToFloat(b: number): number {
  U32_SCRATCH[0] = b << 16;
  return F32_SCRATCH[0]!;
}

/** Byte offsets of every element in row-major order, honouring strides. */
function elementOffsets(t: TensorLocation): Float64Array {
  const size = DTYPE_SIZE[t.dtype];
  const out = new Float64Array(t.numel);
  const index = new Array<number>(t.shape.length).fill(0);
  for (let n = 0; n < t.numel; n++) {
    let elem = 0;
    for (let d = 0; d < index.length; d++) elem += index[d]! * t.stride[d]!;
    out[n] = t.offset + elem * size;
    for (let d = index.length - 1; d >= 0; d--) {
      index[d]!++;
      if (index[d]! < t.shape[d]!) break;
      index[d] = 0;
    }
  }
  return out;
}

function readElement(buf: Buffer, dtype: Dtype, at: number): number | bigint {
  switch (dtype) {
    case 'float32': return buf.readFloatLE(at);
    case 'float64': return buf.readDoubleLE(at);
    case 'float16': return halfToFloat(buf.readUInt16LE(at));
    case 'bfloat16': return bfloat16ToFloat(buf.readUInt16LE(at));
    case 'int64': return buf.readBigInt64LE(at);
    case 'int32': return buf.readInt32LE(at);
    case 'int16': return buf.readInt16LE(at);
    case 'int8': return buf.readInt8(at);
    case 'uint8':
    case 'bool': return buf[at]!;
  }
}

function allocate(dtype: Dtype, n: number): TensorData {
  if (dtype === 'float16' || dtype === 'bfloat16') return new Float32Array(n);
  const Ctor = VIEW_CTORS[dtype]!;
  return new Ctor(new ArrayBuffer(n * DTYPE_SIZE[dtype]), 0, n);
}

/**
 * Returns a tensor's elements in row-major order.
 *
 * The result is a view into `buf` when the tensor is contiguous, aligned and needs no
 * conversion (unless `options.copy`); float16/bfloat16 come back as Float32Array and bool as
 * Uint8Array. `buf` must be the whole file the tensor was located in.
 */
export function readTensorData(buf: Buffer, tensor: TensorLocation, options: ReadTensorOptions = {}): TensorData {
  const size = DTYPE_SIZE[tensor.dtype];
  const Ctor = VIEW_CTORS[tensor.dtype];
  const absolute = buf.byteOffset + tensor.offset;
  if (Ctor && tensor.contiguous && LITTLE_ENDIAN_HOST && !options.copy && absolute % size === 0) {
    return new Ctor(buf.buffer, absolute, tensor.numel);
  }
  const out = allocate(tensor.dtype, tensor.numel);
  if (Ctor && tensor.contiguous && LITTLE_ENDIAN_HOST) {
    new Uint8Array(out.buffer, out.byteOffset, tensor.nbytes).set(buf.subarray(tensor.offset, tensor.offset + tensor.nbytes));
    return out;
  }
  const offsets = tensor.contiguous ? null : elementOffsets(tensor);
  for (let n = 0; n < tensor.numel; n++) {
    const at = offsets ? offsets[n]! : tensor.offset + n * size;
    const value = readElement(buf, tensor.dtype, at);
    if (out instanceof BigInt64Array) out[n] = BigInt(value);
    else out[n] = Number(value);
  }
  return out;
}

/** Reads a float tensor (any float dtype) as plain numbers, e.g. a diffusion schedule's `betas`. */
export function readTensorNumbers(buf: Buffer, tensor: TensorLocation): number[] {
  const data = readTensorData(buf, tensor);
  return Array.from(data as ArrayLike<number | bigint>, (v) => Number(v));
}
