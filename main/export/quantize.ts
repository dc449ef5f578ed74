import { execFile } from 'node:child_process';
import path from 'node:path';
import { FramewormError } from '../common/errors.js';
import type { ModelType } from '../common/types.js';
import { checkOnnxParity } from './onnx-parity.js';
import { templatesDir, type PythonInfo } from './python-finder.js';

export const QUANTIZED_FILE = 'model.quant.onnx';

/** What quantization did, recorded in the manifest and the registry lineage. */
export interface QuantizationReport {
  readonly method: string;
  readonly file: string;
  readonly size_bytes: number;
  readonly original_size_bytes: number;
  readonly size_ratio: number;
  readonly quantized_tensors: number;
  /** Largest absolute difference from eager PyTorch on the export's seeded inputs, per output. */
  readonly max_abs_err: Readonly<Record<string, number>>;
}

/**
 * Why an architecture is not quantized, or null when it is: where int8 weights would change
 * results by more than a rounding error (see each reason).
 */
export function quantizationRefusal(type: ModelType): string | null {
  if (type === 'ddpm' || type === 'cfg_ddpm') {
    return `${type} is not quantized: the sampler calls its ε-network once per reverse step, so int8 weight error compounds over the whole reverse process`;
  }
  if (type === 'vqvae2') {
    // Measured on the compat model: max reconstruction error 0.32 (in [-1, 1]) after int8.
    return 'vqvae2 is not quantized: its encoder output picks the nearest codebook entry, and int8 weight error flips codes, changing whole patches of the reconstruction';
  }
  return null;
}

/** Largest error a quantized model may show before it is called broken rather than lossy. */
const SANITY_LIMIT = 0.5;

/**
 * Writes `model.quant.onnx` (int8 weights, float activations) beside `model.onnx` and measures
 * its error in onnxruntime-node against the eager outputs recorded at export.
 */
export async function quantizeExport(python: PythonInfo, exportDir: string, type: ModelType): Promise<QuantizationReport> {
  const refusal = quantizationRefusal(type);
  if (refusal) throw new FramewormError('E_USAGE', `--quantize: ${refusal}`);
  const out = path.join(exportDir, QUANTIZED_FILE);
  const answer = await new Promise<{ result?: Omit<QuantizationReport, 'file' | 'max_abs_err'>; error?: { message: string } }>((resolve, reject) => {
    execFile(
      python.executable,
      ['-m', 'frameworm.quantize', '--model', path.join(exportDir, 'model.onnx'), '--out', out],
      { cwd: templatesDir(), env: { ...process.env, PYTHONPATH: templatesDir() }, timeout: 300_000 },
      (err, stdout, stderr) => {
        const last = stdout.trim().split('\n').pop() ?? '';
        try {
          resolve(JSON.parse(last) as { result?: Omit<QuantizationReport, 'file' | 'max_abs_err'>; error?: { message: string } });
        } catch {
          reject(new FramewormError('E_RUNTIME', `quantization failed: ${(stderr.trim().split('\n').pop() ?? err?.message ?? 'no answer').slice(0, 200)}`));
        }
      },
    );
  });
  if (!answer.result) throw new FramewormError('E_RUNTIME', answer.error?.message ?? 'quantization failed');
  const errors = await checkOnnxParity(exportDir, { modelFile: QUANTIZED_FILE, tolerance: SANITY_LIMIT });
  return { ...answer.result, file: QUANTIZED_FILE, max_abs_err: errors };
}
