/**
 * Synthetic probes (issue 9 §2) against real stable endpoints and real embedded backends: the
 * probe body of every architecture is accepted (200) by the schema the endpoint runs, with the
 * FRAMEWORM compat checkpoints' hyper-parameters; probes carry PROBE_HEADER, go at most two at a
 * time, and /metrics reports them apart from user traffic while its main counts include them.
 *
 * The architectures' ONNX graphs here are small stand-ins with the exported graphs' input and
 * output names and shapes (exporting the compat checkpoints needs PyTorch and minutes); the
 * DCGAN is the real demo export from examples/models.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { OnnxType, buildOnnxModel, type GraphSpec } from '../../../scripts/lib/onnx-builder.js';
import type { ModelType } from '../../../main/common/types.js';
import { EmbeddedBackend } from '../../../main/serving/embedded-backend.js';
import { ProbeSender, buildProbeBody, readProbeSpec, type ProbeInput, type ProbeSpec } from '../../../main/serving/probe-requests.js';
import type { ModelDescription } from '../../../main/serving/schemas/types.js';
import { PROBE_HEADER, StableEndpoint, type Backend } from '../../../main/serving/stable-endpoint.js';
import { REPO_ROOT, compatPath, type Arch } from '../../fixtures/inspect/compat.js';
import { parsePrometheus } from '../../unit/metrics/prometheus-parser.js';
import { cfgSchedule, ddpmSchedule } from '../../unit/sampling/schedules.js';
import { makeModelDir, type ModelDir } from '../../unit/serving/model-fixtures.js';
import { freePort, predict, request } from './http-client.js';

let models: ModelDir;
const open: { endpoints: StableEndpoint[]; backends: Backend[]; senders: ProbeSender[]; servers: http.Server[] } = { endpoints: [], backends: [], senders: [], servers: [] };

beforeAll(() => {
  models = makeModelDir();
});
afterEach(async () => {
  for (const s of open.senders.splice(0)) s.dispose();
  await Promise.all(open.servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  await Promise.all(open.endpoints.splice(0).map((e) => e.close()));
  await Promise.all(open.backends.splice(0).map((b) => b.dispose()));
});
afterAll(() => models.cleanup());

const DEMO_DCGAN = path.join(REPO_ROOT, 'examples', 'models', 'demo-dcgan', 'model.onnx');

/** The hyper-parameters FRAMEWORM's constructor ended up with for a compat checkpoint (what the exporter records). */
function compatHyperParameters(arch: Arch): Record<string, unknown> {
  const golden = JSON.parse(fs.readFileSync(compatPath(arch, 'golden.json'), 'utf8')) as { config: { effective: Record<string, unknown> } };
  return golden.config.effective;
}

const F = OnnxType.FLOAT;
const I64 = OnnxType.INT64;

/** Stand-in graphs: the exported graphs' inputs and outputs, with a few cheap ops between them. */
function standIn(arch: Exclude<Arch, 'dcgan' | 'vitgan'>): GraphSpec {
  switch (arch) {
    case 'vae':
      return {
        name: 'vae',
        inputs: [{ name: 'x', elemType: F, shape: ['batch', 3, 32, 32] }],
        outputs: [
          { name: 'reconstruction', elemType: F, shape: ['batch', 3, 32, 32] },
          { name: 'mu', elemType: F, shape: ['batch', 3] },
          { name: 'log_var', elemType: F, shape: ['batch', 3] },
        ],
        nodes: [
          { opType: 'Sigmoid', inputs: ['x'], outputs: ['reconstruction'] },
          { opType: 'ReduceMean', inputs: ['x'], outputs: ['mu'], attributes: { axes: [2, 3], keepdims: 0 } },
          { opType: 'ReduceMax', inputs: ['x'], outputs: ['log_var'], attributes: { axes: [2, 3], keepdims: 0 } },
        ],
      };
    case 'vqvae2':
      return {
        name: 'vqvae2',
        inputs: [{ name: 'x', elemType: F, shape: ['batch', 3, 'height', 'width'] }],
        outputs: [
          { name: 'reconstruction', elemType: F, shape: ['batch', 3, 'height', 'width'] },
          { name: 'commitment_loss', elemType: F, shape: ['batch'] },
        ],
        nodes: [
          { opType: 'Tanh', inputs: ['x'], outputs: ['reconstruction'] },
          { opType: 'ReduceMean', inputs: ['x'], outputs: ['commitment_loss'], attributes: { axes: [1, 2, 3], keepdims: 0 } },
        ],
      };
    case 'ddpm':
    case 'cfg_ddpm':
      // eps = 0.1·x_t, ignoring t (and the label): the host-side sampler is what a probe exercises.
      return {
        name: arch,
        inputs: [
          { name: 'x_t', elemType: F, shape: ['batch', 3, 'height', 'width'] },
          { name: 't', elemType: I64, shape: ['batch'] },
          ...(arch === 'cfg_ddpm' ? [{ name: 'class_label', elemType: I64, shape: ['batch'] }] : []),
        ],
        outputs: [{ name: 'eps', elemType: F, shape: ['batch', 3, 'height', 'width'] }],
        nodes: [{ opType: 'Mul', inputs: ['x_t', 'k'], outputs: ['eps'] }],
        initializers: [{ name: 'k', dims: [1], data: new Float32Array([0.1]) }],
      };
  }
}

