/**
 * The one typed contract between the control plane and its clients.
 *
 * Request channels map a channel name to its argument and result types; push channels map an
 * event name to its payload. The Electron preload implements this contract over IPC, the web
 * client and the CLI over the agent's HTTP transport; main/ serves both from one handler table.
 * This file holds types only, so the sandboxed preload can import it without Node modules.
 */

export type ModelTypeName = 'vae' | 'dcgan' | 'ddpm' | 'vqvae2' | 'vitgan' | 'cfg_ddpm' | 'generic';
export type StageName = 'dev' | 'staging' | 'production' | 'archived';
export type TargetName = 'embedded' | 'docker' | 'swarm';

export interface DeployStartArgs {
  readonly model: string;
  readonly name: string;
  readonly type?: ModelTypeName | 'auto';
  readonly version?: string;
  readonly target?: TargetName;
  readonly port?: number;
  readonly stage?: 'production' | 'staging';
  readonly quantize?: boolean;
  /** Image size for fully convolutional models (ddpm, cfg_ddpm, vqvae2), which the weights cannot tell. */
  readonly imageSize?: number;
  readonly shift?: string;
  readonly buildDocker?: boolean;
  readonly baseImage?: string;
  /** A dataset file or folder to hash into the version's lineage (`--dataset`). */
  readonly dataset?: string;
  /** A dataset checksum computed elsewhere (`--dataset-checksum`, 64 hex digits). */
  readonly datasetChecksum?: string;
  /** Replicas on the swarm target (`--replicas`; default deploy.swarm_replicas). */
  readonly replicas?: number;
  readonly actor?: string;
}

/** Most replicas one Swarm service may run (`--replicas`, `deploy scale`, `swarm_replicas`); main/config uses this one. */
export const MAX_SWARM_REPLICAS = 32;

/**
 * What went wrong after a change had committed (e.g. the JSONL log could not be written): the
 * change stands; the CLI prints these as warnings, never as a failure.
 */
export interface CommittedWarnings {
  readonly warnings?: readonly string[];
}

export interface DeployStartResult extends CommittedWarnings {
  readonly name: string;
  readonly version: string;
  readonly type: ModelTypeName;
  readonly target: TargetName;
  readonly stage: StageName;
  readonly endpoint: string | null;
  readonly archived_version: string | null;
  readonly export_dir: string;
}

export interface VersionView {
  readonly version: string;
  readonly stage: StageName;
  readonly type: ModelTypeName;
  readonly target: TargetName;
  readonly created_at: string;
  readonly deployed_at: string | null;
  readonly archived_at: string | null;
  readonly lineage: Readonly<Record<string, unknown>>;
  readonly artifacts: Readonly<Record<string, unknown>>;
}

export interface MetricsView {
  readonly p50_ms: number;
  readonly p95_ms: number;
  readonly p99_ms: number;
  readonly mean_ms: number;
  readonly max_ms: number;
  readonly error_rate: number;
  readonly requests: number;
  readonly window_requests: number;
  readonly window_s: number;
  readonly version: string | null;
  /** Dynamic / continuous batching of the version serving (embedded target); null when it does not batch. */
  readonly batching?: BatchingView | null;
}

/** A cumulative histogram as Prometheus counts it: `le` bound → observations ≤ bound. */
export interface HistogramView {
  readonly buckets: readonly { readonly le: number; readonly count: number }[];
  readonly sum: number;
  readonly count: number;
}

/** Batching state and counters of a serving version (see main/serving/batching/batch-stats.ts). */
export interface BatchingView {
  readonly enabled: boolean;
  /** 'dynamic' (one-shot requests coalesced) or 'continuous' (diffusion steps shared). */
  readonly mode: 'dynamic' | 'continuous';
  readonly max_rows: number;
  readonly max_delay_ms: number;
  /** Model calls made, the rows and the request parts they carried (lifetime). */
  readonly calls: number;
  readonly rows: number;
  readonly requests: number;
  /** Requests (or diffusion requests) waiting for room now, and model calls running now. */
  readonly queued: number;
  readonly running_calls: number;
  /** Requests answered 503 because their deadline could not be met at the measured rate. */
  readonly overload_rejections: number;
  readonly batch_rows: HistogramView;
  readonly queue_delay_ms: HistogramView;
}

