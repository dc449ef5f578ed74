/**
 * Toasts: a short-lived note for each rollback, drift, failed alert and lost backend as its
 * event is pushed, one per event id, the newest few kept; each goes away after a while or when
 * dismissed. The clock is injected so tests need no real waiting.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { EventView } from '../../../preload/contract';
import type { RendererClient } from '../bridge/client-types';
import { describeEvent, toastLevel } from '../domain/event-sentences';

/** How many toasts are shown at once (older ones are dropped). */
const MAX_TOASTS = 4;
/** How long a toast stays, ms (critical ones stay until dismissed). */
export const TOAST_MS = 15_000;

export interface Toast {
  readonly key: string;
  readonly model: string;
  readonly level: 'info' | 'warning' | 'critical';
  readonly title: string;
  readonly text: string;
}

/** Timers behind the store: the browser's by default, a test's own where it wants control. */
export interface ToastTimers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const browserTimers: ToastTimers = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

const TITLES: Readonly<Record<string, string>> = {
  rollback: 'Rollback',
  drift: 'Drift',
  alert: 'Alert not delivered',
  restore_failed: 'Restore failed',
  self_heal_failed: 'Self-healing failed',
  backend_lost: 'Backend lost',
  config_rejected: 'Config refused',
};

/** The toast an event makes, or null. */
export function toastFor(e: EventView): Toast | null {
  const level = toastLevel(e);
  if (level === null) return null;
  const title = e.event === 'rollback' && e['success'] === false ? 'Rollback failed' : (TITLES[e.event] ?? e.event);
  return { key: e.id !== null ? String(e.id) : `${e.model}-${e.event}-${e.ts}`, model: e.model, level, title: `${title}: ${e.model}`, text: describeEvent(e) };
}

export interface ToastsState {
  readonly toasts: readonly Toast[];
  show(toast: Toast): void;
  dismiss(key: string): void;
  start(): () => void;
}

export type ToastsStore = StoreApi<ToastsState>;

/** Creates the toasts store over a client. */
export function createToastsStore(client: RendererClient, timers: ToastTimers = browserTimers): ToastsStore {
  const pending = new Map<string, unknown>();
  const seen = new Set<string>();
  return createStore<ToastsState>()((set, get) => ({
    toasts: [],

    show(toast) {
      if (seen.has(toast.key)) return;
      seen.add(toast.key);
      const next = [...get().toasts, toast];
      for (const dropped of next.slice(0, Math.max(0, next.length - MAX_TOASTS))) get().dismiss(dropped.key);
      set((s) => ({ toasts: [...s.toasts, toast].slice(-MAX_TOASTS) }));
      if (toast.level !== 'critical') pending.set(toast.key, timers.set(() => get().dismiss(toast.key), TOAST_MS));
    },

    dismiss(key) {
      const h = pending.get(key);
      if (h !== undefined) timers.clear(h);
      pending.delete(key);
      set((s) => ({ toasts: s.toasts.filter((t) => t.key !== key) }));
    },

    start() {
      return client.on('event', (e) => {
        const t = toastFor(e);
        if (t) get().show(t);
      });
    },
  }));
}
