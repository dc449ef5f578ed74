/**
 * The alert router: hears committed events, decides by the rule table which are alerts and on
 * which channels (`rule.channels` ∩ config `alert_on`), and delivers them without ever making
 * the caller wait:
 * - every event is routed from the registry's events table past a persistent cursor (the
 *   in-process stream only says "look now"; a poll catches events other processes wrote, a
 *   restart catches what a crash interrupted), in the transaction that fills the outbox;
 * - Slack goes through the outbox and the background dispatcher (at least once, deduplicated
 *   by event id and channel);
 * - log and tray are in-process and immediate, for events still fresh (a restart does not
 *   replay old notifications).
 * Each delivery becomes an `alert` event; `alert` events are never routed, so alerts cannot loop.
 */
import type { AlertChannel } from '../config/deploy-config.js';
import type { EventName, EventOf, FramewormEvent } from '../events/event-types.js';
import type { JsonObject } from '../common/json.js';
import type { Registry } from '../registry/registry.js';
import { AlertOutbox, type OutboxItem } from './alert-outbox.js';
import { DEFAULT_ALERT_RULES, type AlertContent, type AlertContext, type AlertRule, type AlertThresholds } from './alert-rules.js';
import { systemScheduler, type Scheduler } from './scheduler.js';
import { SlackDispatcher, type DeliveryOutcome, type DeliveryPolicy, type SendAttempt } from './slack-dispatcher.js';
import { slackMessage } from './slack-message.js';
import { HOW_TO_SET_WEBHOOK, resolveWebhookUrl, SlackWebhookClient, type SlackSendResult } from './slack-webhook.js';
import { FramewormError } from '../common/errors.js';
import { TrayNotifier } from './tray-notifier.js';

/** The config keys the router reads (a `DeployConfig` fits); read again for every batch, so reloads apply. */
export interface AlertSettings extends AlertThresholds {
  readonly alert_on: readonly AlertChannel[];
  readonly slack_webhook_url: string | null;
}

export interface AlertRouterOptions {
  readonly registry: Registry;
  /** The current settings (called per batch: config reloads apply without a restart). */
  readonly settings: () => AlertSettings;
  /** Where `FRAMEWORM_SLACK_WEBHOOK` is read (default: process.env). */
  readonly env?: NodeJS.ProcessEnv;
  /** The `tray` channel (default: a new notifier; the shell subscribes to `router.tray`). */
  readonly tray?: TrayNotifier;
  /** The `log` channel: one line per alert (default: stderr). */
  readonly log?: (line: string) => void;
  readonly scheduler?: Scheduler;
  readonly rules?: readonly AlertRule[];
  readonly client?: SlackWebhookClient;
  readonly policy?: Partial<DeliveryPolicy>;
  /** How often to look for events written by other processes (CLI rollbacks); 0: never. Default 5 s. */
  readonly pollIntervalMs?: number;
  /** log/tray deliver only events younger than this (default 5 min). */
  readonly liveWindowMs?: number;
  /** Told of each Slack request (status, tests). */
  readonly onAttempt?: (attempt: SendAttempt) => void;
  /** Unexpected failures (database, a throwing log sink); the router keeps going. */
  readonly onError?: (err: unknown) => void;
}

const LOCAL_CHANNELS: readonly AlertChannel[] = ['log', 'tray'];

/** Routes committed events to alert channels. Call `start()` once; `dispose()` when done. */
export class AlertRouter {
  readonly tray: TrayNotifier;
  readonly outbox: AlertOutbox;
  private readonly dispatcher: SlackDispatcher;
  private readonly client: SlackWebhookClient;
  private readonly scheduler: Scheduler;
  private readonly rules: readonly AlertRule[];
  private readonly ruleEvents: readonly EventName[];
  private readonly log: (line: string) => void;
  private readonly onError: (err: unknown) => void;
  private unsubscribe: (() => void) | null = null;
  private cancelPoll: (() => void) | null = null;
  private scanQueued: Promise<void> | null = null;
  private disposed = false;

