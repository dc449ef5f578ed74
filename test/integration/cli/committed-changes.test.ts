/**
 * Issue 8, defects 1, 2 and 8 plus the dataset checksum, through the real CLI and agent:
 * the registry transaction is the truth. A JSONL log that cannot be written, an agent killed
 * right after a commit, or a registry file deleted under a running agent must never make the
 * product report the opposite of what happened, and must lose nothing.
 */
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeployStartResult, DeploymentStatus } from '../../../preload/contract.js';
import { buildMlp } from '../../../scripts/lib/onnx-builder.js';
import { compatPath } from '../../fixtures/inspect/compat.js';
import { cliJson, disposeWorkspace, makeWorkspace, postJson, runCli, type CliResult } from './cli-harness.js';

const PORT_BASE = 43100;
let ws: string;
let modelA: string;
let modelB: string;
let portOffset = 0;

const logFile = (name: string): string => path.join(ws, 'experiments/deploy_logs', `${name}.jsonl`);
const registryDb = (): string => path.join(ws, 'experiments/model_registry/registry.db');

interface EventRow {
  id: number;
  event: string;
  payload: string;
}

/** The events table, read with SQLite directly (not through our code). */
function eventRows(name: string): EventRow[] {
  const db = new Database(registryDb(), { readonly: true, fileMustExist: true });
  try {
    return db
      .prepare<[string], EventRow>('SELECT e.id, e.event, e.payload FROM events e JOIN models m ON m.id = e.model_id WHERE m.name = ? ORDER BY e.id')
      .all(name);
  } finally {
    db.close();
  }
}

function productionOf(name: string): string | null {
  const db = new Database(registryDb(), { readonly: true, fileMustExist: true });
  try {
    const row = db
      .prepare<[string], { version: string }>("SELECT v.version FROM versions v JOIN models m ON m.id = v.model_id WHERE m.name = ? AND v.stage = 'production'")
      .get(name);
    return row?.version ?? null;
  } finally {
    db.close();
  }
}

