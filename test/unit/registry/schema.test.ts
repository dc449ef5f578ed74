import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FramewormError } from '../../../main/common/errors.js';
import { EventLog } from '../../../main/events/event-log.js';
import { Registry } from '../../../main/registry/registry.js';
import { MIGRATIONS, SCHEMA_VERSION, migrate, type Migration } from '../../../main/registry/schema.js';

let dir: string;
let dbPath: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-schema-'));
  dbPath = path.join(dir, 'sub', 'registry.db');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const open = () => new Registry(dbPath, new EventLog(path.join(dir, 'logs')));
const pragma = (db: Database.Database, name: string) => db.pragma(name, { simple: true });

describe('migrations', () => {
  it('give a fresh database the latest user_version, WAL and the one-production index', () => {
    open().close();
    const db = new Database(dbPath, { readonly: true });
    expect(SCHEMA_VERSION).toBe(MIGRATIONS.length);
    expect(pragma(db, 'user_version')).toBe(SCHEMA_VERSION);
    expect(pragma(db, 'journal_mode')).toBe('wal');
    const index = db.prepare("SELECT sql FROM sqlite_master WHERE name = 'versions_one_production'").get() as { sql: string };
    expect(index.sql).toMatch(/UNIQUE INDEX .* ON versions\(model_id\) WHERE stage = 'production'/);
    db.close();
  });

  it('are a no-op on reopening', () => {
    open().close();
    const db = new Database(dbPath);
    const schemaBefore = db.prepare('SELECT name, sql FROM sqlite_master ORDER BY name').all();
    expect(migrate(db, dbPath)).toEqual({ from: SCHEMA_VERSION, to: SCHEMA_VERSION, applied: [] });
    expect(db.prepare('SELECT name, sql FROM sqlite_master ORDER BY name').all()).toEqual(schemaBefore);
    db.close();
    open().close();
  });

  it('refuse a database written by a newer version with a clear error', () => {
    open().close();
    const db = new Database(dbPath);
    db.pragma(`user_version = ${SCHEMA_VERSION + 5}`);
    db.close();
    let err: unknown;
    try {
      open();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FramewormError);
    expect((err as FramewormError).code).toBe('E_INPUT');
    expect((err as Error).message).toBe(
      `registry database ${dbPath} has schema version ${SCHEMA_VERSION + 5}, newer than this Frameworm Deploy understands (${SCHEMA_VERSION}); upgrade Frameworm Deploy to use this workspace`,
    );
  });

  it('apply each step in a transaction: a failing step leaves the previous version intact', () => {
    const db = new Database(':memory:');
    const steps: Migration[] = [
      { version: 1, description: 'a', sql: 'CREATE TABLE a (x INTEGER);' },
      { version: 2, description: 'b', sql: 'CREATE TABLE b (x INTEGER); CREATE TABLE a (y INTEGER);' },
    ];
    expect(() => migrate(db, 'mem', steps)).toThrow(/already exists/);
    expect(pragma(db, 'user_version')).toBe(1);
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name);
    expect(tables).toEqual(['a']);
    const fixed = [steps[0] as Migration, { version: 2, description: 'b', sql: 'CREATE TABLE b (x INTEGER);' }];
    expect(migrate(db, 'mem', fixed)).toEqual({ from: 1, to: 2, applied: [2] });
    db.close();
  });

  it('report a file that is not a SQLite database as bad input', () => {
    fs.mkdirSync(path.dirname(dbPath), { recursive: true });
    fs.writeFileSync(dbPath, 'this is not a database, just some text that is long enough to have a header'.repeat(20));
    expect(() => open()).toThrow(/cannot be opened/);
  });

  it('turn foreign keys on for the connection', () => {
    const r = open();
    r.registerVersion({ name: 'm', type: 'vae', target: 'embedded' });
    r.close();
    const db = new Database(dbPath);
    db.pragma('foreign_keys = ON');
    expect(() => db.prepare("INSERT INTO versions (model_id, version, type, target, stage, created_at) VALUES (999, 'v1', 'vae', 'embedded', 'dev', 'x')").run())
      .toThrow(/FOREIGN KEY/);
    db.close();
  });
});
