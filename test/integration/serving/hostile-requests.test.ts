/**
 * Requests a hostile client (or a web page in a browser) can send to a stable endpoint, against a
 * real embedded endpoint: deep nesting, missing or wrong media types, unbounded numbers, more
 * diffusion work than fits the deadline, and more connections than the endpoint should hold.
 * None of them may count toward the error rate or take the endpoint (or its neighbours) down.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { OnnxType, buildOnnxModel, seededWeights } from '../../../scripts/lib/onnx-builder.js';
import { ContainerBackend } from '../../../main/docker/container-backend.js';
import { DockerClient } from '../../../main/docker/docker-client.js';
import type { ModelType } from '../../../main/common/types.js';
import { EmbeddedBackend } from '../../../main/serving/embedded-backend.js';
import type { ModelDescription } from '../../../main/serving/schemas/types.js';
import { StableEndpoint, type Backend } from '../../../main/serving/stable-endpoint.js';
import { cfgSchedule, ddpmSchedule } from '../../unit/sampling/schedules.js';
import { makeModelDir, type ModelDir } from '../../unit/serving/model-fixtures.js';
import { predict, request, type HttpAnswer } from './http-client.js';

let models: ModelDir;
let ddpmModel: string;
let cfgModel: string;
let ganModel: string;
const endpoints: StableEndpoint[] = [];
const backends: Backend[] = [];
const sockets: net.Socket[] = [];

/** Image side of the diffusion fixtures: big enough that a 400-step request takes a while. */
const SIDE = 48;
const LATENT = 8;

beforeAll(() => {
  models = makeModelDir();
  // ε-networks that ignore t (and the label): eps = 0.1·x_t. The sampler's host-side loop is what matters here.
  const epsGraph = (name: string, withLabel: boolean): Buffer =>
    buildOnnxModel({
      name,
      inputs: [
        { name: 'x_t', elemType: OnnxType.FLOAT, shape: ['batch', 3, SIDE, SIDE] },
        { name: 't', elemType: OnnxType.INT64, shape: ['batch'] },
        ...(withLabel ? [{ name: 'class_label', elemType: OnnxType.INT64, shape: ['batch'] }] : []),
      ],
      outputs: [{ name: 'eps', elemType: OnnxType.FLOAT, shape: ['batch', 3, SIDE, SIDE] }],
      nodes: [{ opType: 'Mul', inputs: ['x_t', 'k'], outputs: ['eps'] }],
      initializers: [{ name: 'k', dims: [1], data: new Float32Array([0.1]) }],
    });
  ddpmModel = path.join(models.dir, 'ddpm.onnx');
  fs.writeFileSync(ddpmModel, epsGraph('ddpm', false));
  cfgModel = path.join(models.dir, 'cfg.onnx');
  fs.writeFileSync(cfgModel, epsGraph('cfg', true));
  // A tiny generator: images = tanh(reshape(z · W, [-1, 3, 4, 4])).
  ganModel = path.join(models.dir, 'gan.onnx');
  fs.writeFileSync(
    ganModel,
    buildOnnxModel({
      name: 'gan',
      inputs: [{ name: 'z', elemType: OnnxType.FLOAT, shape: ['batch', LATENT] }],
      outputs: [{ name: 'images', elemType: OnnxType.FLOAT, shape: ['batch', 3, 4, 4] }],
      nodes: [
        { opType: 'MatMul', inputs: ['z', 'w'], outputs: ['h'] },
        { opType: 'Reshape', inputs: ['h', 'shape'], outputs: ['r'] },
        { opType: 'Tanh', inputs: ['r'], outputs: ['images'] },
      ],
      initializers: [
        { name: 'w', dims: [LATENT, 48], data: seededWeights(LATENT * 48, 3, 0.3) },
        { name: 'shape', dims: [4], data: new BigInt64Array([-1n, 3n, 4n, 4n]) },
      ],
    }),
  );
});
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(endpoints.splice(0).map((e) => e.close()));
  await Promise.all(backends.splice(0).map((b) => b.dispose()));
});
afterAll(() => models.cleanup());

async function startEndpoint(options: Partial<ConstructorParameters<typeof StableEndpoint>[0]> = {}): Promise<StableEndpoint> {
  const ep = new StableEndpoint({ name: 'hostile', port: 0, ...options });
  endpoints.push(ep);
  await ep.listen();
  return ep;
}

