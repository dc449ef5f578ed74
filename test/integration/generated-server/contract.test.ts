/**
 * The generated Python server answers exactly like the embedded runtime (DESIGN §5), run as a
 * plain uvicorn process.
 *
 * Each test/fixtures/compat checkpoint is exported once, a server is generated for it and run with
 * Debian's python3 (FastAPI + uvicorn, TorchScript runtime: there is no onnxruntime for Python
 * here), and the contract cases of ./contract-cases.ts compare it with a TypeScript
 * StableEndpoint + EmbeddedBackend (onnxruntime-node) serving the same export. The same cases
 * run against the generated Docker image in ../docker/container-contract.test.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { findPython } from '../../../main/export/python-finder.js';
import { brokenCopy, CONTRACT_ARCHS, ContractHarness, describeContract, modelName, prepareModels, SERVER_ENV, waitReady } from './contract-cases.js';
import { freePort } from '../serving/http-client.js';

const PYTHON = '/usr/bin/python3';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-genserver-'));
const children: ChildProcess[] = [];
const logs = new Map<string, string>();
const harness = new ContractHarness();

/**
 * Node's global agent keeps sockets alive for 5 s and so does uvicorn by default: a request could
 * land on a socket the server is just closing ("socket hang up"), so the server keeps them 75 s.
 */
async function startPython(dir: string, name: string): Promise<string> {
  const port = await freePort();
  const child = spawn(PYTHON, ['-m', 'uvicorn', 'server:app', '--host', '127.0.0.1', '--port', String(port), '--log-level', 'warning', '--timeout-keep-alive', '75'], {
    cwd: dir,
    env: { ...process.env, ...SERVER_ENV },
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

beforeAll(async () => {
  const probe = await new Promise<string>((resolve) => {
    const c = spawn(PYTHON, ['-c', 'import fastapi, uvicorn, torch, numpy'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('close', (code) => resolve(code === 0 ? '' : err));
    c.on('error', (e) => resolve(e.message));
  });
  if (probe) throw new Error(`${PYTHON} cannot import fastapi, uvicorn, torch, numpy (apt-get install python3-fastapi python3-uvicorn python3-torch): ${probe}`);
  const models = await prepareModels(path.join(work, 'ws'), await findPython(null));
  // Every embedded endpoint (bound to port 0) first, then the Python servers: a port freePort()
  // chose stays unbound until uvicorn has started, and an endpoint binding port 0 meanwhile could
  // be handed that same port (seen: a cfg_ddpm request answered by the embedded DCGAN).
  const dcgan = models.get('dcgan')!;
  const embedded = new Map<string, string>();
  for (const m of models.values()) embedded.set(m.arch, await harness.startEmbedded(m.name, m));
  // A version whose artifact is corrupt: never ready on either side.
  const brokenEmbedded = await harness.startEmbedded(dcgan.name, null);
  for (const m of models.values()) harness.pairs.set(m.arch, { embedded: embedded.get(m.arch)!, target: await startPython(m.server.dir, m.name) });
  const broken = brokenCopy(dcgan.server, path.join(work, 'broken'));
  harness.pairs.set('broken', { embedded: brokenEmbedded, target: await startPython(broken, 'broken') });
  await Promise.all(CONTRACT_ARCHS.map((arch) => waitReady(harness.pair(arch).target, 200, arch, () => logs.get(models.get(arch)!.name) ?? '', 150_000)));
}, 600_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await harness.close();
  fs.rmSync(work, { recursive: true, force: true });
  for (const [name, log] of logs) if (name !== 'broken' && /Traceback|Error/.test(log)) console.log(`--- ${name} server log ---\n${log}`);
  console.log(`max |TS − Python| per architecture: ${JSON.stringify(harness.maxDiffs)}`);
});

describeContract('generated Python server ≡ embedded TypeScript endpoint', harness, { target: 'uvicorn', log: (t) => logs.get(t === 'broken' ? t : modelName(t)) ?? '' });
