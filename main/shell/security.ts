/**
 * The shell's security rules in one module: window options, which page may run in a window,
 * which IPC senders are trusted, which permissions a page gets. Electron objects are passed in
 * (only types are imported), so the rules are tested with Electron as the one faked boundary.
 */
import { pathToFileURL } from 'node:url';
import type { App, BrowserWindowConstructorOptions, IpcMainInvokeEvent, Session, WebContents } from 'electron';

/** Every window is made from these options: isolated, sandboxed, no Node in the page. */
export function secureWindowOptions(preload: string): BrowserWindowConstructorOptions {
  return {
    width: 1280,
    height: 820,
    title: 'Frameworm Deploy',
    show: false,
    webPreferences: {
      preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      spellcheck: false,
    },
  };
}

/** The `file://` URL of the app's own page (renderer/dist/index.html). */
export function appPageUrl(indexHtml: string): string {
  return pathToFileURL(indexHtml).href;
}

/**
 * True when `url` is the app's own page (any #fragment or ?query). Everything else — another
 * file (a checkpoint dropped outside the drop zone navigates to `file://…/model.pt`), another
 * scheme, a remote page — is refused.
 */
export function isAppPage(url: string, appPage: string): boolean {
  let target: URL;
  let own: URL;
  try {
    target = new URL(url);
    own = new URL(appPage);
  } catch {
    return false;
  }
  return target.protocol === 'file:' && target.host === own.host && target.pathname === own.pathname;
}

/** The parts of an IPC event the sender check reads. */
export type SenderInfo = Pick<IpcMainInvokeEvent, 'sender' | 'senderFrame'>;

/**
 * True when an IPC call comes from our window's top frame showing the app's own page: not a
 * subframe, not another window, not a page the window was navigated to.
 */
export function isTrustedSender(event: SenderInfo, window: WebContents | null, appPage: string): boolean {
  const frame = event.senderFrame;
  return window !== null && event.sender === window && frame !== null && frame.parent === null && isAppPage(frame.url, appPage);
}

/** Permissions the app's page may have: writing to the clipboard (the copy buttons). Nothing else. */
const ALLOWED_PERMISSIONS: ReadonlySet<string> = new Set(['clipboard-sanitized-write']);

/** True when `permission` is allowed for a page at `pageUrl`. */
export function isPermissionAllowed(permission: string, pageUrl: string, appPage: string): boolean {
  return ALLOWED_PERMISSIONS.has(permission) && isAppPage(pageUrl, appPage);
}

/**
 * Applies the rules to the session and to every web contents the app creates: permissions
 * from the allow-list only, no downloads, navigation and redirects only to the app's own page,
 * no new windows, no webviews.
 */
export function hardenSession(app: Pick<App, 'on'>, session: Session, appPage: string): void {
  session.setPermissionRequestHandler((contents, permission, callback) => callback(isPermissionAllowed(permission, contents.getURL(), appPage)));
  session.setPermissionCheckHandler((contents, permission) => contents !== null && isPermissionAllowed(permission, contents.getURL(), appPage));
  session.on('will-download', (event) => event.preventDefault());
  app.on('web-contents-created', (_event, contents) => {
    contents.on('will-frame-navigate', (event) => {
      if (!isAppPage(event.url, appPage)) event.preventDefault();
    });
    contents.on('will-redirect', (event) => {
      if (!isAppPage(event.url, appPage)) event.preventDefault();
    });
    contents.on('will-attach-webview', (event) => event.preventDefault());
    contents.setWindowOpenHandler(() => ({ action: 'deny' }));
  });
}
