/**
 * The `tray` alert channel: an in-process fan-out that the desktop shell (tray icon, system
 * notifications) and the GUI's push channel subscribe to. Domain code never imports electron;
 * the shell turns each notification into `new Notification({title, body}).show()`.
 */
import type { AlertSeverity } from './alert-rules.js';

/** One notification for the tray. */
export interface TrayNotification {
  readonly title: string;
  readonly body: string;
  readonly severity: AlertSeverity;
  readonly model: string;
  readonly about_event: string;
  readonly about_event_id: number | null;
}

export type TrayListener = (notification: TrayNotification) => void;

/** Synchronous fan-out of tray notifications; a listener that throws does not stop the others. */
export class TrayNotifier {
  private readonly listeners = new Set<TrayListener>();

  constructor(private readonly onListenerError: (err: unknown) => void = (err) => process.emitWarning(`tray listener failed: ${String(err)}`)) {}

  /** Calls `listener` for every notification from now on; returns the unsubscribe function. */
  subscribe(listener: TrayListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Delivers one notification; returns how many listeners took it without throwing. */
  notify(notification: TrayNotification): number {
    let delivered = 0;
    for (const l of [...this.listeners]) {
      try {
        l(notification);
        delivered++;
      } catch (err) {
        this.onListenerError(err);
      }
    }
    return delivered;
  }

  get size(): number {
    return this.listeners.size;
  }
}
