/**
 * The stable endpoint of one deployment: an HTTP server whose address never changes while the
 * model version behind it does (deploy, promote, rollback swap the backend under live traffic).
 *
 * Routes follow DESIGN §5: POST /predict, GET /health, GET /ready, GET /metrics. A /predict body
 * is JSON or safetensors, and so is its answer (tensor-body.ts; docs/safetensors.md). Every /predict
 * is timed from arrival to the end of its response and recorded twice: in the endpoint's
 * recorder (the deployment's whole history) and in the current version's recorder (reset when
 * the version behind changes, so a rollback watcher judges the version now serving).
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { FramewormError } from '../common/errors.js';
import { IntervalCollector, type InFlightToken, type IntervalMeasurement } from '../metrics/interval-sample.js';
import { LatencyRecorder, type LatencyRecorderOptions, type LatencySnapshot, type Outcome } from '../metrics/latency-recorder.js';
import { PROMETHEUS_CONTENT_TYPE, toPrometheus, type LabelledSnapshot } from '../metrics/prometheus.js';
import type { Backend, WireRequest } from './backend.js';
import { ActiveDrill, DRILL_ERROR_MESSAGE, drillDelay, drillPrometheus, MAX_TIMER_MS, systemDrillClock, type DrillClock, type DrillDecision, type DrillEndReason, type DrillOptions, type DrillState } from './fault-drill.js';
import { SAFETENSORS_MEDIA_TYPE } from '../common/safetensors.js';
import { BodyTooLargeError, ClientGoneError, RawBody, readBody, sendBinary, sendJson, sendText, writeJson } from './http-io.js';
import { ProbeTally, probePrometheus, type ProbeCounts } from './probe-tally.js';
import { checkContentType, checkJsonDepth, mediaType, type Refusal } from './request-checks.js';
import { RequestError } from './schemas/types.js';
import { batchingPrometheus, type BatchingSnapshot } from './batching/batch-stats.js';
import { OverloadedError } from './batching/overload.js';
import { applyAccept, decodeTensorRequest, encodeTensorAnswer, isSafetensorsType, isTensorAnswer } from './tensor-body.js';

export type { Backend, WireRequest } from './backend.js';

export interface StableEndpointOptions {
  /** Deployment name, reported by /health, /ready and /metrics. */
  readonly name: string;
  /** Interface to bind (default 127.0.0.1: serving beyond this machine is an explicit choice). */
  readonly host?: string;
  /** Port; 0 picks a free one (read it back from `port` after `listen()`). Default 8000. */
  readonly port?: number;
  /** Largest accepted /predict body (default 10 MiB); larger ones get 413 without being read. */
  readonly maxBodyBytes?: number;
  /** Longest a /predict may take before it is answered 504 and counted as a timeout (default 30 s). */
  readonly requestTimeoutMs?: number;
  /** How long `close()` lets in-flight requests finish before cutting connections (default 5 s). */
  readonly closeGraceMs?: number;
  /** Window of the latency recorders (default 60 s in 12 slots). */
  readonly recorder?: LatencyRecorderOptions;
  /**
   * Most connections open at once (default {@link DEFAULT_MAX_CONNECTIONS}); further ones are
   * closed as soon as they are accepted, so idle sockets cannot use up the process's file
   * descriptors (which the control RPC and other endpoints share).
   */
  readonly maxConnections?: number;
  /** Called for every 5xx with the error behind it (for logs); the client sees only the message. */
  readonly onServerError?: (err: unknown) => void;
  /**
   * Called once when a fault drill ends (see startDrill), with its final state, so the control
   * plane can record a `drill` event. Not called for drills that never started.
   */
  readonly onDrillEnded?: (reason: DrillEndReason, drill: DrillState) => void;
  /**
   * Called after each successful answer to a user request (not probes) with the parsed request
   * and the JSON text of the answer as sent, for drift monitoring. It runs after the answer is
   * sent and must not block.
   */
  readonly onSample?: (sample: { readonly version: string; readonly request: unknown; readonly response: unknown }) => void;
  /** Clock and timers of drill expiry (default: the real ones); tests inject one to end drills exactly. */
  readonly drillClock?: DrillClock;
}

