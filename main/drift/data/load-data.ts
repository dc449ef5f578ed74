/**
 * `--data FILE|DIR` for drift profiles and offline comparisons: `.npy`, `.npz`, `.csv` or a folder
 * of PNG images, read into arrays (or an image batch) with every failure an E_INPUT that names
 * the file and the problem.
 */
import fs from 'node:fs';
import path from 'node:path';
import { FramewormError } from '../../common/errors.js';
import type { UnitImages } from '../features/unit-images.js';
import { parseCsv } from './csv.js';
import { parseNpy } from './npy.js';
import { parseNpz } from './npz.js';
import type { NumericArray } from './numeric-array.js';
import { decodePng } from './png-decoder.js';

/** The formats `--data` accepts. */
export type DataFormat = 'npy' | 'npz' | 'csv' | 'png-folder';

/** Largest data file read (it is read whole into memory). */
export const MAX_DATA_FILE_BYTES = 1024 * 1024 * 1024;
/** Most images read from one folder. */
export const MAX_FOLDER_IMAGES = 100_000;

/** What a `--data` path held. */
export interface DataSource {
  /** How messages name it (the path as given). */
  readonly label: string;
  readonly format: DataFormat;
  /** Arrays of an .npy / .npz / .csv (empty for a PNG folder). */
  readonly arrays: readonly NumericArray[];
  /** The images of a PNG folder, in [0, 1] pixel units (null otherwise). */
  readonly images: UnitImages | null;
}

function fail(problem: string): never {
  throw new FramewormError('E_INPUT', problem);
}

function readPngFolder(dir: string, label: string): UnitImages {
  const names = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && e.name.toLowerCase().endsWith('.png'))
    .map((e) => e.name)
    .sort();
  if (names.length === 0) fail(`data folder ${label} has no .png images`);
  if (names.length > MAX_FOLDER_IMAGES) fail(`data folder ${label} has ${names.length} images; at most ${MAX_FOLDER_IMAGES} are read`);
  const first = decodePng(fs.readFileSync(path.join(dir, names[0]!)), `image ${path.join(label, names[0]!)}`);
  const per = first.pixels.length;
  const data = new Float32Array(names.length * per);
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    const png = i === 0 ? first : decodePng(fs.readFileSync(path.join(dir, name)), `image ${path.join(label, name)}`);
    if (png.channels !== first.channels || png.height !== first.height || png.width !== first.width) {
      fail(
        `image ${path.join(label, name)} is ${png.width}×${png.height} with ${png.channels} channel(s), but ${names[0]} is ${first.width}×${first.height} with ${first.channels}; all images of a folder must match`,
      );
    }
    for (let k = 0; k < per; k++) data[i * per + k] = png.pixels[k]! / 255;
  }
  return { count: names.length, channels: first.channels, height: first.height, width: first.width, data };
}

function sniff(buf: Buffer): DataFormat | null {
  if (buf.length >= 6 && buf[0] === 0x93 && buf.toString('latin1', 1, 6) === 'NUMPY') return 'npy';
  if (buf.length >= 4 && buf.readUInt32LE(0) === 0x04034b50) return 'npz';
  return null;
}

/** Reads `--data`. Throws E_INPUT for a missing, unreadable, empty, corrupt or unsupported path. */
export function loadDataSource(dataPath: string): DataSource {
  const label = dataPath;
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dataPath);
  } catch {
    return fail(`data ${label} does not exist`);
  }
  if (stat.isDirectory()) return { label, format: 'png-folder', arrays: [], images: readPngFolder(dataPath, label) };
  if (stat.size === 0) fail(`data file ${label} is empty`);
  if (stat.size > MAX_DATA_FILE_BYTES) fail(`data file ${label} is ${stat.size} bytes; at most ${MAX_DATA_FILE_BYTES} are read`);
  const buf = fs.readFileSync(dataPath);
  const ext = path.extname(dataPath).toLowerCase();
  const stem = path.basename(dataPath, path.extname(dataPath));
  const format: DataFormat | null = ext === '.npy' ? 'npy' : ext === '.npz' ? 'npz' : ext === '.csv' ? 'csv' : sniff(buf);
  switch (format) {
    case 'npy':
      return { label, format, arrays: [parseNpy(buf, `data file ${label}`, stem)], images: null };
    case 'npz':
      return { label, format, arrays: parseNpz(buf, `data file ${label}`), images: null };
    case 'csv':
      return { label, format, arrays: [parseCsv(buf.toString('utf8'), `data file ${label}`, stem)], images: null };
    case 'png-folder':
    case null:
      return fail(`data file ${label} is not .npy, .npz or .csv (and not a folder of PNG images)`);
  }
}
