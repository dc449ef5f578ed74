import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AgentInfo, RestoreFailure } from '../../preload/contract.js';
import { FramewormError } from '../common/errors.js';
import { loadDeployConfig } from '../config/deploy-config.js';
import { makePrivateDir, openPrivateFile } from '../workspace/private-files.js';
import { agentLogPath, controlDirOf, looksLikeAgent, processAlive, readAgentRecord, type AgentRecord } from './agent-files.js';
import { RpcClient } from './rpc-client.js';

const START_TIMEOUT_MS = 30_000;
/**
 * How long agent.info may stay silent before the agent counts as not answering. It answers
 * from memory at once; only a stopped, starved or descriptor-exhausted agent takes this long.
 */
const PROBE_TIMEOUT_MS = 5_000;

/** A running agent that answered: a client for it, its record and its agent.info. */
export interface FoundAgent {
  readonly client: RpcClient;
  readonly record: AgentRecord;
  readonly info: AgentInfo;
}

/**
 * What is known about the workspace's agent: running (answered agent.info), not running (no
 * record, or its process is gone or is not an agent), or not answering (its process is alive,
 * but the RPC is refused, reset or silent).
 */
export type AgentProbe =
  | ({ readonly state: 'running' } & FoundAgent)
  | { readonly state: 'not_running' }
  | { readonly state: 'not_answering'; readonly record: AgentRecord; readonly reason: string };

/** Asks the workspace's agent for agent.info and says which of the three states it is in. */
export async function probeAgent(workspaceRoot: string): Promise<AgentProbe> {
  const record = readAgentRecord(controlDirOf(workspaceRoot));
  // A record left by a killed agent whose pid now belongs to another program is no agent.
  if (!record || !looksLikeAgent(record.pid, record.entry)) return { state: 'not_running' };
  const probe = new RpcClient(record.port, record.token, { silenceTimeoutMs: PROBE_TIMEOUT_MS });
  try {
    const info = await probe.invoke('agent.info', {});
    return { state: 'running', client: new RpcClient(record.port, record.token), record, info };
  } catch (err) {
    // It may have exited while we asked (agent stop racing us): that is "not running".
    if (!processAlive(record.pid)) return { state: 'not_running' };
    return { state: 'not_answering', record, reason: err instanceof Error ? err.message : String(err) };
  }
}

/** A client for the workspace's running agent, or null when none answers. */
export async function findAgent(workspaceRoot: string): Promise<FoundAgent | null> {
  const probe = await probeAgent(workspaceRoot);
  return probe.state === 'running' ? probe : null;
}

/** The error for an agent whose process runs but whose RPC does not answer (exit 9). */
export function notAnsweringError(probe: { readonly record: AgentRecord; readonly reason: string }): FramewormError {
  const { pid, port } = probe.record;
  return new FramewormError(
    'E_AGENT',
    `the agent (pid ${pid}) is running but not answering on 127.0.0.1:${port}: ${probe.reason}; it may be stopped, overloaded or out of file descriptors (frameworm agent stop ends it)`,
    { pid, port },
  );
}

/**
 * The error for production deployments the agent could not restore when it started: E_PORT_IN_USE
 * (exit 7) when every failure is a taken port, E_AGENT (exit 9) otherwise. Null when none failed.
 */
export function restoreFailureError(info: AgentInfo): FramewormError | null {
  const failures: readonly RestoreFailure[] = info.restore_failures ?? [];
  const [first] = failures;
  if (!first) return null;
  const describe = (f: RestoreFailure): string =>
    `${f.name} ${f.version}${f.port === null ? '' : ` on port ${f.port}`} (${f.message})`;
  const code = failures.every((f) => f.code === 'E_PORT_IN_USE') ? 'E_PORT_IN_USE' : 'E_AGENT';
  return new FramewormError(
    code,
    `the agent (pid ${info.pid}) runs, but could not restore production deployment ${failures.map(describe).join('; ')}; ` +
      'fix that, then restart the agent (frameworm agent stop, then frameworm agent start)',
    { restore_failures: failures },
  );
}

