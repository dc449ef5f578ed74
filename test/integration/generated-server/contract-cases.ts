/**
 * The HTTP contract cases of a generated server (DESIGN §5), shared by every target it runs on.
 *
 * The same requests go to the target and to a TypeScript StableEndpoint + EmbeddedBackend
 * (onnxruntime-node) serving the same export: same status codes, same response keys, same 4xx
 * messages, numeric outputs within {@link TOL} for the same seed or golden input. Targets:
 * generated-server/contract.test.ts (uvicorn under /usr/bin/python3) and
 * docker/container-contract.test.ts (the generated image run as a hardened container).
 *
 * Not a test file: a test file prepares the models and targets in its beforeAll, fills a
 * {@link ContractHarness}, and calls {@link describeContract} to register the cases.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { ModelType } from '../../../main/common/types.js';
import { exportCheckpoint } from '../../../main/export/checkpoint-exporter.js';
import type { ExportManifest } from '../../../main/common/export-manifest.js';
import type { PythonInfo } from '../../../main/export/python-finder.js';
import { generateServer, type DockerFilesOptions, type GeneratedServer } from '../../../main/generate/server-generator.js';
import { EmbeddedBackend } from '../../../main/serving/embedded-backend.js';
import { StableEndpoint } from '../../../main/serving/stable-endpoint.js';
import { compatPath } from '../../fixtures/inspect/compat.js';
import { request, type HttpAnswer } from '../serving/http-client.js';

export const CONTRACT_ARCHS = ['vae', 'vqvae2', 'dcgan', 'vitgan', 'ddpm', 'cfg_ddpm'] as const;
export type ContractArch = (typeof CONTRACT_ARCHS)[number];
/** The six architectures plus a version whose artifact is corrupt (never ready anywhere). */
export type ContractTarget = ContractArch | 'broken';

/** Body limit on both sides, small so the 413 case stays cheap. */
export const MAX_BODY = 1024 * 1024;
export const TOL = 1e-4;
/**
 * cfg_ddpm's compat checkpoint uses a cosine schedule with β_max = 0.999: its first reverse step
 * multiplies ε by 1/√α ≈ 31 (full) or up to ≈ 700 (strided α_eff = ᾱ_49/ᾱ_τ), times the guidance
 * scale, so the ≈1.5e-6 ε difference between onnxruntime and TorchScript grows to ~1e-3 in the
 * images. The sampler arithmetic itself is checked bit for bit in templates/tests/test_server_sampler.py.
 */
export const TOLERANCE: Partial<Record<ContractArch, number>> = { cfg_ddpm: 1e-2 };

/** Environment every target of the generated server runs with (one thread, the test body limit). */
export const SERVER_ENV: Readonly<Record<string, string>> = {
  FRAMEWORM_THREADS: '1',
  OMP_NUM_THREADS: '1',
  FRAMEWORM_MAX_BODY_BYTES: String(MAX_BODY),
  PYTHONDONTWRITEBYTECODE: '1',
};

/** The deployment name of an architecture's compat checkpoint, e.g. compat-cfg-ddpm. */
export function modelName(arch: ContractArch): string {
  return `compat-${arch.replace('_', '-')}`;
}


/** A flat array as the nested array of `shape`. */
export function nest(data: readonly number[], shape: readonly number[]): unknown {
  if (shape.length === 0) return data[0];
  const [head, ...rest] = shape as [number, ...number[]];
  const size = rest.reduce((a, b) => a * b, 1);
  return Array.from({ length: head }, (_, i) => nest(data.slice(i * size, (i + 1) * size), rest));
}

function warmupDims(manifest: ExportManifest): Record<string, number[]> {
  const size = typeof manifest.hyper_parameters['image_size'] === 'number' ? manifest.hyper_parameters['image_size'] : 32;
  return Object.fromEntries(manifest.inputs.map((i) => [i.name, i.shape.map((d, axis) => (typeof d === 'number' ? d : axis === 0 ? 1 : size))]));
}

