/**
 * NumPy `.npz` archives (np.savez, np.savez_compressed): a ZIP of `.npy` files, read with the
 * project's ZIP reader (main/inspect/zip-reader.ts), which already refuses deflate bombs and
 * damaged archives.
 */
import { FramewormError } from '../../common/errors.js';
import { readZip, readZipEntry } from '../../inspect/zip-reader.js';
import { parseNpy } from './npy.js';
import type { NumericArray } from './numeric-array.js';

/** Most bytes one array of an archive may inflate to. */
export const MAX_NPZ_ENTRY_BYTES = 1024 * 1024 * 1024;

/** Every array of an `.npz` archive, named by its key (the entry name without `.npy`). */
export function parseNpz(buf: Buffer, label: string): NumericArray[] {
  const archive = readZip(buf, label);
  const arrays: NumericArray[] = [];
  for (const entry of archive.entries) {
    if (entry.name.endsWith('/')) continue;
    if (!entry.name.endsWith('.npy')) {
      throw new FramewormError('E_INPUT', `${label} is not a NumPy .npz archive: entry ${JSON.stringify(entry.name)} is not an .npy array`);
    }
    const key = entry.name.slice(0, -'.npy'.length);
    arrays.push(parseNpy(readZipEntry(buf, entry, label, MAX_NPZ_ENTRY_BYTES), `${label} (array '${key}')`, key));
  }
  if (arrays.length === 0) throw new FramewormError('E_INPUT', `${label} holds no arrays`);
  return arrays;
}