  constructor(private readonly options: AlertRouterOptions) {
    this.scheduler = options.scheduler ?? systemScheduler;
    this.rules = options.rules ?? DEFAULT_ALERT_RULES;
    if (this.rules.some((r) => (r.event as string) === 'alert')) throw new Error('alert events cannot raise alerts');
    this.ruleEvents = [...new Set(this.rules.map((r) => r.event))];
    this.tray = options.tray ?? new TrayNotifier();
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.onError = options.onError ?? ((err) => process.emitWarning(`alert router: ${err instanceof Error ? err.message : String(err)}`));
    this.outbox = new AlertOutbox(options.registry.dbPath);
    this.client = options.client ?? new SlackWebhookClient();
    this.dispatcher = new SlackDispatcher({
      outbox: this.outbox,
      client: this.client,
      scheduler: this.scheduler,
      webhookUrl: () => resolveWebhookUrl(this.options.settings().slack_webhook_url, this.options.env ?? process.env),
      onFinished: ({ row, outcome, error }) => {
        if (this.record(row.model, row.channel, outcome, row.event_id, row.about_event, error)) this.outbox.markRecorded(row.id);
      },
      ...(options.onAttempt ? { onAttempt: options.onAttempt } : {}),
      onError: this.onError,
      ...(options.policy ? { policy: options.policy } : {}),
    });
  }

  /**
   * Starts routing: records outcomes a crash left unrecorded, sets (first run) or follows the
   * cursor, resumes pending deliveries, subscribes to the registry's stream and starts the poll.
   */
  start(): void {
    if (this.unsubscribe || this.disposed) return;
    try {
      for (const row of this.outbox.unrecorded()) {
        if (this.record(row.model, row.channel, row.state as DeliveryOutcome, row.event_id, row.about_event, row.last_error)) this.outbox.markRecorded(row.id);
      }
      this.outbox.prune(this.scheduler.now() - 30 * 24 * 3600 * 1000);
    } catch (err) {
      this.onError(err);
    }
    this.unsubscribe = this.options.registry.events.subscribe((e) => {
      // Alert events are the router's own output: routing them would loop.
      if (e.event === 'alert' || !this.ruleEvents.includes(e.event)) return;
      this.requestScan();
    });
    this.scan();
    this.dispatcher.kick();
    this.schedulePoll();
  }

  /** Resolves when queued routing and the current delivery pass are done (timers may remain). */
  async settled(): Promise<void> {
    for (;;) {
      if (this.scanQueued) {
        await this.scanQueued;
        continue;
      }
      await this.dispatcher.settled();
      if (!this.scanQueued) return;
    }
  }

  /** Stops listening and delivering; pending Slack alerts stay in the outbox for the next start. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.cancelPoll?.();
    this.cancelPoll = null;
    await this.settled();
    await this.dispatcher.dispose();
    this.outbox.close();
  }

  /**
   * Posts one test message straight to the webhook, not through the outbox (it is about no
   * event, and the caller wants Slack's answer now: the GUI's "send test"). E_CONFIG when no
   * URL is set or it is refused (plain http off the loopback); never echoes the URL.
   */
  async sendTest(summary: string): Promise<SlackSendResult> {
    const url = resolveWebhookUrl(this.options.settings().slack_webhook_url, this.options.env ?? process.env);
    if (url === null) throw new FramewormError('E_CONFIG', `no Slack webhook URL is set: ${HOW_TO_SET_WEBHOOK}`);
    const message = slackMessage({ title: 'Frameworm Deploy: test message', summary, severity: 'info', fields: [] });
    return this.client.send(url, message, this.scheduler.now());
  }

  /** Runs a routing pass soon, off the caller's stack (the registry publishes synchronously). */
  private requestScan(): void {
    if (this.scanQueued || this.disposed) return;
    this.scanQueued = new Promise<void>((resolve) => {
      setImmediate(() => {
        this.scanQueued = null;
        if (!this.disposed) this.scan();
        resolve();
      });
    });
  }

  private schedulePoll(): void {
    const every = this.options.pollIntervalMs ?? 5000;
    if (every <= 0 || this.disposed) return;
    this.cancelPoll = this.scheduler.setTimer(() => {
      this.requestScan();
      this.schedulePoll();
    }, every);
  }

