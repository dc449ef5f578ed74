/**
 * The preload: exposes the typed contract to the renderer as narrow functions (`invoke`, `on`).
 * It imports only electron and the contract, and is bundled into one CommonJS file, so the
 * renderer's sandbox stays on (a sandboxed preload can be neither an ES module nor split).
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
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

contextBridge.exposeInMainWorld('frameworm', bridge);
