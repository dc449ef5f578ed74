/**
 * The safetensors format (https://github.com/huggingface/safetensors), read and written by hand:
 * it is small and a library for it would be the only dependency of its kind.
 *
 *   [8 bytes: header length N, u64 little-endian][N bytes: JSON header][data]
 *   header = {"__metadata__": {str: str}, name: {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...}
 *
 * Offsets are relative to the start of the data; tensors are row-major, little-endian. Decoding
 * is strict, as for any body a stranger sends: the header's size is bounded, every entry is
 * checked, the tensors must tile the data exactly (no gap, no overlap, nothing after the last
 * one). Encoding writes metadata first and tensors in the order given, with offsets in that
 * order, and pads the header with spaces so the data starts 8-byte aligned; the generated
 * server's codec (templates/server/safetensors_codec.py) writes the same bytes.
 */

/** Element types of the format, with their sizes in bytes. */
export const SAFETENSORS_DTYPE_BYTES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
} as const;

/** An element type name of the format (`F32`, `I64`, `BOOL`, …). */
export type SafetensorsDtype = keyof typeof SAFETENSORS_DTYPE_BYTES;

/** The media type of a safetensors body (DESIGN §5). */
export const SAFETENSORS_MEDIA_TYPE = 'application/vnd.safetensors';

/** Default bound on the JSON header (the reference implementation allows 100 MB; requests need far less). */
export const DEFAULT_MAX_HEADER_BYTES = 1024 * 1024;

/** One tensor: its bytes are a view into the decoded buffer (copy them to keep them). */
export interface SafetensorsTensor {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly bytes: Uint8Array;
}

/** A decoded file. */
export interface SafetensorsFile {
  /** Tensors in the order their data lies in the file. */
  readonly tensors: ReadonlyMap<string, SafetensorsTensor>;
  readonly metadata: Readonly<Record<string, string>>;
}

/** A body that is not a well-formed safetensors file; the message names the problem. */
export class SafetensorsFormatError extends Error {
  override readonly name = 'SafetensorsFormatError';
}

/** Type guard for {@link SafetensorsDtype}. */
export function isSafetensorsDtype(value: unknown): value is SafetensorsDtype {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(SAFETENSORS_DTYPE_BYTES, value);
}

const fail = (message: string): never => {
  throw new SafetensorsFormatError(`invalid safetensors body: ${message}`);
};

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const TENSOR_KEYS = new Set(['dtype', 'shape', 'data_offsets']);
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes a safetensors file held in `buf`; throws {@link SafetensorsFormatError} naming the
 * first problem found. Tensor bytes are views into `buf`.
 */
export function decodeSafetensors(buf: Uint8Array, options: { maxHeaderBytes?: number } = {}): SafetensorsFile {
  const maxHeader = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  if (buf.length < 8) fail(`the body has ${buf.length} bytes, fewer than the 8-byte header length`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const declared = view.getBigUint64(0, true);
  if (declared > BigInt(maxHeader)) fail(`the header length is ${declared} bytes, more than the limit of ${maxHeader}`);
  const n = Number(declared);
  if (n < 2) fail(`the header length is ${n} bytes, too short for a JSON object`);
  if (8 + n > buf.length) fail(`the header length is ${n} bytes but only ${buf.length - 8} bytes follow it`);
  let text: string;
  try {
    text = utf8.decode(buf.subarray(8, 8 + n));
  } catch {
    return fail('the header is not valid UTF-8');
  }
  // The reference implementation requires the object to start at once (padding goes at the end).
  if (text[0] !== '{') fail(`the header must be a JSON object starting with '{' (it starts with ${JSON.stringify(text.slice(0, 10))})`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    return fail(`the header is not valid JSON: ${(err as Error).message}`);
  }
  if (!isPlainObject(header)) return fail('the header must be a JSON object');

  const dataLength = buf.length - 8 - n;
  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isPlainObject(value)) fail("'__metadata__' must be an object of strings");
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`'__metadata__' value '${k}' must be a string (got ${describe(v)})`);
        metadata[k] = v as string;
      }
      continue;
    }
    if (!isPlainObject(value)) fail(`tensor '${name}' must be an object with dtype, shape and data_offsets`);
    const entry = value as Record<string, unknown>;
    const extra = Object.keys(entry).find((k) => !TENSOR_KEYS.has(k));
    if (extra !== undefined) fail(`tensor '${name}' has an unknown key '${extra}' (allowed: dtype, shape, data_offsets)`);
    const dtype = entry['dtype'];
    if (!isSafetensorsDtype(dtype)) fail(`tensor '${name}' has unknown dtype ${describe(dtype)} (known: ${Object.keys(SAFETENSORS_DTYPE_BYTES).join(', ')})`);
    const shape = entry['shape'];
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      fail(`tensor '${name}' shape must be an array of non-negative integers (got ${describe(shape)})`);
    }
    const offsets = entry['data_offsets'];
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)) {
      fail(`tensor '${name}' data_offsets must be [begin, end], two non-negative integers (got ${describe(offsets)})`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) fail(`tensor '${name}' data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataLength) fail(`tensor '${name}' data_offsets [${begin}, ${end}] reach past the ${dataLength} bytes of data`);
    let elements = 1;
    for (const d of shape as number[]) {
      elements *= d;
      if (!Number.isSafeInteger(elements)) fail(`tensor '${name}' shape ${describe(shape)} has too many elements`);
    }
    const size = elements * SAFETENSORS_DTYPE_BYTES[dtype as SafetensorsDtype];
    if (end - begin !== size) {
      fail(`tensor '${name}' has shape ${describe(shape)} of ${dtype as string} (${size} bytes) but data_offsets [${begin}, ${end}] span ${end - begin} bytes`);
    }
    entries.push({ name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin, end });
  }
  // The tensors must tile the data: sorted by offset, each begins where the previous ended.
  // (A duplicate name in the header — JSON.parse keeps the last — leaves a gap and is refused here.)
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const e of entries) {
    if (e.begin < at) fail(`tensor '${e.name}' data_offsets [${e.begin}, ${e.end}] overlap the previous tensor's (which ends at ${at})`);
    if (e.begin > at) fail(`the bytes ${at} to ${e.begin} of the data belong to no tensor (before tensor '${e.name}')`);
    at = e.end;
  }
  if (at !== dataLength) fail(`the body has ${dataLength - at} bytes after the last tensor's data`);
  const tensors = new Map<string, SafetensorsTensor>();
  const base = 8 + n;
  for (const e of entries) tensors.set(e.name, { dtype: e.dtype, shape: e.shape, bytes: buf.subarray(base + e.begin, base + e.end) });
  return { tensors, metadata };
}

