/**
 * The control-plane client inside Electron: a thin adapter over what the preload exposes as
 * `window.frameworm`. The preload owns IPC; this only fills in what an older preload lacks, so
 * the renderer runs against either.
 */
import type { ControlPlaneClient, PushChannel, RendererBridge } from '../../../preload/contract';
import { ClientError, type ConnectionState, type PushListener, type RendererClient } from './client-types';

/** What the preload exposes (`contextBridge.exposeInMainWorld('frameworm', …)`). */
export interface PreloadApi extends RendererBridge {
  /** `webUtils.getPathForFile(file)`: '' for files that are not on disk. */
  pathForFile?(file: File): string;
  /** The shell's "show this model" (notification or tray click); returns the unsubscribe. */
  onNavigate?(listener: (target: { readonly model: string }) => void): () => void;
}

declare global {
  interface Window {
    frameworm?: PreloadApi;
  }
}

export class ElectronClient implements RendererClient {
  readonly mode = 'electron' as const;
  readonly invoke: ControlPlaneClient['invoke'];

  constructor(private readonly api: PreloadApi) {
    // Bound: the preload's functions are proxies that contextBridge made; keep their receiver.
    this.invoke = api.invoke.bind(api) as ControlPlaneClient['invoke'];
  }

  on<P extends PushChannel>(channel: P, fn: PushListener<P>): () => void {
    return this.api.on(channel, fn);
  }

  /** IPC does not drop like a socket: the connection is open for the window's life. */
  onConnection(fn: (state: ConnectionState) => void): () => void {
    fn('open');
    return () => undefined;
  }

  onNavigate(fn: (target: { readonly model: string }) => void): () => void {
    return this.api.onNavigate?.(fn) ?? (() => undefined);
  }

  async importFile(file: File): Promise<string> {
    const p = this.api.pathForFile?.(file) ?? '';
    if (!p) throw new ClientError({ code: 'E_INPUT', message: `${file.name} is not a file on disk; drop or browse a checkpoint file` });
    return p;
  }
}
