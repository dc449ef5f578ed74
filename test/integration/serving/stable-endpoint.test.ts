import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { EmbeddedBackend } from '../../../main/serving/embedded-backend.js';
import { StableEndpoint, type Backend } from '../../../main/serving/stable-endpoint.js';
import { parsePrometheus } from '../../unit/metrics/prometheus-parser.js';
import { makeModelDir, referenceMlp, type ModelDir } from '../../unit/serving/model-fixtures.js';
import { predict, request } from './http-client.js';

let models: ModelDir;
const open: { endpoints: StableEndpoint[]; backends: Backend[]; agents: http.Agent[] } = { endpoints: [], backends: [], agents: [] };

beforeAll(() => {
  models = makeModelDir();
});
afterEach(async () => {
  for (const a of open.agents.splice(0)) a.destroy();
  await Promise.all(open.endpoints.splice(0).map((e) => e.close()));
  await Promise.all(open.backends.splice(0).map((b) => b.dispose()));
});
afterAll(() => models.cleanup());

async function startEndpoint(options: Partial<ConstructorParameters<typeof StableEndpoint>[0]> = {}): Promise<StableEndpoint> {
  const ep = new StableEndpoint({ name: 'mlp', port: 0, ...options });
  open.endpoints.push(ep);
  await ep.listen();
  return ep;
}

async function loadBackend(version: string, modelPath = models.mlp, maxBatchSize = 64): Promise<EmbeddedBackend> {
  const b = await EmbeddedBackend.load({ name: 'mlp', version, type: 'generic', modelPath, threads: 1, maxBatchSize });
  open.backends.push(b);
  return b;
}

function keepAliveAgent(maxSockets: number): http.Agent {
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  open.agents.push(agent);
  return agent;
}

const X = [[0.5, -1, 2, 0.25]];