/** The noise schedule the exporter reads from a diffusion checkpoint (timesteps as in the compat config). */
function scheduleOf(arch: Arch, hp: Record<string, unknown>): ModelDescription['schedule'] {
  const steps = hp['timesteps'] as number;
  if (arch === 'ddpm') {
    const s = ddpmSchedule(steps);
    return { betas: [...s.betas], alphas_cumprod: [...s.alphas_cumprod], alphas_cumprod_prev: [...s.alphas_cumprod_prev], posterior_variance: [...s.posterior_variance] };
  }
  if (arch === 'cfg_ddpm') {
    const s = cfgSchedule(steps);
    return { betas: [...s.betas], alphas: [...s.alphas], alphas_cumprod: [...s.alphas_cumprod] };
  }
  return undefined;
}

function inputsOf(graph: GraphSpec): ProbeInput[] {
  return graph.inputs.map((i) => ({ name: i.name, shape: [...i.shape], dtype: i.elemType === I64 ? 'int64' : i.elemType === OnnxType.BOOL ? 'bool' : 'float32' }));
}

async function serve(name: string, version: string, type: ModelType, modelPath: string, model?: ModelDescription): Promise<StableEndpoint> {
  const backend = await EmbeddedBackend.load({ name, version, type, modelPath, threads: 1, workers: 1, ...(model ? { model } : {}) });
  open.backends.push(backend);
  const ep = new StableEndpoint({ name, port: 0 });
  open.endpoints.push(ep);
  await ep.listen();
  await ep.switchBackend(backend);
  return ep;
}

function sender(targets: Record<string, { url: string; spec: ProbeSpec }>, options: { concurrency?: number; timeoutMs?: number } = {}): ProbeSender {
  const s = new ProbeSender({ resolve: (name) => targets[name] ?? null, ...options });
  open.senders.push(s);
  return s;
}

