/**
 * What a stable endpoint forwards /predict to: an in-process model (EmbeddedBackend) today, a
 * container or swarm service later.
 */
import type { ModelType } from '../common/types.js';
import type { BatchingSnapshot } from './batching/batch-stats.js';

export interface Backend {
  readonly version: string;
  readonly type: ModelType;
  /**
   * Answers one prediction. Throws RequestError for 4xx; anything else is a 5xx. Must register
   * the request as in flight synchronously (before its first await), so a `drain()` started
   * right after a backend switch waits for it. `signal` aborts once nobody waits for the answer
   * any more (the request timed out or the client left): work not yet started should not start.
   */
  handlePredict(body: unknown, signal?: AbortSignal, wire?: WireRequest): Promise<object>;
  /** Resolves once every request handed to this backend has finished. */
  drain(): Promise<void>;
  /** Releases what the backend holds (workers, containers). Call after `drain()`. */
  dispose(): Promise<void>;
  /** A JSON-able description for status views. */
  describe(): object;
  /**
   * Whether the backend can answer now (a container that died cannot). Optional: a backend
   * without it is healthy while loaded. The stable endpoint's /ready follows it.
   */
  health?(): BackendHealth;
  /** Batch sizes and queue delay of a backend that batches requests (/metrics); null or absent otherwise. */
  batchingSnapshot?(): BatchingSnapshot | null;
}

/**
 * A /predict request as it came over the wire, for a backend that forwards it (a container)
 * rather than answering the parsed `body`: passed through unchanged, its bytes stay exactly the
 * client's (a safetensors body included) and its Accept keeps choosing the answer's format.
 */
export interface WireRequest {
  readonly bytes: Buffer;
  /** The body's media type, lower case (application/json or application/vnd.safetensors). */
  readonly contentType: string;
  readonly accept: string | undefined;
}

/** A backend's own view of its health. */
export interface BackendHealth {
  readonly healthy: boolean;
  /** e.g. 'running', or why it is not: 'exited', 'oom_killed', 'removed', 'unhealthy', 'unreachable'. */
  readonly state: string;
  /** One line on what is wrong; null while healthy. */
  readonly detail: string | null;
}
