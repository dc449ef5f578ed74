/**
 * Low-level reads and writes on the registry tables, shared by the Registry's transactions.
 * Nothing here opens a transaction; callers wrap these in one.
 */
import type Database from 'better-sqlite3';
import { FramewormError } from '../common/errors.js';
import type { Stage } from '../common/types.js';
import type { JsonObject } from '../common/json.js';
import type { EventRow, ModelRow, TransitionRow, VersionRow } from './records.js';

const VERSION_SELECT = `
  SELECT v.id, v.model_id, m.name AS model_name, v.version, v.type, v.target, v.stage,
         v.artifacts, v.lineage, v.created_at, v.deployed_at, v.archived_at
  FROM versions v JOIN models m ON m.id = v.model_id`;

/** The model's row, or undefined. */
export function modelRow(db: Database.Database, name: string): ModelRow | undefined {
  return db.prepare<[string], ModelRow>('SELECT * FROM models WHERE name = ?').get(name);
}

/** The model's row, or E_NOT_FOUND listing the models that do exist. */
export function requireModelRow(db: Database.Database, name: string): ModelRow {
  const row = modelRow(db, name);
  if (row) return row;
  const names = db.prepare<[], { name: string }>('SELECT name FROM models ORDER BY name').all().map((r) => r.name);
  const known = names.length > 0 ? `models: ${names.join(', ')}` : 'the registry is empty';
  throw new FramewormError('E_NOT_FOUND', `no model named ${name} in the registry (${known})`);
}

/** Creates a model row (first registration of a name). */
export function insertModel(db: Database.Database, name: string, target: string, at: string): ModelRow {
  db.prepare<[string, string, string]>("INSERT INTO models (name, created_at, target, settings) VALUES (?, ?, ?, '{}')")
    .run(name, at, target);
  return requireModelRow(db, name);
}

/** The row of `name`/`version`, or undefined. */
export function versionRow(db: Database.Database, name: string, version: string): VersionRow | undefined {
  return db
    .prepare<[string, string], VersionRow>(`${VERSION_SELECT} WHERE m.name = ? AND v.version = ?`)
    .get(name, version);
}

/** The model's version strings in registration order. */
export function versionNames(db: Database.Database, modelId: number): string[] {
  return db
    .prepare<[number], { version: string }>('SELECT version FROM versions WHERE model_id = ? ORDER BY id')
    .all(modelId)
    .map((r) => r.version);
}

/** The version's row, or E_NOT_FOUND naming model and version and listing existing versions. */
export function requireVersionRow(db: Database.Database, name: string, version: string): VersionRow {
  const model = requireModelRow(db, name);
  const row = versionRow(db, name, version);
  if (row) return row;
  const names = versionNames(db, model.id);
  const known = names.length > 0 ? `versions: ${names.join(', ')}` : 'it has no versions';
  throw new FramewormError('E_NOT_FOUND', `model ${name} has no version ${version} (${known})`);
}

/** The model's version rows in registration order. */
export function versionRows(db: Database.Database, modelId: number): VersionRow[] {
  return db.prepare<[number], VersionRow>(`${VERSION_SELECT} WHERE v.model_id = ? ORDER BY v.id`).all(modelId);
}

/** The model's production row (at most one: the partial unique index guarantees it). */
export function productionRow(db: Database.Database, modelId: number): VersionRow | undefined {
  return db
    .prepare<[number], VersionRow>(`${VERSION_SELECT} WHERE v.model_id = ? AND v.stage = 'production'`)
    .get(modelId);
}

/** Re-reads a version row inside the current transaction (after an update). */
export function versionRowById(db: Database.Database, id: number): VersionRow {
  const row = db.prepare<[number], VersionRow>(`${VERSION_SELECT} WHERE v.id = ?`).get(id);
  if (!row) throw new FramewormError('E_INTERNAL', `version row ${id} vanished inside a transaction`);
  return row;
}

/**
 * The archived version that most recently left production: ordered by its last transition
 * into archived (transition ids are monotonic, unlike timestamps that can tie).
 */
export function lastArchivedProductionRow(db: Database.Database, modelId: number): VersionRow | undefined {
  return db
    .prepare<[number], VersionRow>(
      `${VERSION_SELECT}
       WHERE v.model_id = ? AND v.stage = 'archived' AND v.deployed_at IS NOT NULL
       ORDER BY (SELECT MAX(t.id) FROM transitions t WHERE t.version_id = v.id AND t.to_stage = 'archived') DESC,
                v.id DESC
       LIMIT 1`,
    )
    .get(modelId);
}

