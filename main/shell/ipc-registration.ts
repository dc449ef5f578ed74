/**
 * The IPC transport of the control plane: every request channel of the contract is handled by
 * the one dispatch (main/agent/dispatch.ts), after the sender check of security.ts. Electron's
 * `ipcMain` is passed in (only types are imported here), so the registration is tested with a
 * fake `ipcMain` as the one faked boundary.
 */
import type { IpcMain, IpcMainInvokeEvent, WebContents } from 'electron';
import { REQUEST_CHANNELS, type ContractError } from '../../preload/contract.js';
import type { DispatchReply, Dispatcher } from '../agent/dispatch.js';
import { isTrustedSender } from './security.js';

/** The answer to a call from a sender that is not our window's app page. */
export const UNTRUSTED_SENDER: { readonly error: ContractError } = { error: { code: 'E_AGENT', message: 'untrusted sender' } };

/** The answer while no workspace is hosted (between closing one and opening the next). */
export const NO_WORKSPACE: { readonly error: ContractError } = { error: { code: 'E_AGENT', message: 'no workspace is open; open one from the File menu' } };

/** What the registration reads at each call (a workspace switch replaces the dispatch). */
export interface IpcRoute {
  /** The current control plane's dispatch, or null while none is hosted. */
  dispatch(): Dispatcher | null;
  /** The window whose app page may call (null before it exists). */
  window(): WebContents | null;
  /** The `file://` URL of the app's page. */
  readonly appPage: string;
}

/**
 * Registers a handler for every request channel and returns the function that removes them.
 * A call's progress and pushes carry the caller's call id (so two deploys never mix); its
 * signal aborts when the page that made it goes away (reload, navigation, close), as the CLI's
 * does when its connection closes.
 */
export function registerIpc(ipcMain: Pick<IpcMain, 'handle' | 'removeHandler'>, route: IpcRoute): () => void {
  for (const channel of REQUEST_CHANNELS) {
    ipcMain.handle(channel, async (event: IpcMainInvokeEvent, args: unknown, callId: unknown): Promise<DispatchReply> => {
      if (!isTrustedSender(event, route.window(), route.appPage)) return UNTRUSTED_SENDER;
      const dispatch = route.dispatch();
      if (!dispatch) return NO_WORKSPACE;
      const sender = event.sender;
      const gone = new AbortController();
      const abort = (): void => gone.abort();
      // A new document (reload, navigation) ends the page's calls; a #fragment change does not.
      const navigating = (details: { readonly isSameDocument: boolean; readonly isMainFrame: boolean }): void => {
        if (details.isMainFrame && !details.isSameDocument) abort();
      };
      sender.once('destroyed', abort);
      sender.on('did-start-navigation', navigating);
      const call_id = typeof callId === 'string' ? callId : '';
      try {
        return await dispatch(channel, args, {
          progress: (p) => {
            if (!sender.isDestroyed()) sender.send('progress', { ...p, operation: channel, call_id });
          },
          push: (pushChannel, payload) => {
            if (!sender.isDestroyed()) sender.send('push', { channel: pushChannel, payload, call_id });
          },
          signal: gone.signal,
        });
      } finally {
        sender.off('destroyed', abort);
        sender.off('did-start-navigation', navigating);
      }
    });
  }
  return () => {
    for (const channel of REQUEST_CHANNELS) ipcMain.removeHandler(channel);
  };
}