export interface DeploymentStatus {
  readonly name: string;
  readonly endpoint: string | null;
  readonly serving: boolean;
  readonly serving_version: string | null;
  readonly production: string | null;
  readonly target: TargetName | null;
  readonly versions: readonly VersionView[];
  readonly metrics: MetricsView | null;
  /** The docker target's container (state and health from the daemon); null on other targets. */
  readonly container: ContainerStateView | null;
  /** The swarm target's service: replicas, tasks with their health, the update state (absent on other targets). */
  readonly swarm?: SwarmStateView | null;
  /** The rollback watcher's view of this deployment (absent where no watcher runs). */
  readonly watcher?: WatcherView | null;
  /** The fault drill running on the production version, or null. */
  readonly drill: DrillView | null;
  /** The deployment's last drift check (absent where no monitor runs; null before the first). */
  readonly drift?: DriftCheckView | null;
}

/** `deploy drill`: a fault injected into the production version at its stable endpoint. */
export interface DrillArgs {
  readonly name: string;
  /** Added latency per request, ms. */
  readonly latency_ms?: number;
  /** Seeded fraction of /predict requests answered 500. */
  readonly error_rate?: number;
  /** Ends by itself after this many seconds (default: until cleared or the version leaves production). */
  readonly duration_s?: number;
  readonly seed?: number;
  /** Ends the running drill instead. */
  readonly clear?: boolean;
  readonly actor?: string;
}

/** A running (or just ended) fault drill. */
export interface DrillView {
  readonly version: string;
  /** null when the drill adds no latency. */
  readonly latency_ms: number | null;
  /** null when the drill injects no errors. */
  readonly error_rate: number | null;
  readonly seed: number;
  /** null when it runs until cleared. */
  readonly duration_ms: number | null;
  /** ISO times from the drill clock. */
  readonly started_at: string;
  readonly expires_at: string | null;
  /** /predict requests of the drilled version the drill has seen (the numbering of the seeded choice). */
  readonly requests: number;
  /** Of those, answered 500 by the drill. */
  readonly injected_errors: number;
}

export interface DrillResult {
  readonly name: string;
  readonly action: 'start' | 'cleared';
  readonly drill: DrillView | null;
}

/** One group of a drift check (the fixed JSON of shift compare/status and drift_check events). */
export interface DriftGroupView {
  readonly name: string;
  readonly test: string;
  readonly p_value: number | null;
  readonly p_adjusted: number | null;
  readonly effect: number | null;
  readonly drifted: boolean;
  readonly severity: string;
  readonly skipped_reason?: string;
  readonly [more: string]: unknown;
}

/** A drift check: `{drifted, severity, window, groups}` plus when, which version and the streak. */
export interface DriftCheckView {
  readonly drifted: boolean;
  readonly severity: 'NONE' | 'LOW' | 'MEDIUM' | 'HIGH';
  readonly window: { readonly reference: number; readonly current: number };
  readonly groups: readonly DriftGroupView[];
  readonly version: string;
  readonly ts: string;
  readonly consecutive: number;
}

export interface ShiftStatusView {
  readonly name: string;
  readonly enabled: boolean;
  readonly tracker: {
    readonly reference_source: string; readonly reference_rows: number; readonly reference_ready: boolean;
    readonly window_rows: number; readonly window_size: number; readonly windows_checked: number;
  } | null;
  readonly last: DriftCheckView | null;
  readonly sampled: number;
  readonly dropped: number;
}

/** A feature group's rows: numeric (rows of columns), scalar or categorical. */
export interface FeatureGroupView {
  readonly name: string;
  readonly kind: 'numeric' | 'scalar' | 'categorical';
  readonly rows: readonly unknown[];
  readonly featureNames?: readonly string[];
}

