/**
 * The thin Electron shell: one secure window, the IPC registration of the control plane's
 * handler table, and nothing else. All domain work lives in plain-Node modules under main/.
 * (Electron cannot be launched on the build machines; this file is type-checked, and the same
 * handlers are tested through the agent transport.)
 */
import { app, BrowserWindow, ipcMain, type IpcMainInvokeEvent, type WebContents } from 'electron';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { REQUEST_CHANNELS, type RequestChannel } from '../../preload/contract.js';
import { ControlPlane } from '../agent/control-plane.js';
import { acquireControlLock, controlDirOf } from '../agent/agent-files.js';
import { toContractError } from '../agent/rpc-server.js';
import { hardenSession, secureWindowOptions } from './security.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Only our own top frame loaded from the app bundle may call the control plane. */
function trustedSender(event: IpcMainInvokeEvent, windowContents: WebContents): boolean {
  return event.sender === windowContents && event.senderFrame?.parent === null && (event.senderFrame?.url ?? '').startsWith('file://');
}

async function main(): Promise<void> {
  await app.whenReady();
  const workspace = process.env['FRAMEWORM_WORKSPACE'] ?? process.cwd();
  const releaseLock = acquireControlLock(controlDirOf(workspace));
  const plane = ControlPlane.open(workspace);
  await plane.restore((line) => console.log(line));
  hardenSession();

  const win = new BrowserWindow(secureWindowOptions(path.join(here, '../../preload/index.js')));
  const handlers = plane.handlers(() => app.quit());
  for (const channel of REQUEST_CHANNELS) {
    ipcMain.handle(channel, async (event, args: unknown) => {
      if (!trustedSender(event, win.webContents)) return { error: { code: 'E_AGENT', message: 'untrusted sender' } };
      try {
        const handler = handlers[channel as RequestChannel] as (a: unknown, c: { progress: (p: object) => void }) => Promise<unknown>;
        const result = await handler(args, { progress: (p) => win.webContents.send('progress', { operation: channel, ...p }) });
        return { result };
      } catch (err) {
        return { error: toContractError(err) };
      }
    });
  }
  await win.loadFile(path.join(here, '../../../renderer/index.html'));

  app.on('before-quit', () => {
    void plane.dispose().finally(releaseLock);
  });
  app.on('window-all-closed', () => app.quit());
}

void main();
