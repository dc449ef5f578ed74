/**
 * Entry point of the headless agent: one control plane per workspace, serving the CLI over
 * loopback RPC while deployments, metrics and (later) the rollback watcher keep running.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { toFramewormError } from '../common/errors.js';
import { acquireControlLock, controlDirOf, removeAgentRecord, writeAgentRecord } from './agent-files.js';
import { ControlPlane } from './control-plane.js';
import { RpcServer } from './rpc-server.js';

function log(line: string): void {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
}

/**
 * The soft limit on open files, for the log. Node raises the soft limit to the hard limit when
 * it starts (it cannot call setrlimit later), so this is the most the agent can get; endpoint
 * connection caps keep below it so the control RPC always has descriptors left.
 */
function openFilesLimit(): string {
  try {
    const line = fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    return line?.split(/\s{2,}/)[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Runs the agent until it is asked to stop or receives SIGTERM/SIGINT. */
export async function runAgent(workspaceRoot: string): Promise<void> {
  const root = path.resolve(workspaceRoot);
  const controlDir = controlDirOf(root);
  const releaseLock = acquireControlLock(controlDir);
  let plane: ControlPlane | null = null;
  let server: RpcServer | null = null;
  let stopping = false;

  const shutdown = async (why: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log(`stopping (${why})`);
    removeAgentRecord(controlDir);
    await server?.close().catch(() => {});
    await plane?.dispose().catch((err: unknown) => log(`error while stopping: ${String(err)}`));
    releaseLock();
    log('stopped');
    process.exit(0);
  };

  try {
    plane = ControlPlane.open(root);
    const token = randomBytes(24).toString('hex');
    server = new RpcServer(
      plane.handlers(() => void shutdown('agent stop')),
      token,
    );
    const port = await server.listen(0);
    for (const warning of plane.configWarnings) log(`warning: ${warning}`);
    log(`open files limit: ${openFilesLimit()}`);
    await plane.restore(log);
    writeAgentRecord(controlDir, { pid: process.pid, port, token, workspace: root, started_at: new Date().toISOString() });
    log(`agent ${process.pid} listening on 127.0.0.1:${port} for ${root}`);
  } catch (err) {
    releaseLock();
    throw err;
  }
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

const argv = process.argv.slice(2);
const wsIndex = argv.indexOf('--workspace');
const workspace = wsIndex >= 0 ? argv[wsIndex + 1] : process.cwd();
runAgent(workspace ?? process.cwd()).catch((err: unknown) => {
  process.stdout.write(`frameworm agent: error: ${toFramewormError(err).message}\n`);
  process.exit(1);
});
