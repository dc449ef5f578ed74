/**
 * The private copy of a checkpoint that an export reads.
 *
 * Inspection hashes the bytes it read; a trainer may rewrite `best.pt` a moment later. So the
 * export never reads the user's path again: the file is copied once into the export folder,
 * hashed while it is copied, and the copy is used only if its sha256 is the one inspection
 * recorded. What is exported — and served — is then exactly what was inspected and hashed.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FramewormError } from '../common/errors.js';

/**
 * Copies `source` to `target` while hashing it and checks the hash against `expectedSha256`.
 *
 * Throws FramewormError E_INPUT (and removes `target`) when the file changed since it was
 * inspected or cannot be read.
 */
export async function snapshotCheckpoint(source: string, target: string, expectedSha256: string): Promise<void> {
  const hash = createHash('sha256');
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, done): void {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  try {
    // A leftover from a killed deploy is replaced, never reused; 'wx' then makes the copy ours alone.
    await rm(target, { force: true });
    await pipeline(createReadStream(source), hashing, createWriteStream(target, { flags: 'wx', mode: 0o600 }));
  } catch (err) {
    await rm(target, { force: true });
    throw new FramewormError('E_INPUT', `cannot copy ${source} for export: ${(err as Error).message}`);
  }
  const digest = hash.digest('hex');
  if (digest !== expectedSha256) {
    await rm(target, { force: true });
    throw new FramewormError(
      'E_INPUT',
      `${source} changed after it was inspected (sha256 now ${digest}, inspected ${expectedSha256}); deploy it again once it is no longer being written`,
    );
  }
}
