/**
 * The stores of one window, created together over one client and handed to components through
 * context (tests build their own set over their own client).
 */
import { createContext, useContext, type ReactNode } from 'react';
import type { RendererClient } from '../bridge/client-types';
import { createDeploymentsStore, type DeploymentsStore } from './deployments-store';
import { createDriftStore, type DriftStore } from './drift-store';
import { createEngineStore, type EngineStore, type EngineStoreOptions } from './engine-store';
import { createEventsStore, type EventsStore } from './events-store';
import { createImportStore, type ImportStore } from './import-store';
import { createMetricsStore, type MetricsStore, type MetricsStoreOptions } from './metrics-store';
import { createSettingsStore, type SettingsStore } from './settings-store';
import { createTasksStore, type TasksStore } from './tasks-store';
import { createToastsStore, type ToastsStore, type ToastTimers } from './toasts-store';
import { createTryItStore, type TryItStore } from './try-it-store';
import { createUiStore, type UiStore } from './ui-store';

export interface AppStores {
  readonly client: RendererClient;
  readonly deployments: DeploymentsStore;
  readonly metrics: MetricsStore;
  readonly events: EventsStore;
  readonly tasks: TasksStore;
  readonly importer: ImportStore;
  readonly ui: UiStore;
  readonly settings: SettingsStore;
  readonly tryIt: TryItStore;
  readonly toasts: ToastsStore;
  readonly engine: EngineStore;
  readonly drift: DriftStore;
}

export interface AppStoresOptions {
  readonly storage?: Storage | null;
  readonly prefersDark?: boolean;
  readonly metrics?: MetricsStoreOptions;
  readonly engine?: EngineStoreOptions;
  readonly toastTimers?: ToastTimers;
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
    settings: createSettingsStore(client),
    tryIt: createTryItStore(client),
    toasts: createToastsStore(client, opts.toastTimers),
    engine: createEngineStore(client, opts.engine),
    drift: createDriftStore(client),
  };
}

/** Subscribes every store to its pushes; returns the unsubscribe. */
export function startAppStores(stores: AppStores): () => void {
  const offs = [
    stores.deployments.getState().start(), stores.metrics.getState().start(), stores.events.getState().start(), stores.tasks.getState().start(),
    stores.toasts.getState().start(), stores.engine.getState().start(), stores.drift.getState().start(),
  ];
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
