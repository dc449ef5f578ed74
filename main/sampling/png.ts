/**
 * PNG encoding of image tensors for `"output_format": "png"` (DESIGN.md §5).
 *
 * 8-bit grayscale (C = 1) or RGB (C = 3), no interlace, every scanline with filter 0 (None):
 * model images are at most a few hundred pixels on a side, where adaptive filtering buys little
 * and a fixed filter keeps the bytes a plain function of the pixels. Deflate is node:zlib's.
 */
import zlib from 'node:zlib';
import { SamplerInputError } from './errors.js';
import { crc32 } from '../common/crc32.js';

export { crc32 };

/** The value range of the input tensor: generators emit [−1, 1], VAE reconstructions [0, 1]. */
export type PixelRange = '[-1,1]' | '[0,1]';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  // The CRC covers the type and the data, not the length.
  crc.writeUInt32BE(crc32(data, crc32(head.subarray(4, 8))), 0);
  return Buffer.concat([head, data, crc]);
}

/**
 * A float pixel to 8 bits: scale to [0, 255], round half up, clamp (torchvision's save_image).
 *
 * NaN becomes 0 so a broken model still yields a viewable image.
 */
export function toByte(value: number, range: PixelRange): number {
  const unit = range === '[-1,1]' ? (value + 1) / 2 : value;
  const scaled = Math.floor(unit * 255 + 0.5);
  if (!(scaled > 0)) return 0;
  return scaled > 255 ? 255 : scaled;
}

/**
 * One image (channels × height × width, planar like NCHW) as PNG bytes.
 *
 * `offset` is where the image starts in `data`.
 */
export function encodePng(data: ArrayLike<number>, offset: number, channels: number, height: number, width: number, range: PixelRange): Buffer {
  if (channels !== 1 && channels !== 3) {
    throw new SamplerInputError(`PNG output needs images with 1 or 3 channels, got ${channels}`, { channels });
  }
  const plane = height * width;
  const stride = 1 + width * channels;
  const raw = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const row = y * stride; // raw[row] = 0: filter type None
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        // NCHW planes interleave into PNG's RGBRGB… order.
        raw[row + 1 + x * channels + c] = toByte(data[offset + c * plane + y * width + x] as number, range);
      }
    }
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = channels === 1 ? 0 : 2; // colour type: grayscale or truecolour
  // header[10..12] = 0: deflate compression, adaptive filtering method, no interlace
  return Buffer.concat([PNG_SIGNATURE, chunk('IHDR', header), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', new Uint8Array(0))]);
}

/**
 * 8-bit RGBA pixels (row-major, 4 bytes a pixel) as PNG bytes: icons with transparency (the
 * tray's, drawn by scripts/make-icons.ts), which model outputs never need.
 */
export function encodeRgbaPng(rgba: Uint8Array, width: number, height: number): Buffer {
  if (rgba.length !== width * height * 4) throw new RangeError(`RGBA data has ${rgba.length} bytes, expected ${width * height * 4} for ${width}×${height}`);
  const stride = 1 + width * 4;
  const raw = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) raw.set(rgba.subarray(y * width * 4, (y + 1) * width * 4), y * stride + 1);
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 6; // colour type: truecolour with alpha
  return Buffer.concat([PNG_SIGNATURE, chunk('IHDR', header), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', new Uint8Array(0))]);
}

/**
 * A batch [B, C, H, W] of images as base64 PNG strings, one per image.
 *
 * `range` says how the floats map to pixels: '[-1,1]' (−1 → 0, 1 → 255) or '[0,1]'.
 */
export function imagesToPngBase64(data: ArrayLike<number>, dims: readonly number[], range: PixelRange): string[] {
  if (dims.length !== 4 || !dims.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new SamplerInputError(`PNG output needs an image batch [B, C, H, W], got [${dims.join(', ')}]`, { dims });
  }
  const [batch, channels, height, width] = dims as [number, number, number, number];
  const size = channels * height * width;
  if (data.length !== batch * size) {
    throw new SamplerInputError(`image data has ${data.length} values, expected ${batch * size} for [${dims.join(', ')}]`);
  }
  return Array.from({ length: batch }, (_, b) => encodePng(data, b * size, channels, height, width, range).toString('base64'));
}
