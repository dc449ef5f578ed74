/**
 * Draws the app and tray icons (a ring in the health colour) as PNG files under assets/.
 * Plain RGBA rasterisation + zlib, so it needs nothing but Node.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function crc32(buf: Buffer): number {
  let c = ~0;
  for (const byte of buf) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

function ringPng(size: number, rgb: readonly [number, number, number]): Buffer {
  const raw = Buffer.alloc((size * 4 + 1) * size);
  const c = (size - 1) / 2;
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0;
    for (let x = 0; x < size; x++) {
      const r = Math.hypot(x - c, y - c) / (size / 2);
      const inRing = r < 0.95 && r > 0.55;
      const inDot = r < 0.3;
      const o = y * (size * 4 + 1) + 1 + x * 4;
      if (inRing || inDot) {
        raw[o] = rgb[0];
        raw[o + 1] = rgb[1];
        raw[o + 2] = rgb[2];
        raw[o + 3] = 255;
      }
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

const icons: [string, number, [number, number, number]][] = [
  ['icon.png', 512, [64, 112, 224]],
  ['tray-healthy.png', 32, [46, 160, 67]],
  ['tray-degraded.png', 32, [219, 154, 4]],
  ['tray-down.png', 32, [207, 34, 46]],
];
fs.mkdirSync(path.join(root, 'assets'), { recursive: true });
for (const [name, size, rgb] of icons) fs.writeFileSync(path.join(root, 'assets', name), ringPng(size, rgb));
console.log(`wrote ${icons.map(([n]) => `assets/${n}`).join(', ')}`);
