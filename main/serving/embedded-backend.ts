/**
 * A backend that serves an ONNX model in this process, on inference worker threads.
 */
import { performance } from 'node:perf_hooks';
import { FramewormError } from '../common/errors.js';
import type { ModelType } from '../common/types.js';
import type { Backend } from './backend.js';
import { BatchStats, type BatchingSnapshot } from './batching/batch-stats.js';
import type { BatchClock } from './batching/overload.js';
import { hasFreeBatchDim, RowBatcher } from './batching/row-batcher.js';
import { SamplingGate } from './batching/sampling-admission.js';
import { FifoGate } from './fifo-gate.js';
import { InFlight } from './in-flight.js';
import { ModelSession, type InferenceRunner } from './model-session.js';
import { getSchema } from './schemas/index.js';
import type { InferenceSchema, ModelDescription, SamplingAdmission } from './schemas/types.js';
import { isTensorDtype } from './tensor-types.js';

export interface EmbeddedBackendOptions {
  /** Deployment (model) name, echoed in responses. */
  readonly name: string;
  readonly version: string;
  readonly type: ModelType;
  readonly modelPath: string;
  /** onnxruntime intra-op threads per worker (default 1). */
  readonly threads?: number;
  /** Inference worker threads (default 1). */
  readonly workers?: number;
  /** Largest batch a request may ask for (default 64). */
  readonly maxBatchSize?: number;
  /** Worker spin after each answer, ms (see ModelSessionOptions.spinMs). */
  readonly spinMs?: number;
  /** Hyper-parameters and schedule from the export manifest, for the architecture schemas. */
  readonly model?: ModelDescription;
  /** Warm-up shapes where H/W are dynamic (see ModelSessionOptions.warmupDims). */
  readonly warmupDims?: Readonly<Record<string, readonly number[]>>;
  /** Dynamic / continuous batching (config `batching`; default on, 64 rows, 2 ms). */
  readonly batching?: BatchingOptions;
  /**
   * The endpoint's request time-out, ms (default 30 000): with batching on, a request that could
   * not be answered within it at the measured rate is refused at once with a 503.
   */
  readonly requestTimeoutMs?: number;
  /** Clock and timers of the batchers (tests inject one). */
  readonly batchClock?: BatchClock;
}

/** Config `batching`, in the backend's terms. */
export interface BatchingOptions {
  readonly enabled: boolean;
  readonly maxRows: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_BATCHING: BatchingOptions = { enabled: true, maxRows: 64, maxDelayMs: 2 };

/** Architectures whose rows are independent, so requests may share a model call (never `generic`). */
const BATCHED_TYPES: readonly ModelType[] = ['dcgan', 'vitgan', 'vae', 'vqvae2', 'ddpm', 'cfg_ddpm'];
const DIFFUSION_TYPES: readonly ModelType[] = ['ddpm', 'cfg_ddpm'];

/** How one backend batches; null fields where it does not. */
interface Batching {
  readonly mode: 'dynamic' | 'continuous' | null;
  readonly runner: InferenceRunner;
  readonly sampling: SamplingAdmission;
  readonly stats: BatchStats;
  /** Requests waiting and calls running at the batchers now. */
  readonly live: () => { queued: number; runningCalls: number };
}

/** An ONNX model plus the request schema of its architecture, served in-process. */
export class EmbeddedBackend implements Backend {
  private readonly inFlight = new InFlight();
  private disposed: Promise<void> | null = null;
  private readonly maxBatchSize: number;
  /** Sampling admission: a continuous batch (SamplingGate), or one request per worker (FifoGate). */
  private readonly sampling: SamplingAdmission;
  private readonly batching: Batching;
  private readonly batchingOptions: BatchingOptions;

  private constructor(
    private readonly options: EmbeddedBackendOptions,
    /** The worker pool; exposed for status views and fault-injection tests. */
    readonly session: ModelSession,
    private readonly schema: InferenceSchema,
  ) {
    this.maxBatchSize = options.maxBatchSize ?? 64;
    this.batchingOptions = options.batching ?? DEFAULT_BATCHING;
    this.batching = makeBatching(options, session, this.batchingOptions);
    this.sampling = this.batching.sampling;
  }

  /** Loads and warms up the model; E_INPUT / E_RUNTIME when it cannot be served. */
  static async load(options: EmbeddedBackendOptions): Promise<EmbeddedBackend> {
    const schema = getSchema(options.type);
    const maxBatchSize = options.maxBatchSize ?? 64;
    if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) {
      throw new FramewormError('E_USAGE', `maxBatchSize must be a positive integer, got ${maxBatchSize}`);
    }
    const b = options.batching ?? DEFAULT_BATCHING;
    if (!Number.isInteger(b.maxRows) || b.maxRows < 1) throw new FramewormError('E_USAGE', `batching.max_rows must be a positive integer, got ${b.maxRows}`);
    if (!(b.maxDelayMs >= 0 && b.maxDelayMs <= 1000)) throw new FramewormError('E_USAGE', `batching.max_delay_ms must be from 0 to 1000, got ${b.maxDelayMs}`);
    const session = await ModelSession.load({
      modelPath: options.modelPath,
      threads: options.threads ?? 1,
      workers: options.workers ?? 1,
      spinMs: options.spinMs,
      ...(options.warmupDims ? { warmupDims: options.warmupDims } : {}),
    });
    const bad = session.io.inputs.find((i) => !isTensorDtype(i.dtype));
    if (bad) {
      await session.dispose();
      throw new FramewormError('E_RUNTIME', `model input '${bad.name}' has type ${bad.dtype}, which the embedded runtime cannot feed`);
    }
    return new EmbeddedBackend(options, session, schema);
  }

