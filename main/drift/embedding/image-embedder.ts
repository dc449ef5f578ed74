/**
 * The fixed image embedding of the drift features: a small random convolutional encoder,
 * generated from a seed (so the same bytes on every machine and in every release), written as
 * ONNX and run by onnxruntime-node.
 *
 * Random conv features are a known, cheap stand-in for a learned perceptual embedding when the
 * goal is a two-sample test rather than semantics: their statistics move with brightness,
 * colour, texture and blur, and they cost a few hundred microseconds per image. Images are
 * first resampled to 32×32 RGB so that the embedding has the same meaning for every model size.
 *
 * Graph: x [B,3,32,32] → Conv 3→16 (3×3, stride 2) → ReLU → Conv 16→32 (3×3, stride 2) → ReLU
 * → Conv 32→24 (3×3) → GlobalAveragePool → Flatten → embedding [B,24]. The last conv has no ReLU
 * so no embedding dimension can be constantly zero (a dead unit would be a skipped feature).
 */
import { createHash } from 'node:crypto';
import * as ort from 'onnxruntime-node';
import { writeOnnxModel, type OnnxGraph, type OnnxInitializer } from './onnx-writer.js';
import type { UnitImages } from '../features/unit-images.js';

/** Dimensions of the embedding vector. */
export const EMBEDDING_DIM = 24;
/** Side of the square the images are resampled to before the encoder. */
export const EMBEDDING_INPUT_SIZE = 32;
/** The seed the shipped encoder's weights come from. Changing it changes every profile's meaning. */
export const EMBEDDING_SEED = 20240611;
/** Version tag recorded in profiles: a profile made with another encoder is a mismatch. */
export const EMBEDDING_VERSION = `conv3-${EMBEDDING_DIM}d-seed${EMBEDDING_SEED}`;

const CHANNELS = [3, 16, 32, EMBEDDING_DIM] as const;
/** Images per onnxruntime call: bounds the input tensor (32·32·3·4 bytes each). */
const RUN_CHUNK = 256;

/** mulberry32: a tiny, well-mixed 32-bit generator; weights only need to be fixed, not strong. */
function seededUniforms(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let a = seed >>> 0;
  for (let i = 0; i < count; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) / 0x100000000;
  }
  return out;
}

function convWeights(layer: number, inC: number, outC: number): OnnxInitializer[] {
  const fanIn = inC * 9;
  // He-uniform: keeps activations at a similar scale through the ReLUs.
  const bound = Math.sqrt(6 / fanIn);
  const w = seededUniforms(outC * fanIn, EMBEDDING_SEED + layer * 2).map((u) => (u * 2 - 1) * bound);
  const b = seededUniforms(outC, EMBEDDING_SEED + layer * 2 + 1).map((u) => (u * 2 - 1) * 0.05);
  return [
    { name: `conv${layer}.weight`, dims: [outC, inC, 3, 3], data: w },
    { name: `conv${layer}.bias`, dims: [outC], data: b },
  ];
}

/** The encoder's graph (see the file comment). */
export function embeddingGraph(): OnnxGraph {
  const strides = [2, 2, 1];
  const initializers: OnnxInitializer[] = [];
  const nodes: OnnxGraph['nodes'][number][] = [];
  let current = 'x';
  for (let layer = 0; layer < 3; layer++) {
    initializers.push(...convWeights(layer, CHANNELS[layer]!, CHANNELS[layer + 1]!));
    const out = `conv${layer}`;
    const s = strides[layer]!;
    nodes.push({ opType: 'Conv', inputs: [current, `conv${layer}.weight`, `conv${layer}.bias`], outputs: [out], attributes: { kernel_shape: [3, 3], strides: [s, s], pads: [1, 1, 1, 1] } });
    current = out;
    if (layer < 2) {
      nodes.push({ opType: 'Relu', inputs: [out], outputs: [`relu${layer}`] });
      current = `relu${layer}`;
    }
  }
  nodes.push({ opType: 'GlobalAveragePool', inputs: [current], outputs: ['pooled'] });
  nodes.push({ opType: 'Flatten', inputs: ['pooled'], outputs: ['embedding'], attributes: { axis: 1 } });
  return {
    name: 'frameworm_drift_embedding',
    producer: 'frameworm-deploy-drift',
    opset: 13,
    inputs: [{ name: 'x', shape: ['batch', 3, EMBEDDING_INPUT_SIZE, EMBEDDING_INPUT_SIZE] }],
    outputs: [{ name: 'embedding', shape: ['batch', EMBEDDING_DIM] }],
    nodes,
    initializers,
  };
}

