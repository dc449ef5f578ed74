/**
 * The one place that decides the transport: the Electron preload when the page runs in the app,
 * web mode (same origin) otherwise.
 */
import type { RendererClient } from './client-types';
import { ElectronClient } from './electron-client';
import { WebClient } from './web-client';

let client: RendererClient | null = null;

/** The renderer's control-plane client (created once). */
export function getClient(): RendererClient {
  if (client) return client;
  const api = window.frameworm;
  client = api ? new ElectronClient(api) : new WebClient({ origin: window.location.origin });
  return client;
}
