/**
 * Issue 8 regressions through the real CLI (inspection and export slice): a deflate bomb is
 * refused by `deploy inspect` and `deploy start` (defect 6); checkpoints saved with pickle
 * protocols 2–5 inspect and deploy (defect 12); a safetensors file and an unknown file get
 * clear messages that echo none of their bytes; an explicit Python that does not work fails
 * naming itself; and a SIGKILLed agent does not leave its exporter running.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTensorData } from '../../../main/inspect/tensor-data.js';
import { readTorchCheckpoint } from '../../../main/inspect/torch-checkpoint.js';
import { compatPath } from '../../fixtures/inspect/compat.js';
import { bombCheckpoint } from '../../fixtures/inspect/deflate-bomb.js';
import type { FixtureTensor } from '../../fixtures/inspect/torch-fixture.js';
import { findPython, runPython } from '../../unit/sampling/python.js';
import { cliJson, disposeWorkspace, makeWorkspace, runCli } from './cli-harness.js';

const PORT_BASE = 47310;
const workspaces: string[] = [];

function workspace(offset: number, extraConfig = ''): string {
  const ws = makeWorkspace(PORT_BASE + offset, extraConfig);
  workspaces.push(ws);
  return ws;
}

function input(ws: string, name: string, data: Buffer | string): string {
  const p = path.join(ws, 'inputs', name);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, data);
  return p;
}

afterAll(async () => {
  for (const ws of workspaces) await disposeWorkspace(ws);
});

/** The compat DCGAN's model tensors, to be re-packed around a bomb. */
function dcganTensors(): FixtureTensor[] {
  const buf = fs.readFileSync(compatPath('dcgan', 'best.pt'));
  return readTorchCheckpoint(buf, 'best.pt').tensors.map((t) => {
    const data = readTensorData(buf, t, { copy: true });
    if (!(data instanceof Float32Array || data instanceof BigInt64Array)) throw new Error(`unexpected dtype ${t.dtype}`);
    return { name: t.name, shape: t.shape, data };
  });
}

describe('a deflate bomb in optimizer state (defect 6)', () => {
  let ws: string;
  let bomb: string;
  beforeAll(() => {
    ws = workspace(0);
    bomb = input(ws, 'bomb.pt', bombCheckpoint(dcganTensors()));
  });

  it('is refused by deploy inspect, naming the bomb', async () => {
    expect(fs.statSync(bomb).size).toBeLessThan(5 * 1024 * 1024); // 2 GiB once inflated
    const r = await runCli(ws, ['deploy', 'inspect', '--model', bomb]);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/storage data\/\d+ is a deflate bomb \(\d+ compressed bytes declare 2147483648, the pickle declares 2147483648\); nothing was inflated/);
  });

  it('is refused by deploy start before anything is exported or registered', async () => {
    const r = await runCli(ws, ['deploy', 'start', '--model', bomb, '--name', 'bomb']);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/deflate bomb.*nothing was inflated/);
    expect(await cliJson<unknown[]>(ws, ['deploy', 'list'])).toEqual([]);
    expect(fs.existsSync(path.join(ws, 'experiments/deploy_exports/bomb'))).toBe(false);
  });
});

describe('checkpoints saved with pickle protocols 2 to 5 (defect 12)', () => {
  const python = findPython(['torch']);
  let ws: string;
  beforeAll(() => {
    ws = workspace(10);
    fs.mkdirSync(path.join(ws, 'inputs'), { recursive: true });
    if (python) {
      runPython(python, [
        'import sys, torch',
        'ckpt = torch.load(sys.argv[1], map_location="cpu")  # trusted compat data',
        'for p in (2, 3, 4, 5):',
        '    torch.save(ckpt, f"{sys.argv[2]}/p{p}.pt", pickle_protocol=p)',
      ].join('\n'), [compatPath('dcgan', 'best.pt'), path.join(ws, 'inputs')]);
    }
  });

  it('has a Python with torch to write them', () => {
    expect(python, 'needs /usr/bin/python3 with torch (apt-get install python3-torch)').not.toBeNull();
  });

  for (const p of [2, 3, 4, 5]) {
    it(`protocol ${p}: inspects as the DCGAN it is and deploys`, async () => {
      const model = path.join(ws, 'inputs', `p${p}.pt`);
      const report = await cliJson<{ type: string; checkpoint_format: string; n_tensors: number; metadata: { epoch?: number } }>(ws, ['deploy', 'inspect', '--model', model]);
      expect(report).toMatchObject({ type: 'dcgan', checkpoint_format: 'trainer', n_tensors: 45 });
      const started = await cliJson<{ version: string; type: string; stage: string }>(ws, ['deploy', 'start', '--model', model, '--name', `proto${p}`]);
      expect(started).toMatchObject({ version: 'v1', type: 'dcgan', stage: 'production' });
    }, 300_000);
  }
});

