/**
 * The generated Python server answers exactly like the embedded runtime (DESIGN §5).
 *
 * Each ../shared/compat checkpoint is exported once, a server is generated for it and run with
 * Debian's python3 (FastAPI + uvicorn, TorchScript runtime: there is no onnxruntime for Python
 * here), and the same requests go to it and to a TypeScript StableEndpoint + EmbeddedBackend
 * (onnxruntime-node) serving the same export: same status codes, same response keys, same
 * 4xx messages, numeric outputs within 1e-4 for the same seed or golden input.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelType } from '../../../main/common/types.js';
import { exportCheckpoint } from '../../../main/export/checkpoint-exporter.js';
import type { ExportManifest } from '../../../main/export/manifest.js';
import { findPython } from '../../../main/export/python-finder.js';
import { generateServer } from '../../../main/generate/server-generator.js';
import { EmbeddedBackend } from '../../../main/serving/embedded-backend.js';
import { StableEndpoint } from '../../../main/serving/stable-endpoint.js';
import { compatPath } from '../../fixtures/inspect/compat.js';
import { request, type HttpAnswer } from '../serving/http-client.js';

const ARCHS = ['vae', 'vqvae2', 'dcgan', 'vitgan', 'ddpm', 'cfg_ddpm'] as const;
type Arch = (typeof ARCHS)[number];
const PYTHON = '/usr/bin/python3';
const MAX_BODY = 1024 * 1024;
const TOL = 1e-4;
/**
 * cfg_ddpm's compat checkpoint uses a cosine schedule with β_max = 0.999: its first reverse step
 * multiplies ε by 1/√α ≈ 31 (full) or up to ≈ 700 (strided α_eff = ᾱ_49/ᾱ_τ), times the guidance
 * scale, so the ≈1.5e-6 ε difference between onnxruntime and TorchScript grows to ~1e-3 in the
 * images. The sampler arithmetic itself is checked bit for bit in templates/tests/test_server_sampler.py.
 */
const TOLERANCE: Partial<Record<string, number>> = { cfg_ddpm: 1e-2 };