describe('synthetic probe bodies', () => {
  it.each(['vae', 'ddpm', 'vqvae2', 'cfg_ddpm'] as const)('a %s probe with the compat hyper-parameters is answered 200 by a real embedded endpoint', async (arch) => {
    const hp = compatHyperParameters(arch);
    const graph = standIn(arch);
    const modelPath = path.join(models.dir, `${arch}.onnx`);
    fs.writeFileSync(modelPath, buildOnnxModel(graph));
    const schedule = scheduleOf(arch, hp);
    const ep = await serve(arch, 'v1', arch, modelPath, { hyperParameters: hp, ...(schedule ? { schedule } : {}) });
    const spec: ProbeSpec = { type: arch, hyperParameters: hp, inputs: inputsOf(graph) };

    const answer = await predict(ep.url, buildProbeBody(spec, 11));
    expect(answer.status, answer.text).toBe(200);
    const result = await sender({ [arch]: { url: ep.url, spec } }).send(arch, 3);
    expect(result).toEqual({ sent: 3, ok: 3, server_errors: 0, client_errors: 0, failed: 0 });
    // Batch 1 and, for diffusion, one step: the smallest request the schema accepts.
    const body = buildProbeBody(spec, 11);
    if (arch === 'ddpm' || arch === 'cfg_ddpm') expect(answer.json()).toMatchObject({ seed: 11, num_steps: 1 });
    if (arch === 'cfg_ddpm') expect(body).toEqual({ class_labels: [11 % 4], num_steps: 1, seed: 11 });
    if (arch === 'vae') expect((body['x'] as number[][][][]).length).toBe(1);
    if (arch === 'vqvae2') expect(answer.json<{ reconstruction: number[][][][] }>().reconstruction[0]![0]!.length).toBe(16);
  });

  it.each(['dcgan', 'vitgan'] as const)('a %s probe with the compat hyper-parameters is answered 200 by the demo DCGAN export', async (arch) => {
    // Both GAN schemas take z [B, latent_dim]; the compat dcgan and vitgan both have latent_dim 32, as the demo export.
    const hp = compatHyperParameters(arch);
    expect(hp['latent_dim']).toBe(32);
    const ep = await serve(arch, 'v1', arch, DEMO_DCGAN, { hyperParameters: hp });
    const spec: ProbeSpec = { type: arch, hyperParameters: hp };
    expect(buildProbeBody(spec, 5)).toEqual({ batch_size: 1, seed: 5 });
    const answer = await predict(ep.url, buildProbeBody(spec, 5));
    expect(answer.status, answer.text).toBe(200);
    expect(answer.json<{ images: unknown[] }>().images).toHaveLength(1);
  });

  it('builds generic probes from the ONNX input shapes (dynamic dimensions 1) for float, int64 and bool inputs', async () => {
    const mlp = await serve('mlp', 'v1', 'generic', models.mlp);
    const multi = await serve('multi', 'v1', 'generic', models.multi);
    const mlpSpec: ProbeSpec = { type: 'generic', hyperParameters: {}, inputs: [{ name: 'x', shape: ['batch', 4], dtype: 'float32' }] };
    const multiSpec: ProbeSpec = {
      type: 'generic',
      hyperParameters: {},
      inputs: [
        { name: 'ids', shape: ['batch', 2], dtype: 'int64' },
        { name: 'mask', shape: [null, 2], dtype: 'bool' },
      ],
    };
    const body = buildProbeBody(mlpSpec, 3) as { inputs: { x: number[][] } };
    expect(body.inputs.x).toHaveLength(1);
    expect(body.inputs.x[0]).toHaveLength(4);
    for (const v of body.inputs.x[0]!) expect(v >= 0 && v < 1).toBe(true);
    expect(buildProbeBody(multiSpec, 3)).toEqual({ inputs: { ids: [[0, 0]], mask: [[false, false]] } });

    const probes = sender({ mlp: { url: mlp.url, spec: mlpSpec }, multi: { url: multi.url, spec: multiSpec } });
    expect(await probes.send('mlp', 4)).toEqual({ sent: 4, ok: 4, server_errors: 0, client_errors: 0, failed: 0 });
    expect(await probes.send('multi', 2)).toEqual({ sent: 2, ok: 2, server_errors: 0, client_errors: 0, failed: 0 });
  });

  it('reads the probe spec of an export from its manifest (the demo DCGAN) and its probes are accepted', async () => {
    const spec = readProbeSpec(DEMO_DCGAN);
    expect(spec.type).toBe('dcgan');
    const hp = spec.hyperParameters;
    const ep = await serve('demo', 'v1', 'dcgan', DEMO_DCGAN, { hyperParameters: hp });
    expect(await sender({ demo: { url: ep.url, spec } }).send('demo', 2)).toEqual({ sent: 2, ok: 2, server_errors: 0, client_errors: 0, failed: 0 });
  });

  it('is seeded: the same seed gives the same body, another seed another one', () => {
    const spec: ProbeSpec = { type: 'vae', hyperParameters: compatHyperParameters('vae') };
    expect(buildProbeBody(spec, 42)).toEqual(buildProbeBody(spec, 42));
    expect(buildProbeBody(spec, 42)).not.toEqual(buildProbeBody(spec, 43));
    const x = (buildProbeBody(spec, 42) as { x: number[][][][] }).x;
    expect([x.length, x[0]!.length, x[0]![0]!.length, x[0]![0]![0]!.length]).toEqual([1, 3, 32, 32]);
    for (const v of x.flat(3)) expect(v >= 0 && v <= 1).toBe(true);
    const vq = (buildProbeBody({ type: 'vqvae2', hyperParameters: compatHyperParameters('vqvae2') }, 42) as { x: number[][][][] }).x.flat(3);
    expect(vq).toHaveLength(3 * 16 * 16);
    expect(vq.some((v) => v < 0)).toBe(true);
    for (const v of vq) expect(v >= -1 && v <= 1).toBe(true);
  });

  it('fails clearly when no body can be built or no endpoint serves the deployment', async () => {
    expect(() => buildProbeBody({ type: 'generic', hyperParameters: {} }, 1)).toThrow(/^cannot build a probe request for a generic model: its export records no inputs$/);
    expect(() => buildProbeBody({ type: 'cfg_ddpm', hyperParameters: {} }, 1)).toThrow(/^cannot build a probe request for a cfg_ddpm model: the export manifest lacks hyper-parameter 'num_classes'$/);
    const probes = sender({});
    await expect(probes.send('ghost', 1)).rejects.toMatchObject({ code: 'E_NOT_FOUND', message: 'no endpoint serves ghost in this process; no probes sent' });
  });
});

