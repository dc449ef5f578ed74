/**
 * Synthetic probe requests (issue 9 §2): the smallest valid /predict request of a deployment's
 * schema, architecture by architecture, and a sender that posts them to a stable endpoint with
 * PROBE_HEADER so a quiet deployment's rollback checks still get enough requests to conclude.
 *
 * Bodies follow the same rules the schemas in ./schemas enforce (and the same hyper-parameter
 * defaults), with batch 1 and, for diffusion models, one sampling step:
 * - dcgan, vitgan: `{batch_size: 1, seed}` (the server draws z);
 * - ddpm: `{batch_size: 1, num_steps: 1, seed}`;
 * - cfg_ddpm: `{class_labels: [seed mod num_classes], num_steps: 1, seed}` (the guided path users hit);
 * - vae: `x` [1,C,S,S] in [0,1] (C = channels, S = image_size, as the schema checks them);
 * - vqvae2: `x` [1,C,H,W] in [-1,1], H×W the export's fixed size or else 16×16 (the smallest multiple of 16);
 * - generic: every ONNX input, dynamic dimensions 1; float inputs seeded in [0,1), integer inputs
 *   0 and booleans false (0 is in range for any index or id input), strings empty.
 * Each probe gets its own seed from a seeded sequence, so probes are reproducible but not identical.
 */
import http from 'node:http';
import path from 'node:path';
import { FramewormError } from '../common/errors.js';
import type { ModelType } from '../common/types.js';
import { readManifest, type ExportManifest } from '../common/export-manifest.js';
import { uniforms } from '../sampling/noise.js';
import { hpInt } from './schemas/fields.js';
import { PROBE_HEADER } from './stable-endpoint.js';

/** One model input as the export manifest records it; a string or null dimension is dynamic. */
export interface ProbeInput {
  readonly name: string;
  readonly shape: readonly (number | string | null)[];
  readonly dtype: string;
}

/** What a probe body is built from: the served version's type and export manifest. */
export interface ProbeSpec {
  readonly type: ModelType;
  readonly hyperParameters: Readonly<Record<string, unknown>>;
  /** The ONNX graph's inputs; required for `generic`, used by vqvae2 when its H×W are fixed. */
  readonly inputs?: readonly ProbeInput[];
}

/** Noise stream of probe inputs (distinct from the samplers' streams 0…T, which requests use). */
export const PROBE_NOISE_STREAM = 2 ** 40;

/** Side of the smallest image a VQ-VAE-2 accepts (its schema wants multiples of 16). */
const VQVAE2_MIN_SIDE = 16;

/** The probe spec of an export (its manifest.json). */
export function probeSpecFromManifest(manifest: ExportManifest): ProbeSpec {
  return { type: manifest.type, hyperParameters: manifest.hyper_parameters, inputs: manifest.inputs };
}

/** The probe spec of the export holding `modelPath` (its folder's manifest.json); E_INPUT when unreadable. */
export function readProbeSpec(modelPath: string): ProbeSpec {
  try {
    return probeSpecFromManifest(readManifest(path.dirname(modelPath)));
  } catch (err) {
    throw new FramewormError('E_INPUT', `cannot read the export manifest beside ${modelPath} for probes: ${(err as Error).message}`);
  }
}

/**
 * The smallest valid /predict body for `spec`, drawn from `seed` (a non-negative safe integer).
 * E_RUNTIME when the spec lacks what the architecture needs (e.g. a generic model without inputs).
 */
export function buildProbeBody(spec: ProbeSpec, seed: number): Record<string, unknown> {
  try {
    return probeBody(spec, seed);
  } catch (err) {
    if (err instanceof FramewormError) throw err;
    throw new FramewormError('E_RUNTIME', `cannot build a probe request for a ${spec.type} model: ${(err as Error).message}`);
  }
}

