/**
 * The model registry (DESIGN §6): models, versions, stage transitions and events in SQLite.
 *
 * Every write runs in a `BEGIN IMMEDIATE` transaction: the write lock is taken before the
 * first read, so two processes (GUI, CLI, agent, watcher) changing stages at once serialize
 * and the second one sees the first one's result instead of acting on a stale read.
 * Events go to the `events` table inside the same transaction as the change they describe,
 * and to the model's JSONL log right after the commit.
 */
import type Database from 'better-sqlite3';
import fs from 'node:fs';
import { FramewormError } from '../common/errors.js';
import { isModelType, isStage, isTarget, type Stage, type Target } from '../common/types.js';
import { EventLog, type EventLine } from '../events/event-log.js';
import { EventStream } from '../events/event-stream.js';
import type { FramewormEvent } from '../events/event-types.js';
import type { JsonObject, JsonValue } from '../common/json.js';
import { assertModelName, assertVersionName, type Workspace } from '../workspace/workspace.js';
import * as q from './queries.js';
import {
  eventFromRow, modelFromRow, type CommitExtras, normalizeArtifacts, normalizeLineage, transitionFromRow, versionFromRow,
  type Artifacts, type ChangeOptions, type EventRecord, type LineageInput, type ModelRecord, type ModelSummary,
  type PromoteResult, type RegisterInput, type RollbackOptions, type RollbackResult, type TransitionRecord,
  type VersionRecord, type VersionRow,
} from './records.js';
import { openRegistryDatabase } from './schema.js';
import { explainTransition, REGISTER_STAGES } from './transitions.js';

export type {
  Artifacts, ChangeOptions, EventRecord, Lineage, LineageInput, ModelRecord, ModelSummary, PromoteResult,
  RegisterInput, RollbackOptions, RollbackResult, TransitionRecord, VersionRecord,
} from './records.js';

export interface RegistryOptions {
  /** Clock, for tests. */
  readonly now?: () => Date;
  /**
   * Called when a JSONL line could not be written after a registry change committed. The change
   * stands (throwing would make callers retry a promotion that already happened); default: a
   * process warning, unless a listener added with `onLogFailure` takes it.
   */
  readonly onLogError?: (err: unknown, model: string) => void;
}

/** A JSONL write that failed after its registry change committed. */
export interface LogFailure {
  readonly model: string;
  readonly file: string;
  readonly message: string;
}

/** Identity of the database file, to notice it being deleted or replaced under us. */
interface FileIdentity {
  readonly dev: number;
  readonly ino: number;
}

function fileIdentity(file: string): FileIdentity | null {
  try {
    const st = fs.statSync(file);
    return { dev: st.dev, ino: st.ino };
  } catch {
    return null;
  }
}

/** SQLite-backed registry of one workspace. */
export class Registry {
  private readonly db: Database.Database;
  private readonly now: () => Date;
  private readonly onLogError: ((err: unknown, model: string) => void) | undefined;
  private readonly logListeners = new Set<(failure: LogFailure) => void>();
  private readonly identity: FileIdentity | null;
  /** Nesting depth of `atomically`: inner writes leave the JSONL catch-up to the outermost. */
  private depth = 0;
  /** Nesting depth of transactions, and the events staged in the open one (published on commit). */
  private txDepth = 0;
  private staged: FramewormEvent[] = [];
  /** Committed events, for in-process subscribers (watcher, alerts, GUI, tray). */
  readonly events: EventStream = new EventStream();

  /** Opens (creating and migrating as needed) the registry database at `dbPath`. */
  constructor(
    readonly dbPath: string,
    readonly eventLog: EventLog,
    options: RegistryOptions = {},
  ) {
    this.now = options.now ?? (() => new Date());
    this.onLogError = options.onLogError;
    this.db = openRegistryDatabase(dbPath);
    this.identity = fileIdentity(dbPath);
  }