/**
 * Snapshot of the version currently behind the endpoint. The latency counts include synthetic
 * probes (they are real requests and count in rollback checks); the `probe_*` counts are that
 * subset, reported apart from user traffic.
 */
export interface VersionSnapshot extends LatencySnapshot, ProbeCounts {
  readonly version: string;
}

/** `/metrics` JSON: the endpoint's stats, plus the current version's own (probes: see VersionSnapshot). */
export interface EndpointMetrics extends LatencySnapshot, ProbeCounts {
  readonly model: string;
  readonly version: string | null;
  readonly version_metrics: VersionSnapshot | null;
  /** The fault drill running at this endpoint; null when none. */
  readonly drill: DrillState | null;
  /** Batch sizes and queue delay of the version serving now; null when it does not batch. */
  readonly batching: BatchingSnapshot | null;
}

interface Current {
  readonly backend: Backend;
  readonly recorder: LatencyRecorder;
  /** The rollback watcher's per-check view of this version (see takeInterval). */
  readonly interval: IntervalCollector;
  /** This version's probe counts (see ProbeTally). */
  readonly probes: ProbeTally;
}

/**
 * Request header a synthetic probe sender sets (any value): probes are served and counted in
 * rollback checks like any request, and reported apart from user traffic.
 */
export const PROBE_HEADER = 'x-frameworm-probe';

class TimeoutError extends Error {}

/** A 500 a fault drill injects (never passed to onServerError: nothing is wrong). */
class InjectedFault extends Error {
  constructor(readonly version: string) {
    super(DRILL_ERROR_MESSAGE);
  }
}

const TIME_ORIGIN = performance.timeOrigin;

/** How long an unwanted upload is read and discarded after the answer before the socket is dropped. */
const LINGER_MS = 2_000;

const ROUTES = 'POST /predict, GET /health, GET /ready, GET /metrics';

/** Default cap on the connections of one endpoint (see StableEndpointOptions.maxConnections). */
export const DEFAULT_MAX_CONNECTIONS = 1024;

/** One deployment's HTTP front door; see the file comment. */
export class StableEndpoint {
  readonly name: string;
  readonly host: string;
  private readonly requestedPort: number;
  private readonly maxBodyBytes: number;
  private readonly requestTimeoutMs: number;
  private readonly closeGraceMs: number;
  private readonly server: http.Server;
  private readonly endpointRecorder: LatencyRecorder;
  private current: Current | null = null;
  private readonly startedAt = Date.now();
  private boundPort: number | null = null;
  private openRequests = 0;
  private closing: Promise<void> | null = null;
  private readonly injectedClock: boolean;
  private readonly endpointProbes = new ProbeTally();
  private readonly drillClock: DrillClock;
  private activeDrill: ActiveDrill | null = null;
  private drillTimer: unknown = null;

  constructor(private readonly options: StableEndpointOptions) {
    this.name = options.name;
    this.host = options.host ?? '127.0.0.1';
    this.requestedPort = options.port ?? 8000;
    this.maxBodyBytes = options.maxBodyBytes ?? 10 * 1024 * 1024;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.closeGraceMs = options.closeGraceMs ?? 5_000;
    const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    if (!Number.isInteger(maxConnections) || maxConnections < 1) {
      throw new FramewormError('E_USAGE', `maxConnections must be a positive integer, got ${maxConnections}`);
    }
    this.endpointRecorder = new LatencyRecorder(options.recorder);
    this.injectedClock = options.recorder?.now !== undefined;
    this.drillClock = options.drillClock ?? systemDrillClock;
    this.server = http.createServer({ keepAlive: true }, (req, res) => this.dispatch(req, res));
    // Longer than typical client pools' idle time, so clients rarely race a server-side close.
    this.server.keepAliveTimeout = 30_000;
    // Node closes every connection accepted beyond this at once (its descriptor freed with it).
    this.server.maxConnections = maxConnections;
  }

