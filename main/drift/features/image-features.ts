/**
 * Per-image statistics for drift features, computed in [0, 1] pixel units (see unit-images.ts).
 *
 * Definitions (every image gives exactly one value for each, so no feature is ever missing):
 * - `mean_c<k>`, `std_c<k>`: mean and population standard deviation of channel k;
 * - `brightness`: mean luminance, where luminance is Rec. 601 (0.299 R + 0.587 G + 0.114 B) for
 *   three or more channels and the channel mean otherwise;
 * - `contrast`: RMS contrast, the population standard deviation of the luminance;
 * - `saturation`: fraction of values (all channels) that would be written as pixel 0 or 255,
 *   i.e. ≤ 0.5/255 or ≥ 1 − 0.5/255: a generator pinned at its tanh limits shows up here;
 * - `hf_energy`: high-frequency energy, the mean absolute 4-neighbour Laplacian of the luminance
 *   over interior pixels (0 for images under 3×3): blur lowers it, noise raises it;
 * - `nonfinite`: NaN and ±Inf values in the image (a scalar group of its own).
 * Non-finite values enter the other statistics as NaN → 0, +Inf → 1, −Inf → 0 (what a PNG of the
 * image would show), so one bad pixel does not turn every feature of the image into NaN.
 */
import type { UnitImages } from './unit-images.js';

/** Values at or beyond these are counted as saturated (they round to pixel 0 or 255). */
export const SATURATION_LOW = 0.5 / 255;
export const SATURATION_HIGH = 1 - 0.5 / 255;

/** Which statistics an image group carries: outputs get all, model inputs the basic ones. */
export type ImageStatSet = 'full' | 'basic';

/** The feature names of an image-statistics group for `channels` channels, in row order. */
export function imageStatNames(channels: number, set: ImageStatSet): string[] {
  const names: string[] = [];
  for (let c = 0; c < channels; c++) names.push(`mean_c${c}`);
  for (let c = 0; c < channels; c++) names.push(`std_c${c}`);
  names.push('brightness', 'contrast');
  if (set === 'full') names.push('saturation', 'hf_energy');
  return names;
}

function sanitize(v: number): number {
  if (Number.isFinite(v)) return v;
  return v === Infinity ? 1 : 0;
}

/** Luminance of one image (sanitised), H × W values. */
function luminance(images: UnitImages, index: number): Float64Array {
  const { channels, height, width, data } = images;
  const plane = height * width;
  const base = index * channels * plane;
  const out = new Float64Array(plane);
  if (channels >= 3) {
    for (let p = 0; p < plane; p++) {
      out[p] = 0.299 * sanitize(data[base + p]!) + 0.587 * sanitize(data[base + plane + p]!) + 0.114 * sanitize(data[base + 2 * plane + p]!);
    }
  } else {
    for (let p = 0; p < plane; p++) {
      let s = 0;
      for (let c = 0; c < channels; c++) s += sanitize(data[base + c * plane + p]!);
      out[p] = s / channels;
    }
  }
  return out;
}

function meanStd(values: ArrayLike<number>, start: number, length: number, map: (v: number) => number): [number, number] {
  let sum = 0;
  for (let i = 0; i < length; i++) sum += map(values[start + i] as number);
  const mean = sum / length;
  let sq = 0;
  for (let i = 0; i < length; i++) {
    const d = map(values[start + i] as number) - mean;
    sq += d * d;
  }
  return [mean, Math.sqrt(sq / length)];
}

/** Mean absolute 4-neighbour Laplacian over interior pixels; 0 when there are none. */
function highFrequencyEnergy(lum: Float64Array, height: number, width: number): number {
  if (height < 3 || width < 3) return 0;
  let sum = 0;
  for (let y = 1; y < height - 1; y++) {
    for (let x = 1; x < width - 1; x++) {
      const p = y * width + x;
      sum += Math.abs(4 * lum[p]! - lum[p - 1]! - lum[p + 1]! - lum[p - width]! - lum[p + width]!);
    }
  }
  return sum / ((height - 2) * (width - 2));
}

/** One row of image statistics per image, in the order of {@link imageStatNames}. */
export function imageStatRows(images: UnitImages, set: ImageStatSet): number[][] {
  const { count, channels, height, width, data } = images;
  const plane = height * width;
  const rows: number[][] = [];
  for (let i = 0; i < count; i++) {
    const base = i * channels * plane;
    const means: number[] = [];
    const stds: number[] = [];
    for (let c = 0; c < channels; c++) {
      const [m, s] = meanStd(data, base + c * plane, plane, sanitize);
      means.push(m);
      stds.push(s);
    }
    const lum = luminance(images, i);
    const [brightness, contrast] = meanStd(lum, 0, plane, (v) => v);
    const row = [...means, ...stds, brightness, contrast];
    if (set === 'full') {
      let saturated = 0;
      const n = channels * plane;
      for (let k = 0; k < n; k++) {
        const v = sanitize(data[base + k]!);
        if (v <= SATURATION_LOW || v >= SATURATION_HIGH) saturated++;
      }
      row.push(saturated / n, highFrequencyEnergy(lum, height, width));
    }
    rows.push(row);
  }
  return rows;
}

/** NaN / ±Inf values per image. */
export function nonFiniteCounts(images: UnitImages): number[] {
  const per = images.channels * images.height * images.width;
  const out: number[] = [];
  for (let i = 0; i < images.count; i++) {
    let n = 0;
    for (let k = i * per; k < (i + 1) * per; k++) if (!Number.isFinite(images.data[k]!)) n++;
    out.push(n);
  }
  return out;
}
