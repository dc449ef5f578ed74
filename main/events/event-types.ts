/**
 * The typed event stream's vocabulary: every event the control plane records, as one member of
 * a discriminated union on `event`, with its fixed fields. The registry's events table, each
 * model's JSONL log and in-process subscribers (watcher, alert router, GUI, tray) all carry
 * these same shapes. Names and fields that DESIGN §7 fixes (`rollback` with `ts`, `event`,
 * `model`, `from_version`, `to_version`, `reason`, `p95_ms`, `error_rate`, `success`) are kept.
 */
import type { JsonObject } from '../common/json.js';

/** Fields of each event, by name. `null` means "not known / not applicable", never missing. */
export interface EventFieldMap {
  register: { version: string; stage: string; type: string; target: string; actor: string; artifacts: JsonObject; lineage: JsonObject };
  promote: { version: string; from_stage: string; to_stage: string; actor: string; reason: string | null; archived_version: string | null };
  archive: { version: string; from_stage: string; to_stage: string; actor: string; reason: string; replaced_by: string };
  deploy: {
    version: string; type: string; target: string; stage: string; endpoint: string | null;
    archived_version?: string | null; dataset_checksum: string | null;
  };
  stop: { version: string | null; reason: string };
  restore: { version: string; endpoint: string | null };
  restore_failed: { version: string; error: string };
  rollback_started: {
    from_version: string | null; to_version: string | null; reason: string; p95_ms: number | null;
    error_rate: number | null; streak?: number; actor?: string;
  };
  rollback: {
    from_version: string | null; to_version: string | null; reason: string; p95_ms: number | null;
    error_rate: number | null; success: boolean; error?: string; streak?: number; actor?: string;
  };
  check: {
    version: string; verdict: 'pass' | 'breach' | 'inconclusive' | 'error'; p95_ms: number | null;
    error_rate: number | null; error_rate_lower: number | null; requests: number; in_flight: number; streak: number;
    probes?: number; error?: string;
  };
  drill: {
    version: string; action: 'start' | 'cleared' | 'expired' | 'version_left'; latency_ms: number | null; error_rate: number | null;
    duration_s: number | null; seed: number; requests?: number; injected_errors?: number; actor?: string;
  };
  config_rejected: { error: string };
  /** One tumbling drift window checked against the deployment's reference. */
  drift_check: {
    version: string; drifted: boolean; severity: 'NONE' | 'LOW' | 'MEDIUM' | 'HIGH'; window: JsonObject;
    groups: JsonObject[]; consecutive: number; reference_source: string;
  };
  /** Consecutive drifted windows (2 by default): what alerts and rollback_on_drift act on. */
  drift: { version: string; severity: 'NONE' | 'LOW' | 'MEDIUM' | 'HIGH'; consecutive: number; groups: string[]; window: JsonObject };
  drift_reference: { version: string; source: string; rows: number };
  drift_worker_restarted: { error: string };
  alert: { channel: string; outcome: 'sent' | 'failed' | 'skipped'; about_event_id: number | null; about_event: string; error?: string };
  image_rebuilt: { version: string; image: string; image_digest: string; previous_digest: string | null };
  backend_lost: { version: string; reason: string; container?: string | null; container_id?: string | null; exit_code?: number | null; detail?: string };
  backend_restored: { version: string; container?: string | null; container_id?: string | null; previous_container_id?: string | null; attempts?: number };
  self_heal_failed: { version: string; error: string; attempts?: number; container_id?: string | null };
  event_log_error: { log: string; error: string };
  registry_recovered: { events_replayed: number };
  recovered: { versions_from_manifests: string[] };
}

export type EventName = keyof EventFieldMap;

/** Fields every event carries, whatever its kind. */
export interface EventEnvelope {
  /** Row id in the registry's events table; null for a model that is not registered. */
  readonly id: number | null;
  readonly ts: string;
  readonly model: string;
}

/** One event: the discriminated union over `event`. */
export type FramewormEvent = { [K in EventName]: EventEnvelope & { readonly event: K } & Readonly<EventFieldMap[K]> }[EventName];

/** An event of one kind. */
export type EventOf<K extends EventName> = Extract<FramewormEvent, { event: K }>;

const NAMES: ReadonlySet<string> = new Set<EventName>([
  'register', 'promote', 'archive', 'deploy', 'stop', 'restore', 'restore_failed', 'rollback_started', 'rollback',
  'check', 'drill', 'alert', 'image_rebuilt', 'backend_lost', 'backend_restored', 'self_heal_failed',
  'event_log_error', 'registry_recovered', 'recovered', 'config_rejected', 'drift_check', 'drift', 'drift_reference',
  'drift_worker_restarted',
]);

/** True for the names of the union. */
export function isEventName(name: string): name is EventName {
  return NAMES.has(name);
}

/** Narrows an event to one kind. */
export function isEvent<K extends EventName>(e: FramewormEvent, kind: K): e is EventOf<K> {
  return e.event === kind;
}