async function loadBackend(type: ModelType, modelPath: string, model?: ModelDescription, requestTimeoutMs?: number): Promise<EmbeddedBackend> {
  const b = await EmbeddedBackend.load({ name: 'hostile', version: 'v1', type, modelPath, threads: 1, workers: 1, ...(model ? { model } : {}), ...(requestTimeoutMs ? { requestTimeoutMs } : {}) });
  backends.push(b);
  return b;
}

const DDPM_STEPS = 400;
const ddpmDescription = (): ModelDescription => {
  const s = ddpmSchedule(DDPM_STEPS);
  return {
    hyperParameters: { image_size: SIDE, channels: 3 },
    schedule: { betas: [...s.betas], alphas_cumprod: [...s.alphas_cumprod], alphas_cumprod_prev: [...s.alphas_cumprod_prev], posterior_variance: [...s.posterior_variance] },
  };
};
const cfgDescription = (): ModelDescription => {
  const s = cfgSchedule(20);
  return { hyperParameters: { image_size: SIDE, channels: 3, num_classes: 2 }, schedule: { betas: [...s.betas], alphas: [...s.alphas], alphas_cumprod: [...s.alphas_cumprod] } };
};

/** POSTs raw bytes to /predict with exactly the headers given (none added). */
function postRaw(base: string, body: string, headers: Record<string, string>): Promise<HttpAnswer> {
  return request(`${base}/predict`, { method: 'POST', body, headers, exactHeaders: true });
}

const JSON_TYPE = { 'content-type': 'application/json' };
const nested = (depth: number, inner = ''): string => '['.repeat(depth) + inner + ']'.repeat(depth);
const X = [[0.5, -1, 2, 0.25]];

