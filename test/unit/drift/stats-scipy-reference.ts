/**
 * Reference values from scipy, computed by the system Python on the exact data a test uses.
 * The script reads JSON on stdin and prints JSON; nothing is cached, so a scipy upgrade that
 * changed a value would show up here.
 */
import { execFileSync } from 'node:child_process';

/** Runs `code` (which reads `data` and assigns `out`) with /usr/bin/python3 and scipy. */
export function scipy<T>(code: string, data: unknown): T {
  const script = ['import json, sys', 'import numpy as np', 'import scipy.stats as st', 'data = json.load(sys.stdin)', code, 'print(json.dumps(out))'].join('\n');
  const stdout = execFileSync('/usr/bin/python3', ['-c', script], { input: JSON.stringify(data), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(stdout) as T;
}