/** Polls `url`/ready until it answers `status`; the error carries `log()` (the server's output). */
export async function waitReady(url: string, status: number, what: string, log: () => Promise<string> | string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await request(`${url}/ready`);
      if (r.status === status) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) throw new Error(`${what} at ${url} did not answer /ready ${status} within ${timeoutMs} ms: ${await log()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** One compat checkpoint, exported and with its server generated. */
export interface PreparedModel {
  readonly arch: ContractArch;
  readonly name: string;
  readonly exportDir: string;
  readonly manifest: ExportManifest;
  readonly server: GeneratedServer;
}

/**
 * Exports every compat checkpoint into `workspace` (in parallel) and generates its server
 * (runtime torch: there is no onnxruntime for Python here).
 */
export async function prepareModels(workspace: string, python: PythonInfo, docker?: DockerFilesOptions): Promise<Map<ContractArch, PreparedModel>> {
  const models = await Promise.all(
    CONTRACT_ARCHS.map(async (arch): Promise<PreparedModel> => {
      const name = modelName(arch);
      const exportDir = path.join(workspace, 'experiments', 'deploy_exports', name, 'v1');
      const manifest = await exportCheckpoint({ python, checkpoint: compatPath(arch, 'best.pt'), outDir: exportDir, type: 'auto' });
      const server = generateServer({ workspace, name, version: 'v1', runtime: 'torch', ...(docker ? { docker } : {}) });
      return { arch, name, exportDir, manifest, server };
    }),
  );
  return new Map(models.map((m) => [m.arch, m]));
}

/**
 * A copy of a generated server whose TorchScript artifact is corrupt and whose ONNX artifact is
 * gone: it never becomes ready.
 */
export function brokenCopy(server: GeneratedServer, dir: string): string {
  fs.cpSync(server.dir, dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'model', 'model.torchscript.pt'), 'not a model');
  fs.rmSync(path.join(dir, 'model', 'model.onnx'));
  return dir;
}

/** Base URLs of the embedded reference and of the target under test, per case. */
export interface ContractPair {
  readonly embedded: string;
  readonly target: string;
}

/** The reference endpoints and the targets a suite compares; filled in the test file's beforeAll. */
export class ContractHarness {
  readonly pairs = new Map<ContractTarget, ContractPair>();
  readonly goldens = new Map<ContractArch, Record<string, { shape: number[]; data: number[] }>>();
  /** Measured max |embedded − target| per architecture. */
  readonly maxDiffs: Partial<Record<ContractArch, number>> = {};
  private readonly endpoints: StableEndpoint[] = [];
  private readonly backends: EmbeddedBackend[] = [];

  /** Starts the embedded reference for `model` (null: an endpoint with nothing loaded); returns its URL. */
  async startEmbedded(name: string, model: PreparedModel | null): Promise<string> {
    const endpoint = new StableEndpoint({ name, port: 0, maxBodyBytes: MAX_BODY });
    this.endpoints.push(endpoint);
    await endpoint.listen();
    if (model) {
      const { manifest, exportDir } = model;
      const backend = await EmbeddedBackend.load({
        name,
        version: 'v1',
        type: manifest.type as ModelType,
        modelPath: path.join(exportDir, 'model.onnx'),
        model: { hyperParameters: manifest.hyper_parameters, ...(manifest.schedule ? { schedule: manifest.schedule } : {}) },
        warmupDims: warmupDims(manifest),
        // The generated server takes one request at a time per worker: compare it with the
        // embedded runtime unbatched (batching has its own tests), so /metrics match in shape.
        batching: { enabled: false, maxRows: 64, maxDelayMs: 0 },
      });
      this.backends.push(backend);
      await endpoint.switchBackend(backend);
      this.goldens.set(model.arch, (JSON.parse(fs.readFileSync(compatPath(model.arch, 'golden.json'), 'utf8')) as { inputs: Record<string, { shape: number[]; data: number[] }> }).inputs);
    }
    return endpoint.url;
  }

  pair(target: ContractTarget): ContractPair {
    const p = this.pairs.get(target);
    if (!p) throw new Error(`no ${target} target: the suite's beforeAll did not start it`);
    return p;
  }

  async close(): Promise<void> {
    for (const e of this.endpoints) await e.close();
    for (const b of this.backends) await b.dispose();
  }
}

const VOLATILE = new Set(['latency_ms']);

