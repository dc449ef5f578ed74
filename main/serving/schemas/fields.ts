/**
 * Reading the fields of architecture requests (DESIGN §5) with 400s that name the field and the
 * accepted form. Every optional field has a default; unknown fields are refused so typos surface.
 */
import { randomInt } from 'node:crypto';
import type { PixelRange } from '../../sampling/png.js';
import { imagesToPngBase64 } from '../../sampling/png.js';
import { JsonText } from '../json-text.js';
import type { OutputEncoding, RunOutput, TensorValue } from '../tensor-types.js';
import { BinaryTensor, decodeTensor, encodeTensor, formatShape } from './tensor-codec.js';
import { RequestError } from './types.js';

export type Body = Readonly<Record<string, unknown>>;

/** The request as an object whose keys are all in `accepted`. */
export function requestObject(body: unknown, accepted: readonly string[]): Body {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new RequestError(400, `the request body must be a JSON object with fields ${accepted.join(', ')}`);
  }
  const unknown = Object.keys(body).filter((k) => !accepted.includes(k));
  if (unknown.length > 0) {
    throw new RequestError(400, `unknown field '${unknown[0]}' (accepted: ${accepted.join(', ')})`, { unknown });
  }
  return body as Body;
}

/** An integer field in [min, max], or the default when absent. */
export function intField(body: Body, key: string, min: number, max: number, fallback: number): number {
  const v = body[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new RequestError(400, `'${key}' must be an integer from ${min} to ${max} (got ${JSON.stringify(v)})`, { field: key, min, max });
  }
  return v;
}

/**
 * A number field in [min, max], or the default; strings such as "3.5" are refused, not parsed.
 * Bounds keep a request from pushing the model's
 * arithmetic into overflow (an answer of NaN, sent as null, would be a 200 that lies).
 */
export function boundedNumberField(body: Body, key: string, min: number, max: number, fallback: number): number {
  const v = body[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !(v >= min && v <= max)) {
    throw new RequestError(400, `'${key}' must be a number from ${min} to ${max} (got ${JSON.stringify(v)})`, { field: key, min, max });
  }
  return v;
}

const MAX_SEED = 2 ** 53 - 1;

/** The request's seed, or a fresh random one (returned in the response so it can be replayed). */
export function seedField(body: Body): number {
  const v = body['seed'];
  // randomInt needs max − min < 2^48 (a range of exactly 2^48 throws RangeError → a 500).
  if (v === undefined || v === null) return randomInt(0, 2 ** 48 - 1);
  return intField(body, 'seed', 0, MAX_SEED, 0);
}

/** How outputs are answered: nested arrays, base64 PNGs (images only), or one safetensors body. */
export type OutputFormat = 'array' | 'png' | 'safetensors';

/**
 * The request's `output_format`. The stable endpoint sets it to "safetensors" when the client
 * asked for that type in `Accept` and the body did not say.
 */
export function outputFormat(body: Body): OutputFormat {
  const v = body['output_format'];
  if (v === undefined || v === null || v === 'array') return 'array';
  if (v === 'png' || v === 'safetensors') return v;
  throw new RequestError(400, `'output_format' must be "array", "png" or "safetensors" (got ${JSON.stringify(v)})`);
}

/** A hyper-parameter the export recorded, as a positive integer. */
export function hpInt(hp: Readonly<Record<string, unknown>>, key: string, fallback?: number): number {
  const v = hp[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new Error(`the export manifest lacks hyper-parameter '${key}'`);
  }
  return v;
}

/**
 * An image batch field `x` [B,C,H,W]: rectangular, finite, within `range`, with C (and H, W
 * where fixed) as the model needs and 1 ≤ B ≤ maxBatch.
 */
export function imageBatchField(
  body: Body,
  key: string,
  want: { channels: number; height?: number; width?: number; multipleOf?: number; range: PixelRange; maxBatch: number },
): TensorValue {
  const v = body[key];
  if (v === undefined) throw new RequestError(400, `'${key}' is required: an image batch [B,${want.channels},H,W]`);
  const t = decodeTensor(key, v, 'float32');
  const [b, c, h, w] = t.dims;
  const expected = formatShape(['B', want.channels, want.height ?? 'H', want.width ?? 'W']);
  if (t.dims.length !== 4 || c !== want.channels || (want.height !== undefined && h !== want.height) || (want.width !== undefined && w !== want.width)) {
    throw new RequestError(400, `input '${key}' has shape ${formatShape(t.dims)}, the model expects ${expected}`, { expected, got: t.dims });
  }
  if (want.multipleOf && ((h ?? 0) % want.multipleOf !== 0 || (w ?? 0) % want.multipleOf !== 0 || (h ?? 0) < want.multipleOf)) {
    throw new RequestError(400, `input '${key}' height and width must be multiples of ${want.multipleOf} (got ${h}×${w})`);
  }
  if ((b ?? 0) < 1 || (b ?? 0) > want.maxBatch) {
    throw new RequestError(400, `input '${key}' has batch ${b}, allowed 1 to ${want.maxBatch}`);
  }
  const [lo, hi] = want.range === '[0,1]' ? [0, 1] : [-1, 1];
  const data = t.data as Float32Array;
  for (let i = 0; i < data.length; i++) {
    const e = data[i]!;
    if (e < lo || e > hi) throw new RequestError(400, `input '${key}' values must be in ${want.range} (element ${i} is ${e})`);
  }
  return t;
}

/** Images as nested arrays, base64 PNGs or raw (safetensors); the worker's text when it made it (see imageEncoding). */
export function encodeImages(t: RunOutput, range: PixelRange, format: OutputFormat): unknown {
  if (format === 'safetensors') return binaryOutput(t);
  if (t.encoded !== undefined) return new JsonText(t.encoded);
  return format === 'png' ? imagesToPngBase64(t.data as Float32Array, t.dims, range) : encodeTensor(t);
}

/** An output as nested arrays (the worker's text when it made it), or raw for a safetensors answer. */
export function encodeOutput(t: RunOutput, format: OutputFormat = 'array'): unknown {
  if (format === 'safetensors') return binaryOutput(t);
  return t.encoded !== undefined ? new JsonText(t.encoded) : encodeTensor(t);
}

function binaryOutput(t: RunOutput): BinaryTensor {
  return new BinaryTensor({ dtype: t.dtype, dims: t.dims, data: t.data });
}

/**
 * The outputs the worker should also encode as text (see OutputEncoding); none for a
 * safetensors answer, whose bytes are the tensors themselves.
 */
export function workerEncodings(format: OutputFormat, encodings: Readonly<Record<string, OutputEncoding>>): Readonly<Record<string, OutputEncoding>> | undefined {
  return format === 'safetensors' ? undefined : encodings;
}

/** The worker-side encoding matching encodeImages(…, range, format). */
export function imageEncoding(range: PixelRange, format: OutputFormat): OutputEncoding {
  return format === 'png' ? (range === '[0,1]' ? 'png[0,1]' : 'png[-1,1]') : 'json';
}

/** Copies a tensor's data: feeds are transferred to the inference worker, which detaches them. */
export function float32Feed(data: Float32Array, dims: readonly number[]): TensorValue {
  return { dtype: 'float32', dims: [...dims], data: data.slice() };
}
