/**
 * Where a version runs. Each target (embedded runtime, local Docker, later Swarm) is one file
 * implementing this interface; the deployment manager orchestrates (inspect, export, register,
 * switch the stable endpoint) and never branches on the target itself. A version whose target
 * has no implementation here fails clearly and is never served by another target.
 */
import type { ContainerStateView, DeployStartArgs, ProgressEvent, ScaleResult, SwarmStateView } from '../../../preload/contract.js';
import { FramewormError } from '../../common/errors.js';
import { TARGETS, type ModelType, type Target } from '../../common/types.js';
import type { Artifacts, LineageInput, VersionRecord } from '../../registry/registry.js';
import type { Backend } from '../../serving/backend.js';

export type Progress = (event: ProgressEvent) => void;

/** What `deploy start` hands a target once the version is exported (not yet registered). */
export interface PrepareRequest {
  readonly name: string;
  readonly version: string;
  readonly type: ModelType;
  readonly exportDir: string;
  /** The model file the embedded runtime serves (float32 or quantized ONNX). */
  readonly modelPath: string;
  readonly args: DeployStartArgs;
  /** Host port of the stable endpoint, when the version goes to production. */
  readonly port: number | null;
  /** Lineage the target may carry into what it builds (e.g. image labels). */
  readonly lineage: Readonly<Record<string, string | null>>;
}

/** A version made ready by a target but not registered yet: deploy start commits or discards it. */
export interface PreparedVersion {
  /** Artifacts and lineage to register with the version (e.g. the image tag and digest). */
  readonly artifacts: Artifacts;
  readonly lineage: LineageInput;
  /** Starts serving it (the model warmed / the container healthy). */
  load(progress: Progress, signal?: AbortSignal): Promise<Backend>;
  /** After the registry commit: makes what was built the workspace's current one. */
  commit(): void;
  /** The deploy failed before committing: removes what was built. */
  discard(): Promise<void>;
}

/** One place a version can run. */
export interface DeploymentTarget {
  readonly kind: Target;
  /** Refuses options this target does not take (usage errors, before any work). */
  validate(args: DeployStartArgs): void;
  /** Checks what the target needs is reachable (e.g. the Docker daemon), before exporting. */
  preflight(): Promise<void>;
  /** Builds what the target needs from an exported version. */
  prepare(request: PrepareRequest, progress: Progress, signal?: AbortSignal): Promise<PreparedVersion>;
  /** Makes a registered version servable (promote, rollback, restore, self-healing). */
  load(record: VersionRecord, progress: Progress, signal?: AbortSignal): Promise<Backend>;
  /** Target-specific state of a serving backend for `deploy status` (e.g. its container). */
  describe(backend: Backend): Promise<ContainerStateView | null>;
  /**
   * At agent start: removes what a killed agent left behind. `isRegistered` tells which
   * (model, version) the registry knows; `hasProduction` whether any production version runs here.
   */
  cleanUp(isRegistered: (model: string, version: string) => boolean, hasProduction: boolean, log: (line: string) => void): Promise<void>;
  /**
   * True where every version of a deployment runs in one shared unit (a Swarm service updated in
   * place): a version leaving production cannot stay loaded as a warm standby.
   */
  readonly sharesServing?: boolean;
  /** Changes how many replicas serve `backend`'s version (targets that replicate: swarm). */
  scale?(backend: Backend, replicas: number, progress: Progress): Promise<Omit<ScaleResult, 'name'>>;
  /** More target-specific state for `deploy status` (the swarm service and its tasks). */
  details?(backend: Backend): Promise<{ swarm?: SwarmStateView | null }>;
}

/**
 * `detail.kind` of the error a target throws when the platform itself rolled an update back
 * (the new version never became healthy): the deployment manager records it as a failed
 * promotion, and the previous version keeps serving.
 */
export const ROLLED_BACK_UPDATE = 'rolled_back_update';

/** The reason of a rolled-back update, or null for any other error. */
export function rolledBackReason(err: unknown): string | null {
  const detail = err && typeof err === 'object' ? (err as { detail?: unknown }).detail : undefined;
  if (!detail || typeof detail !== 'object') return null;
  const d = detail as { kind?: unknown; reason?: unknown };
  return d.kind === ROLLED_BACK_UPDATE && typeof d.reason === 'string' ? d.reason : null;
}

/** The targets of one control plane, by kind. */
export class TargetTable {
  private readonly byKind = new Map<Target, DeploymentTarget>();

  constructor(targets: readonly DeploymentTarget[]) {
    for (const t of targets) this.byKind.set(t.kind, t);
  }

  /** The implementation of `kind`, or a clear error naming the ones this build has. */
  get(kind: Target | string): DeploymentTarget {
    const t = this.byKind.get(kind as Target);
    if (t) return t;
    const known = TARGETS.filter((k) => this.byKind.has(k));
    const what = (TARGETS as readonly string[]).includes(kind) ? `target '${kind}' is not available in this build` : `unknown target '${kind}'`;
    throw new FramewormError('E_USAGE', `${what}; use ${known.map((k) => `--target ${k}`).join(' or ')}`);
  }

  has(kind: string): boolean {
    return this.byKind.has(kind as Target);
  }

  all(): DeploymentTarget[] {
    return [...this.byKind.values()];
  }
}
