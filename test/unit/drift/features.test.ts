import { describe, expect, it } from 'vitest';
import { embeddingModelBytes, embeddingModelSha256, EMBEDDING_DIM, ImageEmbedder } from '../../../main/drift/embedding/image-embedder.js';
import { ARCHITECTURE_FIELDS } from '../../../main/drift/features/architectures.js';
import { concatGroups, FeatureExtractor } from '../../../main/drift/features/feature-extractor.js';
import { featureGroups, UNCONDITIONAL_LABEL } from '../../../main/drift/features/feature-groups.js';
import { imageStatNames, imageStatRows, nonFiniteCounts } from '../../../main/drift/features/image-features.js';
import { observeTraffic } from '../../../main/drift/features/traffic.js';
import { toUnitImages } from '../../../main/drift/features/unit-images.js';
import { ReservoirSampler } from '../../../main/drift/reservoir.js';
import type { GroupSamples } from '../../../main/drift/stats/types.js';
import { MODEL_TYPES, type ModelType } from '../../../main/common/types.js';
import { gaussianTensor, INITIAL_NOISE_STREAM } from '../../../main/sampling/noise.js';
import { imagesToPngBase64 } from '../../../main/sampling/png.js';
import { JsonText } from '../../../main/serving/json-text.js';

/** Nested [B, C, H, W] arrays from a flat list. */
function nest(flat: readonly number[], dims: readonly number[]): unknown {
  if (dims.length === 1) return flat.slice(0, dims[0]);
  const [head, ...rest] = dims;
  const size = rest.reduce((a, b) => a * b, 1);
  return Array.from({ length: head! }, (_, i) => nest(flat.slice(i * size, (i + 1) * size), rest));
}

function group(groups: readonly GroupSamples[], name: string): GroupSamples {
  const g = groups.find((x) => x.name === name);
  if (!g) throw new Error(`no group ${name} in [${groups.map((x) => x.name).join(', ')}]`);
  return g;
}

function rowsOf(groups: readonly GroupSamples[], name: string): unknown[] {
  return [...group(groups, name).rows];
}

describe('image statistics (exact values)', () => {
  it('computes channel mean/std, brightness, RMS contrast, saturation and Laplacian energy of a dot', () => {
    // One 3×3 grey image, 1 in the centre and 0 elsewhere ([0,1] range).
    const images = toUnitImages([0, 0, 0, 0, 1, 0, 0, 0, 0], [1, 1, 3, 3], '[0,1]');
    const [row] = imageStatRows(images, 'full');
    expect(imageStatNames(1, 'full')).toEqual(['mean_c0', 'std_c0', 'brightness', 'contrast', 'saturation', 'hf_energy']);
    const std = Math.sqrt(1 / 9 - 1 / 81);
    expect(row![0]).toBeCloseTo(1 / 9, 12);
    expect(row![1]).toBeCloseTo(std, 12);
    expect(row![2]).toBeCloseTo(1 / 9, 12);
    expect(row![3]).toBeCloseTo(std, 12);
    expect(row![4]).toBe(1); // every value is 0 or 1: all saturated
    expect(row![5]).toBe(4); // |4·1 − 0 − 0 − 0 − 0| at the only interior pixel
  });

  it('maps [-1,1] outputs to pixel units and weights luminance by Rec. 601', () => {
    // 2×2 RGB: R = 1, G = 0, B = −1 everywhere in the model's [-1,1] range → 1, 0.5, 0.
    const flat = [...new Array<number>(4).fill(1), ...new Array<number>(4).fill(0), ...new Array<number>(4).fill(-1)];
    const [row] = imageStatRows(toUnitImages(flat, [1, 3, 2, 2], '[-1,1]'), 'full');
    expect(imageStatNames(3, 'full')).toHaveLength(10);
    expect(row!.slice(0, 6)).toEqual([1, 0.5, 0, 0, 0, 0]);
    expect(row![6]).toBeCloseTo(0.299 + 0.587 * 0.5, 12);
    expect(row![7]).toBe(0);
    expect(row![8]).toBeCloseTo(8 / 12, 12);
    expect(row![9]).toBe(0); // under 3×3: no interior pixel
  });

  it('counts NaN and ±Inf and keeps the other statistics finite', () => {
    const images = toUnitImages([NaN, Infinity, -Infinity, 0.5], [1, 1, 2, 2], '[0,1]');
    expect(nonFiniteCounts(images)).toEqual([3]);
    const [row] = imageStatRows(images, 'basic');
    expect(row).toHaveLength(4);
    expect(row![0]).toBeCloseTo((0 + 1 + 0 + 0.5) / 4, 12);
    expect(row!.every(Number.isFinite)).toBe(true);
  });
});

