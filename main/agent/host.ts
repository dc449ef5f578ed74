/**
 * Hosting one workspace's control plane in this process: the headless agent (`frameworm agent`)
 * and the Electron main process both do it through this one function, so the desktop app is the
 * workspace's control plane in the same way — same lock, same restore, same RPC server and agent
 * record — and the CLI keeps working while the GUI runs (DESIGN §2).
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { FramewormError } from '../common/errors.js';
import type { TrayNotifier } from '../alerts/index.js';
import { acquireControlLock, controlDirOf, processAlive, removeAgentRecord, writeAgentRecord } from './agent-files.js';
import { findAgent, startAgent } from './agent-launcher.js';
import { ControlPlane } from './control-plane.js';
import type { Dispatcher } from './dispatch.js';
import { RpcServer } from './rpc-server.js';

/** Workspaces whose control plane this process hosts now. */
const hostedHere = new Set<string>();

/** Options of hostControlPlane. */
export interface HostOptions {
  readonly workspace: string;
  /** The host's log (agent: agent.log; Electron: its console). */
  readonly log: (line: string) => void;
  /** Called when a client asks the control plane to stop (`agent stop`); the host decides how. */
  readonly onShutdownRequest: () => void;
  /** A string of this process's command line that tells it apart from a reused pid (see AgentRecord.entry). */
  readonly entry: string;
  /** The tray channel's notifier (the desktop shell subscribes before hosting, so no alert is missed). */
  readonly tray?: TrayNotifier;
}

/** A hosted control plane: its parts, and the one way to take it down. */
export interface ControlPlaneHost {
  readonly plane: ControlPlane;
  /** The dispatch over the plane's handlers (Electron registers its IPC with it). */
  readonly dispatch: Dispatcher;
  /** The loopback RPC port published in the agent record. */
  readonly port: number;
  /**
   * Takes it all down in order: the record first (new clients stop finding this host), then
   * the RPC server, then the plane (endpoints, watcher, registry), the lock last. Idempotent.
   */
  dispose(): Promise<void>;
}

/**
 * Takes the workspace's control-plane lock, opens and restores the plane, serves its RPC on
 * loopback and publishes the agent record. Fails (E_CONFLICT) when another process already is
 * the workspace's control plane; whatever was set up is released again on failure.
 */
export async function hostControlPlane(options: HostOptions): Promise<ControlPlaneHost> {
  const root = path.resolve(options.workspace);
  const controlDir = controlDirOf(root);
  // The lock file names a pid, so it cannot tell two hosts of this one process apart.
  if (hostedHere.has(root)) throw new FramewormError('E_CONFLICT', `this process already hosts the control plane of ${root}`);
  const releaseLock = acquireControlLock(controlDir);
  hostedHere.add(root);
  let plane: ControlPlane | null = null;
  let server: RpcServer | null = null;
  let disposing: Promise<void> | null = null;
  const dispose = (): Promise<void> => {
    disposing ??= (async () => {
      removeAgentRecord(controlDir);
      await server?.close().catch(() => {});
      await plane?.dispose().catch((err: unknown) => options.log(`error while stopping: ${String(err)}`));
      releaseLock();
      hostedHere.delete(root);
    })();
    return disposing;
  };
  try {
    plane = ControlPlane.open(root, options.tray ? { tray: options.tray } : {});
    const dispatch = plane.dispatcher(options.onShutdownRequest);
    const token = randomBytes(24).toString('hex');
    server = new RpcServer(dispatch, token);
    const port = await server.listen(0);
    for (const warning of plane.configWarnings) options.log(`warning: ${warning}`);
    await plane.restore(options.log);
    writeAgentRecord(controlDir, { pid: process.pid, port, token, workspace: root, started_at: new Date().toISOString(), entry: options.entry });
    return { plane, dispatch, port, dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}

const TAKE_OVER_TIMEOUT_MS = 30_000;

/**
 * Hosts the control plane here, first asking a headless agent that already hosts it to stop
 * (the desktop app opening a workspace the CLI started an agent for). The agent's production
 * deployments come back up in this process by the restore.
 */
export async function takeOverControlPlane(options: HostOptions): Promise<ControlPlaneHost> {
  const found = await findAgent(path.resolve(options.workspace));
  if (found) {
    options.log(`taking over the workspace from the agent (pid ${found.record.pid})`);
    await found.client.invoke('agent.shutdown', {});
    const deadline = Date.now() + TAKE_OVER_TIMEOUT_MS;
    while (processAlive(found.record.pid)) {
      if (Date.now() > deadline) throw new FramewormError('E_AGENT', `the agent (pid ${found.record.pid}) did not stop within ${TAKE_OVER_TIMEOUT_MS / 1000} s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return hostControlPlane(options);
}

/** What quitting the desktop app does to the workspace's deployments. */
export type QuitMode = 'hand_over' | 'stop_everything';

/**
 * Ends this process's hosting. `hand_over` then starts the headless agent, which restores the
 * production deployments and runs the watcher from then on (serving pauses for the restart);
 * `stop_everything` leaves nothing running. Resolves once the chosen end state is reached, so
 * the app can quit without orphaning anything.
 */
export async function endHosting(host: ControlPlaneHost, mode: QuitMode): Promise<void> {
  const workspace = host.plane.workspace.root;
  await host.dispose();
  if (mode === 'hand_over') await startAgent(workspace);
}
