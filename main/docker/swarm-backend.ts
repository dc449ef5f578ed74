/**
 * A backend that forwards /predict to the tasks of a Swarm service (the swarm target). The
 * stable endpoint in front of it times and records every request as for any backend.
 *
 * Balancing: the service's tasks are listed every `pollMs`; a task is a candidate while Swarm
 * says it runs and wants it running. A task with a HEALTHCHECK is "starting" until its first
 * healthy check, so a running task has loaded its model. Each request goes to the candidate
 * with the fewest requests in flight (ties: round robin).
 *
 * Faults: a connection-level failure (refused, reset, hung up — the task was stopped by an
 * update, killed from outside, or is being replaced) marks that task's port suspect for a moment
 * and retries the request on another task. With no candidate left (one replica, being replaced)
 * the request waits for one, polling, up to its deadline (`requestTimeoutMs`) or until the
 * client gives up. A predict call is safe to send twice: it changes no state. An HTTP answer,
 * even a 5xx, is never retried (the model itself failed). Answers pass through byte for byte.
 *
 * During a rolling update the service runs tasks of both versions; the backend of the version
 * being replaced forwards to whichever tasks run, so the endpoint keeps answering throughout.
 */
import http from 'node:http';
import { FramewormError } from '../common/errors.js';
import type { ModelType } from '../common/types.js';
import type { Backend, BackendHealth, WireRequest } from '../serving/backend.js';
import { InFlight } from '../serving/in-flight.js';
import { forwardPost, forwardResult, type ForwardAnswer } from './forward-http.js';
import type { SwarmClient, TaskInfo } from './swarm-client.js';
import { SWARM_LABEL_VERSION } from './swarm-spec.js';

export interface SwarmBackendOptions {
  readonly name: string;
  readonly version: string;
  readonly type: ModelType;
  readonly swarm: SwarmClient;
  readonly serviceId: string;
  readonly serviceName: string;
  readonly imageId: string;
  /** Task in slot N listens on portBase + N. */
  readonly portBase: number;
  /** Where the tasks' servers listen (127.0.0.1 here). */
  readonly host: string;
  readonly requestTimeoutMs: number;
  /** Period of the task listing, ms (default 500). */
  readonly pollMs?: number;
  /** Called by dispose once the backend's requests are done (the target decides about the service). */
  readonly release?: (backend: SwarmBackend) => Promise<void>;
}

/** One task requests may go to. */
interface Candidate {
  readonly taskId: string;
  readonly slot: number;
  readonly port: number;
  readonly version: string | null;
}

/** How long a port that refused a connection is skipped (the task list catches up meanwhile). */
const SUSPECT_MS = 1_000;
/** Wait between looks for a task while none can take a request. */
const NO_TASK_WAIT_MS = 100;
/** Latencies kept for the p99 that sizes the next update's stop grace period. */
const LATENCY_WINDOW = 512;

/** Error codes of a request that reached no server (safe to send to another task). */
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH']);

export class SwarmBackend implements Backend {
  private readonly inFlight = new InFlight();
  private readonly agent: http.Agent;
  private candidates: Candidate[] = [];
  private readonly perPort = new Map<number, number>();
  private readonly suspect = new Map<number, number>();
  private rr = 0;
  private poll: NodeJS.Timeout | null = null;
  private refreshing: Promise<void> | null = null;
  private disposed: Promise<void> | null = null;
  private lastError: string | null = null;
  private readonly latencies: number[] = [];
  private retried = 0;

