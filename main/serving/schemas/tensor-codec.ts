/**
 * Nested JSON arrays ↔ flat typed tensors, with the validation a public API needs: rectangular
 * arrays only, element types checked against the graph's dtype, and 400 messages that name the
 * input and the exact position of the offending element.
 */
import type { TensorData, TensorDtype, TensorValue } from '../tensor-types.js';
import { RequestError } from './types.js';

/** Formats a shape the way error messages show it: `[batch,4]`. */
export function formatShape(shape: readonly (number | string)[]): string {
  return `[${shape.join(',')}]`;
}

/** The shape implied by a nested array, following first elements (rectangularity is checked later). */
export function shapeOf(value: unknown): number[] {
  const shape: number[] = [];
  let v = value;
  while (Array.isArray(v)) {
    shape.push(v.length);
    if (v.length === 0) break;
    v = v[0];
  }
  return shape;
}

type Convert = (v: unknown) => number | bigint | string | null;

const INT_RANGES: Partial<Record<TensorDtype, readonly [number, number]>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint64: [0, Number.MAX_SAFE_INTEGER],
};

const FLOAT_MAX: Partial<Record<TensorDtype, number>> = { float32: 3.4028234663852886e38, float64: Number.MAX_VALUE, float16: 65504 };

/** Why `v` is not a valid element of `dtype`, or null when it is. */
function rejectReason(v: unknown, dtype: TensorDtype): string | null {
  if (dtype === 'bool') return typeof v === 'boolean' ? null : `${describeValue(v)}, not true or false`;
  if (dtype === 'string') return typeof v === 'string' ? null : `${describeValue(v)}, not a string`;
  if (typeof v !== 'number') return `${describeValue(v)}, not a number`;
  if (!Number.isFinite(v)) return `${v}, not a finite number`;
  const max = FLOAT_MAX[dtype];
  if (max !== undefined) return Math.abs(v) > max ? `${v}, outside the ${dtype} range` : null;
  const range = INT_RANGES[dtype]!;
  if (!Number.isInteger(v)) return `${v}, not an integer`;
  if (v < range[0] || v > range[1]) return `${v}, outside the ${dtype} range ${range[0]}..${range[1]}`;
  return null;
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return String(v);
}

function allocate(dtype: TensorDtype, n: number): TensorData {
  switch (dtype) {
    case 'float32': return new Float32Array(n);
    case 'float64': return new Float64Array(n);
    case 'float16': case 'uint16': return new Uint16Array(n);
    case 'int8': return new Int8Array(n);
    case 'uint8': case 'bool': return new Uint8Array(n);
    case 'int16': return new Int16Array(n);
    case 'int32': return new Int32Array(n);
    case 'uint32': return new Uint32Array(n);
    case 'int64': return new BigInt64Array(n);
    case 'uint64': return new BigUint64Array(n);
    case 'string': return new Array<string>(n);
  }
}

function converter(dtype: TensorDtype): Convert {
  switch (dtype) {
    case 'bool': return (v) => (v === true ? 1 : 0);
    case 'string': return (v) => v as string;
    case 'int64': case 'uint64': return (v) => BigInt(v as number);
    case 'float16': return (v) => toHalfBits(v as number);
    default: return (v) => v as number;
  }
}

/**
 * A tensor that travels as binary (a safetensors body) instead of nested arrays: in a request,
 * where a field's nested array would be; in an answer, where the stable endpoint should write
 * raw tensor bytes. Serialised by JSON.stringify it becomes the nested arrays it stands for.
 */
export class BinaryTensor {
  constructor(readonly tensor: TensorValue) {}

  toJSON(): unknown {
    return encodeTensor(this.tensor);
  }
}

/**
 * Decodes input `name` from nested arrays into a flat tensor of `dtype`, checking that the
 * array is rectangular and every element fits the dtype. Throws RequestError(400) otherwise.
 * A {@link BinaryTensor} (from a safetensors body) is checked the same way: its dtype must be
 * `dtype` and its elements must be finite where nested arrays would have to be.
 */