  /** Starts listening; E_PORT_IN_USE when the port is taken. Resolves with the real address. */
  listen(): Promise<{ host: string; port: number; url: string }> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        this.server.off('listening', onListening);
        if (err.code === 'EADDRINUSE') {
          reject(new FramewormError('E_PORT_IN_USE', `port ${this.requestedPort} on ${this.host} is already in use (another process listens there; stop it or choose another port)`));
        } else {
          reject(new FramewormError('E_RUNTIME', `cannot listen on ${this.host}:${this.requestedPort}: ${err.message}`));
        }
      };
      const onListening = (): void => {
        this.server.off('error', onError);
        this.boundPort = (this.server.address() as AddressInfo).port;
        resolve({ host: this.host, port: this.boundPort, url: this.url });
      };
      this.server.once('error', onError);
      this.server.once('listening', onListening);
      this.server.listen(this.requestedPort, this.host);
    });
  }

  /** The bound port (the requested one until `listen()` resolves). */
  get port(): number {
    return this.boundPort ?? this.requestedPort;
  }

  /** Base URL, e.g. `http://127.0.0.1:8000`. */
  get url(): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `http://${host}:${this.port}`;
  }

  /** The backend serving now, if any. */
  get backend(): Backend | null {
    return this.current?.backend ?? null;
  }

  /**
   * Makes `next` serve all new requests, atomically: requests already dispatched finish on the
   * old backend. Returns the old one so the caller can `await old.drain()` and dispose it.
   */
  async switchBackend(next: Backend | null): Promise<Backend | null> {
    const old = this.current;
    if (next === null) this.current = null;
    else if (old && old.backend.version === next.version) this.current = { backend: next, recorder: old.recorder, interval: old.interval, probes: old.probes };
    else this.current = { backend: next, recorder: new LatencyRecorder(this.options.recorder), interval: new IntervalCollector(monotonicEpochMs()), probes: new ProbeTally() };
    // A drill belongs to one version: a rollback (or a stop) leaves the fault behind.
    if (this.activeDrill && this.activeDrill.version !== next?.version) this.endDrill('version_left');
    return old?.backend ?? null;
  }

  /**
   * Starts a fault drill on `options.version`, which must be the version serving now
   * (E_CONFLICT otherwise; E_USAGE for bad options, see validateDrillOptions). It affects only
   * /predict requests that version serves, probes included, and ends when cleared, when
   * `durationMs` runs out, or when another version (or none) is switched in; each end is
   * reported once through `onDrillEnded`. A drill already running is replaced (reported as
   * `cleared`). Returns the new drill's state.
   */
  startDrill(options: DrillOptions): DrillState {
    const drill = new ActiveDrill(options, this.drillClock.now());
    const serving = this.current?.backend.version ?? null;
    if (serving !== options.version) {
      throw new FramewormError('E_CONFLICT', `cannot drill ${this.name} ${options.version}: ${serving === null ? 'no version is serving' : `the version serving is ${serving}`}`);
    }
    if (this.activeDrill) this.endDrill('cleared');
    this.activeDrill = drill;
    if (drill.expiresMs !== null) this.armDrillTimer(drill);
    return drill.state();
  }

  /** Ends the running drill (reported as `cleared`) and returns its final state; null when none ran. */
  clearDrill(): DrillState | null {
    this.expireDrillIfDue();
    return this.activeDrill ? this.endDrill('cleared') : null;
  }

  /** The running drill's state; null when none (an expired one is ended here if its timer has not fired yet). */
  drill(): DrillState | null {
    this.expireDrillIfDue();
    return this.activeDrill?.state() ?? null;
  }

  /** Fires at the drill's expiry; re-arms when the duration is longer than one timer can wait. */
  private armDrillTimer(drill: ActiveDrill): void {
    const wait = Math.min(Math.max(0, drill.expiresMs! - this.drillClock.now()), MAX_TIMER_MS);
    this.drillTimer = this.drillClock.setTimer(() => {
      this.drillTimer = null;
      if (this.activeDrill !== drill) return;
      if (drill.expiredAt(this.drillClock.now())) this.endDrill('expired');
      else this.armDrillTimer(drill);
    }, wait);
  }

  private expireDrillIfDue(): void {
    if (this.activeDrill?.expiredAt(this.drillClock.now())) this.endDrill('expired');
  }

  private endDrill(reason: DrillEndReason): DrillState {
    const drill = this.activeDrill!;
    this.activeDrill = null;
    if (this.drillTimer !== null) this.drillClock.clearTimer(this.drillTimer);
    this.drillTimer = null;
    const state = drill.state();
    try {
      this.options.onDrillEnded?.(reason, state);
    } catch (err) {
      // A failing listener must not break the switch or the clear that ended the drill.
      this.options.onServerError?.(err);
    }
    return state;
  }

  /** The endpoint-level recorder (all versions). */
  recorder(): LatencyRecorder {
    return this.endpointRecorder;
  }

  /** The recorder of the version serving now (null when none). */
  versionRecorder(): LatencyRecorder | null {
    return this.current?.recorder ?? null;
  }

  /**
   * The current version's requests since the previous call (or since it began serving): those
   * answered, with their latencies, and those still in flight with their ages. Each call starts
   * a new interval, so there must be one caller (the rollback watcher). Null when no version is
   * behind the endpoint. Requests that were dispatched to a version before a switch never count
   * for the next one.
   */
  takeInterval(): IntervalMeasurement | null {
    const cur = this.current;
    return cur ? cur.interval.take(cur.backend.version, monotonicEpochMs()) : null;
  }

  /** Requests the current version answered since the last `takeInterval()` (0 when none serves). */
  intervalRequests(): number {
    return this.current?.interval.pending ?? 0;
  }

  /** What /metrics answers in JSON. */
  snapshot(windowS?: number): EndpointMetrics {
    const cur = this.current;
    return {
      ...this.endpointRecorder.snapshot(windowS),
      ...this.endpointProbes.counts(),
      model: this.name,
      version: cur?.backend.version ?? null,
      version_metrics: cur ? { version: cur.backend.version, ...cur.recorder.snapshot(windowS), ...cur.probes.counts() } : null,
      drill: this.drill(),
      batching: cur?.backend.batchingSnapshot?.() ?? null,
    };
  }

  /** Stops accepting, lets in-flight requests finish (up to the grace), closes every connection. Leaves the backend alone. */
  close(): Promise<void> {
    // Closed, the endpoint serves no version: a drill still running ends like on a stop.
    if (!this.closing && this.activeDrill) this.endDrill('version_left');
    this.closing ??= new Promise<void>((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
      const timer = setTimeout(() => this.server.closeAllConnections(), this.openRequests === 0 ? 0 : this.closeGraceMs);
      this.server.once('close', () => clearTimeout(timer));
    });
    return this.closing;
  }

  private dispatch(req: IncomingMessage, res: ServerResponse): void {
    const start = performance.now();
    this.openRequests++;
    res.once('close', () => {
      this.openRequests--;
      // While closing, a keep-alive connection that just went idle must not linger.
      if (this.closing) this.server.closeIdleConnections();
    });
    // Split by hand rather than `new URL()`: cheaper, and a malformed target can't throw here.
    const target = req.url ?? '/';
    const q = target.indexOf('?');
    const pathname = q < 0 ? target : target.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : target.slice(q + 1));
    const method = req.method ?? 'GET';
    const route = pathname.replace(/\/+$/, '') || '/';
    if (route === '/predict') {
      if (method !== 'POST') return this.methodNotAllowed(res, method, route, 'POST');
      this.predict(req, res, start).catch((err: unknown) => {
        // Last line of defence: predict() answers its own errors; never leave a socket hanging.
        this.options.onServerError?.(err);
        if (!res.headersSent) sendJson(res, 500, { error: 'internal error', code: 'E_INTERNAL' });
        else res.destroy();
      });
      return;
    }
    const get = (handler: () => void): void => (method === 'GET' || method === 'HEAD' ? handler() : this.methodNotAllowed(res, method, route, 'GET, HEAD'));
    switch (route) {
      case '/health': {
        // The endpoint itself is alive (200); whether its backend can answer is reported beside.
        const health = this.backend?.health?.() ?? null;
        const ready = this.backend !== null && health?.healthy !== false;
        return get(() => sendJson(res, 200, { status: ready ? 'ok' : 'degraded', model: this.name, version: this.backend?.version ?? null, uptime_s: Math.round((Date.now() - this.startedAt) / 1000), ready, ...(health ? { backend: health } : {}) }));
      }
      case '/ready': {
        const health = this.backend?.health?.() ?? null;
        return get(() =>
          !this.backend
            ? sendJson(res, 503, { ready: false, model: this.name, error: 'no model is loaded' })
            : health?.healthy === false
              ? sendJson(res, 503, { ready: false, model: this.name, version: this.backend.version, error: `the backend of ${this.backend.version} is not serving: ${health.detail ?? health.state}`, backend: health })
              : sendJson(res, 200, { ready: true, model: this.name, version: this.backend.version }),
        );
      }
      case '/metrics':
        return get(() => this.metrics(req, res, query));
      default:
        sendJson(res, 404, { error: `no route ${method} ${pathname}; routes: ${ROUTES}` });
    }
  }

  private methodNotAllowed(res: ServerResponse, method: string, route: string, allow: string): void {
    sendJson(res, 405, { error: `method ${method} is not allowed on ${route} (allowed: ${allow})` }, { allow });
  }

  private metrics(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): void {
    const format = query.get('format');
    const accept = (req.headers.accept ?? '').toLowerCase();
    const prometheus = format === 'prometheus' || (format !== 'json' && (accept.includes('text/plain') || accept.includes('application/openmetrics-text')));
    if (!prometheus) return sendJson(res, 200, this.snapshot());
    const cur = this.current;
    const series: LabelledSnapshot[] = [{ snapshot: this.endpointRecorder.snapshot(), labels: { scope: 'endpoint' } }];
    if (cur) series.push({ snapshot: cur.recorder.snapshot(), labels: { scope: 'version', version: cur.backend.version } });
    // Probes stay inside the families above and get their own counters with the same labels.
    const probes: { counts: ProbeCounts; labels: Record<string, string> }[] = [{ counts: this.endpointProbes.counts(), labels: { scope: 'endpoint' } }];
    if (cur) probes.push({ counts: cur.probes.counts(), labels: { scope: 'version', version: cur.backend.version } });
    const text =
      toPrometheus(series, { model: this.name }) +
      probePrometheus(probes, this.name) +
      drillPrometheus(this.drill(), this.name) +
      (cur ? batchingPrometheus(cur.backend.batchingSnapshot?.() ?? null, this.name, cur.backend.version) : '');
    sendText(res, 200, text, PROMETHEUS_CONTENT_TYPE);
  }

  private async predict(req: IncomingMessage, res: ServerResponse, start: number): Promise<void> {
    let outcome: Outcome | null = null;
    let target: Current | null = null;
    const probe = req.headers[PROBE_HEADER] !== undefined;
    let inFlight: InFlightToken | null = null;
    res.once('finish', () => {
      // Answered: leaves "in flight" in the same tick it becomes "completed", never both.
      if (inFlight) target?.interval.end(inFlight);
      const end = performance.now();
      const o = outcome ?? (res.statusCode >= 500 ? 'server_error' : res.statusCode >= 400 ? 'client_error' : 'ok');
      // One clock read serves both recorders (their default clock is this same monotonic one).
      const at = this.injectedClock ? undefined : TIME_ORIGIN + end;
      this.endpointRecorder.record(end - start, o, at);
      target?.recorder.record(end - start, o, at);
      target?.interval.record(end - start, o === 'server_error' || o === 'timeout', probe);
      if (probe) {
        this.endpointProbes.record(o);
        target?.probes.record(o);
      }
    });

    // Aborted when nobody waits for the answer any more, so queued or multi-step work stops.
    const abort = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) abort.abort(new ClientGoneError('the client closed the connection before the answer'));
    });

    let body: unknown;
    let wire: WireRequest;
    // A safetensors body is answered as one too unless it asks otherwise (through its metadata
    // or Accept); either way, what it sent and what it got are not JSON for drift sampling.
    let binary = false;
    try {
      const wrongType = checkContentType(req.headers['content-type']);
      if (wrongType) {
        target = this.current;
        this.lingerOnUnreadBody(req, res);
        return refuse(res, wrongType);
      }
      const raw = await readBody(req, this.maxBodyBytes);
      target = this.current;
      const mime = mediaType(req.headers['content-type'])!;
      wire = { bytes: raw, contentType: mime, accept: req.headers.accept };
      if (isSafetensorsType(mime)) {
        binary = true;
        // Which fields the tensors fill depends on the model (a generic one takes `inputs`).
        if (target) {
          try {
            body = decodeTensorRequest(raw, target.backend.type);
          } catch (err) {
            if (err instanceof RequestError) return sendJson(res, err.status, { error: err.message, detail: err.detail ?? null });
            throw err;
          }
        }
      } else {
        if (raw.length === 0) return sendJson(res, 400, { error: 'request body is not valid JSON: the body is empty' });
        // Before parsing: a body nested thousands deep overflows the stack of whatever recurses on it.
        const tooDeep = checkJsonDepth(raw);
        if (tooDeep) return refuse(res, tooDeep);
        try {
          body = JSON.parse(raw.toString('utf8'));
        } catch (err) {
          return sendJson(res, 400, { error: `request body is not valid JSON: ${(err as Error).message}` });
        }
      }
      body = applyAccept(body, req.headers.accept);
    } catch (err) {
      target = this.current;
      if (err instanceof BodyTooLargeError) return this.refuseBody(req, res, err);
      if (err instanceof ClientGoneError) return void res.destroy();
      return sendJson(res, 500, { error: `cannot read the request: ${(err as Error).message}`, code: 'E_INTERNAL' });
    }

    // The backend is picked only now, after the body is in: a switch during a slow upload is honoured.
    if (!target) return sendJson(res, 503, { error: 'no model is loaded' });
    // In flight for the watcher from arrival: a version that never answers must still show up.
    const interval = target.interval;
    const token = interval.begin(TIME_ORIGIN + start, probe);
    inFlight = token;
    res.once('close', () => interval.end(token));
    // Decided now, in arrival order at the version, so a seeded drill fails the same requests.
    const drill = this.drillFor(target);
    let timer: NodeJS.Timeout | undefined;
    try {
      const work = drill ? this.drilled(drill, target.backend, body, abort.signal, wire) : target.backend.handlePredict(body, abort.signal, wire);
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const err = new TimeoutError();
          abort.abort(err);
          reject(err);
        }, this.requestTimeoutMs);
      });
      // A late failure after the timeout has nobody to go to; keep it from being "unhandled".
      work.catch(() => undefined);
      const result = await Promise.race([work, timeout]);
      if (result instanceof RawBody) return sendBinary(res, 200, [result.bytes], result.bytes.length, result.contentType);
      if (isTensorAnswer(result)) {
        const { parts, byteLength } = encodeTensorAnswer(result);
        return sendBinary(res, 200, parts, byteLength, SAFETENSORS_MEDIA_TYPE);
      }
      const sent = writeJson(res, 200, result);
      // Drift features are read from JSON bodies; tensors sent as binary are not sampled.
      if (!probe && !binary && this.options.onSample) {
        try {
          this.options.onSample({ version: target.backend.version, request: body, response: sent });
        } catch {
          // drift sampling never affects serving
        }
      }
    } catch (err) {
      if (err instanceof TimeoutError) {
        outcome = 'timeout';
        sendJson(res, 504, { error: `the model did not answer within ${this.requestTimeoutMs} ms`, detail: { timeout_ms: this.requestTimeoutMs } });
      } else if (err instanceof InjectedFault) {
        sendJson(res, 500, { error: DRILL_ERROR_MESSAGE, code: 'E_RUNTIME', detail: { drill: true, version: err.version } });
      } else if (err instanceof RequestError) {
        sendJson(res, err.status, { error: err.message, detail: err.detail ?? null });
      } else if (err instanceof OverloadedError) {
        // Refused before it cost work (see batching/overload.ts); not a fault to log.
        sendJson(res, 503, { error: err.message, code: 'E_OVERLOADED', detail: { retry_after_s: err.retryAfterS, estimated_ms: Math.round(err.estimatedMs), timeout_ms: err.deadlineMs } }, { 'retry-after': String(err.retryAfterS) });
      } else {
        this.options.onServerError?.(err);
        const code = err instanceof FramewormError ? err.code : 'E_INTERNAL';
        sendJson(res, 500, { error: err instanceof Error ? err.message : String(err), code });
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** What the running drill does to a request bound for `target`; null when no drill applies. */
  private drillFor(target: Current): DrillDecision | null {
    this.expireDrillIfDue();
    const drill = this.activeDrill;
    return drill && drill.version === target.backend.version ? drill.next() : null;
  }

  /**
   * A drilled request: an injected failure answers 500 without calling the model; latency is
   * added after the backend answers, so the backend's in-flight count (what a rollback drains)
   * is not stretched and the request times out like a slow model would.
   */
  private async drilled(drill: DrillDecision, backend: Backend, body: unknown, signal: AbortSignal, wire: WireRequest): Promise<object> {
    if (drill.fail) {
      await drillDelay(drill.delayMs, signal);
      throw new InjectedFault(backend.version);
    }
    const result = await backend.handlePredict(body, signal, wire);
    await drillDelay(drill.delayMs, signal);
    return result;
  }

  /** 413 for a body over the limit; the rest of it is never buffered (see lingerOnUnreadBody). */
  private refuseBody(req: IncomingMessage, res: ServerResponse, err: BodyTooLargeError): void {
    this.lingerOnUnreadBody(req, res);
    sendJson(res, 413, {
      error: `request body is too large: the limit is ${err.limit} bytes`,
      detail: { limit_bytes: err.limit, ...(err.declared ? { content_length: err.seen } : {}) },
    });
  }

  /**
   * A lingering close for a request answered before its body was read. Closing the socket right
   * away makes the client's pending writes fail with EPIPE/RST, often before it has read our
   * answer (checked). So the rest of the body is read and discarded (never stored), and if the upload hasn't ended LINGER_MS later the socket is dropped: a
   * 100 MB upload costs the server at most LINGER_MS of discarded reads, no memory.
   * A client that itself sent `Connection: close` is the exception: Node then closes the socket
   * as soon as the answer is written, so such a client may see EPIPE instead of the 413.
   */
  private lingerOnUnreadBody(req: IncomingMessage, res: ServerResponse): void {
    req.resume(); // flowing with no 'data' listener: read and discarded
    res.once('finish', () => {
      if (req.complete) return;
      const timer = setTimeout(() => req.socket.destroy(), LINGER_MS).unref();
      req.once('end', () => clearTimeout(timer));
      req.once('close', () => clearTimeout(timer));
    });
  }
}

/** Epoch ms from the monotonic clock the request timings use. */
function monotonicEpochMs(): number {
  return TIME_ORIGIN + performance.now();
}

/** Answers a request refused before parsing (415 media type, 400 nesting) as `{error, detail}`. */
function refuse(res: ServerResponse, refusal: Refusal): void {
  sendJson(res, refusal.status, { error: refusal.error, detail: refusal.detail });
}