describe('hostile requests to the embedded endpoint', () => {
  it('refuses JSON nested deeper than any schema with 400 (no stack overflow) and keeps the error rate at 0', async () => {
    const ep = await startEndpoint();
    await ep.switchBackend(await loadBackend('generic', models.mlp));
    const deepBodies = [
      nested(5_000),
      `{"inputs": {"x": ${nested(100_000, '1')}}}`,
      '{"a":'.repeat(20_000) + '1' + '}'.repeat(20_000),
      // One level past the limit: 2 object levels plus 15 arrays.
      `{"inputs": {"x": ${nested(15, '1')}}}`,
    ];
    for (const body of deepBodies) {
      const res = await postRaw(ep.url, body, JSON_TYPE);
      expect(res.status, body.slice(0, 40)).toBe(400);
      expect(res.json()).toEqual({ error: 'request body nests arrays and objects more than 16 levels deep, deeper than any model\'s request', detail: { max_depth: 16 } });
    }
    // At the limit the body is parsed and refused by the schema instead; brackets inside strings do not count.
    const atLimit = await postRaw(ep.url, `{"inputs": {"x": ${nested(14, '1')}}}`, JSON_TYPE);
    expect(atLimit.status).toBe(400);
    expect(atLimit.json().error).toMatch(/^input 'x' has shape \[1,1,1,1,1,1,1,1,1,1,1,1,1,1\], the model expects \[batch,4\]/);
    const inString = await postRaw(ep.url, JSON.stringify({ inputs: { x: '['.repeat(10_000) }, note: '{"'.repeat(100) }), JSON_TYPE);
    expect(inString.status).toBe(400);
    expect(inString.json().error).toMatch(/^input 'x' must contain float32 values/);

    const ok = await predict(ep.url, { inputs: { x: X } });
    expect(ok.status).toBe(200);
    const m = ep.snapshot();
    expect(m.server_errors).toBe(0);
    expect(m.client_errors).toBe(deepBodies.length + 2);
    expect(m.error_rate).toBe(0);
  });

  it('requires content-type application/json: 415 without one, for text/plain and for forms', async () => {
    const ep = await startEndpoint();
    await ep.switchBackend(await loadBackend('generic', models.mlp));
    const body = JSON.stringify({ inputs: { x: X } });
    const none = await postRaw(ep.url, body, {});
    expect(none.status).toBe(415);
    expect(none.json()).toEqual({
      error: "the request has no content-type: send the body as JSON with the header 'content-type: application/json' (or tensors with 'content-type: application/vnd.safetensors')",
      detail: { content_type: null, accepted: ['application/json', 'application/vnd.safetensors'] },
    });
    for (const type of ['text/plain', 'text/plain; charset=utf-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonp']) {
      const res = await postRaw(ep.url, body, { 'content-type': type });
      expect(res.status, type).toBe(415);
      expect(res.json().error, type).toBe(`the content-type ${type.split(';')[0]} is not supported: send the body as JSON with the header 'content-type: application/json' (or tensors with 'content-type: application/vnd.safetensors')`);
    }
    // A deep body without the type is refused for its type, before it is read.
    expect((await postRaw(ep.url, nested(50_000), {})).status).toBe(415);
    for (const type of ['application/json', 'application/json; charset=utf-8', 'Application/JSON']) {
      expect((await postRaw(ep.url, body, { 'content-type': type })).status, type).toBe(200);
    }
    const m = ep.snapshot();
    expect(m.client_errors).toBe(7);
    expect(m.error_rate).toBe(0);
  });

  it('bounds guidance_scale and z so that every accepted request has finite outputs', async () => {
    const ep = await startEndpoint();
    await ep.switchBackend(await loadBackend('cfg_ddpm', cfgModel, cfgDescription()));
    for (const w of ['1e308', '-1e308', '100.5', '1e309']) {
      const res = await postRaw(ep.url, `{"class_labels": [0], "guidance_scale": ${w}, "num_steps": 2, "seed": 1}`, JSON_TYPE);
      expect(res.status, w).toBe(400);
      expect(res.json().error, w).toMatch(/^'guidance_scale' must be a number from -100 to 100 \(got /);
      expect(res.json().detail).toEqual({ field: 'guidance_scale', min: -100, max: 100 });
    }
    for (const w of [100, -100]) {
      const res = await predict(ep.url, { class_labels: [0, 1], guidance_scale: w, num_steps: 20, seed: 1 });
      expect(res.status).toBe(200);
      const pixels = res.json<{ images: unknown[] }>().images.flat(4);
      expect(pixels.length).toBe(2 * 3 * SIDE * SIDE);
      expect(pixels.every((p) => typeof p === 'number' && Number.isFinite(p))).toBe(true);
    }
    await ep.switchBackend(await loadBackend('dcgan', ganModel, { hyperParameters: { latent_dim: LATENT } }));
    const z = Array.from({ length: LATENT }, () => 1);
    const big = await predict(ep.url, { z: [z.map((v, i) => (i === 3 ? 1e30 : v))] });
    expect(big.status).toBe(400);
    expect(big.json().error).toBe("input 'z' values must be in [-1000,1000] (element 3 is 1.0000000150474662e+30)");
    const edge = await predict(ep.url, { z: [z.map(() => -1000)] });
    expect(edge.status).toBe(200);
    expect(ep.snapshot().error_rate).toBe(0);
  });

  it('runs diffusion requests first come, first served: under overload the earliest finish instead of all timing out', async () => {
    const backend = await loadBackend('ddpm', ddpmModel, ddpmDescription());
    const body = { batch_size: 1, num_steps: DDPM_STEPS, seed: 3 };
    // How long one request takes here, alone (the median of three warm runs).
    const calibrate = await startEndpoint({ requestTimeoutMs: 600_000 });
    await calibrate.switchBackend(backend);
    expect((await predict(calibrate.url, body)).status).toBe(200);
    const runs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      expect((await predict(calibrate.url, body)).status).toBe(200);
      runs.push(performance.now() - t0);
    }
    const single = runs.sort((a, b) => a - b)[1]!;
    // Room for about three requests out of eight sent at once: first come, first served finishes
    // the earliest; interleaved, all eight would end together, after the deadline. (Eight, not
    // four, so that a machine busy during the calibration cannot make room for all of them.)
    const ep = await startEndpoint({ requestTimeoutMs: Math.ceil(3 * single) });
    // The backend knows the same time-out (as a deployment's both come from request_timeout_ms): its admission uses it.
    await ep.switchBackend(await loadBackend('ddpm', ddpmModel, ddpmDescription(), Math.ceil(3 * single)));
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => predict(ep.url, { ...body, seed: i })));
    const statuses = answers.map((a) => a.status);
    const ok = statuses.filter((s) => s === 200).length;
    expect(ok, `statuses ${statuses.join(',')}, one request alone ${single.toFixed(0)} ms`).toBeGreaterThanOrEqual(1);
    expect(ok, "the eight requests did not overload the deployment; the test proves nothing").toBeLessThan(8);
    // 504: timed out while waiting; 503: refused at once, its deadline out of reach at the measured rate (continuous batching).
    expect(statuses.filter((s) => s !== 200 && s !== 504 && s !== 503)).toEqual([]);
    const refused = statuses.filter((s) => s === 503).length;
    expect(answers.filter((a) => a.status === 503).every((a) => Number(a.headers['retry-after']) >= 1)).toBe(true);
    // Requests that timed out left the queue (or stopped at the next step): the deployment is free again.
    const after = await predict(ep.url, body);
    expect(after.status).toBe(200);
    const m = ep.snapshot();
    expect(m.timeouts).toBe(8 - ok - refused);
    expect(m.server_errors).toBe(refused);
  });
});

