/**
 * Registry schema as an ordered list of migrations. `PRAGMA user_version` records how many
 * have been applied; each runs in its own write transaction together with the version bump,
 * so a crash mid-migration leaves the previous, consistent schema.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { FramewormError } from '../common/errors.js';

export interface Migration {
  /** 1-based; migration N brings the schema from N-1 to N. */
  readonly version: number;
  readonly description: string;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'models, versions, transitions, events',
    // Type and target are checked in code, not by CHECK constraints: SQLite cannot alter a
    // CHECK without rebuilding the table, and new architectures/targets will be added.
    // Stage is checked here because the one-production rule below depends on its values.
    sql: `
      CREATE TABLE models (
        id            INTEGER PRIMARY KEY,
        name          TEXT NOT NULL UNIQUE,
        created_at    TEXT NOT NULL,
        endpoint_port INTEGER CHECK (endpoint_port IS NULL OR endpoint_port BETWEEN 1 AND 65535),
        target        TEXT,
        settings      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(settings))
      );
      CREATE TABLE versions (
        id          INTEGER PRIMARY KEY,
        model_id    INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
        version     TEXT NOT NULL,
        type        TEXT NOT NULL,
        target      TEXT NOT NULL,
        stage       TEXT NOT NULL CHECK (stage IN ('dev', 'staging', 'production', 'archived')),
        artifacts   TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(artifacts)),
        lineage     TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(lineage)),
        created_at  TEXT NOT NULL,
        deployed_at TEXT,
        archived_at TEXT,
        UNIQUE (model_id, version)
      );
      -- DESIGN §6: at most one production version per model, enforced by the database.
      CREATE UNIQUE INDEX versions_one_production ON versions(model_id) WHERE stage = 'production';
      CREATE TABLE transitions (
        id         INTEGER PRIMARY KEY,
        version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
        from_stage TEXT CHECK (from_stage IS NULL OR from_stage IN ('dev', 'staging', 'production', 'archived')),
        to_stage   TEXT NOT NULL CHECK (to_stage IN ('dev', 'staging', 'production', 'archived')),
        actor      TEXT NOT NULL,
        reason     TEXT,
        at         TEXT NOT NULL
      );
      CREATE INDEX transitions_by_version ON transitions(version_id, id);
      CREATE TABLE events (
        id       INTEGER PRIMARY KEY,
        model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
        version  TEXT,
        event    TEXT NOT NULL,
        payload  TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(payload)),
        ts       TEXT NOT NULL
      );
      CREATE INDEX events_by_model ON events(model_id, id);
    `,
  },
  {
    version: 2,
    description: 'alert outbox and the alert router cursor',
    // No foreign keys: a pending alert must survive its model being deleted, and the outbox
    // keeps its own copy of the message. UNIQUE (event_id, channel) is the deduplication key.
    // next_attempt_at is epoch milliseconds (compared with the delivery clock, not ISO text).
    sql: `
      CREATE TABLE alert_outbox (
        id              INTEGER PRIMARY KEY,
        event_id        INTEGER NOT NULL,
        channel         TEXT NOT NULL,
        model           TEXT NOT NULL,
        about_event     TEXT NOT NULL,
        message         TEXT NOT NULL CHECK (json_valid(message)),
        state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed', 'skipped')),
        tries           INTEGER NOT NULL DEFAULT 0,
        waits           INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        last_error      TEXT,
        created_at      TEXT NOT NULL,
        done_at         TEXT,
        recorded        INTEGER NOT NULL DEFAULT 0,
        UNIQUE (event_id, channel)
      );
      CREATE INDEX alert_outbox_pending ON alert_outbox(state, next_attempt_at, id);
      CREATE TABLE alert_cursor (
        id            INTEGER PRIMARY KEY CHECK (id = 1),
        last_event_id INTEGER NOT NULL
      );
    `,
  },
];

/** The schema version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

export interface MigrationResult {
  readonly from: number;
  readonly to: number;
  readonly applied: readonly number[];
}

function userVersion(db: Database.Database): number {
  const value = db.pragma('user_version', { simple: true });
  return typeof value === 'number' ? value : Number(value);
}

/**
 * Brings `db` up to the latest schema. Refuses (E_INPUT) a database written by a newer
 * version of Frameworm Deploy rather than guessing at a schema it does not know.
 * Safe to call from several processes at once: the version is re-read inside each
 * write transaction, so a migration another process just applied is skipped.
 */
export function migrate(
  db: Database.Database,
  dbPath: string,
  migrations: readonly Migration[] = MIGRATIONS,
): MigrationResult {
  const latest = migrations.length;
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new FramewormError('E_INTERNAL', `migration #${i + 1} is numbered ${m.version}`);
  });
  const from = userVersion(db);
  const applied: number[] = [];
  const refuseNewer = (found: number): never => {
    throw new FramewormError(
      'E_INPUT',
      `registry database ${dbPath} has schema version ${found}, newer than this Frameworm Deploy understands (${latest}); upgrade Frameworm Deploy to use this workspace`,
    );
  };
  if (from > latest) refuseNewer(from);
  for (const migration of migrations) {
    if (migration.version <= from) continue;
    db.transaction(() => {
      const current = userVersion(db);
      if (current > latest) refuseNewer(current);
      if (current >= migration.version) return;
      db.exec(migration.sql);
      // pragma does not take bound parameters; the value is a trusted integer.
      db.pragma(`user_version = ${Math.trunc(migration.version)}`);
      applied.push(migration.version);
    }).immediate();
  }
  return { from, to: Math.max(userVersion(db), from), applied };
}

/**
 * Opens the registry database file (creating its folder), sets the connection up for several
 * processes (WAL so readers never block the writer, a 5 s busy timeout so writers queue instead
 * of failing, foreign keys on) and migrates it. Unreadable / non-SQLite files → E_INPUT.
 */
export function openRegistryDatabase(dbPath: string): Database.Database {
  // Deployment history is private to its owner: the folder 0700, the database files 0600.
  if (dbPath !== ':memory:') fs.mkdirSync(path.dirname(dbPath), { recursive: true, mode: 0o700 });
  let db: Database.Database | undefined;
  try {
    if (dbPath !== ':memory:' && !fs.existsSync(dbPath)) fs.closeSync(fs.openSync(dbPath, 'a', 0o600));
    db = new Database(dbPath);
    // busy_timeout first: switching to WAL needs a lock another process may hold.
    db.pragma('busy_timeout = 5000');
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    migrate(db, dbPath);
    return db;
  } catch (err) {
    db?.close();
    if (err instanceof FramewormError) throw err;
    const code = (err as { code?: unknown }).code;
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT' || code === 'SQLITE_CANTOPEN') {
      throw new FramewormError('E_INPUT', `registry database ${dbPath} cannot be opened: ${(err as Error).message}`);
    }
    throw err;
  }
}
