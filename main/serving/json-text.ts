/**
 * JSON fragments that are already encoded. Big outputs (an image batch as nested arrays is
 * hundreds of kilobytes of digits) are encoded by the inference worker that produced them, off
 * the main thread, as ASCII bytes; the answer object carries them as JsonText, and toJsonBody
 * splices the bytes in where JSON.stringify would have encoded the value. Same bytes, other thread.
 */
import type { PixelRange } from '../sampling/png.js';
import { imagesToPngBase64 } from '../sampling/png.js';
import { encodeTensor } from './schemas/tensor-codec.js';
import type { OutputEncoding, TensorValue } from './tensor-types.js';

const MARK = '@@frameworm-json-fragment@@';
const PLACEHOLDER = new RegExp(`"${MARK}(\\d+)${MARK}"`);
/** Fragments met by the JSON.stringify running in toJsonBody (it is synchronous, so one list suffices). */
let collecting: Uint8Array[] | null = null;

/** A value whose JSON encoding is known (ASCII bytes). Outside toJsonBody it serialises as its parsed value. */
export class JsonText {
  constructor(readonly bytes: Uint8Array) {}

  get text(): string {
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength).toString('latin1');
  }

  toJSON(): unknown {
    if (!collecting) return JSON.parse(this.text) as unknown;
    collecting.push(this.bytes);
    return `${MARK}${collecting.length - 1}${MARK}`;
  }
}

/** JSON.stringify, with every JsonText spliced in: a string when there is none, else the bytes. */
export function toJsonBody(value: unknown): string | Buffer {
  const outer = collecting;
  const fragments: Uint8Array[] = [];
  collecting = fragments;
  let text: string;
  try {
    text = JSON.stringify(value);
  } finally {
    collecting = outer;
  }
  if (fragments.length === 0) return text;
  // The skeleton is small; split it at the placeholders and put the fragments between.
  const parts: Uint8Array[] = [];
  const splitter = new RegExp(PLACEHOLDER.source, 'g');
  let last = 0;
  for (const m of text.matchAll(splitter)) {
    parts.push(Buffer.from(text.slice(last, m.index), 'utf8'));
    parts.push(fragments[Number(m[1])] ?? Buffer.from('null'));
    last = m.index + m[0].length;
  }
  parts.push(Buffer.from(text.slice(last), 'utf8'));
  return Buffer.concat(parts);
}

/** toJsonBody as a string (tests, logs). */
export function toJsonString(value: unknown): string {
  const body = toJsonBody(value);
  return typeof body === 'string' ? body : body.toString('utf8');
}

/** The JSON text of an output in the given encoding (what the schemas would have produced). */
export function encodeOutputText(t: TensorValue, encoding: OutputEncoding): string {
  if (encoding === 'json') return JSON.stringify(encodeTensor(t));
  const range: PixelRange = encoding === 'png[0,1]' ? '[0,1]' : '[-1,1]';
  return JSON.stringify(imagesToPngBase64(t.data as Float32Array, t.dims, range));
}

/** encodeOutputText as ASCII bytes (numbers, true/false/null and base64 are all ASCII). */
export function encodeOutputBytes(t: TensorValue, encoding: OutputEncoding): Buffer {
  return Buffer.from(encodeOutputText(t, encoding), 'latin1');
}
