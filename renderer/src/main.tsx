/** Entry point: one client, one set of stores, one React root. */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app';
import { getClient } from './bridge/get-client';
import { createAppStores, startAppStores, StoresProvider } from './stores/app-stores';
import './styles.css';

const stores = createAppStores(getClient(), {
  storage: window.localStorage,
  prefersDark: window.matchMedia('(prefers-color-scheme: dark)').matches,
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
