/**
 * Listeners per push channel. A throwing listener must not starve the others (one broken panel
 * would otherwise freeze every store), so each call is isolated and the error reported.
 */
import type { ConnectionState, PushChannel, PushChannels, PushListener } from './client-types';

type AnyListener = (payload: unknown) => void;

export class PushHub {
  private readonly listeners = new Map<string, Set<AnyListener>>();
  private readonly connectionListeners = new Set<(state: ConnectionState) => void>();
  private state: ConnectionState | null = null;

  /** Adds a listener; returns its removal. */
  on<P extends PushChannel>(channel: P, fn: PushListener<P>): () => void {
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
    }
    const entry = fn as AnyListener;
    set.add(entry);
    return () => {
      set.delete(entry);
    };
  }

  /** Number of listeners over all channels (the socket connects only while there are some). */
  get size(): number {
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }

  /** Delivers one push; unknown channels are ignored (a newer server may send more). */
  emit<P extends PushChannel>(channel: P, payload: PushChannels[P]): void {
    this.emitUnknown(channel, payload);
  }

  /** Delivers a push whose channel name came off the wire. */
  emitUnknown(channel: string, payload: unknown): void {
    const set = this.listeners.get(channel);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(payload);
      } catch (err) {
        console.error(`push listener for ${channel} failed:`, err);
      }
    }
  }

  /** Adds a connection-state listener, told the current state at once (it may have opened already). */
  onConnection(fn: (state: ConnectionState) => void): () => void {
    this.connectionListeners.add(fn);
    if (this.state !== null) fn(this.state);
    return () => {
      this.connectionListeners.delete(fn);
    };
  }

  /** Tells connection listeners the new state. */
  setConnection(state: ConnectionState): void {
    this.state = state;
    for (const fn of [...this.connectionListeners]) fn(state);
  }
}
