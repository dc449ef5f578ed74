/**
 * Runs the real CLI (bin/frameworm.js → dist/) against a temporary workspace, the way a user
 * does, and stops the workspace's agent afterwards.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const harnessDir = path.dirname(fileURLToPath(import.meta.url));
// test/integration/cli, or dist/test/integration/cli when a benchmark runs the compiled harness.
export const repoRoot = path.resolve(harnessDir, harnessDir.split(path.sep).includes('dist') ? '../../../..' : '../../..');
const cliPath = path.join(repoRoot, 'bin/frameworm.js');

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `frameworm ARGS --workspace WS` and collects its output and exit code. With `nofile`, the
 * CLI (and an agent it starts, which inherits it) runs under that open-files limit.
 */
export function runCli(workspace: string, args: readonly string[], env: NodeJS.ProcessEnv = {}, options: { nofile?: number } = {}): Promise<CliResult> {
  const argv = [cliPath, ...args, '--workspace', workspace];
  const [command, commandArgs] = options.nofile === undefined
    ? [process.execPath, argv]
    : ['/bin/sh', ['-c', `ulimit -n ${options.nofile} && exec "$0" "$@"`, process.execPath, ...argv]];
  return new Promise((resolve, reject) => {
    const child = spawn(command, commandArgs, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Runs a command expected to succeed with --json and parses its document. */
export async function cliJson<T>(workspace: string, args: readonly string[]): Promise<T> {
  const r = await runCli(workspace, [...args, '--json']);
  if (r.code !== 0) throw new Error(`frameworm ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** A fresh workspace whose deployments use a port range of their own (parallel test files). */
export function makeWorkspace(portRangeStart: number, extraConfig = ''): string {
  const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-cli-'));
  fs.mkdirSync(path.join(ws, 'configs'), { recursive: true });
  fs.writeFileSync(path.join(ws, 'configs/deploy_config.yaml'), `deploy:\n  port_range_start: ${portRangeStart}\n${extraConfig}`);
  return ws;
}

/** Stops the workspace's agent (if any) and removes the folder. */
export async function disposeWorkspace(ws: string): Promise<void> {
  await runCli(ws, ['agent', 'stop']);
  fs.rmSync(ws, { recursive: true, force: true });
}

/** Events the control plane writes on its own clock (watcher checks, drift windows): not changes. */
const MONITORING_EVENTS = new Set(['check', 'drift_check']);

function withoutMonitoring(jsonl: string): string {
  return jsonl
    .split('\n')
    .filter((line) => {
      const m = /"event":"([a-z_]+)"/.exec(line);
      return !(m?.[1] && MONITORING_EVENTS.has(m[1]));
    })
    .join('\n');
}

/** Everything that must not change when a command fails: registry rows and event logs. */
export async function snapshotState(ws: string): Promise<string> {
  const list = await runCli(ws, ['deploy', 'list', '--json']);
  const logsDir = path.join(ws, 'experiments/deploy_logs');
  const logs = fs.existsSync(logsDir)
    ? fs
        .readdirSync(logsDir)
        .sort()
        .map((f) => `${f}:${withoutMonitoring(fs.readFileSync(path.join(logsDir, f), 'utf8'))}`)
    : [];
  const statuses: string[] = [];
  for (const d of JSON.parse(list.stdout || '[]') as { name: string }[]) {
    const s = JSON.parse((await runCli(ws, ['deploy', 'status', '--name', d.name, '--json'])).stdout) as { versions: unknown; production: unknown };
    statuses.push(JSON.stringify({ versions: s.versions, production: s.production }));
  }
  return JSON.stringify({ list: list.stdout, logs, statuses });
}

export async function postJson(url: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}
