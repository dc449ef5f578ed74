/**
 * A backend that serves an ONNX model in this process, on inference worker threads.
 */
import { performance } from 'node:perf_hooks';
import { FramewormError } from '../common/errors.js';
import type { ModelType } from '../common/types.js';
import type { Backend } from './backend.js';
import { FifoGate } from './fifo-gate.js';
import { InFlight } from './in-flight.js';
import { ModelSession } from './model-session.js';
import { getSchema } from './schemas/index.js';
import type { InferenceSchema, ModelDescription } from './schemas/types.js';
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
}

/** An ONNX model plus the request schema of its architecture, served in-process. */
export class EmbeddedBackend implements Backend {
  private readonly inFlight = new InFlight();
  private disposed: Promise<void> | null = null;
  private readonly maxBatchSize: number;
  /** One sampling request per worker at a time, in arrival order (see FifoGate). */
  private readonly sampling: FifoGate;

  private constructor(
    private readonly options: EmbeddedBackendOptions,
    /** The worker pool; exposed for status views and fault-injection tests. */
    readonly session: ModelSession,
    private readonly schema: InferenceSchema,
  ) {
    this.maxBatchSize = options.maxBatchSize ?? 64;
    this.sampling = new FifoGate(options.workers ?? 1);
  }

  /** Loads and warms up the model; E_INPUT / E_RUNTIME when it cannot be served. */
  static async load(options: EmbeddedBackendOptions): Promise<EmbeddedBackend> {
    const schema = getSchema(options.type);
    const maxBatchSize = options.maxBatchSize ?? 64;
    if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) {
      throw new FramewormError('E_USAGE', `maxBatchSize must be a positive integer, got ${maxBatchSize}`);
    }
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
        session: this.session,
        limits: { maxBatchSize: this.maxBatchSize },
        model: this.options.model ?? { hyperParameters: {} },
        sampling: this.sampling,
        ...(signal ? { signal } : {}),
      });
      return { ...result, model: this.options.name, version: this.version, latency_ms: round3(performance.now() - t0) };
    });
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
      warmup_ms: round3(this.session.warmupMs),
      io: this.session.io,
    };
  }
}

function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
