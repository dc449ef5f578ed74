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
  readonly actor?: string;
}

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
  /** The rollback watcher's view of this deployment (absent where no watcher runs). */
  readonly watcher?: WatcherView | null;
  /** The fault drill running on the production version, or null. */
  readonly drill: DrillView | null;
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

/** A running (or just ended) drill. */
export interface DrillView {
  readonly version: string;
  readonly latency_ms: number | null;
  readonly error_rate: number | null;
  readonly seed: number;
  readonly duration_ms: number | null;
  readonly started_at: string;
  readonly expires_at: string | null;
  readonly requests: number;
  readonly injected_errors: number;
}

export interface DrillResult {
  readonly name: string;
  readonly action: 'start' | 'cleared';
  readonly drill: DrillView | null;
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
  'events.list': [EventsListArgs, readonly EventView[]];
  /** Pushes `event` for each new event of the model until the caller goes away. */
  'events.follow': [EventsFollowArgs, { readonly ended: true }];
}

export type RequestChannel = keyof RequestChannels;
export type ChannelArgs<C extends RequestChannel> = RequestChannels[C][0];
export type ChannelResult<C extends RequestChannel> = RequestChannels[C][1];

/** A step of a long operation, streamed while it runs. */
export interface ProgressEvent {
  readonly step: string;
  readonly message: string;
  /** 0–1 when known. */
  readonly value?: number;
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
  'events.list',
  'events.follow',
];
