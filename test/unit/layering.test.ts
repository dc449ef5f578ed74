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

/**
 * Folder ranks of main/: a folder imports only from folders of a lower rank (or its own), so
 * `common` sits at the bottom and the hosts (cli, shell) at the top. A new folder must be given
 * a rank here, deliberately.
 */
const RANKS: Readonly<Record<string, number>> = {
  common: 0,
  config: 1, inspect: 1, sampling: 1, metrics: 1,
  workspace: 2,
  events: 3,
  registry: 4, serving: 4,
  export: 5, drift: 5, alerts: 5, watch: 5,
  docker: 6,
  generate: 7,
  deploy: 8,
  agent: 9,
  web: 10, desktop: 10,
  cli: 11, shell: 11,
};

describe('folder ranks', () => {
  it('every folder of main/ has a rank, and no folder imports from a higher or equal-ranked other folder', () => {
    const folders = fs.readdirSync(path.join(root, 'main'), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    expect(folders.filter((f) => RANKS[f] === undefined)).toEqual([]);
    const offenders: string[] = [];
    for (const file of tsFiles(path.join(root, 'main'))) {
      const from = path.relative(path.join(root, 'main'), file).split(path.sep)[0] ?? '';
      for (const spec of importsOf(file).filter((s) => s.startsWith('.'))) {
        const target = path.relative(path.join(root, 'main'), path.resolve(path.dirname(file), spec)).split(path.sep)[0] ?? '';
        if (target === from || target.startsWith('..') || RANKS[target] === undefined) continue;
        if ((RANKS[target] ?? 0) >= (RANKS[from] ?? 0)) offenders.push(`${path.relative(root, file)} → ${spec}`);
      }
    }
    expect(offenders).toEqual([]);
  });
});

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