export function decodeTensor(name: string, value: unknown, dtype: TensorDtype): TensorValue {
  if (value instanceof BinaryTensor) return checkBinary(name, value.tensor, dtype);
  const dims = shapeOf(value);
  const n = dims.reduce((a, b) => a * b, 1);
  const data = allocate(dtype, n);
  const convert = converter(dtype);
  const sink = data as unknown as (number | bigint | string)[];
  let offset = 0;

  // The position of the element being read, as indices; turned into text only for an error.
  const idx: number[] = [];
  const at = (last?: number): string => name + idx.map((i) => `[${i}]`).join('') + (last === undefined ? '' : `[${last}]`);
  const first = (depth: number): string => name + '[0]'.repeat(depth);
  const fail = (where: string, message: string, detail: Record<string, unknown> = {}): never => {
    throw new RequestError(400, `input '${name}' ${message}`, { input: name, at: where, ...detail });
  };
  const badLeaf = (v: unknown, where: string, depth: number): never => {
    if (Array.isArray(v)) fail(where, `is not a rectangular array: ${where} is an array where ${first(depth)} is not`);
    return fail(where, `must contain ${dtype} values: ${where} is ${rejectReason(v, dtype) ?? 'invalid'}`, { expected: dtype });
  };
  // float32/float64 take a tight loop: `e <= max && e >= -max` is false for NaN, ±Infinity and non-numbers.
  const floatMax = dtype === 'float32' || dtype === 'float64' ? FLOAT_MAX[dtype]! : null;

  const walk = (v: unknown, depth: number): void => {
    if (!Array.isArray(v)) fail(at(), `is not a rectangular array: ${at()} is ${describeValue(v)} where ${first(depth)} is an array`);
    const arr = v as unknown[];
    const want = dims[depth]!;
    if (arr.length !== want) fail(at(), `is not a rectangular array: ${at()} has ${arr.length} elements where ${first(depth)} has ${want}`);
    if (depth < dims.length - 1) {
      for (let i = 0; i < want; i++) {
        idx.push(i);
        walk(arr[i], depth + 1);
        idx.pop();
      }
      return;
    }
    for (let i = 0; i < want; i++) {
      const e = arr[i];
      if (floatMax !== null) {
        if (typeof e === 'number' && e <= floatMax && e >= -floatMax) sink[offset++] = e;
        else badLeaf(e, at(i), depth + 1);
      } else {
        if (Array.isArray(e) || rejectReason(e, dtype) !== null) badLeaf(e, at(i), depth + 1);
        sink[offset++] = convert(e)!;
      }
    }
  };
  if (dims.length === 0) {
    if (rejectReason(value, dtype) !== null) badLeaf(value, name, 0);
    sink[offset++] = convert(value)!;
  } else {
    walk(value, 0);
  }
  return { dtype, dims, data };
}

/** A binary input as the graph needs it: same dtype, finite floats, 0/1 booleans. */
function checkBinary(name: string, t: TensorValue, dtype: TensorDtype): TensorValue {
  if (t.dtype !== dtype) {
    throw new RequestError(400, `input '${name}' has dtype ${t.dtype} in the safetensors body, the model expects ${dtype}`, { input: name, expected: dtype, got: t.dtype });
  }
  const bad = (i: number, why: string): never => {
    throw new RequestError(400, `input '${name}' must contain ${dtype} values: element ${i} is ${why}`, { input: name, at: i, expected: dtype });
  };
  if (dtype === 'float32' || dtype === 'float64') {
    const d = t.data as Float32Array | Float64Array;
    for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i]!)) bad(i, `${d[i]}, not a finite number`);
  } else if (dtype === 'float16') {
    const d = t.data as Uint16Array;
    for (let i = 0; i < d.length; i++) if ((d[i]! & 0x7c00) === 0x7c00) bad(i, `${fromHalfBits(d[i]!)}, not a finite number`);
  } else if (dtype === 'bool') {
    const d = t.data as Uint8Array;
    for (let i = 0; i < d.length; i++) if (d[i]! > 1) bad(i, `the byte ${d[i]}, not 0 or 1`);
  }
  return t;
}

/** Encodes a flat tensor as nested arrays (bool → booleans, 64-bit ints → numbers, float16 → numbers). */
export function encodeTensor(t: TensorValue): unknown {
  const read = reader(t);
  const dims = t.dims;
  if (dims.length === 0) return read(0);
  const build = (depth: number, offset: number, stride: number): unknown[] => {
    const size = dims[depth]!;
    const inner = stride / (size || 1);
    const out = new Array<unknown>(size);
    if (depth === dims.length - 1) {
      for (let i = 0; i < size; i++) out[i] = read(offset + i);
    } else {
      for (let i = 0; i < size; i++) out[i] = build(depth + 1, offset + i * inner, inner);
    }
    return out;
  };
  return build(0, 0, dims.reduce((a, b) => a * b, 1));
}

function reader(t: TensorValue): (i: number) => unknown {
  const d = t.data as unknown as ArrayLike<number | bigint | string>;
  switch (t.dtype) {
    case 'bool': return (i) => d[i] !== 0;
    case 'int64': case 'uint64': return (i) => Number(d[i] as bigint);
    case 'float16': return (i) => fromHalfBits(d[i] as number);
    default: return (i) => d[i];
  }
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 binary16 bits of a number, round-to-nearest-even (float16 tensors travel as bits). */
export function toHalfBits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A mantissa carry rolls into the exponent, up to infinity: that is the correct rounding.
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** The number a binary16 bit pattern stands for. */
export function fromHalfBits(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
