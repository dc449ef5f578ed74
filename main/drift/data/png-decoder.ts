/**
 * A PNG decoder for drift data (folders of images, `"output_format": "png"` responses), on
 * node:zlib alone.
 *
 * Accepted: 8-bit grayscale, grayscale + alpha, RGB and RGBA, non-interlaced — what model
 * pipelines and our own encoder (main/sampling/png.ts) write. Alpha is dropped: models see
 * colour channels only. Anything else (palette, 16-bit, interlaced) is refused with the reason,
 * never decoded approximately. Chunk CRCs are checked so a damaged file is an error, not noise.
 */
import zlib from 'node:zlib';
import { FramewormError } from '../../common/errors.js';
import { crc32 } from '../../common/crc32.js';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Largest image accepted, in pixels (a 8192×8192 image); bigger is not a model image. */
export const MAX_PNG_PIXELS = 8192 * 8192;

/** One decoded image: channels × height × width bytes, planar (like NCHW). */
export interface DecodedPng {
  readonly width: number;
  readonly height: number;
  /** 1 (grayscale) or 3 (RGB); alpha is dropped. */
  readonly channels: 1 | 3;
  readonly pixels: Uint8Array;
}

const COLOUR_TYPES: Readonly<Record<number, { samples: number; channels: 1 | 3; name: string }>> = {
  0: { samples: 1, channels: 1, name: 'grayscale' },
  2: { samples: 3, channels: 3, name: 'RGB' },
  4: { samples: 2, channels: 1, name: 'grayscale + alpha' },
  6: { samples: 4, channels: 3, name: 'RGBA' },
};

function fail(label: string, problem: string): never {
  throw new FramewormError('E_INPUT', `${label} ${problem}`);
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

/** Undoes the per-scanline filters in place; returns the filtered-away bytes (no filter bytes). */
function unfilter(raw: Buffer, height: number, stride: number, bpp: number, label: string): Uint8Array {
  const out = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    const prev = row - stride;
    for (let x = 0; x < stride; x++) {
      const v = raw[src + x]!;
      const left = x >= bpp ? out[row + x - bpp]! : 0;
      const up = y > 0 ? out[prev + x]! : 0;
      const upLeft = y > 0 && x >= bpp ? out[prev + x - bpp]! : 0;
      let r: number;
      switch (filter) {
        case 0: r = v; break;
        case 1: r = v + left; break;
        case 2: r = v + up; break;
        case 3: r = v + ((left + up) >> 1); break;
        case 4: r = v + paeth(left, up, upLeft); break;
        default: return fail(label, `is corrupt: scanline ${y} has unknown PNG filter type ${filter}`);
      }
      out[row + x] = r & 0xff;
    }
  }
  return out;
}

/**
 * Decodes PNG bytes. `label` names the file (or response field) in messages. Throws
 * FramewormError E_INPUT for anything that is not a supported, intact PNG.
 */
export function decodePng(buf: Buffer, label: string): DecodedPng {
  if (buf.length < SIGNATURE.length || !buf.subarray(0, 8).equals(SIGNATURE)) fail(label, 'is not a PNG image (no PNG signature)');
  let at = 8;
  let header: Buffer | null = null;
  const idat: Buffer[] = [];
  let ended = false;
  while (at + 12 <= buf.length) {
    const length = buf.readUInt32BE(at);
    const type = buf.toString('latin1', at + 4, at + 8);
    if (at + 12 + length > buf.length) fail(label, `is truncated: chunk ${JSON.stringify(type)} runs past the end of the file`);
    const data = buf.subarray(at + 8, at + 8 + length);
    const crc = buf.readUInt32BE(at + 8 + length);
    if (crc32(data, crc32(buf.subarray(at + 4, at + 8))) !== crc) fail(label, `is corrupt: chunk ${JSON.stringify(type)} fails its CRC check`);
    if (type === 'IHDR') header = data;
    else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') {
      ended = true;
      break;
    }
    at += 12 + length;
  }
  if (header === null || header.length !== 13) fail(label, 'is corrupt: no valid IHDR chunk');
  if (!ended) fail(label, 'is truncated: no IEND chunk');
  if (idat.length === 0) fail(label, 'is corrupt: no image data (IDAT)');
  const width = header.readUInt32BE(0);
  const height = header.readUInt32BE(4);
  const depth = header[8]!;
  const colourType = header[9]!;
  const interlace = header[12]!;
  if (width === 0 || height === 0) fail(label, `has an empty size ${width}×${height}`);
  if (width * height > MAX_PNG_PIXELS) fail(label, `is ${width}×${height} pixels, more than the ${MAX_PNG_PIXELS} accepted`);
  const colour = COLOUR_TYPES[colourType];
  if (!colour) {
    const what = colourType === 3 ? 'palette (indexed colour)' : `colour type ${colourType}`;
    fail(label, `is a ${what} PNG; only 8-bit grayscale, grayscale+alpha, RGB and RGBA are read (convert it, e.g. to RGB)`);
  }
  if (depth !== 8) fail(label, `is a ${depth}-bit PNG; only 8 bits per channel are read (convert it to 8-bit)`);
  if (interlace !== 0) fail(label, 'is an interlaced (Adam7) PNG; only non-interlaced PNGs are read (re-save it without interlacing)');
  const stride = width * colour.samples;
  let raw: Buffer;
  try {
    raw = zlib.inflateSync(Buffer.concat(idat), { maxOutputLength: height * (stride + 1) + 1 });
  } catch (err) {
    return fail(label, `is corrupt: its image data cannot be inflated (${(err as Error).message})`);
  }
  if (raw.length !== height * (stride + 1)) fail(label, `is corrupt: its image data has ${raw.length} bytes, expected ${height * (stride + 1)}`);
  const interleaved = unfilter(raw, height, stride, colour.samples, label);
  const plane = width * height;
  const pixels = new Uint8Array(colour.channels * plane);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < colour.channels; c++) pixels[c * plane + p] = interleaved[p * colour.samples + c]!;
  }
  return { width, height, channels: colour.channels, pixels };
}
