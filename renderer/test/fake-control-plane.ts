/**
 * An in-memory control plane behind the RendererClient interface: the boundary the renderer's
 * tests fake (like Electron for the shell), holding deployments with the registry's lifecycle
 * rules, recording every call, and pushing whatever a test emits.
 */
import type {
  ChannelArgs, ChannelResult, DeploymentStatus, DockerEngineView, EventView, MetricsSample, ProgressEvent, PushChannel, PushChannels,
  RequestChannel, SettingsView, ShiftSamplesView, ShiftStatusView, StageName, TaskView, TryFormView, TryResult, VersionView, WatcherView,
} from '../../preload/contract';
import { ClientError, type ConnectionState, type RendererClient } from '../src/bridge/client-types';
import { PushHub } from '../src/bridge/push-hub';

export interface Call {
  readonly channel: RequestChannel;
  readonly args: unknown;
}

/** A version record for tests. */
export function version(v: string, stage: StageName, extra: Partial<VersionView> = {}): VersionView {
  return {
    version: v, stage, type: 'dcgan', target: 'embedded', created_at: `2026-01-0${v.replace(/\D/g, '') || '1'}T10:00:00.000Z`,
    deployed_at: null, archived_at: null,
    lineage: { checkpoint_sha256: `${v}`.padEnd(64, 'a').replace(/[^0-9a-f]/g, 'b'), git_commit: 'abc123', image_digest: null },
    artifacts: { onnx: 'model.onnx' },
    ...extra,
  };
}

/** A watcher view for tests. */
export function watcher(extra: Partial<WatcherView> = {}): WatcherView {
  return {
    rule: "every 5 s: breach when p95 > 250 ms or the error rate's 95 % lower bound > 5.0 % (at least 20 requests, else inconclusive); roll back after 3 consecutive breaches",
    streak: 0, required: 3, last_checks: [], next_check_at: null, cooldown_until: null, ...extra,
  };
}

interface Model {
  endpoint: string | null;
  versions: VersionView[];
  watcher: WatcherView | null;
}

export class FakeControlPlane implements RendererClient {
  readonly mode = 'web' as const;
  readonly calls: Call[] = [];
  readonly hub = new PushHub();
  readonly models = new Map<string, Model>();
  events: EventView[] = [];
  history: MetricsSample[] = [];
  tasks: TaskView[] = [];
  inspectResult: Record<string, unknown> | ClientError = { type: 'dcgan', format: 'pytorch', hyper_parameters: { latent_dim: 100 }, n_params: 3_576_704, warnings: [] };
  /** deploy.schema's answer (or its error). */
  tryForm: TryFormView | ClientError | null = null;
  /** deploy.try's answer (or its error: the endpoint's 4xx). */
  tryResult: TryResult | ClientError | null = null;
  settings: SettingsView = {
    settings: { latency_threshold_ms: 250, error_rate_threshold: 0.05, rollback_checks: 3, monitor_interval_s: 5, min_requests_per_check: 20, cooldown_s: 300, alert_on: ['slack', 'log'] },
    slack_webhook_set: true, slack_webhook_source: 'config', file: 'configs/deploy_config.yaml',
  };
  /** config.set refuses with this when set (the schema's message). */
  configError: ClientError | null = null;
  alertTestError: ClientError | null = null;
  engine: DockerEngineView = { reachable: true, socket: '/var/run/docker.sock', version: '26.1.5', error: null };
  shiftStatus: ShiftStatusView | null = null;
  shiftSamples: ShiftSamplesView | null = null;
  containerLog: string[] = [];
  /** When set, deploy.start sends these steps then waits for `finishDeploy` or a cancel. */
  deploySteps: ProgressEvent[] = [];
  /** Per model: fields deploy.status adds to its answer (a target's part: swarm, container). */
  readonly statusExtra = new Map<string, Partial<DeploymentStatus>>();
  private pendingDeploy: { resolve: () => void; reject: (e: Error) => void } | null = null;

  addModel(name: string, versions: VersionView[], w: WatcherView | null = null, endpoint: string | null = 'http://127.0.0.1:8100'): void {
    this.models.set(name, { endpoint, versions, watcher: w });
  }

  status(name: string): DeploymentStatus {
    const m = this.models.get(name);
    if (!m) throw new ClientError({ code: 'E_NOT_FOUND', message: `no model ${name}` });
    const production = m.versions.find((v) => v.stage === 'production')?.version ?? null;
    return {
      name, endpoint: m.endpoint, serving: production !== null, serving_version: production, production, target: 'embedded',
      versions: m.versions, metrics: null, container: null, watcher: m.watcher, drill: null,
      ...this.statusExtra.get(name),
    };
  }

  private setStage(name: string, v: string, stage: StageName): void {
    const m = this.models.get(name)!;
    m.versions = m.versions.map((x) => (x.version === v ? { ...x, stage } : x));
  }

  async invoke<C extends RequestChannel>(channel: C, args: ChannelArgs<C>, onProgress?: (p: ProgressEvent) => void): Promise<ChannelResult<C>> {
    this.calls.push({ channel, args });
    return (await this.handle(channel, args as never, onProgress)) as ChannelResult<C>;
  }