describe('connection cap', () => {
  /** Opens `n` idle TCP connections; resolves once each is connected or already refused. */
  async function openIdle(port: number, n: number): Promise<{ closed: () => number }> {
    let closed = 0;
    await Promise.all(
      Array.from(
        { length: n },
        () =>
          new Promise<void>((resolve) => {
            const s = net.connect(port, '127.0.0.1', () => resolve());
            sockets.push(s);
            s.on('error', () => resolve());
            s.on('close', () => {
              closed++;
              resolve();
            });
          }),
      ),
    );
    return { closed: () => closed };
  }

  /** Polls until `check` holds (the vitest timeout bounds the wait; no speed is asserted). */
  async function until(check: () => boolean | Promise<boolean>): Promise<void> {
    while (!(await check())) await sleep(20);
  }

  it('closes connections beyond maxConnections at once; other endpoints answer and the endpoint recovers', async () => {
    const capped = await startEndpoint({ maxConnections: 8 });
    const neighbour = await startEndpoint();
    await capped.switchBackend(await loadBackend('generic', models.mlp));
    const idle = await openIdle(capped.port, 40);
    // The 32 beyond the cap are closed by the server without waiting for any timeout.
    await until(() => idle.closed() >= 32);
    expect(idle.closed()).toBe(32);
    expect((await request(`${neighbour.url}/health`)).status).toBe(200);
    // While full, a new client is turned away rather than queued.
    await expect(request(`${capped.url}/health`, { agent: new http.Agent({ keepAlive: false }) })).rejects.toThrow();
    // Once the idle clients leave, the endpoint serves again.
    for (const s of sockets.splice(0)) s.destroy();
    await until(async () => {
      try {
        return (await request(`${capped.url}/health`, { agent: new http.Agent({ keepAlive: false }) })).status === 200;
      } catch {
        return false;
      }
    });
    expect((await predict(capped.url, { inputs: { x: X } })).status).toBe(200);
  });

  it('refuses maxConnections that is not a positive integer', () => {
    expect(() => new StableEndpoint({ name: 'x', maxConnections: 0 })).toThrow(/maxConnections must be a positive integer, got 0/);
  });
});

describe('hostile requests through the container proxy', () => {
  it('refuses deep nesting and a missing content-type in the agent, before forwarding', async () => {
    // The container side is a stable endpoint too (it speaks the same contract as the generated
    // server); the front endpoint forwards to it with the real ContainerBackend.
    const inner = await startEndpoint();
    await inner.switchBackend(await loadBackend('generic', models.mlp));
    const client = await DockerClient.connect();
    const proxy = new ContainerBackend({
      name: 'hostile', version: 'v1', type: 'generic', client, containerId: 'none', containerName: 'none', image: 'none', imageId: 'none', hostPort: inner.port, requestTimeoutMs: 30_000,
    });
    const front = await startEndpoint();
    await front.switchBackend(proxy);
    expect((await predict(front.url, { inputs: { x: X } })).status).toBe(200);
    const deep = await postRaw(front.url, `{"inputs": {"x": ${nested(5_000, '1')}}}`, JSON_TYPE);
    expect(deep.status).toBe(400);
    expect(deep.json().detail).toEqual({ max_depth: 16 });
    expect((await postRaw(front.url, JSON.stringify({ inputs: { x: X } }), {})).status).toBe(415);
    expect(front.snapshot().error_rate).toBe(0);
    // Neither refused request reached the container.
    expect(inner.snapshot().requests).toBe(1);
  });
});