function probeBody(spec: ProbeSpec, seed: number): Record<string, unknown> {
  const hp = spec.hyperParameters;
  switch (spec.type) {
    case 'dcgan':
    case 'vitgan':
      return { batch_size: 1, seed };
    case 'ddpm':
      return { batch_size: 1, num_steps: 1, seed };
    case 'cfg_ddpm':
      return { class_labels: [seed % hpInt(hp, 'num_classes')], num_steps: 1, seed };
    case 'vae': {
      const size = hpInt(hp, 'image_size', 32);
      return { x: seededFloats(seed, [1, hpInt(hp, 'channels', 3), size, size], 0, 1) };
    }
    case 'vqvae2': {
      const channels = hpInt(hp, 'channels', hpInt(hp, 'in_channels', 3));
      const fixed = spec.inputs?.find((i) => i.name === 'x')?.shape;
      const side = (axis: number): number => {
        const d = fixed?.[axis];
        return typeof d === 'number' && d > 0 ? d : VQVAE2_MIN_SIDE;
      };
      return { x: seededFloats(seed, [1, channels, side(2), side(3)], -1, 1) };
    }
    case 'generic': {
      const inputs = spec.inputs ?? [];
      if (inputs.length === 0) throw new FramewormError('E_RUNTIME', 'cannot build a probe request for a generic model: its export records no inputs');
      return { inputs: Object.fromEntries(inputs.map((input, k) => [input.name, genericValue(input, seed, k)])) };
    }
  }
}

/** A seeded float batch in [lo, hi] as nested arrays; 4 decimals keep the body small and in range. */
function seededFloats(seed: number, dims: readonly number[], lo: number, hi: number): unknown {
  const n = dims.reduce((a, b) => a * b, 1);
  const u = uniforms(seed, PROBE_NOISE_STREAM, n);
  const flat = Array.from(u, (v) => Math.round((lo + (hi - lo) * v) * 1e4) / 1e4);
  return nest(flat, dims);
}

function genericValue(input: ProbeInput, seed: number, index: number): unknown {
  const dims = input.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : 1));
  const n = dims.reduce((a, b) => a * b, 1);
  let flat: unknown[];
  if (input.dtype.startsWith('float')) {
    // One stream per input so two float inputs do not get the same numbers.
    const u = uniforms(seed, PROBE_NOISE_STREAM + 1 + index, n);
    flat = Array.from(u, (v) => Math.round((1 - v) * 1e4) / 1e4);
  } else if (input.dtype === 'bool') {
    flat = new Array<boolean>(n).fill(false);
  } else if (input.dtype === 'string') {
    flat = new Array<string>(n).fill('');
  } else {
    flat = new Array<number>(n).fill(0);
  }
  return dims.length === 0 ? flat[0] : nest(flat, dims);
}

/** A flat row-major list as nested arrays of `dims`. */
function nest(flat: readonly unknown[], dims: readonly number[]): unknown {
  const build = (depth: number, offset: number): unknown[] => {
    const size = dims[depth]!;
    if (depth === dims.length - 1) return flat.slice(offset, offset + size);
    const stride = dims.slice(depth + 1).reduce((a, b) => a * b, 1);
    return Array.from({ length: size }, (_, i) => build(depth + 1, offset + i * stride));
  };
  return build(0, 0);
}

/** Where to send a deployment's probes and what they look like (the version serving now). */
export interface ProbeTarget {
  /** Base URL of the stable endpoint, e.g. `http://127.0.0.1:8000` (StableEndpoint.url). */
  readonly url: string;
  readonly spec: ProbeSpec;
}

/** How a batch of probes went. */
export interface ProbeResult {
  readonly sent: number;
  /** Answered 2xx. */
  readonly ok: number;
  /** Answered 5xx (a drill's injected errors included). */
  readonly server_errors: number;
  /** Answered 4xx: a probe body the schema refused (a bug to report). */
  readonly client_errors: number;
  /** No answer: connection refused or reset, or no answer within `timeoutMs`. */
  readonly failed: number;
}

export interface ProbeSenderOptions {
  /** The deployment's endpoint and probe spec now; null when it is not served in this process. */
  readonly resolve: (name: string) => ProbeTarget | null | Promise<ProbeTarget | null>;
  /** Probes in flight at once per call (default 2), so probes never crowd out user traffic. */
  readonly concurrency?: number;
  /** First seed of each deployment's probe sequence (default 0). */
  readonly seed?: number;
  /** Longest wait for one answer before it counts as failed (default 120 s; the endpoint answers 504 before). */
  readonly timeoutMs?: number;
}

