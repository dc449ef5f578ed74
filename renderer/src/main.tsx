/** Entry point: one client, one set of stores, one React root. */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app';
import { getClient } from './bridge/get-client';
import { createAppStores, startAppStores, StoresProvider } from './stores/app-stores';
import './styles.css';

/** Runs `fn` once the current task's synchronous work is done; returns its cancel. */
function afterThisTask(fn: () => void): () => void {
  let live = true;
  queueMicrotask(() => {
    if (live) fn();
  });
  return () => {
    live = false;
  };
}

const client = getClient();
const stores = createAppStores(client, {
  storage: window.localStorage,
  prefersDark: window.matchMedia('(prefers-color-scheme: dark)').matches,
  // The web client already hands pushes over in batches (PushBatcher): the samples of one batch
  // are applied right after it, not in an animation frame of their own (an extra frame a second).
  metrics: client.mode === 'web' ? { schedule: afterThisTask } : undefined,
});
startAppStores(stores);

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root');
createRoot(root).render(
  <StrictMode>
    <StoresProvider stores={stores}>
      <App />
    </StoresProvider>
  </StrictMode>,
);
