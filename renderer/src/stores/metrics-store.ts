/**
 * Metric samples per deployment, for the live charts. Fills from `metrics.sample` pushes (1 Hz per
 * serving deployment) and `metrics.history` (so a reload shows the recent past). Pushes are
 * batched: with ten deployments a sample arrives every 100 ms, and re-rendering the charts for
 * each would cost more than the charts are worth; one flush per `flushMs` applies them all.
 * Memory is bounded: at most the longest range (1 h) per deployment is kept.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { MetricsSample } from '../../../preload/contract';
import { describeError, type RendererClient } from '../bridge/client-types';
import { RANGES, type RangeKey } from '../domain/chart-series';

const KEEP_MS = Math.max(...RANGES.map((r) => r.seconds)) * 1000;

export interface MetricsState {
  readonly samples: Readonly<Record<string, readonly MetricsSample[]>>;
  readonly range: RangeKey;
  readonly error: string | null;
  /** Queues a pushed sample; applied at the next flush. */
  ingest(sample: MetricsSample): void;
  /** Applies queued samples now. */
  flush(): void;
  loadHistory(name?: string): Promise<void>;
  setRange(range: RangeKey): void;
  start(): () => void;
}

export type MetricsStore = StoreApi<MetricsState>;

export interface MetricsStoreOptions {
  /** Batching window for pushed samples, ms; 0 applies each at once. */
  readonly flushMs?: number;
}

/** Merges new samples into a sorted, de-duplicated (by ts), bounded series. */
export function mergeSamples(existing: readonly MetricsSample[], incoming: readonly MetricsSample[]): MetricsSample[] {
  if (incoming.length === 0) return [...existing];
  const last = existing[existing.length - 1];
  let merged: MetricsSample[];
  const inOrder = incoming.every((s, i) => (i === 0 ? !last || s.ts > last.ts : s.ts > incoming[i - 1]!.ts));
  if (inOrder) {
    // The common case (live pushes): append without re-sorting.
    merged = [...existing, ...incoming];
  } else {
    const byTs = new Map<number, MetricsSample>();
    for (const s of existing) byTs.set(s.ts, s);
    for (const s of incoming) byTs.set(s.ts, s);
    merged = [...byTs.values()].sort((a, b) => a.ts - b.ts);
  }
  const newest = merged[merged.length - 1]!.ts;
  const firstKept = merged.findIndex((s) => s.ts > newest - KEEP_MS);
  return firstKept > 0 ? merged.slice(firstKept) : merged;
}

/** Creates the metrics store over a client. */
export function createMetricsStore(client: RendererClient, opts: MetricsStoreOptions = {}): MetricsStore {
  const flushMs = opts.flushMs ?? 250;
  let queue: MetricsSample[] = [];
  let timer: ReturnType<typeof setTimeout> | null = null;

  const apply = (set: StoreApi<MetricsState>['setState'], get: () => MetricsState, batch: readonly MetricsSample[]): void => {
    if (batch.length === 0) return;
    const byName = new Map<string, MetricsSample[]>();
    for (const s of batch) {
      const list = byName.get(s.name) ?? [];
      list.push(s);
      byName.set(s.name, list);
    }
    const samples = { ...get().samples };
    for (const [name, list] of byName) samples[name] = mergeSamples(samples[name] ?? [], list);
    set({ samples });
  };

  return createStore<MetricsState>()((set, get) => ({
    samples: {},
    range: '5m',
    error: null,

    ingest(sample) {
      queue.push(sample);
      if (flushMs <= 0) {
        get().flush();
        return;
      }
      if (!timer) timer = setTimeout(() => get().flush(), flushMs);
    },

    flush() {
      if (timer) clearTimeout(timer);
      timer = null;
      const batch = queue;
      queue = [];
      apply(set, get, batch);
    },

    async loadHistory(name) {
      try {
        const history = await client.invoke('metrics.history', name ? { name } : {});
        apply(set, get, history);
        set({ error: null });
      } catch (err) {
        set({ error: `metrics history: ${describeError(err)}` });
      }
    },

    setRange(range) {
      set({ range });
    },

    start() {
      let opened = false;
      const offs = [
        client.on('metrics.sample', (s) => get().ingest(s)),
        client.onConnection((state) => {
          // After a reconnect the history fills the gap the socket left.
          if (state === 'open' && opened) void get().loadHistory();
          if (state === 'open') opened = true;
        }),
      ];
      void get().loadHistory();
      return () => {
        offs.forEach((off) => off());
        if (timer) clearTimeout(timer);
        timer = null;
      };
    },
  }));
}