  constructor(private readonly options: SwarmBackendOptions) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 64, keepAliveMsecs: 1_000 });
  }

  get version(): string {
    return this.options.version;
  }

  get type(): ModelType {
    return this.options.type;
  }

  get model(): string {
    return this.options.name;
  }

  get serviceId(): string {
    return this.options.serviceId;
  }

  get serviceName(): string {
    return this.options.serviceName;
  }

  get portBase(): number {
    return this.options.portBase;
  }

  get imageId(): string {
    return this.options.imageId;
  }

  /** Requests sent again to another task after a connection-level failure. */
  get retries(): number {
    return this.retried;
  }

  /** Lists the tasks once, then every pollMs. */
  async start(): Promise<void> {
    await this.refresh();
    this.poll = setInterval(() => void this.refresh(), this.options.pollMs ?? 500);
    this.poll.unref();
  }

  /** Healthy while at least one task can take requests. */
  health(): BackendHealth {
    if (this.candidates.length > 0) return { healthy: true, state: 'running', detail: null };
    return { healthy: false, state: 'no_running_tasks', detail: `no task of swarm service ${this.options.serviceName} is running${this.lastError ? ` (${this.lastError})` : ''}` };
  }

  /** The p99 of forwarded requests (ms), null before any. */
  p99Ms(): number | null {
    if (this.latencies.length === 0) return null;
    const sorted = [...this.latencies].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)] ?? null;
  }

  handlePredict(body: unknown, signal?: AbortSignal, wire?: WireRequest): Promise<object> {
    // Counted before the first await: see Backend.handlePredict.
    return this.inFlight.track(async () => {
      if (this.disposed) throw new FramewormError('E_RUNTIME', `version ${this.version} has been stopped`);
      const payload = wire ? wire.bytes : Buffer.from(JSON.stringify(body));
      const contentType = wire?.contentType ?? 'application/json';
      const t0 = performance.now();
      const answer = await this.forward(payload, contentType, wire?.accept, signal, t0 + this.options.requestTimeoutMs);
      this.latencies.push(performance.now() - t0);
      if (this.latencies.length > LATENCY_WINDOW) this.latencies.splice(0, this.latencies.length - LATENCY_WINDOW);
      return forwardResult(answer, `swarm service ${this.options.serviceName}`);
    });
  }

  drain(): Promise<void> {
    return this.inFlight.drain();
  }

  /** Waits for in-flight requests, stops following the tasks, then lets the target release the service. */
  dispose(): Promise<void> {
    this.disposed ??= this.drain().then(async () => {
      if (this.poll) clearInterval(this.poll);
      this.poll = null;
      this.agent.destroy();
      await this.options.release?.(this);
    });
    return this.disposed;
  }

  describe(): object {
    return {
      kind: 'swarm',
      model: this.options.name,
      version: this.version,
      type: this.type,
      service: this.options.serviceName,
      service_id: this.options.serviceId,
      image_id: this.options.imageId,
      port_base: this.options.portBase,
      tasks: this.candidates.map((c) => ({ task_id: c.taskId, slot: c.slot, port: c.port, version: c.version })),
      in_flight: this.inFlight.count,
      retries: this.retried,
    };
  }

  /** Sends to the least busy candidate; connection failures go to another one until the deadline. */
  private async forward(payload: Buffer, contentType: string, accept: string | undefined, signal: AbortSignal | undefined, deadline: number): Promise<ForwardAnswer> {
    let last: Error | null = null;
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted) throw new FramewormError('E_RUNTIME', 'the request was abandoned before a swarm task answered');
      const target = this.pick();
      const left = deadline - performance.now();
      if (left <= 0) {
        const why = last ? `: ${last.message}` : '';
        throw new FramewormError('E_RUNTIME', `no task of swarm service ${this.options.serviceName} answered within ${this.options.requestTimeoutMs} ms${why}`);
      }
      if (!target) {
        // One replica being replaced, or all suspect: look again shortly.
        await this.refresh();
        if (!this.pick()) await sleep(Math.min(NO_TASK_WAIT_MS, left), signal);
        continue;
      }
      if (attempt > 0) this.retried++;
      this.perPort.set(target.port, (this.perPort.get(target.port) ?? 0) + 1);
      try {
        return await forwardPost(this.agent, { host: this.options.host, port: target.port, path: '/predict', payload, contentType, accept, timeoutMs: Math.max(1, left) });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (!code || !CONNECTION_CODES.has(code)) throw this.unreachable(target, err as Error);
        last = err as Error;
        this.suspect.set(target.port, Date.now() + SUSPECT_MS);
        void this.refresh();
      } finally {
        const n = (this.perPort.get(target.port) ?? 1) - 1;
        if (n <= 0) this.perPort.delete(target.port);
        else this.perPort.set(target.port, n);
      }
    }
  }

  /** The candidate with the fewest requests in flight (round robin among equals), skipping suspects. */
  private pick(): Candidate | null {
    const now = Date.now();
    const usable = this.candidates.filter((c) => (this.suspect.get(c.port) ?? 0) <= now);
    if (usable.length === 0) return null;
    this.rr = (this.rr + 1) % usable.length;
    let best: Candidate | null = null;
    let bestLoad = Infinity;
    for (let i = 0; i < usable.length; i++) {
      const c = usable[(this.rr + i) % usable.length]!;
      const load = this.perPort.get(c.port) ?? 0;
      if (load < bestLoad) {
        best = c;
        bestLoad = load;
      }
    }
    return best;
  }

  /** Re-reads the service's tasks (one listing at a time). */
  refresh(): Promise<void> {
    this.refreshing ??= this.readTasks().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async readTasks(): Promise<void> {
    let tasks: TaskInfo[];
    try {
      tasks = await this.options.swarm.tasks(this.options.serviceId);
    } catch (err) {
      // The daemon not answering says nothing about the tasks: keep the last list.
      this.lastError = err instanceof Error ? err.message : String(err);
      return;
    }
    this.lastError = null;
    const next: Candidate[] = [];
    for (const t of tasks) {
      if (t.DesiredState !== 'running' || t.Status.State !== 'running' || typeof t.Slot !== 'number') continue;
      next.push({ taskId: t.ID, slot: t.Slot, port: this.options.portBase + t.Slot, version: t.Spec.ContainerSpec?.Labels?.[SWARM_LABEL_VERSION] ?? null });
    }
    next.sort((a, b) => a.slot - b.slot);
    this.candidates = next;
  }

  private unreachable(target: Candidate, err: Error): FramewormError {
    const code = (err as NodeJS.ErrnoException).code;
    return new FramewormError('E_RUNTIME', `task ${target.slot} of swarm service ${this.options.serviceName} (port ${target.port}) did not answer (${code ? `${code}: ` : ''}${err.message})`);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