describe('StableEndpoint routes', () => {
  it('is not ready before a backend is set, and ready after', async () => {
    const ep = await startEndpoint();
    expect(ep.port).toBeGreaterThan(0);
    expect(ep.url).toBe(`http://127.0.0.1:${ep.port}`);
    let ready = await request(`${ep.url}/ready`);
    expect(ready.status).toBe(503);
    const noModel = await predict(ep.url, { inputs: { x: X } });
    expect(noModel.status).toBe(503);
    expect(noModel.json()).toEqual({ error: 'no model is loaded' });

    await ep.switchBackend(await loadBackend('v1'));
    ready = await request(`${ep.url}/ready`);
    expect(ready.status).toBe(200);
    expect(ready.json()).toEqual({ ready: true, model: 'mlp', version: 'v1' });
    const health = await request(`${ep.url}/health`);
    expect(health.status).toBe(200);
    expect(health.json()).toMatchObject({ status: 'ok', model: 'mlp', version: 'v1' });
    expect(typeof health.json().uptime_s).toBe('number');
  });

  it('serves /predict with the reference outputs and refuses bad requests with 4xx', async () => {
    const ep = await startEndpoint();
    await ep.switchBackend(await loadBackend('v1'));
    const ok = await predict(ep.url, { inputs: { x: X } });
    expect(ok.status).toBe(200);
    const body = ok.json<{ outputs: { y: number[][] }; model: string; version: string; latency_ms: number }>();
    expect(body.model).toBe('mlp');
    expect(body.version).toBe('v1');
    expect(body.latency_ms).toBeGreaterThan(0);
    body.outputs.y[0]!.forEach((v, i) => expect(v).toBeCloseTo(referenceMlp(X)[0]![i]!, 5));

    const notJson = await predict(ep.url, '{"inputs": ');
    expect(notJson.status).toBe(400);
    expect(notJson.json().error).toMatch(/^request body is not valid JSON: /);
    const wrongType = await request(`${ep.url}/predict`, { body: 'x=1', headers: { 'content-type': 'text/plain' } });
    expect(wrongType.status).toBe(415);
    expect(wrongType.json().error).toMatch(/^the content-type text\/plain is not supported/);
    const badShape = await predict(ep.url, { inputs: { x: [[1, 2, 3, 4, 5], [1, 2, 3, 4, 5]] } });
    expect(badShape.status).toBe(400);
    expect(badShape.json()).toEqual({
      error: "input 'x' has shape [2,5], the model expects [batch,4]",
      detail: { input: 'x', shape: [2, 5], expected: ['batch', 4] },
    });
    expect((await request(`${ep.url}/nope`)).status).toBe(404);
    const wrongMethod = await request(`${ep.url}/predict`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.allow).toBe('POST');
    expect((await request(`${ep.url}/health`, { method: 'DELETE' })).status).toBe(405);

    // 4xx are client errors: recorded, but not in the error rate.
    const m = ep.snapshot();
    expect(m.requests).toBe(4);
    expect(m.client_errors).toBe(3);
    expect(m.error_rate).toBe(0);
  });

  it('serves /metrics as JSON and as Prometheus text', async () => {
    const ep = await startEndpoint();
    await ep.switchBackend(await loadBackend('v7'));
    for (let i = 0; i < 5; i++) expect((await predict(ep.url, { inputs: { x: X } })).status).toBe(200);
    await predict(ep.url, { inputs: {} });

    const json = (await request(`${ep.url}/metrics`)).json<Record<string, unknown> & { version_metrics: Record<string, unknown> }>();
    expect(json).toMatchObject({ model: 'mlp', version: 'v7', requests: 6, window_requests: 6, client_errors: 1, error_rate: 0, window_s: 60 });
    for (const k of ['p50_ms', 'p95_ms', 'p99_ms']) expect(json[k]).toBeGreaterThan(0);
    expect(json.version_metrics).toMatchObject({ version: 'v7', requests: 6 });

    for (const prom of [await request(`${ep.url}/metrics`, { headers: { accept: 'text/plain' } }), await request(`${ep.url}/metrics?format=prometheus`)]) {
      expect(prom.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
      const parsed = parsePrometheus(prom.text);
      const total = parsed.samples.find((s) => s.name === 'frameworm_requests_total' && s.labels.scope === 'version');
      expect(total).toEqual({ name: 'frameworm_requests_total', labels: { model: 'mlp', scope: 'version', version: 'v7' }, value: 6 });
      expect(parsed.types.get('frameworm_request_duration_seconds')).toBe('summary');
    }
  });

  it('refuses E_PORT_IN_USE when the port is taken', async () => {
    const first = await startEndpoint();
    const second = new StableEndpoint({ name: 'other', port: first.port });
    await expect(second.listen()).rejects.toMatchObject({
      name: 'FramewormError',
      code: 'E_PORT_IN_USE',
      message: expect.stringMatching(new RegExp(`^port ${first.port} on 127\\.0\\.0\\.1 is already in use \\(`)),
    });
    await second.close();
  });

  it('close() drops keep-alive connections and stops listening, leaving the backend alone', async () => {
    const ep = await startEndpoint();
    const backend = await loadBackend('v1');
    await ep.switchBackend(backend);
    const agent = keepAliveAgent(1);
    expect((await predict(ep.url, { inputs: { x: X } }, agent)).status).toBe(200);
    const url = ep.url;
    // That close() does not wait for the 30 s keep-alive timeout is timed by test/bench/timing-bench.ts.
    await ep.close();
    await expect(request(`${url}/health`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(backend.session.liveWorkers).toBe(1);
  });
});

describe('StableEndpoint under upload abuse', () => {
  /** Streams `total` bytes of a JSON-ish body and reports how much was sent when the answer came. */
  function upload(url: string, total: number, declareLength: boolean): Promise<{ status: number; sentAtAnswer: number; body: string }> {
    return new Promise((resolve, reject) => {
      const chunk = Buffer.alloc(1024 * 1024, 0x20);
      let sent = 0;
      let done = false;
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (declareLength) headers['content-length'] = String(total);
      // A keep-alive client, as curl and most HTTP libraries are by default (see the file comment
      // of StableEndpoint.lingerOnUnreadBody for why a `Connection: close` client differs).
      const agent = keepAliveAgent(1);
      const req = http.request(`${url}/predict`, { method: 'POST', headers, agent }, (res) => {
        const sentAtAnswer = sent;
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => {
          done = true;
          req.destroy();
          resolve({ status: res.statusCode ?? 0, sentAtAnswer, body: Buffer.concat(parts).toString() });
        });
      });
      req.on('error', (err) => {
        if (!done) reject(err);
      });
      const pump = (): void => {
        while (!done && sent < total) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        if (!done) req.end();
      };
      pump();
    });
  }

  it.each([
    ['with Content-Length', true],
    ['chunked', false],
  ])('answers a 100 MB body (%s) with 413 long before the upload could finish', async (_what, declared) => {
    const ep = await startEndpoint();
    await ep.switchBackend(await loadBackend('v1'));
    const rssBefore = process.memoryUsage().rss;
    const res = await upload(ep.url, 100 * 1024 * 1024, declared);
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body).error).toMatch(/request body is too large: the limit is 10485760 bytes/);
    // Answered long before the upload could finish, in bytes; the time is in test/bench/timing-bench.ts.
    expect(res.sentAtAnswer).toBeLessThan(40 * 1024 * 1024);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(60 * 1024 * 1024);
    // The endpoint is still healthy afterwards.
    expect((await predict(ep.url, { inputs: { x: X } })).status).toBe(200);
    expect(ep.snapshot().client_errors).toBe(1);
  });
});
