import zlib from 'node:zlib';

/** CRC-32 (ISO-HDLC: ZIP, PNG, zlib) of `data`, continuing from `initial`; Node's native one. */
export function crc32(data: Uint8Array, initial = 0): number {
  return zlib.crc32(data, initial);
}
