import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventLog } from '../../../main/events/event-log.js';

let dir: string;
let log: EventLog;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-events-'));
  log = new EventLog(path.join(dir, 'experiments', 'deploy_logs'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('EventLog', () => {
  it('appends one JSON object a line with ts, event, model first, creating the folder', () => {
    const at = new Date('2025-03-04T05:06:07.089Z');
    log.append('m', 'rollback', {
      from_version: 'v2', to_version: 'v1', reason: 'p95', p95_ms: 2500, error_rate: 0.2, success: true,
    }, { at });
    const text = fs.readFileSync(path.join(dir, 'experiments', 'deploy_logs', 'm.jsonl'), 'utf8');
    expect(text).toBe(
      '{"ts":"2025-03-04T05:06:07.089Z","event":"rollback","model":"m","from_version":"v2","to_version":"v1","reason":"p95","p95_ms":2500,"error_rate":0.2,"success":true}\n',
    );
  });

  it('keeps the fixed fields from being overridden', () => {
    const line = log.append('m', 'deploy', { model: 'other', event: 'x', version: 'v1' });
    expect(line).toMatchObject({ event: 'deploy', model: 'm', version: 'v1' });
  });

  it('reads events back in order, with a limit, and skips a torn last line', () => {
    for (let i = 0; i < 5; i++) log.append('m', 'breach', { n: i });
    fs.appendFileSync(log.file('m'), '{"ts":"2025-01-01T00:00:00.000Z","event":"brea');
    expect(log.read('m').map((e) => e['n'])).toEqual([0, 1, 2, 3, 4]);
    expect(log.read('m', { limit: 2 }).map((e) => e['n'])).toEqual([3, 4]);
    // The next event starts on a new line, so the torn one does not swallow it.
    log.append('m', 'alert', { n: 5 });
    expect(log.read('m').map((e) => e['n'])).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('returns an empty list for a model without a log and refuses unsafe names', () => {
    expect(log.read('none')).toEqual([]);
    expect(() => log.append('../escape', 'x')).toThrow(/invalid model name/);
    expect(() => log.read('a/b')).toThrow(/invalid model name/);
  });
});
