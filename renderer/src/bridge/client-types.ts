/**
 * What the renderer needs from the control plane: the typed contract of preload/contract.ts, plus
 * push subscriptions and a way to turn a dropped file into a path the control plane can read.
 * Both transports (Electron preload, web mode) implement this one interface.
 */
import type { ContractError, ControlPlaneClient, PushChannel, PushChannels } from '../../../preload/contract';

export type { ContractError, ControlPlaneClient, PushChannel, PushChannels };

/** A push listener for one channel. */
export type PushListener<P extends PushChannel> = (payload: PushChannels[P]) => void;

/** State of the push connection, shown as a banner when it is not open. */
export type ConnectionState = 'connecting' | 'open' | 'closed';

/** The renderer's client: requests, pushes, file import. */
export interface RendererClient extends ControlPlaneClient {
  readonly mode: 'electron' | 'web';
  /** Subscribes to a push channel; returns the unsubscribe function. */
  on<P extends PushChannel>(channel: P, fn: PushListener<P>): () => void;
  /** Subscribes to connection changes (a reconnect means pushes may have been missed). */
  onConnection(fn: (state: ConnectionState) => void): () => void;
  /**
   * Makes a dropped or browsed file readable by the control plane: its path in Electron, an
   * upload (then the server's temporary path) in web mode.
   */
  importFile(file: File): Promise<string>;
  /**
   * Subscribes to the shell asking the page to show a model (a notification or tray click);
   * absent where there is no shell (web mode).
   */
  onNavigate?(fn: (target: { readonly model: string }) => void): () => void;
}

/** An error that crossed the contract, rethrown with its code and detail. */
export class ClientError extends Error {
  override readonly name = 'ClientError';
  readonly code: string;
  readonly detail: unknown;

  constructor(err: ContractError) {
    super(err.message);
    this.code = err.code;
    this.detail = err.detail;
  }
}

/** The error's code when it has one (contract errors and Electron's rethrown ones do). */
export function errorCode(err: unknown): string | null {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return null;
}

/** One line for the user: the message, with the code when there is one. */
export function describeError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const code = errorCode(err);
  return code ? `${message} (${code})` : message;
}
