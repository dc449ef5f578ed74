/**
 * The thin Electron shell: one secure window, the IPC transport, the tray, notifications and
 * the menus. This process hosts the workspace's control plane through the same host function
 * as `frameworm agent` (lock, restore, RPC server and agent record), so the CLI keeps working
 * while the GUI runs; quitting hands the workspace back to the headless agent (or stops
 * everything). Every decision lives in plain modules — main/desktop (tray model, notification
 * dedupe, actions, workspace choice), security.ts, ipc-registration.ts, tray-menu.ts — which
 * are tested with Electron as the faked boundary; this file only wires them to Electron.
 * (Electron cannot be launched on the build machines; this file is type-checked.)
 */
import { app, BrowserWindow, dialog, ipcMain, Menu, nativeImage, Notification, session, Tray } from 'electron';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TaskView } from '../../preload/contract.js';
import { endHosting, takeOverControlPlane, type ControlPlaneHost, type QuitMode } from '../agent/host.js';
import { assertNever, toFramewormError } from '../common/errors.js';
import { decodeAction, type DesktopAction } from '../desktop/desktop-actions.js';
import { NotificationFeed, type DesktopNotification } from '../desktop/notifications.js';
import { TrayNotifier } from '../alerts/index.js';
import { rollbackPrompt, TRAY_ICON_FILES, type TrayHealth, type TrayModel } from '../desktop/tray-model.js';
import { readTrayInputs, TrayUpdater } from '../desktop/tray-source.js';
import { rememberedWorkspaceFile, rememberWorkspace, startWorkspace } from '../desktop/workspace-choice.js';
import { registerIpc } from './ipc-registration.js';
import { appPageUrl, hardenSession, secureWindowOptions } from './security.js';
import { menuTemplate } from './tray-menu.js';

const here = path.dirname(fileURLToPath(import.meta.url));
// dist/main/shell → the package root (the app.asar when packaged).
const root = path.resolve(here, '../../..');
const PRELOAD = path.join(root, 'dist/preload/index.cjs');
const INDEX_HTML = path.join(root, 'renderer/dist/index.html');
const APP_PAGE = appPageUrl(INDEX_HTML);
/** Container state changes without an event; the tray re-reads this often besides on pushes. */
const TRAY_POLL_MS = 5000;

const trayIcon = (health: TrayHealth): Electron.NativeImage => nativeImage.createFromPath(path.join(root, 'assets', TRAY_ICON_FILES[health]));

class DesktopShell {
  private host: ControlPlaneHost | null = null;
  private win: BrowserWindow | null = null;
  private tray: Tray | null = null;
  private quitMode: QuitMode = 'hand_over';
  private quitting = false;
  /** Whether the window has loaded the page (it loads once the first workspace is hosted). */
  private pageLoaded = false;
  /** Shown notifications, held so a click still reaches us (an unreferenced one may be collected). */
  private readonly shown = new Set<Notification>();
  /** Undoes what was attached to the current host (subscriptions, tray updates). */
  private detachHost: () => void = () => {};
  private readonly notifications = new NotificationFeed({ show: (n) => this.notify(n) });
  /**
   * The tray alert channel of every workspace this app hosts: subscribed once, before hosting,
   * so alerts routed during a workspace's restore are shown too.
   */
  private readonly trayAlerts = new TrayNotifier();

  async start(): Promise<void> {
    hardenSession(app, session.defaultSession, APP_PAGE);
    registerIpc(ipcMain, { dispatch: () => this.host?.dispatch ?? null, window: () => this.win?.webContents ?? null, appPage: APP_PAGE });
    this.createWindow();
    this.tray = new Tray(trayIcon('healthy'));
    this.tray.setToolTip('Frameworm Deploy');
    this.tray.on('click', () => this.act({ type: 'open' }));
    this.setAppMenu();
    this.trayAlerts.subscribe((n) => this.notifications.fromAlert(n));
    app.on('second-instance', () => this.act({ type: 'open' }));
    app.on('activate', () => this.act({ type: 'open' }));
    app.on('before-quit', (event) => this.beforeQuit(event));
    app.on('window-all-closed', () => app.quit());

    const workspace = startWorkspace(process.env, rememberedWorkspaceFile(app.getPath('userData'))) ?? (await this.askWorkspace());
    if (!workspace) {
      app.quit();
      return;
    }
    await this.openWorkspace(workspace);
  }

  private createWindow(): void {
    const win = new BrowserWindow(secureWindowOptions(PRELOAD));
    this.win = win;
    this.pageLoaded = false;
    win.once('ready-to-show', () => win.show());
    // With a tray, closing the window hides it: serving and the watcher go on in this process.
    win.on('close', (event) => {
      if (!this.quitting && this.tray) {
        event.preventDefault();
        win.hide();
      }
    });
  }

  /** Loads the page, or reloads it so it shows the workspace hosted now. */
  private loadPage(): void {
    const win = this.win;
    if (!win || win.isDestroyed()) return;
    if (this.pageLoaded) {
      win.webContents.reload();
      return;
    }
    this.pageLoaded = true;
    void win.loadFile(INDEX_HTML);
  }

  private setAppMenu(): void {
    const act = (action: DesktopAction) => () => this.act(action);
    Menu.setApplicationMenu(Menu.buildFromTemplate([
      {
        label: 'File',
        submenu: [
          { label: 'Open Workspace…', accelerator: 'CmdOrCtrl+O', click: act({ type: 'open_workspace' }) },
          { type: 'separator' },
          { label: 'Quit, Keep Serving (hand over to the agent)', accelerator: 'CmdOrCtrl+Q', click: act({ type: 'quit', mode: 'hand_over' }) },
          { label: 'Quit and Stop Everything', click: act({ type: 'quit', mode: 'stop_everything' }) },
        ],
      },
      { role: 'editMenu' },
      { role: 'viewMenu' },
      { role: 'windowMenu' },
    ]));
  }

