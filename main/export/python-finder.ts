import { execFile } from 'node:child_process';
import { FramewormError, type ErrorCode } from '../common/errors.js';
import { templatesRoot } from '../common/paths.js';

/** A Python interpreter that can run the exporter. */
export interface PythonInfo {
  readonly executable: string;
  readonly python: string;
  readonly torch: string;
  readonly onnx: string | null;
}

/** Where the Python side (the `frameworm` package) lives (outside the asar in the packaged app). */
export function templatesDir(): string {
  return templatesRoot();
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
        const errno = err ? (err as NodeJS.ErrnoException).code : undefined;
        if (errno === 'ENOENT') resolve({ error: 'not found' });
        else if (errno === 'EACCES') resolve({ error: 'not executable' });
        else if ((answer?.python && !answer.torch) || /No module named '?torch/.test(text)) resolve({ error: answer?.python ? `Python ${answer.python} has no torch` : 'has no torch' });
        else resolve({ error: (text.trim().split('\n').pop() || err?.message || 'no answer').slice(0, 120) });
      },
    );
  });
}

const cache = new Map<string, Promise<PythonInfo>>();

/**
 * Finds a Python with torch: `deploy.python_path` if set, else `$FRAMEWORM_PYTHON` if set,
 * else the first of `python3` on PATH, Debian's `/usr/bin/python3` and `python` that works.
 *
 * An explicit choice is never replaced silently by another interpreter (the user chose it for
 * a reason: a venv with the right torch): when it cannot run the exporter the error names it
 * (E_CONFIG for deploy.python_path, E_RUNTIME for the variable) and says why. Without one, the
 * error lists what was tried and what to install.
 */
export function findPython(configured: string | null): Promise<PythonInfo> {
  const fromEnv = process.env['FRAMEWORM_PYTHON'];
  const explicit: { readonly path: string; readonly origin: string; readonly code: ErrorCode } | null =
    configured !== null && configured !== ''
      ? { path: configured, origin: 'deploy.python_path', code: 'E_CONFIG' }
      : fromEnv !== undefined && fromEnv !== ''
        ? { path: fromEnv, origin: '$FRAMEWORM_PYTHON', code: 'E_RUNTIME' }
        : null;
  const candidates = explicit ? [explicit.path] : ['python3', '/usr/bin/python3', 'python'];
  const key = `${explicit?.origin ?? 'search'}\0${candidates.join('\0')}`;
  let found = cache.get(key);
  if (!found) {
    found = (async () => {
      if (explicit) {
        const r = await probe(explicit.path);
        if ('executable' in r) return r;
        throw new FramewormError(
          explicit.code,
          `${explicit.origin} is ${explicit.path}, which cannot run the exporter (${r.error}); point it at a Python with torch and onnx, or unset it to let frameworm search PATH`,
        );
      }
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
