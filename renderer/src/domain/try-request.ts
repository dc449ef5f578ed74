/**
 * The try-it request: form values → the /predict body of DESIGN §5 (pictures asked as PNG),
 * the equivalent curl command, and a picture's pixels → the image tensor a VAE / VQ-VAE-2 takes.
 */
import type { TryFieldView, TryFormView } from '../../../preload/contract';

/** The form's values by request key: numbers, null for "unconditional" (class), or an image tensor. */
export type TryValues = Readonly<Record<string, number | null>>;

/** An image input as the endpoint takes it: [C][H][W] in the model's pixel range. */
export type ImageTensor = number[][][];

/** Each field's default. */
export function initialValues(form: TryFormView): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const f of form.fields) if (f.kind !== 'image') out[f.key] = f.default ?? null;
  return out;
}

/** Why a value cannot be sent (null when it can): the same bounds the endpoint checks. */
export function fieldProblem(f: TryFieldView, v: number | null | undefined): string | null {
  if (f.kind === 'image') return null;
  if (f.kind === 'class') return v === null || v === undefined || (Number.isInteger(v) && v >= 0 && v < (f.classes ?? 0)) ? null : `${f.label}: 0 to ${(f.classes ?? 1) - 1}`;
  if (v === null || v === undefined || !Number.isFinite(v)) return `${f.label}: a number is needed`;
  if (f.kind === 'integer' && !Number.isInteger(v)) return `${f.label}: a whole number`;
  if ((f.min !== undefined && v < f.min) || (f.max !== undefined && v > f.max)) return `${f.label}: from ${f.min ?? '−∞'} to ${f.max ?? '∞'}`;
  return null;
}

/** The /predict body for the values (and the image, for image models); pictures come back as PNG. */
export function buildTryBody(form: TryFormView, values: TryValues, image: ImageTensor | null): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const batch = typeof values['batch_size'] === 'number' ? values['batch_size'] : 1;
  for (const f of form.fields) {
    if (f.kind === 'image') {
      if (image) body[f.key] = [image];
    } else if (f.kind === 'class') {
      // One label per picture: the chosen class for all, or null (unconditional) for all.
      body[f.key] = new Array<number | null>(batch).fill(values[f.key] ?? null);
    } else if (values[f.key] !== null && values[f.key] !== undefined) {
      body[f.key] = values[f.key];
    }
  }
  if (form.fields.some((f) => f.kind === 'class')) delete body['batch_size'];
  body['output_format'] = 'png';
  return body;
}

/** A POSIX shell single-quoted word. */
function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** The curl command that sends the same request. */
export function curlCommand(url: string, body: Readonly<Record<string, unknown>>): string {
  return `curl -s -X POST ${shellQuote(url)} -H 'content-type: application/json' -d ${shellQuote(JSON.stringify(body))}`;
}

/** The curl command for showing: a long image input abbreviated (the copied one is whole). */
export function curlPreview(url: string, body: Readonly<Record<string, unknown>>): string {
  const shown = 'x' in body ? { ...body, x: '[…image…]' } : body;
  return curlCommand(url, shown);
}

/**
 * RGBA pixels (canvas ImageData, row-major) → [C][H][W] in `range`: grey for one channel,
 * RGB for three; alpha is dropped.
 */
export function rgbaToTensor(rgba: ArrayLike<number>, width: number, height: number, channels: number, range: '[0,1]' | '[-1,1]'): ImageTensor {
  const scale = (v: number): number => (range === '[0,1]' ? v / 255 : (v / 255) * 2 - 1);
  const out: ImageTensor = [];
  for (let c = 0; c < channels; c++) {
    const plane: number[][] = [];
    for (let y = 0; y < height; y++) {
      const row: number[] = [];
      for (let x = 0; x < width; x++) {
        const i = (y * width + x) * 4;
        const v = channels === 1 ? 0.299 * (rgba[i] ?? 0) + 0.587 * (rgba[i + 1] ?? 0) + 0.114 * (rgba[i + 2] ?? 0) : (rgba[i + Math.min(c, 2)] ?? 0);
        row.push(Math.round(scale(v) * 1e4) / 1e4);
      }
      plane.push(row);
    }
    out.push(plane);
  }
  return out;
}

/** The side an image is scaled to: the model's fixed size, else the picture's, cut to a multiple and at most `cap`. */
export function targetSide(fixed: number | null | undefined, actual: number, multipleOf = 1, cap = 128): number {
  if (fixed) return fixed;
  const m = Math.max(1, multipleOf);
  return Math.max(m, Math.floor(Math.min(actual, cap) / m) * m);
}

/** The base64 PNGs of a try-it answer, from the form's picture outputs. */
export function picturesOf(form: TryFormView, output: Readonly<Record<string, unknown>>): string[] {
  const out: string[] = [];
  for (const key of form.image_outputs) {
    const v = output[key];
    if (Array.isArray(v)) for (const p of v) if (typeof p === 'string') out.push(p);
  }
  return out;
}
