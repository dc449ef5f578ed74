/**
 * A data source (data/load-data.ts) → an Observation of a model of a given type, the same shape
 * live traffic gives (features/traffic.ts), so profiles from files and live windows share
 * feature groups.
 *
 * Arrays named after a field of the architecture go to that field (`.npz` keys: `z`, `x`,
 * `images`, `reconstruction`, `class_labels`, `mu` + `log_var`, `commitment_loss`). An unnamed
 * array (a `.npy`/`.csv`, or an `.npz` key such as `arr_0`) is placed by its shape: `(N, D)` is
 * the latent input `z` of a generator that takes one; `(N, C, H, W)` (and a PNG folder) is an
 * image batch, the model's input images or its outputs as `side` says. For `generic` models
 * every array is the tensor of its name on `side`.
 */
import { FramewormError } from '../../common/errors.js';
import type { ModelType } from '../../common/types.js';
import type { PixelRange } from '../../sampling/png.js';
import { ARCHITECTURE_FIELDS, type ArchitectureFields, type FeatureSide } from '../features/architectures.js';
import type { Tensor } from '../features/field-values.js';
import type { NamedTensor, Observation } from '../features/observation.js';
import { toUnitImages, type UnitImages } from '../features/unit-images.js';
import type { DataSource } from './load-data.js';
import { formatDims, type NumericArray } from './numeric-array.js';

/** Slack allowed around a model range for float image data (float32 rounding of tanh / sigmoid). */
const RANGE_TOLERANCE = 1e-3;
/** Most channels of an image batch (RGBA); more is almost surely channels-last data. */
const MAX_IMAGE_CHANNELS = 4;

function fail(problem: string): never {
  throw new FramewormError('E_INPUT', problem);
}

function describe(source: DataSource, a: NumericArray): string {
  return source.format === 'npz' ? `array '${a.name}' of ${source.label}` : `data ${source.label}`;
}

function checkFinite(source: DataSource, a: NumericArray): void {
  if (a.dims.length === 0 || a.dims[0] === 0) fail(`${describe(source, a)} has no samples (shape ${formatDims(a.dims)})`);
  const per = a.data.length / a.dims[0]!;
  for (let i = 0; i < a.data.length; i++) {
    if (!Number.isFinite(a.data[i]!)) {
      fail(`${describe(source, a)} has ${a.data[i]} at sample ${Math.floor(i / per)} (flat index ${i}); drift data must be finite`);
    }
  }
}

function latentOf(source: DataSource, a: NumericArray, type: ModelType): Tensor {
  if (a.dims.length !== 2 || a.dims[1] === 0) {
    fail(`${describe(source, a)} has shape ${formatDims(a.dims)}; latents z of a ${type} model are an (N, D) array`);
  }
  return { dims: a.dims, data: a.data };
}

function imagesOf(source: DataSource, a: NumericArray, range: PixelRange, what: string): UnitImages {
  const d = a.dims;
  if (d.length !== 4) fail(`${describe(source, a)} has shape ${formatDims(d)}; ${what} are an (N, C, H, W) array`);
  if (d[1]! > MAX_IMAGE_CHANNELS) {
    const hint = d[3]! <= MAX_IMAGE_CHANNELS ? ' — it looks channels-last (N, H, W, C); transpose it to (N, C, H, W)' : '';
    fail(`${describe(source, a)} has shape ${formatDims(d)}: ${d[1]} channels is not an image batch (N, C, H, W) with C ≤ ${MAX_IMAGE_CHANNELS}${hint}`);
  }
  if (d.some((x) => x < 1)) fail(`${describe(source, a)} has an empty dimension: shape ${formatDims(d)}`);
  if (a.kind === 'bool') fail(`${describe(source, a)} is a bool array; ${what} are float images or uint8 pixels`);
  if (a.kind === 'uint8') {
    // uint8 files hold pixels 0..255 (what PNGs hold), not the model's float range.
    const unit = new Float32Array(a.data.length);
    for (let i = 0; i < unit.length; i++) unit[i] = a.data[i]! / 255;
    return { count: d[0]!, channels: d[1]!, height: d[2]!, width: d[3]!, data: unit };
  }
  const [lo, hi] = range === '[0,1]' ? [0, 1] : [-1, 1];
  let min = Infinity;
  let max = -Infinity;
  for (const v of a.data) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (min < lo - RANGE_TOLERANCE || max > hi + RANGE_TOLERANCE) {
    fail(`${describe(source, a)} has values from ${min} to ${max}; ${what} must be in ${range} (save 0–255 pixels as uint8)`);
  }
  return toUnitImages(a.data, d, range);
}

