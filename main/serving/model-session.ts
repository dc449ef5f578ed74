/**
 * Main-thread side of the inference workers: load a model into a small pool of worker threads,
 * dispatch runs to the least busy one, and turn worker failures into E_RUNTIME errors instead of
 * requests that never settle.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { access } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FramewormError } from '../common/errors.js';
import { workerEntry as sharedWorkerEntry } from '../common/worker-entry.js';
import { prepareTransfer, splitRows, type FromWorker, type ModelIo, type OutputEncoding, type RunOutput, type RunPart, type TensorValue, type WorkerInit } from './tensor-types.js';

export interface ModelSessionOptions {
  readonly modelPath: string;
  /** onnxruntime intra-op threads per worker (default 1). */
  readonly threads?: number;
  /** Worker threads, each with its own copy of the model (default 1). */
  readonly workers?: number;
  /**
   * How long a worker keeps polling for the next request after answering one before it sleeps
   * (default 1 ms while the pool leaves a core for the main thread, else 0; 0 disables). Trades
   * a little CPU for latency; see inference-worker.ts.
   */
  readonly spinMs?: number;
  /** Warm-up shapes by input name (needed where H/W are dynamic); default: dynamic dims = 1. */
  readonly warmupDims?: Readonly<Record<string, readonly number[]>>;
  /** See WorkerInit.encodeFrom. */
  readonly encodeFrom?: number;
}

/** What the schemas need from a session; lets them be exercised against any runner. */
export interface InferenceRunner {
  readonly io: ModelIo;
  /** `encode` asks for outputs' JSON text too, made where the inference ran (see OutputEncoding). */
  run(feeds: Record<string, TensorValue>, encode?: Readonly<Record<string, OutputEncoding>>): Promise<Record<string, RunOutput>>;
}

/** Crashes tolerated within CRASH_WINDOW_MS before the session stops respawning workers. */
const MAX_CRASHES = 5;
const CRASH_WINDOW_MS = 60_000;
const CLOSE_TIMEOUT_MS = 10_000;
const DEFAULT_SPIN_MS = 1;

/**
 * Environment switch for fault-injection hooks (ModelSession.crashWorker): `1` enables them for
 * sessions loaded while it is set. Only test suites set it; a shipped agent never does, so no
 * request or RPC can make a serving worker crash on purpose.
 */
export const TEST_HOOKS_ENV = 'FRAMEWORM_TEST_HOOKS';

type ResultMessage = Extract<FromWorker, { type: 'result' }>;

interface Pending {
  resolve(result: ResultMessage): void;
  reject(err: Error): void;
}

interface ReadyInfo {
  readonly io: ModelIo;
  readonly warmupMs: number;
}

function workerEntry(): Promise<{ url: URL; options: WorkerOptions }> {
  return sharedWorkerEntry(import.meta.url, 'inference-worker');
}

/** One worker thread and the requests waiting on it. */
class WorkerHandle {
  readonly pending = new Map<number, Pending>();
  readonly ready: Promise<ReadyInfo>;
  state: 'starting' | 'ready' | 'closing' | 'exited' = 'starting';
  private readonly worker: Worker;
  private lastError: Error | undefined;
  private settleReady!: { resolve(info: ReadyInfo): void; reject(err: Error): void };
  /** Settles with the exit code once the thread has ended. */
  readonly exited: Promise<number>;
  private nextId = 1;

  constructor(url: URL, options: WorkerOptions, init: WorkerInit, private readonly onCrash: (h: WorkerHandle) => void) {
    this.ready = new Promise<ReadyInfo>((resolve, reject) => (this.settleReady = { resolve, reject }));
    // A load failure is reported through `ready`; don't let it surface as an unhandled rejection.
    this.ready.catch(() => undefined);
    this.worker = new Worker(url, { ...options, workerData: init });
    this.worker.on('message', (m: FromWorker) => this.onMessage(m));
    this.worker.on('error', (err) => (this.lastError = err));
    this.exited = new Promise((resolve) => this.worker.once('exit', (code) => resolve(this.onExit(code))));
  }

  get busy(): number {
    return this.pending.size;
  }