describe('ProbeSender', () => {
  it('posts with the probe header and JSON content type, at most two at a time', async () => {
    let active = 0;
    let most = 0;
    const seen: { probe: string | undefined; type: string | undefined; path: string | undefined }[] = [];
    const server = http.createServer((req, res) => {
      active++;
      most = Math.max(most, active);
      seen.push({ probe: req.headers[PROBE_HEADER] as string | undefined, type: req.headers['content-type'], path: req.url });
      req.resume();
      // Each answer waits for the next request's arrival chance; concurrency is counted, not timed.
      setTimeout(() => {
        active--;
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      }, 20);
    });
    open.servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const spec: ProbeSpec = { type: 'dcgan', hyperParameters: { latent_dim: 4 } };
    const result = await sender({ m: { url, spec } }).send('m', 10);
    expect(result).toEqual({ sent: 10, ok: 10, server_errors: 0, client_errors: 0, failed: 0 });
    expect(most).toBe(2);
    expect(seen).toHaveLength(10);
    for (const s of seen) expect(s).toEqual({ probe: '1', type: 'application/json', path: '/predict' });
  });

  it('counts probes nobody answered as failed, and sendProbes reports a batch with no answer at all', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const probes = sender({ m: { url, spec: { type: 'ddpm', hyperParameters: {} } } });
    expect(await probes.send('m', 3)).toEqual({ sent: 3, ok: 0, server_errors: 0, client_errors: 0, failed: 3 });
    await expect(probes.sendProbes('m', 2)).rejects.toMatchObject({ code: 'E_RUNTIME', message: 'none of 2 probes to m got an answer' });
  });
});

describe('/metrics reports probes apart from user traffic', () => {
  it('counts probes in requests, errors and the watcher interval, and reports probe_requests apart (JSON and Prometheus)', async () => {
    const ep = await serve('mlp', 'v1', 'generic', models.mlp);
    const spec: ProbeSpec = { type: 'generic', hyperParameters: {}, inputs: [{ name: 'x', shape: ['batch', 4], dtype: 'float32' }] };
    for (let i = 0; i < 2; i++) expect((await predict(ep.url, { inputs: { x: [[1, 2, 3, 4]] } })).status).toBe(200);
    expect(await sender({ mlp: { url: ep.url, spec } }).send('mlp', 3)).toMatchObject({ ok: 3 });
    // A probe refused as invalid is reported too (it would mean a wrong probe body).
    const bad = await request(`${ep.url}/predict`, { body: { inputs: {} }, headers: { [PROBE_HEADER]: '1' } });
    expect(bad.status).toBe(400);

    const m = (await request(`${ep.url}/metrics`)).json<Record<string, unknown> & { version_metrics: Record<string, unknown> }>();
    expect(m).toMatchObject({ requests: 6, client_errors: 1, probe_requests: 4, probe_errors: 0, probe_client_errors: 1 });
    expect(m.version_metrics).toMatchObject({ version: 'v1', requests: 6, probe_requests: 4, probe_errors: 0, probe_client_errors: 1 });
    const interval = ep.takeInterval()!;
    expect(interval).toMatchObject({ completed: 6, probes: 4 });

    const prom = parsePrometheus((await request(`${ep.url}/metrics?format=prometheus`)).text);
    const value = (name: string, labels: Record<string, string>): number | undefined =>
      prom.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
    expect(value('frameworm_requests_total', { scope: 'endpoint' })).toBe(6);
    expect(value('frameworm_probe_requests_total', { model: 'mlp', scope: 'endpoint' })).toBe(4);
    expect(value('frameworm_probe_requests_total', { scope: 'version', version: 'v1' })).toBe(4);
    expect(value('frameworm_probe_client_errors_total', { scope: 'version', version: 'v1' })).toBe(1);
    expect(value('frameworm_probe_errors_total', { scope: 'endpoint' })).toBe(0);
  });
});