function labelsOf(source: DataSource, a: NumericArray): (number | null)[] {
  if (a.dims.length !== 1) fail(`${describe(source, a)} has shape ${formatDims(a.dims)}; class_labels are an (N,) array`);
  return Array.from(a.data, (v) => {
    // −1 marks unconditional samples (JSON's null has no place in a NumPy int array).
    if (v === -1) return null;
    if (!Number.isInteger(v) || v < 0) fail(`${describe(source, a)} holds ${v}; class labels are integers ≥ 0 (−1 for unconditional)`);
    return v;
  });
}

function perSample(source: DataSource, a: NumericArray, key: string): number[] {
  if (a.dims.length !== 1) fail(`${describe(source, a)} has shape ${formatDims(a.dims)}; ${key} is an (N,) array`);
  return Array.from(a.data);
}

interface Slots {
  latent?: Tensor;
  inputImages?: UnitImages;
  outputImages?: UnitImages;
  classLabels?: (number | null)[];
  mu?: Tensor;
  logVar?: Tensor;
  sampleScalars: Record<string, number[]>;
}

function put<K extends keyof Slots>(slots: Slots, key: K, value: Slots[K], source: DataSource, what: string): void {
  if (slots[key] !== undefined) fail(`${source.label} gives ${what} twice; keep one array for it`);
  slots[key] = value;
}

function placeUnnamed(slots: Slots, source: DataSource, a: NumericArray, type: ModelType, fields: ArchitectureFields, side: FeatureSide, sideGiven: boolean): void {
  if (a.dims.length === 4) {
    placeImages(slots, source, type, fields, side, sideGiven, (range, what) => imagesOf(source, a, range, what));
    return;
  }
  if (a.dims.length === 2) {
    if (!fields.latent) {
      fail(`${describe(source, a)} is an (N, D) array ${formatDims(a.dims)}, but a ${type} model takes no latent input; give images (N, C, H, W) or a PNG folder`);
    }
    if (sideGiven && side === 'outputs') fail(`${describe(source, a)} is an (N, D) array: for a ${type} model that is the latent input z (--group inputs), not outputs`);
    put(slots, 'latent', latentOf(source, a, type), source, 'the latents z');
    return;
  }
  fail(`${describe(source, a)} has shape ${formatDims(a.dims)}; expected (N, D) latents or (N, C, H, W) images`);
}

function placeImages(
  slots: Slots,
  source: DataSource,
  type: ModelType,
  fields: ArchitectureFields,
  wanted: FeatureSide,
  sideGiven: boolean,
  images: (range: PixelRange, what: string) => UnitImages,
): void {
  // A default side that has no images (a generator's inputs) gives way to the side that has.
  const side = sideGiven ? wanted : wanted === 'inputs' && !fields.inputImages ? 'outputs' : wanted === 'outputs' && !fields.outputImages ? 'inputs' : wanted;
  if (side === 'inputs') {
    if (!fields.inputImages) fail(`a ${type} model takes no input images; use --group outputs for images it generated`);
    put(slots, 'inputImages', images(fields.inputImages.range, `${type} input images`), source, 'the input images');
  } else {
    if (!fields.outputImages) fail(`a ${type} model outputs no images`);
    put(slots, 'outputImages', images(fields.outputImages.range, `${type} output images`), source, 'the output images');
  }
}