  run(feeds: Record<string, TensorValue>, encode?: Readonly<Record<string, OutputEncoding>>, parts?: readonly RunPart[]): Promise<ResultMessage> {
    const id = this.nextId++;
    const { tensors, transfer } = prepareTransfer(feeds);
    return new Promise((resolve, reject) => {
      if (this.state === 'exited') return reject(new FramewormError('E_RUNTIME', 'the inference worker is not running'));
      this.pending.set(id, { resolve, reject });
      // Keep the process alive only while work is outstanding, so a forgotten session can't hang it.
      if (this.pending.size === 1) this.worker.ref();
      try {
        this.worker.postMessage({ type: 'run', id, feeds: tensors, ...(encode ? { encode } : {}), ...(parts ? { parts } : {}) }, transfer);
      } catch (err) {
        this.settle(id);
        reject(new FramewormError('E_RUNTIME', `cannot send the request to the inference worker: ${(err as Error).message}`));
      }
    });
  }

  /**
   * Asks the worker to release its session and exit. Never `terminate()`s it: terminating a
   * worker while onnxruntime is inside a native call aborts the whole process (checked:
   * "terminate called after throwing an instance of 'Napi::Error'"). A worker that does not exit
   * in time is unref'd and abandoned instead; it dies with the process.
   */
  async close(): Promise<void> {
    if (this.state === 'exited') return;
    // A worker still loading only reads messages once it is ready; wait for that (or its failure).
    await this.ready.catch(() => undefined);
    // Re-read: the state may have changed while waiting (TS's narrowing can't know that).
    if ((this.state as WorkerHandle['state']) === 'exited') return;
    this.state = 'closing';
    this.worker.postMessage({ type: 'close' });
    let timer: NodeJS.Timeout | undefined;
    const abandoned = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.worker.unref();
        resolve();
      }, CLOSE_TIMEOUT_MS);
    });
    await Promise.race([this.exited, abandoned]);
    clearTimeout(timer);
  }

  /** Makes the worker fail its next `count` runs with an error (fault injection). */
  failRuns(count: number): void {
    if (this.state !== 'exited') this.worker.postMessage({ type: 'fail-runs', count });
  }

  /** Makes the worker throw an uncaught exception once it reaches this message (fault injection). */
  crash(): void {
    if (this.state !== 'exited') this.worker.postMessage({ type: 'crash' });
  }

  private settle(id: number): Pending | undefined {
    const p = this.pending.get(id);
    this.pending.delete(id);
    if (this.pending.size === 0 && this.state === 'ready') this.worker.unref();
    return p;
  }

  private onMessage(m: FromWorker): void {
    switch (m.type) {
      case 'ready':
        this.state = 'ready';
        if (this.pending.size === 0) this.worker.unref();
        this.settleReady.resolve({ io: m.io, warmupMs: m.warmupMs });
        break;
      case 'load-error':
        // The worker ends by itself after reporting; its exit is then expected, not a crash.
        this.state = 'closing';
        this.settleReady.reject(new FramewormError('E_RUNTIME', m.message));
        break;
      case 'result':
        this.settle(m.id)?.resolve(m);
        break;
      case 'run-error':
        this.settle(m.id)?.reject(new FramewormError('E_RUNTIME', `inference failed: ${m.message}`));
        break;
      case 'closed':
        break;
    }
  }

  private onExit(code: number): number {
    // A worker that dies while loading has its failure reported through `ready`; only one that
    // was serving is a crash to recover from.
    const crashed = this.state === 'ready';
    this.state = 'exited';
    const why = this.lastError ? `: ${this.lastError.message}` : '';
    this.settleReady.reject(new FramewormError('E_RUNTIME', `the inference worker exited while loading the model (code ${code})${why}`));
    for (const p of this.pending.values()) {
      p.reject(new FramewormError('E_RUNTIME', `the inference worker crashed (exit code ${code})${why} while running this request`));
    }
    this.pending.clear();
    if (crashed) this.onCrash(this);
    return code;
  }
}