/** A PNG's header and decompressed scanlines (the deflate bytes differ between zlib builds). */
function pngPixels(b64: string): { header: string; pixels: Buffer } {
  const png = Buffer.from(b64, 'base64');
  let header = '';
  const idat: Buffer[] = [];
  for (let off = 8; off < png.length; ) {
    const len = png.readUInt32BE(off);
    const type = png.toString('latin1', off + 4, off + 8);
    const data = png.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') header = data.toString('hex');
    if (type === 'IDAT') idat.push(data);
    off += 12 + len;
  }
  return { header, pixels: zlib.inflateSync(Buffer.concat(idat)) };
}

/** Max |a − b| over matching numeric leaves; throws on structural differences. PNG strings are
 * compared by pixels, the difference counted in 8-bit levels divided by 255. */
function compare(a: unknown, b: unknown, where: string): number {
  if (typeof a === 'number' && typeof b === 'number') return Math.abs(a - b);
  if (typeof a === 'string' && typeof b === 'string' && a.startsWith('iVBORw0KGgo')) {
    const pa = pngPixels(a);
    const pb = pngPixels(b);
    expect(pb.header, `${where} PNG header`).toBe(pa.header);
    expect(pb.pixels.length, `${where} PNG size`).toBe(pa.pixels.length);
    let max = 0;
    for (let i = 0; i < pa.pixels.length; i++) max = Math.max(max, Math.abs(pa.pixels[i]! - pb.pixels[i]!));
    expect(max, `${where}: PNG pixels differ by more than one level`).toBeLessThanOrEqual(1);
    return 0;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    expect(b.length, `${where} length`).toBe(a.length);
    return a.reduce<number>((m, e, i) => Math.max(m, compare(e, b[i], `${where}[${i}]`)), 0);
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a).sort();
    expect(Object.keys(b).sort(), `${where} keys`).toEqual(ka);
    return ka.filter((k) => !VOLATILE.has(k)).reduce((m, k) => Math.max(m, compare((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${where}.${k}`)), 0);
  }
  expect(b, where).toEqual(a);
  return 0;
}

export interface ContractSuiteOptions {
  /** How the failure messages call the target, e.g. 'uvicorn' or 'container'. */
  readonly target: string;
  /** The target's recent output for failure messages. */
  readonly log?: (target: ContractTarget) => Promise<string> | string;
  /** How long the broken version may take to answer /ready 503 (default 30 s). */
  readonly brokenListenTimeoutMs?: number;
}

/**
 * Registers the contract cases: `title` describes the suite. The harness must be filled (every
 * architecture and 'broken') by the test file's beforeAll; the cases run in order, and the
 * /metrics case relies on the identical request sequence sent to both sides before it.
 */
export function describeContract(title: string, harness: ContractHarness, options: ContractSuiteOptions): void {
  const log = (t: ContractTarget): Promise<string> | string => options.log?.(t) ?? '';

  /** Sends the same /predict to the embedded reference and the target: [embedded, target]. */
  async function both(t: ContractTarget, body: unknown, opts: { raw?: string; headers?: Record<string, string> } = {}): Promise<[HttpAnswer, HttpAnswer]> {
    const p = harness.pair(t);
    const send = (base: string): Promise<HttpAnswer> => request(`${base}/predict`, { method: 'POST', body: opts.raw ?? body, headers: { 'content-type': 'application/json', ...opts.headers } });
    return Promise.all([send(p.embedded), send(p.target)]);
  }

  /** Same status and body (4xx: same message; 200: outputs within tolerance). */
  async function same(arch: ContractArch, body: unknown, label: string): Promise<number> {
    const [ref, got] = await both(arch, body);
    expect(got.status, `${arch} ${label} (${options.target}): ${got.text.slice(0, 300)}`).toBe(ref.status);
    const diff = compare(ref.json(), got.json(), `${arch} ${label}`);
    if (ref.status === 200) harness.maxDiffs[arch] = Math.max(harness.maxDiffs[arch] ?? 0, diff);
    expect(diff, `${arch} ${label}`).toBeLessThanOrEqual(TOLERANCE[arch] ?? TOL);
    return diff;
  }

  const golden = (arch: ContractArch, input: string): { shape: number[]; data: number[] } => {
    const g = harness.goldens.get(arch)?.[input];
    if (!g) throw new Error(`no golden ${input} for ${arch}`);
    return g;
  };

  describe(title, () => {
    it('vae: golden x, PNG output, bad inputs', async () => {
      const x = golden('vae', 'x');
      await same('vae', { x: nest(x.data, x.shape) }, 'golden');
      await same('vae', { x: nest(x.data, x.shape), output_format: 'png' }, 'png');
      await same('vae', { x: nest(x.data.map(() => 2), x.shape) }, 'out of range');
      await same('vae', { x: [[[1]]] }, 'bad shape');
      await same('vae', { x: [[[[0, 'a']]]] }, 'bad element');
      await same('vae', { y: 1 }, 'unknown field');
      await same('vae', {}, 'missing x');
    });

    it('vqvae2: golden x, bad sizes', async () => {
      const x = golden('vqvae2', 'x');
      await same('vqvae2', { x: nest(x.data, x.shape) }, 'golden');
      await same('vqvae2', { x: nest(x.data, x.shape), output_format: 'png' }, 'png');
      await same('vqvae2', { x: nest(new Array(3 * 8 * 8).fill(0), [1, 3, 8, 8]) }, '8x8');
      await same('vqvae2', { x: nest(new Array(3 * 16 * 16).fill(0), [1, 3, 16, 16]), output_format: 'gif' }, 'bad format');
    });

    for (const arch of ['dcgan', 'vitgan'] as const) {
      it(`${arch}: seeded batch, golden z, PNG, bad requests`, async () => {
        const z = golden(arch, 'z');
        await same(arch, { batch_size: 2, seed: 1234 }, 'seed');
        await same(arch, { z: nest(z.data, z.shape) }, 'golden z');
        await same(arch, { batch_size: 1, seed: 7, output_format: 'png' }, 'png');
        await same(arch, { batch_size: 0 }, 'batch 0');
        await same(arch, { batch_size: 65 }, 'batch 65');
        await same(arch, { batch_size: 2.5 }, 'fractional');
        await same(arch, { seed: -1 }, 'negative seed');
        await same(arch, { z: [[1, 2]] }, 'z shape');
        await same(arch, { z: [new Array<number>(z.shape[1]!).fill(1e30)] }, 'huge z');
        await same(arch, { z: nest(z.data, z.shape), seed: 1 }, 'z and seed');
        await same(arch, [1, 2], 'array body');
        const [ref, got] = await both(arch, { batch_size: 1 });
        expect([ref.status, got.status]).toEqual([200, 200]);
        expect(typeof got.json()['seed']).toBe('number');
      });
    }

    it('ddpm: seeded sampling with few steps', async () => {
      await same('ddpm', { batch_size: 2, num_steps: 4, seed: 42 }, 'seed');
      await same('ddpm', { batch_size: 1, num_steps: 1, seed: 0 }, 'one step');
      await same('ddpm', { batch_size: 1, num_steps: 3, seed: 5, output_format: 'png' }, 'png');
      await same('ddpm', { num_steps: 51 }, 'too many steps');
      await same('ddpm', { num_steps: '3' }, 'string steps');
      await same('ddpm', { class_labels: [1] }, 'unknown field');
    });

    it('cfg_ddpm: guided, unconditional and bad labels', async () => {
      await same('cfg_ddpm', { class_labels: [0, null, 1], guidance_scale: 2.5, num_steps: 3, seed: 9 }, 'guided');
      await same('cfg_ddpm', { batch_size: 2, num_steps: 2, seed: 11 }, 'unconditional');
      await same('cfg_ddpm', { class_labels: [1], guidance_scale: 0, num_steps: 2, seed: 3 }, 'w = 0');
      await same('cfg_ddpm', { class_labels: [99] }, 'label out of range');
      await same('cfg_ddpm', { class_labels: [0, 1], batch_size: 3 }, 'batch mismatch');
      await same('cfg_ddpm', { class_labels: [] }, 'empty labels');
      await same('cfg_ddpm', { guidance_scale: 'high' }, 'bad guidance');
      await same('cfg_ddpm', { class_labels: [0], guidance_scale: 1e308, num_steps: 2 }, 'huge guidance');
    });

    it('HTTP: invalid JSON, wrong content type, over-size body, routes', async () => {
      let [ref, got] = await both('dcgan', null, { raw: '{"batch_size": ' });
      expect([ref.status, got.status]).toEqual([400, 400]);
      [ref, got] = await both('dcgan', null, { raw: '' });
      expect([ref.status, got.status]).toEqual([400, 400]);
      expect(got.json()).toEqual(ref.json());
      [ref, got] = await both('dcgan', { batch_size: 1 }, { headers: { 'content-type': 'text/plain' } });
      expect([ref.status, got.status]).toEqual([415, 415]);
      expect(got.json()).toEqual(ref.json());
      [ref, got] = await both('dcgan', null, { raw: `{"z": ${'['.repeat(5000)}${']'.repeat(5000)}}` });
      expect([ref.status, got.status]).toEqual([400, 400]);
      expect(got.json()).toEqual(ref.json());
      const big = JSON.stringify({ z: new Array(MAX_BODY / 4).fill(0.5) });
      [ref, got] = await both('dcgan', null, { raw: big });
      expect([ref.status, got.status]).toEqual([413, 413]);
      expect(got.json()).toEqual(ref.json());
      const p = harness.pair('dcgan');
      for (const [method, route] of [['GET', '/predict'], ['POST', '/health'], ['GET', '/nowhere'], ['GET', '/metrics/']] as const) {
        const [a, b] = await Promise.all([request(`${p.embedded}${route}`, { method }), request(`${p.target}${route}`, { method })]);
        expect(b.status, `${method} ${route}`).toBe(a.status);
        if (a.status !== 200) expect(b.json(), `${method} ${route}`).toEqual(a.json());
      }
    });

    it('/health, /ready and /metrics have the same shape; only 5xx count as errors', async () => {
      for (const arch of CONTRACT_ARCHS) {
        const p = harness.pair(arch);
        for (const route of ['/health', '/ready', '/metrics']) {
          const [a, b] = await Promise.all([request(`${p.embedded}${route}`), request(`${p.target}${route}`)]);
          expect(b.status, `${arch} ${route}`).toBe(a.status);
          const ja = a.json();
          const jb = b.json();
          expect(Object.keys(jb).sort(), `${arch} ${route}`).toEqual(Object.keys(ja).sort());
          for (const k of ['model', 'version', 'ready', 'status']) expect(jb[k], `${arch} ${route} ${k}`).toEqual(ja[k]);
          if (route === '/metrics') {
            expect(Object.keys(jb['version_metrics'] as object).sort()).toEqual(Object.keys(ja['version_metrics'] as object).sort());
            for (const k of ['requests', 'client_errors', 'errors', 'error_rate', 'window_requests', 'window_s']) expect(jb[k], `${arch} metrics ${k}`).toEqual(ja[k]);
            expect(jb['errors']).toBe(0);
            expect(jb['client_errors'] as number).toBeGreaterThan(0);
          }
        }
        const series = (text: string): string[] => text.split('\n').map((l) => l.replace(/ [^ ]+$/, '')).filter((l) => !l.startsWith('#'));
        const [a, b] = await Promise.all([request(`${p.embedded}/metrics?format=prometheus`), request(`${p.target}/metrics`, { headers: { accept: 'text/plain' } })]);
        expect(b.headers['content-type']).toBe(a.headers['content-type']);
        expect(series(b.text)).toEqual(series(a.text));
        expect(b.text.split('\n').filter((l) => l.startsWith('#'))).toEqual(a.text.split('\n').filter((l) => l.startsWith('#')));
      }
    });

    it('a version that cannot load: /ready and /predict answer 503 on both', async () => {
      const p = harness.pair('broken');
      await waitReady(p.target, 503, `broken (${options.target})`, () => log('broken'), options.brokenListenTimeoutMs ?? 30_000);
      await new Promise((r) => setTimeout(r, 3000)); // loading has had time to fail
      const [a, b] = await Promise.all([request(`${p.embedded}/ready`), request(`${p.target}/ready`)]);
      expect([a.status, b.status]).toEqual([503, 503]);
      expect(Object.keys(b.json()).sort()).toEqual(Object.keys(a.json()).sort());
      const [ref, got] = await both('broken', { batch_size: 1 });
      expect([ref.status, got.status]).toEqual([503, 503]);
      const h = await request(`${p.target}/health`);
      expect(h.status).toBe(200);
    });
  });
}
