/**
 * Where a worker thread's script is. From dist/ it is the compiled .js next to the caller. From
 * the TypeScript sources (vitest, tsx) the worker is a .ts file; Node 20 does not apply
 * `--import tsx` module hooks inside worker threads (ERR_UNKNOWN_FILE_EXTENSION), so a tiny
 * data: URL bootstrap registers tsx inside the worker first and then imports the .ts entry.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { WorkerOptions } from 'node:worker_threads';
import { FramewormError } from './errors.js';

const cache = new Map<string, Promise<{ url: URL; options: WorkerOptions }>>();

/** The URL to start worker `basename` (without extension) that sits next to `callerUrl`. */
export function workerEntry(callerUrl: string, basename: string): Promise<{ url: URL; options: WorkerOptions }> {
  const key = `${callerUrl}#${basename}`;
  let entry = cache.get(key);
  if (!entry) {
    entry = (async () => {
      if (!callerUrl.endsWith('.ts')) return { url: new URL(`./${basename}.js`, callerUrl), options: {} };
      const target = new URL(`./${basename}.ts`, callerUrl).href;
      const require = createRequire(callerUrl);
      const pkgPath = require.resolve('tsx/package.json');
      const pkg = JSON.parse(await readFile(pkgPath, 'utf8')) as { exports: Record<string, { import?: { default?: string } }> };
      const apiRel = pkg.exports['./esm/api']?.import?.default;
      if (!apiRel) throw new FramewormError('E_INTERNAL', `cannot find tsx/esm/api to start the TypeScript worker ${basename}`);
      const api = pathToFileURL(path.join(path.dirname(pkgPath), apiRel)).href;
      const code = `import { register } from ${JSON.stringify(api)};\nregister();\nawait import(${JSON.stringify(target)});\n`;
      return { url: new URL(`data:text/javascript,${encodeURIComponent(code)}`), options: {} };
    })();
    cache.set(key, entry);
  }
  return entry;
}