export interface ShiftSamplesView {
  readonly name: string;
  readonly type: string | null;
  readonly shift_profile: string | null;
  readonly reference: readonly FeatureGroupView[] | null;
  readonly current: readonly FeatureGroupView[] | null;
  readonly recent: readonly FeatureGroupView[] | null;
}

/** `deploy status --json` → `watcher`. */
export interface WatcherView {
  /** The rule in words. */
  readonly rule: string;
  readonly streak: number;
  readonly required: number;
  /** The latest `check` events, oldest first. */
  readonly last_checks: readonly EventView[];
  readonly next_check_at: string | null;
  readonly cooldown_until: string | null;
}
export interface ContainerStateView {
  readonly id: string;
  readonly name: string;
  readonly image: string;
  readonly image_id: string;
  readonly host_port: number;
  /** Docker's state (running, exited, …), 'missing' once removed, 'unknown' when the daemon does not answer. */
  readonly state: string;
  /** starting, healthy, unhealthy, none, unknown. */
  readonly health: string;
  readonly running: boolean;
  readonly exit_code: number | null;
  readonly oom_killed: boolean;
  readonly started_at: string | null;
  readonly finished_at: string | null;
  readonly error?: string;
}

/** One task of a swarm service, as `deploy status` shows it. */
export interface SwarmTaskView {
  readonly id: string;
  readonly slot: number;
  /** Swarm's task state (new, starting, running, failed, shutdown, …) and the state it is driven to. */
  readonly state: string;
  readonly desired_state: string;
  /** The container's health: starting, healthy, unhealthy, none, or unknown (no container yet). */
  readonly health: string;
  readonly version: string | null;
  /** Host port the task's server listens on (one per slot). */
  readonly port: number;
  readonly container_id: string | null;
  readonly error: string | null;
}

/** A swarm target's service, as `deploy status` shows it. */
export interface SwarmStateView {
  readonly service: string;
  readonly service_id: string;
  readonly image_id: string;
  readonly version: string | null;
  readonly replicas: number;
  readonly running: number;
  /** Swarm's UpdateStatus (updating, completed, paused, rollback_started, rollback_completed, …), null before any update. */
  readonly update: { readonly state: string; readonly message: string; readonly started_at: string | null; readonly completed_at: string | null } | null;
  readonly update_order: string;
  readonly tasks: readonly SwarmTaskView[];
  readonly error?: string;
}

/** `deploy scale`: the replicas of the production version on the swarm target. */
export interface ScaleArgs {
  readonly name: string;
  readonly replicas: number;
  readonly actor?: string;
}

export interface ScaleResult extends CommittedWarnings {
  readonly name: string;
  readonly version: string;
  readonly from_replicas: number;
  readonly replicas: number;
  readonly running: number;
}

export interface DeploymentSummary {
  readonly name: string;
  readonly production: string | null;
  readonly versions: number;
  readonly endpoint: string | null;
  readonly serving: boolean;
  readonly target: TargetName | null;
}

export interface PromoteArgs {
  readonly name: string;
  readonly version: string;
  readonly stage: StageName;
  readonly reason?: string;
  readonly actor?: string;
}

export interface PromoteResult extends CommittedWarnings {
  readonly name: string;
  readonly version: string;
  readonly stage: StageName;
  readonly archived_version: string | null;
  readonly endpoint: string | null;
}

export interface RollbackArgs {
  readonly name: string;
  readonly reason?: string;
  readonly actor?: string;
  /** Roll back to this archived version instead of the one that most recently left production. */
  readonly to_version?: string;
}

export interface RollbackResult extends CommittedWarnings {
  readonly name: string;
  readonly from_version: string | null;
  readonly to_version: string;
  readonly endpoint: string | null;
  readonly reason: string;
}

export interface StopResult extends CommittedWarnings {
  readonly name: string;
  readonly stopped_version: string | null;
  readonly archived: boolean;
}

/** A production deployment the agent could not bring back up when it started. */
export interface RestoreFailure {
  readonly name: string;
  readonly version: string;
  /** The stable endpoint's port in the registry, when it has one. */
  readonly port: number | null;
  readonly code: string;
  readonly message: string;
}