function agentEntry(): { file: string; execArgv: string[] } {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const js = path.join(here, 'agent-main.js');
  if (fs.existsSync(js)) return { file: js, execArgv: [] };
  // Running from TypeScript sources (development, tests that host in-process): let tsx load the
  // entry. Resolved here, since the agent runs in the workspace, where no tsx can be found.
  return { file: path.join(here, 'agent-main.ts'), execArgv: ['--import', import.meta.resolve('tsx')] };
}

/**
 * Starts the headless agent for a workspace in the background and waits until it answers.
 *
 * The agent outlives the CLI: it is detached, its output goes to `.frameworm/agent.log`.
 */
export async function startAgent(workspaceRoot: string): Promise<FoundAgent> {
  checkWorkspace(workspaceRoot);
  const controlDir = controlDirOf(workspaceRoot);
  makePrivateDir(controlDir, { tighten: true });
  const logFile = agentLogPath(controlDir);
  // The log names models, paths and errors: owner-only like the rest of .frameworm/.
  const logFd = openPrivateFile(logFile, 'a');
  const logStart = fs.fstatSync(logFd).size;
  const { file, execArgv } = agentEntry();
  const child = spawn(process.execPath, [...execArgv, file, '--workspace', workspaceRoot], {
    detached: true,
    stdio: ['ignore', logFd, logFd],
    // In the desktop app (hand-over on quit) execPath is Electron: run it as plain Node, or it
    // would start a second app instead of the agent.
    env: process.versions['electron'] ? { ...process.env, ELECTRON_RUN_AS_NODE: '1' } : process.env,
    cwd: workspaceRoot,
  });
  fs.closeSync(logFd);
  let exited: number | null = null;
  child.once('exit', (code) => (exited = code ?? 1));
  child.unref();

  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const found = await findAgent(workspaceRoot);
    if (found) return found;
    if (exited !== null || (child.pid !== undefined && !processAlive(child.pid))) {
      // Another agent may have won a race for the lock; use it if it answers.
      const other = await findAgent(workspaceRoot);
      if (other) return other;
      throw new FramewormError('E_AGENT', `the agent failed to start: ${lastLogLine(logFile, logStart)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new FramewormError('E_AGENT', `the agent did not answer within ${START_TIMEOUT_MS / 1000} s (see ${logFile})`);
}

function lastLogLine(logFile: string, from: number): string {
  try {
    const text = fs.readFileSync(logFile, 'utf8').slice(from).trim();
    const lines = text.split('\n').filter((l) => l.trim() !== '');
    const error = lines.find((l) => l.startsWith('frameworm agent: error:'));
    return (error ?? lines[lines.length - 1] ?? 'no output').replace(/^frameworm agent: error:\s*/, '');
  } catch {
    return 'no log';
  }
}

/**
 * Fails early, in the CLI's own process, on what would make the agent fail: a workspace that is
 * not a folder, or an invalid deploy_config.yaml (so the user sees the key-naming error).
 */
function checkWorkspace(workspaceRoot: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(workspaceRoot);
  } catch {
    throw new FramewormError('E_INPUT', `workspace ${workspaceRoot} does not exist`);
  }
  if (!stat.isDirectory()) throw new FramewormError('E_INPUT', `workspace ${workspaceRoot} is not a folder`);
  loadDeployConfig(workspaceRoot);
}

/**
 * The running agent, started in the background when there is none. An agent that runs but does
 * not answer is an error (starting a second one would only fail on the lock). When this call
 * started the agent and a production deployment could not be restored, `warn` hears about it:
 * the command itself goes on (it may be the one that fixes it).
 */
export async function ensureAgent(
  workspaceRoot: string,
  warn: (line: string) => void = (line) => process.stderr.write(`frameworm: warning: ${line}\n`),
): Promise<RpcClient> {
  checkWorkspace(workspaceRoot);
  const probe = await probeAgent(workspaceRoot);
  if (probe.state === 'running') return probe.client;
  if (probe.state === 'not_answering') throw notAnsweringError(probe);
  const started = await startAgent(workspaceRoot);
  const failed = restoreFailureError(started.info);
  if (failed) warn(failed.message);
  return started.client;
}
