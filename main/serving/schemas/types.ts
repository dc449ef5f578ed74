/**
 * The contract between the HTTP layer and per-architecture request handling.
 */
import type { ModelType } from '../../common/types.js';
import type { InferenceRunner } from '../model-session.js';

/** A 4xx answer: the request is wrong, not the server. Never counts toward the error rate. */
export class RequestError extends Error {
  override readonly name = 'RequestError';
  constructor(
    readonly status: number,
    message: string,
    readonly detail?: unknown,
  ) {
    super(message);
    if (!Number.isInteger(status) || status < 400 || status > 499) throw new RangeError(`RequestError status must be 4xx, got ${status}`);
  }
}

export interface SchemaLimits {
  /** Largest batch (first, symbolic dimension) a request may ask for. */
  readonly maxBatchSize: number;
}

/** What the export recorded about the served model (manifest.json): architecture parameters. */
export interface ModelDescription {
  readonly hyperParameters: Readonly<Record<string, unknown>>;
  /** Diffusion models: the noise schedule read from the checkpoint. */
  readonly schedule?: Readonly<Record<string, unknown>>;
}

export interface SchemaContext {
  readonly session: InferenceRunner;
  readonly limits: SchemaLimits;
  readonly model: ModelDescription;
  /** Aborts when nobody waits for the answer any more; multi-step work stops at the next step. */
  readonly signal?: AbortSignal;
  /**
   * First-come-first-served admission for many-step work (diffusion sampling), shared by the
   * requests of one deployment so that under overload the earliest finish (see FifoGate, and
   * SamplingGate for continuous batching).
   */
  readonly sampling?: SamplingAdmission;
}

/** What one sampling request costs: rows per ε call (2B for guided CFG) and ε calls. */
export interface SamplingCost {
  readonly rows: number;
  readonly steps: number;
}

/**
 * Admits sampling work in arrival order. `work` gets the runner its ε calls must go through
 * (a continuous batch shared with other requests), or null to use the session directly.
 * Rejects without running `work` when the signal aborts while waiting, or when the request
 * cannot finish before its deadline (OverloadedError, a 503).
 */
export interface SamplingAdmission {
  readonly active: number;
  readonly waiting: number;
  run<T>(work: (runner: InferenceRunner | null) => Promise<T>, signal: AbortSignal | undefined, cost: SamplingCost): Promise<T>;
}

/**
 * Turns a parsed JSON request body into model feeds and the outputs into a JSON response body
 * for one architecture. Throws {@link RequestError} for invalid requests; anything else thrown
 * is a server fault (5xx).
 */
export interface InferenceSchema {
  readonly type: ModelType;
  handle(body: unknown, ctx: SchemaContext): Promise<object>;
}
