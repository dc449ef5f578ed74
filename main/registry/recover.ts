/**
 * `frameworm registry recover`: rebuilds a lost or replaced registry database from what the
 * workspace still holds — every model's JSONL event history (registrations with their
 * artifacts and lineage, promotions, archives, rollbacks, stops, endpoints) and the export
 * manifests under `deploy_exports/<name>/<version>/`.
 *
 * The events are replayed in log order into a new database, so stages, transitions,
 * deployed/archived times and the events table come back as they were. A version found only as
 * an export folder (its registration never reached a log) comes back in `dev` with the lineage
 * its manifest records. An existing database file is moved aside, never deleted.
 */
import type Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { FramewormError } from '../common/errors.js';
import { isModelType, isStage, isTarget, type Stage } from '../common/types.js';
import { EventLog, type EventLine } from '../events/event-log.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../common/json.js';
import * as q from './queries.js';
import { normalizeArtifacts, normalizeLineage } from './records.js';
import { openRegistryDatabase } from './schema.js';

export interface RecoverInput {
  readonly dbPath: string;
  readonly logsDir: string;
  readonly exportsDir: string;
  readonly now?: () => Date;
}

export interface RecoveredModel {
  readonly name: string;
  readonly versions: number;
  readonly production: string | null;
  readonly events: number;
  /** Versions rebuilt from an export manifest alone (no registration in the log). */
  readonly from_manifests: readonly string[];
}

export interface RecoverResult {
  readonly registry: string;
  /** Where the database that was there before went, or null. */
  readonly moved_aside: string | null;
  readonly models: readonly RecoveredModel[];
  /** Log lines that could not be applied, with why (the rest still applies). */
  readonly skipped: readonly string[];
}

const RECOVER_ACTOR = 'recover';

/** Rebuilds the registry database (see the module comment). */
export function recoverRegistry(input: RecoverInput): RecoverResult {
  const now = input.now ?? (() => new Date());
  const logNames = listLogModels(input.logsDir);
  const exportNames = listDirs(input.exportsDir);
  const names = [...new Set([...logNames, ...exportNames])].sort();
  if (names.length === 0) {
    throw new FramewormError('E_NOT_FOUND', `nothing to recover from: no event logs in ${input.logsDir} and no exports in ${input.exportsDir}`);
  }
  const movedAside = moveAside(input.dbPath, now());
  const db = openRegistryDatabase(input.dbPath);
  const skipped: string[] = [];
  try {
    const log = new EventLog(input.logsDir);
    const models: RecoveredModel[] = [];
    db.transaction(() => {
      for (const name of names) models.push(recoverModel(db, name, log, input.exportsDir, skipped, now));
    }).immediate();
    return { registry: input.dbPath, moved_aside: movedAside, models, skipped };
  } finally {
    db.close();
  }
}

function recoverModel(
  db: Database.Database, name: string, log: EventLog, exportsDir: string, skipped: string[], now: () => Date,
): RecoveredModel {
  let lines: EventLine[] = [];
  try {
    lines = log.read(name);
  } catch (err) {
    skipped.push(`${name}: cannot read its event log (${(err as Error).message})`);
  }
  const firstTs = lines[0]?.ts ?? now().toISOString();
  const model = q.modelRow(db, name) ?? q.insertModel(db, name, 'embedded', firstTs);
  db.prepare<[number]>('UPDATE models SET target = NULL WHERE id = ?').run(model.id);
  let events = 0;
  const where = (line: EventLine, i: number): string => `${name}.jsonl line ${i + 1} (${line.event} at ${line.ts})`;
  lines.forEach((line, i) => {
    try {
      applyLine(db, model.id, name, line);
    } catch (err) {
      skipped.push(`${where(line, i)}: ${(err as Error).message}`);
    }
    const fields: Record<string, JsonValue> = {};
    for (const [k, v] of Object.entries(line)) if (k !== 'ts' && k !== 'event' && k !== 'model' && k !== 'id') fields[k] = v;
    q.insertEventRow(db, model.id, typeof fields['version'] === 'string' ? fields['version'] : null, line.event, fields, line.ts);
    events++;
  });
  const fromManifests = recoverFromManifests(db, model.id, name, exportsDir, now().toISOString());
  if (fromManifests.length > 0) {
    q.insertEventRow(db, model.id, null, 'recovered', { versions_from_manifests: fromManifests }, now().toISOString());
  }
  q.insertEventRow(db, model.id, null, 'registry_recovered', { events_replayed: events }, now().toISOString());
  const versions = q.versionNames(db, model.id).length;
  return { name, versions, production: q.productionRow(db, model.id)?.version ?? null, events, from_manifests: fromManifests };
}