/** A loaded ONNX model served by a pool of inference worker threads. */
export class ModelSession implements InferenceRunner {
  private readonly handles: WorkerHandle[];
  private disposing: Promise<void> | null = null;
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];
  private crashTimes: number[] = [];
  private brokenReason: string | null = null;

  private io_: ModelIo | undefined;
  private warmupMs_ = -1;

  private constructor(
    private readonly init: WorkerInit,
    private readonly entry: { url: URL; options: WorkerOptions },
    workers: number,
  ) {
    this.handles = Array.from({ length: workers }, () => this.spawn());
  }

  /** The graph's inputs and outputs (names, dtypes, shapes). */
  get io(): ModelIo {
    if (!this.io_) throw new FramewormError('E_INTERNAL', 'the model session is not loaded');
    return this.io_;
  }

  /** Duration of the slowest worker's warm-up inference in ms (-1 when the inputs could not be faked). */
  get warmupMs(): number {
    return this.warmupMs_;
  }

  /** Starts the workers, loads and warms up the model in each; E_INPUT / E_RUNTIME on failure. */
  static async load(options: ModelSessionOptions): Promise<ModelSession> {
    const threads = options.threads ?? 1;
    const workers = options.workers ?? 1;
    if (!Number.isInteger(threads) || threads < 1) throw new FramewormError('E_USAGE', `threads must be a positive integer, got ${threads}`);
    if (!Number.isInteger(workers) || workers < 1) throw new FramewormError('E_USAGE', `workers must be a positive integer, got ${workers}`);
    const modelPath = path.resolve(options.modelPath);
    try {
      await access(modelPath);
    } catch {
      throw new FramewormError('E_INPUT', `model file not found or unreadable: ${modelPath}`);
    }
    const entry = await workerEntry();
    if (options.spinMs !== undefined && !(options.spinMs >= 0 && options.spinMs <= 100)) {
      throw new FramewormError('E_USAGE', `spinMs must be between 0 and 100, got ${options.spinMs}`);
    }
    // Spinning workers must not starve the main thread (HTTP) of its core.
    const spinMs = options.spinMs ?? (workers * threads < os.availableParallelism() ? DEFAULT_SPIN_MS : 0);
    const init: WorkerInit = {
      modelPath,
      threads,
      spinMs,
      ...(options.warmupDims ? { warmupDims: options.warmupDims } : {}),
      ...(options.encodeFrom !== undefined ? { encodeFrom: options.encodeFrom } : {}),
      // Read once per session, at load: the workers are told, and the switch cannot flip later.
      ...(process.env[TEST_HOOKS_ENV] === '1' ? { testHooks: true } : {}),
    };
    const session = new ModelSession(init, entry, workers);
    try {
      const infos = await Promise.all(session.handles.map((h) => h.ready));
      session.io_ = infos[0]!.io;
      session.warmupMs_ = Math.max(...infos.map((i) => i.warmupMs));
    } catch (err) {
      await session.dispose();
      throw err;
    }
    return session;
  }

  /** Requests currently being run or queued in the workers. */
  get pendingRuns(): number {
    return this.inFlight;
  }

  /** Number of worker threads in the pool that are loaded and serving. */
  get liveWorkers(): number {
    return this.handles.filter((h) => h.state === 'ready').length;
  }

  /**
   * Runs one inference on the least busy worker. Input buffers that a tensor fully owns are
   * transferred to the worker (the caller's arrays become detached); others are copied.
   */
  async run(feeds: Record<string, TensorValue>, encode?: Readonly<Record<string, OutputEncoding>>): Promise<Record<string, RunOutput>> {
    const m = await this.dispatch(feeds, encode);
    return withEncoded(m.outputs, m.encoded);
  }

  /**
   * Runs one batched inference: `feeds` hold the parts' rows one after another (see RunPart).
   * Resolves with each part's outputs — its rows only, encoded on their own as it asked.
   */
  async runParts(feeds: Record<string, TensorValue>, parts: readonly RunPart[]): Promise<Record<string, RunOutput>[]> {
    const m = await this.dispatch(feeds, undefined, parts);
    let split: Record<string, TensorValue>[];
    try {
      split = splitRows(m.outputs, parts);
    } catch (err) {
      throw new FramewormError('E_RUNTIME', `cannot split a batched result: ${(err as Error).message}`);
    }
    return split.map((outputs, i) => withEncoded(outputs, m.encodedParts?.[i] ?? undefined));
  }

  private async dispatch(feeds: Record<string, TensorValue>, encode?: Readonly<Record<string, OutputEncoding>>, parts?: readonly RunPart[]): Promise<ResultMessage> {
    if (this.disposing) throw new FramewormError('E_RUNTIME', 'the model session has been disposed');
    this.inFlight++;
    try {
      const handle = await this.pick();
      return await handle.run(feeds, encode, parts);
    } finally {
      if (--this.inFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  /**
   * Makes every worker fail its next `count` runs with an E_RUNTIME "inference failed" error, as
   * a model that errors on its input would; the workers keep serving afterwards. A test hook,
   * refused like crashWorker unless the session was loaded with FRAMEWORM_TEST_HOOKS=1.
   */
  failRuns(count: number): void {
    if (this.init.testHooks !== true) {
      throw new FramewormError('E_USAGE', `failRuns is a test hook: load the model with ${TEST_HOOKS_ENV}=1 in the environment to use it`);
    }
    if (!Number.isInteger(count) || count < 0) throw new FramewormError('E_USAGE', `failRuns needs a count >= 0, got ${count}`);
    for (const h of this.handles) h.failRuns(count);
  }

  /** Resolves when no run is in flight. */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Makes one worker crash with an uncaught exception, as a bug in the worker would: its pending
   * requests fail with E_RUNTIME and a replacement starts. The worker acts on it after the
   * inference it is running, if any (native code can't be interrupted safely). Resolves when
   * the worker has exited. A test hook: refused (E_USAGE) unless the session was loaded with
   * FRAMEWORM_TEST_HOOKS=1 in the environment.
   */
  async crashWorker(index = 0): Promise<void> {
    if (this.init.testHooks !== true) {
      throw new FramewormError('E_USAGE', `crashWorker is a test hook: load the model with ${TEST_HOOKS_ENV}=1 in the environment to use it`);
    }
    const h = this.handles[index];
    if (!h) throw new FramewormError('E_USAGE', `no worker ${index} (pool size ${this.handles.length})`);
    h.crash();
    await h.exited;
  }

  /** Refuses new runs, waits for in-flight ones, then releases the sessions and ends the threads. */
  dispose(): Promise<void> {
    this.disposing ??= (async () => {
      await this.idle();
      await Promise.all(this.handles.map((h) => h.close()));
    })();
    return this.disposing;
  }

  private spawn(): WorkerHandle {
    return new WorkerHandle(this.entry.url, this.entry.options, this.init, (h) => this.onCrash(h));
  }

  private onCrash(h: WorkerHandle): void {
    if (this.disposing) return;
    const now = Date.now();
    this.crashTimes = this.crashTimes.filter((t) => now - t < CRASH_WINDOW_MS);
    this.crashTimes.push(now);
    if (this.crashTimes.length > MAX_CRASHES) {
      this.brokenReason = `the inference worker crashed ${this.crashTimes.length} times in ${CRASH_WINDOW_MS / 1000} s; not restarting it`;
      return;
    }
    const i = this.handles.indexOf(h);
    if (i >= 0) this.handles[i] = this.spawn();
  }

  private async pick(): Promise<WorkerHandle> {
    let best: WorkerHandle | undefined;
    for (const h of this.handles) if (h.state === 'ready' && (!best || h.busy < best.busy)) best = h;
    if (best) return best;
    // Only replacements still loading: wait for the first one to be ready.
    const starting = this.handles.filter((h) => h.state === 'starting');
    if (starting.length > 0) {
      try {
        await Promise.any(starting.map((h) => h.ready));
      } catch {
        /* every replacement failed to load; reported below */
      }
      const ready = this.handles.find((h) => h.state === 'ready');
      if (ready) return ready;
    }
    throw new FramewormError('E_RUNTIME', `no inference worker is running${this.brokenReason ? `: ${this.brokenReason}` : ''}`);
  }
}

/** Outputs with the worker's encoded text attached where it made some. */
function withEncoded(outputs: Record<string, TensorValue>, encoded: Readonly<Record<string, Uint8Array>> | undefined): Record<string, RunOutput> {
  if (!encoded) return outputs;
  const result: Record<string, RunOutput> = {};
  for (const [name, t] of Object.entries(outputs)) result[name] = encoded[name] === undefined ? t : { ...t, encoded: encoded[name] };
  return result;
}
