/**
 * Entry point of the headless agent: one control plane per workspace, serving the CLI over
 * loopback RPC while deployments, metrics and (later) the rollback watcher keep running.
 */
import fs from 'node:fs';
import { toFramewormError } from '../common/errors.js';
import { hostControlPlane, type ControlPlaneHost } from './host.js';

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
  let host: ControlPlaneHost | null = null;
  let stopping = false;
  const shutdown = async (why: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log(`stopping (${why})`);
    await host?.dispose();
    log('stopped');
    process.exit(0);
  };
  log(`open files limit: ${openFilesLimit()}`);
  host = await hostControlPlane({
    workspace: workspaceRoot,
    log,
    onShutdownRequest: () => void shutdown('agent stop'),
    entry: process.argv[1] ?? '',
  });
  log(`agent ${process.pid} listening on 127.0.0.1:${host.port} for ${host.plane.workspace.root}`);
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
