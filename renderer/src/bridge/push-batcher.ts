/**
 * Delivers pushes in batches: with ten deployments a second brings about thirty pushes (a
 * metrics sample, a watcher check's event and its watcher.state each), and handed over one by one
 * each would be its own store update and React commit. Delivered together in one task, React
 * batches their updates into one commit. A window of a few milliseconds rather than an animation
 * frame: a frame requested per push would make the page run a frame (style, layout, paint) even
 * for the many pushes that change nothing on screen (another deployment's check). Order is kept.
 */

/** Schedules a callback once; returns its cancel. */
export type BatchScheduler = (fn: () => void) => () => void;

/** Runs the batch `ms` after its first push. */
export function windowScheduler(ms: number): BatchScheduler {
  return (fn) => {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  };
}

/** The default batching window, ms: the pushes one agent tick sends arrive well within it. */
export const PUSH_BATCH_MS = 16;

export class PushBatcher {
  private queue: [string, unknown][] = [];
  private cancel: (() => void) | null = null;

  constructor(
    private readonly deliver: (channel: string, payload: unknown) => void,
    private readonly schedule: BatchScheduler = windowScheduler(PUSH_BATCH_MS),
  ) {}

  /** Queues one push for the next batch. */
  push(channel: string, payload: unknown): void {
    this.queue.push([channel, payload]);
    if (!this.cancel) this.cancel = this.schedule(() => this.flush());
  }

  /** Delivers everything queued now (also before a connection change, so order is kept). */
  flush(): void {
    this.cancel?.();
    this.cancel = null;
    const batch = this.queue;
    this.queue = [];
    for (const [channel, payload] of batch) this.deliver(channel, payload);
  }
}
