/**
 * Live drift monitoring of a workspace's deployments (issue SHIFT): the stable endpoint offers
 * each successful user request (probes excluded) after answering it; a bounded, rate-capped
 * sample is copied to the drift worker thread, which extracts features and tests tumbling
 * windows against the deployment's reference (its `--shift` profile, else its first
 * `drift_reference_size` sampled rows). Every checked window is a `drift_check` event;
 * `DRIFT_ALERT_WINDOWS` drifted windows in a row are a `drift` event, which the alert router
 * sends like a rollback, and — only with `rollback_on_drift: true` — an automatic rollback.
 *
 * The request never waits: offering is a counter check and a postMessage of a copy. A worker that
 * crashes is restarted and reported (`drift_worker_restarted`); serving is never affected.
 */
import { Worker } from 'node:worker_threads';
import type { DeployConfig } from '../../config/deploy-config.js';
import { workerEntry } from '../../common/worker-entry.js';
import type { JsonObject } from '../../common/json.js';
import type { Registry } from '../../registry/registry.js';
import { RawJson } from '../../serving/http-io.js';
import { readProfile, referenceGroups } from '../profile/shift-profile.js';
import type { DriftResult, GroupSamples } from '../stats/types.js';
import type { TrackerSettings, TrackerStatus } from './drift-tracker.js';
import type { FromDriftWorker, ToDriftWorker } from './drift-protocol.js';

/** Drifted windows in a row that make a `drift` event (and an alert). */
export const DRIFT_ALERT_WINDOWS = 2;
/**
 * … and at most this many answer bytes a second: parsing a sampled answer costs the worker about
 * 16 ms per MB, so this keeps drift below roughly a tenth of a core however big the answers are.
 */
export const MAX_SAMPLE_BYTES_PER_S = 4 * 1024 * 1024;
/** Samples posted but not yet handled by the worker; beyond it new samples are dropped. */
const MAX_QUEUED = 256;

export interface DriftMonitorOptions {
  readonly registry: Registry;
  readonly workspaceRoot: string;
  readonly settings: () => DeployConfig;
  /** Called on a `drift` event when `rollback_on_drift` is set. */
  readonly rollback?: (name: string, reason: string) => Promise<unknown>;
  readonly log?: (line: string) => void;
  /** Sampling caps per deployment (defaults: config drift_max_samples_per_s, MAX_SAMPLE_BYTES_PER_S). */
  readonly maxSamplesPerS?: number;
  readonly maxSampleBytesPerS?: number;
}

/** What an endpoint offers after a successful answer. */
export interface TrafficSample {
  readonly version: string;
  readonly request: unknown;
  readonly response: unknown;
}

export interface DriftStatus {
  readonly enabled: boolean;
  readonly tracker: TrackerStatus | null;
  readonly last: (DriftResult & { readonly version: string; readonly ts: string; readonly consecutive: number }) | null;
  readonly sampled: number;
  readonly dropped: number;
}

interface Deployment {
  configured: boolean;
  consecutive: number;
  last: DriftStatus['last'];
  sampled: number;
  dropped: number;
  bucketStart: number;
  bucketCount: number;
  bucketBytes: number;
  types: Map<string, { type: string; latentDim?: number }>;
}

export class DriftMonitor {
  private worker: Worker | null = null;
  private starting: Promise<Worker> | null = null;
  private readonly deployments = new Map<string, Deployment>();
  private queued = 0;
  private nextQuery = 1;
  private readonly queries = new Map<number, (msg: Extract<FromDriftWorker, { op: 'reply' }>) => void>();
  private disposed = false;
  private readonly log: (line: string) => void;

  constructor(private readonly options: DriftMonitorOptions) {
    this.log = options.log ?? ((line) => process.stdout.write(`${line}\n`));
  }

