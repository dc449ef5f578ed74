/**
 * Shared parts of the guard's end-to-end tests, crash trials and benchmark (issue 9): small ONNX
 * MLP versions, a workspace config for a fast watcher, reading a model's events from its JSONL
 * log and the registry database (read-only, as a second process would), event-driven waits, and
 * a concurrent client loop that counts every answer.
 *
 * Nothing here imports vitest, so the benchmark (plain node) uses it too.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { buildMlp } from '../../../scripts/lib/onnx-builder.js';

/** One model input row for the 4 → 8 → 3 MLPs of these tests. */
export const MLP_BODY = { inputs: { x: [[0.5, -1, 2, 0.25]] } } as const;

/** A parsed event: the JSONL line (or `deploy events --json` row) with its registry id. */
export interface GuardEvent {
  readonly id: number;
  readonly ts: string;
  readonly event: string;
  readonly model: string;
  readonly [field: string]: unknown;
}

/** Writes `count` distinct MLP versions (different seeds) into a fresh folder; returns their paths. */
export function writeMlpVersions(count: number, prefix = 'fw-guard-models-'): { dir: string; files: string[] } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const files: string[] = [];
  for (let i = 0; i < count; i++) {
    const file = path.join(dir, `mlp-${i + 1}.onnx`);
    fs.writeFileSync(file, buildMlp([4, 8, 3], 101 + i * 13));
    files.push(file);
  }
  return { dir, files };
}

/**
 * The `deploy:` lines (indented, for makeWorkspace's extraConfig) of a watcher that decides in a
 * few seconds: checks every second, 5 requests make a check conclusive, p95 above 100 ms breaches.
 */
export function fastWatcherConfig(extra: Readonly<Record<string, string | number | boolean>> = {}): string {
  const keys: Record<string, string | number | boolean> = {
    monitor_interval_s: 1,
    min_requests_per_check: 5,
    latency_threshold_ms: 100,
    rollback_checks: 3,
    cooldown_s: 0,
    ...extra,
  };
  return Object.entries(keys)
    .map(([k, v]) => `  ${k}: ${String(v)}\n`)
    .join('');
}

/** The lines of `probe:` switched on (appended to a workspace's deploy section). */
export const PROBES_ON = '  probe:\n    enabled: true\n';

/** `<ws>/experiments/deploy_logs/<name>.jsonl`, parsed; a line cut by a crash is skipped. */
export function jsonlEvents(ws: string, name: string): GuardEvent[] {
  const file = path.join(ws, 'experiments/deploy_logs', `${name}.jsonl`);
  if (!fs.existsSync(file)) return [];
  const out: GuardEvent[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line) as GuardEvent);
    } catch {
      // a torn last line of a killed writer; the next writer starts a fresh line
    }
  }
  return out;
}

/** The registry database of a workspace with the default registry_path. */
export function registryDbPath(ws: string): string {
  return path.join(ws, 'experiments/model_registry/registry.db');
}

/** Rows of the registry read by a separate, read-only connection. */
export interface RegistryView {
  /** version → stage, of one model. */
  readonly stages: ReadonlyMap<string, string>;
  /** Versions whose stage is production. */
  readonly production: readonly string[];
  /** Event ids of the model, ascending. */
  readonly eventIds: readonly number[];
  /** The model's endpoint port, or null. */
  readonly port: number | null;
}

