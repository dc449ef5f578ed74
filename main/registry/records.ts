/**
 * Record shapes the registry returns, and their mapping from database rows.
 * Records use the snake_case JSON shape of DESIGN §4 directly, so the CLI's `--json`, the
 * agent's HTTP API and the GUI can pass them through without renaming fields.
 */
import { FramewormError } from '../common/errors.js';
import { isModelType, isStage, isTarget, type ModelType, type Stage, type Target } from '../common/types.js';
import { isJsonObject, parseJsonObject, type JsonObject } from '../common/json.js';

/** Export artifacts by kind (e.g. `onnx`, `torchscript`, `manifest`) → file path. */
export type Artifacts = { readonly [kind: string]: string };

/** Where a version came from (DESIGN §6). Unknown values are null, never missing. */
export type Lineage = {
  readonly checkpoint_sha256: string | null;
  /** Export artifact file name → sha256. */
  readonly artifact_hashes: { readonly [file: string]: string };
  readonly image_digest: string | null;
  readonly git_commit: string | null;
  readonly config_snapshot: JsonObject | null;
  readonly dataset_checksum: string | null;
  readonly training_metrics: JsonObject | null;
  readonly epoch: number | null;
  readonly source_path: string | null;
  readonly hyper_parameters: JsonObject | null;
};

/** JSON-object lineage fields: inputs may be any plain records; they are stored as JSON. */
type LineageObjectKey = 'config_snapshot' | 'training_metrics' | 'hyper_parameters';

/**
 * What callers pass to register or patch lineage: any subset of the keys. The JSON-object
 * fields accept records of unknown values (e.g. hyper-parameters read from a checkpoint);
 * they are converted to plain JSON when stored.
 */
export type LineageInput = {
  readonly [K in keyof Lineage]?: K extends LineageObjectKey ? Readonly<Record<string, unknown>> | null : Lineage[K];
};

/** One registered version, in the JSON shape of `deploy status --json` → versions[]. */
export type VersionRecord = {
  /** The model's name. */
  readonly name: string;
  readonly version: string;
  readonly stage: Stage;
  readonly type: ModelType;
  readonly target: Target;
  readonly created_at: string;
  /** Last time it became production; non-null means it has been production before. */
  readonly deployed_at: string | null;
  /** When it was archived; null unless the stage is archived. */
  readonly archived_at: string | null;
  readonly artifacts: Artifacts;
  readonly lineage: Lineage;
};

/** One model (a deployment name). */
export type ModelRecord = {
  readonly name: string;
  readonly created_at: string;
  readonly endpoint_port: number | null;
  readonly target: Target | null;
  /** Deployment settings of the model (free-form JSON owned by the deploy orchestrator). */
  readonly settings: JsonObject;
};

/** A model as `deploy list` shows it. */
export type ModelSummary = ModelRecord & {
  /** Version string in production, or null. */
  readonly production: string | null;
  /** Number of registered versions. */
  readonly versions: number;
};

/** One stage change of a version, with who asked and why. */
export type TransitionRecord = {
  readonly version: string;
  /** null for the registration of the version. */
  readonly from_stage: Stage | null;
  readonly to_stage: Stage;
  readonly actor: string;
  readonly reason: string | null;
  readonly at: string;
};

/** One event as stored in the events table (the JSONL line's fields are in `fields`). */
export type EventRecord = {
  readonly id: number;
  readonly model: string;
  readonly version: string | null;
  readonly event: string;
  readonly ts: string;
  readonly fields: JsonObject;
};

export interface RegisterInput {
  readonly name: string;
  /** Default: the next `v<N>`. */
  readonly version?: string;
  readonly type: ModelType;
  readonly target: Target;
  readonly artifacts?: Artifacts;
  readonly lineage?: LineageInput;
  /** dev (default) or staging; production is reached by `promote`. */
  readonly stage?: Stage;
  readonly actor?: string;
}

/** An event the caller commits in the same transaction as a stage change. */
export interface EventInput {
  readonly event: string;
  readonly fields: JsonObject;
}

/** Where the model is served, committed together with a stage change. */
export interface EndpointInput {
  readonly port: number | null;
  readonly target: Target | null;
}

/**
 * What commits atomically with a stage change: the audit events describing it (so a kill -9
 * right after the commit cannot lose them) and the endpoint it is served on.
 */
export interface CommitExtras {
  readonly events?: readonly EventInput[];
  readonly endpoint?: EndpointInput;
}

export interface ChangeOptions extends CommitExtras {
  /** Who asked: `user`, `cli`, `gui`, `watcher`, … (default `user`). */
  readonly actor?: string;
  readonly reason?: string | null;
}

export interface RollbackOptions extends CommitExtras {
  readonly reason: string;
  readonly actor?: string;
  /** Roll back to this archived version instead of the one that most recently left production. */
  readonly toVersion?: string;
}

