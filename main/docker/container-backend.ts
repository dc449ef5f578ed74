/**
 * A backend that forwards /predict to a running container of the generated server (the docker
 * target). The stable endpoint in front of it still times and records every request, so the
 * deployment's p50/p95/p99 and error rate cover the container exactly as they cover the
 * embedded runtime.
 *
 * Requests and answers pass through byte for byte: the client's body (JSON or safetensors) and
 * Accept header go to the container as they came, 200 bodies are not re-encoded (RawJson, or
 * RawBody for a safetensors answer), 4xx become
 * RequestErrors with the container's own message and detail, 5xx and a container that does not
 * answer (killed, crashed, out of memory) become 500s that count toward the error rate.
 *
 * Once watched (`watch`), the backend follows its container's real health: the daemon's event
 * stream (die, oom, destroy, health_status), a periodic inspect as a backstop for a broken
 * stream, and consecutive forwards that got no answer at all. A container found exited, gone,
 * unhealthy or unreachable makes the backend lost for good: `health()` says so (the stable
 * endpoint's /ready turns 503) and `onLost` is called once, so the control plane can replace it.
 */
import http from 'node:http';
import type { Readable } from 'node:stream';
import type { ContainerStateView } from '../../preload/contract.js';
import { FramewormError } from '../common/errors.js';
import type { ModelType } from '../common/types.js';
import type { Backend, BackendHealth, WireRequest } from '../serving/backend.js';
import { InFlight } from '../serving/in-flight.js';
import type { ContainerState, DockerClient } from './docker-client.js';
import { forwardPost, forwardResult, type ForwardAnswer } from './forward-http.js';

export interface ContainerBackendOptions {
  readonly name: string;
  readonly version: string;
  readonly type: ModelType;
  readonly client: DockerClient;
  readonly containerId: string;
  readonly containerName: string;
  /** Image reference and id the container runs. */
  readonly image: string;
  readonly imageId: string;
  /** 127.0.0.1 port the container's server is published on. */
  readonly hostPort: number;
  /** Longest a forwarded request may take before it is abandoned (the endpoint answers 504 first). */
  readonly requestTimeoutMs: number;
  /** Concurrent connections to the container (default 64). */
  readonly maxSockets?: number;
  /** Grace for the container's server to finish on stop, seconds (default 10). */
  readonly stopGraceS?: number;
  /** Period of the backstop inspect while watched, ms (default 5000). */
  readonly watchIntervalMs?: number;
  /** Consecutive forwards without any answer that make the container lost (default 3). */
  readonly maxFailedForwards?: number;
}

/** Why a watched container stopped being usable. */
export type LossReason = 'exited' | 'oom_killed' | 'removed' | 'unhealthy' | 'unreachable';

/** What `onLost` is told about a lost container. */
export interface BackendLoss {
  readonly model: string;
  readonly version: string;
  readonly containerId: string;
  readonly containerName: string;
  readonly reason: LossReason;
  /** The container's exit code when it exited, else null. */
  readonly exitCode: number | null;
  /** One line for logs and events. */
  readonly detail: string;
}

/** Called once when a watched container is lost (never after `dispose`). */
export type LossListener = (backend: ContainerBackend, loss: BackendLoss) => void;

/** How long an idle connection to the container is kept (below the server's 75 s keep-alive). */
const IDLE_SOCKET_MS = 60_000;

// Daemon events after which the container's state is worth an inspect.
const WATCHED_ACTIONS = new Set(['die', 'oom', 'destroy', 'kill', 'stop', 'health_status: unhealthy']);

export class ContainerBackend implements Backend {
  private readonly inFlight = new InFlight();
  private disposed: Promise<void> | null = null;
  private readonly agent: http.Agent;
  private lost: BackendLoss | null = null;
  private onLost: LossListener | null = null;
  private events: Readable | null = null;
  private poll: NodeJS.Timeout | null = null;
  private checking: Promise<void> | null = null;
  private failedForwards = 0;
  /** Set when a check was asked for during another: '' plain, else the unanswered reason. */
  private recheck: string | null = null;