function logLines(name: string): Record<string, unknown>[] {
  return fs.readFileSync(logFile(name), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

function agentPid(): number {
  return (JSON.parse(fs.readFileSync(path.join(ws, '.frameworm/agent.json'), 'utf8')) as { pid: number }).pid;
}

function startCli(args: readonly string[]): Promise<CliResult> {
  return runCli(ws, args);
}

async function until<T>(what: string, probe: () => T | null | undefined | false, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function servedVersion(endpoint: string): Promise<string> {
  const r = await postJson(`${endpoint}/predict`, { inputs: { x: [[1, 2, 3, 4]] } });
  expect(r.status).toBe(200);
  return String(r.json['version']);
}

beforeEach(() => {
  ws = makeWorkspace(PORT_BASE + 40 * portOffset++);
  modelA = path.join(ws, 'a.onnx');
  modelB = path.join(ws, 'b.onnx');
  fs.writeFileSync(modelA, buildMlp([4, 8, 3], 1));
  fs.writeFileSync(modelB, buildMlp([4, 8, 3], 2));
});

afterEach(async () => {
  await disposeWorkspace(ws);
});

describe('a JSONL log that cannot be written (defect 1)', () => {
  it('reports committed deploys, rollbacks and stops as done, with a warning, and the log catches up once writable', async () => {
    await cliJson<DeployStartResult>(ws, ['deploy', 'start', '--model', modelA, '--name', 'm']);
    // A directory where the log file should be: every append fails with EISDIR.
    fs.rmSync(logFile('m'));
    fs.mkdirSync(logFile('m'));

    const v2 = await runCli(ws, ['deploy', 'start', '--model', modelB, '--name', 'm', '--json']);
    expect(v2.code).toBe(0);
    expect(v2.stderr).toMatch(/warning: could not write the event log .*m\.jsonl.*committed/);
    const doc = JSON.parse(v2.stdout) as DeployStartResult;
    expect(doc).toMatchObject({ version: 'v2', stage: 'production' });
    expect(await servedVersion(doc.endpoint ?? '')).toBe('v2');

    const rb = await runCli(ws, ['deploy', 'rollback', '--name', 'm', '--reason', 'test']);
    expect(rb.code).toBe(0);
    expect(rb.stderr).toMatch(/warning: could not write the event log/);
    expect(await servedVersion(doc.endpoint ?? '')).toBe('v1');
    // Exactly one rollback on record, and it succeeded.
    const rollbacks = eventRows('m').filter((e) => e.event === 'rollback');
    expect(rollbacks.map((e) => (JSON.parse(e.payload) as { success: boolean }).success)).toEqual([true]);

    const stop = await runCli(ws, ['deploy', 'stop', '--name', 'm']);
    expect(stop.code).toBe(0);
    expect(productionOf('m')).toBeNull();

    // Writable again: the next change appends every committed event it missed, once, in id order.
    fs.rmSync(logFile('m'), { recursive: true });
    const v3 = await runCli(ws, ['deploy', 'start', '--model', modelA, '--name', 'm', '--stage', 'staging']);
    expect(v3.code).toBe(0);
    expect(v3.stderr).not.toMatch(/warning/);
    const lines = logLines('m');
    const rows = eventRows('m');
    expect(lines.map((l) => l['id'])).toEqual(rows.map((r) => r.id));
    expect(lines.filter((l) => l['event'] === 'rollback')).toHaveLength(1);
    expect(lines.some((l) => l['event'] === 'event_log_error')).toBe(true);
  });
});

describe('an agent killed right after a commit (defect 2)', () => {
  /**
   * Puts a FIFO where the model's log is: the agent's append after the commit blocks opening it,
   * which holds the agent exactly between the registry commit and the JSONL write.
   */
  function blockLogWrites(name: string): void {
    fs.rmSync(logFile(name));
    execFileSync('mkfifo', [logFile(name)]);
  }

  it('keeps the rollback event and the CLI says the rollback committed', async () => {
    // The agent (started by the first command, with this environment) pauses once the rollback's
    // intent is logged and its target loaded; the log is then blocked so the agent stops right
    // after the commit, where it is killed.
    const pauseFile = path.join(ws, 'paused');
    const env = { FRAMEWORM_TEST_HOOKS: '1', FRAMEWORM_TEST_PAUSE: 'rollback:loaded', FRAMEWORM_TEST_PAUSE_FILE: pauseFile };
    expect((await runCli(ws, ['deploy', 'start', '--model', modelA, '--name', 'm'], env)).code).toBe(0);
    const v2 = JSON.parse((await runCli(ws, ['deploy', 'start', '--model', modelB, '--name', 'm', '--json'], env)).stdout) as DeployStartResult;
    const pid = agentPid();
    const cli = startCli(['deploy', 'rollback', '--name', 'm', '--reason', 'kill test', '--json']);
    await until('the rollback to pause before committing', () => fs.existsSync(pauseFile));
    expect(logLines('m').some((l) => l['event'] === 'rollback_started')).toBe(true);
    expect(logLines('m').some((l) => l['event'] === 'rollback')).toBe(false);
    blockLogWrites('m');
    fs.rmSync(pauseFile);
    await until('the rollback to commit', () => productionOf('m') === 'v1');
    fs.rmSync(logFile('m'));
    process.kill(pid, 'SIGKILL');
    const r = await cli;
    expect(r.stderr).toMatch(/after the change had committed/);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ name: 'm', from_version: 'v2', to_version: 'v1' });
    // The event committed with the change; the new agent wrote the log from the table.
    const rollbacks = eventRows('m').filter((e) => e.event === 'rollback');
    expect(rollbacks).toHaveLength(1);
    expect(JSON.parse(rollbacks[0]?.payload ?? '{}')).toMatchObject({ from_version: 'v2', to_version: 'v1', success: true });
    await until('the log to catch up', () => fs.existsSync(logFile('m')) && logLines('m').some((l) => l['event'] === 'rollback'));
    expect(logLines('m').map((l) => l['id'])).toEqual(eventRows('m').map((e) => e.id));
    expect(agentPid()).not.toBe(pid);
    expect(await servedVersion(v2.endpoint ?? '')).toBe('v1');
  });

  it('keeps the deploy event and the CLI says the deploy committed', async () => {
    const v1 = await cliJson<DeployStartResult>(ws, ['deploy', 'start', '--model', modelA, '--name', 'm']);
    const pid = agentPid();
    blockLogWrites('m');
    const cli = startCli(['deploy', 'start', '--model', modelB, '--name', 'm', '--json']);
    await until('the deploy to commit', () => productionOf('m') === 'v2');
    fs.rmSync(logFile('m'));
    process.kill(pid, 'SIGKILL');
    const r = await cli;
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/after the change had committed/);
    expect(JSON.parse(r.stdout)).toMatchObject({ name: 'm', version: 'v2', stage: 'production', endpoint: v1.endpoint });
    const deploys = eventRows('m').filter((e) => e.event === 'deploy').map((e) => JSON.parse(e.payload) as { version: string });
    expect(deploys.map((d) => d.version)).toEqual(['v1', 'v2']);
    expect(await servedVersion(v1.endpoint ?? '')).toBe('v2');
  });

  it('says nothing changed when the agent dies before the change commits', async () => {
    await cliJson(ws, ['deploy', 'start', '--model', modelA, '--name', 'm']);
    const pid = agentPid();
    // A checkpoint export takes seconds in Python: kill the agent while it runs.
    const cli = startCli(['deploy', 'start', '--model', compatPath('dcgan', 'best.pt'), '--name', 'm']);
    const exportDir = path.join(ws, 'experiments/deploy_exports/m/v2');
    await until('the export to start', () => fs.existsSync(exportDir));
    process.kill(pid, 'SIGKILL');
    const r = await cli;
    expect(r.code).toBe(9);
    expect(r.stderr).toMatch(/before the change committed: nothing changed/);
    expect(productionOf('m')).toBe('v1');
    // The next agent removes the half-made export of the deploy that never committed.
    await cliJson(ws, ['deploy', 'list']);
    expect(fs.existsSync(exportDir)).toBe(false);
    expect(fs.readdirSync(path.join(ws, 'experiments/deploy_exports/m'))).toEqual(['v1']);
  });
});

