/**
 * The Electron IPC transport with Electron as the one faked boundary: a fake `ipcMain` and fake
 * web contents/frames, and the real dispatch of a real control plane behind them.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { IpcMain, IpcMainInvokeEvent, WebContents } from 'electron';
import { afterAll, describe, expect, it } from 'vitest';
import { ControlPlane } from '../../../main/agent/control-plane.js';
import type { DispatchReply } from '../../../main/agent/dispatch.js';
import { NO_WORKSPACE, registerIpc, UNTRUSTED_SENDER } from '../../../main/shell/ipc-registration.js';
import { appPageUrl } from '../../../main/shell/security.js';
import { REQUEST_CHANNELS } from '../../../preload/contract.js';

const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-ipc-'));
const plane = ControlPlane.open(ws);
const dispatch = plane.dispatcher(() => {});
const APP_PAGE = appPageUrl('/opt/frameworm/resources/app.asar/renderer/dist/index.html');

afterAll(async () => {
  await plane.dispose();
  fs.rmSync(ws, { recursive: true, force: true });
});

type Listener = (event: IpcMainInvokeEvent, ...args: unknown[]) => Promise<DispatchReply>;

/** Electron's ipcMain, reduced to the handler table it keeps. */
class FakeIpcMain {
  readonly handlers = new Map<string, Listener>();
  handle(channel: string, listener: Listener): void {
    if (this.handlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`);
    this.handlers.set(channel, listener);
  }
  removeHandler(channel: string): void {
    this.handlers.delete(channel);
  }
}

/** A window's web contents: events, send, destroyed. */
class FakeContents extends EventEmitter {
  readonly sent: [string, unknown][] = [];
  destroyed = false;
  send(channel: string, message: unknown): void {
    this.sent.push([channel, message]);
  }
  isDestroyed(): boolean {
    return this.destroyed;
  }
}

const asContents = (c: FakeContents): WebContents => c as unknown as WebContents;
const event = (sender: FakeContents, url = `${APP_PAGE}#/models`, parent: object | null = null): IpcMainInvokeEvent =>
  ({ sender, senderFrame: { url, parent } }) as unknown as IpcMainInvokeEvent;

function setup(dispatcher: typeof dispatch | null = dispatch): { ipc: FakeIpcMain; win: FakeContents; unregister: () => void } {
  const ipc = new FakeIpcMain();
  const win = new FakeContents();
  const unregister = registerIpc(ipc as unknown as Pick<IpcMain, 'handle' | 'removeHandler'>, { dispatch: () => dispatcher, window: () => asContents(win), appPage: APP_PAGE });
  return { ipc, win, unregister };
}

function handler(ipc: FakeIpcMain, channel: string): Listener {
  const h = ipc.handlers.get(channel);
  if (!h) throw new Error(`no handler for ${channel}`);
  return h;
}

describe('IPC registration (fake ipcMain, real dispatch)', () => {
  it('registers exactly the contract\'s request channels, and removes them again', () => {
    const { ipc, unregister } = setup();
    expect([...ipc.handlers.keys()].sort()).toEqual([...REQUEST_CHANNELS].sort());
    unregister();
    expect(ipc.handlers.size).toBe(0);
  });

  it('routes every channel through the one dispatch (same answers as the agent)', async () => {
    const { ipc, win } = setup();
    expect(await handler(ipc, 'agent.info')(event(win), {}, 'c1')).toMatchObject({ result: { pid: process.pid, workspace: ws } });
    expect(await handler(ipc, 'deploy.list')(event(win), undefined, 'c2')).toEqual({ result: [] });
    // Errors cross as data, exactly as dispatch serialises them.
    expect(await handler(ipc, 'deploy.status')(event(win), { name: 'nope' }, 'c3')).toEqual(await dispatch('deploy.status', { name: 'nope' }, {
      progress: () => {}, push: () => {}, signal: new AbortController().signal,
    }));
    expect(await handler(ipc, 'deploy.list')(event(win), [1, 2], 'c4')).toMatchObject({ error: { code: 'E_USAGE', message: 'the argument of deploy.list must be a JSON object' } });
    // Every registered channel answers through dispatch: none falls through to "unknown channel".
    for (const channel of REQUEST_CHANNELS) {
      if (channel === 'agent.shutdown' || channel === 'push.follow' || channel === 'events.follow') continue;
      const reply = await handler(ipc, channel)(event(win), {}, `all-${channel}`);
      expect('error' in reply ? reply.error.message : '').not.toMatch(/unknown control-plane channel/);
    }
  });

  it('refuses senders other than the window\'s top frame on the app page', async () => {
    const { ipc, win } = setup();
    const h = handler(ipc, 'agent.info');
    const other = new FakeContents();
    expect(await h(event(other), {}, 'x')).toEqual(UNTRUSTED_SENDER);
    expect(await h(event(win, `${APP_PAGE}`, { url: APP_PAGE }), {}, 'x')).toEqual(UNTRUSTED_SENDER);
    expect(await h(event(win, 'file:///home/me/model.pt'), {}, 'x')).toEqual(UNTRUSTED_SENDER);
    expect(await h(event(win, 'https://example.com/'), {}, 'x')).toEqual(UNTRUSTED_SENDER);
    expect(await h({ sender: win, senderFrame: null } as unknown as IpcMainInvokeEvent, {}, 'x')).toEqual(UNTRUSTED_SENDER);
    expect(await h(event(win, APP_PAGE), {}, 'x')).toMatchObject({ result: { pid: process.pid } });
  });

  it('answers "no workspace" while none is hosted', async () => {
    const { ipc, win } = setup(null);
    expect(await handler(ipc, 'deploy.list')(event(win), {}, 'c')).toEqual(NO_WORKSPACE);
  });

  it('tags progress with the call id, and ends a call when its page navigates away (not on a #fragment change)', async () => {
    const { ipc, win } = setup();
    const follow = handler(ipc, 'push.follow')(event(win), { channels: ['deployment.changed'] }, 'call-7');
    await new Promise<void>((resolve) => {
      const poll = (): void => (win.sent.some(([c]) => c === 'progress') ? resolve() : void setImmediate(poll));
      poll();
    });
    expect(win.sent[0]).toEqual(['progress', { step: 'subscribed', message: 'following the control plane', operation: 'push.follow', call_id: 'call-7' }]);
    plane.pushes.publish('deployment.changed', { name: 'mlp' });
    expect(win.sent[1]).toEqual(['push', { channel: 'deployment.changed', payload: { name: 'mlp' }, call_id: 'call-7' }]);

    win.emit('did-start-navigation', { isSameDocument: true, isMainFrame: true });
    win.emit('did-start-navigation', { isSameDocument: false, isMainFrame: false });
    plane.pushes.publish('deployment.changed', { name: 'still' });
    expect(win.sent).toHaveLength(3);
    win.emit('did-start-navigation', { isSameDocument: false, isMainFrame: true });
    expect(await follow).toEqual({ result: { ended: true } });
    // The call let go of the window's events.
    expect(win.listenerCount('did-start-navigation')).toBe(0);
    expect(win.listenerCount('destroyed')).toBe(0);
  });

  it('ends a call when its window is destroyed, and sends nothing to it afterwards', async () => {
    const { ipc, win } = setup();
    const follow = handler(ipc, 'push.follow')(event(win), {}, 'call-8');
    await new Promise<void>((resolve) => {
      const poll = (): void => (win.sent.length > 0 ? resolve() : void setImmediate(poll));
      poll();
    });
    win.destroyed = true;
    win.emit('destroyed');
    expect(await follow).toEqual({ result: { ended: true } });
    const before = win.sent.length;
    plane.pushes.publish('deployment.changed', { name: 'late' });
    expect(win.sent).toHaveLength(before);
  });
});