export interface PromoteResult {
  readonly version: VersionRecord;
  /** The previous production version, archived by this promotion. */
  readonly archived: VersionRecord | null;
}

export interface RollbackResult {
  /** The production version that was archived (null when none was in production). */
  readonly from: VersionRecord | null;
  readonly to: VersionRecord;
}

/** Raw rows as better-sqlite3 returns them. */
export interface ModelRow {
  id: number;
  name: string;
  created_at: string;
  endpoint_port: number | null;
  target: string | null;
  settings: string;
}

export interface VersionRow {
  id: number;
  model_id: number;
  model_name: string;
  version: string;
  type: string;
  target: string;
  stage: string;
  artifacts: string;
  lineage: string;
  created_at: string;
  deployed_at: string | null;
  archived_at: string | null;
}

export interface TransitionRow {
  version: string;
  from_stage: string | null;
  to_stage: string;
  actor: string;
  reason: string | null;
  at: string;
}

export interface EventRow {
  id: number;
  model: string;
  version: string | null;
  event: string;
  payload: string;
  ts: string;
}

function corrupt(what: string): FramewormError {
  return new FramewormError('E_INTERNAL', `registry database holds an invalid ${what}`);
}

function toStage(value: string): Stage {
  if (!isStage(value)) throw corrupt(`stage "${value}"`);
  return value;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
/** A JSON copy of a plain object (bigint → number, NaN/Infinity → null as JSON does), else null. */
function obj(v: unknown): JsonObject | null {
  if (!isJsonObject(v)) return null;
  const text = JSON.stringify(v, (_key, value: unknown) => (typeof value === 'bigint' ? Number(value) : value));
  return parseJsonObject(text);
}

/** Fills every lineage key (null when unknown), keeping keys this code does not know. */
export function normalizeLineage(input: JsonObject | LineageInput | null): Lineage {
  // Extra keys are kept so a newer writer's lineage fields survive an older reader's update.
  const src: Record<string, unknown> = { ...(input ?? {}) };
  const hashes: Record<string, string> = {};
  const rawHashes = src['artifact_hashes'];
  if (isJsonObject(rawHashes)) {
    for (const [file, hash] of Object.entries(rawHashes)) if (typeof hash === 'string') hashes[file] = hash;
  }
  const epoch = src['epoch'];
  return {
    ...(src as JsonObject),
    checkpoint_sha256: str(src['checkpoint_sha256']),
    artifact_hashes: hashes,
    image_digest: str(src['image_digest']),
    git_commit: str(src['git_commit']),
    config_snapshot: obj(src['config_snapshot']),
    dataset_checksum: str(src['dataset_checksum']),
    training_metrics: obj(src['training_metrics']),
    epoch: typeof epoch === 'number' && Number.isFinite(epoch) ? epoch : null,
    source_path: str(src['source_path']),
    hyper_parameters: obj(src['hyper_parameters']),
  };
}

/** Keeps only string-valued entries: artifacts are kind → path. */
export function normalizeArtifacts(input: JsonObject | Artifacts | null): Artifacts {
  const out: Record<string, string> = {};
  for (const [kind, p] of Object.entries(input ?? {})) if (typeof p === 'string') out[kind] = p;
  return out;
}

/** Maps a version row (joined with its model name) to a VersionRecord. */
export function versionFromRow(row: VersionRow): VersionRecord {
  if (!isModelType(row.type)) throw corrupt(`model type "${row.type}"`);
  if (!isTarget(row.target)) throw corrupt(`target "${row.target}"`);
  return {
    name: row.model_name,
    version: row.version,
    stage: toStage(row.stage),
    type: row.type,
    target: row.target,
    created_at: row.created_at,
    deployed_at: row.deployed_at,
    archived_at: row.archived_at,
    artifacts: normalizeArtifacts(parseJsonObject(row.artifacts)),
    lineage: normalizeLineage(parseJsonObject(row.lineage)),
  };
}

/** Maps a models row to a ModelRecord. */
export function modelFromRow(row: ModelRow): ModelRecord {
  const target = row.target;
  return {
    name: row.name,
    created_at: row.created_at,
    endpoint_port: row.endpoint_port,
    target: target !== null && isTarget(target) ? target : null,
    settings: parseJsonObject(row.settings) ?? {},
  };
}

/** Maps a transitions row to a TransitionRecord. */
export function transitionFromRow(row: TransitionRow): TransitionRecord {
  return {
    version: row.version,
    from_stage: row.from_stage === null ? null : toStage(row.from_stage),
    to_stage: toStage(row.to_stage),
    actor: row.actor,
    reason: row.reason,
    at: row.at,
  };
}

/** Maps an events row to an EventRecord. */
export function eventFromRow(row: EventRow): EventRecord {
  return {
    id: row.id,
    model: row.model,
    version: row.version,
    event: row.event,
    ts: row.ts,
    fields: parseJsonObject(row.payload) ?? {},
  };
}
