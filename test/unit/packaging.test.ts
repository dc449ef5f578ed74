/**
 * The packaging configuration (electron-builder.yml) against the real file set: what it packs,
 * unpacks and copies beside the asar must exist after the build, and everything the compiled
 * main process loads at run time must be inside what it packs. Patterns are matched with
 * minimatch, the matcher electron-builder itself uses.
 */
import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { minimatch } from 'minimatch';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { templatesRoot } from '../../main/common/paths.js';
import { TRAY_ICON_FILES, TRAY_ICON_SIZES } from '../../main/desktop/tray-model.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const config = parse(fs.readFileSync(path.join(root, 'electron-builder.yml'), 'utf8')) as {
  appId: string;
  productName: string;
  directories: { output: string; buildResources: string };
  files: string[];
  asarUnpack: string[];
  npmRebuild: boolean;
  extraResources: { from: string; to: string; filter: string[] }[];
  extraMetadata: { main: string };
  linux: { target: string[]; icon: string };
  mac: { target: string };
  win: { target: string };
};
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  main: string;
  bin: Record<string, string>;
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/** Every file under `dir`, as paths relative to the repository root with forward slashes. */
function walk(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return walk(full);
    return e.isFile() ? [path.relative(root, full).split(path.sep).join('/')] : [];
  });
}

/** Whether electron-builder's `files` list takes `file` into the asar (later negations win). */
function packed(file: string): boolean {
  let inside = false;
  for (const pattern of config.files) {
    if (pattern.startsWith('!')) {
      if (minimatch(file, pattern.slice(1), { dot: true })) inside = false;
    } else if (minimatch(file, pattern, { dot: true })) inside = true;
  }
  return inside;
}

const unpacked = (file: string): boolean => config.asarUnpack.some((g) => minimatch(file, g, { dot: true }));