/**
 * Posts synthetic probes to stable endpoints. Plugs into RollbackWatcher as
 * `endpoints.sendProbes` (see `sendProbes`).
 */
export class ProbeSender {
  private readonly agent: http.Agent;
  private readonly concurrency: number;
  private readonly timeoutMs: number;
  private readonly baseSeed: number;
  /** Next probe number per deployment: each probe has its own seed, in a reproducible sequence. */
  private readonly counters = new Map<string, number>();

  constructor(private readonly options: ProbeSenderOptions) {
    this.concurrency = options.concurrency ?? 2;
    this.timeoutMs = options.timeoutMs ?? 120_000;
    this.baseSeed = options.seed ?? 0;
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1) throw new FramewormError('E_USAGE', `probe concurrency must be a positive integer, got ${this.concurrency}`);
    if (!(this.timeoutMs > 0)) throw new FramewormError('E_USAGE', `probe timeout must be positive, got ${this.timeoutMs}`);
    if (!Number.isSafeInteger(this.baseSeed) || this.baseSeed < 0) throw new FramewormError('E_USAGE', `probe seed must be a non-negative integer, got ${this.baseSeed}`);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: this.concurrency });
  }

  /**
   * Sends `count` probes to deployment `name`, at most `concurrency` at a time, and resolves
   * when all are answered (or failed). E_NOT_FOUND when `resolve` knows no endpoint for it;
   * E_RUNTIME when no body can be built for its model.
   */
  async send(name: string, count: number): Promise<ProbeResult> {
    if (!Number.isInteger(count) || count < 0) throw new FramewormError('E_USAGE', `probe count must be a non-negative integer, got ${count}`);
    const target = await this.options.resolve(name);
    if (!target) throw new FramewormError('E_NOT_FOUND', `no endpoint serves ${name} in this process; no probes sent`);
    const first = this.counters.get(name) ?? 0;
    this.counters.set(name, first + count);
    // Built up front: a spec that cannot make a body fails before anything is sent.
    const bodies = Array.from({ length: count }, (_, i) => JSON.stringify(buildProbeBody(target.spec, (this.baseSeed + first + i) % Number.MAX_SAFE_INTEGER)));
    const tally = { sent: count, ok: 0, server_errors: 0, client_errors: 0, failed: 0 };
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < bodies.length) {
        const body = bodies[next++]!;
        const status = await this.post(`${target.url}/predict`, body);
        if (status === null) tally.failed++;
        else if (status >= 500) tally.server_errors++;
        else if (status >= 400) tally.client_errors++;
        else tally.ok++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, count) }, worker));
    return tally;
  }

  /**
   * RollbackWatcher's `WatchedEndpoints.sendProbes`: `send`, throwing E_RUNTIME when no probe
   * got an answer at all (the watcher reports it; answered probes, 5xx included, are measured).
   */
  async sendProbes(name: string, count: number): Promise<void> {
    const r = await this.send(name, count);
    if (r.sent > 0 && r.failed === r.sent) throw new FramewormError('E_RUNTIME', `none of ${r.sent} probes to ${name} got an answer`);
  }

  /** Closes the kept-alive connections. */
  dispose(): void {
    this.agent.destroy();
  }

  /** One POST; the status, or null when no answer came. The answer's body is read and dropped. */
  private post(url: string, body: string): Promise<number | null> {
    return new Promise((resolve) => {
      const req = http.request(
        url,
        {
          method: 'POST',
          agent: this.agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), [PROBE_HEADER]: '1' },
          timeout: this.timeoutMs,
        },
        (res) => {
          res.resume();
          res.once('end', () => resolve(res.statusCode ?? null));
          res.once('error', () => resolve(null));
        },
      );
      req.once('timeout', () => req.destroy(new Error('probe timed out')));
      req.once('error', () => resolve(null));
      req.end(body);
    });
  }
}