describe('features per architecture from request/response bodies', () => {
  const black = (b: number, c: number, s: number): unknown => nest(new Array<number>(b * c * s * s).fill(-1), [b, c, s, s]);

  it('dcgan: z given → z columns, ‖z‖, batch size, one output row per image', async () => {
    const z = [[3, 4], [0, 1]];
    const groups = await featureGroups('dcgan', observeTraffic('dcgan', { z }, { images: black(2, 1, 4) }), null);
    expect(group(groups, 'inputs.z')).toMatchObject({ kind: 'numeric', featureNames: ['z_0', 'z_1'], rows: z });
    expect(rowsOf(groups, 'inputs.z_norm')).toEqual([5, 1]);
    expect(rowsOf(groups, 'inputs.batch_size')).toEqual([2]);
    expect(rowsOf(groups, 'outputs.images')).toHaveLength(2);
    expect(rowsOf(groups, 'outputs.images.nonfinite')).toEqual([0, 0]);
    // Black images: mean 0, std 0, brightness 0, contrast 0, all saturated, no edges.
    expect(rowsOf(groups, 'outputs.images')[0]).toEqual([0, 0, 0, 0, 1, 0]);
  });

  it('dcgan / vitgan: batch_size + seed → z rebuilt with the project noise generator', async () => {
    for (const type of ['dcgan', 'vitgan'] as const) {
      const obs = observeTraffic(type, { batch_size: 16, seed: 7 }, { images: black(16, 3, 2), seed: 7 }, { latentDim: 8 });
      const groups = await featureGroups(type, obs, null);
      const expected = gaussianTensor(7, INITIAL_NOISE_STREAM, [16, 8]).data;
      const rows = rowsOf(groups, 'inputs.z') as number[][];
      expect(rows).toHaveLength(16);
      expect(rows[3]).toEqual(Array.from(expected.subarray(24, 32)));
      expect(rowsOf(groups, 'outputs.images')).toHaveLength(16); // a batch of 16 is 16 rows
      expect(rowsOf(groups, 'inputs.batch_size')).toEqual([16]);
    }
  });

  it('ddpm: batch_size and num_steps (the value the server ran) as request-level scalars', async () => {
    const groups = await featureGroups('ddpm', observeTraffic('ddpm', { batch_size: 3 }, { images: black(3, 1, 3), seed: 1, num_steps: 50 }), null);
    expect(groups.map((g) => g.name)).toEqual(['inputs.batch_size', 'inputs.num_steps', 'outputs.images', 'outputs.images.nonfinite']);
    expect(rowsOf(groups, 'inputs.num_steps')).toEqual([50]);
    expect(rowsOf(groups, 'outputs.images')).toHaveLength(3);
  });

  it('cfg_ddpm: requested labels (class balance of the outputs), guidance scale, steps', async () => {
    const res = { images: black(3, 1, 3), seed: 1, num_steps: 20, class_labels: [0, null, 2], guidance_scale: 3 };
    const groups = await featureGroups('cfg_ddpm', observeTraffic('cfg_ddpm', { class_labels: [0, null, 2] }, res), null);
    expect(group(groups, 'inputs.class_labels')).toEqual({ name: 'inputs.class_labels', kind: 'categorical', rows: ['0', UNCONDITIONAL_LABEL, '2'] });
    expect(rowsOf(groups, 'inputs.guidance_scale')).toEqual([3]);
    expect(rowsOf(groups, 'inputs.num_steps')).toEqual([20]);
    expect(rowsOf(groups, 'inputs.batch_size')).toEqual([3]);
  });

  it('vae: input image statistics, reconstruction, ‖μ‖ and KL per sample', async () => {
    const x = nest([0, 1, 0, 1, 0.5, 0.5, 0.5, 0.5], [2, 1, 2, 2]);
    const res = { reconstruction: x, mu: [[3, 4], [0, 0]], log_var: [[0, 0], [Math.log(2), 0]] };
    const groups = await featureGroups('vae', observeTraffic('vae', { x }, res), null);
    expect(group(groups, 'inputs.x')).toMatchObject({ featureNames: ['mean_c0', 'std_c0', 'brightness', 'contrast'], rows: [[0.5, 0.5, 0.5, 0.5], [0.5, 0, 0.5, 0]] });
    expect(rowsOf(groups, 'outputs.mu_norm')).toEqual([5, 0]);
    const kl = rowsOf(groups, 'outputs.kl') as number[];
    expect(kl[0]).toBeCloseTo(12.5, 12); // −½ Σ (1 + 0 − μ² − 1) = ½ (9 + 16)
    expect(kl[1]).toBeCloseTo(-0.5 * (1 + Math.log(2) - 2), 12);
    expect(rowsOf(groups, 'outputs.reconstruction')).toHaveLength(2);
  });

  it('vqvae2: input images in [-1,1] and the per-sample commitment loss', async () => {
    const x = nest(new Array<number>(2 * 16 * 16).fill(0), [2, 1, 16, 16]);
    const groups = await featureGroups('vqvae2', observeTraffic('vqvae2', { x }, { reconstruction: x, commitment_loss: [0.25, 0.5] }), null);
    expect(rowsOf(groups, 'inputs.x')[0]).toEqual([0.5, 0, 0.5, 0]);
    expect(rowsOf(groups, 'outputs.commitment_loss')).toEqual([0.25, 0.5]);
  });

  it('generic: small tensors keep their columns, large ones are summarised', async () => {
    const big = [Array.from({ length: 40 }, (_, i) => i), new Array<number>(40).fill(2)];
    const groups = await featureGroups('generic', observeTraffic('generic', { inputs: { x: [[1, 2], [3, 4]] } }, { outputs: { y: big } }), null);
    expect(group(groups, 'inputs.x')).toMatchObject({ featureNames: ['x[0]', 'x[1]'], rows: [[1, 2], [3, 4]] });
    const y = group(groups, 'outputs.y');
    expect(y).toMatchObject({ featureNames: ['mean', 'std', 'min', 'max', 'l2_norm', 'nonfinite'] });
    expect((y.rows as number[][])[1]).toEqual([2, 0, 2, 2, Math.sqrt(160), 0]);
  });

  it('reads PNG outputs and worker-encoded JSON text like nested arrays', async () => {
    const flat = [-1, 1, 1, -1, 1, 1, -1, -1, -1];
    const asArrays = await featureGroups('dcgan', observeTraffic('dcgan', { z: [[0]] }, { images: nest(flat, [1, 1, 3, 3]) }), null);
    const png = imagesToPngBase64(flat, [1, 1, 3, 3], '[-1,1]');
    const asPng = await featureGroups('dcgan', observeTraffic('dcgan', { z: [[0]] }, { images: png }), null);
    const asText = await featureGroups('dcgan', observeTraffic('dcgan', { z: [[0]] }, { images: new JsonText(Buffer.from(JSON.stringify(nest(flat, [1, 1, 3, 3])))) }), null);
    expect(rowsOf(asPng, 'outputs.images')).toEqual(rowsOf(asArrays, 'outputs.images'));
    expect(rowsOf(asText, 'outputs.images')).toEqual(rowsOf(asArrays, 'outputs.images'));
  });

  it('every architecture has a field table entry and a default profile side', () => {
    for (const type of MODEL_TYPES) expect(['inputs', 'outputs']).toContain(ARCHITECTURE_FIELDS[type as ModelType].defaultSide);
  });

  it('concatenates requests into a window and refuses groups whose columns disagree', () => {
    const a: GroupSamples[] = [{ name: 'inputs.z', kind: 'numeric', featureNames: ['z_0'], rows: [[1]] }, { name: 'inputs.batch_size', kind: 'scalar', rows: [1] }];
    const b: GroupSamples[] = [{ name: 'inputs.z', kind: 'numeric', featureNames: ['z_0'], rows: [[2], [3]] }, { name: 'inputs.batch_size', kind: 'scalar', rows: [2] }];
    expect(concatGroups([a, b])).toEqual([
      { name: 'inputs.z', kind: 'numeric', featureNames: ['z_0'], rows: [[1], [2], [3]] },
      { name: 'inputs.batch_size', kind: 'scalar', rows: [1, 2] },
    ]);
    const c: GroupSamples[] = [{ name: 'inputs.z', kind: 'numeric', featureNames: ['z_0', 'z_1'], rows: [[1, 2]] }];
    expect(() => concatGroups([a, c])).toThrow(/inputs\.z has columns \[z_0\] in one sample and \[z_0, z_1\]/);
  });
});

