import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../common/paths.js';
import type { AgentInfo, ModelTypeName, TryFormView, EventView, RestoreFailure, WatcherView, ShiftStatusView, ShiftSamplesView, DriftCheckView } from '../../preload/contract.js';
import { loadDeployConfig, type DeployConfig } from '../config/deploy-config.js';
import { AlertRouter, type TrayNotifier } from '../alerts/index.js';
import { DeploymentManager } from '../deploy/deployment-manager.js';
import { inspectModelFile } from '../inspect/inspect.js';
import { followEvents, listEventViews, liveEventView } from '../registry/event-feed.js';
import { Registry } from '../registry/registry.js';
import { RollbackWatcher, WATCHER_ACTOR } from '../watch/rollback-watcher.js';
import { ProbeSender } from '../serving/probe-requests.js';
import { DriftMonitor } from '../drift/live/drift-monitor.js';
import { Workspace } from '../workspace/workspace.js';
import { FramewormError, toFramewormError } from '../common/errors.js';
import { readManifest } from '../common/export-manifest.js';
import { editDeployConfigFile } from '../config/config-edit.js';
import { dockerSocketPath } from '../docker/docker-client.js';
import { containerLogTail, engineStatus } from '../docker/engine-status.js';
import { buildTryForm, configChanges, postTry, settingsView } from './gui-channels.js';
import { MetricsSampler, type MetricsReading } from '../metrics/metrics-sampler.js';
import { createDispatcher, type Dispatcher, type HandlerTable } from './dispatch.js';
import { PushHub } from './push-hub.js';
import { TaskRegistry } from './tasks.js';

