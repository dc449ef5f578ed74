/**
 * Image batches as the drift features see them: planar [N, C, H, W] floats in the [0, 1] pixel
 * space whatever the model's own range, so that "brightness + 10 %" means the same thing for a
 * DCGAN (tanh, [-1, 1]) and a VAE reconstruction ([0, 1]). Non-finite values are kept (they are
 * counted as a feature of their own).
 */
import type { PixelRange } from '../../sampling/png.js';

/** A batch of images in [0, 1] pixel units (see the file comment). */
export interface UnitImages {
  readonly count: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  /** count × channels × height × width values, NCHW order. */
  readonly data: Float32Array;
}

/** Maps a model-range tensor [N, C, H, W] into [0, 1] pixel units (a copy). */
export function toUnitImages(data: ArrayLike<number>, dims: readonly number[], range: PixelRange): UnitImages {
  const [count, channels, height, width] = dims as [number, number, number, number];
  const out = new Float32Array(count * channels * height * width);
  if (range === '[-1,1]') for (let i = 0; i < out.length; i++) out[i] = ((data[i] as number) + 1) / 2;
  else for (let i = 0; i < out.length; i++) out[i] = data[i] as number;
  return { count, channels, height, width, data: out };
}

/** The inverse of toUnitImages: [0, 1] pixel units back into a model's range. */
export function fromUnitImages(images: UnitImages, range: PixelRange): Float32Array {
  if (range === '[0,1]') return images.data.slice();
  return images.data.map((v) => v * 2 - 1);
}