/** Next automatic version string: one more than the highest `v<N>`, starting at v1. */
export function nextVersionName(db: Database.Database, modelId: number): string {
  let max = 0;
  for (const name of versionNames(db, modelId)) {
    const n = /^v(\d+)$/.exec(name)?.[1];
    if (n !== undefined) max = Math.max(max, Number(n));
  }
  return `v${max + 1}`;
}

/** One stage move to apply and record. */
export interface StageChange {
  readonly versionId: number;
  readonly from: Stage | null;
  readonly to: Stage;
  readonly actor: string;
  readonly reason: string | null;
  readonly at: string;
}

/**
 * Moves a version to a stage and writes its transition row. deployed_at is stamped on entering
 * production; archived_at is set on entering archived and cleared on leaving it.
 */
export function applyStageChange(db: Database.Database, change: StageChange): void {
  if (change.from !== null) {
    // In SET expressions `stage` is still the old value, which is what "leaving archived" needs.
    db.prepare<{ to: string; at: string; id: number }>(
      `UPDATE versions SET stage = @to,
         deployed_at = CASE WHEN @to = 'production' THEN @at ELSE deployed_at END,
         archived_at = CASE WHEN @to = 'archived' THEN @at WHEN stage = 'archived' THEN NULL ELSE archived_at END
       WHERE id = @id`,
    ).run({ to: change.to, at: change.at, id: change.versionId });
  }
  db.prepare<[number, string | null, string, string, string | null, string]>(
    'INSERT INTO transitions (version_id, from_stage, to_stage, actor, reason, at) VALUES (?, ?, ?, ?, ?, ?)',
  ).run(change.versionId, change.from, change.to, change.actor, change.reason, change.at);
}

/** Inserts one row into the events table; returns its id. */
export function insertEventRow(
  db: Database.Database,
  modelId: number,
  version: string | null,
  event: string,
  fields: JsonObject,
  ts: string,
): number {
  const info = db.prepare<[number, string | null, string, string, string]>(
    'INSERT INTO events (model_id, version, event, payload, ts) VALUES (?, ?, ?, ?, ?)',
  ).run(modelId, version, event, JSON.stringify(fields), ts);
  return Number(info.lastInsertRowid);
}

/** Every model with its production version string and version count, by name. */
export function modelSummaryRows(db: Database.Database): (ModelRow & { production: string | null; version_count: number })[] {
  return db
    .prepare<[], ModelRow & { production: string | null; version_count: number }>(
      `SELECT m.*,
         (SELECT version FROM versions WHERE model_id = m.id AND stage = 'production') AS production,
         (SELECT COUNT(*) FROM versions WHERE model_id = m.id) AS version_count
       FROM models m ORDER BY m.name`,
    )
    .all();
}

/** Every transition of the model's versions, oldest first. */
export function transitionRows(db: Database.Database, modelId: number): TransitionRow[] {
  return db
    .prepare<[number], TransitionRow>(
      `SELECT v.version, t.from_stage, t.to_stage, t.actor, t.reason, t.at
       FROM transitions t JOIN versions v ON v.id = t.version_id
       WHERE v.model_id = ? ORDER BY t.id`,
    )
    .all(modelId);
}

/** The last `limit` events of a model, newest first. */
export function lastEventRows(db: Database.Database, modelId: number, limit: number): EventRow[] {
  return db
    .prepare<[number, number], EventRow>(
      `SELECT e.id, m.name AS model, e.version, e.event, e.payload, e.ts
       FROM events e JOIN models m ON m.id = e.model_id
       WHERE e.model_id = ? ORDER BY e.id DESC LIMIT ?`,
    )
    .all(modelId, limit);
}

/**
 * The model's events a JSONL log is missing, oldest first: those with an id above `after.id`,
 * or (for logs written before lines carried ids) those stamped after `after.ts`.
 */
export function eventRowsAfter(db: Database.Database, modelId: number, after: { readonly id: number } | { readonly ts: string }): EventRow[] {
  const [column, value] = 'id' in after ? ['e.id', after.id] : ['e.ts', after.ts];
  return db
    .prepare<[number, number | string], EventRow>(
      `SELECT e.id, m.name AS model, e.version, e.event, e.payload, e.ts
       FROM events e JOIN models m ON m.id = e.model_id
       WHERE e.model_id = ? AND ${column} > ? ORDER BY e.id`,
    )
    .all(modelId, value);
}