/** The encoder as `.onnx` bytes; the same on every call and every machine. */
export function embeddingModelBytes(): Buffer {
  return writeOnnxModel(embeddingGraph());
}

/** sha256 of the encoder bytes (hex). */
export function embeddingModelSha256(): string {
  return createHash('sha256').update(embeddingModelBytes()).digest('hex');
}

/**
 * One image resampled to 32×32×3 in [-1, 1], written into `out` at `offset`.
 *
 * Box averaging over the source pixels each target pixel covers (at least one), so downscaling
 * keeps energy and upscaling is nearest-neighbour. One channel is repeated into three; more
 * than three keep the first three. NaN becomes 0 and values are clamped to the pixel range, so
 * a broken image still gives a finite embedding (non-finite values are a feature of their own).
 */
export function resampleForEmbedding(images: UnitImages, index: number, out: Float32Array, offset: number): void {
  const { channels, height, width } = images;
  const size = EMBEDDING_INPUT_SIZE;
  const plane = height * width;
  const base = index * channels * plane;
  for (let c = 0; c < 3; c++) {
    const src = base + Math.min(c, channels - 1) * plane;
    for (let oy = 0; oy < size; oy++) {
      const y0 = Math.floor((oy * height) / size);
      const y1 = Math.max(y0 + 1, Math.ceil(((oy + 1) * height) / size));
      for (let ox = 0; ox < size; ox++) {
        const x0 = Math.floor((ox * width) / size);
        const x1 = Math.max(x0 + 1, Math.ceil(((ox + 1) * width) / size));
        let sum = 0;
        for (let y = y0; y < y1; y++) {
          for (let x = x0; x < x1; x++) {
            const v = images.data[src + y * width + x]!;
            sum += Number.isNaN(v) ? 0 : Math.min(1, Math.max(0, v));
          }
        }
        out[offset + c * size * size + oy * size + ox] = (sum / ((y1 - y0) * (x1 - x0))) * 2 - 1;
      }
    }
  }
}

/**
 * Runs the encoder. Create once (loading the session takes milliseconds) and `dispose()` when
 * done; `embed` may be called concurrently.
 */
export class ImageEmbedder {
  private constructor(private readonly session: ort.InferenceSession) {}

  /** Loads the encoder into a single-threaded onnxruntime session (deterministic, and off-path work must not compete with serving for cores). */
  static async create(): Promise<ImageEmbedder> {
    const session = await ort.InferenceSession.create(embeddingModelBytes(), { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });
    return new ImageEmbedder(session);
  }

  /** The embedding of every image: `count` rows of EMBEDDING_DIM numbers. */
  async embed(images: UnitImages): Promise<number[][]> {
    const rows: number[][] = [];
    const per = 3 * EMBEDDING_INPUT_SIZE * EMBEDDING_INPUT_SIZE;
    for (let start = 0; start < images.count; start += RUN_CHUNK) {
      const n = Math.min(RUN_CHUNK, images.count - start);
      const input = new Float32Array(n * per);
      for (let i = 0; i < n; i++) resampleForEmbedding(images, start + i, input, i * per);
      const result = await this.session.run({ x: new ort.Tensor('float32', input, [n, 3, EMBEDDING_INPUT_SIZE, EMBEDDING_INPUT_SIZE]) });
      const data = result['embedding']!.data as Float32Array;
      for (let i = 0; i < n; i++) rows.push(Array.from(data.subarray(i * EMBEDDING_DIM, (i + 1) * EMBEDDING_DIM)));
    }
    return rows;
  }

  /** Releases the onnxruntime session. */
  async dispose(): Promise<void> {
    await this.session.release();
  }
}
