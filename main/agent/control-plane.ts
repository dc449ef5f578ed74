import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../common/paths.js';
import type { AgentInfo, RestoreFailure } from '../../preload/contract.js';
import { loadDeployConfig, type DeployConfig } from '../config/deploy-config.js';
import { AlertRouter } from '../alerts/index.js';
import { DeploymentManager } from '../deploy/deployment-manager.js';
import { inspectModelFile } from '../inspect/inspect.js';
import { followEvents, listEventViews } from '../registry/event-feed.js';
import { Registry } from '../registry/registry.js';
import { Workspace } from '../workspace/workspace.js';
import type { HandlerTable } from './rpc-server.js';

const pkg = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string };

/**
 * The composition root of one workspace's control plane: config, registry, event log and the
 * deployment manager, plus the handler table that the agent (and later the Electron shell and
 * web mode) serve. Whoever opens it disposes it.
 */
export class ControlPlane {
  private readonly startedAt = new Date();
  private restoreFailures: readonly RestoreFailure[] = [];
  /** Routes committed events to Slack, the log and the tray; started with the host (restore). */
  readonly alerts: AlertRouter;

  private constructor(
    readonly workspace: Workspace,
    readonly config: DeployConfig,
    /** Unknown-key warnings of the config file, for the agent's log. */
    readonly configWarnings: readonly string[],
    readonly registry: Registry,
    readonly deployments: DeploymentManager,
  ) {
    this.alerts = new AlertRouter({ registry, settings: () => this.config, log: (line) => process.stdout.write(`${line}\n`) });
  }

  /** Opens the workspace (config validated first, so a bad config fails before anything starts). */
  static open(root: string): ControlPlane {
    const { config, warnings } = loadDeployConfig(root);
    const workspace = Workspace.open(root, config);
    workspace.ensureDirs();
    const registry = Registry.open(workspace);
    return new ControlPlane(workspace, config, warnings, registry, new DeploymentManager(workspace, config, registry));
  }

  /**
   * Brings back what was serving before the agent stopped. Failures are kept and reported by
   * agent.info, so whoever started the agent learns that a production deployment is down.
   */
  async restore(log: (line: string) => void): Promise<readonly RestoreFailure[]> {
    // Alerts first: a rollback committed just before a crash is announced once this host runs.
    this.alerts.start();
    this.restoreFailures = await this.deployments.restore(log);
    return this.restoreFailures;
  }

  info(): AgentInfo {
    return {
      pid: process.pid,
      workspace: this.workspace.root,
      started_at: this.startedAt.toISOString(),
      uptime_s: Math.round((Date.now() - this.startedAt.getTime()) / 1000),
      deployments: this.deployments.servingCount,
      version: pkg.version,
      restore_failures: this.openRestoreFailures(),
    };
  }

  /** Restore failures whose deployment is still not serving (a later deploy may have fixed one). */
  private openRestoreFailures(): readonly RestoreFailure[] {
    if (this.restoreFailures.length === 0) return [];
    try {
      const serving = new Set(this.deployments.list().filter((d) => d.serving).map((d) => d.name));
      return this.restoreFailures.filter((f) => !serving.has(f.name));
    } catch {
      // agent.info must answer even when the registry cannot be read; report what was seen.
      return this.restoreFailures;
    }
  }

  /** Request handlers; `shutdown` is supplied by the host process, which owns its own lifetime. */
  handlers(shutdown: () => void): HandlerTable {
    const d = this.deployments;
    return {
      'agent.info': async () => this.info(),
      'agent.shutdown': async () => {
        setImmediate(shutdown);
        return { stopping: true };
      },
      'deploy.start': (args, ctx) => d.start(args, ctx.progress, ctx.signal),
      'deploy.status': ({ name }) => d.status(name),
      'deploy.list': async () => d.list(),
      'deploy.promote': (args, ctx) => d.promote(args, ctx.progress, ctx.signal),
      'deploy.rollback': (args, ctx) => d.rollback(args, ctx.progress, ctx.signal),
      'deploy.stop': (args) => d.stop(args),
      'events.list': async ({ name, limit }) => listEventViews(this.registry, name, limit ?? 100),
      'events.follow': async ({ name, after_id }, ctx) => {
        await followEvents(this.registry, name, after_id, (e) => ctx.push('event', e), ctx.signal);
        return { ended: true };
      },
      'deploy.inspect': async ({ model }) => {
        const report = await inspectModelFile(path.resolve(this.workspace.root, model));
        return report as unknown as Record<string, unknown>;
      },
    };
  }

  async dispose(): Promise<void> {
    await this.deployments.dispose();
    await this.alerts.dispose();
    this.registry.close();
  }
}