  /** Routes every event past the cursor: outbox rows in the transaction, log/tray after it. */
  private scan(): void {
    try {
      const settings = this.options.settings();
      const enabled = new Set(settings.alert_on);
      const context = this.context(settings);
      const limit = 500;
      let inserted = 0;
      for (;;) {
        const now = this.scheduler.now();
        const batch = this.outbox.routeNewEvents(this.ruleEvents, (e) => this.outboxItems(e, enabled, context), now, limit);
        inserted += batch.inserted;
        for (const e of batch.events) this.deliverLocal(e, enabled, context, now);
        if (batch.scanned < limit) break;
      }
      if (inserted > 0) this.dispatcher.kick();
    } catch (err) {
      this.onError(err);
    }
  }

  private matching(e: FramewormEvent): AlertRule[] {
    return this.rules.filter((r) => r.event === e.event && r.matches(e));
  }

  private outboxItems(e: FramewormEvent, enabled: ReadonlySet<AlertChannel>, context: AlertContext): OutboxItem[] {
    if (e.id === null || !enabled.has('slack')) return [];
    const rule = this.matching(e).find((r) => r.channels.includes('slack'));
    if (rule === undefined) return [];
    let message;
    try {
      message = slackMessage(rule.content(e, context));
    } catch (err) {
      // A rule that cannot describe one event must not block every event after it.
      this.onError(err);
      return [];
    }
    return [{ eventId: e.id, channel: SlackDispatcher.CHANNEL, model: e.model, aboutEvent: e.event, message: message as unknown as JsonObject }];
  }

  private deliverLocal(e: FramewormEvent, enabled: ReadonlySet<AlertChannel>, context: AlertContext, now: number): void {
    const age = now - Date.parse(e.ts);
    if (!(age <= (this.options.liveWindowMs ?? 5 * 60_000))) return;
    const done = new Set<AlertChannel>();
    for (const rule of this.matching(e)) {
      const channels = rule.channels.filter((c) => LOCAL_CHANNELS.includes(c) && enabled.has(c) && !done.has(c));
      if (channels.length === 0) continue;
      let content: AlertContent;
      try {
        content = rule.content(e, context);
      } catch (err) {
        this.onError(err);
        continue;
      }
      for (const channel of channels) {
        done.add(channel);
        this.deliverOne(channel, e, content);
      }
    }
  }

  private deliverOne(channel: AlertChannel, e: FramewormEvent, content: AlertContent): void {
    let outcome: DeliveryOutcome = 'sent';
    let error: string | null = null;
    try {
      if (channel === 'log') {
        this.log(`alert [${content.severity}] ${content.title}: ${content.summary}`);
      } else if (this.tray.notify({ title: content.title, body: content.summary, severity: content.severity, model: e.model, about_event: e.event, about_event_id: e.id }) === 0) {
        outcome = 'skipped';
        error = 'no tray listener (the desktop app is not running)';
      }
    } catch (err) {
      outcome = 'failed';
      error = err instanceof Error ? err.message : String(err);
    }
    this.record(e.model, channel, outcome, e.id, e.event, error);
  }

  /** Records one `alert` event; false when the registry could not take it. */
  private record(model: string, channel: string, outcome: DeliveryOutcome, aboutId: number | null, about: string, error: string | null): boolean {
    const fields: JsonObject = { channel, outcome, about_event_id: aboutId, about_event: about, ...(error !== null ? { error } : {}) };
    try {
      this.options.registry.recordEvent(model, 'alert', fields);
      return true;
    } catch (err) {
      this.onError(err);
      return false;
    }
  }

  private context(thresholds: AlertThresholds): AlertContext {
    const registry = this.options.registry;
    return {
      thresholds: { latency_threshold_ms: thresholds.latency_threshold_ms, error_rate_threshold: thresholds.error_rate_threshold },
      lastCheckBefore(e: FramewormEvent): EventOf<'check'> | null {
        if (e.id === null) return null;
        try {
          const events = registry.listEvents(e.model, 200);
          for (let i = events.length - 1; i >= 0; i--) {
            const r = events[i];
            if (r === undefined || r.id >= e.id || r.event !== 'check') continue;
            return { ...r.fields, id: r.id, ts: r.ts, model: r.model, event: 'check' } as unknown as EventOf<'check'>;
          }
        } catch {
          // a model deleted since: the alert goes out without a request count
        }
        return null;
      },
    };
  }
}
