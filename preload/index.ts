/**
 * The preload: exposes the typed contract to the renderer as narrow functions (`invoke`, `on`),
 * plus `pathForFile` (a dropped or browsed file's path: `File.path` is gone since Electron 32)
 * and `onNavigate` (the shell asks the page to show a model: a notification or tray click).
 * It imports only electron and the contract, and is bundled into one CommonJS file, so the
 * renderer's sandbox stays on (a sandboxed preload can be neither an ES module nor split).
 */
import { contextBridge, ipcRenderer, webUtils, type IpcRendererEvent } from 'electron';
import type {
  ChannelArgs, ChannelResult, ContractError, ProgressEvent, PushChannel, PushChannels, RendererBridge, RequestChannel,
} from './contract.js';

/** A push as main sends it: with the call id of the invoke it belongs to, or none for the plane's own pushes. */
interface PushEnvelope {
  readonly channel: PushChannel;
  readonly payload: PushChannels[PushChannel];
  readonly call_id?: string;
}

let calls = 0;

const bridge: RendererBridge = {
  async invoke<C extends RequestChannel>(
    channel: C,
    args: ChannelArgs<C>,
    onProgress?: (p: ProgressEvent) => void,
    onPush?: <P extends PushChannel>(channel: P, payload: PushChannels[P]) => void,
  ): Promise<ChannelResult<C>> {
    // Each call has its own id, so the progress of two deploys running at once never mixes.
    const callId = `${Date.now().toString(36)}-${++calls}`;
    const progressListener = (_e: IpcRendererEvent, p: ProgressEvent & { call_id?: string }): void => {
      if (p.call_id === callId) onProgress?.(p);
    };
    const pushListener = (_e: IpcRendererEvent, m: PushEnvelope): void => {
      if (m.call_id === callId) onPush?.(m.channel, m.payload);
    };
    ipcRenderer.on('progress', progressListener);
    ipcRenderer.on('push', pushListener);
    try {
      const reply = (await ipcRenderer.invoke(channel, args, callId)) as { result?: ChannelResult<C>; error?: ContractError };
      if (reply.error) throw Object.assign(new Error(reply.error.message), { code: reply.error.code, detail: reply.error.detail });
      return reply.result as ChannelResult<C>;
    } finally {
      ipcRenderer.removeListener('progress', progressListener);
      ipcRenderer.removeListener('push', pushListener);
    }
  },
  on<P extends PushChannel>(channel: P, listener: (payload: PushChannels[P]) => void): () => void {
    const ipcListener = (_e: IpcRendererEvent, m: PushEnvelope): void => {
      if (m.call_id === undefined && m.channel === channel) listener(m.payload as PushChannels[P]);
    };
    ipcRenderer.on('push', ipcListener);
    return () => {
      ipcRenderer.removeListener('push', ipcListener);
    };
  },
};

/** Where the shell asks the page to go. */
export interface NavigationTarget {
  readonly model: string;
}

/** What the page reaches as `window.frameworm` in the app. */
export interface PreloadApi extends RendererBridge {
  /** The path of a file the user dropped or picked; '' for a file made in JavaScript. */
  pathForFile(file: File): string;
  /** Calls `listener` when the shell asks to show a model; returns the unsubscribe function. */
  onNavigate(listener: (target: NavigationTarget) => void): () => void;
}

const api: PreloadApi = {
  invoke: bridge.invoke,
  on: bridge.on,
  pathForFile: (file) => webUtils.getPathForFile(file),
  onNavigate(listener) {
    const ipcListener = (_e: IpcRendererEvent, target: NavigationTarget): void => {
      if (typeof target?.model === 'string') listener({ model: target.model });
    };
    ipcRenderer.on('navigate', ipcListener);
    return () => {
      ipcRenderer.removeListener('navigate', ipcListener);
    };
  },
};

contextBridge.exposeInMainWorld('frameworm', api);

// A file dropped where no drop zone takes it would navigate the window to file://… (main refuses
// that navigation too). These run before any page script, so they hold while the page loads;
// the page's own drop handler still sees the event (cancelling does not stop propagation).
const page = globalThis as unknown as EventTarget;
for (const type of ['dragover', 'drop']) page.addEventListener(type, (event) => event.preventDefault());
