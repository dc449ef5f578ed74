/**
 * The dataset checksum recorded in a version's lineage (`deploy start --dataset PATH`).
 *
 * A file hashes to the sha256 of its bytes, so it equals `sha256sum FILE`. A folder hashes to
 * one sha256 over its regular files in sorted order of their POSIX paths relative to the
 * folder: for each file `path NUL size NUL` followed by its bytes. Renaming, adding, removing
 * or changing any file changes the checksum; file times and permissions do not. Symbolic links
 * to files are followed; links to folders are not (they could loop). Files are streamed, never
 * read whole, and progress is reported in bytes.
 */
import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { FramewormError } from '../common/errors.js';

const SHA256 = /^[0-9a-f]{64}$/;
const CHUNK = 1 << 20;

export interface DatasetChecksum {
  readonly sha256: string;
  readonly files: number;
  readonly bytes: number;
}

/** Hash progress: bytes hashed so far out of the total. */
export type DatasetProgress = (done: number, total: number) => void;

/** Checks a checksum given on the command line: 64 hex digits (an optional `sha256:` prefix is dropped). */
export function normalizeDatasetChecksum(value: string): string {
  const v = value.trim().toLowerCase().replace(/^sha256:/, '');
  if (!SHA256.test(v)) {
    throw new FramewormError('E_USAGE', `--dataset-checksum must be a sha256: 64 hexadecimal digits (got "${value.slice(0, 80)}")`);
  }
  return v;
}

/** Hashes a dataset file or folder (see the module comment for the exact definition). */
export async function datasetChecksum(target: string, progress: DatasetProgress = () => {}, signal?: AbortSignal): Promise<DatasetChecksum> {
  let st: fs.Stats;
  try {
    st = fs.statSync(target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new FramewormError('E_INPUT', `dataset ${target} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? String(err)})`}`);
  }
  if (st.isFile()) {
    const hash = createHash('sha256');
    await streamInto(hash, target, st.size, 0, st.size, progress, signal);
    return { sha256: hash.digest('hex'), files: 1, bytes: st.size };
  }
  if (!st.isDirectory()) throw new FramewormError('E_INPUT', `dataset ${target} is neither a file nor a folder`);
  const files = listFiles(target);
  if (files.length === 0) throw new FramewormError('E_INPUT', `dataset folder ${target} holds no files`);
  const total = files.reduce((sum, f) => sum + f.size, 0);
  const hash = createHash('sha256');
  let done = 0;
  for (const f of files) {
    hash.update(`${f.rel}\0${f.size}\0`);
    await streamInto(hash, f.abs, f.size, done, total, progress, signal);
    done += f.size;
  }
  return { sha256: hash.digest('hex'), files: files.length, bytes: total };
}

interface DatasetFile {
  readonly rel: string;
  readonly abs: string;
  readonly size: number;
}

/** Regular files under `root` (following links to files), sorted by relative POSIX path. */
function listFiles(root: string): DatasetFile[] {
  const out: DatasetFile[] = [];
  const stack = [''];
  while (stack.length > 0) {
    const relDir = stack.pop() as string;
    const absDir = path.join(root, relDir);
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(absDir, { withFileTypes: true });
    } catch (err) {
      throw new FramewormError('E_INPUT', `dataset folder ${absDir} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    for (const e of entries) {
      const rel = relDir === '' ? e.name : `${relDir}/${e.name}`;
      const abs = path.join(root, rel);
      if (e.isDirectory()) stack.push(rel);
      else if (e.isFile()) out.push({ rel, abs, size: fs.statSync(abs).size });
      else if (e.isSymbolicLink()) {
        const target = fs.statSync(abs, { throwIfNoEntry: false });
        if (target?.isFile()) out.push({ rel, abs, size: target.size });
      }
    }
  }
  // Byte order of the UTF-8 paths, independent of locale.
  return out.sort((a, b) => Buffer.compare(Buffer.from(a.rel), Buffer.from(b.rel)));
}

async function streamInto(
  hash: Hash, file: string, size: number, before: number, total: number, progress: DatasetProgress, signal?: AbortSignal,
): Promise<void> {
  const stream = fs.createReadStream(file, { highWaterMark: CHUNK });
  let read = 0;
  try {
    for await (const chunk of stream) {
      if (signal?.aborted) throw new FramewormError('E_CONFLICT', 'cancelled while hashing the dataset');
      hash.update(chunk as Buffer);
      read += (chunk as Buffer).length;
      progress(before + read, total);
    }
  } finally {
    stream.destroy();
  }
  if (read !== size) throw new FramewormError('E_INPUT', `dataset file ${file} changed size while it was hashed (${size} → ${read} bytes)`);
}