describe('files that are not checkpoints', () => {
  let ws: string;
  beforeAll(() => {
    ws = workspace(20);
  });

  it('a safetensors file is named as one, with how to export it from PyTorch', async () => {
    const header = Buffer.from(JSON.stringify({ 'net.weight': { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    const model = input(ws, 'model.safetensors', Buffer.concat([len, header, Buffer.alloc(8)]));
    for (const cmd of [['deploy', 'inspect', '--model', model], ['deploy', 'start', '--model', model, '--name', 'st']]) {
      const r = await runCli(ws, cmd);
      expect(r.code, r.stderr).toBe(4);
      expect(r.stderr).toMatch(/model\.safetensors is a safetensors file.*torch\.save\(model\.state_dict\(\), 'best\.pt'\).*torch\.onnx\.export/);
    }
  });

  it('an unknown file: the message echoes none of its bytes', async () => {
    const model = input(ws, 'notes.pt', '\x1b]0;pwned\x07SECRET-TOKEN-0123456789 and more text');
    const r = await runCli(ws, ['deploy', 'inspect', '--model', model]);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/notes\.pt is neither a PyTorch checkpoint/);
    expect(r.stderr).not.toMatch(/SECRET|pwned|53 45 43|1b 5d/);
    expect(r.stderr).not.toContain('\x1b');
  });
});

describe('an explicit Python that cannot run the exporter', () => {
  it('deploy.python_path fails naming the path, with no fallback to another Python', async () => {
    const ws = workspace(30, '  python_path: /nonexistent/venv/bin/python3\n');
    const r = await runCli(ws, ['deploy', 'start', '--model', compatPath('dcgan', 'best.pt'), '--name', 'gan']);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/deploy\.python_path is \/nonexistent\/venv\/bin\/python3, which cannot run the exporter \(not found\)/);
    expect(await cliJson<unknown[]>(ws, ['deploy', 'list'])).toEqual([]);
  });

  it('$FRAMEWORM_PYTHON fails naming itself, with no fallback either', async () => {
    const ws = workspace(40);
    const notPython = input(ws, 'python3', '#!/bin/sh\necho "this is not python" >&2\nexit 1\n');
    fs.chmodSync(notPython, 0o755);
    const r = await runCli(ws, ['deploy', 'start', '--model', compatPath('dcgan', 'best.pt'), '--name', 'gan'], { FRAMEWORM_PYTHON: notPython });
    expect(r.code, r.stderr).toBe(8);
    expect(r.stderr).toContain(`$FRAMEWORM_PYTHON is ${notPython}, which cannot run the exporter (this is not python)`);
  });
});

/** Processes whose command line holds every one of `parts`, with their parent pid. */
function processesWith(parts: readonly string[]): { pid: number; ppid: number }[] {
  const found: { pid: number; ppid: number }[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (!parts.every((p) => argv.some((a) => a.includes(p)))) continue;
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z') continue; // exited, waiting to be reaped
      found.push({ pid: Number(entry), ppid: Number(fields[1]) });
    } catch {
      // the process ended while being read
    }
  }
  return found;
}

async function until<T>(what: string, probe: () => T | null, boundMs: number): Promise<T> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    const value = probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('the exporter after its agent is killed', () => {
  it('exits when the agent dies by SIGKILL instead of running on orphaned', async () => {
    const ws = workspace(50);
    const exportsDir = path.join(ws, 'experiments', 'deploy_exports');
    const deploying = runCli(ws, ['deploy', 'start', '--model', compatPath('vqvae2', 'best.pt'), '--name', 'orphan']);
    const exporter = await until('the exporter to start', () => processesWith(['frameworm.export', exportsDir])[0] ?? null, 120_000);
    process.kill(exporter.ppid, 'SIGKILL'); // the agent: the exporter's parent
    // A generous bound; the check is that it ends at all, not how fast.
    await until('the exporter to exit', () => (processesWith(['frameworm.export', exportsDir]).length === 0 ? true : null), 60_000);
    const r = await deploying;
    expect(r.code).not.toBe(0);
    const leftovers = fs.existsSync(path.join(exportsDir, 'orphan', 'v1')) ? fs.readdirSync(path.join(exportsDir, 'orphan', 'v1')) : [];
    // The exporter removed its partial artifacts before exiting.
    expect(leftovers.filter((f) => !f.startsWith('.'))).toEqual([]);
  }, 240_000);
});
