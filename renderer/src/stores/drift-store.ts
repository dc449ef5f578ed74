/**
 * A deployment's drift: the live state (`shift.status`: reference, window fill, last check with
 * its per-group severity) and the rows behind it (`shift.samples`) for the histograms. Loaded
 * when the panel shows, after each drift event of the model, and (throttled) as other events of
 * the model say traffic went on.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { ShiftSamplesView, ShiftStatusView } from '../../../preload/contract';
import { describeError, type RendererClient } from '../bridge/client-types';

export interface DriftModelState {
  readonly status: ShiftStatusView | null;
  readonly samples: ShiftSamplesView | null;
  readonly error: string | null;
}

export interface DriftState {
  readonly byModel: Readonly<Record<string, DriftModelState>>;
  load(name: string): Promise<void>;
  start(): () => void;
}

export type DriftStore = StoreApi<DriftState>;

const DRIFT_EVENTS = new Set(['drift_check', 'drift', 'drift_reference']);
/** Least time between two loads of a model's drift state caused by other events, ms. */
export const DRIFT_REFRESH_MS = 5000;

export interface DriftStoreOptions {
  readonly now?: () => number;
  readonly refreshMs?: number;
}

/** Creates the drift store over a client. */
export function createDriftStore(client: RendererClient, opts: DriftStoreOptions = {}): DriftStore {
  const now = opts.now ?? Date.now;
  const refreshMs = opts.refreshMs ?? DRIFT_REFRESH_MS;
  const loadedAt = new Map<string, number>();
  return createStore<DriftState>()((set, get) => ({
    byModel: {},

    async load(name) {
      loadedAt.set(name, now());
      try {
        const [status, samples] = await Promise.all([client.invoke('shift.status', { name }), client.invoke('shift.samples', { name })]);
        set((s) => ({ byModel: { ...s.byModel, [name]: { status, samples, error: null } } }));
      } catch (err) {
        set((s) => ({ byModel: { ...s.byModel, [name]: { status: s.byModel[name]?.status ?? null, samples: s.byModel[name]?.samples ?? null, error: describeError(err) } } }));
      }
    },

    start() {
      return client.on('event', (e) => {
        // Only models already shown: the others load when they are opened.
        if (!get().byModel[e.model]) return;
        // Drift events change what is shown at once; any other event of the model (a check, a
        // second) means traffic that filled the reference or window: looked at again, throttled.
        const due = now() - (loadedAt.get(e.model) ?? -Infinity) >= refreshMs;
        if (DRIFT_EVENTS.has(e.event) || due) void get().load(e.model);
      });
    },
  }));
}
