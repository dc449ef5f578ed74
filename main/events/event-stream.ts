/**
 * In-process delivery of committed events: the registry publishes each event after its
 * transaction commits (never before, never for a rolled-back one); the watcher, the alert
 * router, the GUI's push channel and the tray subscribe. A subscriber that throws is reported
 * and never stops delivery to the others or the registry's write.
 */
import type { FramewormEvent } from './event-types.js';

export type EventListener = (event: FramewormEvent) => void;

/** A synchronous fan-out of committed events. */
export class EventStream {
  private readonly listeners = new Set<EventListener>();

  constructor(private readonly onListenerError: (err: unknown) => void = (err) => process.emitWarning(`event subscriber failed: ${String(err)}`)) {}

  /** Calls `listener` for every event published from now on; returns the unsubscribe function. */
  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Delivers one event to every subscriber, in subscription order. */
  publish(event: FramewormEvent): void {
    for (const l of [...this.listeners]) {
      try {
        l(event);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }

  get size(): number {
    return this.listeners.size;
  }
}
