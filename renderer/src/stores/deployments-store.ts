/**
 * Deployments: the model list, each model's status, the selected model, and the lifecycle moves.
 * Fills itself from `deployment.changed` and `watcher.state` pushes; a reconnect refetches
 * everything, since pushes may have been missed while the socket was down.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { DeploymentStatus, DeploymentSummary, WatcherView } from '../../../preload/contract';
import { describeError, type RendererClient } from '../bridge/client-types';
import { targetStage, type LifecycleAction } from '../domain/lifecycle';

export interface DeploymentsState {
  readonly list: readonly DeploymentSummary[];
  readonly statuses: Readonly<Record<string, DeploymentStatus>>;
  readonly selected: string | null;
  readonly loaded: boolean;
  /** The last failure to load, shown as a banner; cleared by the next success. */
  readonly error: string | null;
  refreshList(): Promise<void>;
  refreshStatus(name: string): Promise<void>;
  select(name: string | null): void;
  applyWatcher(name: string, watcher: WatcherView | null): void;
  /** Runs a lifecycle move; rejects with the control plane's error (the dialog shows it). */
  transition(name: string, version: string, action: LifecycleAction, reason: string): Promise<void>;
  /** Subscribes to pushes and loads the list; returns the unsubscribe. */
  start(): () => void;
}

export type DeploymentsStore = StoreApi<DeploymentsState>;

/** Creates the deployments store over a client. */
export function createDeploymentsStore(client: RendererClient): DeploymentsStore {
  // One refresh per model at a time; a push during it asks for one more afterwards, so a burst
  // of changes costs two requests, not one per push.
  const inFlight = new Map<string, Promise<void>>();
  const again = new Set<string>();

  const store = createStore<DeploymentsState>()((set, get) => {
    const fetchStatus = async (name: string): Promise<void> => {
      try {
        const status = await client.invoke('deploy.status', { name });
        set((s) => ({ statuses: { ...s.statuses, [name]: status }, error: null }));
      } catch (err) {
        set({ error: `status of ${name}: ${describeError(err)}` });
      }
    };

    return {
      list: [],
      statuses: {},
      selected: null,
      loaded: false,
      error: null,

      async refreshList() {
        try {
          const list = await client.invoke('deploy.list', {});
          const sorted = [...list].sort((a, b) => a.name.localeCompare(b.name));
          set((s) => ({
            list: sorted,
            loaded: true,
            error: null,
            selected: s.selected && sorted.some((d) => d.name === s.selected) ? s.selected : (sorted[0]?.name ?? null),
          }));
          // Statuses of models seen for the first time; known ones refresh on their own pushes.
          const statuses = get().statuses;
          await Promise.all(sorted.filter((d) => !statuses[d.name]).map((d) => get().refreshStatus(d.name)));
        } catch (err) {
          set({ loaded: true, error: `deployments: ${describeError(err)}` });
        }
      },

      refreshStatus(name) {
        const running = inFlight.get(name);
        if (running) {
          again.add(name);
          return running;
        }
        const run = (async () => {
          do {
            again.delete(name);
            await fetchStatus(name);
          } while (again.has(name));
        })().finally(() => inFlight.delete(name));
        inFlight.set(name, run);
        return run;
      },

      select(name) {
        set({ selected: name });
      },

      applyWatcher(name, watcher) {
        const status = get().statuses[name];
        if (!status) return;
        set((s) => ({ statuses: { ...s.statuses, [name]: { ...status, watcher } } }));
      },

      async transition(name, version, action, reason) {
        const why = reason.trim() || undefined;
        if (action === 'rollback') {
          await client.invoke('deploy.rollback', { name, to_version: version, reason: why, actor: 'gui' });
        } else {
          await client.invoke('deploy.promote', { name, version, stage: targetStage(action), reason: why, actor: 'gui' });
        }
        await Promise.all([get().refreshList(), get().refreshStatus(name)]);
      },

      start() {
        let opened = false;
        const offs = [
          client.on('deployment.changed', ({ name }) => {
            const known = get().list.some((d) => d.name === name);
            // A new model appears in the list; a known one only needs its status.
            void (known ? Promise.all([get().refreshStatus(name), get().refreshList()]) : get().refreshList());
          }),
          client.on('watcher.state', ({ name, watcher }) => get().applyWatcher(name, watcher)),
          client.onConnection((state) => {
            // A re-opened socket may have missed pushes: reload everything it could have said.
            if (state !== 'open') return;
            if (opened) {
              void get().refreshList();
              for (const name of Object.keys(get().statuses)) void get().refreshStatus(name);
            }
            opened = true;
          }),
        ];
        void get().refreshList();
        return () => offs.forEach((off) => off());
      },
    };
  });
  return store;
}
