import { execFile } from 'node:child_process';
import path from 'node:path';
import { FramewormError } from '../common/errors.js';
import { packageRoot } from '../common/paths.js';

/** A Python interpreter that can run the exporter. */
export interface PythonInfo {
  readonly executable: string;
  readonly python: string;
  readonly torch: string;
  readonly onnx: string | null;
}

/** Where the Python side (the `frameworm` package) lives. */
export function templatesDir(): string {
  return path.join(packageRoot(), 'templates');
}

function probe(executable: string): Promise<PythonInfo | { error: string }> {
  return new Promise((resolve) => {
    execFile(
      executable,
      ['-m', 'frameworm.export', '--python-info'],
      { cwd: templatesDir(), env: { ...process.env, PYTHONPATH: templatesDir() }, timeout: 60_000 },
      (err, stdout, stderr) => {
        if (err) {
          const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
          const torchMissing = /No module named 'torch'/.test(stderr);
          resolve({ error: missing ? 'not found' : torchMissing ? 'has no torch' : (stderr.trim().split('\n').pop() ?? err.message) });
          return;
        }
        try {
          const info = JSON.parse(stdout.trim().split('\n').pop() ?? '') as { python: string; torch: string; onnx: string | null };
          resolve({ executable, python: info.python, torch: info.torch, onnx: info.onnx ?? null });
        } catch {
          resolve({ error: `unexpected answer: ${stdout.slice(0, 80)}` });
        }
      },
    );
  });
}

const cache = new Map<string, Promise<PythonInfo>>();

/**
 * Finds a Python with torch: `deploy.python_path`, then `$FRAMEWORM_PYTHON`, then `python3`
 * on PATH, then Debian's `/usr/bin/python3`. The error lists what was tried and what to install.
 */
export function findPython(configured: string | null): Promise<PythonInfo> {
  const candidates = [configured, process.env['FRAMEWORM_PYTHON'], 'python3', '/usr/bin/python3', 'python'].filter(
    (c, i, all): c is string => typeof c === 'string' && c !== '' && all.indexOf(c) === i,
  );
  const key = candidates.join('\0');
  let found = cache.get(key);
  if (!found) {
    found = (async () => {
      const tried: string[] = [];
      for (const candidate of candidates) {
        const r = await probe(candidate);
        if ('executable' in r) return r;
        tried.push(`${candidate} (${r.error})`);
      }
      throw new FramewormError(
        'E_RUNTIME',
        `exporting a checkpoint needs Python with torch, and none was found (tried ${tried.join(', ')}); install torch (pip install torch onnx, or apt-get install python3-torch python3-onnx) or set deploy.python_path`,
      );
    })();
    cache.set(key, found);
    found.catch(() => cache.delete(key));
  }
  return found;
}