describe('packaging configuration', () => {
  it('has the keys electron-builder needs for AppImage/deb, dmg and nsis', () => {
    expect(config.appId).toMatch(/^[a-z0-9.-]+$/);
    expect(config.productName).toBe('Frameworm Deploy');
    expect(config.directories).toEqual({ output: 'release', buildResources: 'assets' });
    expect(config.linux.target).toEqual(['AppImage', 'deb']);
    expect(config.mac.target).toBe('dmg');
    expect(config.win.target).toBe('nsis');
    expect(config.npmRebuild).toBe(true);
    expect(pkg.scripts['package']).toContain('electron-builder --config electron-builder.yml');
    expect(pkg.devDependencies['electron-builder']).toBeDefined();
  });

  it('points the app at the compiled Electron shell, which the build produces', () => {
    expect(config.extraMetadata.main).toBe(pkg.main);
    expect(pkg.main).toBe('dist/main/shell/electron-main.js');
    expect(fs.existsSync(path.join(root, pkg.main))).toBe(true);
    expect(packed(pkg.main)).toBe(true);
  });

  it('packs the built main process, the CommonJS preload, the renderer build and the assets, but no source maps', () => {
    for (const file of ['dist/main/shell/electron-main.js', 'dist/main/agent/agent-main.js', 'dist/preload/index.cjs', 'dist/preload/contract.js', 'renderer/dist/index.html', 'assets/tray-down@2x.png', 'package.json']) {
      expect(fs.existsSync(path.join(root, file)), file).toBe(true);
      expect(packed(file), file).toBe(true);
    }
    expect(packed('dist/main/shell/electron-main.js.map')).toBe(false);
    // Tests, scripts and sources stay out of the app.
    for (const file of ['dist/test/unit/packaging.test.js', 'main/shell/electron-main.ts', 'scripts/make-icons.ts', 'test/unit/packaging.test.ts']) expect(packed(file), file).toBe(false);
    const rendererFiles = walk(path.join(root, 'renderer/dist'));
    expect(rendererFiles.some((f) => f.endsWith('.js'))).toBe(true);
    for (const f of rendererFiles) expect(packed(f), f).toBe(true);
  });

  it('keeps templates/ out of the asar, as resources Python can run from', () => {
    expect(config.files.some((p) => p.startsWith('templates'))).toBe(false);
    expect(packed('templates/frameworm/__init__.py')).toBe(false);
    const [templates] = config.extraResources;
    expect(templates).toMatchObject({ from: 'templates', to: 'templates' });
    const copied = walk(path.join(root, templates?.from ?? 'missing')).filter((f) => {
      const rel = path.posix.relative(templates?.from ?? '', f);
      let take = false;
      for (const g of templates?.filter ?? []) take = g.startsWith('!') ? take && !minimatch(rel, g.slice(1), { dot: true }) : take || minimatch(rel, g, { dot: true });
      return take;
    });
    expect(copied).toContain('templates/frameworm/__init__.py');
    expect(copied.some((f) => f.startsWith('templates/server/'))).toBe(true);
    expect(copied.some((f) => f.startsWith('templates/docker/'))).toBe(true);
    expect(copied.some((f) => f.startsWith('templates/tests/') || f.includes('__pycache__'))).toBe(false);
    // The packaged app finds them beside app.asar (resources/templates); a checkout beside package.json.
    expect(templatesRoot('/opt/Frameworm Deploy/resources/app.asar')).toBe('/opt/Frameworm Deploy/resources/templates');
    expect(templatesRoot(root)).toBe(path.join(root, 'templates'));
  });

  it('unpacks the native modules from the asar: patterns match the real addons and shared libraries', () => {
    for (const g of config.asarUnpack) {
      const pkgName = /node_modules\/([^/]+)/.exec(g)?.[1] ?? '';
      expect(pkg.dependencies[pkgName], g).toBeDefined();
      const files = walk(path.join(root, 'node_modules', pkgName));
      expect(files.filter(unpacked).length, g).toBeGreaterThan(0);
    }
    expect(unpacked('node_modules/better-sqlite3/build/Release/better_sqlite3.node')).toBe(true);
    expect(fs.existsSync(path.join(root, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node'))).toBe(true);
    const ort = walk(path.join(root, 'node_modules/onnxruntime-node/bin'));
    const linux = ort.filter((f) => f.includes('/linux/x64/'));
    expect(linux.map((f) => path.posix.basename(f)).sort()).toEqual(['libonnxruntime.so.1', 'onnxruntime_binding.node']);
    for (const f of ort) expect(unpacked(f), f).toBe(true);
    // Every native file of the runtime dependencies is unpacked.
    const natives = Object.keys(pkg.dependencies).flatMap((d) => walk(path.join(root, 'node_modules', d))).filter((f) => /\.(node|so(\.\d+)*|dylib|dll)$/.test(f) && !f.includes('/obj.target/') && !f.includes('test_extension'));
    expect(natives.length).toBeGreaterThan(0);
    for (const f of natives) expect(unpacked(f), f).toBe(true);
  });

  it('packs everything the compiled main process imports, and takes packages only from runtime dependencies', () => {
    const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
    const seen = new Set<string>();
    const queue = [pkg.main];
    const bare = new Set<string>();
    while (queue.length > 0) {
      const file = queue.pop() ?? '';
      if (seen.has(file)) continue;
      seen.add(file);
      expect(packed(file), `${file} (imported at run time)`).toBe(true);
      const text = fs.readFileSync(path.join(root, file), 'utf8');
      for (const m of text.matchAll(/(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
        const spec = m[1] ?? m[2] ?? '';
        if (spec.startsWith('.')) queue.push(path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)));
        else if (!builtins.has(spec)) bare.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] ?? spec));
      }
    }
    expect(seen.size).toBeGreaterThan(50);
    expect(seen.has('dist/main/agent/host.js')).toBe(true);
    // electron is provided by the runtime itself; everything else must ship in node_modules.
    for (const name of [...bare].filter((n) => n !== 'electron')) expect(pkg.dependencies[name], `${name} is imported by the app`).toBeDefined();
  });

  it('has the icons it names, as real PNGs: the app icon and each tray state at 1x and 2x', () => {
    const size = (file: string): [number, number] => {
      const bytes = fs.readFileSync(path.join(root, file));
      expect(bytes.subarray(0, 8).toString('hex'), file).toBe('89504e470d0a1a0a');
      expect(packed(file), file).toBe(true);
      return [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
    };
    expect(size(config.linux.icon)[0]).toBeGreaterThanOrEqual(256);
    for (const icon of Object.values(TRAY_ICON_FILES)) {
      expect(size(`assets/${icon}`)).toEqual([TRAY_ICON_SIZES.base, TRAY_ICON_SIZES.base]);
      expect(size(`assets/${icon.replace('.png', '@2x.png')}`)).toEqual([TRAY_ICON_SIZES.retina, TRAY_ICON_SIZES.retina]);
    }
  });

  it('builds the preload as one CommonJS file that requires electron and imports nothing', () => {
    expect(pkg.scripts['build:preload']).toMatch(/--bundle/);
    expect(pkg.scripts['build:preload']).toMatch(/--format=cjs/);
    expect(pkg.scripts['build:preload']).toMatch(/--outfile=dist\/preload\/index\.cjs/);
    const preload = fs.readFileSync(path.join(root, 'dist/preload/index.cjs'), 'utf8');
    expect(preload).not.toMatch(/^\s*import[\s{]/m);
    expect(preload).not.toMatch(/\bimport\(/);
    expect(preload).toMatch(/require\("electron"\)/);
    expect([...preload.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1])).toEqual(['electron']);
    // The shell loads the preload and the page from where the build puts them.
    const shell = fs.readFileSync(path.join(root, 'main/shell/electron-main.ts'), 'utf8');
    expect(shell).toContain("'dist/preload/index.cjs'");
    expect(shell).toContain("'renderer/dist/index.html'");
  });

  it('pins better-sqlite3 to 12.x (13 needs Node 22)', () => {
    expect(pkg.dependencies['better-sqlite3']).toMatch(/^12\./);
    expect(pkg.bin['frameworm']).toBe('bin/frameworm.js');
  });
});