export interface AgentInfo {
  readonly pid: number;
  readonly workspace: string;
  readonly started_at: string;
  readonly uptime_s: number;
  readonly deployments: number;
  readonly version: string;
  /** Production deployments that failed to restore at agent start (empty when all came back). */
  readonly restore_failures?: readonly RestoreFailure[];
}

/** `deploy.schema`: the try-it form of the deployment's production version, from its export manifest. */
export interface TryFieldView {
  /** The request key (`seed`, `batch_size`, `num_steps`, `class_labels`, `guidance_scale`, `x`). */
  readonly key: string;
  readonly kind: 'integer' | 'number' | 'class' | 'image';
  readonly label: string;
  readonly min?: number;
  readonly max?: number;
  readonly step?: number;
  readonly default?: number | null;
  /** `class`: how many classes the model knows (labels 0 … count-1; null = unconditional). */
  readonly classes?: number;
  /** `image`: the tensor the picture becomes, [C, H, W] (H, W null when any multiple of `multiple_of` fits), and its pixel range. */
  readonly channels?: number;
  readonly height?: number | null;
  readonly width?: number | null;
  readonly multiple_of?: number;
  readonly range?: '[0,1]' | '[-1,1]';
}

export interface TryFormView {
  readonly name: string;
  readonly version: string;
  readonly type: ModelTypeName;
  /** The stable endpoint's /predict URL (what the curl command posts to). */
  readonly url: string;
  readonly fields: readonly TryFieldView[];
  /** Response keys that come back as base64 PNGs when `output_format` is "png". */
  readonly image_outputs: readonly string[];
  /** Why the form cannot be built (a generic model: no pictures to show), else null. */
  readonly unsupported: string | null;
}

export interface TryArgs {
  readonly name: string;
  /** The JSON body posted to the endpoint's /predict. */
  readonly body: Readonly<Record<string, unknown>>;
}

/** The endpoint's 2xx answer to a try-it request (a 4xx or 5xx is an error of the channel). */
export interface TryResult {
  readonly name: string;
  readonly status: number;
  readonly latency_ms: number;
  readonly output: Readonly<Record<string, unknown>>;
}

/** The settings the GUI edits (a subset of configs/deploy_config.yaml). */
export interface EditableSettings {
  readonly latency_threshold_ms: number;
  readonly error_rate_threshold: number;
  readonly rollback_checks: number;
  readonly monitor_interval_s: number;
  readonly min_requests_per_check: number;
  readonly cooldown_s: number;
  readonly alert_on: readonly ('slack' | 'log' | 'tray')[];
}

/** `config.get`: the editable settings in force; the Slack URL itself is never sent, only whether one is set. */
export interface SettingsView {
  readonly settings: EditableSettings;
  readonly slack_webhook_set: boolean;
  /** Where the URL comes from: the config file, the FRAMEWORM_SLACK_WEBHOOK variable, or nowhere. */
  readonly slack_webhook_source: 'config' | 'env' | null;
  /** The workspace-relative file the settings are written to. */
  readonly file: string;
}

export interface SettingsChange {
  readonly settings?: Partial<EditableSettings>;
  /** A new webhook URL; null removes it from the config file; absent leaves it as it is. */
  readonly slack_webhook_url?: string | null;
}

export interface AlertTestResult {
  readonly sent: true;
  readonly channel: 'slack';
  readonly ms: number;
}

/** `docker.status`: whether the Docker engine answers. */
export interface DockerEngineView {
  readonly reachable: boolean;
  readonly socket: string;
  readonly version: string | null;
  readonly error: string | null;
}

export interface ContainerLogsView {
  readonly name: string;
  readonly container: string;
  readonly lines: readonly string[];
}

