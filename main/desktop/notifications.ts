/**
 * Which system notifications the desktop app shows, and how often. Sources: the alert router's
 * `tray` channel (breach streak, rollback, failed rollback, drift — already filtered by the
 * config's `alert_on` and by freshness) and the task stream (a failed deploy). The same model
 * and kind within a window collapse into the first notification, so a flapping deployment does
 * not bury the desktop. A click opens the model: the notification carries an action id that
 * the shell maps to a window navigation.
 */
import type { TaskView } from '../../preload/contract.js';
import type { AlertSeverity } from '../alerts/alert-rules.js';
import type { TrayNotification } from '../alerts/tray-notifier.js';
import { encodeAction } from './desktop-actions.js';

/** The kinds of notification the app shows. */
export type NotificationKind = 'breach_streak' | 'rollback' | 'rollback_failed' | 'drift' | 'deploy_failed';

/** One notification, ready for `new Notification({title, body})`. */
export interface DesktopNotification {
  readonly kind: NotificationKind;
  readonly model: string;
  readonly title: string;
  readonly body: string;
  readonly severity: AlertSeverity;
  /** What a click does (an encoded DesktopAction: open this model). */
  readonly action_id: string;
}

/**
 * The kind of a tray-channel alert, or null for alerts that get no system notification
 * (`rollback_started`: the rollback's own outcome follows within seconds). A failed rollback is
 * the rollback rule's critical alert (main/alerts/alert-rules.ts: success is a warning).
 */
export function kindOfAlert(n: TrayNotification): NotificationKind | null {
  switch (n.about_event) {
    case 'check':
      return 'breach_streak';
    case 'rollback':
      return n.severity === 'critical' ? 'rollback_failed' : 'rollback';
    case 'drift':
      return 'drift';
    default:
      return null;
  }
}

/** The notification for a tray-channel alert, or null when it gets none. */
export function notificationFromAlert(n: TrayNotification): DesktopNotification | null {
  const kind = kindOfAlert(n);
  if (!kind) return null;
  return { kind, model: n.model, title: n.title, body: n.body, severity: n.severity, action_id: encodeAction({ type: 'open_model', name: n.model }) };
}

/** The notification for a task update: only a deploy that failed (a cancelled one is the user's doing). */
export function notificationFromTask(t: TaskView): DesktopNotification | null {
  if (t.channel !== 'deploy.start' || t.state !== 'failed') return null;
  const model = t.name ?? 'a model';
  return {
    kind: 'deploy_failed',
    model,
    title: `deploy of ${model} failed`,
    body: t.error?.message ?? t.message ?? 'the deploy stopped with an error',
    severity: 'critical',
    action_id: encodeAction(t.name ? { type: 'open_model', name: t.name } : { type: 'open' }),
  };
}

/** Options of NotificationFeed. */
export interface NotificationFeedOptions {
  /** Shows one notification (the shell: `new Notification(...).show()`). */
  readonly show: (n: DesktopNotification) => void;
  /** Same model and kind within this many ms collapse into the first (default 5 minutes). */
  readonly windowMs?: number;
  /** The clock, in epoch ms (injectable for tests). */
  readonly now?: () => number;
}

export const DEFAULT_DEDUPE_WINDOW_MS = 5 * 60_000;

/** Turns alerts and task updates into notifications, deduplicated per model and kind. */
export class NotificationFeed {
  private readonly lastShown = new Map<string, number>();
  private readonly windowMs: number;
  private readonly now: () => number;

  constructor(private readonly options: NotificationFeedOptions) {
    this.windowMs = options.windowMs ?? DEFAULT_DEDUPE_WINDOW_MS;
    this.now = options.now ?? Date.now;
  }

  /** A tray-channel alert; true when it was shown. */
  fromAlert(n: TrayNotification): boolean {
    return this.offer(notificationFromAlert(n));
  }

  /** A task update from the push stream; true when it was shown. */
  fromTask(t: TaskView): boolean {
    return this.offer(notificationFromTask(t));
  }

  /** Shows `n` unless the same model and kind was shown within the window; true when shown. */
  offer(n: DesktopNotification | null): boolean {
    if (!n) return false;
    const t = this.now();
    // Forget what fell out of the window, so the map holds at most what the window can.
    for (const [key, at] of this.lastShown) if (t - at >= this.windowMs) this.lastShown.delete(key);
    const key = `${n.model}\u0000${n.kind}`;
    if (this.lastShown.has(key)) return false;
    this.lastShown.set(key, t);
    this.options.show(n);
    return true;
  }
}
