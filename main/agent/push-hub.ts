/**
 * The control plane's push messages in one place: events, deployment changes, metric samples,
 * watcher state and task updates are published here once, and each transport (the agent's
 * `push.follow`, Electron IPC) subscribes and forwards them.
 */
import type { PushChannel, PushChannels } from '../../preload/contract.js';

/** A push message as every transport carries it. */
export interface PushMessage<P extends PushChannel = PushChannel> {
  readonly channel: P;
  readonly payload: PushChannels[P];
}

type Listener = (message: PushMessage) => void;

/** Fans push messages out to subscribers; one subscriber's failure never reaches the others. */
export class PushHub {
  private readonly listeners = new Set<Listener>();

  /** Delivers one message to every subscriber, synchronously. */
  publish<P extends PushChannel>(channel: P, payload: PushChannels[P]): void {
    const message = { channel, payload } as PushMessage;
    for (const listener of [...this.listeners]) {
      try {
        listener(message);
      } catch {
        // A broken transport (a closed socket) must not stop the publisher, e.g. a registry commit.
      }
    }
  }

  /** Subscribes; returns the function that unsubscribes. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** How many subscribers are attached (the sampler runs its snapshots for them). */
  get size(): number {
    return this.listeners.size;
  }
}
