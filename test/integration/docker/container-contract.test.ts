/**
 * The generated server image answers exactly like the embedded runtime (DESIGN §5): the contract
 * cases of ../generated-server/contract-cases.ts, run against containers instead of uvicorn
 * processes.
 *
 * Each test/fixtures/compat checkpoint is exported once, its server generated, and its image built
 * (INSTALL_DEPS=0) on the offline base image (frameworm/base-offline:<hash>, cached by content).
 * The images differ only in their last layers (server files are identical, model/ is not), so
 * they are built one after another: the first pays for the shared layers, the rest reuse them.
 * The six containers (plus one whose model is corrupt) start together, hardened, with a
 * daemon-picked port on a user-defined network, and are compared with the embedded runtime.
 *
 * Everything this run creates carries LABEL=RUN and is removed in afterAll; the cached base
 * images stay. Needs dockerd: scripts/setup.sh --test installs and starts it. This test fails
 * (never skips) without it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { ensureOfflineBaseImage } from '../../../main/docker/base-image.js';
import { DockerClient, dockerSocketPath } from '../../../main/docker/docker-client.js';
import { findPython } from '../../../main/export/python-finder.js';
import { brokenCopy, CONTRACT_ARCHS, ContractHarness, describeContract, modelName, prepareModels, SERVER_ENV, type ContractTarget } from '../generated-server/contract-cases.js';
import { request } from '../serving/http-client.js';

const LABEL = 'frameworm.test';
const RUN = `container-contract-${process.pid}`;
const LABELS = { [LABEL]: RUN };
const NETWORK = `fw-contract-net-${process.pid}`;
const READY_TIMEOUT_MS = 240_000;
const SETUP_HINT = 'Run scripts/setup.sh --test (installs docker.io + debootstrap and starts dockerd) before the Docker tests.';

// Image builds and container starts on a busy 2-core machine: generous limits for every hook and case.
vi.setConfig({ hookTimeout: 40 * 60_000, testTimeout: READY_TIMEOUT_MS + 60_000 });

const TARGETS: readonly ContractTarget[] = [...CONTRACT_ARCHS, 'broken'];
const imageTag = (t: ContractTarget): string => `frameworm-test/contract-${t.replace('_', '-')}:${process.pid}`;

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-container-contract-'));
const harness = new ContractHarness();
const containers = new Map<ContractTarget, string>();
const timings: Record<string, number | string> = {};
let client: DockerClient | null = null;

const secs = (t0: number): number => Math.round((Date.now() - t0) / 100) / 10;

async function containerLog(t: ContractTarget): Promise<string> {
  const id = containers.get(t);
  return client && id ? client.logs(id, 60) : '';
}

beforeAll(async () => {
  const socket = dockerSocketPath();
  if (!fs.existsSync(socket)) throw new Error(`${socket} is missing: dockerd is not running. ${SETUP_HINT}`);
  try {
    client = await DockerClient.connect(socket);
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)}. ${SETUP_HINT}`);
  }
  const docker = client;

  let t0 = Date.now();
  const base = await ensureOfflineBaseImage(docker);
  timings[base.built ? 'base_image_build_cold_s' : 'base_image_cached_s'] = secs(t0);

  t0 = Date.now();
  const models = await prepareModels(path.join(work, 'ws'), await findPython(null), { baseImage: base.tag, installDeps: false });
  timings['export_and_generate_s'] = secs(t0);
  const dcgan = models.get('dcgan')!;
  const contexts = new Map<ContractTarget, string>([...models.values()].map((m) => [m.arch, m.server.dir]));
  contexts.set('broken', brokenCopy(dcgan.server, path.join(work, 'broken')));

  // Sequential on purpose: the first build creates the layers every later build reuses.
  for (const t of TARGETS) {
    t0 = Date.now();
    const image = await docker.buildImage(contexts.get(t)!, { tag: imageTag(t), buildArgs: { BASE_IMAGE: base.tag, INSTALL_DEPS: '0' }, labels: LABELS });
    timings[`build_${t}_s`] = secs(t0);
    timings[`image_${t}_mb`] = Math.round(image.sizeBytes / 1e6);
  }

  await docker.ensureNetwork(NETWORK, LABELS);
  t0 = Date.now();
  const urls = new Map<ContractTarget, string>();
  await Promise.all(
    TARGETS.map(async (t) => {
      const id = await docker.runContainer({ image: imageTag(t), name: `fw-contract-${t.replace('_', '-')}-${process.pid}`, hostPort: 0, labels: LABELS, network: NETWORK, env: SERVER_ENV });
      containers.set(t, id);
      urls.set(t, `http://127.0.0.1:${await docker.publishedPort(id)}`);
    }),
  );
  timings['containers_created_s'] = secs(t0);
  // The embedded references load while the containers boot.
  for (const t of TARGETS) {
    const model = t === 'broken' ? null : models.get(t)!;
    harness.pairs.set(t, { embedded: await harness.startEmbedded(model?.name ?? dcgan.name, model), target: urls.get(t)! });
  }
  await Promise.all(
    CONTRACT_ARCHS.map(async (arch) => {
      await docker.waitHealthy(containers.get(arch)!, READY_TIMEOUT_MS);
      timings[`healthy_${arch}_s`] = secs(t0);
    }),
  );
  console.log(`container contract timings: ${JSON.stringify(timings)}`);
}, 20 * 60_000);

afterAll(async () => {
  await harness.close();
  if (client) {
    for (const t of TARGETS) {
      const log = await containerLog(t);
      if (t !== 'broken' && /Traceback|Error/.test(log)) console.log(`--- ${modelName(t)} container log ---\n${log}`);
    }
    timings['removed'] = JSON.stringify(await client.removeLabelled(LABEL, RUN));
  }
  fs.rmSync(work, { recursive: true, force: true });
  console.log(`container contract timings: ${JSON.stringify(timings)}`);
  console.log(`max |embedded − container| per architecture: ${JSON.stringify(harness.maxDiffs)}`);
}, 300_000);

describeContract('generated server container ≡ embedded TypeScript endpoint', harness, { target: 'container', log: containerLog, brokenListenTimeoutMs: READY_TIMEOUT_MS });

it('the containers run from this run\'s images, hardened, published on 127.0.0.1 only', async () => {
  for (const t of TARGETS) {
    const info = await client!.docker.getContainer(containers.get(t)!).inspect();
    expect(info.Config.Image, t).toBe(imageTag(t));
    expect(info.Config.Labels?.[LABEL], t).toBe(RUN);
    expect(info.HostConfig.ReadonlyRootfs, t).toBe(true);
    expect(info.HostConfig.CapDrop, t).toEqual(['ALL']);
    const bindings = Object.values(info.NetworkSettings.Ports ?? {}).flat() as { HostIp: string }[];
    expect(bindings.map((b) => b.HostIp), t).toEqual(['127.0.0.1']);
    expect((await request(`${harness.pair(t).target}/health`)).status, t).toBe(200);
  }
});
