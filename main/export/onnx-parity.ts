import fs from 'node:fs';
import path from 'node:path';
import { FramewormError } from '../common/errors.js';
import { ModelSession } from '../serving/model-session.js';
import type { TensorValue } from '../serving/tensor-types.js';

export const PARITY_TOLERANCE = 1e-4;

interface ReferenceTensor {
  readonly shape: number[];
  readonly dtype: string;
  readonly data: number[];
}

function toTensor(ref: ReferenceTensor): TensorValue {
  switch (ref.dtype) {
    case 'int64':
      return { dtype: 'int64', dims: ref.shape, data: BigInt64Array.from(ref.data, (v) => BigInt(v)) };
    case 'int32':
      return { dtype: 'int32', dims: ref.shape, data: Int32Array.from(ref.data) };
    default:
      return { dtype: 'float32', dims: ref.shape, data: Float32Array.from(ref.data) };
  }
}

/**
 * Runs the exported ONNX model in onnxruntime-node on the exporter's seeded inputs and compares
 * with the eager PyTorch outputs it recorded: the third leg of eager ↔ TorchScript ↔ ONNX parity.
 * Returns the largest absolute error per output; throws when one exceeds the tolerance.
 */
export async function checkOnnxParity(
  exportDir: string,
  options: { modelFile?: string; tolerance?: number } = {},
): Promise<Record<string, number>> {
  const modelFile = options.modelFile ?? 'model.onnx';
  const tolerance = options.tolerance ?? PARITY_TOLERANCE;
  const reference = JSON.parse(fs.readFileSync(path.join(exportDir, 'parity_reference.json'), 'utf8')) as {
    inputs: Record<string, ReferenceTensor>;
    outputs: Record<string, ReferenceTensor>;
  };
  const warmupDims = Object.fromEntries(Object.entries(reference.inputs).map(([k, v]) => [k, v.shape]));
  const session = await ModelSession.load({ modelPath: path.join(exportDir, modelFile), threads: 1, workers: 1, warmupDims });
  try {
    const feeds = Object.fromEntries(Object.entries(reference.inputs).map(([k, v]) => [k, toTensor(v)]));
    const outputs = await session.run(feeds);
    const errors: Record<string, number> = {};
    for (const [name, expected] of Object.entries(reference.outputs)) {
      const got = outputs[name];
      if (!got) throw new FramewormError('E_RUNTIME', `the ONNX model has no output '${name}'`);
      if (got.dims.join(',') !== expected.shape.join(',')) {
        throw new FramewormError('E_RUNTIME', `ONNX output '${name}' has shape [${got.dims.join(',')}], eager PyTorch gave [${expected.shape.join(',')}]`);
      }
      let max = 0;
      const data = got.data as ArrayLike<number | bigint>;
      for (let i = 0; i < expected.data.length; i++) max = Math.max(max, Math.abs(Number(data[i]) - (expected.data[i] ?? 0)));
      errors[name] = max;
    }
    const worst = Object.entries(errors).filter(([, e]) => !(e <= tolerance));
    if (worst.length > 0) {
      throw new FramewormError(
        'E_RUNTIME',
        `ONNX parity check of ${modelFile} failed: ${worst.map(([n, e]) => `${n} max abs error ${e.toExponential(2)}`).join(', ')} (tolerance ${tolerance})`,
      );
    }
    return errors;
  } finally {
    await session.dispose();
  }
}
