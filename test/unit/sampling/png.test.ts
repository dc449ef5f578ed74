import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { SamplerInputError } from '../../../main/sampling/errors.js';
import { crc32, encodePng, imagesToPngBase64, toByte } from '../../../main/sampling/png.js';

interface Decoded {
  width: number;
  height: number;
  colourType: number;
  /** Interleaved pixels, rows top to bottom. */
  pixels: Uint8Array;
}

/** A small PNG decoder (8-bit gray / RGB, all five filter types), independent of the encoder. */
function decodePng(png: Buffer): Decoded {
  expect([...png.subarray(0, 8)]).toEqual([137, 80, 78, 71, 13, 10, 26, 10]);
  let offset = 8;
  let header: Buffer | null = null;
  const idat: Buffer[] = [];
  const types: string[] = [];
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('latin1', offset + 4, offset + 8);
    const data = png.subarray(offset + 8, offset + 8 + length);
    // node:zlib has its own crc32 from Node 20.15; older runtimes fall back to the one under test.
    const covered = png.subarray(offset + 4, offset + 8 + length);
    expect(png.readUInt32BE(offset + 8 + length)).toBe(typeof zlib.crc32 === 'function' ? zlib.crc32(covered) : crc32(covered));
    types.push(type);
    if (type === 'IHDR') header = data;
    if (type === 'IDAT') idat.push(data);
    offset += 12 + length;
  }
  expect(types[0]).toBe('IHDR');
  expect(types.at(-1)).toBe('IEND');
  if (!header) throw new Error('no IHDR');
  const width = header.readUInt32BE(0);
  const height = header.readUInt32BE(4);
  expect([header[8], header[10], header[11], header[12]]).toEqual([8, 0, 0, 0]);
  const colourType = header[9] as number;
  const bpp = colourType === 0 ? 1 : 3;
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * bpp;
  expect(raw.length).toBe(height * (stride + 1));
  const pixels = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)] as number;
    for (let i = 0; i < stride; i++) {
      const v = raw[y * (stride + 1) + 1 + i] as number;
      const a = i >= bpp ? (pixels[y * stride + i - bpp] as number) : 0;
      const b = y > 0 ? (pixels[(y - 1) * stride + i] as number) : 0;
      const c = i >= bpp && y > 0 ? (pixels[(y - 1) * stride + i - bpp] as number) : 0;
      const p = a + b - c;
      const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
      const predictor = [0, a, b, Math.floor((a + b) / 2), paeth][filter];
      if (predictor === undefined) throw new Error(`bad filter ${filter}`);
      pixels[y * stride + i] = (v + predictor) & 0xff;
    }
  }
  return { width, height, colourType, pixels };
}

describe('png', () => {
  it('crc32 matches the standard check value', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it('maps floats to bytes like torchvision (×255, round half up, clamp; NaN → 0)', () => {
    expect([-1, -0.5, 0, 0.5, 1, 2, -3, Number.NaN].map((v) => toByte(v, '[-1,1]'))).toEqual([0, 64, 128, 191, 255, 255, 0, 0]);
    expect([0, 0.5, 1, 1 / 255, 0.5 / 255].map((v) => toByte(v, '[0,1]'))).toEqual([0, 128, 255, 1, 1]);
  });

  it('encodes an RGB batch [B,3,H,W] that decodes to the same pixels, one PNG per image', () => {
    const [batch, channels, height, width] = [2, 3, 5, 7];
    const data = Float32Array.from({ length: batch * channels * height * width }, (_, i) => Math.sin(i * 0.37));
    const pngs = imagesToPngBase64(data, [batch, channels, height, width], '[-1,1]');
    expect(pngs.length).toBe(batch);
    pngs.forEach((b64, b) => {
      const img = decodePng(Buffer.from(b64, 'base64'));
      expect([img.width, img.height, img.colourType]).toEqual([width, height, 2]);
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          for (let c = 0; c < channels; c++) {
            const v = data[((b * channels + c) * height + y) * width + x] as number;
            expect(img.pixels[(y * width + x) * 3 + c]).toBe(toByte(v, '[-1,1]'));
          }
        }
      }
    });
  });

  it('encodes grayscale [B,1,H,W] in [0,1]', () => {
    const data = Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => i / 23);
    const [only] = imagesToPngBase64(data.subarray(0, 12), [1, 1, 3, 4], '[0,1]');
    const img = decodePng(Buffer.from(only as string, 'base64'));
    expect([img.width, img.height, img.colourType]).toEqual([4, 3, 0]);
    expect([...img.pixels]).toEqual([...data.subarray(0, 12)].map((v) => toByte(v, '[0,1]')));
    expect(encodePng(data, 12, 1, 3, 4, '[0,1]').equals(Buffer.from(imagesToPngBase64(data, [2, 1, 3, 4], '[0,1]')[1] as string, 'base64'))).toBe(true);
  });

  it('rejects channel counts other than 1 or 3, and data that does not fit the shape', () => {
    expect(() => imagesToPngBase64(new Float32Array(8), [1, 2, 2, 2], '[0,1]')).toThrow(SamplerInputError);
    expect(() => imagesToPngBase64(new Float32Array(7), [1, 1, 2, 4], '[0,1]')).toThrow(SamplerInputError);
    expect(() => imagesToPngBase64(new Float32Array(4), [4, 1], '[0,1]')).toThrow(SamplerInputError);
  });
});