  private async handle(channel: RequestChannel, args: Record<string, unknown>, onProgress?: (p: ProgressEvent) => void): Promise<unknown> {
    const name = String(args['name'] ?? '');
    switch (channel) {
      case 'deploy.list':
        return [...this.models.keys()].map((n) => {
          const s = this.status(n);
          return { name: n, production: s.production, versions: s.versions.length, endpoint: s.endpoint, serving: s.serving, target: s.target };
        });
      case 'deploy.status':
        return this.status(name);
      case 'deploy.promote': {
        const m = this.models.get(name)!;
        const v = m.versions.find((x) => x.version === args['version'])!;
        const to = args['stage'] as StageName;
        const legal: Record<StageName, StageName[]> = { dev: ['staging', 'production', 'archived'], staging: ['production', 'dev', 'archived'], production: ['archived'], archived: ['staging'] };
        if (!legal[v.stage].includes(to)) throw new ClientError({ code: 'E_CONFLICT', message: `${v.stage} → ${to} is not allowed` });
        const prev = m.versions.find((x) => x.stage === 'production');
        if (to === 'production' && prev) this.setStage(name, prev.version, 'archived');
        this.setStage(name, v.version, to);
        return { name, version: v.version, stage: to, archived_version: to === 'production' ? (prev?.version ?? null) : null, endpoint: m.endpoint };
      }
      case 'deploy.rollback': {
        const m = this.models.get(name)!;
        const prev = m.versions.find((x) => x.stage === 'production');
        const to = String(args['to_version']);
        if (prev) this.setStage(name, prev.version, 'archived');
        this.setStage(name, to, 'production');
        return { name, from_version: prev?.version ?? null, to_version: to, endpoint: m.endpoint, reason: String(args['reason'] ?? '') };
      }
      case 'events.list':
        return this.events.filter((e) => e.model === name);
      case 'metrics.history':
        return this.history.filter((s) => !name || s.name === name);
      case 'task.list':
        return this.tasks;
      case 'task.cancel': {
        const id = String(args['task_id']);
        this.pendingDeploy?.reject(new ClientError({ code: 'E_CANCELLED', message: 'cancelled' }));
        this.pendingDeploy = null;
        return { id, channel: 'deploy.start', name: null, state: 'cancelled', value: 0.5, step: null, message: null, started_at: '2026-01-01T00:00:00Z', ended_at: null, cancel_requested: true, error: null } satisfies TaskView;
      }
      case 'deploy.inspect':
        if (this.inspectResult instanceof ClientError) throw this.inspectResult;
        return { path: args['model'], ...this.inspectResult };
      case 'deploy.start': {
        for (const p of this.deploySteps) onProgress?.(p);
        if (this.deploySteps.length > 0) {
          await new Promise<void>((resolve, reject) => {
            this.pendingDeploy = { resolve, reject };
          });
        }
        return { name, version: 'v1', type: 'dcgan', target: 'embedded', stage: 'production', endpoint: 'http://127.0.0.1:8100', archived_version: null, export_dir: '/x' };
      }
      case 'deploy.schema':
        if (this.tryForm === null) throw new ClientError({ code: 'E_CONFLICT', message: `${name} is not serving` });
        if (this.tryForm instanceof ClientError) throw this.tryForm;
        return this.tryForm;
      case 'deploy.try':
        if (this.tryResult === null || this.tryResult instanceof ClientError) throw this.tryResult ?? new ClientError({ code: 'E_CONFLICT', message: 'not serving' });
        return this.tryResult;
      case 'config.get':
        return this.settings;
      case 'config.set': {
        if (this.configError) throw this.configError;
        const change = args as { settings?: Record<string, unknown>; slack_webhook_url?: string | null };
        this.settings = {
          ...this.settings,
          settings: { ...this.settings.settings, ...(change.settings ?? {}) },
          ...(change.slack_webhook_url !== undefined ? { slack_webhook_set: change.slack_webhook_url !== null, slack_webhook_source: change.slack_webhook_url !== null ? 'config' : null } : {}),
        } as SettingsView;
        return this.settings;
      }
      case 'alerts.test':
        if (this.alertTestError) throw this.alertTestError;
        return { sent: true, channel: 'slack', ms: 42 };
      case 'docker.status':
        return this.engine;
      case 'shift.status':
        if (!this.shiftStatus) throw new ClientError({ code: 'E_NOT_FOUND', message: `no model ${name}` });
        return this.shiftStatus;
      case 'shift.samples':
        if (!this.shiftSamples) throw new ClientError({ code: 'E_NOT_FOUND', message: `no model ${name}` });
        return this.shiftSamples;
      case 'deploy.logs':
        return { name, container: `fw-${name}`, lines: this.containerLog.slice(-Number(args['tail'] ?? 100)) };
      default:
        throw new ClientError({ code: 'E_USAGE', message: `the fake has no ${channel}` });
    }
  }

  /** Lets a deploy that waits in `deploySteps` mode finish. */
  finishDeploy(): void {
    this.pendingDeploy?.resolve();
    this.pendingDeploy = null;
  }

  on<P extends PushChannel>(channel: P, fn: (payload: PushChannels[P]) => void): () => void {
    return this.hub.on(channel, fn);
  }

  emit<P extends PushChannel>(channel: P, payload: PushChannels[P]): void {
    this.hub.emit(channel, payload);
  }

  onConnection(fn: (state: ConnectionState) => void): () => void {
    return this.hub.onConnection(fn);
  }

  async importFile(file: File): Promise<string> {
    return `/tmp/uploads/${file.name}`;
  }

  callsOf(channel: RequestChannel): unknown[] {
    return this.calls.filter((c) => c.channel === channel).map((c) => c.args);
  }
}