/** Applies one log line's registry effect (lines with none, e.g. `check`, change nothing). */
function applyLine(db: Database.Database, modelId: number, name: string, line: EventLine): void {
  const str = (k: string): string | null => (typeof line[k] === 'string' ? (line[k] as string) : null);
  const actor = str('actor') ?? RECOVER_ACTOR;
  const reason = str('reason');
  switch (line.event) {
    case 'register': {
      const version = need(str('version'), 'version');
      if (q.versionRow(db, name, version)) return; // registered twice in the log: the first wins
      const type = need(str('type'), 'type');
      const target = need(str('target'), 'target');
      const stage = str('stage') ?? 'dev';
      if (!isModelType(type) || !isTarget(target) || !isStage(stage)) throw new Error(`unknown type/target/stage ${type}/${target}/${stage}`);
      const artifacts = isJsonObject(line['artifacts']) ? line['artifacts'] : {};
      const lineage = isJsonObject(line['lineage']) ? line['lineage'] : {};
      const info = db
        .prepare<[number, string, string, string, string, string, string, string]>(
          `INSERT INTO versions (model_id, version, type, target, stage, artifacts, lineage, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(modelId, version, type, target, stage, JSON.stringify(normalizeArtifacts(artifacts)), JSON.stringify(normalizeLineage(lineage as JsonObject)), line.ts);
      q.applyStageChange(db, { versionId: Number(info.lastInsertRowid), from: null, to: stage, actor, reason: 'registered', at: line.ts });
      return;
    }
    case 'promote':
    case 'archive':
      moveTo(db, name, need(str('version'), 'version'), need(str('to_stage'), 'to_stage'), actor, reason, line.ts);
      return;
    case 'rollback': {
      if (line['success'] !== true) return;
      const from = str('from_version');
      const to = need(str('to_version'), 'to_version');
      if (from) moveTo(db, name, from, 'archived', actor, reason, line.ts);
      moveTo(db, name, to, 'production', actor, reason, line.ts);
      return;
    }
    case 'deploy':
    case 'restore': {
      const endpoint = str('endpoint');
      const port = endpoint ? Number(/:(\d+)\/?$/.exec(endpoint)?.[1]) : NaN;
      const target = str('target');
      if (Number.isInteger(port) && port > 0 && port < 65536) {
        db.prepare<[number, number]>('UPDATE models SET endpoint_port = ? WHERE id = ?').run(port, modelId);
      }
      if (target && isTarget(target)) db.prepare<[string, number]>('UPDATE models SET target = ? WHERE id = ?').run(target, modelId);
      return;
    }
    default:
      return;
  }
}

/** Moves a version to `to` (archiving another production first, as the one-production rule requires). */
function moveTo(db: Database.Database, name: string, version: string, to: string, actor: string, reason: string | null, at: string): void {
  if (!isStage(to)) throw new Error(`unknown stage ${to}`);
  const row = q.versionRow(db, name, version);
  if (!row) throw new Error(`version ${version} was never registered in the log`);
  const from = row.stage as Stage;
  if (from === to) return;
  if (to === 'production') {
    const current = q.productionRow(db, row.model_id);
    if (current && current.id !== row.id) {
      q.applyStageChange(db, { versionId: current.id, from: 'production', to: 'archived', actor, reason: `replaced by ${version}`, at });
    }
  }
  q.applyStageChange(db, { versionId: row.id, from, to, actor, reason, at });
}

/** Versions with an export folder and manifest but no registration: back as `dev`. */
function recoverFromManifests(db: Database.Database, modelId: number, name: string, exportsDir: string, at: string): string[] {
  const out: string[] = [];
  const modelDir = path.join(exportsDir, name);
  for (const version of listDirs(modelDir)) {
    const dir = path.join(modelDir, version);
    const manifestFile = path.join(dir, 'manifest.json');
    let manifest: JsonObject;
    try {
      const parsed: unknown = JSON.parse(fs.readFileSync(manifestFile, 'utf8'));
      if (!isJsonObject(parsed)) continue;
      manifest = parsed;
    } catch {
      continue; // no manifest: a partial export, not a version
    }
    const existing = q.versionRow(db, name, version);
    const lineage = lineageFromManifest(manifest);
    if (existing) {
      // Fill lineage the log did not carry (logs written before registrations carried it).
      const current = normalizeLineage(JSON.parse(existing.lineage) as JsonObject);
      if (current.checkpoint_sha256 === null) {
        db.prepare<[string, number]>('UPDATE versions SET lineage = ? WHERE id = ?').run(JSON.stringify(normalizeLineage({ ...lineage, ...stripNulls(current) })), existing.id);
      }
      continue;
    }
    const type = typeof manifest['type'] === 'string' && isModelType(manifest['type']) ? manifest['type'] : 'generic';
    const artifacts: Record<string, string> = { manifest: manifestFile };
    if (fs.existsSync(path.join(dir, 'model.onnx'))) artifacts['onnx'] = path.join(dir, 'model.onnx');
    if (fs.existsSync(path.join(dir, 'model.torchscript.pt'))) artifacts['torchscript'] = path.join(dir, 'model.torchscript.pt');
    const info = db
      .prepare<[number, string, string, string, string, string, string]>(
        `INSERT INTO versions (model_id, version, type, target, stage, artifacts, lineage, created_at) VALUES (?, ?, ?, 'embedded', 'dev', ?, ?, ?)`,
      )
      .run(modelId, version, type, 'embedded', JSON.stringify(artifacts), JSON.stringify(normalizeLineage(lineage)), at);
    q.applyStageChange(db, { versionId: Number(info.lastInsertRowid), from: null, to: 'dev', actor: RECOVER_ACTOR, reason: 'recovered from its export manifest', at });
    out.push(version);
  }
  return out;
}

function lineageFromManifest(m: JsonObject): JsonObject {
  const files = isJsonObject(m['files']) ? m['files'] : {};
  const hashes: Record<string, JsonValue> = {};
  for (const [f, v] of Object.entries(files)) if (isJsonObject(v) && typeof v['sha256'] === 'string') hashes[f] = v['sha256'];
  const checkpoint = isJsonObject(m['checkpoint']) ? m['checkpoint'] : {};
  return {
    checkpoint_sha256: typeof checkpoint['sha256'] === 'string' ? checkpoint['sha256'] : null,
    artifact_hashes: hashes,
    hyper_parameters: isJsonObject(m['hyper_parameters']) ? m['hyper_parameters'] : null,
  };
}

function stripNulls(o: object): JsonObject {
  const out: Record<string, JsonValue> = {};
  for (const [k, v] of Object.entries(o)) if (v !== null && !(isJsonObject(v) && Object.keys(v).length === 0)) out[k] = v as JsonValue;
  return out;
}

function need(value: string | null, field: string): string {
  if (value === null) throw new Error(`the line has no ${field}`);
  return value;
}

function listLogModels(logsDir: string): string[] {
  try {
    return fs.readdirSync(logsDir).filter((f) => f.endsWith('.jsonl')).map((f) => f.slice(0, -'.jsonl'.length));
  } catch {
    return [];
  }
}

function listDirs(dir: string): string[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
  } catch {
    return [];
  }
}

/** Moves an existing database (and its WAL files) aside; returns the new path or null. */
function moveAside(dbPath: string, at: Date): string | null {
  if (!fs.existsSync(dbPath)) {
    for (const suffix of ['-wal', '-shm']) fs.rmSync(`${dbPath}${suffix}`, { force: true }); // orphans of a deleted db
    return null;
  }
  const aside = `${dbPath}.before-recover-${at.toISOString().replace(/[:.]/g, '-')}`;
  fs.renameSync(dbPath, aside);
  for (const suffix of ['-wal', '-shm']) {
    if (fs.existsSync(`${dbPath}${suffix}`)) fs.renameSync(`${dbPath}${suffix}`, `${aside}${suffix}`);
  }
  return aside;
}
