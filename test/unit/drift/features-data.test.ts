import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32 } from '../../../main/common/crc32.js';
import { FramewormError } from '../../../main/common/errors.js';
import { loadDataSource } from '../../../main/drift/data/load-data.js';
import { observeData } from '../../../main/drift/data/observe-data.js';
import { decodePng } from '../../../main/drift/data/png-decoder.js';
import { encodePng } from '../../../main/sampling/png.js';

let dir: string;

/** Runs NumPy (the system python) to write fixtures into `dir`. */
function numpy(script: string): void {
  execFileSync('/usr/bin/python3', ['-c', `import numpy as np\nimport os\nos.chdir(${JSON.stringify(dir)})\n${script}`]);
}

function inputError(fn: () => unknown): FramewormError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FramewormError);
    expect((err as FramewormError).code).toBe('E_INPUT');
    return err as FramewormError;
  }
  throw new Error('expected an E_INPUT error');
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(data, crc32(head.subarray(4, 8))), 0);
  return Buffer.concat([head, data, crc]);
}

/**
 * A PNG written the way other tools do: interleaved samples, each scanline with its own filter
 * (None, Sub, Up, Average, Paeth in turn), so the decoder's unfiltering is checked.
 */
function filteredPng(width: number, height: number, colourType: number, samples: number, pixels: Uint8Array, opts: { depth?: number; interlace?: number } = {}): Buffer {
  const stride = width * samples;
  const raw = Buffer.alloc(height * (stride + 1));
  for (let y = 0; y < height; y++) {
    const filter = y % 5;
    raw[y * (stride + 1)] = filter;
    for (let x = 0; x < stride; x++) {
      const cur = pixels[y * stride + x]!;
      const left = x >= samples ? pixels[y * stride + x - samples]! : 0;
      const up = y > 0 ? pixels[(y - 1) * stride + x]! : 0;
      const upLeft = y > 0 && x >= samples ? pixels[(y - 1) * stride + x - samples]! : 0;
      const p = left + up - upLeft;
      const pa = Math.abs(p - left);
      const pb = Math.abs(p - up);
      const pc = Math.abs(p - upLeft);
      const paeth = pa <= pb && pa <= pc ? left : pb <= pc ? up : upLeft;
      const pred = [0, left, up, (left + up) >> 1, paeth][filter]!;
      raw[y * (stride + 1) + 1 + x] = (cur - pred) & 0xff;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = opts.depth ?? 8;
  ihdr[9] = colourType;
  ihdr[12] = opts.interlace ?? 0;
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([sig, chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-drift-data-'));
  numpy(`
a = np.arange(12, dtype=np.float32).reshape(3, 4) / 8
np.save('f32.npy', a)
np.save('f64.npy', a.astype(np.float64))
np.save('i64.npy', np.array([[1, -2], [3, 4]], dtype=np.int64))
np.save('u8img.npy', np.full((2, 1, 2, 2), 255, dtype=np.uint8))
np.save('be.npy', a.astype('>f8'))
np.save('fortran.npy', np.asfortranarray(a))
np.save('nan.npy', np.array([[0.0, np.nan]], dtype=np.float32))
np.save('cube.npy', np.zeros((2, 3, 4), dtype=np.float32))
np.save('hwc.npy', np.zeros((2, 8, 8, 3), dtype=np.float32))
np.save('empty.npy', np.zeros((0, 4), dtype=np.float32))
np.save('strings.npy', np.array(['a', 'b']))
np.savez('pair.npz', z=a, images=np.tanh(np.ones((3, 1, 4, 4), dtype=np.float32)))
np.savez_compressed('packed.npz', a)
np.savez('vae.npz', x=np.full((2, 1, 4, 4), 0.25, dtype=np.float32), mu=np.array([[3.0, 4.0], [0.0, 0.0]]), log_var=np.zeros((2, 2)))
np.savez('labels.npz', images=np.zeros((3, 1, 4, 4), dtype=np.float32), class_labels=np.array([1, -1, 0]))
np.save('gan_range.npy', np.full((2, 3, 4, 4), 200.0, dtype=np.float32))
`);
  fs.writeFileSync(path.join(dir, 'header.csv'), 'a,b\n1,2.5\n3,4e-1\n');
  fs.writeFileSync(path.join(dir, 'plain.csv'), '1,2\r\n3,4\r\n\r\n');
  fs.writeFileSync(path.join(dir, 'ragged.csv'), '1,2\n3\n');
  fs.writeFileSync(path.join(dir, 'nan.csv'), '1,2\n3,nan\n');
  fs.writeFileSync(path.join(dir, 'truncated.npy'), fs.readFileSync(path.join(dir, 'f32.npy')).subarray(0, 100));
  fs.writeFileSync(path.join(dir, 'corrupt.npz'), fs.readFileSync(path.join(dir, 'pair.npz')).subarray(0, 200));
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'hello');
  // PNG folders: our own encoder (gray and RGB) and a filtered RGBA file.
  fs.mkdirSync(path.join(dir, 'gray'));
  fs.writeFileSync(path.join(dir, 'gray/a.png'), encodePng([0, 1, 0.5, 1], 0, 1, 2, 2, '[0,1]'));
  fs.writeFileSync(path.join(dir, 'gray/b.png'), encodePng([1, 1, 1, 1], 0, 1, 2, 2, '[0,1]'));
  fs.writeFileSync(path.join(dir, 'gray/readme.md'), 'not an image');
  fs.mkdirSync(path.join(dir, 'empty-folder'));
  fs.mkdirSync(path.join(dir, 'mixed'));
  fs.writeFileSync(path.join(dir, 'mixed/a.png'), encodePng([0, 0, 0, 0], 0, 1, 2, 2, '[0,1]'));
  fs.writeFileSync(path.join(dir, 'mixed/b.png'), encodePng(new Array<number>(9).fill(0), 0, 1, 3, 3, '[0,1]'));
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const at = (name: string): string => path.join(dir, name);

describe('.npy / .npz / .csv written by NumPy and by hand', () => {
  it('reads float32, float64, big-endian and int64 .npy in C order', () => {
    for (const file of ['f32.npy', 'f64.npy', 'be.npy']) {
      const [a] = loadDataSource(at(file)).arrays;
      expect(a!.dims).toEqual([3, 4]);
      expect(Array.from(a!.data)).toEqual(Array.from({ length: 12 }, (_, i) => i / 8));
      expect(a!.kind).toBe('float');
    }
    const [ints] = loadDataSource(at('i64.npy')).arrays;
    expect(ints).toMatchObject({ name: 'i64', dims: [2, 2], kind: 'int' });
    expect(Array.from(ints!.data)).toEqual([1, -2, 3, 4]);
  });

  it('reads every array of np.savez and np.savez_compressed by key', () => {
    const pair = loadDataSource(at('pair.npz'));
    expect(pair.format).toBe('npz');
    expect(pair.arrays.map((a) => [a.name, a.dims])).toEqual([['z', [3, 4]], ['images', [3, 1, 4, 4]]]);
    const packed = loadDataSource(at('packed.npz'));
    expect(packed.arrays[0]).toMatchObject({ name: 'arr_0', dims: [3, 4] });
    expect(packed.arrays[0]!.data[11]).toBe(11 / 8);
  });

  it('reads CSV with and without a header row', () => {
    expect(Array.from(loadDataSource(at('header.csv')).arrays[0]!.data)).toEqual([1, 2.5, 3, 0.4]);
    const plain = loadDataSource(at('plain.csv')).arrays[0]!;
    expect(plain.dims).toEqual([2, 2]);
    expect(Array.from(plain.data)).toEqual([1, 2, 3, 4]);
  });

  it('refuses Fortran order, object arrays, truncated and corrupt files with the reason', () => {
    expect(inputError(() => loadDataSource(at('fortran.npy'))).message).toMatch(/Fortran order.*ascontiguousarray/);
    expect(inputError(() => loadDataSource(at('strings.npy'))).message).toMatch(/element type "<U1"/);
    expect(inputError(() => loadDataSource(at('truncated.npy'))).message).toMatch(/truncated/);
    expect(inputError(() => loadDataSource(at('corrupt.npz'))).message).toMatch(/corrupt|truncated|not a ZIP/);
    expect(inputError(() => loadDataSource(at('ragged.csv'))).message).toMatch(/line 2 has 1 columns, the first line has 2/);
    expect(inputError(() => loadDataSource(at('nan.csv'))).message).toMatch(/line 2, column 2: "nan" is not a finite number/);
    expect(inputError(() => loadDataSource(at('notes.txt'))).message).toMatch(/not \.npy, \.npz or \.csv/);
    expect(inputError(() => loadDataSource(at('missing.npy'))).message).toMatch(/does not exist/);
  });
});

describe('PNG folders', () => {
  it('decodes our own encoder output (gray) in file order, skipping non-PNG files', () => {
    const src = loadDataSource(at('gray'));
    expect(src.format).toBe('png-folder');
    expect(src.images).toMatchObject({ count: 2, channels: 1, height: 2, width: 2 });
    expect(Array.from(src.images!.data)).toEqual([0, 1, Math.fround(128 / 255), 1, 1, 1, 1, 1]);
  });

  it('undoes every scanline filter and drops alpha (RGBA, gray+alpha)', () => {
    const w = 5;
    const h = 6;
    const rgba = Uint8Array.from({ length: w * h * 4 }, (_, i) => (i * 37 + (i >> 3) * 11) & 0xff);
    const decoded = decodePng(filteredPng(w, h, 6, 4, rgba), 'rgba.png');
    expect(decoded).toMatchObject({ width: w, height: h, channels: 3 });
    for (let p = 0; p < w * h; p++) {
      for (let c = 0; c < 3; c++) expect(decoded.pixels[c * w * h + p]).toBe(rgba[p * 4 + c]);
    }
    const ga = Uint8Array.from({ length: w * h * 2 }, (_, i) => (i * 91) & 0xff);
    const gray = decodePng(filteredPng(w, h, 4, 2, ga), 'ga.png');
    expect(gray.channels).toBe(1);
    expect(Array.from(gray.pixels)).toEqual(Array.from({ length: w * h }, (_, p) => ga[p * 2]));
  });

  it('refuses palette, 16-bit, interlaced and damaged PNGs, and empty or mixed folders', () => {
    const px = new Uint8Array(4);
    expect(inputError(() => decodePng(filteredPng(2, 2, 3, 1, px), 'p.png')).message).toMatch(/palette/);
    expect(inputError(() => decodePng(filteredPng(1, 2, 0, 2, px, { depth: 16 }), 'd.png')).message).toMatch(/16-bit/);
    expect(inputError(() => decodePng(filteredPng(2, 2, 0, 1, px, { interlace: 1 }), 'i.png')).message).toMatch(/interlaced/);
    const damaged = Buffer.from(filteredPng(2, 2, 0, 1, px));
    damaged.writeUInt8(damaged[damaged.length - 20]! ^ 0xff, damaged.length - 20);
    expect(inputError(() => decodePng(damaged, 'x.png')).message).toMatch(/CRC/);
    expect(inputError(() => loadDataSource(at('empty-folder'))).message).toMatch(/has no \.png images/);
    expect(inputError(() => loadDataSource(at('mixed'))).message).toMatch(/b\.png is 3×3 .* all images of a folder must match/);
  });
});

describe('data → observation per architecture', () => {
  it('an (N, D) array is the z input group of a generator', () => {
    const { observation, side } = observeData('dcgan', loadDataSource(at('f32.npy')));
    expect(side).toBe('inputs');
    expect(observation.latent?.dims).toEqual([3, 4]);
  });

  it('named .npz arrays go to their fields; -1 labels are unconditional', () => {
    const pair = observeData('dcgan', loadDataSource(at('pair.npz')));
    expect(pair.observation.latent?.dims).toEqual([3, 4]);
    expect(pair.observation.outputImages).toMatchObject({ count: 3, channels: 1 });
    const vae = observeData('vae', loadDataSource(at('vae.npz'))).observation;
    expect(vae.inputImages?.data[0]).toBe(0.25);
    expect(vae.posterior?.mu.dims).toEqual([2, 2]);
    const cfg = observeData('cfg_ddpm', loadDataSource(at('labels.npz'))).observation;
    expect(cfg.classLabels).toEqual([1, null, 0]);
  });

  it('images go to the inputs of VAE / VQ-VAE-2 and the outputs of generators; uint8 are pixels', () => {
    const vae = observeData('vae', loadDataSource(at('u8img.npy')));
    expect(vae.side).toBe('inputs');
    expect(Array.from(vae.observation.inputImages!.data)).toEqual(new Array<number>(8).fill(1));
    const gan = observeData('ddpm', loadDataSource(at('gray')));
    expect(gan.side).toBe('outputs');
    expect(gan.observation.outputImages?.count).toBe(2);
    const recon = observeData('vqvae2', loadDataSource(at('gray')), { side: 'outputs' });
    expect(recon.observation.outputImages?.count).toBe(2);
  });

  it('refuses wrong shapes, NaN, empty arrays, out-of-range floats and impossible sides', () => {
    expect(inputError(() => observeData('dcgan', loadDataSource(at('nan.npy')))).message).toMatch(/NaN at sample 0.*must be finite/);
    expect(inputError(() => observeData('dcgan', loadDataSource(at('cube.npy')))).message).toMatch(/shape \(2, 3, 4\); expected \(N, D\) latents or \(N, C, H, W\) images/);
    expect(inputError(() => observeData('dcgan', loadDataSource(at('hwc.npy')))).message).toMatch(/channels-last/);
    expect(inputError(() => observeData('dcgan', loadDataSource(at('empty.npy')))).message).toMatch(/no samples/);
    expect(inputError(() => observeData('dcgan', loadDataSource(at('gan_range.npy')))).message).toMatch(/values from 200 to 200; dcgan output images must be in \[-1,1\]/);
    expect(inputError(() => observeData('vae', loadDataSource(at('f32.npy')))).message).toMatch(/vae model takes no latent input/);
    expect(inputError(() => observeData('dcgan', loadDataSource(at('gray')), { side: 'inputs' })).message).toMatch(/dcgan model takes no input images/);
    expect(inputError(() => observeData('dcgan', loadDataSource(at('f32.npy')), { side: 'outputs' })).message).toMatch(/latent input z \(--group inputs\), not outputs/);
  });
});