const CONFIG_POLL_MS = 1000;

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
  /** Checks every production deployment and rolls it back on its own (DESIGN §7). */
  readonly watcher: RollbackWatcher;
  /** Synthetic, architecture-aware requests that make an idle deployment's checks conclusive. */
  readonly probes: ProbeSender;
  /** Drift of inputs and generated outputs against each deployment's reference. */
  readonly drift: DriftMonitor;
  /** Every push message of this control plane (events, samples, tasks …), for the transports. */
  readonly pushes = new PushHub();
  /** Long operations with ids, progress and cancel (see dispatch). */
  readonly tasks: TaskRegistry;
  /** 1 Hz samples of each serving deployment, with 15 minutes of history. */
  readonly sampler: MetricsSampler;
  private config: DeployConfig;
  private stopConfigWatch: (() => void) | null = null;
  private readonly stopEventPush: () => void;

  private constructor(
    readonly workspace: Workspace,
    config: DeployConfig,
    /** Unknown-key warnings of the config file, for the agent's log. */
    readonly configWarnings: readonly string[],
    readonly registry: Registry,
    readonly deployments: DeploymentManager,
    tray: TrayNotifier | undefined,
  ) {
    this.config = config;
    this.alerts = new AlertRouter({ registry, settings: () => this.config, log: (line) => process.stdout.write(`${line}\n`), ...(tray ? { tray } : {}) });
    const d = deployments;
    this.probes = new ProbeSender({ resolve: (name) => d.probeTarget(name) });
    this.drift = new DriftMonitor({
      registry,
      workspaceRoot: workspace.root,
      settings: () => this.config,
      rollback: (name, reason) => d.rollback({ name, reason, actor: WATCHER_ACTOR }),
    });
    d.sampleSink = (name, sample) => this.drift.offer(name, sample);
    d.onShiftChanged = () => this.drift.reconfigure();
    this.watcher = new RollbackWatcher({
      registry,
      config,
      endpoints: {
        takeInterval: (name) => d.takeInterval(name),
        intervalRequests: (name) => d.intervalRequests(name),
        // Only with probe.enabled does the watcher call this (user traffic first, then probes).
        sendProbes: (name, count) => this.probes.sendProbes(name, count),
      },
      rollback: (name, r) =>
        d.rollback({ name, reason: r.reason, actor: WATCHER_ACTOR, to_version: r.toVersion }, () => {}, undefined, {
          p95_ms: r.p95_ms, error_rate: r.error_rate, streak: r.streak,
        }),
      onError: (err, model) => process.stdout.write(`watcher: ${model}: ${toFramewormError(err).message}\n`),
    });
    this.tasks = new TaskRegistry({ publish: (view) => this.pushes.publish('task', view) });
    this.sampler = new MetricsSampler({
      read: () => this.readMetrics(),
      onSample: (sample) => this.pushes.publish('metrics.sample', sample),
    });
    // Every committed event changes what a client shows of its deployment: the event itself,
    // the deployment's summary and, for checks and rollbacks, the watcher's card. A watcher
    // check (1 Hz per deployment) changes only the watcher's card, which watcher.state carries:
    // no deployment.changed for it, or every client would refetch every status once a second.
    this.stopEventPush = registry.events.subscribe((e) => {
      this.pushes.publish('event', liveEventView(e));
      if (e.event !== 'check') this.pushes.publish('deployment.changed', { name: e.model });
      this.pushes.publish('watcher.state', { name: e.model, watcher: this.watcherView(e.model) });
    });
  }

  /** The endpoint metrics of every serving deployment, for the sampler. */
  private async readMetrics(): Promise<MetricsReading[]> {
    const readings: MetricsReading[] = [];
    for (const summary of this.deployments.list()) {
      if (!summary.serving) continue;
      const status = await this.deployments.status(summary.name).catch(() => null);
      readings.push({ name: summary.name, metrics: status?.metrics ?? null });
    }
    return readings;
  }

  /** The settings in force (reloaded when configs/deploy_config.yaml changes). */
  get settings(): DeployConfig {
    return this.config;
  }

  /**
   * Applies an edited configs/deploy_config.yaml: thresholds and interval reach the watcher at
   * its next check. A bad edit is reported (log and a `config_rejected` event per model) and the
   * running settings are kept.
   */
  reloadConfig(log: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): boolean {
    let next: DeployConfig;
    try {
      ({ config: next } = loadDeployConfig(this.workspace.root));
    } catch (err) {
      const message = toFramewormError(err).message;
      log(`config reload refused, keeping the running settings: ${message}`);
      for (const m of this.registry.listModels()) {
        try {
          this.registry.recordEvent(m.name, 'config_rejected', { error: message });
        } catch {
          // the registry itself refuses writes; the log line above stands
        }
      }
      return false;
    }
    this.config = next;
    this.watcher.updateConfig(next);
    this.drift.reconfigure();
    log('configs/deploy_config.yaml reloaded');
    return true;
  }

  /** The watcher's state for `deploy status` (null for a model with nothing in production). */
  private watcherView(name: string): WatcherView | null {
    if (!this.registry.getProduction(name)) return null;
    const st = this.watcher.state(name);
    return { ...st, last_checks: st.last_checks.map((c) => ({ ...c }) as EventView) };
  }

  /** Polls the config file for changes (fs.watch misses editors' rename-and-replace saves). */
  private watchConfig(): void {
    const file = path.join(this.workspace.root, 'configs', 'deploy_config.yaml');
    const onChange = (cur: fs.Stats, prev: fs.Stats): void => {
      if (cur.mtimeMs !== prev.mtimeMs || cur.size !== prev.size || cur.ino !== prev.ino) this.reloadConfig();
    };
    fs.watchFile(file, { interval: CONFIG_POLL_MS, persistent: false }, onChange);
    this.stopConfigWatch = () => fs.unwatchFile(file, onChange);
  }

  /**
   * Opens the workspace (config validated first, so a bad config fails before anything starts).
   * `options.tray`: the desktop shell's notifier, passed in so that alerts routed during the
   * restore (a rollback committed just before a crash) already reach its listener.
   */
  static open(root: string, options: { readonly tray?: TrayNotifier } = {}): ControlPlane {
    const { config, warnings } = loadDeployConfig(root);
    const workspace = Workspace.open(root, config);
    workspace.ensureDirs();
    const registry = Registry.open(workspace);
    return new ControlPlane(workspace, config, warnings, registry, new DeploymentManager(workspace, config, registry), options.tray);
  }

  /**
   * Brings back what was serving before the agent stopped. Failures are kept and reported by
   * agent.info, so whoever started the agent learns that a production deployment is down.
   */
  async restore(log: (line: string) => void): Promise<readonly RestoreFailure[]> {
    // Alerts first: a rollback committed just before a crash is announced once this host runs.
    this.alerts.start();
    this.restoreFailures = await this.deployments.restore(log);
    this.watcher.start();
    this.sampler.start();
    this.watchConfig();
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
      'deploy.status': async ({ name }) => ({ ...(await d.status(name)), watcher: this.watcherView(name), drift: (await this.drift.status(name)).last as DriftCheckView | null }),
      'shift.status': async ({ name }) => {
        this.registry.requireModel(name);
        return { name, ...(await this.drift.status(name)) } as unknown as ShiftStatusView;
      },
      'shift.samples': async ({ name }) => {
        const model = this.registry.requireModel(name);
        const production = this.registry.getProduction(name);
        const [samples, recent] = [await this.drift.samples(name), await this.drift.recent(name)];
        return { name, type: production?.type ?? null, shift_profile: (model.settings['shift_profile'] as string | undefined) ?? null, ...samples, recent } as unknown as ShiftSamplesView;
      },
      'deploy.list': async () => d.list(),
      'deploy.promote': (args, ctx) => d.promote(args, ctx.progress, ctx.signal),
      'deploy.rollback': (args, ctx) => d.rollback(args, ctx.progress, ctx.signal),
      'deploy.stop': (args) => d.stop(args),
      'deploy.drill': (args) => d.drill(args),
      'deploy.scale': (args, ctx) => d.scale(args, ctx.progress),
      'events.list': async ({ name, limit }) => listEventViews(this.registry, name, limit ?? 100),
      'events.follow': async ({ name, after_id }, ctx) => {
        await followEvents(this.registry, name, after_id, (e) => ctx.push('event', e), ctx.signal);
        return { ended: true };
      },
      'push.follow': async ({ channels }, ctx) => {
        const wanted = channels === undefined ? null : new Set(channels);
        const unsubscribe = this.pushes.subscribe((m) => {
          if (!wanted || wanted.has(m.channel)) ctx.push(m.channel, m.payload);
        });
        // Tells the caller the subscription is in place: what commits from now on reaches it.
        ctx.progress({ step: 'subscribed', message: 'following the control plane' });
        try {
          if (!ctx.signal.aborted) await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
        } finally {
          unsubscribe();
        }
        return { ended: true };
      },
      'metrics.history': async ({ name }) => this.sampler.history(name),
      'task.cancel': async ({ task_id }) => this.tasks.cancel(String(task_id)),
      'task.list': async () => this.tasks.list(),
      'deploy.inspect': async ({ model }) => {
        const report = await inspectModelFile(path.resolve(this.workspace.root, model));
        return report as unknown as Record<string, unknown>;
      },
      'deploy.schema': async ({ name }) => this.tryForm(name),
      'deploy.try': async ({ name, body }, ctx) => {
        if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new FramewormError('E_USAGE', 'deploy.try: body must be a JSON object (the /predict request)');
        const form = await this.tryForm(name);
        return postTry(name, form.url, body, ctx.signal);
      },
      'deploy.logs': async ({ name, tail }) => {
        const status = await d.status(name);
        if (!status.container) {
          throw new FramewormError('E_CONFLICT', `${name} is not served by a container (target ${status.target ?? 'none'}${status.serving ? '' : ', not serving'}): container logs exist for the docker target only`);
        }
        const lines = Math.min(1000, Math.max(1, Math.trunc(Number(tail ?? 100)) || 100));
        return { name, container: status.container.name, lines: await containerLogTail(dockerSocketPath(this.config.docker_socket), status.container.id, lines) };
      },
      'config.get': async () => settingsView(this.config),
      'config.set': async (change) => {
        editDeployConfigFile(this.workspace.root, configChanges(change));
        // Applied now, not at the next poll: the answer shows the settings in force.
        if (!this.reloadConfig()) throw new FramewormError('E_CONFIG', 'the edited configuration was written but not applied; see the agent log');
        return settingsView(this.config);
      },
      'alerts.test': async () => {
        const started = performance.now();
        const r = await this.alerts.sendTest(`A test message from Frameworm Deploy (workspace ${path.basename(this.workspace.root)}): alerts reach this channel.`);
        const ms = Math.round(performance.now() - started);
        switch (r.kind) {
          case 'sent':
            return { sent: true, channel: 'slack', ms };
          case 'rate_limited':
            throw new FramewormError('E_RUNTIME', `Slack rate-limited the test message (HTTP 429); try again in ${Math.ceil(r.retryAfterMs / 1000)} s`);
          case 'rejected':
            throw new FramewormError('E_RUNTIME', `Slack refused the test message: ${r.error}`);
          case 'retry':
            throw new FramewormError('E_RUNTIME', `Slack did not take the test message: ${r.error}`);
        }
      },
      'docker.status': async () => engineStatus(dockerSocketPath(this.config.docker_socket)),
    };
  }

  /** The try-it form of a serving deployment: its served version's export manifest and the endpoint's bounds. */
  private async tryForm(name: string): Promise<TryFormView> {
    const status = await this.deployments.status(name);
    const record = status.serving_version ? this.registry.getVersion(name, status.serving_version) : null;
    if (!record || !status.endpoint) throw new FramewormError('E_CONFLICT', `${name} is not serving: deploy or roll back a version to production first`);
    let manifest;
    try {
      manifest = readManifest(this.workspace.exportDir(name, record.version));
    } catch (err) {
      throw new FramewormError('E_NOT_FOUND', `${name} ${record.version}: its export manifest cannot be read (${toFramewormError(err).message})`);
    }
    return buildTryForm({ name, version: record.version, type: record.type as ModelTypeName, url: `${status.endpoint.replace(/\/$/, '')}/predict`, manifest, maxBatchSize: this.config.max_batch_size });
  }

  /** The one dispatch over this plane's handlers and tasks, for whichever transport hosts it. */
  dispatcher(shutdown: () => void): Dispatcher {
    return createDispatcher(this.handlers(shutdown), this.tasks);
  }

  async dispose(): Promise<void> {
    await this.drift.dispose();
    // Running deploys stop at their next step instead of holding the shutdown up.
    this.tasks.cancelAll();
    this.sampler.dispose();
    this.stopEventPush();
    this.stopConfigWatch?.();
    await this.watcher.dispose();
    this.probes.dispose();
    await this.deployments.dispose();
    await this.alerts.dispose();
    this.registry.close();
  }
}