interface Pair {
  py: string;
  ts: string;
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-genserver-'));
const children: ChildProcess[] = [];
const endpoints: StableEndpoint[] = [];
const backends: EmbeddedBackend[] = [];
const pairs = new Map<Arch | 'broken', Pair>();
const goldens = new Map<Arch, Record<string, { shape: number[]; data: number[] }>>();
const logs = new Map<string, string>();
/** Measured max |TS − Python| per architecture, printed at the end. */
const maxDiffs: Record<string, number> = {};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function nest(data: readonly number[], shape: readonly number[]): unknown {
  if (shape.length === 0) return data[0];
  const [head, ...rest] = shape as [number, ...number[]];
  const size = rest.reduce((a, b) => a * b, 1);
  return Array.from({ length: head }, (_, i) => nest(data.slice(i * size, (i + 1) * size), rest));
}

function warmupDims(manifest: ExportManifest): Record<string, number[]> {
  const size = typeof manifest.hyper_parameters['image_size'] === 'number' ? manifest.hyper_parameters['image_size'] : 32;
  return Object.fromEntries(manifest.inputs.map((i) => [i.name, i.shape.map((d, axis) => (typeof d === 'number' ? d : axis === 0 ? 1 : size))]));
}

/**
 * Node's global agent keeps sockets alive for 5 s and so does uvicorn by default: a request could
 * land on a socket the server is just closing ("socket hang up"), so the server keeps them 75 s.
 */
async function startPython(dir: string, name: string): Promise<string> {
  const port = await freePort();
  const child = spawn(PYTHON, ['-m', 'uvicorn', 'server:app', '--host', '127.0.0.1', '--port', String(port), '--log-level', 'warning', '--timeout-keep-alive', '75'], {
    cwd: dir,
    env: { ...process.env, FRAMEWORM_THREADS: '1', OMP_NUM_THREADS: '1', FRAMEWORM_MAX_BODY_BYTES: String(MAX_BODY), PYTHONDONTWRITEBYTECODE: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let log = '';
  const keep = (d: Buffer): void => {
    log = (log + d.toString()).slice(-4000);
    logs.set(name, log);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return `http://127.0.0.1:${port}`;
}

async function waitFor(url: string, status: number, name: string, timeoutMs = 90_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await request(`${url}/ready`);
      if (r.status === status) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) throw new Error(`${name} at ${url} did not answer /ready ${status}: ${logs.get(name) ?? ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function startTs(name: string, manifest: ExportManifest | null, exportDir: string | null): Promise<string> {
  const endpoint = new StableEndpoint({ name, port: 0, maxBodyBytes: MAX_BODY });
  endpoints.push(endpoint);
  await endpoint.listen();
  if (manifest && exportDir) {
    const backend = await EmbeddedBackend.load({
      name,
      version: 'v1',
      type: manifest.type as ModelType,
      modelPath: path.join(exportDir, 'model.onnx'),
      model: { hyperParameters: manifest.hyper_parameters, ...(manifest.schedule ? { schedule: manifest.schedule } : {}) },
      warmupDims: warmupDims(manifest),
    });
    backends.push(backend);
    await endpoint.switchBackend(backend);
  }
  return endpoint.url;
}

beforeAll(async () => {
  const probe = await new Promise<string>((resolve) => {
    const c = spawn(PYTHON, ['-c', 'import fastapi, uvicorn, torch, numpy'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('close', (code) => resolve(code === 0 ? '' : err));
    c.on('error', (e) => resolve(e.message));
  });
  if (probe) throw new Error(`${PYTHON} cannot import fastapi, uvicorn, torch, numpy (apt-get install python3-fastapi python3-uvicorn python3-torch): ${probe}`);
  const python = await findPython(null);
  const workspace = path.join(work, 'ws');
  await Promise.all(
    ARCHS.map(async (arch) => {
      const name = `compat-${arch.replace('_', '-')}`;
      const exportDir = path.join(workspace, 'experiments', 'deploy_exports', name, 'v1');
      const manifest = await exportCheckpoint({ python, checkpoint: compatPath(arch, 'best.pt'), outDir: exportDir, type: 'auto' });
      goldens.set(arch, (JSON.parse(fs.readFileSync(compatPath(arch, 'golden.json'), 'utf8')) as { inputs: Record<string, { shape: number[]; data: number[] }> }).inputs);
      const gen = generateServer({ workspace, name, version: 'v1', runtime: 'torch' });
      const py = await startPython(gen.dir, name);
      const ts = await startTs(name, manifest, exportDir);
      pairs.set(arch, { py, ts });
      if (arch === 'dcgan') {
        // A version whose artifact is corrupt: never ready on either side.
        const broken = path.join(work, 'broken');
        fs.cpSync(gen.dir, broken, { recursive: true });
        fs.writeFileSync(path.join(broken, 'model', 'model.torchscript.pt'), 'not a model');
        fs.rmSync(path.join(broken, 'model', 'model.onnx'));
        pairs.set('broken', { py: await startPython(broken, 'broken'), ts: await startTs(name, null, null) });
      }
    }),
  );
  await Promise.all(ARCHS.map((arch) => waitFor(pairs.get(arch)!.py, 200, `compat-${arch}`)));
}, 170_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const e of endpoints) await e.close();
  for (const b of backends) await b.dispose();
  fs.rmSync(work, { recursive: true, force: true });
  for (const [name, log] of logs) if (name !== 'broken' && /Traceback|Error/.test(log)) console.log(`--- ${name} server log ---\n${log}`);
  console.log(`max |TS − Python| per architecture: ${JSON.stringify(maxDiffs)}`);
});

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

async function both(arch: Arch | 'broken', body: unknown, opts: { raw?: string; headers?: Record<string, string> } = {}): Promise<[HttpAnswer, HttpAnswer]> {
  const p = pairs.get(arch)!;
  const send = (base: string): Promise<HttpAnswer> => request(`${base}/predict`, { method: 'POST', body: opts.raw ?? body, headers: { 'content-type': 'application/json', ...opts.headers } });
  return Promise.all([send(p.ts), send(p.py)]);
}

/** Same status and body (4xx: same message; 200: outputs within TOL). Returns the max difference. */
async function same(arch: Arch, body: unknown, label: string): Promise<number> {
  const [ts, py] = await both(arch, body);
  expect(py.status, `${arch} ${label}: ${py.text.slice(0, 300)}`).toBe(ts.status);
  const diff = compare(ts.json(), py.json(), `${arch} ${label}`);
  if (ts.status === 200) maxDiffs[arch] = Math.max(maxDiffs[arch] ?? 0, diff);
  expect(diff, `${arch} ${label}`).toBeLessThanOrEqual(TOLERANCE[arch] ?? TOL);
  return diff;
}

describe('generated Python server ≡ embedded TypeScript endpoint', () => {
  it('vae: golden x, PNG output, bad inputs', async () => {
    const x = goldens.get('vae')!['x']!;
    await same('vae', { x: nest(x.data, x.shape) }, 'golden');
    await same('vae', { x: nest(x.data, x.shape), output_format: 'png' }, 'png');
    await same('vae', { x: nest(x.data.map(() => 2), x.shape) }, 'out of range');
    await same('vae', { x: [[[1]]] }, 'bad shape');
    await same('vae', { x: [[[[0, 'a']]]] }, 'bad element');
    await same('vae', { y: 1 }, 'unknown field');
    await same('vae', {}, 'missing x');
  });

  it('vqvae2: golden x, bad sizes', async () => {
    const x = goldens.get('vqvae2')!['x']!;
    await same('vqvae2', { x: nest(x.data, x.shape) }, 'golden');
    await same('vqvae2', { x: nest(x.data, x.shape), output_format: 'png' }, 'png');
    await same('vqvae2', { x: nest(new Array(3 * 8 * 8).fill(0), [1, 3, 8, 8]) }, '8x8');
    await same('vqvae2', { x: nest(new Array(3 * 16 * 16).fill(0), [1, 3, 16, 16]), output_format: 'gif' }, 'bad format');
  });

  for (const arch of ['dcgan', 'vitgan'] as const) {
    it(`${arch}: seeded batch, golden z, PNG, bad requests`, async () => {
      const z = goldens.get(arch)!['z']!;
      await same(arch, { batch_size: 2, seed: 1234 }, 'seed');
      await same(arch, { z: nest(z.data, z.shape) }, 'golden z');
      await same(arch, { batch_size: 1, seed: 7, output_format: 'png' }, 'png');
      await same(arch, { batch_size: 0 }, 'batch 0');
      await same(arch, { batch_size: 65 }, 'batch 65');
      await same(arch, { batch_size: 2.5 }, 'fractional');
      await same(arch, { seed: -1 }, 'negative seed');
      await same(arch, { z: [[1, 2]] }, 'z shape');
      await same(arch, { z: nest(z.data, z.shape), seed: 1 }, 'z and seed');
      await same(arch, [1, 2], 'array body');
      const [ts, py] = await both(arch, { batch_size: 1 });
      expect([ts.status, py.status]).toEqual([200, 200]);
      expect(typeof py.json()['seed']).toBe('number');
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
  });

  it('HTTP: invalid JSON, wrong content type, over-size body, routes', async () => {
    let [ts, py] = await both('dcgan', null, { raw: '{"batch_size": ' });
    expect([ts.status, py.status]).toEqual([400, 400]);
    [ts, py] = await both('dcgan', null, { raw: '' });
    expect([ts.status, py.status]).toEqual([400, 400]);
    expect(py.json()).toEqual(ts.json());
    [ts, py] = await both('dcgan', { batch_size: 1 }, { headers: { 'content-type': 'text/plain' } });
    expect([ts.status, py.status]).toEqual([400, 400]);
    expect(py.json()).toEqual(ts.json());
    const big = JSON.stringify({ z: new Array(MAX_BODY / 4).fill(0.5) });
    [ts, py] = await both('dcgan', null, { raw: big });
    expect([ts.status, py.status]).toEqual([413, 413]);
    expect(py.json()).toEqual(ts.json());
    const p = pairs.get('dcgan')!;
    for (const [method, route] of [['GET', '/predict'], ['POST', '/health'], ['GET', '/nowhere'], ['GET', '/metrics/']] as const) {
      const [a, b] = await Promise.all([request(`${p.ts}${route}`, { method }), request(`${p.py}${route}`, { method })]);
      expect(b.status, `${method} ${route}`).toBe(a.status);
      if (a.status !== 200) expect(b.json(), `${method} ${route}`).toEqual(a.json());
    }
  });

  it('/health, /ready and /metrics have the same shape; only 5xx count as errors', async () => {
    for (const arch of ARCHS) {
      const p = pairs.get(arch)!;
      for (const route of ['/health', '/ready', '/metrics']) {
        const [a, b] = await Promise.all([request(`${p.ts}${route}`), request(`${p.py}${route}`)]);
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
      const [a, b] = await Promise.all([
        request(`${p.ts}/metrics?format=prometheus`),
        request(`${p.py}/metrics`, { headers: { accept: 'text/plain' } }),
      ]);
      expect(b.headers['content-type']).toBe(a.headers['content-type']);
      expect(series(b.text)).toEqual(series(a.text));
      expect(b.text.split('\n').filter((l) => l.startsWith('#'))).toEqual(a.text.split('\n').filter((l) => l.startsWith('#')));
    }
  });

  it('a version that cannot load: /ready and /predict answer 503 on both', async () => {
    const p = pairs.get('broken')!;
    await waitFor(p.py, 503, 'broken', 30_000);
    await new Promise((r) => setTimeout(r, 3000)); // loading has had time to fail
    const [a, b] = await Promise.all([request(`${p.ts}/ready`), request(`${p.py}/ready`)]);
    expect([a.status, b.status]).toEqual([503, 503]);
    expect(Object.keys(b.json()).sort()).toEqual(Object.keys(a.json()).sort());
    const [ts, py] = await both('broken', { batch_size: 1 });
    expect([ts.status, py.status]).toEqual([503, 503]);
    const h = await request(`${p.py}/health`);
    expect(h.status).toBe(200);
  });
});
