/**
 * Whether the Docker engine answers (`docker.status`), for the banner: asked at start, again on
 * an interval and after each reconnect. The interval's timer is injected for tests.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { DockerEngineView } from '../../../preload/contract';
import { describeError, type RendererClient } from '../bridge/client-types';

/** How often the engine is asked again, ms. */
export const ENGINE_POLL_MS = 30_000;

export interface EngineState {
  readonly engine: DockerEngineView | null;
  readonly error: string | null;
  refresh(): Promise<void>;
  start(): () => void;
}

export type EngineStore = StoreApi<EngineState>;

export interface EngineStoreOptions {
  /** Starts a repeating timer; returns its stop (default: setInterval). */
  readonly every?: (fn: () => void, ms: number) => () => void;
}

const everyInterval = (fn: () => void, ms: number): (() => void) => {
  const h = setInterval(fn, ms);
  return () => clearInterval(h);
};

/** Creates the engine store over a client. */
export function createEngineStore(client: RendererClient, opts: EngineStoreOptions = {}): EngineStore {
  return createStore<EngineState>()((set, get) => ({
    engine: null,
    error: null,

    async refresh() {
      try {
        set({ engine: await client.invoke('docker.status', {}), error: null });
      } catch (err) {
        // An agent that cannot answer is the connection banner's business, not the engine's.
        set({ error: describeError(err) });
      }
    },

    start() {
      void get().refresh();
      const stop = (opts.every ?? everyInterval)(() => void get().refresh(), ENGINE_POLL_MS);
      const off = client.onConnection((state) => {
        if (state === 'open') void get().refresh();
      });
      return () => {
        stop();
        off();
      };
    },
  }));
}