  constructor(private readonly options: ContainerBackendOptions) {
    // Idle sockets are dropped before the server's keep-alive (uvicorn --timeout-keep-alive 75)
    // would close them, so a request rarely meets a socket the server is closing (see post()).
    this.agent = new http.Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 64, keepAliveMsecs: 1_000, timeout: IDLE_SOCKET_MS });
  }

  get version(): string {
    return this.options.version;
  }

  get type(): ModelType {
    return this.options.type;
  }

  get containerId(): string {
    return this.options.containerId;
  }

  /** The loss, once the watched container is lost (null while it serves). */
  get loss(): BackendLoss | null {
    return this.lost;
  }

  /** False once the container is lost; see the file comment. */
  health(): BackendHealth {
    const l = this.lost;
    return l ? { healthy: false, state: l.reason, detail: l.detail } : { healthy: true, state: 'running', detail: null };
  }

  /**
   * Starts following the container's health (event stream, periodic inspect, failed forwards);
   * `onLost` is called once if it is lost. Stopped by `dispose`.
   */
  watch(onLost: LossListener): void {
    if (this.onLost || this.disposed) return;
    this.onLost = onLost;
    const every = this.options.watchIntervalMs ?? 5_000;
    this.poll = setInterval(() => void this.check(), every);
    this.poll.unref();
    void this.openEvents();
  }

  async handlePredict(body: unknown, _signal?: AbortSignal, wire?: WireRequest): Promise<object> {
    // Counted before the first await: see Backend.handlePredict.
    return this.inFlight.track(async () => {
      if (this.disposed) throw new FramewormError('E_RUNTIME', `version ${this.version} has been stopped`);
      // A lost container answers nothing: say why at once instead of after a connect error.
      if (this.lost) throw new FramewormError('E_RUNTIME', `container ${this.options.containerName} (${this.version}) is lost: ${this.lost.detail}; a new container of the same version is being started (see frameworm deploy status --name ${this.options.name})`);
      // The client's own bytes when we have them: no re-encoding, and a safetensors body stays one.
      const answer = await this.post(wire ? wire.bytes : Buffer.from(JSON.stringify(body)), wire?.contentType ?? 'application/json', wire?.accept);
      return forwardResult(answer, `container ${this.options.containerName}`);
    });
  }

  drain(): Promise<void> {
    return this.inFlight.drain();
  }

  /** Waits for in-flight requests, then stops and removes the container. */
  dispose(): Promise<void> {
    // Unwatched first: the container this stops must not be reported as lost.
    if (!this.disposed) this.unwatch();
    this.disposed ??= this.drain().then(async () => {
      this.agent.destroy();
      await this.options.client.stopAndRemove(this.options.containerId, this.options.stopGraceS ?? 10);
    });
    return this.disposed;
  }

  describe(): object {
    return {
      kind: 'container',
      model: this.options.name,
      version: this.version,
      type: this.type,
      container: this.options.containerName,
      container_id: this.options.containerId,
      image: this.options.image,
      image_id: this.options.imageId,
      host_port: this.options.hostPort,
      in_flight: this.inFlight.count,
      healthy: this.lost === null,
      lost: this.lost ? { reason: this.lost.reason, exit_code: this.lost.exitCode, detail: this.lost.detail } : null,
    };
  }

  /** The container's state from the daemon; never throws. */
  async state(): Promise<ContainerStateView> {
    const o = this.options;
    const base = { id: o.containerId, name: o.containerName, image: o.image, image_id: o.imageId, host_port: o.hostPort };
    let s: ContainerState | null;
    try {
      s = await o.client.inspectState(o.containerId);
    } catch (err) {
      const e = err instanceof Error ? err.message : String(err);
      return { ...base, state: 'unknown', health: 'unknown', running: false, exit_code: null, oom_killed: false, started_at: null, finished_at: null, error: e };
    }
    if (!s) return { ...base, state: 'missing', health: 'none', running: false, exit_code: null, oom_killed: false, started_at: null, finished_at: null };
    return {
      ...base,
      state: s.status,
      health: s.health,
      running: s.running,
      exit_code: s.running ? null : s.exitCode,
      oom_killed: s.oomKilled,
      started_at: s.startedAt,
      finished_at: s.running ? null : s.finishedAt,
    };
  }

  private async post(payload: Buffer, contentType: string, accept: string | undefined): Promise<ForwardAnswer> {
    const o = this.options;
    try {
      const answer = await forwardPost(this.agent, { host: '127.0.0.1', port: o.hostPort, path: '/predict', payload, contentType, accept, timeoutMs: o.requestTimeoutMs });
      this.failedForwards = 0;
      return answer;
    } catch (err) {
      this.noAnswer(err as Error);
      throw this.unreachable(err as Error);
    }
  }

  /** A forward that got no HTTP answer; a time-out (no errno) is a slow model, not a dead one. */
  private noAnswer(err: Error): void {
    if (!(err as NodeJS.ErrnoException).code || !this.onLost || this.lost) return;
    this.failedForwards++;
    if (this.failedForwards >= (this.options.maxFailedForwards ?? 3)) void this.check(`${this.failedForwards} requests in a row got no answer (${(err as NodeJS.ErrnoException).code ?? ''})`);
  }

  /** Subscribes to the daemon's events for this container; the periodic inspect covers a failure. */
  private async openEvents(): Promise<void> {
    let stream: Readable;
    try {
      stream = (await this.options.client.docker.getEvents({
        filters: { type: ['container'], container: [this.options.containerId] },
      })) as unknown as Readable;
    } catch {
      return;
    }
    if (!this.onLost || this.disposed || this.lost) {
      stream.destroy();
      return;
    }
    this.events = stream;
    let pending = '';
    stream.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (line && WATCHED_ACTIONS.has(actionOf(line))) void this.check();
      }
    });
    stream.on('error', () => undefined);
    stream.on('close', () => {
      if (this.events === stream) this.events = null;
    });
  }

  /**
   * Inspects the container and marks the backend lost when it no longer runs, is unhealthy, or
   * (with `unanswered`) runs but leaves requests unanswered. One inspect at a time.
   */
  private check(unanswered?: string): Promise<void> {
    if (this.checking) {
      // An event that arrives during an inspect may describe a later state: look again after it.
      this.recheck = unanswered ?? this.recheck ?? '';
      return this.checking;
    }
    this.checking = this.inspectForLoss(unanswered).finally(() => {
      this.checking = null;
      const again = this.recheck;
      this.recheck = null;
      if (again !== null) void this.check(again || undefined);
    });
    return this.checking;
  }

  private async inspectForLoss(unanswered?: string): Promise<void> {
    if (!this.onLost || this.lost || this.disposed) return;
    const o = this.options;
    let s: ContainerState | null;
    try {
      s = await o.client.inspectState(o.containerId);
    } catch {
      return; // the daemon is not answering: no verdict on the container
    }
    if (this.lost || this.disposed) return;
    let reason: LossReason | null = null;
    let detail = '';
    if (!s) {
      reason = 'removed';
      detail = 'the container was removed';
    } else if (!s.running) {
      reason = s.oomKilled ? 'oom_killed' : 'exited';
      detail = s.oomKilled ? `the container was killed for running out of memory (exit code ${s.exitCode})` : `the container exited with code ${s.exitCode}`;
    } else if (s.health === 'unhealthy') {
      reason = 'unhealthy';
      detail = `the container's health check fails (${s.lastHealthLog.slice(0, 200) || 'no output'})`;
    } else if (unanswered) {
      reason = 'unreachable';
      detail = `the container runs but ${unanswered}`;
    }
    if (!reason) return;
    this.lost = { model: o.name, version: o.version, containerId: o.containerId, containerName: o.containerName, reason, exitCode: s && !s.running ? s.exitCode : null, detail };
    const listener = this.onLost;
    this.unwatch();
    try {
      listener(this, this.lost);
    } catch {
      /* the listener's failure is its own; the loss stands */
    }
  }

  private unwatch(): void {
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
    this.events?.destroy();
    this.events = null;
    this.onLost = null;
  }

  private unreachable(err: Error): FramewormError {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code ? `${code}: ${err.message}` : err.message;
    return new FramewormError('E_RUNTIME', `container ${this.options.containerName} (${this.version}) is not answering on 127.0.0.1:${this.options.hostPort} (${why}); see frameworm deploy status --name ${this.options.name}`);
  }
}

/** The `Action` (or older `status`) of one daemon event line; '' when unreadable. */
function actionOf(line: string): string {
  try {
    const e = JSON.parse(line) as { Action?: unknown; status?: unknown };
    return typeof e.Action === 'string' ? e.Action : typeof e.status === 'string' ? e.status : '';
  } catch {
    return '';
  }
}
