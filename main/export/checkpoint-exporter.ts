import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { FramewormError, type ErrorCode } from '../common/errors.js';
import { lineSplitter } from '../common/line-splitter.js';
import type { ModelType } from '../common/types.js';
import type { ExportManifest } from '../common/export-manifest.js';
import { templatesDir, type PythonInfo } from './python-finder.js';

export interface ExportOptions {
  readonly python: PythonInfo;
  readonly checkpoint: string;
  readonly outDir: string;
  readonly type: ModelType | 'auto';
  readonly imageSize?: number;
  readonly timeoutMs?: number;
  readonly onProgress?: (step: string, message: string) => void;
  /** Aborting kills the exporter (its partial files are removed, as on any failure). */
  readonly signal?: AbortSignal;
}

/** What the exporter writes into outDir (templates/frameworm/export.py). */
const EXPORT_FILES = ['model.torchscript.pt', 'model.onnx', 'parity_reference.json', 'manifest.json'];

const CODES: Readonly<Record<string, ErrorCode>> = { E_INPUT: 'E_INPUT', E_UNSAFE: 'E_UNSAFE', E_EXPORT: 'E_RUNTIME', E_PARITY: 'E_RUNTIME' };

/**
 * Runs the Python exporter (templates/frameworm/export.py) on a checkpoint: TorchScript + ONNX
 * with the eager-vs-TorchScript parity check, streaming its progress lines.
 *
 * The Python side loads the checkpoint with its own restricted unpickler; this process never
 * unpickles anything. The exporter's stdin is a pipe this process holds open and never writes
 * to (`--exit-with-stdin`): if this process dies, even by SIGKILL, the pipe closes and the
 * exporter removes its partial files and exits instead of running on orphaned.
 */
export function exportCheckpoint(options: ExportOptions): Promise<ExportManifest> {
  // The first folder this call creates (undefined if outDir existed): removed again on failure.
  const created = fs.mkdirSync(options.outDir, { recursive: true });
  const args = ['-m', 'frameworm.export', '--checkpoint', path.resolve(options.checkpoint), '--out', options.outDir, '--type', options.type, '--opset', '17', '--exit-with-stdin'];
  if (options.imageSize !== undefined) args.push('--image-size', String(options.imageSize));
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      removeCreatedDirs(options.outDir, created);
      reject(new FramewormError('E_RUNTIME', `the export of ${options.checkpoint} was cancelled`));
      return;
    }
    let stderr = '';
    let result: ExportManifest | null = null;
    let failure: FramewormError | null = null;
    const child = spawn(options.python.executable, args, {
      cwd: templatesDir(),
      env: { ...process.env, PYTHONPATH: templatesDir(), OMP_NUM_THREADS: '1', PYTHONUNBUFFERED: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    // Never written: it only has to stay open while this process lives (see the JSDoc).
    child.stdin.on('error', () => {});
    let killed = false;
    const kill = (why: FramewormError): void => {
      failure = why;
      killed = true;
      child.kill('SIGKILL');
    };
    const onAbort = (): void => kill(new FramewormError('E_RUNTIME', `the export of ${options.checkpoint} was cancelled`));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(
      () => kill(new FramewormError('E_RUNTIME', `the export of ${options.checkpoint} took longer than ${(options.timeoutMs ?? 600_000) / 1000} s`)),
      options.timeoutMs ?? 600_000,
    );
    const onLine = (line: string): void => {
      if (line.trim() === '') return;
      let msg: { progress?: { step: string; message: string }; result?: ExportManifest; error?: { code: string; message: string } };
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        stderr += `${line}\n`;
        return;
      }
      if (msg.progress) options.onProgress?.(msg.progress.step, msg.progress.message);
      else if (msg.result) result = msg.result;
      else if (msg.error) failure = new FramewormError(CODES[msg.error.code] ?? 'E_RUNTIME', msg.error.message);
    };
    child.stdout.setEncoding('utf8');
    const lines = lineSplitter(onLine);
    child.stdout.on('data', (chunk: string) => lines.push(chunk));
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    const fail = (err: FramewormError): void => {
      options.signal?.removeEventListener('abort', onAbort);
      // A killed exporter had no chance to remove its partial files; otherwise it did.
      if (killed) for (const f of EXPORT_FILES) fs.rmSync(path.join(options.outDir, f), { force: true });
      removeCreatedDirs(options.outDir, created);
      reject(err);
    };
    child.on('error', (err) => {
      clearTimeout(timer);
      fail(new FramewormError('E_RUNTIME', `could not run ${options.python.executable}: ${err.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      lines.end();
      if (failure) fail(failure);
      else if (code === 0 && result) {
        options.signal?.removeEventListener('abort', onAbort);
        resolve(result);
      } else {
        const last = stderr.trim().split('\n').pop() ?? '';
        fail(new FramewormError('E_RUNTIME', `the exporter failed (exit ${String(code)})${last ? `: ${last}` : ''}`));
      }
    });
  });
}

/**
 * After a failed export, removes the folders that were created for it (outDir up to and
 * including `created`), each only if empty: the exporter deletes its own files on failure, and
 * anything else found there (another deploy's files) is left alone.
 */
export function removeCreatedDirs(outDir: string, created: string | undefined): void {
  if (created === undefined) return;
  const top = path.resolve(created);
  for (let dir = path.resolve(outDir); ; dir = path.dirname(dir)) {
    try {
      fs.rmdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return; // not empty: someone else's
    }
    if (dir === top || path.dirname(dir) === dir) return;
  }
}