/** Request channels: name → [argument, result]. */
export interface RequestChannels {
  'agent.info': [Record<string, never>, AgentInfo];
  'agent.shutdown': [Record<string, never>, { readonly stopping: true }];
  'deploy.start': [DeployStartArgs, DeployStartResult];
  'deploy.status': [{ readonly name: string }, DeploymentStatus];
  'deploy.list': [Record<string, never>, readonly DeploymentSummary[]];
  'deploy.promote': [PromoteArgs, PromoteResult];
  'deploy.rollback': [RollbackArgs, RollbackResult];
  'deploy.stop': [{ readonly name: string; readonly reason?: string }, StopResult];
  'deploy.inspect': [{ readonly model: string }, Readonly<Record<string, unknown>>];
  'deploy.drill': [DrillArgs, DrillResult];
  'deploy.scale': [ScaleArgs, ScaleResult];
  'events.list': [EventsListArgs, readonly EventView[]];
  /** The deployment's live drift state: reference, window fill, last check. */
  'shift.status': [{ readonly name: string }, ShiftStatusView];
  /** Reference rows, the last window and recent traffic as feature groups (reports, profiles). */
  'shift.samples': [{ readonly name: string }, ShiftSamplesView];
  /** Pushes `event` for each new event of the model until the caller goes away. */
  'events.follow': [EventsFollowArgs, { readonly ended: true }];
  /**
   * Pushes every control-plane push message (all models' events, deployment changes, metric
   * samples, watcher state, task updates) until the caller goes away: the web server's feed.
   */
  'push.follow': [PushFollowArgs, { readonly ended: true }];
  /** The last 15 minutes of 1 Hz samples, oldest first (one deployment, or all). */
  'metrics.history': [MetricsHistoryArgs, readonly MetricsSample[]];
  /** Asks a running task to stop; it ends as `cancelled` (or `done` when it had already committed). */
  'task.cancel': [{ readonly task_id: string }, TaskView];
  /** Running tasks and the most recent finished ones, oldest first. */
  'task.list': [Record<string, never>, readonly TaskView[]];
  /** The try-it form of a serving deployment (fields, ranges, classes), from its export. */
  'deploy.schema': [{ readonly name: string }, TryFormView];
  /** Posts a body to the deployment's stable endpoint from the main side (the page cannot: another origin). */
  'deploy.try': [TryArgs, TryResult];
  /** The last lines of the docker target's container log. */
  'deploy.logs': [{ readonly name: string; readonly tail?: number }, ContainerLogsView];
  /** The editable settings; the Slack URL is write-only. */
  'config.get': [Record<string, never>, SettingsView];
  /** Validates the change with the config schema, writes configs/deploy_config.yaml and reloads it. */
  'config.set': [SettingsChange, SettingsView];
  /** Sends one Slack test message now (not through the outbox); errors say what Slack answered. */
  'alerts.test': [Record<string, never>, AlertTestResult];
  /** Whether the Docker engine answers. */
  'docker.status': [Record<string, never>, DockerEngineView];
}

export type RequestChannel = keyof RequestChannels;
export type ChannelArgs<C extends RequestChannel> = RequestChannels[C][0];
export type ChannelResult<C extends RequestChannel> = RequestChannels[C][1];

/** A step of a long operation, streamed while it runs. */
export interface ProgressEvent {
  readonly step: string;
  readonly message: string;
  /** 0–1 when known; never decreases within one task. */
  readonly value?: number;
  /** The task this step belongs to (deploy, promote and rollback run as tasks; see task.cancel). */
  readonly task_id?: string;
}

/** A task's life: a cancelled task is its own state, not a failure. */
export type TaskState = 'running' | 'done' | 'failed' | 'cancelled';

/** A long operation (deploy.start, deploy.promote, deploy.rollback) as clients see it. */
export interface TaskView {
  readonly id: string;
  readonly channel: RequestChannel;
  /** The deployment it works on, when its arguments name one. */
  readonly name: string | null;
  readonly state: TaskState;
  /** 0–1, monotonic. */
  readonly value: number;
  /** The latest step and its message. */
  readonly step: string | null;
  readonly message: string | null;
  readonly started_at: string;
  readonly ended_at: string | null;
  /** Set once cancel was asked for (by task.cancel or by the caller going away). */
  readonly cancel_requested: boolean;
  /** Why it failed (state `failed` only). */
  readonly error: ContractError | null;
}