describe('image embedding (seeded random conv encoder in ONNX)', () => {
  // Pins the shipped encoder: any change to its weights or graph changes every profile's meaning.
  const PINNED_SHA256 = '03b68b846d2e2851cc6befdb1d73e370182013c86c084f4c16969c344f89f45a';

  it('is the same ONNX bytes on every build', () => {
    expect(embeddingModelBytes().equals(embeddingModelBytes())).toBe(true);
    expect(embeddingModelSha256()).toBe(PINNED_SHA256);
  });

  it('gives the same vector for the same image across sessions, and another for a lower-contrast one', async () => {
    const s = 16;
    const flat = Array.from({ length: 3 * s * s }, (_, i) => Math.sin(i * 0.7) * 0.9);
    const images = toUnitImages(flat, [1, 3, s, s], '[-1,1]');
    const first = await ImageEmbedder.create();
    const second = await ImageEmbedder.create();
    try {
      const [a] = await first.embed(images);
      const [b] = await second.embed(images);
      expect(a).toHaveLength(EMBEDDING_DIM);
      expect(a!.every(Number.isFinite)).toBe(true);
      expect(b).toEqual(a);
      // Pinned values: a change in preprocessing or weights must be deliberate (float32 conv
      // kernels may differ in the last bits between CPUs, hence 4 decimals).
      [-0.50138, -0.29785, 0.63481, 0.42326].forEach((v, i) => expect(a![i]).toBeCloseTo(v, 4));
      const flatOther = flat.map((v) => v * 0.2);
      const [c] = await first.embed(toUnitImages(flatOther, [1, 3, s, s], '[-1,1]'));
      expect(c).not.toEqual(a);
    } finally {
      await first.dispose();
      await second.dispose();
    }
  });

  it('adds an embedding group of 24 columns per output image through the extractor', async () => {
    const extractor = await FeatureExtractor.create();
    try {
      const images = nest(Array.from({ length: 5 * 3 * 8 * 8 }, (_, i) => Math.cos(i) * 0.5), [5, 3, 8, 8]);
      const groups = await extractor.fromTraffic('dcgan', { z: nest(new Array<number>(10).fill(0.1), [5, 2]) }, { images });
      const emb = group(groups, 'outputs.images.embedding');
      expect(emb.kind).toBe('numeric');
      expect(emb.rows).toHaveLength(5);
      expect((emb.rows as number[][])[0]).toHaveLength(EMBEDDING_DIM);
    } finally {
      await extractor.dispose();
    }
  });
});