/** A tensor to encode: `data` is written as it lies in memory (little-endian hosts; see below). */
export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly data: ArrayBufferView;
}

/**
 * Encodes tensors and metadata as the pieces of a safetensors file: the header (length prefix,
 * JSON, padding) and then each tensor's bytes as views of the caller's memory, so a large answer
 * is written to a socket without being copied or formatted. `byteLength` is their total.
 * Throws {@link SafetensorsFormatError} when a tensor's data does not match its shape.
 */
export function encodeSafetensors(entries: readonly SafetensorsEntry[], metadata: Readonly<Record<string, string>> = {}): { parts: Uint8Array[]; byteLength: number } {
  // Built as text, not as an object: JavaScript puts integer-like keys ("0") first in an
  // object, and the order written must be the order given (the Python codec keeps it too).
  const fields: string[] = [];
  const meta = Object.entries(metadata);
  if (meta.length > 0) fields.push(`"__metadata__":{${meta.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`);
  const parts: Uint8Array[] = [];
  let offset = 0;
  const seen = new Set<string>();
  for (const e of entries) {
    if (e.name === '__metadata__' || seen.has(e.name)) fail(`tensor name '${e.name}' is reserved or used twice`);
    seen.add(e.name);
    const elements = e.shape.reduce((a, b) => a * b, 1);
    const size = elements * SAFETENSORS_DTYPE_BYTES[e.dtype];
    if (size !== e.data.byteLength) fail(`tensor '${e.name}' has shape [${e.shape.join(',')}] of ${e.dtype} (${size} bytes) but ${e.data.byteLength} bytes of data`);
    fields.push(`${JSON.stringify(e.name)}:{"dtype":"${e.dtype}","shape":[${e.shape.join(',')}],"data_offsets":[${offset},${offset + size}]}`);
    offset += size;
    parts.push(littleEndianBytes(e.data, SAFETENSORS_DTYPE_BYTES[e.dtype]));
  }
  const json = Buffer.from(`{${fields.join(',')}}`, 'utf8');
  // Spaces up to a multiple of 8 (length prefix included): the data starts aligned for any dtype.
  const padded = json.length + ((8 - ((8 + json.length) % 8)) % 8);
  const head = Buffer.alloc(8 + padded, 0x20);
  head.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(head, 8);
  parts.unshift(head);
  return { parts, byteLength: head.length + offset };
}

/** encodeSafetensors as one buffer (tests, small answers). */
export function encodeSafetensorsBuffer(entries: readonly SafetensorsEntry[], metadata: Readonly<Record<string, string>> = {}): Buffer {
  const { parts, byteLength } = encodeSafetensors(entries, metadata);
  return Buffer.concat(parts, byteLength);
}

/**
 * Copies a tensor's bytes into a fresh, aligned buffer of `Ctor`'s type (safetensors offsets
 * need not be aligned in a request body, and typed arrays must be), swapping byte order on a
 * big-endian host.
 */
export function copyTensorBytes<T extends { readonly buffer: ArrayBufferLike }>(bytes: Uint8Array, elementBytes: number, make: (buffer: ArrayBuffer) => T): T {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  if (BIG_ENDIAN_HOST) swapInPlace(copy, elementBytes);
  return make(copy.buffer);
}

const BIG_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 0;

/** The bytes of `data` in little-endian order: the view itself on little-endian hosts (no copy). */
function littleEndianBytes(data: ArrayBufferView, elementBytes: number): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (!BIG_ENDIAN_HOST || elementBytes === 1) return bytes;
  const copy = Uint8Array.from(bytes);
  swapInPlace(copy, elementBytes);
  return copy;
}

function swapInPlace(bytes: Uint8Array, elementBytes: number): void {
  if (elementBytes === 1) return;
  for (let i = 0; i < bytes.length; i += elementBytes) bytes.subarray(i, i + elementBytes).reverse();
}

function describe(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}
