import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const config = parse(fs.readFileSync(path.join(root, 'electron-builder.yml'), 'utf8')) as {
  appId: string;
  files: string[];
  asarUnpack: string[];
  extraMetadata: { main: string };
  linux: { icon: string };
};
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  main: string;
  bin: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

describe('packaging configuration', () => {
  it('points the app at the compiled Electron shell, which the build produces', () => {
    expect(config.extraMetadata.main).toBe(pkg.main);
    expect(config.files).toContain('dist/main/**');
    expect(fs.existsSync(path.join(root, 'main/shell/electron-main.ts'))).toBe(true);
    expect(pkg.main).toBe('dist/main/shell/electron-main.js');
  });

  it('unpacks the native modules from the asar and keeps them runtime dependencies', () => {
    for (const native of ['better-sqlite3', 'onnxruntime-node']) {
      expect(config.asarUnpack.some((g) => g.includes(native))).toBe(true);
      expect(pkg.dependencies[native]).toBeDefined();
    }
    expect(pkg.devDependencies['electron']).toBeDefined();
  });

  it('has the icons it names, as real PNGs', () => {
    for (const icon of [config.linux.icon, 'assets/tray-healthy.png', 'assets/tray-degraded.png', 'assets/tray-down.png']) {
      const bytes = fs.readFileSync(path.join(root, icon));
      expect(bytes.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    }
  });

  it('pins better-sqlite3 to 12.x (13 needs Node 22)', () => {
    expect(pkg.dependencies['better-sqlite3']).toMatch(/^12\./);
    expect(pkg.bin['frameworm']).toBe('bin/frameworm.js');
  });
});
