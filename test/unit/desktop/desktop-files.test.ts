/**
 * The committed tray icons (drawn by scripts/make-icons.ts with encodeRgbaPng) decode as RGBA
 * PNGs with a transparent background, and the workspace the app opens at start.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeRgbaPng } from '../../../main/sampling/png.js';
import { TRAY_ICON_FILES } from '../../../main/desktop/tray-model.js';
import { rememberedWorkspaceFile, rememberWorkspace, startWorkspace } from '../../../main/desktop/workspace-choice.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-desktop-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Width, height, colour type and unfiltered RGBA pixels of a PNG written with filter 0. */
function decode(bytes: Buffer): { width: number; height: number; colourType: number; rgba: Buffer } {
  let at = 8;
  const idat: Buffer[] = [];
  let width = 0;
  let height = 0;
  let colourType = -1;
  while (at < bytes.length) {
    const len = bytes.readUInt32BE(at);
    const type = bytes.toString('latin1', at + 4, at + 8);
    const data = bytes.subarray(at + 8, at + 8 + len);
    if (type === 'IHDR') [width, height, colourType] = [data.readUInt32BE(0), data.readUInt32BE(4), data[9] ?? -1];
    if (type === 'IDAT') idat.push(data);
    at += 12 + len;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const rows = Array.from({ length: height }, (_, y) => {
    expect(raw[y * (width * 4 + 1)]).toBe(0);
    return raw.subarray(y * (width * 4 + 1) + 1, (y + 1) * (width * 4 + 1));
  });
  return { width, height, colourType, rgba: Buffer.concat(rows) };
}

describe('desktop files', () => {
  it('encodes RGBA pixels losslessly', () => {
    const pixels = new Uint8Array([255, 0, 0, 255, 0, 255, 0, 128, 0, 0, 255, 0, 9, 8, 7, 6]);
    const png = decode(encodeRgbaPng(pixels, 2, 2));
    expect(png).toMatchObject({ width: 2, height: 2, colourType: 6 });
    expect([...png.rgba]).toEqual([...pixels]);
    expect(() => encodeRgbaPng(pixels, 3, 2)).toThrow(/expected 24/);
  });

  it('has tray icons per state with transparent corners, an opaque ring, and distinct colours', () => {
    const colours = new Set<string>();
    for (const file of Object.values(TRAY_ICON_FILES).flatMap((f) => [f, f.replace('.png', '@2x.png')])) {
      const { width, colourType, rgba } = decode(fs.readFileSync(path.join(root, 'assets', file)));
      expect(colourType).toBe(6);
      expect(rgba[3]).toBe(0); // top-left corner: transparent
      const edge = (Math.floor(width / 2) * width + 1) * 4; // the ring, left of the centre line
      expect(rgba[edge + 3]).toBeGreaterThan(128);
      colours.add(rgba.subarray(edge, edge + 3).toString('hex'));
    }
    expect(colours.size).toBe(3);
  });

  it('opens FRAMEWORM_WORKSPACE first, else the remembered workspace while it exists, else asks', () => {
    const file = rememberedWorkspaceFile(path.join(tmp, 'user-data'));
    expect(startWorkspace({}, file)).toBeNull();
    const ws = fs.mkdtempSync(path.join(tmp, 'ws-'));
    rememberWorkspace(file, ws);
    expect(startWorkspace({}, file)).toBe(ws);
    expect(startWorkspace({ FRAMEWORM_WORKSPACE: 'relative/ws' }, file)).toBe(path.resolve('relative/ws'));
    fs.rmSync(ws, { recursive: true });
    expect(startWorkspace({}, file)).toBeNull();
    fs.writeFileSync(file, 'not json');
    expect(startWorkspace({}, file)).toBeNull();
  });
});
