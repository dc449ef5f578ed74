/**
 * The persistent alert outbox: one row per (event id, channel) in the registry's own SQLite
 * file (schema migration 2), so an alert accepted before a crash is delivered after it
 * (at least once), and an event routed twice — by two scans, two processes, a restart —
 * is still one message. The router's cursor (last event id it has routed) lives here too, and
 * moves in the same transaction as the rows it produced.
 *
 * It has its own connection to the database: the registry's is private to it, and WAL lets
 * both read and write side by side.
 */
import type Database from 'better-sqlite3';
import type { EventName, FramewormEvent } from '../events/event-types.js';
import type { JsonObject } from '../common/json.js';
import { openRegistryDatabase } from '../registry/schema.js';

export type OutboxState = 'pending' | 'sent' | 'failed' | 'skipped';

/** One alert waiting for (or done with) delivery on one channel. */
export interface OutboxRow {
  readonly id: number;
  readonly event_id: number;
  readonly channel: string;
  readonly model: string;
  readonly about_event: string;
  /** The rendered message (JSON), fixed when the alert was accepted. */
  readonly message: string;
  readonly state: OutboxState;
  /** Delivery attempts that counted (a 429 does not). */
  readonly tries: number;
  /** Rate-limit waits (429) so far. */
  readonly waits: number;
  /** Epoch ms before which the row is not tried. */
  readonly next_attempt_at: number;
  readonly last_error: string | null;
  readonly created_at: string;
  readonly done_at: string | null;
}

/** An alert to accept. */
export interface OutboxItem {
  readonly eventId: number;
  readonly channel: string;
  readonly model: string;
  readonly aboutEvent: string;
  readonly message: JsonObject;
}

interface EventJoinRow {
  id: number;
  model: string;
  event: string;
  payload: string;
  ts: string;
}

function eventFromJoinRow(row: EventJoinRow): FramewormEvent | null {
  let fields: unknown;
  try {
    fields = JSON.parse(row.payload);
  } catch {
    return null;
  }
  if (fields === null || typeof fields !== 'object' || Array.isArray(fields)) return null;
  // Same shape the registry publishes: payload fields, then the envelope on top.
  return { ...(fields as JsonObject), id: row.id, ts: row.ts, model: row.model, event: row.event } as unknown as FramewormEvent;
}

/** What one routing pass found: events past the cursor, and how far the cursor went. */
export interface RoutedBatch {
  readonly events: readonly FramewormEvent[];
  readonly inserted: number;
  /** Rows read (a full batch means there may be more). */
  readonly scanned: number;
}

/** SQLite-backed outbox of one workspace. */
export class AlertOutbox {
  private readonly db: Database.Database;

