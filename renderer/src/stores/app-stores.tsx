/**
 * The stores of one window, created together over one client and handed to components through
 * context (tests build their own set over their own client).
 */
import { createContext, useContext, type ReactNode } from 'react';
import type { RendererClient } from '../bridge/client-types';
import { createDeploymentsStore, type DeploymentsStore } from './deployments-store';
import { createEventsStore, type EventsStore } from './events-store';
import { createImportStore, type ImportStore } from './import-store';
import { createMetricsStore, type MetricsStore, type MetricsStoreOptions } from './metrics-store';
import { createTasksStore, type TasksStore } from './tasks-store';
import { createUiStore, type UiStore } from './ui-store';

export interface AppStores {
  readonly client: RendererClient;
  readonly deployments: DeploymentsStore;
  readonly metrics: MetricsStore;
  readonly events: EventsStore;
  readonly tasks: TasksStore;
  readonly importer: ImportStore;
  readonly ui: UiStore;
}

export interface AppStoresOptions {
  readonly storage?: Storage | null;
  readonly prefersDark?: boolean;
  readonly metrics?: MetricsStoreOptions;
}

/** Creates every store of a window. */
export function createAppStores(client: RendererClient, opts: AppStoresOptions = {}): AppStores {
  return {
    client,
    deployments: createDeploymentsStore(client),
    metrics: createMetricsStore(client, opts.metrics),
    events: createEventsStore(client),
    tasks: createTasksStore(client),
    importer: createImportStore(client),
    ui: createUiStore(opts.storage ?? null, opts.prefersDark ?? false),
  };
}

/** Subscribes every store to its pushes; returns the unsubscribe. */
export function startAppStores(stores: AppStores): () => void {
  const offs = [stores.deployments.getState().start(), stores.metrics.getState().start(), stores.events.getState().start(), stores.tasks.getState().start()];
  return () => offs.forEach((off) => off());
}

const StoresContext = createContext<AppStores | null>(null);

/** Provides the stores to the tree below. */
export function StoresProvider({ stores, children }: { readonly stores: AppStores; readonly children: ReactNode }): ReactNode {
  return <StoresContext.Provider value={stores}>{children}</StoresContext.Provider>;
}

/** The stores of this window. */
export function useStores(): AppStores {
  const s = useContext(StoresContext);
  if (!s) throw new Error('useStores outside StoresProvider');
  return s;
}
