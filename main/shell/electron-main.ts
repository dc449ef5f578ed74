/**
 * The thin Electron shell: one secure window and the IPC transport of the control plane. This
 * process hosts the workspace's control plane through the same host function as `frameworm
 * agent` (lock, restore, RPC server and agent record), so the CLI keeps working while the GUI
 * runs; quitting hands the workspace back to the headless agent. All domain work lives in
 * plain-Node modules under main/. (Electron cannot be launched on the build machines; this file
 * is type-checked, and the host and dispatch are tested through the agent.)
 */
import { app, BrowserWindow, ipcMain, type IpcMainInvokeEvent, type WebContents } from 'electron';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { REQUEST_CHANNELS, type ContractError } from '../../preload/contract.js';
import { endHosting, takeOverControlPlane, type ControlPlaneHost, type QuitMode } from '../agent/host.js';
import type { Dispatcher } from '../agent/dispatch.js';
import { hardenSession, secureWindowOptions } from './security.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Only our own top frame loaded from the app bundle may call the control plane. */
function trustedSender(event: IpcMainInvokeEvent, windowContents: WebContents): boolean {
  return event.sender === windowContents && event.senderFrame?.parent === null && (event.senderFrame?.url ?? '').startsWith('file://');
}

const UNTRUSTED: { readonly error: ContractError } = { error: { code: 'E_AGENT', message: 'untrusted sender' } };

/**
 * Serves every request channel over IPC through the one dispatch. A call's progress and pushes
 * carry the caller's call id (so two deploys never mix); its signal aborts when the window
 * that made it goes away (reload, close), as the CLI's does when its connection closes.
 */
function registerIpc(dispatch: Dispatcher, win: BrowserWindow): void {
  for (const channel of REQUEST_CHANNELS) {
    ipcMain.handle(channel, async (event, args: unknown, callId: unknown) => {
      if (!trustedSender(event, win.webContents)) return UNTRUSTED;
      const sender = event.sender;
      const gone = new AbortController();
      const abort = (): void => gone.abort();
      sender.once('destroyed', abort);
      sender.once('did-start-navigation', abort);
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
        sender.off('did-start-navigation', abort);
      }
    });
  }
}

async function main(): Promise<void> {
  // One app per user: a second launch focuses the first window instead.
  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return;
  }
  await app.whenReady();
  hardenSession();
  const workspace = process.env['FRAMEWORM_WORKSPACE'] ?? process.cwd();
  let quitMode: QuitMode = 'hand_over';
  const host: ControlPlaneHost = await takeOverControlPlane({
    workspace,
    log: (line) => console.log(line),
    // `frameworm agent stop` against the app stops everything, as it does with the agent.
    onShutdownRequest: () => {
      quitMode = 'stop_everything';
      app.quit();
    },
    entry: process.execPath,
  });

  const win = new BrowserWindow(secureWindowOptions(path.join(here, '../../preload/index.cjs')));
  registerIpc(host.dispatch, win);
  // The control plane's own pushes (events, samples, tasks) go to the window without a call id.
  const stopPushes = host.plane.pushes.subscribe((m) => {
    if (!win.webContents.isDestroyed()) win.webContents.send('push', m);
  });
  app.on('second-instance', () => {
    if (win.isMinimized()) win.restore();
    win.focus();
  });

  let ended = false;
  app.on('before-quit', (event) => {
    if (ended) return;
    // Quit only once the workspace is handed over (or everything stopped): nothing orphaned.
    event.preventDefault();
    ended = true;
    stopPushes();
    void endHosting(host, quitMode)
      .catch((err: unknown) => console.error(`frameworm: ${String(err)}`))
      .finally(() => app.exit(0));
  });
  app.on('window-all-closed', () => app.quit());
  await win.loadFile(path.join(here, '../../../renderer/dist/index.html'));
}

void main();
