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

interface ProbeAnswer {
  readonly python?: string;
  readonly torch?: string;
  readonly onnx?: string | null;
  readonly error?: { readonly message: string };
}

function probe(executable: string): Promise<PythonInfo | { error: string }> {
  return new Promise((resolve) => {
    execFile(
      executable,
      ['-m', 'frameworm.export', '--python-info'],
      { cwd: templatesDir(), env: { ...process.env, PYTHONPATH: templatesDir() }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const last = stdout.trim().split('\n').pop() ?? '';
        let answer: ProbeAnswer | null = null;
        try {
          answer = JSON.parse(last) as ProbeAnswer;
        } catch {
          answer = null;
        }
        if (answer?.python && answer.torch) {
          resolve({ executable, python: answer.python, torch: answer.torch, onnx: answer.onnx ?? null });
          return;
        }
        const text = `${answer?.error?.message ?? ''} ${stderr}`;
        if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') resolve({ error: 'not found' });
        else if (/No module named '?torch/.test(text)) resolve({ error: 'has no torch' });
        else resolve({ error: (text.trim().split('\n').pop() ?? err?.message ?? 'no answer').slice(0, 120) });
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
