/**
 * Reads the tray's inputs from a hosted control plane, and keeps a tray up to date with it:
 * a refresh asked for while one runs is folded into one more run after it, so a burst of
 * pushes (a deploy writes several events) costs at most two reads.
 */
import type { ControlPlane } from '../agent/control-plane.js';
import type { HandlerContext } from '../agent/dispatch.js';
import type { DeploymentStatus } from '../../preload/contract.js';
import { toFramewormError } from '../common/errors.js';
import { trayModel, type TrayDeployment, type TrayInputs, type TrayModel } from './tray-model.js';

const QUIET: HandlerContext = { progress: () => {}, push: () => {}, signal: new AbortController().signal };

/**
 * Every deployment's status (as `deploy status` shows it, watcher and drift included), its
 * rollback target and whether it failed to restore. A status that cannot be read (the Docker
 * daemon does not answer) counts as not serving, so the tray shows it as down, not healthy.
 */
export async function readTrayInputs(plane: ControlPlane): Promise<TrayInputs> {
  const handlers = plane.handlers(() => {});
  const failed = new Set((plane.info().restore_failures ?? []).map((f) => f.name));
  const deployments: TrayDeployment[] = [];
  for (const summary of plane.deployments.list()) {
    let status: DeploymentStatus;
    try {
      status = await handlers['deploy.status']({ name: summary.name }, QUIET);
    } catch (err) {
      const why = toFramewormError(err).message;
      status = {
        name: summary.name, endpoint: summary.endpoint, serving: false, serving_version: null, production: summary.production,
        target: summary.target, versions: [], metrics: null, container: null, drill: null, watcher: null, drift: null,
      };
      deployments.push({ status, rollback_target: null, restore_failed: false, unreadable: why });
      continue;
    }
    deployments.push({
      status,
      rollback_target: plane.registry.rollbackTarget(summary.name)?.version ?? null,
      restore_failed: failed.has(summary.name),
    });
  }
  return { workspace: plane.workspace.root, deployments };
}

/** Options of TrayUpdater. */
export interface TrayUpdaterOptions {
  readonly read: () => Promise<TrayInputs>;
  /** Called with each model that differs from the last one shown. */
  readonly render: (model: TrayModel) => void;
  readonly onError: (err: unknown) => void;
}

/** Keeps a tray in step with the control plane; call `refresh()` on every push that may change it. */
export class TrayUpdater {
  private running: Promise<void> | null = null;
  private again = false;
  private shown = '';
  private disposed = false;

  constructor(private readonly options: TrayUpdaterOptions) {}

  /** Re-reads and re-renders; resolves once a read that started after this call has been shown. */
  refresh(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          const model = trayModel(await this.options.read());
          const key = JSON.stringify(model);
          if (!this.disposed && key !== this.shown) {
            this.shown = key;
            this.options.render(model);
          }
        } catch (err) {
          this.options.onError(err);
        }
      } while (this.again && !this.disposed);
      this.running = null;
    })();
    return this.running;
  }

  /** Stops rendering (a read in flight is dropped). */
  dispose(): void {
    this.disposed = true;
  }
}