/** Reads one model's versions, events and port straight from registry.db (read-only). */
export function readRegistry(ws: string, name: string): RegistryView {
  const db = new Database(registryDbPath(ws), { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const model = db.prepare('SELECT id, endpoint_port FROM models WHERE name = ?').get(name) as { id: number; endpoint_port: number | null } | undefined;
    if (!model) throw new Error(`registry has no model ${name}`);
    const rows = db.prepare('SELECT version, stage FROM versions WHERE model_id = ? ORDER BY id').all(model.id) as { version: string; stage: string }[];
    const ids = db.prepare('SELECT id FROM events WHERE model_id = ? ORDER BY id').all(model.id) as { id: number }[];
    return {
      stages: new Map(rows.map((r) => [r.version, r.stage])),
      production: rows.filter((r) => r.stage === 'production').map((r) => r.version),
      eventIds: ids.map((r) => r.id),
      port: model.endpoint_port,
    };
  } finally {
    db.close();
  }
}

/** Slack rows of the registry's alert outbox: about-event id → state (pending, sent, failed, skipped). */
export function slackOutbox(ws: string): Map<number, string> {
  const db = new Database(registryDbPath(ws), { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const rows = db.prepare("SELECT event_id, state FROM alert_outbox WHERE channel = 'slack'").all() as { event_id: number; state: string }[];
    return new Map(rows.map((r) => [r.event_id, r.state]));
  } finally {
    db.close();
  }
}

/**
 * Polls `probe` every `everyMs` until it returns something other than null/undefined. The bound
 * only ends a wait that would otherwise hang; it is not an assertion about speed.
 */
export async function waitFor<T>(what: string, probe: () => T | null | undefined | Promise<T | null | undefined>, boundMs = 60_000, everyMs = 100): Promise<T> {
  const until = Date.now() + boundMs;
  for (;;) {
    const value = await probe();
    if (value !== null && value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out after ${boundMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Waits until the model's JSONL log holds an event after `afterId` that `match` accepts; returns it. */
export function waitForEvent(ws: string, name: string, what: string, match: (e: GuardEvent) => boolean, afterId = 0, boundMs = 60_000): Promise<GuardEvent> {
  return waitFor(what, () => jsonlEvents(ws, name).find((e) => e.id > afterId && match(e)), boundMs);
}

/** The last event id in a model's log (0 when none). */
export function lastEventId(ws: string, name: string): number {
  return jsonlEvents(ws, name).reduce((m, e) => Math.max(m, e.id), 0);
}

/** What a client loop saw. */
export interface TrafficReport {
  /** Answers by HTTP status; -1 counts requests that got no answer (connection errors). */
  readonly statuses: ReadonlyMap<number, number>;
  /** Versions that answered 200. */
  readonly versions: ReadonlySet<string>;
  /** Every answer that was not a 200 (status and body), for the failure message. */
  readonly failures: readonly string[];
  readonly total: number;
}

/** `clients` keep-alive loops POSTing `body` to `<endpoint>/predict` until stopped. */
export class ClientLoop {
  private running = true;
  private readonly statuses = new Map<number, number>();
  private readonly versions = new Set<string>();
  private readonly failures: string[] = [];
  private readonly agent: http.Agent;
  private readonly loops: Promise<void>[];
  /** Answers seen so far (all statuses). */
  total = 0;
  /** Version of the latest 200 answer. */
  lastVersion: string | null = null;
  /** Epoch ms at which each version's first 200 answer arrived (for the benchmark). */
  readonly firstSeen = new Map<string, number>();

  constructor(
    private readonly endpoint: string,
    clients: number,
    private readonly body: unknown = MLP_BODY,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: clients });
    this.loops = Array.from({ length: clients }, () => this.loop());
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const answer = await postOnce(`${this.endpoint}/predict`, this.body, this.agent).catch((err: unknown) => ({ status: -1, text: String(err) }));
      this.total++;
      this.statuses.set(answer.status, (this.statuses.get(answer.status) ?? 0) + 1);
      if (answer.status === 200) {
        const version = String((JSON.parse(answer.text) as { version?: unknown }).version);
        this.versions.add(version);
        this.lastVersion = version;
        if (!this.firstSeen.has(version)) this.firstSeen.set(version, Date.now());
      } else if (this.failures.length < 20) {
        this.failures.push(`${answer.status}: ${answer.text.slice(0, 200)}`);
      }
    }
  }

  /** Waits until `n` more answers have arrived (event-driven progress, not a sleep). */
  async answers(n: number, boundMs = 60_000): Promise<void> {
    const target = this.total + n;
    await waitFor(`${n} more answers`, () => (this.total >= target ? true : null), boundMs, 20);
  }

  /** Stops every loop after its current request and reports. */
  async stop(): Promise<TrafficReport> {
    this.running = false;
    await Promise.all(this.loops);
    this.agent.destroy();
    return { statuses: new Map(this.statuses), versions: new Set(this.versions), failures: [...this.failures], total: this.total };
  }
}

/** One POST with a JSON body; resolves with the status and the body text. */
export function postOnce(url: string, body: unknown, agent?: http.Agent): Promise<{ status: number; text: string }> {
  const raw = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(raw) }, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(raw);
  });
}

/** The pid of the workspace's running agent, from `.frameworm/agent.json`; null without one. */
export function agentPid(ws: string): number | null {
  try {
    const record = JSON.parse(fs.readFileSync(path.join(ws, '.frameworm/agent.json'), 'utf8')) as { pid?: unknown };
    return typeof record.pid === 'number' ? record.pid : null;
  } catch {
    return null;
  }
}

/**
 * Ids of `rollback_started` events that no later `rollback` line closes. A `rollback` closes the
 * latest open `rollback_started` with the same from and to versions; `rollback` lines with no
 * `rollback_started` (nothing healthy to roll back to) close nothing.
 */
export function openRollbacks(events: readonly GuardEvent[]): number[] {
  const open: GuardEvent[] = [];
  for (const e of [...events].sort((a, b) => a.id - b.id)) {
    if (e.event === 'rollback_started') open.push(e);
    else if (e.event === 'rollback') {
      for (let i = open.length - 1; i >= 0; i--) {
        const s = open[i]!;
        if (s.from_version === e.from_version && s.to_version === e.to_version) {
          open.splice(i, 1);
          break;
        }
      }
    }
  }
  return open.map((e) => e.id);
}
