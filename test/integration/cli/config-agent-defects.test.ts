/**
 * Issue 8 through the real CLI: config keys that were never reported (defect 11), config values
 * that were accepted or crashed (defect 13), the bounds and exit codes of the weak spots, an
 * `agent start` that said all was well while a production deployment was down, an `agent
 * status` that said "no agent" while one ran without answering (defect 9), and files others
 * could read.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { AgentInfo, DeployStartResult } from '../../../preload/contract.js';
import { buildMlp } from '../../../scripts/lib/onnx-builder.js';
import { cliJson, disposeWorkspace, makeWorkspace, runCli } from './cli-harness.js';

const PORT_BASE = 37300;
const CONFIG = 'configs/deploy_config.yaml';
const TYPO_WARNING = `frameworm: warning: ${CONFIG}: unknown key deploy.latency_threshhold_ms (did you mean latency_threshold_ms?)`;
const NESTED_WARNING = `frameworm: warning: ${CONFIG}: unknown key deploy.probe.intervl_s (did you mean interval_s?)`;

const workspaces: string[] = [];
/** A workspace with its own ports; removed (agent stopped) after the file. */
function workspace(offset: number, extraConfig = ''): string {
  const ws = makeWorkspace(PORT_BASE + offset, extraConfig);
  workspaces.push(ws);
  return ws;
}

afterAll(async () => {
  for (const ws of workspaces) await disposeWorkspace(ws);
});

function writeModel(ws: string, seed: number): string {
  const file = path.join(ws, `model-${seed}.onnx`);
  fs.writeFileSync(file, buildMlp([4, 8, 3], seed));
  return file;
}

/** Opens `count` TCP connections to 127.0.0.1:port that send nothing; resolves once all connected or closed. */
async function idleConnections(port: number, count: number): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  await Promise.all(
    Array.from({ length: count }, () => new Promise<void>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      sockets.push(s);
      s.once('connect', () => resolve());
      s.once('error', () => resolve());
      s.once('close', () => resolve());
    })),
  );
  return sockets;
}

/** The lines a command wrote on stderr, without blank ones. */
const lines = (stderr: string): string[] => stderr.split('\n').filter((l) => l.trim() !== '');

