/**
 * Draws the app icon and the tray icons under assets/ with the project's PNG encoder
 * (main/sampling/png.ts). Each tray state has its own colour and its own shape (a dot, a
 * triangle, a cross), so the states differ without colour too; each comes at 16 px and as a
 * 32 px @2x file, which Electron picks on dense screens. The files are committed; run
 * `npx tsx scripts/make-icons.ts` after changing a drawing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeRgbaPng } from '../main/sampling/png.js';
import { TRAY_ICON_FILES, TRAY_ICON_SIZES, type TrayHealth } from '../main/desktop/tray-model.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

type Rgb = readonly [number, number, number];
/** Whether a point (−1…1 on both axes, y down) is inside the drawing. */
type Shape = (x: number, y: number) => boolean;

const ring: Shape = (x, y) => {
  const r = Math.hypot(x, y);
  return r <= 0.95 && r >= 0.72;
};

/** Signed side of point p against the edge a→b (triangle test). */
const side = (px: number, py: number, ax: number, ay: number, bx: number, by: number): number => (px - bx) * (ay - by) - (ax - bx) * (py - by);

const marks: Readonly<Record<TrayHealth | 'app', Shape>> = {
  healthy: (x, y) => Math.hypot(x, y) <= 0.4,
  degraded: (x, y) => {
    const d1 = side(x, y, 0, -0.48, 0.46, 0.36);
    const d2 = side(x, y, 0.46, 0.36, -0.46, 0.36);
    const d3 = side(x, y, -0.46, 0.36, 0, -0.48);
    return !((d1 < 0 || d2 < 0 || d3 < 0) && (d1 > 0 || d2 > 0 || d3 > 0));
  },
  down: (x, y) => Math.max(Math.abs(x), Math.abs(y)) <= 0.42 && (Math.abs(x - y) <= 0.16 || Math.abs(x + y) <= 0.16),
  app: (x, y) => Math.hypot(x, y) <= 0.4,
};

const colours: Readonly<Record<TrayHealth | 'app', Rgb>> = {
  healthy: [46, 160, 67],
  degraded: [219, 154, 4],
  down: [207, 34, 46],
  app: [64, 112, 224],
};

/** Draws ring + mark at `size` px, 4×4 supersampled so small sizes keep smooth edges. */
function draw(size: number, mark: Shape, rgb: Rgb): Buffer {
  const rgba = new Uint8Array(size * size * 4);
  const n = 4;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let hits = 0;
      for (let sy = 0; sy < n; sy++) {
        for (let sx = 0; sx < n; sx++) {
          const x = ((px + (sx + 0.5) / n) / size) * 2 - 1;
          const y = ((py + (sy + 0.5) / n) / size) * 2 - 1;
          if (ring(x, y) || mark(x, y)) hits++;
        }
      }
      const o = (py * size + px) * 4;
      rgba[o] = rgb[0];
      rgba[o + 1] = rgb[1];
      rgba[o + 2] = rgb[2];
      rgba[o + 3] = Math.round((hits / (n * n)) * 255);
    }
  }
  return encodeRgbaPng(rgba, size, size);
}

/** Every icon file: name, size, drawing. */
const files: [string, Buffer][] = [['icon.png', draw(512, marks.app, colours.app)]];
for (const state of Object.keys(TRAY_ICON_FILES) as TrayHealth[]) {
  const base = TRAY_ICON_FILES[state];
  files.push([base, draw(TRAY_ICON_SIZES.base, marks[state], colours[state])]);
  files.push([base.replace(/\.png$/, '@2x.png'), draw(TRAY_ICON_SIZES.retina, marks[state], colours[state])]);
}
fs.mkdirSync(path.join(root, 'assets'), { recursive: true });
for (const [name, bytes] of files) fs.writeFileSync(path.join(root, 'assets', name), bytes);
console.log(`wrote ${files.map(([n]) => `assets/${n}`).join(', ')}`);