/**
 * One deployment's metrics at one second. Percentiles and error rate are over the endpoint's
 * sliding window and null when it holds no request (a gap, not a zero); requests_per_s is null
 * for the first sample of a deployment.
 */
export interface MetricsSample {
  readonly name: string;
  /** Epoch milliseconds. */
  readonly ts: number;
  readonly p50_ms: number | null;
  readonly p95_ms: number | null;
  readonly p99_ms: number | null;
  readonly error_rate: number | null;
  readonly requests_per_s: number | null;
  /** The version serving at that second. */
  readonly version: string | null;
}

export interface MetricsHistoryArgs {
  /** One deployment (default: all of them). */
  readonly name?: string;
}

export interface PushFollowArgs {
  /** Only these channels (default: all). */
  readonly channels?: readonly PushChannel[];
}

/**
 * One event of a model's history as it crosses the contract: the fixed envelope plus the
 * event's own fields (main/events/event-types.ts is the typed union they come from).
 */
export interface EventView {
  /** Row id in the registry's events table (null for a model that was never registered). */
  readonly id: number | null;
  readonly ts: string;
  readonly model: string;
  readonly event: string;
  readonly [field: string]: unknown;
}

export interface EventsListArgs {
  readonly name: string;
  /** At most this many of the newest events (default 100, at most 10000). */
  readonly limit?: number;
}

export interface EventsFollowArgs {
  readonly name: string;
  /** Deliver events with a larger id only (default: from now on). */
  readonly after_id?: number;
}

/** Push channels: name → payload. */
export interface PushChannels {
  progress: ProgressEvent & { readonly operation: string };
  'deployment.changed': { readonly name: string };
  /** Committed events, as they happen. */
  event: EventView;
  /** Per serving deployment, once a second. */
  'metrics.sample': MetricsSample;
  /** The rollback watcher's view of a deployment after each of its events (null: nothing in production). */
  'watcher.state': { readonly name: string; readonly watcher: WatcherView | null };
  /** A task started, moved or ended. */
  task: TaskView;
}

export type PushChannel = keyof PushChannels;

/** Errors cross the contract as data and are rethrown as real errors on the other side. */
export interface ContractError {
  readonly code: string;
  readonly message: string;
  readonly detail?: unknown;
}

/** The full client-side surface: what the renderer (via preload or web client) and the CLI call. */
export type ControlPlaneClient = {
  invoke<C extends RequestChannel>(
    channel: C,
    args: ChannelArgs<C>,
    onProgress?: (p: ProgressEvent) => void,
    onPush?: <P extends PushChannel>(channel: P, payload: PushChannels[P]) => void,
  ): Promise<ChannelResult<C>>;
};

/**
 * What the renderer reaches as `window.frameworm`: the preload over IPC, or the web client over
 * HTTP and a WebSocket. `on` returns the function that unsubscribes.
 */
export interface RendererBridge extends ControlPlaneClient {
  on<P extends PushChannel>(channel: P, listener: (payload: PushChannels[P]) => void): () => void;
}

/** Every request channel, listed once so the surface is pinned by a test. */
export const REQUEST_CHANNELS: readonly RequestChannel[] = [
  'agent.info',
  'agent.shutdown',
  'deploy.start',
  'deploy.status',
  'deploy.list',
  'deploy.promote',
  'deploy.rollback',
  'deploy.stop',
  'deploy.inspect',
  'deploy.drill',
  'deploy.scale',
  'events.list',
  'events.follow',
  'shift.status',
  'shift.samples',
  'push.follow',
  'metrics.history',
  'task.cancel',
  'task.list',
  'deploy.schema',
  'deploy.try',
  'deploy.logs',
  'config.get',
  'config.set',
  'alerts.test',
  'docker.status',
];

/** Every push channel, listed once (the preload and the web client subscribe by these names). */
export const PUSH_CHANNELS: readonly PushChannel[] = ['progress', 'deployment.changed', 'event', 'metrics.sample', 'watcher.state', 'task'];
