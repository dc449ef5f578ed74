import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FramewormError } from '../common/errors.js';
import { loadDeployConfig } from '../config/deploy-config.js';
import { agentLogPath, controlDirOf, processAlive, readAgentRecord, type AgentRecord } from './agent-files.js';
import { RpcClient } from './rpc-client.js';

const START_TIMEOUT_MS = 30_000;

/** A client for the workspace's running agent, or null when none answers. */
export async function findAgent(workspaceRoot: string): Promise<{ client: RpcClient; record: AgentRecord } | null> {
  const record = readAgentRecord(controlDirOf(workspaceRoot));
  if (!record) return null;
  const client = new RpcClient(record.port, record.token);
  try {
    await client.invoke('agent.info', {});
    return { client, record };
  } catch {
    return null;
  }
}

function agentEntry(): { file: string; execArgv: string[] } {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const js = path.join(here, 'agent-main.js');
  if (fs.existsSync(js)) return { file: js, execArgv: [] };
  // Running from TypeScript sources (development): let tsx load the entry.
  return { file: path.join(here, 'agent-main.ts'), execArgv: ['--import', 'tsx'] };
}

/**
 * Starts the headless agent for a workspace in the background and waits until it answers.
 *
 * The agent outlives the CLI: it is detached, its output goes to `.frameworm/agent.log`.
 */
export async function startAgent(workspaceRoot: string): Promise<{ client: RpcClient; record: AgentRecord }> {
  checkWorkspace(workspaceRoot);
  const controlDir = controlDirOf(workspaceRoot);
  fs.mkdirSync(controlDir, { recursive: true });
  const logFile = agentLogPath(controlDir);
  const logFd = fs.openSync(logFile, 'a');
  const logStart = fs.fstatSync(logFd).size;
  const { file, execArgv } = agentEntry();
  const child = spawn(process.execPath, [...execArgv, file, '--workspace', workspaceRoot], {
    detached: true,
    stdio: ['ignore', logFd, logFd],
    env: process.env,
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

/** The running agent, started in the background when there is none. */
export async function ensureAgent(workspaceRoot: string): Promise<RpcClient> {
  checkWorkspace(workspaceRoot);
  const found = await findAgent(workspaceRoot);
  if (found) return found.client;
  return (await startAgent(workspaceRoot)).client;
}