  /** Opens (migrating as needed) the registry database at `dbPath` for the outbox. */
  constructor(readonly dbPath: string) {
    this.db = openRegistryDatabase(dbPath);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /**
   * Reads the events past the cursor whose names are in `names` (oldest first, at most
   * `limit`), lets `route` turn each into outbox items, inserts those (ignoring ones already
   * there) and moves the cursor past them — all in one write transaction, so a crash either
   * keeps both or neither. The first call ever only sets the cursor to the newest event:
   * history from before alerts existed is not announced.
   */
  routeNewEvents(names: readonly EventName[], route: (e: FramewormEvent) => readonly OutboxItem[], nowMs: number, limit = 500): RoutedBatch {
    return this.db.transaction((): RoutedBatch => {
      const cursor = this.db.prepare<[], { last_event_id: number }>('SELECT last_event_id FROM alert_cursor WHERE id = 1').get();
      if (cursor === undefined) {
        const max = this.db.prepare<[], { max: number | null }>('SELECT MAX(id) AS max FROM events').get()?.max ?? 0;
        this.db.prepare<[number]>('INSERT INTO alert_cursor (id, last_event_id) VALUES (1, ?)').run(max);
        return { events: [], inserted: 0, scanned: 0 };
      }
      if (names.length === 0) return { events: [], inserted: 0, scanned: 0 };
      const placeholders = names.map(() => '?').join(', ');
      const rows = this.db
        .prepare<unknown[], EventJoinRow>(
          `SELECT e.id, m.name AS model, e.event, e.payload, e.ts
           FROM events e JOIN models m ON m.id = e.model_id
           WHERE e.id > ? AND e.event IN (${placeholders})
           ORDER BY e.id LIMIT ?`,
        )
        .all(cursor.last_event_id, ...names, limit);
      const events: FramewormEvent[] = [];
      let inserted = 0;
      for (const row of rows) {
        const e = eventFromJoinRow(row);
        if (e === null) continue;
        events.push(e);
        for (const item of route(e)) inserted += this.insert(item, nowMs);
      }
      const last = rows[rows.length - 1];
      if (last !== undefined) this.db.prepare<[number]>('UPDATE alert_cursor SET last_event_id = MAX(last_event_id, ?) WHERE id = 1').run(last.id);
      return { events, inserted, scanned: rows.length };
    }).immediate();
  }

  /** Accepts one alert; returns 1 if it is new, 0 if (event id, channel) was already there. */
  enqueue(item: OutboxItem, nowMs: number): number {
    return this.insert(item, nowMs);
  }

  private insert(item: OutboxItem, nowMs: number): number {
    return this.db
      .prepare<[number, string, string, string, string, number, string]>(
        `INSERT OR IGNORE INTO alert_outbox (event_id, channel, model, about_event, message, next_attempt_at, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(item.eventId, item.channel, item.model, item.aboutEvent, JSON.stringify(item.message), nowMs, new Date(nowMs).toISOString()).changes;
  }

  /** The pending row to try first on `channel` (earliest due, then oldest), or undefined. */
  nextPending(channel: string): OutboxRow | undefined {
    return this.db
      .prepare<[string], OutboxRow>(`SELECT * FROM alert_outbox WHERE state = 'pending' AND channel = ? ORDER BY next_attempt_at, id LIMIT 1`)
      .get(channel);
  }

  /** Pending rows on `channel`. */
  pendingCount(channel?: string): number {
    const sql = channel === undefined
      ? `SELECT COUNT(*) AS n FROM alert_outbox WHERE state = 'pending'`
      : `SELECT COUNT(*) AS n FROM alert_outbox WHERE state = 'pending' AND channel = ?`;
    const stmt = this.db.prepare<string[], { n: number }>(sql);
    return (channel === undefined ? stmt.get() : stmt.get(channel))?.n ?? 0;
  }

  /**
   * Takes a due row for one attempt: moves its next attempt to `leaseUntilMs` if nobody else
   * did since it was read. False when another process took it first; a process that dies while
   * sending leaves the row to be tried again when the lease ends (at least once).
   */
  claim(row: OutboxRow, leaseUntilMs: number): boolean {
    return this.db
      .prepare<[number, number, number]>(`UPDATE alert_outbox SET next_attempt_at = ? WHERE id = ? AND state = 'pending' AND next_attempt_at = ?`)
      .run(leaseUntilMs, row.id, row.next_attempt_at).changes === 1;
  }

  /** Keeps a row pending for a later attempt. */
  reschedule(id: number, change: { tries: number; waits: number; nextAttemptAt: number; error: string }): void {
    this.db
      .prepare<[number, number, number, string, number]>(
        `UPDATE alert_outbox SET tries = ?, waits = ?, next_attempt_at = ?, last_error = ? WHERE id = ? AND state = 'pending'`,
      )
      .run(change.tries, change.waits, change.nextAttemptAt, change.error, id);
  }

  /** Ends a row's delivery with its outcome (its `alert` event is recorded next). */
  finish(id: number, state: Exclude<OutboxState, 'pending'>, change: { tries: number; error: string | null; atMs: number }): void {
    this.db
      .prepare<[string, number, string | null, string, number]>(
        `UPDATE alert_outbox SET state = ?, tries = ?, last_error = ?, done_at = ? WHERE id = ? AND state = 'pending'`,
      )
      .run(state, change.tries, change.error, new Date(change.atMs).toISOString(), id);
  }

  /** Notes that the row's `alert` event is in the registry. */
  markRecorded(id: number): void {
    this.db.prepare<[number]>('UPDATE alert_outbox SET recorded = 1 WHERE id = ?').run(id);
  }

  /** Finished rows whose `alert` event was not recorded (a crash in between). */
  unrecorded(): OutboxRow[] {
    return this.db.prepare<[], OutboxRow>(`SELECT * FROM alert_outbox WHERE state != 'pending' AND recorded = 0 ORDER BY id`).all();
  }

  /** Every row, oldest first (status views, tests). */
  list(): OutboxRow[] {
    return this.db.prepare<[], OutboxRow>('SELECT * FROM alert_outbox ORDER BY id').all();
  }

  /** Deletes finished, recorded rows older than `beforeMs`: the events table keeps their record. */
  prune(beforeMs: number): number {
    return this.db
      .prepare<[string]>(`DELETE FROM alert_outbox WHERE state != 'pending' AND recorded = 1 AND done_at < ?`)
      .run(new Date(beforeMs).toISOString()).changes;
  }
}
