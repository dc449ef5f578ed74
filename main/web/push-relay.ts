/**
 * The web server's one long-running subscription to the control plane (`push.follow`), whose
 * messages it fans out to every WebSocket. When the agent goes away (stopped, restarted) the
 * relay waits and subscribes again to whichever agent then runs; it never starts one itself.
 */
import type { PushChannel, PushChannels } from '../../preload/contract.js';
import type { PushMessage } from '../agent/push-hub.js';
import type { RpcClient } from '../agent/rpc-client.js';

const RETRY_MS = 1000;

/** Options of a PushRelay. */
export interface PushRelayOptions {
  /** The running agent's client, or null when none answers now. */
  readonly connect: () => Promise<RpcClient | null>;
  /** Hears every push message. */
  readonly deliver: (message: PushMessage) => void;
  /** Hears connection changes, for the server's log. */
  readonly log: (line: string) => void;
}

/** Keeps one `push.follow` call open to the workspace's agent. */
export class PushRelay {
  private readonly stop = new AbortController();
  private running: Promise<void> | null = null;
  private markReady: () => void = () => {};
  /** Resolves once the first subscription is in place (the agent acknowledged it). */
  readonly ready: Promise<void> = new Promise((resolve) => (this.markReady = resolve));

  constructor(private readonly options: PushRelayOptions) {}

  start(): void {
    this.running ??= this.loop();
  }

  private async loop(): Promise<void> {
    let connected = false;
    while (!this.stop.signal.aborted) {
      const client = await this.options.connect().catch(() => null);
      if (client && !this.stop.signal.aborted) {
        try {
          await client.invoke(
            'push.follow',
            {},
            (p) => {
              if (p.step !== 'subscribed') return;
              if (!connected) this.options.log('following the control plane');
              connected = true;
              this.markReady();
            },
            <P extends PushChannel>(channel: P, payload: PushChannels[P]) => this.options.deliver({ channel, payload } as PushMessage),
            this.stop.signal,
          );
        } catch {
          // The agent went away or was restarted: fall through and look for it again.
        }
      }
      if (this.stop.signal.aborted) break;
      if (connected) this.options.log('lost the control plane; waiting for it');
      connected = false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, RETRY_MS);
        this.stop.signal.addEventListener('abort', () => {
          clearTimeout(t);
          resolve();
        }, { once: true });
      });
    }
  }

  async dispose(): Promise<void> {
    this.stop.abort();
    await this.running;
  }
}
