/**
 * One served request and its response → an Observation (see observation.ts).
 *
 * Runs off the request path, on a copy of the bodies handed to the drift worker. Response values
 * are preferred over request values where the server fills in defaults (num_steps, class_labels,
 * guidance_scale), so a request that relies on a default is seen as what it actually ran.
 */
import type { ModelType } from '../../common/types.js';
import { gaussianTensor, INITIAL_NOISE_STREAM } from '../../sampling/noise.js';
import { FramewormError } from '../../common/errors.js';
import { ARCHITECTURE_FIELDS } from './architectures.js';
import { imageField, tensorField, type Tensor } from './field-values.js';
import type { NamedTensor, Observation } from './observation.js';

/** What the extractor knows about the served model beyond the bodies. */
export interface TrafficContext {
  /** The model's latent size: lets `inputs.z` be rebuilt from `seed` when a request gave none. */
  readonly latentDim?: number;
}

type Body = Readonly<Record<string, unknown>>;

function asBody(v: unknown): Body {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Body) : {};
}

function flat(t: Tensor | null): number[] | undefined {
  return t === null ? undefined : Array.from(t.data);
}

function labelsOf(value: unknown): (number | null)[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value.map((l, i) => {
    if (l === null || typeof l === 'number') return l;
    throw new FramewormError('E_INPUT', `drift features: field 'class_labels[${i}]' is ${JSON.stringify(l)}, not a class index or null`);
  });
}

function namedTensors(side: 'inputs' | 'outputs', holder: unknown): NamedTensor[] {
  const out: NamedTensor[] = [];
  for (const [name, value] of Object.entries(asBody(holder))) {
    const tensor = tensorField(value, `${side}.${name}`);
    if (tensor) out.push({ side, name, tensor });
  }
  return out;
}

/** The observation of one request/response pair of a model of type `type`. */
export function observeTraffic(type: ModelType, request: unknown, response: unknown, ctx: TrafficContext = {}): Observation {
  const fields = ARCHITECTURE_FIELDS[type];
  const req = asBody(request);
  const res = asBody(response);
  if (fields.namedTensors) return { tensors: [...namedTensors('inputs', req['inputs']), ...namedTensors('outputs', res['outputs'])] };

  const outputImages = fields.outputImages ? imageField(res[fields.outputImages.field], fields.outputImages.range, fields.outputImages.field) : null;
  const inputImages = fields.inputImages ? imageField(req[fields.inputImages.field], fields.inputImages.range, fields.inputImages.field) : null;
  const classLabels = fields.classLabels ? labelsOf(res[fields.classLabels] ?? req[fields.classLabels]) : undefined;

  let latent = fields.latent ? tensorField(req[fields.latent], fields.latent) : null;
  const batch = outputImages?.count ?? classLabels?.length ?? latent?.dims[0] ?? (typeof req['batch_size'] === 'number' ? req['batch_size'] : 1);
  const seed = res['seed'] ?? req['seed'];
  if (fields.latent && latent === null && ctx.latentDim !== undefined && typeof seed === 'number') {
    // The server drew z from the project's noise generator (stream 0); the same call gives the same z.
    const noise = gaussianTensor(seed, INITIAL_NOISE_STREAM, [batch, ctx.latentDim]);
    latent = { dims: noise.dims, data: Float64Array.from(noise.data) };
  }

  const requestScalars: Record<string, number> = {};
  for (const key of fields.requestScalars) {
    const v = res[key] ?? req[key];
    if (typeof v === 'number') requestScalars[key] = v;
    else if (key === 'batch_size') requestScalars[key] = batch;
  }

  const sampleScalars: Record<string, number[]> = {};
  for (const key of fields.sampleScalars) {
    const v = flat(tensorField(res[key], key));
    if (v) sampleScalars[key] = v;
  }

  let posterior: Observation['posterior'];
  if (fields.posterior) {
    const mu = tensorField(res[fields.posterior.mu], fields.posterior.mu);
    const logVar = tensorField(res[fields.posterior.logVar], fields.posterior.logVar);
    if (mu && logVar) posterior = { mu, logVar };
  }

  return {
    ...(latent ? { latent } : {}),
    ...(inputImages ? { inputImages } : {}),
    ...(outputImages ? { outputImages } : {}),
    ...(classLabels ? { classLabels } : {}),
    requestScalars,
    ...(posterior ? { posterior } : {}),
    sampleScalars,
  };
}
