/**
 * The preload: exposes the typed contract to the renderer as narrow functions. It imports only
 * types from our code, so the renderer's sandbox stays on.
 */
import { contextBridge, ipcRenderer } from 'electron';
import type { ChannelArgs, ChannelResult, ContractError, ControlPlaneClient, ProgressEvent, RequestChannel } from './contract.js';

const bridge: ControlPlaneClient = {
  async invoke<C extends RequestChannel>(channel: C, args: ChannelArgs<C>, onProgress?: (p: ProgressEvent) => void): Promise<ChannelResult<C>> {
    const listener = (_e: unknown, p: ProgressEvent & { operation: string }): void => {
      if (p.operation === channel) onProgress?.(p);
    };
    if (onProgress) ipcRenderer.on('progress', listener);
    try {
      const reply = (await ipcRenderer.invoke(channel, args)) as { result?: ChannelResult<C>; error?: ContractError };
      if (reply.error) throw Object.assign(new Error(reply.error.message), { code: reply.error.code, detail: reply.error.detail });
      return reply.result as ChannelResult<C>;
    } finally {
      if (onProgress) ipcRenderer.removeListener('progress', listener);
    }
  },
};

contextBridge.exposeInMainWorld('frameworm', bridge);
