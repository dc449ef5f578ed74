/**
 * Finds a Python interpreter for the cross-language tests and runs snippets in it with
 * PYTHONPATH=templates, so `import frameworm.noise` resolves to this checkout's code.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const TEMPLATES = path.join(REPO_ROOT, 'templates');

const CANDIDATES = [process.env['FRAMEWORM_PYTHON'], '/usr/bin/python3', 'python3'].filter((p): p is string => !!p);

function env(): NodeJS.ProcessEnv {
  const existing = process.env['PYTHONPATH'];
  return { ...process.env, PYTHONPATH: existing ? `${TEMPLATES}${path.delimiter}${existing}` : TEMPLATES };
}

/** The first candidate interpreter that can import every module in `modules`, or null. */
export function findPython(modules: readonly string[]): string | null {
  for (const candidate of CANDIDATES) {
    const probe = spawnSync(candidate, ['-c', modules.map((m) => `import ${m}`).join('; ')], { env: env(), stdio: 'ignore' });
    if (probe.status === 0) return candidate;
  }
  return null;
}

/** Runs `python -c script args…` and returns its stdout as bytes. */
export function runPython(python: string, script: string, args: readonly string[] = []): Buffer {
  return execFileSync(python, ['-c', script, ...args], { env: env(), maxBuffer: 1 << 30, timeout: 120_000 });
}

/** Like findPython, but a missing interpreter fails the test run: CI installs it (scripts/setup.sh --test). */
export function requirePython(modules: readonly string[]): string {
  const found = findPython(modules);
  if (found === null) throw new Error(`no Python with ${modules.join(', ')} found; run scripts/setup.sh --test (Debian python3-torch python3-numpy)`);
  return found;
}
