/**
 * Delivers the outbox's Slack rows, one request at a time, in the background:
 * - at most one request per `minIntervalMs` (Slack allows about 1 message/s per webhook);
 * - 5xx, network errors and a 200 whose body is not `ok` are retried with backoff, at most
 *   `maxTries` tries (by default 5, the last about 2 min after the first: within 5 min);
 * - a 429 waits for Retry-After (capped at 60 s) and is not counted as a try; the whole
 *   webhook waits, not just that message; after `maxRateLimitWaits` waits the row gives up;
 * - other 4xx are final; no URL configured → skipped without a request.
 * Every decision reads the injected scheduler's clock, so tests run it with a manual clock.
 */
import type { AlertOutbox, OutboxRow } from './alert-outbox.js';
import type { Scheduler } from './scheduler.js';
import type { SlackMessage } from './slack-message.js';
import type { SlackWebhookClient } from './slack-webhook.js';

export type DeliveryOutcome = 'sent' | 'failed' | 'skipped';

export interface DeliveryPolicy {
  /** Least time between two requests to one webhook. */
  readonly minIntervalMs: number;
  /** Tries before giving up (429s do not count). */
  readonly maxTries: number;
  /** Wait after failed try n (1-based) is `backoffMs[n-1]` (the last entry repeats). */
  readonly backoffMs: readonly number[];
  /** 429 waits before giving up on one message. */
  readonly maxRateLimitWaits: number;
}

/** Tries at about 0 s, 2 s, 12 s, 42 s and 132 s: five tries well within five minutes. */
export const DEFAULT_DELIVERY_POLICY: DeliveryPolicy = {
  minIntervalMs: 1000,
  maxTries: 5,
  backoffMs: [2_000, 10_000, 30_000, 90_000],
  maxRateLimitWaits: 30,
};

/** How long a claimed row is left alone: longer than one request can take. */
const CLAIM_LEASE_MS = 60_000;

/** A row's final outcome, for the `alert` event. */
export interface FinishedDelivery {
  readonly row: OutboxRow;
  readonly outcome: DeliveryOutcome;
  readonly error: string | null;
}

/** One request the dispatcher made (for status and for tests of the rate limit). */
export interface SendAttempt {
  readonly rowId: number;
  readonly at: number;
  readonly result: string;
}

export interface SlackDispatcherOptions {
  readonly outbox: AlertOutbox;
  readonly client: SlackWebhookClient;
  readonly scheduler: Scheduler;
  /** The webhook URL now (config reloads apply to pending rows), null when none is set; may throw E_CONFIG. */
  readonly webhookUrl: () => string | null;
  /** Told of every row that reached an outcome; records the `alert` event. */
  readonly onFinished: (done: FinishedDelivery) => void;
  /** Told of every request made. */
  readonly onAttempt?: (attempt: SendAttempt) => void;
  /** Unexpected failures (database errors); delivery tries again at the next kick. */
  readonly onError?: (err: unknown) => void;
  readonly policy?: Partial<DeliveryPolicy>;
}

/** The background sender of Slack alerts. */
export class SlackDispatcher {
  static readonly CHANNEL = 'slack';
  private readonly policy: DeliveryPolicy;
  /** Earliest time of the next request, per webhook URL. */
  private readonly notBefore = new Map<string, number>();
  private running: Promise<void> | null = null;
  private again = false;
  private cancelTimer: (() => void) | null = null;
  private timerAt: number | null = null;
  private disposed = false;

  constructor(private readonly options: SlackDispatcherOptions) {
    this.policy = { ...DEFAULT_DELIVERY_POLICY, ...options.policy };
  }

  /** Looks at the outbox now (after new rows, or a config change); never waits for delivery. */
  kick(): void {
    if (this.disposed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pump().finally(() => {
      this.running = null;
      if (this.again && !this.disposed) {
        this.again = false;
        this.kick();
      }
    });
  }

  /** Resolves when no delivery pass is in progress (the next one may be scheduled on a timer). */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Stops scheduling; a request in flight finishes (its row stays pending if the answer is lost). */
  async dispose(): Promise<void> {
    this.disposed = true;
    this.clearTimer();
    await this.settled();
  }

  private clearTimer(): void {
    this.cancelTimer?.();
    this.cancelTimer = null;
    this.timerAt = null;
  }

  private wakeAt(at: number): void {
    if (this.disposed) return;
    if (this.timerAt !== null && this.timerAt <= at) return;
    this.clearTimer();
    this.timerAt = at;
    this.cancelTimer = this.options.scheduler.setTimer(() => {
      this.cancelTimer = null;
      this.timerAt = null;
      this.kick();
    }, Math.max(0, at - this.options.scheduler.now()));
  }

  private async pump(): Promise<void> {
    const { outbox, scheduler } = this.options;
    try {
      while (!this.disposed) {
        const row = outbox.nextPending(SlackDispatcher.CHANNEL);
        if (row === undefined) return;
        const now = scheduler.now();
        let url: string | null;
        try {
          url = this.options.webhookUrl();
        } catch (err) {
          this.finish(row, 'failed', row.tries, err instanceof Error ? err.message : String(err));
          continue;
        }
        if (url === null) {
          this.finish(row, 'skipped', row.tries, 'no Slack webhook URL is set');
          continue;
        }
        const due = Math.max(row.next_attempt_at, this.notBefore.get(url) ?? 0);
        if (due > now) {
          this.wakeAt(due);
          return;
        }
        // Another control plane on the same workspace may be looking at the same row.
        if (!outbox.claim(row, now + CLAIM_LEASE_MS)) continue;
        this.notBefore.set(url, now + this.policy.minIntervalMs);
        const message = JSON.parse(row.message) as SlackMessage;
        const result = await this.options.client.send(url, message, now);
        this.options.onAttempt?.({ rowId: row.id, at: now, result: result.kind });
        const after = scheduler.now();
        switch (result.kind) {
          case 'sent':
            this.finish(row, 'sent', row.tries + 1, null);
            break;
          case 'rejected':
            this.finish(row, 'failed', row.tries + 1, result.error);
            break;
          case 'retry': {
            const tries = row.tries + 1;
            if (tries >= this.policy.maxTries) {
              this.finish(row, 'failed', tries, `gave up after ${tries} tries: ${result.error}`);
            } else {
              const delay = this.policy.backoffMs[Math.min(tries - 1, this.policy.backoffMs.length - 1)] ?? 1000;
              outbox.reschedule(row.id, { tries, waits: row.waits, nextAttemptAt: after + delay, error: result.error });
            }
            break;
          }
          case 'rate_limited': {
            const waits = row.waits + 1;
            // The webhook as a whole is limited: hold every message, not just this one.
            this.notBefore.set(url, Math.max(this.notBefore.get(url) ?? 0, after + result.retryAfterMs));
            if (waits > this.policy.maxRateLimitWaits) {
              this.finish(row, 'failed', row.tries, `gave up after ${row.waits} rate-limit waits: ${result.error}`);
            } else {
              outbox.reschedule(row.id, { tries: row.tries, waits, nextAttemptAt: after + result.retryAfterMs, error: result.error });
            }
            break;
          }
        }
      }
    } catch (err) {
      this.options.onError?.(err);
    }
  }

  private finish(row: OutboxRow, outcome: DeliveryOutcome, tries: number, error: string | null): void {
    this.options.outbox.finish(row.id, outcome, { tries, error, atMs: this.options.scheduler.now() });
    this.options.onFinished({ row, outcome, error });
  }
}
