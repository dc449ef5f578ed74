/**
 * Observation → feature groups (the statistics' GroupSamples).
 *
 * Group names are `<side>.<field>[.<aspect>]`, stable across releases because profiles store
 * them: `inputs.z` (one column per latent dimension) and `inputs.z_norm`; `inputs.x` (image
 * statistics of VAE / VQ-VAE-2 inputs); `inputs.class_labels` (categorical: the requested label of
 * every generated sample, i.e. the class balance of the outputs; `unconditional` for null);
 * `inputs.batch_size|num_steps|guidance_scale` (one row per request); `outputs.<images field>`
 * (image statistics), `.embedding` (the fixed conv encoder) and `.nonfinite` (NaN/Inf count);
 * `outputs.mu_norm` and `outputs.kl` (VAE); `outputs.commitment_loss` (VQ-VAE-2); for `generic`,
 * `<side>.<tensor name>`. Every sample yields a value for every feature of a group it belongs to,
 * even a constant one: whether a feature is usable is the statistics' call (they report it as
 * skipped, with the reason), not silently decided here.
 */
import type { GroupSamples, NumericGroupSamples } from '../stats/types.js';
import type { ImageEmbedder } from '../embedding/image-embedder.js';
import { EMBEDDING_DIM } from '../embedding/image-embedder.js';
import { ARCHITECTURE_FIELDS } from './architectures.js';
import type { Tensor } from './field-values.js';
import { imageStatNames, imageStatRows, nonFiniteCounts, type ImageStatSet } from './image-features.js';
import type { NamedTensor, Observation } from './observation.js';
import type { UnitImages } from './unit-images.js';
import type { ModelType } from '../../common/types.js';

/** Generic tensors with at most this many values per sample keep one column per value. */
export const MAX_RAW_COLUMNS = 32;
/** Columns of a summarised generic tensor. */
export const TENSOR_SUMMARY_NAMES = ['mean', 'std', 'min', 'max', 'l2_norm', 'nonfinite'] as const;
/** Label of unconditional samples in `inputs.class_labels`. */
export const UNCONDITIONAL_LABEL = 'unconditional';

/** Euclidean norm without spreading (a spread of a large array overflows the call stack). */
function norm(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += (values[i] as number) ** 2;
  return Math.sqrt(sum);
}

function numeric(name: string, featureNames: readonly string[], rows: number[][]): NumericGroupSamples {
  return { name, kind: 'numeric', featureNames, rows };
}

/** Rows of a [B, ...] tensor: one per first-axis entry, the rest flattened. */
function tensorRows(t: Tensor): number[][] {
  const batch = t.dims[0] ?? 1;
  const per = batch === 0 ? 0 : t.data.length / batch;
  return Array.from({ length: batch }, (_, b) => Array.from(t.data.subarray(b * per, (b + 1) * per)));
}

function latentGroups(z: Tensor): GroupSamples[] {
  const rows = tensorRows(z);
  const dim = z.dims[1] ?? 0;
  return [
    numeric('inputs.z', Array.from({ length: dim }, (_, j) => `z_${j}`), rows),
    { name: 'inputs.z_norm', kind: 'scalar', rows: rows.map(norm) },
  ];
}

async function imageGroups(prefix: string, images: UnitImages, set: ImageStatSet, embedder: ImageEmbedder | null): Promise<GroupSamples[]> {
  const groups: GroupSamples[] = [numeric(prefix, imageStatNames(images.channels, set), imageStatRows(images, set))];
  if (set === 'full') {
    if (embedder) {
      groups.push(numeric(`${prefix}.embedding`, Array.from({ length: EMBEDDING_DIM }, (_, j) => `e_${j}`), await embedder.embed(images)));
    }
    groups.push({ name: `${prefix}.nonfinite`, kind: 'scalar', rows: nonFiniteCounts(images) });
  }
  return groups;
}

