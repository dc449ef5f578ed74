/**
 * NumPy `.npy` files (format versions 1–3), parsed here rather than with a dependency.
 *
 * The header is a Python dict literal, e.g. `{'descr': '<f4', 'fortran_order': False,
 * 'shape': (3, 4), }`; only the three keys NumPy writes are read. Accepted element types:
 * float16/32/64, signed and unsigned integers of 1–8 bytes, bool, either byte order. Object,
 * string, complex and structured arrays are refused, and so is Fortran order (the data would have
 * to be transposed; `np.ascontiguousarray` before saving fixes it).
 */
import { FramewormError } from '../../common/errors.js';
import type { ElementKind, NumericArray } from './numeric-array.js';

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

function fail(label: string, problem: string): never {
  throw new FramewormError('E_INPUT', `${label} ${problem}`);
}

interface Descr {
  readonly littleEndian: boolean;
  readonly size: number;
  readonly read: (view: DataView, offset: number, little: boolean) => number;
  readonly kind: ElementKind;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

function parseDescr(descr: string, label: string): Descr {
  const m = /^([<>|=])([fiub])(\d+)$/.exec(descr);
  if (!m) fail(label, `has element type ${JSON.stringify(descr)}; only numeric arrays (float, int, uint, bool) are read`);
  const order = m[1]!;
  const type = m[2]!;
  const size = Number(m[3]);
  // '|' is "byte order does not apply" (1-byte types); '=' is the writer's native order, which
  // for every platform NumPy ships on today is little-endian.
  const littleEndian = order !== '>';
  const readers: Record<string, Omit<Descr, 'littleEndian'> | undefined> = {
    f2: { size: 2, kind: 'float', read: (v, o, le) => halfToFloat(v.getUint16(o, le)) },
    f4: { size: 4, kind: 'float', read: (v, o, le) => v.getFloat32(o, le) },
    f8: { size: 8, kind: 'float', read: (v, o, le) => v.getFloat64(o, le) },
    i1: { size: 1, kind: 'int', read: (v, o) => v.getInt8(o) },
    i2: { size: 2, kind: 'int', read: (v, o, le) => v.getInt16(o, le) },
    i4: { size: 4, kind: 'int', read: (v, o, le) => v.getInt32(o, le) },
    i8: { size: 8, kind: 'int', read: (v, o, le) => Number(v.getBigInt64(o, le)) },
    u1: { size: 1, kind: 'uint8', read: (v, o) => v.getUint8(o) },
    u2: { size: 2, kind: 'int', read: (v, o, le) => v.getUint16(o, le) },
    u4: { size: 4, kind: 'int', read: (v, o, le) => v.getUint32(o, le) },
    u8: { size: 8, kind: 'int', read: (v, o, le) => Number(v.getBigUint64(o, le)) },
    b1: { size: 1, kind: 'bool', read: (v, o) => (v.getUint8(o) ? 1 : 0) },
  };
  const reader = readers[`${type}${size}`];
  if (!reader) fail(label, `has element type ${JSON.stringify(descr)}, which is not supported (float16/32/64, int8–64, uint8–64, bool are)`);
  return { ...reader, littleEndian };
}

function headerValue(header: string, key: string, label: string): string {
  const m = new RegExp(`['"]${key}['"]\\s*:\\s*('[^']*'|"[^"]*"|True|False|\\([^)]*\\))`).exec(header);
  if (!m) fail(label, `is corrupt: its .npy header has no '${key}' entry`);
  return m[1]!;
}

/**
 * Parses `.npy` bytes into a C-order float64 array. `label` names the file in messages and
 * `name` becomes the array's name.
 */
export function parseNpy(buf: Buffer, label: string, name: string): NumericArray {
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) fail(label, 'is not a NumPy .npy file (no \\x93NUMPY magic)');
  const major = buf[6]!;
  if (major < 1 || major > 3) fail(label, `is a .npy file of format version ${major}.${buf[7]}, which is not supported (1 to 3 are)`);
  const headerLength = major === 1 ? buf.readUInt16LE(8) : buf.length >= 12 ? buf.readUInt32LE(8) : -1;
  const headerStart = major === 1 ? 10 : 12;
  if (headerLength < 0 || headerStart + headerLength > buf.length) fail(label, 'is truncated: the .npy header runs past the end of the file');
  const header = buf.toString(major === 3 ? 'utf8' : 'latin1', headerStart, headerStart + headerLength);
  const descr = parseDescr(headerValue(header, 'descr', label).slice(1, -1), label);
  if (headerValue(header, 'fortran_order', label) === 'True') {
    fail(label, 'is stored in Fortran order; save a C-order array (np.save(f, np.ascontiguousarray(a)))');
  }
  const shapeText = headerValue(header, 'shape', label).slice(1, -1).trim();
  const dims = shapeText === '' ? [] : shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (!dims.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(label, `is corrupt: its .npy shape (${shapeText}) is not a list of sizes`);
  const count = dims.reduce((a, b) => a * b, 1);
  const dataStart = headerStart + headerLength;
  const needed = count * descr.size;
  if (buf.length - dataStart < needed) fail(label, `is truncated: shape (${shapeText}) needs ${needed} data bytes, the file has ${buf.length - dataStart}`);
  const view = new DataView(buf.buffer, buf.byteOffset + dataStart, needed);
  const data = new Float64Array(count);
  for (let i = 0; i < count; i++) data[i] = descr.read(view, i * descr.size, descr.littleEndian);
  return { name, dims, data, kind: descr.kind };
}
