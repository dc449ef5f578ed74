/**
 * Reading request and response fields into numbers for drift features.
 *
 * A field may arrive as nested JSON arrays (null stands for NaN, which JSON cannot carry), as
 * worker-encoded JSON text (JsonText), as a typed tensor `{dims, data}` (a safetensors body) or,
 * for images, as base64 PNG strings (`"output_format": "png"`). Requests reaching the sampler were
 * already validated by the schemas, so a malformed field here is a bug upstream or a hand-made
 * body; it is reported as E_INPUT naming the field.
 */
import { FramewormError } from '../../common/errors.js';
import type { PixelRange } from '../../sampling/png.js';
import { JsonText } from '../../serving/json-text.js';
import { decodePng } from '../data/png-decoder.js';
import { toUnitImages, type UnitImages } from './unit-images.js';

/** A dense float64 tensor. */
export interface Tensor {
  readonly dims: readonly number[];
  readonly data: Float64Array;
}

function fail(label: string, problem: string): never {
  throw new FramewormError('E_INPUT', `drift features: field '${label}' ${problem}`);
}

function isTensorLike(v: unknown): v is { dims: readonly number[]; data: ArrayLike<number | bigint> } {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const o = v as { dims?: unknown; data?: unknown };
  return Array.isArray(o.dims) && typeof o.data === 'object' && o.data !== null && typeof (o.data as { length?: unknown }).length === 'number';
}

function unwrapJson(value: unknown): unknown {
  return value instanceof JsonText ? (JSON.parse(value.text) as unknown) : value;
}

/** Nested arrays → dims + flat values; null → NaN; ragged arrays are refused. */
function fromNested(value: unknown, label: string): Tensor {
  const dims: number[] = [];
  let probe = value;
  while (Array.isArray(probe)) {
    dims.push(probe.length);
    if (probe.length === 0) break;
    probe = probe[0];
  }
  const total = dims.reduce((a, b) => a * b, 1);
  const data = new Float64Array(total);
  let at = 0;
  const walk = (v: unknown, depth: number): void => {
    if (depth === dims.length) {
      if (v === null) data[at++] = NaN;
      else if (typeof v === 'number') data[at++] = v;
      else fail(label, `has a ${typeof v} where a number belongs`);
      return;
    }
    if (!Array.isArray(v) || v.length !== dims[depth]) fail(label, 'is not a rectangular array');
    for (const item of v) walk(item, depth + 1);
  };
  walk(value, 0);
  return { dims, data };
}

/** A field as a dense tensor, or null when it is absent. */
export function tensorField(value: unknown, label: string): Tensor | null {
  const v = unwrapJson(value);
  if (v === undefined || v === null) return null;
  if (isTensorLike(v)) {
    const data = Float64Array.from(Array.from(v.data, (x) => Number(x)));
    const count = v.dims.reduce((a, b) => a * b, 1);
    if (data.length !== count) fail(label, `has ${data.length} values for shape [${v.dims.join(',')}]`);
    return { dims: [...v.dims], data };
  }
  if (typeof v === 'number') return { dims: [], data: Float64Array.of(v) };
  if (!Array.isArray(v)) fail(label, 'is not an array');
  return fromNested(v, label);
}

/** Base64 PNG strings (one per image) → unit images; all the same size. */
function fromPngStrings(list: readonly string[], label: string): UnitImages {
  const decoded = list.map((s, i) => decodePng(Buffer.from(s, 'base64'), `drift features: field '${label}[${i}]'`));
  const first = decoded[0]!;
  const per = first.channels * first.height * first.width;
  const data = new Float32Array(decoded.length * per);
  decoded.forEach((img, i) => {
    if (img.channels !== first.channels || img.height !== first.height || img.width !== first.width) fail(label, 'holds PNG images of different sizes');
    for (let k = 0; k < per; k++) data[i * per + k] = img.pixels[k]! / 255;
  });
  return { count: decoded.length, channels: first.channels, height: first.height, width: first.width, data };
}

/** An image batch field [B, C, H, W] (or base64 PNGs) in [0, 1] pixel units, or null when absent. */
export function imageField(value: unknown, range: PixelRange, label: string): UnitImages | null {
  const v = unwrapJson(value);
  if (Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === 'string')) return fromPngStrings(v as string[], label);
  const t = tensorField(v, label);
  if (t === null) return null;
  if (t.dims.length !== 4 || t.dims.some((d) => d < 1)) fail(label, `has shape [${t.dims.join(',')}], expected images [B,C,H,W]`);
  return toUnitImages(t.data, t.dims, range);
}
