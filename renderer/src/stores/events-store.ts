/**
 * Each model's event history for the timeline and the chart markers: loaded with `events.list`
 * when a model is shown, then kept current by `event` pushes. Bounded per model.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { EventView } from '../../../preload/contract';
import { describeError, type RendererClient } from '../bridge/client-types';

const KEEP = 1000;

/** Groups the timeline filters by. */
export type EventCategory = 'lifecycle' | 'checks' | 'rollbacks' | 'alerts' | 'drills' | 'other';

export const EVENT_CATEGORIES: readonly EventCategory[] = ['lifecycle', 'checks', 'rollbacks', 'alerts', 'drills', 'other'];

const CATEGORY_OF: Readonly<Record<string, EventCategory>> = {
  register: 'lifecycle',
  promote: 'lifecycle',
  archive: 'lifecycle',
  deploy: 'lifecycle',
  stop: 'lifecycle',
  restore: 'lifecycle',
  restore_failed: 'lifecycle',
  image_rebuilt: 'lifecycle',
  check: 'checks',
  rollback_started: 'rollbacks',
  rollback: 'rollbacks',
  alert: 'alerts',
  drill: 'drills',
};

/** The filter group of an event name. */
export function categoryOf(event: string): EventCategory {
  return CATEGORY_OF[event] ?? 'other';
}

export interface EventFilter {
  readonly categories: ReadonlySet<EventCategory>;
  /** Case-insensitive text matched against the event's name and fields. */
  readonly text: string;
}

/** Events passing the filter, newest first; at most `limit` (the newest ones: the rest are not looked at). */
export function filterEvents(events: readonly EventView[], filter: EventFilter, limit = Infinity): EventView[] {
  const text = filter.text.trim().toLowerCase();
  const out: EventView[] = [];
  for (let i = events.length - 1; i >= 0 && out.length < limit; i -= 1) {
    const e = events[i]!;
    if (!filter.categories.has(categoryOf(e.event))) continue;
    if (text && !JSON.stringify(e).toLowerCase().includes(text)) continue;
    out.push(e);
  }
  return out;
}

function order(a: EventView, b: EventView): number {
  if (a.id !== null && b.id !== null) return a.id - b.id;
  return Date.parse(a.ts) - Date.parse(b.ts);
}

/** Adds events to a model's list: sorted oldest first, without duplicate ids, bounded. */
export function mergeEvents(existing: readonly EventView[], incoming: readonly EventView[]): EventView[] {
  // The usual push: one event newer than all kept (ids grow) — appended without the id set and
  // the sort over the whole (up to KEEP) list, which ten deployments' checks would pay 10× a second.
  const last = existing[existing.length - 1];
  if (incoming.length === 1 && last && last.id !== null && incoming[0]!.id !== null && incoming[0]!.id > last.id) {
    const start = existing.length + 1 > KEEP ? existing.length + 1 - KEEP : 0;
    const out = existing.slice(start);
    out.push(incoming[0]!);
    return out;
  }
  const seen = new Set(existing.map((e) => e.id).filter((id): id is number => id !== null));
  const merged = [...existing];
  for (const e of incoming) {
    if (e.id !== null && seen.has(e.id)) continue;
    if (e.id !== null) seen.add(e.id);
    merged.push(e);
  }
  merged.sort(order);
  return merged.length > KEEP ? merged.slice(merged.length - KEEP) : merged;
}

export interface EventsState {
  /** Oldest first, per model. */
  readonly byModel: Readonly<Record<string, readonly EventView[]>>;
  readonly filter: EventFilter;
  readonly error: string | null;
  load(name: string): Promise<void>;
  ingest(event: EventView): void;
  toggleCategory(category: EventCategory): void;
  setText(text: string): void;
  start(): () => void;
}

export type EventsStore = StoreApi<EventsState>;

/** Creates the events store over a client. */
export function createEventsStore(client: RendererClient): EventsStore {
  return createStore<EventsState>()((set, get) => ({
    byModel: {},
    filter: { categories: new Set(EVENT_CATEGORIES), text: '' },
    error: null,

    async load(name) {
      try {
        const events = await client.invoke('events.list', { name, limit: 500 });
        set((s) => ({ byModel: { ...s.byModel, [name]: mergeEvents(s.byModel[name] ?? [], events) }, error: null }));
      } catch (err) {
        set({ error: `events of ${name}: ${describeError(err)}` });
      }
    },

    ingest(event) {
      set((s) => ({ byModel: { ...s.byModel, [event.model]: mergeEvents(s.byModel[event.model] ?? [], [event]) } }));
    },

    toggleCategory(category) {
      const categories = new Set(get().filter.categories);
      if (categories.has(category)) categories.delete(category);
      else categories.add(category);
      set((s) => ({ filter: { ...s.filter, categories } }));
    },

    setText(text) {
      set((s) => ({ filter: { ...s.filter, text } }));
    },

    start() {
      let opened = false;
      const offs = [
        client.on('event', (e) => get().ingest(e)),
        client.onConnection((state) => {
          // Events pushed while the socket was down are in the registry: reload what is shown.
          if (state === 'open' && opened) for (const name of Object.keys(get().byModel)) void get().load(name);
          if (state === 'open') opened = true;
        }),
      ];
      return () => offs.forEach((off) => off());
    },
  }));
}