describe('a registry file deleted under a running agent (defect 8)', () => {
  it('refuses every write with a clear error, refuses to start empty, and `registry recover` rebuilds it', async () => {
    const v1 = await cliJson<DeployStartResult>(ws, ['deploy', 'start', '--model', modelA, '--name', 'm']);
    await cliJson(ws, ['deploy', 'start', '--model', modelB, '--name', 'm']);
    await cliJson(ws, ['deploy', 'rollback', '--name', 'm']);
    await cliJson(ws, ['deploy', 'start', '--model', modelA, '--name', 'other', '--stage', 'staging']);
    const before = await cliJson<DeploymentStatus>(ws, ['deploy', 'status', '--name', 'm']);
    for (const f of ['registry.db', 'registry.db-wal', 'registry.db-shm']) fs.rmSync(path.join(ws, 'experiments/model_registry', f), { force: true });

    const refused = await runCli(ws, ['deploy', 'start', '--model', modelB, '--name', 'm']);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toMatch(/registry database .*registry\.db was deleted while in use; nothing was changed.*registry recover/);
    const stop = await runCli(ws, ['deploy', 'stop', '--name', 'm']);
    expect(stop.code).toBe(4);
    expect(await servedVersion(v1.endpoint ?? '')).toBe('v1'); // still serving what it served

    await runCli(ws, ['agent', 'stop']);
    const empty = await runCli(ws, ['deploy', 'list']);
    expect(empty.code).not.toBe(0);
    expect(empty.stderr).toMatch(/registry database .* is missing.*frameworm registry recover/);

    const rec = await runCli(ws, ['registry', 'recover', '--json']);
    expect(rec.code).toBe(0);
    const recovered = JSON.parse(rec.stdout) as { models: { name: string; production: string | null; versions: number }[] };
    expect(recovered.models).toEqual([
      expect.objectContaining({ name: 'm', production: 'v1', versions: 2 }),
      expect.objectContaining({ name: 'other', production: null, versions: 1 }),
    ]);
    const after = await cliJson<DeploymentStatus>(ws, ['deploy', 'status', '--name', 'm']);
    const view = (s: DeploymentStatus): unknown => s.versions.map((v) => ({ version: v.version, stage: v.stage, type: v.type, sha: v.lineage['checkpoint_sha256'], hashes: v.lineage['artifact_hashes'] }));
    expect(view(after)).toEqual(view(before));
    expect(after.endpoint).toBe(v1.endpoint);
    expect(after.serving_version).toBe('v1');
    expect(await servedVersion(after.endpoint ?? '')).toBe('v1');
    // The rebuilt registry keeps working: a rollback target still exists.
    expect((await cliJson<{ to_version: string }>(ws, ['deploy', 'rollback', '--name', 'm'])).to_version).toBe('v2');
  });

  it('refuses to recover while an agent runs', async () => {
    await cliJson(ws, ['deploy', 'start', '--model', modelA, '--name', 'm']);
    const r = await runCli(ws, ['registry', 'recover']);
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/stop it first \(frameworm agent stop\)/);
  });
});

