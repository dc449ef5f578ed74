/**
 * ONNX model files for the serving tests, written with the project's tiny ONNX builder, and a
 * plain-JS reference of the MLP so outputs can be checked without trusting onnxruntime.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OnnxType, buildMlp, buildOnnxModel, seededWeights } from '../../../scripts/lib/onnx-builder.js';

/** A temp folder with model files; `cleanup()` removes it. */
export interface ModelDir {
  readonly dir: string;
  /** MLP x [batch,4] → y [batch,3]. */
  readonly mlp: string;
  /** An MLP slow enough (hundreds of ms at batch 16384) to test timeouts and crashes mid-run. */
  readonly slow: string;
  /** Two inputs sharing the symbolic batch: ids int64 [batch,2], mask bool [batch,2] → out int64 [batch,2]. */
  readonly multi: string;
  cleanup(): void;
}

export const MLP_SIZES = [4, 8, 3] as const;
export const SLOW_SIZES = [4, 2048, 2048, 3] as const;

/** Writes the fixture models into a fresh temp folder. */
export function makeModelDir(options: { slow?: boolean } = {}): ModelDir {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-serving-'));
  const mlp = path.join(dir, 'mlp.onnx');
  fs.writeFileSync(mlp, buildMlp([...MLP_SIZES]));
  const slow = path.join(dir, 'slow.onnx');
  if (options.slow) fs.writeFileSync(slow, buildMlp([...SLOW_SIZES]));
  const multi = path.join(dir, 'multi.onnx');
  // out = Where(mask, ids, 0): exercises int64 and bool inputs bound by one 'batch' dimension.
  fs.writeFileSync(
    multi,
    buildOnnxModel({
      name: 'multi',
      inputs: [
        { name: 'ids', elemType: OnnxType.INT64, shape: ['batch', 2] },
        { name: 'mask', elemType: OnnxType.BOOL, shape: ['batch', 2] },
      ],
      outputs: [{ name: 'out', elemType: OnnxType.INT64, shape: ['batch', 2] }],
      nodes: [{ opType: 'Where', inputs: ['mask', 'ids', 'zero'], outputs: ['out'] }],
      initializers: [{ name: 'zero', dims: [], data: new BigInt64Array([0n]) }],
    }),
  );
  return { dir, mlp, slow, multi, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** The MLP of `buildMlp(sizes)` computed in float64 JS: Gemm (x·W + b) with ReLU between layers. */
export function referenceMlp(x: readonly (readonly number[])[], sizes: readonly number[] = MLP_SIZES, seed = 7): number[][] {
  let act = x.map((row) => [...row]);
  for (let layer = 0; layer < sizes.length - 1; layer++) {
    const fanIn = sizes[layer]!;
    const fanOut = sizes[layer + 1]!;
    const w = seededWeights(fanIn * fanOut, seed + layer * 2, 1 / Math.sqrt(fanIn));
    const b = seededWeights(fanOut, seed + layer * 2 + 1, 0.1);
    const last = layer === sizes.length - 2;
    act = act.map((row) =>
      Array.from({ length: fanOut }, (_, j) => {
        let s = b[j]!;
        for (let i = 0; i < fanIn; i++) s += row[i]! * w[i * fanOut + j]!;
        return last ? s : Math.max(0, s);
      }),
    );
  }
  return act;
}