/** ‖μ‖ and the KL divergence to N(0, I) of every sample: −½ Σ (1 + log σ² − μ² − σ²). */
function posteriorGroups(mu: Tensor, logVar: Tensor): GroupSamples[] {
  const muRows = tensorRows(mu);
  const lvRows = tensorRows(logVar);
  const kl = muRows.map((m, b) => {
    const lv = lvRows[b] ?? [];
    let sum = 0;
    m.forEach((v, j) => {
      const l = lv[j] ?? 0;
      sum += 1 + l - v * v - Math.exp(l);
    });
    return -0.5 * sum;
  });
  return [
    { name: 'outputs.mu_norm', kind: 'scalar', rows: muRows.map(norm) },
    { name: 'outputs.kl', kind: 'scalar', rows: kl },
  ];
}

/** Summary columns of one flattened sample (see TENSOR_SUMMARY_NAMES). */
function summarise(values: readonly number[]): number[] {
  const finite = values.filter((v) => Number.isFinite(v));
  const n = finite.length;
  if (n === 0) return [0, 0, 0, 0, 0, values.length];
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const v of finite) {
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const mean = sum / n;
  const std = Math.sqrt(finite.reduce((a, b) => a + (b - mean) ** 2, 0) / n);
  return [mean, std, min, max, norm(finite), values.length - n];
}

function namedTensorGroup(t: NamedTensor): GroupSamples {
  const name = `${t.side}.${t.name}`;
  if (t.tensor.dims.length <= 1) return { name, kind: 'scalar', rows: Array.from(t.tensor.data) };
  const rows = tensorRows(t.tensor);
  const width = rows[0]?.length ?? 0;
  if (width <= MAX_RAW_COLUMNS) return numeric(name, Array.from({ length: width }, (_, j) => `${t.name}[${j}]`), rows);
  return numeric(name, TENSOR_SUMMARY_NAMES, rows.map(summarise));
}

/**
 * The feature groups of one observation of a model of type `type`. `embedder` null leaves out
 * the image embedding groups (only for callers that cannot load onnxruntime; live drift and
 * profiles always pass one).
 */
export async function featureGroups(type: ModelType, obs: Observation, embedder: ImageEmbedder | null): Promise<GroupSamples[]> {
  const fields = ARCHITECTURE_FIELDS[type];
  const groups: GroupSamples[] = [];
  if (obs.latent) groups.push(...latentGroups(obs.latent));
  if (obs.inputImages && fields.inputImages) groups.push(...(await imageGroups(`inputs.${fields.inputImages.field}`, obs.inputImages, 'basic', null)));
  if (obs.classLabels) {
    groups.push({ name: 'inputs.class_labels', kind: 'categorical', rows: obs.classLabels.map((l) => (l === null ? UNCONDITIONAL_LABEL : String(l))) });
  }
  for (const key of fields.requestScalars) {
    const v = obs.requestScalars?.[key];
    if (v !== undefined) groups.push({ name: `inputs.${key}`, kind: 'scalar', rows: [v] });
  }
  for (const t of obs.tensors ?? []) if (t.side === 'inputs') groups.push(namedTensorGroup(t));
  if (obs.outputImages && fields.outputImages) groups.push(...(await imageGroups(`outputs.${fields.outputImages.field}`, obs.outputImages, 'full', embedder)));
  if (obs.posterior) groups.push(...posteriorGroups(obs.posterior.mu, obs.posterior.logVar));
  for (const key of fields.sampleScalars) {
    const v = obs.sampleScalars?.[key];
    if (v !== undefined) groups.push({ name: `outputs.${key}`, kind: 'scalar', rows: [...v] });
  }
  for (const t of obs.tensors ?? []) if (t.side === 'outputs') groups.push(namedTensorGroup(t));
  return groups;
}

/** The column names of a group: numeric groups list theirs, a scalar or categorical group is its own one feature. */
export function featureNamesOf(group: GroupSamples): readonly string[] {
  if (group.kind === 'numeric') return group.featureNames ?? Array.from({ length: group.rows[0]?.length ?? 0 }, (_, j) => `f_${j}`);
  return [group.name.slice(group.name.lastIndexOf('.') + 1)];
}
