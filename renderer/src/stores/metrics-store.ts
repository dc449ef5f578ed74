/**
 * Metric samples per deployment, for the live charts and the overview tiles. Fills from
 * `metrics.sample` pushes (1 Hz per serving deployment) and `metrics.history` (so a reload shows
 * the recent past).
 *
 * Cost per push is what matters with ten deployments (a sample every 100 ms):
 * - each deployment's samples live in a {@link SampleRing} (one slot per second, one hour):
 *   O(1) per sample, bounded, nothing copied;
 * - the state holds per deployment only a small immutable {@link SeriesView} (ring, revision,
 *   latest sample), replaced when that deployment changes, so a selector over deployment A is
 *   not woken by a sample of B;
 * - pushes are queued and applied together once per animation frame (or after `flushMs`), so
 *   a burst becomes one store update.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { MetricsSample } from '../../../preload/contract';
import { describeError, type RendererClient } from '../bridge/client-types';
import { SampleRing, type RangeKey, type SeriesView } from '../domain/chart-series';

export interface MetricsState {
  /** Per deployment: its samples (ring) and a revision bumped on each change. */
  readonly series: Readonly<Record<string, SeriesView>>;
  /** Per deployment: its newest sample (what the overview tiles show). */
  readonly latest: Readonly<Record<string, MetricsSample>>;
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

/** Schedules a callback once; returns its cancel. */
export type FlushScheduler = (fn: () => void) => () => void;

export interface MetricsStoreOptions {
  /**
   * Batching window for pushed samples, ms: 0 applies each at once (tests), a positive value
   * waits that long. Default: one flush per animation frame (at most one store update per
   * painted frame, and none while the page is hidden).
   */
  readonly flushMs?: number;
  /** Overrides the scheduler (default: requestAnimationFrame where there is one, else setTimeout 16 ms). */
  readonly schedule?: FlushScheduler;
}

/** Queued samples that force a flush (ten deployments for about three minutes). */
const MAX_QUEUED = 2000;

const frameScheduler: FlushScheduler = (fn) => {
  if (typeof requestAnimationFrame === 'function') {
    const id = requestAnimationFrame(() => fn());
    return () => cancelAnimationFrame(id);
  }
  const t = setTimeout(fn, 16);
  return () => clearTimeout(t);
};

function timeoutScheduler(ms: number): FlushScheduler {
  return (fn) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  };
}

/** Creates the metrics store over a client. */
export function createMetricsStore(client: RendererClient, opts: MetricsStoreOptions = {}): MetricsStore {
  const immediate = opts.flushMs === 0;
  const schedule = opts.schedule ?? (opts.flushMs !== undefined && opts.flushMs > 0 ? timeoutScheduler(opts.flushMs) : frameScheduler);
  const rings = new Map<string, SampleRing>();
  let queue: MetricsSample[] = [];
  let cancel: (() => void) | null = null;

  const apply = (set: StoreApi<MetricsState>['setState'], get: () => MetricsState, batch: readonly MetricsSample[]): void => {
    if (batch.length === 0) return;
    const changed = new Set<string>();
    for (const s of batch) {
      let ring = rings.get(s.name);
      if (!ring) {
        ring = new SampleRing();
        rings.set(s.name, ring);
      }
      if (ring.add(s)) changed.add(s.name);
    }
    if (changed.size === 0) return;
    const { series: oldSeries, latest: oldLatest } = get();
    const series = { ...oldSeries };
    const latest = { ...oldLatest };
    for (const name of changed) {
      const ring = rings.get(name)!;
      series[name] = { ring, revision: (oldSeries[name]?.revision ?? 0) + 1, latest: ring.latest };
      if (ring.latest) latest[name] = ring.latest;
    }
    set({ series, latest });
  };

  return createStore<MetricsState>()((set, get) => ({
    series: {},
    latest: {},
    range: '5m',
    error: null,

    ingest(sample) {
      queue.push(sample);
      // No animation frames come while the page is hidden: past a bound the queue is applied
      // at once rather than growing for as long as the page stays hidden.
      if (immediate || queue.length >= MAX_QUEUED) {
        get().flush();
        return;
      }
      if (!cancel) cancel = schedule(() => get().flush());
    },

    flush() {
      cancel?.();
      cancel = null;
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
        cancel?.();
        cancel = null;
      };
    },
  }));
}
