import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FramewormError } from '../../../main/common/errors.js';
import { crc32, readZip, readZipEntry } from '../../../main/inspect/zip-reader.js';
import { compatPath } from '../../fixtures/inspect/compat.js';
import { writeZip } from '../../fixtures/inspect/zip-writer.js';

function expectInputError(fn: () => unknown, pattern: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FramewormError);
    expect((err as FramewormError).code).toBe('E_INPUT');
    expect((err as FramewormError).message).toMatch(pattern);
    return;
  }
  throw new Error('expected an E_INPUT error');
}

/** Text that deflates like a real pickle (a few : 1), not like a bomb (hundreds : 1). */
const NOTES = Buffer.from(Array.from({ length: 500 }, (_, i) => `layer${i}.weight=${(i * 7919) % 1009};`).join(''));

describe('readZip', () => {
  const entries = [
    { name: 'a/data.pkl', data: Buffer.from('hello pickle') },
    { name: 'a/data/0', data: Buffer.alloc(100, 7) },
    { name: 'a/notes.txt', data: NOTES, deflate: true },
  ];

  it('lists entries with sizes, methods and absolute data offsets', () => {
    const buf = writeZip(entries, { align: 64 });
    const zip = readZip(buf, 'f.zip');
    expect(zip.entries.map((e) => e.name)).toEqual(['a/data.pkl', 'a/data/0', 'a/notes.txt']);
    const data = zip.byName.get('a/data/0')!;
    expect(data.method).toBe(0);
    expect(data.uncompressedSize).toBe(100);
    expect(data.dataOffset % 64).toBe(0);
    expect(buf.subarray(data.dataOffset, data.dataOffset + 100).every((b) => b === 7)).toBe(true);
    const notes = zip.byName.get('a/notes.txt')!;
    expect(notes.method).toBe(8);
    expect(notes.compressedSize).toBeLessThan(notes.uncompressedSize);
    expect(readZipEntry(buf, notes, 'f.zip').equals(NOTES)).toBe(true);
    expect(readZipEntry(buf, zip.byName.get('a/data.pkl')!, 'f.zip').toString()).toBe('hello pickle');
    expect(crc32(Buffer.from('hello pickle'))).toBe(zip.byName.get('a/data.pkl')!.crc32);
  });

  it('reads ZIP64 end records and extra fields', () => {
    const buf = writeZip(entries, { zip64: true, align: 64 });
    const zip = readZip(buf, 'f.zip');
    expect(zip.entries).toHaveLength(3);
    const data = zip.byName.get('a/data/0')!;
    expect(data.uncompressedSize).toBe(100);
    expect(data.compressedSize).toBe(100);
    expect(buf[data.dataOffset]).toBe(7);
    expect(readZipEntry(buf, zip.byName.get('a/notes.txt')!, 'f.zip').length).toBe(NOTES.length);
  });

  it('reads a real torch checkpoint: stored entries, payloads 64-byte aligned', () => {
    const buf = readFileSync(compatPath('vae', 'best.pt'));
    const zip = readZip(buf, 'best.pt');
    expect(zip.byName.has('best/data.pkl')).toBe(true);
    expect(zip.byName.get('best/version')).toBeDefined();
    for (const e of zip.entries) {
      expect(e.method).toBe(0);
      if (e.name.includes('/data/')) expect(e.dataOffset % 64).toBe(0);
    }
  });

  it('rejects an empty buffer', () => {
    expectInputError(() => readZip(Buffer.alloc(0), 'empty.pt'), /empty\.pt is empty/);
  });

  it('rejects bytes that are not a zip', () => {
    expectInputError(() => readZip(Buffer.from('just some text that is long enough to scan'), 'x.pt'), /is not a ZIP archive/);
  });

  it('rejects a zip cut in half (no central directory)', () => {
    const buf = readFileSync(compatPath('dcgan', 'best.pt'));
    expectInputError(() => readZip(buf.subarray(0, buf.length >> 1), 'half.pt'), /half\.pt is truncated or corrupt.*end-of-central-directory/);
  });

  it('rejects a central directory that points past the end of the file', () => {
    const buf = Buffer.from(writeZip(entries));
    const eocd = buf.length - 22;
    buf.writeUInt32LE(buf.length, eocd + 16); // central directory offset beyond EOF
    expectInputError(() => readZip(buf, 'bad.pt'), /truncated: its ZIP central directory runs past the end/);
  });

  it('rejects entry data that runs past the end of the file', () => {
    const buf = Buffer.from(writeZip([{ name: 'a/data/0', data: Buffer.alloc(64) }]));
    const zip = readZip(buf, 'ok.pt');
    const cd = buf.length - 22 - (46 + 'a/data/0'.length);
    expect(buf.readUInt32LE(cd)).toBe(0x02014b50);
    buf.writeUInt32LE(10_000_000, cd + 20); // compressed size far larger than the file
    expect(zip.entries).toHaveLength(1);
    expectInputError(() => readZip(buf, 'bad.pt'), /data of ZIP entry a\/data\/0 runs past the end of the file/);
  });

  it('rejects a corrupt local header', () => {
    const buf = Buffer.from(writeZip([{ name: 'a', data: Buffer.alloc(8) }]));
    buf.writeUInt32LE(0, 0);
    expectInputError(() => readZip(buf, 'bad.pt'), /ZIP entry a has no local header/);
  });
});