describe('dataset checksum in the lineage', () => {
  /** The checksum's definition, written independently of the product's code. */
  function referenceFolderSha(root: string): string {
    const files: string[] = [];
    const walk = (rel: string): void => {
      for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
        const r = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) walk(r);
        else files.push(r);
      }
    };
    walk('');
    files.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    const h = createHash('sha256');
    for (const f of files) {
      const data = fs.readFileSync(path.join(root, f));
      h.update(`${f}\0${data.length}\0`);
      h.update(data);
    }
    return h.digest('hex');
  }

  it('hashes a folder or a file, takes a given checksum, shows it in status and refuses bad ones', async () => {
    const data = path.join(ws, 'data');
    fs.mkdirSync(path.join(data, 'b'), { recursive: true });
    fs.writeFileSync(path.join(data, 'a.csv'), 'x,y\n1,2\n');
    fs.writeFileSync(path.join(data, 'b', 'c.bin'), Buffer.alloc(3 << 20, 7));
    await cliJson(ws, ['deploy', 'start', '--model', modelA, '--name', 'm', '--dataset', data]);
    const one = path.join(data, 'a.csv');
    await cliJson(ws, ['deploy', 'start', '--model', modelB, '--name', 'm', '--dataset', one]);
    const given = 'ab'.repeat(32);
    await cliJson(ws, ['deploy', 'start', '--model', modelA, '--name', 'm', '--dataset-checksum', `sha256:${given.toUpperCase()}`]);
    const status = await cliJson<DeploymentStatus>(ws, ['deploy', 'status', '--name', 'm']);
    const sums = status.versions.map((v) => v.lineage['dataset_checksum']);
    const sha256sum = execFileSync('sha256sum', [one], { encoding: 'utf8' }).split(' ')[0];
    expect(sums).toEqual([referenceFolderSha(data), sha256sum, given]);
    const human = await runCli(ws, ['deploy', 'status', '--name', 'm']);
    expect(human.stdout).toContain(given.slice(0, 12));
    const deployEvents = eventRows('m').filter((e) => e.event === 'deploy').map((e) => (JSON.parse(e.payload) as { dataset_checksum: string }).dataset_checksum);
    expect(deployEvents).toEqual(sums);

    const bad = await runCli(ws, ['deploy', 'start', '--model', modelA, '--name', 'm', '--dataset-checksum', 'abc']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--dataset-checksum must be a sha256/);
    const both = await runCli(ws, ['deploy', 'start', '--model', modelA, '--name', 'm', '--dataset', one, '--dataset-checksum', given]);
    expect(both.code).toBe(2);
    const missing = await runCli(ws, ['deploy', 'start', '--model', modelA, '--name', 'm', '--dataset', path.join(ws, 'nope')]);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toMatch(/dataset .*nope does not exist/);
    expect((await cliJson<DeploymentStatus>(ws, ['deploy', 'status', '--name', 'm'])).versions).toHaveLength(3);
  });
});

describe('private files', () => {
  it('creates the registry, its folder and the event logs readable by their owner only', async () => {
    await cliJson(ws, ['deploy', 'start', '--model', modelA, '--name', 'm']);
    const mode = (p: string): number => fs.statSync(p).mode & 0o777;
    expect(mode(registryDb())).toBe(0o600);
    expect(mode(path.dirname(registryDb()))).toBe(0o700);
    expect(mode(logFile('m'))).toBe(0o600);
    expect(mode(path.dirname(logFile('m')))).toBe(0o700);
  });
});
