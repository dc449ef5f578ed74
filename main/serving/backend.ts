/**
 * What a stable endpoint forwards /predict to: an in-process model (EmbeddedBackend) today, a
 * container or swarm service later.
 */
import type { ModelType } from '../common/types.js';

export interface Backend {
  readonly version: string;
  readonly type: ModelType;
  /**
   * Answers one prediction. Throws RequestError for 4xx; anything else is a 5xx. Must register
   * the request as in flight synchronously (before its first await), so a `drain()` started
   * right after a backend switch waits for it.
   */
  handlePredict(body: unknown): Promise<object>;
  /** Resolves once every request handed to this backend has finished. */
  drain(): Promise<void>;
  /** Releases what the backend holds (workers, containers). Call after `drain()`. */
  dispose(): Promise<void>;
  /** A JSON-able description for status views. */
  describe(): object;
}
