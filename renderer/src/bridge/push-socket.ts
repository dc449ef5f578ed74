/**
 * The web mode's push channel: one WebSocket to `/ws` on the page's own origin, whose messages are
 * JSON `{channel, payload}`. It reconnects with capped exponential backoff (with jitter, so many
 * tabs do not reconnect in lockstep after the server restarts) until closed.
 */

/** The part of the WebSocket API used here, so a test can hand in another implementation. */
export interface SocketLike {
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  close(): void;
}

export type SocketFactory = (url: string) => SocketLike;

export interface PushSocketOptions {
  readonly url: string;
  readonly createSocket: SocketFactory;
  readonly onMessage: (channel: string, payload: unknown) => void;
  readonly onState: (state: 'connecting' | 'open' | 'closed') => void;
  /** First reconnect delay, ms. */
  readonly minDelayMs?: number;
  /** Largest reconnect delay, ms. */
  readonly maxDelayMs?: number;
  /** Random in [0, 1); injected so tests get fixed delays. */
  readonly random?: () => number;
}

/** Delay before reconnect attempt `attempt` (0-based): doubling from min, capped, ±20 % jitter. */
export function backoffDelay(attempt: number, minMs: number, maxMs: number, random: () => number): number {
  const base = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 16));
  return Math.round(base * (0.8 + 0.4 * random()));
}

/** The WebSocket URL for `/ws` on this origin: wss on https pages, ws otherwise. */
export function pushSocketUrl(origin: string): string {
  const u = new URL('/ws', origin);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.toString();
}

export class PushSocket {
  private socket: SocketLike | null = null;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private closed = false;
  private readonly minDelay: number;
  private readonly maxDelay: number;
  private readonly random: () => number;

  constructor(private readonly opts: PushSocketOptions) {
    this.minDelay = opts.minDelayMs ?? 500;
    this.maxDelay = opts.maxDelayMs ?? 15_000;
    this.random = opts.random ?? Math.random;
  }

  /** Opens the socket (idempotent). */
  start(): void {
    if (this.closed || this.socket || this.timer) return;
    this.connect();
  }

  /** Closes for good: no reconnect after this. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const s = this.socket;
    this.socket = null;
    s?.close();
    this.opts.onState('closed');
  }

  private connect(): void {
    this.timer = null;
    this.opts.onState('connecting');
    let socket: SocketLike;
    try {
      socket = this.opts.createSocket(this.opts.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      this.attempt = 0;
      this.opts.onState('open');
    };
    socket.onmessage = (ev) => {
      const text = typeof ev.data === 'string' ? ev.data : null;
      if (text === null) return;
      let msg: unknown;
      try {
        msg = JSON.parse(text);
      } catch {
        console.error('push socket: a message that is not JSON was ignored');
        return;
      }
      if (typeof msg === 'object' && msg !== null && 'channel' in msg && typeof msg.channel === 'string') {
        this.opts.onMessage(msg.channel, 'payload' in msg ? msg.payload : undefined);
      }
    };
    // Errors are always followed by close; reconnecting there alone avoids double scheduling.
    socket.onerror = () => undefined;
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.closed) return;
      this.opts.onState('closed');
      this.scheduleReconnect();
    };
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    const delay = backoffDelay(this.attempt, this.minDelay, this.maxDelay, this.random);
    this.attempt += 1;
    this.timer = setTimeout(() => this.connect(), delay);
  }
}