describe('unknown config keys are warned about on every command (defect 11)', () => {
  it('names the misspelled key and the closest known one, on stderr, for every command', async () => {
    const ws = workspace(0, '  latency_threshhold_ms: 5\n  probe:\n    intervl_s: 3\n');
    const model = writeModel(ws, 1);
    const commands: { args: string[]; code: number }[] = [
      { args: ['deploy', 'inspect', '--model', model], code: 0 }, // no agent involved
      { args: ['deploy', 'list'], code: 0 }, // starts the agent
      { args: ['deploy', 'status', '--name', 'nope'], code: 5 },
      { args: ['agent', 'status'], code: 0 },
      { args: ['deploy', 'list', '--json'], code: 0 },
    ];
    for (const { args, code } of commands) {
      const r = await runCli(ws, args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(code);
      const warnings = lines(r.stderr).filter((l) => l.startsWith('frameworm: warning:'));
      expect(warnings, args.join(' ')).toEqual([TYPO_WARNING, NESTED_WARNING]);
    }
    // --json keeps stdout a single JSON document: the warnings went to stderr only.
    const json = await runCli(ws, ['deploy', 'list', '--json']);
    expect(JSON.parse(json.stdout)).toEqual([]);
  });

  it('still warns when the config has an error too (the typo may be the reason)', async () => {
    const ws = workspace(20, '  rollback_check: 2\n  rollback_checks: 0\n');
    const r = await runCli(ws, ['deploy', 'list']);
    expect(r.code).toBe(3);
    expect(lines(r.stderr)).toEqual([
      `frameworm: warning: ${CONFIG}: unknown key deploy.rollback_check (did you mean rollback_checks?)`,
      `frameworm: error: ${CONFIG}: deploy.rollback_checks must be an integer from 1 to 1000 (got 0)`,
    ]);
  });
});

describe('config values are validated up front, exit 3 naming the file (defect 13 and bounds)', () => {
  /** `deploy list` on a workspace with this config text fails with exit 3 and this one line, starting nothing. */
  async function expectConfigError(offset: number, configText: string, pattern: RegExp): Promise<void> {
    const ws = workspace(offset);
    fs.writeFileSync(path.join(ws, CONFIG), configText);
    const r = await runCli(ws, ['deploy', 'list']);
    expect(r.code, r.stderr).toBe(3);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(lines(r.stderr)[0]).toMatch(pattern);
    expect(r.stdout).toBe('');
    expect(fs.existsSync(path.join(ws, '.frameworm/agent.json'))).toBe(false);
    expect(fs.existsSync(path.join(ws, 'experiments/model_registry/registry.db'))).toBe(false);
  }

  it('refuses a host that is neither an IP address nor a host name', async () => {
    await expectConfigError(
      40,
      'deploy:\n  host: "not a host;rm"\n',
      /^frameworm: error: configs\/deploy_config\.yaml: deploy\.host must be an IP address \(e\.g\. 127\.0\.0\.1, ::1\) or a host name of dot-separated labels of letters, digits and '-' \(got "not a host;rm"\)$/,
    );
  });

  it('refuses a billion-laughs YAML naming the file', async () => {
    const levels = ['a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
    for (let i = 1; i < 9; i++) levels.push(`a${i}: &a${i} [${new Array(9).fill(`*a${i - 1}`).join(', ')}]`);
    await expectConfigError(
      60,
      `${levels.join('\n')}\ndeploy:\n  quantize: *a8\n`,
      /^frameworm: error: configs\/deploy_config\.yaml: YAML aliases expand too far/,
    );
  });

  it('names the file and the line of a YAML syntax error or a dangling alias', async () => {
    await expectConfigError(80, 'deploy:\n  quantize: [true\n', /^frameworm: error: configs\/deploy_config\.yaml:\d+:\d+: YAML syntax error: /);
    await expectConfigError(100, 'deploy:\n  quantize: false\n  cooldown_s: *nope\n', /^frameworm: error: configs\/deploy_config\.yaml:3:15: YAML error: Unresolved alias/);
  });

  it('bounds inference_workers and the timers', async () => {
    await expectConfigError(120, 'deploy:\n  inference_workers: 100000\n', /deploy\.inference_workers must be an integer from 1 to 64, or null for min\(2, available cores\) \(got 100000\)$/);
    await expectConfigError(140, 'deploy:\n  request_timeout_ms: 3000000000\n', /deploy\.request_timeout_ms must be a number > 0 and at most 86400000 \(one day\) \(got 3000000000\)$/);
  });
});

describe('names are usage errors (exit 2), not bad input files (exit 4)', () => {
  it('refuses an invalid model name or version with exit 2', async () => {
    const ws = workspace(160);
    const model = writeModel(ws, 2);
    for (const args of [
      ['deploy', 'start', '--model', model, '--name', '../escape'],
      ['deploy', 'start', '--model', model, '--name', 'ok', '--version', 'a/b'],
      ['deploy', 'status', '--name', 'bad name'],
    ]) {
      const r = await runCli(ws, args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(lines(r.stderr)).toHaveLength(1);
      expect(r.stderr).toMatch(/^frameworm: error: invalid (model name|version) .*: use 1-64 characters/);
    }
  });
});

describe('the agent says what happened (defect 9 and weak spots)', () => {
  let blocker: net.Server | null = null;
  let stoppedPid: number | null = null;
  afterEach(async () => {
    if (stoppedPid !== null) process.kill(stoppedPid, 'SIGCONT');
    stoppedPid = null;
    if (blocker) await new Promise<void>((r) => blocker?.close(() => r()));
    blocker = null;
  });

  it('agent start exits non-zero naming the model and port when a production deployment cannot be restored', async () => {
    const ws = workspace(200);
    const doc = await cliJson<DeployStartResult>(ws, ['deploy', 'start', '--model', writeModel(ws, 3), '--name', 'blocked']);
    const port = Number(new URL(doc.endpoint ?? '').port);
    expect((await runCli(ws, ['agent', 'stop'])).code).toBe(0);

    // Another program (here a plain server; in the report another workspace's agent) takes the port.
    const server = net.createServer();
    blocker = server;
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));

    const r = await runCli(ws, ['agent', 'start']);
    expect(r.code, r.stderr).toBe(7);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`^frameworm: error: .*could not restore production deployment blocked v1 on port ${port} \\(port ${port} on 127\\.0\\.0\\.1 is already in use`));
    expect(r.stdout).toBe('');

    // The agent keeps running and says so; the failure stays visible until it is fixed.
    const status = await cliJson<AgentInfo & { running: boolean }>(ws, ['agent', 'status']);
    expect(status.running).toBe(true);
    expect(status.restore_failures).toEqual([expect.objectContaining({ name: 'blocked', version: 'v1', port, code: 'E_PORT_IN_USE' })]);

    // Once the port is free, a restart restores it and agent start succeeds.
    await new Promise<void>((resolve) => server.close(() => resolve()));
    blocker = null;
    expect((await runCli(ws, ['agent', 'stop'])).code).toBe(0);
    const again = await runCli(ws, ['agent', 'start', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect((JSON.parse(again.stdout) as AgentInfo).restore_failures).toEqual([]);
    expect((await fetch(`${doc.endpoint ?? ''}/ready`)).status).toBe(200);
  });

  it('agent status tells an agent that does not answer (exit 9, naming its pid) from no agent', async () => {
    const ws = workspace(240);
    const none = await runCli(ws, ['agent', 'status', '--json']);
    expect(none.code).toBe(0);
    expect(JSON.parse(none.stdout)).toEqual({ running: false });

    const started = await cliJson<AgentInfo>(ws, ['agent', 'start']);
    // A stopped process keeps its listening socket: the kernel accepts, nobody answers (as with
    // an agent out of file descriptors, which cannot accept at all).
    process.kill(started.pid, 'SIGSTOP');
    stoppedPid = started.pid;

    const r = await runCli(ws, ['agent', 'status']);
    expect(r.code, r.stderr).toBe(9);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`^frameworm: error: the agent \\(pid ${started.pid}\\) is running but not answering on 127\\.0\\.0\\.1:\\d+: `));
    expect(r.stdout).toBe('');
    // A deploy command neither hangs nor starts a second agent beside it.
    const list = await runCli(ws, ['deploy', 'list']);
    expect(list.code).toBe(9);
    expect(list.stderr).toMatch(new RegExp(`pid ${started.pid}\\) is running but not answering`));

    process.kill(started.pid, 'SIGCONT');
    stoppedPid = null;
    const back = await cliJson<AgentInfo & { running: boolean }>(ws, ['agent', 'status']);
    expect(back).toMatchObject({ running: true, pid: started.pid });
  });

  it('idle connections flooding the control RPC do not take the agent down or lock the CLI out', async () => {
    const ws = workspace(260);
    // 256 descriptors in all: without a cap on RPC connections, 600 idle ones exhaust them and
    // the agent cannot accept the CLI's connection any more (as with ~20,000 at the default limit).
    const started = await runCli(ws, ['agent', 'start', '--json'], {}, { nofile: 256 });
    expect(started.code, started.stderr).toBe(0);
    const { port } = JSON.parse(fs.readFileSync(path.join(ws, '.frameworm/agent.json'), 'utf8')) as { port: number };
    const flood = await idleConnections(port, 600);
    try {
      const status = await runCli(ws, ['agent', 'status', '--json']);
      expect(status.code, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout)).toMatchObject({ running: true, pid: (JSON.parse(started.stdout) as AgentInfo).pid });
      const list = await runCli(ws, ['deploy', 'list', '--json']);
      expect(list.code, list.stderr).toBe(0);
    } finally {
      for (const s of flood) s.destroy();
    }
  });

  it('keeps the workspace folders, the agent log and the agent files owner-only', async () => {
    const ws = workspace(280);
    // A control folder and log left world-readable by an earlier version are narrowed.
    fs.mkdirSync(path.join(ws, '.frameworm'), { mode: 0o755 });
    fs.chmodSync(path.join(ws, '.frameworm'), 0o755);
    fs.writeFileSync(path.join(ws, '.frameworm/agent.log'), 'old line\n', { mode: 0o644 });
    fs.chmodSync(path.join(ws, '.frameworm/agent.log'), 0o644);
    expect((await runCli(ws, ['agent', 'start'])).code).toBe(0);
    const modeOf = (rel: string): string => (fs.statSync(path.join(ws, rel)).mode & 0o777).toString(8);
    expect({
      '.frameworm': modeOf('.frameworm'),
      'agent.log': modeOf('.frameworm/agent.log'),
      'agent.json': modeOf('.frameworm/agent.json'),
      'agent.lock': modeOf('.frameworm/agent.lock'),
      experiments: modeOf('experiments'),
      model_registry: modeOf('experiments/model_registry'),
      deploy_logs: modeOf('experiments/deploy_logs'),
      deploy_exports: modeOf('experiments/deploy_exports'),
    }).toEqual({
      '.frameworm': '700',
      'agent.log': '600',
      'agent.json': '600',
      'agent.lock': '600',
      experiments: '700',
      model_registry: '700',
      deploy_logs: '700',
      deploy_exports: '700',
    });
    expect(fs.readFileSync(path.join(ws, '.frameworm/agent.log'), 'utf8')).toMatch(/^old line\n/);
  });
});