describe('reservoir sampler', () => {
  it('keeps at most its capacity, reproducibly for a seed', () => {
    const a = new ReservoirSampler<number>(50, 3);
    const b = new ReservoirSampler<number>(50, 3);
    const items = Array.from({ length: 1000 }, (_, i) => i);
    a.addAll(items);
    b.addAll(items);
    expect(a.items()).toHaveLength(50);
    expect(a.seen).toBe(1000);
    expect(a.items()).toEqual(b.items());
    const c = new ReservoirSampler<number>(50, 4);
    c.addAll(items);
    expect(c.items()).not.toEqual(a.items());
  });

  it('keeps everything while under capacity and samples uniformly beyond it', () => {
    const small = new ReservoirSampler<string>(10, 1);
    small.addAll(['a', 'b']);
    expect(small.items()).toEqual(['a', 'b']);
    // Over 400 seeds, items from the first and the last tenth are kept about equally often.
    let early = 0;
    let late = 0;
    for (let seed = 0; seed < 400; seed++) {
      const r = new ReservoirSampler<number>(20, seed);
      for (let i = 0; i < 200; i++) r.add(i);
      for (const v of r.items()) {
        if (v < 20) early++;
        else if (v >= 180) late++;
      }
    }
    // Expected 20 · 20/200 · 400 = 800 each; the binomial sd is about 27.
    expect(Math.abs(early - 800)).toBeLessThan(120);
    expect(Math.abs(late - 800)).toBeLessThan(120);
  });
});