  /** Hosts `workspace`, first handing the current one (if any) over to its headless agent. */
  private async openWorkspace(workspace: string): Promise<void> {
    if (this.host) {
      this.detachHost();
      const previous = this.host;
      this.host = null;
      await endHosting(previous, 'hand_over');
    }
    try {
      this.host = await takeOverControlPlane({
        workspace,
        log: (line) => console.log(line),
        // `frameworm agent stop` against the app stops everything, as it does with the agent.
        onShutdownRequest: () => this.act({ type: 'quit', mode: 'stop_everything' }),
        entry: process.execPath,
        tray: this.trayAlerts,
      });
    } catch (err) {
      dialog.showErrorBox('Cannot open the workspace', `${workspace}: ${toFramewormError(err).message}`);
      this.loadPage();
      return;
    }
    rememberWorkspace(rememberedWorkspaceFile(app.getPath('userData')), workspace);
    this.attachHost(this.host);
    this.loadPage();
  }

  /** Pushes to the window, the tray kept current, notifications from alerts and failed deploys. */
  private attachHost(host: ControlPlaneHost): void {
    const updater = new TrayUpdater({ read: () => readTrayInputs(host.plane), render: (m) => this.renderTray(m), onError: (err) => console.error(`tray: ${String(err)}`) });
    const stopPushes = host.plane.pushes.subscribe((m) => {
      const contents = this.win?.webContents;
      if (contents && !contents.isDestroyed()) contents.send('push', m);
      if (m.channel === 'task') this.notifications.fromTask(m.payload as TaskView);
      if (m.channel === 'deployment.changed' || m.channel === 'watcher.state') void updater.refresh();
    });
    const poll = setInterval(() => void updater.refresh(), TRAY_POLL_MS);
    void updater.refresh();
    this.detachHost = () => {
      clearInterval(poll);
      stopPushes();
      updater.dispose();
    };
  }

  private renderTray(model: TrayModel): void {
    if (!this.tray) return;
    this.tray.setImage(trayIcon(model.health));
    this.tray.setToolTip(model.tooltip);
    this.tray.setContextMenu(Menu.buildFromTemplate(menuTemplate(model.items, (a) => this.act(a))));
  }

  private notify(n: DesktopNotification): void {
    if (!Notification.isSupported()) return;
    const shown = new Notification({ title: n.title, body: n.body, urgency: n.severity === 'critical' ? 'critical' : 'normal' });
    this.shown.add(shown);
    shown.on('click', () => {
      this.shown.delete(shown);
      const action = decodeAction(n.action_id);
      if (action) this.act(action);
    });
    shown.on('close', () => this.shown.delete(shown));
    shown.show();
  }

  /** Does what a menu item, tray click or notification click asks for. */
  private act(action: DesktopAction): void {
    switch (action.type) {
      case 'open':
        this.showWindow();
        return;
      case 'open_model':
        this.showWindow();
        this.win?.webContents.send('navigate', { model: action.name });
        return;
      case 'rollback':
        void this.rollback(action.name);
        return;
      case 'open_workspace':
        void this.askWorkspace().then((ws) => (ws ? this.openWorkspace(ws) : undefined));
        return;
      case 'quit':
        this.quitMode = action.mode;
        app.quit();
        return;
      default:
        assertNever(action);
    }
  }

  private showWindow(): void {
    if (!this.win || this.win.isDestroyed()) {
      this.createWindow();
      this.loadPage();
    }
    const win = this.win;
    if (!win) return;
    if (win.isMinimized()) win.restore();
    win.show();
    win.focus();
  }

  private async askWorkspace(): Promise<string | null> {
    const options: Electron.OpenDialogOptions = { title: 'Open a Frameworm workspace', properties: ['openDirectory', 'createDirectory'] };
    const picked = this.win ? await dialog.showOpenDialog(this.win, options) : await dialog.showOpenDialog(options);
    return picked.canceled ? null : (picked.filePaths[0] ?? null);
  }

  /** A tray rollback: states its effect, asks, then runs it through the one dispatch. */
  private async rollback(name: string): Promise<void> {
    const host = this.host;
    if (!host) return;
    const prompt = rollbackPrompt(await readTrayInputs(host.plane), name);
    if (!prompt) return;
    const answer = await dialog.showMessageBox({ type: 'question', buttons: ['Roll back', 'Cancel'], defaultId: 1, cancelId: 1, message: prompt.message, detail: prompt.detail });
    if (answer.response !== 0) return;
    const reply = await host.dispatch('deploy.rollback', { name, reason: 'rolled back from the tray', actor: 'desktop' }, {
      progress: () => {}, push: () => {}, signal: new AbortController().signal,
    });
    if ('error' in reply) dialog.showErrorBox(`Rollback of ${name} failed`, reply.error.message);
  }

  /** Quit only once the workspace is handed over (or everything stopped): nothing orphaned. */
  private beforeQuit(event: Electron.Event): void {
    if (this.quitting) return;
    this.quitting = true;
    const host = this.host;
    if (!host) return;
    event.preventDefault();
    this.detachHost();
    this.host = null;
    void endHosting(host, this.quitMode)
      .catch((err: unknown) => console.error(`frameworm: ${String(err)}`))
      .finally(() => app.exit(0));
  }
}

async function main(): Promise<void> {
  // One app per user: a second launch focuses the first window instead.
  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return;
  }
  await app.whenReady();
  await new DesktopShell().start();
}

void main();