  /** Offers one answered request; cheap, never throws, never waits. */
  offer(name: string, sample: TrafficSample): void {
    try {
      const cfg = this.options.settings();
      if (!cfg.drift_enabled || this.disposed) return;
      if (cfg.drift_sample_rate < 1 && Math.random() >= cfg.drift_sample_rate) return;
      const d = this.deployment(name);
      const now = Date.now();
      if (now - d.bucketStart >= 1000) {
        d.bucketStart = now;
        d.bucketCount = 0;
        d.bucketBytes = 0;
      }
      const r0 = sample.response;
      const bytes = typeof r0 === 'string' ? r0.length : Buffer.isBuffer(r0) ? r0.length : r0 instanceof RawJson ? r0.bytes.length : 0;
      const maxSamples = this.options.maxSamplesPerS ?? cfg.drift_max_samples_per_s;
      const maxBytes = this.options.maxSampleBytesPerS ?? MAX_SAMPLE_BYTES_PER_S;
      if (d.bucketCount >= maxSamples || d.bucketBytes + bytes > maxBytes || this.queued >= MAX_QUEUED) {
        // One oversized answer still gets sampled once per second rather than never.
        if (!(d.bucketCount === 0 && this.queued < MAX_QUEUED)) {
          d.dropped++;
          return;
        }
      }
      d.bucketCount++;
      d.bucketBytes += bytes;
      const kind = this.typeOf(name, sample.version, d);
      if (!kind) return;
      if (!d.configured) this.configure(name, d);
      d.sampled++;
      this.queued++;
      // The answer's JSON text as sent; a Buffer is copied (its memory may be pooled).
      const r = sample.response;
      const response = r instanceof RawJson ? new Uint8Array(r.bytes) : Buffer.isBuffer(r) ? new Uint8Array(r) : r;
      this.post({ op: 'sample', name, version: sample.version, type: kind.type, ...(kind.latentDim ? { latentDim: kind.latentDim } : {}), request: sample.request, response });
    } catch (err) {
      this.log(`drift: sampling ${name} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Re-reads settings (and the `--shift` profile) for every known deployment. */
  reconfigure(): void {
    for (const [name, d] of this.deployments) this.configure(name, d);
  }

  /** The deployment's drift state (reference, window fill, last check). */
  async status(name: string): Promise<DriftStatus> {
    const cfg = this.options.settings();
    const d = this.deployments.get(name);
    const reply = d ? await this.query(name, 'status') : null;
    return { enabled: cfg.drift_enabled, tracker: reply?.status ?? null, last: d?.last ?? null, sampled: d?.sampled ?? 0, dropped: d?.dropped ?? 0 };
  }

  /** Reference rows and the last (or filling) window, for the HTML report. */
  async samples(name: string): Promise<{ reference: GroupSamples[] | null; current: GroupSamples[] | null }> {
    if (!this.deployments.has(name)) return { reference: null, current: null };
    return (await this.query(name, 'samples'))?.samples ?? { reference: null, current: null };
  }

  /** Recent sampled traffic as feature groups (a profile made from a deployment). */
  async recent(name: string): Promise<GroupSamples[] | null> {
    if (!this.deployments.has(name)) return null;
    return (await this.query(name, 'recent'))?.recent ?? null;
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    const w = this.worker ?? (this.starting ? await this.starting.catch(() => null) : null);
    this.worker = null;
    if (w) await w.terminate();
    for (const resolve of this.queries.values()) resolve({ op: 'reply', id: 0, status: null, samples: null, recent: null });
    this.queries.clear();
  }

  private deployment(name: string): Deployment {
    let d = this.deployments.get(name);
    if (!d) {
      d = { configured: false, consecutive: 0, last: null, sampled: 0, dropped: 0, bucketStart: 0, bucketCount: 0, bucketBytes: 0, types: new Map() };
      this.deployments.set(name, d);
    }
    return d;
  }

  private typeOf(name: string, version: string, d: Deployment): { type: string; latentDim?: number } | null {
    const cached = d.types.get(version);
    if (cached) return cached;
    const record = this.options.registry.getVersion(name, version);
    if (!record) return null;
    const latent = record.lineage.hyper_parameters?.['latent_dim'];
    const kind = { type: record.type, ...(typeof latent === 'number' ? { latentDim: latent } : {}) };
    d.types.set(version, kind);
    return kind;
  }

  private trackerSettings(): TrackerSettings {
    const cfg = this.options.settings();
    return { window: cfg.drift_window, referenceSize: cfg.drift_reference_size, alpha: cfg.drift_alpha, permutations: cfg.drift_permutations, seed: 0 };
  }

  /** Sends settings and, for a deployment started with `--shift P`, the profile's reference rows. */
  private configure(name: string, d: Deployment): void {
    d.configured = true;
    let reference: { groups: GroupSamples[]; source: string } | undefined;
    const profile = this.options.registry.getModel(name)?.settings['shift_profile'];
    if (typeof profile === 'string') {
      try {
        reference = { groups: referenceGroups(readProfile(this.options.workspaceRoot, profile)), source: `profile:${profile}` };
      } catch (err) {
        this.log(`drift: ${name}: cannot read shift profile ${profile} (${err instanceof Error ? err.message : String(err)}); the first requests become the reference`);
      }
    }
    this.post({ op: 'configure', name, settings: this.trackerSettings(), ...(reference ? { reference } : {}) });
  }

  private post(msg: ToDriftWorker): void {
    if (this.worker) {
      this.worker.postMessage(msg);
      return;
    }
    void this.start().then((w) => w.postMessage(msg), (err: unknown) => this.log(`drift: the worker did not start: ${String(err)}`));
  }

  private start(): Promise<Worker> {
    this.starting ??= (async () => {
      const { url, options } = await workerEntry(import.meta.url, 'drift-worker');
      const w = new Worker(url, options);
      w.unref();
      w.on('message', (msg: FromDriftWorker) => this.onMessage(msg));
      w.on('error', (err) => this.onCrash(err));
      this.worker = w;
      return w;
    })();
    return this.starting;
  }

  /** A crashed worker is replaced; its deployments are configured again (traffic references restart). */
  private onCrash(err: Error): void {
    this.worker = null;
    this.starting = null;
    this.queued = 0;
    if (this.disposed) return;
    this.log(`drift: the worker crashed (${err.message}); restarting it`);
    for (const [name, d] of this.deployments) {
      d.configured = false;
      this.record(name, 'drift_worker_restarted', { error: err.message });
    }
    for (const resolve of this.queries.values()) resolve({ op: 'reply', id: 0, status: null, samples: null, recent: null });
    this.queries.clear();
  }

  private onMessage(msg: FromDriftWorker): void {
    switch (msg.op) {
      case 'ack':
        this.queued = Math.max(0, this.queued - 1);
        return;
      case 'reply':
        this.queries.get(msg.id)?.(msg);
        this.queries.delete(msg.id);
        return;
      case 'error':
        if (msg.name !== undefined) this.queued = Math.max(0, this.queued - 1);
        this.log(`drift: ${msg.name ?? ''}: ${msg.message}`);
        return;
      case 'reference':
        this.queued = Math.max(0, this.queued - 1);
        this.record(msg.name, 'drift_reference', { version: msg.version, source: msg.source, rows: msg.rows });
        return;
      case 'check':
        this.queued = Math.max(0, this.queued - 1);
        this.onCheck(msg);
        return;
    }
  }

  private onCheck(msg: Extract<FromDriftWorker, { op: 'check' }>): void {
    const d = this.deployment(msg.name);
    d.consecutive = msg.result.drifted ? d.consecutive + 1 : 0;
    const ts = new Date().toISOString();
    d.last = { ...msg.result, version: msg.version, ts, consecutive: d.consecutive };
    this.record(msg.name, 'drift_check', {
      version: msg.version,
      drifted: msg.result.drifted,
      severity: msg.result.severity,
      window: msg.result.window as unknown as JsonObject,
      groups: msg.result.groups.map((g) => ({ ...g }) as unknown as JsonObject),
      consecutive: d.consecutive,
      reference_source: msg.status.reference_source,
    });
    // Rate-limited: at the streak's start, then every 10 further drifted windows.
    if (d.consecutive >= DRIFT_ALERT_WINDOWS && (d.consecutive - DRIFT_ALERT_WINDOWS) % 10 === 0) {
      const groups = msg.result.groups.filter((g) => g.drifted).map((g) => g.name);
      this.record(msg.name, 'drift', { version: msg.version, severity: msg.result.severity, consecutive: d.consecutive, groups, window: msg.result.window as unknown as JsonObject });
      if (this.options.settings().rollback_on_drift && this.options.rollback && d.consecutive === DRIFT_ALERT_WINDOWS) {
        const reason = `automatic: ${d.consecutive} consecutive drifted windows (${msg.result.severity}: ${groups.join(', ')})`;
        this.options.rollback(msg.name, reason).catch((err: unknown) => this.log(`drift: rollback of ${msg.name} failed: ${err instanceof Error ? err.message : String(err)}`));
      }
    }
  }

  private async query(name: string, what: 'status' | 'samples' | 'recent'): Promise<Extract<FromDriftWorker, { op: 'reply' }> | null> {
    // A worker still starting answers once it runs (after the samples posted before the query).
    const worker = this.worker ?? (this.starting ? await this.starting.catch(() => null) : null);
    if (!worker) return null;
    const id = this.nextQuery++;
    return new Promise((resolve) => {
      this.queries.set(id, resolve);
      worker.postMessage({ op: 'query', id, name, what } satisfies ToDriftWorker);
    });
  }

  private record(name: string, event: string, fields: JsonObject): void {
    try {
      this.options.registry.recordEvent(name, event, fields);
    } catch (err) {
      this.log(`drift: cannot record ${event} for ${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
