/**
 * The docker target end to end (DESIGN §3–§5) against a real dockerd:
 * offline base image (debootstrap bookworm + Debian's python3-torch/fastapi/uvicorn, cached by
 * a hash of its Dockerfile) → export the compat DCGAN → generate deploy/generated/<name>/ →
 * build its image with INSTALL_DEPS=0 on that base → run it hardened → wait for HEALTHCHECK →
 * POST /predict equals the embedded runtime within 1e-4. A missing base image is a clear build
 * error that leaves nothing running. Everything the test creates carries LABEL and is removed in
 * afterAll (the cached base images stay: they are keyed by content, not by this run).
 *
 * Needs dockerd: scripts/setup.sh --test installs and starts it. This test fails (never skips)
 * without it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelType } from '../../../main/common/types.js';
import { ensureOfflineBaseImage } from '../../../main/docker/base-image.js';
import { DEFAULT_SOCKET, DockerClient } from '../../../main/docker/docker-client.js';
import { exportCheckpoint } from '../../../main/export/checkpoint-exporter.js';
import type { ExportManifest } from '../../../main/common/export-manifest.js';
import { findPython } from '../../../main/export/python-finder.js';
import { generateServer } from '../../../main/generate/server-generator.js';
import { decodeSafetensors, encodeSafetensorsBuffer } from '../../../main/common/safetensors.js';
import { ContainerBackend } from '../../../main/docker/container-backend.js';
import { EmbeddedBackend } from '../../../main/serving/embedded-backend.js';
import { StableEndpoint } from '../../../main/serving/stable-endpoint.js';
import { compatPath } from '../../fixtures/inspect/compat.js';
import { freePort, predict, request } from '../serving/http-client.js';

const LABEL = 'frameworm.test';
const RUN = `docker-it-${process.pid}`;
const LABELS = { [LABEL]: RUN };
const NETWORK = `fw-test-net-${process.pid}`;
const TAG = `frameworm-test/compat-dcgan:v1-${process.pid}`;
const TOL = 1e-4;

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-docker-'));
const timings: Record<string, number | string> = {};
let client: DockerClient;
let containerUrl = '';
let containerId = '';
let genDir = '';
let baseTag = '';
let endpoint: StableEndpoint | null = null;
let backend: EmbeddedBackend | null = null;
let latentDim = 0;


const secs = (t0: number): number => Math.round((Date.now() - t0) / 100) / 10;

function maxDiff(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return Math.abs(a - b);
  if (Array.isArray(a) && Array.isArray(b)) {
    expect(b.length).toBe(a.length);
    return a.reduce<number>((m, e, i) => Math.max(m, maxDiff(e, b[i])), 0);
  }
  throw new Error(`shape mismatch: ${typeof a} vs ${typeof b}`);
}

beforeAll(async () => {
  if (!fs.existsSync(DEFAULT_SOCKET)) {
    throw new Error(`${DEFAULT_SOCKET} is missing: dockerd is not running. Run scripts/setup.sh --test (installs docker.io + debootstrap and starts dockerd) before the Docker tests.`);
  }
  client = await DockerClient.connect();

  let t0 = Date.now();
  const base = await ensureOfflineBaseImage(client);
  baseTag = base.tag;
  timings[base.built ? 'base_image_build_cold_s' : 'base_image_cached_s'] = secs(t0);

  // Export + embedded runtime (onnxruntime-node) for the reference answer.
  const python = await findPython(null);
  const workspace = path.join(work, 'ws');
  const name = 'compat-dcgan';
  const exportDir = path.join(workspace, 'experiments', 'deploy_exports', name, 'v1');
  const manifest: ExportManifest = await exportCheckpoint({ python, checkpoint: compatPath('dcgan', 'best.pt'), outDir: exportDir, type: 'auto' });
  const gen = generateServer({ workspace, name, version: 'v1', runtime: 'torch', docker: { baseImage: base.tag, installDeps: false } });
  genDir = gen.dir;
  latentDim = manifest.hyper_parameters['latent_dim'] as number;
  endpoint = new StableEndpoint({ name, port: 0 });
  await endpoint.listen();
  backend = await EmbeddedBackend.load({
    name,
    version: 'v1',
    type: manifest.type as ModelType,
    modelPath: path.join(exportDir, 'model.onnx'),
    model: { hyperParameters: manifest.hyper_parameters },
    warmupDims: Object.fromEntries(manifest.inputs.map((i) => [i.name, i.shape.map((d) => (typeof d === 'number' ? d : 1))])),
  });
  await endpoint.switchBackend(backend);

  t0 = Date.now();
  const image = await client.buildImage(gen.dir, { tag: TAG, buildArgs: { BASE_IMAGE: base.tag, INSTALL_DEPS: '0' }, labels: LABELS });
  timings['generated_image_build_s'] = secs(t0);
  timings['generated_image_size_mb'] = Math.round(image.sizeBytes / 1e6);

  await client.ensureNetwork(NETWORK, LABELS);
  const port = await freePort();
  t0 = Date.now();
  containerId = await client.runContainer({ image: TAG, name: `fw-test-dcgan-${process.pid}`, hostPort: port, labels: LABELS, network: NETWORK, memoryBytes: 2 * 1024 ** 3 });
  await client.waitHealthy(containerId, 240_000);
  timings['container_start_to_healthy_s'] = secs(t0);
  containerUrl = `http://127.0.0.1:${port}`;
}, 1_500_000);

afterAll(async () => {
  if (endpoint) await endpoint.close();
  if (backend) await backend.dispose();
  if (client) {
    const removed = await client.removeLabelled(LABEL, RUN);
    timings['removed'] = JSON.stringify(removed);
  }
  fs.rmSync(work, { recursive: true, force: true });
  console.log(`docker timings: ${JSON.stringify(timings)}`);
}, 300_000);

describe('docker target', () => {
  it('the container answers /predict like the embedded runtime', async () => {
    const body = { batch_size: 2, seed: 3 };
    const [fromContainer, fromEmbedded] = await Promise.all([predict(containerUrl, body), predict(endpoint!.url, body)]);
    expect(fromContainer.status, fromContainer.text).toBe(200);
    expect(fromEmbedded.status, fromEmbedded.text).toBe(200);
    const a = fromEmbedded.json<{ images: number[][][][] }>().images;
    const b = fromContainer.json<{ images: number[][][][] }>().images;
    expect(a.length).toBe(2);
    const diff = maxDiff(a, b);
    timings['max_abs_diff'] = diff;
    expect(diff).toBeLessThanOrEqual(TOL);
    const health = await request(`${containerUrl}/health`);
    expect(health.status).toBe(200);
  });

  it('runs hardened: non-root, read-only root, no capabilities, 127.0.0.1 only', async () => {
    const info = await client.docker.getContainer(containerId).inspect();
    expect(info.Config.User).toBe('10001:10001');
    expect(info.HostConfig.ReadonlyRootfs).toBe(true);
    expect(info.HostConfig.CapDrop).toEqual(['ALL']);
    expect(info.HostConfig.SecurityOpt).toEqual(['no-new-privileges']);
    const bindings = Object.values(info.HostConfig.PortBindings ?? {}).flat() as { HostIp: string }[];
    expect(bindings.map((b) => b.HostIp)).toEqual(['127.0.0.1']);
    expect(info.Config.Labels?.[LABEL]).toBe(RUN);
  });

  it('safetensors requests and answers pass through the docker target (stable endpoint → container) unchanged', async () => {
    const ST = 'application/vnd.safetensors';
    const proxy = new StableEndpoint({ name: 'compat-dcgan', port: 0 });
    await proxy.listen();
    // Never disposed: dispose() would remove the container the later tests use.
    await proxy.switchBackend(
      new ContainerBackend({ name: 'compat-dcgan', version: 'v1', type: 'dcgan', client, containerId, containerName: `fw-test-dcgan-${process.pid}`, image: TAG, imageId: '', hostPort: Number(new URL(containerUrl).port), requestTimeoutMs: 60_000 }),
    );
    const send = async (base: string, body: Buffer | string, headers: Record<string, string>): Promise<{ status: number; type: string; bytes: Buffer }> => {
      const res = await fetch(`${base}/predict`, { method: 'POST', headers, body });
      return { status: res.status, type: res.headers.get('content-type') ?? '', bytes: Buffer.from(await res.arrayBuffer()) };
    };
    const images = (a: { status: number; type: string; bytes: Buffer }): { data: Float32Array; shape: readonly number[]; meta: Record<string, string> } => {
      expect(a.status, a.bytes.toString('utf8').slice(0, 300)).toBe(200);
      expect(a.type).toBe(ST);
      const file = decodeSafetensors(a.bytes);
      const t = file.tensors.get('images')!;
      expect(t.dtype).toBe('F32');
      return { data: new Float32Array(Uint8Array.from(t.bytes).buffer), shape: t.shape, meta: { ...file.metadata } };
    };
    try {
      const z = Float32Array.from({ length: 2 * latentDim }, (_, i) => Math.cos(i));
      const body = encodeSafetensorsBuffer([{ name: 'z', dtype: 'F32', shape: [2, latentDim], data: z }], { output_format: 'safetensors' });
      const viaTarget = images(await send(proxy.url, body, { 'content-type': ST }));
      const direct = images(await send(containerUrl, body, { 'content-type': ST }));
      const embedded = images(await send(endpoint!.url, body, { 'content-type': ST }));
      expect(viaTarget.shape).toEqual([2, 3, 64, 64]);
      // The same container computed both: the bytes agree exactly; TorchScript vs ONNX within TOL.
      expect(Buffer.from(viaTarget.data.buffer).equals(Buffer.from(direct.data.buffer))).toBe(true);
      expect(viaTarget.meta).toMatchObject({ model: 'compat-dcgan', version: 'v1' });
      expect(embedded.data.reduce((m, v, i) => Math.max(m, Math.abs(v - viaTarget.data[i]!)), 0)).toBeLessThanOrEqual(TOL);
      // A JSON body with Accept: the header reaches the container, which answers safetensors.
      const byAccept = images(await send(proxy.url, JSON.stringify({ batch_size: 2, seed: 3 }), { 'content-type': 'application/json', accept: ST }));
      expect(byAccept.meta['seed']).toBe('3');
      // A malformed body: the container's 400 comes back through the endpoint; not an error.
      const bad = await send(proxy.url, Buffer.concat([body, Buffer.from([0])]), { 'content-type': ST });
      expect(bad.status).toBe(400);
      expect(JSON.parse(bad.bytes.toString('utf8'))).toMatchObject({ error: "invalid safetensors body: the body has 1 bytes after the last tensor's data" });
      expect((await send(proxy.url, body, { 'content-type': ST })).status).toBe(200);
      expect(proxy.snapshot()).toMatchObject({ requests: 4, client_errors: 1, error_rate: 0 });
    } finally {
      await proxy.close();
    }
  }, 120_000);

  it('a weights-only change rebuilds only the last layer', async () => {
    fs.writeFileSync(path.join(genDir, 'model', 'deployment.json'), JSON.stringify({ name: 'compat-dcgan', version: 'v1', type: 'dcgan', runtime: 'torch', rebuilt: Date.now() }));
    const t0 = Date.now();
    let steps = '';
    await client.buildImage(genDir, {
      tag: `${TAG}-b`,
      buildArgs: { BASE_IMAGE: baseTag, INSTALL_DEPS: '0' },
      labels: LABELS,
      onProgress: (e) => {
        if (e.stream) steps += e.stream;
      },
    });
    timings['weights_only_rebuild_s'] = secs(t0);
    // Every step before the model COPY comes from the cache.
    const executed = steps.split(/\nStep /).filter((s) => !/Using cache/.test(s) && /^\d+\/\d+ : (COPY|RUN)/.test(s));
    expect(executed.map((s) => s.split('\n')[0])).toEqual([expect.stringMatching(/COPY model\//)]);
  }, 600_000);

  it('a missing base image is a clear build error and leaves nothing running', async () => {
    await expect(
      client.buildImage(genDir, { tag: `${TAG}-bad`, buildArgs: { BASE_IMAGE: 'frameworm-test/no-such-base:0', INSTALL_DEPS: '0' }, labels: LABELS }),
    ).rejects.toMatchObject({ code: 'E_RUNTIME', message: expect.stringMatching(/docker build of .*-bad failed: base image 'frameworm-test\/no-such-base:0' is not available locally/) });
    expect(await client.imageId(`${TAG}-bad`)).toBeNull();
    const running = await client.docker.listContainers({ filters: { label: [`${LABEL}=${RUN}`] } });
    expect(running.map((c) => c.Id)).toEqual([containerId]);
  }, 180_000);

  it('a build can be cancelled', async () => {
    const ac = new AbortController();
    const p = client.buildImage(genDir, { tag: `${TAG}-cancel`, buildArgs: { BASE_IMAGE: baseTag, INSTALL_DEPS: '0' }, labels: LABELS, signal: ac.signal, onProgress: () => ac.abort() });
    await expect(p).rejects.toThrow(/cancelled/);
  }, 180_000);

  it('stopAndRemove removes the container', async () => {
    await client.stopAndRemove(containerId, 2);
    expect(await client.inspectState(containerId)).toBeNull();
  }, 60_000);
});