/** How to place unnamed arrays: `side` (`--group`, or a default), and whether the user chose it. */
export interface SideChoice {
  readonly side?: FeatureSide;
  /** True when `side` came from `--group`: then an (N, D) array refused as outputs is an error, not re-placed. */
  readonly explicit?: boolean;
}

/**
 * The observation a data source makes for a model of type `type`, and the side it describes
 * (inputs or outputs; the chosen side when it gives both). Throws E_INPUT for shapes, values or
 * names that do not fit the architecture.
 */
export function observeData(type: ModelType, source: DataSource, choice: SideChoice = {}): { observation: Observation; side: FeatureSide } {
  const fields = ARCHITECTURE_FIELDS[type];
  const side = choice.side ?? fields.defaultSide;
  const sideGiven = choice.explicit ?? choice.side !== undefined;
  for (const a of source.arrays) checkFinite(source, a);

  if (fields.namedTensors) {
    if (source.images) fail(`a generic model has named tensors, not an image folder; give an .npy named after the tensor or an .npz keyed by tensor names`);
    const tensors: NamedTensor[] = source.arrays.map((a) => ({ side, name: a.name, tensor: { dims: a.dims, data: a.data } }));
    return { observation: { tensors }, side };
  }

  const slots: Slots = { sampleScalars: {} };
  if (source.images) {
    const unit = source.images;
    placeImages(slots, source, type, fields, side, sideGiven, () => unit);
  }
  for (const a of source.arrays) {
    if (a.name === fields.latent) put(slots, 'latent', latentOf(source, a, type), source, 'the latents z');
    else if (a.name === fields.inputImages?.field) put(slots, 'inputImages', imagesOf(source, a, fields.inputImages.range, `${type} input images`), source, 'the input images');
    else if (a.name === fields.outputImages?.field) put(slots, 'outputImages', imagesOf(source, a, fields.outputImages.range, `${type} output images`), source, 'the output images');
    else if (a.name === fields.classLabels) put(slots, 'classLabels', labelsOf(source, a), source, 'the class labels');
    else if (a.name === fields.posterior?.mu) put(slots, 'mu', latentOf(source, a, type), source, 'mu');
    else if (a.name === fields.posterior?.logVar) put(slots, 'logVar', latentOf(source, a, type), source, 'log_var');
    else if (fields.sampleScalars.includes(a.name)) slots.sampleScalars[a.name] = perSample(source, a, a.name);
    else placeUnnamed(slots, source, a, type, fields, side, sideGiven);
  }
  if ((slots.mu === undefined) !== (slots.logVar === undefined)) fail(`${source.label} must give both mu and log_var (the VAE posterior), not one`);
  if (slots.mu && slots.logVar && formatDims(slots.mu.dims) !== formatDims(slots.logVar.dims)) {
    fail(`${source.label}: mu ${formatDims(slots.mu.dims)} and log_var ${formatDims(slots.logVar.dims)} differ in shape`);
  }
  const observation: Observation = {
    ...(slots.latent ? { latent: slots.latent } : {}),
    ...(slots.inputImages ? { inputImages: slots.inputImages } : {}),
    ...(slots.outputImages ? { outputImages: slots.outputImages } : {}),
    ...(slots.classLabels ? { classLabels: slots.classLabels } : {}),
    ...(slots.mu && slots.logVar ? { posterior: { mu: slots.mu, logVar: slots.logVar } } : {}),
    sampleScalars: slots.sampleScalars,
  };
  const inputs = Boolean(observation.latent || observation.inputImages || observation.classLabels);
  const outputs = Boolean(observation.outputImages || observation.posterior || Object.keys(slots.sampleScalars).length > 0);
  return { observation, side: inputs && !outputs ? 'inputs' : outputs && !inputs ? 'outputs' : side };
}