  get version(): string {
    return this.options.version;
  }

  get type(): ModelType {
    return this.options.type;
  }

  /** Validates, runs and encodes one request; adds `model`, `version` and `latency_ms`. */
  handlePredict(body: unknown, signal?: AbortSignal): Promise<object> {
    const t0 = performance.now();
    // Counted before the first await: see Backend.handlePredict.
    return this.inFlight.track(async () => {
      if (this.disposed) throw new FramewormError('E_RUNTIME', `version ${this.version} has been stopped`);
      const result = await this.schema.handle(body, {
        session: this.batching.runner,
        limits: { maxBatchSize: this.maxBatchSize },
        model: this.options.model ?? { hyperParameters: {} },
        sampling: this.sampling,
        ...(signal ? { signal } : {}),
      });
      return { ...result, model: this.options.name, version: this.version, latency_ms: round3(performance.now() - t0) };
    });
  }

  /** Batch sizes, queue delay and state for /metrics; null when this version does not batch. */
  batchingSnapshot(): BatchingSnapshot | null {
    const { mode, stats, live } = this.batching;
    if (mode === null) return null;
    return stats.snapshot({ enabled: true, mode, maxRows: this.batchingOptions.maxRows, maxDelayMs: this.batchingOptions.maxDelayMs, ...live() });
  }

  drain(): Promise<void> {
    return this.inFlight.drain();
  }

  /** Waits for in-flight requests, then ends the worker threads. */
  dispose(): Promise<void> {
    this.disposed ??= this.drain().then(() => this.session.dispose());
    return this.disposed;
  }

  describe(): object {
    return {
      kind: 'embedded',
      model: this.options.name,
      version: this.version,
      type: this.type,
      model_path: this.options.modelPath,
      threads: this.options.threads ?? 1,
      workers: this.options.workers ?? 1,
      live_workers: this.session.liveWorkers,
      max_batch_size: this.maxBatchSize,
      in_flight: this.inFlight.count,
      sampling: { running: this.sampling.active, waiting: this.sampling.waiting },
      batching: this.batchingSnapshot() ?? {
        enabled: false,
        // Why not: switched off, or an architecture whose rows may depend on each other.
        reason: this.batchingOptions.enabled ? `the ${this.type} graph is not batched by rows` : 'batching.enabled is false',
      },
      warmup_ms: round3(this.session.warmupMs),
      io: this.session.io,
    };
  }
}

function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** The runner and sampling admission of a backend, batched where its config and graph allow. */
function makeBatching(options: EmbeddedBackendOptions, session: ModelSession, b: BatchingOptions): Batching {
  const stats = new BatchStats();
  const workers = options.workers ?? 1;
  const batchable = b.enabled && BATCHED_TYPES.includes(options.type) && hasFreeBatchDim(session.io);
  const deadlineMs = options.requestTimeoutMs ?? 30_000;
  const clock = options.batchClock ? { clock: options.batchClock } : {};
  if (!batchable) {
    const gate = new FifoGate(workers);
    return { mode: null, runner: session, sampling: gate, stats, live: () => ({ queued: 0, runningCalls: 0 }) };
  }
  if (DIFFUSION_TYPES.includes(options.type)) {
    // One lane per worker: each lane's calls run on their own worker, in parallel.
    const lanes = Array.from({ length: workers }, () => new RowBatcher(session, { maxRows: b.maxRows, maxDelayMs: b.maxDelayMs, maxCalls: 1, deadlineMs: null, stats, members: true, ...clock }));
    // The warm-up ran one real-sized row where the shapes were given: the first estimate of a row's time.
    const initialMsPerRow = options.warmupDims && session.warmupMs > 0 ? session.warmupMs : undefined;
    const gate = new SamplingGate(lanes, { maxRows: b.maxRows, deadlineMs, stats, ...(initialMsPerRow ? { initialMsPerRow } : {}), ...clock });
    return { mode: 'continuous', runner: session, sampling: gate, stats, live: () => ({ queued: gate.waiting, runningCalls: gate.runningCalls }) };
  }
  const batcher = new RowBatcher(session, { maxRows: b.maxRows, maxDelayMs: b.maxDelayMs, maxCalls: workers, deadlineMs, stats, ...clock });
  return { mode: 'dynamic', runner: batcher, sampling: new FifoGate(workers), stats, live: () => ({ queued: batcher.queued, runningCalls: batcher.runningCalls }) };
}