  /**
   * Listens for event-log writes that failed after their change committed (the CLI shows them
   * as warnings). Returns the unsubscribe function.
   */
  onLogFailure(listener: (failure: LogFailure) => void): () => void {
    this.logListeners.add(listener);
    return () => this.logListeners.delete(listener);
  }

  /**
   * Opens the registry of a workspace, logging to its `log_path`. A missing database in a
   * workspace that has deployment history (event logs) is refused instead of silently starting
   * empty: that history is what `registry recover` rebuilds it from.
   */
  static open(workspace: Workspace, options: RegistryOptions = {}): Registry {
    if (!fs.existsSync(workspace.registryDb)) {
      let logs: string[] = [];
      try {
        logs = fs.readdirSync(workspace.logsDir).filter((f) => f.endsWith('.jsonl'));
      } catch {
        // no logs folder: a new workspace
      }
      if (logs.length > 0) {
        throw new FramewormError(
          'E_INPUT',
          `registry database ${workspace.registryDb} is missing, but this workspace has the deployment history of ${logs.length} model(s) in ${workspace.logsDir}; rebuild it with: frameworm registry recover`,
        );
      }
    }
    return new Registry(workspace.registryDb, new EventLog(workspace.logsDir), options);
  }

  /** Closes the database connection. */
  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Registers a new version (creating the model on first use) in dev or staging. */
  registerVersion(input: RegisterInput): VersionRecord {
    const { name, type, target } = input;
    const stage = input.stage ?? 'dev';
    const actor = input.actor ?? 'user';
    assertModelName(name);
    if (input.version !== undefined) assertVersionName(input.version);
    if (!isModelType(type)) throw new FramewormError('E_USAGE', `unknown model type ${String(type)}`);
    if (!isTarget(target)) throw new FramewormError('E_USAGE', `unknown target ${String(target)}`);
    if (!REGISTER_STAGES.includes(stage)) {
      throw new FramewormError('E_USAGE', `a new version starts in ${REGISTER_STAGES.join(' or ')}, not ${String(stage)}; promote it afterwards`);
    }
    return this.write(name, (at) => {
      const ts = at.toISOString();
      const model = q.modelRow(this.db, name) ?? q.insertModel(this.db, name, target, ts);
      const version = input.version ?? q.nextVersionName(this.db, model.id);
      if (q.versionRow(this.db, name, version)) {
        throw new FramewormError('E_CONFLICT', `model ${name} already has version ${version}`);
      }
      const info = this.db
        .prepare<[number, string, string, string, string, string, string, string]>(
          `INSERT INTO versions (model_id, version, type, target, stage, artifacts, lineage, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(model.id, version, type, target, stage,
          JSON.stringify(normalizeArtifacts(input.artifacts ?? null)),
          JSON.stringify(normalizeLineage(input.lineage ?? null)), ts);
      const versionId = Number(info.lastInsertRowid);
      q.applyStageChange(this.db, { versionId, from: null, to: stage, actor, reason: 'registered', at: ts });
      const record = versionFromRow(q.versionRowById(this.db, versionId));
      // Artifacts and lineage ride along so `registry recover` can rebuild the version from the log.
      this.stageEvent(model.id, 'register',
        { version, stage, type, target, actor, artifacts: record.artifacts, lineage: record.lineage as unknown as JsonObject }, at);
      return record;
    });
  }

  /**
   * Moves a version to another stage along the transition table. Promoting to production
   * archives the previous production version in the same transaction.
   */
  promote(name: string, version: string, toStage: Stage, options: ChangeOptions = {}): PromoteResult {
    if (!isStage(toStage)) {
      throw new FramewormError('E_USAGE', `unknown stage ${String(toStage)}: use dev, staging, production or archived`);
    }
    const actor = options.actor ?? 'user';
    const reason = options.reason ?? null;
    return this.write(name, (at) => {
      const ts = at.toISOString();
      const row = q.requireVersionRow(this.db, name, version);
      const from = row.stage as Stage;
      if (from === toStage) throw new FramewormError('E_CONFLICT', `model ${name} version ${version} is already ${toStage}`);
      const refusal = explainTransition(from, toStage, 'promote');
      if (refusal) {
        throw new FramewormError('E_CONFLICT', `cannot move model ${name} version ${version} from ${from} to ${toStage}: ${refusal}`);
      }
      let archived: VersionRecord | null = null;
      const previous = toStage === 'production' ? q.productionRow(this.db, row.model_id) : undefined;
      if (previous) {
        // Archive first: the partial unique index refuses two production rows even for a moment.
        const why = `replaced by ${version}${reason ? `: ${reason}` : ''}`;
        q.applyStageChange(this.db, { versionId: previous.id, from: 'production', to: 'archived', actor, reason: why, at: ts });
        archived = versionFromRow(q.versionRowById(this.db, previous.id));
        this.stageEvent(row.model_id, 'archive',
          { version: previous.version, from_stage: 'production', to_stage: 'archived', actor, reason: why, replaced_by: version }, at);
      }
      q.applyStageChange(this.db, { versionId: row.id, from, to: toStage, actor, reason, at: ts });
      this.stageEvent(row.model_id, 'promote',
        { version, from_stage: from, to_stage: toStage, actor, reason, archived_version: archived?.version ?? null }, at);
      this.applyExtras(row.model_id, options, at);
      return { version: versionFromRow(q.versionRowById(this.db, row.id)), archived };
    });
  }

  /**
   * Archives the production version and brings back the archived version that most recently
   * left production (or `toVersion`), in one transaction, together with the caller's
   * `rollback` event (with its p95/error-rate fields) and endpoint.
   */
  rollback(name: string, options: RollbackOptions): RollbackResult {
    const actor = options.actor ?? 'user';
    const reason = options.reason;
    if (options.toVersion !== undefined) assertVersionName(options.toVersion);
    return this.write(name, (at) => {
      const ts = at.toISOString();
      const model = q.requireModelRow(this.db, name);
      const current = q.productionRow(this.db, model.id);
      const target = options.toVersion === undefined
        ? q.lastArchivedProductionRow(this.db, model.id)
        : q.requireVersionRow(this.db, name, options.toVersion);
      if (!target) {
        const now = current ? ` (production is ${current.version})` : '';
        throw new FramewormError('E_CONFLICT', `nothing to roll back to: model ${name} has no archived version that was in production before${now}`);
      }
      if (target.stage !== 'archived' || target.deployed_at === null) {
        const why = target.stage === 'production'
          ? 'it is already production'
          : explainTransition(target.stage as Stage, 'production', 'rollback') ?? 'it was never in production';
        throw new FramewormError('E_CONFLICT', `cannot roll back model ${name} to version ${target.version}: ${why}`);
      }
      if (current) {
        q.applyStageChange(this.db, { versionId: current.id, from: 'production', to: 'archived', actor, reason, at: ts });
      }
      q.applyStageChange(this.db, { versionId: target.id, from: 'archived', to: 'production', actor, reason, at: ts });
      this.applyExtras(model.id, options, at);
      return {
        from: current ? versionFromRow(q.versionRowById(this.db, current.id)) : null,
        to: versionFromRow(q.versionRowById(this.db, target.id)),
      };
    });
  }

  /**
   * Records an event: a row in the events table (its own transaction), then the model's JSONL
   * log. For a model that is not registered (e.g. a first deploy that failed) only the JSONL
   * line is written. A JSONL failure never throws: the row is the record, the log catches up
   * on the next write, and listeners hear of it as a warning.
   */
  recordEvent(name: string, event: string, fields: JsonObject = {}, options: { at?: Date } = {}): EventLine {
    assertModelName(name);
    if (event.length === 0) throw new FramewormError('E_INTERNAL', 'event name must not be empty');
    const at = options.at ?? this.now();
    const registered = this.transact(() => {
      const model = q.modelRow(this.db, name);
      if (model) this.stageEvent(model.id, event, fields, at);
      return model !== undefined;
    });
    if (registered) this.flushLog(name);
    else {
      try {
        this.eventLog.append(name, event, fields, { at });
      } catch (err) {
        this.reportLogFailure(name, err, false);
      }
    }
    const line: Record<string, JsonValue> = { ts: at.toISOString(), event, model: name };
    for (const [k, v] of Object.entries(fields)) if (!(k in line)) line[k] = v;
    return line as EventLine;
  }

  /**
   * Appends to the model's JSONL log every committed event it does not hold yet (by event id),
   * under the database write lock so two processes never append the same event twice.
   * Returns false (after telling listeners) when the log cannot be written.
   */
  flushLog(name: string): boolean {
    try {
      this.transact(() => {
        const model = q.modelRow(this.db, name);
        if (!model) return;
        const pos = this.eventLog.position(name);
        const rows = q.eventRowsAfter(this.db, model.id, pos.lastId === null && pos.lastTs !== null ? { ts: pos.lastTs } : { id: pos.lastId ?? 0 });
        this.eventLog.appendMany(name, rows.map((r) => {
          const e = eventFromRow(r);
          return { event: e.event, fields: e.fields, at: new Date(e.ts), id: e.id };
        }));
      });
      return true;
    } catch (err) {
      this.reportLogFailure(name, err, true);
      return false;
    }
  }

  /** Catches every model's JSONL log up with the events table (agent start, after a crash). */
  flushAllLogs(): void {
    for (const m of q.modelSummaryRows(this.db)) this.flushLog(m.name);
  }

  /** The model, or E_NOT_FOUND listing the registered models. */
  requireModel(name: string): ModelRecord {
    return modelFromRow(q.requireModelRow(this.db, name));
  }

  /**
   * The version `rollback` would bring back when not given `toVersion`: the archived version
   * that most recently left production, or null. E_NOT_FOUND for an unknown model.
   */
  rollbackTarget(name: string): VersionRecord | null {
    const model = q.requireModelRow(this.db, name);
    const row = q.lastArchivedProductionRow(this.db, model.id);
    return row ? versionFromRow(row) : null;
  }

  /** The model, or null when it is not registered. */
  getModel(name: string): ModelRecord | null {
    const row = q.modelRow(this.db, name);
    return row ? modelFromRow(row) : null;
  }

  /** All models by name, with their production version and version count. */
  listModels(): ModelSummary[] {
    const rows = q.modelSummaryRows(this.db);
    return rows.map((r) => ({ ...modelFromRow(r), production: r.production, versions: r.version_count }));
  }

  /** The model's versions in registration order (E_NOT_FOUND for an unknown model). */
  listVersions(name: string): VersionRecord[] {
    const model = q.requireModelRow(this.db, name);
    return q.versionRows(this.db, model.id).map(versionFromRow);
  }

  /** The version, or null when the model or version does not exist. */
  getVersion(name: string, version: string): VersionRecord | null {
    const row = q.versionRow(this.db, name, version);
    return row ? versionFromRow(row) : null;
  }

  /** The production version, or null (also for an unknown model). */
  getProduction(name: string): VersionRecord | null {
    const model = q.modelRow(this.db, name);
    const row = model ? q.productionRow(this.db, model.id) : undefined;
    return row ? versionFromRow(row) : null;
  }

  /** Every stage change of the model's versions, oldest first (E_NOT_FOUND for an unknown model). */
  listTransitions(name: string): TransitionRecord[] {
    const model = q.requireModelRow(this.db, name);
    return q.transitionRows(this.db, model.id)
      .map(transitionFromRow);
  }

  /** The model's last `limit` events, oldest first (E_NOT_FOUND for an unknown model). */
  listEvents(name: string, limit = 100): EventRecord[] {
    const model = q.requireModelRow(this.db, name);
    const rows = q.lastEventRows(this.db, model.id, Math.max(0, Math.trunc(limit)));
    return rows.reverse().map(eventFromRow);
  }

  /** Sets (or clears, with nulls) the model's stable endpoint port and serving target. */
  setEndpoint(name: string, endpoint: { port: number | null; target: Target | null }): ModelRecord {
    const { port, target } = endpoint;
    if (port !== null && (!Number.isInteger(port) || port < 1 || port > 65535)) {
      throw new FramewormError('E_USAGE', `port must be an integer from 1 to 65535 (got ${port})`);
    }
    if (target !== null && !isTarget(target)) throw new FramewormError('E_USAGE', `unknown target ${String(target)}`);
    return this.updateModel(name, 'endpoint_port = ?, target = ?', [port, target]);
  }

  /** Replaces the model's deployment settings JSON. */
  setSettings(name: string, settings: JsonObject): ModelRecord {
    return this.updateModel(name, 'settings = ?', [JSON.stringify(settings)]);
  }

  /** Records the Docker image digest of a version in its lineage. */
  setImageDigest(name: string, version: string, digest: string): VersionRecord {
    return this.updateLineage(name, version, { image_digest: digest });
  }

  /** Merges `patch` into a version's lineage (top-level keys replace). */
  updateLineage(name: string, version: string, patch: LineageInput): VersionRecord {
    return this.updateVersionJson(name, version, 'lineage', (row) =>
      normalizeLineage({ ...normalizeLineage(JSON.parse(row.lineage) as JsonObject), ...patch }));
  }

  /** Merges `patch` into a version's artifact paths. */
  updateArtifacts(name: string, version: string, patch: Artifacts): VersionRecord {
    return this.updateVersionJson(name, version, 'artifacts', (row) =>
      normalizeArtifacts({ ...normalizeArtifacts(JSON.parse(row.artifacts) as JsonObject), ...patch }));
  }

  /**
   * Removes a dev version whose deploy failed, so a failed deploy leaves nothing registered;
   * the model goes too when this was its last version. Other stages → E_CONFLICT.
   */
  deleteVersion(name: string, version: string): { modelDeleted: boolean } {
    return this.transact(() => {
      const row = q.requireVersionRow(this.db, name, version);
      if (row.stage !== 'dev') {
        throw new FramewormError('E_CONFLICT', `only a dev version can be deleted; model ${name} version ${version} is ${row.stage}`);
      }
      this.db.prepare<[number]>('DELETE FROM versions WHERE id = ?').run(row.id);
      if (q.versionNames(this.db, row.model_id).length > 0) return { modelDeleted: false };
      this.db.prepare<[number]>('DELETE FROM models WHERE id = ?').run(row.model_id);
      return { modelDeleted: true };
    });
  }

  private updateModel(name: string, assignments: string, values: (string | number | null)[]): ModelRecord {
    return this.transact(() => {
      const model = q.requireModelRow(this.db, name);
      this.db.prepare(`UPDATE models SET ${assignments} WHERE id = ?`).run(...values, model.id);
      return modelFromRow(q.requireModelRow(this.db, name));
    });
  }

  private updateVersionJson(
    name: string,
    version: string,
    column: 'lineage' | 'artifacts',
    merge: (row: VersionRow) => JsonObject,
  ): VersionRecord {
    return this.transact(() => {
      const row = q.requireVersionRow(this.db, name, version);
      this.db.prepare<[string, number]>(`UPDATE versions SET ${column} = ? WHERE id = ?`).run(JSON.stringify(merge(row)), row.id);
      return versionFromRow(q.versionRowById(this.db, row.id));
    });
  }

  /**
   * Runs several registry changes of one model as one transaction: all of them (and their
   * events) commit together or none does; the JSONL log is caught up once, after the commit.
   * `deploy start` registers and promotes a version this way, so a crash between the two cannot
   * leave a registered version that was never deployed.
   */
  atomically<T>(name: string, fn: () => T): T {
    this.depth++;
    let result: T;
    try {
      result = this.transact(fn);
    } finally {
      this.depth--;
    }
    if (this.depth === 0) this.flushLog(name);
    return result;
  }

  /** Runs `fn` in an IMMEDIATE transaction (events it stages commit with it), then catches the JSONL log up. */
  private write<T>(name: string, fn: (at: Date) => T): T {
    const result = this.transact(() => fn(this.now()));
    if (this.depth === 0) this.flushLog(name);
    return result;
  }

  /**
   * An IMMEDIATE transaction; a lock held past busy_timeout becomes a readable E_CONFLICT.
   * Refuses to write when the database file was deleted or replaced while open: writes would
   * go to an unlinked file and be lost at the next start.
   */
  private transact<T>(fn: () => T): T {
    this.assertFileIntact();
    this.txDepth++;
    let committed = false;
    try {
      const result = this.db.transaction(fn).immediate();
      committed = true;
      return result;
    } catch (err) {
      if ((err as { code?: unknown }).code === 'SQLITE_BUSY') {
        throw new FramewormError('E_CONFLICT', `registry database ${this.dbPath} is locked by another process; try again`);
      }
      throw err;
    } finally {
      this.txDepth--;
      if (this.txDepth === 0) {
        const staged = this.staged;
        this.staged = [];
        // Subscribers hear only of what committed, after the commit.
        if (committed) for (const e of staged) this.events.publish(e);
      }
    }
  }

  /** E_INPUT when the registry file on disk is no longer the one this connection has open. */
  assertFileIntact(): void {
    if (this.dbPath === ':memory:' || this.identity === null) return;
    const now = fileIdentity(this.dbPath);
    if (now === null || now.dev !== this.identity.dev || now.ino !== this.identity.ino) {
      const what = now === null ? 'was deleted' : 'was replaced by another file';
      throw new FramewormError(
        'E_INPUT',
        `registry database ${this.dbPath} ${what} while in use; nothing was changed. Stop the agent (frameworm agent stop) and rebuild it with: frameworm registry recover`,
      );
    }
  }

  /** Inserts an event row in the current transaction; the JSONL line follows after the commit. */
  private stageEvent(modelId: number, event: string, fields: JsonObject, at: Date): void {
    const version = typeof fields['version'] === 'string' ? fields['version'] : null;
    const ts = at.toISOString();
    const id = q.insertEventRow(this.db, modelId, version, event, fields, ts);
    const model = (this.db.prepare<[number], { name: string }>('SELECT name FROM models WHERE id = ?').get(modelId))?.name ?? '';
    this.staged.push({ ...fields, id, ts, model, event } as unknown as FramewormEvent);
  }

  /** The caller's events and endpoint, in the current transaction. */
  private applyExtras(modelId: number, extras: CommitExtras, at: Date): void {
    for (const e of extras.events ?? []) {
      if (e.event.length === 0) throw new FramewormError('E_INTERNAL', 'event name must not be empty');
      this.stageEvent(modelId, e.event, e.fields, at);
    }
    if (extras.endpoint) {
      const { port, target } = extras.endpoint;
      this.db.prepare<[number | null, string | null, number]>('UPDATE models SET endpoint_port = ?, target = ? WHERE id = ?').run(port, target, modelId);
    }
  }

  /**
   * A JSONL write failed after its change committed: a warning for listeners (or the process),
   * and an `event_log_error` row so the failure itself is on record (it reaches the log once
   * the log is writable again).
   */
  private reportLogFailure(name: string, err: unknown, registered: boolean): void {
    const message = err instanceof Error ? err.message : String(err);
    let file = '';
    try {
      file = this.eventLog.file(name);
    } catch {
      // invalid names never get here: they are refused before any write
    }
    const failure: LogFailure = { model: name, file, message: `could not write the event log ${file}: ${message}; the change is committed in the registry and the log will catch up` };
    if (this.onLogError) this.onLogError(err, name);
    if (this.logListeners.size > 0) for (const l of this.logListeners) l(failure);
    else if (!this.onLogError) process.emitWarning(failure.message);
    if (!registered) return;
    try {
      this.transact(() => {
        const model = q.modelRow(this.db, name);
        if (model) this.stageEvent(model.id, 'event_log_error', { log: file, error: message }, this.now());
      });
    } catch {
      // the registry itself is failing; the warning above is all that can be done
    }
  }
}
