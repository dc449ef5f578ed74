/**
 * Per-model JSONL event log (DESIGN §3, §7): `<logsDir>/<model>.jsonl`, one JSON object a line.
 * Users tail and grep these files and scripts parse them, so the first three fields are fixed:
 * `ts`, `event`, `model`, followed by the event's own fields.
 */
import fs from 'node:fs';
import path from 'node:path';
import { FramewormError } from '../common/errors.js';
import { assertModelName } from '../workspace/workspace.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../common/json.js';

/** One parsed line of a model's log. */
export type EventLine = {
  readonly ts: string;
  readonly event: string;
  readonly model: string;
  readonly [field: string]: JsonValue;
};

export interface AppendOptions {
  /** Event time; defaults to now. Lets a caller use one timestamp for the log and an alert. */
  readonly at?: Date;
  /** The event's row id in the registry's events table (written as `id`, last field). */
  readonly id?: number;
}

/** One line to append in a batch. */
export interface PendingEvent {
  readonly event: string;
  readonly fields: JsonObject;
  readonly at: Date;
  readonly id?: number;
}

/** Where a model's log ends: the last registry event id it holds, and its last timestamp. */
export interface LogPosition {
  /** `id` of the last line that carries one (lines of unregistered models carry none). */
  readonly lastId: number | null;
  /** `ts` of the last line, or null for a missing or empty log. */
  readonly lastTs: string | null;
}

export interface ReadOptions {
  /** Return only the last `limit` events. */
  readonly limit?: number;
}

const RESERVED = new Set(['ts', 'event', 'model', 'id']);
/** Logs hold deployment history and reasons: readable by their owner only. */
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
/** How much of a log's end is read at a time when looking for its last event id. */
const TAIL_CHUNK = 64 * 1024;

/** Appends and reads the JSONL event logs of one workspace. */
export class EventLog {
  constructor(readonly logsDir: string) {}

  /** `<logsDir>/<model>.jsonl`; validates the model name because it becomes a file name. */
  file(model: string): string {
    assertModelName(model);
    return path.join(this.logsDir, `${model}.jsonl`);
  }

  /**
   * Appends one event synchronously: the line is in the file before this returns, so a crash
   * right after a rollback still leaves its record. Fields named ts/event/model/id are ignored
   * because those are fixed by the format.
   */
  append(model: string, event: string, fields: JsonObject = {}, options: AppendOptions = {}): EventLine {
    const line = this.appendMany(model, [{ event, fields, at: options.at ?? new Date(), ...(options.id !== undefined ? { id: options.id } : {}) }]);
    return line[0] as EventLine;
  }

  /**
   * Appends several events with one write call (O_APPEND: concurrent writers never interleave
   * lines). If a previous writer died mid-line, the batch starts on a fresh line so every event
   * stays parseable. Throws when the file cannot be written; callers decide what that means.
   */
  appendMany(model: string, events: readonly PendingEvent[]): EventLine[] {
    const file = this.file(model);
    if (events.length === 0) return [];
    const lines = events.map((e) => formatLine(model, e));
    fs.mkdirSync(this.logsDir, { recursive: true, mode: DIR_MODE });
    const prefix = endsWithoutNewline(file) ? '\n' : '';
    fs.appendFileSync(file, `${prefix}${lines.map((l) => JSON.stringify(l)).join('\n')}\n`, { encoding: 'utf8', mode: FILE_MODE });
    return lines as EventLine[];
  }

  /**
   * Where the model's log ends, read from its tail: lets the registry append exactly the
   * committed events the log is missing (after a failed write or a crash between commit and
   * append), without duplicating any.
   */
  position(model: string): LogPosition {
    let fd: number;
    try {
      fd = fs.openSync(this.file(model), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { lastId: null, lastTs: null };
      throw err;
    }
    try {
      const size = fs.fstatSync(fd).size;
      let lastTs: string | null = null;
      let end = size;
      let carry = '';
      while (end > 0) {
        const start = Math.max(0, end - TAIL_CHUNK);
        const buf = Buffer.alloc(end - start);
        fs.readSync(fd, buf, 0, buf.length, start);
        const text = buf.toString('utf8') + carry;
        const parts = text.split('\n');
        // The first part may be the end of a line that started in the previous chunk.
        carry = start > 0 ? (parts.shift() ?? '') : '';
        for (let i = parts.length - 1; i >= 0; i--) {
          const parsed = tryParseLine(parts[i] ?? '');
          if (!parsed) continue;
          lastTs ??= parsed.ts;
          const id = parsed['id'];
          if (typeof id === 'number' && Number.isInteger(id)) return { lastId: id, lastTs };
        }
        end = start;
      }
      return { lastId: null, lastTs };
    } finally {
      fs.closeSync(fd);
    }
  }

  /**
   * Reads a model's events in file order (oldest first). A missing file is an empty log;
   * lines that are not JSON objects with ts/event/model (a torn last line) are skipped.
   */
  read(model: string, options: ReadOptions = {}): EventLine[] {
    let text: string;
    try {
      text = fs.readFileSync(this.file(model), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const events: EventLine[] = [];
    for (const raw of text.split('\n')) {
      if (raw.trim() === '') continue;
      const parsed = tryParseLine(raw);
      if (parsed) events.push(parsed);
    }
    const { limit } = options;
    return limit !== undefined && limit >= 0 ? events.slice(Math.max(0, events.length - limit)) : events;
  }
}

function formatLine(model: string, e: PendingEvent): Record<string, JsonValue> {
  if (e.event.length === 0) throw new FramewormError('E_INTERNAL', 'event name must not be empty');
  const line: Record<string, JsonValue> = { ts: e.at.toISOString(), event: e.event, model };
  for (const [key, value] of Object.entries(e.fields)) {
    if (!RESERVED.has(key) && value !== undefined) line[key] = value;
  }
  if (e.id !== undefined) line['id'] = e.id;
  return line;
}

function tryParseLine(raw: string): EventLine | null {
  if (raw.trim() === '') return null;
  try {
    const value: unknown = JSON.parse(raw);
    if (
      isJsonObject(value) &&
      typeof value['ts'] === 'string' &&
      typeof value['event'] === 'string' &&
      typeof value['model'] === 'string'
    ) {
      return value as EventLine;
    }
  } catch {
    // torn or corrupt line: skipped
  }
  return null;
}

function endsWithoutNewline(file: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return false;
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size === 0) return false;
    const buf = Buffer.alloc(1);
    fs.readSync(fd, buf, 0, 1, size - 1);
    return buf[0] !== 0x0a;
  } finally {
    fs.closeSync(fd);
  }
}
