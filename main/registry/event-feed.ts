/**
 * A model's events for clients of the control plane: the newest ones from the events table,
 * and a live feed that first replays what the caller missed (by event id) and then forwards
 * each committed event as the registry publishes it — no gap and no duplicate between the two.
 */
import type { EventView } from '../../preload/contract.js';
import { FramewormError } from '../common/errors.js';
import type { FramewormEvent } from '../events/event-types.js';
import type { EventRecord, Registry } from './registry.js';

const MAX_LIST = 10_000;

/** The wire form of a stored event: envelope first, then its own fields. */
export function eventView(e: EventRecord): EventView {
  return { ...e.fields, id: e.id, ts: e.ts, model: e.model, event: e.event };
}

/** The wire form of an event as the registry publishes it on commit. */
export function liveEventView(e: FramewormEvent): EventView {
  return { ...(e as unknown as Record<string, unknown>), id: e.id, ts: e.ts, model: e.model, event: e.event };
}

/** The model's newest `limit` events, oldest first (E_NOT_FOUND for an unknown model). */
export function listEventViews(registry: Registry, name: string, limit = 100): EventView[] {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST) {
    throw new FramewormError('E_USAGE', `limit must be an integer from 1 to ${MAX_LIST} (got ${String(limit)})`);
  }
  return registry.listEvents(name, limit).map(eventView);
}

/**
 * Sends the model's events with an id above `afterId` (default: none of the past ones), then
 * every new one, until `signal` aborts. E_NOT_FOUND for an unknown model.
 */
export async function followEvents(
  registry: Registry, name: string, afterId: number | undefined, send: (e: EventView) => void, signal: AbortSignal,
): Promise<void> {
  registry.requireModel(name);
  let last = afterId ?? registry.listEvents(name, 1).at(-1)?.id ?? 0;
  const queue: EventView[] = [];
  let replaying = true;
  // Subscribe before reading the backlog, so nothing committed in between is missed.
  const unsubscribe = registry.events.subscribe((e) => {
    if (e.model !== name) return;
    const view = liveEventView(e);
    if (replaying) queue.push(view);
    else if (e.id !== null && e.id > last) {
      last = e.id;
      send(view);
    }
  });
  try {
    if (afterId !== undefined) {
      for (const e of registry.listEvents(name, MAX_LIST)) {
        if (e.id > last) {
          last = e.id;
          send(eventView(e));
        }
      }
    }
    for (const view of queue) {
      if (typeof view.id === 'number' && view.id > last) {
        last = view.id;
        send(view);
      }
    }
    replaying = false;
    queue.length = 0;
    if (signal.aborted) return;
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  } finally {
    unsubscribe();
  }
}
