/**
 * The shell's security rules, with Electron's app, session and web contents as fakes (the one
 * faked boundary): navigation only to the app's own page, no new windows or webviews, no
 * downloads, permissions from the allow-list only.
 */
import { EventEmitter } from 'node:events';
import type { App, Session } from 'electron';
import { describe, expect, it } from 'vitest';
import { appPageUrl, hardenSession, isAppPage, isPermissionAllowed, secureWindowOptions } from '../../../main/shell/security.js';

const APP_PAGE = appPageUrl('/opt/Frameworm Deploy/resources/app.asar/renderer/dist/index.html');

/** A cancellable Electron event as the listeners see it. */
class FakeEvent {
  prevented = false;
  constructor(readonly url = '') {}
  preventDefault(): void {
    this.prevented = true;
  }
}

type PermissionRequest = (contents: { getURL(): string }, permission: string, callback: (granted: boolean) => void) => void;
type PermissionCheck = (contents: { getURL(): string } | null, permission: string) => boolean;

class FakeSession extends EventEmitter {
  request: PermissionRequest | null = null;
  check: PermissionCheck | null = null;
  setPermissionRequestHandler(h: PermissionRequest): void {
    this.request = h;
  }
  setPermissionCheckHandler(h: PermissionCheck): void {
    this.check = h;
  }
}

class FakeContents extends EventEmitter {
  openHandler: (() => { action: string }) | null = null;
  setWindowOpenHandler(h: () => { action: string }): void {
    this.openHandler = h;
  }
}

function hardened(): { contents: FakeContents; ses: FakeSession } {
  const app = new EventEmitter();
  const ses = new FakeSession();
  hardenSession(app as unknown as Pick<App, 'on'>, ses as unknown as Session, APP_PAGE);
  const contents = new FakeContents();
  app.emit('web-contents-created', new FakeEvent(), contents);
  return { contents, ses };
}

describe('shell security', () => {
  it('knows the app page by path, whatever its fragment or query', () => {
    expect(APP_PAGE).toBe('file:///opt/Frameworm%20Deploy/resources/app.asar/renderer/dist/index.html');
    expect(isAppPage(APP_PAGE, APP_PAGE)).toBe(true);
    expect(isAppPage(`${APP_PAGE}#/models/mlp`, APP_PAGE)).toBe(true);
    expect(isAppPage(`${APP_PAGE}?x=1`, APP_PAGE)).toBe(true);
    for (const url of [
      'file:///home/me/checkpoints/model.pt', // a file dropped outside the drop zone
      'file:///opt/Frameworm%20Deploy/resources/app.asar/renderer/dist/other.html',
      'file://evil.example/opt/Frameworm%20Deploy/resources/app.asar/renderer/dist/index.html',
      'https://example.com/', 'http://127.0.0.1:8080/', 'javascript:alert(1)', 'not a url', '',
    ]) expect(isAppPage(url, APP_PAGE)).toBe(false);
  });

  it('refuses navigation and redirects away from the app page, webviews and new windows', () => {
    const { contents } = hardened();
    const nav = (url: string): boolean => {
      const e = new FakeEvent(url);
      contents.emit('will-frame-navigate', e);
      return e.prevented;
    };
    expect(nav('file:///home/me/checkpoints/model.pt')).toBe(true);
    expect(nav('https://example.com/')).toBe(true);
    expect(nav(`${APP_PAGE}#/models/mlp`)).toBe(false);
    const redirect = new FakeEvent('https://example.com/');
    contents.emit('will-redirect', redirect);
    expect(redirect.prevented).toBe(true);
    const webview = new FakeEvent();
    contents.emit('will-attach-webview', webview);
    expect(webview.prevented).toBe(true);
    expect(contents.openHandler?.()).toEqual({ action: 'deny' });
  });

  it('cancels downloads and grants only clipboard writes, only to the app page', () => {
    const { ses } = hardened();
    const download = new FakeEvent();
    ses.emit('will-download', download);
    expect(download.prevented).toBe(true);
    const page = { getURL: () => APP_PAGE };
    const other = { getURL: () => 'https://example.com/' };
    const granted: boolean[] = [];
    ses.request?.(page, 'clipboard-sanitized-write', (g) => granted.push(g));
    ses.request?.(page, 'media', (g) => granted.push(g));
    ses.request?.(other, 'clipboard-sanitized-write', (g) => granted.push(g));
    expect(granted).toEqual([true, false, false]);
    expect(ses.check?.(page, 'clipboard-sanitized-write')).toBe(true);
    expect(ses.check?.(page, 'geolocation')).toBe(false);
    expect(ses.check?.(null, 'clipboard-sanitized-write')).toBe(false);
    expect(isPermissionAllowed('notifications', APP_PAGE, APP_PAGE)).toBe(false);
  });

  it('makes every window isolated and sandboxed, with no Node and no webviews', () => {
    expect(secureWindowOptions('/app/dist/preload/index.cjs').webPreferences).toMatchObject({
      preload: '/app/dist/preload/index.cjs', contextIsolation: true, sandbox: true, nodeIntegration: false, webSecurity: true, webviewTag: false,
    });
  });
});
