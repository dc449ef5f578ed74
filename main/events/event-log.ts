/**
 * Per-model JSONL event log (DESIGN §3, §7): `<logsDir>/<model>.jsonl`, one JSON object a line.
 * Users tail and grep these files and scripts parse them, so the first three fields are fixed:
 * `ts`, `event`, `model`, followed by the event's own fields.
 */
import fs from 'node:fs';
import path from 'node:path';
import { FramewormError } from '../common/errors.js';
import { assertModelName } from '../workspace/workspace.js';
import { isJsonObject, type JsonObject, type JsonValue } from './json.js';

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
}

export interface ReadOptions {
  /** Return only the last `limit` events. */
  readonly limit?: number;
}

const RESERVED = new Set(['ts', 'event', 'model']);

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
   * right after a rollback still leaves its record. Fields named ts/event/model are ignored
   * because those three are fixed by the format.
   */
  append(model: string, event: string, fields: JsonObject = {}, options: AppendOptions = {}): EventLine {
    const file = this.file(model);
    if (event.length === 0) throw new FramewormError('E_INTERNAL', 'event name must not be empty');
    const line: Record<string, JsonValue> = {
      ts: (options.at ?? new Date()).toISOString(),
      event,
      model,
    };
    for (const [key, value] of Object.entries(fields)) {
      if (!RESERVED.has(key) && value !== undefined) line[key] = value;
    }
    fs.mkdirSync(this.logsDir, { recursive: true });
    // If a previous writer died mid-line, start on a fresh line so this event stays parseable.
    const prefix = endsWithoutNewline(file) ? '\n' : '';
    // One write call with O_APPEND: concurrent writers (agent + CLI) do not interleave lines.
    fs.appendFileSync(file, `${prefix}${JSON.stringify(line)}\n`, 'utf8');
    return line as EventLine;
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

function tryParseLine(raw: string): EventLine | null {
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
