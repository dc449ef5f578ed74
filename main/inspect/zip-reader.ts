/**
 * A read-only ZIP reader over an in-memory Buffer, enough for PyTorch checkpoints.
 *
 * torch writes stored (uncompressed) entries and pads local headers so each payload starts at a
 * 64-byte boundary; that is why the data offset is taken from the local header, not computed
 * from the central directory. Zip64 records are understood because torch switches to them for
 * files over 4 GiB. Nothing is extracted to disk.
 */
import { inflateRawSync } from 'node:zlib';
import { FramewormError } from '../common/errors.js';
import { crc32 } from '../common/crc32.js';
import { printable } from './printable.js';

export { crc32 };

export interface ZipEntry {
  readonly name: string;
  /** 0 = stored, 8 = deflate. */
  readonly method: number;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  readonly crc32: number;
  /** Absolute offset of the entry's local file header. */
  readonly headerOffset: number;
  /** Absolute offset of the entry's first data byte (after the local header). */
  readonly dataOffset: number;
}

export interface ZipArchive {
  readonly entries: readonly ZipEntry[];
  readonly byName: ReadonlyMap<string, ZipEntry>;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const EOCD_MIN = 22;
const MAX_COMMENT = 0xffff;
const MAX_ENTRIES = 1_000_000; // a checkpoint has one entry per storage; this only stops abuse
const U32_MAX = 0xffffffff;
const U16_MAX = 0xffff;
/**
 * Highest uncompressed:compressed ratio an entry may declare before it is treated as a deflate
 * bomb. Deflate tops out near 1032:1 on runs of one byte; honest text such as a pickle stays
 * far below 100:1. templates/frameworm/safe_load.py applies the same number.
 */
export const MAX_DEFLATE_RATIO = 100;

function fail(label: string, problem: string): never {
  throw new FramewormError('E_INPUT', `${label} ${problem}`);
}

function readU64(buf: Buffer, at: number, label: string): number {
  const v = buf.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(label, 'has a ZIP64 size or offset too large to handle');
  return Number(v);
}

/** The EOCD sits in the last 22 + 65535 bytes; scan backwards so a comment cannot fool us. */
function findEocd(buf: Buffer): number {
  const stop = Math.max(0, buf.length - EOCD_MIN - MAX_COMMENT);
  for (let at = buf.length - EOCD_MIN; at >= stop; at--) {
    if (buf.readUInt32LE(at) === SIG_EOCD && at + EOCD_MIN + buf.readUInt16LE(at + 20) <= buf.length) return at;
  }
  return -1;
}

interface Directory {
  readonly offset: number;
  readonly size: number;
  readonly count: number;
}

function readDirectoryLocation(buf: Buffer, eocd: number, label: string): Directory {
  let count = buf.readUInt16LE(eocd + 10);
  let size = buf.readUInt32LE(eocd + 12);
  let offset = buf.readUInt32LE(eocd + 16);
  const locator = eocd - 20;
  if (locator >= 0 && buf.readUInt32LE(locator) === SIG_ZIP64_LOCATOR) {
    const rec = readU64(buf, locator + 8, label);
    if (rec + 56 > buf.length || buf.readUInt32LE(rec) !== SIG_ZIP64_EOCD) {
      fail(label, 'is truncated or corrupt: its ZIP64 end-of-central-directory record is missing');
    }
    count = readU64(buf, rec + 32, label);
    size = readU64(buf, rec + 40, label);
    offset = readU64(buf, rec + 48, label);
  } else if (count === U16_MAX || size === U32_MAX || offset === U32_MAX) {
    fail(label, 'is corrupt: it needs ZIP64 records that are not there');
  }
  if (count > MAX_ENTRIES) fail(label, `has ${count} ZIP entries, more than the ${MAX_ENTRIES} allowed`);
  if (offset + size > buf.length) {
    fail(label, 'is truncated: its ZIP central directory runs past the end of the file');
  }
  return { offset, size, count };
}

interface Zip64Values {
  uncompressed: number;
  compressed: number;
  headerOffset: number;
}

/** Replaces 0xFFFFFFFF placeholders with the 64-bit values from the 0x0001 extra field. */
function applyZip64Extra(buf: Buffer, start: number, end: number, values: Zip64Values, label: string): void {
  let at = start;
  while (at + 4 <= end) {
    const id = buf.readUInt16LE(at);
    const len = buf.readUInt16LE(at + 2);
    const body = at + 4;
    if (body + len > end) fail(label, 'has a corrupt ZIP extra field');
    if (id === 0x0001) {
      let p = body;
      const take = (): number => {
        if (p + 8 > body + len) fail(label, 'has a corrupt ZIP64 extra field');
        const v = readU64(buf, p, label);
        p += 8;
        return v;
      };
      // The field lists only the values whose 32-bit slot overflowed, in this fixed order.
      if (values.uncompressed === U32_MAX) values.uncompressed = take();
      if (values.compressed === U32_MAX) values.compressed = take();
      if (values.headerOffset === U32_MAX) values.headerOffset = take();
      return;
    }
    at = body + len;
  }
}

function readLocalDataOffset(buf: Buffer, headerOffset: number, name: string, label: string): number {
  if (headerOffset + 30 > buf.length) fail(label, `is truncated: ZIP entry ${printable(name)} starts past the end of the file`);
  if (buf.readUInt32LE(headerOffset) !== SIG_LOCAL) fail(label, `is corrupt: ZIP entry ${printable(name)} has no local header`);
  return headerOffset + 30 + buf.readUInt16LE(headerOffset + 26) + buf.readUInt16LE(headerOffset + 28);
}

/**
 * Reads a ZIP archive's central directory.
 *
 * Throws FramewormError E_INPUT for an empty buffer, a buffer that is not a ZIP, a truncated
 * archive (central directory or entry data past the end of the file) or a corrupt header.
 * `label` names the file in messages.
 */
export function readZip(buf: Buffer, label: string): ZipArchive {
  if (buf.length === 0) fail(label, 'is empty');
  const eocd = buf.length >= EOCD_MIN ? findEocd(buf) : -1;
  if (eocd < 0) {
    if (buf.length >= 4 && buf.readUInt32LE(0) === SIG_LOCAL) {
      fail(label, 'is truncated or corrupt: it starts like a ZIP archive but has no end-of-central-directory record');
    }
    fail(label, 'is not a ZIP archive');
  }
  const dir = readDirectoryLocation(buf, eocd, label);
  const entries: ZipEntry[] = [];
  const byName = new Map<string, ZipEntry>();
  let at = dir.offset;
  const end = dir.offset + dir.size;
  for (let i = 0; i < dir.count; i++) {
    if (at + 46 > end || buf.readUInt32LE(at) !== SIG_CENTRAL) {
      fail(label, 'is corrupt: its ZIP central directory is damaged');
    }
    const nameLen = buf.readUInt16LE(at + 28);
    const extraLen = buf.readUInt16LE(at + 30);
    const commentLen = buf.readUInt16LE(at + 32);
    const next = at + 46 + nameLen + extraLen + commentLen;
    if (next > end) fail(label, 'is corrupt: its ZIP central directory is damaged');
    const name = buf.toString('utf8', at + 46, at + 46 + nameLen);
    const values: Zip64Values = {
      compressed: buf.readUInt32LE(at + 20),
      uncompressed: buf.readUInt32LE(at + 24),
      headerOffset: buf.readUInt32LE(at + 42),
    };
    applyZip64Extra(buf, at + 46 + nameLen, at + 46 + nameLen + extraLen, values, label);
    const dataOffset = readLocalDataOffset(buf, values.headerOffset, name, label);
    if (dataOffset + values.compressed > buf.length) {
      fail(label, `is truncated: the data of ZIP entry ${printable(name)} runs past the end of the file`);
    }
    const entry: ZipEntry = {
      name,
      method: buf.readUInt16LE(at + 10),
      compressedSize: values.compressed,
      uncompressedSize: values.uncompressed,
      crc32: buf.readUInt32LE(at + 16),
      headerOffset: values.headerOffset,
      dataOffset,
    };
    entries.push(entry);
    byName.set(name, entry);
    at = next;
  }
  return { entries, byName };
}

/**
 * Why a deflated entry must not be inflated (a size over `maxBytes` or a bomb-like ratio), or
 * null when it may be. Decided from the central directory alone, before any byte is inflated.
 */
export function deflateRefusal(entry: ZipEntry, maxBytes: number): string | null {
  const name = printable(entry.name);
  if (entry.uncompressedSize > maxBytes) {
    return `ZIP entry ${name} declares ${entry.uncompressedSize} uncompressed bytes, more than the ${maxBytes} allowed; nothing was inflated`;
  }
  if (entry.uncompressedSize > MAX_DEFLATE_RATIO * Math.max(entry.compressedSize, 1)) {
    return `ZIP entry ${name} is a deflate bomb: ${entry.compressedSize} compressed bytes declare ${entry.uncompressedSize} (more than ${MAX_DEFLATE_RATIO}:1); nothing was inflated`;
  }
  return null;
}

/**
 * Returns an entry's uncompressed bytes.
 *
 * Stored entries are a zero-copy view into `buf`. A deflated entry is refused before inflating
 * when it declares more than `maxBytes` or a bomb-like ratio (see {@link deflateRefusal}), and
 * is then inflated with an output cap of its declared size, so a lying header cannot exhaust
 * memory either.
 */
export function readZipEntry(buf: Buffer, entry: ZipEntry, label: string, maxBytes = Number.MAX_SAFE_INTEGER): Buffer {
  const raw = buf.subarray(entry.dataOffset, entry.dataOffset + entry.compressedSize);
  if (entry.method === 0) {
    if (entry.uncompressedSize !== entry.compressedSize) fail(label, `is corrupt: stored ZIP entry ${printable(entry.name)} declares two different sizes`);
    if (entry.uncompressedSize > maxBytes) fail(label, `has a ${entry.uncompressedSize}-byte ZIP entry ${printable(entry.name)}, more than the ${maxBytes} bytes allowed`);
    return raw;
  }
  if (entry.method !== 8) fail(label, `uses ZIP compression method ${entry.method} for ${printable(entry.name)}, which is not supported`);
  const refusal = deflateRefusal(entry, maxBytes);
  if (refusal) throw new FramewormError('E_INPUT', `refused ${label}: ${refusal}`);
  try {
    const out = inflateRawSync(raw, { maxOutputLength: Math.max(1, entry.uncompressedSize) });
    if (out.length !== entry.uncompressedSize) fail(label, `is corrupt: ZIP entry ${printable(entry.name)} inflates to the wrong size`);
    return out;
  } catch (err) {
    if (err instanceof FramewormError) throw err;
    return fail(label, `is corrupt: ZIP entry ${printable(entry.name)} cannot be inflated (${(err as Error).message})`);
  }
}

