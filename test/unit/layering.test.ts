import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { REQUEST_CHANNELS } from '../../preload/contract.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return tsFiles(full);
    return e.name.endsWith('.ts') ? [full] : [];
  });
}

const importsOf = (file: string): string[] =>
  [...fs.readFileSync(file, 'utf8').matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|require\(\s*['"]([^'"]+)['"]\s*\)/g)].map(
    (m) => m[1] ?? m[2] ?? m[3] ?? '',
  );

describe('layering', () => {
  it('domain code under main/ never imports electron (only main/shell/ does)', () => {
    const offenders = tsFiles(path.join(root, 'main'))
      .filter((f) => !f.includes(`${path.sep}main${path.sep}shell${path.sep}`))
      .filter((f) => importsOf(f).some((s) => s === 'electron' || s.startsWith('electron/')));
    expect(offenders).toEqual([]);
  });

  it('the shell really is the one place that imports electron', () => {
    const shell = tsFiles(path.join(root, 'main/shell'));
    expect(shell.some((f) => importsOf(f).includes('electron'))).toBe(true);
  });

  it('the contract file imports nothing, so the sandboxed preload can use it', () => {
    expect(importsOf(path.join(root, 'preload/contract.ts'))).toEqual([]);
  });

  it('the preload imports only electron and type-only contract code', () => {
    const imports = importsOf(path.join(root, 'preload/index.ts'));
    expect(imports.filter((s) => s !== 'electron' && s !== './contract.js')).toEqual([]);
  });

  it('the request channel list has no duplicates', () => {
    expect(new Set(REQUEST_CHANNELS).size).toBe(REQUEST_CHANNELS.length);
  });
});
